#include "model/fuse.h"

#include <string>

#include <torch/nn/modules/container/sequential.h>
#include <torch/torch.h>

#include "core/compat.h"
#include "core/error.h"
#include "model/resnet.h"

namespace sola {
namespace nn = torch::nn;

// ---- folding --------------------------------------------------------------------------------

std::pair<torch::Tensor, torch::Tensor> fold_batchnorm(const torch::Tensor& weight, const torch::Tensor& bias,
                                                       const nn::BatchNorm2dImpl& bn) {
  if (!bn.options.track_running_stats() || !bn.running_mean.defined() || !bn.running_var.defined())
    throw ConfigError("fold_batchnorm: the batch norm has no running statistics (track_running_stats = false)");
  torch::NoGradGuard no_grad;
  const auto d = torch::TensorOptions().dtype(torch::kDouble).device(weight.device());
  auto var = bn.running_var.to(d);
  auto mean = bn.running_mean.to(d);
  auto gamma = bn.weight.defined() ? bn.weight.to(d) : torch::ones_like(var);
  auto beta = bn.bias.defined() ? bn.bias.to(d) : torch::zeros_like(var);
  auto scale = gamma / torch::sqrt(var + bn.options.eps());
  auto b = bias.defined() ? bias.to(d) : torch::zeros_like(var);
  std::vector<int64_t> shape(weight.dim(), 1);
  shape[0] = -1;
  auto w = (weight.to(d) * scale.view(shape)).to(weight.dtype()).contiguous();
  auto folded_bias = ((b - mean) * scale + beta).to(weight.dtype());
  return {w, folded_bias};
}

namespace {

/// The 1x1 convolution + BN of a torchvision downsample (Sequential(conv, bn)), folded.
FoldedConv fold_downsample(const nn::Sequential& downsample, bool bf16) {
  if (!downsample) return nullptr;
  const auto* conv = downsample->size() == 2 ? downsample->ptr(0)->as<nn::Conv2dImpl>() : nullptr;
  const auto* bn = downsample->size() == 2 ? downsample->ptr(1)->as<nn::BatchNorm2dImpl>() : nullptr;
  if (!conv || !bn) throw Error("prepare_for_inference: a ResNet downsample is not Sequential(Conv2d, BatchNorm2d)");
  return FoldedConv(*conv, *bn, bf16);
}

/// One block of a trunk's layer, folded.
FoldedBlock fold_block(const std::shared_ptr<nn::Module>& block, bool bf16) {
  if (const auto* b = block->as<BasicBlockImpl>())
    return FoldedBlock(std::vector<FoldedConv>{FoldedConv(*b->conv1, *b->bn1, bf16), FoldedConv(*b->conv2, *b->bn2, bf16)},
                       fold_downsample(b->downsample, bf16));
  if (const auto* b = block->as<BottleneckImpl>())
    return FoldedBlock(std::vector<FoldedConv>{FoldedConv(*b->conv1, *b->bn1, bf16), FoldedConv(*b->conv2, *b->bn2, bf16),
                                               FoldedConv(*b->conv3, *b->bn3, bf16)},
                       fold_downsample(b->downsample, bf16));
  throw Error("prepare_for_inference: unexpected module '" + block->name() + "' in a ResNet layer");
}

void fold_trunk(ResNetTrunkImpl& trunk, bool bf16) {
  for (size_t s = 0; s < trunk.layers.size(); ++s) {
    nn::Sequential folded;
    for (size_t i = 0; i < trunk.layers[s]->size(); ++i) {
      const auto block = trunk.layers[s]->ptr(i);
      if (block->as<FoldedBlockImpl>()) return;  // folded before
      folded->push_back(fold_block(block, bf16));
    }
    trunk.layers[s] = trunk.replace_module("layer" + std::to_string(s + 1), folded);
  }
}

}  // namespace

// ---- modules --------------------------------------------------------------------------------

namespace {

/// Whether autocast to bfloat16 is on for the device of `x`.
bool autocast_bf16(const torch::Tensor& x) { return compat::autocast_bf16_enabled(x.device().type()); }

}  // namespace

FoldedConvImpl::FoldedConvImpl(const nn::Conv2dImpl& conv, const nn::BatchNorm2dImpl& bn, bool bf16_copy) {
  const auto& o = conv.options;
  if (!compat::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()))
    throw ConfigError("fold_batchnorm: only zero-padded convolutions are folded");
  auto [w, b] = fold_batchnorm(conv.weight, conv.bias, bn);
  const bool trainable = conv.weight.requires_grad();
  weight = register_parameter("weight", w, trainable);
  bias = register_parameter("bias", b, trainable);
  if (bf16_copy) {
    weight_bf16 = register_buffer("weight_bf16", w.to(torch::kBFloat16));
    bias_bf16 = register_buffer("bias_bf16", b.to(torch::kBFloat16));
  }
  options = nn::functional::Conv2dFuncOptions().stride(o.stride()).padding(o.padding()).dilation(o.dilation()).groups(o.groups());
}

torch::Tensor FoldedConvImpl::forward(const torch::Tensor& x) {
  if (weight_bf16.defined() && autocast_bf16(x))  // autocast casts x; the weights are bf16 already
    return nn::functional::conv2d(x, weight_bf16, nn::functional::Conv2dFuncOptions(options).bias(bias_bf16));
  return nn::functional::conv2d(x, weight, nn::functional::Conv2dFuncOptions(options).bias(bias));
}

FoldedBlockImpl::FoldedBlockImpl(std::vector<FoldedConv> convs_in, FoldedConv downsample_in)
    : convs(std::move(convs_in)) {
  if (convs.empty()) throw Error("FoldedBlock: no convolutions");
  for (size_t i = 0; i < convs.size(); ++i) convs[i] = register_module("conv" + std::to_string(i + 1), convs[i]);
  if (downsample_in) downsample = register_module("downsample", downsample_in);
}

torch::Tensor FoldedBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = x;
  for (size_t i = 0; i < convs.size(); ++i) {
    out = convs[i]->forward(out);
    if (i + 1 < convs.size()) out.relu_();
  }
  out.add_(downsample ? downsample->forward(x) : x);
  return out.relu_();
}

// ---- preparation ----------------------------------------------------------------------------

bool is_folded(const DetectorImpl& model) {
  for (const auto& m : model.modules(/*include_self=*/false))
    if (m->as<FoldedBlockImpl>()) return true;
  return false;
}

void prepare_for_inference(DetectorImpl& model, const InferenceOptions& options) {
  model.eval();
  torch::NoGradGuard no_grad;
  if (options.fold_batchnorm) {
    for (const auto& m : model.modules(/*include_self=*/false))
      if (auto* trunk = m->as<ResNetTrunkImpl>()) fold_trunk(*trunk, options.bf16_weights);
  }
  if (options.channels_last) {
    auto to_nhwc = [](torch::Tensor t) {
      if (t.defined() && t.dim() == 4 && !t.is_contiguous(c10::MemoryFormat::ChannelsLast))
        t.set_data(t.contiguous(c10::MemoryFormat::ChannelsLast));
    };
    for (auto& p : model.parameters()) to_nhwc(p);
    for (auto& b : model.buffers()) to_nhwc(b);
  }
}

}  // namespace sola
