#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <sstream>
#include <unordered_map>

#include "core/error.h"

namespace sola::eval {
namespace {

struct ClassCounts {
  size_t real = 0;
  size_t fake = 0;
};

/// Throws unless a per-sample vector (`what`) has one entry per score.
void check_length(const char* fn, const char* what, size_t size, size_t n_scores) {
  if (size != n_scores) {
    std::ostringstream msg;
    msg << fn << ": " << n_scores << " scores but " << size << " " << what
        << "; every sample needs one of each";
    throw Error(msg.str());
  }
}

/// Validates scores and labels (same length, non-empty, labels 0/1, finite scores) and counts
/// the two classes. `fn` names the caller in messages.
ClassCounts check_inputs(const char* fn, const std::vector<double>& scores,
                         const std::vector<int>& labels) {
  check_length(fn, "labels", labels.size(), scores.size());
  if (scores.empty()) throw Error(std::string(fn) + ": no samples (scores and labels are empty)");
  ClassCounts counts;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] != 0 && labels[i] != 1) {
      std::ostringstream msg;
      msg << fn << ": label at index " << i << " is " << labels[i]
          << "; labels must be 0 (real) or 1 (fake)";
      throw Error(msg.str());
    }
    if (!std::isfinite(scores[i])) {
      std::ostringstream msg;
      msg << fn << ": score at index " << i << " is " << scores[i] << "; scores must be finite";
      throw Error(msg.str());
    }
    (labels[i] == 1 ? counts.fake : counts.real) += 1;
  }
  return counts;
}

/// Throws unless both classes are present; `metric` names what needs them.
void require_both_classes(const char* metric, ClassCounts counts) {
  if (counts.real == 0 || counts.fake == 0) {
    std::ostringstream msg;
    msg << metric << " needs both real and fake samples: got " << counts.real << " real, "
        << counts.fake << " fake";
    throw Error(msg.str());
  }
}

/// Cumulative counts at each threshold, starting with (+inf, 0, 0) and followed by one entry per
/// distinct score in descending order: tps/fps = fakes/reals scored >= the threshold.
struct ThresholdTable {
  std::vector<double> thresholds;
  std::vector<size_t> tps;
  std::vector<size_t> fps;
};

ThresholdTable threshold_table(const std::vector<double>& scores, const std::vector<int>& labels) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });

  ThresholdTable table;
  table.thresholds.push_back(std::numeric_limits<double>::infinity());
  table.tps.push_back(0);
  table.fps.push_back(0);
  size_t tp = 0, fp = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    (labels[order[k]] == 1 ? tp : fp) += 1;
    // Close the group of tied scores at its last member.
    if (k + 1 == order.size() || scores[order[k + 1]] != scores[order[k]]) {
      table.thresholds.push_back(scores[order[k]]);
      table.tps.push_back(tp);
      table.fps.push_back(fp);
    }
  }
  return table;
}

/// AUC = U / (n_fake * n_real) with U = R_fake - n_fake (n_fake + 1) / 2, where R_fake is the sum
/// of the fakes' ascending ranks and tied scores share their average rank. Twice every average
/// rank is an integer, so U is computed exactly in integers.
double auc_from_ranks(const std::vector<double>& scores, const std::vector<int>& labels,
                      ClassCounts counts) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });

  uint64_t twice_rank_sum = 0;  // 2 * R_fake
  for (size_t begin = 0; begin < order.size();) {
    size_t end = begin;
    uint64_t fakes = 0;
    while (end < order.size() && scores[order[end]] == scores[order[begin]]) {
      fakes += static_cast<uint64_t>(labels[order[end]]);
      ++end;
    }
    // Positions begin..end-1 hold ranks begin+1..end, whose average is (begin + 1 + end) / 2.
    twice_rank_sum += fakes * (begin + 1 + end);
    begin = end;
  }
  const uint64_t n_fake = counts.fake, n_real = counts.real;
  const uint64_t twice_u = twice_rank_sum - n_fake * (n_fake + 1);
  return static_cast<double>(twice_u) / (2.0 * static_cast<double>(n_fake * n_real));
}

/// Sum over thresholds of (R_n - R_{n-1}) * P_n; the +inf entry contributes R_0 = 0.
double ap_from_table(const ThresholdTable& table, ClassCounts counts) {
  double ap = 0.0, previous_recall = 0.0;
  for (size_t k = 1; k < table.thresholds.size(); ++k) {
    const double recall = static_cast<double>(table.tps[k]) / static_cast<double>(counts.fake);
    const double precision =
        static_cast<double>(table.tps[k]) / static_cast<double>(table.tps[k] + table.fps[k]);
    ap += (recall - previous_recall) * precision;
    previous_recall = recall;
  }
  return ap;
}

/// Walks the ROC points until FNR - FPR stops being positive and interpolates linearly from the
/// previous point. The sign is decided exactly on (FNR - FPR) * n_fake * n_real, an integer.
/// The walk always ends: the first point (0, 0) has FNR - FPR = 1 and the last (1, 1) has -1.
double eer_from_table(const ThresholdTable& table, ClassCounts counts) {
  const auto n_fake = static_cast<int64_t>(counts.fake), n_real = static_cast<int64_t>(counts.real);
  auto scaled_gap = [&](size_t k) {
    return (n_fake - static_cast<int64_t>(table.tps[k])) * n_real -
           static_cast<int64_t>(table.fps[k]) * n_fake;
  };
  auto fpr = [&](size_t k) {
    return static_cast<double>(table.fps[k]) / static_cast<double>(counts.real);
  };
  for (size_t k = 1; k < table.thresholds.size(); ++k) {
    const int64_t gap = scaled_gap(k);
    if (gap == 0) return fpr(k);
    if (gap < 0) {
      const auto before = static_cast<double>(scaled_gap(k - 1));
      const double t = before / (before - static_cast<double>(gap));
      return fpr(k - 1) + t * (fpr(k) - fpr(k - 1));
    }
  }
  throw Error("equal_error_rate: the ROC curve never reached FNR <= FPR (internal error)");
}

/// Accuracy on validated input.
double accuracy_checked(const std::vector<double>& scores, const std::vector<int>& labels,
                        double threshold) {
  size_t correct = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    const int predicted = scores[i] >= threshold ? 1 : 0;
    correct += predicted == labels[i] ? 1 : 0;
  }
  return static_cast<double>(correct) / static_cast<double>(scores.size());
}

/// Throws for a NaN threshold, which would silently predict "real" for every sample.
void check_threshold(const char* fn, double threshold) {
  if (std::isnan(threshold)) throw Error(std::string(fn) + ": threshold is nan");
}

}  // namespace

RocCurve roc_curve(const std::vector<double>& scores, const std::vector<int>& labels) {
  const ClassCounts counts = check_inputs("roc_curve", scores, labels);
  require_both_classes("ROC curve", counts);
  const ThresholdTable table = threshold_table(scores, labels);
  RocCurve roc;
  roc.thresholds = table.thresholds;
  for (size_t k = 0; k < table.thresholds.size(); ++k) {
    roc.fpr.push_back(static_cast<double>(table.fps[k]) / static_cast<double>(counts.real));
    roc.tpr.push_back(static_cast<double>(table.tps[k]) / static_cast<double>(counts.fake));
  }
  return roc;
}

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  const ClassCounts counts = check_inputs("roc_auc", scores, labels);
  require_both_classes("AUC", counts);
  return auc_from_ranks(scores, labels, counts);
}

double average_precision(const std::vector<double>& scores, const std::vector<int>& labels) {
  const ClassCounts counts = check_inputs("average_precision", scores, labels);
  require_both_classes("AP", counts);
  return ap_from_table(threshold_table(scores, labels), counts);
}

double equal_error_rate(const std::vector<double>& scores, const std::vector<int>& labels) {
  const ClassCounts counts = check_inputs("equal_error_rate", scores, labels);
  require_both_classes("EER", counts);
  return eer_from_table(threshold_table(scores, labels), counts);
}

double accuracy(const std::vector<double>& scores, const std::vector<int>& labels,
                double threshold) {
  check_inputs("accuracy", scores, labels);
  check_threshold("accuracy", threshold);
  return accuracy_checked(scores, labels, threshold);
}

Aggregated aggregate_by_group(const std::vector<double>& scores, const std::vector<int>& labels,
                              const std::vector<std::string>& groups) {
  check_inputs("aggregate_by_group", scores, labels);
  check_length("aggregate_by_group", "groups", groups.size(), scores.size());

  // The label is a single trailing digit, so "group|label" is unique even if a group has a '|'.
  Aggregated out;
  std::vector<size_t> sizes;
  std::unordered_map<std::string, size_t> index_of;
  for (size_t i = 0; i < scores.size(); ++i) {
    std::string key = groups[i] + "|" + std::to_string(labels[i]);
    auto [it, inserted] = index_of.try_emplace(key, out.keys.size());
    if (inserted) {
      out.keys.push_back(std::move(key));
      out.labels.push_back(labels[i]);
      out.scores.push_back(0.0);
      sizes.push_back(0);
    }
    out.scores[it->second] += scores[i];
    sizes[it->second] += 1;
  }
  for (size_t k = 0; k < out.scores.size(); ++k) out.scores[k] /= static_cast<double>(sizes[k]);
  return out;
}

Metrics compute_metrics(const std::vector<double>& scores, const std::vector<int>& labels,
                        double threshold) {
  const ClassCounts counts = check_inputs("compute_metrics", scores, labels);
  check_threshold("compute_metrics", threshold);
  require_both_classes("compute_metrics (AUC, AP, EER)", counts);
  const ThresholdTable table = threshold_table(scores, labels);
  Metrics m;
  m.n = scores.size();
  m.n_real = counts.real;
  m.n_fake = counts.fake;
  m.auc = auc_from_ranks(scores, labels, counts);
  m.ap = ap_from_table(table, counts);
  m.eer = eer_from_table(table, counts);
  m.acc = accuracy_checked(scores, labels, threshold);
  return m;
}

std::vector<std::pair<std::string, double>> auc_per_method(
    const std::vector<double>& scores, const std::vector<int>& labels,
    const std::vector<std::string>& methods) {
  check_inputs("auc_per_method", scores, labels);
  check_length("auc_per_method", "methods", methods.size(), scores.size());

  std::vector<double> real_scores;
  std::vector<std::string> order;
  std::unordered_map<std::string, std::vector<double>> fake_scores;
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool is_real_method = methods[i] == "real";
    if (is_real_method != (labels[i] == 0)) {
      std::ostringstream msg;
      msg << "auc_per_method: sample " << i << " has method '" << methods[i] << "' but label "
          << labels[i] << "; method must be 'real' exactly when the label is 0";
      throw Error(msg.str());
    }
    if (is_real_method) {
      real_scores.push_back(scores[i]);
      continue;
    }
    auto [it, inserted] = fake_scores.try_emplace(methods[i]);
    if (inserted) order.push_back(methods[i]);
    it->second.push_back(scores[i]);
  }

  std::vector<std::pair<std::string, double>> out;
  for (const std::string& method : order) {
    const std::vector<double>& fakes = fake_scores.at(method);
    std::vector<double> s = fakes;
    s.insert(s.end(), real_scores.begin(), real_scores.end());
    std::vector<int> l(fakes.size(), 1);
    l.resize(s.size(), 0);
    const ClassCounts counts{real_scores.size(), fakes.size()};
    require_both_classes(("AUC of method '" + method + "'").c_str(), counts);
    out.emplace_back(method, auc_from_ranks(s, l, counts));
  }
  return out;
}

}  // namespace sola::eval
