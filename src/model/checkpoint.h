#pragma once
// Model files: weights plus the configuration that built them, in LibTorch's archive format.
// Files are written atomically (temporary file, then rename) so a crash never leaves half a file.
#include <string>

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include "model/sola_net.h"

namespace sola {

struct LoadedModel {
  Detector model;
  ModelOptions options;
  nlohmann::json metadata;  ///< whatever the writer stored (training state summary, metrics, ...)
};

/// Writes `model` with its options and `metadata` to `path` (atomic). With `optimizer`, its state
/// is stored too (a training checkpoint; still loadable as a model).
void save_model(const std::string& path, DetectorImpl& model, const nlohmann::json& metadata = nlohmann::json::object(),
                torch::optim::Optimizer* optimizer = nullptr);

/// Restores the optimizer state stored by save_model. Throws IoError naming the path if absent.
void load_optimizer(const std::string& path, torch::optim::Optimizer& optimizer);

/// Reads a file written by save_model. Throws IoError naming the path for a missing, truncated or
/// foreign file, and for weights that do not match the stored configuration.
LoadedModel load_model(const std::string& path, const torch::Device& device = torch::kCPU);

/// Atomically replaces `path` with what `write(tmp_path)` produced.
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write);

}  // namespace sola
