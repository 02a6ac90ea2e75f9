// Run folders read back (train/run_summary.h): epochs once each after a resume, the stop reason, the
// figures derived from the log, and errors that name the file.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_util.h"
#include "train/run_summary.h"

namespace sola {
namespace {
using json = nlohmann::json;

json epoch(int64_t e, double auc, double seconds, int64_t step) {
  return json{{"type", "epoch"},          {"epoch", e},
              {"global_step", step},      {"train_loss", 1.0 / e},
              {"train_seconds", seconds}, {"train_images_per_second", 10.0 * e},
              {"val", {{"frame", {{"auc", auc}}}}}};
}

/// A run folder as `sola train` leaves it: resumed from the checkpoint of epoch 1 after its log had
/// reached epoch 2, so that epoch 2 is logged twice (the second line is the run that went on); early
/// stopping ended it after epoch 3.
struct RunFolder : ::testing::Test {
  test::TempDir tmp;
  std::string dir;
  void SetUp() override {
    dir = tmp.file("sola_run");
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/config.json") << json{{"model", {{"grid", 8}}}, {"train", {{"epochs", 5}, {"batch_size", 4}}}};
    std::ofstream log(dir + "/metrics.jsonl");
    log << json{{"type", "step"}, {"epoch", 1}, {"step", 1}, {"global_step", 1}} << "\n"
        << epoch(1, 0.60, 100, 10) << "\n"
        << epoch(2, 0.90, 100, 20) << "\n"   // the run that died after it
        << epoch(2, 0.70, 120, 20) << "\n"   // the resumed run's epoch 2
        << epoch(3, 0.65, 110, 30) << "\n"
        << json{{"type", "stop"}, {"epoch", 3}, {"reason", "early stop (patience 1): no improvement"}} << "\n";
    std::ofstream(dir + "/done.json") << json{{"epochs", 3}, {"stopped_early", "early stop (patience 1): no improvement"}};
    std::ofstream(tmp.file("sola_run.command.txt")) << "sola train --out runs/sola_run\n";
  }
};

TEST(UniqueEpochs, KeepsTheLaterLineOfAnEpochLoggedTwiceInEpochOrder) {
  const std::vector<json> log = {epoch(2, 0.5, 1, 2), json{{"type", "step"}, {"epoch", 1}}, epoch(1, 0.4, 1, 1),
                                 epoch(2, 0.8, 1, 2)};
  const auto epochs = unique_epochs(log);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs[0]["epoch"], 1);
  EXPECT_EQ(epochs[1]["epoch"], 2);
  EXPECT_DOUBLE_EQ(epochs[1]["val"]["frame"]["auc"].get<double>(), 0.8);
}

TEST(CheckpointName, IsTheNameSolaEvalGivesAModelFile) {
  EXPECT_EQ(checkpoint_name("runs/recipe/base/best.pt"), "base");
  EXPECT_EQ(checkpoint_name("runs/recipe/base/last.pt"), "base/last");
  EXPECT_EQ(checkpoint_name("models/sola-dfdc.pt"), "sola-dfdc");
}

TEST_F(RunFolder, CountsAResumedEpochOnceAndReadsTheStopReason) {
  const RunSummary run = read_run(dir);
  EXPECT_EQ(run.name, "sola_run");
  ASSERT_EQ(run.epochs.size(), 3u);
  // The resumed epoch 2 (0.70, 120 s), not the line of the run that died (0.90): best is epoch 2 at 0.70.
  EXPECT_DOUBLE_EQ(run.epochs[1]["val"]["frame"]["auc"].get<double>(), 0.70);
  EXPECT_EQ(run.best_epoch(), 2);
  EXPECT_EQ(run.status(), "stopped early");
  EXPECT_EQ(run.stop_reason(), "early stop (patience 1): no improvement");
  EXPECT_EQ(run.command, "sola train --out runs/sola_run");
  const json j = run.to_json();
  EXPECT_EQ(j["epochs_done"], 3);
  EXPECT_EQ(j["epochs_planned"], 5);
  EXPECT_EQ(j["last_epoch"], 3);
  EXPECT_DOUBLE_EQ(j["val_auc"]["best"].get<double>(), 0.70);
  EXPECT_DOUBLE_EQ(j["val_auc"]["last"].get<double>(), 0.65);
  EXPECT_EQ(j["epochs_since_improvement"], 1);
  EXPECT_DOUBLE_EQ(j["train_seconds"].get<double>(), 330.0);  // 100 + 120 + 110: the dead run's 100 s not counted
  EXPECT_DOUBLE_EQ(j["train_images_per_second"].get<double>(), 20.0);  // the median of 10, 20, 30
  EXPECT_EQ(j["images"], 30 * 4);                                        // global steps x batch
  EXPECT_EQ(j["checkpoints"]["best"], "sola_run");
  EXPECT_EQ(j["checkpoints"]["last"], "sola_run/last");
  EXPECT_EQ(j["epochs"].size(), 3u);
  EXPECT_EQ(j["stops"].size(), 1u);
}

TEST_F(RunFolder, WithoutDoneJsonTheRunIsUnfinishedAndACommandInsideIsRead) {
  std::filesystem::remove(dir + "/done.json");
  std::ofstream(dir + "/metrics.jsonl") << epoch(1, 0.6, 10, 1) << "\n";
  std::ofstream(dir + "/command.txt") << "sola train --out runs/long\n";
  const RunSummary run = read_run(dir + "/");  // a trailing slash names the same run
  EXPECT_EQ(run.name, "sola_run");
  EXPECT_EQ(run.status(), "unfinished");
  EXPECT_EQ(run.stop_reason(), "");
  EXPECT_EQ(run.command, "sola train --out runs/long");
  EXPECT_TRUE(run.to_json()["stop_reason"].is_null());
}

TEST_F(RunFolder, ALastLineCutShortIsSkippedWithAWarning) {
  std::ofstream(dir + "/metrics.jsonl", std::ios::app) << R"({"type": "epoch", "epo)";
  const RunSummary run = read_run(dir);
  EXPECT_EQ(run.epochs.size(), 3u);
  ASSERT_EQ(run.warnings.size(), 1u);
  EXPECT_NE(run.warnings[0].find("line 7 is cut short"), std::string::npos) << run.warnings[0];
}

TEST_F(RunFolder, MissingOrCorruptFilesAreErrorsNamingTheFile) {
  auto error = [&] { return test::error_message<IoError>([&] { read_run(dir); }); };
  // A corrupt line inside the log: its file and line.
  std::ofstream(dir + "/metrics.jsonl") << epoch(1, 0.6, 10, 1) << "\n{not json\n" << epoch(2, 0.6, 10, 2) << "\n";
  EXPECT_NE(error().find(dir + "/metrics.jsonl: line 2 is not a JSON object"), std::string::npos) << error();
  std::ofstream(dir + "/metrics.jsonl") << R"({"type": "epoch", "epoch": "two"})" << "\n";
  EXPECT_NE(error().find("line 1 is an epoch line without an integer \"epoch\""), std::string::npos) << error();
  std::ofstream(dir + "/metrics.jsonl") << epoch(1, 0.6, 10, 1) << "\n";
  std::ofstream(dir + "/done.json") << "[1, 2]";
  EXPECT_NE(error().find(dir + "/done.json: expected a JSON object"), std::string::npos) << error();
  std::ofstream(dir + "/done.json") << "{\"epochs\": ";
  EXPECT_NE(test::error_message<ConfigError>([&] { read_run(dir); }).find(dir + "/done.json: not valid JSON"),
            std::string::npos);
  std::filesystem::remove(dir + "/done.json");
  std::filesystem::remove(dir + "/metrics.jsonl");
  EXPECT_NE(error().find(dir + "/metrics.jsonl: missing"), std::string::npos) << error();
  std::filesystem::remove(dir + "/config.json");
  EXPECT_NE(error().find(dir + "/config.json: missing"), std::string::npos) << error();
  EXPECT_NE(test::error_message<IoError>([&] { read_run(tmp.file("no_such_run")); }).find("no_such_run: no such run folder"),
            std::string::npos);
}

TEST_F(RunFolder, TheTableHasARowPerRunAndTheStopReason) {
  const std::string table = runs_table({read_run(dir)});
  EXPECT_NE(table.find("sola_run  stopped early      3/5      2    0.7000    0.6500          6"), std::string::npos) << table;
  EXPECT_NE(table.find("sola_run: early stop (patience 1): no improvement"), std::string::npos) << table;
}

}  // namespace
}  // namespace sola
