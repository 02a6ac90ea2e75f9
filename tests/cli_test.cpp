// The `sola` program: info output, exit codes, error messages.
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "model/checkpoint.h"
#include "test_data.h"
#include "test_util.h"

namespace sola {
namespace {

struct Result {
  int code;
  std::string out;  ///< stdout and stderr together
  std::string stdout_only;
};

/// Runs a shell command line (stderr captured apart from stdout).
Result run_cli_line(const std::string& command) {
  test::TempDir dir;
  const std::string err = dir.file("stderr");
  const std::string cmd = command + " 2>" + err;
  Result r{};
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {-1, "popen failed", ""};
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.stdout_only.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err);
  std::string e((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  r.out = r.stdout_only + e;
  return r;
}

Result run_cli(const std::string& args) { return run_cli_line(std::string(SOLA_CLI_PATH) + " " + args); }

TEST(Cli, InfoReportsTheDefaultModel) {
  auto r = run_cli("info --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.stdout_only);
  EXPECT_EQ(j["config"]["grid"], 16);
  EXPECT_EQ(j["parameters"]["total"], 5823961);
  EXPECT_GT(j["compute"]["flops_per_image"].get<double>(), 1e9);
  EXPECT_EQ(j["outputs"]["second_order"], (std::vector<int64_t>{1, 4, 16, 16}));
  EXPECT_EQ(j["threads"], 1);
}

TEST(Cli, InfoReadsConfigFileAndSet) {
  test::TempDir dir;
  std::ofstream(dir.file("c.json")) << R"({"model": {"grid": 8, "input_size": 128}})";
  auto r = run_cli("info --config " + dir.file("c.json") + " --set lem=false");
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.stdout_only);
  EXPECT_EQ(j["config"]["grid"], 8);
  EXPECT_EQ(j["config"]["input_size"], 128);
  EXPECT_EQ(j["config"]["lem"], false);
}

TEST(Cli, UsageAndConfigErrorsExitWith2) {
  test::TempDir dir;
  auto r = run_cli("info --bogus");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--bogus"), std::string::npos) << r.out;
  r = run_cli("info --set grid=12");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("'grid' = 12"), std::string::npos) << r.out;
  std::ofstream(dir.file("bad.json")) << R"({"model": {"noise": "gauss"}})";
  r = run_cli("info --config " + dir.file("bad.json"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("bad.json"), std::string::npos) << r.out;
  std::ofstream(dir.file("broken.json")) << R"({"model": )";
  r = run_cli("info --config " + dir.file("broken.json"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("not valid JSON"), std::string::npos) << r.out;
  r = run_cli("frobnicate");
  EXPECT_EQ(r.code, 2);
  r = run_cli("");
  EXPECT_EQ(r.code, 2);
}

TEST(Cli, HelpEverywhere) {
  for (const std::string sub : {"", "info ", "forward "}) {
    auto r = run_cli(sub + "--help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.stdout_only.find("--help"), std::string::npos) << sub;
  }
  auto r = run_cli("info --help");
  EXPECT_NE(r.stdout_only.find("--threads"), std::string::npos);
}

TEST(Cli, ForwardScoresAnImageAndReportsBadFiles) {
  SOLA_REQUIRE_SHARED_DATA(data);
  test::TempDir dir;
  std::ofstream(dir.file("corrupt.jpg")) << "\xff\xd8 not really a jpeg";
  const std::string img = data + "/ffpp-examples/ex_original.png";
  auto r = run_cli("forward --set input_size=64 " + img + " " + dir.file("corrupt.jpg"));
  EXPECT_EQ(r.code, 1) << r.out;  // one file failed
  std::istringstream lines(r.stdout_only);
  std::string line;
  std::getline(lines, line);
  auto ok = nlohmann::json::parse(line);
  EXPECT_EQ(ok["status"], "ok");
  EXPECT_GE(ok["score"].get<double>(), 0.0);
  EXPECT_LE(ok["score"].get<double>(), 1.0);
  std::getline(lines, line);
  auto bad = nlohmann::json::parse(line);
  EXPECT_EQ(bad["status"], "error");
  EXPECT_NE(bad["error"].get<std::string>().find("corrupt.jpg"), std::string::npos);
}

TEST(Cli, FileNamesThatAreNotUtf8DoNotStopTheOutput) {
  test::TempDir dir;
  const std::string bad = dir.file("bad\xff.jpg");  // a Latin-1 name from a foreign file system
  std::ofstream(bad) << "not an image";
  auto r = run_cli("forward --set input_size=64 '" + bad + "' '" + dir.file("missing.jpg") + "'");
  EXPECT_EQ(r.code, 1) << r.out;
  std::istringstream lines(r.stdout_only);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);  // valid JSON: the bad byte became U+FFFD
    EXPECT_EQ(j["status"], "error");
    ++n;
  }
  EXPECT_EQ(n, 2) << "every input gets its line: " << r.out;
}

TEST(Cli, TrainThenEvalOnATinyDataset) {
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 4, 32);
  const std::string out = dir.file("run");
  const std::string tiny = " --set input_size=32 --set grid=4 --set anomaly_channels=8 --set classifier_channels=8";
  auto r = run_cli("train --train " + m + " --val " + m + " --out " + out + tiny +
                   " --set epochs=1 --set batch_size=4 --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.stdout_only);
  EXPECT_EQ(j["epochs"], 1);
  EXPECT_TRUE(j.contains("best_val_frame_auc"));
  EXPECT_NE(r.out.find("epoch 1/1"), std::string::npos) << "no progress bar on stderr";
  r = run_cli("eval --model " + out + "/best.pt --data " + m + " --json " + dir.file("e.json") + " --markdown " +
              dir.file("e.md") + " --roc " + dir.file("roc"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto e = nlohmann::json::parse(std::ifstream(dir.file("e.json")));
  EXPECT_EQ(e[0]["frame"]["n"], 8);
  // A SOLA model: what its second-order maps alone separate, beside the classifier's figures.
  ASSERT_TRUE(e[0].contains("map")) << e.dump();
  EXPECT_GE(e[0]["map"]["auc"].get<double>(), 0.0);
  EXPECT_LE(e[0]["map"]["fake_mean_peak"].get<double>(), 1.0);
  EXPECT_TRUE(std::filesystem::exists(dir.file("roc") + "/roc_run.png"));
  std::ifstream md(dir.file("e.md"));
  std::string header;
  std::getline(md, header);
  EXPECT_NE(header.find("frame AUC"), std::string::npos);
}

TEST(Cli, TrainReportsEveryManifestProblemBeforeStarting) {
  test::TempDir dir;
  test::make_tiny_dataset(dir.path.string(), 2, 32);
  std::ofstream(dir.file("bad.csv")) << "path,label\nreal_0.png,2\nmissing.png,1\n";
  auto r = run_cli("train --train " + dir.file("bad.csv") + " --out " + dir.file("run"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("bad.csv:2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bad.csv:3"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("run") + "/last.pt"));
  r = run_cli("train --train " + dir.file("bad.csv") + " --out " + dir.file("run") + " --set lr=-1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("'lr'"), std::string::npos) << r.out;
}

TEST(Cli, ExportKeepsTheTrainStateAndTrainContinuesFromItWithAnExtraValidationSet) {
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 4, 32);
  const std::string tiny = " --set input_size=32 --set grid=4 --set anomaly_channels=8 --set classifier_channels=8"
                           " --set batch_size=4 --threads 1";
  auto r = run_cli("train --train " + m + " --val " + m + " --out " + dir.file("a") + tiny + " --set epochs=1");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_cli("export --model " + dir.file("a") + "/last.pt --out " + dir.file("state.pt") +
              " --format sola --half --keep-train-state");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_cli("export --model " + dir.file("a") + "/best.pt --out " + dir.file("plain.pt") + " --format sola");
  ASSERT_EQ(r.code, 0) << r.out;
  // best.pt is a checkpoint too (it keeps its position); an export without --keep-train-state drops it.
  r = run_cli("train --train " + m + " --val " + m + " --out " + dir.file("b") + tiny +
              " --set epochs=2 --continue " + dir.file("plain.pt"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("plain.pt"), std::string::npos) << r.out;
  r = run_cli("train --train " + m + " --val " + m + " --out " + dir.file("c") + tiny + " --set epochs=2 --continue " +
              dir.file("state.pt") + " --val-extra again=" + m);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("continuing"), std::string::npos) << r.out;
  std::ifstream log(dir.file("c") + "/metrics.jsonl");
  std::string line, last_epoch;
  while (std::getline(log, line))
    if (line.find("\"type\":\"epoch\"") != std::string::npos) last_epoch = line;
  auto j = nlohmann::json::parse(last_epoch);
  EXPECT_EQ(j["epoch"], 2);
  EXPECT_TRUE(j["val_extra"]["again"]["frame"].contains("auc")) << last_epoch;
  r = run_cli("train --train " + m + " --out " + dir.file("d") + tiny + " --val-extra nameonly");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("NAME=MANIFEST"), std::string::npos) << r.out;
}

/// A tiny untrained model file (input 32, grid 4) in `dir`.
std::string tiny_model_file(const test::TempDir& dir) {
  const std::string file = dir.file("tiny.pt");
  save_model(file, *build_model(ModelOptions{}.input_size(32).grid(4).anomaly_channels(8).classifier_channels(8)));
  return file;
}

TEST(Cli, EvalWritesTheResultsThatExistAndNamesTheFailingManifest) {
  test::TempDir dir;
  const std::string good = test::make_tiny_dataset(dir.path.string(), 2, 32);
  const std::string model = tiny_model_file(dir);
  std::ofstream(dir.file("reals.csv")) << "path,label\nreal_0.png,0\nreal_1.png,0\n";  // one class: no AUC
  std::ofstream(dir.file("notes.png")) << "not an image";
  std::ofstream(dir.file("junk.csv")) << "path,label\nreal_0.png,0\nnotes.png,1\n";   // a row that is not an image
  auto r = run_cli("eval --model " + model + " --data " + good + " --data " + dir.file("reals.csv") + " --data " +
                   dir.file("junk.csv") + " --json " + dir.file("e.json") + " --markdown " + dir.file("e.md"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("manifest " + dir.file("reals.csv") + ":"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("manifest " + dir.file("junk.csv") + ":"), std::string::npos) << r.out;
  const auto e = nlohmann::json::parse(std::ifstream(dir.file("e.json")));  // written, with the evaluation that worked
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0]["frame"]["n"], 4);
  EXPECT_TRUE(std::filesystem::exists(dir.file("e.md")));
  // Output files that cannot be written are refused before anything is evaluated.
  r = run_cli("eval --model " + model + " --data " + good + " --json " + dir.file("no/such/dir/e.json"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(dir.file("no/such/dir/e.json") + ": cannot write --json"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("frame AUC"), std::string::npos) << "evaluated before checking the output: " << r.out;
}

TEST(Cli, EvalPerturbNamesTheDegradationInEveryOutputAndRefusesABadOne) {
  test::TempDir dir;
  const std::string data = test::make_tiny_dataset(dir.path.string(), 2, 32);
  const std::string model = tiny_model_file(dir);
  auto r = run_cli("eval --model " + model + " --data " + data + " --perturb blur:1 --perturb jpeg:50 --json " +
                   dir.file("e.json") + " --markdown " + dir.file("e.md"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("+blur:1+jpeg:50"), std::string::npos) << r.out;
  const auto e = nlohmann::json::parse(std::ifstream(dir.file("e.json")));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0]["perturb"], "blur:1+jpeg:50");
  EXPECT_EQ(e[0]["frame"]["n"], 4);
  std::stringstream md;
  md << std::ifstream(dir.file("e.md")).rdbuf();
  EXPECT_NE(md.str().find("+blur:1+jpeg:50 |"), std::string::npos) << md.str();
  // Without --perturb the report has no such key.
  r = run_cli("eval --model " + model + " --data " + data + " --json " + dir.file("p.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(nlohmann::json::parse(std::ifstream(dir.file("p.json")))[0].contains("perturb"));
  // A bad spec is a usage error naming it, before any model is loaded.
  r = run_cli("eval --model " + model + " --data " + data + " --perturb blur:99");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("perturbation 'blur:99'"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("frame AUC"), std::string::npos) << r.out;
}

/// Runs the CLI as an unprivileged user when this process is root (where no permission is denied).
std::string unprivileged() {
  return ::geteuid() == 0 ? "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
}

TEST(Cli, DetectSaysPermissionDeniedAndCountsUnreadableInputsAsFailed) {
  if (::geteuid() == 0 && !std::filesystem::exists("/usr/bin/setpriv")) GTEST_SKIP() << "root, and no setpriv to drop it";
  test::TempDir dir;
  std::filesystem::permissions(dir.path, std::filesystem::perms(0755));
  const std::string model = tiny_model_file(dir);
  std::filesystem::permissions(model, std::filesystem::perms(0644));
  const cv::Mat img(48, 48, CV_8UC3, cv::Scalar(40, 90, 160));
  for (const char* name : {"ok.png", "secret.png", "locked/inside.png", "new\nline.png"}) {
    std::filesystem::create_directories(std::filesystem::path(dir.file(name)).parent_path());
    ASSERT_TRUE(cv::imwrite(dir.file(name), img));
    std::filesystem::permissions(dir.file(name), std::filesystem::perms(0644));
  }
  std::filesystem::permissions(dir.file("secret.png"), std::filesystem::perms::none);
  std::filesystem::permissions(dir.file("locked"), std::filesystem::perms::none);
  const std::string cli = unprivileged() + SOLA_CLI_PATH;
  const std::string detect = " detect --crops --model " + model + " ";
  auto r = run_cli_line(cli + detect + dir.file("ok.png") + " " + dir.file("secret.png") + " " + dir.file("locked") + " '" +
                        dir.file("new\nline.png") + "'");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(dir.file("secret.png") + ": permission denied"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(dir.file("locked") + ": permission denied: the folder cannot be read"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4 inputs: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 failed"), std::string::npos) << r.out;
  EXPECT_NE(r.stdout_only.find(dir.file("new\\nline.png") + "\n"), std::string::npos) << "one table row per input: " << r.out;
  r = run_cli_line(cli + detect + dir.file("locked"));  // alone: not "no input files found"
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("permission denied"), std::string::npos) << r.out;
  std::filesystem::permissions(dir.file("locked"), std::filesystem::perms(0755));  // so that TempDir can remove it
}

/// The tiny data set of make_tiny_dataset with its fakes split into two methods: even pairs A, odd B.
std::string two_method_dataset(const test::TempDir& dir, int pairs) {
  const std::string m = test::make_tiny_dataset(dir.path.string(), pairs, 32);
  std::ifstream in(m);
  std::stringstream out;
  std::string line;
  int fake = 0;
  while (std::getline(in, line)) {
    if (line.size() > 4 && line.substr(line.size() - 4) == ",box") line = line.substr(0, line.size() - 3) + (fake++ % 2 ? "B" : "A");
    out << line << "\n";
  }
  in.close();
  std::ofstream(m) << out.str();
  return m;
}

const char* kTiny = " --set input_size=32 --set grid=4 --set anomaly_channels=8 --set classifier_channels=8"
                    " --set batch_size=4 --threads 1";

TEST(Cli, TrainOnOneMethodRecordsItAndEvalPutsItOnTheDiagonalOfTheMethodMatrix) {
  test::TempDir dir;
  const std::string m = two_method_dataset(dir, 4);
  auto r = run_cli("train --train " + m + " --val " + m + " --out " + dir.file("a/run") + kTiny +
                   " --set epochs=1 --set methods=A");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("train: 6 images (4 real, 2 fake"), std::string::npos) << r.out;
  const auto cfg = nlohmann::json::parse(std::ifstream(dir.file("a/run/config.json")));
  EXPECT_EQ(cfg["train"]["methods"], "A");
  EXPECT_EQ(cfg["provenance"]["data"]["train"]["images"], 6) << cfg.dump();
  // A run's own config.json is a config file: its loss and provenance records are read past.
  r = run_cli("info --threads 1 --config " + dir.file("a/run/config.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.stdout_only)["config"]["grid"], 4);
  // A second run of the same folder name elsewhere: the names must not collide.
  r = run_cli("train --train " + m + " --val " + m + " --out " + dir.file("b/run") + kTiny +
              " --set epochs=1 --set methods=B");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_cli("eval --model " + dir.file("a/run/best.pt") + " --model " + dir.file("b/run/best.pt") + " --data " + m +
              " --markdown " + dir.file("e.md") + " --json " + dir.file("e.json") + " --roc " + dir.file("roc"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("per-method frame AUC"), std::string::npos) << r.out;
  std::stringstream md;
  md << std::ifstream(dir.file("e.md")).rdbuf();
  EXPECT_NE(md.str().find("| model | A | B | Avg | off-diagonal mean |"), std::string::npos) << md.str();
  EXPECT_NE(md.str().find("| a/run | **"), std::string::npos) << md.str();
  EXPECT_NE(md.str().find("Mean of the 2 off-diagonal cells"), std::string::npos) << md.str();
  const auto e = nlohmann::json::parse(std::ifstream(dir.file("e.json")));
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0]["model"], "a/run");
  EXPECT_EQ(e[1]["model"], "b/run");
  EXPECT_EQ(e[0]["train_method"], "A");
  EXPECT_TRUE(e[1]["per_method_auc"].contains("B")) << e.dump();
  EXPECT_TRUE(std::filesystem::exists(dir.file("roc/roc_a_run.png")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("roc/roc_b_run.png")));
  // A method the data does not hold is refused before training, naming it and the ones there are.
  r = run_cli("train --train " + m + " --out " + dir.file("c") + kTiny + " --set methods=Face2Face");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no fake of method 'Face2Face'; its fakes' methods are: A, B"), std::string::npos) << r.out;
}

TEST(Cli, TrainChecksEveryValidationSetAtStartByName) {
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 2, 32);
  std::ofstream(dir.file("reals.csv")) << "path,label\nreal_0.png,0\nreal_1.png,0\n";
  for (const std::string& val : {" --val " + dir.file("reals.csv"), " --val " + m + " --val-extra only_reals=" + dir.file("reals.csv")}) {
    auto r = run_cli("train --train " + m + val + " --out " + dir.file("run") + kTiny + " --set epochs=1");
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find("needs real and fake images for its AUC; it has 2 real and 0 fake"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(dir.file("reals.csv")), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("epoch 1/1"), std::string::npos) << "trained before checking: " << r.out;
    EXPECT_FALSE(std::filesystem::exists(dir.file("run/config.json")));
  }
  // Two extra sets of one name: refused before any data is read.
  auto r = run_cli("train --train " + m + " --out " + dir.file("run") + kTiny + " --val-extra x=" + m + " --val-extra x=" +
                   dir.file("reals.csv"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("the name 'x' is already given to " + m), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("reading manifests"), std::string::npos) << r.out;
}

TEST(Cli, ResumeRefusesARunWhoseRecordCannotBeRead) {
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 2, 32);
  const std::string run = dir.file("run");
  auto r = run_cli("train --train " + m + " --val " + m + " --out " + run + kTiny + " --set epochs=1");
  ASSERT_EQ(r.code, 0) << r.out;
  std::ofstream(run + "/config.json") << "{ truncated";
  r = run_cli("train --train " + m + " --val " + m + " --out " + run + kTiny + " --set epochs=2 --resume");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(run + "/config.json: not a valid JSON object"), std::string::npos) << r.out;
  std::filesystem::remove(run + "/config.json");
  r = run_cli("train --train " + m + " --val " + m + " --out " + run + kTiny + " --set epochs=2 --resume");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(run + "/config.json: cannot be read, so --resume cannot check"), std::string::npos) << r.out;
}

TEST(Cli, EvalRefusesAManifestWhoseRealsAreNotCalledRealBeforeScoring) {
  test::TempDir dir;
  const std::string good = test::make_tiny_dataset(dir.path.string(), 2, 32);
  const std::string model = tiny_model_file(dir);
  std::ofstream(dir.file("yt.csv")) << "path,label,method\nreal_0.png,0,youtube\nfake_0.png,1,Deepfakes\n";
  auto r = run_cli("eval --model " + model + " --data " + good + " --data " + dir.file("yt.csv") + " --json " +
                   dir.file("e.json"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(dir.file("yt.csv") + ":2: real image (label 0) has method 'youtube'"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("frame AUC"), std::string::npos) << "scored before refusing: " << r.out;
  // An unwritable --roc folder, before scoring too.
  std::ofstream(dir.file("file")) << "x";
  r = run_cli("eval --model " + model + " --data " + good + " --roc " + dir.file("file/roc"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot write --roc files"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("frame AUC"), std::string::npos) << r.out;
  r = run_cli("eval --model " + model + " --data " + good + " --reliability " + dir.file("file/rel"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(dir.file("file/rel") + ": cannot write --reliability files"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("frame AUC"), std::string::npos) << r.out;
  // A file system that takes no new file (root passes access(2) there): before scoring as well.
  r = run_cli("eval --model " + model + " --data " + good + " --markdown /proc/sola_eval_test.md");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("/proc/sola_eval_test.md: cannot write --markdown"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("frame AUC"), std::string::npos) << r.out;
  // The same for a folder of pictures (a probe file, as sola detect's --heatmaps): refused before scoring.
  r = run_cli("eval --model " + model + " --data " + good + " --reliability /proc");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("/proc: cannot write --reliability files into this folder"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("frame AUC"), std::string::npos) << r.out;
}

TEST(Cli, CalibrateStoresPlattScalingThatEvalAndDetectApply) {
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 4, 32);
  const std::string model = tiny_model_file(dir), calibrated = dir.file("cal.pt");
  auto r = run_cli("calibrate --threads 1 --model " + model + " --data " + m + " --out " + calibrated);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto line = nlohmann::json::parse(r.stdout_only);
  const double a = line["calibration"]["a"], b = line["calibration"]["b"];
  EXPECT_GT(a, 0.0);
  EXPECT_LE(line["calibration"]["after"]["log_loss"].get<double>(), line["calibration"]["before"]["log_loss"].get<double>() + 1e-9);
  EXPECT_EQ(line["calibration"]["samples"], 8);
  // eval applies it (the ranking, so the AUC, unchanged); --no-calibration gives the raw scores.
  r = run_cli("eval --threads 1 --model " + calibrated + " --data " + m + " --json " + dir.file("c.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_cli("eval --threads 1 --no-calibration --model " + calibrated + " --data " + m + " --json " + dir.file("r.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto c = nlohmann::json::parse(std::ifstream(dir.file("c.json")))[0], raw = nlohmann::json::parse(std::ifstream(dir.file("r.json")))[0];
  EXPECT_TRUE(c["calibrated"].get<bool>());
  EXPECT_FALSE(raw["calibrated"].get<bool>());
  EXPECT_DOUBLE_EQ(c["frame"]["auc"].get<double>(), raw["frame"]["auc"].get<double>());
  EXPECT_TRUE(c.contains("ece") && c.contains("fpr_at_0.9") && c["reliability"].size() == 15u) << c.dump();
  // --reliability draws the model's reliability diagram (raw and calibrated curves) into a folder it makes.
  r = run_cli("eval --threads 1 --model " + calibrated + " --data " + m + " --reliability " + dir.file("figs/rel"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote " + dir.file("figs/rel/reliability_cal.png")), std::string::npos) << r.out;
  const cv::Mat diagram = cv::imread(dir.file("figs/rel/reliability_cal.png"), cv::IMREAD_COLOR);
  EXPECT_EQ(diagram.cols, 800);
  EXPECT_EQ(diagram.rows, 600);
  // detect reports sigmoid(a logit + b) for the same crop.
  const std::string crop = dir.file("real_0.png");
  r = run_cli("detect --json --crops --threads 1 --model " + model + " " + crop);
  ASSERT_EQ(r.code, 0) << r.out;
  const double p = nlohmann::json::parse(r.stdout_only)["score"];
  r = run_cli("detect --json --crops --threads 1 --model " + calibrated + " " + crop);
  ASSERT_EQ(r.code, 0) << r.out;
  const double q = nlohmann::json::parse(r.stdout_only)["score"];
  const double z = std::log(p / (1 - p));
  // Scores are printed to 6 decimals: the logit read back from p is off by up to ~1e-6 / (p (1 - p)).
  EXPECT_NEAR(q, 1 / (1 + std::exp(-(a * z + b))), 1e-5 + 2e-6 * a / (p * (1 - p))) << "raw " << p << ", a " << a;
}

TEST(Cli, ResumeSaysWhichRecordedSettingsItReplacesAndInitSaysHowManyTensorsItSet) {
  test::TempDir dir;
  const std::string m = test::make_tiny_dataset(dir.path.string(), 2, 32);
  const std::string run = dir.file("run");
  auto r = run_cli("train --train " + m + " --val " + m + " --out " + run + kTiny + " --set epochs=1");
  ASSERT_EQ(r.code, 0) << r.out;
  auto cfg = nlohmann::json::parse(std::ifstream(run + "/config.json"));
  cfg["train"]["lr"] = 0.5;  // a hand edit
  std::ofstream(run + "/config.json") << cfg.dump(2);
  r = run_cli("train --train " + m + " --val " + m + " --out " + run + kTiny + " --set epochs=2 --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(run + "/config.json recorded other train settings than this run's, which replace them"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lr: 0.5 (recorded) vs 0.001 (this run)"), std::string::npos) << r.out;
  // --init from a model of another architecture: how many of the model's tensors, and a warning.
  r = run_cli("train --train " + m + " --out " + dir.file("no_lem") + kTiny + " --set lem=false --set epochs=1 --init sola:" +
              run + "/best.pt");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("of the model's"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("warning: --init sola:" + run + "/best.pt: another model config (lem: true (the file) vs false (this model))"),
            std::string::npos) << r.out;
}

TEST(Cli, InfoKeysListTheGridsThatAreAccepted) {
  auto r = run_cli("info --keys");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const auto& key : nlohmann::json::parse(r.stdout_only))
    if (key["key"] == "grid") EXPECT_NE(key["doc"].get<std::string>().find("4, 8, 16, 32 or 64"), std::string::npos) << key;
  EXPECT_EQ(run_cli("info --set grid=4 --set input_size=64").code, 0);
}

TEST(Cli, InfoRecipesListsTheConfigFilesWithTheirDescriptions) {
  auto r = run_cli(std::string("info --recipes --configs ") + SOLA_SOURCE_DIR + "/configs");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto recipes = nlohmann::json::parse(r.stdout_only);
  nlohmann::json base;
  for (const auto& recipe : recipes) {
    EXPECT_FALSE(recipe["description"].get<std::string>().empty()) << recipe.dump();
    if (recipe["name"] == "recipe/base") base = recipe;
  }
  ASSERT_TRUE(base.is_object()) << r.stdout_only;
  EXPECT_EQ(base["extends"], "long_run");
  EXPECT_EQ(base["train"]["epochs"], 3);               // its own key
  EXPECT_EQ(base["train"]["pseudo_fake_share"], 0.25);  // the long run's, which it extends
  EXPECT_EQ(base["model"]["classifier_input"], "logits");
  // A recipe is what `sola train --config` reads: the same file gives the same model to `sola info`.
  r = run_cli(std::string("info --threads 1 --config ") + SOLA_SOURCE_DIR + "/configs/recipe/resnet18.json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.stdout_only)["config"]["arch"], "resnet");
  r = run_cli("info --recipes --configs /no/such/folder");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("/no/such/folder: not a folder of config files"), std::string::npos) << r.out;
}

TEST(Cli, RunsPrintsTheSummaryOfRunFolders) {
  test::TempDir dir;
  const std::string run = dir.file("base");
  std::filesystem::create_directories(run);
  std::ofstream(run + "/config.json") << R"({"model": {"grid": 8}, "train": {"epochs": 2, "batch_size": 32}})";
  std::ofstream(run + "/metrics.jsonl")
      << R"({"type": "epoch", "epoch": 1, "global_step": 5, "train_seconds": 60, "val": {"frame": {"auc": 0.7}}})" "\n"
      << R"({"type": "epoch", "epoch": 2, "global_step": 10, "train_seconds": 60, "val": {"frame": {"auc": 0.9}}})" "\n"
      << R"({"type": "epoch", "epoch": 2, "global_step": 10, "train_seconds": 60, "val": {"frame": {"auc": 0.8}}})" "\n";
  std::ofstream(run + "/done.json") << R"({"epochs": 2})";
  std::ofstream(dir.file("base.command.txt")) << "sola train --config configs/recipe/base.json\n";
  auto r = run_cli("runs --json " + run);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto runs = nlohmann::json::parse(r.stdout_only);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["name"], "base");
  EXPECT_EQ(runs[0]["status"], "finished");
  EXPECT_EQ(runs[0]["epochs_done"], 2);       // epoch 2 once: the later line
  EXPECT_EQ(runs[0]["best_epoch"], 2);
  EXPECT_EQ(runs[0]["val_auc"]["best"], 0.8);
  EXPECT_EQ(runs[0]["images"], 320);
  EXPECT_EQ(runs[0]["train_seconds"], 120);
  EXPECT_EQ(runs[0]["command"], "sola train --config configs/recipe/base.json");
  EXPECT_EQ(runs[0]["checkpoints"]["last"], "base/last");
  r = run_cli("runs " + run);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.stdout_only.find("base  finished"), std::string::npos) << r.stdout_only;
  // A folder that is not a run: exit 1, the file named.
  std::filesystem::create_directories(dir.file("empty"));
  r = run_cli("runs " + run + " " + dir.file("empty"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(dir.file("empty") + "/config.json: missing"), std::string::npos) << r.out;
  EXPECT_EQ(run_cli("runs").code, 2);  // no folder: a usage error
}

}  // namespace
}  // namespace sola
