#pragma once
// A training run on packed bundles within a time budget: what sola_train_packed does on the GPU
// machine (scripts/gpu_train.sh). It loads the bundles, measures the speed of each candidate batch
// size with a short probe run of the trainer, picks the batch size and the number of epochs that fit
// the budget, trains with the Trainer, and exports best.pt as a float16 model file.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/options.h"
#include "train/train_options.h"

namespace sola {

/// Steps at the start of a probe left out of its speed (allocator, cuDNN and thread warm-up).
inline constexpr int64_t kProbeWarmupSteps = 5;

struct PackedRunOptions {
  std::string train_bundle, val_bundle;  ///< val may be empty
  std::string out_dir;
  ModelOptions model;
  TrainOptions train;
  /// Seconds for the whole run, loading to export (0: no budget: train.epochs and batch_size as given).
  double budget_seconds = 0;
  /// Batch sizes probed in this order under a budget (empty: train.batch_size alone). The first
  /// with which train.epochs fit is taken; where none fits, the fastest.
  std::vector<int64_t> batch_sizes;
  /// Optimizer steps of each probe run.
  int64_t probe_steps = 30;
  /// Where the float16 model of best.pt goes (empty: none).
  std::string export_path;
  /// Threads that decode the bundles (0: all cores).
  unsigned threads = 0;
};

/// Epochs that fit in `seconds` at `seconds_per_epoch` each, from 1 (always at least one) to
/// `max_epochs`.
int64_t plan_epochs(double seconds, double seconds_per_epoch, int64_t max_epochs);

/// Runs it; returns the summary JSON (sizes, chosen batch size and epochs, probes, time of each
/// phase, images per second, data-wait share, best validation AUC, model file). Throws ConfigError
/// for options a packed run cannot honour (pseudo-fakes need OpenCV) and IoError for bad bundles.
nlohmann::json run_packed_training(const PackedRunOptions& options);

}  // namespace sola
