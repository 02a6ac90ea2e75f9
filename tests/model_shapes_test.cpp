// Shapes of every output for the patch grids of Table 7, at 256 px and at a small input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/compat.h"
#include "model/lem.h"
#include "model/sola_head.h"
#include "model/sola_net.h"

namespace sola {
namespace {

struct ShapeCase {
  int64_t input, grid;
};

class ModelShapes : public ::testing::TestWithParam<ShapeCase> {};

TEST_P(ModelShapes, LogitAndMapsHaveDocumentedShapes) {
  const auto c = GetParam();
  auto model = build_model(ModelOptions{}.input_size(c.input).grid(c.grid));
  model->eval();
  torch::NoGradGuard no_grad;
  const int64_t batch = 2;
  auto out = model->forward(torch::rand({batch, 3, c.input, c.input}));
  ASSERT_TRUE(out.has_maps());
  EXPECT_EQ(out.logit.sizes(), (std::vector<int64_t>{batch}));
  EXPECT_EQ(out.first_order.sizes(), (std::vector<int64_t>{batch, 4, 64, c.grid, c.grid}));
  EXPECT_EQ(out.second_order.sizes(), (std::vector<int64_t>{batch, 4, c.grid, c.grid}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{batch, 256, c.grid, c.grid}));
  // Maps are sigmoid outputs of their logits.
  EXPECT_TRUE(torch::allclose(out.second_order, torch::sigmoid(out.second_order_logits)));
  EXPECT_GT(out.first_order.min().item<float>(), 0.0f);
  EXPECT_LT(out.first_order.max().item<float>(), 1.0f);
  EXPECT_TRUE(torch::isfinite(out.logit).all().item<bool>());
}

INSTANTIATE_TEST_SUITE_P(Grids, ModelShapes,
                         ::testing::Values(ShapeCase{256, 8}, ShapeCase{256, 16}, ShapeCase{256, 32},
                                           ShapeCase{64, 8}, ShapeCase{64, 16}, ShapeCase{128, 32}),
                         [](const auto& info) {
                           return "input" + std::to_string(info.param.input) + "_grid" + std::to_string(info.param.grid);
                         });

TEST(ModelShapes, BaselineReturnsLogitOnly) {
  auto model = build_model(ModelOptions{}.arch("resnet").input_size(64));
  model->eval();
  torch::NoGradGuard no_grad;
  auto out = model->forward(torch::rand({3, 3, 64, 64}));
  EXPECT_EQ(out.logit.sizes(), (std::vector<int64_t>{3}));
  EXPECT_FALSE(out.has_maps());
}

TEST(ModelShapes, LemBuiltOnEveryStageIncludingOnePixelPatches) {
  // 256 px, G=16: stage sides 64, 32, 16 -> patches 4x4, 2x2, 1x1. The paper's module exists on
  // all three stages; on the 1x1 one it is x + lambda * g(x).
  auto model = std::dynamic_pointer_cast<SolaNetImpl>(build_model(ModelOptions{}));
  ASSERT_TRUE(model);
  EXPECT_EQ(model->lem_stages, (std::vector<int64_t>{1, 2, 3}));
  auto legacy = std::dynamic_pointer_cast<SolaNetImpl>(build_model(ModelOptions{}.lem_pixel_patches(false)));
  EXPECT_EQ(legacy->lem_stages, (std::vector<int64_t>{1, 2}));
  auto nolem = std::dynamic_pointer_cast<SolaNetImpl>(build_model(ModelOptions{}.lem(false)));
  EXPECT_TRUE(nolem->lem_stages.empty());
}

TEST(ModelShapes, OnePixelLemIsResidualOfG) {
  Lem lem(LemOptions(8).grid(4));
  {
    torch::NoGradGuard g;
    lem->lambda.fill_(0.5);
  }
  auto x = torch::rand({2, 8, 4, 4});
  auto expected = x + 0.5 * lem->g(x);
  EXPECT_TRUE(torch::allclose(lem(x), expected, 1e-5, 1e-6));
}

TEST(ModelShapes, ModelFilesWithoutTheNewKeysLoadAsTheyWereTrained) {
  auto base = stored_model_base();
  EXPECT_EQ(base.classifier_cells(), "all");
  EXPECT_FALSE(base.lem_pixel_patches());
  EXPECT_EQ(ModelOptions{}.classifier_cells(), "valid");
  EXPECT_TRUE(ModelOptions{}.lem_pixel_patches());
}

TEST(ModelShapes, RejectsWrongInput) {
  auto model = build_model(ModelOptions{}.input_size(64));
  EXPECT_THROW(model->forward(torch::rand({1, 1, 64, 64})), c10::Error);
}

}  // namespace
}  // namespace sola

namespace sola {
namespace {

TEST(ModelShapes, ClassifierCanReadMapLogits) {
  torch::NoGradGuard no_grad;
  auto x = torch::rand({2, 3, 64, 64});
  torch::manual_seed(11);
  auto maps = build_model(ModelOptions{}.input_size(64).grid(8));
  torch::manual_seed(11);
  auto logits = build_model(ModelOptions{}.input_size(64).grid(8).classifier_input("logits"));
  maps->eval();
  logits->eval();
  auto a = maps->forward(x), b = logits->forward(x);
  EXPECT_TRUE(torch::equal(a.second_order, b.second_order));  // same weights, same maps
  EXPECT_FALSE(torch::allclose(a.logit, b.logit));             // the classifier reads something else
  EXPECT_EQ(count_parameters(*maps).total, count_parameters(*logits).total);
}

}  // namespace
}  // namespace sola

namespace sola {
namespace {

TEST(AnomalyMap, AveragesTheDefinedSecondOrderMapsAndPeaksAtTheLargestCell) {
  auto maps = torch::zeros({1, 4, 8, 8});
  maps[0][0].fill_(0.2);  // v1: defined where column >= 2
  maps[0][2].fill_(0.6);  // h1: defined where row >= 2
  maps[0][1].fill_(0.9);  // v2: defined where column >= 4 (h2 stays 0, defined where row >= 4)
  auto m = anomaly_map(maps)[0];
  EXPECT_FLOAT_EQ(m[0][3].item<float>(), 0.2f);                           // v1 only
  EXPECT_FLOAT_EQ(m[3][0].item<float>(), 0.6f);                           // h1 only
  EXPECT_FLOAT_EQ(m[3][3].item<float>(), 0.4f);                           // v1, h1
  EXPECT_NEAR(m[7][7].item<float>(), (0.2 + 0.6 + 0.9 + 0.0) / 4, 1e-6);  // all four
  // The 2 x 2 corner, where no map is defined, holds the mean of the other 60 cells.
  auto defined = torch::ones({8, 8}, torch::kBool);
  defined.narrow(0, 0, 2).narrow(1, 0, 2).fill_(false);
  const float rest = m.masked_select(defined).mean().item<float>();
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x) EXPECT_FLOAT_EQ(m[y][x].item<float>(), rest);
  EXPECT_EQ(anomaly_map(maps.repeat({3, 1, 1, 1})).sizes(), (std::vector<int64_t>{3, 8, 8}));
  // The local-anomaly score: the largest cell, one per image.
  auto two = torch::cat({maps, torch::zeros({1, 4, 8, 8})});
  two[1][3][5][6] = 0.8;  // h2 alone in a cell where all four are defined: 0.8 / 4
  const auto peak = anomaly_peak(two);
  ASSERT_EQ(peak.sizes(), (std::vector<int64_t>{2}));
  EXPECT_FLOAT_EQ(peak[0].item<float>(), m.max().item<float>());
  EXPECT_FLOAT_EQ(peak[1].item<float>(), 0.2f);
  EXPECT_THROW(anomaly_peak(torch::zeros({1, 3, 8, 8})), c10::Error);
}

TEST(ModelShapes, ClassifierSeesOnlyConstrainedCells) {
  // Two sets of maps that differ only in cells no loss constrains (valid_mask(G, 2) == 0): the
  // default classifier cannot tell them apart; with classifier_cells=all it can.
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  SolaHead valid(SolaHeadOptions(16));
  torch::manual_seed(3);
  SolaHead all(SolaHeadOptions(16).classifier_valid_cells(false));
  auto a = torch::rand({2, 4, 8, 8});
  auto invalid = 1 - valid_mask(8, 2);
  auto b = a + invalid.unsqueeze(0) * torch::rand({2, 4, 8, 8});
  ASSERT_GT((a - b).abs().sum().item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(valid->classify(a), valid->classify(b)));
  EXPECT_FALSE(torch::allclose(all->classify(a), all->classify(b)));
  // And a change in a constrained cell does reach the logit.
  auto c = a.clone();
  c[0][0][4][5] += 0.9;
  EXPECT_FALSE(torch::allclose(valid->classify(a), valid->classify(c)));
}

TEST(ModelShapes, HeadComputesInFullPrecisionUnderAutocast) {
  auto model = build_model(ModelOptions{}.input_size(64).grid(8));
  model->eval();
  torch::NoGradGuard no_grad;
  compat::AutocastGuard autocast(c10::DeviceType::CPU, true, c10::kBFloat16);
  auto out = model->forward(torch::rand({2, 3, 64, 64}));
  EXPECT_EQ(out.logit.scalar_type(), torch::kFloat);
  EXPECT_EQ(out.second_order_logits.scalar_type(), torch::kFloat);
  EXPECT_EQ(out.first_order_logits.scalar_type(), torch::kFloat);
}

}  // namespace
}  // namespace sola
