#include "model/dcam.h"

#include <torch/nn/functional.h>
#include <torch/torch.h>

#include "core/error.h"

namespace sola {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

ChannelAttentionImpl::ChannelAttentionImpl(int64_t channels, int64_t reduction) {
  const int64_t hidden = std::max<int64_t>(1, channels / reduction);
  mlp = register_module("mlp", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(channels, hidden, 1).bias(false)),
                                              nn::ReLU(),
                                              nn::Conv2d(nn::Conv2dOptions(hidden, channels, 1).bias(false))));
}

torch::Tensor ChannelAttentionImpl::forward(const torch::Tensor& x) {
  auto avg = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(1));
  auto max = F::adaptive_max_pool2d(x, F::AdaptiveMaxPool2dFuncOptions(1));
  return x * torch::sigmoid(mlp->forward(avg) + mlp->forward(max));
}

DcamImpl::DcamImpl(DcamOptions options) : options_(std::move(options)) { reset(); }

void DcamImpl::reset() {
  if (!options_.attention()) return;
  const int64_t c = options_.channels();
  ca_rgb = register_module("ca_rgb", ChannelAttention(c, options_.reduction()));
  if (options_.has_noise()) {
    ca_noise = register_module("ca_noise", ChannelAttention(c, options_.reduction()));
    if (options_.fusion() == "concat") {
      fuse = register_module("fuse", nn::Conv2d(nn::Conv2dOptions(2 * c, c, 1).bias(false)));
      fuse_bn = register_module("fuse_bn", nn::BatchNorm2d(c));
    } else if (options_.fusion() != "sum") {
      throw ConfigError("dcam_fusion must be 'sum' or 'concat', got '" + options_.fusion() + "'");
    }
  }
  ca_fused = register_module("ca_fused", ChannelAttention(c, options_.reduction()));
}

torch::Tensor DcamImpl::forward(const torch::Tensor& rgb, const torch::Tensor& noise) {
  if (!options_.attention()) return noise.defined() ? rgb + noise : rgb;
  auto r = ca_rgb(rgb);
  torch::Tensor fused = r;
  if (noise.defined()) {
    TORCH_CHECK(ca_noise, "DCAM was built without a noise branch but got noise features");
    auto n = ca_noise(noise);
    fused = fuse ? fuse_bn(fuse(torch::cat({r, n}, 1))) : r + n;
  }
  return ca_fused(fused);
}

}  // namespace sola
