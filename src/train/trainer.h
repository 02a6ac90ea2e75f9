#pragma once
// The training loop: Adam, the losses of Sec. 3.4, the ASRM projection after every step,
// validation AUC every epoch, atomic checkpoints and exact resumption.
//
// Output directory:
//   config.json     model + train configuration, the manifests used, the precision resolved
//                   ("precision": requested, resolved, why, the device's features) and, where the
//                   caller measured it, the framing of the training images (provenance "framing")
//   last.pt         training checkpoint (model, optimizer, position); also a loadable model file
//   best.pt         model with the best validation frame AUC so far
//   metrics.jsonl   one JSON line per logged step ({"type":"step",...}) and per epoch ({"type":"epoch",...})
//   curves.png      loss terms and validation metrics per epoch (drawn by `plot_curves`, which the
//                   manifest constructor sets: OpenCV; the build without OpenCV writes none)
//
// Where the samples come from is the caller's choice: any data::SampleSource (FaceDataset decodes
// manifest files with OpenCV, PackedDataset reads a packed bundle with LibTorch alone). The model
// trains on the train option `device` (cpu, cuda): model, optimizer state and batches live there,
// autocast follows the device type.
//
// Determinism: initialisation, data order and augmentation derive from `seed`, and nothing in the
// loop draws other random numbers, so a CPU run with the same seed and thread count repeats
// exactly, and a resumed run continues as if never stopped.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <memory>

#include "core/precision.h"
#include "data/augment_plan.h"
#include "data/manifest.h"
#include "data/sample_source.h"
#include "loss/anomaly_loss.h"
#include "model/sola_net.h"
#include "train/train_options.h"

namespace sola {

struct TrainSummary {
  int64_t epochs_done = 0;
  int64_t steps = 0;
  double best_val_auc = -1;   ///< -1 without validation
  double train_images_per_second = 0;
  double train_seconds = 0;     ///< wall time of the training loops, data waits included
  double data_wait_seconds = 0; ///< of which the step waited for the loader
  double validate_seconds = 0;  ///< wall time of validation (all sets)
  double checkpoint_seconds = 0; ///< wall time of writing checkpoints at epoch ends
  bool stopped_early = false;    ///< stop_after_epoch or `patience` ended the run before `epochs`
  std::string stop_reason;       ///< why it stopped early, in words (empty otherwise)
  std::string precision;         ///< the arithmetic it trained in: fp32 or bf16 (precision=auto resolved)
  nlohmann::json last_epoch;  ///< the last epoch's metrics line
};

class Trainer {
 public:
  /// Trains on `train` (its input size and grid must be the model's; the caller sets its
  /// augmentation from the train options: augment_options()). `val` may be null (no validation;
  /// best.pt then follows the training loss).
  Trainer(ModelOptions model_options, TrainOptions train_options, std::shared_ptr<const data::SampleSource> train,
          std::shared_ptr<const data::SampleSource> val, std::string out_dir,
          nlohmann::json provenance = nlohmann::json::object());
  /// OpenCV build only (defined in sola_pipeline, train/trainer_files.cpp): FaceDatasets of the
  /// manifests' files with the run's augmentation, pseudo-fakes and seed, and curves.png.
  /// `val` may be empty.
  Trainer(ModelOptions model_options, TrainOptions train_options, data::Manifest train, data::Manifest val,
          std::string out_dir, nlohmann::json provenance = nlohmann::json::object());
  /// Trains to `epochs`. With `resume`, continues from out_dir/last.pt (error if it is absent).
  TrainSummary run(bool resume);
  /// Continues a run from a model file that holds a `train_state` but no optimizer state (what
  /// `sola export --keep-train-state` writes: fp16 weights small enough to commit): weights and the
  /// position (epoch, step in it, best) carry on, metrics.jsonl keeps its lines up to that point, and Adam starts anew,
  /// with the `warmup_epochs` warm-up counted from the restart. Set before run(false).
  void continue_from(std::string model_file) { continue_from_ = std::move(model_file); }
  /// Another validation set, scored every epoch and logged under "val_extra" NAME; best.pt still
  /// follows the main validation set.
  void add_validation(std::string name, std::shared_ptr<const data::SampleSource> source);
  /// OpenCV build only: a FaceDataset of the manifest's files.
  void add_validation(std::string name, data::Manifest manifest);
  /// The loss options the run uses (mode resolved from "auto").
  LossOptions loss_options() const;
  /// Called after every optimizer step with the global step (tests use it to stop mid-run).
  std::function<void(int64_t)> on_step;
  /// Asked after every epoch (its log line and checkpoints written) with that epoch's wall time,
  /// validation and checkpoints included; true ends the run there (a time budget).
  std::function<bool(double epoch_seconds)> stop_after_epoch;
  /// Called after every epoch with metrics.jsonl and OUT/curves.png to draw the curves; unset: no
  /// curves.png.
  std::function<void(const std::string& log_path, const std::string& png_path)> plot_curves;
  /// What the train device computes natively, for precision=auto; unset: device_capabilities (the
  /// real query). Tests set their own to run both choices on any machine.
  CapabilityQuery capabilities;

 private:
  ModelOptions model_options_;
  TrainOptions options_;
  std::shared_ptr<const data::SampleSource> train_, val_;
  std::vector<std::pair<std::string, std::shared_ptr<const data::SampleSource>>> extra_val_;
  std::string continue_from_;
  std::string out_dir_;
  nlohmann::json provenance_;
};

/// The precision a run trains in: `options.precision()` resolved for `capabilities`; a run carried
/// on (resumed, continued) whose precision is auto keeps `recorded`, the one it started with (empty:
/// none recorded), and says so in the reason.
PrecisionChoice run_precision(const TrainOptions& options, const DeviceCapabilities& capabilities,
                              const std::string& recorded = "");

/// The crop scale a run's provenance carries (provenance["framing"]["crop_scale"], measured by the
/// caller on the training images), or 0 when there is none. Every model file the run saves carries
/// it as metadata "crop_scale", which `sola detect`/`serve` crop faces at.
double provenance_crop_scale(const nlohmann::json& provenance);

/// Early stopping (train option `patience`): where the validation AUCs of a run stand, from its
/// epoch lines (metrics.jsonl, in order). Each validation set ("val", then the "val_extra" names in
/// order of appearance) has its best frame AUC and the epoch that first reached it (a new best is
/// strictly higher); `epochs_since_improvement` counts the epochs after the latest epoch at which
/// any set reached a new best (0 when the last epoch did, or when no epoch was validated).
struct ValidationStall {
  struct Best {
    std::string set;
    double auc = 0;
    int64_t epoch = 0;
  };
  std::vector<Best> best;
  int64_t last_epoch = 0;
  int64_t epochs_since_improvement = 0;
  /// "val 0.9303 at epoch 33, pseudo 0.9572 at epoch 27"
  std::string describe() const;
};
ValidationStall validation_stall(const std::vector<nlohmann::json>& epoch_lines);

/// The augmentation the train options ask for (aug_* keys), for the training source.
data::AugmentOptions augment_options(const TrainOptions& options);

/// Loss mode for a model. "auto": classifier for resnet; for sola, supervised (Eq. 9-11) when some
/// training fakes have masks (manifest masks or pseudo-fakes), else weak (Eq. 12): supervised
/// without any mask would train the maps of the real images alone, a one-sided BCE.
std::string resolve_loss_mode(const std::string& mode, const ModelOptions& model, bool fakes_have_masks);

/// What the loss does with each kind of training image, in words (the log and config.json say it).
std::string describe_loss(const std::string& mode, int64_t fakes_with_mask, int64_t fakes_without_mask,
                          bool pseudo_fakes);

}  // namespace sola
