#include "data/perturb.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "core/parse.h"
#include "data/augment.h"

namespace sola::data {
namespace {

struct KindInfo {
  Perturbation::Kind kind;
  const char* name;
};
constexpr KindInfo kKinds[] = {
    {Perturbation::Kind::Blur, "blur"},
    {Perturbation::Kind::Jpeg, "jpeg"},
    {Perturbation::Kind::Downscale, "downscale"},
    {Perturbation::Kind::Noise, "noise"},
    {Perturbation::Kind::Sharpen, "sharpen"},
};

/// The unsharp mask's Gaussian, in px at the model's input size: the sharpening augmentation's default.
constexpr double kSharpenSigma = 1.0;

const KindInfo& info(Perturbation::Kind kind) {
  return *std::find_if(std::begin(kKinds), std::end(kKinds), [&](const KindInfo& k) { return k.kind == kind; });
}

constexpr const char* kForms = "expected blur:SIGMA (0 < SIGMA <= 8 px), jpeg:QUALITY (1..100), "
                               "downscale:FACTOR (0 < FACTOR < 1), noise:STD (0 < STD <= 64 grey levels) "
                               "or sharpen:AMOUNT (0 < AMOUNT <= 8)";

}  // namespace

std::string Perturbation::spec() const { return fmt::format("{}:{:g}", info(kind).name, value); }

Perturbation parse_perturbation(const std::string& spec) {
  const auto colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const auto kind = std::find_if(std::begin(kKinds), std::end(kKinds), [&](const KindInfo& k) { return name == k.name; });
  if (colon == std::string::npos || kind == std::end(kKinds))
    throw ConfigError(fmt::format("perturbation '{}': {}", spec, kForms));
  const std::string text = spec.substr(colon + 1);
  const std::optional<double> parsed = parse_double(text);
  if (!parsed || !std::isfinite(*parsed))
    throw ConfigError(fmt::format("perturbation '{}': '{}' is not a finite decimal number; {}", spec, text, kForms));
  const double value = *parsed;
  if (kind->kind == Perturbation::Kind::Jpeg && text.find_first_not_of("+0123456789") != std::string::npos)
    throw ConfigError(fmt::format("perturbation '{}': JPEG quality '{}' is not a whole number; {}", spec, text, kForms));
  bool ok = false;
  switch (kind->kind) {
    case Perturbation::Kind::Blur: ok = value > 0 && value <= 8; break;
    case Perturbation::Kind::Jpeg: ok = value >= 1 && value <= 100; break;
    case Perturbation::Kind::Downscale: ok = value > 0 && value < 1; break;
    case Perturbation::Kind::Noise: ok = value > 0 && value <= 64; break;
    case Perturbation::Kind::Sharpen: ok = value > 0 && value <= 8; break;
  }
  if (!ok) throw ConfigError(fmt::format("perturbation '{}': {} out of range; {}", spec, text, kForms));
  return {kind->kind, value};
}

std::string perturbation_specs(const std::vector<Perturbation>& list) {
  std::string out;
  for (const auto& p : list) out += (out.empty() ? "" : "+") + p.spec();
  return out;
}

void perturb(cv::Mat& image, const Perturbation& p, uint64_t seed) {
  switch (p.kind) {
    case Perturbation::Kind::Blur:
      image = gaussian_blur(image, p.value);
      break;
    case Perturbation::Kind::Jpeg:
      jpeg_roundtrip(image, static_cast<int>(p.value));
      break;
    case Perturbation::Kind::Downscale: {
      const cv::Size full = image.size();
      const cv::Size small(std::max(1, static_cast<int>(std::lround(full.width * p.value))),
                           std::max(1, static_cast<int>(std::lround(full.height * p.value))));
      cv::Mat low;
      cv::resize(image, low, small, 0, 0, cv::INTER_AREA);
      cv::resize(low, image, full, 0, 0, cv::INTER_LINEAR);
      break;
    }
    case Perturbation::Kind::Noise: {
      std::mt19937_64 rng(seed);
      std::normal_distribution<float> normal(0.0f, static_cast<float>(p.value));
      cv::Mat noisy;
      image.convertTo(noisy, CV_32FC3);
      for (auto it = noisy.begin<cv::Vec3f>(); it != noisy.end<cv::Vec3f>(); ++it)
        for (int c = 0; c < 3; ++c) (*it)[c] += normal(rng);
      noisy.convertTo(image, CV_8UC3);  // rounds and saturates
      break;
    }
    case Perturbation::Kind::Sharpen:
      unsharp_mask(image, p.value, kSharpenSigma);
      break;
  }
}

}  // namespace sola::data
