#pragma once
// Model files: weights plus the configuration that built them, in LibTorch's archive format.
//
// Layout: LibTorch's zip archive (keys "format", "config", "metadata", "model", optionally
// "optimizer"), followed by a 24-byte trailer: "SOLACRC1", the archive's length (uint64 LE) and
// its CRC-32 (uint64 LE). A file whose trailer is missing or whose CRC does not match is refused as
// truncated or corrupted (files of format sola-model-v1, written before the trailer existed, are
// read without it). Files are written atomically (core/atomic_file.h: temporary file, fsync,
// rename) so a crash or a full disk never leaves half a file in place of the previous one.
#include <string>

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include "core/atomic_file.h"  // write_atomically, which save_model and the trainer's files use
#include "model/sola_net.h"

namespace sola {

struct LoadedModel {
  Detector model;
  ModelOptions options;
  nlohmann::json metadata;  ///< whatever the writer stored (training state summary, metrics, ...)
};

struct SaveOptions {
  /// Store floating-point weights as float16 (half the size; load_model restores float32).
  bool half = false;
  /// Before replacing `path`, keep the file it replaces as previous_checkpoint_path(path).
  bool keep_previous = false;
};

/// Writes `model` with its options and `metadata` to `path` (atomic). With `optimizer`, its state
/// is stored too (a training checkpoint; still loadable as a model).
void save_model(const std::string& path, DetectorImpl& model, const nlohmann::json& metadata = nlohmann::json::object(),
                torch::optim::Optimizer* optimizer = nullptr, const SaveOptions& options = {});

/// "dir/last.pt" -> "dir/last.prev.pt": where save_model keeps the replaced file (keep_previous).
std::string previous_checkpoint_path(const std::string& path);

/// Reads the whole file and checks its trailer and CRC; throws IoError naming the path and saying
/// what is wrong (missing, truncated, corrupted). Cheap compared with loading.
void verify_model_file(const std::string& path);

/// Restores the optimizer state stored by save_model, its tensors on `device` (the parameters').
/// Throws IoError naming the path if absent.
void load_optimizer(const std::string& path, torch::optim::Optimizer& optimizer,
                    const torch::Device& device = torch::kCPU);

/// Reads a file written by save_model. Throws IoError naming the path for a missing, truncated or
/// foreign file, and for weights that do not match the stored configuration.
LoadedModel load_model(const std::string& path, const torch::Device& device = torch::kCPU);

}  // namespace sola
