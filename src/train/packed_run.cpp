#include "train/packed_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "data/packed.h"
#include "model/checkpoint.h"
#include "train/trainer.h"

namespace sola {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// Seconds kept back at the end of a budget: the export and the summary.
constexpr double kReserveSeconds = 10.0;

struct Probe {
  int64_t batch_size = 0;
  double images_per_second = 0;  ///< steady-state steps, the probe's data waits included
  double seconds = 0;
  double checkpoint_seconds = 0;  ///< writing last.pt and best.pt once: an epoch end
  int64_t epochs_that_fit = 0;
};

/// Runs the trainer for `steps` steps of batch `batch` into `dir` (then removed) and measures the
/// images per second of its steps after the warm-up, charging the data waits of the whole probe.
Probe probe(const ModelOptions& model, TrainOptions train, int64_t batch, int64_t steps,
            std::shared_ptr<const data::SampleSource> source, const std::string& dir) {
  const auto start = Clock::now();
  train.batch_size(batch).epochs(1).warmup_epochs(0).max_steps_per_epoch(steps).log_every(1).checkpoint_every(0);
  Trainer trainer(model, train, std::move(source), nullptr, dir);
  const TrainSummary summary = trainer.run(false);
  std::vector<double> step_seconds;
  std::ifstream log((fs::path(dir) / "metrics.jsonl").string());
  std::string line;
  while (std::getline(log, line)) {
    const auto j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("type", "") == "step" && j.value("step", int64_t{0}) > kProbeWarmupSteps)
      step_seconds.push_back(static_cast<double>(batch) / std::max(j.value("images_per_second", 1e-9), 1e-9));
  }
  log.close();
  std::error_code ec;
  fs::remove_all(dir, ec);
  Probe p;
  p.batch_size = batch;
  p.seconds = seconds_since(start);
  p.checkpoint_seconds = summary.checkpoint_seconds;
  double per_image = summary.train_images_per_second > 0 ? 1.0 / summary.train_images_per_second : 0.0;
  if (!step_seconds.empty()) {
    std::nth_element(step_seconds.begin(), step_seconds.begin() + step_seconds.size() / 2, step_seconds.end());
    const double images = static_cast<double>(summary.steps * batch);
    per_image = step_seconds[step_seconds.size() / 2] / static_cast<double>(batch) + summary.data_wait_seconds / images;
  }
  p.images_per_second = per_image > 0 ? 1.0 / per_image : 0.0;
  return p;
}

/// Images an epoch trains on: its full batches, at most max_steps of them (0: no cap).
double epoch_images(double n, int64_t batch, int64_t max_steps) {
  double steps = std::max(1.0, std::floor(n / static_cast<double>(batch)));
  if (max_steps > 0) steps = std::min(steps, static_cast<double>(max_steps));
  return steps * static_cast<double>(batch);
}

}  // namespace

int64_t plan_epochs(double seconds, double seconds_per_epoch, int64_t max_epochs) {
  if (max_epochs < 1) return 1;
  if (!(seconds_per_epoch > 0)) return max_epochs;
  const double fit = std::floor(seconds / seconds_per_epoch);
  return std::clamp<int64_t>(fit >= static_cast<double>(max_epochs) ? max_epochs : static_cast<int64_t>(std::max(fit, 0.0)),
                             1, max_epochs);
}

json run_packed_training(const PackedRunOptions& o) {
  const auto start = Clock::now();
  if (o.train.pseudo_fakes() || o.train.pseudo_fake_share() > 0)
    throw ConfigError("pseudo_fakes and pseudo_fake_share need face landmarks and OpenCV (sola train); a packed run "
                      "trains on the bundle's images only");
  o.model.validate();
  o.train.validate();
  fs::create_directories(o.out_dir);

  // Phase 1: load and decode the bundles.
  const auto load_start = Clock::now();
  auto train_data = std::make_shared<const data::PackedData>(data::read_packed(o.train_bundle, o.threads));
  std::shared_ptr<const data::PackedData> val_data;
  if (!o.val_bundle.empty()) val_data = std::make_shared<const data::PackedData>(data::read_packed(o.val_bundle, o.threads));
  const double load_seconds = seconds_since(load_start);
  const auto& tm = train_data->manifest;
  fmt::print(stderr, "packed run: {} training images ({} real, {} fake, {} with masks, {}x{} px), {} validation images; "
                     "loaded in {:.1f} s\n",
             tm.samples.size(), tm.n_real(), tm.n_fake(), tm.n_with_mask(), train_data->image_size, train_data->image_size,
             val_data ? val_data->manifest.samples.size() : 0, load_seconds);

  const auto geometry = data::PackedDatasetOptions().input_size(o.model.input_size()).grid(o.model.grid());
  auto train_set = std::make_shared<const data::PackedDataset>(
      train_data, data::PackedDatasetOptions(geometry)
                      .augment(o.train.augment())
                      .augment_options(augment_options(o.train))
                      .seed(static_cast<uint64_t>(o.train.seed())));
  std::shared_ptr<const data::SampleSource> val_set;
  if (val_data) val_set = std::make_shared<const data::PackedDataset>(val_data, geometry);

  // Phase 2: the batch size and epochs that fit the budget, from probe runs.
  TrainOptions train = o.train;
  json probes = json::array();
  double probe_seconds = 0;
  if (o.budget_seconds > 0) {
    std::vector<int64_t> candidates = o.batch_sizes;
    if (candidates.empty()) candidates.push_back(train.batch_size());
    const double n_train = static_cast<double>(tm.samples.size());
    const double n_val = val_data ? static_cast<double>(val_data->manifest.samples.size()) : 0.0;
    std::vector<Probe> done;
    for (int64_t batch : candidates) {
      if (batch > static_cast<int64_t>(tm.samples.size())) continue;
      Probe p = probe(o.model, train, batch, o.probe_steps, train_set,
                      (fs::path(o.out_dir) / fmt::format("probe-{}", batch)).string());
      probe_seconds += p.seconds;
      // An epoch: its full batches, validation (a forward pass, counted at half a training step's
      // cost per image) and its checkpoints (as long as the probe's).
      const double images = epoch_images(n_train, batch, train.max_steps_per_epoch());
      const double per_epoch = (images + 0.5 * n_val) / std::max(p.images_per_second, 1e-9) + p.checkpoint_seconds;
      const double left = o.budget_seconds - seconds_since(start) - kReserveSeconds;
      p.epochs_that_fit = plan_epochs(left, per_epoch, train.epochs());
      fmt::print(stderr, "probe: batch {}: {:.1f} img/s, {:.1f} s an epoch, {} of {} epochs fit in {:.0f} s\n", batch,
                 p.images_per_second, per_epoch, p.epochs_that_fit, train.epochs(), left);
      probes.push_back({{"batch_size", batch}, {"images_per_second", p.images_per_second},
                        {"seconds_per_epoch", per_epoch}, {"epochs_that_fit", p.epochs_that_fit}, {"seconds", p.seconds},
                        {"checkpoint_seconds", p.checkpoint_seconds}});
      done.push_back(p);
      if (p.epochs_that_fit >= train.epochs()) break;
    }
    if (done.empty()) throw ConfigError(fmt::format("no batch size to probe: every candidate exceeds the {} training images",
                                                    tm.samples.size()));
    const Probe& chosen = done.back().epochs_that_fit >= train.epochs()
                              ? done.back()
                              : *std::max_element(done.begin(), done.end(), [](const Probe& a, const Probe& b) {
                                  return a.images_per_second < b.images_per_second;
                                });
    // The probes ran meanwhile: the epochs are counted again for the time left now.
    const double images = epoch_images(n_train, chosen.batch_size, train.max_steps_per_epoch());
    const double per_epoch = (images + 0.5 * n_val) / std::max(chosen.images_per_second, 1e-9) + chosen.checkpoint_seconds;
    const int64_t epochs = plan_epochs(o.budget_seconds - seconds_since(start) - kReserveSeconds, per_epoch, train.epochs());
    train.batch_size(chosen.batch_size).epochs(epochs).warmup_epochs(std::min<double>(train.warmup_epochs(), epochs));
    fmt::print(stderr, "packed run: batch {}, {} epochs\n", train.batch_size(), train.epochs());
  }

  // Phase 3: train and validate.
  json provenance{{"train_bundle", o.train_bundle}, {"val_bundle", o.val_bundle}, {"bundle_info", train_data->info}};
  Trainer trainer(o.model, train, train_set, val_set, o.out_dir, provenance);
  if (o.budget_seconds > 0) {  // the estimate may be off: no epoch starts that would end past the budget
    trainer.stop_after_epoch = [&](double epoch_seconds) {
      return seconds_since(start) + epoch_seconds > o.budget_seconds - kReserveSeconds;
    };
  }
  const TrainSummary summary = trainer.run(false);

  // Phase 4: the float16 model file.
  json result{{"train_images", tm.samples.size()},
              {"val_images", val_data ? val_data->manifest.samples.size() : 0},
              {"image_size", train_data->image_size},
              {"input_size", o.model.input_size()},
              {"device", train.device()},
              {"precision", summary.precision},
              {"channels_last", train.channels_last()},
              {"batch_size", train.batch_size()},
              {"epochs", summary.epochs_done},
              {"epochs_planned", train.epochs()},
              {"stopped_early", summary.stopped_early},
              {"steps", summary.steps},
              {"probes", probes},
              {"load_seconds", load_seconds},
              {"probe_seconds", probe_seconds},
              {"train_seconds", summary.train_seconds},
              {"validate_seconds", summary.validate_seconds},
              {"checkpoint_seconds", summary.checkpoint_seconds},
              {"data_wait_seconds", summary.data_wait_seconds},
              {"data_wait_share", summary.train_seconds > 0 ? summary.data_wait_seconds / summary.train_seconds : 0.0},
              {"train_images_per_second", summary.train_images_per_second}};
  if (summary.best_val_auc >= 0) result["best_val_frame_auc"] = summary.best_val_auc;
  if (summary.stopped_early) result["stop_reason"] = summary.stop_reason;
  if (!summary.last_epoch.is_null() && summary.last_epoch.contains("val"))
    result["last_val"] = summary.last_epoch["val"]["frame"];
  if (!o.export_path.empty()) {
    const auto export_start = Clock::now();
    const std::string best = (fs::path(o.out_dir) / "best.pt").string();
    auto loaded = load_model(fs::exists(best) ? best : (fs::path(o.out_dir) / "last.pt").string());
    json meta = loaded.metadata;
    meta["packed_run"] = result;
    save_model(o.export_path, *loaded.model, meta, nullptr, SaveOptions{/*half=*/true, false});
    result["model_file"] = o.export_path;
    result["export_seconds"] = seconds_since(export_start);
  }
  result["total_seconds"] = seconds_since(start);
  return result;
}

}  // namespace sola
