// Locality of LEM (attention stays inside its patch) and of the SOLA maps (Eq. 7-8 neighbourhoods).
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/lem.h"
#include "model/sola_head.h"

namespace sola {
namespace {

using Cell = std::pair<int64_t, int64_t>;

TEST(LemLocality, ChangingOnePatchLeavesEveryOtherPatchUnchanged) {
  torch::manual_seed(3);
  Lem lem(LemOptions(16).grid(4).key_reduction(4));  // 16x16 map -> 4x4 patches of 4x4 pixels
  {
    torch::NoGradGuard g;
    lem->lambda.fill_(1.0);
  }
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 16, 16, 16});
  auto y = lem(x);
  auto x2 = x.clone();
  x2.index_put_({1, torch::indexing::Slice(), torch::indexing::Slice(4, 8), torch::indexing::Slice(8, 12)},
                torch::randn({16, 4, 4}));  // patch (1, 2) of image 1
  auto diff = (lem(x2) - y).abs().amax(1);  // [B, H, W]
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 16; ++i)
      for (int64_t j = 0; j < 16; ++j) {
        const bool inside = b == 1 && i / 4 == 1 && j / 4 == 2;
        const float d = diff[b][i][j].item<float>();
        if (inside)
          EXPECT_GT(d, 1e-4f) << "changed patch pixel (" << i << "," << j << ")";
        else
          EXPECT_EQ(d, 0.0f) << "pixel (" << b << "," << i << "," << j << ") outside the changed patch moved";
      }
}

TEST(LemLocality, AttentionMixesPixelsWithinAPatch) {
  torch::manual_seed(4);
  Lem lem(LemOptions(8).grid(2).key_reduction(2));
  {
    torch::NoGradGuard g;
    lem->lambda.fill_(1.0);
  }
  auto x = torch::randn({1, 8, 4, 4}, torch::requires_grad());
  lem(x)[0].select(1, 0).select(1, 0).sum().backward();  // output pixel (0,0) of patch (0,0)
  auto g = x.grad().abs().sum(1)[0];
  EXPECT_GT(g[1][1].item<float>(), 0.0f) << "pixel (1,1) is in the same patch and must contribute";
  EXPECT_EQ(g[0][2].item<float>(), 0.0f);
  EXPECT_EQ(g[3][3].item<float>(), 0.0f);
}

TEST(LemLocality, StartsAsIdentity) {
  Lem lem(LemOptions(8).grid(2));
  torch::NoGradGuard no_grad;
  auto x = torch::randn({1, 8, 4, 4});
  EXPECT_TRUE(torch::equal(lem(x), x));
}

/// Cells of `features` whose gradient is non-zero when the given map value at (i, j) is backpropagated.
std::set<Cell> receptive_cells(SolaHead& head, const torch::Tensor& features, int k, int order, int64_t i, int64_t j) {
  auto f = features.detach().clone().requires_grad_(true);
  auto out = head(f);
  auto value = order == 1 ? out.first_order[0][k].select(1, i).select(1, j).sum() : out.second_order[0][k][i][j];
  value.backward();
  auto g = f.grad().abs().sum(1)[0];
  std::set<Cell> cells;
  for (int64_t a = 0; a < g.size(0); ++a)
    for (int64_t b = 0; b < g.size(1); ++b)
      if (g[a][b].item<float>() > 0) cells.insert({a, b});
  return cells;
}

struct LocalityCase {
  int k, order;
  int64_t i, j;
  std::set<Cell> expected;
};

TEST(SolaLocality, MapsSeeExactlyTheirNeighbours) {
  torch::manual_seed(5);
  SolaHead head(SolaHeadOptions(8).anomaly_channels(4).classifier_channels(4));
  auto features = torch::randn({1, 8, 8, 8});
  const std::vector<LocalityCase> cases = {
      // Eq. 7: first order, (i,j) and its neighbour at distance 1 or 2, left (v) or up (h).
      {0, 1, 4, 5, {{4, 5}, {4, 4}}},
      {1, 1, 4, 5, {{4, 5}, {4, 3}}},
      {2, 1, 4, 5, {{4, 5}, {3, 5}}},
      {3, 1, 4, 5, {{4, 5}, {2, 5}}},
      // Eq. 8: second order reads M(i,j) and M(i,j-d), hence F at j, j-d, j-2d.
      {0, 2, 4, 5, {{4, 5}, {4, 4}, {4, 3}}},
      {1, 2, 4, 5, {{4, 5}, {4, 3}, {4, 1}}},
      {2, 2, 4, 5, {{4, 5}, {3, 5}, {2, 5}}},
      {3, 2, 4, 5, {{4, 5}, {2, 5}, {0, 5}}},
      // Borders: the missing neighbours are zero padding, not other cells.
      {0, 1, 3, 0, {{3, 0}}},
      {3, 1, 1, 6, {{1, 6}}},
      {1, 2, 6, 3, {{6, 3}, {6, 1}}},
      {2, 2, 0, 0, {{0, 0}}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(receptive_cells(head, features, c.k, c.order, c.i, c.j), c.expected)
        << kNeighbourNames[c.k] << " order " << c.order << " at (" << c.i << "," << c.j << ")";
  }
}

TEST(SolaLocality, ValidMaskMarksCellsWithTheirNeighbours) {
  auto m1 = valid_mask(8, 1), m2 = valid_mask(8, 2);
  // v1: column 0 has no left neighbour; v2: columns 0-1; h1: row 0; h2: rows 0-1.
  EXPECT_EQ(m1[0].sum().item<float>(), 8 * 7);
  EXPECT_EQ(m1[0][3][0].item<float>(), 0);
  EXPECT_EQ(m1[1][3][1].item<float>(), 0);
  EXPECT_EQ(m1[1][3][2].item<float>(), 1);
  EXPECT_EQ(m1[2][0][5].item<float>(), 0);
  EXPECT_EQ(m1[3][1][5].item<float>(), 0);
  EXPECT_EQ(m1[3][2][5].item<float>(), 1);
  // Second order needs the neighbour's neighbour: 2d cells.
  EXPECT_EQ(m2[0].sum().item<float>(), 8 * 6);
  EXPECT_EQ(m2[1].sum().item<float>(), 8 * 4);
  EXPECT_EQ(m2[3][3][0].item<float>(), 0);
  EXPECT_EQ(m2[3][4][0].item<float>(), 1);
}

}  // namespace
}  // namespace sola
