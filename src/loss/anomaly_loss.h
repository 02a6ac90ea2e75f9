#pragma once
// Losses of Sec. 3.4.
//
// Anomaly targets (Eq. 9): the forgery mask is averaged per patch (AVG(m_ij), a [G, G] map of
// forged fractions). For each neighbour type (v1 v2 h1 h2, see sola_head.h) a first-order target
// is 1 where a patch's score differs from its neighbour's (|AVG(m_ij) - AVG(m_i'j')| > 0, Eq. 9a),
// and a second-order target is 1 where a first-order target differs from its neighbour's
// (Eq. 9b). The same target serves all 64 first-order channels. Cells without the neighbour are
// excluded (see valid_mask). Real images have all-zero targets.
//
// supervised (Eq. 10-11): alpha * BCE(logit, label)
//                       + beta  * sum_* BCE(M_*,  target_*)    over real images and masked fakes
//                       + gamma * sum_* BCE(M'_*, target'_*)
//   A fake without a mask contributes its classifier term only.
// weak (Eq. 12):        alpha * BCE(logit, label)
//                       + beta * sum_* |M_*|_1 + gamma * sum_* |M'_*|_1 over real images only
//   (single-side loss: the maps of fakes are left free).
// classifier:           alpha * BCE(logit, label) (the vanilla ResNet baseline; any model)
// Each BCE / L1 term is a mean over its valid cells (and channels) and samples; the four
// neighbour types are summed, as Eq. 10 and 12 sum over *.
#include <string>

#include <torch/arg.h>
#include <torch/types.h>

#include "core/options_io.h"

namespace sola {

struct ModelOutput;

/// [B, 4, G, G] first- and second-order targets from [B, G, G] patch scores (Eq. 9a/9b), and the
/// [4, G, G] masks of cells that have the neighbour. Invalid cells hold 0.
struct AnomalyTargets {
  torch::Tensor first, second;
  torch::Tensor first_valid, second_valid;
};
AnomalyTargets anomaly_targets(const torch::Tensor& patch_scores, double tolerance = 1e-6);

/// [B, H, W] masks in [0, 1] -> [B, G, G] mean per non-overlapping patch (H, W multiples of G).
torch::Tensor patch_scores(const torch::Tensor& masks, int64_t grid);

struct LossOptions {
  TORCH_ARG(std::string, mode) = "supervised";  ///< supervised | weak | classifier
  TORCH_ARG(double, alpha) = 1.0;               ///< classifier weight (Eq. 11)
  TORCH_ARG(double, beta) = 1.0;                ///< first-order map weight (Eq. 10/12)
  TORCH_ARG(double, gamma) = 1.0;               ///< second-order map weight
};

struct LossTerms {
  torch::Tensor total;       ///< what is minimised
  torch::Tensor classifier;  ///< BCE of the logit (before alpha)
  torch::Tensor first;       ///< summed first-order term (before beta); 0 when not applicable
  torch::Tensor second;      ///< summed second-order term (before gamma)
};

/// labels [B] (0/1 float), scores [B, G, G] patch scores (ignored for reals and for has_mask = 0),
/// has_mask [B] bool. Works for any model; the map terms need output.has_maps().
LossTerms compute_loss(const ModelOutput& output, const torch::Tensor& labels, const torch::Tensor& scores,
                       const torch::Tensor& has_mask, const LossOptions& options);

}  // namespace sola
