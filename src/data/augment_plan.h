#pragma once
// The random choices of training augmentation, apart from any image library: which stages fire on
// a sample and with what parameters. augment() (data/augment.h) applies a plan with OpenCV to
// decoded files; PackedDataset (data/packed.h) applies the same plan with LibTorch to a packed
// bundle, so both pipelines draw identical choices from the same engine state.
//
// Stages, in this fixed order, each with its own probability:
//   1. random resized crop  geometric: image and mask
//   2. horizontal flip      geometric: image and mask
//   3. colour jitter        photometric: image only (brightness, contrast, saturation, hue)
//   4. Gaussian blur        photometric: image only
//   5. sharpening           photometric: image only (an unsharp mask)
//   6. downscale and back   photometric: image only (what an upload pipeline's resizing leaves)
//   7. sensor-like noise    photometric: image only (Gaussian, per pixel and channel)
//   8. JPEG re-encoding     photometric: image only
// (The blur's, the sharpening's, the downscale's and the noise's numbers are drawn after the JPEG
// stage's, in that order, so that adding each of those stages left the random choices of the older
// stages as they were for every sample.)
//
// Every stage draws the same count of numbers from the engine whether it is enabled or not and
// whether it fires or not, so switching one stage off leaves the random choices of the others
// unchanged for every sample (ablations compare like with like). Numbers are made from raw engine
// outputs rather than std::*_distribution, whose algorithms the standard leaves to the library, so
// the random choices do not depend on the C++ standard library.
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace sola::data {

/// Which augmentations augment() applies and how strongly. The defaults are what the trainer uses
/// when augmentation is on; validate() checks the ranges.
struct AugmentOptions {
  /// Mirror image and mask left-right, with probability 0.5.
  bool hflip = true;
  /// With probability 0.8, scale brightness and contrast by factors uniform in [0.8, 1.2], blend
  /// each pixel with its grey value by a saturation factor uniform in [0.8, 1.2], and rotate the
  /// hue by a fraction of the colour circle uniform in [-0.02, 0.02] (torchvision's ColorJitter
  /// (0.2, 0.2, 0.2, 0.02), in that fixed order). Image only.
  bool color_jitter = true;
  /// Re-encode the image as JPEG (quality uniform in [jpeg_quality_min, 100]) and decode it again,
  /// with probability jpeg_p. Image only.
  bool jpeg = true;
  /// Lowest JPEG quality drawn, in [1, 100].
  int jpeg_quality_min = 60;
  /// Probability of the JPEG stage, in [0, 1].
  double jpeg_p = 0.3;
  /// With probability crop_p, cut a rectangle covering a fraction uniform in [crop_scale_min, 1]
  /// of the image area, with aspect ratio (width / height) log-uniform in [3/4, 4/3] (narrowed
  /// to the ratios at which that area fits in the image), at a uniform position, and resize it
  /// back to the input size: bilinear for the image, nearest neighbour for the mask.
  bool random_resized_crop = true;
  /// Smallest area fraction the crop keeps, in (0, 1].
  double crop_scale_min = 0.8;
  /// Probability of the crop stage, in [0, 1].
  double crop_p = 0.5;
  /// With probability blur_p, blur the image with a Gaussian of standard deviation uniform in
  /// [blur_sigma_min, blur_sigma_max] pixels of the input size (kernel side 2 ceil(3 sigma) + 1,
  /// borders mirrored without repeating the edge pixel). Image only. Off by default: a recipe
  /// choice (the blur + JPEG augmentation of Wang et al., CVPR 2020, which made detectors of
  /// CNN-generated images generalise across generators), not part of the paper's training.
  bool blur = false;
  /// Probability of the blur stage, in [0, 1].
  double blur_p = 0.3;
  /// Range of the blur's standard deviation, in pixels: 0 < blur_sigma_min <= blur_sigma_max <= 8.
  double blur_sigma_min = 0.1;
  double blur_sigma_max = 1.5;
  /// With probability sharpen_p, sharpen the image with an unsharp mask: (1 + a) x - a G(x), G the
  /// blur stage's Gaussian of standard deviation sharpen_sigma pixels and the amount a uniform in
  /// [sharpen_amount_min, sharpen_amount_max], clamped to the pixel range (after the blur stage
  /// when both fire). Image only. Off by default, not in the paper: it widens the range of
  /// sharpness the training images span (DFDC's video frames are soft; photographs are not), so
  /// that sharpness alone says nothing about the label.
  bool sharpen = false;
  /// Probability of the sharpening stage, in [0, 1].
  double sharpen_p = 0.3;
  /// Range of the unsharp mask's amount: 0 < sharpen_amount_min <= sharpen_amount_max <= 8.
  double sharpen_amount_min = 0.5;
  double sharpen_amount_max = 3.0;
  /// Standard deviation of the unsharp mask's Gaussian, in pixels: in (0, 8].
  double sharpen_sigma = 1.0;
  /// With probability downscale_p, shrink the image by a factor uniform in [downscale_min, 1) (area
  /// interpolation, side rounded, at least 8 px) and enlarge it back (bilinear), after the
  /// sharpening: the detail an upload's resizing removes. Image only. Off by default, not in the paper.
  bool downscale = false;
  /// Probability of the downscale stage, in [0, 1].
  double downscale_p = 0.3;
  /// Smallest factor drawn, in (0, 1].
  double downscale_min = 0.4;
  /// With probability noise_p, add Gaussian noise of a standard deviation uniform in
  /// [noise_std_min, noise_std_max] grey levels (of 255) to every pixel and channel, after the
  /// downscale and before the JPEG stage (a sensor's noise, then the encoder). Image only. Off by
  /// default, not in the paper. The noise field is noise_field() of a drawn seed, the same in both pipelines.
  bool noise = false;
  /// Probability of the noise stage, in [0, 1].
  double noise_p = 0.3;
  /// Range of the noise's standard deviation in grey levels: 0 < noise_std_min <= noise_std_max <= 64.
  double noise_std_min = 1.0;
  double noise_std_max = 8.0;
};

/// Throws sola::ConfigError naming the first field out of range, its value and the allowed range.
void validate(const AugmentOptions& opts);

/// Grey level of an RGB pixel: the ITU-R 601 luma weights of cv::COLOR_BGR2GRAY and torchvision.
inline constexpr double kGreyR = 0.299;
inline constexpr double kGreyG = 0.587;
inline constexpr double kGreyB = 0.114;

/// What augmentation does to one sample.
struct AugmentPlan {
  /// Random resized crop: the rectangle (pixels of the width x height image the plan was drawn
  /// for) that is cut out and resized back to the full size.
  bool crop = false;
  int crop_x = 0, crop_y = 0, crop_w = 0, crop_h = 0;
  bool flip = false;
  /// Colour jitter, in this order, each step clamped to the pixel range: brightness (scale),
  /// contrast (blend with the mean grey), saturation (blend with each pixel's grey), hue (rotation
  /// by this fraction of the colour circle).
  bool jitter = false;
  double brightness = 1, contrast = 1, saturation = 1, hue = 0;
  bool jpeg = false;
  int jpeg_quality = 100;
  /// Gaussian blur (applied before the JPEG stage): its standard deviation in pixels.
  bool blur = false;
  double blur_sigma = 0;
  /// Unsharp mask (after the blur, before the JPEG stage): its amount and its Gaussian's standard
  /// deviation in pixels.
  bool sharpen = false;
  double sharpen_amount = 0;
  double sharpen_sigma = 0;
  /// Downscale and back (after the sharpening): the factor of the smaller image's side.
  bool downscale = false;
  double downscale_factor = 1;
  /// Noise (after the downscale, before the JPEG stage): its standard deviation in grey levels and
  /// the seed of its field.
  bool noise = false;
  double noise_std = 0;
  uint32_t noise_seed = 0;
};

/// The side an image of side `side` is shrunk to by the downscale stage at `factor`: rounded, at least
/// 8 px (and never more than `side`).
int downscaled_side(int side, double factor);

/// `n` standard normal numbers from `seed` (splitmix64 and the Box-Muller transform, fixed by this
/// code alone): the noise stage's field, element (y * width + x) * 3 + c for channel c of R, G, B.
std::vector<float> noise_field(uint32_t seed, size_t n);

/// The side of the Gaussian kernel of the blur stage for standard deviation `sigma`: 2 ceil(3 sigma) + 1.
int blur_kernel_size(double sigma);

/// The normalised 1-D Gaussian taps of the blur stage (blur_kernel_size(sigma) of them), the same
/// values for both pipelines.
std::vector<double> blur_kernel(double sigma);

/// Draws the plan of one sample of a width x height image from `rng` (the stages enabled in
/// `opts`). Throws ConfigError when `opts` is invalid.
AugmentPlan plan_augment(int width, int height, const AugmentOptions& opts, std::mt19937& rng);

}  // namespace sola::data
