// Dataset importers: FaceForensics++ (+ DFD, FaceShifter), Celeb-DF v2 and plain folders in their
// official layouts; and `sola prepare` end to end on a tiny FaceForensics++ tree.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "core/error.h"
#include "data/importers.h"
#include "data/manifest.h"
#include "test_util.h"

namespace sola {
namespace {

namespace fs = std::filesystem;
using data::FfppOptions;
using data::ImportResult;
using data::PrepareItem;

/// Creates an empty file (and its folders): importers only list paths.
void touch(const fs::path& file) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary);
}

void write_text(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

/// The items by output folder (by group where the importer sets no folder: then groups are one per
/// video); fails the test when one appears twice.
std::map<std::string, PrepareItem> by_video(const ImportResult& r) {
  std::map<std::string, PrepareItem> out;
  for (const PrepareItem& item : r.items) {
    const std::string& key = item.folder.empty() ? item.group : item.folder;
    EXPECT_TRUE(out.emplace(key, item).second) << "duplicate folder " << key;
  }
  return out;
}

/// True when some note contains `text`.
bool has_note(const ImportResult& r, const std::string& text) {
  for (const std::string& n : r.notes)
    if (n.find(text) != std::string::npos) return true;
  return false;
}

std::string notes_of(const ImportResult& r) {
  std::string s;
  for (const std::string& n : r.notes) s += n + "\n";
  return s;
}

/// A FaceForensics++ tree (c23): youtube 000..005; Deepfakes 000_001 001_000 002_003 005_004
/// (masks for all but 005_004); Face2Face 003_002 as .avi, no masks folder; FaceShifter 004_005;
/// DFD actors 01__exit_phone_room, 02__walking_outside and DeepFakeDetection
/// 01_02__exit_phone_room__YVGY8LOK (with mask); splits train [000,001], val [002,003], test [004,005].
fs::path make_ffpp(const fs::path& dir) {
  const fs::path root = dir / "ffpp";
  for (const char* id : {"000", "001", "002", "003", "004", "005"})
    touch(root / "original_sequences/youtube/c23/videos" / (std::string(id) + ".mp4"));
  touch(root / "original_sequences/youtube/c23/videos/readme.txt");  // not a video: ignored
  for (const char* v : {"000_001", "001_000", "002_003", "005_004"})
    touch(root / "manipulated_sequences/Deepfakes/c23/videos" / (std::string(v) + ".mp4"));
  for (const char* v : {"000_001", "001_000", "002_003"})
    touch(root / "manipulated_sequences/Deepfakes/masks/videos" / (std::string(v) + ".mp4"));
  touch(root / "manipulated_sequences/Face2Face/c23/videos/003_002.avi");
  touch(root / "manipulated_sequences/FaceShifter/c23/videos/004_005.mp4");
  touch(root / "original_sequences/actors/c23/videos/01__exit_phone_room.mp4");
  touch(root / "original_sequences/actors/c23/videos/02__walking_outside.mp4");
  touch(root / "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__exit_phone_room__YVGY8LOK.mp4");
  touch(root / "manipulated_sequences/DeepFakeDetection/masks/videos/01_02__exit_phone_room__YVGY8LOK.mp4");
  write_text(root / "splits/train.json", R"([["000", "001"]])");
  write_text(root / "splits/val.json", "[\n  [\n    \"002\",\n    \"003\"\n  ]\n]\n");
  write_text(root / "splits/test.json", R"([["004","005"]])");
  return root;
}

TEST(ImportFfpp, ListsOriginalsAndPresentMethodsWithSplitsGroupsAndMasks) {
  test::TempDir dir;
  const fs::path root = make_ffpp(dir.path);
  const ImportResult r = data::import_ffpp(root.string());
  const auto items = by_video(r);
  ASSERT_EQ(r.items.size(), 12u) << notes_of(r);  // 6 originals, 4 Deepfakes, 1 Face2Face, 1 FaceShifter

  const PrepareItem& real = items.at("real/000");
  EXPECT_EQ(real.input, (root / "original_sequences/youtube/c23/videos/000.mp4").string());
  EXPECT_EQ(real.label, 0);
  EXPECT_EQ(real.method, "real");
  EXPECT_EQ(real.split, "train");
  EXPECT_EQ(real.group, "youtube/000");
  EXPECT_TRUE(real.mask.empty());
  EXPECT_EQ(items.at("real/003").split, "val");
  EXPECT_EQ(items.at("real/005").split, "test");

  // Fakes a_b and b_a follow the pair [a, b]; masks are matched by name.
  const PrepareItem& df = items.at("Deepfakes/001_000");
  EXPECT_EQ(df.label, 1);
  EXPECT_EQ(df.method, "Deepfakes");
  EXPECT_EQ(df.split, "train");
  EXPECT_EQ(df.input, (root / "manipulated_sequences/Deepfakes/c23/videos/001_000.mp4").string());
  EXPECT_EQ(df.mask, (root / "manipulated_sequences/Deepfakes/masks/videos/001_000.mp4").string());
  // A fake TARGET_SOURCE is in its target video's group, the original's: 001_000 is 001 with 000's face.
  EXPECT_EQ(df.group, "youtube/001");
  EXPECT_EQ(items.at("Deepfakes/000_001").group, "youtube/000");
  EXPECT_EQ(items.at("Face2Face/003_002").group, "youtube/003");
  EXPECT_EQ(items.at("FaceShifter/004_005").group, "youtube/004");
  EXPECT_EQ(items.at("Deepfakes/002_003").split, "val");
  EXPECT_EQ(items.at("Deepfakes/005_004").split, "test");
  EXPECT_TRUE(items.at("Deepfakes/005_004").mask.empty());
  EXPECT_TRUE(has_note(r, "Deepfakes: 1 imported videos have no mask (005_004)")) << notes_of(r);

  // Any video extension; a method without a masks folder is imported without masks, and noted.
  const PrepareItem& f2f = items.at("Face2Face/003_002");
  EXPECT_EQ(f2f.input, (root / "manipulated_sequences/Face2Face/c23/videos/003_002.avi").string());
  EXPECT_EQ(f2f.split, "val");
  EXPECT_TRUE(f2f.mask.empty());
  EXPECT_TRUE(has_note(r, "Face2Face: no masks")) << notes_of(r);

  // FaceShifter is published without masks: no note for it.
  EXPECT_EQ(items.at("FaceShifter/004_005").split, "test");
  EXPECT_FALSE(has_note(r, "FaceShifter")) << notes_of(r);
  // NeuralTextures is absent: by default that is a note, not an error.
  EXPECT_TRUE(has_note(r, "NeuralTextures: no manipulated_sequences/NeuralTextures/c23/videos")) << notes_of(r);
  // DFD only on request.
  EXPECT_EQ(items.count("actors/01__exit_phone_room"), 0u);

  // Order: youtube originals first, by name.
  EXPECT_EQ(r.items.front().folder, "real/000");
  EXPECT_EQ(r.items[5].folder, "real/005");
  // An original and its fakes share a split as well as a group.
  for (const PrepareItem& item : r.items) EXPECT_EQ(item.split, items.at("real/" + item.group.substr(8)).split) << item.input;

  const data::ImportCounts c = data::count_items(r.items);
  EXPECT_EQ(c.real, 6u);
  EXPECT_EQ(c.fake, 6u);
  EXPECT_EQ(c.with_mask, 3u);
  EXPECT_EQ(c.splits.at("train"), 4u);  // 000 001 000_001 001_000
  EXPECT_EQ(c.splits.at("val"), 4u);
  EXPECT_EQ(c.splits.at("test"), 4u);
  EXPECT_EQ(c.methods.at("Deepfakes"), 4u);
  EXPECT_EQ(data::describe(c).substr(0, 36), "12 inputs: 6 real, 6 fake (3 with ma");
}

TEST(ImportFfpp, SelectedMethodsWithoutMasks) {
  test::TempDir dir;
  const fs::path root = make_ffpp(dir.path);
  FfppOptions o;
  o.methods = {"deepfakes", "Deepfakes"};  // any case, repeated once
  o.include_masks = false;
  const ImportResult r = data::import_ffpp(root.string(), o);
  const auto items = by_video(r);
  EXPECT_EQ(r.items.size(), 10u);
  for (const PrepareItem& item : r.items) {
    EXPECT_TRUE(item.mask.empty()) << item.group;
    EXPECT_TRUE(item.method == "real" || item.method == "Deepfakes") << item.method;
  }
}

TEST(ImportFfpp, DeepFakeDetectionGoesToTestByDefaultAndIsConfigurable) {
  test::TempDir dir;
  const fs::path root = make_ffpp(dir.path);
  FfppOptions o;
  o.dfd = true;
  ImportResult r = data::import_ffpp(root.string(), o);
  auto items = by_video(r);
  ASSERT_EQ(r.items.size(), 15u) << notes_of(r);
  const PrepareItem& actor = items.at("actors/01__exit_phone_room");
  EXPECT_EQ(actor.label, 0);
  EXPECT_EQ(actor.method, "real");
  EXPECT_EQ(actor.split, "test");
  EXPECT_EQ(actor.input, (root / "original_sequences/actors/c23/videos/01__exit_phone_room.mp4").string());
  const PrepareItem& fake = items.at("DeepFakeDetection/01_02__exit_phone_room__YVGY8LOK");
  EXPECT_EQ(fake.label, 1);
  EXPECT_EQ(fake.method, "DeepFakeDetection");
  EXPECT_EQ(fake.split, "test");
  EXPECT_EQ(fake.mask,
            (root / "manipulated_sequences/DeepFakeDetection/masks/videos/01_02__exit_phone_room__YVGY8LOK.mp4").string());
  EXPECT_EQ(r.items.back().folder, fake.folder);  // DFD last
  // A DFD fake TARGET_SOURCE__SCENE__ID is in the group of its original TARGET__SCENE.
  EXPECT_EQ(actor.group, "actors/01__exit_phone_room");
  EXPECT_EQ(fake.group, "actors/01__exit_phone_room");
  EXPECT_EQ(items.at("actors/02__walking_outside").group, "actors/02__walking_outside");

  // Naming DeepFakeDetection as a method is the same as dfd; its split is configurable.
  o = FfppOptions{};
  o.methods = {"DeepFakeDetection"};
  o.dfd_split = "train";
  r = data::import_ffpp(root.string(), o);
  items = by_video(r);
  EXPECT_EQ(r.items.size(), 9u);  // 6 youtube + 2 actors + 1 DFD fake
  EXPECT_EQ(items.at("actors/02__walking_outside").split, "train");
  EXPECT_EQ(items.at("DeepFakeDetection/01_02__exit_phone_room__YVGY8LOK").split, "train");

  // DFD asked for but its actors are missing: an error naming the folder.
  fs::remove_all(root / "original_sequences/actors");
  o.dfd_split = "test";
  const std::string msg = test::error_message<IoError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find("original_sequences/actors/c23/videos"), std::string::npos) << msg;
  EXPECT_NE(msg.find(root.string()), std::string::npos) << msg;
}

TEST(ImportFfpp, BadOptionValuesAreConfigErrorsNamingThem) {
  test::TempDir dir;
  const fs::path root = make_ffpp(dir.path);
  FfppOptions o;
  o.methods = {"Deepfakes", "DeepFake"};
  std::string msg = test::error_message<ConfigError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find("'DeepFake'"), std::string::npos) << msg;
  for (const std::string& m : data::ffpp_methods()) EXPECT_NE(msg.find(m), std::string::npos) << msg;
  o = FfppOptions{};
  o.compression = "c30";
  msg = test::error_message<ConfigError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find("'c30'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("c40"), std::string::npos) << msg;
  o = FfppOptions{};
  o.dfd_split = "testing";
  msg = test::error_message<ConfigError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find("'testing'"), std::string::npos) << msg;
}

TEST(ImportFfpp, MissingLayoutOrMethodNamesThePath) {
  test::TempDir dir;
  // Not an FF++ root at all.
  std::string msg = test::error_message<IoError>([&] { data::import_ffpp(dir.path.string()); });
  EXPECT_NE(msg.find("no original_sequences/youtube/c23/videos"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir.path.string()), std::string::npos) << msg;
  msg = test::error_message<IoError>([&] { data::import_ffpp(dir.file("nowhere")); });
  EXPECT_NE(msg.find(dir.file("nowhere")), std::string::npos) << msg;

  const fs::path root = make_ffpp(dir.path);
  // Another compression than the one downloaded.
  FfppOptions o;
  o.compression = "c40";
  msg = test::error_message<IoError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find("original_sequences/youtube/c40/videos"), std::string::npos) << msg;
  // A method asked for by name must be there.
  o = FfppOptions{};
  o.methods = {"NeuralTextures"};
  msg = test::error_message<IoError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find("manipulated_sequences/NeuralTextures/c23/videos"), std::string::npos) << msg;
  EXPECT_NE(msg.find(root.string()), std::string::npos) << msg;
  // An empty videos folder.
  fs::remove_all(root / "manipulated_sequences/FaceShifter/c23/videos");
  fs::create_directories(root / "manipulated_sequences/FaceShifter/c23/videos");
  msg = test::error_message<IoError>([&] { data::import_ffpp(root.string()); });
  EXPECT_NE(msg.find("FaceShifter/c23/videos: no video files"), std::string::npos) << msg;
}

TEST(ImportFfpp, OriginalsWithoutFakesAtTheCompressionAreRefused) {
  test::TempDir dir;
  const fs::path root = make_ffpp(dir.path);
  // Originals at c40 too, fakes only at c23: before, 6 reals and rc 0, with notes only.
  for (const char* id : {"000", "001", "002", "003", "004", "005"})
    touch(root / "original_sequences/youtube/c40/videos" / (std::string(id) + ".mp4"));
  FfppOptions o;
  o.compression = "c40";
  const std::string msg = test::error_message<IoError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find(root.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("originals but no fakes at compression c40"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fakes exist at c23"), std::string::npos) << msg;
  // With DeepFakeDetection (fakes of its own) it is not an error.
  fs::create_directories(root / "original_sequences/actors/c40/videos");
  touch(root / "original_sequences/actors/c40/videos/01__exit_phone_room.mp4");
  touch(root / "manipulated_sequences/DeepFakeDetection/c40/videos/01_02__exit_phone_room__YVGY8LOK.mp4");
  o.dfd = true;
  EXPECT_EQ(data::import_ffpp(root.string(), o).items.size(), 8u);
}

TEST(ImportFfpp, FakesNamedUnlikeTargetSourceAreTheirOwnGroupAndNoted) {
  test::TempDir dir;
  const fs::path root = make_ffpp(dir.path);
  touch(root / "manipulated_sequences/Deepfakes/c23/videos/clip.mp4");
  FfppOptions o;
  o.methods = {"Deepfakes"};
  o.splits_dir.clear();
  fs::remove_all(root / "splits");
  const ImportResult r = data::import_ffpp(root.string(), o);
  EXPECT_EQ(by_video(r).at("Deepfakes/clip").group, "Deepfakes/clip");
  EXPECT_TRUE(has_note(r, "Deepfakes: 1 videos are named unlike TARGET_SOURCE")) << notes_of(r);
}

TEST(ImportFfpp, SplitFiles) {
  test::TempDir dir;
  const fs::path root = make_ffpp(dir.path);
  // Splits elsewhere, named explicitly: all three files are required.
  const fs::path other = dir.path / "my_splits";
  write_text(other / "train.json", R"([["000","001"],["002","003"]])");
  write_text(other / "test.json", R"([["004","005"]])");
  FfppOptions o;
  o.splits_dir = other.string();
  std::string msg = test::error_message<IoError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find((other / "val.json").string()), std::string::npos) << msg;
  write_text(other / "val.json", "[]");
  ImportResult r = data::import_ffpp(root.string(), o);
  EXPECT_EQ(by_video(r).at("Deepfakes/002_003").split, "train");

  o.splits_dir = (dir.path / "absent").string();
  msg = test::error_message<IoError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find((dir.path / "absent").string()), std::string::npos) << msg;

  // Malformed files name themselves.
  o.splits_dir = other.string();
  write_text(other / "val.json", R"([["002"]])");
  msg = test::error_message<IoError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find("val.json: entry 1"), std::string::npos) << msg;
  write_text(other / "val.json", R"([[2, 3]])");
  msg = test::error_message<IoError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find("val.json"), std::string::npos) << msg;
  write_text(other / "val.json", R"([["002", "003"]")");
  msg = test::error_message<IoError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find("val.json: not valid JSON"), std::string::npos) << msg;
  write_text(other / "val.json", R"([["003", "007"]])");  // 003 is in train.json already
  msg = test::error_message<IoError>([&] { data::import_ffpp(root.string(), o); });
  EXPECT_NE(msg.find("val.json: video '003' is also in train.json"), std::string::npos) << msg;

  // No splits folder at all: every item has split "" and a note says so.
  fs::remove_all(root / "splits");
  r = data::import_ffpp(root.string());
  ASSERT_EQ(r.items.size(), 12u);
  for (const PrepareItem& item : r.items) EXPECT_EQ(item.split, "") << item.group;
  EXPECT_TRUE(has_note(r, "no splits folder")) << notes_of(r);
  EXPECT_EQ(data::count_items(r.items).splits.at("all"), 12u);
}

TEST(ImportFfpp, VideosInNoSplitAreLeftOutOrKept) {
  test::TempDir dir;
  const fs::path root = make_ffpp(dir.path);
  write_text(root / "splits/test.json", "[]");  // 004 and 005 are now in no split
  ImportResult r = data::import_ffpp(root.string());
  auto items = by_video(r);
  EXPECT_EQ(r.items.size(), 8u);
  EXPECT_EQ(items.count("real/004"), 0u);
  EXPECT_EQ(items.count("Deepfakes/005_004"), 0u);
  EXPECT_EQ(items.count("FaceShifter/004_005"), 0u);
  EXPECT_TRUE(has_note(r, "youtube: 2 of 6 videos are in no split file, left out (004, 005)")) << notes_of(r);
  EXPECT_TRUE(has_note(r, "Deepfakes: 1 of 4 videos are in no split file")) << notes_of(r);

  FfppOptions o;
  o.keep_unsplit = true;
  r = data::import_ffpp(root.string(), o);
  items = by_video(r);
  EXPECT_EQ(r.items.size(), 12u);
  EXPECT_EQ(items.at("real/004").split, "");
  EXPECT_EQ(items.at("FaceShifter/004_005").split, "");
  EXPECT_EQ(items.at("real/000").split, "train");
}

TEST(ImportFfpp, ExtractedFrameFoldersAndRawCompression) {
  test::TempDir dir;
  const fs::path root = dir.path / "ffpp";
  // extract_compressed_videos.py layout: <comp>/images/<video>/<frame>.png; "raw" is c0.
  for (const char* id : {"000", "001"}) touch(root / "original_sequences/youtube/raw/images" / id / "0000.png");
  touch(root / "manipulated_sequences/Deepfakes/raw/images/000_001/0000.png");
  touch(root / "manipulated_sequences/Deepfakes/raw/images/001_000/0000.png");
  touch(root / "manipulated_sequences/Deepfakes/masks/images/000_001/0000.png");
  touch(root / "manipulated_sequences/Deepfakes/masks/videos/001_000.mp4");  // only as a video
  FfppOptions o;
  o.compression = "c0";
  o.methods = {"Deepfakes"};
  const ImportResult r = data::import_ffpp(root.string(), o);
  const auto items = by_video(r);
  ASSERT_EQ(r.items.size(), 4u) << notes_of(r);
  EXPECT_EQ(items.at("real/001").input, (root / "original_sequences/youtube/raw/images/001").string());
  EXPECT_EQ(items.at("Deepfakes/000_001").input, (root / "manipulated_sequences/Deepfakes/raw/images/000_001").string());
  EXPECT_EQ(items.at("Deepfakes/000_001").mask, (root / "manipulated_sequences/Deepfakes/masks/images/000_001").string());
  EXPECT_EQ(items.at("Deepfakes/001_000").mask,
            (root / "manipulated_sequences/Deepfakes/masks/videos/001_000.mp4").string());
  // c0 also finds a folder literally named c0.
  fs::rename(root / "original_sequences/youtube/raw", root / "original_sequences/youtube/c0");
  EXPECT_EQ(by_video(data::import_ffpp(root.string(), o)).at("real/000").input,
            (root / "original_sequences/youtube/c0/images/000").string());
}

/// A Celeb-DF v2 tree with `list` as List_of_testing_videos.txt.
fs::path make_celebdf(const fs::path& dir, const std::string& list) {
  const fs::path root = dir / "Celeb-DF-v2";
  for (const char* f : {"Celeb-real/id0_0000.mp4", "Celeb-real/id1_0000.mp4", "YouTube-real/00000.mp4",
                        "YouTube-real/00170.mp4", "Celeb-synthesis/id0_id1_0000.mp4", "Celeb-synthesis/id1_id0_0000.mp4"})
    touch(root / f);
  write_text(root / "List_of_testing_videos.txt", list);
  return root;
}

TEST(ImportCelebDf, ListedVideosAreTestWithTheListLabelsInverted) {
  test::TempDir dir;
  // In this file 1 = real and 0 = synthesized; a CRLF line and a listed video that is not on disk.
  const fs::path root = make_celebdf(dir.path,
                                     "1 YouTube-real/00170.mp4\n"
                                     "0 Celeb-synthesis/id0_id1_0000.mp4\r\n"
                                     "1 Celeb-real/id1_0000.mp4\n"
                                     "\n"
                                     "0 Celeb-synthesis/id9_id8_0003.mp4\n");
  const ImportResult r = data::import_celebdf(root.string());
  const auto items = by_video(r);
  ASSERT_EQ(r.items.size(), 6u);
  const PrepareItem& yt = items.at("YouTube-real/00170");
  EXPECT_EQ(yt.label, 0);
  EXPECT_EQ(yt.method, "real");
  EXPECT_EQ(yt.split, "test");
  EXPECT_EQ(yt.input, (root / "YouTube-real/00170.mp4").string());
  const PrepareItem& fake = items.at("Celeb-synthesis/id0_id1_0000");
  EXPECT_EQ(fake.label, 1);
  EXPECT_EQ(fake.method, "celeb-df");
  EXPECT_EQ(fake.split, "test");
  EXPECT_EQ(items.at("Celeb-real/id1_0000").split, "test");
  EXPECT_EQ(items.at("Celeb-real/id0_0000").split, "train");
  EXPECT_EQ(items.at("YouTube-real/00000").split, "train");
  EXPECT_EQ(items.at("Celeb-synthesis/id1_id0_0000").label, 1);
  EXPECT_EQ(items.at("Celeb-synthesis/id1_id0_0000").split, "train");
  EXPECT_TRUE(has_note(r, "1 of 4 videos listed")) << notes_of(r);
  EXPECT_TRUE(has_note(r, "Celeb-synthesis/id9_id8_0003.mp4")) << notes_of(r);
}

TEST(ImportCelebDf, LayoutAndListErrorsNameTheFile) {
  test::TempDir dir;
  fs::path root = make_celebdf(dir.path, "0 YouTube-real/00170.mp4\n");  // label says synthesized
  std::string msg = test::error_message<IoError>([&] { data::import_celebdf(root.string()); });
  EXPECT_NE(msg.find("List_of_testing_videos.txt: line 1: label 0 (synthesized) but YouTube-real holds real"),
            std::string::npos)
      << msg;
  write_text(root / "List_of_testing_videos.txt", "1 YouTube-real/00170.mp4\n1 YouTube-real/00000.mp4 extra\n");
  msg = test::error_message<IoError>([&] { data::import_celebdf(root.string()); });
  EXPECT_NE(msg.find("line 2: expected"), std::string::npos) << msg;
  write_text(root / "List_of_testing_videos.txt", "2 YouTube-real/00170.mp4\n");
  msg = test::error_message<IoError>([&] { data::import_celebdf(root.string()); });
  EXPECT_NE(msg.find("line 1: label must be 1 (real) or 0 (synthesized)"), std::string::npos) << msg;
  write_text(root / "List_of_testing_videos.txt", "1 Elsewhere/00170.mp4\n");
  msg = test::error_message<IoError>([&] { data::import_celebdf(root.string()); });
  EXPECT_NE(msg.find("line 1: 'Elsewhere/00170.mp4' is not in"), std::string::npos) << msg;

  fs::remove(root / "List_of_testing_videos.txt");
  msg = test::error_message<IoError>([&] { data::import_celebdf(root.string()); });
  EXPECT_NE(msg.find((root / "List_of_testing_videos.txt").string()), std::string::npos) << msg;
  fs::remove_all(root / "Celeb-synthesis");
  msg = test::error_message<IoError>([&] { data::import_celebdf(root.string()); });
  EXPECT_NE(msg.find(root.string() + ": no Celeb-synthesis folder"), std::string::npos) << msg;
}

TEST(ImportFolders, VideosImagesAndFrameFoldersRecursively) {
  test::TempDir dir;
  const fs::path mine = dir.path / "mine", theirs = dir.path / "theirs";
  touch(mine / "clip.mp4");
  touch(mine / "photo.jpg");  // images directly in a given folder are single inputs
  touch(mine / "notes.txt");
  touch(mine / ".hidden.mp4");
  touch(mine / "frames/0001.png");  // a folder of images only: one input (a video as frames)
  touch(mine / "frames/0002.png");
  touch(mine / "nested/deeper/x.MOV");
  touch(mine / "nested/y.png");  // next to a folder: a single image
  touch(theirs / "f.webm");
  touch(theirs / "g/0.jpg");
  data::FolderImportOptions o;
  o.real = {mine.string()};
  o.fake = {theirs.string()};
  o.fake_method = "mixed";
  o.split = "test";
  const ImportResult r = data::import_folders(o);
  const auto items = by_video(r);
  std::vector<std::string> groups;
  for (const PrepareItem& item : r.items) groups.push_back(item.group);
  EXPECT_EQ(groups, (std::vector<std::string>{"real/mine/clip", "real/mine/photo", "real/mine/frames",
                                              "real/mine/nested/y", "real/mine/nested/deeper/x", "fake/theirs/f",
                                              "fake/theirs/g"}));
  EXPECT_EQ(items.at("real/mine/frames").input, (mine / "frames").string());
  EXPECT_EQ(items.at("real/mine/nested/deeper/x").input, (mine / "nested/deeper/x.MOV").string());
  EXPECT_EQ(items.at("real/mine/clip").method, "real");
  EXPECT_EQ(items.at("fake/theirs/g").label, 1);
  EXPECT_EQ(items.at("fake/theirs/g").method, "mixed");
  for (const PrepareItem& item : r.items) EXPECT_EQ(item.split, "test");
}

TEST(ImportFolders, SameNamedFoldersAndSingleFiles) {
  test::TempDir dir;
  touch(dir.path / "a/videos/v.mp4");
  touch(dir.path / "b/videos/v.mp4");
  touch(dir.path / "one.avi");
  data::FolderImportOptions o;
  o.real = {(dir.path / "a/videos").string(), (dir.path / "b/videos/").string()};
  o.fake = {(dir.path / "one.avi").string()};
  const auto items = by_video(data::import_folders(o));
  EXPECT_EQ(items.at("real/videos/v").input, (dir.path / "a/videos/v.mp4").string());
  EXPECT_EQ(items.at("real/videos-2/v").input, (dir.path / "b/videos/v.mp4").string());
  EXPECT_EQ(items.at("fake/" + dir.path.filename().string() + "/one").method, "fake");
}

TEST(ImportFolders, Errors) {
  test::TempDir dir;
  touch(dir.path / "all/sub/v.mp4");
  touch(dir.path / "all/readme.txt");
  fs::create_directories(dir.path / "empty");
  data::FolderImportOptions o;
  EXPECT_NE(test::error_message<ConfigError>([&] { data::import_folders(o); }), "(no exception)");
  o.real = {(dir.path / "all").string()};
  o.fake = {(dir.path / "all/sub").string()};  // overlaps the real folder
  std::string msg = test::error_message<ConfigError>([&] { data::import_folders(o); });
  EXPECT_NE(msg.find("all/sub' is reached twice"), std::string::npos) << msg;
  o.real = {(dir.path / "all/sub/v.mp4").string(), (dir.path / "all").string()};
  o.fake.clear();
  msg = test::error_message<ConfigError>([&] { data::import_folders(o); });
  EXPECT_NE(msg.find("v.mp4' is reached twice"), std::string::npos) << msg;
  o.real = {(dir.path / "all").string()};
  o.fake = {dir.file("missing")};
  msg = test::error_message<IoError>([&] { data::import_folders(o); });
  EXPECT_NE(msg.find(dir.file("missing") + ": not found"), std::string::npos) << msg;
  o.fake = {dir.file("empty")};
  msg = test::error_message<IoError>([&] { data::import_folders(o); });
  EXPECT_NE(msg.find(dir.file("empty") + ": no videos, images or frame folders"), std::string::npos) << msg;
  o.fake = {dir.file("all/readme.txt")};
  msg = test::error_message<IoError>([&] { data::import_folders(o); });
  EXPECT_NE(msg.find("readme.txt: not a folder, video or image file"), std::string::npos) << msg;
  o.fake.clear();
  o.split = "validation";
  msg = test::error_message<ConfigError>([&] { data::import_folders(o); });
  EXPECT_NE(msg.find("'validation'"), std::string::npos) << msg;
}

// ---- `sola prepare` end to end ----------------------------------------------------------------

struct CliResult {
  int code = -1;
  std::string out;  ///< stdout
  std::string all;  ///< stdout and stderr
};

CliResult run_sola(const std::string& args) {
  test::TempDir tmp;
  const std::string err = tmp.file("stderr");
  const std::string cmd = std::string(SOLA_CLI_PATH) + " " + args + " 2>" + err;
  CliResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err);
  r.all = r.out + std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return r;
}

/// Writes `frames` frames of `face` (shifted a little each frame) as an MPEG-4 .mp4 video.
void write_video(const fs::path& file, const cv::Mat& face, int frames) {
  fs::create_directories(file.parent_path());
  cv::VideoWriter w(file.string(), cv::VideoWriter::fourcc('m', 'p', '4', 'v'), 25, face.size());
  ASSERT_TRUE(w.isOpened()) << "OpenCV cannot write " << file;
  for (int i = 0; i < frames; ++i) {
    cv::Mat shifted;
    const cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, 2 * i, 0, 1, i);
    cv::warpAffine(face, shifted, m, face.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    w.write(shifted);
  }
}

TEST(PrepareCli, TinyFaceForensicsTreeEndToEnd) {
  // Runs only once `sola prepare` is part of the built program.
  const CliResult help = run_sola("prepare --help");
  if (help.code != 0 || help.out.find("--ffpp") == std::string::npos) {
    GTEST_SKIP() << SOLA_CLI_PATH << " has no prepare subcommand yet";
  }
  const std::string face_file = "/usr/share/doc/libdlib19.1/examples/faces/Tom_Cruise_avp_2014_4.jpg";
  cv::Mat face = cv::imread(face_file);
  ASSERT_FALSE(face.empty()) << face_file;
  cv::resize(face, face, cv::Size(280, 400), 0, 0, cv::INTER_AREA);

  test::TempDir dir;
  const fs::path root = dir.path / "ffpp", out = dir.path / "out";
  write_video(root / "original_sequences/youtube/c23/videos/000.mp4", face, 4);
  write_video(root / "original_sequences/youtube/c23/videos/001.mp4", face, 4);
  write_video(root / "manipulated_sequences/Deepfakes/c23/videos/000_001.mp4", face, 4);
  write_video(root / "manipulated_sequences/Deepfakes/c23/videos/001_000.mp4", face, 4);
  cv::Mat mask = cv::Mat::zeros(face.size(), CV_8UC3);
  cv::rectangle(mask, cv::Rect(70, 100, 140, 160), cv::Scalar::all(255), cv::FILLED);
  write_video(root / "manipulated_sequences/Deepfakes/masks/videos/000_001.mp4", mask, 4);
  write_text(root / "splits/train.json", R"([["000", "001"]])");
  write_text(root / "splits/val.json", "[]");
  write_text(root / "splits/test.json", "[]");

  const std::string args = "prepare --ffpp " + root.string() + " --out " + out.string() +
                           " --methods Deepfakes --frames 2 --size 64 --threads 1 --json";
  CliResult r = run_sola(args);
  ASSERT_EQ(r.code, 0) << r.all;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["inputs"], 4);
  EXPECT_EQ(j["real"], 2);
  EXPECT_EQ(j["fake"], 2);
  EXPECT_EQ(j["with_mask"], 1);
  EXPECT_EQ(j["failed_inputs"], 0) << r.all;
  EXPECT_EQ(j["skipped_done"], 0);
  EXPECT_EQ(j["frames"], 8);
  EXPECT_GT(j["faces"].get<int>(), 0) << r.all;
  ASSERT_EQ(j["manifests"].size(), 1u) << r.all;
  const std::string manifest = j["manifests"][0];
  EXPECT_EQ(fs::path(manifest).lexically_normal(), (out / "train/manifest.csv").lexically_normal());

  const data::Manifest m = data::read_manifest(manifest);
  EXPECT_EQ(m.samples.size(), j["faces"].get<size_t>());
  std::set<std::string> groups;
  for (const data::Sample& s : m.samples) {
    groups.insert(s.group);
    EXPECT_EQ(s.method, s.label ? "Deepfakes" : "real") << s.path;
    if (!s.mask.empty()) {
      EXPECT_EQ(s.path.find((out / "train/Deepfakes/000_001/").string()), 0u) << "only 000_001 has a mask video";
    }
    // A fake is in its target video's group: 000_001 with 000, 001_000 with 001.
    const std::string stem = fs::path(s.path).parent_path().filename().string();
    EXPECT_EQ(s.group, "youtube/" + stem.substr(0, 3)) << s.path;
  }
  EXPECT_EQ(groups, (std::set<std::string>{"youtube/000", "youtube/001"}));

  // A second run finds everything done.
  r = run_sola(args);
  ASSERT_EQ(r.code, 0) << r.all;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["skipped_done"], 4);

  // An input video replaced by another (as a re-download does) is cropped again; the rest is kept.
  write_video(root / "original_sequences/youtube/c23/videos/001.mp4", face, 6);
  r = run_sola(args);
  ASSERT_EQ(r.code, 0) << r.all;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["skipped_done"], 3) << r.all;

  // A bad method name is a configuration error: exit 2, naming it.
  r = run_sola("prepare --ffpp " + root.string() + " --out " + out.string() + " --methods Deepfake");
  EXPECT_EQ(r.code, 2) << r.all;
  EXPECT_NE(r.all.find("'Deepfake'"), std::string::npos) << r.all;
}

// The real FaceForensics++ layout of ../shared/data/ffpp-videos (issue 26): originals 241 and 830
// and their Deepfakes, Face2Face and FaceSwap c23 videos (the first 4 s of each, not re-encoded).
TEST(PrepareCli, RealFaceForensicsVideosGiveCropsLabelsMethodsAndGroupsAndAreScored) {
  SOLA_REQUIRE_SHARED_DATA(shared);
  const fs::path root = (fs::path(shared) / "ffpp-videos").lexically_normal();
  if (!fs::exists(root)) GTEST_SKIP() << root << " not present";
  const CliResult help = run_sola("prepare --help");
  if (help.code != 0) GTEST_SKIP() << SOLA_CLI_PATH << " has no prepare subcommand";

  // The importer alone: 2 originals, 6 fakes, each fake in its target video's group.
  const ImportResult imported = data::import_ffpp(root.string());
  const auto items = by_video(imported);
  ASSERT_EQ(items.size(), 8u) << notes_of(imported);
  for (const char* method : {"Deepfakes", "Face2Face", "FaceSwap"}) {
    for (const auto& [target, source] : {std::pair<std::string, std::string>{"241", "210"}, {"830", "828"}}) {
      const PrepareItem& fake = items.at(std::string(method) + "/" + target + "_" + source);
      EXPECT_EQ(fake.label, 1);
      EXPECT_EQ(fake.method, method);
      EXPECT_EQ(fake.group, "youtube/" + target);
      EXPECT_EQ(fake.input, (root / "manipulated_sequences" / method / "c23/videos" / (target + "_" + source + ".mp4")).string());
    }
  }
  EXPECT_EQ(items.at("real/241").group, "youtube/241");
  EXPECT_EQ(items.at("real/830").method, "real");
  EXPECT_TRUE(has_note(imported, "NeuralTextures: no manipulated_sequences/NeuralTextures/c23/videos")) << notes_of(imported);

  // sola prepare on it: two frames a video, every video gives crops, rows as the importer said.
  test::TempDir dir;
  const fs::path out = dir.path / "out";
  const CliResult r = run_sola("prepare --ffpp " + root.string() + " --compression c23 --out " + out.string() +
                              " --frames 2 --size 64 --threads 2 --json");
  ASSERT_EQ(r.code, 0) << r.all;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["inputs"], 8);
  EXPECT_EQ(j["real"], 2);
  EXPECT_EQ(j["fake"], 6);
  EXPECT_EQ(j["methods"], (nlohmann::json{{"Deepfakes", 2}, {"Face2Face", 2}, {"FaceSwap", 2}, {"real", 2}}));
  EXPECT_EQ(j["failed_inputs"], 0);
  EXPECT_EQ(j["frames"], 16);
  ASSERT_EQ(j["manifests"].size(), 1u) << r.all;
  const data::Manifest m = data::read_manifest(j["manifests"][0].get<std::string>());
  EXPECT_EQ(m.samples.size(), j["faces"].get<size_t>());
  data::check_images(m, 1);  // every crop and mask in place and readable
  std::map<std::string, int> crops_per_folder;
  for (const data::Sample& s : m.samples) {
    const fs::path rel = fs::path(s.path).lexically_relative(out / "all");
    const std::string folder = rel.parent_path().generic_string();  // <method>/<video>
    ++crops_per_folder[folder];
    EXPECT_EQ(s.method, rel.begin()->string()) << s.path;
    EXPECT_EQ(s.label, s.method == "real" ? 0 : 1) << s.path;
    EXPECT_EQ(s.group, "youtube/" + rel.parent_path().filename().string().substr(0, 3)) << s.path;
    EXPECT_TRUE(s.mask.empty()) << "this layout has no mask videos: " << s.path;
    EXPECT_EQ(cv::imread(s.path).size(), cv::Size(64, 64)) << s.path;
  }
  EXPECT_EQ(crops_per_folder.size(), 8u) << "every video gives a face crop";

  // sola detect scores the videos (the shipped model, two frames each): an original and its fake.
  const std::string model = std::string(SOLA_SOURCE_DIR) + "/models/sola-dfdc.pt";
  if (!fs::exists(model)) GTEST_SKIP() << model << " not present";
  const std::string videos = (root / "original_sequences/youtube/c23/videos/241.mp4").string() + " " +
                             (root / "manipulated_sequences/Deepfakes/c23/videos/241_210.mp4").string();
  const CliResult d = run_sola("detect --json --frames 2 --threads 1 --model " + model + " " + videos);
  ASSERT_EQ(d.code, 0) << d.all;
  std::istringstream lines(d.out);
  std::string line;
  int scored = 0;
  while (std::getline(lines, line)) {
    const nlohmann::json v = nlohmann::json::parse(line);
    EXPECT_EQ(v.at("kind"), "video") << line;
    EXPECT_EQ(v.at("status"), "ok") << line;
    EXPECT_GE(v.at("aggregation").at("frames_scored").get<int>(), 1) << line;
    const double score = v.at("score").get<double>();
    EXPECT_TRUE(score >= 0 && score <= 1) << line;
    ++scored;
  }
  EXPECT_EQ(scored, 2) << d.all;
}

}  // namespace
}  // namespace sola
