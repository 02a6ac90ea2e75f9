#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sola {

double learning_rate(const TrainOptions& options, int64_t steps_per_epoch, int64_t global_step, int64_t warmup_start) {
  double lr = options.lr();
  if (options.lr_schedule() == "cosine") {
    const int64_t total_steps = steps_per_epoch * options.epochs();
    lr = 0.5 * options.lr() * (1 + std::cos(M_PI * global_step / std::max<int64_t>(1, total_steps)));
  } else if (options.lr_schedule() != "constant") {
    throw ConfigError("train config key 'lr_schedule' = '" + options.lr_schedule() +
                      "' is invalid: expected constant or cosine");
  }
  const int64_t warmup_steps = static_cast<int64_t>(std::llround(options.warmup_epochs() * steps_per_epoch));
  if (global_step - warmup_start < warmup_steps)
    lr *= static_cast<double>(global_step - warmup_start + 1) / static_cast<double>(warmup_steps);
  return lr;
}

}  // namespace sola
