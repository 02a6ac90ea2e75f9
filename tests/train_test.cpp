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

}  // namespace
}  // namespace sola
