// Plots drawn with OpenCV: checked by where the series colours land in the image, not by
// comparing against reference images.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "eval/metrics.h"
#include "eval/plot.h"

namespace sola {
namespace {

using eval::plot_lines;
using eval::plot_roc;
using eval::PlotOptions;
using eval::Series;
using eval::series_color;
using eval::write_png;

/// Whether a pixel is within 60 of `colour` in every channel (the core of an anti-aliased line).
bool is_colour(const cv::Vec3b& pixel, const cv::Scalar& colour) {
  for (int c = 0; c < 3; ++c) {
    if (std::abs(pixel[c] - colour[c]) > 60) return false;
  }
  return true;
}

/// Whether a pixel is clearly red: high red, low green and blue (BGR order).
bool is_red(const cv::Vec3b& pixel) { return pixel[2] > 150 && pixel[1] < 110 && pixel[0] < 110; }

/// The rows of column `col` whose pixel has `colour`.
std::vector<int> rows_with_colour(const cv::Mat& image, int col, const cv::Scalar& colour) {
  std::vector<int> rows;
  for (int r = 0; r < image.rows; ++r) {
    if (is_colour(image.at<cv::Vec3b>(r, col), colour)) rows.push_back(r);
  }
  return rows;
}

/// The columns of row `row` whose pixel has `colour`.
std::vector<int> cols_with_colour(const cv::Mat& image, int row, const cv::Scalar& colour) {
  std::vector<int> cols;
  for (int c = 0; c < image.cols; ++c) {
    if (is_colour(image.at<cv::Vec3b>(row, c), colour)) cols.push_back(c);
  }
  return cols;
}

/// How many pixels of the image have `colour`.
int count_colour(const cv::Mat& image, const cv::Scalar& colour) {
  int count = 0;
  for (int r = 0; r < image.rows; ++r) {
    for (int c = 0; c < image.cols; ++c) count += is_colour(image.at<cv::Vec3b>(r, c), colour);
  }
  return count;
}

/// The mean of a non-empty list of pixel positions.
double mean(const std::vector<int>& values) {
  double sum = 0.0;
  for (int v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

/// y = x for x = 0..10.
Series increasing_series(const std::string& name) {
  Series s{name, {}, {}};
  for (int i = 0; i <= 10; ++i) {
    s.x.push_back(i);
    s.y.push_back(i);
  }
  return s;
}

TEST(Plot, ImageHasRequestedSizeAndType) {
  PlotOptions opts;
  opts.width = 640;
  opts.height = 480;
  const cv::Mat image = plot_lines({increasing_series("loss")}, opts);
  EXPECT_EQ(image.cols, 640);
  EXPECT_EQ(image.rows, 480);
  EXPECT_EQ(image.type(), CV_8UC3);
}

TEST(Plot, SeriesColourInsidePlotAndWhiteBackground) {
  // The series at index 1 is red; index 0 is empty, so the only line drawn is red.
  ASSERT_TRUE(is_red(cv::Vec3b(series_color(1)[0], series_color(1)[1], series_color(1)[2])));
  PlotOptions opts;
  opts.title = "Red line";
  const cv::Mat image = plot_lines({Series{"empty", {}, {}}, increasing_series("red")}, opts);
  // Red pixels inside the central plot region (tick labels and title are dark grey).
  int red = 0;
  for (int r = image.rows / 10; r < image.rows * 9 / 10; ++r) {
    for (int c = image.cols / 6; c < image.cols * 19 / 20; ++c) {
      red += is_red(image.at<cv::Vec3b>(r, c));
    }
  }
  EXPECT_GT(red, 500);
  // Image corners hold nothing, and most of the image is pure white background.
  const cv::Vec3b white(255, 255, 255);
  for (const cv::Point corner :
       {cv::Point(2, 2), cv::Point(image.cols - 3, 2), cv::Point(2, image.rows - 3),
        cv::Point(image.cols - 3, image.rows - 3)}) {
    EXPECT_EQ(image.at<cv::Vec3b>(corner), white) << "at " << corner;
  }
  int white_pixels = 0;
  for (int r = 0; r < image.rows; ++r) {
    for (int c = 0; c < image.cols; ++c) white_pixels += image.at<cv::Vec3b>(r, c) == white;
  }
  EXPECT_GT(white_pixels, image.rows * image.cols * 8 / 10);
}

TEST(Plot, IncreasingSeriesIsHigherOnTheRight) {
  // No name, so no legend swatch in the series colour.
  const cv::Mat image = plot_lines({increasing_series("")}, PlotOptions{});
  const cv::Scalar colour = series_color(0);
  const std::vector<int> left = rows_with_colour(image, image.cols / 4, colour);
  const std::vector<int> right = rows_with_colour(image, image.cols * 3 / 4, colour);
  ASSERT_FALSE(left.empty());
  ASSERT_FALSE(right.empty());
  // Smaller row = higher up; a quarter to three quarters across is about half the plot height.
  EXPECT_LT(mean(right), mean(left) - image.rows / 4);
}

TEST(Plot, LinesLeavingTheUnitRangeAreClipped) {
  PlotOptions opts;
  opts.y_unit_range = true;
  const cv::Mat image = plot_lines({Series{"", {0.0, 1.0}, {0.0, 3.0}}}, opts);
  const cv::Scalar colour = series_color(0);
  // The line reaches y = 1 at a third of the way across; above the plot area nothing is drawn.
  EXPECT_GT(count_colour(image, colour), 100);
  EXPECT_EQ(count_colour(image(cv::Rect(0, 0, image.cols, 20)), colour), 0);
}

TEST(Plot, PerfectRocHugsTheTopLeftCorner) {
  const eval::RocCurve roc = eval::roc_curve({0.1, 0.2, 0.8, 0.9}, {0, 0, 1, 1});
  const cv::Mat image = plot_roc({{"perfect", roc}}, {1.0}, "ROC");
  ASSERT_EQ(image.cols, 800);
  ASSERT_EQ(image.rows, 600);
  const cv::Scalar colour = series_color(0);
  // The curve (0,0)-(0,1)-(1,1) runs up the left edge and along the top edge of the plot, so
  // half-way across it is only near the top and half-way down only near the left.
  const std::vector<int> rows = rows_with_colour(image, image.cols / 2, colour);
  ASSERT_FALSE(rows.empty());
  EXPECT_LT(rows.back(), image.rows / 5);
  const std::vector<int> cols = cols_with_colour(image, image.rows / 2, colour);
  ASSERT_FALSE(cols.empty());
  EXPECT_LT(cols.back(), image.cols / 5);
}

TEST(Plot, DegenerateSeriesGiveValidImages) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const cv::Scalar colour = series_color(0);
  const auto check = [](const cv::Mat& image) {
    EXPECT_EQ(image.cols, 800);
    EXPECT_EQ(image.rows, 600);
    EXPECT_EQ(image.type(), CV_8UC3);
  };

  cv::Mat image;
  ASSERT_NO_THROW(image = plot_lines({}, PlotOptions{}));
  check(image);
  ASSERT_NO_THROW(image = plot_lines({Series{"empty", {}, {}}}, PlotOptions{}));
  check(image);

  // A single point is drawn as a dot.
  ASSERT_NO_THROW(image = plot_lines({Series{"", {3.0}, {0.5}}}, PlotOptions{}));
  check(image);
  EXPECT_GT(count_colour(image, colour), 10);

  // A constant series is a horizontal line across the plot.
  ASSERT_NO_THROW(image =
                      plot_lines({Series{"", {0, 1, 2, 3}, {0.9, 0.9, 0.9, 0.9}}}, PlotOptions{}));
  check(image);
  const std::vector<int> rows = rows_with_colour(image, image.cols / 2, colour);
  ASSERT_FALSE(rows.empty());
  EXPECT_LT(rows.back() - rows.front(), 6);

  // Non-finite points are skipped; a series of only NaN draws nothing.
  ASSERT_NO_THROW(image = plot_lines({Series{"", {0, 1, 2}, {nan, nan, nan}},
                                      Series{"", {0, 1, 2, 3}, {1.0, nan, 2.0, 3.0}}},
                                     PlotOptions{}));
  check(image);
  EXPECT_EQ(count_colour(image, colour), 0);
  EXPECT_GT(count_colour(image, series_color(1)), 100);
}

TEST(Plot, InvalidInputThrowsNamingTheProblem) {
  try {
    plot_lines({Series{"loss", {0, 1, 2}, {0, 1}}}, PlotOptions{});
    FAIL() << "no sola::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'loss' has 3 x values but 2 y values"), std::string::npos)
        << e.what();
  }
  PlotOptions tiny;
  tiny.width = 100;
  EXPECT_THROW(plot_lines({}, tiny), Error);
  EXPECT_THROW(plot_roc({{"a", eval::RocCurve{}}}, {}, "ROC"), Error);
}

/// Reliability bins of a perfectly calibrated score: in every bin the share of fakes is the mean
/// score. Bin 3 is empty (and left at zero, as reliability_bins leaves it): it must not be drawn.
std::vector<eval::ReliabilityBin> calibrated_bins() {
  std::vector<eval::ReliabilityBin> bins;
  for (int k = 0; k < 10; ++k) {
    eval::ReliabilityBin bin;
    bin.lo = k / 10.0;
    bin.hi = (k + 1) / 10.0;
    if (k != 3) {
      bin.count = 50;
      bin.mean_score = bin.lo + 0.05;
      bin.fake_fraction = bin.mean_score;
    }
    bins.push_back(bin);
  }
  return bins;
}

/// Whether a pixel is the dashed grey of the chance line (and of nothing else drawn).
bool is_chance_grey(const cv::Vec3b& pixel) {
  return pixel[0] == pixel[1] && pixel[1] == pixel[2] && pixel[0] >= 130 && pixel[0] <= 150;
}

TEST(Plot, ReliabilityDiagramOfACalibratedScoreLiesOnTheDiagonal) {
  // Unnamed, so no legend box; the same title, so the plot area is the same in both images.
  const cv::Mat curve = eval::plot_reliability({{"", calibrated_bins()}}, "Reliability");
  const cv::Mat empty = eval::plot_reliability({}, "Reliability");
  ASSERT_EQ(curve.cols, 800);
  ASSERT_EQ(curve.rows, 600);
  ASSERT_EQ(curve.type(), CV_8UC3);
  const cv::Scalar colour = series_color(0);
  // Wherever the bare plot shows the dashed diagonal (inside the plot area, away from the text
  // around it and from the ends, beyond the first and last bins' points at 0.05 and 0.95), the
  // curve runs within 2 px of it.
  int compared = 0;
  for (int c = curve.cols / 5; c < curve.cols * 4 / 5; ++c) {
    std::vector<int> grey;
    for (int r = 60; r < 520; ++r) {
      if (is_chance_grey(empty.at<cv::Vec3b>(r, c))) grey.push_back(r);
    }
    if (grey.empty()) continue;  // a gap of the dashes
    const std::vector<int> rows = rows_with_colour(curve, c, colour);
    ASSERT_FALSE(rows.empty()) << "column " << c;
    EXPECT_LE(std::abs(mean(rows) - mean(grey)), 2.0) << "column " << c;
    ++compared;
  }
  EXPECT_GT(compared, 100);  // about a third of the columns: the dashes are 8 px on, 6 off
  // The empty bin's zeros are not a point at (0, 0): the curve is the one drawn without that bin.
  std::vector<eval::ReliabilityBin> without = calibrated_bins();
  without.erase(without.begin() + 3);
  const cv::Mat drawn = eval::plot_reliability({{"", without}}, "Reliability");
  EXPECT_EQ(cv::norm(drawn, curve, cv::NORM_INF), 0.0);
}

TEST(Plot, ReliabilityDiagramShowsAnOverconfidentScoreOffTheDiagonal) {
  // Scores spread over [0,1] while half of every bin is fake: a flat line at 0.5, under the
  // diagonal on the right and above it on the left.
  std::vector<eval::ReliabilityBin> bins = calibrated_bins();
  for (auto& bin : bins) bin.fake_fraction = bin.count ? 0.5 : 0.0;
  const cv::Mat flat = eval::plot_reliability({{"", bins}}, "Reliability");
  const cv::Mat diagonal = eval::plot_reliability({{"", calibrated_bins()}}, "Reliability");
  const cv::Scalar colour = series_color(0);
  const int right = flat.cols * 3 / 4;
  const int left = flat.cols / 4;
  EXPECT_GT(mean(rows_with_colour(flat, right, colour)),
            mean(rows_with_colour(diagonal, right, colour)) + 50);
  EXPECT_LT(mean(rows_with_colour(flat, left, colour)),
            mean(rows_with_colour(diagonal, left, colour)) - 50);
}

TEST(Plot, ReliabilityDiagramRefusesBinsThatAreNotProbabilities) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<eval::ReliabilityBin> bins = calibrated_bins();
  bins[5].mean_score = nan;
  try {
    eval::plot_reliability({{"dfdc/test", bins}}, "Reliability");
    FAIL() << "no sola::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("curve 'dfdc/test'"), std::string::npos) << what;
    EXPECT_NE(what.find("bin 5"), std::string::npos) << what;
    EXPECT_NE(what.find("nan"), std::string::npos) << what;
  }
  bins = calibrated_bins();
  bins[9].fake_fraction = 1.5;
  EXPECT_THROW(eval::plot_reliability({{"a", bins}}, "Reliability"), Error);
  EXPECT_THROW(eval::plot_reliability({{"a", calibrated_bins(), 2.0}}, "Reliability"), Error);
  EXPECT_THROW(eval::plot_reliability(
                   {{"a", calibrated_bins(), std::numeric_limits<double>::infinity()}}, "Reliability"),
               Error);
  // An empty bin's values are not read; a NaN ECE is no ECE.
  bins = calibrated_bins();
  bins[3].mean_score = nan;
  EXPECT_NO_THROW(eval::plot_reliability({{"a", bins, nan}}, "Reliability"));
  EXPECT_NO_THROW(eval::plot_reliability({{"a", bins, 0.04}}, "Reliability"));
}

TEST(Plot, WritePngToMissingDirectoryThrowsIoErrorNamingPath) {
  test::TempDir dir;
  const std::string path = (dir.path / "no-such-dir" / "plot.png").string();
  try {
    write_png(path, plot_lines({}, PlotOptions{}));
    FAIL() << "no sola::IoError";
  } catch (const IoError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Plot, WritePngRoundTrips) {
  test::TempDir dir;
  const std::string path = (dir.path / "roc.png").string();
  const eval::RocCurve roc = eval::roc_curve({0.1, 0.6, 0.4, 0.9}, {0, 0, 1, 1});
  const cv::Mat image = plot_roc({{"test", roc}}, {0.75}, "ROC");
  write_png(path, image);
  const cv::Mat read = cv::imread(path, cv::IMREAD_COLOR);
  ASSERT_FALSE(read.empty()) << path;
  ASSERT_EQ(read.size(), image.size());
  EXPECT_EQ(cv::norm(read, image, cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace sola
