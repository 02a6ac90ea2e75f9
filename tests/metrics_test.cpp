// Evaluation metrics against values worked out by hand (the arithmetic is in the comments).
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

#include "core/error.h"
#include "eval/evaluate.h"
#include "eval/metrics.h"

namespace sola {
namespace {

using eval::accuracy;
using eval::aggregate_by_group;
using eval::auc_per_method;
using eval::average_precision;
using eval::compute_metrics;
using eval::equal_error_rate;
using eval::roc_auc;
using eval::roc_curve;

constexpr double kTol = 1e-12;
const double kInf = std::numeric_limits<double>::infinity();

// Reals {0.1, 0.2}, fakes {0.8, 0.9}: every fake outscores every real.
const std::vector<double> kPerfectScores = {0.1, 0.2, 0.8, 0.9};
const std::vector<int> kPerfectLabels = {0, 0, 1, 1};

// Reals {0.1, 0.4}, fakes {0.4, 0.8}: one real/fake pair is tied at 0.4.
const std::vector<double> kTiedScores = {0.1, 0.4, 0.4, 0.8};
const std::vector<int> kTiedLabels = {0, 0, 1, 1};

TEST(Metrics, RocCurveHasOnePointPerDistinctScore) {
  // Thresholds inf, 0.8, 0.4, 0.1; fakes/reals scored >= each: (0,0) (1,0) (2,1) (2,2), so with
  // 2 fakes and 2 reals tpr = 0, .5, 1, 1 and fpr = 0, 0, .5, 1.
  eval::RocCurve roc = roc_curve(kTiedScores, kTiedLabels);
  EXPECT_EQ(roc.thresholds, (std::vector<double>{kInf, 0.8, 0.4, 0.1}));
  EXPECT_EQ(roc.tpr, (std::vector<double>{0.0, 0.5, 1.0, 1.0}));
  EXPECT_EQ(roc.fpr, (std::vector<double>{0.0, 0.0, 0.5, 1.0}));
}

TEST(Metrics, PerfectSeparation) {
  // All 4 real/fake pairs are ordered correctly: AUC = 4/4.
  EXPECT_NEAR(roc_auc(kPerfectScores, kPerfectLabels), 1.0, kTol);
  // Thresholds 0.9, 0.8 reach recall .5, 1 at precision 1: AP = .5*1 + .5*1 = 1.
  EXPECT_NEAR(average_precision(kPerfectScores, kPerfectLabels), 1.0, kTol);
  // At threshold 0.8: FPR 0 and FNR 0, so EER = 0.
  EXPECT_NEAR(equal_error_rate(kPerfectScores, kPerfectLabels), 0.0, kTol);
}

TEST(Metrics, ReversedSeparation) {
  // Reals {0.8, 0.9}, fakes {0.1, 0.2}: all 4 pairs ordered wrongly, AUC = 0/4.
  const std::vector<double> scores = {0.9, 0.8, 0.2, 0.1};
  const std::vector<int> labels = {0, 0, 1, 1};
  EXPECT_NEAR(roc_auc(scores, labels), 0.0, kTol);
  // FNR - FPR at thresholds inf, .9, .8: 1-0, 1-.5, 1-1 = 0, so EER = 1.
  EXPECT_NEAR(equal_error_rate(scores, labels), 1.0, kTol);
  // Thresholds .9, .8 have precision 0 at recall 0; .2: recall .5, precision 1/3;
  // .1: recall 1, precision 2/4. AP = .5*(1/3) + .5*.5 = 5/12.
  EXPECT_NEAR(average_precision(scores, labels), 5.0 / 12.0, kTol);
}

TEST(Metrics, AucCountsTiesAsOneHalf) {
  // Pairs (real, fake): (.1,.4) 1, (.1,.8) 1, (.4,.4) 1/2, (.4,.8) 1 -> 3.5 / 4 = 0.875.
  // By ranks: ascending .1 .4 .4 .8 get ranks 1, 2.5, 2.5, 4; R_fake = 2.5 + 4 = 6.5;
  // U = 6.5 - 2*3/2 = 3.5.
  EXPECT_NEAR(roc_auc(kTiedScores, kTiedLabels), 0.875, kTol);
  // The same samples in another order give the same answer.
  EXPECT_NEAR(roc_auc({0.4, 0.8, 0.4, 0.1}, {1, 1, 0, 0}), 0.875, kTol);
}

TEST(Metrics, AucMatchesPairCountingAndTrapezoids) {
  // 200 pseudo-random samples on a 0.05 grid (many ties); AUC must equal the O(n^2) pair count
  // and the trapezoidal area under roc_curve (a tied segment is a diagonal: one half per pair).
  std::vector<double> scores;
  std::vector<int> labels;
  std::mt19937 rng(12345);  // the engine's output sequence is fixed by the standard
  for (int i = 0; i < 200; ++i) {
    labels.push_back(static_cast<int>(rng() & 1u));
    scores.push_back(0.05 * static_cast<double>(rng() % 21) + 0.2 * labels.back());
  }
  double pairs = 0.0, wins = 0.0;
  for (size_t f = 0; f < scores.size(); ++f) {
    for (size_t r = 0; r < scores.size(); ++r) {
      if (labels[f] != 1 || labels[r] != 0) continue;
      pairs += 1.0;
      wins += scores[f] > scores[r] ? 1.0 : scores[f] == scores[r] ? 0.5 : 0.0;
    }
  }
  eval::RocCurve roc = roc_curve(scores, labels);
  double area = 0.0;
  for (size_t k = 1; k < roc.fpr.size(); ++k) {
    area += (roc.fpr[k] - roc.fpr[k - 1]) * (roc.tpr[k] + roc.tpr[k - 1]) / 2.0;
  }
  const double auc = roc_auc(scores, labels);
  EXPECT_GT(auc, 0.5);
  EXPECT_LT(auc, 1.0);
  EXPECT_NEAR(auc, wins / pairs, kTol);
  EXPECT_NEAR(auc, area, 1e-9);
}

TEST(Metrics, AveragePrecisionGroupsTies) {
  // Scores .7(fake) .7(real) .7(fake) .2(real); 2 fakes. Threshold .7: 2 fakes and 1 real
  // scored >= .7, recall 1, precision 2/3; .2 adds no recall. AP = (1 - 0) * 2/3 = 2/3.
  // Any order of the tied samples counted one by one differs: F F R gives .5*1 + .5*1 = 1,
  // F R F gives .5*1 + .5*(2/3) = 5/6, R F F gives .5*(1/2) + .5*(2/3) = 7/12.
  EXPECT_NEAR(average_precision({0.7, 0.7, 0.7, 0.2}, {1, 0, 1, 0}), 2.0 / 3.0, kTol);
  // Tied case: .8: recall .5, precision 1/1; .4: recall 1, precision 2/3; .1 adds no recall.
  // AP = .5*1 + .5*(2/3) = 5/6.
  EXPECT_NEAR(average_precision(kTiedScores, kTiedLabels), 5.0 / 6.0, kTol);
}

TEST(Metrics, EqualErrorRateInterpolates) {
  // Reals {.2, .5}, fakes {.1, .5, .9}. (FPR, FNR) at thresholds inf, .9, .5:
  // (0, 1), (0, 2/3), (1/2, 1/3); FNR - FPR = 1, 2/3, -1/6 changes sign between .9 and .5.
  // t = (2/3) / (2/3 + 1/6) = 4/5; FPR = 0 + 4/5 * 1/2 = 0.4 (FNR = 2/3 - 4/5 * 1/3 = 0.4).
  EXPECT_NEAR(equal_error_rate({0.2, 0.5, 0.1, 0.5, 0.9}, {0, 0, 1, 1, 1}), 0.4, kTol);
  // Reals {.1, .6}, fakes {.4, .8, .9}. At .8: (0, 1/3), gap 1/3; at .6: (1/2, 1/3), gap -1/6.
  // t = (1/3) / (1/3 + 1/6) = 2/3; FPR = 2/3 * 1/2 = 1/3, which equals the constant FNR 1/3.
  EXPECT_NEAR(equal_error_rate({0.1, 0.6, 0.4, 0.8, 0.9}, {0, 0, 1, 1, 1}), 1.0 / 3.0, kTol);
}

TEST(Metrics, AccuracyUsesGreaterOrEqual) {
  const std::vector<double> scores = {0.2, 0.5, 0.7, 0.4};
  const std::vector<int> labels = {0, 1, 1, 0};
  // At 0.5: predictions 0, 1 (0.5 >= 0.5), 1, 0 -> 4/4 correct.
  EXPECT_NEAR(accuracy(scores, labels), 1.0, kTol);
  // At 0.3: predictions 0, 1, 1, 1 -> the last is wrong, 3/4.
  EXPECT_NEAR(accuracy(scores, labels, 0.3), 0.75, kTol);
  // At 0.6: predictions 0, 0, 1, 0 -> the second is wrong, 3/4; at 0.8 both fakes wrong, 2/4.
  EXPECT_NEAR(accuracy(scores, labels, 0.6), 0.75, kTol);
  EXPECT_NEAR(accuracy(scores, labels, 0.8), 0.5, kTol);
  // A single class is fine for accuracy: reals .2, .7 at 0.5 -> 1/2.
  EXPECT_NEAR(accuracy({0.2, 0.7}, {0, 0}), 0.5, kTol);
}

TEST(Metrics, ComputeMetricsOnTiedCase) {
  // AUC 0.875 and AP 5/6 as above. EER: (FPR, FNR) at inf, .8, .4 = (0,1), (0,.5), (.5,0);
  // gaps 1, .5, -.5 -> t = .5 / 1 = .5, EER = 0 + .5*.5 = .25.
  // Accuracy at 0.5: predictions 0, 0, 0, 1 against 0, 0, 1, 1 -> 3/4.
  eval::Metrics m = compute_metrics(kTiedScores, kTiedLabels);
  EXPECT_EQ(m.n, 4u);
  EXPECT_EQ(m.n_real, 2u);
  EXPECT_EQ(m.n_fake, 2u);
  EXPECT_NEAR(m.auc, 0.875, kTol);
  EXPECT_NEAR(m.ap, 5.0 / 6.0, kTol);
  EXPECT_NEAR(m.eer, 0.25, kTol);
  EXPECT_NEAR(m.acc, 0.75, kTol);
  EXPECT_NEAR(equal_error_rate(kTiedScores, kTiedLabels), 0.25, kTol);
  // At 0.9 every prediction is real -> 2/4.
  EXPECT_NEAR(compute_metrics(kTiedScores, kTiedLabels, 0.9).acc, 0.5, kTol);
}

TEST(Metrics, AggregateByGroupAveragesPerGroupAndLabel) {
  // v1 real frames .1, .3 -> .2; v2 real frames .2, .4 -> .3; v1 fake frames .9, .7 -> .8.
  // Order of first appearance: v1|0 (index 0), v2|0 (index 2), v1|1 (index 3).
  eval::Aggregated a = aggregate_by_group({0.1, 0.3, 0.2, 0.9, 0.4, 0.7}, {0, 0, 0, 1, 0, 1},
                                          {"v1", "v1", "v2", "v1", "v2", "v1"});
  EXPECT_EQ(a.keys, (std::vector<std::string>{"v1|0", "v2|0", "v1|1"}));
  EXPECT_EQ(a.labels, (std::vector<int>{0, 0, 1}));
  ASSERT_EQ(a.scores.size(), 3u);
  EXPECT_NEAR(a.scores[0], 0.2, kTol);
  EXPECT_NEAR(a.scores[1], 0.3, kTol);
  EXPECT_NEAR(a.scores[2], 0.8, kTol);
}

TEST(Metrics, AucPerMethodComparesEachMethodWithAllReals) {
  // Reals {.2, .5, .3}. Deepfakes {.9, .6}: beats all 3 reals each -> 6/6 = 1.
  // FaceSwap {.4, .1}: .4 beats .2 and .3 (2), .1 beats none (0) -> 2/6 = 1/3.
  auto per_method = auc_per_method(
      {0.2, 0.5, 0.9, 0.4, 0.6, 0.1, 0.3}, {0, 0, 1, 1, 1, 1, 0},
      {"real", "real", "Deepfakes", "FaceSwap", "Deepfakes", "FaceSwap", "real"});
  ASSERT_EQ(per_method.size(), 2u);
  EXPECT_EQ(per_method[0].first, "Deepfakes");
  EXPECT_NEAR(per_method[0].second, 1.0, kTol);
  EXPECT_EQ(per_method[1].first, "FaceSwap");
  EXPECT_NEAR(per_method[1].second, 1.0 / 3.0, kTol);
}

TEST(Metrics, AucPerMethodRejectsMethodLabelMismatch) {
  std::string msg = test::error_message<Error>([] { auc_per_method({0.1, 0.9}, {0, 0}, {"real", "Deepfakes"}); });
  EXPECT_NE(msg.find("sample 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'Deepfakes'"), std::string::npos) << msg;
  msg = test::error_message<Error>([] { auc_per_method({0.1, 0.9}, {0, 1}, {"real"}); });
  EXPECT_NE(msg.find("2 scores but 1 methods"), std::string::npos) << msg;
  msg = test::error_message<Error>([] { auc_per_method({0.8, 0.9}, {1, 1}, {"Deepfakes", "Deepfakes"}); });
  EXPECT_NE(msg.find("both real and fake"), std::string::npos) << msg;
  EXPECT_NE(msg.find("got 0 real, 2 fake"), std::string::npos) << msg;
}

TEST(Metrics, SingleClassInputThrows) {
  const std::vector<double> scores = {0.1, 0.2, 0.3};
  const std::vector<int> reals = {0, 0, 0};
  const std::vector<int> fakes = {1, 1, 1};
  std::string msg = test::error_message<Error>([&] { roc_auc(scores, reals); });
  EXPECT_NE(msg.find("AUC needs both real and fake samples: got 3 real, 0 fake"),
            std::string::npos)
      << msg;
  msg = test::error_message<Error>([&] { average_precision(scores, fakes); });
  EXPECT_NE(msg.find("both real and fake"), std::string::npos) << msg;
  EXPECT_NE(msg.find("got 0 real, 3 fake"), std::string::npos) << msg;
  EXPECT_NE(test::error_message<Error>([&] { equal_error_rate(scores, reals); }).find("both real and fake"),
            std::string::npos);
  EXPECT_NE(test::error_message<Error>([&] { compute_metrics(scores, fakes); }).find("both real and fake"),
            std::string::npos);
  EXPECT_NE(test::error_message<Error>([&] { roc_curve(scores, reals); }).find("both real and fake"),
            std::string::npos);
}

TEST(Metrics, InvalidInputThrows) {
  std::string msg = test::error_message<Error>([] { roc_auc({0.1, 0.2, 0.3}, {0, 1}); });
  EXPECT_NE(msg.find("3 scores but 2 labels"), std::string::npos) << msg;
  msg = test::error_message<Error>([] { accuracy({}, {}); });
  EXPECT_NE(msg.find("no samples"), std::string::npos) << msg;
  msg = test::error_message<Error>([] { roc_auc({0.1, 0.2, 0.3}, {0, 2, 1}); });
  EXPECT_NE(msg.find("label at index 1 is 2"), std::string::npos) << msg;
  msg = test::error_message<Error>([] { average_precision({0.1, std::nan(""), 0.3}, {0, 1, 1}); });
  EXPECT_NE(msg.find("score at index 1 is nan"), std::string::npos) << msg;
  msg = test::error_message<Error>([&] { equal_error_rate({0.1, 0.2, kInf}, {0, 1, 1}); });
  EXPECT_NE(msg.find("score at index 2 is inf"), std::string::npos) << msg;
  msg = test::error_message<Error>([] { aggregate_by_group({0.1, 0.2}, {0, 1}, {"v1"}); });
  EXPECT_NE(msg.find("2 scores but 1 groups"), std::string::npos) << msg;
  msg = test::error_message<Error>([] { accuracy({0.1, 0.9}, {0, 1}, std::nan("")); });
  EXPECT_NE(msg.find("threshold is nan"), std::string::npos) << msg;
}

TEST(Metrics, SummaryReportsWhatTheMapPeaksAloneSeparate) {
  // The classifier ranks perfectly; the map peaks rank one fake below one real: pairs (fake, real)
  // ordered right are 3 of 4 -> map AUC 0.75. Mean peaks: real (0.1 + 0.5) / 2, fake (0.4 + 0.9) / 2.
  eval::Scored s;
  s.scores = {0.1, 0.2, 0.8, 0.9};
  s.labels = {0, 0, 1, 1};
  s.groups = {"a", "b", "c", "d"};
  s.methods = {"real", "real", "x", "x"};
  s.paths = {"1", "2", "3", "4"};
  EXPECT_FALSE(eval::summarize(s).map.has_value());  // a model without maps
  EXPECT_FALSE(eval::summarize(s).to_json().contains("map"));
  s.map_peaks = {0.1, 0.5, 0.4, 0.9};
  const auto r = eval::summarize(s);
  EXPECT_DOUBLE_EQ(r.frame.auc, 1.0);
  ASSERT_TRUE(r.map.has_value());
  EXPECT_DOUBLE_EQ(r.map->frame.auc, 0.75);
  EXPECT_DOUBLE_EQ(r.map->real_mean_peak, 0.3);
  EXPECT_DOUBLE_EQ(r.map->fake_mean_peak, 0.65);
  const auto j = r.to_json();
  EXPECT_DOUBLE_EQ(j.at("map").at("auc").get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j.at("map").at("fake_mean_peak").get<double>(), 0.65);
  s.map_peaks.pop_back();  // not one per sample: an error, not a misaligned AUC
  EXPECT_THROW(eval::summarize(s), c10::Error);
}

}  // namespace
}  // namespace sola
