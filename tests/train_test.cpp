// Training runs on a tiny dataset: determinism, exact resumption, outputs, ASRM constraint.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "data/manifest.h"
#include "model/checkpoint.h"
#include "test_data.h"
#include "test_util.h"
#include "train/trainer.h"

namespace sola {
namespace {

ModelOptions tiny_model() { return ModelOptions{}.input_size(32).grid(4).anomaly_channels(8).classifier_channels(8); }

TrainOptions tiny_train() {
  TrainOptions t;
  t.epochs(2).batch_size(4).lr(1e-3).workers(2).seed(3).log_every(1);
  return t;
}

void expect_same_weights(const std::string& a, const std::string& b) {
  auto ma = load_model(a).model, mb = load_model(b).model;
  auto pb = mb->named_parameters();
  for (const auto& p : ma->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << "parameter " << p.key() << " differs";
  auto bb = mb->named_buffers();
  for (const auto& p : ma->named_buffers()) EXPECT_TRUE(torch::equal(p.value(), bb[p.key()])) << "buffer " << p.key();
}

TEST(TrainOptions, AugKeysChooseTheStages) {
  const data::AugmentOptions defaults = augment_options(TrainOptions{});
  EXPECT_TRUE(defaults.hflip && defaults.color_jitter && defaults.jpeg && defaults.random_resized_crop);
  EXPECT_FALSE(defaults.blur);  // not in the paper's training: recipe switches
  EXPECT_FALSE(defaults.sharpen);
  TrainOptions t;
  t.aug_hflip(false).aug_color(false).aug_jpeg(false).aug_crop(false).aug_blur(true);
  const data::AugmentOptions a = augment_options(t);
  EXPECT_FALSE(a.hflip || a.color_jitter || a.jpeg || a.random_resized_crop || a.sharpen);
  EXPECT_TRUE(a.blur);
  EXPECT_TRUE(augment_options(TrainOptions{}.aug_sharpen(true)).sharpen);
}

struct TinyRun : ::testing::Test {
  test::TempDir dir;
  data::Manifest train, val;
  void SetUp() override {
    std::filesystem::create_directories(dir.path / "train");
    std::filesystem::create_directories(dir.path / "val");
    train = data::read_manifest(test::make_tiny_dataset((dir.path / "train").string(), 6, 32, 1));
    val = data::read_manifest(test::make_tiny_dataset((dir.path / "val").string(), 3, 32, 2));
  }
  std::string out(const std::string& name) const { return (dir.path / name).string(); }
  /// One epoch of `t` into OUT/first (3 steps), and its compact state OUT/state.pt: fp16 weights and
  /// the train_state, no optimizer (what sola export --keep-train-state writes, and gets committed).
  LoadedModel first_epoch_state(TrainOptions t) {
    Trainer(tiny_model(), t.epochs(1), train, val, out("first")).run(false);
    auto loaded = load_model(out("first") + "/last.pt");
    save_model(out("state.pt"), *loaded.model, loaded.metadata, nullptr, SaveOptions{true, false});
    return loaded;
  }
};

TEST_F(TinyRun, SameSeedSameWeights) {
  Trainer(tiny_model(), tiny_train(), train, val, out("a")).run(false);
  Trainer(tiny_model(), tiny_train(), train, val, out("b")).run(false);
  expect_same_weights(out("a") + "/last.pt", out("b") + "/last.pt");
  auto t = tiny_train();
  t.seed(4);
  Trainer(tiny_model(), t, train, val, out("c")).run(false);
  auto a = load_model(out("a") + "/last.pt").model, c = load_model(out("c") + "/last.pt").model;
  EXPECT_FALSE(torch::equal(a->named_parameters()["head.fc.weight"], c->named_parameters()["head.fc.weight"]));
}

TEST_F(TinyRun, ResumeAfterACrashIsExact) {
  Trainer(tiny_model(), tiny_train(), train, val, out("full")).run(false);
  auto t = tiny_train();
  t.checkpoint_every(1);
  Trainer crashing(tiny_model(), t, train, val, out("crash"));
  crashing.on_step = [](int64_t step) {
    if (step == 4) throw std::runtime_error("simulated crash");  // mid epoch 2 (3 steps per epoch)
  };
  EXPECT_THROW(crashing.run(false), std::runtime_error);
  auto state = load_model(out("crash") + "/last.pt").metadata["train_state"];
  EXPECT_EQ(state["global_step"], 4);
  EXPECT_EQ(state["epoch"], 1);
  EXPECT_EQ(state["step_in_epoch"], 1);
  auto summary = Trainer(tiny_model(), t, train, val, out("crash")).run(true);
  EXPECT_EQ(summary.steps, 6);
  expect_same_weights(out("full") + "/last.pt", out("crash") + "/last.pt");
  // The log has each step once.
  std::ifstream log(out("crash") + "/metrics.jsonl");
  std::vector<int64_t> steps, epochs;
  std::string line;
  while (std::getline(log, line)) {
    auto j = nlohmann::json::parse(line);
    (j["type"] == "step" ? steps : epochs).push_back(j["type"] == "step" ? j["global_step"] : j["epoch"]);
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(epochs, (std::vector<int64_t>{1, 2}));
  // Resuming a finished run trains nothing and keeps the whole log.
  auto again = Trainer(tiny_model(), t, train, val, out("crash")).run(true);
  EXPECT_EQ(again.steps, 6);
  std::ifstream log2(out("crash") + "/metrics.jsonl");
  size_t lines = 0;
  while (std::getline(log2, line)) ++lines;
  EXPECT_EQ(lines, 8u);
  expect_same_weights(out("full") + "/last.pt", out("crash") + "/last.pt");
}

TEST_F(TinyRun, WritesCheckpointsLogAndKeepsTheAsrmConstraint) {
  auto summary = Trainer(tiny_model(), tiny_train(), train, val, out("run")).run(false);
  EXPECT_EQ(summary.epochs_done, 2);
  EXPECT_GE(summary.best_val_auc, 0.0);
  EXPECT_LE(summary.best_val_auc, 1.0);
  EXPECT_GT(summary.train_images_per_second, 0.0);
  for (const char* f : {"config.json", "last.pt", "best.pt", "metrics.jsonl", "curves.png"})
    EXPECT_TRUE(std::filesystem::exists(out("run") + "/" + f)) << f;
  auto best = load_model(out("run") + "/best.pt");
  auto w = best.model->named_parameters()["asrm.weight"].reshape({-1, 25});
  EXPECT_TRUE(torch::equal(w.select(1, 12), torch::full({9}, -1.0f)));
  EXPECT_LT(((w.sum(1) + 1) - 1).abs().max().item<float>(), 1e-5f);
  EXPECT_TRUE(summary.last_epoch.contains("val"));
  EXPECT_TRUE(summary.last_epoch["val"]["frame"].contains("auc"));
}

TEST_F(TinyRun, ConfigurationErrorsBeforeTraining) {
  auto t = tiny_train();
  t.loss("weak");
  EXPECT_THROW(Trainer(ModelOptions{}.arch("resnet").input_size(32), t, train, val, out("x")), ConfigError);
  data::Manifest only_real = train;
  only_real.samples.erase(std::remove_if(only_real.samples.begin(), only_real.samples.end(),
                                         [](const data::Sample& s) { return s.label == 1; }),
                          only_real.samples.end());
  EXPECT_THROW(Trainer(tiny_model(), tiny_train(), only_real, val, out("y")), ConfigError);
  EXPECT_THROW(Trainer(tiny_model(), tiny_train(), train, val, out("z")).run(/*resume=*/true), IoError);
  t = tiny_train();
  t.batch_size(0);
  EXPECT_THROW(t.validate(), ConfigError);
}

TEST_F(TinyRun, WeakAndBaselineTrain) {
  auto t = tiny_train();
  t.epochs(1).loss("weak");
  EXPECT_NO_THROW(Trainer(tiny_model(), t, train, val, out("weak")).run(false));
  t.loss("auto");
  EXPECT_NO_THROW(Trainer(ModelOptions{}.arch("resnet").input_size(32), t, train, val, out("r18")).run(false));
}

TEST_F(TinyRun, AutoLossIsWeakWithoutMasksAndSaysWhatItDoesWithMasklessFakes) {
  // With masks: supervised. Without any mask: weak (Eq. 12), not a one-sided supervised BCE.
  EXPECT_EQ(Trainer(tiny_model(), tiny_train(), train, val, out("a")).loss_options().mode(), "supervised");
  data::Manifest no_masks = train, mixed = train;
  for (auto& s : no_masks.samples) s.mask.clear();
  EXPECT_EQ(Trainer(tiny_model(), tiny_train(), no_masks, val, out("b")).loss_options().mode(), "weak");
  auto t = tiny_train();
  t.pseudo_fake_share(0.5);  // pseudo-fakes bring exact masks
  EXPECT_EQ(Trainer(tiny_model(), t, no_masks, val, out("c")).loss_options().mode(), "supervised");
  // Mixed data: config.json says what the maskless fakes get.
  for (auto& s : mixed.samples)
    if (s.label == 1 && s.group == "g0") s.mask.clear();
  t = tiny_train();
  t.epochs(1);
  Trainer(tiny_model(), t, mixed, val, out("mixed")).run(false);
  std::ifstream in(out("mixed") + "/config.json");
  auto cfg = nlohmann::json::parse(in);
  EXPECT_EQ(cfg["loss"]["mode"], "supervised");
  const std::string text = cfg["loss"]["what_it_does"];
  EXPECT_NE(text.find("the 1 fakes without a mask get the classifier BCE only"), std::string::npos) << text;
}

TEST_F(TinyRun, Bf16TrainingStaysCloseToFp32) {
  auto t = tiny_train();
  t.epochs(1).max_steps_per_epoch(1);
  EXPECT_EQ(t.precision(), "auto");  // bf16 where the CPU has it natively (precision_framing_test.cpp)
  t.precision("bf16");
  EXPECT_TRUE(t.channels_last());
  Trainer(tiny_model(), t, train, val, out("bf16")).run(false);
  t.precision("fp32");
  Trainer(tiny_model(), t, train, val, out("fp32")).run(false);
  auto a = load_model(out("bf16") + "/last.pt").model->named_parameters();
  auto b = load_model(out("fp32") + "/last.pt").model->named_parameters();
  // One Adam step from the same weights moves each by ~lr: the runs differ (bf16 arithmetic was
  // used) by a fraction of that step, and the weights stay fp32.
  const auto& wa = a["rgb.conv1.weight"];
  const auto& wb = b["rgb.conv1.weight"];
  EXPECT_EQ(wa.scalar_type(), torch::kFloat);
  EXPECT_FALSE(torch::equal(wa, wb));
  EXPECT_LT((wa - wb).abs().max().item<float>(), 2.5e-3f);
  t.precision("fp16");
  EXPECT_THROW(t.validate(), ConfigError);
}

TEST_F(TinyRun, LogsDataWaitAndWarmsUpTheLearningRate) {
  auto t = tiny_train();
  t.epochs(2).warmup_epochs(1).lr(1e-3);  // 3 steps per epoch: lr 1/3, 2/3, 3/3 of 1e-3, then 1e-3
  Trainer(tiny_model(), t, train, val, out("run")).run(false);
  std::ifstream log(out("run") + "/metrics.jsonl");
  std::vector<double> lrs;
  std::string line;
  while (std::getline(log, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "step") lrs.push_back(j["lr"]);
    if (j["type"] == "epoch") {
      EXPECT_GE(j["data_wait_share"].get<double>(), 0.0);
      EXPECT_LE(j["data_wait_share"].get<double>(), 1.0);
      EXPECT_TRUE(j.contains("data_wait_seconds"));
    }
  }
  ASSERT_EQ(lrs.size(), 6u);
  EXPECT_NEAR(lrs[0], 1e-3 / 3, 1e-9);
  EXPECT_NEAR(lrs[1], 2e-3 / 3, 1e-9);
  EXPECT_NEAR(lrs[2], 1e-3, 1e-9);
  EXPECT_NEAR(lrs[5], 1e-3, 1e-9);
}

TEST_F(TinyRun, ContinuesFromACompactStateFileWithAFreshOptimizer) {
  auto t = tiny_train();
  auto loaded = first_epoch_state(t);
  std::filesystem::create_directories(out("second"));
  std::filesystem::copy_file(out("first") + "/metrics.jsonl", out("second") + "/metrics.jsonl");
  t.epochs(3).warmup_epochs(1);
  Trainer second(tiny_model(), t, train, val, out("second"));
  second.continue_from(out("state.pt"));
  auto summary = second.run(false);
  EXPECT_EQ(summary.epochs_done, 3);
  EXPECT_EQ(summary.steps, 9);
  std::ifstream log(out("second") + "/metrics.jsonl");
  std::vector<int64_t> epochs;
  std::vector<double> lrs;
  std::string line;
  while (std::getline(log, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "epoch") epochs.push_back(j["epoch"]);
    if (j["type"] == "step" && j["global_step"].get<int64_t>() == 4) lrs.push_back(j["lr"]);
  }
  EXPECT_EQ(epochs, (std::vector<int64_t>{1, 2, 3}));  // the copied epoch 1 is kept
  ASSERT_EQ(lrs.size(), 1u);
  EXPECT_NEAR(lrs[0], 1e-3 / 3, 1e-9);  // the warm-up restarts with the new optimizer
  // A file without a training position is refused, naming it.
  save_model(out("plain.pt"), *loaded.model, nlohmann::json::object(), nullptr, SaveOptions{true, false});
  Trainer third(tiny_model(), t, train, val, out("third"));
  third.continue_from(out("plain.pt"));
  EXPECT_NE(test::error_message<IoError>([&] { third.run(false); }).find("plain.pt"), std::string::npos);
}

TEST_F(TinyRun, AContinuedRunResumedInsideItsWarmUpIsExact) {
  auto t = tiny_train();
  first_epoch_state(t);
  // Continued at global step 3 with a new optimizer: its warm-up runs over steps 3, 4 and 5.
  t.epochs(3).warmup_epochs(1).checkpoint_every(1);
  Trainer whole(tiny_model(), t, train, val, out("whole"));
  whole.continue_from(out("state.pt"));
  whole.run(false);
  Trainer crashing(tiny_model(), t, train, val, out("crash"));
  crashing.continue_from(out("state.pt"));
  crashing.on_step = [](int64_t step) {
    if (step == 4) throw std::runtime_error("simulated crash");  // inside the warm-up
  };
  EXPECT_THROW(crashing.run(false), std::runtime_error);
  EXPECT_EQ(load_model(out("crash") + "/last.pt").metadata["train_state"]["warmup_start"], 3);
  // sola train --resume (without --continue): the warm-up goes on from step 3, not from 0.
  Trainer(tiny_model(), t, train, val, out("crash")).run(true);
  expect_same_weights(out("whole") + "/last.pt", out("crash") + "/last.pt");
}

TEST(ValidationStall, CountsTheEpochsSinceAnyValidationSetLastSetANewBest) {
  auto line = [](int64_t epoch, double val, double pseudo) {
    return nlohmann::json{{"type", "epoch"},
                          {"epoch", epoch},
                          {"val", {{"frame", {{"auc", val}}}}},
                          {"val_extra", {{"pseudo", {{"frame", {{"auc", pseudo}}}}}}}};
  };
  std::vector<nlohmann::json> lines = {line(1, 0.6, 0.5), line(2, 0.7, 0.6), line(3, 0.7, 0.8),
                                       line(4, 0.65, 0.7), line(5, 0.69, 0.8), line(6, 0.68, 0.79)};
  ValidationStall stall = validation_stall(lines);
  // val's best is epoch 2 (epoch 3 only equals it), pseudo's epoch 3 (epoch 5 only equals it).
  ASSERT_EQ(stall.best.size(), 2u);
  EXPECT_EQ(stall.best[0].set, "val");
  EXPECT_EQ(stall.best[0].epoch, 2);
  EXPECT_EQ(stall.best[1].set, "pseudo");
  EXPECT_EQ(stall.best[1].epoch, 3);
  EXPECT_EQ(stall.last_epoch, 6);
  EXPECT_EQ(stall.epochs_since_improvement, 3);
  EXPECT_EQ(stall.describe(), "val 0.7000 at epoch 2, pseudo 0.8000 at epoch 3");
  lines.push_back(line(7, 0.5, 0.81));  // one set improving is enough
  EXPECT_EQ(validation_stall(lines).epochs_since_improvement, 0);
  EXPECT_EQ(validation_stall({}).epochs_since_improvement, 0);
  EXPECT_EQ(validation_stall({nlohmann::json{{"type", "epoch"}, {"epoch", 4}}}).epochs_since_improvement, 0);
}

TEST_F(TinyRun, PatienceEndsTheRunWhenNoValidationAucImproves) {
  auto t = tiny_train();
  Trainer(tiny_model(), t, train, val, out("run")).run(false);
  // A history in which epoch 1 reached the highest AUC there is: no later epoch can beat it.
  const std::string log_path = out("run") + "/metrics.jsonl";
  std::vector<std::string> lines;
  {
    std::ifstream in(log_path);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      if (j["type"] == "epoch" && j["epoch"] == 1) j["val"]["frame"]["auc"] = 1.0;
      if (j["type"] == "epoch" && j["epoch"] == 2) j["val"]["frame"]["auc"] = 0.5;
      lines.push_back(j.dump());
    }
  }
  {
    std::ofstream o(log_path, std::ios::trunc);
    for (const auto& l : lines) o << l << '\n';
  }
  // Patience 2: epoch 3 trains (one epoch without a new best after 2 would not stop it), then the run ends.
  t.epochs(6).patience(2);
  auto summary = Trainer(tiny_model(), t, train, val, out("run")).run(true);
  EXPECT_EQ(summary.epochs_done, 3);
  EXPECT_EQ(summary.steps, 9);
  EXPECT_TRUE(summary.stopped_early);
  EXPECT_NE(summary.stop_reason.find("over the last 2 epochs: val 1.0000 at epoch 1"), std::string::npos)
      << summary.stop_reason;
  EXPECT_EQ(summary.last_epoch["epochs_since_improvement"], 2);
  EXPECT_EQ(load_model(out("run") + "/last.pt").metadata["train_state"]["epoch"], 3);
  // Asked again, the run stops before training anything; a larger patience lets it go on.
  EXPECT_EQ(Trainer(tiny_model(), t, train, val, out("run")).run(true).steps, 9);
  t.patience(3);
  auto more = Trainer(tiny_model(), t, train, val, out("run")).run(true);
  EXPECT_EQ(more.epochs_done, 4);
  EXPECT_EQ(more.steps, 12);
  // The log records each stop; a resumed run decides again (the stop lines are not epochs).
  std::ifstream log(log_path);
  std::string line;
  int stops = 0;
  while (std::getline(log, line)) stops += nlohmann::json::parse(line)["type"] == "stop";
  EXPECT_EQ(stops, 1);
  // Patience needs something to validate on, and is >= 0.
  t.patience(1);
  const std::string message =
      test::error_message<ConfigError>([&] { Trainer(tiny_model(), t, train, data::Manifest{}, out("noval")).run(false); });
  EXPECT_NE(message.find("patience=1 needs a validation set"), std::string::npos) << message;
  t.patience(-1);
  EXPECT_THROW(t.validate(), ConfigError);
}

}  // namespace
}  // namespace sola
