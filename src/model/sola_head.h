#pragma once
// The SOLA learning module (Sec. 3.3, Eq. 7-8) and its classifier.
//
// Input: features F [B, C, G, G]. Four neighbour types, always with the neighbour on the left or
// upper side so every map stays G x G (Eq. 7):
//   v1: F(i,j) vs F(i,j-1)   1x2 conv, dilation 1     h1: F(i,j) vs F(i-1,j)   2x1 conv, dilation 1
//   v2: F(i,j) vs F(i,j-2)   1x2 conv, dilation 2     h2: F(i,j) vs F(i-2,j)   2x1 conv, dilation 2
// delta_*: C -> anomaly_channels kernels, sigmoid  => first-order maps M_*   [B, K, G, G]
// phi_*:   K -> 1 kernel, same geometry, sigmoid    => second-order maps M'_* [B, 1, G, G] (Eq. 8)
// Classifier on the stacked 4-channel M': conv(k x k) -> ReLU -> global average pool -> FC -> logit.
// (With classifier_on_logits it reads M' before its sigmoid, where a saturated map still passes gradient.)
// With classifier_valid_cells (the default) the classifier's input is zero outside valid_mask(G, 2).
// The head always computes in its weights' precision (autocast off): its maps are G x G, cheap in
// fp32, and the losses read them.
//
// Borders: the features (and first-order maps) are zero-padded on the left/top, so cells without
// the neighbour still get a value (the comparison is against zeros). Those cells carry no meaning:
// `valid_mask` marks them and the losses ignore them. A first-order cell is valid when j >= d
// (v) or i >= d (h); a second-order cell when j >= 2d or i >= 2d, since M'(i,j) reads M(i,j-d),
// which in turn reads F(i,j-2d).
#include <array>
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace sola {

/// Neighbour types in output order.
enum class Neighbour { v1 = 0, v2 = 1, h1 = 2, h2 = 3 };
constexpr std::array<const char*, 4> kNeighbourNames{"v1", "v2", "h1", "h2"};
/// Dilation (distance to the neighbour) and direction of each neighbour type.
inline int64_t neighbour_distance(int k) { return (k % 2 == 0) ? 1 : 2; }
inline bool neighbour_is_horizontal_shift(int k) { return k < 2; }  ///< v*: neighbour in the same row

/// [4, G, G] float mask: 1 where the map of that neighbour type is defined (order 1 or 2).
torch::Tensor valid_mask(int64_t grid, int order);

/// The per-image anomaly map from second-order maps [B, 4, G, G]: [B, G, G] float in [0, 1], per cell
/// the mean of the maps defined there (valid_mask(G, 2)); cells where none is defined (the top-left
/// corner) get the image's mean over the defined cells, a neutral value. Detached, no autograd.
torch::Tensor anomaly_map(const torch::Tensor& second_order);

/// The local-anomaly score of each image: the largest cell of its anomaly_map, [B] float in [0, 1].
/// The cue the second-order maps carry by themselves, without the classifier.
torch::Tensor anomaly_peak(const torch::Tensor& second_order);

struct SolaHeadOptions {
  SolaHeadOptions(int64_t in_channels) : in_channels_(in_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, anomaly_channels) = 64;
  TORCH_ARG(int64_t, classifier_channels) = 64;
  TORCH_ARG(int64_t, classifier_kernel) = 3;
  /// The classifier reads the second-order maps after the sigmoid (false) or before it (true).
  TORCH_ARG(bool, classifier_on_logits) = false;
  /// The classifier sees only the cells the losses constrain (`valid_mask(G, 2)`; the others are
  /// zeroed) instead of the whole map, whose unconstrained border cells could carry ordinary
  /// features around the anomaly maps.
  TORCH_ARG(bool, classifier_valid_cells) = true;
};

struct SolaHeadOutput {
  torch::Tensor logit;                ///< [B]
  torch::Tensor first_order_logits;   ///< [B, 4, K, G, G] before the sigmoid
  torch::Tensor second_order_logits;  ///< [B, 4, G, G] before the sigmoid
  torch::Tensor first_order;          ///< [B, 4, K, G, G] in (0, 1)
  torch::Tensor second_order;         ///< [B, 4, G, G] in (0, 1)
};

class SolaHeadImpl : public torch::nn::Module {
 public:
  explicit SolaHeadImpl(SolaHeadOptions options);
  void reset();
  SolaHeadOutput forward(const torch::Tensor& features);
  /// The classifier alone: [B, 4, G, G] second-order maps (or their logits) -> [B] logit.
  torch::Tensor classify(const torch::Tensor& maps);

  std::array<torch::nn::Conv2d, 4> delta{nullptr, nullptr, nullptr, nullptr};
  std::array<torch::nn::Conv2d, 4> phi{nullptr, nullptr, nullptr, nullptr};
  torch::nn::Conv2d classifier_conv{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  SolaHeadOptions options_;
};
TORCH_MODULE(SolaHead);

}  // namespace sola
