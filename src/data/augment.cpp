#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"

namespace sola::data {
namespace {

/// Probability of the flip stage.
constexpr double kFlipP = 0.5;
/// Probability of the colour-jitter stage and its strengths (fractions, as in torchvision).
constexpr double kJitterP = 0.8;
constexpr double kBrightness = 0.2;
constexpr double kContrast = 0.2;
constexpr double kSaturation = 0.2;
constexpr double kHue = 0.02;
/// Grey level of a BGR pixel: the ITU-R 601 luma weights of cv::COLOR_BGR2GRAY and torchvision.
constexpr double kGreyB = 0.114;
constexpr double kGreyG = 0.587;
constexpr double kGreyR = 0.299;
/// Aspect-ratio (width / height) range of the random resized crop.
constexpr double kMinRatio = 3.0 / 4.0;
constexpr double kMaxRatio = 4.0 / 3.0;

/// Uniform in [0, 1) from one raw engine output (mt19937's outputs are fixed by the standard).
double uniform01(std::mt19937& rng) { return static_cast<double>(rng()) * 0x1p-32; }

/// Maps a uniform [0, 1) number `u` to [lo, hi).
double lerp(double lo, double hi, double u) { return lo + (hi - lo) * u; }

/// Maps a uniform [0, 1) number `u` to an integer uniform in [lo, hi].
int uniform_int(int lo, int hi, double u) {
  return std::min(hi, lo + static_cast<int>(u * (hi - lo + 1)));
}

/// The numbers one stage uses, all uniform in [0, 1). Every stage draws all of its numbers on
/// every call, so the engine advances by the same count whatever the options.
template <size_t N>
struct Draws {
  double u[N];
  explicit Draws(std::mt19937& rng) {
    for (double& x : u) x = uniform01(rng);
  }
};

/// The crop rectangle of a random resized crop of an image of `size`, from draws (fire, area,
/// ratio, x, y). The area fraction is uniform in [scale_min, 1]; the aspect ratio is log-uniform
/// over the part of [kMinRatio, kMaxRatio] at which that area fits in the image (for an image
/// whose own aspect is so far from square that none fits, the fitting ratio nearest that range).
cv::Rect crop_rect(cv::Size size, double scale_min, const Draws<5>& d) {
  const double w_img = size.width, h_img = size.height;
  const double s = lerp(scale_min, 1.0, d.u[1]);
  // A crop of area s * w_img * h_img and aspect ratio r fits in the image when
  // s * w_img / h_img <= r <= w_img / (s * h_img).
  const double fit_lo = s * w_img / h_img, fit_hi = w_img / (s * h_img);
  double lo = std::max(kMinRatio, fit_lo), hi = std::min(kMaxRatio, fit_hi);
  if (lo > hi) lo = hi = fit_lo > kMaxRatio ? fit_lo : fit_hi;
  const double r = std::exp(lerp(std::log(lo), std::log(hi), d.u[2]));
  const double area = s * w_img * h_img;
  const int w = std::clamp(static_cast<int>(std::lround(std::sqrt(area * r))), 1, size.width);
  const int h = std::clamp(static_cast<int>(std::lround(std::sqrt(area / r))), 1, size.height);
  return {uniform_int(0, size.width - w, d.u[3]), uniform_int(0, size.height - h, d.u[4]), w, h};
}

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

/// Colour jitter with factors from draws (fire, brightness, contrast, saturation, hue), in that
/// order, as torchvision's ColorJitter defines them. Each step rounds and clamps to 0..255.
void color_jitter(cv::Mat& image, const Draws<5>& d) {
  const double brightness = lerp(1.0 - kBrightness, 1.0 + kBrightness, d.u[1]);
  const double contrast = lerp(1.0 - kContrast, 1.0 + kContrast, d.u[2]);
  const double saturation = lerp(1.0 - kSaturation, 1.0 + kSaturation, d.u[3]);
  const double hue = lerp(-kHue, kHue, d.u[4]);

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

/// Encodes the image as JPEG at `quality` and decodes it again.
void jpeg_roundtrip(cv::Mat& image, int quality) {
  std::vector<uchar> bytes;
  if (!cv::imencode(".jpg", image, bytes, {cv::IMWRITE_JPEG_QUALITY, quality})) {
    throw std::runtime_error("augment: OpenCV could not encode a JPEG");
  }
  image = cv::imdecode(bytes, cv::IMREAD_COLOR);
  if (image.empty()) throw std::runtime_error("augment: OpenCV could not decode its own JPEG");
}

/// Throws ConfigError "augmentation option 'FIELD' = VALUE is invalid: must be ALLOWED".
template <typename T>
[[noreturn]] void reject(const char* field, T value, const char* allowed) {
  std::ostringstream msg;
  msg << "augmentation option '" << field << "' = " << value << " is invalid: must be " << allowed;
  throw ConfigError(msg.str());
}

/// Whether p is a probability (false for NaN).
bool is_probability(double p) { return p >= 0.0 && p <= 1.0; }

}  // namespace

void validate(const AugmentOptions& opts) {
  if (opts.jpeg_quality_min < 1 || opts.jpeg_quality_min > 100) {
    reject("jpeg_quality_min", opts.jpeg_quality_min, "an integer in [1, 100]");
  }
  if (!is_probability(opts.jpeg_p)) reject("jpeg_p", opts.jpeg_p, "a probability in [0, 1]");
  if (!(opts.crop_scale_min > 0.0 && opts.crop_scale_min <= 1.0)) {
    reject("crop_scale_min", opts.crop_scale_min, "an area fraction in (0, 1]");
  }
  if (!is_probability(opts.crop_p)) reject("crop_p", opts.crop_p, "a probability in [0, 1]");
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

  const Draws<5> crop(rng);  // fire, area, ratio, x, y
  if (opts.random_resized_crop && crop.u[0] < opts.crop_p) {
    crop_and_resize(a, crop_rect(a.image.size(), opts.crop_scale_min, crop));
  }

  const Draws<1> flip(rng);  // fire
  if (opts.hflip && flip.u[0] < kFlipP) {
    cv::flip(a.image, a.image, 1);
    if (!a.mask.empty()) cv::flip(a.mask, a.mask, 1);
  }

  const Draws<5> jitter(rng);  // fire, brightness, contrast, saturation, hue
  if (opts.color_jitter && jitter.u[0] < kJitterP) color_jitter(a.image, jitter);

  const Draws<2> jpeg(rng);  // fire, quality
  if (opts.jpeg && jpeg.u[0] < opts.jpeg_p) {
    jpeg_roundtrip(a.image, uniform_int(opts.jpeg_quality_min, 100, jpeg.u[1]));
  }
  return a;
}

}  // namespace sola::data
