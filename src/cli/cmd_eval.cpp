// sola eval: frame/video AUC, AP, EER, accuracy and per-method AUC of models on manifests;
// with several models, a cross-domain matrix in the form of the paper's Table 2.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
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
#include "eval/evaluate.h"
#include "eval/plot.h"
#include "model/checkpoint.h"
#include "train/progress.h"

namespace sola::cli {
namespace fs = std::filesystem;

namespace {

struct EvalOptions {
  std::vector<std::string> models;
  std::vector<std::string> data;
  std::vector<std::string> perturb;  // fixed degradations (data/perturb.h), applied in order
  std::string json_file, markdown_file, roc_dir;
  int64_t batch_size = 64;
  int workers = 2;
  double threshold = 0.5;
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

/// "x" for runs/x/best.pt, "x/last" for runs/x/last.pt, else the file stem.
std::string model_name(const std::string& path) {
  fs::path p = fs::absolute(path).lexically_normal();
  const std::string run = p.parent_path().filename().string();
  if (p.stem() == "best") return run;
  if (p.stem() == "last") return run + "/last";
  return p.stem().string();
}

/// A name usable in a file name.
std::string file_safe(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return s;
}

std::string pct(double v) { return fmt::format("{:.2f}", 100 * v); }

/// Refuses an output file that cannot be written, before any evaluation runs: a folder, a missing
/// folder, or no write permission.
void require_writable(const std::string& file, const std::string& option) {
  if (file.empty()) return;
  const fs::path path(file);
  const fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw IoError(file, option + " names a folder; expected a file to write");
  if (!fs::is_directory(folder, ec)) throw IoError(file, "cannot write " + option + ": the folder " + folder.string() + " does not exist");
  const std::string target = fs::exists(path, ec) ? file : folder.string();
  if (::access(target.c_str(), W_OK) != 0)
    throw IoError(file, "cannot write " + option + ": " + std::strerror(errno));
}

int run_eval(const EvalOptions& opts) {
  require_writable(opts.json_file, "--json");
  require_writable(opts.markdown_file, "--markdown");
  std::vector<data::Perturbation> perturbations;
  for (const auto& spec : opts.perturb) perturbations.push_back(data::parse_perturbation(spec));
  // The data column names the degradation: "gan-faces +blur:1".
  const std::string perturbed = perturbations.empty() ? "" : " +" + data::perturbation_specs(perturbations);
  configure_threads(opts.threads);
  const bool bf16 = resolve_inference_precision(opts.precision, "sola eval").bf16();
  struct Cell {
    std::string model, data;
    eval::Report report;
    eval::RocCurve roc;
  };
  std::vector<Cell> cells;
  // A manifest or model that fails is reported and skipped; the results of the others are written.
  std::vector<std::string> failures;
  std::vector<std::optional<data::Manifest>> manifests;
  for (const auto& m : opts.data) {
    try {
      manifests.emplace_back(data::read_manifest(m));
    } catch (const Error& e) {
      manifests.emplace_back();
      failures.push_back(fmt::format("manifest {}: {}", m, e.what()));
    }
  }
  for (const auto& model_path : opts.models) {
    std::optional<LoadedModel> loaded;
    try {
      loaded = load_model(model_path);
    } catch (const Error& e) {
      failures.push_back(fmt::format("model {}: {}", model_path, e.what()));
      continue;
    }
    for (size_t d = 0; d < manifests.size(); ++d) {
      if (!manifests[d]) continue;
      try {
        data::FaceDataset ds(*manifests[d], data::DatasetOptions()
                                                .input_size(loaded->options.input_size())
                                                .grid(loaded->options.grid())
                                                .perturb(perturbations));
        ProgressBar bar(fmt::format("{} on {}{}", model_name(model_path), data_name(opts.data[d]), perturbed), ds.size());
        auto scored = eval::score_dataset(*loaded->model, ds, opts.batch_size, opts.workers,
                                          [&](size_t done, size_t) { bar.update(done); }, bf16);
        Cell cell{model_name(model_path), data_name(opts.data[d]), eval::summarize(scored, opts.threshold),
                  eval::roc_curve(scored.scores, scored.labels)};
        bar.finish(fmt::format("frame AUC {}", pct(cell.report.frame.auc)));
        cells.push_back(std::move(cell));
      } catch (const std::exception& e) {
        failures.push_back(fmt::format("model {} on manifest {}: {}", model_path, opts.data[d], e.what()));
      }
    }
  }

  // Human table on stdout.
  // mapAUC: the AUC of the second-order maps' peak alone (SOLA models), the cue without the classifier.
  const auto map_auc = [](const Cell& c) { return c.report.map ? pct(c.report.map->frame.auc) : std::string("-"); };
  fmt::print("{:<20} {:<20} {:>7} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7}\n", "model", "data", "n", "frameAUC", "videoAUC",
             "AP", "EER", "ACC", "mapAUC");
  for (const auto& c : cells)
    fmt::print("{:<20} {:<20} {:>7} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7}\n", c.model, c.data + perturbed, c.report.frame.n,
               pct(c.report.frame.auc), pct(c.report.video.auc), pct(c.report.frame.ap), pct(c.report.frame.eer),
               pct(c.report.frame.acc), map_auc(c));

  if (!opts.json_file.empty()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& c : cells) {
      auto r = c.report.to_json();
      r["model"] = c.model;
      r["data"] = c.data;
      if (!perturbations.empty()) r["perturb"] = data::perturbation_specs(perturbations);
      j.push_back(r);
    }
    std::ofstream out(opts.json_file);
    if (!out) throw IoError(opts.json_file, "cannot write");
    out << j.dump(2) << "\n";
  }
  if (!opts.markdown_file.empty()) {
    std::ofstream md(opts.markdown_file);
    if (!md) throw IoError(opts.markdown_file, "cannot write");
    md << "| model | test set | images | frame AUC | video AUC | AP | EER | ACC@" << opts.threshold
       << " | map AUC |\n";
    md << "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& c : cells)
      md << fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", c.model, c.data + perturbed, c.report.frame.n,
                        pct(c.report.frame.auc), pct(c.report.video.auc), pct(c.report.frame.ap),
                        pct(c.report.frame.eer), pct(c.report.frame.acc), map_auc(c));
    if (opts.models.size() > 1 && manifests.size() > 1) {
      // Table 2 form: one row per model (its training set), one column per test set, frame AUC, average.
      md << "\nFrame AUC (%), rows: model, columns: test set\n\n| model |";
      for (const auto& d : opts.data) md << " " << data_name(d) << perturbed << " |";
      md << " Avg |\n|---|";
      for (size_t d = 0; d < opts.data.size(); ++d) md << "---|";
      md << "---|\n";
      for (size_t m = 0; m < opts.models.size(); ++m) {
        md << "| " << model_name(opts.models[m]) << " |";
        double sum = 0;
        size_t n = 0;
        for (size_t d = 0; d < manifests.size(); ++d) {
          const auto cell = std::find_if(cells.begin(), cells.end(), [&](const Cell& c) {
            return c.model == model_name(opts.models[m]) && c.data == data_name(opts.data[d]);
          });
          if (cell == cells.end()) {  // this evaluation failed
            md << " - |";
            continue;
          }
          sum += cell->report.frame.auc;
          ++n;
          md << " " << pct(cell->report.frame.auc) << " |";
        }
        md << " " << (n ? pct(sum / static_cast<double>(n)) : "-") << " |\n";
      }
    }
  }
  if (!opts.roc_dir.empty()) {
    fs::create_directories(opts.roc_dir);
    for (const auto& model_path : opts.models) {
      std::vector<std::pair<std::string, eval::RocCurve>> curves;
      std::vector<double> aucs;
      for (const auto& c : cells)
        if (c.model == model_name(model_path)) {
          curves.emplace_back(c.data, c.roc);
          aucs.push_back(c.report.frame.auc);
        }
      const auto file = (fs::path(opts.roc_dir) / ("roc_" + file_safe(model_name(model_path)) + ".png")).string();
      if (curves.empty()) continue;
      eval::write_png(file, eval::plot_roc(curves, aucs, "ROC of " + model_name(model_path)));
      fmt::print(stderr, "wrote {}\n", file);
    }
  }
  for (const auto& f : failures) fmt::print(stderr, "sola eval: error: {}\n", f);
  if (!failures.empty()) {
    fmt::print(stderr, "sola eval: {} of {} evaluations done; the results above and in the output files are theirs\n",
               cells.size(), opts.models.size() * opts.data.size());
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
  sub->add_option("--batch", opts->batch_size, "batch size")->capture_default_str()->check(CLI::Range(1, 4096));
  sub->add_option("--workers", opts->workers, "decoding threads")->capture_default_str()->check(CLI::Range(1, 64));
  sub->add_option("--threshold", opts->threshold, "score threshold for accuracy")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  add_precision_option(sub, opts->precision);
  add_threads_option(sub, opts->threads);
  sub->callback([opts] {
    if (int code = run_eval(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
