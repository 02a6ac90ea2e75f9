#pragma once
// Scoring a dataset with a detector and summarising it with the metrics papers report.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/sample_source.h"
#include "eval/metrics.h"
#include "model/sola_net.h"

namespace sola::eval {

struct Scored {
  std::vector<double> scores;  ///< sigmoid(logit): probability of fake
  std::vector<double> logits;  ///< the model's logit (float32), before any calibration
  std::vector<int> labels;
  std::vector<std::string> groups, methods, paths;
  /// Models with anomaly maps (SOLA): per sample the local-anomaly score anomaly_peak (the largest
  /// cell of the second-order maps, model/sola_head.h), the cue of the maps without the classifier.
  /// Empty for models without maps.
  std::vector<double> map_peaks;
};

/// Scores every sample (no augmentation) in manifest order. `progress(done, total)` is called
/// after each batch. Uses bf16 autocast when `bf16`.
Scored score_dataset(DetectorImpl& model, const data::SampleSource& dataset, int64_t batch_size, int workers,
                     const std::function<void(size_t, size_t)>& progress = {}, bool bf16 = false);

/// What the second-order maps alone tell apart: the frame-level metrics of Scored::map_peaks used as
/// the score (threshold 0.5), and the mean peak of each class.
struct MapReport {
  Metrics frame;
  double real_mean_peak = 0;
  double fake_mean_peak = 0;
};

struct Report {
  Metrics frame;                                        ///< frame level (per image)
  Metrics video;                                        ///< mean score per (group, label)
  std::vector<std::pair<std::string, double>> per_method_auc;
  std::optional<MapReport> map;                         ///< models with anomaly maps
  nlohmann::json to_json() const;
};

/// Frame- and video-level metrics and per-method AUC. Throws sola::Error for single-class input.
Report summarize(const Scored& scored, double threshold = 0.5);

}  // namespace sola::eval
