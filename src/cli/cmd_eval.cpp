// sola eval: frame/video AUC, AP, EER, accuracy and per-method AUC of models on manifests;
// with several models, a cross-domain matrix in the form of the paper's Table 2.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/manifest.h"
#include "data/perturb.h"
#include "eval/calibration.h"
#include "eval/evaluate.h"
#include "eval/plot.h"
#include "eval/tables.h"
#include "model/checkpoint.h"
#include "train/progress.h"
#include "train/run_summary.h"

namespace sola::cli {
namespace fs = std::filesystem;

namespace {

struct EvalOptions {
  std::vector<std::string> models;
  std::vector<std::string> data;
  std::vector<std::string> perturb;  // fixed degradations (data/perturb.h), applied in order
  std::string json_file, markdown_file, roc_dir, reliability_dir;
  int64_t batch_size = 64;
  int workers = 2;
  double threshold = 0.5;
  bool no_calibration = false;
  std::string precision = "auto";
  int threads = 0;
};

/// "dfdc/val" for .../dfdc/val/manifest.csv; the file stem for other names.
std::string data_name(const std::string& manifest) {
  fs::path p = fs::absolute(manifest).lexically_normal();
  if (p.stem() == "manifest" && p.has_parent_path()) {
    auto dir = p.parent_path();
    return (dir.parent_path().filename() / dir.filename()).string();
  }
  return p.stem().string();
}

/// A name usable in a file name.
std::string file_safe(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return s;
}

std::string pct(double v) { return fmt::format("{:.2f}", 100 * v); }

/// The one manipulation a model was trained on (its training options' `methods`), or "".
std::string training_method(const nlohmann::json& metadata) {
  if (!metadata.is_object() || !metadata.contains("train") || !metadata["train"].is_object()) return "";
  const auto& train = metadata["train"];
  if (!train.contains("methods") || !train["methods"].is_string()) return "";
  const std::string methods = train["methods"].get<std::string>();
  return methods.find(',') == std::string::npos ? methods : "";
}

int run_eval(const EvalOptions& opts) {
  // Every input and output is checked before anything is scored.
  if (!opts.json_file.empty()) require_writable_file(opts.json_file, "--json");
  if (!opts.markdown_file.empty()) require_writable_file(opts.markdown_file, "--markdown");
  if (!opts.roc_dir.empty()) require_writable_folder(opts.roc_dir, "--roc");
  if (!opts.reliability_dir.empty()) require_writable_folder(opts.reliability_dir, "--reliability");
  std::vector<data::Perturbation> perturbations;
  for (const auto& spec : opts.perturb) perturbations.push_back(data::parse_perturbation(spec));
  configure_threads(opts.threads);
  const bool bf16 = resolve_inference_precision(opts.precision, "sola eval").bf16();

  eval::EvalTables tables;
  tables.models = eval::unique_names(opts.models, checkpoint_name);  // train/run_summary.h
  tables.data = eval::unique_names(opts.data, data_name);
  tables.train_methods.assign(opts.models.size(), "");
  // The data column names the degradation: "gan-faces +blur:1".
  tables.data_suffix = perturbations.empty() ? "" : " +" + data::perturbation_specs(perturbations);
  tables.threshold = opts.threshold;
  std::vector<eval::RocCurve> rocs;  // beside tables.cells
  // Beside tables.cells (with --reliability): the cell's reliability curves, the raw sigmoid's first
  // where a calibration moved the scores.
  std::vector<std::vector<eval::ReliabilityCurve>> reliability;
  // A model or cell that fails is reported and skipped; the results of the others are written.
  std::vector<std::string> failures;
  nlohmann::json report_json = nlohmann::json::array();
  // Every manifest is read (and so checked) before any model scores: a bad one is refused at once.
  std::vector<std::optional<data::Manifest>> manifests;
  for (const auto& m : opts.data) manifests.emplace_back(data::read_manifest(m));
  for (size_t mi = 0; mi < opts.models.size(); ++mi) {
    std::optional<LoadedModel> loaded;
    try {
      loaded = load_model(opts.models[mi]);
    } catch (const Error& e) {
      failures.push_back(fmt::format("model {}: {}", opts.models[mi], e.what()));
      continue;
    }
    tables.train_methods[mi] = training_method(loaded->metadata);
    eval::Calibration calibration;
    try {
      if (!opts.no_calibration) calibration = eval::calibration_from_json(loaded->metadata.value("calibration", nlohmann::json()), opts.models[mi]);
    } catch (const Error& e) {
      failures.push_back(fmt::format("model {}: {}", opts.models[mi], e.what()));
      continue;
    }
    for (size_t d = 0; d < manifests.size(); ++d) {
      if (!manifests[d]) continue;
      try {
        data::FaceDataset ds(*manifests[d], data::DatasetOptions()
                                                .input_size(loaded->options.input_size())
                                                .grid(loaded->options.grid())
                                                .perturb(perturbations));
        ProgressBar bar(fmt::format("{} on {}{}", tables.models[mi], tables.data[d], tables.data_suffix), ds.size());
        auto scored = eval::score_dataset(*loaded->model, ds, opts.batch_size, opts.workers,
                                          [&](size_t done, size_t) { bar.update(done); }, bf16);
        std::vector<eval::ReliabilityCurve> curves;
        if (!opts.reliability_dir.empty() && !calibration.identity())
          curves.push_back({tables.data[d] + ", raw", eval::reliability_bins(scored.scores, scored.labels),
                            eval::expected_calibration_error(scored.scores, scored.labels)});
        // The model's calibration (sola calibrate), as sola detect applies it: the scores move, the ranking not.
        if (!calibration.identity())
          for (size_t i = 0; i < scored.scores.size(); ++i) scored.scores[i] = calibration.apply(scored.logits[i]);
        const eval::Report report = eval::summarize(scored, opts.threshold);
        eval::TableCell cell;
        cell.model = mi;
        cell.data = d;
        cell.frame = report.frame;
        cell.video = report.video;
        cell.per_method_auc = report.per_method_auc;
        if (report.map) cell.map_auc = report.map->frame.auc;
        cell.ece = eval::expected_calibration_error(scored.scores, scored.labels);
        const auto bins = eval::reliability_bins(scored.scores, scored.labels);
        if (!opts.reliability_dir.empty())
          curves.push_back({tables.data[d] + (calibration.identity() ? "" : ", calibrated"), bins, *cell.ece});
        tables.cells.push_back(cell);
        rocs.push_back(eval::roc_curve(scored.scores, scored.labels));
        reliability.push_back(std::move(curves));
        bar.finish(fmt::format("frame AUC {}", pct(report.frame.auc)));
        nlohmann::json j = report.to_json();
        j["model"] = tables.models[mi];
        j["model_path"] = opts.models[mi];
        j["data"] = tables.data[d];
        j["data_path"] = opts.data[d];
        if (!tables.train_methods[mi].empty()) j["train_method"] = tables.train_methods[mi];
        j["calibrated"] = !calibration.identity();
        j["ece"] = *cell.ece;
        j["fpr_at_0.5"] = eval::false_positive_rate(scored.scores, scored.labels, 0.5);
        j["fpr_at_0.9"] = eval::false_positive_rate(scored.scores, scored.labels, 0.9);
        j["reliability"] = nlohmann::json::array();
        for (const auto& bin : bins)
          j["reliability"].push_back({{"lo", bin.lo}, {"hi", bin.hi}, {"count", bin.count}, {"mean_score", bin.mean_score},
                                      {"fake_fraction", bin.fake_fraction}});
        if (!perturbations.empty()) j["perturb"] = data::perturbation_specs(perturbations);
        report_json.push_back(j);
      } catch (const std::exception& e) {
        failures.push_back(fmt::format("model {} on manifest {}: {}", opts.models[mi], opts.data[d], e.what()));
      }
    }
  }

  fmt::print("{}", eval::text_tables(tables));
  if (!opts.json_file.empty()) {
    std::ofstream out(opts.json_file);
    if (!out) throw IoError(opts.json_file, "cannot write");
    out << report_json.dump(2) << "\n";
  }
  if (!opts.markdown_file.empty()) {
    std::ofstream md(opts.markdown_file);
    if (!md) throw IoError(opts.markdown_file, "cannot write");
    md << eval::markdown_tables(tables);
  }
  if (!opts.roc_dir.empty()) {
    for (size_t mi = 0; mi < opts.models.size(); ++mi) {
      std::vector<std::pair<std::string, eval::RocCurve>> curves;
      std::vector<double> aucs;
      for (size_t c = 0; c < tables.cells.size(); ++c)
        if (tables.cells[c].model == mi) {
          curves.emplace_back(tables.data[tables.cells[c].data], rocs[c]);
          aucs.push_back(tables.cells[c].frame.auc);
        }
      if (curves.empty()) continue;
      const auto file = (fs::path(opts.roc_dir) / ("roc_" + file_safe(tables.models[mi]) + ".png")).string();
      eval::write_png(file, eval::plot_roc(curves, aucs, "ROC of " + tables.models[mi]));
      fmt::print(stderr, "wrote {}\n", file);
    }
  }
  if (!opts.reliability_dir.empty()) {
    for (size_t mi = 0; mi < opts.models.size(); ++mi) {
      std::vector<eval::ReliabilityCurve> curves;
      for (size_t c = 0; c < tables.cells.size(); ++c)
        if (tables.cells[c].model == mi) curves.insert(curves.end(), reliability[c].begin(), reliability[c].end());
      if (curves.empty()) continue;
      const auto file =
          (fs::path(opts.reliability_dir) / ("reliability_" + file_safe(tables.models[mi]) + ".png")).string();
      eval::write_png(file, eval::plot_reliability(curves, "Reliability of " + tables.models[mi] + tables.data_suffix));
      fmt::print(stderr, "wrote {}\n", file);
    }
  }
  for (const auto& f : failures) fmt::print(stderr, "sola eval: error: {}\n", f);
  if (!failures.empty()) {
    fmt::print(stderr, "sola eval: {} of {} evaluations done; the results above and in the output files are theirs\n",
               tables.cells.size(), opts.models.size() * opts.data.size());
    return kFailure;
  }
  return kOk;
}

}  // namespace

void setup_eval(CLI::App& app) {
  auto opts = std::make_shared<EvalOptions>();
  auto* sub = app.add_subcommand("eval", "Evaluate models on manifests: frame/video AUC, AP, EER, accuracy, per-method AUC");
  sub->add_option("--model", opts->models, "model file (repeatable: a cross-domain matrix)")->required()->allow_extra_args(false);
  sub->add_option("--data", opts->data, "test manifest CSV (repeatable: one row each)")->required()->allow_extra_args(false);
  sub->add_option("--perturb", opts->perturb,
                  "degrade every image first, at the model's input size (repeatable, applied in order): blur:SIGMA, "
                  "jpeg:QUALITY, downscale:FACTOR, noise:STD, sharpen:AMOUNT (a robustness read-out)")
      ->allow_extra_args(false);
  sub->add_option("--json", opts->json_file, "write all reports as JSON");
  sub->add_option("--markdown", opts->markdown_file, "write a Markdown table (and the Table-2 style matrix)");
  sub->add_option("--roc", opts->roc_dir, "write ROC curve PNGs (one per model) into this directory");
  sub->add_option("--reliability", opts->reliability_dir,
                  "write reliability diagram PNGs (one per model, a curve per data set; for a model calibrated by "
                  "sola calibrate, two: the raw sigmoid and the calibrated score) into this directory");
  sub->add_option("--batch", opts->batch_size, "batch size")->capture_default_str()->check(CLI::Range(1, 4096));
  sub->add_option("--workers", opts->workers, "decoding threads")->capture_default_str()->check(CLI::Range(1, 64));
  sub->add_option("--threshold", opts->threshold, "score threshold for accuracy")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  add_precision_option(sub, opts->precision);
  sub->add_flag("--no-calibration", opts->no_calibration,
                "score with the model's raw sigmoid, ignoring a calibration stored by sola calibrate (the 'before')");
  add_threads_option(sub, opts->threads);
  sub->callback([opts] {
    if (int code = run_eval(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
