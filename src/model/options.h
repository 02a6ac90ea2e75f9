#pragma once
// ModelOptions: every architectural choice of the detector, one field per config key.
//
// The field list below is the single source of truth: it generates the accessors (TORCH_ARG
// style: `opts.grid()` reads, `opts.grid(8)` sets and chains), the JSON reader/writer, the key
// documentation printed by `sola info --keys`, and the validation messages.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/arg.h>

#include "core/options_io.h"

namespace sola {

// X(type, key, default, documentation)
#define SOLA_MODEL_OPTIONS(X)                                                                       \
  X(std::string, arch, "sola", "model family: 'sola' (the paper) or 'resnet' (vanilla ResNet baseline)") \
  X(std::string, backbone, "resnet18", "ResNet depth of both branches: resnet18, resnet50, resnet101") \
  X(int64_t, input_size, 256, "square input side in pixels (multiple of 16)")                      \
  X(std::string, normalize, "imagenet", "RGB-branch input normalisation: 'imagenet' (mean/std) or 'none'") \
  X(std::string, noise, "asrm", "noise branch first layer (Table 6): asrm, lsrm, srm, none")        \
  X(double, asrm_eps, 1e-6, "ASRM projection: a neighbour sum below this falls back to the SRM kernel") \
  X(bool, dcam, true, "Dual Channel Attention fusion after each block (false: plain sum)")          \
  X(std::string, dcam_fusion, "sum", "DCAM fusion of the attended branches: 'sum' or 'concat' (1x1 conv + BN)") \
  X(int64_t, dcam_reduction, 16, "channel-attention MLP reduction ratio r (hidden = C/r)")          \
  X(bool, lem, true, "Local Enhancement Module after each block (Table 7)")                        \
  X(int64_t, lem_key_reduction, 8, "LEM theta/f embedding width = C / this")                        \
  X(int64_t, grid, 16, "patch grid G: LEM cells and SOLA map size G x G (4, 8, 16, 32 or 64)")  \
  X(int64_t, anomaly_channels, 64, "kernels per first-order predictor delta (Eq. 7)")              \
  X(int64_t, classifier_channels, 64, "channels of the classifier convolution")                    \
  X(int64_t, classifier_kernel, 3, "kernel size of the classifier convolution (odd)")                  \
  X(std::string, classifier_input, "maps", "what the classifier reads: 'maps' (sigmoid second-order maps) or 'logits' (before the sigmoid)")

struct ModelOptions {
  SOLA_MODEL_OPTIONS(SOLA_DECLARE_OPTION)

 public:
  /// Throws ConfigError naming the key, the bad value and what is allowed.
  void validate() const;

  /// Number of ResNet stages used (3 for SOLA, 4 for the vanilla baseline).
  int64_t num_stages() const { return arch_ == "resnet" ? 4 : 3; }
};

template <class F>
void visit_options(ModelOptions& o, F&& f) {
  SOLA_MODEL_OPTIONS(SOLA_VISIT_OPTION)
}

std::vector<OptionDoc> model_option_docs();

nlohmann::json to_json(const ModelOptions& opts);
/// Reads keys onto a copy of `base`. Unknown keys and wrong types throw ConfigError naming the
/// key and `source` (a file name or "--set"). Validates the result.
ModelOptions options_from_json(const nlohmann::json& j, const ModelOptions& base = {},
                               const std::string& source = "config");
/// Sets one key from its textual value ("grid=8" on the command line).
void set_option(ModelOptions& opts, const std::string& key, const std::string& value,
                const std::string& source = "--set");

/// Named variants (timm style): the configuration as data.
struct Variant {
  std::string name, description;
  ModelOptions options;
};
const std::vector<Variant>& model_variants();
/// Throws ConfigError listing the known names.
ModelOptions variant_options(const std::string& name);

}  // namespace sola
