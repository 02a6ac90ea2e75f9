#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"

namespace sola::data {
namespace {

/// Cuts `rect` out of the image and mask and resizes it back to the full size.
void crop_and_resize(Augmented& a, const cv::Rect& rect) {
  const cv::Size size = a.image.size();
  cv::Mat image;
  cv::resize(a.image(rect), image, size, 0, 0, cv::INTER_LINEAR);
  a.image = image;
  if (!a.mask.empty()) {
    cv::Mat mask;
    cv::resize(a.mask(rect), mask, size, 0, 0, cv::INTER_NEAREST_EXACT);
    a.mask = mask;
  }
}

/// Rotates the hue of a BGR image by `shift` of the colour circle, through float HSV (no 8-bit
/// hue quantisation). Works in strips of rows so that the float buffers stay small: whole-image
/// float buffers, allocated afresh on every call, cost a page fault per 4 KiB and made colour
/// jitter about 3x slower at 224x224.
void rotate_hue(cv::Mat& image, double shift) {
  constexpr int kStripRows = 16;
  const auto degrees = static_cast<float>(shift * 360.0);
  cv::Mat bgr, hsv;
  for (int y = 0; y < image.rows; y += kStripRows) {
    cv::Mat strip = image.rowRange(y, std::min(y + kStripRows, image.rows));
    strip.convertTo(bgr, CV_32F, 1.0 / 255.0);
    cv::cvtColor(bgr, hsv, cv::COLOR_BGR2HSV);  // H in degrees [0, 360)
    auto* px = hsv.ptr<cv::Vec3f>();
    const size_t n = hsv.total();
    for (size_t i = 0; i < n; ++i) {
      float h = px[i][0] + degrees;
      if (h < 0.0f) h += 360.0f;
      if (h >= 360.0f) h -= 360.0f;
      px[i][0] = h;
    }
    cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
    bgr.convertTo(strip, CV_8U, 255.0);  // same size and type: writes into `image`
  }
}

/// Colour jitter with the plan's factors (brightness, contrast, saturation, hue), in that order,
/// as torchvision's ColorJitter defines them. Each step rounds and clamps to 0..255.
void color_jitter(cv::Mat& image, const AugmentPlan& plan) {
  const double brightness = plan.brightness, contrast = plan.contrast, saturation = plan.saturation, hue = plan.hue;

  image.convertTo(image, CV_8U, brightness);
  // Contrast: blend with the mean grey level. convertTo saturates (convertScaleAbs would fold
  // negative values up instead of clamping them to 0).
  const cv::Scalar mean = cv::mean(image);
  const double mean_grey = kGreyB * mean[0] + kGreyG * mean[1] + kGreyR * mean[2];
  image.convertTo(image, CV_8U, contrast, mean_grey * (1.0 - contrast));
  // Saturation: saturation * pixel + (1 - saturation) * grey(pixel), as one 3x3 matrix.
  const auto s = static_cast<float>(saturation);
  const auto wb = static_cast<float>((1.0 - saturation) * kGreyB);
  const auto wg = static_cast<float>((1.0 - saturation) * kGreyG);
  const auto wr = static_cast<float>((1.0 - saturation) * kGreyR);
  cv::transform(image, image, cv::Matx33f(s + wb, wg, wr,  //
                                           wb, s + wg, wr,  //
                                           wb, wg, s + wr));
  rotate_hue(image, hue);
}

/// The blur stage's separable Gaussian of `image` as depth `ddepth`, borders mirrored without repeating
/// the edge pixel (BORDER_REFLECT_101, what PackedDataset's reflection padding does).
cv::Mat gaussian(const cv::Mat& image, double sigma, int ddepth) {
  const std::vector<double> taps = blur_kernel(sigma);
  const cv::Mat kernel(static_cast<int>(taps.size()), 1, CV_64F, const_cast<double*>(taps.data()));
  cv::Mat out;
  cv::sepFilter2D(image, out, ddepth, kernel, kernel, cv::Point(-1, -1), 0, cv::BORDER_REFLECT_101);
  return out;
}

}  // namespace

void jpeg_roundtrip(cv::Mat& image, int quality) {
  std::vector<uchar> bytes;
  if (!cv::imencode(".jpg", image, bytes, {cv::IMWRITE_JPEG_QUALITY, quality})) {
    throw std::runtime_error("augment: OpenCV could not encode a JPEG");
  }
  image = cv::imdecode(bytes, cv::IMREAD_COLOR);
  if (image.empty()) throw std::runtime_error("augment: OpenCV could not decode its own JPEG");
}

cv::Mat gaussian_blur(const cv::Mat& image, double sigma) { return gaussian(image, sigma, -1); }

void unsharp_mask(cv::Mat& image, double amount, double sigma) {
  cv::Mat x;
  image.convertTo(x, CV_32F);
  const cv::Mat sharp = x * (1.0 + amount) - gaussian(x, sigma, CV_32F) * amount;
  sharp.convertTo(image, CV_8U);
}

Augmented augment(const cv::Mat& image, const cv::Mat& mask, const AugmentOptions& opts,
                  std::mt19937& rng) {
  validate(opts);
  if (image.empty() || image.type() != CV_8UC3) {
    throw std::invalid_argument("augment: image must be a non-empty CV_8UC3 (BGR) matrix");
  }
  if (!mask.empty() && (mask.type() != CV_8UC1 || mask.size() != image.size())) {
    throw std::invalid_argument("augment: mask must be empty or CV_8UC1 of the image's size");
  }
  Augmented a{image.clone(), mask.clone()};
  const AugmentPlan plan = plan_augment(image.cols, image.rows, opts, rng);
  if (plan.crop) crop_and_resize(a, cv::Rect(plan.crop_x, plan.crop_y, plan.crop_w, plan.crop_h));
  if (plan.flip) {
    cv::flip(a.image, a.image, 1);
    if (!a.mask.empty()) cv::flip(a.mask, a.mask, 1);
  }
  if (plan.jitter) color_jitter(a.image, plan);
  if (plan.blur) a.image = gaussian(a.image, plan.blur_sigma, -1);
  if (plan.sharpen) unsharp_mask(a.image, plan.sharpen_amount, plan.sharpen_sigma);
  if (plan.downscale) downscale_roundtrip(a.image, plan.downscale_factor);
  if (plan.noise) add_noise(a.image, plan.noise_std, plan.noise_seed);
  if (plan.jpeg) jpeg_roundtrip(a.image, plan.jpeg_quality);
  return a;
}

void downscale_roundtrip(cv::Mat& image, double factor) {
  const int w = downscaled_side(image.cols, factor), h = downscaled_side(image.rows, factor);
  if (w == image.cols && h == image.rows) return;
  cv::Mat small;
  cv::resize(image, small, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  cv::resize(small, image, image.size(), 0, 0, cv::INTER_LINEAR);
}

void add_noise(cv::Mat& image, double std_grey, uint32_t seed) {
  const auto field = noise_field(seed, static_cast<size_t>(image.total()) * 3);
  for (int y = 0; y < image.rows; ++y) {
    auto* row = image.ptr<cv::Vec3b>(y);
    for (int x = 0; x < image.cols; ++x)
      for (int c = 0; c < 3; ++c) {  // BGR in memory, the field's channels in R, G, B order
        const size_t i = (static_cast<size_t>(y) * image.cols + x) * 3 + static_cast<size_t>(2 - c);
        row[x][c] = cv::saturate_cast<uchar>(row[x][c] + std_grey * field[i]);
      }
  }
}

}  // namespace sola::data
