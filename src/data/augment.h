#pragma once
// Training-time augmentation of a face crop and its forgery mask (OpenCV only, no LibTorch).
//
// augment() applies, in this fixed order, each enabled stage with its own probability:
//   1. random resized crop  geometric: image and mask
//   2. horizontal flip      geometric: image and mask
//   3. colour jitter        photometric: image only (brightness, contrast, saturation, hue)
//   4. Gaussian blur        photometric: image only (off by default)
//   5. sharpening, downscale and back, sensor-like noise (photometric, off by default)
//   6. JPEG re-encoding     photometric: image only
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

#include "data/augment_plan.h"

namespace sola::data {

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
/// binary and a soft mask keeps its levels. Colour jitter, blur and JPEG never touch the mask.
///
/// The result never shares memory with the inputs. Throws ConfigError when `opts` is invalid (see
/// validate()) and std::invalid_argument for an empty or non-CV_8UC3 image, or a mask that is
/// not CV_8UC1 or differs in size from the image.
Augmented augment(const cv::Mat& image, const cv::Mat& mask, const AugmentOptions& opts,
                  std::mt19937& rng);

/// The blur stage's Gaussian of standard deviation `sigma` pixels (kernel blur_kernel(sigma), borders
/// mirrored), as a new image of the input's type.
cv::Mat gaussian_blur(const cv::Mat& image, double sigma);

/// Sharpens the image in place with the unsharp mask (1 + amount) x - amount G(x), G the blur stage's
/// Gaussian of standard deviation `sigma` pixels, computed in float and rounded to 8 bits with saturation.
void unsharp_mask(cv::Mat& image, double amount, double sigma);

/// Shrinks the image by `factor` (area interpolation, side downscaled_side()) and enlarges it back to its
/// size (bilinear), in place: the downscale stage.
void downscale_roundtrip(cv::Mat& image, double factor);
/// Adds `std_grey` x noise_field(seed) grey levels to every pixel and channel of a CV_8UC3 BGR image,
/// rounded to 8 bits with saturation, in place: the noise stage.
void add_noise(cv::Mat& image, double std_grey, uint32_t seed);
/// Encodes the image as JPEG at `quality` (1..100, OpenCV's libjpeg) and decodes it again, in place.
void jpeg_roundtrip(cv::Mat& image, int quality);

}  // namespace sola::data
