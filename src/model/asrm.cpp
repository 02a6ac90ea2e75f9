#include "model/asrm.h"

#include <torch/nn/functional.h>
#include <torch/torch.h>

#include "core/compat.h"
#include "core/error.h"

namespace sola {

torch::Tensor AsrmImpl::srm_kernels() {
  // Fridrich & Kodovsky's SRM residuals as chosen by Zhou et al. (RGB-N), quantised so that the
  // centre is -1: 1st-order "KB" (/4), "KV" 5x5 (/12) and the 2nd-order horizontal one (/2).
  const float kb[25] = {0, 0, 0, 0, 0,  0, -1, 2, -1, 0,  0, 2, -4, 2, 0,  0, -1, 2, -1, 0,  0, 0, 0, 0, 0};
  const float kv[25] = {-1, 2,  -2, 2,  -1, 2,  -6, 8,  -6, 2,  -2, 8, -12,
                        8,  -2, 2,  -6, 8,  -6, 2,  -1, 2,  -2, 2,  -1};
  const float h2[25] = {0, 0, 0, 0, 0,  0, 0, 0, 0, 0,  0, 1, -2, 1, 0,  0, 0, 0, 0, 0,  0, 0, 0, 0, 0};
  auto k = torch::empty({3, kSize, kSize});
  k[0] = torch::from_blob(const_cast<float*>(kb), {kSize, kSize}).clone() / 4.0;
  k[1] = torch::from_blob(const_cast<float*>(kv), {kSize, kSize}).clone() / 12.0;
  k[2] = torch::from_blob(const_cast<float*>(h2), {kSize, kSize}).clone() / 2.0;
  return k;
}

AsrmImpl::AsrmImpl(AsrmOptions options) : options_(std::move(options)) { reset(); }

void AsrmImpl::reset() {
  const auto& mode = options_.mode();
  if (mode != "asrm" && mode != "lsrm" && mode != "srm")
    throw ConfigError("ASRM mode must be asrm, lsrm or srm, got '" + mode + "'");
  // weight[o][i] = kernel o for every input channel i.
  auto w = srm_kernels().unsqueeze(1).repeat({1, 3, 1, 1}).contiguous();
  initial_ = register_buffer("initial", w.clone());
  if (mode == "srm")
    weight = register_buffer("weight", w);
  else
    weight = register_parameter("weight", w);
}

torch::Tensor AsrmImpl::forward(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  // The residuals are differences of a few 1/255 steps: in bf16 (8 significant bits) the input
  // itself would be rounded by about that much, so this layer always runs in its weights' dtype.
  compat::AutocastDisabled no_autocast;
  return F::conv2d(x.to(weight.scalar_type()), weight, F::Conv2dFuncOptions().padding(kSize / 2));
}

void AsrmImpl::project() {
  if (options_.mode() != "asrm") return;
  torch::NoGradGuard no_grad;
  const int64_t centre = (kSize * kSize) / 2;
  auto w = weight.detach().reshape({-1, kSize * kSize});
  auto fallback = initial_.to(w.dtype()).reshape({-1, kSize * kSize});
  auto not_centre = torch::ones({kSize * kSize}, w.options());
  not_centre[centre] = 0;
  auto rest = w * not_centre;
  auto sum = rest.sum(1, /*keepdim=*/true);
  // Relative guard: dividing by the sum multiplies the taps' L1 norm by |rest|_1 / |sum|, which
  // must stay below 1 / eps (the SRM kernels sit at 1/3, 1/7 and 1 of their L1 norm).
  auto scale = rest.abs().sum(1, /*keepdim=*/true);
  auto ok = sum.abs() > options_.eps() * scale;
  auto safe_sum = torch::where(ok, sum, torch::ones_like(sum));
  auto projected = torch::where(ok, rest / safe_sum, fallback * not_centre);
  projected.select(1, centre).fill_(-1.0);
  weight.detach().copy_(projected.view_as(weight));
}

}  // namespace sola
