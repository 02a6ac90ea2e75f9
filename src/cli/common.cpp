#include "cli/common.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"

namespace sola::cli {

void add_model_config_options(CLI::App* app, ModelConfigArgs& args) {
  app->add_option("--config", args.config_file,
                  "JSON config file: {\"model\": {key: value, ...}} (see `sola info --keys`)");
  app->add_option("--variant", args.variant, "start from a named variant (see `sola info --variants`)");
  app->add_option("--set", args.sets, "override a model key: --set grid=8 (repeatable; applied last)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);  // one KEY=VALUE per --set
}

void add_threads_option(CLI::App* app, int& threads) {
  app->add_option("--threads", threads, "LibTorch threads (0 = one per core)")->capture_default_str()->check(
      CLI::Range(0, 1024));
}

void add_precision_option(CLI::App* app, std::string& precision) {
  app->add_option("--precision", precision,
                  "arithmetic of the forward passes: auto (bf16 where this CPU runs it natively: AVX512-BF16 or "
                  "AMX-BF16; else fp32), fp32, or bf16 (autocast; see docs/PERFORMANCE.md for the speed and AUC cost)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  app->add_flag_callback("--bf16", [&precision] { precision = "bf16"; }, "same as --precision bf16");
}

PrecisionChoice resolve_inference_precision(const std::string& precision, const std::string& command,
                                            const CapabilityQuery& query) {
  const PrecisionChoice choice = resolve_precision(precision, query ? query("cpu") : device_capabilities("cpu"));
  fmt::print(stderr, "{}: {}\n", command, choice.describe());
  if (!choice.warning.empty()) fmt::print(stderr, "{}: warning: --precision bf16: {}\n", command, choice.warning);
  return choice;
}

nlohmann::json read_json_file(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::exists(path)) throw IoError(path, "file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "cannot open for reading");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 BOM
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
    throw ConfigError(path + ": not valid JSON: " + e.what());
  }
}

RunConfig resolve_config(const ModelConfigArgs& args) {
  RunConfig cfg;
  if (!args.variant.empty()) cfg.model = variant_options(args.variant);
  if (!args.config_file.empty()) {
    auto j = read_json_file(args.config_file);
    if (!j.is_object()) throw ConfigError(args.config_file + ": config must be a JSON object");
    for (const auto& [section, value] : j.items()) {
      if (section == "model")
        cfg.model = options_from_json(value, cfg.model, args.config_file);
      else if (section == "train")
        options_update(cfg.train, value, args.config_file, "train");
      else if (section == "loss" || section == "provenance" || section == "precision")
        continue;  // what a run's own config.json records beside its config: read back as a config, ignored
      else
        throw ConfigError(args.config_file + ": unknown config section '" + section +
                          "' (known: model, train; loss, precision and provenance, a run's records, are ignored)");
    }
  }
  for (const auto& kv : args.sets) set_run_option(cfg.model, cfg.train, kv);
  cfg.model.validate();
  try {
    cfg.train.validate();
  } catch (const ConfigError& e) {
    throw ConfigError((args.config_file.empty() ? std::string("--set") : args.config_file) + ": " + e.what());
  }
  return cfg;
}

ModelOptions resolve_model_options(const ModelConfigArgs& args) { return resolve_config(args).model; }

std::string json_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sola::cli
