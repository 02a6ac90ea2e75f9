#pragma once
// Local Enhancement Module (Sec. 3.2, Eq. 5-6): non-local attention restricted to each cell of a
// G x G grid of non-overlapping patches.
//
//   W_k = softmax(theta(p_k)^T f(p_k))   (L x L, L = pixels per patch)
//   p^_k = W_k g(p_k)                      out = x + lambda * concat_k(p^_k)
//
// theta, f: 1x1 convs C -> C/key_reduction; g: 1x1 conv C -> C (SAGAN style, no output conv);
// lambda: learnable scalar initialised to 0, so the module starts as the identity.
// A feature map smaller than the grid uses one cell per pixel. Where a patch is one pixel the
// attention is over one position (weight 1) and the module is x + lambda * g(x): built with
// `pixel_patches`, it has no theta and f (they would receive no gradient) and checks that size.
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

namespace sola {

struct LemOptions {
  LemOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, grid) = 16;
  TORCH_ARG(int64_t, key_reduction) = 8;
  /// The stage's patches are single pixels: no theta / f; forward checks that it is so.
  TORCH_ARG(bool, pixel_patches) = false;
};

class LemImpl : public torch::nn::Module {
 public:
  explicit LemImpl(LemOptions options);
  void reset();
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d theta{nullptr}, f{nullptr}, g{nullptr};
  torch::Tensor lambda;
  const LemOptions& options() const { return options_; }

 private:
  LemOptions options_;
};
TORCH_MODULE(Lem);

}  // namespace sola
