// The synth pipeline (data/synth.h): outputs independent of the thread count, resumption, settings
// that differ, unreadable inputs, and the manifest it writes.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "data/manifest.h"
#include "data/synth.h"
#include "test_util.h"
#include "file_util.h"

namespace sola {
namespace {

namespace fs = std::filesystem;


/// `n` faceless 80x80 images in `dir` (smooth colour ramps with a little noise): each gets the
/// ellipse mask, which keeps the test fast and independent of any face data.
std::vector<std::string> make_images(const fs::path& dir, int n) {
  fs::create_directories(dir);
  std::vector<std::string> files;
  for (int i = 0; i < n; ++i) {
    cv::Mat img(80, 80, CV_8UC3);
    cv::RNG rng(100 + i);
    for (int y = 0; y < img.rows; ++y)
      for (int x = 0; x < img.cols; ++x)
        img.at<cv::Vec3b>(y, x) =
            cv::Vec3b(cv::saturate_cast<uchar>(x * 3 + rng.uniform(0, 9)), cv::saturate_cast<uchar>(y * 2 + 40 * i),
                      cv::saturate_cast<uchar>(200 - x));
    const fs::path file = dir / ("img" + std::to_string(i) + ".png");
    EXPECT_TRUE(cv::imwrite(file.string(), img)) << file;
    files.push_back(file.string());
  }
  return files;
}

data::SynthOptions options(const fs::path& images, const fs::path& out, int threads) {
  data::SynthOptions o;
  o.images = {images.string()};
  o.out_dir = out.string();
  o.per_image = 2;
  o.seed = 11;
  o.threads = threads;
  return o;
}

data::SynthReport run(const data::SynthOptions& o) { return data::synthesize(data::synth_inputs(o), o); }

TEST(Synth, TheThreadCountChangesNoOutputAndTheManifestListsRealsThenTheirFakes) {
  test::TempDir dir;
  make_images(dir.path / "in", 4);
  size_t progress_calls = 0;
  const data::SynthOptions one = options(dir.path / "in", dir.path / "one", 1);
  const data::SynthReport r1 =
      data::synthesize(data::synth_inputs(one), one, [&](size_t done, size_t total) {
        EXPECT_EQ(total, 4u);
        EXPECT_EQ(done, ++progress_calls);
      });
  EXPECT_EQ(progress_calls, 4u);
  EXPECT_EQ(r1.inputs, 4u);
  EXPECT_EQ(r1.processed, 4u);
  EXPECT_EQ(r1.fakes_written, 8u);
  EXPECT_EQ(r1.failed_inputs, 0u);
  EXPECT_EQ(r1.manifest_real, 4u);
  EXPECT_EQ(r1.manifest_fake, 8u);
  const data::SynthReport r3 = run(options(dir.path / "in", dir.path / "three", 3));
  EXPECT_EQ(r3.fakes_written, 8u);

  for (const char* sub : {"fake", "mask"}) {
    for (int i = 0; i < 4; ++i) {
      for (int k = 0; k < 2; ++k) {
        const std::string name = std::string(sub) + "/img" + std::to_string(i) + "_" + std::to_string(k) + ".png";
        const std::string a = test::read_file(dir.path / "one" / name), b = test::read_file(dir.path / "three" / name);
        ASSERT_FALSE(a.empty()) << name;
        EXPECT_TRUE(a == b) << name << " differs between 1 and 3 threads";
      }
    }
  }
  EXPECT_EQ(test::read_file(dir.path / "one/manifest.csv"), test::read_file(dir.path / "three/manifest.csv"));

  const data::Manifest m = data::read_manifest((dir.path / "one/manifest.csv").string());
  ASSERT_EQ(m.samples.size(), 12u);
  EXPECT_EQ(m.samples[0].path, (dir.path / "in/img0.png").lexically_normal().string());
  EXPECT_EQ(m.samples[0].label, 0);
  EXPECT_EQ(m.samples[0].method, "real");
  EXPECT_EQ(m.samples[0].group, "img0");
  EXPECT_EQ(m.samples[1].path, (dir.path / "one/fake/img0_0.png").lexically_normal().string());
  EXPECT_EQ(m.samples[1].mask, (dir.path / "one/mask/img0_0.png").lexically_normal().string());
  EXPECT_EQ(m.samples[1].method, "self-blend");
  EXPECT_EQ(m.samples[1].group, "img0");
  EXPECT_EQ(m.samples[3].path, (dir.path / "in/img1.png").lexically_normal().string());
}

TEST(Synth, ARerunKeepsWhatExistsRedoesWhatIsMissingAndRefusesOtherSettings) {
  test::TempDir dir;
  make_images(dir.path / "in", 3);
  const fs::path out = dir.path / "out";
  data::SynthOptions o = options(dir.path / "in", out, 1);
  o.size = 64;
  run(o);
  const std::string fake = test::read_file(out / "fake/img1_1.png");
  ASSERT_FALSE(fake.empty());
  EXPECT_EQ(cv::imread((out / "real/img1.png").string()).size(), cv::Size(64, 64));
  fs::remove(out / "fake/img1_1.png");
  std::ofstream(out / "mask/img2_0.png.tmp.4242") << "half a png";  // as a killed run leaves it

  const data::SynthReport again = run(o);
  EXPECT_EQ(again.skipped_done, 2u);
  EXPECT_EQ(again.processed, 1u);
  EXPECT_EQ(again.fakes_written, 1u);
  EXPECT_TRUE(test::read_file(out / "fake/img1_1.png") == fake) << "the same fake is made again";
  EXPECT_FALSE(fs::exists(out / "mask/img2_0.png.tmp.4242")) << "a killed run's temporary file is removed";
  EXPECT_EQ(again.manifest_fake, 6u);

  o.per_image = 3;  // more fakes per image: only the new ones are made
  const data::SynthReport more = run(o);
  EXPECT_EQ(more.fakes_written, 3u);
  EXPECT_EQ(more.manifest_real, 3u);
  EXPECT_EQ(more.manifest_fake, 9u);
  EXPECT_TRUE(test::read_file(out / "fake/img1_1.png") == fake);

  o.seed = 12;
  const std::string msg = test::error_message<ConfigError>([&] { run(o); });
  EXPECT_NE(msg.find(out.string() + " was made with seed = 11; this run asks for 12"), std::string::npos) << msg;
}

TEST(Synth, AnUnreadableImageIsAFailedInputLeftOutOfTheManifest) {
  test::TempDir dir;
  make_images(dir.path / "in", 2);
  // A PNG header claiming 80x80 and no pixels: it passes the header probe, not the decoder.
  std::ofstream(dir.file("in/broken.png"), std::ios::binary) << test::png_header(80, 80);
  const data::SynthOptions o = options(dir.path / "in", dir.path / "out", 1);
  const data::SynthReport r = run(o);
  EXPECT_EQ(r.inputs, 3u);
  EXPECT_EQ(r.failed_inputs, 1u);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find(dir.file("in/broken.png")), std::string::npos) << r.problems[0];
  const data::Manifest m = data::read_manifest(r.manifest);
  EXPECT_EQ(m.samples.size(), 6u) << "two reals with two fakes each; the broken image is left out";
  for (const data::Sample& s : m.samples) EXPECT_EQ(s.path.find("broken"), std::string::npos) << s.path;

  // Every image broken: an error, and no manifest (one without rows is one read_manifest refuses).
  test::TempDir bad;
  fs::create_directories(bad.path / "in");
  for (const char* name : {"a.png", "b.png"}) {
    std::ofstream(bad.path / "in" / name, std::ios::binary) << test::png_header(80, 80);
  }
  const data::SynthOptions all_bad = options(bad.path / "in", bad.path / "out", 1);
  const std::string msg = test::error_message<Error>([&] { run(all_bad); });
  EXPECT_NE(msg.find("none of the 2 input images could be read, so no manifest was written to " +
                     (bad.path / "out/manifest.csv").string()),
            std::string::npos)
      << msg;
  EXPECT_FALSE(fs::exists(bad.path / "out/manifest.csv"));
}

TEST(Synth, BadOptionsAreRefusedBeforeAnythingIsWritten) {
  test::TempDir dir;
  make_images(dir.path / "in", 1);
  data::SynthOptions o = options(dir.path / "in", dir.path / "out", 1);
  o.manifest = dir.file("m.csv");  // both sources
  EXPECT_NE(test::error_message<ConfigError>([&] { data::synth_inputs(o); }).find("exactly one of"), std::string::npos);
  o.manifest.clear();
  o.per_image = 0;
  EXPECT_NE(test::error_message<ConfigError>([&] { data::synth_inputs(o); }).find("per_image = 0"), std::string::npos);
  o.per_image = 1;
  o.blend.shapes = {"square"};
  EXPECT_NE(test::error_message<ConfigError>([&] { data::synth_inputs(o); }).find("'square'"), std::string::npos);
  o.blend = {};
  o.detector.landmarks_file = dir.file("no-such-predictor.dat");
  const std::vector<data::SynthInput> inputs = data::synth_inputs(o);
  EXPECT_NE(test::error_message<IoError>([&] { data::synthesize(inputs, o); }).find("no-such-predictor.dat"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path / "out")) << "nothing is written";
}

}  // namespace
}  // namespace sola
