#pragma once
// The framing of a set of face crops: how much of each crop the face fills, measured as
// scripts/crop_scale.sh measures it (the face detector run on the crop: face box side / crop
// side, median over a sample), and the crop scale that reproduces it (crop side = scale x the face
// box, what data::crop_region and `sola detect`/`serve` cut). A model must be shown faces at the
// framing it was trained on: `sola train` measures its training images with this and writes the
// crop scale into every model file it saves.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "data/face.h"
#include "data/manifest.h"

namespace sola::data {

struct FramingOptions {
  int sample = 48;          ///< images measured in all (spread over the sources by their size)
  int min_per_source = 16;  ///< but at least this many of each source (or all it has)
  /// Sources whose crop scales differ by more than this share (largest / smallest - 1) are reported.
  double wide_spread = 0.25;
  FaceDetectorOptions detector;  ///< the detector `sola detect` uses by default (dlib-hog)
};

/// The framing of one source (a manifest file) or of all of them together.
struct SourceFraming {
  std::string source;      ///< the manifest file ("all" for the combination)
  int64_t images = 0;      ///< images in it
  int64_t sampled = 0;     ///< images measured
  int64_t faces = 0;       ///< of which a face was found in
  double median_ratio = 0; ///< face box side / crop side, median over the faces found
  double q1 = 0, q3 = 0;   ///< quartiles of the ratio
  /// The crop scale that reproduces the framing: 1 / median ratio (0 when no face was found).
  double crop_scale() const { return faces > 0 && median_ratio > 0 ? 1.0 / median_ratio : 0.0; }
  nlohmann::json to_json() const;
};

struct Framing {
  std::vector<SourceFraming> sources;  ///< one per manifest file, in order
  SourceFraming all;                   ///< every source, each weighted by its number of images
  /// The crop scale models trained on these images should be used at: all.crop_scale() within
  /// [1, 10] (the range sola export --crop-scale and detect accept), 0 when no face was found.
  double crop_scale = 0;
  double spread = 0;     ///< largest / smallest crop scale of the sources - 1 (0 for one source)
  std::string warning;   ///< non-empty when the sources differ by more than wide_spread, or none was measured
  bool measured() const { return crop_scale > 0; }
  /// Lines for the log: the combined figure, one per source where there are several.
  std::string describe() const;
  /// {"crop_scale", "median_box_over_crop", "sampled", "faces", "sources": [...], "spread", "warning", "method"}
  nlohmann::json to_json() const;
};

/// Face box side / crop side for one crop (the largest face; box side = the larger of its width
/// and height, crop side = the image's larger side), or a negative number when no face is found.
double framing_ratio(const cv::Mat& bgr, FaceDetector& detector);

/// Measures a sample of `manifest`'s images, per source manifest (Sample::source), evenly spread
/// over each source's rows. Unreadable images count as sampled without a face.
Framing measure_framing(const Manifest& manifest, const FramingOptions& options = {});

}  // namespace sola::data
