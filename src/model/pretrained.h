#pragma once
// Weights from elsewhere: PyTorch state dicts (torchvision's published ResNet files) and other
// sola models, copied into a detector before training.
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "model/sola_net.h"

namespace sola {

/// name -> tensor, in the file's order.
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

/// Reads a state dict that Python's `torch.save` wrote in its zip format (PyTorch >= 1.6): a dict
/// or collections.OrderedDict (as `model.state_dict()` returns, torchvision's published files
/// included) of tensors, or a dict holding one under the key "state_dict" (a `sola export` file,
/// many training checkpoints) or "model". Tensors come back on the CPU, contiguous, in their stored dtype.
/// Throws IoError naming the path for a missing, truncated or corrupt file, the pre-1.6 format,
/// and pickled objects other than tensors and dicts (a whole pickled nn.Module, for example).
StateDict read_state_dict(const std::string& path);

/// What an initialisation did.
struct InitReport {
  int loaded = 0;                    ///< model tensors (parameters and buffers) that were set
  int model_tensors = 0;             ///< the model's tensors in all (parameters and buffers)
  std::vector<std::string> skipped;  ///< names of source tensors that were not used
  std::string warning;               ///< sola:FILE: model tensors left as initialised and why (config differences); else empty
};

/// Copies a torchvision ResNet state dict (e.g. resnet18-f37072fd.pth as published) into the
/// model's ResNet trunks: for SOLA into both the RGB and the noise trunk (conv1 through layer3;
/// layer4.* and fc.* are skipped), for arch = resnet into the trunk, and its fc when the shapes
/// match (an ImageNet fc has 1000 outputs, so normally it is skipped). Nothing else is touched.
/// Throws IoError naming the path (and leaves the model unchanged) when the file is unreadable or
/// is not a torchvision ResNet of the model's backbone: the message names the first missing,
/// misshaped or foreign key with the shapes.
InitReport init_from_torchvision(DetectorImpl& model, const std::string& path);

/// Initialises `model` as `spec` says:
///   torchvision:FILE  init_from_torchvision(model, FILE)
///   sola:FILE         a sola model file (load_model): every tensor whose name and shape match
///                     is copied; the others are reported as skipped (IoError if none matches).
/// Throws ConfigError for another scheme or an empty FILE, IoError for file problems.
InitReport init_weights(DetectorImpl& model, const std::string& spec);

}  // namespace sola
