#pragma once
// The score timeline of a video as a picture: what `sola detect --timeline` writes per video.
#include <string>

#include <opencv2/core.hpp>

#include "detect/result.h"

namespace sola::detect {

/// A line plot (eval::plot_lines) of a scored video: x the sampled frames' time in seconds, y the
/// frame score (its highest face score) in [0, 1]; the line breaks at frames without a face, which are
/// marked along y = 0 ("no face"); a horizontal "threshold" line; the title names the file and the
/// aggregation (mean, max, share of frames at or above the threshold). 8-bit BGR, width x height.
/// Throws sola::Error for a result that is not an ok video or image.
cv::Mat render_timeline(const InputResult& result, int width = 1000, int height = 380);

/// Writes render_timeline(result) as a PNG at `path` (IoError naming it on failure).
void write_timeline(const std::string& path, const InputResult& result);

}  // namespace sola::detect
