#include "model/resnet.h"

#include <torch/nn/functional.h>
#include <torch/nn/init.h>

#include "core/error.h"

namespace sola {
namespace F = torch::nn::functional;
namespace nn = torch::nn;

namespace {

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}

nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride) {
  if (stride == 1 && in == out) return nullptr;
  return nn::Sequential(conv(in, out, 1, stride, 0), nn::BatchNorm2d(out));
}

struct DepthSpec {
  bool bottleneck;
  std::array<int64_t, 4> blocks;
};

DepthSpec depth_spec(const std::string& depth) {
  if (depth == "resnet18") return {false, {2, 2, 2, 2}};
  if (depth == "resnet50") return {true, {3, 4, 6, 3}};
  if (depth == "resnet101") return {true, {3, 4, 23, 3}};
  throw ConfigError("unknown ResNet depth '" + depth + "' (expected resnet18, resnet50, resnet101)");
}

}  // namespace

// ---- blocks ---------------------------------------------------------------------------------

BasicBlockImpl::BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", conv(in_planes, planes, 3, stride, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  if (auto ds = make_downsample(in_planes, planes * expansion, stride)) downsample = register_module("downsample", ds);
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  out += downsample ? downsample->forward(x) : x;
  return torch::relu(out);
}

BottleneckImpl::BottleneckImpl(int64_t in_planes, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", conv(in_planes, planes, 1, 1, 0));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, planes * expansion, 1, 1, 0));
  bn3 = register_module("bn3", nn::BatchNorm2d(planes * expansion));
  if (auto ds = make_downsample(in_planes, planes * expansion, stride)) downsample = register_module("downsample", ds);
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = torch::relu(bn2(conv2(out)));
  out = bn3(conv3(out));
  out += downsample ? downsample->forward(x) : x;
  return torch::relu(out);
}

// ---- trunk ----------------------------------------------------------------------------------

ResNetTrunkImpl::ResNetTrunkImpl(ResNetTrunkOptions options) : options_(std::move(options)) { reset(); }

void ResNetTrunkImpl::reset() {
  TORCH_CHECK(options_.stages() >= 1 && options_.stages() <= 4, "ResNet trunk stages must be 1..4, got ",
              options_.stages());
  const DepthSpec spec = depth_spec(options_.depth());
  conv1 = register_module("conv1", conv(options_.in_channels(), 64, 7, 2, 3));
  bn1 = register_module("bn1", nn::BatchNorm2d(64));
  layers.clear();
  int64_t in_planes = 64;
  for (int64_t s = 0; s < options_.stages(); ++s) {
    const int64_t planes = 64 << s;
    const int64_t stride = s == 0 ? 1 : 2;
    nn::Sequential layer;
    for (int64_t b = 0; b < spec.blocks[s]; ++b) {
      const int64_t block_stride = b == 0 ? stride : 1;
      if (spec.bottleneck) {
        layer->push_back(Bottleneck(in_planes, planes, block_stride));
        in_planes = planes * BottleneckImpl::expansion;
      } else {
        layer->push_back(BasicBlock(in_planes, planes, block_stride));
        in_planes = planes * BasicBlockImpl::expansion;
      }
    }
    layers.push_back(register_module("layer" + std::to_string(s + 1), layer));
  }
  init_resnet_weights(*this);
}

int64_t ResNetTrunkImpl::stage_channels(int64_t index) const {
  return (64 << (index - 1)) * (depth_spec(options_.depth()).bottleneck ? 4 : 1);
}

torch::Tensor ResNetTrunkImpl::stem(const torch::Tensor& x) {
  auto y = torch::relu(bn1(conv1(x)));
  return F::max_pool2d(y, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
}

torch::Tensor ResNetTrunkImpl::stage(int64_t index, const torch::Tensor& x) {
  TORCH_CHECK(index >= 1 && index <= static_cast<int64_t>(layers.size()), "ResNet trunk has no layer", index);
  return layers[index - 1]->forward(x);
}

torch::Tensor ResNetTrunkImpl::forward(const torch::Tensor& x) {
  auto y = stem(x);
  for (auto& layer : layers) y = layer->forward(y);
  return y;
}

void init_resnet_weights(nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (c->bias.defined()) nn::init::zeros_(c->bias);
    } else if (auto* b = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(b->weight);
      nn::init::zeros_(b->bias);
    }
  }
}

}  // namespace sola
