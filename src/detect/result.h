#pragma once
// What detection reports: the scored faces of one input, its per-frame scores, and its JSON form
// (what `sola detect --json` prints and `sola serve` answers). Made by detect::Detector
// (detect/detect.h); read by the heat maps, the timeline and the server.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

namespace sola::detect {

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

}  // namespace sola::detect
