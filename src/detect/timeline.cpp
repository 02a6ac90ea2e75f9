#include "detect/timeline.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "eval/plot.h"

namespace sola::detect {

cv::Mat render_timeline(const InputResult& r, int width, int height) {
  if (!r.ok()) throw Error("render_timeline: " + r.path + " has status " + r.status + ", no scores to plot");
  const std::vector<FrameScore> frames = r.frame_scores();
  eval::Series score{"frame score", {}, {}}, threshold{fmt::format("threshold {:.2f}", r.threshold), {}, {}},
      no_face{"no face found", {}, {}};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const FrameScore& f : frames) {
    score.x.push_back(f.time_s);
    score.y.push_back(f.has_face() ? f.score : nan);
    if (!f.has_face()) {
      no_face.x.push_back(f.time_s);
      no_face.y.push_back(0.0);
    } else if (!no_face.x.empty() && !std::isnan(no_face.y.back())) {
      no_face.x.push_back(f.time_s);  // breaks the no-face marks between runs of frames without a face
      no_face.y.push_back(nan);
    }
  }
  double t0 = frames.empty() ? 0.0 : frames.front().time_s, t1 = frames.empty() ? 1.0 : frames.back().time_s;
  if (t1 <= t0) t1 = t0 + 1.0;
  threshold.x = {t0, t1};
  threshold.y = {r.threshold, r.threshold};
  eval::PlotOptions o;
  const auto scored = std::count_if(frames.begin(), frames.end(), [](const FrameScore& f) { return f.has_face(); });
  std::string name = std::filesystem::path(r.path).filename().string();
  if (name.size() > 32) name = name.substr(0, 29) + "...";
  o.title = fmt::format("{}: {} {:.3f} (mean of {}; max {:.3f}; {:.0f}% >= {:.2f})", name, r.fake ? "FAKE" : "REAL",
                        r.score, scored, r.score_max, 100.0 * r.share_fake_frames, r.threshold);
  o.x_label = "time (s)";
  o.y_label = "forgery score";
  o.width = width;
  o.height = height;
  o.y_unit_range = true;
  std::vector<eval::Series> series{score, threshold};
  if (!no_face.x.empty()) series.push_back(no_face);
  return eval::plot_lines(series, o);
}

void write_timeline(const std::string& path, const InputResult& result) {
  eval::write_png(path, render_timeline(result));
}

}  // namespace sola::detect
