#include "detect/heatmap.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "eval/plot.h"

namespace sola::detect {
namespace {

constexpr int kMinTile = 224;   // tiles are at least this wide, so small model inputs stay legible
constexpr int kMargin = 10;
constexpr int kHeader = 44;     // score line
constexpr int kTitle = 26;      // tile titles
constexpr double kAlpha = 0.45; // weight of the colour map over the face

/// `map` (CV_32F, values in [0, 1]) upsampled to `tile`'s size (bicubic, clamped), JET-coloured and
/// blended over the tile.
cv::Mat overlay(const cv::Mat& tile, const cv::Mat& map) {
  cv::Mat up, u8, color, out;
  cv::resize(map, up, tile.size(), 0, 0, cv::INTER_CUBIC);
  up.convertTo(u8, CV_8U, 255.0);  // saturating: clamps the bicubic overshoot to [0, 255]
  cv::applyColorMap(u8, color, cv::COLORMAP_JET);
  cv::addWeighted(tile, 1.0 - kAlpha, color, kAlpha, 0.0, out);
  return out;
}

void put_text(cv::Mat& image, const std::string& text, cv::Point origin, double scale, const cv::Scalar& color,
              int thickness) {
  cv::putText(image, text, origin, cv::FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv::LINE_AA);
}

}  // namespace

cv::Mat render_heatmap(const FaceResult& face, double threshold) {
  if (face.crop.empty() || face.crop.type() != CV_8UC3)
    throw Error("render_heatmap: the face has no 8-bit BGR crop");
  const int side = std::max({face.crop.rows, face.crop.cols, kMinTile});
  cv::Mat crop;
  cv::resize(face.crop, crop, cv::Size(side, side), 0, 0, cv::INTER_LINEAR);

  std::vector<std::pair<std::string, cv::Mat>> tiles{{"face", crop}};
  if (!face.anomaly.empty()) tiles.emplace_back("2nd-order anomaly", overlay(crop, face.anomaly));
  if (!face.gradcam.empty()) tiles.emplace_back("Grad-CAM", overlay(crop, face.gradcam));

  const int n = static_cast<int>(tiles.size());
  const int width = n * side + (n + 1) * kMargin;
  const int height = kHeader + kTitle + side + kMargin;
  cv::Mat panel(height, width, CV_8UC3, cv::Scalar::all(255));

  const bool fake = face.score >= threshold;
  const cv::Scalar verdict = fake ? cv::Scalar(30, 30, 210) : cv::Scalar(40, 150, 40);  // BGR red / green
  put_text(panel, fmt::format("score {:.3f} {}", face.score, fake ? "FAKE" : "REAL"), {kMargin, 31}, 0.8, verdict, 2);
  put_text(panel, fmt::format("threshold {:.2f}", threshold), {width - kMargin - 150, 29}, 0.5,
           cv::Scalar::all(90), 1);

  for (int i = 0; i < n; ++i) {
    const int x = kMargin + i * (side + kMargin);
    put_text(panel, tiles[i].first, {x, kHeader + kTitle - 8}, 0.55, cv::Scalar::all(40), 1);
    tiles[i].second.copyTo(panel(cv::Rect(x, kHeader + kTitle, side, side)));
  }
  return panel;
}

void write_heatmap(const std::string& path, const FaceResult& face, double threshold) {
  eval::write_png(path, render_heatmap(face, threshold));
}

std::string encode_png(const cv::Mat& bgr) {
  if (bgr.empty()) throw Error("encode_png: empty image");
  std::vector<uchar> bytes;
  bool ok = false;
  try {
    ok = cv::imencode(".png", bgr, bytes);
  } catch (const cv::Exception& e) {
    throw Error("encode_png: PNG encoding failed: " + e.err);
  }
  if (!ok) throw Error("encode_png: PNG encoding failed");
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace sola::detect
