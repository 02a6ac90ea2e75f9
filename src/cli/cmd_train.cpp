// sola train: train a detector on manifests, validating every epoch; resumable.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/framing.h"
#include "data/manifest.h"
#include "train/distributed.h"
#include "train/run_dir.h"
#include "train/train_options.h"
#include "train/trainer.h"

namespace sola::cli {
namespace {

struct TrainCliOptions {
  ModelConfigArgs config;
  std::vector<std::string> train;
  std::vector<std::string> val;
  std::string out;
  bool resume = false;
  bool overwrite = false;
  bool skip_image_check = false;
  bool pseudo_fakes = false;
  std::string init;
  std::string continue_from;
  std::vector<std::string> val_extra;
  int threads = 0;
};

int run_train(const TrainCliOptions& opts) {
  RunConfig cfg = resolve_config(opts.config);
  if (!opts.init.empty()) cfg.train.init(opts.init);  // same as --set init=...
  if (opts.pseudo_fakes) cfg.train.pseudo_fakes(true);
  cfg.train.validate();
  // One run per output folder, refused before any data is read; the main process holds it.
  RunDir run_dir;
  if (distributed_env_from_environment().rank == 0)  // --continue carries a run on: its folder may hold its log
    run_dir = RunDir::claim(opts.out, opts.resume || !opts.continue_from.empty(), opts.overwrite);
  // --val-extra NAME=MANIFEST: the specs checked before any data is read, names unique.
  std::vector<std::pair<std::string, std::string>> extra_specs;
  for (const auto& spec : opts.val_extra) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw ConfigError("--val-extra '" + spec + "': expected NAME=MANIFEST");
    for (const auto& [name, file] : extra_specs)
      if (name == spec.substr(0, eq))
        throw ConfigError("--val-extra '" + spec + "': the name '" + name + "' is already given to " + file +
                          "; each extra validation set needs a name of its own");
    extra_specs.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
  }
  const int threads = configure_threads(opts.threads);
  fmt::print(stderr, "sola train: {} threads, reading manifests\n", threads);
  // methods=...: the fakes of those manipulations and every real, in training and validation alike.
  const auto methods = split_list(cfg.train.methods());
  auto train = data::filter_methods(data::read_manifests(opts.train), methods, "--train");
  data::Manifest val;
  if (!opts.val.empty()) val = data::filter_methods(data::read_manifests(opts.val), methods, "--val");
  if (!methods.empty())
    fmt::print(stderr, "methods: {} (their fakes and every real, in --train and --val)\n", cfg.train.methods());
  // A validation set must hold both classes for its AUC: checked now, by name, not after an epoch.
  const auto require_both_classes = [](const data::Manifest& m, const std::string& what) {
    if (m.n_real() == 0 || m.n_fake() == 0)
      throw ConfigError(fmt::format("{} ({}): a validation set needs real and fake images for its AUC; it has {} real "
                                    "and {} fake",
                                    what, fmt::join(m.sources, ", "), m.n_real(), m.n_fake()));
  };
  if (!val.samples.empty()) require_both_classes(val, "--val");
  if (!opts.skip_image_check) {
    fmt::print(stderr, "checking {} images and masks (--skip-image-check to skip)\n",
               train.samples.size() + val.samples.size());
    data::check_images(train, static_cast<unsigned>(threads));
    if (!val.samples.empty()) data::check_images(val, static_cast<unsigned>(threads));
  }
  fmt::print(stderr, "train: {} images ({} real, {} fake, {} with masks); val: {} images\n", train.samples.size(),
             train.n_real(), train.n_fake(), train.n_with_mask(), val.samples.size());
  nlohmann::json provenance{{"train_manifests", opts.train}, {"val_manifests", opts.val}, {"threads", threads},
                            {"name", std::filesystem::path(opts.out).filename().string()},
                            {"data", training_data_record(train, val)}};
  if (opts.resume && run_dir.held()) check_resume_data(opts.out, provenance["data"]);
  // The framing of the training images (a sample, per source manifest): the trainer writes the
  // crop scale that reproduces it into every model file, and sola detect/serve crop faces at it.
  const data::Framing framing = data::measure_framing(train);
  fmt::print(stderr, "{}\n", framing.describe());
  if (!framing.warning.empty()) fmt::print(stderr, "warning: {}\n", framing.warning);
  provenance["framing"] = framing.to_json();
  std::vector<std::pair<std::string, data::Manifest>> extra;
  for (const auto& [name, file] : extra_specs) {
    extra.emplace_back(name, data::read_manifest(file));
    require_both_classes(extra.back().second, "--val-extra " + name);
    if (!opts.skip_image_check) data::check_images(extra.back().second, static_cast<unsigned>(threads));
    provenance["val_extra"][name] = file;
  }
  Trainer trainer(cfg.model, cfg.train, std::move(train), std::move(val), opts.out, provenance);
  for (auto& [name, manifest] : extra) trainer.add_validation(name, std::move(manifest));
  if (!opts.continue_from.empty()) trainer.continue_from(opts.continue_from);
  fmt::print(stderr, "loss: {}; model: {}\n", trainer.loss_options().mode(), to_json(cfg.model).dump());
  auto summary = trainer.run(opts.resume);
  nlohmann::json j{{"out", opts.out},
                   {"epochs", summary.epochs_done},
                   {"steps", summary.steps},
                   {"train_images_per_second", summary.train_images_per_second},
                   {"precision", summary.precision},
                   {"last_epoch", summary.last_epoch}};
  if (summary.best_val_auc >= 0) j["best_val_frame_auc"] = summary.best_val_auc;
  if (summary.stopped_early) j["stopped_early"] = summary.stop_reason;
  std::cout << json_line(j) << std::endl;
  return kOk;
}

}  // namespace

void setup_train(CLI::App& app) {
  auto opts = std::make_shared<TrainCliOptions>();
  auto* sub = app.add_subcommand("train", "Train a detector on dataset manifests (checkpoints every epoch; --resume)");
  add_model_config_options(sub, opts->config);
  sub->add_option("--train", opts->train, "training manifest CSV (repeatable: combined)")->required()->allow_extra_args(false);
  sub->add_option("--val", opts->val, "validation manifest CSV (repeatable); best.pt follows its frame AUC")
      ->allow_extra_args(false);
  sub->add_option("--out", opts->out, "output directory (config.json, last.pt, best.pt, metrics.jsonl)")->required();
  sub->add_flag("--resume", opts->resume, "continue from OUT/last.pt exactly where it stopped");
  sub->add_option("--continue", opts->continue_from,
                  "carry a run on from a model file with a training position (sola export --keep-train-state): "
                  "weights, epoch and best continue, Adam starts anew (warm-up from the restart); OUT may hold "
                  "the run's copied metrics.jsonl")
      ->excludes("--resume");
  sub->add_option("--val-extra", opts->val_extra,
                  "NAME=MANIFEST: another validation set scored every epoch (logged as val_extra.NAME; "
                  "best.pt still follows --val) (repeatable)")
      ->allow_extra_args(false);
  sub->add_flag("--overwrite", opts->overwrite,
                "start a new run in an OUT that holds a previous one, deleting its outputs (without it: refused)");
  sub->add_option("--init", opts->init,
                  "initial weights: torchvision:FILE (a published ResNet .pth, into both branches) or sola:FILE "
                  "(same as --set init=...)");
  sub->add_flag("--pseudo-fakes", opts->pseudo_fakes,
                "pair every real training image with a new self-blended pseudo-fake of itself each epoch "
                "(same as --set pseudo_fakes=true)");
  sub->add_flag("--skip-image-check", opts->skip_image_check, "do not decode every image before training");
  add_threads_option(sub, opts->threads);
  sub->callback([opts] {
    if (int code = run_train(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
