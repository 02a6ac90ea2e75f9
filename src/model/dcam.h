#pragma once
// Dual Channel Attention Module (Sec. 3.1): channel attention on each branch before fusion and on
// the fused features after it. Channel attention is CBAM's: a shared two-layer 1x1-conv MLP on the
// average- and max-pooled descriptors, summed, sigmoid, channel-wise scale.
//
// Fusion (the paper leaves it open; config `dcam_fusion`):
//   sum     fused = CA_rgb(rgb) + CA_noise(noise)             (default; no extra parameters)
//   concat  fused = BN(Conv1x1([CA_rgb(rgb), CA_noise(noise)])) (2C -> C)
// then out = CA_fused(fused). Without a noise branch the rgb path alone goes through CA_rgb and
// CA_fused. With `dcam = false` the module is a plain sum (rgb + noise) with no attention.
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

namespace sola {

struct ChannelAttentionImpl : torch::nn::Module {
  ChannelAttentionImpl(int64_t channels, int64_t reduction);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Sequential mlp{nullptr};
};
TORCH_MODULE(ChannelAttention);

struct DcamOptions {
  DcamOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, reduction) = 16;
  TORCH_ARG(std::string, fusion) = "sum";
  TORCH_ARG(bool, attention) = true;
  TORCH_ARG(bool, has_noise) = true;
};

class DcamImpl : public torch::nn::Module {
 public:
  explicit DcamImpl(DcamOptions options);
  void reset();
  /// `noise` may be undefined when there is no noise branch.
  torch::Tensor forward(const torch::Tensor& rgb, const torch::Tensor& noise);

  ChannelAttention ca_rgb{nullptr}, ca_noise{nullptr}, ca_fused{nullptr};
  torch::nn::Conv2d fuse{nullptr};
  torch::nn::BatchNorm2d fuse_bn{nullptr};

 private:
  DcamOptions options_;
};
TORCH_MODULE(Dcam);

}  // namespace sola
