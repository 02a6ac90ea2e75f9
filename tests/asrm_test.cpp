// ASRM (Eq. 4): the projection after optimizer steps, and the fixed / unconstrained variants.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/asrm.h"
#include "model/sola_net.h"

namespace sola {
namespace {

constexpr int64_t kCentre = 12;

torch::Tensor centre_of(const torch::Tensor& w) { return w.reshape({-1, 25}).select(1, kCentre); }
torch::Tensor rest_sum(const torch::Tensor& w) { return w.reshape({-1, 25}).sum(1) - centre_of(w); }

/// Trains a small model for a few Adam steps on random data (the ASRM gets real gradients).
std::shared_ptr<SolaNetImpl> train_steps(const std::string& mode, int steps) {
  torch::manual_seed(1);
  auto model = std::dynamic_pointer_cast<SolaNetImpl>(build_model(ModelOptions{}.input_size(64).grid(8).noise(mode)));
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
  for (int s = 0; s < steps; ++s) {
    auto x = torch::rand({2, 3, 64, 64});
    auto out = model->forward(x);
    auto loss = torch::binary_cross_entropy_with_logits(out.logit, torch::tensor({0.0f, 1.0f})) + out.second_order.mean();
    opt.zero_grad();
    loss.backward();
    opt.step();
    model->after_optimizer_step();
  }
  return model;
}

TEST(Asrm, InitialKernelsAreQuantisedSrm) {
  auto k = AsrmImpl::srm_kernels();
  ASSERT_EQ(k.sizes(), (std::vector<int64_t>{3, 5, 5}));
  EXPECT_TRUE(torch::allclose(centre_of(k), torch::full({3}, -1.0f)));
  EXPECT_TRUE(torch::allclose(rest_sum(k), torch::ones({3}), 1e-6, 1e-6));
  EXPECT_FLOAT_EQ(k[1][0][0].item<float>(), -1.0f / 12.0f);  // KV corner
  EXPECT_FLOAT_EQ(k[2][2][1].item<float>(), 0.5f);           // second-order horizontal
  Asrm asrm;
  EXPECT_EQ(asrm->weight.sizes(), (std::vector<int64_t>{3, 3, 5, 5}));
  EXPECT_TRUE(torch::equal(asrm->weight[1][0], asrm->weight[1][2]));  // repeated per input channel
}

TEST(Asrm, HighPassKillsConstantImages) {
  Asrm asrm;
  auto flat = torch::full({1, 3, 16, 16}, 0.7f);
  auto out = asrm(flat);
  // Interior pixels (away from zero padding) of a constant image give zero residual.
  EXPECT_LT(out.narrow(2, 2, 12).narrow(3, 2, 12).abs().max().item<float>(), 1e-5f);
}

TEST(Asrm, ConstraintHoldsAfterOptimizerSteps) {
  auto model = train_steps("asrm", 4);
  auto w = model->asrm->weight.detach();
  auto initial = AsrmImpl::srm_kernels().unsqueeze(1).repeat({1, 3, 1, 1});
  EXPECT_FALSE(torch::allclose(w, initial)) << "ASRM kernels did not learn";
  EXPECT_TRUE(torch::equal(centre_of(w), torch::full({9}, -1.0f))) << centre_of(w);
  EXPECT_LT((rest_sum(w) - 1).abs().max().item<float>(), 1e-5f) << rest_sum(w);
}

TEST(Asrm, ProjectionFallsBackWhenNeighbourSumVanishes) {
  Asrm asrm;
  {
    torch::NoGradGuard g;
    asrm->weight.zero_();  // every neighbour sum is 0
    asrm->weight[0][0][0][0] = 3.0f;
    asrm->weight[0][0][0][1] = -1.0f;  // this kernel's neighbour sum is 2: rescaled
  }
  asrm->project();
  auto w = asrm->weight.detach();
  EXPECT_TRUE(torch::isfinite(w).all().item<bool>());
  EXPECT_TRUE(torch::equal(centre_of(w), torch::full({9}, -1.0f)));
  EXPECT_LT((rest_sum(w) - 1).abs().max().item<float>(), 1e-6f);
  EXPECT_FLOAT_EQ(w[0][0][0][0].item<float>(), 1.5f);
  // A vanished kernel is reset to its SRM kernel.
  EXPECT_TRUE(torch::allclose(w[1][1], AsrmImpl::srm_kernels()[1]));
}

TEST(Asrm, FixedSrmNeverChanges) {
  auto model = train_steps("srm", 3);
  auto initial = AsrmImpl::srm_kernels().unsqueeze(1).repeat({1, 3, 1, 1});
  EXPECT_TRUE(torch::equal(model->asrm->weight, initial));
  for (const auto& p : model->asrm->parameters()) ADD_FAILURE() << "fixed SRM has a parameter " << p.sizes();
}

TEST(Asrm, LearnableSrmChangesWithoutConstraint) {
  auto model = train_steps("lsrm", 3);
  auto w = model->asrm->weight.detach();
  auto initial = AsrmImpl::srm_kernels().unsqueeze(1).repeat({1, 3, 1, 1});
  EXPECT_FALSE(torch::allclose(w, initial));
  EXPECT_GT((centre_of(w) + 1).abs().max().item<float>(), 1e-4f) << "lsrm must not be projected";
}

}  // namespace
}  // namespace sola
