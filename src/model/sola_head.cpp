#include "model/sola_head.h"

#include <torch/nn/functional.h>
#include <torch/torch.h>

#include "core/compat.h"

namespace sola {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

/// A 1x2 (v*) or 2x1 (h*) convolution whose first tap reads the neighbour at distance d.
nn::Conv2d neighbour_conv(int k, int64_t in, int64_t out) {
  const int64_t d = neighbour_distance(k);
  const bool row = neighbour_is_horizontal_shift(k);
  auto opts = nn::Conv2dOptions(in, out, row ? torch::ExpandingArray<2>({1, 2}) : torch::ExpandingArray<2>({2, 1}))
                  .dilation(row ? torch::ExpandingArray<2>({1, d}) : torch::ExpandingArray<2>({d, 1}));
  return nn::Conv2d(opts);
}

/// Zero-pads by d on the left (v*) or top (h*) and applies the neighbour conv: output (i,j) sees
/// input (i,j-d) and (i,j) (or (i-d,j) and (i,j)), and keeps the input's G x G size.
torch::Tensor apply_neighbour_conv(int k, nn::Conv2d& conv, const torch::Tensor& x) {
  const int64_t d = neighbour_distance(k);
  const bool row = neighbour_is_horizontal_shift(k);
  auto padded = F::pad(x, F::PadFuncOptions(row ? std::vector<int64_t>{d, 0, 0, 0} : std::vector<int64_t>{0, 0, d, 0}));
  return conv(padded);
}

}  // namespace

torch::Tensor valid_mask(int64_t grid, int order) {
  TORCH_CHECK(order == 1 || order == 2, "anomaly map order must be 1 or 2, got ", order);
  auto mask = torch::ones({4, grid, grid});
  for (int k = 0; k < 4; ++k) {
    const int64_t skip = std::min<int64_t>(grid, neighbour_distance(k) * order);
    if (neighbour_is_horizontal_shift(k))
      mask[k].narrow(1, 0, skip).zero_();
    else
      mask[k].narrow(0, 0, skip).zero_();
  }
  return mask;
}

torch::Tensor anomaly_map(const torch::Tensor& second_order) {
  TORCH_CHECK(second_order.dim() == 4 && second_order.size(1) == 4, "anomaly_map: expected [B, 4, G, G], got ",
              second_order.sizes());
  torch::NoGradGuard no_grad;
  auto maps = second_order.detach().to(torch::kFloat);
  auto valid = valid_mask(maps.size(-1), 2).to(maps.device());  // [4, G, G]
  auto count = valid.sum(0);                                     // [G, G]
  auto mean = (maps * valid).sum(1) / count.clamp_min(1);        // [B, G, G]
  auto defined = count > 0;
  if (defined.all().item<bool>()) return mean;
  auto fill = (mean * defined).sum({1, 2}, /*keepdim=*/true) / defined.sum().clamp_min(1);
  return torch::where(defined, mean, fill);
}

torch::Tensor anomaly_peak(const torch::Tensor& second_order) {
  return std::get<0>(anomaly_map(second_order).flatten(1).max(1));
}

SolaHeadImpl::SolaHeadImpl(SolaHeadOptions options) : options_(std::move(options)) { reset(); }

void SolaHeadImpl::reset() {
  for (int k = 0; k < 4; ++k) {
    delta[k] = register_module(std::string("delta_") + kNeighbourNames[k],
                               neighbour_conv(k, options_.in_channels(), options_.anomaly_channels()));
    phi[k] = register_module(std::string("phi_") + kNeighbourNames[k], neighbour_conv(k, options_.anomaly_channels(), 1));
  }
  const int64_t ks = options_.classifier_kernel();
  classifier_conv = register_module(
      "classifier_conv", nn::Conv2d(nn::Conv2dOptions(4, options_.classifier_channels(), ks).padding(ks / 2)));
  fc = register_module("fc", nn::Linear(options_.classifier_channels(), 1));
}

SolaHeadOutput SolaHeadImpl::forward(const torch::Tensor& input) {
  compat::AutocastDisabled no_autocast;
  const auto features = input.to(fc->weight.scalar_type());
  std::vector<torch::Tensor> first_logits, first, second_logits;
  for (int k = 0; k < 4; ++k) {
    auto m_logit = apply_neighbour_conv(k, delta[k], features);  // Eq. 7
    auto m = torch::sigmoid(m_logit);
    second_logits.push_back(apply_neighbour_conv(k, phi[k], m));  // Eq. 8
    first_logits.push_back(m_logit);
    first.push_back(m);
  }
  SolaHeadOutput out;
  out.first_order_logits = torch::stack(first_logits, 1);
  out.first_order = torch::stack(first, 1);
  out.second_order_logits = torch::cat(second_logits, 1);
  out.second_order = torch::sigmoid(out.second_order_logits);
  out.logit = classify(options_.classifier_on_logits() ? out.second_order_logits : out.second_order);
  return out;
}

torch::Tensor SolaHeadImpl::classify(const torch::Tensor& maps) {
  TORCH_CHECK(maps.dim() == 4 && maps.size(1) == 4 && maps.size(2) == maps.size(3),
              "the classifier reads [B, 4, G, G] second-order maps, got ", maps.sizes());
  auto seen = maps;
  if (options_.classifier_valid_cells())
    seen = seen * valid_mask(seen.size(-1), 2).to(seen.device(), seen.scalar_type()).unsqueeze(0);
  auto h = torch::relu(classifier_conv(seen));
  h = F::adaptive_avg_pool2d(h, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
  return fc(h).squeeze(1);
}

}  // namespace sola
