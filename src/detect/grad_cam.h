#pragma once
// Grad-CAM of the forgery logit: where the model looks (the third tile of a heat map).
#include <torch/torch.h>

namespace sola::detect {

/// Grad-CAM (Selvaraju et al.) of `logit` [B] with respect to `features` [B,C,H,W] from the same
/// forward pass (grad enabled): per sample, ReLU(sum_c mean_hw(d logit / d A_c) * A_c) divided by its
/// maximum (an all-zero map stays zero). Returns [B,H,W] float in [0, 1], detached.
torch::Tensor grad_cam(const torch::Tensor& logit, const torch::Tensor& features);

}  // namespace sola::detect
