// Training that survives the outside world: SIGKILL at a random step then --resume, a full disk
// while writing a checkpoint, a corrupted last checkpoint, and data-parallel training in two
// processes (c10d/Gloo on 127.0.0.1) reaching the weights of one process with the same global batch.
#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "test_data.h"
#include "test_util.h"
#include "train/distributed.h"
#include "train/trainer.h"

namespace sola {
namespace {
namespace fs = std::filesystem;

const std::string kTiny =
    " --set input_size=32 --set grid=4 --set anomaly_channels=8 --set classifier_channels=8 --set log_every=1"
    " --set seed=5 --threads 1";

/// Runs a shell command line; returns its exit status.
int shell(const std::string& cmd) {
  const int status = std::system(("/bin/bash -c '" + cmd + "'").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void expect_same_parameters(const std::string& a, const std::string& b) {
  auto ma = load_model(a).model, mb = load_model(b).model;
  auto pb = mb->named_parameters();
  for (const auto& p : ma->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << "parameter " << p.key() << " differs between " << a << " and " << b;
}

/// The largest global_step among complete step lines of a metrics.jsonl (0 if none).
int64_t last_logged_step(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  int64_t step = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("type", "") == "step") step = std::max<int64_t>(step, j["global_step"]);
  }
  return step;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(TrainRobust, SigkillAtARandomStepThenResumeIsBitIdentical) {
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 8, 32);  // 16 images: 4 steps per epoch
  const std::string args = " --train " + m + " --val " + m + kTiny + " --set epochs=3 --set batch_size=4 --set checkpoint_every=1";
  ASSERT_EQ(shell(std::string(SOLA_CLI_PATH) + " train" + args + " --out " + dir.file("full") + " >/dev/null 2>&1"), 0);
  // Kill at a random step of the 12 (the seed is printed so a failure can be replayed).
  const unsigned seed = static_cast<unsigned>(std::random_device{}());
  const int64_t kill_after = 2 + static_cast<int64_t>(std::mt19937(seed)() % 8);  // steps 2..9
  SCOPED_TRACE("kill after step " + std::to_string(kill_after) + " (seed " + std::to_string(seed) + ")");
  const std::string run = dir.file("killed"), log = run + "/metrics.jsonl";
  const std::string pid_file = dir.file("pid");
  ASSERT_EQ(shell(std::string(SOLA_CLI_PATH) + " train" + args + " --out " + run + " >/dev/null 2>&1 & echo $! > " + pid_file), 0);
  const pid_t pid = std::stoi(slurp(pid_file));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (last_logged_step(log) < kill_after && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(::kill(pid, SIGKILL), 0) << "training ended before it could be killed";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int64_t logged = last_logged_step(log);
  EXPECT_LT(logged, 12) << "training finished before the kill";
  ASSERT_EQ(shell(std::string(SOLA_CLI_PATH) + " train" + args + " --out " + run + " --resume >" + dir.file("resume.log") + " 2>&1"), 0)
      << slurp(dir.file("resume.log"));
  EXPECT_NE(slurp(dir.file("resume.log")).find("resuming"), std::string::npos);
  // Parameters, buffers and the log: as if never interrupted.
  auto a = load_model(dir.file("full") + "/last.pt").model, b = load_model(run + "/last.pt").model;
  auto pb = b->named_parameters();
  for (const auto& p : a->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  auto bb = b->named_buffers();
  for (const auto& p : a->named_buffers()) EXPECT_TRUE(torch::equal(p.value(), bb[p.key()])) << p.key();
  EXPECT_EQ(last_logged_step(log), 12);
  for (const auto& entry : fs::directory_iterator(run))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << "left behind: " << entry.path();
}

TEST(TrainRobust, FullDiskWhileCheckpointingKeepsThePreviousCheckpoint) {
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 4, 32);
  const std::string run = dir.file("run");
  const std::string args = " --train " + m + kTiny + " --set batch_size=4 --out " + run;
  ASSERT_EQ(shell(std::string(SOLA_CLI_PATH) + " train" + args + " --set epochs=1 >/dev/null 2>&1"), 0);
  const auto size = fs::file_size(run + "/last.pt");
  // Files may grow to half a checkpoint only (as on a disk that fills up): SIGXFSZ ignored, so
  // writes fail with EFBIG like they would with ENOSPC.
  const std::string limited = "trap \"\" XFSZ; ulimit -f " + std::to_string(size / 2 / 1024) + "; exec " +
                              SOLA_CLI_PATH + " train" + args + " --set epochs=2 --resume >" + dir.file("err.log") + " 2>&1";
  EXPECT_EQ(shell(limited), 1) << slurp(dir.file("err.log"));
  const std::string err = slurp(dir.file("err.log"));
  EXPECT_NE(err.find("last.pt"), std::string::npos) << err;
  // The checkpoint of epoch 1 is intact and still the one to resume from; no temporary file is left.
  EXPECT_NO_THROW(verify_model_file(run + "/last.pt"));
  EXPECT_EQ(load_model(run + "/last.pt").metadata["train_state"]["epoch"], 1);
  for (const auto& entry : fs::directory_iterator(run))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << "left behind: " << entry.path();
  // With space again, the run resumes and finishes.
  EXPECT_EQ(shell(std::string(SOLA_CLI_PATH) + " train" + args + " --set epochs=2 --resume >/dev/null 2>&1"), 0);
  EXPECT_EQ(load_model(run + "/last.pt").metadata["train_state"]["epoch"], 2);
}

// ---- one run per output folder ----------------------------------------------------------------

TEST(TrainRobust, SecondRunOnAFolderInUseIsRefusedAtOnceAndAKilledRunDoesNotHoldIt) {
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 4, 32);
  const std::string run = dir.file("run");
  const std::string args = " --train " + m + kTiny + " --set batch_size=4 --out " + run;
  const std::string pid_file = dir.file("pid");
  // A long first run (it is killed below).
  ASSERT_EQ(shell(std::string(SOLA_CLI_PATH) + " train" + args + " --set epochs=100000 >/dev/null 2>&1 & echo $! > " + pid_file), 0);
  const pid_t pid = std::stoi(slurp(pid_file));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (slurp(run + "/.lock").empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(std::stoi(slurp(run + "/.lock")), pid) << "the first run did not take the folder";
  EXPECT_EQ(shell(std::string(SOLA_CLI_PATH) + " train" + args + " --set epochs=1 >" + dir.file("second.log") + " 2>&1"), 1);
  const std::string second = slurp(dir.file("second.log"));
  EXPECT_NE(second.find(run + ": the folder is in use by another sola train run (process " + std::to_string(pid) + ")"),
            std::string::npos) << second;
  EXPECT_EQ(second.find("reading manifests"), std::string::npos) << "refused only after reading the data: " << second;
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // The kernel dropped the killed run's lock: the folder can be taken again at once.
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(shell(std::string(SOLA_CLI_PATH) + " train" + args + " --set epochs=1 --overwrite >" + dir.file("third.log") + " 2>&1"), 0)
      << slurp(dir.file("third.log"));
}

TEST(TrainRobust, NewRunOverAFinishedOneIsRefusedWithoutOverwrite) {
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 4, 32);
  const std::string run = dir.file("run");
  const std::string cli = std::string(SOLA_CLI_PATH) + " train" + kTiny + " --set batch_size=4 --out " + run;
  ASSERT_EQ(shell(cli + " --train " + m + " --set epochs=1 >/dev/null 2>&1"), 0);
  const std::string best = slurp(run + "/best.pt"), log = slurp(run + "/metrics.jsonl"), config = slurp(run + "/config.json");
  EXPECT_EQ(shell(cli + " --train " + m + " --set epochs=1 --set seed=9 >" + dir.file("again.log") + " 2>&1"), 2);
  const std::string again = slurp(dir.file("again.log"));
  EXPECT_NE(again.find(run + " holds a previous run"), std::string::npos) << again;
  EXPECT_NE(again.find("--resume"), std::string::npos) << again;
  EXPECT_NE(again.find("--overwrite"), std::string::npos) << again;
  EXPECT_TRUE(slurp(run + "/best.pt") == best && slurp(run + "/metrics.jsonl") == log && slurp(run + "/config.json") == config)
      << "the finished run was changed";

  // --resume with other training data than the run recorded is refused, and config.json is kept.
  test::TempDir other;
  const std::string m2 = test::make_tiny_dataset(other.path.string(), 4, 32, /*seed=*/2);
  EXPECT_EQ(shell(cli + " --train " + m2 + " --set epochs=2 --resume >" + dir.file("other.log") + " 2>&1"), 2);
  const std::string refused = slurp(dir.file("other.log"));
  EXPECT_NE(refused.find("--resume with other training data than the run recorded"), std::string::npos) << refused;
  EXPECT_NE(refused.find(run + "/config.json"), std::string::npos) << refused;
  EXPECT_EQ(slurp(run + "/config.json"), config);
  // The same data resumes; the record is in config.json.
  EXPECT_EQ(shell(cli + " --train " + m + " --set epochs=2 --resume >/dev/null 2>&1"), 0);
  const auto recorded = nlohmann::json::parse(slurp(run + "/config.json"))["provenance"]["data"];
  EXPECT_EQ(recorded["train"]["images"], 8);

  // --overwrite starts a new run: the old outputs are gone, the new log holds one run.
  EXPECT_EQ(shell(cli + " --train " + m + " --set epochs=1 --overwrite >/dev/null 2>&1"), 0);
  EXPECT_EQ(last_logged_step(run + "/metrics.jsonl"), 2);
  EXPECT_FALSE(fs::exists(run + "/last.prev.pt"));
  EXPECT_EQ(shell(cli + " --train " + m + " --resume --overwrite >/dev/null 2>&1"), 2);
}

TEST(TrainRobust, TemporaryFilesOfAnInterruptedSaveAreRemoved) {
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 4, 32);
  const std::string run = dir.file("run");
  const std::string cli = std::string(SOLA_CLI_PATH) + " train --train " + m + kTiny + " --set batch_size=4 --out " + run;
  fs::create_directories(run);
  std::ofstream(run + "/last.pt.tmp.4242") << std::string(1000, 'x');  // as a save killed half-way leaves it
  ASSERT_EQ(shell(cli + " --set epochs=1 >" + dir.file("start.log") + " 2>&1"), 0) << slurp(dir.file("start.log"));
  EXPECT_FALSE(fs::exists(run + "/last.pt.tmp.4242"));
  EXPECT_NE(slurp(dir.file("start.log")).find("removed " + run + "/last.pt.tmp.4242"), std::string::npos);
  std::ofstream(run + "/best.pt.tmp.77") << "x";
  std::ofstream(run + "/config.json.tmp.78") << "x";
  ASSERT_EQ(shell(cli + " --set epochs=2 --resume >/dev/null 2>&1"), 0);
  for (const auto& entry : fs::directory_iterator(run))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << "left behind: " << entry.path();
}

TEST(TrainRobust, CorruptedLastCheckpointResumesFromThePreviousOne) {
  test::TempDir dir;
  const data::Manifest train = data::read_manifest(test::make_tiny_dataset(dir.path.string(), 4, 32));
  const ModelOptions model = ModelOptions{}.input_size(32).grid(4).anomaly_channels(8).classifier_channels(8);
  TrainOptions t;
  t.epochs(2).batch_size(4).seed(3).workers(1);
  Trainer(model, t, train, {}, dir.file("full")).run(false);
  t.epochs(1);
  Trainer(model, t, train, {}, dir.file("run")).run(false);
  t.epochs(2);
  Trainer(model, t, train, {}, dir.file("run")).run(true);  // now last.pt = epoch 2, last.prev.pt = epoch 1
  const std::string last = dir.file("run") + "/last.pt";
  ASSERT_TRUE(fs::exists(previous_checkpoint_path(last)));
  {  // flip one byte in the middle of last.pt
    std::fstream f(last, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(last) / 2));
    f.put('\x7f');
  }
  EXPECT_THROW(load_model(last), IoError);
  t.epochs(2);
  auto summary = Trainer(model, t, train, {}, dir.file("run")).run(true);  // redoes epoch 2 from last.prev.pt
  EXPECT_EQ(summary.steps, 4);
  expect_same_parameters(dir.file("full") + "/last.pt", last);
}

TEST(TrainRobust, MicroBatchesMustDivideTheBatch) {
  test::TempDir dir;
  const data::Manifest train = data::read_manifest(test::make_tiny_dataset(dir.path.string(), 4, 32));
  const ModelOptions model = ModelOptions{}.input_size(32).grid(4).anomaly_channels(8).classifier_channels(8);
  TrainOptions t;
  t.epochs(1).batch_size(4).seed(3).workers(1).micro_batches(2);
  EXPECT_EQ(Trainer(model, t, train, {}, dir.file("micro")).run(false).steps, 2);
  t.micro_batches(3);
  const std::string msg = test::error_message<ConfigError>([&] { Trainer(model, t, train, {}, dir.file("bad")).run(false); });
  EXPECT_NE(msg.find("micro_batches"), std::string::npos) << msg;
}

TEST(TrainRobust, InitStartsFromTheGivenWeights) {
  test::TempDir dir;
  const data::Manifest train = data::read_manifest(test::make_tiny_dataset(dir.path.string(), 4, 32));
  const ModelOptions model = ModelOptions{}.input_size(32).grid(4).anomaly_channels(8).classifier_channels(8);
  torch::manual_seed(77);
  auto source = build_model(model);
  save_model(dir.file("source.pt"), *source);
  TrainOptions t;
  t.epochs(1).batch_size(8).seed(3).workers(1).lr(1e-12).init("sola:" + dir.file("source.pt"));
  Trainer(model, t, train, {}, dir.file("run")).run(false);  // one step at a negligible learning rate
  auto trained = load_model(dir.file("run") + "/last.pt").model;
  auto p = trained->named_parameters();
  for (const auto& item : source->named_parameters())
    EXPECT_TRUE(torch::allclose(item.value(), p[item.key()], 0, 1e-6)) << item.key();
  t.init("sola:" + dir.file("missing.pt"));
  const std::string msg = test::error_message<IoError>([&] { Trainer(model, t, train, {}, dir.file("bad")).run(false); });
  EXPECT_NE(msg.find("missing.pt"), std::string::npos) << msg;
}

TEST(TrainRobust, TwoProcessesReachTheWeightsOfOneProcessWithTheSameGlobalBatch) {
  if (!ProcessGroup::gloo_available()) GTEST_SKIP() << "LibTorch built without Gloo (install libgloo-dev)";
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 8, 32);
  const std::string args = " --train " + m + kTiny + " --set epochs=2 --set batch_size=8 --set workers=1";
  // One process: each global batch of 8 as 2 micro-batches of 4.
  ASSERT_EQ(shell(std::string(SOLA_CLI_PATH) + " train" + args + " --set micro_batches=2 --out " + dir.file("one") +
                  " >" + dir.file("one.log") + " 2>&1"), 0) << slurp(dir.file("one.log"));
  // Two processes on 127.0.0.1: each global batch split 4 + 4, gradients all-reduced.
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port());
  const std::string cmd = std::string(SOLA_CLI_PATH) + " train" + args + " --out " + dir.file("two");
  const int rc = shell("(env RANK=1 " + env + " " + cmd + " >" + dir.file("r1.log") + " 2>&1; echo $? >" + dir.file("rc1") +
                       ") & env RANK=0 " + env + " " + cmd + " >" + dir.file("r0.log") + " 2>&1; rc=$?; wait; exit $rc");
  ASSERT_EQ(rc, 0) << slurp(dir.file("r0.log"));
  ASSERT_EQ(std::stoi(slurp(dir.file("rc1"))), 0) << slurp(dir.file("r1.log"));
  expect_same_parameters(dir.file("one") + "/last.pt", dir.file("two") + "/last.pt");
  // Rank 0 alone wrote the outputs and the log.
  EXPECT_EQ(last_logged_step(dir.file("two") + "/metrics.jsonl"), 4);
  EXPECT_EQ(slurp(dir.file("r1.log")).find("epoch 1/2"), std::string::npos) << "rank 1 drew a progress bar";
}

}  // namespace
}  // namespace sola
