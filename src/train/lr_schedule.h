#pragma once
// The learning-rate schedule of a training run, as a function of the optimizer step alone (what
// torchvision's reference scripts build from a LinearLR warm-up and the main scheduler): no state,
// so a resumed run sets each step's rate exactly as an uninterrupted one.
#include <cstdint>

#include "train/train_options.h"

namespace sola {

/// The learning rate of the optimizer step `global_step` (counted from 0) of a run with the train
/// options' recipe and `steps_per_epoch` steps an epoch:
/// - lr_schedule "constant": `lr`; "cosine": 0.5 * lr * (1 + cos(pi * global_step / total)), from lr
///   at step 0 towards 0 at total = steps_per_epoch * epochs;
/// - times a linear warm-up over the first round(warmup_epochs * steps_per_epoch) steps from
///   `warmup_start` (the run's start, or the step a continued run restarted its optimizer at): the
///   k-th of them (from 0) at (k + 1) / warmup steps of the rate.
/// Throws ConfigError for an lr_schedule it does not know.
double learning_rate(const TrainOptions& options, int64_t steps_per_epoch, int64_t global_step,
                     int64_t warmup_start = 0);

}  // namespace sola
