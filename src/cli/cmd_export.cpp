// sola export: a model file's weights as a state dict that Python's torch.load reads
// (reference/sola_ref.py loads it into the PyTorch reference implementation), or as a compact
// sola model file for deployment (no optimizer state; float16 weights with --half).
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "model/checkpoint.h"
#include "model/export.h"

namespace sola::cli {
namespace {

struct ExportOptions {
  std::string model_file;
  std::string out_file;
  std::string format = "pytorch";
  bool half = false;
  std::string note;
  double crop_scale = 0;
  bool keep_train_state = false;
};

int run_export(const ExportOptions& opts) {
  const LoadedModel loaded = load_model(opts.model_file);
  if (opts.format == "sola") {
    nlohmann::json meta = loaded.metadata;
    // A deployable model, not a checkpoint to resume; with --keep-train-state, a compact state that
    // `sola train --continue` carries on from (no optimizer state).
    if (!opts.keep_train_state) meta.erase("train_state");
    else if (!meta.contains("train_state"))
      throw IoError(opts.model_file, "has no train_state to keep (it is not a sola train checkpoint)");
    meta["exported_from"] = opts.model_file;
    if (!opts.note.empty()) meta["note"] = opts.note;
    if (opts.crop_scale > 0) meta["crop_scale"] = opts.crop_scale;
    save_model(opts.out_file, *loaded.model, meta, nullptr, SaveOptions{opts.half, false});
  } else {
    if (opts.half) throw ConfigError("--half applies to --format sola only (PyTorch exports keep float32)");
    export_state_dict(opts.out_file, *loaded.model);
  }
  const auto count = [](const auto& items) {
    int64_t n = 0;
    for (const auto& item : items) n += item.value().numel();
    return n;
  };
  nlohmann::json line{{"out", opts.out_file},
                      {"format", opts.format == "sola" ? (opts.half ? "sola-model float16" : "sola-model float32") : kExportFormat},
                      {"tensors", loaded.model->named_parameters().size() + loaded.model->named_buffers().size()},
                      {"parameters", count(loaded.model->named_parameters())},
                      {"config", to_json(loaded.options)}};
  std::cout << json_line(line) << std::endl;
  return kOk;
}

}  // namespace

void setup_export(CLI::App& app) {
  auto opts = std::make_shared<ExportOptions>();
  auto* sub = app.add_subcommand(
      "export", "Write a model's config, parameters and buffers for PyTorch: torch.load(FILE) gives "
                "{\"format\", \"config\", \"state_dict\"} (see reference/README.md)");
  sub->add_option("--model", opts->model_file, "saved model file (sola train's best.pt / last.pt)")->required();
  sub->add_option("--out", opts->out_file, "file to write (pytorch: zip-format pickle, as torch.save writes)")->required();
  sub->add_option("--format", opts->format, "pytorch (for torch.load) or sola (a model file for sola detect/serve)")
      ->check(CLI::IsMember({"pytorch", "sola"}))
      ->capture_default_str();
  sub->add_flag("--half", opts->half, "sola format: store weights as float16 (half the size)");
  sub->add_flag("--keep-train-state", opts->keep_train_state,
                "sola format: keep the checkpoint's training position (epoch, step, best) so that sola train "
                "--continue carries the run on from this file (weights only: Adam starts anew)");
  sub->add_option("--note", opts->note, "sola format: a note stored in the file's metadata");
  sub->add_option("--crop-scale", opts->crop_scale,
                  "sola format: face-crop scale of the training data (face box x scale), used by sola detect/serve")
      ->check(CLI::Range(1.0, 10.0));
  sub->callback([opts] {
    if (int code = run_export(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
