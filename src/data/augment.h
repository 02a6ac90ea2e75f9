#pragma once
// Training-time augmentation of a face crop and its forgery mask (OpenCV only, no LibTorch).
//
// augment() applies, in this fixed order, each enabled stage with its own probability:
//   1. random resized crop  geometric: image and mask
//   2. horizontal flip      geometric: image and mask
//   3. colour jitter        photometric: image only (brightness, contrast, saturation, hue)
//   4. JPEG re-encoding     photometric: image only
// The output always has the input's size.
//
// Reproducibility: every random choice comes from the caller's std::mt19937, so a fixed engine
// state gives byte-identical output (the trainer seeds one engine per sample from seed, epoch and
// index). Each stage draws the same count of numbers from the engine whether it is enabled or not
// and whether it fires or not, so switching one stage off leaves the random choices of the others
// unchanged for every sample (ablations compare like with like). Numbers are made from raw engine
// outputs rather than std::*_distribution, whose algorithms the standard leaves to the library, so
// the random choices do not depend on the C++ standard library (pixel values still depend on the
// OpenCV and libjpeg builds).
#include <random>

#include <opencv2/core.hpp>

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
};

/// An augmented image and its mask.
struct Augmented {
  cv::Mat image;  ///< CV_8UC3 BGR, the input's size
  cv::Mat mask;   ///< CV_8UC1, the input's size, or empty when the input mask was empty
};

/// Augments `image` (CV_8UC3 BGR) and `mask` (CV_8UC1 of the same size with values 0..255, or
/// empty for none) with the stages enabled in `opts`, drawing every random choice from `rng`.
///
/// The crop and flip move mask pixels exactly as they move image pixels. The mask is resized with
/// nearest neighbour (INTER_NEAREST_EXACT, whose pixel-centre alignment matches the image's
/// bilinear resize), so it only ever holds values present in the input mask: a binary mask stays
/// binary and a soft mask keeps its levels. Colour jitter and JPEG never touch the mask.
///
/// The result never shares memory with the inputs. Throws ConfigError when `opts` is invalid (see
/// validate()) and std::invalid_argument for an empty or non-CV_8UC3 image, or a mask that is
/// not CV_8UC1 or differs in size from the image.
Augmented augment(const cv::Mat& image, const cv::Mat& mask, const AugmentOptions& opts,
                  std::mt19937& rng);

/// Throws sola::ConfigError naming the first field out of range, its value and the allowed range.
void validate(const AugmentOptions& opts);

}  // namespace sola::data
