// Anomaly targets (Eq. 9a/9b) on hand-made masks, and the supervised / weak / classifier losses.
#include <algorithm>
#include <cmath>
#include <utility>

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

// ---- the map terms on logits where the target matters --------------------------------------------
// At logit 0 the BCE is log 2 for either target, so the tests below use logits that differ by cell,
// neighbour type, channel and sample, and compute the expected terms by plain loops over target grids
// written out by hand. Each also computes what a wrong loss would give (targets inverted, the valid
// cells taken on the wrong side, a real image's mask used, the fake's maps penalised) and checks that
// it is far from the expected value, so such a change to anomaly_loss.cpp fails the test.

constexpr int64_t kG = 4, kK = 2;  // grid, first-order channels

/// A logit that changes with every index (|x| < 3).
double map_logit(int64_t b, int64_t k, int64_t c, int64_t i, int64_t j) {
  return 0.45 * (j - 1.5) - 0.35 * (i - 1.5) + 0.3 * k - 0.4 * c + 0.6 * b - 0.1 * i * j / 3.0;
}

/// Batch 2, K = 2, G = 4, logits from map_logit (second order: channel index 2), logit (0.8, -1.1).
ModelOutput varied_output() {
  ModelOutput out;
  out.logit = torch::tensor({0.8f, -1.1f});
  out.first_order_logits = torch::zeros({2, 4, kK, kG, kG});
  out.second_order_logits = torch::zeros({2, 4, kG, kG});
  auto f = out.first_order_logits.accessor<float, 5>();
  auto s = out.second_order_logits.accessor<float, 4>();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t k = 0; k < 4; ++k)
      for (int64_t i = 0; i < kG; ++i)
        for (int64_t j = 0; j < kG; ++j) {
          for (int64_t c = 0; c < kK; ++c) f[b][k][c][i][j] = static_cast<float>(map_logit(b, k, c, i, j));
          s[b][k][i][j] = static_cast<float>(map_logit(b, k, 2, i, j));
        }
  out.first_order = torch::sigmoid(out.first_order_logits);
  out.second_order = torch::sigmoid(out.second_order_logits);
  return out;
}

double bce(double x, double t) { return std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::abs(x))); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

/// Does cell (i, j) of neighbour type k have its neighbour(s) for a map of `order` (1 or 2)?
/// `mirrored`: the wrong side (neighbours to the right / below).
bool valid_cell(int k, int order, int64_t i, int64_t j, bool mirrored = false) {
  const int64_t reach = (k % 2 == 0 ? 1 : 2) * order;  // v1 h1: distance 1, v2 h2: distance 2
  const int64_t along = k < 2 ? j : i;                 // v*: neighbour on the left, h*: above
  return mirrored ? along < kG - reach : along >= reach;
}

// Targets of the fake below (right half forged: patch score 1 in columns 2, 3), by hand:
//   first order:  v1 1 in column 2 (|s(i,2) - s(i,1)|); v2 1 in columns 2, 3 (|s(i,j) - s(i,j-2)|);
//                 h1, h2 0 (columns are constant).
//   second order: v1 1 in columns 2, 3 (v1's first-order row 0 0 1 0 changes at j = 2 and 3);
//                 v2, h2 have no valid cell at G = 4; h1 0.
double fake_first_target(int k, int64_t j) { return (k == 0 && j == 2) || (k == 1 && j >= 2) ? 1 : 0; }
double fake_second_target(int k, int64_t j) { return k == 0 && j >= 2 ? 1 : 0; }

struct WrongLoss {
  bool invert_targets = false, mirrored_cells = false, real_uses_mask = false;
};

/// The summed first- and second-order terms of Eq. 10 for varied_output() with sample 0 a masked
/// fake and sample 1 a real image, both with the right-half mask column.
std::pair<double, double> expected_supervised(WrongLoss wrong = {}) {
  std::pair<double, double> terms{0, 0};
  for (int k = 0; k < 4; ++k) {
    double sum1 = 0, sum2 = 0;
    int n1 = 0, n2 = 0;
    for (int64_t b = 0; b < 2; ++b) {
      const bool targets_from_mask = b == 0 || wrong.real_uses_mask;
      for (int64_t i = 0; i < kG; ++i)
        for (int64_t j = 0; j < kG; ++j) {
          if (valid_cell(k, 1, i, j, wrong.mirrored_cells)) {
            double t = targets_from_mask ? fake_first_target(k, j) : 0;
            if (wrong.invert_targets) t = 1 - t;
            for (int64_t c = 0; c < kK; ++c, ++n1) sum1 += bce(map_logit(b, k, c, i, j), t);
          }
          if (valid_cell(k, 2, i, j, wrong.mirrored_cells)) {
            double t = targets_from_mask ? fake_second_target(k, j) : 0;
            if (wrong.invert_targets) t = 1 - t;
            sum2 += bce(map_logit(b, k, 2, i, j), t);
            ++n2;
          }
        }
    }
    terms.first += n1 ? sum1 / n1 : 0;  // mean over valid cells, channels and samples, per type
    terms.second += n2 ? sum2 / n2 : 0;
  }
  return terms;
}

torch::Tensor right_half_forged() {
  auto scores = torch::zeros({2, kG, kG});
  scores.narrow(2, 2, 2).fill_(1);  // both samples; the real one's column must be ignored
  return scores;
}

TEST(Loss, SupervisedUsesMaskTargetsAndValidCellsOnly) {
  const auto out = varied_output();
  const auto labels = torch::tensor({1.f, 0.f});
  const auto has_mask = torch::tensor({true, true});
  const auto terms = compute_loss(out, labels, right_half_forged(), has_mask,
                                  LossOptions().mode("supervised").alpha(0.5).beta(2).gamma(3));
  const auto [first, second] = expected_supervised();
  EXPECT_NEAR(terms.first.item<double>(), first, 1e-5);
  EXPECT_NEAR(terms.second.item<double>(), second, 1e-5);
  const double cls = (bce(0.8, 1) + bce(-1.1, 0)) / 2;
  EXPECT_NEAR(terms.classifier.item<double>(), cls, 1e-6);
  EXPECT_NEAR(terms.total.item<double>(), 0.5 * cls + 2 * first + 3 * second, 1e-4);

  // What a wrong loss would give is far (> 0.01) from the expected value (tolerance 1e-5).
  const std::pair<const char*, WrongLoss> wrong_losses[] = {{"targets inverted", {true, false, false}},
                                                            {"valid cells on the wrong side", {false, true, false}},
                                                            {"a real image's mask used", {false, false, true}}};
  for (const auto& [name, wrong] : wrong_losses) {
    const auto [w1, w2] = expected_supervised(wrong);
    EXPECT_GT(std::abs(w1 - first) + std::abs(w2 - second), 0.01) << name;
  }

  // The logits of invalid cells (column 0 of v1, rows 0-1 of h2's second order) do not count;
  // those of a valid cell do.
  auto moved = varied_output();
  moved.first_order_logits.select(1, 0).select(3, 0).fill_(9.0f);
  moved.second_order_logits.select(1, 3).narrow(1, 0, 2).fill_(-9.0f);
  auto moved_terms = compute_loss(moved, labels, right_half_forged(), has_mask, LossOptions());
  EXPECT_NEAR(moved_terms.first.item<double>(), first, 1e-5);
  EXPECT_NEAR(moved_terms.second.item<double>(), second, 1e-5);
  moved.first_order_logits[0][0][0][1][1] = 9.0f;  // v1, column 1: valid
  EXPECT_GT(compute_loss(moved, labels, right_half_forged(), has_mask, LossOptions()).first.item<double>(), first + 0.1);
}

/// The summed terms of Eq. 12 for varied_output() with sample 0 real and sample 1 fake: the mean
/// |M| over the real image's valid cells (and channels), per neighbour type.
std::pair<double, double> expected_weak(bool mirrored_cells = false, bool include_fake = false,
                                        bool target_one = false) {
  std::pair<double, double> terms{0, 0};
  for (int k = 0; k < 4; ++k) {
    double sum1 = 0, sum2 = 0;
    int n1 = 0, n2 = 0;
    for (int64_t b = 0; b < (include_fake ? 2 : 1); ++b)
      for (int64_t i = 0; i < kG; ++i)
        for (int64_t j = 0; j < kG; ++j) {
          if (valid_cell(k, 1, i, j, mirrored_cells))
            for (int64_t c = 0; c < kK; ++c, ++n1) sum1 += std::abs(target_one - sigmoid(map_logit(b, k, c, i, j)));
          if (valid_cell(k, 2, i, j, mirrored_cells)) {
            sum2 += std::abs(target_one - sigmoid(map_logit(b, k, 2, i, j)));
            ++n2;
          }
        }
    terms.first += n1 ? sum1 / n1 : 0;
    terms.second += n2 ? sum2 / n2 : 0;
  }
  return terms;
}

TEST(Loss, WeakIsL1OnRealImagesValidCells) {
  const auto out = varied_output();
  const auto labels = torch::tensor({0.f, 1.f});
  const auto terms = compute_loss(out, labels, right_half_forged(), torch::tensor({true, true}),
                                  LossOptions().mode("weak").alpha(0.5).beta(2).gamma(3));
  const auto [first, second] = expected_weak();
  EXPECT_NEAR(terms.first.item<double>(), first, 1e-5);
  EXPECT_NEAR(terms.second.item<double>(), second, 1e-5);
  const double cls = (bce(0.8, 0) + bce(-1.1, 1)) / 2;
  EXPECT_NEAR(terms.total.item<double>(), 0.5 * cls + 2 * first + 3 * second, 1e-4);
  const std::pair<const char*, std::pair<double, double>> wrong_losses[] = {
      {"valid cells on the wrong side", expected_weak(true)},
      {"the fake's maps penalised", expected_weak(false, true)},
      {"target 1 instead of 0", expected_weak(false, false, true)}};
  for (const auto& [name, wrong] : wrong_losses)
    EXPECT_GT(std::abs(wrong.first - first) + std::abs(wrong.second - second), 0.01) << name;
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
