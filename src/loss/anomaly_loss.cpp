#include "loss/anomaly_loss.h"

#include <torch/nn/functional.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/sola_head.h"
#include "model/sola_net.h"

namespace sola {
namespace F = torch::nn::functional;

namespace {

/// x shifted so that cell (i, j) holds the value of its neighbour of type k (zero where none).
torch::Tensor neighbour_of(const torch::Tensor& x, int k) {
  const int64_t d = neighbour_distance(k);
  const int64_t g = x.size(-1);
  if (neighbour_is_horizontal_shift(k))
    return F::pad(x, F::PadFuncOptions({d, 0, 0, 0})).narrow(-1, 0, g);
  return F::pad(x, F::PadFuncOptions({0, 0, d, 0})).narrow(-2, 0, x.size(-2));
}

/// Mean of `per_cell` [N, 4, (K,) G, G] over valid cells, per neighbour type, summed over types.
torch::Tensor masked_mean_sum(const torch::Tensor& per_cell, const torch::Tensor& valid) {
  auto v = per_cell.dim() == 5 ? valid.unsqueeze(1) : valid;  // broadcast over channels
  auto weighted = per_cell * v.to(per_cell.dtype());
  const std::vector<int64_t> cell_dims = per_cell.dim() == 5 ? std::vector<int64_t>{0, 2, 3, 4} : std::vector<int64_t>{0, 2, 3};
  auto count = (v.to(per_cell.dtype()).expand_as(per_cell)).sum(cell_dims).clamp_min(1.0);
  return (weighted.sum(cell_dims) / count).sum();
}

}  // namespace

torch::Tensor patch_scores(const torch::Tensor& masks, int64_t grid) {
  TORCH_CHECK(masks.dim() == 3, "masks must be [B, H, W], got ", masks.sizes());
  TORCH_CHECK(masks.size(1) % grid == 0 && masks.size(2) % grid == 0, "mask size ", masks.size(1), "x",
              masks.size(2), " is not a multiple of the grid ", grid);
  return F::avg_pool2d(masks.unsqueeze(1), F::AvgPool2dFuncOptions({masks.size(1) / grid, masks.size(2) / grid}))
      .squeeze(1);
}

AnomalyTargets anomaly_targets(const torch::Tensor& scores, double tolerance) {
  TORCH_CHECK(scores.dim() == 3 && scores.size(1) == scores.size(2), "patch scores must be [B, G, G], got ",
              scores.sizes());
  const int64_t g = scores.size(1);
  AnomalyTargets t;
  t.first_valid = valid_mask(g, 1).to(scores.device());
  t.second_valid = valid_mask(g, 2).to(scores.device());
  std::vector<torch::Tensor> first, second;
  for (int k = 0; k < 4; ++k) {
    auto a = ((scores - neighbour_of(scores, k)).abs() > tolerance).to(scores.dtype()) * t.first_valid[k];  // Eq. 9a
    auto a2 = ((a - neighbour_of(a, k)).abs() > 0.5).to(scores.dtype()) * t.second_valid[k];              // Eq. 9b
    first.push_back(a);
    second.push_back(a2);
  }
  t.first = torch::stack(first, 1);
  t.second = torch::stack(second, 1);
  return t;
}

LossTerms compute_loss(const ModelOutput& out, const torch::Tensor& labels, const torch::Tensor& scores,
                       const torch::Tensor& has_mask, const LossOptions& o) {
  const auto& mode = o.mode();
  if (mode != "supervised" && mode != "weak" && mode != "classifier")
    throw ConfigError("loss mode must be supervised, weak or classifier, got '" + mode + "'");
  LossTerms terms;
  auto y = labels.to(out.logit.dtype());
  terms.classifier = F::binary_cross_entropy_with_logits(out.logit, y);
  auto zero = torch::zeros({}, out.logit.options());
  terms.first = zero;
  terms.second = zero;
  if (mode != "classifier") {
    if (!out.has_maps()) throw ConfigError("loss mode '" + mode + "' needs a model with anomaly maps (arch sola)");
    const auto is_real = labels < 0.5;
    if (mode == "supervised") {
      const auto use = is_real | (has_mask.to(torch::kBool) & ~is_real);
      if (use.any().item<bool>()) {
        auto idx = use.nonzero().squeeze(1);
        // Real images: zero targets whatever their mask column says.
        auto s = scores.index_select(0, idx) * (~is_real).index_select(0, idx).to(scores.dtype()).view({-1, 1, 1});
        auto t = anomaly_targets(s.to(torch::kFloat));
        auto fl = out.first_order_logits.index_select(0, idx);
        auto sl = out.second_order_logits.index_select(0, idx);
        auto bce1 = F::binary_cross_entropy_with_logits(
            fl, t.first.unsqueeze(2).expand_as(fl).to(fl.dtype()), F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
        auto bce2 = F::binary_cross_entropy_with_logits(
            sl, t.second.to(sl.dtype()), F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
        terms.first = masked_mean_sum(bce1, t.first_valid);
        terms.second = masked_mean_sum(bce2, t.second_valid);
      }
    } else if (is_real.any().item<bool>()) {  // weak: single-side L1 on real images (targets all zero)
      auto idx = is_real.nonzero().squeeze(1);
      const int64_t g = out.second_order.size(-1);
      auto v1 = valid_mask(g, 1).to(out.second_order.device());
      auto v2 = valid_mask(g, 2).to(out.second_order.device());
      terms.first = masked_mean_sum(out.first_order.index_select(0, idx).abs(), v1);
      terms.second = masked_mean_sum(out.second_order.index_select(0, idx).abs(), v2);
    }
  }
  terms.total = o.alpha() * terms.classifier + o.beta() * terms.first + o.gamma() * terms.second;
  return terms;
}

}  // namespace sola
