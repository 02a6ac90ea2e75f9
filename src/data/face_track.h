#pragma once
// Faces followed through the sampled frames of a video: a full-frame detection finds them, and in
// the frames after it each face is looked for again only in a window around its last box, at the
// scale of that box (FaceDetector::detect_in), which costs a fraction of a full-frame scan. The box
// is always a fresh detection, never a copy or an extrapolation, so crops are cut as in training.
// A frame gets a full-frame detection when a face is lost (not found in its window), when the last
// full detection found none, and every `refresh` frames (so a larger face coming into view replaces
// the one followed, and with all_faces new faces are picked up).
//
//   data::FaceTracker tracker(*detector, {}, /*all_faces=*/false);
//   for (each sampled frame) faces = tracker.next(frame);   // largest first
#include <vector>

#include <opencv2/core.hpp>

#include "data/face.h"

namespace sola::data {

struct FaceTrackOptions {
  bool track = true;    ///< false: a full-frame detection in every frame
  int refresh = 8;      ///< a full-frame detection at least every `refresh` frames (>= 1)
  float window = 2.0f;  ///< side of the window a face is looked for in, as a multiple of its box side (>= 1.2)
};

/// What a tracker did, frame by frame.
struct FaceTrackStats {
  int frames = 0;     ///< next() calls
  int full = 0;       ///< frames that got a full-frame detection
  int followed = 0;   ///< frames whose faces were all found again in their windows
  int lost = 0;       ///< frames where a followed face was not found in its window (then: full detection)
};

/// Intersection over union of two boxes (0 when either is empty).
float box_iou(const cv::Rect2f& a, const cv::Rect2f& b);

class FaceTracker {
 public:
  /// `detector` must outlive the tracker. Only the largest face is followed unless all_faces.
  /// Throws ConfigError for refresh < 1 or window < 1.2.
  FaceTracker(FaceDetector& detector, FaceTrackOptions options, bool all_faces);
  /// The faces of the next frame (8-bit BGR, BGRA or gray), largest first; at most one unless
  /// all_faces. Frames must come in order; a frame that is empty has no faces and ends the following.
  std::vector<Face> next(const cv::Mat& frame);
  const FaceTrackStats& stats() const { return stats_; }

 private:
  std::vector<Face> full(const cv::Mat& frame);

  FaceDetector& detector_;
  FaceTrackOptions options_;
  bool all_faces_;
  std::vector<Face> last_;   ///< the faces of the last frame (empty: none followed)
  int since_full_ = 0;       ///< frames since the last full-frame detection
  FaceTrackStats stats_;
};

}  // namespace sola::data
