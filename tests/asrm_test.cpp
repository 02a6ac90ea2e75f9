// ASRM (Eq. 4): the projection after optimizer steps, and the fixed / unconstrained variants.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/compat.h"
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

TEST(Asrm, ProjectionGuardIsRelativeToTheKernelScale) {
  // Taps of +-0.1 whose sum is 1e-4: dividing by it would multiply them by 10^4. An absolute
  // guard of 1e-6 let that through; the relative guard resets the kernel to its SRM kernel.
  Asrm asrm;
  {
    torch::NoGradGuard g;
    auto k = torch::zeros({25});
    k[0] = 0.1f;
    k[1] = -0.1f;
    k[2] = 0.1f;
    k[3] = -0.1f + 1e-4f;
    asrm->weight[0][0].copy_(k.view({5, 5}));
  }
  asrm->project();
  auto w = asrm->weight.detach();
  EXPECT_LT(w.abs().max().item<float>(), 2.0f) << "taps blown up: " << w[0][0];
  EXPECT_TRUE(torch::allclose(w[0][0], AsrmImpl::srm_kernels()[0]));
  // A kernel well away from the guard is rescaled, not reset: sum 0.5 over an L1 norm of 0.7.
  {
    torch::NoGradGuard g;
    auto k = torch::zeros({25});
    k[0] = 0.6f;
    k[1] = -0.1f;
    asrm->weight[0][1].copy_(k.view({5, 5}));
  }
  asrm->project();
  EXPECT_FLOAT_EQ(asrm->weight[0][1][0][0].item<float>(), 1.2f);
}

TEST(Asrm, ResidualsStayInFullPrecisionUnderAutocast) {
  // A bf16 autocast region (training) must not round the image to bf16 before the high-pass:
  // the residual of a 1/255 step would be lost.
  Asrm asrm;
  torch::manual_seed(0);
  auto x = torch::randint(0, 256, {1, 3, 24, 24}).to(torch::kFloat) / 255.0;
  auto reference = asrm(x);
  torch::Tensor out;
  {
    compat::AutocastGuard autocast(c10::DeviceType::CPU, true, c10::kBFloat16);
    out = asrm(x);
  }
  EXPECT_EQ(out.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(out, reference, 1e-5, 1e-6)) << (out - reference).abs().max();
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
