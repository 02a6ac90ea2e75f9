#pragma once
// Scores that mean something: Platt scaling of a detector's logit, fitted on validation sets, and the
// figures that say how well a score matches the frequency of fakes (expected calibration error and
// the reliability diagram's bins). Plain C++17, no LibTorch.
//
// Why Platt scaling (p = sigmoid(a z + b), z the model's logit): it is temperature scaling (a = 1/T)
// plus a bias, so it keeps the ranking (every AUC is unchanged) while moving both the spread of the
// scores and where 0.5 falls, which a model trained on other class ratios and sources needs; two
// parameters cannot overfit the ~1,700 validation faces it is fitted on. Isotonic regression would fit
// any monotone curve but turns scores into steps (ties among faces it cannot tell apart) and needs far
// more data per step to be trusted.
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sola::eval {

struct Calibration {
  double a = 1.0, b = 0.0;  ///< p = sigmoid(a * logit + b); a = 1, b = 0 is the model as trained
  bool identity() const { return a == 1.0 && b == 0.0; }
  double apply(double logit) const;
};

/// The Platt scaling that minimises the mean binary cross-entropy of sigmoid(a z + b) on (logits,
/// labels) (Newton's method on the convex log-loss, with a small ridge on a - 1 and b so that separable
/// data stays finite). Throws sola::Error for fewer than 2 samples of each class, mismatched lengths or
/// a non-finite logit.
Calibration fit_platt(const std::vector<double>& logits, const std::vector<int>& labels);

/// Mean binary cross-entropy of probabilities `probs` (clamped to [1e-12, 1 - 1e-12]).
double log_loss(const std::vector<double>& probs, const std::vector<int>& labels);

/// One bin of a reliability diagram: samples whose score lies in [lo, hi).
struct ReliabilityBin {
  double lo = 0, hi = 0;
  size_t count = 0;
  double mean_score = 0;     ///< mean predicted probability of fake
  double fake_fraction = 0;  ///< observed share of fakes
};

/// `bins` equal-width bins over [0, 1] (the last one closed).
std::vector<ReliabilityBin> reliability_bins(const std::vector<double>& probs, const std::vector<int>& labels,
                                             int bins = 15);

/// Expected calibration error: sum over the bins of count/n x |fake_fraction - mean_score| (Guo et al.,
/// ICML 2017, 15 equal-width bins).
double expected_calibration_error(const std::vector<double>& probs, const std::vector<int>& labels, int bins = 15);

/// The false-positive rate at a threshold: the share of reals (label 0) scored >= threshold.
double false_positive_rate(const std::vector<double>& probs, const std::vector<int>& labels, double threshold);

/// {"method": "platt", "a", "b"} and the reverse; from_json of an absent or null value is the identity.
nlohmann::json to_json(const Calibration& c);
Calibration calibration_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace sola::eval
