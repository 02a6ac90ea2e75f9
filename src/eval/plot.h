#pragma once
// Result plots as images a person looks at, drawn with OpenCV alone: line plots (training curves),
// the ROC curves of several test sets on one set of axes, and reliability diagrams (how well a score
// matches the frequency of fakes), written as PNG files.
#include <cmath>
#include <cstddef>
#include <opencv2/core.hpp>
#include <string>
#include <utility>
#include <vector>

#include "eval/calibration.h"
#include "eval/metrics.h"

namespace sola::eval {

/// One line of a plot: point i is (x[i], y[i]). A point with a NaN or infinite coordinate is
/// skipped and breaks the line there; a point with no drawn neighbour is drawn as a dot.
struct Series {
  std::string name;  ///< legend text; a series with an empty name is drawn but not listed
  std::vector<double> x, y;
};

/// What plot_lines draws around the data.
struct PlotOptions {
  std::string title, x_label, y_label;  ///< each left out when empty
  int width = 800, height = 600;        ///< image size in pixels, at least 200 x 150
  bool x_from_zero = false;             ///< x axis starts at 0 (or lower, if some x is negative)
  bool y_unit_range = false;            ///< y axis fixed to [0,1]; lines leaving it are clipped
  bool diagonal = false;                ///< dashed chance line y = x, for ROC
  bool x_unit_range = false;            ///< x axis fixed to [0,1]; lines leaving it are clipped
  bool markers = false;                 ///< a dot at every drawn point, not only at isolated ones
};

/// The colour (BGR) of the series at `index` in plot_lines' input: eight distinct colours
/// (blue, red, green, orange, purple, brown, pink, cyan), then the same eight again.
cv::Scalar series_color(size_t index);

/// Draws the series as anti-aliased lines on a white CV_8UC3 image of opts.width x opts.height:
/// a framed plot area with grid lines at round tick steps (1, 2 or 5 times a power of ten),
/// numeric tick labels, the title above, axis labels, and a legend (colour and name of each named
/// series) in the corner of the plot area the lines cross least. The axes span the finite data,
/// widened to whole tick steps; a single value gets a range around it, no data gets [0,1].
/// Empty series are skipped. Throws sola::Error if a series' x and y differ in length or the
/// image would be smaller than 200 x 150.
cv::Mat plot_lines(const std::vector<Series>& series, const PlotOptions& opts);

/// The ROC curves of several test sets on one 800 x 600 plot: x = false-positive rate,
/// y = true-positive rate, both [0,1], a dashed chance diagonal, and the legend entry
/// "name (AUC 0.873)" for curve i with aucs[i]. Throws sola::Error if `aucs` is not as long as
/// `curves` or a curve's fpr and tpr differ in length.
cv::Mat plot_roc(const std::vector<std::pair<std::string, RocCurve>>& curves,
                 const std::vector<double>& aucs, const std::string& title);

/// One curve of a reliability diagram: the bins of reliability_bins for one test set's scores.
struct ReliabilityCurve {
  std::string name;                   ///< legend text, e.g. "dfdc/test, calibrated"
  std::vector<ReliabilityBin> bins;   ///< bins with count 0 are not drawn
  double ece = std::nan("");          ///< in the legend as "name (ECE 0.042)"; left out when NaN
};

/// A reliability diagram on one 800 x 600 plot: x = mean score of a bin, y = share of fakes in it,
/// both [0,1]; each curve joins the points (mean_score, fake_fraction) of its non-empty bins, with a
/// dot at each; the dashed diagonal is perfect calibration (a curve below it: scores too high,
/// above it: too low). Throws sola::Error naming the curve and the bin if a non-empty bin's mean
/// score or share of fakes is not a number in [0,1], or an ECE is neither NaN nor in [0,1].
cv::Mat plot_reliability(const std::vector<ReliabilityCurve>& curves, const std::string& title);

/// Writes `image` as a PNG file at `path`. Throws sola::IoError naming the path if the image is
/// empty, the directory does not exist, or encoding or writing fails.
void write_png(const std::string& path, const cv::Mat& image);

}  // namespace sola::eval
