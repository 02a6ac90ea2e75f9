// sola calibrate: fits Platt scaling of a model's logit on validation manifests (eval/calibration.h
// says why Platt) and writes the model again with the calibration in its metadata, which sola detect,
// serve and eval then apply. Choose on validation sets only: the test sets are read-outs.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/manifest.h"
#include "eval/calibration.h"
#include "eval/evaluate.h"
#include "model/checkpoint.h"
#include "train/progress.h"

namespace sola::cli {
namespace {

struct CalibrateOptions {
  std::string model_file, out_file;
  std::vector<std::string> data;
  bool half = false;
  int64_t batch_size = 64;
  int workers = 2;
  std::string precision = "auto";
  int threads = 0;
};

/// The figures of one set of scores against the labels, at the two thresholds the model card quotes.
nlohmann::json figures(const std::vector<double>& p, const std::vector<int>& y) {
  return {{"log_loss", eval::log_loss(p, y)},
          {"ece", eval::expected_calibration_error(p, y)},
          {"fpr_at_0.5", eval::false_positive_rate(p, y, 0.5)},
          {"fpr_at_0.9", eval::false_positive_rate(p, y, 0.9)}};
}

int run_calibrate(const CalibrateOptions& opts) {
  std::vector<data::Manifest> manifests;
  for (const auto& m : opts.data) manifests.push_back(data::read_manifest(m));  // all checked before scoring
  configure_threads(opts.threads);
  const bool bf16 = resolve_inference_precision(opts.precision, "sola calibrate").bf16();
  const LoadedModel loaded = load_model(opts.model_file);
  std::vector<double> logits;
  std::vector<int> labels;
  for (size_t d = 0; d < manifests.size(); ++d) {
    data::FaceDataset ds(manifests[d],
                         data::DatasetOptions().input_size(loaded.options.input_size()).grid(loaded.options.grid()));
    ProgressBar bar(fmt::format("scoring {}", opts.data[d]), ds.size());
    const auto scored = eval::score_dataset(*loaded.model, ds, opts.batch_size, opts.workers,
                                            [&](size_t done, size_t) { bar.update(done); }, bf16);
    bar.finish("");
    logits.insert(logits.end(), scored.logits.begin(), scored.logits.end());
    labels.insert(labels.end(), scored.labels.begin(), scored.labels.end());
  }
  const eval::Calibration fit = eval::fit_platt(logits, labels);
  std::vector<double> before, after;
  for (double z : logits) before.push_back(eval::Calibration{}.apply(z)), after.push_back(fit.apply(z));
  nlohmann::json record = to_json(fit);
  record["fitted_on"] = opts.data;
  record["samples"] = logits.size();
  record["before"] = figures(before, labels);
  record["after"] = figures(after, labels);
  nlohmann::json meta = loaded.metadata;
  meta.erase("train_state");  // a model to deploy, not a checkpoint to resume
  meta["calibration"] = record;
  meta["calibrated_from"] = opts.model_file;
  save_model(opts.out_file, *loaded.model, meta, nullptr, SaveOptions{opts.half, false});
  nlohmann::json line{{"out", opts.out_file}, {"calibration", record}};
  std::cout << json_line(line) << std::endl;
  return kOk;
}

}  // namespace

void setup_calibrate(CLI::App& app) {
  auto opts = std::make_shared<CalibrateOptions>();
  auto* sub = app.add_subcommand(
      "calibrate", "Fit Platt scaling of a model's score on validation manifests and write the calibrated model "
                   "(sola detect, serve and eval then report calibrated probabilities)");
  sub->add_option("--model", opts->model_file, "model file")->required();
  sub->add_option("--data", opts->data, "validation manifest CSV (repeatable: fitted on all together); never a test set")
      ->required()
      ->allow_extra_args(false);
  sub->add_option("--out", opts->out_file, "model file to write (the weights and metadata, plus the calibration)")
      ->required();
  sub->add_flag("--half", opts->half, "store weights as float16 (half the size)");
  sub->add_option("--batch", opts->batch_size, "batch size")->capture_default_str()->check(CLI::Range(1, 4096));
  sub->add_option("--workers", opts->workers, "decoding threads")->capture_default_str()->check(CLI::Range(1, 64));
  add_precision_option(sub, opts->precision);
  add_threads_option(sub, opts->threads);
  sub->callback([opts] {
    if (int code = run_calibrate(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
