#include "model/options.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sola {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& key, const std::string& value, const std::string& allowed) {
  throw ConfigError("config key '" + key + "' = " + value + " is invalid: " + allowed);
}

void check_choice(const std::string& key, const std::string& v, std::initializer_list<const char*> choices) {
  for (const char* c : choices)
    if (v == c) return;
  std::string list;
  for (const char* c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
  bad(key, "'" + v + "'", "expected one of " + list);
}

}  // namespace

void ModelOptions::validate() const {
  check_choice("arch", arch_, {"sola", "resnet"});
  check_choice("backbone", backbone_, {"resnet18", "resnet50", "resnet101"});
  check_choice("normalize", normalize_, {"imagenet", "none"});
  check_choice("noise", noise_, {"asrm", "lsrm", "srm", "none"});
  check_choice("dcam_fusion", dcam_fusion_, {"sum", "concat"});
  check_choice("classifier_input", classifier_input_, {"maps", "logits"});
  check_choice("classifier_cells", classifier_cells_, {"valid", "all"});
  if (input_size_ < 32 || input_size_ > 2048 || input_size_ % 16 != 0)
    bad("input_size", std::to_string(input_size_), "expected a multiple of 16 in [32, 2048]");
  if (!(asrm_eps_ > 0.0 && asrm_eps_ < 1.0)) bad("asrm_eps", std::to_string(asrm_eps_), "expected 0 < eps < 1");
  if (dcam_reduction_ < 1 || dcam_reduction_ > 256)
    bad("dcam_reduction", std::to_string(dcam_reduction_), "expected 1..256");
  if (lem_key_reduction_ < 1 || lem_key_reduction_ > 256)
    bad("lem_key_reduction", std::to_string(lem_key_reduction_), "expected 1..256");
  if (grid_ != 4 && grid_ != 8 && grid_ != 16 && grid_ != 32 && grid_ != 64)
    bad("grid", std::to_string(grid_), "expected 4, 8, 16, 32 or 64 (the paper uses 8, 16, 32)");
  if (anomaly_channels_ < 1 || anomaly_channels_ > 1024)
    bad("anomaly_channels", std::to_string(anomaly_channels_), "expected 1..1024");
  if (classifier_channels_ < 1 || classifier_channels_ > 4096)
    bad("classifier_channels", std::to_string(classifier_channels_), "expected 1..4096");
  if (classifier_kernel_ < 1 || classifier_kernel_ > 7 || classifier_kernel_ % 2 == 0)
    bad("classifier_kernel", std::to_string(classifier_kernel_), "expected an odd number 1..7");
  if (arch_ == "sola") {
    // Every stage whose LEM cells are larger than one pixel must divide evenly into the grid.
    for (int64_t stride : {4, 8, 16}) {
      int64_t side = input_size_ / stride;
      int64_t cells = std::min(grid_, side);
      if (lem_ && side % cells != 0)
        bad("input_size", std::to_string(input_size_),
            "its stride-" + std::to_string(stride) + " feature map (" + std::to_string(side) +
                " px) does not split into a " + std::to_string(cells) + "x" + std::to_string(cells) +
                " LEM grid; use a multiple of " + std::to_string(stride * grid_) + " or change grid");
    }
  }
}

std::vector<OptionDoc> model_option_docs() { return options_docs<ModelOptions>(); }

json to_json(const ModelOptions& opts) { return options_to_json(opts); }

ModelOptions options_from_json(const json& j, const ModelOptions& base, const std::string& source) {
  ModelOptions opts = base;
  options_update(opts, j, source, "model");
  try {
    opts.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(source + ": " + e.what());
  }
  return opts;
}

ModelOptions stored_model_base() {
  // Keys added in version 0.2: before them the classifier read every cell and LEM was built only
  // where patches hold more than one pixel.
  return ModelOptions{}.classifier_cells("all").lem_pixel_patches(false);
}

void set_option(ModelOptions& opts, const std::string& key, const std::string& value, const std::string& source) {
  ModelOptions updated = opts;
  if (!options_set_text(updated, key, value, source))
    options_update(updated, json{{key, value}}, source, "model");  // reports the unknown key
  try {
    updated.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(source + ": " + e.what());
  }
  opts = updated;
}

const std::vector<Variant>& model_variants() {
  static const std::vector<Variant> variants = [] {
    std::vector<Variant> v;
    v.push_back({"sola-r18", "SOLA, ResNet18 branches, G=16 (the paper's default)", ModelOptions{}});
    v.push_back({"sola-r50", "SOLA, ResNet50 branches (Table 8)", ModelOptions{}.backbone("resnet50")});
    v.push_back({"sola-r101", "SOLA, ResNet101 branches (Table 8)", ModelOptions{}.backbone("resnet101")});
    v.push_back({"sola-r18-g8", "SOLA, 8x8 patch grid (Table 7)", ModelOptions{}.grid(8)});
    v.push_back({"sola-r18-g32", "SOLA, 32x32 patch grid (Table 7)", ModelOptions{}.grid(32)});
    v.push_back({"sola-r18-nolem", "SOLA without LEM (Table 7)", ModelOptions{}.lem(false)});
    v.push_back({"sola-r18-srm", "SOLA with fixed SRM (Table 6)", ModelOptions{}.noise("srm")});
    v.push_back({"sola-r18-lsrm", "SOLA with unconstrained learnable SRM (Table 6)", ModelOptions{}.noise("lsrm")});
    v.push_back({"sola-r18-nonoise", "SOLA without the noise branch (Table 6)", ModelOptions{}.noise("none")});
    v.push_back({"resnet18", "vanilla ResNet18 classifier (the paper's baseline)", ModelOptions{}.arch("resnet")});
    v.push_back({"resnet50", "vanilla ResNet50 classifier", ModelOptions{}.arch("resnet").backbone("resnet50")});
    return v;
  }();
  return variants;
}

ModelOptions variant_options(const std::string& name) {
  std::string names;
  for (const auto& v : model_variants()) {
    if (v.name == name) return v.options;
    names += (names.empty() ? "" : ", ") + v.name;
  }
  throw ConfigError("unknown model variant '" + name + "' (known: " + names + ")");
}

}  // namespace sola
