#include "model/lem.h"

#include <torch/torch.h>

namespace sola {
namespace nn = torch::nn;

LemImpl::LemImpl(LemOptions options) : options_(std::move(options)) { reset(); }

void LemImpl::reset() {
  const int64_t c = options_.channels();
  const int64_t ck = std::max<int64_t>(1, c / options_.key_reduction());
  if (!options_.pixel_patches()) {
    theta = register_module("theta", nn::Conv2d(nn::Conv2dOptions(c, ck, 1)));
    f = register_module("f", nn::Conv2d(nn::Conv2dOptions(c, ck, 1)));
  }
  g = register_module("g", nn::Conv2d(nn::Conv2dOptions(c, c, 1)));
  lambda = register_parameter("lambda", torch::zeros({1}));
}

torch::Tensor LemImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "LEM expects [B, C, H, W], got ", x.sizes());
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  const int64_t cells_h = std::min(options_.grid(), h), cells_w = std::min(options_.grid(), w);
  TORCH_CHECK(h % cells_h == 0 && w % cells_w == 0, "LEM: feature map ", h, "x", w, " does not split into a ",
              cells_h, "x", cells_w, " grid of equal patches");
  const int64_t ph = h / cells_h, pw = w / cells_w, len = ph * pw;
  TORCH_CHECK(!options_.pixel_patches() || len == 1, "LEM built for one-pixel patches got a ", h, "x", w,
              " feature map on a ", cells_h, "x", cells_w, " grid (", ph, "x", pw, " patches)");

  auto v = g(x);
  torch::Tensor enhanced;
  if (len == 1) {
    enhanced = v;  // softmax over a single position is 1
  } else {
    // [B, c, H, W] -> [B * cells, c, L]: one row of the batch per patch.
    auto to_patches = [&](const torch::Tensor& t) {
      return t.reshape({b, t.size(1), cells_h, ph, cells_w, pw})
          .permute({0, 2, 4, 1, 3, 5})
          .reshape({b * cells_h * cells_w, t.size(1), len});
    };
    auto q = to_patches(theta(x));                                    // [N, ck, L]
    auto k = to_patches(f(x));                                        // [N, ck, L]
    auto attn = torch::softmax(torch::bmm(q.transpose(1, 2), k), -1);  // [N, L, L], rows sum to 1
    auto out = torch::bmm(to_patches(v), attn.transpose(1, 2));       // [N, C, L]
    enhanced = out.reshape({b, cells_h, cells_w, v.size(1), ph, pw})
                   .permute({0, 3, 1, 4, 2, 5})
                   .reshape({b, v.size(1), h, w});
  }
  return x + lambda * enhanced;
}

}  // namespace sola
