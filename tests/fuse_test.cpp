// Inference preparation: conv-BN folding and channels-last weights leave every output unchanged.
// (Core library only; that detect::Detector prepares its model is tested in detect_test.cpp.)
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/compat.h"
#include "core/error.h"
#include "model/fuse.h"
#include "model/resnet.h"
#include "model/sola_net.h"
#include "test_util.h"

namespace sola {
namespace {

namespace nn = torch::nn;

/// Every batch norm gets non-trivial statistics and affine parameters (a fresh model's are the
/// identity, which would hide a wrong fold).
void randomize_batchnorms(DetectorImpl& model) {
  torch::NoGradGuard no_grad;
  for (const auto& m : model.modules(false)) {
    if (auto* bn = m->as<nn::BatchNorm2dImpl>()) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.3, 2.0);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.3, 0.3);
    }
  }
}

Detector random_model(const ModelOptions& options, uint64_t seed) {
  torch::manual_seed(seed);
  auto model = build_model(options);
  randomize_batchnorms(*model);
  model->eval();
  return model;
}

int64_t count_batchnorms(const DetectorImpl& model) {
  int64_t n = 0;
  for (const auto& m : model.modules(false)) n += m->as<nn::BatchNorm2dImpl>() != nullptr;
  return n;
}

/// Largest absolute difference of two optional tensors (0 when both are undefined), relative to
/// 1 + the largest magnitude of `a` (random ResNet50 features reach the hundreds).
double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (!a.defined() && !b.defined()) return 0;
  EXPECT_TRUE(a.defined() && b.defined());
  EXPECT_EQ(a.sizes(), b.sizes());
  const auto fa = a.to(torch::kFloat), fb = b.to(torch::kFloat);
  return (fa - fb).abs().max().item<double>() / (1 + fa.abs().max().item<double>());
}

void expect_same_outputs(const ModelOutput& a, const ModelOutput& b, double tolerance) {
  EXPECT_LT(max_diff(a.logit, b.logit), tolerance);
  EXPECT_LT(max_diff(a.features, b.features), tolerance);
  EXPECT_LT(max_diff(a.first_order, b.first_order), tolerance);
  EXPECT_LT(max_diff(a.second_order, b.second_order), tolerance);
  EXPECT_LT(max_diff(a.first_order_logits, b.first_order_logits), tolerance);
  EXPECT_LT(max_diff(a.second_order_logits, b.second_order_logits), tolerance);
}

ModelOutput run(DetectorImpl& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return model.forward(x);
}

TEST(Fuse, FoldBatchnormEqualsConvThenBatchnorm) {
  torch::manual_seed(1);
  nn::Conv2d conv(nn::Conv2dOptions(5, 7, 3).stride(2).padding(1).bias(false));
  nn::BatchNorm2d bn(7);
  {
    torch::NoGradGuard no_grad;
    bn->running_mean.uniform_(-1, 1);
    bn->running_var.uniform_(0.2, 3);
    bn->weight.uniform_(-2, 2);
    bn->bias.uniform_(-1, 1);
  }
  bn->eval();
  auto x = torch::randn({3, 5, 11, 11});
  auto [w, b] = fold_batchnorm(conv->weight, conv->bias, *bn);
  EXPECT_EQ(w.sizes(), conv->weight.sizes());
  EXPECT_EQ(b.sizes(), std::vector<int64_t>{7});
  torch::NoGradGuard no_grad;
  auto expected = bn(conv(x));
  auto folded = torch::conv2d(x, w, b, /*stride=*/2, /*padding=*/1);
  EXPECT_LT((expected - folded).abs().max().item<double>(), 1e-5);

  nn::BatchNorm2d no_stats(nn::BatchNorm2dOptions(7).track_running_stats(false));
  EXPECT_NE(test::error_message<ConfigError>([&] { fold_batchnorm(conv->weight, conv->bias, *no_stats); })
                .find("running statistics"),
            std::string::npos);
}

TEST(Fuse, PreparedSolaGivesTheSameOutputs) {
  auto model = random_model(ModelOptions{}.input_size(64).grid(8), 11);
  torch::manual_seed(12);
  auto x = torch::rand({2, 3, 64, 64});
  const auto before = run(*model, x);
  const int64_t bns = count_batchnorms(*model);
  EXPECT_FALSE(is_folded(*model));

  prepare_for_inference(*model);
  EXPECT_TRUE(is_folded(*model));
  // Only the two stems' bn1 remain (per trunk the 6 blocks' 12 BNs and 2 downsample BNs are folded).
  EXPECT_EQ(bns, 2 + 2 * (12 + 2));
  EXPECT_EQ(count_batchnorms(*model), 2);
  for (const auto& p : model->parameters()) {
    if (p.dim() == 4) {
      EXPECT_TRUE(p.is_contiguous(c10::MemoryFormat::ChannelsLast));
    }
  }

  const auto after = run(*model, x);
  expect_same_outputs(before, after, 1e-4);
  // Channels-last input: the same outputs.
  const auto nhwc = run(*model, x.contiguous(c10::MemoryFormat::ChannelsLast));
  expect_same_outputs(before, nhwc, 1e-4);
}

TEST(Fuse, PreparingTwiceChangesNothing) {
  auto model = random_model(ModelOptions{}.input_size(64).grid(8), 21);
  auto x = torch::rand({1, 3, 64, 64});
  prepare_for_inference(*model);
  const auto once = run(*model, x);
  const auto names = model->named_parameters().keys();
  prepare_for_inference(*model);
  EXPECT_EQ(model->named_parameters().keys(), names);
  const auto twice = run(*model, x);
  EXPECT_EQ(max_diff(once.logit, twice.logit), 0.0);
  EXPECT_EQ(max_diff(once.second_order, twice.second_order), 0.0);
}

TEST(Fuse, FoldsBottlenecksConcatFusionAndTheBaseline) {
  for (const auto& options : {ModelOptions{}.backbone("resnet50").dcam_fusion("concat").input_size(32).grid(4),
                              ModelOptions{}.arch("resnet").input_size(32)}) {
    auto model = random_model(options, 31);
    auto x = torch::rand({2, 3, 32, 32});
    const auto before = run(*model, x);
    prepare_for_inference(*model);
    EXPECT_TRUE(is_folded(*model)) << options.backbone();
    expect_same_outputs(before, run(*model, x), 1e-4);
  }
}

TEST(Fuse, EachLeverAloneKeepsTheOutputs) {
  for (const auto& lever : {InferenceOptions{true, false}, InferenceOptions{false, true}}) {
    auto model = random_model(ModelOptions{}.input_size(32).grid(4), 41);
    auto x = torch::rand({2, 3, 32, 32});
    const auto before = run(*model, x);
    prepare_for_inference(*model, lever);
    EXPECT_EQ(is_folded(*model), lever.fold_batchnorm);
    expect_same_outputs(before, run(*model, x), 1e-4);
  }
}

TEST(Fuse, GradientsAndAutocastStillWork) {
  auto model = random_model(ModelOptions{}.input_size(32).grid(4), 51);
  auto prepared = random_model(ModelOptions{}.input_size(32).grid(4), 51);  // the same weights
  prepare_for_inference(*prepared);
  auto x = torch::rand({2, 3, 32, 32});
  // Input gradients (what Grad-CAM needs from the graph) agree.
  auto grad_of = [&](DetectorImpl& m) {
    auto xi = x.clone().requires_grad_(true);
    auto out = m.forward(xi);
    return torch::autograd::grad({out.logit.sum()}, {xi})[0];
  };
  const auto g0 = grad_of(*model), g1 = grad_of(*prepared);
  EXPECT_LT(max_diff(g0, g1), 1e-4);
  // bf16 autocast runs on the prepared model and stays near fp32.
  torch::NoGradGuard no_grad;
  const auto fp32 = prepared->forward(x).logit;
  torch::Tensor bf16;
  {
    compat::AutocastGuard autocast(c10::DeviceType::CPU, true);
    bf16 = prepared->forward(x).logit.to(torch::kFloat);
  }
  EXPECT_TRUE(torch::isfinite(bf16).all().item<bool>());
  EXPECT_LT(max_diff(fp32, bf16), 0.05);
}

TEST(Fuse, Bf16WeightCopiesGiveWhatAutocastComputes) {
  auto with_copies = random_model(ModelOptions{}.input_size(32).grid(4), 71);
  auto without = random_model(ModelOptions{}.input_size(32).grid(4), 71);
  prepare_for_inference(*with_copies);
  prepare_for_inference(*without, InferenceOptions{true, true, false});
  int64_t copies = 0;
  for (const auto& b : with_copies->named_buffers()) copies += b.key().find("weight_bf16") != std::string::npos;
  EXPECT_EQ(copies, 2 * (6 * 2 + 2));  // every folded convolution of both trunks
  for (const auto& b : without->named_buffers()) EXPECT_EQ(b.key().find("_bf16"), std::string::npos) << b.key();
  auto x = torch::rand({2, 3, 32, 32});
  torch::NoGradGuard no_grad;
  compat::AutocastGuard autocast(c10::DeviceType::CPU, true);
  const auto a = with_copies->forward(x), b = without->forward(x);
  EXPECT_EQ(a.logit.scalar_type(), b.logit.scalar_type());
  expect_same_outputs(a, b, 1e-6);
}

}  // namespace
}  // namespace sola
