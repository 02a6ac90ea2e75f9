#pragma once
// The detectors: SOLA (the paper's model) and the vanilla ResNet baseline, behind one interface
// so training, evaluation and detection treat them alike.
//
// SOLA forward (Fig. 2), for stage s = 1..3 of a ResNet (ModelOptions::num_stages()):
//   rgb_s   = layer_s^rgb(x_{s-1})           x_0 = stem^rgb(normalize(image))
//   noise_s = layer_s^noise(noise_{s-1})     noise_0 = stem^noise(ASRM(image))
//   x_s     = LEM_s(DCAM_s(rgb_s, noise_s))
// i.e. the fused, enhanced features continue in the RGB stream while the noise stream stays a pure
// noise-residual path that is fused again after every block. Then
//   F = adaptive_avg_pool(x_3, G x G)  (a map smaller than G is replicated, nearest-neighbour)
//   SOLA head (sola_head.h) -> logit and anomaly maps.
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>

#include "model/asrm.h"
#include "model/dcam.h"
#include "model/lem.h"
#include "model/options.h"
#include "model/resnet.h"
#include "model/sola_head.h"

namespace sola {

struct ModelOutput {
  torch::Tensor logit;                ///< [B] forgery logit (sigmoid -> score in [0,1])
  torch::Tensor features;             ///< [B, C, G, G] head input (SOLA) or last stage (ResNet); for Grad-CAM
  // SOLA only (undefined for the baseline):
  torch::Tensor first_order;          ///< [B, 4, K, G, G] first-order maps, neighbour order v1 v2 h1 h2
  torch::Tensor second_order;         ///< [B, 4, G, G] second-order maps
  torch::Tensor first_order_logits;   ///< pre-sigmoid, for numerically stable losses
  torch::Tensor second_order_logits;
  bool has_maps() const { return second_order.defined(); }
};

/// What every detector offers.
class DetectorImpl : public torch::nn::Module {
 public:
  explicit DetectorImpl(ModelOptions options) : options_(std::move(options)) {}
  /// image: [B, 3, H, W] RGB in [0, 1].
  virtual ModelOutput forward(const torch::Tensor& image) = 0;
  /// Called after every optimizer step (the ASRM projection of Eq. 4).
  virtual void after_optimizer_step() {}
  const ModelOptions& options() const { return options_; }

 protected:
  torch::Tensor normalize_input(const torch::Tensor& image) const;
  ModelOptions options_;
};
using Detector = std::shared_ptr<DetectorImpl>;

class SolaNetImpl : public DetectorImpl {
 public:
  explicit SolaNetImpl(ModelOptions options);
  void reset();
  ModelOutput forward(const torch::Tensor& image) override;
  void after_optimizer_step() override;

  ResNetTrunk rgb{nullptr};
  Asrm asrm{nullptr};        ///< empty only when noise == "none"; for fixed "srm" its weight is a buffer
  ResNetTrunk noise{nullptr};
  torch::nn::ModuleList dcam{nullptr};
  torch::nn::ModuleList lem{nullptr};  ///< entries only for stages where LEM is built
  std::vector<int64_t> lem_stages;     ///< which stages (1-based) have an LEM, parallel to `lem`
  SolaHead head{nullptr};
};

class ResNetClassifierImpl : public DetectorImpl {
 public:
  explicit ResNetClassifierImpl(ModelOptions options);
  void reset();
  ModelOutput forward(const torch::Tensor& image) override;

  ResNetTrunk trunk{nullptr};
  torch::nn::Linear fc{nullptr};
};

/// Builds the detector the options describe (validated first; ConfigError on bad values).
Detector build_model(const ModelOptions& options);

/// Parameter counts: total, trainable, and per top-level component ("rgb", "noise", "head", ...).
struct ParameterCount {
  int64_t total = 0, trainable = 0;
  std::vector<std::pair<std::string, int64_t>> by_component;
};
ParameterCount count_parameters(const torch::nn::Module& model);

}  // namespace sola
