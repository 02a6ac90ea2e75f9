// Packed bundles without OpenCV: the reader's errors, and the epoch planning of a packed run.
#include <fstream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "data/packed.h"
#include "train/packed_run.h"
#include "test_util.h"

namespace sola {
namespace {

data::PackedSample sample(const std::string& path, int label, std::string image, std::string mask = "") {
  data::PackedSample s;
  s.sample.path = path;
  s.sample.group = "g";
  s.sample.method = label ? "fake" : "real";
  s.sample.label = label;
  s.image = std::move(image);
  s.mask = std::move(mask);
  return s;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_all(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

TEST(PackedBundle, BadFilesAreRefusedNamingTheFileAndTheProblem) {
  test::TempDir dir;
  const std::string good = dir.file("b.solapack");
  data::write_packed(good, 8, 4, {sample("real/a.jpg", 0, "not an image")}, nlohmann::json::object());
  // The index reads, then the image does not decode: the sample and its path are named.
  auto msg = test::error_message<IoError>([&] { data::read_packed(good); });
  EXPECT_NE(msg.find(good), std::string::npos) << msg;
  EXPECT_NE(msg.find("sample 1 (real/a.jpg)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a JPEG or PNG"), std::string::npos) << msg;

  const std::string bytes = read_all(good);
  std::string v2 = bytes;
  v2[8] = 2;  // format version 2
  write_all(dir.file("v2.solapack"), v2);
  msg = test::error_message<IoError>([&] { data::read_packed(dir.file("v2.solapack")); });
  EXPECT_NE(msg.find("v2.solapack"), std::string::npos) << msg;
  EXPECT_NE(msg.find("format version 2"), std::string::npos) << msg;

  write_all(dir.file("cut.solapack"), bytes.substr(0, bytes.size() - 3));
  msg = test::error_message<IoError>([&] { data::read_packed(dir.file("cut.solapack")); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;

  write_all(dir.file("foreign.solapack"), "PK\x03\x04 a zip file, not a bundle at all");
  msg = test::error_message<IoError>([&] { data::read_packed(dir.file("foreign.solapack")); });
  EXPECT_NE(msg.find("not a sola packed bundle"), std::string::npos) << msg;

  std::string bad_index = bytes;
  bad_index[24] = '[';  // the index's opening brace
  write_all(dir.file("index.solapack"), bad_index);
  msg = test::error_message<IoError>([&] { data::read_packed(dir.file("index.solapack")); });
  EXPECT_NE(msg.find("bad index"), std::string::npos) << msg;

  msg = test::error_message<IoError>([&] { data::read_packed(dir.file("missing.solapack")); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

TEST(PackedRun, EpochsFitTheTimeLeftBetweenOneAndTheRecipe) {
  EXPECT_EQ(plan_epochs(100.0, 10.0, 50), 10);
  EXPECT_EQ(plan_epochs(99.9, 10.0, 50), 9);
  EXPECT_EQ(plan_epochs(1000.0, 10.0, 50), 50);  // never more than asked
  EXPECT_EQ(plan_epochs(5.0, 10.0, 50), 1);      // always at least one
  EXPECT_EQ(plan_epochs(-3.0, 10.0, 50), 1);
  EXPECT_EQ(plan_epochs(100.0, 0.0, 7), 7);  // no measurement: as asked
}

TEST(PackedRun, DeviceKeyTakesCpuOrCuda) {
  TrainOptions t;
  for (const char* ok : {"cpu", "cuda", "cuda:1"}) EXPECT_NO_THROW(TrainOptions(t).device(ok).validate()) << ok;
  const auto msg = test::error_message<ConfigError>([&] { TrainOptions(t).device("gpu").validate(); });
  EXPECT_NE(msg.find("'device'"), std::string::npos) << msg;
}

}  // namespace
}  // namespace sola
