#include "cli/common.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "train/recipe.h"

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

RunConfig resolve_config(const ModelConfigArgs& args) {
  RunConfig cfg;
  if (!args.variant.empty()) cfg.model = variant_options(args.variant);
  if (!args.config_file.empty()) {
    const Recipe recipe = read_recipe(args.config_file);  // the file and what it extends
    if (!recipe.variant.empty() && !args.variant.empty())
      throw ConfigError(args.config_file + ": the config starts from the variant '" + recipe.variant +
                        "' and --variant gives '" + args.variant + "': give one of them");
    recipe.apply(cfg.model, cfg.train);
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

void require_writable_file(const std::string& file, const std::string& option) {
  namespace fs = std::filesystem;
  const fs::path path(file);
  const fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw IoError(file, option + " names a folder; expected a file to write");
  if (!fs::is_directory(folder, ec))
    throw IoError(file, "cannot write " + option + ": the folder " + folder.string() + " does not exist");
  const bool existed = fs::exists(path, ec);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(file, "cannot write " + option + ": " + std::strerror(errno));
  ::close(fd);
  if (!existed) fs::remove(path, ec);
}

void require_writable_folder(const std::string& dir, const std::string& option) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir, ec))
    throw IoError(dir, "cannot write " + option + " files: cannot create the folder" + (ec ? ": " + ec.message() : ""));
  std::string probe = (fs::path(dir) / ".sola-write-test-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) throw IoError(dir, "cannot write " + option + " files into this folder: " + std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

std::string json_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sola::cli
