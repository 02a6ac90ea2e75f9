#include "data/face_track.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace sola::data {

float box_iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float inter = (a & b).area();
  const float uni = a.area() + b.area() - inter;
  return uni > 0 && inter > 0 ? inter / uni : 0.f;
}

FaceTracker::FaceTracker(FaceDetector& detector, FaceTrackOptions options, bool all_faces)
    : detector_(detector), options_(options), all_faces_(all_faces) {
  if (options_.refresh < 1)
    throw ConfigError("face tracking: refresh " + std::to_string(options_.refresh) + ": must be at least 1 frame");
  if (!(options_.window >= 1.2f))
    throw ConfigError("face tracking: window " + std::to_string(options_.window) +
                      ": must be at least 1.2 (times the face box side)");
}

std::vector<Face> FaceTracker::full(const cv::Mat& frame) {
  ++stats_.full;
  since_full_ = 1;
  last_ = all_faces_ ? detector_.detect(frame) : detector_.detect_largest(frame);
  return last_;
}

std::vector<Face> FaceTracker::next(const cv::Mat& frame) {
  ++stats_.frames;
  if (frame.empty()) {
    last_.clear();
    return {};
  }
  if (!options_.track || last_.empty() || since_full_ >= options_.refresh) return full(frame);
  std::vector<Face> found;
  for (const Face& prev : last_) {
    const float side = std::max(prev.box.width, prev.box.height);
    const float w = options_.window * side;
    const cv::Point2f c(prev.box.x + prev.box.width / 2, prev.box.y + prev.box.height / 2);
    const std::vector<Face> near = detector_.detect_in(frame, cv::Rect2f(c.x - w / 2, c.y - w / 2, w, w), side);
    // The candidate that overlaps the last box most; with none overlapping, the one nearest to it.
    const Face* best = nullptr;
    float best_key = -1e30f;
    for (const Face& f : near) {
      const cv::Point2f fc(f.box.x + f.box.width / 2, f.box.y + f.box.height / 2);
      const float iou = box_iou(f.box, prev.box);
      const float key = iou > 0 ? iou : -static_cast<float>(cv::norm(fc - c)) / side;
      if (key > best_key) {
        best_key = key;
        best = &f;
      }
    }
    if (!best) {
      ++stats_.lost;
      return full(frame);
    }
    found.push_back(*best);
  }
  // Two followed faces that moved onto one face (crossing paths): sort them out with a full detection.
  for (size_t i = 0; i < found.size(); ++i)
    for (size_t j = i + 1; j < found.size(); ++j)
      if (box_iou(found[i].box, found[j].box) > 0.5f) {
        ++stats_.lost;
        return full(frame);
      }
  std::stable_sort(found.begin(), found.end(), [](const Face& a, const Face& b) { return a.box.area() > b.box.area(); });
  ++stats_.followed;
  ++since_full_;
  last_ = found;
  return found;
}

}  // namespace sola::data
