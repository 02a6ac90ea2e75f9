#pragma once
// The evaluation metrics face-forgery papers report: ROC curve, AUC, average precision, equal
// error rate and accuracy, plus frame-to-video aggregation and per-method AUC.
// Plain C++17, no LibTorch. Scores are the probability of "fake" (higher = more fake); labels are
// 0 (real) or 1 (fake). Every function validates its input and throws sola::Error naming the
// problem: mismatched lengths, empty input, a label other than 0/1, a NaN or infinite score, or
// (for the ranking metrics) input that lacks one of the two classes.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace sola::eval {

/// A receiver operating characteristic curve, one point per threshold.
struct RocCurve {
  std::vector<double> fpr;         ///< false-positive rate (reals scored >= threshold)
  std::vector<double> tpr;         ///< true-positive rate (fakes scored >= threshold)
  std::vector<double> thresholds;  ///< descending; thresholds[0] is +inf
};

/// The ROC curve with scikit-learn's semantics (roc_curve, drop_intermediate=False): thresholds
/// are the distinct scores in descending order, preceded by +inf, whose point is (0, 0); the
/// last point is (1, 1). Needs both classes.
RocCurve roc_curve(const std::vector<double>& scores, const std::vector<int>& labels);

/// Area under the ROC curve, exact: the Mann-Whitney U statistic from average ranks, so a
/// real/fake pair with equal scores counts one half. O(n log n). Needs both classes.
double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

/// Average precision as scikit-learn defines it: sum over the distinct thresholds, in
/// descending order, of (R_n - R_{n-1}) * P_n, with tied scores forming one threshold and
/// R_0 = 0. Needs both classes.
double average_precision(const std::vector<double>& scores, const std::vector<int>& labels);

/// Equal error rate: the rate at which FPR = FNR (FNR = 1 - TPR), interpolated linearly
/// between the two consecutive ROC points where FNR - FPR changes sign. Needs both classes.
double equal_error_rate(const std::vector<double>& scores, const std::vector<int>& labels);

/// Fraction of samples classified correctly when score >= threshold predicts fake.
/// Works on single-class input.
double accuracy(const std::vector<double>& scores, const std::vector<int>& labels,
                double threshold = 0.5);

/// Scores aggregated to one entry per (group, label) pair.
struct Aggregated {
  std::vector<double> scores;      ///< mean score of the pair's samples
  std::vector<int> labels;         ///< the pair's label
  std::vector<std::string> keys;   ///< "group|label", e.g. "000_003|1"
};

/// Averages frame scores per (group, label) pair, e.g. frames to videos where a group is a
/// source video that holds both its real frames and the frames of fakes made from it.
/// Entries are in order of first appearance. `groups` must be as long as `scores`.
Aggregated aggregate_by_group(const std::vector<double>& scores, const std::vector<int>& labels,
                              const std::vector<std::string>& groups);

/// The headline numbers of one evaluation.
struct Metrics {
  size_t n = 0;
  size_t n_real = 0;
  size_t n_fake = 0;
  double auc = 0.0;
  double ap = 0.0;
  double eer = 0.0;
  double acc = 0.0;
};

/// AUC, AP, EER and accuracy at `threshold`, with the class counts. Needs both classes.
Metrics compute_metrics(const std::vector<double>& scores, const std::vector<int>& labels,
                        double threshold = 0.5);

/// For each manipulation method other than "real", in order of first appearance, the AUC of
/// that method's fakes against all real samples. A sample's method must be "real" exactly when
/// its label is 0. `methods` must be as long as `scores`.
std::vector<std::pair<std::string, double>> auc_per_method(
    const std::vector<double>& scores, const std::vector<int>& labels,
    const std::vector<std::string>& methods);

}  // namespace sola::eval
