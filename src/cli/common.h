#pragma once
// Pieces every subcommand shares: model configuration options, JSON printing, exit codes.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/json_file.h"  // read_json_file, for the subcommands
#include "core/precision.h"
#include "model/options.h"
#include "train/train_options.h"

namespace sola::cli {

enum ExitCode { kOk = 0, kFailure = 1, kUsage = 2 };

/// --variant NAME, --config FILE, --set key=value (repeatable), applied in that order.
/// A config file is {"model": {...}, "train": {...}} with what train/recipe.h describes (description,
/// extends, variant); --set finds the key in either section.
struct ModelConfigArgs {
  std::string config_file;
  std::string variant;
  std::vector<std::string> sets;
};
void add_model_config_options(CLI::App* app, ModelConfigArgs& args);

struct RunConfig {
  ModelOptions model;
  TrainOptions train;
};
/// Throws ConfigError (exit 2) naming the file or key that is wrong.
RunConfig resolve_config(const ModelConfigArgs& args);
ModelOptions resolve_model_options(const ModelConfigArgs& args);

/// --threads N (0 = one per core).
void add_threads_option(CLI::App* app, int& threads);

/// --precision auto|fp32|bf16 (default auto: bf16 where the CPU runs it natively) and --bf16, its
/// synonym for --precision bf16 (inference: detect, eval, serve).
void add_precision_option(CLI::App* app, std::string& precision);

/// Resolves an inference --precision for the CPU (`query`: the capability query, unset: the real
/// one) and prints "precision: ..." and any warning on stderr, prefixed with `command`.
PrecisionChoice resolve_inference_precision(const std::string& precision, const std::string& command,
                                            const CapabilityQuery& query = {});

/// Refuses, before any work, an output file that cannot be written: a folder, a missing folder, or a
/// file system or permission that takes no new file (checked by opening it for appending, as the
/// write will; a file that was not there is removed again). Throws IoError naming `file` and the
/// `option` that gave it ("--json").
void require_writable_file(const std::string& file, const std::string& option);

/// Makes the output folder `dir` (and its parents) and refuses it, before any work, when no file can
/// be created in it (a probe file, removed again: root passes access(2) where a write fails, as in
/// /proc). Throws IoError naming `dir` and the `option` that gave it ("--heatmaps").
void require_writable_folder(const std::string& dir, const std::string& option);

/// One line of machine-readable output: compact JSON in which bytes that are not UTF-8 (a file name
/// from a foreign file system) become U+FFFD instead of aborting the output.
std::string json_line(const nlohmann::json& j);

}  // namespace sola::cli
