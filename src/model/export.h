#pragma once
// Export of a model's weights for PyTorch: a file that plain `torch.load(FILE)` reads in Python.
//
// The file is what Python's torch.save writes (zip archive, pickle protocol 2) for a dict
//   {"format": "sola-export-v1",
//    "config": <the model configuration, to_json(options) as a JSON string>,
//    "state_dict": {name: tensor}}
// holding every parameter and buffer under its C++ name (named_parameters() / named_buffers()),
// which is also its name in the PyTorch reference (reference/sola_ref.py), so
// `model.load_state_dict(export["state_dict"])` works with strict checking. The pickle holds only
// dicts, strings and tensors, so torch.load(FILE, weights_only=True) reads it too.
#include <string>

#include "model/sola_net.h"

namespace sola {

/// The value of the "format" entry of an export.
inline constexpr const char* kExportFormat = "sola-export-v1";

/// Writes `model`'s configuration, parameters and buffers (as contiguous CPU tensors) to `path`,
/// atomically. Throws IoError naming the path when it cannot be written.
void export_state_dict(const std::string& path, DetectorImpl& model);

}  // namespace sola
