#include "eval/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"

namespace sola::eval {
namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kTickScale = 0.45;   // tick labels
constexpr double kLabelScale = 0.5;   // axis labels and legend
constexpr double kTitleScale = 0.65;  // title
constexpr int kPad = 12;              // space between the image edge and any text
constexpr int kRightMargin = 30;      // room for the last x tick label, half of which overhangs
constexpr int kTickLength = 5;
constexpr int kLineThickness = 2;
constexpr int kShift = 4;  // fractional bits of the sub-pixel coordinates handed to cv::line
constexpr double kSubPixel = 1 << kShift;
constexpr double kXTickSpacing = 100.0;  // preferred pixels between x ticks
constexpr double kYTickSpacing = 70.0;   // preferred pixels between y ticks
constexpr double kMaxMagnitude = 1e300;  // larger coordinates are skipped so spans stay finite
constexpr int kMinWidth = 200;
constexpr int kMinHeight = 150;

const cv::Scalar kWhite(255, 255, 255);
const cv::Scalar kTextColour(30, 30, 30);
const cv::Scalar kGridColour(228, 228, 228);
const cv::Scalar kFrameColour(80, 80, 80);
const cv::Scalar kChanceColour(140, 140, 140);
const cv::Scalar kLegendBorder(190, 190, 190);

/// A closed interval of data values.
struct Interval {
  double lo = 0.0;
  double hi = 1.0;
};

/// One axis: the data interval it spans and its ticks (multiples of one step) with labels.
struct Axis {
  Interval range;
  std::vector<double> ticks;
  std::vector<std::string> labels;
};

/// Where the plot area lies in the image (its frame lines, inclusive) and what its axes span.
struct Layout {
  int left = 0, top = 0, right = 0, bottom = 0;
  Axis x, y;
};

/// The text's size at `scale` (thickness 1); `descent` receives its depth below the baseline.
cv::Size text_size(const std::string& text, double scale, int* descent = nullptr) {
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, kFont, scale, 1, &baseline);
  if (descent != nullptr) *descent = baseline;
  return size;
}

/// Draws `text` with its baseline starting at `origin`.
void put_text(cv::Mat& image, const std::string& text, cv::Point origin, double scale) {
  cv::putText(image, text, origin, kFont, scale, kTextColour, 1, cv::LINE_AA);
}

/// Whether a coordinate can be drawn: finite and at most kMaxMagnitude in size.
bool plottable(double v) { return std::abs(v) <= kMaxMagnitude; }

/// The smallest of 1, 2 and 5 times a power of ten that is at least `raw` (> 0).
double nice_step(double raw) {
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * magnitude >= raw * (1.0 - 1e-9)) return m * magnitude;
  }
  return 10.0 * magnitude;
}

/// Labels for ticks that are multiples of `step`: as many decimals as the step needs, or three
/// significant digits in scientific notation for steps below 1e-6 and values of a million or more.
std::vector<std::string> tick_labels(const std::vector<double>& ticks, double step) {
  int decimals = 0;
  for (double s = step; decimals < 7 && std::abs(s - std::round(s)) > 1e-6 * s; s *= 10.0) {
    ++decimals;
  }
  double max_abs = 0.0;
  for (double t : ticks) max_abs = std::max(max_abs, std::abs(t));
  const bool scientific = decimals >= 7 || max_abs >= 1e6;
  std::vector<std::string> labels;
  char buffer[64];
  for (double t : ticks) {
    if (scientific) {
      std::snprintf(buffer, sizeof buffer, "%.3g", t);
    } else {
      std::snprintf(buffer, sizeof buffer, "%.*f", decimals, t);
    }
    labels.emplace_back(buffer);
  }
  return labels;
}

/// The axis with ticks every `step` over `data`: kept as it is when `fixed`, otherwise widened
/// to whole steps.
Axis axis_with_step(Interval data, bool fixed, double step) {
  Axis axis;
  axis.range = data;
  if (!fixed) {
    axis.range.lo = std::floor(data.lo / step + 1e-9) * step;
    axis.range.hi = std::ceil(data.hi / step - 1e-9) * step;
  }
  const auto first = static_cast<long long>(std::ceil(axis.range.lo / step - 1e-9));
  const auto last = static_cast<long long>(std::floor(axis.range.hi / step + 1e-9));
  for (long long k = first; k <= last; ++k) axis.ticks.push_back(static_cast<double>(k) * step);
  axis.labels = tick_labels(axis.ticks, step);
  return axis;
}

/// `data` with room around it when it is (nearly) a single value: 10% of the value either side,
/// or 1 either side of 0.
Interval widen_degenerate(Interval data) {
  const double scale = std::max(std::abs(data.lo), std::abs(data.hi));
  if (data.hi - data.lo > 1e-9 * scale) return data;
  const double pad = scale > 0.0 ? 0.1 * scale : 1.0;
  return {data.lo - pad, data.hi + pad};
}

/// An axis over `data` for a plot side `length_px` long, with ticks about `spacing_px` apart at a
/// round step. `fixed` keeps the interval; otherwise it gets room if degenerate and is widened
/// to whole steps. On a `horizontal` axis the step grows until neighbouring labels do not touch.
Axis make_axis(Interval data, bool fixed, double length_px, double spacing_px, bool horizontal) {
  if (!fixed) data = widen_degenerate(data);
  double step = nice_step((data.hi - data.lo) / std::max(1.0, length_px / spacing_px));
  for (;;) {
    Axis axis = axis_with_step(data, fixed, step);
    if (!horizontal) return axis;
    int widest = 0;
    for (const std::string& label : axis.labels) {
      widest = std::max(widest, text_size(label, kTickScale).width);
    }
    const double step_px = step / (axis.range.hi - axis.range.lo) * length_px;
    if (step_px >= widest + 12) return axis;
    step = nice_step(step * 1.01);
  }
}

/// The intervals the x and y coordinates span over all drawable points; [0,1] where none.
std::pair<Interval, Interval> data_bounds(const std::vector<Series>& series) {
  Interval x{INFINITY, -INFINITY};
  Interval y{INFINITY, -INFINITY};
  for (const Series& s : series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!plottable(s.x[i]) || !plottable(s.y[i])) continue;
      x = {std::min(x.lo, s.x[i]), std::max(x.hi, s.x[i])};
      y = {std::min(y.lo, s.y[i]), std::max(y.hi, s.y[i])};
    }
  }
  if (x.lo > x.hi) return {Interval{}, Interval{}};
  return {x, y};
}

/// Places the plot area so the title, tick labels and axis labels fit around it, and builds the
/// axes for it.
Layout make_layout(const std::vector<Series>& series, const PlotOptions& opts) {
  auto [x_data, y_data] = data_bounds(series);
  if (opts.x_unit_range) x_data = Interval{};
  if (opts.x_from_zero && !opts.x_unit_range) x_data.lo = std::min(x_data.lo, 0.0);
  if (opts.y_unit_range) y_data = Interval{};

  int descent = 0;
  const int tick_height = text_size("0", kTickScale, &descent).height + descent;
  const int label_height = text_size("Ag", kLabelScale, &descent).height + descent;
  const int title_height = text_size("Ag", kTitleScale, &descent).height + descent;

  Layout layout;
  layout.top = opts.title.empty() ? 2 * kPad : 2 * kPad + title_height;
  layout.bottom = opts.height - 1 - kPad - (kTickLength + 6 + tick_height) -
                  (opts.x_label.empty() ? 0 : 8 + label_height);
  layout.y = make_axis(y_data, opts.y_unit_range, layout.bottom - layout.top, kYTickSpacing, false);
  int widest = 0;
  for (const std::string& label : layout.y.labels) {
    widest = std::max(widest, text_size(label, kTickScale).width);
  }
  layout.left = kPad + (opts.y_label.empty() ? 0 : label_height + 8) + widest + 6 + kTickLength;
  layout.right = opts.width - 1 - kRightMargin;
  layout.x = make_axis(x_data, opts.x_unit_range, layout.right - layout.left, kXTickSpacing, true);
  return layout;
}

/// The image position (sub-pixel) of the data point (x, y).
cv::Point2d to_pixel(const Layout& layout, double x, double y) {
  const Interval& xr = layout.x.range;
  const Interval& yr = layout.y.range;
  return {layout.left + (x - xr.lo) / (xr.hi - xr.lo) * (layout.right - layout.left),
          layout.bottom - (y - yr.lo) / (yr.hi - yr.lo) * (layout.bottom - layout.top)};
}

/// A sub-pixel position in the fixed-point form cv::line takes with shift kShift.
cv::Point fixed_point(const cv::Point2d& p) {
  return {cvRound(p.x * kSubPixel), cvRound(p.y * kSubPixel)};
}

/// Cuts the segment a-b to `box` (Liang-Barsky); false when none of it lies inside.
bool clip_segment(cv::Point2d& a, cv::Point2d& b, const cv::Rect2d& box) {
  const cv::Point2d d = b - a;
  const double p[4] = {-d.x, d.x, -d.y, d.y};
  const double q[4] = {a.x - box.x, box.x + box.width - a.x, a.y - box.y, box.y + box.height - a.y};
  double t0 = 0.0;
  double t1 = 1.0;
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0.0) {
      if (q[i] < 0.0) return false;
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0.0) {
      t0 = std::max(t0, t);
    } else {
      t1 = std::min(t1, t);
    }
    if (t0 > t1) return false;
  }
  const cv::Point2d start = a;
  a = start + t0 * d;
  b = start + t1 * d;
  return true;
}

/// Draws the grid lines, the frame, and the tick marks with their labels.
void draw_axes(cv::Mat& image, const Layout& layout) {
  int descent = 0;
  const int glyph_height = text_size("0", kTickScale, &descent).height;
  for (size_t i = 0; i < layout.x.ticks.size(); ++i) {
    const int px = cvRound(to_pixel(layout, layout.x.ticks[i], layout.y.range.lo).x);
    cv::line(image, {px, layout.top}, {px, layout.bottom}, kGridColour, 1);
    cv::line(image, {px, layout.bottom}, {px, layout.bottom + kTickLength}, kFrameColour, 1);
    const std::string& label = layout.x.labels[i];
    const int width = text_size(label, kTickScale).width;
    const int x = std::clamp(px - width / 2, 0, image.cols - width);
    put_text(image, label, {x, layout.bottom + kTickLength + 6 + glyph_height}, kTickScale);
  }
  for (size_t i = 0; i < layout.y.ticks.size(); ++i) {
    const int py = cvRound(to_pixel(layout, layout.x.range.lo, layout.y.ticks[i]).y);
    cv::line(image, {layout.left, py}, {layout.right, py}, kGridColour, 1);
    cv::line(image, {layout.left - kTickLength, py}, {layout.left, py}, kFrameColour, 1);
    const std::string& label = layout.y.labels[i];
    const int width = text_size(label, kTickScale).width;
    put_text(image, label, {layout.left - kTickLength - 6 - width, py + glyph_height / 2},
             kTickScale);
  }
  cv::rectangle(image, {layout.left, layout.top}, {layout.right, layout.bottom}, kFrameColour, 1);
}

/// Draws the dashed chance line y = x where the two axes share values, and marks it in `mask`.
void draw_chance_line(cv::Mat& image, cv::Mat& mask, const Layout& layout) {
  constexpr double kDash = 8.0;
  constexpr double kGap = 6.0;
  const double lo = std::max(layout.x.range.lo, layout.y.range.lo);
  const double hi = std::min(layout.x.range.hi, layout.y.range.hi);
  if (!(lo < hi)) return;
  const cv::Point2d start = to_pixel(layout, lo, lo);
  const cv::Point2d end = to_pixel(layout, hi, hi);
  const double length = cv::norm(end - start);
  const cv::Point2d direction = (end - start) / length;
  for (double t = 0.0; t < length; t += kDash + kGap) {
    const cv::Point a = fixed_point(start + t * direction);
    const cv::Point b = fixed_point(start + std::min(t + kDash, length) * direction);
    cv::line(image, a, b, kChanceColour, 1, cv::LINE_AA, kShift);
    cv::line(mask, a, b, 255, 3, cv::LINE_8, kShift);
  }
}

/// Draws one series in `colour`, cut to the plot area, and marks the pixels it covers in `mask`;
/// with `markers`, a dot at every point.
void draw_series(cv::Mat& image, cv::Mat& mask, const Series& series, const Layout& layout,
                 const cv::Scalar& colour, bool markers) {
  const cv::Rect2d clip(layout.left - kLineThickness, layout.top - kLineThickness,
                        layout.right - layout.left + 2 * kLineThickness,
                        layout.bottom - layout.top + 2 * kLineThickness);
  const size_t n = series.x.size();
  const auto drawable = [&](size_t i) { return plottable(series.x[i]) && plottable(series.y[i]); };
  for (size_t i = 0; i < n; ++i) {
    if (!drawable(i)) continue;
    const cv::Point2d p = to_pixel(layout, series.x[i], series.y[i]);
    if (i + 1 < n && drawable(i + 1)) {
      cv::Point2d a = p;
      cv::Point2d b = to_pixel(layout, series.x[i + 1], series.y[i + 1]);
      if (clip_segment(a, b, clip)) {
        cv::line(image, fixed_point(a), fixed_point(b), colour, kLineThickness, cv::LINE_AA, kShift);
        cv::line(mask, fixed_point(a), fixed_point(b), 255, kLineThickness + 2, cv::LINE_8, kShift);
      }
    }
    // An isolated point (no segment shows it) gets a dot; with markers, every point does.
    if ((markers || !((i > 0 && drawable(i - 1)) || (i + 1 < n && drawable(i + 1)))) &&
        clip.contains(p)) {
      cv::circle(image, fixed_point(p), 3 << kShift, colour, cv::FILLED, cv::LINE_AA, kShift);
      cv::circle(mask, fixed_point(p), 4 << kShift, 255, cv::FILLED, cv::LINE_8, kShift);
    }
  }
}

/// Draws a box listing the colour and name of each named series in the corner of the plot area
/// where `mask` (the pixels the lines cover) is set least; ties go to top-right, bottom-right,
/// top-left, bottom-left in that order.
void draw_legend(cv::Mat& image, const cv::Mat& mask, const std::vector<Series>& series,
                 const Layout& layout) {
  constexpr int kBoxPad = 8;
  constexpr int kSwatch = 28;
  constexpr int kInset = 10;
  std::vector<size_t> listed;
  int text_width = 0;
  for (size_t i = 0; i < series.size(); ++i) {
    if (series[i].name.empty()) continue;
    listed.push_back(i);
    text_width = std::max(text_width, text_size(series[i].name, kLabelScale).width);
  }
  if (listed.empty()) return;

  int descent = 0;
  const int glyph_height = text_size("Ag", kLabelScale, &descent).height;
  const int row_height = glyph_height + descent + 6;
  const cv::Size box(2 * kBoxPad + kSwatch + 8 + text_width,
                     2 * kBoxPad + static_cast<int>(listed.size()) * row_height - 6);
  const int left = layout.left + kInset;
  const int right = layout.right - kInset - box.width;
  const int top = layout.top + kInset;
  const int bottom = layout.bottom - kInset - box.height;
  const cv::Rect image_rect(0, 0, image.cols, image.rows);
  cv::Rect best;
  int best_count = -1;
  for (const cv::Point corner : {cv::Point(right, top), cv::Point(right, bottom),
                                 cv::Point(left, top), cv::Point(left, bottom)}) {
    const cv::Rect candidate = cv::Rect(corner, box) & image_rect;
    const int count = candidate.empty() ? 0 : cv::countNonZero(mask(candidate));
    if (best_count < 0 || count < best_count) {
      best = cv::Rect(corner, box);
      best_count = count;
    }
  }

  cv::rectangle(image, best, kWhite, cv::FILLED);
  cv::rectangle(image, best, kLegendBorder, 1);
  for (size_t row = 0; row < listed.size(); ++row) {
    const int baseline = best.y + kBoxPad + static_cast<int>(row) * row_height + glyph_height;
    const int middle = baseline - glyph_height / 2;
    const int swatch_x = best.x + kBoxPad;
    cv::line(image, {swatch_x, middle}, {swatch_x + kSwatch, middle}, series_color(listed[row]),
             kLineThickness + 1, cv::LINE_AA);
    put_text(image, series[listed[row]].name, {swatch_x + kSwatch + 8, baseline}, kLabelScale);
  }
}

/// Copies `patch` into `image` with its top-left corner at `at`, cut to the image.
void paste(cv::Mat& image, const cv::Mat& patch, cv::Point at) {
  const cv::Rect target = cv::Rect(at, patch.size()) & cv::Rect(0, 0, image.cols, image.rows);
  if (target.empty()) return;
  patch(cv::Rect(target.tl() - at, target.size())).copyTo(image(target));
}

/// Draws the title centred above the plot area, the x label centred below it and the y label,
/// turned to read upwards, centred left of it.
void draw_titles(cv::Mat& image, const PlotOptions& opts, const Layout& layout) {
  const int centre_x = (layout.left + layout.right) / 2;
  int descent = 0;
  if (!opts.title.empty()) {
    const cv::Size size = text_size(opts.title, kTitleScale, &descent);
    const int x = std::max(0, centre_x - size.width / 2);
    cv::putText(image, opts.title, {x, kPad + size.height}, kFont, kTitleScale, kTextColour, 2,
                cv::LINE_AA);
  }
  if (!opts.x_label.empty()) {
    const cv::Size size = text_size(opts.x_label, kLabelScale, &descent);
    put_text(image, opts.x_label,
             {std::max(0, centre_x - size.width / 2), opts.height - 1 - kPad - descent},
             kLabelScale);
  }
  if (!opts.y_label.empty()) {
    const cv::Size size = text_size(opts.y_label, kLabelScale, &descent);
    cv::Mat text(size.height + descent + 4, size.width + 4, CV_8UC3, kWhite);
    put_text(text, opts.y_label, {2, size.height + 2}, kLabelScale);
    cv::Mat turned;
    cv::rotate(text, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
    paste(image, turned, {kPad - 2, (layout.top + layout.bottom) / 2 - turned.rows / 2});
  }
}

/// The axes of a plot of two shares: both fixed to [0,1], with the dashed diagonal y = x (chance for a
/// ROC curve, perfect calibration for a reliability diagram).
PlotOptions unit_square_options(const std::string& title, const std::string& x_label, const std::string& y_label) {
  PlotOptions opts;
  opts.title = title;
  opts.x_label = x_label;
  opts.y_label = y_label;
  opts.x_unit_range = true;
  opts.y_unit_range = true;
  opts.diagonal = true;
  return opts;
}

}  // namespace

cv::Scalar series_color(size_t index) {
  static const cv::Scalar kPalette[] = {
      {180, 119, 31},   // blue
      {40, 39, 214},    // red
      {44, 160, 44},    // green
      {14, 127, 255},   // orange
      {189, 103, 148},  // purple
      {75, 86, 140},    // brown
      {194, 119, 227},  // pink
      {207, 190, 23},   // cyan
  };
  return kPalette[index % (sizeof kPalette / sizeof kPalette[0])];
}

cv::Mat plot_lines(const std::vector<Series>& series, const PlotOptions& opts) {
  if (opts.width < kMinWidth || opts.height < kMinHeight) {
    throw Error("plot_lines: image size " + std::to_string(opts.width) + "x" +
                std::to_string(opts.height) + " is below the minimum " + std::to_string(kMinWidth) +
                "x" + std::to_string(kMinHeight));
  }
  for (const Series& s : series) {
    if (s.x.size() != s.y.size()) {
      throw Error("plot_lines: series '" + s.name + "' has " + std::to_string(s.x.size()) +
                  " x values but " + std::to_string(s.y.size()) + " y values");
    }
  }
  const Layout layout = make_layout(series, opts);
  cv::Mat image(opts.height, opts.width, CV_8UC3, kWhite);
  cv::Mat mask = cv::Mat::zeros(image.size(), CV_8U);
  draw_axes(image, layout);
  if (opts.diagonal) draw_chance_line(image, mask, layout);
  for (size_t i = 0; i < series.size(); ++i) {
    draw_series(image, mask, series[i], layout, series_color(i), opts.markers);
  }
  draw_legend(image, mask, series, layout);
  draw_titles(image, opts, layout);
  return image;
}

cv::Mat plot_roc(const std::vector<std::pair<std::string, RocCurve>>& curves,
                 const std::vector<double>& aucs, const std::string& title) {
  if (aucs.size() != curves.size()) {
    throw Error("plot_roc: " + std::to_string(curves.size()) + " curves but " +
                std::to_string(aucs.size()) + " AUC values; every curve needs one");
  }
  std::vector<Series> series;
  for (size_t i = 0; i < curves.size(); ++i) {
    const auto& [name, roc] = curves[i];
    if (roc.fpr.size() != roc.tpr.size()) {
      throw Error("plot_roc: curve '" + name + "' has " + std::to_string(roc.fpr.size()) +
                  " fpr values but " + std::to_string(roc.tpr.size()) + " tpr values");
    }
    char auc[32];
    std::snprintf(auc, sizeof auc, "%.3f", aucs[i]);
    series.push_back({name + " (AUC " + auc + ")", roc.fpr, roc.tpr});
  }
  return plot_lines(series, unit_square_options(title, "False positive rate", "True positive rate"));
}

cv::Mat plot_reliability(const std::vector<ReliabilityCurve>& curves, const std::string& title) {
  const auto probability = [](double v) { return v >= 0.0 && v <= 1.0; };  // false for NaN
  std::vector<Series> series;
  for (const ReliabilityCurve& curve : curves) {
    Series s{curve.name, {}, {}};
    for (size_t k = 0; k < curve.bins.size(); ++k) {
      const ReliabilityBin& bin = curve.bins[k];
      if (bin.count == 0) continue;
      if (!probability(bin.mean_score) || !probability(bin.fake_fraction)) {
        char what[160];
        std::snprintf(what, sizeof what, "bin %zu [%g, %g) has mean score %g and share of fakes %g", k,
                      bin.lo, bin.hi, bin.mean_score, bin.fake_fraction);
        throw Error("plot_reliability: curve '" + curve.name + "': " + what +
                    "; both must be in [0,1]");
      }
      s.x.push_back(bin.mean_score);
      s.y.push_back(bin.fake_fraction);
    }
    if (!std::isnan(curve.ece)) {
      if (!probability(curve.ece)) {
        throw Error("plot_reliability: curve '" + curve.name + "' has ECE " +
                    std::to_string(curve.ece) + ", not in [0,1]");
      }
      char ece[32];
      std::snprintf(ece, sizeof ece, " (ECE %.3f)", curve.ece);
      s.name += ece;
    }
    series.push_back(std::move(s));
  }
  PlotOptions opts = unit_square_options(title, "Mean score of the bin", "Share of fakes in the bin");
  opts.markers = true;
  return plot_lines(series, opts);
}

void write_png(const std::string& path, const cv::Mat& image) {
  namespace fs = std::filesystem;
  if (image.empty()) throw IoError(path, "cannot write an empty image as PNG");
  const fs::path directory = fs::path(path).parent_path();
  std::error_code ec;
  if (!directory.empty() && !fs::is_directory(directory, ec)) {
    throw IoError(path, "directory " + directory.string() + " does not exist");
  }
  std::vector<uchar> bytes;
  bool encoded = false;
  try {
    encoded = cv::imencode(".png", image, bytes);
  } catch (const cv::Exception& e) {
    throw IoError(path, "PNG encoding failed: " + e.err);
  }
  if (!encoded) throw IoError(path, "PNG encoding failed");
  std::ofstream out(path, std::ios::binary);
  if (!out) throw IoError(path, "cannot open for writing");
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw IoError(path, "writing failed");
}

}  // namespace sola::eval
