// The learning-rate schedule (train/lr_schedule.h): warm-up, constant and cosine, at chosen steps.
#include <gtest/gtest.h>

#include "core/error.h"
#include "test_util.h"
#include "train/lr_schedule.h"

namespace sola {
namespace {

TEST(TrainLrSchedule, ConstantIsTheBaseRateAtEveryStep) {
  const TrainOptions o = TrainOptions{}.lr(2e-3).epochs(4);
  EXPECT_EQ(o.lr_schedule(), "constant");  // the default
  for (int64_t step : {0, 1, 7, 11, 12, 1000}) EXPECT_DOUBLE_EQ(learning_rate(o, 3, step), 2e-3) << "step " << step;
}

TEST(TrainLrSchedule, WarmupRisesLinearlyOverItsStepsThenHandsOver) {
  // 1 warm-up epoch of 3 steps: 1/3, 2/3, 3/3 of the rate, then the rate.
  const TrainOptions o = TrainOptions{}.lr(3e-3).epochs(4).warmup_epochs(1);
  EXPECT_DOUBLE_EQ(learning_rate(o, 3, 0), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate(o, 3, 1), 2e-3);
  EXPECT_DOUBLE_EQ(learning_rate(o, 3, 2), 3e-3);
  EXPECT_DOUBLE_EQ(learning_rate(o, 3, 3), 3e-3);
  EXPECT_DOUBLE_EQ(learning_rate(o, 3, 11), 3e-3);
  // A fraction of an epoch rounds to whole steps: 0.5 x 3 = 1.5 -> 2 steps.
  const TrainOptions half = TrainOptions{o}.warmup_epochs(0.5);
  EXPECT_DOUBLE_EQ(learning_rate(half, 3, 0), 1.5e-3);
  EXPECT_DOUBLE_EQ(learning_rate(half, 3, 1), 3e-3);
  // A continued run (new optimizer at global step 7) warms up again from there.
  EXPECT_DOUBLE_EQ(learning_rate(o, 3, 7, /*warmup_start=*/7), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate(o, 3, 8, 7), 2e-3);
  EXPECT_DOUBLE_EQ(learning_rate(o, 3, 9, 7), 3e-3);
  EXPECT_DOUBLE_EQ(learning_rate(o, 3, 10, 7), 3e-3);
}

TEST(TrainLrSchedule, CosineFallsFromTheRateToZeroOverTheWholeRun) {
  // 4 epochs of 5 steps: 20 steps in all.
  const TrainOptions o = TrainOptions{}.lr(1e-3).epochs(4).lr_schedule("cosine");
  EXPECT_DOUBLE_EQ(learning_rate(o, 5, 0), 1e-3);
  EXPECT_NEAR(learning_rate(o, 5, 5), 0.8535533905932737e-3, 1e-15);   // (1 + cos(pi/4)) / 2
  EXPECT_NEAR(learning_rate(o, 5, 10), 0.5e-3, 1e-15);                  // half way
  EXPECT_NEAR(learning_rate(o, 5, 15), 0.1464466094067262e-3, 1e-15);  // (1 - cos(pi/4)) / 2
  EXPECT_NEAR(learning_rate(o, 5, 19), 0.00615582970243117e-3, 1e-15);  // the last step: near 0
  EXPECT_NEAR(learning_rate(o, 5, 20), 0.0, 1e-18);
  for (int64_t step = 1; step < 20; ++step) EXPECT_LT(learning_rate(o, 5, step), learning_rate(o, 5, step - 1));
  // With a warm-up the cosine is scaled by it: step 1 of 5 warm-up steps is 2/5 of cos's value.
  const TrainOptions warm = TrainOptions{o}.warmup_epochs(1);
  EXPECT_NEAR(learning_rate(warm, 5, 1), 0.4 * learning_rate(o, 5, 1), 1e-18);
  EXPECT_NEAR(learning_rate(warm, 5, 1), 0.4 * 0.9938441702975689e-3, 1e-15);  // (1 + cos(pi/20)) / 2
  EXPECT_DOUBLE_EQ(learning_rate(warm, 5, 5), learning_rate(o, 5, 5));
}

TEST(TrainLrSchedule, AnUnknownScheduleIsRefusedNamingIt) {
  const TrainOptions o = TrainOptions{}.lr_schedule("step");
  const std::string message = test::error_message<ConfigError>([&] { learning_rate(o, 3, 0); });
  EXPECT_NE(message.find("lr_schedule"), std::string::npos) << message;
  EXPECT_NE(message.find("'step'"), std::string::npos) << message;
}

}  // namespace
}  // namespace sola
