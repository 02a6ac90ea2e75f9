// Training augmentation: determinism, each stage's effect on image and mask, option validation.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "data/augment.h"

namespace sola {
namespace {

using data::AugmentOptions;
using data::Augmented;
using data::augment;

constexpr int kSide = 224;

/// Options with every stage off.
AugmentOptions none() {
  AugmentOptions o;
  o.hflip = o.color_jitter = o.jpeg = o.random_resized_crop = false;
  return o;
}

/// Whether `a` and `b` have the same size and type and equal bytes (two empty matrices are equal).
bool same(const cv::Mat& a, const cv::Mat& b) {
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0.0;
}

/// A 224x224 BGR image of uniform noise (fixed seed).
cv::Mat noise_image() {
  cv::Mat img(kSide, kSide, CV_8UC3);
  cv::RNG(7).fill(img, cv::RNG::UNIFORM, 0, 256);
  return img;
}

/// A 224x224 BGR image of smoothed noise in mid grey (fixed seed): room for sharpening to roughen
/// it without clamping much.
cv::Mat smooth_image() {
  cv::Mat img(kSide, kSide, CV_8UC3);
  cv::RNG(11).fill(img, cv::RNG::UNIFORM, 64, 192);
  cv::GaussianBlur(img, img, cv::Size(7, 7), 1.5);
  return img;
}

/// A binary mask, 255 inside a rectangle in the left half (not mirror-symmetric), 0 elsewhere.
cv::Mat rect_mask() {
  cv::Mat m = cv::Mat::zeros(kSide, kSide, CV_8UC1);
  m(cv::Rect(30, 60, 50, 100)).setTo(255);
  return m;
}

Augmented run(const cv::Mat& image, const cv::Mat& mask, const AugmentOptions& o, unsigned seed) {
  std::mt19937 rng(seed);
  return augment(image, mask, o, rng);
}

/// High-frequency energy: the mean absolute Laplacian.
double roughness(const cv::Mat& m) {
  cv::Mat lap;
  cv::Laplacian(m, lap, CV_32F);
  return cv::mean(cv::abs(lap))[0];
}

/// Augments `img` (with rect_mask()) under `o` for 8 seeds and checks what a filter of the image alone
/// keeps: size, type, the mask, the mean within `max_mean_shift` levels. Returns each output's
/// roughness over the input's.
std::vector<double> image_only_filter(const cv::Mat& img, const AugmentOptions& o, double max_mean_shift) {
  const cv::Mat mask = rect_mask();
  std::vector<double> ratios;
  for (unsigned seed = 0; seed < 8; ++seed) {
    const Augmented a = run(img, mask, o, seed);
    EXPECT_EQ(a.image.size(), img.size());
    EXPECT_EQ(a.image.type(), CV_8UC3);
    EXPECT_TRUE(same(a.mask, mask)) << "seed " << seed;
    EXPECT_NEAR(cv::mean(a.image)[0], cv::mean(img)[0], max_mean_shift) << "seed " << seed;
    ratios.push_back(roughness(a.image) / roughness(img));
  }
  return ratios;
}

TEST(Augment, SameSeedGivesIdenticalOutput) {
  const cv::Mat img = noise_image(), mask = rect_mask();
  for (unsigned seed = 0; seed < 20; ++seed) {
    const Augmented a = run(img, mask, {}, seed), b = run(img, mask, {}, seed);
    EXPECT_TRUE(same(a.image, b.image)) << "seed " << seed;
    EXPECT_TRUE(same(a.mask, b.mask)) << "seed " << seed;
  }
}

TEST(Augment, DifferentSeedsGiveDifferentOutput) {
  const cv::Mat img = noise_image();
  const Augmented a = run(img, {}, {}, 1), b = run(img, {}, {}, 2);
  EXPECT_FALSE(same(a.image, b.image));
}

TEST(Augment, AllOffReturnsInputUnchangedAndUnshared) {
  const cv::Mat img = noise_image(), mask = rect_mask();
  for (unsigned seed = 0; seed < 10; ++seed) {
    const Augmented a = run(img, mask, none(), seed);
    EXPECT_TRUE(same(a.image, img));
    EXPECT_TRUE(same(a.mask, mask));
    EXPECT_NE(a.image.data, img.data);
    EXPECT_NE(a.mask.data, mask.data);
  }
  EXPECT_TRUE(run(img, {}, none(), 0).mask.empty());
}

TEST(Augment, OutputKeepsSizeAndTypeWithEverythingOn) {
  AugmentOptions o;
  o.crop_p = o.jpeg_p = 1.0;
  // Non-square sizes, one too elongated for any crop of aspect ratio in [3/4, 4/3], and a tiny one.
  for (const cv::Size size : {cv::Size(200, 150), cv::Size(220, 40), cv::Size(3, 2)}) {
    const cv::Rect roi({0, 0}, size);
    const cv::Mat img = noise_image()(roi).clone(), mask = rect_mask()(roi).clone();
    for (unsigned seed = 0; seed < 10; ++seed) {
      const Augmented a = run(img, mask, o, seed);
      EXPECT_EQ(a.image.size(), size);
      EXPECT_EQ(a.image.type(), CV_8UC3);
      EXPECT_EQ(a.mask.size(), size);
      EXPECT_EQ(a.mask.type(), CV_8UC1);
    }
  }
}

TEST(Augment, FlipMirrorsImageAndMaskTogether) {
  AugmentOptions o = none();
  o.hflip = true;
  const cv::Mat img = noise_image(), mask = rect_mask();
  cv::Mat img_flipped, mask_flipped;
  cv::flip(img, img_flipped, 1);
  cv::flip(mask, mask_flipped, 1);
  int flips = 0;
  for (unsigned seed = 0; seed < 64; ++seed) {
    const Augmented a = run(img, mask, o, seed);
    const bool flipped = same(a.image, img_flipped);
    EXPECT_TRUE(flipped || same(a.image, img)) << "seed " << seed;
    EXPECT_TRUE(same(a.mask, flipped ? mask_flipped : mask)) << "seed " << seed;
    flips += flipped;
  }
  // p = 0.5: 64 fixed seeds give some flips and some not.
  EXPECT_GT(flips, 16);
  EXPECT_LT(flips, 48);
}

TEST(Augment, DisabledStageStillAdvancesTheEngine) {
  // The flip decision of a sample must not depend on whether the crop stage before it is on.
  AugmentOptions flip_only = none();
  flip_only.hflip = true;
  AugmentOptions flip_and_idle_crop = flip_only;
  flip_and_idle_crop.random_resized_crop = true;
  flip_and_idle_crop.crop_p = 0.0;
  const cv::Mat img = noise_image(), mask = rect_mask();
  for (unsigned seed = 0; seed < 32; ++seed) {
    const Augmented a = run(img, mask, flip_only, seed);
    const Augmented b = run(img, mask, flip_and_idle_crop, seed);
    EXPECT_TRUE(same(a.mask, b.mask)) << "seed " << seed;
  }
}

TEST(Augment, CropMovesMaskWithImage) {
  // Channel 0 holds the x coordinate, channel 1 the y coordinate; the mask marks a rectangle.
  cv::Mat img(kSide, kSide, CV_8UC3);
  for (int y = 0; y < kSide; ++y) {
    for (int x = 0; x < kSide; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(x, y, 128);
  }
  const cv::Rect marked(90, 60, 40, 100);
  cv::Mat mask = cv::Mat::zeros(kSide, kSide, CV_8UC1);
  mask(marked).setTo(255);

  AugmentOptions o = none();
  o.random_resized_crop = true;
  o.crop_p = 1.0;
  o.crop_scale_min = 0.5;
  int cropped = 0;
  for (unsigned seed = 0; seed < 30; ++seed) {
    const Augmented a = run(img, mask, o, seed);
    ASSERT_EQ(a.image.size(), img.size());
    ASSERT_EQ(a.mask.size(), img.size());
    for (int y = 0; y < kSide; ++y) {
      for (int x = 0; x < kSide; ++x) {
        const cv::Vec3b px = a.image.at<cv::Vec3b>(y, x);
        const uchar m = a.mask.at<uchar>(y, x);
        ASSERT_TRUE(m == 0 || m == 255) << "mask value " << int(m) << " is not from the input";
        // The source pixel read from the image must agree with the mask within one pixel.
        const bool inside = px[0] >= marked.x + 1 && px[0] <= marked.br().x - 2 &&
                            px[1] >= marked.y + 1 && px[1] <= marked.br().y - 2;
        const bool outside = px[0] <= marked.x - 2 || px[0] >= marked.br().x + 1 ||
                             px[1] <= marked.y - 2 || px[1] >= marked.br().y + 1;
        if (inside) {
          ASSERT_EQ(m, 255) << "seed " << seed << " at " << x << "," << y;
        }
        if (outside) {
          ASSERT_EQ(m, 0) << "seed " << seed << " at " << x << "," << y;
        }
      }
    }
    // The crop's extent, read off the coordinate ramps, obeys the area and aspect-ratio ranges.
    const int w = a.image.at<cv::Vec3b>(0, kSide - 1)[0] - a.image.at<cv::Vec3b>(0, 0)[0] + 1;
    const int h = a.image.at<cv::Vec3b>(kSide - 1, 0)[1] - a.image.at<cv::Vec3b>(0, 0)[1] + 1;
    const double area = double(w) * h / (kSide * kSide), ratio = double(w) / h;
    EXPECT_GE(area, o.crop_scale_min - 0.02) << "seed " << seed;
    EXPECT_LE(area, 1.0) << "seed " << seed;
    EXPECT_GE(ratio, 0.75 - 0.02) << "seed " << seed;
    EXPECT_LE(ratio, 4.0 / 3.0 + 0.02) << "seed " << seed;
    cropped += area < 0.99;
  }
  EXPECT_GT(cropped, 20);
}

TEST(Augment, JpegChangesPixelsNotSizeNorMask) {
  AugmentOptions o = none();
  o.jpeg = true;
  o.jpeg_p = 1.0;
  const cv::Mat img = noise_image(), mask = rect_mask();
  for (unsigned seed = 0; seed < 5; ++seed) {
    const Augmented a = run(img, mask, o, seed);
    EXPECT_EQ(a.image.size(), img.size());
    EXPECT_EQ(a.image.type(), CV_8UC3);
    EXPECT_FALSE(same(a.image, img)) << "seed " << seed;
    EXPECT_TRUE(same(a.mask, mask)) << "seed " << seed;
  }
  o.jpeg_p = 0.0;
  EXPECT_TRUE(same(run(img, mask, o, 0).image, img));
}

TEST(Augment, BlurIsOffByDefaultAndSmoothsTheImageNotTheMask) {
  for (unsigned seed = 0; seed < 40; ++seed) {
    std::mt19937 rng(seed);
    EXPECT_FALSE(data::plan_augment(kSide, kSide, {}, rng).blur) << "seed " << seed;
  }
  AugmentOptions o = none();
  o.blur = true;
  o.blur_p = 1.0;
  o.blur_sigma_min = 0.8;  // a 0.1 px blur barely changes 8-bit pixels
  // Uniform noise loses most of its high frequencies; the mean stays (the taps sum to 1).
  for (const double r : image_only_filter(noise_image(), o, 1.0)) EXPECT_LT(r, 0.8);
  o.blur_p = 0.0;
  EXPECT_TRUE(same(run(noise_image(), rect_mask(), o, 0).image, noise_image()));
}

TEST(Augment, BlurIsOpenCVsGaussianWithMirroredBorders) {
  AugmentOptions o = none();
  o.blur = true;
  o.blur_p = 1.0;
  const cv::Mat img = noise_image();
  for (unsigned seed = 0; seed < 4; ++seed) {
    std::mt19937 rng(seed);
    const double sigma = data::plan_augment(kSide, kSide, o, rng).blur_sigma;
    ASSERT_GE(sigma, o.blur_sigma_min);
    ASSERT_LE(sigma, o.blur_sigma_max);
    const int k = data::blur_kernel_size(sigma);
    EXPECT_EQ(k, 2 * static_cast<int>(std::ceil(3 * sigma)) + 1);
    const std::vector<double> taps = data::blur_kernel(sigma);
    const cv::Mat want_taps = cv::getGaussianKernel(k, sigma, CV_64F);
    ASSERT_EQ(taps.size(), static_cast<size_t>(k));
    for (int i = 0; i < k; ++i) EXPECT_NEAR(taps[static_cast<size_t>(i)], want_taps.at<double>(i), 1e-12) << i;
    // Against OpenCV's Gaussian in float (its 8-bit path sums in fixed point): ours rounds the
    // exact result to 8 bits, so it is within half a level.
    cv::Mat img_f, want, got;
    img.convertTo(img_f, CV_32F);
    cv::GaussianBlur(img_f, want, cv::Size(k, k), sigma, sigma, cv::BORDER_REFLECT_101);
    run(img, {}, o, seed).image.convertTo(got, CV_32F);
    EXPECT_LE(cv::norm(got, want, cv::NORM_INF), 0.5 + 1e-3) << "seed " << seed;
  }
}

TEST(Augment, BlurDrawsAfterTheOtherStages) {
  // Switching the blur on leaves every other stage's choice for every sample as it was.
  AugmentOptions with_blur;
  with_blur.blur = true;
  for (unsigned seed = 0; seed < 64; ++seed) {
    std::mt19937 r1(seed), r2(seed);
    const auto a = data::plan_augment(kSide, kSide, {}, r1), b = data::plan_augment(kSide, kSide, with_blur, r2);
    EXPECT_EQ(a.crop, b.crop);
    EXPECT_EQ(a.crop_x, b.crop_x);
    EXPECT_EQ(a.crop_w, b.crop_w);
    EXPECT_EQ(a.flip, b.flip);
    EXPECT_EQ(a.jitter, b.jitter);
    EXPECT_EQ(a.brightness, b.brightness);
    EXPECT_EQ(a.jpeg, b.jpeg);
    EXPECT_EQ(a.jpeg_quality, b.jpeg_quality);
    EXPECT_EQ(r1(), r2()) << "seed " << seed << ": the engines ended in different states";
  }
}

TEST(Augment, SharpeningIsOffByDefaultAndRoughensTheImageNotTheMask) {
  for (unsigned seed = 0; seed < 40; ++seed) {
    std::mt19937 rng(seed);
    EXPECT_FALSE(data::plan_augment(kSide, kSide, {}, rng).sharpen) << "seed " << seed;
  }
  AugmentOptions o = none();
  o.sharpen = true;
  o.sharpen_p = 1.0;
  for (const double r : image_only_filter(smooth_image(), o, 2.0)) EXPECT_GT(r, 1.3);
  o.sharpen_p = 0.0;
  EXPECT_TRUE(same(run(smooth_image(), rect_mask(), o, 0).image, smooth_image()));
}

TEST(Augment, SharpeningIsTheUnsharpMaskOfTheBlurStagesGaussian) {
  AugmentOptions o = none();
  o.sharpen = true;
  o.sharpen_p = 1.0;
  o.sharpen_sigma = 1.3;
  const cv::Mat img = smooth_image();
  for (unsigned seed = 0; seed < 4; ++seed) {
    std::mt19937 rng(seed);
    const data::AugmentPlan plan = data::plan_augment(kSide, kSide, o, rng);
    ASSERT_TRUE(plan.sharpen);
    ASSERT_GE(plan.sharpen_amount, o.sharpen_amount_min);
    ASSERT_LE(plan.sharpen_amount, o.sharpen_amount_max);
    EXPECT_EQ(plan.sharpen_sigma, 1.3);
    // Against OpenCV's Gaussian in float, clamped to 8 bits: within half a level.
    const int k = data::blur_kernel_size(plan.sharpen_sigma);
    cv::Mat img_f, smooth, want, got;
    img.convertTo(img_f, CV_32F);
    cv::GaussianBlur(img_f, smooth, cv::Size(k, k), plan.sharpen_sigma, plan.sharpen_sigma, cv::BORDER_REFLECT_101);
    cv::Mat sharp = img_f * (1.0 + plan.sharpen_amount) - smooth * plan.sharpen_amount;
    cv::min(cv::max(sharp, 0.0), 255.0, want);
    run(img, {}, o, seed).image.convertTo(got, CV_32F);
    EXPECT_LE(cv::norm(got, want, cv::NORM_INF), 0.5 + 1e-3) << "seed " << seed;
  }
}

TEST(Augment, SharpeningDrawsAfterTheOtherStages) {
  // Switching the sharpening on leaves every other stage's choice, the blur's too, as it was.
  AugmentOptions blur, both;
  blur.blur = both.blur = true;
  both.sharpen = true;
  int sharpened = 0;
  for (unsigned seed = 0; seed < 64; ++seed) {
    std::mt19937 r1(seed), r2(seed);
    const auto a = data::plan_augment(kSide, kSide, blur, r1), b = data::plan_augment(kSide, kSide, both, r2);
    EXPECT_EQ(a.crop_x, b.crop_x);
    EXPECT_EQ(a.flip, b.flip);
    EXPECT_EQ(a.brightness, b.brightness);
    EXPECT_EQ(a.jpeg_quality, b.jpeg_quality);
    EXPECT_EQ(a.blur, b.blur);
    EXPECT_EQ(a.blur_sigma, b.blur_sigma);
    EXPECT_FALSE(a.sharpen);
    sharpened += b.sharpen;
    EXPECT_EQ(r1(), r2()) << "seed " << seed << ": the engines ended in different states";
  }
  EXPECT_GT(sharpened, 5);   // p = 0.3 of 64
  EXPECT_LT(sharpened, 40);
}

TEST(Augment, DownscaleAndNoiseAreOffByDefaultDrawLastAndFollowTheirPlan) {
  AugmentOptions older, both;
  older.blur = older.sharpen = both.blur = both.sharpen = true;
  both.downscale = both.noise = true;
  int downscaled = 0, noised = 0;
  for (unsigned seed = 0; seed < 64; ++seed) {
    std::mt19937 r0(seed), r1(seed), r2(seed);
    const auto d = data::plan_augment(kSide, kSide, {}, r0);
    EXPECT_FALSE(d.downscale || d.noise) << "seed " << seed;
    const auto a = data::plan_augment(kSide, kSide, older, r1), b = data::plan_augment(kSide, kSide, both, r2);
    EXPECT_EQ(a.crop_x, b.crop_x);
    EXPECT_EQ(a.jpeg_quality, b.jpeg_quality);
    EXPECT_EQ(a.blur_sigma, b.blur_sigma);
    EXPECT_EQ(a.sharpen_amount, b.sharpen_amount);
    EXPECT_EQ(r1(), r2()) << "seed " << seed << ": the engines ended in different states";
    if (b.downscale) {
      ++downscaled;
      EXPECT_GE(b.downscale_factor, both.downscale_min);
      EXPECT_LT(b.downscale_factor, 1.0);
    }
    if (b.noise) {
      ++noised;
      EXPECT_GE(b.noise_std, both.noise_std_min);
      EXPECT_LE(b.noise_std, both.noise_std_max);
    }
  }
  EXPECT_GT(downscaled, 5);  // p = 0.3 of 64
  EXPECT_LT(downscaled, 40);
  EXPECT_GT(noised, 5);
  EXPECT_LT(noised, 40);
  // The noise: std_grey x the shared field, channel R of the field on OpenCV's third (BGR) channel.
  cv::Mat grey(16, 16, CV_8UC3, cv::Scalar::all(128)), noisy = grey.clone();
  data::add_noise(noisy, 10.0, 1234);
  const auto field = data::noise_field(1234, 16 * 16 * 3);
  EXPECT_EQ(noisy.at<cv::Vec3b>(3, 5)[2], cv::saturate_cast<uchar>(128 + 10.0 * field[(3 * 16 + 5) * 3 + 0]));
  EXPECT_EQ(noisy.at<cv::Vec3b>(3, 5)[0], cv::saturate_cast<uchar>(128 + 10.0 * field[(3 * 16 + 5) * 3 + 2]));
  cv::Scalar mean, std;
  cv::Mat signed_diff;
  cv::subtract(noisy, grey, signed_diff, cv::noArray(), CV_32F);
  cv::meanStdDev(signed_diff.reshape(1), mean, std);
  EXPECT_NEAR(mean[0], 0.0, 1.5);
  EXPECT_NEAR(std[0], 10.0, 1.5);
  EXPECT_EQ(data::noise_field(1234, 10), data::noise_field(1234, 10));
  EXPECT_NE(data::noise_field(1234, 10), data::noise_field(1235, 10));
  // The downscale: area down to the rounded side, linear back; detail lost, size kept.
  cv::Mat fine(64, 64, CV_8UC3);
  cv::randu(fine, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::Mat down = fine.clone();
  data::downscale_roundtrip(down, 0.5);
  cv::Mat small, want;
  cv::resize(fine, small, cv::Size(32, 32), 0, 0, cv::INTER_AREA);
  cv::resize(small, want, fine.size(), 0, 0, cv::INTER_LINEAR);
  EXPECT_EQ(cv::norm(down, want, cv::NORM_INF), 0.0);
  EXPECT_EQ(data::downscaled_side(64, 0.01), 8);
  EXPECT_EQ(data::downscaled_side(64, 0.999), 64);
}

TEST(Augment, ColorJitterChangesImageNotMask) {
  AugmentOptions o = none();
  o.color_jitter = true;
  const cv::Mat img = noise_image(), mask = rect_mask();
  int changed = 0;
  for (unsigned seed = 0; seed < 40; ++seed) {
    const Augmented a = run(img, mask, o, seed);
    EXPECT_TRUE(same(a.mask, mask)) << "seed " << seed;
    changed += !same(a.image, img);
  }
  // p = 0.8: most of 40 fixed seeds jitter, some do not.
  EXPECT_GT(changed, 24);
  EXPECT_LT(changed, 40);
}

TEST(Augment, ColorJitterOnGreyIsBrightnessWithinRange) {
  // Contrast, saturation and hue leave a uniform grey image as it is; brightness scales it by a
  // factor in [0.8, 1.2].
  AugmentOptions o = none();
  o.color_jitter = true;
  const cv::Mat grey(kSide, kSide, CV_8UC3, cv::Scalar::all(128));
  double lowest = 255, highest = 0;
  for (unsigned seed = 0; seed < 60; ++seed) {
    const cv::Mat out = run(grey, {}, o, seed).image;
    double lo = 0, hi = 0;
    cv::minMaxLoc(out.reshape(1), &lo, &hi);
    ASSERT_EQ(lo, hi) << "seed " << seed << ": a uniform grey image did not stay uniform";
    EXPECT_GE(lo, std::floor(128 * 0.8)) << "seed " << seed;
    EXPECT_LE(lo, std::ceil(128 * 1.2)) << "seed " << seed;
    lowest = std::min(lowest, lo);
    highest = std::max(highest, lo);
  }
  EXPECT_LT(lowest, 115);
  EXPECT_GT(highest, 141);
}

TEST(Augment, ColorJitterContrastWithinRange) {
  // Grey halves 64 | 192 (mean 128): saturation and hue leave greys alone, brightness b and
  // contrast c give left = b (64 c + 128 (1 - c)) and right = b (192 c + 128 (1 - c)), so
  // b = (left + right) / 256 and c = 2 (right - left) / (right + left).
  AugmentOptions o = none();
  o.color_jitter = true;
  cv::Mat img(kSide, kSide, CV_8UC3, cv::Scalar::all(64));
  img.colRange(kSide / 2, kSide).setTo(cv::Scalar::all(192));
  double lowest = 2, highest = 0;
  for (unsigned seed = 0; seed < 60; ++seed) {
    const cv::Mat out = run(img, {}, o, seed).image;
    const double left = out.at<cv::Vec3b>(0, 0)[1], right = out.at<cv::Vec3b>(0, kSide - 1)[1];
    const double contrast = 2 * (right - left) / (right + left);
    EXPECT_GE(contrast, 0.8 - 0.02) << "seed " << seed;
    EXPECT_LE(contrast, 1.2 + 0.02) << "seed " << seed;
    lowest = std::min(lowest, contrast);
    highest = std::max(highest, contrast);
  }
  EXPECT_LT(lowest, 0.85);
  EXPECT_GT(highest, 1.15);
}

TEST(Augment, ColorJitterSaturationWithinRange) {
  // On a uniform colour, contrast and saturation both blend towards the colour's own grey: the
  // chroma (max - min channel) scales by b c s and the grey level by b (the hue step keeps the
  // chroma and moves the grey level by ~1%). So chroma ratio / grey ratio = c s, in
  // [0.64, 1.44]; without the saturation step it would stay in [0.8, 1.2].
  AugmentOptions o = none();
  o.color_jitter = true;
  const cv::Mat img(kSide, kSide, CV_8UC3, cv::Scalar(100, 140, 180));
  const auto chroma = [](const cv::Vec3b& p) {
    return double(std::max({p[0], p[1], p[2]}) - std::min({p[0], p[1], p[2]}));
  };
  const auto grey = [](const cv::Vec3b& p) { return 0.114 * p[0] + 0.587 * p[1] + 0.299 * p[2]; };
  const cv::Vec3b in = img.at<cv::Vec3b>(0, 0);
  double lowest = 2, highest = 0;
  for (unsigned seed = 0; seed < 200; ++seed) {
    const cv::Vec3b px = run(img, {}, o, seed).image.at<cv::Vec3b>(kSide / 2, kSide / 2);
    const double cs = (chroma(px) / chroma(in)) / (grey(px) / grey(in));
    EXPECT_GE(cs, 0.64 - 0.05) << "seed " << seed;
    EXPECT_LE(cs, 1.44 + 0.05) << "seed " << seed;
    lowest = std::min(lowest, cs);
    highest = std::max(highest, cs);
  }
  EXPECT_LT(lowest, 0.75);
  EXPECT_GT(highest, 1.25);
}

/// Hue in degrees of the BGR colour `px`.
double hue_of(const cv::Vec3b& px) {
  cv::Mat hsv;
  cv::Mat(1, 1, CV_8UC3, cv::Scalar(px[0], px[1], px[2])).convertTo(hsv, CV_32F, 1.0 / 255.0);
  cv::cvtColor(hsv, hsv, cv::COLOR_BGR2HSV);
  return hsv.at<cv::Vec3f>(0, 0)[0];
}

TEST(Augment, ColorJitterRotatesHueWithinRange) {
  // Brightness, contrast and saturation move every channel of a uniform colour by the same affine
  // map, which keeps its hue; only the hue step, up to 0.02 * 360 = 7.2 degrees, changes it.
  AugmentOptions o = none();
  o.color_jitter = true;
  const cv::Vec3b orange(100, 140, 180);
  const cv::Mat img(kSide, kSide, CV_8UC3, cv::Scalar(orange[0], orange[1], orange[2]));
  const double hue = hue_of(orange);
  double most_negative = 0, most_positive = 0;
  for (unsigned seed = 0; seed < 60; ++seed) {
    const cv::Mat out = run(img, {}, o, seed).image;
    const double shift = hue_of(out.at<cv::Vec3b>(kSide / 2, kSide / 2)) - hue;
    EXPECT_LE(std::abs(shift), 7.2 + 2.0) << "seed " << seed;  // 2 degrees for 8-bit rounding
    most_negative = std::min(most_negative, shift);
    most_positive = std::max(most_positive, shift);
  }
  EXPECT_LT(most_negative, -4.0);
  EXPECT_GT(most_positive, 4.0);
}

TEST(Augment, RejectsBadInputs) {
  std::mt19937 rng(0);
  const cv::Mat img = noise_image();
  EXPECT_THROW(augment(cv::Mat(), {}, {}, rng), std::invalid_argument);
  EXPECT_THROW(augment(cv::Mat(8, 8, CV_8UC1), {}, {}, rng), std::invalid_argument);
  EXPECT_THROW(augment(img, cv::Mat(8, 8, CV_8UC1), {}, rng), std::invalid_argument);
  EXPECT_THROW(augment(img, cv::Mat(kSide, kSide, CV_8UC3), {}, rng), std::invalid_argument);
  AugmentOptions bad;
  bad.crop_p = 2.0;
  EXPECT_THROW(augment(img, {}, bad, rng), ConfigError);
}

TEST(AugmentOptions, ValidateAcceptsDefaultsAndLimits) {
  EXPECT_NO_THROW(data::validate({}));
  AugmentOptions o;
  o.jpeg_quality_min = 100;
  o.crop_scale_min = 1.0;
  o.jpeg_p = o.crop_p = 0.0;
  EXPECT_NO_THROW(data::validate(o));
  o.jpeg_quality_min = 1;
  o.jpeg_p = o.crop_p = 1.0;
  EXPECT_NO_THROW(data::validate(o));
}

TEST(AugmentOptions, ValidateNamesFieldAndValue) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    std::function<void(AugmentOptions&)> set;
    std::string field, value;
  };
  const Case cases[] = {
      {[](AugmentOptions& o) { o.crop_scale_min = 0.0; }, "crop_scale_min", "= 0 "},
      {[](AugmentOptions& o) { o.crop_scale_min = 1.5; }, "crop_scale_min", "= 1.5 "},
      {[&](AugmentOptions& o) { o.crop_scale_min = nan; }, "crop_scale_min", "= nan "},
      {[](AugmentOptions& o) { o.jpeg_quality_min = 0; }, "jpeg_quality_min", "= 0 "},
      {[](AugmentOptions& o) { o.jpeg_quality_min = 101; }, "jpeg_quality_min", "= 101 "},
      {[](AugmentOptions& o) { o.jpeg_p = -0.1; }, "jpeg_p", "= -0.1 "},
      {[](AugmentOptions& o) { o.crop_p = 1.25; }, "crop_p", "= 1.25 "},
      {[](AugmentOptions& o) { o.blur_p = -1; }, "blur_p", "= -1 "},
      {[](AugmentOptions& o) { o.blur_sigma_min = 0; }, "blur_sigma_min", "= 0 "},
      {[](AugmentOptions& o) { o.blur_sigma_max = 0.05; }, "blur_sigma_max", "= 0.05 "},
      {[](AugmentOptions& o) { o.blur_sigma_max = 9; }, "blur_sigma_max", "= 9 "},
      {[](AugmentOptions& o) { o.sharpen_p = 2; }, "sharpen_p", "= 2 "},
      {[](AugmentOptions& o) { o.sharpen_amount_min = 0; }, "sharpen_amount_min", "= 0 "},
      {[](AugmentOptions& o) { o.sharpen_amount_max = 0.25; }, "sharpen_amount_max", "= 0.25 "},
      {[](AugmentOptions& o) { o.sharpen_amount_max = 12; }, "sharpen_amount_max", "= 12 "},
      {[](AugmentOptions& o) { o.sharpen_sigma = -1; }, "sharpen_sigma", "= -1 "},
  };
  for (const Case& c : cases) {
    AugmentOptions o;
    c.set(o);
    const std::string msg = test::error_message<ConfigError>([&] { data::validate(o); });
    EXPECT_NE(msg.find("'" + c.field + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.value), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace sola
