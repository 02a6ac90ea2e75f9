#pragma once
// Inference preparation of a detector: the same outputs, computed faster (see docs/PERFORMANCE.md).
//
//   auto model = sola::load_model(path).model;
//   sola::prepare_for_inference(*model);        // once, before any thread runs the model
//   torch::InferenceMode guard;                 // or NoGradGuard (Grad-CAM needs grad mode)
//   auto out = model->forward(images);          // images may be NCHW or channels-last
//
// What it does (each lever measured by build/sola_bench_forward --levers):
//  - eval mode;
//  - conv-BN folding: every ResNet block (layer1..layerN of both trunks) is replaced by a
//    FoldedBlock whose convolutions carry the batch norm that followed them, y = W'x + b' with
//    W' = W * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps). The block computes
//    relu(conv1) -> ... -> conv_last, + shortcut (the folded 1x1 downsample or the input), relu,
//    exactly what BasicBlock and Bottleneck compute in eval mode, without the BN passes. The stem's
//    bn1 and the concat-fusion BN of DCAM stay: their modules call them unconditionally, so
//    folding them would not remove the pass;
//  - channels-last weights: every 4-D parameter and buffer is stored NHWC, so oneDNN runs every
//    convolution on NHWC activations without reordering them (or the weights) per call; the
//    activations become channels-last from the first convolution on, whatever the input's format;
//  - bf16 weight copies of the folded convolutions, so that bf16 autocast does not cast them per pass.
//
// The model is changed in place and keeps its options(), but is for inference only afterwards:
// its parameter names changed (no BN parameters in the blocks, convolution biases instead), so it
// is neither trainable as before nor savable as a sola model file. Preparing a prepared model
// does nothing more, so several users of one shared model may each call it (not concurrently, and
// not while another thread runs the model). Autograd still works (Grad-CAM) and so does autocast.
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/options/conv.h>
#include <torch/nn/pimpl.h>

#include "model/sola_net.h"

namespace sola {

struct InferenceOptions {
  bool fold_batchnorm = true;  ///< fold the batch norms of the ResNet blocks into their convolutions
  bool channels_last = true;   ///< store 4-D weights channels-last (NHWC)
  /// With fold_batchnorm: keep a bfloat16 copy of each folded convolution's weight and bias, used
  /// under bf16 autocast instead of casting the fp32 weights on every forward pass (the same values:
  /// autocast rounds them the same way). Costs half the folded weights' memory again.
  bool bf16_weights = true;
};

/// Prepares `model` for inference in place (see the file comment). Idempotent.
void prepare_for_inference(DetectorImpl& model, const InferenceOptions& options = {});

/// Whether the ResNet blocks of `model` are folded (prepare_for_inference with fold_batchnorm).
bool is_folded(const DetectorImpl& model);

/// The weight and bias of `conv` (bias may be undefined: zero) followed by `bn` in eval mode, as one
/// convolution: W * s and (b - mean) * s + beta with s = gamma / sqrt(var + eps), computed in double.
/// `bn` must track running statistics (ConfigError otherwise).
std::pair<torch::Tensor, torch::Tensor> fold_batchnorm(const torch::Tensor& weight, const torch::Tensor& bias,
                                                       const torch::nn::BatchNorm2dImpl& bn);

/// A convolution followed by a batch norm (eval mode), as one convolution with a bias.
/// Registers `weight` and `bias` (requires_grad as the convolution's weight) and, with `bf16_copy`,
/// the buffers `weight_bf16` and `bias_bf16`, which forward() uses while bf16 autocast is on.
class FoldedConvImpl : public torch::nn::Module {
 public:
  FoldedConvImpl(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn, bool bf16_copy = false);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;
  torch::Tensor weight_bf16, bias_bf16;  ///< undefined without bf16_copy
  torch::nn::functional::Conv2dFuncOptions options;  ///< stride, padding, dilation, groups of the conv
};
TORCH_MODULE(FoldedConv);

/// A ResNet block with its batch norms folded: relu after every convolution but the last, then
/// the shortcut (`downsample`, or the input when it is empty) is added and relu applied.
/// Registered as conv1..convN and downsample.
class FoldedBlockImpl : public torch::nn::Module {
 public:
  FoldedBlockImpl(std::vector<FoldedConv> convs, FoldedConv downsample);
  torch::Tensor forward(const torch::Tensor& x);

  std::vector<FoldedConv> convs;
  FoldedConv downsample{nullptr};
};
TORCH_MODULE(FoldedBlock);

}  // namespace sola
