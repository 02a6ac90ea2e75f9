#pragma once
// Adaptive Spatial Rich Model (Sec. 3.1): the noise branch's first layer.
//
// Three SRM high-pass kernels (5x5; quantised by 2, 4 and 12 so the centre is -1 and the other
// 24 entries sum to 1), each repeated over the 3 input channels: weight [3 out, 3 in, 5, 5], one
// 5x5 "kernel" per (out, in) pair. Modes (Table 6):
//   asrm  learnable; after every optimizer step `project()` resets each kernel's centre to -1 and
//         rescales the other entries to sum 1 (Eq. 4). If their sum is below `eps` times their
//         L1 norm in magnitude (the division would blow the taps up by more than 1/eps), the
//         kernel falls back to its initial SRM kernel instead.
//   lsrm  learnable from the SRM initialisation, no constraint.
//   srm   fixed SRM filters (a buffer, not a parameter).
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace sola {

struct AsrmOptions {
  TORCH_ARG(std::string, mode) = "asrm";
  TORCH_ARG(double, eps) = 1e-2;
};

class AsrmImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kSize = 5;
  explicit AsrmImpl(AsrmOptions options = {});
  void reset();
  torch::Tensor forward(const torch::Tensor& x);
  /// Eq. 4 projection (only in mode asrm; a no-op otherwise).
  void project();
  /// The 3 quantised SRM kernels, [3, 5, 5].
  static torch::Tensor srm_kernels();

  const AsrmOptions& options() const { return options_; }
  torch::Tensor weight;  ///< [3, 3, 5, 5]

 private:
  AsrmOptions options_;
  torch::Tensor initial_;  ///< buffer: the SRM weight, the projection's fallback
};
TORCH_MODULE(Asrm);

}  // namespace sola
