#include "detect/result.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace sola::detect {
namespace {

/// `v` rounded to `digits` decimals (dividing last, so that JSON prints the short form).
double round_to(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

/// [x, y, w, h] rounded to 2 decimals.
nlohmann::json box_json(const cv::Rect2f& b) {
  return {round_to(b.x, 2), round_to(b.y, 2), round_to(b.width, 2), round_to(b.height, 2)};
}

}  // namespace

nlohmann::json InputResult::to_json() const {
  nlohmann::json j{{"path", path},
                   {"kind", kind},
                   {"status", reported_status()},
                   {"threshold", threshold},
                   {"frames", frames_read},
                   {"frames_without_face", frames_without_face}};
  if (!error.empty()) j["error"] = error;
  if (!warnings.empty()) j["warnings"] = warnings;
  if (ok()) {
    j["score"] = round_to(score, 6);
    j["label"] = fake ? "fake" : "real";
  } else {
    j["score"] = nullptr;
    j["label"] = nullptr;
  }
  j["faces"] = nlohmann::json::array();
  for (const auto& f : faces)
    j["faces"].push_back({{"box", box_json(f.box)},
                          {"score", round_to(f.score, 6)},
                          {"label", f.fake ? "fake" : "real"},
                          {"frame", f.frame}});
  if (kind == "video" && ok()) {
    const std::vector<FrameScore> frames = frame_scores();
    int64_t scored = 0;
    for (const auto& f : frames) scored += f.has_face() ? 1 : 0;
    j["aggregation"] = {{"method", "mean"},
                        {"mean", round_to(score, 6)},
                        {"max", round_to(score_max, 6)},
                        {"share_above_threshold", round_to(share_fake_frames, 6)},
                        {"frames_scored", scored}};
    auto& timeline = j["timeline"] = nlohmann::json::array();
    for (const auto& f : frames) {
      nlohmann::json entry{{"frame", f.frame}, {"time", round_to(f.time_s, 3)}};
      entry["score"] = f.has_face() ? nlohmann::json(round_to(f.score, 6)) : nlohmann::json(nullptr);
      entry["faces"] = nlohmann::json::array();
      for (const FaceResult* face : f.faces)
        entry["faces"].push_back({{"box", box_json(face->box)}, {"score", round_to(face->score, 6)}});
      timeline.push_back(std::move(entry));
    }
  }
  return j;
}

std::vector<FrameScore> InputResult::frame_scores() const {
  std::vector<FrameScore> out;
  std::map<int64_t, size_t> at;  // frame index -> position in out
  for (const auto& s : sampled) {
    if (at.count(s.index)) continue;
    at[s.index] = out.size();
    FrameScore f;
    f.frame = s.index;
    f.time_s = s.time_s;
    f.score = std::numeric_limits<double>::quiet_NaN();
    out.push_back(f);
  }
  for (const auto& face : faces) {
    auto it = at.find(face.frame);
    if (it == at.end()) {  // a face of a frame not listed (e.g. a result built by hand): add the frame
      it = at.emplace(face.frame, out.size()).first;
      FrameScore f;
      f.frame = face.frame;
      out.push_back(f);
    }
    FrameScore& f = out[it->second];
    f.score = f.faces.empty() ? face.score : std::max(f.score, face.score);
    f.faces.push_back(&face);
  }
  std::stable_sort(out.begin(), out.end(), [](const FrameScore& a, const FrameScore& b) { return a.frame < b.frame; });
  return out;
}

void InputResult::apply_threshold(double t) {
  threshold = t;
  for (auto& f : faces) f.fake = f.score >= t;
  if (!ok()) return;
  fake = score >= t;
  int64_t scored = 0, above = 0;
  for (const auto& f : frame_scores()) {
    if (!f.has_face()) continue;
    ++scored;
    above += f.score >= t ? 1 : 0;
  }
  share_fake_frames = scored ? static_cast<double>(above) / static_cast<double>(scored) : 0.0;
}

}  // namespace sola::detect
