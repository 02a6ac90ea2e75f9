// Anomaly targets (Eq. 9a/9b) on hand-made masks, and the supervised / weak / classifier losses.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "loss/anomaly_loss.h"
#include "model/sola_head.h"
#include "model/sola_net.h"

namespace sola {
namespace {

torch::Tensor grid4(std::vector<float> v) { return torch::tensor(v).view({1, 4, 4}); }

TEST(AnomalyTargets, HandMadeSquare) {
  // A forged 2x2 block in the middle of a 4x4 patch grid.
  auto s = grid4({0, 0, 0, 0,
                  0, 1, 1, 0,
                  0, 1, 1, 0,
                  0, 0, 0, 0});
  auto t = anomaly_targets(s);
  // v1: |s(i,j) - s(i,j-1)| > 0, column 0 has no neighbour.
  EXPECT_TRUE(torch::equal(t.first[0][0], grid4({0, 0, 0, 0,  0, 1, 0, 1,  0, 1, 0, 1,  0, 0, 0, 0})[0]));
  // v2: |s(i,j) - s(i,j-2)| > 0 for j >= 2.
  EXPECT_TRUE(torch::equal(t.first[0][1], grid4({0, 0, 0, 0,  0, 0, 1, 1,  0, 0, 1, 1,  0, 0, 0, 0})[0]));
  // h1: |s(i,j) - s(i-1,j)| > 0, row 0 has no neighbour.
  EXPECT_TRUE(torch::equal(t.first[0][2], grid4({0, 0, 0, 0,  0, 1, 1, 0,  0, 0, 0, 0,  0, 1, 1, 0})[0]));
  // h2: |s(i,j) - s(i-2,j)| > 0 for i >= 2.
  EXPECT_TRUE(torch::equal(t.first[0][3], grid4({0, 0, 0, 0,  0, 0, 0, 0,  0, 1, 1, 0,  0, 1, 1, 0})[0]));
  // Second order (Eq. 9b) on v1 = [0 1 0 1] per middle row: j=2 |0-1|, j=3 |1-0| (j >= 2 valid).
  EXPECT_TRUE(torch::equal(t.second[0][0], grid4({0, 0, 0, 0,  0, 0, 1, 1,  0, 0, 1, 1,  0, 0, 0, 0})[0]));
  // v2 second order needs j >= 4: nothing valid in a 4-wide grid.
  EXPECT_EQ(t.second[0][1].sum().item<float>(), 0);
  // h1 second order: rows 2, 3 compare h1 rows (1,2) and (2,3): [0 1 1 0] both.
  EXPECT_TRUE(torch::equal(t.second[0][2], grid4({0, 0, 0, 0,  0, 0, 0, 0,  0, 1, 1, 0,  0, 1, 1, 0})[0]));
}

TEST(AnomalyTargets, PartialPatchesAndUniformMasks) {
  // Fractions differ (0.25 vs 0.5): still an anomaly (hard threshold at > 0).
  auto s = grid4({0.25, 0.5, 0.5, 0.5,  0.25, 0.5, 0.5, 0.5,  0.25, 0.5, 0.5, 0.5,  0.25, 0.5, 0.5, 0.5});
  auto t = anomaly_targets(s);
  EXPECT_TRUE(torch::equal(t.first[0][0][0], torch::tensor({0.f, 1.f, 0.f, 0.f})));
  EXPECT_TRUE(torch::equal(t.first[0][1][0], torch::tensor({0.f, 0.f, 1.f, 0.f})));  // |0.5-0.25|, |0.5-0.5|
  EXPECT_EQ(t.first[0][2].sum().item<float>(), 0);  // columns are constant: no vertical anomaly
  // A fully forged or a clean face has no local anomaly at all.
  EXPECT_EQ(anomaly_targets(torch::ones({2, 8, 8})).first.sum().item<float>(), 0);
  EXPECT_EQ(anomaly_targets(torch::zeros({2, 8, 8})).second.sum().item<float>(), 0);
}

TEST(AnomalyTargets, PatchScoresAverageMaskPatches) {
  auto mask = torch::zeros({1, 8, 8});
  mask[0].narrow(0, 0, 4).narrow(1, 0, 4).fill_(1);  // top-left quadrant
  mask[0][4][4] = 1;                                  // one pixel of patch (2, 2)
  auto s = patch_scores(mask, 4);                      // 2x2-pixel patches
  EXPECT_FLOAT_EQ(s[0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(s[0][1][1].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(s[0][2][2].item<float>(), 0.25f);
  EXPECT_FLOAT_EQ(s[0][3][3].item<float>(), 0.0f);
  EXPECT_THROW(patch_scores(torch::zeros({1, 6, 6}), 4), c10::Error);
}

/// A model output with given map logits (batch 2, K = 3, G = 4).
ModelOutput fake_output(float map_logit = 0.3f) {
  ModelOutput out;
  out.logit = torch::tensor({0.2f, -0.4f});
  out.first_order_logits = torch::full({2, 4, 3, 4, 4}, map_logit);
  out.second_order_logits = torch::full({2, 4, 4, 4}, map_logit);
  out.first_order = torch::sigmoid(out.first_order_logits);
  out.second_order = torch::sigmoid(out.second_order_logits);
  return out;
}

TEST(Loss, SupervisedRealImageHasZeroTargets) {
  auto out = fake_output(0.3f);
  auto labels = torch::tensor({0.f, 0.f});
  auto scores = torch::ones({2, 4, 4});  // a real image's mask column is ignored
  auto terms = compute_loss(out, labels, scores, torch::tensor({true, true}), LossOptions().mode("supervised"));
  const double bce0 = std::log1p(std::exp(0.3));  // BCE(logit 0.3, target 0)
  EXPECT_NEAR(terms.first.item<double>(), 4 * bce0, 1e-5);   // summed over v1 v2 h1 h2
  // v2's and h2's second order need j (i) >= 4: no valid cell in a 4x4 grid, so 2 types contribute.
  EXPECT_NEAR(terms.second.item<double>(), 2 * bce0, 1e-5);
  auto cls = (std::log1p(std::exp(0.2)) + std::log1p(std::exp(-0.4))) / 2;
  EXPECT_NEAR(terms.classifier.item<double>(), cls, 1e-6);
  EXPECT_NEAR(terms.total.item<double>(), cls + 6 * bce0, 1e-5);
}

TEST(Loss, SupervisedUsesMaskTargetsAndValidCellsOnly) {
  auto out = fake_output(0.0f);  // sigmoid 0.5: BCE = log 2 for either target
  auto scores = torch::zeros({2, 4, 4});
  scores[0].narrow(1, 2, 2).fill_(1);  // right half forged
  auto terms = compute_loss(out, torch::tensor({1.f, 0.f}), scores, torch::tensor({true, false}),
                            LossOptions().mode("supervised").alpha(0).beta(2).gamma(3));
  EXPECT_NEAR(terms.first.item<double>(), 4 * std::log(2.0), 1e-5);
  EXPECT_NEAR(terms.second.item<double>(), 2 * std::log(2.0), 1e-5);  // v2, h2 second order: no valid cell at G=4
  EXPECT_NEAR(terms.total.item<double>(), 2 * 4 * std::log(2.0) + 3 * 2 * std::log(2.0), 1e-4);
  // Push the logits of invalid cells (column 0 of v1) around: the loss must not move.
  auto out2 = fake_output(0.0f);
  out2.first_order_logits.select(1, 0).select(3, 0).fill_(9.0f);
  auto terms2 = compute_loss(out2, torch::tensor({1.f, 0.f}), scores, torch::tensor({true, false}),
                             LossOptions().mode("supervised"));
  EXPECT_NEAR(terms2.first.item<double>(), terms.first.item<double>(), 1e-6);
}

TEST(Loss, FakeWithoutMaskGetsClassifierTermOnly) {
  auto out = fake_output(1.5f);
  auto terms = compute_loss(out, torch::tensor({1.f, 1.f}), torch::zeros({2, 4, 4}), torch::tensor({false, false}),
                            LossOptions().mode("supervised"));
  EXPECT_EQ(terms.first.item<double>(), 0.0);
  EXPECT_EQ(terms.second.item<double>(), 0.0);
  EXPECT_NEAR(terms.total.item<double>(), terms.classifier.item<double>(), 1e-7);
}

TEST(Loss, WeakPenalisesRealMapsOnly) {
  auto out = fake_output(0.3f);
  const double m = 1.0 / (1.0 + std::exp(-0.3));
  auto labels = torch::tensor({0.f, 1.f});
  auto terms = compute_loss(out, labels, torch::zeros({2, 4, 4}), torch::tensor({false, false}), LossOptions().mode("weak"));
  EXPECT_NEAR(terms.first.item<double>(), 4 * m, 1e-5);  // mean |M| over valid cells, 4 neighbour types
  EXPECT_NEAR(terms.second.item<double>(), 2 * m, 1e-5);  // v2, h2 second order: no valid cell at G=4
  // The fake's maps are free: changing them leaves the map terms as they were.
  auto out2 = fake_output(0.3f);
  out2.first_order[1].fill_(0.99f);
  out2.second_order[1].fill_(0.01f);
  auto terms2 = compute_loss(out2, labels, torch::zeros({2, 4, 4}), torch::tensor({false, false}), LossOptions().mode("weak"));
  EXPECT_NEAR(terms2.first.item<double>(), terms.first.item<double>(), 1e-7);
  EXPECT_NEAR(terms2.second.item<double>(), terms.second.item<double>(), 1e-7);
}

TEST(Loss, ClassifierModeAndErrors) {
  auto out = fake_output();
  auto terms = compute_loss(out, torch::tensor({0.f, 1.f}), torch::zeros({2, 4, 4}), torch::tensor({false, false}),
                            LossOptions().mode("classifier").alpha(2));
  EXPECT_NEAR(terms.total.item<double>(), 2 * terms.classifier.item<double>(), 1e-7);
  ModelOutput baseline;
  baseline.logit = torch::zeros({2});
  EXPECT_THROW(compute_loss(baseline, torch::tensor({0.f, 1.f}), torch::zeros({2, 4, 4}), torch::tensor({false, false}),
                            LossOptions().mode("weak")),
               ConfigError);
  EXPECT_THROW(compute_loss(out, torch::tensor({0.f, 1.f}), torch::zeros({2, 4, 4}), torch::tensor({false, false}),
                            LossOptions().mode("both")),
               ConfigError);
}

TEST(Loss, GradientsReachTheModelThroughEveryTerm) {
  torch::manual_seed(0);
  // G = 8: at G = 4 the distance-2 second-order maps (v2, h2) have no cell with both neighbours,
  // so neither a loss nor the classifier (which sees only such cells) reaches phi_v2 / phi_h2.
  auto model = build_model(ModelOptions{}.input_size(64).grid(8));
  auto out = model->forward(torch::rand({2, 3, 64, 64}));
  auto scores = torch::zeros({2, 8, 8});
  scores[1].narrow(0, 2, 4).narrow(1, 2, 4).fill_(1);
  auto terms = compute_loss(out, torch::tensor({0.f, 1.f}), scores, torch::tensor({false, true}), LossOptions());
  terms.total.backward();
  auto sola = std::dynamic_pointer_cast<SolaNetImpl>(model);
  EXPECT_GT(sola->head->delta[0]->weight.grad().abs().sum().item<double>(), 0);
  EXPECT_GT(sola->head->phi[3]->weight.grad().abs().sum().item<double>(), 0);
  EXPECT_GT(sola->rgb->conv1->weight.grad().abs().sum().item<double>(), 0);
}

}  // namespace
}  // namespace sola
