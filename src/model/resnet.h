#pragma once
// ResNet trunks (torchvision layout and parameter names, so torchvision weights map 1:1) and the
// vanilla ResNet classifier used as the paper's baseline.
//
// Reads top to bottom: helpers, blocks, trunk, classifier.
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace sola {

// ---- blocks ---------------------------------------------------------------------------------

/// Two 3x3 convolutions (ResNet18/34).
struct BasicBlockImpl : torch::nn::Module {
  static constexpr int64_t expansion = 1;
  BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

/// 1x1 - 3x3 - 1x1 bottleneck (ResNet50/101), stride on the 3x3 as in torchvision v1.5.
struct BottleneckImpl : torch::nn::Module {
  static constexpr int64_t expansion = 4;
  BottleneckImpl(int64_t in_planes, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

// ---- trunk ----------------------------------------------------------------------------------

struct ResNetTrunkOptions {
  TORCH_ARG(std::string, depth) = "resnet18";  ///< resnet18, resnet50 or resnet101
  TORCH_ARG(int64_t, stages) = 4;              ///< how many of layer1..layer4 to build
  TORCH_ARG(int64_t, in_channels) = 3;
};

/// conv1/bn1/relu/maxpool then layer1..layerN. Module names match torchvision's resnet.py.
class ResNetTrunkImpl : public torch::nn::Module {
 public:
  explicit ResNetTrunkImpl(ResNetTrunkOptions options);
  void reset();

  /// conv1 - bn1 - relu - maxpool (stride 4).
  torch::Tensor stem(const torch::Tensor& x);
  /// layer`index` (1-based).
  torch::Tensor stage(int64_t index, const torch::Tensor& x);
  /// stem then every stage.
  torch::Tensor forward(const torch::Tensor& x);

  /// Output channels of layer`index` (64/128/256/512 times the block expansion).
  int64_t stage_channels(int64_t index) const;
  const ResNetTrunkOptions& options() const { return options_; }

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<torch::nn::Sequential> layers;

 private:
  ResNetTrunkOptions options_;
};
TORCH_MODULE(ResNetTrunk);

/// Kaiming-normal convolutions (fan_out, relu), unit BN, as torchvision initialises ResNets.
void init_resnet_weights(torch::nn::Module& module);

}  // namespace sola
