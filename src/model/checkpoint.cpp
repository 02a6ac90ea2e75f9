#include "model/checkpoint.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <torch/serialize.h>
#include <torch/torch.h>

#include "core/error.h"

namespace sola {
namespace fs = std::filesystem;

namespace {
constexpr const char* kFormat = "sola-model-v1";

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }
}  // namespace

void write_atomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  const fs::path target(path);
  if (target.has_parent_path() && !fs::exists(target.parent_path()))
    throw IoError(path, "directory " + target.parent_path().string() + " does not exist");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    write(tmp);
    // Flush file contents to disk before the rename makes them visible.
    if (FILE* f = std::fopen(tmp.c_str(), "rb")) {
      ::fsync(fileno(f));
      std::fclose(f);
    }
    fs::rename(tmp, target);
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw IoError(path, std::string("cannot write: ") + first_line(e.what()));
  }
}

void save_model(const std::string& path, DetectorImpl& model, const nlohmann::json& metadata,
                torch::optim::Optimizer* optimizer) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("config", c10::IValue(to_json(model.options()).dump()));
  archive.write("metadata", c10::IValue(metadata.dump()));
  torch::serialize::OutputArchive weights;
  model.save(weights);
  archive.write("model", weights);
  if (optimizer) {
    torch::serialize::OutputArchive state;
    optimizer->save(state);
    archive.write("optimizer", state);
  }
  write_atomically(path, [&](const std::string& tmp) { archive.save_to(tmp); });
}

namespace {
torch::serialize::InputArchive open_archive(const std::string& path, const torch::Device& device) {
  if (!fs::exists(path)) throw IoError(path, "model file not found");
  if (fs::is_directory(path)) throw IoError(path, "is a directory, expected a model file");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, device);
  } catch (const std::exception& e) {
    throw IoError(path, "not a readable sola model file (truncated or corrupt?): " + first_line(e.what()));
  }
  return archive;
}
}  // namespace

void load_optimizer(const std::string& path, torch::optim::Optimizer& optimizer) {
  auto archive = open_archive(path, torch::kCPU);
  torch::serialize::InputArchive state;
  if (!archive.try_read("optimizer", state)) throw IoError(path, "holds no optimizer state (not a training checkpoint)");
  try {
    optimizer.load(state);
  } catch (const std::exception& e) {
    throw IoError(path, "optimizer state does not match the model: " + first_line(e.what()));
  }
}

LoadedModel load_model(const std::string& path, const torch::Device& device) {
  auto archive = open_archive(path, device);
  c10::IValue format, config, metadata;
  if (!archive.try_read("format", format) || !format.isString() || format.toStringRef() != kFormat)
    throw IoError(path, std::string("not a sola model file (missing format tag '") + kFormat + "')");
  if (!archive.try_read("config", config) || !config.isString())
    throw IoError(path, "model file has no configuration");
  LoadedModel loaded;
  try {
    loaded.options = options_from_json(nlohmann::json::parse(config.toStringRef()), ModelOptions{}, path);
    if (archive.try_read("metadata", metadata) && metadata.isString())
      loaded.metadata = nlohmann::json::parse(metadata.toStringRef());
  } catch (const nlohmann::json::exception& e) {
    throw IoError(path, std::string("model configuration is not valid JSON: ") + e.what());
  }
  loaded.model = build_model(loaded.options);
  torch::serialize::InputArchive weights;
  if (!archive.try_read("model", weights)) throw IoError(path, "model file has no weights");
  try {
    loaded.model->load(weights);
  } catch (const std::exception& e) {
    throw IoError(path, "weights do not match the stored configuration: " + first_line(e.what()));
  }
  loaded.model->to(device);
  return loaded;
}

}  // namespace sola
