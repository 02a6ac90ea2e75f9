#include "train/train_options.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "model/options.h"

namespace sola {

void TrainOptions::validate() const {
  auto bad = [](const std::string& key, const std::string& value, const std::string& allowed) {
    throw ConfigError("train config key '" + key + "' = " + value + " is invalid: " + allowed);
  };
  for (const auto& m : split_list(methods_))
    if (m.empty() || m == "real")
      bad("methods", "'" + methods_ + "'", "expected comma-separated manipulation names (not 'real': reals are always kept)");
  parse_source_weights(source_weights_);
  if (epochs_ < 1 || epochs_ > 100000) bad("epochs", std::to_string(epochs_), "expected 1..100000");
  if (batch_size_ < 1 || batch_size_ > 4096) bad("batch_size", std::to_string(batch_size_), "expected 1..4096");
  if (!(lr_ > 0 && lr_ < 10)) bad("lr", std::to_string(lr_), "expected 0 < lr < 10");
  if (!(adam_beta1_ >= 0 && adam_beta1_ < 1)) bad("adam_beta1", std::to_string(adam_beta1_), "expected [0, 1)");
  if (!(adam_beta2_ >= 0 && adam_beta2_ < 1)) bad("adam_beta2", std::to_string(adam_beta2_), "expected [0, 1)");
  if (!(adam_eps_ > 0)) bad("adam_eps", std::to_string(adam_eps_), "expected > 0");
  if (!(weight_decay_ >= 0)) bad("weight_decay", std::to_string(weight_decay_), "expected >= 0");
  if (lr_schedule_ != "constant" && lr_schedule_ != "cosine") bad("lr_schedule", "'" + lr_schedule_ + "'", "expected constant or cosine");
  if (!(warmup_epochs_ >= 0 && warmup_epochs_ <= epochs_))
    bad("warmup_epochs", std::to_string(warmup_epochs_), "expected 0..epochs");
  if (!(pseudo_fake_share_ >= 0 && pseudo_fake_share_ <= 1))
    bad("pseudo_fake_share", std::to_string(pseudo_fake_share_), "expected a share in [0, 1]");
  if (precision_ != "auto" && precision_ != "bf16" && precision_ != "fp32")
    bad("precision", "'" + precision_ + "'", "expected auto, bf16 or fp32");
  if (loss_ != "auto" && loss_ != "supervised" && loss_ != "weak" && loss_ != "classifier")
    bad("loss", "'" + loss_ + "'", "expected auto, supervised, weak or classifier");
  for (auto [key, v] : {std::pair{"alpha", alpha_}, {"beta", beta_}, {"gamma", gamma_}})
    if (!(v >= 0 && v < 1e6)) bad(key, std::to_string(v), "expected a weight >= 0");
  if (micro_batches_ < 1 || micro_batches_ > batch_size_)
    bad("micro_batches", std::to_string(micro_batches_), "expected 1..batch_size");
  if (!init_.empty() && init_.rfind("torchvision:", 0) != 0 && init_.rfind("sola:", 0) != 0)
    bad("init", "'" + init_ + "'", "expected torchvision:FILE or sola:FILE");
  if (seed_ < 0) bad("seed", std::to_string(seed_), "expected >= 0");
  if (device_ != "cpu" && device_ != "cuda" && device_.rfind("cuda:", 0) != 0)
    bad("device", "'" + device_ + "'", "expected cpu, cuda or cuda:N");
  if (workers_ < 1 || workers_ > 64) bad("workers", std::to_string(workers_), "expected 1..64");
  if (max_steps_per_epoch_ < 0) bad("max_steps_per_epoch", std::to_string(max_steps_per_epoch_), "expected >= 0");
  if (patience_ < 0) bad("patience", std::to_string(patience_), "expected >= 0 (0: no early stopping)");
  if (checkpoint_every_ < 0) bad("checkpoint_every", std::to_string(checkpoint_every_), "expected >= 0");
  if (log_every_ < 1) bad("log_every", std::to_string(log_every_), "expected >= 1");
  if (eval_batch_size_ < 1) bad("eval_batch_size", std::to_string(eval_batch_size_), "expected >= 1");
}

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  if (list.empty()) return out;
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    out.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<double> parse_source_weights(const std::string& list) {
  std::vector<double> out;
  for (const auto& entry : split_list(list)) {
    size_t used = 0;
    double w = -1;
    try {
      w = std::stod(entry, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (entry.empty() || used != entry.size() || !(w >= 0) || !std::isfinite(w))
      throw ConfigError("train config key 'source_weights' = '" + list + "' is invalid: entry '" + entry +
                        "' is not a weight >= 0 (expected comma-separated numbers, one per --train manifest)");
    out.push_back(w);
  }
  return out;
}

void set_run_option(ModelOptions& model, TrainOptions& train, const std::string& kv) {
  const auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) throw ConfigError("--set '" + kv + "': expected KEY=VALUE, e.g. --set grid=8");
  const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
  if (options_has_key<TrainOptions>(key))
    options_set_text(train, key, value, "--set " + kv);
  else
    set_option(model, key, value, "--set " + kv);  // reports unknown keys
}

}  // namespace sola
