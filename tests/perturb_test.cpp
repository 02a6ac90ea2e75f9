// Fixed degradations of `sola eval --perturb`: parsing, each kind's effect, determinism.
#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "core/parse.h"
#include "data/augment.h"
#include "data/perturb.h"
#include "test_util.h"

namespace sola {
namespace {

using data::Perturbation;
using data::parse_perturbation;
using data::perturb;

/// A 64 x 64 image with detail at every scale: a one-pixel checkerboard over a smooth ramp.
cv::Mat detailed() {
  cv::Mat img(64, 64, CV_8UC3);
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x) {
      const int v = 60 + 2 * x + ((x + y) % 2 ? 40 : 0);
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(v), static_cast<uchar>(v / 2), static_cast<uchar>(255 - v));
    }
  return img;
}

/// The standard deviation of the Laplacian of the grey image: its high-frequency energy.
double sharpness(const cv::Mat& img) {
  cv::Mat grey, lap;
  cv::cvtColor(img, grey, cv::COLOR_BGR2GRAY);
  cv::Laplacian(grey, lap, CV_64F);
  cv::Scalar mean, std;
  cv::meanStdDev(lap, mean, std);
  return std[0];
}

TEST(Perturb, ParsesEachKindAndPrintsItBack) {
  const Perturbation b = parse_perturbation("blur:1.5");
  EXPECT_EQ(b.kind, Perturbation::Kind::Blur);
  EXPECT_DOUBLE_EQ(b.value, 1.5);
  EXPECT_EQ(b.spec(), "blur:1.5");
  EXPECT_EQ(parse_perturbation("jpeg:70").kind, Perturbation::Kind::Jpeg);
  EXPECT_EQ(parse_perturbation("downscale:0.5").spec(), "downscale:0.5");
  EXPECT_EQ(parse_perturbation("noise:8").kind, Perturbation::Kind::Noise);
  EXPECT_EQ(parse_perturbation("sharpen:2").kind, Perturbation::Kind::Sharpen);
  EXPECT_EQ(parse_perturbation("sharpen:0.5").spec(), "sharpen:0.5");
  EXPECT_EQ(data::perturbation_specs({parse_perturbation("blur:1"), parse_perturbation("jpeg:70")}), "blur:1+jpeg:70");
  EXPECT_EQ(data::perturbation_specs({}), "");
}

TEST(Perturb, RefusesABadSpecNamingItAndTheAcceptedForms) {
  for (const std::string bad : {"blur", "blur:", "blur:x", "blur:1x", "blur:0", "blur:9", "blur:nan", "jpeg:0",
                                "jpeg:101", "jpeg:50.5", "downscale:1", "downscale:0", "noise:-1", "noise:65",
                                "sharpen:0", "sharpen:9", "emboss:1", ":1", ""}) {
    try {
      parse_perturbation(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("'" + bad + "'"), std::string::npos) << what;
      EXPECT_NE(what.find("blur:SIGMA"), std::string::npos) << what;
    }
  }
}

TEST(Perturb, SaysWhatIsWrongWithAValueThatIsNoDecimalOrWholeNumber) {
  // Before: jpeg:50.5 was "out of range", and blur:0x1 was read as hexadecimal 1 and accepted.
  std::string msg = test::error_message<ConfigError>([] { parse_perturbation("jpeg:50.5"); });
  EXPECT_NE(msg.find("JPEG quality '50.5' is not a whole number"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("out of range"), std::string::npos) << msg;
  for (const std::string bad : {"blur:0x1", "blur:0X1", "jpeg:0x32", "blur: 1", "blur:inf", "noise:nan", "blur:1,5"}) {
    msg = test::error_message<ConfigError>([&] { parse_perturbation(bad); });
    EXPECT_NE(msg.find("is not a finite decimal number"), std::string::npos) << bad << ": " << msg;
    EXPECT_NE(msg.find("'" + bad + "'"), std::string::npos) << msg;
  }
  EXPECT_EQ(parse_perturbation("jpeg:050").value, 50);
  EXPECT_EQ(parse_perturbation("blur:.5e1").value, 5);
  EXPECT_EQ(parse_double("0x1"), std::nullopt);
  EXPECT_EQ(parse_double("-2.5"), -2.5);
}

TEST(Perturb, BlurIsTheAugmentationsGaussianAndRemovesDetail) {
  const cv::Mat in = detailed();
  cv::Mat out = in.clone();
  perturb(out, parse_perturbation("blur:1"), 0);
  EXPECT_EQ(cv::norm(out, data::gaussian_blur(in, 1.0), cv::NORM_INF), 0.0);
  EXPECT_LT(sharpness(out), 0.3 * sharpness(in));
  cv::Mat less = in.clone();  // a smaller sigma keeps more of the one-pixel checkerboard
  perturb(less, parse_perturbation("blur:0.5"), 0);
  EXPECT_GT(sharpness(less), 2 * sharpness(out));
  EXPECT_LT(sharpness(less), 0.7 * sharpness(in));
}

TEST(Perturb, JpegAndDownscaleLoseDetailAndKeepTheImagesShapeAndType) {
  const cv::Mat in = detailed();
  for (const char* spec : {"jpeg:10", "downscale:0.5"}) {
    cv::Mat out = in.clone();
    perturb(out, parse_perturbation(spec), 0);
    EXPECT_EQ(out.size(), in.size()) << spec;
    EXPECT_EQ(out.type(), CV_8UC3) << spec;
    EXPECT_LT(sharpness(out), 0.7 * sharpness(in)) << spec;
  }
  // A flat image has no detail to lose: downscaling leaves it as it was.
  cv::Mat flat(40, 40, CV_8UC3, cv::Scalar(30, 120, 200));
  cv::Mat out = flat.clone();
  perturb(out, parse_perturbation("downscale:0.3"), 0);
  EXPECT_EQ(cv::norm(out, flat, cv::NORM_INF), 0.0);
}

TEST(Perturb, SharpenIsTheAugmentationsUnsharpMaskAndAddsDetailWithTheAmount) {
  // A soft image (squares of 4 px, their edges blurred) gets its detail back, more with a larger amount.
  cv::Mat squares(64, 64, CV_8UC3);
  for (int y = 0; y < squares.rows; ++y)
    for (int x = 0; x < squares.cols; ++x)
      squares.at<cv::Vec3b>(y, x) = ((x / 4 + y / 4) % 2) ? cv::Vec3b(170, 150, 130) : cv::Vec3b(90, 100, 110);
  const cv::Mat soft = data::gaussian_blur(squares, 1.0);
  cv::Mat once = soft.clone(), more = soft.clone();
  perturb(once, parse_perturbation("sharpen:1"), 0);
  perturb(more, parse_perturbation("sharpen:3"), 0);
  cv::Mat expected = soft.clone();
  data::unsharp_mask(expected, 1.0, 1.0);
  EXPECT_EQ(cv::norm(once, expected, cv::NORM_INF), 0.0);
  EXPECT_EQ(once.size(), soft.size());
  EXPECT_EQ(once.type(), CV_8UC3);
  EXPECT_GT(sharpness(once), 1.3 * sharpness(soft));
  EXPECT_GT(sharpness(more), 1.3 * sharpness(once));
  // A flat image has no detail to amplify.
  const cv::Mat flat(40, 40, CV_8UC3, cv::Scalar(30, 120, 200));
  cv::Mat out = flat.clone();
  perturb(out, parse_perturbation("sharpen:4"), 0);
  EXPECT_EQ(cv::norm(out, flat, cv::NORM_INF), 0.0);
}

TEST(Perturb, NoiseHasTheAskedStandardDeviationAndIsSeeded) {
  const cv::Mat grey(128, 128, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::Mat a = grey.clone(), b = grey.clone(), c = grey.clone();
  perturb(a, parse_perturbation("noise:10"), 7);
  perturb(b, parse_perturbation("noise:10"), 7);
  perturb(c, parse_perturbation("noise:10"), 8);
  EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0.0);
  EXPECT_GT(cv::norm(a, c, cv::NORM_INF), 0.0);
  cv::Mat diff;
  cv::Mat(a).convertTo(diff, CV_64FC3);
  diff -= cv::Scalar(128, 128, 128);
  cv::Scalar mean, std;
  cv::meanStdDev(diff.reshape(1), mean, std);
  EXPECT_NEAR(std[0], 10.0, 0.5);
  EXPECT_NEAR(mean[0], 0.0, 0.3);
}

}  // namespace
}  // namespace sola
