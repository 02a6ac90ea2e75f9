#pragma once
// Detection for users: faces found in images, videos and folders, each scored by a model, with
// the maps that show where (second-order anomaly map, Grad-CAM of the forgery class).
//
//   sola::detect::Detector det(sola::load_model(path).model, {});
//   auto result = det.detect_file("clip.mp4");        // per input: status, faces, per-frame scores
//   auto faces  = det.detect_image(bgr);             // per face: box, score, label, maps
//
// Each input goes through two halves: prepare (decode, find faces, cut the crops; OpenCV and dlib
// only) and score (the model, in batches). detect_file/detect_image do both; a caller with many
// inputs may prepare the next inputs on another thread while the model scores the current ones,
// and score the faces of several inputs in one batch (that is what `sola detect` does).
//
// A face crop is cut exactly as for training: the square crop_region (crop_scale x the face box)
// resized to the model's input size (INTER_AREA when shrinking, else INTER_LINEAR), converted to
// RGB [0,1] like load_image, so with crops=true a crop file gets the score `sola eval` gives it.
//
// What it reports is in detect/result.h; beside it: detect/inputs.h (folders -> inputs),
// detect/grad_cam.h, detect/heatmap.h and detect/timeline.h (the pictures).
//
// The library under `sola detect` and `sola serve`; no printing here.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "data/face.h"
#include "data/face_track.h"
#include "detect/result.h"
#include "eval/calibration.h"
#include "model/sola_net.h"

namespace sola::detect {

/// The shortest side a face crop may have (with crops=true): smaller images are refused, not scored.
constexpr int kMinCropSide = 16;

struct DetectOptions {
  double threshold = 0.5;      ///< score >= threshold is labelled "fake"
  int frames = 32;             ///< frames sampled evenly per video
  bool crops = false;          ///< inputs are face crops already: no detection, the whole image is the face
  float crop_scale = 2.6f;     ///< face box -> crop side (as in training)
  data::FaceDetectorOptions detector;  ///< face detector (dlib-hog by default)
  bool all_faces = false;      ///< score every face in a frame, not only the largest
  bool maps = false;           ///< compute the second-order map and Grad-CAM per face (needed for heat maps)
  int batch_size = 16;         ///< faces per forward pass
  bool bf16 = false;           ///< bfloat16 autocast on CPU (faster; see docs/PERFORMANCE.md for the AUC cost)
  /// Platt scaling of the logit stored by `sola calibrate` (score = sigmoid(a logit + b)); the identity
  /// (a model without one) gives the raw sigmoid.
  eval::Calibration calibration;
  /// Videos: faces followed from one sampled frame to the next instead of a full-frame detection in
  /// each (data/face_track.h; what it costs in faces missed: docs/PERFORMANCE.md, "Videos").
  data::FaceTrackOptions tracking;
  bool prefetch = true;        ///< videos: the next sampled frames are decoded on a second thread meanwhile
};

/// What one call may choose apart from its Detector's options (an unset choice is the option's), so
/// that one Detector serves face crops and whole images, with maps and without: `sola serve` keeps
/// one Detector per detection slot and passes each request's choices.
struct CallOptions {
  std::optional<bool> crops;   ///< DetectOptions::crops for this call (inputs are face crops)
  std::optional<bool> maps;    ///< DetectOptions::maps for this call (second-order map and Grad-CAM)
};

/// The face-crop scale a model was trained with: its metadata's "crop_scale" (written by `sola
/// train`, measured on its training images, and by `sola export --crop-scale`), else the paper's 2.6.
/// Detection must crop faces as the training data was cropped, or the model sees faces at a scale it
/// never learned.
double model_crop_scale(const nlohmann::json& metadata);

/// The crop scale detection uses and where it came from.
struct CropScaleChoice {
  double scale = 2.6;
  std::string source;   ///< "--scale", "model" or "fallback"
  std::string warning;  ///< non-empty for the fallback: the model carries no crop scale
  /// "crop scale 1.20 (the model's, measured on its training data)"
  std::string describe() const;
};

/// `scale` when > 0 (the --scale option), else the model's (model_crop_scale), else the 2.6
/// fallback with a warning that the model carries none.
CropScaleChoice choose_crop_scale(double scale, const nlohmann::json& metadata);

/// Where `sola detect` finds its model when none is given: $SOLA_MODEL (used as given), then
/// models/sola-dfdc.pt next to the executable's folder (<exe dir>/models, <exe dir>/../models,
/// <exe dir>/../share/sola/models), then the source tree's models/ (SOLA_DEFAULT_MODEL_DIR, when the
/// build defines it). Throws IoError listing the places searched when none exists.
std::string default_model_path();

/// Scores faces with one model. Not thread-safe: one Detector per thread (they may share the model),
/// except that prepare_* may run on one other thread while score runs.
class Detector {
 public:
  /// Takes a loaded model and prepares it for inference in place, once (model/fuse.h: eval mode, conv-BN
  /// folding, channels-last weights); Detectors may share one model. Throws ConfigError for bad options.
  Detector(sola::Detector model, DetectOptions options);

  /// Called after each sampled frame of a video with (frames done, frames to sample).
  using Progress = std::function<void(int64_t done, int64_t total)>;

  /// Any input file: image or video by extension, crop when crops. Never throws for a bad input:
  /// the status says what went wrong and `error` names the file.
  InputResult detect_file(const std::string& path, const Progress& progress = {}, const CallOptions& call = {});
  /// A video whatever its path's extension (e.g. an upload read through /proc/self/fd/N), as detect_file.
  InputResult detect_video(const std::string& path, const Progress& progress = {}, const CallOptions& call = {});
  /// An image already in memory (8-bit BGR; gray and BGRA are converted), e.g. an upload.
  /// `name` is used in messages.
  InputResult detect_image(const cv::Mat& bgr, const std::string& name = "image", const CallOptions& call = {});
  /// Scores crops (8-bit BGR, any size: resized to the model's input) in batches of batch_size
  /// (call.crops plays no part: these are crops).
  std::vector<FaceResult> score_crops(const std::vector<cv::Mat>& crops, const CallOptions& call = {});

  /// The model-free half of detect_file: reads the file, finds the faces and cuts their crops
  /// (faces get box, crop_region, frame and crop; no scores). Status "ok" means faces to score.
  /// Of the call's choices only crops counts here. A call with crops off on a Detector made for crops
  /// makes its face detector then (ConfigError for an unknown detector method).
  InputResult prepare_file(const std::string& path, const Progress& progress = {}, const CallOptions& call = {});
  /// The model-free half of detect_image.
  InputResult prepare_image(const cv::Mat& bgr, const std::string& name = "image", const CallOptions& call = {});
  /// The model half: scores the faces of all `inputs` together in batches of batch_size and sets
  /// each input's score and label. With maps, the maps of every face of an image and of the faces
  /// of a video's highest-scoring frame (the others' maps stay empty: they are costly). Of the
  /// call's choices only maps counts here.
  void score(std::vector<InputResult>& inputs, const CallOptions& call = {});

  const DetectOptions& options() const { return options_; }
  const sola::Detector& model() const { return model_; }

 private:
  bool crops(const CallOptions& call) const { return call.crops.value_or(options_.crops); }
  bool maps(const CallOptions& call) const { return call.maps.value_or(options_.maps); }
  void score_faces(const std::vector<FaceResult*>& faces, bool maps);
  std::vector<FaceResult> faces_in(const cv::Mat& bgr, int64_t frame, bool crops, data::FaceTracker* tracker = nullptr);
  InputResult prepare_video(InputResult r, const Progress& progress, bool crops);
  data::FaceDetector& face_detector();
  int input_size() const;

  sola::Detector model_;
  DetectOptions options_;
  std::unique_ptr<data::FaceDetector> faces_;  // created on first use (not for crops)
};

}  // namespace sola::detect
