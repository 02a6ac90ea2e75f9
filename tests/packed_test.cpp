// Packed bundles: sola pack's file read back by PackedDataset (labels, pixels, patch scores), the
// size limit in whole groups, seeded augmentation, and a training run from bundles.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <set>

#include <algorithm>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/pack.h"
#include "data/packed.h"
#include "model/checkpoint.h"
#include "train/packed_run.h"
#include "test_data.h"
#include "test_util.h"

namespace sola {
namespace {

struct Bundle : ::testing::Test {
  test::TempDir dir;
  data::Manifest manifest;
  void SetUp() override { manifest = data::read_manifest(test::make_tiny_dataset(dir.path.string(), 6, 32)); }
  std::string pack(const std::string& name, data::PackOptions o) {
    const std::string out = dir.file(name);
    data::pack_manifest(manifest, out, o, 2);
    return out;
  }
  static data::PackOptions same_size() {
    data::PackOptions o;
    o.image_size = 32;
    o.mask_size = 32;
    return o;
  }
  /// Augmentation with every stage off, to switch on one photometric stage.
  static data::AugmentOptions photometric_only() {
    data::AugmentOptions o;
    o.hflip = o.color_jitter = o.jpeg = o.random_resized_crop = false;
    return o;
  }
  /// Checks a photometric stage of the packed pipeline against OpenCV: each sample, augmented under
  /// `only` (one stage on), is want(plan, unaugmented image as 32x32 float HWC) where want returns an
  /// image and the unaugmented image where it returns nothing; the patch scores never change. The
  /// stage must fire on some samples and not on all.
  void check_image_filter(const data::AugmentOptions& only,
                          const std::function<std::optional<cv::Mat>(const data::AugmentPlan&, const cv::Mat&)>& want,
                          double tolerance = 1e-5) {
    const auto data = std::make_shared<const data::PackedData>(data::read_packed(pack("filter.solapack", same_size())));
    const auto base = data::PackedDatasetOptions().input_size(32).grid(4).seed(7);
    data::PackedDataset filtered(data, data::PackedDatasetOptions(base).augment(true).augment_options(only));
    data::PackedDataset plain(data, base);
    int fired = 0;
    for (size_t i = 0; i < filtered.size(); ++i) {
      std::mt19937 rng(static_cast<uint32_t>(data::seed_mix(data::seed_mix(7, 0), i)));
      const auto plan = data::plan_augment(32, 32, only, rng);
      const auto b = filtered.get(i, 0), p = plain.get(i, 0);
      EXPECT_TRUE(torch::equal(b.patch_scores, p.patch_scores)) << i;
      const torch::Tensor hwc = p.image.permute({1, 2, 0}).contiguous();
      const std::optional<cv::Mat> expected = want(plan, cv::Mat(32, 32, CV_32FC3, hwc.data_ptr<float>()));
      if (!expected) {
        EXPECT_TRUE(torch::equal(b.image, p.image)) << i;
        continue;
      }
      ++fired;
      const torch::Tensor got = b.image.permute({1, 2, 0}).contiguous();
      EXPECT_LE(cv::norm(cv::Mat(32, 32, CV_32FC3, got.data_ptr<float>()), *expected, cv::NORM_INF), tolerance) << i;
    }
    EXPECT_GT(fired, 0);
    EXPECT_LT(fired, static_cast<int>(filtered.size()));
  }
};

TEST_F(Bundle, RoundTripGivesTheManifestsSamplesPixelsAndPatchScores) {
  const auto data = std::make_shared<const data::PackedData>(data::read_packed(pack("all.solapack", same_size())));
  ASSERT_EQ(data->manifest.samples.size(), manifest.samples.size());
  EXPECT_EQ(data->image_size, 32);
  EXPECT_EQ(data->info.at("reencoded").get<int>(), 0);  // PNGs of the right size keep their bytes
  EXPECT_EQ(data->info.at("left_out_images").get<int>(), 0);
  // The same samples (in a seeded group order) with their labels, groups, methods and masks.
  std::map<std::string, const data::Sample*> by_path;
  for (const auto& s : manifest.samples) by_path[s.path] = &s;
  const auto opts = data::DatasetOptions().input_size(32).grid(4);
  data::FaceDataset files(manifest, opts);
  data::PackedDataset packed(data, data::PackedDatasetOptions().input_size(32).grid(4));
  for (size_t i = 0; i < packed.size(); ++i) {
    const auto& p = data->manifest.samples[i];
    ASSERT_TRUE(by_path.count(p.path)) << p.path;
    const auto& m = *by_path[p.path];
    EXPECT_EQ(p.label, m.label);
    EXPECT_EQ(p.group, m.group);
    EXPECT_EQ(p.method, m.method);
    EXPECT_EQ(p.mask.empty(), m.mask.empty());
    // Without augmentation a packed sample is the file's sample: lossless bytes, same scaling.
    const size_t row = static_cast<size_t>(&m - manifest.samples.data());
    const auto a = packed.get(i, 0), b = files.get(row, 0);
    EXPECT_EQ(a.label, b.label);
    EXPECT_EQ(a.has_mask, b.has_mask);
    EXPECT_TRUE(torch::equal(a.image, b.image)) << p.path;
    EXPECT_TRUE(torch::allclose(a.patch_scores, b.patch_scores, 1e-5, 1e-6)) << p.path;
    if (m.label == 1) {
      EXPECT_GT(a.patch_scores.sum().item<float>(), 0.0f);
    } else {
      EXPECT_EQ(a.patch_scores.sum().item<float>(), 0.0f);
    }
  }
}

TEST_F(Bundle, SmallerSizesAreEncodedAgainAndMasksAreAreaMeans) {
  auto o = same_size();
  o.image_size = 16;
  o.mask_size = 8;
  const auto data = data::read_packed(pack("small.solapack", o));
  EXPECT_EQ(data.images.sizes(), (std::vector<int64_t>{12, 16, 16, 3}));
  EXPECT_EQ(data.masks.sizes(), (std::vector<int64_t>{12, 8, 8}));
  EXPECT_EQ(data.info.at("reencoded").get<int>(), 12);
  // A mask of 8 x 8 read at grid 4 gives the same patch means as the full mask (up to 8-bit levels).
  const auto shared = std::make_shared<const data::PackedData>(data);
  data::PackedDataset packed(shared, data::PackedDatasetOptions().input_size(32).grid(4));
  data::FaceDataset files(manifest, data::DatasetOptions().input_size(32).grid(4));
  for (size_t i = 0; i < packed.size(); ++i) {
    const auto& p = shared->manifest.samples[i];
    if (p.label != 1) continue;
    for (size_t row = 0; row < manifest.samples.size(); ++row) {
      if (manifest.samples[row].path != p.path) continue;
      EXPECT_TRUE(torch::allclose(packed.get(i, 0).patch_scores, files.get(row, 0).patch_scores, 0, 0.02)) << p.path;
    }
  }
}

TEST_F(Bundle, MasksOfAnotherSizeAreRefusedAsTrainingRefusesThem) {
  // Before: sola pack stretched them onto the crop, where sola train refuses the same manifest.
  for (const cv::Size bad : {cv::Size(16, 16), cv::Size(32, 20)}) {
    ASSERT_TRUE(cv::imwrite(dir.file("mask_0.png"), cv::Mat(bad, CV_8UC1, cv::Scalar(255))));
    const std::string want = "mask '" + dir.file("mask_0.png") + "' is " + std::to_string(bad.width) + "x" +
                             std::to_string(bad.height) + " but its image is 32x32";
    const std::string msg = test::error_message<IoError>([&] { pack("bad.solapack", same_size()); });
    EXPECT_NE(msg.find(dir.file("manifest.csv") + ":3: " + want), std::string::npos) << msg;
    EXPECT_FALSE(std::filesystem::exists(dir.file("bad.solapack")));
    // The same words as the check of sola train, which it shares.
    const std::string train = test::error_message<Error>([&] { data::check_images(manifest, 1); });
    EXPECT_NE(train.find(dir.file("manifest.csv") + ":3: " + want), std::string::npos) << train;
  }
  // Without masks in the bundle they are not read, so not refused.
  data::PackOptions o = same_size();
  o.masks = false;
  EXPECT_NO_THROW(pack("nomasks.solapack", o));
}

TEST_F(Bundle, AnOutputThatCannotBeWrittenIsRefusedBeforeReadingSayingWhy) {
  // Before: "write failed (disk full?)" after packing everything, or a raw "filesystem error".
  const data::PackOptions o = same_size();
  auto refusal = [&](const std::string& out) {
    return test::error_message<IoError>([&] { data::pack_manifest(manifest, out, o, 1); });
  };
  std::string msg = refusal(dir.path.string());
  EXPECT_NE(msg.find(dir.path.string() + ": is a folder: give the bundle's file name"), std::string::npos) << msg;
  msg = refusal(dir.file("real_0.png") + "/x.solapack");
  EXPECT_NE(msg.find("'" + dir.file("real_0.png") + "' is a file, not a folder"), std::string::npos) << msg;
  msg = refusal(dir.file("none/deeper/x.solapack"));
  EXPECT_NE(msg.find("folder '" + dir.file("none/deeper") + "' does not exist"), std::string::npos) << msg;
  // A folder no file can be created in (root ignores permissions: the CLI runs as nobody then).
  namespace fs = std::filesystem;
  if (::geteuid() == 0 && !fs::exists("/usr/bin/setpriv")) GTEST_SKIP() << "root, and no setpriv to drop it";
  fs::create_directories(dir.path / "ro");
  fs::permissions(dir.path, fs::perms(0755));
  for (const auto& e : fs::directory_iterator(dir.path))
    if (e.is_regular_file()) fs::permissions(e.path(), fs::perms(0644));
  fs::permissions(dir.path / "ro", fs::perms(0555));
  const std::string cmd = std::string(::geteuid() == 0 ? "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups " : "") +
                          SOLA_CLI_PATH + " pack --manifest " + dir.file("manifest.csv") + " --out " +
                          dir.file("ro/x.solapack") + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string text;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) text.append(buf, n);
  EXPECT_NE(pclose(pipe), 0) << text;
  EXPECT_NE(text.find(dir.file("ro/x.solapack") + ": cannot write the bundle: permission denied"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("disk full"), std::string::npos) << text;
  fs::permissions(dir.path / "ro", fs::perms(0755));
}

TEST_F(Bundle, SizeLimitKeepsWholeGroupsAndCountsWhatIsLeftOut) {
  auto o = same_size();
  const auto full = std::filesystem::file_size(pack("full.solapack", o));
  o.max_mib = static_cast<double>(full) * 0.6 / (1024 * 1024);
  const std::string limited = pack("limited.solapack", o);
  EXPECT_LE(std::filesystem::file_size(limited), full * 0.6);
  const auto data = data::read_packed(limited);
  const size_t kept = data.manifest.samples.size();
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, manifest.samples.size());
  EXPECT_EQ(data.info.at("left_out_images").get<size_t>(), manifest.samples.size() - kept);
  std::map<std::string, int> per_group;
  for (const auto& s : data.manifest.samples) ++per_group[s.group];
  for (const auto& [group, n] : per_group) EXPECT_EQ(n, 2) << group << " split";  // real and fake together
  o.max_mib = 1e-4;
  EXPECT_THROW(pack("none.solapack", o), ConfigError);
}

TEST_F(Bundle, AugmentationIsSeededAndFollowsTheSharedPlan) {
  const auto data = std::make_shared<const data::PackedData>(data::read_packed(pack("aug.solapack", same_size())));
  const auto base = data::PackedDatasetOptions().input_size(32).grid(4).seed(7);
  data::PackedDataset a(data, data::PackedDatasetOptions(base).augment(true)), b(data, data::PackedDatasetOptions(base).augment(true));
  data::PackedDataset plain(data, base);
  int differs_between_epochs = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto x = a.get(i, 3), y = b.get(i, 3);
    EXPECT_TRUE(torch::equal(x.image, y.image));
    EXPECT_TRUE(torch::equal(x.patch_scores, y.patch_scores));
    EXPECT_GE(x.image.min().item<float>(), 0.0f);
    EXPECT_LE(x.image.max().item<float>(), 1.0f);
    differs_between_epochs += !torch::equal(x.image, a.get(i, 4).image);
  }
  EXPECT_GT(differs_between_epochs, 0);
  // Flip alone: where the plan (drawn as FaceDataset draws it) flips, image and patch scores are
  // the plain sample mirrored; elsewhere they are the plain sample.
  data::AugmentOptions flip_only;
  flip_only.color_jitter = flip_only.jpeg = flip_only.random_resized_crop = false;
  data::PackedDataset flips(data, data::PackedDatasetOptions(base).augment(true).augment_options(flip_only));
  int flipped = 0;
  for (size_t i = 0; i < flips.size(); ++i) {
    std::mt19937 rng(static_cast<uint32_t>(data::seed_mix(data::seed_mix(7, 0), i)));
    const bool flip = data::plan_augment(32, 32, flip_only, rng).flip;
    flipped += flip;
    const auto f = flips.get(i, 0), p = plain.get(i, 0);
    const auto want_image = flip ? p.image.flip({2}) : p.image;
    const auto want_scores = flip ? p.patch_scores.flip({1}) : p.patch_scores;
    EXPECT_TRUE(torch::allclose(f.image, want_image, 0, 1e-5)) << i;
    EXPECT_TRUE(torch::allclose(f.patch_scores, want_scores, 0, 1e-5)) << i;
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, static_cast<int>(flips.size()));
}

TEST_F(Bundle, BlurFollowsThePlanAsOpenCVsGaussian) {
  data::AugmentOptions blur_only = photometric_only();
  blur_only.blur = true;
  blur_only.blur_p = 0.5;
  check_image_filter(blur_only, [](const data::AugmentPlan& plan, const cv::Mat& in) -> std::optional<cv::Mat> {
    if (!plan.blur) return std::nullopt;
    const int k = data::blur_kernel_size(plan.blur_sigma);
    cv::Mat want;
    cv::GaussianBlur(in, want, cv::Size(k, k), plan.blur_sigma, plan.blur_sigma, cv::BORDER_REFLECT_101);
    return want;
  });
}

TEST_F(Bundle, SharpeningFollowsThePlanAsAnUnsharpMask) {
  data::AugmentOptions sharpen_only = photometric_only();
  sharpen_only.sharpen = true;
  sharpen_only.sharpen_p = 0.5;
  check_image_filter(sharpen_only, [](const data::AugmentPlan& plan, const cv::Mat& in) -> std::optional<cv::Mat> {
    if (!plan.sharpen) return std::nullopt;
    const int k = data::blur_kernel_size(plan.sharpen_sigma);
    cv::Mat smooth, want;
    cv::GaussianBlur(in, smooth, cv::Size(k, k), plan.sharpen_sigma, plan.sharpen_sigma, cv::BORDER_REFLECT_101);
    cv::Mat sharp = in * (1.0 + plan.sharpen_amount) - smooth * plan.sharpen_amount;
    cv::min(cv::max(sharp, 0.0), 1.0, want);
    return want;
  });
}

TEST_F(Bundle, DownscaleFollowsThePlanAsOpenCVsAreaThenLinearResize) {
  data::AugmentOptions downscale_only = photometric_only();
  downscale_only.downscale = true;
  downscale_only.downscale_p = 0.5;
  check_image_filter(downscale_only, [](const data::AugmentPlan& plan, const cv::Mat& in) -> std::optional<cv::Mat> {
    if (!plan.downscale) return std::nullopt;
    const int side = data::downscaled_side(in.cols, plan.downscale_factor);
    if (side == in.cols) return in.clone();
    cv::Mat small, want;
    cv::resize(in, small, cv::Size(side, side), 0, 0, cv::INTER_AREA);
    cv::resize(small, want, in.size(), 0, 0, cv::INTER_LINEAR);
    cv::min(cv::max(want, 0.0), 1.0, want);
    return want;
  }, 1e-4);
}

TEST_F(Bundle, NoiseFollowsThePlanWithTheSharedField) {
  data::AugmentOptions noise_only = photometric_only();
  noise_only.noise = true;
  noise_only.noise_p = 0.5;
  check_image_filter(noise_only, [](const data::AugmentPlan& plan, const cv::Mat& in) -> std::optional<cv::Mat> {
    if (!plan.noise) return std::nullopt;
    const auto field = data::noise_field(plan.noise_seed, static_cast<size_t>(in.total()) * 3);
    cv::Mat want = in.clone();  // RGB float HWC, as the field is laid out
    for (int y = 0; y < in.rows; ++y)
      for (int x = 0; x < in.cols; ++x)
        for (int c = 0; c < 3; ++c) {
          float& v = want.at<cv::Vec3f>(y, x)[c];
          v = std::clamp(v + static_cast<float>(plan.noise_std / 255.0) * field[(static_cast<size_t>(y) * in.cols + x) * 3 + c],
                         0.0f, 1.0f);
        }
    return want;
  });
}

TEST_F(Bundle, PackedRunTrainsValidatesAndExportsAFloat16Model) {
  const std::string train = pack("train.solapack", same_size());
  auto vo = same_size();
  vo.masks = false;
  const std::string val = pack("val.solapack", vo);
  PackedRunOptions o;
  o.train_bundle = train;
  o.val_bundle = val;
  o.out_dir = dir.file("run");
  o.export_path = dir.file("model.pt");
  o.model = ModelOptions{}.input_size(32).grid(4).anomaly_channels(8).classifier_channels(8);
  o.train.epochs(2).batch_size(4).workers(2).log_every(1);
  const auto summary = run_packed_training(o);
  EXPECT_EQ(summary.at("epochs").get<int>(), 2);
  EXPECT_EQ(summary.at("steps").get<int>(), 6);  // 12 images, batch 4
  EXPECT_EQ(summary.at("train_images").get<int>(), 12);
  EXPECT_TRUE(summary.contains("best_val_frame_auc"));
  for (const char* key : {"load_seconds", "train_seconds", "validate_seconds", "data_wait_share"})
    EXPECT_GE(summary.at(key).get<double>(), 0.0) << key;
  for (const char* f : {"config.json", "last.pt", "best.pt", "metrics.jsonl"})
    EXPECT_TRUE(std::filesystem::exists(o.out_dir + "/" + f)) << f;
  EXPECT_FALSE(std::filesystem::exists(o.out_dir + "/curves.png"));  // no plotter in a packed run
  const auto loaded = load_model(o.export_path);
  EXPECT_EQ(loaded.options.input_size(), 32);
  EXPECT_LT(std::filesystem::file_size(o.export_path), std::filesystem::file_size(o.out_dir + "/best.pt"));
  if (!torch::cuda::is_available()) {  // asked for a GPU it cannot have: refused, naming the key
    auto gpu = o;
    gpu.train.device("cuda");
    gpu.out_dir = dir.file("gpu");
    const auto msg = test::error_message<ConfigError>([&] { run_packed_training(gpu); });
    EXPECT_NE(msg.find("device=cuda"), std::string::npos) << msg;
  }
  // Pseudo-fakes need OpenCV's landmarks: refused, not ignored.
  o.train.pseudo_fakes(true);
  EXPECT_THROW(run_packed_training(o), ConfigError);
}

}  // namespace
}  // namespace sola
