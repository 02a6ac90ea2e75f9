#include "model/sola_net.h"

#include <map>

#include <torch/nn/functional.h>
#include <torch/torch.h>

#include "core/error.h"

namespace sola {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

torch::Tensor DetectorImpl::normalize_input(const torch::Tensor& image) const {
  TORCH_CHECK(image.dim() == 4 && image.size(1) == 3, "expected an RGB batch [B, 3, H, W], got ", image.sizes());
  if (options_.normalize() == "none") return image;
  auto opts = image.options();
  auto mean = torch::tensor({0.485f, 0.456f, 0.406f}, opts.dtype(torch::kFloat)).view({1, 3, 1, 1}).to(opts);
  auto std = torch::tensor({0.229f, 0.224f, 0.225f}, opts.dtype(torch::kFloat)).view({1, 3, 1, 1}).to(opts);
  return (image - mean) / std;
}

// ---- SOLA -----------------------------------------------------------------------------------

SolaNetImpl::SolaNetImpl(ModelOptions options) : DetectorImpl(std::move(options)) { reset(); }

void SolaNetImpl::reset() {
  const auto& o = options_;
  const int64_t stages = o.num_stages();  // the head reads the last of these stages
  auto trunk_opts = ResNetTrunkOptions().depth(o.backbone()).stages(stages);
  rgb = register_module("rgb", ResNetTrunk(trunk_opts));
  const bool has_noise = o.noise() != "none";
  if (has_noise) {
    asrm = register_module("asrm", Asrm(AsrmOptions().mode(o.noise()).eps(o.asrm_eps())));
    noise = register_module("noise", ResNetTrunk(trunk_opts));
  }
  dcam = register_module("dcam", nn::ModuleList());
  lem = register_module("lem", nn::ModuleList());
  lem_stages.clear();
  for (int64_t s = 1; s <= stages; ++s) {
    const int64_t c = rgb->stage_channels(s);
    dcam->push_back(Dcam(DcamOptions(c)
                             .reduction(o.dcam_reduction())
                             .fusion(o.dcam_fusion())
                             .attention(o.dcam())
                             .has_noise(has_noise)));
    const int64_t side = o.input_size() / (4 << (s - 1));  // stage s has stride 4 * 2^(s-1)
    // Where a patch is one pixel the module is x + lambda * g(x) (softmax over one position).
    if (o.lem() && (side > o.grid() || o.lem_pixel_patches())) {
      lem->push_back(
          Lem(LemOptions(c).grid(o.grid()).key_reduction(o.lem_key_reduction()).pixel_patches(side <= o.grid())));
      lem_stages.push_back(s);
    }
  }
  head = register_module("head", SolaHead(SolaHeadOptions(rgb->stage_channels(stages))
                                              .anomaly_channels(o.anomaly_channels())
                                              .classifier_channels(o.classifier_channels())
                                              .classifier_kernel(o.classifier_kernel())
                                              .classifier_on_logits(o.classifier_input() == "logits")
                                              .classifier_valid_cells(o.classifier_cells() == "valid")));
}

ModelOutput SolaNetImpl::forward(const torch::Tensor& image) {
  auto x = rgb->stem(normalize_input(image));
  torch::Tensor n;
  if (noise) n = noise->stem(asrm(image));
  size_t next_lem = 0;
  for (int64_t s = 1; s <= options_.num_stages(); ++s) {
    auto r = rgb->stage(s, x);
    if (noise) n = noise->stage(s, n);
    x = dcam[s - 1]->as<Dcam>()->forward(r, n);
    if (next_lem < lem_stages.size() && lem_stages[next_lem] == s) x = lem[next_lem++]->as<Lem>()->forward(x);
  }
  const int64_t g = options_.grid();
  auto features = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions({g, g}));
  auto h = head(features);
  ModelOutput out;
  out.logit = h.logit;
  out.features = features;
  out.first_order = h.first_order;
  out.second_order = h.second_order;
  out.first_order_logits = h.first_order_logits;
  out.second_order_logits = h.second_order_logits;
  return out;
}

void SolaNetImpl::after_optimizer_step() {
  if (asrm) asrm->project();
}

// ---- vanilla ResNet -------------------------------------------------------------------------

ResNetClassifierImpl::ResNetClassifierImpl(ModelOptions options) : DetectorImpl(std::move(options)) { reset(); }

void ResNetClassifierImpl::reset() {
  const int64_t stages = options_.num_stages();
  trunk = register_module("trunk", ResNetTrunk(ResNetTrunkOptions().depth(options_.backbone()).stages(stages)));
  fc = register_module("fc", nn::Linear(trunk->stage_channels(stages), 1));
}

ModelOutput ResNetClassifierImpl::forward(const torch::Tensor& image) {
  auto features = trunk(normalize_input(image));
  auto pooled = F::adaptive_avg_pool2d(features, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
  ModelOutput out;
  out.logit = fc(pooled).squeeze(1);
  out.features = features;
  return out;
}

// ---- builder --------------------------------------------------------------------------------

Detector build_model(const ModelOptions& options) {
  options.validate();
  if (options.arch() == "resnet") return std::make_shared<ResNetClassifierImpl>(options);
  return std::make_shared<SolaNetImpl>(options);
}

ParameterCount count_parameters(const nn::Module& model) {
  ParameterCount count;
  std::map<std::string, int64_t> by;
  std::vector<std::string> order;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    const int64_t n = item.value().numel();
    count.total += n;
    if (item.value().requires_grad()) count.trainable += n;
    const std::string component = item.key().substr(0, item.key().find('.'));
    if (!by.count(component)) order.push_back(component);
    by[component] += n;
  }
  for (const auto& c : order) count.by_component.emplace_back(c, by[c]);
  return count;
}

}  // namespace sola
