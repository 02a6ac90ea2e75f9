#pragma once
// The training loop: Adam, the losses of Sec. 3.4, the ASRM projection after every step,
// validation AUC every epoch, atomic checkpoints and exact resumption.
//
// Output directory:
//   config.json     model + train configuration and the manifests used
//   last.pt         training checkpoint (model, optimizer, position); also a loadable model file
//   best.pt         model with the best validation frame AUC so far
//   metrics.jsonl   one JSON line per logged step ({"type":"step",...}) and per epoch ({"type":"epoch",...})
//   curves.png      loss terms and validation metrics per epoch
//
// Determinism: initialisation, data order and augmentation derive from `seed`, and nothing in the
// loop draws other random numbers, so a CPU run with the same seed and thread count repeats
// exactly, and a resumed run continues as if never stopped.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "loss/anomaly_loss.h"
#include "model/sola_net.h"
#include "train/train_options.h"

namespace sola {

struct TrainSummary {
  int64_t epochs_done = 0;
  int64_t steps = 0;
  double best_val_auc = -1;   ///< -1 without validation
  double train_images_per_second = 0;
  nlohmann::json last_epoch;  ///< the last epoch's metrics line
};

class Trainer {
 public:
  /// `val` may be empty (no validation; best.pt then follows the training loss).
  Trainer(ModelOptions model_options, TrainOptions train_options, data::Manifest train, data::Manifest val,
          std::string out_dir, nlohmann::json provenance = nlohmann::json::object());
  /// Trains to `epochs`. With `resume`, continues from out_dir/last.pt (error if it is absent).
  TrainSummary run(bool resume);
  /// The loss options the run uses (mode resolved from "auto").
  LossOptions loss_options() const;
  /// Called after every optimizer step with the global step (tests use it to stop mid-run).
  std::function<void(int64_t)> on_step;

 private:
  ModelOptions model_options_;
  TrainOptions options_;
  data::Manifest train_, val_;
  std::string out_dir_;
  nlohmann::json provenance_;
};

/// Loss mode for a model: "auto" becomes supervised for sola and classifier for resnet.
std::string resolve_loss_mode(const std::string& mode, const ModelOptions& model);

}  // namespace sola
