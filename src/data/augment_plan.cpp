#include "data/augment_plan.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <sstream>

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
/// Aspect-ratio (width / height) range of the random resized crop.
constexpr double kMinRatio = 3.0 / 4.0;
constexpr double kMaxRatio = 4.0 / 3.0;
/// Largest standard deviation of the blur stage, in pixels (a 51-tap kernel).
constexpr double kMaxBlurSigma = 8.0;
/// Largest amount of the unsharp mask.
constexpr double kMaxSharpenAmount = 8.0;
/// Largest standard deviation of the noise stage, in grey levels.
constexpr double kMaxNoiseStd = 64.0;
/// Smallest side the downscale stage shrinks to, in pixels.
constexpr int kMinDownscaledSide = 8;

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

struct Rect {
  int x, y, w, h;
};

/// The crop rectangle of a random resized crop of a width x height image, from draws (fire, area,
/// ratio, x, y). The area fraction is uniform in [scale_min, 1]; the aspect ratio is log-uniform
/// over the part of [kMinRatio, kMaxRatio] at which that area fits in the image (for an image
/// whose own aspect is so far from square that none fits, the fitting ratio nearest that range).

Rect crop_rect(int width, int height, double scale_min, const Draws<5>& d) {
  const double w_img = width, h_img = height;
  const double s = lerp(scale_min, 1.0, d.u[1]);
  // A crop of area s * w_img * h_img and aspect ratio r fits in the image when
  // s * w_img / h_img <= r <= w_img / (s * h_img).
  const double fit_lo = s * w_img / h_img, fit_hi = w_img / (s * h_img);
  double lo = std::max(kMinRatio, fit_lo), hi = std::min(kMaxRatio, fit_hi);
  if (lo > hi) lo = hi = fit_lo > kMaxRatio ? fit_lo : fit_hi;
  const double r = std::exp(lerp(std::log(lo), std::log(hi), d.u[2]));
  const double area = s * w_img * h_img;
  const int w = std::clamp(static_cast<int>(std::lround(std::sqrt(area * r))), 1, width);
  const int h = std::clamp(static_cast<int>(std::lround(std::sqrt(area / r))), 1, height);
  return {uniform_int(0, width - w, d.u[3]), uniform_int(0, height - h, d.u[4]), w, h};
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
  if (!is_probability(opts.blur_p)) reject("blur_p", opts.blur_p, "a probability in [0, 1]");
  if (!(opts.blur_sigma_min > 0.0 && opts.blur_sigma_min <= kMaxBlurSigma)) {
    reject("blur_sigma_min", opts.blur_sigma_min, "a standard deviation in (0, 8] pixels");
  }
  if (!(opts.blur_sigma_max >= opts.blur_sigma_min && opts.blur_sigma_max <= kMaxBlurSigma)) {
    reject("blur_sigma_max", opts.blur_sigma_max, "a standard deviation in [blur_sigma_min, 8] pixels");
  }
  if (!is_probability(opts.sharpen_p)) reject("sharpen_p", opts.sharpen_p, "a probability in [0, 1]");
  if (!(opts.sharpen_amount_min > 0.0 && opts.sharpen_amount_min <= kMaxSharpenAmount)) {
    reject("sharpen_amount_min", opts.sharpen_amount_min, "an amount in (0, 8]");
  }
  if (!(opts.sharpen_amount_max >= opts.sharpen_amount_min && opts.sharpen_amount_max <= kMaxSharpenAmount)) {
    reject("sharpen_amount_max", opts.sharpen_amount_max, "an amount in [sharpen_amount_min, 8]");
  }
  if (!(opts.sharpen_sigma > 0.0 && opts.sharpen_sigma <= kMaxBlurSigma)) {
    reject("sharpen_sigma", opts.sharpen_sigma, "a standard deviation in (0, 8] pixels");
  }
  if (!is_probability(opts.downscale_p)) reject("downscale_p", opts.downscale_p, "a probability in [0, 1]");
  if (!(opts.downscale_min > 0.0 && opts.downscale_min <= 1.0)) {
    reject("downscale_min", opts.downscale_min, "a factor in (0, 1]");
  }
  if (!is_probability(opts.noise_p)) reject("noise_p", opts.noise_p, "a probability in [0, 1]");
  if (!(opts.noise_std_min > 0.0 && opts.noise_std_min <= kMaxNoiseStd)) {
    reject("noise_std_min", opts.noise_std_min, "a standard deviation in (0, 64] grey levels");
  }
  if (!(opts.noise_std_max >= opts.noise_std_min && opts.noise_std_max <= kMaxNoiseStd)) {
    reject("noise_std_max", opts.noise_std_max, "a standard deviation in [noise_std_min, 64] grey levels");
  }
}

int downscaled_side(int side, double factor) {
  return std::min(side, std::max(kMinDownscaledSide, static_cast<int>(std::lround(side * factor))));
}

std::vector<float> noise_field(uint32_t seed, size_t n) {
  uint64_t state = 0x9e3779b97f4a7c15ULL ^ seed;
  auto next = [&state] {  // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  std::vector<float> out(n);
  for (size_t i = 0; i < n; i += 2) {
    // Two uniforms in (0, 1] and [0, 1), then two normals (Box-Muller).
    const double u1 = (static_cast<double>(next() >> 11) + 1.0) * 0x1p-53;
    const double u2 = static_cast<double>(next() >> 11) * 0x1p-53;
    const double r = std::sqrt(-2.0 * std::log(u1)), t = 2.0 * M_PI * u2;
    out[i] = static_cast<float>(r * std::cos(t));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(t));
  }
  return out;
}

int blur_kernel_size(double sigma) { return 2 * static_cast<int>(std::ceil(3.0 * sigma)) + 1; }

std::vector<double> blur_kernel(double sigma) {
  const int k = blur_kernel_size(sigma), r = k / 2;
  std::vector<double> taps(static_cast<size_t>(k));
  double sum = 0;
  for (int i = 0; i < k; ++i) sum += taps[static_cast<size_t>(i)] = std::exp(-0.5 * (i - r) * (i - r) / (sigma * sigma));
  for (double& t : taps) t /= sum;
  return taps;
}

AugmentPlan plan_augment(int width, int height, const AugmentOptions& opts, std::mt19937& rng) {
  validate(opts);
  AugmentPlan plan;
  const Draws<5> crop(rng);  // fire, area, ratio, x, y
  if (opts.random_resized_crop && crop.u[0] < opts.crop_p && width > 0 && height > 0) {
    const Rect r = crop_rect(width, height, opts.crop_scale_min, crop);
    plan.crop = true;
    plan.crop_x = r.x;
    plan.crop_y = r.y;
    plan.crop_w = r.w;
    plan.crop_h = r.h;
  }
  const Draws<1> flip(rng);  // fire
  plan.flip = opts.hflip && flip.u[0] < kFlipP;
  const Draws<5> jitter(rng);  // fire, brightness, contrast, saturation, hue
  if (opts.color_jitter && jitter.u[0] < kJitterP) {
    plan.jitter = true;
    plan.brightness = lerp(1.0 - kBrightness, 1.0 + kBrightness, jitter.u[1]);
    plan.contrast = lerp(1.0 - kContrast, 1.0 + kContrast, jitter.u[2]);
    plan.saturation = lerp(1.0 - kSaturation, 1.0 + kSaturation, jitter.u[3]);
    plan.hue = lerp(-kHue, kHue, jitter.u[4]);
  }
  const Draws<2> jpeg(rng);  // fire, quality
  if (opts.jpeg && jpeg.u[0] < opts.jpeg_p) {
    plan.jpeg = true;
    plan.jpeg_quality = uniform_int(opts.jpeg_quality_min, 100, jpeg.u[1]);
  }
  const Draws<2> blur(rng);  // fire, sigma
  if (opts.blur && blur.u[0] < opts.blur_p) {
    plan.blur = true;
    plan.blur_sigma = lerp(opts.blur_sigma_min, opts.blur_sigma_max, blur.u[1]);
  }
  const Draws<2> sharpen(rng);  // fire, amount
  if (opts.sharpen && sharpen.u[0] < opts.sharpen_p) {
    plan.sharpen = true;
    plan.sharpen_amount = lerp(opts.sharpen_amount_min, opts.sharpen_amount_max, sharpen.u[1]);
    plan.sharpen_sigma = opts.sharpen_sigma;
  }
  const Draws<2> downscale(rng);  // fire, factor
  if (opts.downscale && downscale.u[0] < opts.downscale_p) {
    plan.downscale = true;
    plan.downscale_factor = lerp(opts.downscale_min, 1.0, downscale.u[1]);
  }
  const Draws<3> noise(rng);  // fire, standard deviation, seed
  if (opts.noise && noise.u[0] < opts.noise_p) {
    plan.noise = true;
    plan.noise_std = lerp(opts.noise_std_min, opts.noise_std_max, noise.u[1]);
    plan.noise_seed = static_cast<uint32_t>(noise.u[2] * 0x1p32);
  }
  return plan;
}

}  // namespace sola::data
