#pragma once
// Fixed degradations for robustness read-outs (`sola eval --perturb`): the same change applied to
// every evaluated image, in the manner of the perturbation protocols of DeeperForensics-1.0 and
// LipForensics (blur, JPEG compression, resolution loss, noise; and its opposite, sharpening), so that a model's AUC can be read
// against how much of the high-frequency signal it relies on survives. OpenCV only, no LibTorch.
//
// A perturbation acts on the image at the model's input size (after the resize, where training's
// augmentation acts too), so its strength is in pixels of that size:
//   blur:SIGMA        Gaussian blur of standard deviation SIGMA px (0 < SIGMA <= 8): the kernel of
//                     the blur augmentation (data/augment_plan.h)
//   jpeg:QUALITY      JPEG encoding at QUALITY (1..100) and decoding, OpenCV's libjpeg
//   downscale:FACTOR  resize to FACTOR of the side (0 < FACTOR < 1, area averaging) and back up
//                     (bilinear): the detail lost to a smaller source
//   sharpen:AMOUNT    unsharp mask (1 + AMOUNT) x - AMOUNT G(x), G the Gaussian of 1 px (0 < AMOUNT <= 8):
//                     the sharpening augmentation's filter at its default sigma; detail added, the way
//                     camera pipelines and photographs sharpen where DFDC's video frames are soft
//   noise:STD         additive Gaussian noise of standard deviation STD grey levels (0 < STD <= 64),
//                     rounded and clipped to 8 bits; seeded per image, so a rerun gives the same pixels
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace sola::data {

struct Perturbation {
  enum class Kind { Blur, Jpeg, Downscale, Noise, Sharpen };
  Kind kind = Kind::Blur;
  double value = 0;
  /// "blur:1.5": the form parse_perturbation() reads.
  std::string spec() const;
};

/// Reads "KIND:VALUE" (see above). Throws ConfigError naming the spec and the accepted forms.
Perturbation parse_perturbation(const std::string& spec);

/// The specs of a list, joined with "+" ("blur:1+jpeg:70"; empty for none).
std::string perturbation_specs(const std::vector<Perturbation>& list);

/// Applies `p` to `image` (CV_8UC3) in place; `seed` draws the noise (other kinds ignore it).
void perturb(cv::Mat& image, const Perturbation& p, uint64_t seed);

}  // namespace sola::data
