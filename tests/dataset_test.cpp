// Samples, seeded augmentation and the threaded batch loader.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "data/dataset.h"
#include "test_data.h"
#include "test_util.h"

namespace sola {
namespace {

TEST(Dataset, SampleIsScaledRgbWithPatchScores) {
  test::TempDir dir;
  auto manifest = data::read_manifest(test::make_tiny_dataset(dir.path.string(), 2, 96));
  data::FaceDataset ds(manifest, data::DatasetOptions().input_size(64).grid(8));
  auto real = ds.get(0, 0);
  EXPECT_EQ(real.image.sizes(), (std::vector<int64_t>{3, 64, 64}));
  EXPECT_GE(real.image.min().item<float>(), 0.0f);
  EXPECT_LE(real.image.max().item<float>(), 1.0f);
  EXPECT_FALSE(real.has_mask);
  EXPECT_EQ(real.patch_scores.sum().item<float>(), 0.0f);
  auto fake = ds.get(1, 0);
  EXPECT_TRUE(fake.has_mask);
  EXPECT_EQ(fake.label, 1);
  // The square covers some patches fully (score 1) and some partially.
  EXPECT_FLOAT_EQ(fake.patch_scores.max().item<float>(), 1.0f);
  EXPECT_EQ(fake.patch_scores.min().item<float>(), 0.0f);
  // Pixel order: channel 0 is red. Write a pure blue image and check.
  cv::Mat blue(32, 32, CV_8UC3, cv::Scalar(255, 0, 0));  // BGR
  cv::imwrite(dir.file("blue.png"), blue);
  std::ofstream(dir.file("blue.csv")) << "path,label\nblue.png,0\n";
  data::FaceDataset bds(data::read_manifest(dir.file("blue.csv")), data::DatasetOptions().input_size(32).grid(4));
  auto b = bds.get(0, 0).image;
  EXPECT_FLOAT_EQ(b[2].mean().item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(b[0].mean().item<float>(), 0.0f);
}

TEST(Dataset, PseudoFakeShareReplacesThatShareOfTheFakesWithBlendsOfTheirGroupsReal) {
  test::TempDir dir;
  // 40 pairs, fakes without masks: a replaced fake is the one with a mask (the blend's, exact).
  auto manifest = data::read_manifest(test::make_tiny_dataset(dir.path.string(), 40, 48, 1, /*masks=*/false));
  auto options = data::DatasetOptions().input_size(48).grid(4);
  data::FaceDataset none(manifest, options);
  data::FaceDataset half(manifest, data::DatasetOptions(options).pseudo_fake_share(0.5));
  data::FaceDataset all(manifest, data::DatasetOptions(options).pseudo_fake_share(1.0));
  EXPECT_EQ(half.size(), manifest.samples.size());  // same epoch size and class balance
  int replaced = 0, replaced_next_epoch = 0, changed_between_epochs = 0;
  for (size_t i = 1; i < manifest.samples.size(); i += 2) {  // the fakes (odd rows)
    auto a = half.get(i, 0), b = half.get(i, 1);
    EXPECT_EQ(a.label, 1);
    replaced += a.has_mask;
    replaced_next_epoch += b.has_mask;
    changed_between_epochs += a.has_mask != b.has_mask;
    EXPECT_TRUE(torch::equal(a.image, half.get(i, 0).image)) << "not deterministic";
    auto f = all.get(i, 0);
    EXPECT_TRUE(f.has_mask);
    EXPECT_EQ(f.label, 1);
    EXPECT_GT(f.patch_scores.sum().item<float>(), 0.0f);
    // A blend of its group's real: close to the real (row i - 1), not to the manifest's fake.
    auto real = none.get(i - 1, 0).image, fake = none.get(i, 0).image;
    EXPECT_LT((f.image - real).abs().mean().item<float>(), (f.image - fake).abs().mean().item<float>());
    EXPECT_FALSE(none.get(i, 0).has_mask);
  }
  EXPECT_GT(replaced, 10);
  EXPECT_LT(replaced, 30);
  EXPECT_GT(changed_between_epochs, 0) << "the choice must be made anew each epoch";
  // Reals are never replaced.
  EXPECT_TRUE(torch::equal(all.get(0, 0).image, none.get(0, 0).image));
  EXPECT_THROW(data::FaceDataset(manifest, data::DatasetOptions(options).pseudo_fake_share(1.5)), ConfigError);
}

TEST(Dataset, AugmentationIsSeededPerEpochAndIndex) {
  test::TempDir dir;
  auto manifest = data::read_manifest(test::make_tiny_dataset(dir.path.string(), 2, 64));
  auto opts = data::DatasetOptions().input_size(64).grid(8).augment(true).seed(5);
  data::FaceDataset a(manifest, opts), b(manifest, opts);
  EXPECT_TRUE(torch::equal(a.get(1, 3).image, b.get(1, 3).image));
  EXPECT_TRUE(torch::equal(a.get(1, 3).patch_scores, b.get(1, 3).patch_scores));
  bool differs = false;
  for (uint64_t e = 0; e < 6 && !differs; ++e) differs = !torch::equal(a.get(1, e).image, a.get(1, e + 1).image);
  EXPECT_TRUE(differs) << "augmentation never changed across epochs";
  data::FaceDataset plain(manifest, data::DatasetOptions().input_size(64).grid(8));
  EXPECT_TRUE(torch::equal(plain.get(0, 0).image, plain.get(0, 9).image));
}

TEST(Dataset, PerturbationDegradesEveryImageTheSameWayInEveryEpoch) {
  test::TempDir dir;
  auto manifest = data::read_manifest(test::make_tiny_dataset(dir.path.string(), 2, 64));
  const auto plain_opts = data::DatasetOptions().input_size(64).grid(8);
  data::FaceDataset plain(manifest, plain_opts);
  data::FaceDataset noisy(manifest, data::DatasetOptions(plain_opts).perturb({data::parse_perturbation("noise:20")}));
  for (size_t i = 0; i < plain.size(); ++i) {
    const auto a = plain.get(i, 0), b = noisy.get(i, 0);
    EXPECT_EQ(a.label, b.label);
    EXPECT_TRUE(torch::equal(a.patch_scores, b.patch_scores)) << "a perturbation is image only";
    EXPECT_GT((a.image - b.image).abs().max().item<float>(), 0.05f) << "sample " << i << " not perturbed";
    EXPECT_TRUE(torch::equal(b.image, noisy.get(i, 5).image)) << "the degradation must not change with the epoch";
  }
  EXPECT_FALSE(torch::equal(noisy.get(0, 0).image - plain.get(0, 0).image, noisy.get(1, 0).image - plain.get(1, 0).image))
      << "every image gets its own noise";
}

TEST(Dataset, SourceWeightsSetEachSourcesShareOfTheEpochAndRealOnlySourcesGetBlends) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.file("a"));
  std::filesystem::create_directories(dir.file("b"));
  const std::string a = test::make_tiny_dataset(dir.file("a"), 2, 32);  // 2 real, 2 fake
  test::make_tiny_dataset(dir.file("b"), 6, 32);
  std::ofstream(dir.file("b/reals.csv")) << "path,label\nreal_0.png,0\nreal_1.png,0\nreal_2.png,0\nreal_3.png,0\n"
                                            "real_4.png,0\nreal_5.png,0\n";  // reals only
  const auto manifest = data::read_manifests({a, dir.file("b/reals.csv")});
  const auto options = data::DatasetOptions().input_size(32).grid(4).blend_real_only_sources(true);
  data::FaceDataset ds(manifest, data::DatasetOptions(options).source_weights({3, 1}));
  ASSERT_EQ(ds.size(), 16u);  // 4 of a; 6 reals of b and a pseudo-fake of each (a has fakes: no blends)
  const auto shares = ds.source_shares();
  ASSERT_EQ(shares.size(), 2u);
  EXPECT_EQ(shares[0].pseudo_fakes, 0u);
  EXPECT_EQ(shares[1].pseudo_fakes, 6u);
  EXPECT_DOUBLE_EQ(shares[0].weight, 0.75);
  EXPECT_DOUBLE_EQ(shares[0].passes, 3.0);  // 12 of the epoch's 16 from a source of 4
  for (uint64_t epoch : {0u, 1u}) {
    const auto order = ds.training_order(epoch);
    ASSERT_GE(order.size(), 16u);
    size_t from_a = 0, from_b = 0;
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t i = order[k];
      ASSERT_LT(i, ds.size());
      (i < 4 ? from_a : from_b) += 1;
      if (i >= manifest.samples.size()) {  // a pseudo-fake right after its real
        ASSERT_GT(k, 0u);
        EXPECT_EQ(order[k - 1], i - manifest.samples.size() + 4) << "pair split at " << k;
      }
    }
    EXPECT_EQ(from_a, 12u) << "epoch " << epoch;
    EXPECT_EQ(from_b, 4u) << "epoch " << epoch;
    EXPECT_EQ(order, ds.training_order(epoch)) << "seeded";
  }
  EXPECT_NE(ds.training_order(0), ds.training_order(1));
  // Without weights: every sample once; without blending: b's reals alone.
  EXPECT_EQ(data::FaceDataset(manifest, options).training_order(0).size(), 16u);
  EXPECT_EQ(data::FaceDataset(manifest, data::DatasetOptions().input_size(32).grid(4)).size(), 10u);
  // One weight per manifest, none negative, not all zero.
  for (const std::vector<double>& bad : {std::vector<double>{1}, {1, -1}, {0, 0}}) {
    const std::string msg =
        test::error_message<ConfigError>([&] { data::FaceDataset(manifest, data::DatasetOptions(options).source_weights(bad)); });
    EXPECT_NE(msg.find("source_weights"), std::string::npos) << msg;
  }
}

TEST(Dataset, EpochOrderIsASeededPermutation) {
  auto o1 = data::epoch_order(100, 1, 0, true), o2 = data::epoch_order(100, 1, 0, true);
  EXPECT_EQ(o1, o2);
  EXPECT_NE(o1, data::epoch_order(100, 1, 1, true));
  auto sorted = o1;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, data::epoch_order(100, 1, 0, false));
}

TEST(BatchLoader, DeliversBatchesInOrderFromWorkers) {
  test::TempDir dir;
  auto manifest = data::read_manifest(test::make_tiny_dataset(dir.path.string(), 5, 32));
  data::FaceDataset ds(manifest, data::DatasetOptions().input_size(32).grid(4));
  auto order = data::epoch_order(ds.size(), 3, 0, true);
  data::BatchLoader loader(ds, order, 3, 0, /*workers=*/3, /*prefetch=*/2);
  EXPECT_EQ(loader.num_batches(), 4u);  // 10 samples: 3 + 3 + 3 + 1
  std::vector<size_t> seen;
  while (auto b = loader.next()) {
    EXPECT_EQ(b->images.size(0), static_cast<int64_t>(b->indices.size()));
    for (size_t k = 0; k < b->indices.size(); ++k) {
      EXPECT_EQ(b->labels[k].item<float>(), manifest.samples[b->indices[k]].label);
      EXPECT_TRUE(torch::equal(b->images[k], ds.get(b->indices[k], 0).image));
    }
    seen.insert(seen.end(), b->indices.begin(), b->indices.end());
  }
  EXPECT_EQ(seen, order);
  // Starting at batch 2 with drop_last: only the third full batch.
  data::BatchLoader tail(ds, order, 3, 0, 2, 2, /*first_batch=*/2, /*drop_last=*/true);
  auto b = tail.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->indices, std::vector<size_t>(order.begin() + 6, order.begin() + 9));
  EXPECT_FALSE(tail.next());
}

TEST(BatchLoader, WorkerErrorsReachTheCallerWithTheFile) {
  test::TempDir dir;
  auto path = test::make_tiny_dataset(dir.path.string(), 2, 32);
  auto manifest = data::read_manifest(path);
  std::ofstream(dir.file("real_1.png"), std::ios::trunc) << "broken";  // corrupt after validation
  data::FaceDataset ds(manifest, data::DatasetOptions().input_size(32).grid(4));
  data::BatchLoader loader(ds, data::epoch_order(ds.size(), 0, 0, false), 4, 0, 2);
  try {
    while (loader.next()) {
    }
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("real_1.png"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("manifest.csv:4"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sola
