#include "eval/calibration.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sola::eval {
namespace {

double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }

void check_lengths(const char* what, size_t a, size_t b) {
  if (a != b)
    throw Error(std::string(what) + ": " + std::to_string(a) + " scores for " + std::to_string(b) + " labels");
}

}  // namespace

double Calibration::apply(double logit) const { return sigmoid(a * logit + b); }

Calibration fit_platt(const std::vector<double>& z, const std::vector<int>& y) {
  check_lengths("fit_platt", z.size(), y.size());
  size_t n_fake = 0;
  for (size_t i = 0; i < z.size(); ++i) {
    if (!std::isfinite(z[i])) throw Error("fit_platt: logit " + std::to_string(i) + " is not finite");
    if (y[i] != 0 && y[i] != 1) throw Error("fit_platt: label " + std::to_string(i) + " is " + std::to_string(y[i]));
    n_fake += static_cast<size_t>(y[i]);
  }
  if (n_fake < 2 || z.size() - n_fake < 2)
    throw Error("fit_platt: needs at least 2 real and 2 fake samples, got " + std::to_string(z.size() - n_fake) +
                " real and " + std::to_string(n_fake) + " fake");
  const double n = static_cast<double>(z.size());
  const double ridge = 1e-3;  // towards the identity (a = 1, b = 0), per sample
  double a = 1.0, b = 0.0;
  auto loss = [&](double a_, double b_) {
    double l = 0;
    for (size_t i = 0; i < z.size(); ++i) {
      const double t = a_ * z[i] + b_;
      // log(1 + e^t) - y t, computed stably
      l += (t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t))) - y[i] * t;
    }
    return l / n + 0.5 * ridge * ((a_ - 1) * (a_ - 1) + b_ * b_);
  };
  double current = loss(a, b);
  for (int iter = 0; iter < 100; ++iter) {
    double ga = ridge * (a - 1), gb = ridge * b, haa = ridge, hab = 0, hbb = ridge;
    for (size_t i = 0; i < z.size(); ++i) {
      const double p = sigmoid(a * z[i] + b), r = (p - y[i]) / n, w = p * (1 - p) / n;
      ga += r * z[i];
      gb += r;
      haa += w * z[i] * z[i];
      hab += w * z[i];
      hbb += w;
    }
    const double det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    double da = -(hbb * ga - hab * gb) / det, db = -(haa * gb - hab * ga) / det;
    // Backtracking: Newton steps on a log-loss can overshoot far from the optimum.
    double step = 1.0, next = loss(a + da, b + db);
    while (next > current && step > 1e-6) {
      step *= 0.5;
      next = loss(a + step * da, b + step * db);
    }
    if (next > current) break;
    a += step * da;
    b += step * db;
    const bool converged = current - next < 1e-12;
    current = next;
    if (converged) break;
  }
  return {a, b};
}

double log_loss(const std::vector<double>& probs, const std::vector<int>& labels) {
  check_lengths("log_loss", probs.size(), labels.size());
  if (probs.empty()) throw Error("log_loss: no samples");
  double l = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double p = std::clamp(probs[i], 1e-12, 1 - 1e-12);
    l -= labels[i] ? std::log(p) : std::log(1 - p);
  }
  return l / static_cast<double>(probs.size());
}

std::vector<ReliabilityBin> reliability_bins(const std::vector<double>& probs, const std::vector<int>& labels, int bins) {
  check_lengths("reliability_bins", probs.size(), labels.size());
  if (bins < 1) throw Error("reliability_bins: bins must be at least 1, got " + std::to_string(bins));
  std::vector<ReliabilityBin> out(static_cast<size_t>(bins));
  std::vector<double> score_sum(out.size(), 0), fake_sum(out.size(), 0);
  for (int k = 0; k < bins; ++k) {
    out[static_cast<size_t>(k)].lo = static_cast<double>(k) / bins;
    out[static_cast<size_t>(k)].hi = static_cast<double>(k + 1) / bins;
  }
  for (size_t i = 0; i < probs.size(); ++i) {
    if (!(probs[i] >= 0 && probs[i] <= 1)) throw Error("reliability_bins: score " + std::to_string(i) + " is not in [0, 1]");
    const size_t k = std::min(out.size() - 1, static_cast<size_t>(probs[i] * bins));
    ++out[k].count;
    score_sum[k] += probs[i];
    fake_sum[k] += labels[i];
  }
  for (size_t k = 0; k < out.size(); ++k)
    if (out[k].count) {
      out[k].mean_score = score_sum[k] / static_cast<double>(out[k].count);
      out[k].fake_fraction = fake_sum[k] / static_cast<double>(out[k].count);
    }
  return out;
}

double expected_calibration_error(const std::vector<double>& probs, const std::vector<int>& labels, int bins) {
  if (probs.empty()) throw Error("expected_calibration_error: no samples");
  double ece = 0;
  for (const auto& bin : reliability_bins(probs, labels, bins))
    ece += static_cast<double>(bin.count) * std::abs(bin.fake_fraction - bin.mean_score);
  return ece / static_cast<double>(probs.size());
}

double false_positive_rate(const std::vector<double>& probs, const std::vector<int>& labels, double threshold) {
  check_lengths("false_positive_rate", probs.size(), labels.size());
  size_t reals = 0, above = 0;
  for (size_t i = 0; i < probs.size(); ++i)
    if (labels[i] == 0) {
      ++reals;
      above += probs[i] >= threshold;
    }
  if (reals == 0) throw Error("false_positive_rate: no real sample");
  return static_cast<double>(above) / static_cast<double>(reals);
}

nlohmann::json to_json(const Calibration& c) { return {{"method", "platt"}, {"a", c.a}, {"b", c.b}}; }

Calibration calibration_from_json(const nlohmann::json& j, const std::string& source) {
  if (j.is_null()) return {};
  if (!j.is_object() || j.value("method", "") != "platt" || !j.contains("a") || !j.contains("b") || !j["a"].is_number() ||
      !j["b"].is_number())
    throw IoError(source, "its calibration is not {\"method\": \"platt\", \"a\": NUMBER, \"b\": NUMBER}: " + j.dump());
  Calibration c{j["a"].get<double>(), j["b"].get<double>()};
  if (!std::isfinite(c.a) || !std::isfinite(c.b) || !(c.a > 0))
    throw IoError(source, "its calibration has a = " + std::to_string(c.a) + ", b = " + std::to_string(c.b) +
                              ": a must be a positive number (a monotone rescaling) and b finite");
  return c;
}

}  // namespace sola::eval
