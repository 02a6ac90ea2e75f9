// Platt scaling, expected calibration error, reliability bins and false-positive rates.
#include <cmath>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "eval/calibration.h"

namespace sola::eval {
namespace {

TEST(Calibration, PlattRecoversTheScalingThatMadeTheLabels) {
  // Labels drawn with P(fake) = sigmoid(2 z - 1): the fit must find a = 2, b = -1.
  std::mt19937 rng(5);
  std::vector<double> z;
  std::vector<int> y;
  for (int i = 0; i < 20000; ++i) {
    const double logit = -4 + 8 * (rng() * 0x1p-32);
    z.push_back(logit);
    y.push_back(rng() * 0x1p-32 < 1 / (1 + std::exp(-(2 * logit - 1))) ? 1 : 0);
  }
  const Calibration c = fit_platt(z, y);
  EXPECT_NEAR(c.a, 2.0, 0.1);
  EXPECT_NEAR(c.b, -1.0, 0.1);
  // Better calibrated than the raw scores, and the ranking kept (a > 0).
  std::vector<double> raw, calibrated;
  for (double v : z) raw.push_back(1 / (1 + std::exp(-v))), calibrated.push_back(c.apply(v));
  EXPECT_LT(expected_calibration_error(calibrated, y), 0.02);
  EXPECT_GT(expected_calibration_error(raw, y), 0.05);
  EXPECT_LT(log_loss(calibrated, y), log_loss(raw, y));
  EXPECT_LT(c.apply(-1), c.apply(1));
}

TEST(Calibration, SeparableDataStaysFiniteAndOneClassIsRefused) {
  const Calibration c = fit_platt({-3, -2, -1, 1, 2, 3}, {0, 0, 0, 1, 1, 1});
  EXPECT_TRUE(std::isfinite(c.a) && std::isfinite(c.b));
  EXPECT_GT(c.a, 1.0);  // sharper: the classes are apart
  EXPECT_THROW(fit_platt({-1, 1, 2}, {0, 1, 1}), Error);
  EXPECT_THROW(fit_platt({0, 1}, {0}), Error);
  EXPECT_THROW(fit_platt({NAN, 1, 2, 3}, {0, 0, 1, 1}), Error);
}

TEST(Calibration, ExpectedCalibrationErrorAndBinsByHand) {
  // Bin [0.1, 0.2): two scores of 0.1, one fake in two; bin [0.9, 1]: two of 0.9, both fake.
  const std::vector<double> p{0.1, 0.1, 0.9, 0.9};
  const std::vector<int> y{0, 1, 1, 1};
  EXPECT_NEAR(expected_calibration_error(p, y, 10), (2 * 0.4 + 2 * 0.1) / 4, 1e-12);
  const auto bins = reliability_bins(p, y, 10);
  ASSERT_EQ(bins.size(), 10u);
  EXPECT_EQ(bins[1].count, 2u);
  EXPECT_DOUBLE_EQ(bins[1].fake_fraction, 0.5);
  EXPECT_EQ(bins[9].count, 2u);
  EXPECT_EQ(reliability_bins({1.0}, {1}, 10)[9].count, 1u);  // the last bin is closed
  EXPECT_THROW(reliability_bins({1.5}, {1}, 10), Error);
  EXPECT_DOUBLE_EQ(false_positive_rate({0.2, 0.6, 0.7, 0.9}, {0, 0, 1, 0}, 0.5), 2.0 / 3.0);
  EXPECT_THROW(false_positive_rate({0.9}, {1}, 0.5), Error);
}

TEST(Calibration, JsonRoundTripAndBadValuesNameTheFile) {
  const Calibration c{1.7, -0.3};
  const Calibration back = calibration_from_json(to_json(c), "m.pt");
  EXPECT_EQ(back.a, 1.7);
  EXPECT_EQ(back.b, -0.3);
  EXPECT_TRUE(calibration_from_json(nlohmann::json(), "m.pt").identity());
  try {
    calibration_from_json(nlohmann::json{{"method", "platt"}, {"a", -1.0}, {"b", 0.0}}, "m.pt");
    FAIL() << "a negative slope reverses the ranking";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("m.pt"), std::string::npos) << e.what();
  }
  EXPECT_THROW(calibration_from_json(nlohmann::json{{"method", "isotonic"}}, "m.pt"), IoError);
}

}  // namespace
}  // namespace sola::eval
