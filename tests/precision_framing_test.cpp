// Issue 32: training at the device's fast precision (precision=auto, the capability query injected
// so that both choices run on any machine), and a trained model that carries the framing of its
// training images (crop_scale), which sola detect uses.
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <tuple>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "core/precision.h"
#include "data/face.h"
#include "data/framing.h"
#include "data/manifest.h"
#include "data/video.h"
#include "detect/detect.h"
#include "model/checkpoint.h"
#include "test_data.h"
#include "test_util.h"
#include "train/trainer.h"

namespace sola {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

DeviceCapabilities cpu(bool avx2, bool avx512f, bool avx512_bf16, bool amx_bf16) {
  DeviceCapabilities c;
  c.cpu_model = "Test CPU";
  c.avx2 = avx2;
  c.avx512f = avx512f;
  c.avx512_bf16 = avx512_bf16;
  c.amx_bf16 = amx_bf16;
  return c;
}

DeviceCapabilities zen3() { return cpu(true, false, false, false); }
DeviceCapabilities zen4() { return cpu(true, true, true, false); }

DeviceCapabilities gpu(bool bf16) {
  DeviceCapabilities c = zen3();
  c.device = "cuda";
  c.gpu_bf16 = bf16;
  return c;
}

TEST(Precision, AutoIsBf16OnlyWhereTheDeviceRunsItNatively) {
  struct Case {
    DeviceCapabilities caps;
    std::string resolved, reason;
  };
  const std::vector<Case> cases{
      {zen3(), "fp32", "auto: this CPU has no native bf16"},
      {cpu(true, true, false, false), "fp32", "auto: this CPU has no native bf16"},  // AVX-512 without BF16
      {zen4(), "bf16", "auto: this CPU has native bf16 (avx512_bf16)"},
      {cpu(true, true, false, true), "bf16", "auto: this CPU has native bf16 (amx_bf16)"},
      {cpu(true, true, true, true), "bf16", "auto: this CPU has native bf16 (avx512_bf16, amx_bf16)"},
      {gpu(true), "bf16", "auto: this GPU has native bf16 (compute capability >= 8)"},
      {gpu(false), "fp32", "auto: this GPU has no native bf16"},
  };
  for (const auto& c : cases) {
    const PrecisionChoice p = resolve_precision("auto", c.caps);
    EXPECT_EQ(p.resolved, c.resolved) << c.caps.to_json().dump();
    EXPECT_EQ(p.reason, c.reason);
    EXPECT_EQ(p.bf16(), c.resolved == "bf16");
    EXPECT_TRUE(p.warning.empty()) << p.warning;  // auto never slows anyone
    EXPECT_EQ(p.to_json()["device"], c.caps.to_json());
  }
  EXPECT_EQ(resolve_precision("auto", zen3()).describe(), "precision: fp32 (auto: this CPU has no native bf16)");
  // Explicit settings are kept.
  EXPECT_EQ(resolve_precision("fp32", zen4()).resolved, "fp32");
  EXPECT_EQ(resolve_precision("fp32", zen4()).reason, "set");
  EXPECT_EQ(resolve_precision("bf16", zen4()).resolved, "bf16");
  EXPECT_TRUE(resolve_precision("bf16", zen4()).warning.empty());
  EXPECT_NE(test::error_message<ConfigError>([] { resolve_precision("fp16", zen4()); }).find("'fp16'"), std::string::npos);
}

TEST(Precision, ExplicitBf16WithoutNativeSupportRunsAndSaysWhatItCosts) {
  const PrecisionChoice p = resolve_precision("bf16", zen3());
  EXPECT_EQ(p.resolved, "bf16");
  EXPECT_NE(p.warning.find("Test CPU"), std::string::npos) << p.warning;
  EXPECT_NE(p.warning.find("16x slower"), std::string::npos) << p.warning;
  EXPECT_NE(p.warning.find("fp32"), std::string::npos) << p.warning;
  EXPECT_EQ(p.to_json()["warning"], p.warning);
  EXPECT_FALSE(resolve_precision("bf16", gpu(false)).warning.empty());
}

TEST(Precision, ReadsTheDecidingFeaturesFromCpuinfo) {
  const std::string text =
      "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n"
      "flags\t\t: fpu sse2 avx fma avx2 bmi2 avx512f avx512_bf16 sha_ni\n\n"
      "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu amx_bf16\n";
  const DeviceCapabilities c = parse_cpuinfo(text);
  EXPECT_EQ(c.cpu_model, "AMD EPYC 7B13 64-Core Processor");
  EXPECT_TRUE(c.avx2 && c.avx512f && c.avx512_bf16);
  EXPECT_FALSE(c.amx_bf16);  // the first processor's flags
  EXPECT_TRUE(c.native_bf16());
  EXPECT_FALSE(parse_cpuinfo("flags : avx2 avx512f avx512bw\n").native_bf16());
  EXPECT_EQ(parse_cpuinfo("").cpu_model, "unknown CPU");
  // The real query names this machine's CPU and the features that decide.
  const json real = cpu_capabilities().to_json();
  for (const char* key : {"cpu", "avx2", "avx512f", "avx512_bf16", "amx_bf16"}) EXPECT_TRUE(real.contains(key)) << key;
  EXPECT_FALSE(real["cpu"].get<std::string>().empty());
}

TEST(TrainOptions, PrecisionIsAutoByDefault) {
  TrainOptions t;
  EXPECT_EQ(t.precision(), "auto");
  for (const char* p : {"auto", "fp32", "bf16"}) EXPECT_NO_THROW(TrainOptions{}.precision(p).validate()) << p;
  const std::string e = test::error_message<ConfigError>([] { TrainOptions{}.precision("fp16").validate(); });
  EXPECT_NE(e.find("'fp16'"), std::string::npos) << e;
  EXPECT_NE(e.find("auto"), std::string::npos) << e;
}

ModelOptions tiny_model() { return ModelOptions{}.input_size(32).grid(4).anomaly_channels(8).classifier_channels(8); }

TrainOptions tiny_train() {
  TrainOptions t;
  t.epochs(1).batch_size(4).lr(1e-3).workers(2).seed(3).log_every(1).max_steps_per_epoch(1);
  return t;
}

struct PrecisionRun : ::testing::Test {
  test::TempDir dir;
  data::Manifest train, val;
  void SetUp() override {
    fs::create_directories(dir.path / "train");
    fs::create_directories(dir.path / "val");
    train = data::read_manifest(test::make_tiny_dataset((dir.path / "train").string(), 4, 32, 1));
    val = data::read_manifest(test::make_tiny_dataset((dir.path / "val").string(), 2, 32, 2));
  }
  std::string out(const std::string& name) const { return (dir.path / name).string(); }
  json config(const std::string& run) const { return json::parse(std::ifstream(out(run) + "/config.json")); }
  std::vector<json> epoch_lines(const std::string& run) const {
    std::vector<json> lines;
    std::ifstream in(out(run) + "/metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line);
      if (j["type"] == "epoch") lines.push_back(j);
    }
    return lines;
  }
  /// Runs `trainer` with stderr captured; returns it.
  static std::string run_captured(Trainer& trainer, bool resume, TrainSummary* summary = nullptr) {
    testing::internal::CaptureStderr();
    TrainSummary s = trainer.run(resume);
    std::fflush(stderr);
    if (summary) *summary = s;
    return testing::internal::GetCapturedStderr();
  }
};

TEST_F(PrecisionRun, AutoTrainsInWhatTheDeviceOffersAndRecordsIt) {
  for (const auto& [name, caps, expected] : {std::tuple{"zen3", zen3(), "fp32"}, std::tuple{"zen4", zen4(), "bf16"}}) {
    Trainer trainer(tiny_model(), tiny_train(), train, val, out(name));
    std::vector<std::string> asked;
    const DeviceCapabilities c = caps;
    trainer.capabilities = [&asked, c](const std::string& device) {
      asked.push_back(device);
      return c;
    };
    TrainSummary summary;
    const std::string err = run_captured(trainer, false, &summary);
    EXPECT_EQ(asked, std::vector<std::string>{"cpu"});
    EXPECT_EQ(summary.precision, expected);
    const json cfg = config(name);
    EXPECT_EQ(cfg["train"]["precision"], "auto");
    EXPECT_EQ(cfg["precision"]["requested"], "auto");
    EXPECT_EQ(cfg["precision"]["resolved"], expected);
    EXPECT_EQ(cfg["precision"]["device"]["avx512_bf16"], c.avx512_bf16);
    EXPECT_EQ(cfg["precision"]["device"]["cpu"], "Test CPU");
    for (const auto& line : epoch_lines(name)) EXPECT_EQ(line["precision"], expected);
    EXPECT_EQ(load_model(out(name) + "/last.pt").metadata["precision"], expected);
    EXPECT_EQ(load_model(out(name) + "/best.pt").metadata["precision"], expected);
    const std::string said = resolve_precision("auto", c).describe();
    EXPECT_NE(err.find(said), std::string::npos) << err;
    EXPECT_EQ(err.find("warning: precision"), std::string::npos) << err;
  }
  EXPECT_NE(config("zen3")["precision"]["reason"].get<std::string>().find("no native bf16"), std::string::npos);
}

TEST_F(PrecisionRun, ExplicitBf16OnACpuWithoutItTrainsWithAWarning) {
  Trainer trainer(tiny_model(), tiny_train().precision("bf16"), train, val, out("run"));
  trainer.capabilities = [](const std::string&) { return zen3(); };
  TrainSummary summary;
  const std::string err = run_captured(trainer, false, &summary);
  EXPECT_EQ(summary.precision, "bf16");
  EXPECT_NE(err.find("precision: bf16 (set)"), std::string::npos) << err;
  EXPECT_NE(err.find("warning: precision=bf16:"), std::string::npos) << err;
  EXPECT_NE(err.find("16x slower"), std::string::npos) << err;
  EXPECT_NE(config("run")["precision"]["warning"].get<std::string>().find("16x slower"), std::string::npos);
}

TEST_F(PrecisionRun, AResumedRunKeepsThePrecisionItStartedIn) {
  auto t = tiny_train();
  t.epochs(2).max_steps_per_epoch(2).checkpoint_every(1);
  Trainer first(tiny_model(), t, train, val, out("run"));
  first.capabilities = [](const std::string&) { return zen4(); };  // started where bf16 is native
  first.on_step = [](int64_t step) {
    if (step == 3) throw std::runtime_error("simulated crash");
  };
  testing::internal::CaptureStderr();
  EXPECT_THROW(first.run(false), std::runtime_error);
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(load_model(out("run") + "/last.pt").metadata["precision"], "bf16");
  // Resumed on a machine without native bf16: auto keeps bf16 (the run's arithmetic stays one).
  Trainer second(tiny_model(), t, train, val, out("run"));
  second.capabilities = [](const std::string&) { return zen3(); };
  TrainSummary summary;
  const std::string err = run_captured(second, true, &summary);
  EXPECT_EQ(summary.steps, 4);
  EXPECT_EQ(summary.precision, "bf16");
  EXPECT_NE(err.find("precision: bf16 (auto: the run started in bf16 and keeps it; a new run here would train in fp32"),
            std::string::npos)
      << err;
  EXPECT_EQ(config("run")["precision"]["resolved"], "bf16");
  const auto lines = epoch_lines("run");
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) EXPECT_EQ(line["precision"], "bf16");
  EXPECT_EQ(load_model(out("run") + "/last.pt").metadata["precision"], "bf16");
  // The same for a run that started in fp32 and resumes where bf16 is native.
  Trainer third(tiny_model(), t, train, val, out("fp32"));
  third.capabilities = [](const std::string&) { return zen3(); };
  third.on_step = first.on_step;
  testing::internal::CaptureStderr();
  EXPECT_THROW(third.run(false), std::runtime_error);
  testing::internal::GetCapturedStderr();
  Trainer fourth(tiny_model(), t, train, val, out("fp32"));
  fourth.capabilities = [](const std::string&) { return zen4(); };
  run_captured(fourth, true, &summary);
  EXPECT_EQ(summary.precision, "fp32");
  // run_precision itself: an explicit setting overrides what the run recorded.
  EXPECT_EQ(run_precision(TrainOptions{}.precision("fp32"), zen4(), "bf16").resolved, "fp32");
  EXPECT_EQ(run_precision(TrainOptions{}, zen4(), "").resolved, "bf16");
}

TEST(CropScale, DetectSaysWhereItsCropScaleComesFromAndWarnsOnTheFallback) {
  const auto from_model = detect::choose_crop_scale(0, json{{"crop_scale", 1.2}});
  EXPECT_EQ(from_model.source, "model");
  EXPECT_DOUBLE_EQ(from_model.scale, 1.2);
  EXPECT_TRUE(from_model.warning.empty());
  EXPECT_EQ(from_model.describe(), "crop scale 1.20 (the model's, from its metadata)");
  const auto given = detect::choose_crop_scale(1.5, json{{"crop_scale", 1.2}});
  EXPECT_EQ(given.source, "--scale");
  EXPECT_DOUBLE_EQ(given.scale, 1.5);
  EXPECT_TRUE(given.warning.empty());
  const auto fallback = detect::choose_crop_scale(0, json::object());
  EXPECT_EQ(fallback.source, "fallback");
  EXPECT_DOUBLE_EQ(fallback.scale, 2.6);
  EXPECT_NE(fallback.warning.find("carries no crop_scale"), std::string::npos) << fallback.warning;
  EXPECT_NE(fallback.warning.find("--scale"), std::string::npos) << fallback.warning;
  EXPECT_NE(fallback.describe().find("fallback"), std::string::npos);
  const auto odd = detect::choose_crop_scale(0, json{{"crop_scale", 40.0}});
  EXPECT_EQ(odd.source, "fallback");
  EXPECT_NE(odd.warning.find("40"), std::string::npos) << odd.warning;
}

// ---- framing -------------------------------------------------------------------------------

/// libdlib19.1's example photos (empty when the docs are not installed).
std::vector<std::string> dlib_photos() {
  const fs::path dir = "/usr/share/doc/libdlib19.1/examples/faces";
  std::vector<std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".jpg" && e.path().stem() != "dogs") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

/// Face crops cut as sola prepare cuts them (`scale` x the dlib face box, size x size px) from the
/// dlib example photos, each as a real and as a fake (a noise square in a corner, with its mask),
/// into `dir` with manifest.csv; returns the manifest path and the number of crops.
std::pair<std::string, int> make_framed_crops(const std::string& dir, float scale, int size) {
  fs::create_directories(dir);
  auto detector = data::make_face_detector();
  std::ofstream manifest(dir + "/manifest.csv");
  manifest << "path,label,mask,group,method\n";
  std::mt19937 rng(7);
  int n = 0;
  for (const auto& photo : dlib_photos()) {
    const cv::Mat image = data::read_image_bgr(photo);
    const auto faces = detector->detect(image);
    const data::Face* face = data::largest_face(faces);
    if (!face) continue;
    const cv::Mat crop = data::crop_square(image, data::crop_region(face->box, scale), size, cv::INTER_AREA);
    cv::Mat fake = crop.clone(), mask = cv::Mat::zeros(size, size, CV_8UC1);
    const cv::Rect corner(0, 0, size / 8, size / 8);
    cv::randu(fake(corner), cv::Scalar::all(0), cv::Scalar::all(255));
    mask(corner).setTo(255);
    const std::string id = std::to_string(n++);
    cv::imwrite(dir + "/real_" + id + ".png", crop);
    cv::imwrite(dir + "/fake_" + id + ".png", fake);
    cv::imwrite(dir + "/mask_" + id + ".png", mask);
    manifest << "real_" << id << ".png,0,,g" << id << ",real\n";
    manifest << "fake_" << id << ".png,1,mask_" << id << ".png,g" << id << ",box\n";
  }
  return {dir + "/manifest.csv", n};
}

TEST(Framing, MeasuresTheCropScaleOfCropsOfAKnownFramingPerSource) {
  if (dlib_photos().empty()) GTEST_SKIP() << "libdlib19.1 example photos not installed";
  test::TempDir dir;
  const auto [tight, n_tight] = make_framed_crops(dir.file("tight"), 1.4f, 160);
  const auto [wide, n_wide] = make_framed_crops(dir.file("wide"), 2.6f, 224);
  ASSERT_GE(n_tight, 4);
  const data::Framing one = data::measure_framing(data::read_manifest(tight));
  ASSERT_TRUE(one.measured()) << one.describe();
  EXPECT_NEAR(one.crop_scale, 1.4, 0.14) << one.describe();
  EXPECT_TRUE(one.warning.empty()) << one.warning;
  EXPECT_LE(one.all.sampled, 48);
  // Two sources of different framing: reported per source, with a warning naming both.
  const data::Framing both = data::measure_framing(data::read_manifests({tight, wide}));
  ASSERT_EQ(both.sources.size(), 2u);
  EXPECT_NEAR(both.sources[0].crop_scale(), 1.4, 0.14);
  EXPECT_NEAR(both.sources[1].crop_scale(), 2.6, 0.26) << both.describe();
  EXPECT_GT(both.spread, 0.25);
  EXPECT_NE(both.warning.find("differ widely"), std::string::npos) << both.warning;
  EXPECT_NE(both.warning.find(tight), std::string::npos) << both.warning;
  EXPECT_NE(both.describe().find(wide), std::string::npos) << both.describe();
  const json j = both.to_json();
  EXPECT_EQ(j["sources"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["crop_scale"].get<double>(), both.crop_scale);
  // No face anywhere: nothing measured, and it says so.
  test::TempDir noise;
  const data::Framing none = data::measure_framing(data::read_manifest(test::make_tiny_dataset(noise.path.string(), 3, 64)));
  EXPECT_FALSE(none.measured());
  EXPECT_NE(none.warning.find("no face found"), std::string::npos) << none.warning;
  EXPECT_FALSE(none.to_json().contains("crop_scale"));
}

struct CliResult {
  int code = -1;
  std::string out, err;
};

CliResult run_cli(const std::string& args) {
  test::TempDir dir;
  const std::string cmd = std::string(SOLA_CLI_PATH) + " " + args + " 2>" + dir.file("stderr");
  CliResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), pipe)) > 0;) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(dir.file("stderr"));
  r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return r;
}

TEST(Framing, ATrainedModelCarriesTheFramingOfItsCropsAndDetectUsesIt) {
  if (dlib_photos().empty()) GTEST_SKIP() << "libdlib19.1 example photos not installed";
  test::TempDir dir;
  const auto [manifest, n] = make_framed_crops(dir.file("crops"), 1.8f, 160);
  ASSERT_GE(n, 4);
  const std::string out = dir.file("run");
  const std::string tiny = " --set input_size=32 --set grid=4 --set anomaly_channels=8 --set classifier_channels=8";
  auto r = run_cli("train --train " + manifest + " --out " + out + tiny +
                   " --set epochs=1 --set batch_size=4 --set max_steps_per_epoch=1 --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("framing of the training images"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("precision: "), std::string::npos) << r.err;
  const json cfg = json::parse(std::ifstream(out + "/config.json"));
  const double measured = cfg["provenance"]["framing"]["crop_scale"].get<double>();
  EXPECT_NEAR(measured, 1.8, 0.18) << cfg["provenance"]["framing"].dump();
  EXPECT_TRUE(cfg["precision"].contains("resolved"));
  for (const char* file : {"/best.pt", "/last.pt"}) {
    const json meta = load_model(out + file).metadata;
    ASSERT_TRUE(meta.contains("crop_scale")) << file;
    EXPECT_DOUBLE_EQ(meta["crop_scale"].get<double>(), measured) << file;
  }
  // sola export keeps it.
  r = run_cli("export --format sola --model " + out + "/best.pt --out " + dir.file("exported.pt"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_DOUBLE_EQ(load_model(dir.file("exported.pt")).metadata["crop_scale"].get<double>(), measured);
  // sola detect crops faces at it, without any flag, and says where it came from.
  const std::string photo = dlib_photos().back();  // Tom_Cruise_avp_2014_4.jpg
  r = run_cli("detect --json --threads 1 --model " + out + "/best.pt " + photo);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find(fmt::format("crop scale {:.2f} (the model's", measured)), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  ASSERT_FALSE(json::parse(r.out)["faces"].empty()) << r.out;
  // The crop it cuts: the model's crop scale x the face box (the same choice, through the library).
  {
    const LoadedModel model = load_model(out + "/best.pt");
    detect::DetectOptions o;
    o.crop_scale = static_cast<float>(detect::choose_crop_scale(0, model.metadata).scale);
    detect::Detector detector(model.model, o);
    const detect::InputResult prepared = detector.prepare_file(photo);
    ASSERT_FALSE(prepared.faces.empty());
    const auto& f = prepared.faces.front();
    EXPECT_NEAR(f.crop_region.width, measured * std::max(f.box.width, f.box.height), 1.0);
  }
  // A model without a crop scale: the 2.6 fallback, with a warning.
  auto loaded = load_model(out + "/best.pt");
  save_model(dir.file("plain.pt"), *loaded.model);
  r = run_cli("detect --json --threads 1 --precision fp32 --model " + dir.file("plain.pt") + " " + photo);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("crop scale 2.60 (fallback"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("warning: the model file carries no crop_scale"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("precision: fp32 (set)"), std::string::npos) << r.err;
  // --scale wins, and --bf16 is --precision bf16.
  r = run_cli("detect --json --threads 1 --bf16 --scale 1.5 --model " + dir.file("plain.pt") + " " + photo);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("crop scale 1.50 (--scale)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("precision: bf16 (set)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sola
