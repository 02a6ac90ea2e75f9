// Parameter counts per configuration (checked against torchvision's ResNets and the formulas of
// each module), gradients reaching every parameter, and save/load round trips.
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "model/flops.h"
#include "model/sola_net.h"
#include "test_util.h"

namespace sola {
namespace {

// torchvision 0.14: conv1..layer3 of resnet18/50/101, and the full resnet18 with a 1-logit fc.
constexpr int64_t kTrunk18 = 2782784, kTrunk50 = 8543296, kTrunk101 = 27535424;
constexpr int64_t kResNet18OneLogit = 11689512 - 512 * 1000 - 1000 + 512 + 1;

int64_t component(const ParameterCount& p, const std::string& name) {
  for (const auto& [n, c] : p.by_component)
    if (n == name) return c;
  return 0;
}

// Channel attention: two bias-free 1x1 convs C -> C/r -> C.
int64_t ca(int64_t c, int64_t r = 16) { return 2 * c * (c / r); }
// LEM: theta, f (C -> C/8, bias), g (C -> C, bias), lambda.
int64_t lem(int64_t c) { return 2 * (c * (c / 8) + c / 8) + c * c + c + 1; }
// LEM on one-pixel patches: g and lambda only.
int64_t lem1(int64_t c) { return c * c + c + 1; }
// SOLA head: 4 delta (C*K*2 + K), 4 phi (K*2 + 1), classifier conv 4->64 3x3, fc 64->1.
int64_t head(int64_t c, int64_t k = 64) { return 4 * (c * k * 2 + k) + 4 * (k * 2 + 1) + (4 * 64 * 9 + 64) + 65; }

TEST(ModelParams, DefaultSolaR18) {
  auto p = count_parameters(*build_model(ModelOptions{}));
  EXPECT_EQ(component(p, "rgb"), kTrunk18);
  EXPECT_EQ(component(p, "noise"), kTrunk18);
  EXPECT_EQ(component(p, "asrm"), 3 * 3 * 5 * 5);
  EXPECT_EQ(component(p, "dcam"), 3 * (ca(64) + ca(128) + ca(256)));
  EXPECT_EQ(component(p, "lem"), lem(64) + lem(128) + lem1(256));  // stage 3's 1-pixel patches too
  EXPECT_EQ(component(p, "head"), head(256));
  EXPECT_EQ(p.total, 5823961);
  // Model files written before stage 3 had its LEM (lem_pixel_patches=false) build without it.
  EXPECT_EQ(count_parameters(*build_model(ModelOptions{}.lem_pixel_patches(false))).total, 5758168);
  EXPECT_EQ(p.total, p.trainable);
}

TEST(ModelParams, Variants) {
  auto count = [](const ModelOptions& o) { return count_parameters(*build_model(o)); };
  const int64_t dcam18 = 3 * (ca(64) + ca(128) + ca(256));
  const int64_t base = 2 * kTrunk18 + 225 + dcam18 + head(256);
  EXPECT_EQ(count(ModelOptions{}.grid(8)).total, base + lem(64) + lem(128) + lem(256));
  EXPECT_EQ(count(ModelOptions{}.grid(32)).total, base + lem(64) + lem1(128) + lem1(256));
  EXPECT_EQ(count(ModelOptions{}.grid(32).lem_pixel_patches(false)).total, base + lem(64));
  EXPECT_EQ(count(ModelOptions{}.lem(false)).total, base);
  EXPECT_EQ(count(ModelOptions{}.noise("none")).total,
            kTrunk18 + 2 * (ca(64) + ca(128) + ca(256)) + lem(64) + lem(128) + lem1(256) + head(256));
  auto srm = count(ModelOptions{}.noise("srm"));
  EXPECT_EQ(srm.total, base - 225 + lem(64) + lem(128) + lem1(256));  // fixed SRM is a buffer
  EXPECT_EQ(count(ModelOptions{}.dcam(false)).total, base - dcam18 + lem(64) + lem(128) + lem1(256));
  EXPECT_EQ(count(ModelOptions{}.dcam_fusion("concat")).total,
            base + lem(64) + lem(128) + lem1(256) + (2 * 64 * 64 + 2 * 64) + (2 * 128 * 128 + 2 * 128) + (2 * 256 * 256 + 2 * 256));
  EXPECT_EQ(count(ModelOptions{}.arch("resnet")).total, kResNet18OneLogit);
  const auto r50 = count(ModelOptions{}.backbone("resnet50"));
  EXPECT_EQ(component(r50, "rgb"), kTrunk50);
  EXPECT_EQ(component(r50, "head"), head(1024));
  EXPECT_EQ(r50.total, 2 * kTrunk50 + 225 + 3 * (ca(256) + ca(512) + ca(1024)) + lem(256) + lem(512) + lem1(1024) + head(1024));
  EXPECT_EQ(component(count(ModelOptions{}.backbone("resnet101")), "noise"), kTrunk101);
}

TEST(ModelParams, EveryParameterReceivesAGradient) {
  for (const auto& opts : {ModelOptions{}, ModelOptions{}.arch("resnet").input_size(64),
                           ModelOptions{}.input_size(128).grid(8).dcam_fusion("concat")}) {
    torch::manual_seed(2);
    auto model = build_model(opts);
    {
      // lambda starts at 0, which zeroes the gradient of theta, f and g; open it for this check.
      torch::NoGradGuard g;
      for (auto& p : model->named_parameters())
        if (p.key().find("lambda") != std::string::npos) p.value().fill_(0.5);
    }
    model->train();
    auto out = model->forward(torch::rand({2, 3, opts.input_size(), opts.input_size()}));
    auto loss = out.logit.sum();
    if (out.has_maps()) loss = loss + out.first_order.mean() + out.second_order.mean();
    loss.backward();
    for (const auto& p : model->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << to_json(opts).dump() << ": no gradient for " << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << "zero gradient for " << p.key();
    }
  }
}

TEST(ModelParams, SaveLoadRoundTripReproducesOutputsExactly) {
  test::TempDir dir;
  for (const auto& opts : {ModelOptions{}.input_size(128), ModelOptions{}.arch("resnet").input_size(64)}) {
    torch::manual_seed(7);
    auto model = build_model(opts);
    // Move BN statistics and ASRM weights away from their initial values.
    model->train();
    model->forward(torch::rand({4, 3, opts.input_size(), opts.input_size()}));
    model->eval();
    torch::NoGradGuard no_grad;
    auto x = torch::rand({2, 3, opts.input_size(), opts.input_size()});
    auto before = model->forward(x);
    const std::string path = dir.file("m.pt");
    save_model(path, *model, {{"note", "test"}});
    torch::manual_seed(99);
    auto loaded = load_model(path);
    EXPECT_EQ(to_json(loaded.options), to_json(opts));
    EXPECT_EQ(loaded.metadata.at("note"), "test");
    loaded.model->eval();
    auto after = loaded.model->forward(x);
    EXPECT_TRUE(torch::equal(before.logit, after.logit));
    if (before.has_maps()) {
      EXPECT_TRUE(torch::equal(before.first_order, after.first_order));
      EXPECT_TRUE(torch::equal(before.second_order, after.second_order));
    }
  }
}

TEST(ModelParams, BadModelFilesAreRefusedWithThePath) {
  test::TempDir dir;
  auto model = build_model(ModelOptions{}.input_size(64));
  const std::string good = dir.file("good.pt");
  save_model(good, *model);
  // Truncated copy.
  const std::string cut = dir.file("cut.pt");
  std::filesystem::copy_file(good, cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(good) / 2);
  try {
    load_model(cut);
    FAIL() << "truncated file loaded";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(cut), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_model(dir.file("missing.pt")), IoError);
  std::ofstream(dir.file("text.pt")) << "not a model";
  EXPECT_THROW(load_model(dir.file("text.pt")), IoError);
  EXPECT_NO_THROW(load_model(good));
}

TEST(ModelFlops, CountsConvolutionsAndMatmulsExactly) {
  torch::NoGradGuard no_grad;
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1));
  auto fc = torch::nn::Linear(10, 4);
  auto count = count_macs([&] {
    conv(torch::rand({2, 3, 16, 16}));
    fc(torch::rand({5, 10}));
    torch::bmm(torch::rand({3, 4, 6}), torch::rand({3, 6, 7}));
  });
  EXPECT_EQ(count.macs_by_op["aten::convolution"], 2 * 8 * 16 * 16 * 3 * 9);
  EXPECT_EQ(count.macs, 2 * 8 * 16 * 16 * 3 * 9 + 5 * 10 * 4 + 3 * 4 * 6 * 7);
}

TEST(ModelFlops, VanillaResNet18MatchesPublishedCount) {
  // torchvision's ResNet18 at 224 px: 1.814 GMACs (1000-way fc; ours has one logit).
  auto model = build_model(ModelOptions{}.arch("resnet").input_size(224));
  model->eval();
  torch::NoGradGuard no_grad;
  auto count = count_macs([&] { model->forward(torch::rand({1, 3, 224, 224})); });
  EXPECT_NEAR(count.macs / 1e9, 1.8137, 0.002);
}

}  // namespace
}  // namespace sola
