#pragma once
// Pseudo-forgeries from real faces: self-blended images (Shiohara & Yamasaki, "Detecting Deepfakes
// with Self-Blended Images", CVPR 2022).
//
// One real image becomes two differently transformed copies of itself, a source and a target;
// the source's face region is blended into the target through a soft mask:
//
//   fake = target + weight * (source - target)      (per channel, in float, rounded to 8 bits)
//
// so the fake carries the blending boundary and the small colour/frequency/geometric mismatch of
// a face swap without a second identity. self_blend() makes one such image in these steps, each
// stage firing with its own probability from SelfBlendOptions:
//
//   1. mask     a convex region of the 68 landmarks (a shape drawn from `shapes`), or an ellipse
//               in the face box where there are no landmarks;
//   2. colour   RGB shift, hue/saturation/value jitter, brightness/contrast, then
//      frequency  a down-and-up scale or a sharpening -- both applied either to the source or,
//               with probability target_p, to the whole target (as SBI does);
//   3. geometry a small translation and scale of the source, the mask moving with it;
//   4. deform   elastic deformation, erosion or dilation, Gaussian blur of the edge (the soft
//               weights), times a blend ratio drawn from blend_ratios;
//   5. floor    the source is nudged to differ from the target by at least min_difference grey
//               levels at every pixel, so a weight large enough always changes the pixel;
//   6. blend    the formula above; then `weight` is set to 0 wherever the rounded fake equals the
//               target and `mask` is 255 exactly where `weight` > 0.
//
// Invariant (exact, tested): mask != 0 exactly where the 8-bit fake differs from `target` in some
// channel; everywhere else fake and target are bit-identical. The mask is thus the set of pixels
// the blend actually changed, not a threshold of the weights: a weight too small to move a pixel
// by half a grey level leaves it out. The floor step makes every weight above 0.5 / min_difference
// change its pixel, so the mask holds the whole region of such weights, without holes at flat or
// saturated pixels; only its soft fringe is decided pixel by pixel.
//
// Reproducibility: every random choice comes from one std::mt19937_64 seeded with `seed`, using raw
// engine outputs (not std::*_distribution), so a seed gives byte-identical output for a given
// OpenCV build. Every stage draws the same count of numbers whether it fires or not, so switching
// one stage off leaves the choices of the others unchanged.
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace sola::data {

class FaceDetector;
class LandmarkPredictor;

/// How self_blend() makes a pseudo-fake. "Face size" below is the longer side of the landmarks'
/// bounding box (or of the face box for the ellipse). validate() checks every field.
struct SelfBlendOptions {
  // ---- 1. mask shape ----
  /// Shapes drawn uniformly where 68 landmarks are given (see self_blend_shapes()):
  ///   hull      convex hull of all 68 points (jaw, brows, eyes, nose, mouth)
  ///   lower     hull without the brows (points 0-16, 27-67): no forehead
  ///   inner     hull of brows, eyes, nose and mouth (17-67): no jaw line or cheeks
  ///   extended  hull with the brows raised by 15-30% of the brow-chin distance (forehead)
  ///   ellipse   an ellipse in the face box (always used where there are no landmarks)
  std::vector<std::string> shapes = {"hull", "lower", "inner", "extended"};

  // ---- 2. colour and frequency (source, or the whole target with probability target_p) ----
  /// Probability that the colour and frequency stages transform the target instead of the source.
  double target_p = 0.5;
  /// Probability of adding a per-channel offset uniform in [-rgb_shift, rgb_shift] grey levels.
  double rgb_shift_p = 0.3;
  int rgb_shift = 20;
  /// Probability of rotating the hue by up to +-hue_shift degrees and scaling saturation and value
  /// by factors uniform in [1 - saturation, 1 + saturation] and [1 - value, 1 + value].
  double hsv_p = 1.0;
  double hue_shift = 5.0;
  double saturation = 0.15;
  double value = 0.1;
  /// Probability of scaling contrast about the mean grey by a factor in [1 - contrast, 1 + contrast]
  /// and adding brightness uniform in [-brightness, brightness] x 255.
  double brightness_contrast_p = 1.0;
  double brightness = 0.1;
  double contrast = 0.1;
  /// Probability of the frequency stage: half the time downscale by a factor uniform in
  /// [downscale_min, downscale_max] (area) and upscale back (bilinear), else sharpen with strength
  /// uniform in [sharpen_min, sharpen_max] (the 3x3 kernel of albumentations' Sharpen).
  double frequency_p = 1.0;
  double downscale_min = 1.5;
  double downscale_max = 4.0;
  double sharpen_min = 0.2;
  double sharpen_max = 0.5;

  // ---- 3. geometry (source and mask only) ----
  /// Probability of moving the source by up to +-translate_x / +-translate_y of the image size and
  /// scaling it about the face centre by a factor uniform in [scale_min, scale_max].
  double geometric_p = 1.0;
  double translate_x = 0.03;
  double translate_y = 0.015;
  double scale_min = 0.95;
  double scale_max = 1.05;

  // ---- 4. mask deformation ----
  /// Probability of an elastic deformation: a smooth random displacement field (bicubic over a
  /// 5x5 grid spanning the face) of at most elastic_strength x face size.
  double elastic_p = 1.0;
  double elastic_strength = 0.04;
  /// Probability of eroding or dilating (even odds) the mask by a radius uniform in
  /// [0, morph_max] x face size (an erosion that would empty the mask is skipped).
  double morph_p = 0.5;
  double morph_max = 0.05;
  /// Gaussian blur of the mask edge with sigma uniform in [blur_min, blur_max] x face size; the
  /// blurred mask is rescaled to a maximum of 1.
  double blur_min = 0.01;
  double blur_max = 0.05;
  /// Blend ratios: one is drawn uniformly and multiplies the soft mask (SBI's list by default).
  std::vector<double> blend_ratios = {0.25, 0.5, 0.75, 1.0, 1.0, 1.0};

  // ---- 5. floor ----
  /// Smallest per-pixel difference (grey levels, largest over channels) between source and target;
  /// pixels closer than that get the source set to target +- min_difference. In [1, 32], and
  /// larger than 0.5 / (the smallest blend ratio), so that the pixel of largest weight always changes.
  int min_difference = 3;

  /// Throws sola::ConfigError naming the first bad field, its value and the allowed range.
  void validate() const;
};

/// The names SelfBlendOptions::shapes accepts, in a fixed order.
std::vector<std::string> self_blend_shapes();

/// One pseudo-fake and what it was made from. All images have the input's size.
struct SelfBlendResult {
  cv::Mat fake;    ///< CV_8UC3 BGR: the self-blended image
  cv::Mat source;  ///< CV_8UC3 BGR: the transformed copy blended in (after the floor step)
  cv::Mat target;  ///< CV_8UC3 BGR: the background; the input itself unless target_p fired
  cv::Mat weight;  ///< CV_32FC1 blend weights in [0, 1]; 0 wherever fake == target
  cv::Mat mask;    ///< CV_8UC1: 255 where weight > 0 (= where fake != target), else 0
  std::string shape;  ///< the mask shape used (one of self_blend_shapes())
  bool target_transformed = false;  ///< the colour/frequency stages went to the target
};

/// Makes a self-blended pseudo-fake of `bgr` (CV_8UC3; an image of a face).
///
/// `landmarks`: the face's 68 points (iBUG order) in the image's pixel coordinates, or empty.
/// `face_box`: the face box, used for the ellipse (where landmarks are empty or "ellipse" is
/// drawn); when it is empty too, the landmarks' bounding box, else a centred box of 60% of the
/// image. Where the drawn hull has no pixel inside the image, the ellipse is used instead.
///
/// Throws ConfigError for invalid `options` and std::invalid_argument for an empty or non-CV_8UC3
/// image or a landmark count other than 0 or 68.
SelfBlendResult self_blend(const cv::Mat& bgr, const std::vector<cv::Point2f>& landmarks,
                           const cv::Rect2f& face_box, uint64_t seed, const SelfBlendOptions& options = {});

/// True when `landmarks` are 68 finite points whose bounding box lies within the image enlarged by
/// 10% a side and covers at least 1% of the image area (a predictor's output on a real face).
bool plausible_landmarks(const std::vector<cv::Point2f>& landmarks, cv::Size image_size);

/// The 68 landmarks of the largest face `detector` finds in `bgr` (from the face itself when the
/// detector predicts them, else from `predictor`), or empty when there is no face or the points
/// are not plausible_landmarks. `face_box`, when given, receives the largest face's box (empty
/// when there is no face), so a caller can fall back to an ellipse in it.
std::vector<cv::Point2f> find_landmarks(const cv::Mat& bgr, FaceDetector& detector,
                                        const LandmarkPredictor& predictor, cv::Rect2f* face_box = nullptr);

}  // namespace sola::data
