#pragma once
// Heat maps of where the model sees the forgery (as in the paper's Fig. 5).
#include <string>

#include <opencv2/core.hpp>

#include "detect/result.h"

namespace sola::detect {

/// A panel for one face: the crop | the crop with the second-order anomaly map overlaid | the crop
/// with the Grad-CAM of the forgery class overlaid, titled, with "score 0.873 FAKE" printed above.
/// Maps are upsampled bicubically (clamped to [0, 1]), JET-coloured (blue 0 .. red 1) and blended at
/// 45 %; the anomaly map is an absolute probability, Grad-CAM is relative (its maximum is red).
/// Tiles are square with side max(crop side, 224), 10 px apart and from the edges: width
/// n * side + (n + 1) * 10 for n tiles. 8-bit BGR. A tile is left out when its map is empty (no
/// DetectOptions::maps, or no anomaly map for a ResNet model). Throws sola::Error without a crop.
cv::Mat render_heatmap(const FaceResult& face, double threshold = 0.5);

/// Writes render_heatmap(face) as a PNG at `path` (IoError naming it on failure).
void write_heatmap(const std::string& path, const FaceResult& face, double threshold = 0.5);

/// PNG-encodes an 8-bit image in memory (for the server).
std::string encode_png(const cv::Mat& bgr);

}  // namespace sola::detect
