#include "detect/grad_cam.h"

#include "core/error.h"

namespace sola::detect {

torch::Tensor grad_cam(const torch::Tensor& logit, const torch::Tensor& features) {
  if (!features.requires_grad())
    throw Error("grad_cam: the features are not part of an autograd graph (run the forward pass with grad enabled)");
  auto grads = torch::autograd::grad({logit.sum()}, {features}, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                     /*create_graph=*/false, /*allow_unused=*/true)[0];
  torch::NoGradGuard no_grad;
  auto a = features.detach().to(torch::kFloat);
  if (!grads.defined()) return torch::zeros({a.size(0), a.size(2), a.size(3)}, a.options());
  auto weights = grads.to(torch::kFloat).mean({2, 3}, /*keepdim=*/true);  // [B, C, 1, 1]
  auto cam = torch::relu((weights * a).sum(1));                           // [B, H, W]
  auto peak = std::get<0>(cam.flatten(1).max(1)).view({-1, 1, 1});
  return torch::where(peak > 0, cam / peak.clamp_min(1e-30), torch::zeros_like(cam));
}

}  // namespace sola::detect
