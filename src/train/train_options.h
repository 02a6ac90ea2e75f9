#pragma once
// TrainOptions: the training recipe, one field per config key (section "train" of a config file).
// Defaults are the paper's (Sec. 4.1): Adam, lr 1e-3, betas 0.9/0.999, eps 1e-8, batch 32, 50 epochs.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/arg.h>

#include "core/options_io.h"

namespace sola {

// X(type, key, default, documentation)
#define SOLA_TRAIN_OPTIONS(X)                                                                          \
  X(int64_t, epochs, 50, "training epochs")                                                           \
  X(std::string, methods, "", "manipulations to train and validate on: their fakes and every real (comma-separated, e.g. Deepfakes or Deepfakes,FaceSwap; empty: all)") \
  X(int64_t, batch_size, 32, "images per optimizer step (the global batch, over all processes)")       \
  X(int64_t, micro_batches, 1, "split each batch into this many micro-batches per process, gradients summed (same step)") \
  X(double, lr, 1e-3, "Adam learning rate")                                                           \
  X(double, adam_beta1, 0.9, "Adam beta1")                                                            \
  X(double, adam_beta2, 0.999, "Adam beta2")                                                          \
  X(double, adam_eps, 1e-8, "Adam epsilon")                                                           \
  X(double, weight_decay, 0.0, "L2 weight decay (Adam)")                                              \
  X(std::string, lr_schedule, "constant", "learning-rate schedule: constant, or cosine (to 0 over all steps)") \
  X(double, warmup_epochs, 0.0, "linear learning-rate warm-up from 0 over this many epochs (then the schedule)") \
  X(std::string, loss, "auto", "supervised (Eq. 9-11), weak (Eq. 12), classifier, or auto (sola: supervised when some fakes have masks, else weak; resnet: classifier)") \
  X(double, alpha, 1.0, "weight of the classifier BCE (Eq. 11)")                                      \
  X(double, beta, 1.0, "weight of the first-order map loss (Eq. 10/12)")                              \
  X(double, gamma, 1.0, "weight of the second-order map loss (Eq. 10/12)")                            \
  X(bool, augment, true, "training augmentation (the aug_* switches below)")                          \
  X(bool, aug_hflip, true, "random horizontal flip")                                                  \
  X(bool, aug_color, true, "colour jitter")                                                           \
  X(bool, aug_jpeg, true, "JPEG re-compression")                                                      \
  X(bool, aug_crop, true, "random resized crop")                                                      \
  X(bool, aug_blur, false, "Gaussian blur (sigma 0.1-1.5 px, before the JPEG stage; not in the paper)") \
  X(bool, aug_downscale, false, "downscale and back (factor 0.4-1, p 0.3, after the sharpening): an upload's resizing; not in the paper") \
  X(bool, aug_noise, false, "sensor-like Gaussian noise (1-8 grey levels, p 0.3, before the JPEG stage); not in the paper") \
  X(bool, aug_sharpen, false, "unsharp mask (amount 0.5-3, sigma 1 px, p 0.3, after the blur; not in the paper)") \
  X(int64_t, seed, 0, "seed of initialisation, data order and augmentation")                          \
  X(std::string, init, "", "initial weights: torchvision:FILE (ImageNet ResNet, both branches) or sola:FILE (empty: random)") \
  X(bool, pseudo_fakes, false, "pair every real training image with a self-blended pseudo-fake of it, made on the fly") \
  X(std::string, source_weights, "", "share of every epoch each --train manifest supplies, in their order (comma-separated, normalised; e.g. 0.25,0.25,0.3,0.2): small sources repeated, large ones subsampled; empty: every sample once") \
  X(bool, blend_real_only_sources, true, "pair every real of a --train manifest without fakes (e.g. real photographs) with a self-blended pseudo-fake, made on the fly") \
  X(double, pseudo_fake_share, 0.0, "share of the fake samples replaced, anew each epoch, by a self-blended pseudo-fake of a real (its group's real where there is one), with its exact mask") \
  X(std::string, precision, "auto", "training arithmetic: auto (bf16 where the device runs it natively: a CPU with AVX512-BF16 or AMX-BF16, a GPU of compute capability >= 8; else fp32), bf16 (autocast: convolutions in bfloat16; weights, ASRM, SOLA head, losses and metrics in fp32) or fp32") \
  X(bool, channels_last, true, "channels-last (NHWC) weights and batches in training") \
  X(std::string, device, "cpu", "where the model trains: cpu, or cuda (cuda:N for the N-th GPU); batches are moved there") \
  X(int64_t, workers, 2, "data-loading threads")                                                      \
  X(int64_t, max_steps_per_epoch, 0, "cap on steps per epoch (0: the whole training set)")            \
  X(int64_t, patience, 0, "early stopping: end the run when no validation frame AUC (the main set's or any extra set's) has set a new best for this many epochs (0: never)") \
  X(int64_t, checkpoint_every, 0, "also checkpoint every N steps inside an epoch (0: at epoch ends only)") \
  X(int64_t, log_every, 10, "write a step line to metrics.jsonl every N steps")                       \
  X(int64_t, eval_batch_size, 64, "batch size for validation")

struct TrainOptions {
  SOLA_TRAIN_OPTIONS(SOLA_DECLARE_OPTION)
 public:
  /// Throws ConfigError naming the key and the bad value.
  void validate() const;
};

template <class F>
void visit_options(TrainOptions& o, F&& f) {
  SOLA_TRAIN_OPTIONS(SOLA_VISIT_OPTION)
}

struct ModelOptions;

/// The weights of `source_weights` as numbers. Throws ConfigError naming the key and the bad entry.
std::vector<double> parse_source_weights(const std::string& list);

/// The entries of a comma-separated list (the `methods` and `source_weights` keys): "" -> {},
/// "a,b" -> {"a", "b"}, "a," -> {"a", ""}.
std::vector<std::string> split_list(const std::string& list);

/// Applies one command-line "KEY=VALUE" (--set): to the train options where KEY is a train key,
/// else to the model options. Throws ConfigError for a malformed pair, an unknown key or a bad value.
void set_run_option(ModelOptions& model, TrainOptions& train, const std::string& key_value);

}  // namespace sola
