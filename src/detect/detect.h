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
// The library under `sola detect` and `sola serve`; no printing here.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "data/face.h"
#include "data/face_track.h"
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

/// One scored face.
struct FaceResult {
  cv::Rect2f box;              ///< face box in the frame (the whole image with crops=true)
  cv::Rect2f crop_region;      ///< the square region that was cropped (may extend past the frame)
  double score = 0;            ///< forgery probability in [0, 1]
  double logit = 0;
  bool fake = false;           ///< score >= threshold
  int64_t frame = 0;           ///< frame index (0 for images)
  cv::Mat crop;                ///< the model's input, 8-bit BGR, input_size x input_size
  /// CV_32F G x G, values in [0, 1]: per cell the mean of the second-order maps (v1 v2 h1 h2) that are
  /// defined there (the top/left border cells lack a neighbour two steps away; the corner cells where
  /// none is defined get the mean of the other cells).
  /// An absolute probability, not rescaled per face. Empty unless maps, and for models without maps.
  cv::Mat anomaly;
  /// CV_32F in [0, 1] at the size of ModelOutput::features (G x G for SOLA, the last stage for ResNet):
  /// Grad-CAM of the forgery logit, scaled so its maximum is 1 (all zero when no cell counts). Empty unless maps.
  cv::Mat gradcam;
};

/// One sampled frame of a video (an image is one frame: index 0, time 0).
struct SampledFrame {
  int64_t index = 0;
  double time_s = 0;           ///< presentation time in seconds
};

/// A sampled frame with its faces and score, as InputResult::frame_scores gives them.
struct FrameScore {
  int64_t frame = 0;
  double time_s = 0;
  double score = 0;            ///< the frame's highest face score; NaN when no face was found in it
  std::vector<const FaceResult*> faces;  ///< pointers into InputResult::faces
  bool has_face() const { return !faces.empty(); }
};

/// Where the time of one input went (milliseconds). Videos decode on a second thread while faces are
/// found, so decode + face can exceed the wall time.
struct PhaseTiming {
  double decode_ms = 0;        ///< reading and decoding (images: 0 for one given in memory)
  double face_ms = 0;          ///< finding faces and cutting crops
  double model_ms = 0;         ///< the model (this input's share of the batches it was scored in)
};

/// The outcome for one input file.
struct InputResult {
  std::string path;
  std::string kind;            ///< "image" | "video" | "crop"
  /// "ok" | "no_face" (readable, no face found) | "unreadable" (missing, corrupt, not a regular file,
  /// permission denied) | "unsupported" (not an image or video; a crop below kMinCropSide)
  std::string status;
  std::string error;           ///< message naming the file, when status is not ok
  /// Damage the decoders worked around (a truncated JPEG, a video cut short), each naming the file. A
  /// scored input with warnings is reported with status "damaged": its score is not to be trusted.
  std::vector<std::string> warnings;
  std::vector<FaceResult> faces;   ///< images: the faces; videos: the face(s) scored in each sampled frame, by frame
  double score = 0;            ///< images: max face score; videos: mean over frames of the frame's max face score
  bool fake = false;           ///< score >= threshold
  double threshold = 0.5;      ///< the threshold `fake` was decided with
  int64_t frames_read = 0;     ///< videos: frames sampled; images: 1
  int64_t frames_without_face = 0;
  std::vector<SampledFrame> sampled;  ///< the frames read, in order (images: one)
  double score_max = 0;        ///< the highest frame score (images: = score)
  /// Videos: the share of the frames with a face whose score is >= threshold (images: 0 or 1).
  double share_fake_frames = 0;
  PhaseTiming timing;
  bool ok() const { return status == "ok"; }
  /// The status to show: "damaged" for a scored input with warnings, else `status`.
  std::string reported_status() const { return ok() && !warnings.empty() ? "damaged" : status; }
  /// Per sampled frame, in order: its faces and score (the frame score is its highest face score).
  std::vector<FrameScore> frame_scores() const;
  /// Labels the input and its faces at `threshold` and recomputes share_fake_frames (score() does
  /// this at the detector's threshold; a caller may ask for another one).
  void apply_threshold(double threshold);
  /// {"path","kind","status" (reported_status),"error" (when not empty),"warnings" (when any),"score","label" ("fake"|"real"; both null unless
  /// status is ok),"threshold","frames","frames_without_face",
  ///  "faces":[{"box":[x,y,w,h],"score","label","frame"}]}; scores rounded to 6 decimals.
  /// Videos (status ok) add
  ///  "aggregation":{"method":"mean","mean","max","share_above_threshold","frames_scored"} -- the score
  ///   is the mean over the frames with a face of each frame's highest face score; max is the highest
  ///   frame score; share_above_threshold the share of those frames scoring >= threshold -- and
  ///  "timeline":[{"frame","time" (seconds, 3 decimals),"score" (null without a face),
  ///               "faces":[{"box","score"}]}] with one entry per sampled frame.
  nlohmann::json to_json() const;
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

/// Grad-CAM (Selvaraju et al.) of `logit` [B] with respect to `features` [B,C,H,W] from the same
/// forward pass (grad enabled): per sample, ReLU(sum_c mean_hw(d logit / d A_c) * A_c) divided by its
/// maximum (an all-zero map stays zero). Returns [B,H,W] float in [0, 1], detached.
torch::Tensor grad_cam(const torch::Tensor& logit, const torch::Tensor& features);

/// Scores faces with one model. Not thread-safe: one Detector per thread (they may share the model),
/// except that prepare_* may run on one other thread while score runs.
class Detector {
 public:
  /// Takes a loaded model and prepares it for inference in place, once (model/fuse.h: eval mode, conv-BN
  /// folding, channels-last weights); Detectors may share one model. Throws ConfigError for bad options.
  Detector(sola::Detector model, DetectOptions options);

  /// Called after each sampled frame of a video with (frames done, frames to sample).
  using Progress = std::function<void(int64_t done, int64_t total)>;

  /// Any input file: image or video by extension, crop when options.crops. Never throws for a bad
  /// input: the status says what went wrong and `error` names the file.
  InputResult detect_file(const std::string& path, const Progress& progress = {});
  /// A video whatever its path's extension (e.g. an upload read through /proc/self/fd/N), as detect_file.
  InputResult detect_video(const std::string& path, const Progress& progress = {});
  /// An image already in memory (8-bit BGR; gray and BGRA are converted), e.g. an upload.
  /// `name` is used in messages.
  InputResult detect_image(const cv::Mat& bgr, const std::string& name = "image");
  /// Scores crops (8-bit BGR, any size: resized to the model's input) in batches of batch_size.
  std::vector<FaceResult> score_crops(const std::vector<cv::Mat>& crops);

  /// The model-free half of detect_file: reads the file, finds the faces and cuts their crops
  /// (faces get box, crop_region, frame and crop; no scores). Status "ok" means faces to score.
  InputResult prepare_file(const std::string& path, const Progress& progress = {});
  /// The model-free half of detect_image.
  InputResult prepare_image(const cv::Mat& bgr, const std::string& name = "image");
  /// The model half: scores the faces of all `inputs` together in batches of batch_size and sets
  /// each input's score and label. With options.maps, the maps of every face of an image and of the
  /// faces of a video's highest-scoring frame (the others' maps stay empty: they are costly).
  void score(std::vector<InputResult>& inputs);

  const DetectOptions& options() const { return options_; }
  const sola::Detector& model() const { return model_; }

 private:
  void score_faces(const std::vector<FaceResult*>& faces, bool maps);
  std::vector<FaceResult> faces_in(const cv::Mat& bgr, int64_t frame, data::FaceTracker* tracker = nullptr);
  InputResult prepare_video(InputResult r, const Progress& progress);
  int input_size() const;

  sola::Detector model_;
  DetectOptions options_;
  std::unique_ptr<data::FaceDetector> faces_;  // created on first use
};

/// All files under `paths` (folders recursively, sorted, hidden files and folders skipped), images
/// and videos first-class; other files are returned too so that they get an "unsupported" status.
/// A path that does not exist is kept (its result is "unreadable": file not found), and so are folders
/// that cannot be read and entries whose symbolic link is broken or loops (reported as unreadable).
std::vector<std::string> expand_inputs(const std::vector<std::string>& paths);

}  // namespace sola::detect
