// Media inputs (videos, images) and `prepare`: face crops, mask crops, manifests, resumption.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "core/error.h"
#include "data/manifest.h"
#include "data/prepare.h"
#include "data/video.h"
#include "test_util.h"
#include "file_util.h"

namespace sola {
namespace {

namespace fs = std::filesystem;
using data::PrepareItem;
using data::PrepareOptions;

/// Writes `frames` (8-bit BGR, all the same size) as an MJPG AVI.
void write_video(const fs::path& file, const std::vector<cv::Mat>& frames) {
  fs::create_directories(file.parent_path());
  cv::VideoWriter w(file.string(), cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25,
                    frames.front().size());
  ASSERT_TRUE(w.isOpened()) << file;
  for (const cv::Mat& f : frames) w.write(f);
}

/// A frame whose brightness tells its index.
cv::Mat numbered_frame(int i) { return cv::Mat(120, 160, CV_8UC3, cv::Scalar::all(20 + 20 * i)); }


// ---- media --------------------------------------------------------------------------------------

TEST(Video, EvenFrameIndices) {
  using V = std::vector<int64_t>;
  EXPECT_EQ(data::even_frame_indices(10, 3), (V{1, 5, 8}));
  EXPECT_EQ(data::even_frame_indices(100, 4), (V{12, 37, 62, 87}));
  EXPECT_EQ(data::even_frame_indices(10, 4), (V{1, 3, 6, 8}));
  EXPECT_EQ(data::even_frame_indices(5, 10), (V{0, 1, 2, 3, 4}));
  EXPECT_EQ(data::even_frame_indices(3, 3), (V{0, 1, 2}));
  EXPECT_EQ(data::even_frame_indices(1, 1), (V{0}));
  EXPECT_EQ(data::even_frame_indices(2, 1), (V{1}));
  EXPECT_TRUE(data::even_frame_indices(0, 3).empty());
  EXPECT_TRUE(data::even_frame_indices(10, 0).empty());
  EXPECT_TRUE(data::even_frame_indices(-4, 2).empty());
  // Large counts do not overflow.
  EXPECT_EQ(data::even_frame_indices(int64_t{1} << 40, 2), (V{int64_t{1} << 38, 3 * (int64_t{1} << 38)}));
}

TEST(Video, KindsByExtension) {
  EXPECT_TRUE(data::is_video_file("a/b.MP4"));
  EXPECT_TRUE(data::is_video_file("x.webm"));
  EXPECT_FALSE(data::is_video_file("x.png"));
  EXPECT_FALSE(data::is_video_file("mp4"));
  EXPECT_TRUE(data::is_image_file("x.JPeG"));
  EXPECT_TRUE(data::is_image_file("/p/q.tiff"));
  EXPECT_FALSE(data::is_image_file("x.avi"));
}

TEST(Video, SampledFramesAreTheRightOnes) {
  test::TempDir dir;
  const fs::path file = dir.path / "v.avi";
  std::vector<cv::Mat> frames;
  for (int i = 0; i < 10; ++i) frames.push_back(numbered_frame(i));
  write_video(file, frames);
  ASSERT_EQ(data::video_frame_count(file.string()), 10);

  auto index_of = [](const cv::Mat& f) { return (cv::mean(f)[0] - 20) / 20; };
  const auto sampled = data::sample_frames(file.string(), 4);
  ASSERT_EQ(sampled.size(), 4u);
  const std::vector<int64_t> want{1, 3, 6, 8};
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(sampled[k].index, want[k]);
    ASSERT_EQ(sampled[k].bgr.type(), CV_8UC3);
    ASSERT_EQ(sampled[k].bgr.size(), cv::Size(160, 120));
    EXPECT_NEAR(index_of(sampled[k].bgr), want[k], 0.25);
  }
  EXPECT_EQ(data::sample_frames(file.string(), 50).size(), 10u);

  const auto picked = data::read_frames(file.string(), {8, 2, 2, 30});
  ASSERT_EQ(picked.size(), 2u);
  EXPECT_EQ(picked[0].index, 2);
  EXPECT_EQ(picked[1].index, 8);
  EXPECT_NEAR(index_of(picked[1].bgr), 8, 0.25);

  data::VideoReader reader(file.string());
  cv::Mat f;
  ASSERT_TRUE(reader.read(7, f));
  EXPECT_NEAR(index_of(f), 7, 0.25);
  ASSERT_TRUE(reader.read(2, f));  // backwards: reopens
  EXPECT_NEAR(index_of(f), 2, 0.25);
  EXPECT_FALSE(reader.read(10, f));
  EXPECT_EQ(reader.frames_at_end(), 10);
  EXPECT_EQ(reader.count_frames(), 10);
}

TEST(Video, AnOverReportedLengthIsSampledOverTheTrueOne) {
  test::TempDir dir;
  const fs::path file = dir.path / "cut.avi";
  std::vector<cv::Mat> frames;
  for (int i = 0; i < 20; ++i) frames.push_back(numbered_frame(i % 10));
  write_video(file, frames);
  fs::resize_file(file, fs::file_size(file) * 2 / 3);  // the header still says 20 frames
  const int64_t reported = data::video_frame_count(file.string());
  const int64_t real = data::VideoReader(file.string()).count_frames();
  if (real < 1 || real >= reported) GTEST_SKIP() << "this FFmpeg reports " << reported << " of " << real << " frames";
  for (const int n : {1, 3, 8, 40}) {
    SCOPED_TRACE(n);
    const auto sampled = data::sample_frames(file.string(), n);
    EXPECT_EQ(static_cast<int64_t>(sampled.size()), std::min<int64_t>(n, real));
    for (size_t k = 0; k < sampled.size(); ++k) {
      EXPECT_LT(sampled[k].index, real);
      if (k > 0) {
        EXPECT_LT(sampled[k - 1].index, sampled[k].index);
      }
    }
  }
}

TEST(Video, UnreadableVideosAreIoErrorsNamingThem) {
  test::TempDir dir;
  const std::string missing = dir.file("none.mp4");
  EXPECT_NE(test::error_message<IoError>([&] { data::sample_frames(missing, 3); }).find(missing + ": "),
            std::string::npos);
  const std::string junk = dir.file("junk.mp4");
  test::write_file(junk, std::string(5000, 'x'));
  const std::string msg = test::error_message<IoError>([&] { data::sample_frames(junk, 3); });
  EXPECT_NE(msg.find(junk + ": "), std::string::npos) << msg;
  EXPECT_THROW(data::read_frames(junk, {0}), IoError);
  EXPECT_THROW(data::video_frame_count(junk), IoError);
  const std::string empty = dir.file("empty.avi");
  test::write_file(empty, "");
  EXPECT_NE(test::error_message<IoError>([&] { data::sample_frames(empty, 3); }).find("empty"), std::string::npos);
}

TEST(Image, ReadsAnyImageAsEightBitBgr) {
  test::TempDir dir;
  cv::Mat gray16(30, 40, CV_16UC1, cv::Scalar(65535));
  ASSERT_TRUE(cv::imwrite(dir.file("g16.png"), gray16));
  cv::Mat img = data::read_image_bgr(dir.file("g16.png"));
  EXPECT_EQ(img.type(), CV_8UC3);
  EXPECT_EQ(img.at<cv::Vec3b>(3, 3), cv::Vec3b(255, 255, 255));
  cv::Mat bgra(30, 40, CV_8UC4, cv::Scalar(10, 20, 30, 0));
  ASSERT_TRUE(cv::imwrite(dir.file("a.png"), bgra));
  img = data::read_image_bgr(dir.file("a.png"));
  EXPECT_EQ(img.type(), CV_8UC3);
  EXPECT_EQ(img.at<cv::Vec3b>(0, 0), cv::Vec3b(10, 20, 30));
}

TEST(Image, OversizedImagesAreRefusedFromTheirHeader) {
  test::TempDir dir;
  const cv::Mat img(50, 120, CV_8UC3, cv::Scalar::all(9));
  for (const std::string ext : {".png", ".jpg", ".bmp", ".webp"}) {
    const std::string file = dir.file("i" + ext);
    ASSERT_TRUE(cv::imwrite(file, img)) << file;
    EXPECT_EQ(data::read_image_bgr(file, 120).size(), img.size());
    const std::string msg = test::error_message<IoError>([&] { data::read_image_bgr(file, 100); });
    EXPECT_NE(msg.find("120x50"), std::string::npos) << msg;
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    // The header alone gives the size: the same file cut short after it is refused the same way.
    const std::string bytes = test::read_file(file);
    const size_t header = ext == ".jpg" ? bytes.find("\xFF\xC0") + 10 : ext == ".png" ? 33 : ext == ".bmp" ? 54 : 40;
    ASSERT_LT(header, bytes.size());
    test::write_file(dir.path / ("cut" + ext), bytes.substr(0, header));
    const std::string cut = test::error_message<IoError>([&] { data::read_image_bgr(dir.file("cut" + ext), 100); });
    EXPECT_NE(cut.find("120x50"), std::string::npos) << cut;
  }
  // A PNG whose header claims 30000x20000 pixels: refused before any decoding is tried.
  std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x75\x30\0\0\x4e\x20\x08\x02\0\0\0", 29);
  png += std::string(64, '\0');
  test::write_file(dir.path / "huge.png", png);
  const std::string msg = test::error_message<IoError>([&] { data::read_image_bgr(dir.file("huge.png")); });
  EXPECT_NE(msg.find("30000x20000"), std::string::npos) << msg;
  // Corrupt and missing files.
  test::write_file(dir.path / "bad.png", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(40, 'z'));
  EXPECT_THROW(data::read_image_bgr(dir.file("bad.png")), IoError);
  EXPECT_NE(test::error_message<IoError>([&] { data::read_image_bgr(dir.file("no.png")); }).find("not found"),
            std::string::npos);
}

// ---- prepare ------------------------------------------------------------------------------------

/// A small face photo: the face about 120 px wide in a 170x240 portrait (libdlib19.1 docs,
/// else the FF++ example frame at 320x240), or an empty Mat when neither is installed.
cv::Mat face_photo() {
  const std::string dlib = "/usr/share/doc/libdlib19.1/examples/faces/Tom_Cruise_avp_2014_4.jpg";
  const std::string ffpp = std::string(SOLA_SHARED_DATA) + "/ffpp-examples/ex_original.png";
  cv::Mat img;
  if (fs::exists(dlib)) {
    cv::resize(data::read_image_bgr(dlib), img, cv::Size(170, 240), 0, 0, cv::INTER_AREA);
  } else if (fs::exists(ffpp)) {
    cv::resize(data::read_image_bgr(ffpp), img, cv::Size(320, 240), 0, 0, cv::INTER_AREA);
  }
  return img;
}

/// The rows of a manifest file after its header.
std::vector<std::string> manifest_rows(const fs::path& file) {
  std::istringstream in(test::read_file(file));
  std::vector<std::string> rows;
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "path,label,mask,group,method");
  while (std::getline(in, line)) rows.push_back(line);
  return rows;
}

/// raw/clip.avi (6 frames: 0-3 a face, 4-5 blank), raw/frames/ (3 face images) and, where the
/// shared data is present, raw/fake.png + raw/fake_mask.png (FF++ Deepfakes frame and its mask),
/// else a synthetic fake with a square mask.
struct RawTree {
  fs::path root;
  std::vector<PrepareItem> items;
  explicit RawTree(const fs::path& dir, const cv::Mat& face) : root(dir / "raw") {
    std::vector<cv::Mat> frames;
    for (int i = 0; i < 6; ++i) {
      cv::Mat f(face.size(), CV_8UC3, cv::Scalar::all(90));
      if (i < 4) face.copyTo(f);
      frames.push_back(f);
    }
    write_video(root / "clip.avi", frames);
    fs::create_directories(root / "frames");
    for (int i = 0; i < 3; ++i) cv::imwrite((root / "frames" / ("f" + std::to_string(i) + ".png")).string(), face);
    const std::string shared = SOLA_SHARED_DATA;
    if (fs::exists(shared + "/ffpp-examples/ex_deepfakes_mask.png")) {
      fs::copy_file(shared + "/ffpp-examples/ex_deepfakes.png", root / "fake.png");
      fs::copy_file(shared + "/ffpp-examples/ex_deepfakes_mask.png", root / "fake_mask.png");
    } else {
      cv::Mat fake(240, 320, CV_8UC3, cv::Scalar::all(60)), mask(240, 320, CV_8UC3, cv::Scalar::all(0));
      mask(cv::Rect(140, 60, 50, 70)).setTo(cv::Scalar::all(255));
      cv::imwrite((root / "fake.png").string(), fake);
      cv::imwrite((root / "fake_mask.png").string(), mask);
    }
    items = {
        {(root / "clip.avi").string(), "", 0, "g1", "real", "train"},
        {(root / "frames").string(), "", 0, "", "", "val"},
        {(root / "fake.png").string(), (root / "fake_mask.png").string(), 1, "g1", "deepfakes", "train"},
    };
  }
};

PrepareOptions small_options(const fs::path& out) {
  PrepareOptions o;
  o.out_dir = out.string();
  o.frames_per_video = 3;
  o.size = 64;
  o.threads = 2;
  return o;
}

TEST(Prepare, WritesCropsMasksAndManifests) {
  const cv::Mat face = face_photo();
  if (face.empty()) GTEST_SKIP() << "no face photo (libdlib19.1 docs or shared data) on this machine";
  test::TempDir dir;
  const RawTree raw(dir.path, face);
  const fs::path out = dir.path / "out";
  size_t calls = 0, last_done = 0;
  const auto report = data::prepare(raw.items, small_options(out), [&](size_t done, size_t total) {
    ++calls;
    EXPECT_EQ(total, 3u);
    EXPECT_GT(done, last_done);
    last_done = done;
  });
  EXPECT_EQ(calls, 3u);
  EXPECT_EQ(report.inputs, 3u);
  EXPECT_EQ(report.skipped_done, 0u);
  EXPECT_EQ(report.failed_inputs, 0u);
  // clip.avi: frames 1, 3, 5 of 6 (5 is blank); frames/: 3 images; fake.png: 1 (mask box).
  EXPECT_EQ(report.frames, 7u);
  EXPECT_EQ(report.no_face, 1u);
  EXPECT_EQ(report.faces, 6u);
  EXPECT_TRUE(report.problems.empty());
  ASSERT_EQ(report.manifests.size(), 2u);
  EXPECT_EQ(report.manifests[0], (out / "train/manifest.csv").string());
  EXPECT_EQ(report.manifests[1], (out / "val/manifest.csv").string());

  EXPECT_EQ(manifest_rows(out / "train/manifest.csv"),
            (std::vector<std::string>{
                "deepfakes/g1/000000.png,1,deepfakes/g1/000000_mask.png,g1,deepfakes",
                "real/g1/000001.png,0,,g1,real",
                "real/g1/000003.png,0,,g1,real",
            }));
  EXPECT_EQ(manifest_rows(out / "val/manifest.csv"), (std::vector<std::string>{
                                                         "real/frames/000000.png,0,,frames,real",
                                                         "real/frames/000001.png,0,,frames,real",
                                                         "real/frames/000002.png,0,,frames,real",
                                                     }));
  // The manifests read back, with every file in place and masks the size of their crops.
  const data::Manifest m = data::read_manifests({(out / "train/manifest.csv").string(), (out / "val/manifest.csv").string()});
  EXPECT_EQ(m.samples.size(), 6u);
  data::check_images(m, 1);
  EXPECT_FALSE(fs::exists(out / "train/real/g1/000005.png"));
  EXPECT_TRUE(report.empty_splits.empty());

  const cv::Mat crop = cv::imread((out / "train/real/g1/000001.png").string(), cv::IMREAD_UNCHANGED);
  EXPECT_EQ(crop.size(), cv::Size(64, 64));
  EXPECT_EQ(crop.type(), CV_8UC3);
  const cv::Mat mask = cv::imread((out / "train/deepfakes/g1/000000_mask.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(mask.type(), CV_8UC1);
  EXPECT_EQ(cv::countNonZero(mask == 0) + cv::countNonZero(mask == 255), 64 * 64);
  // Centred on the mask's box (its scale is tested in FakesAreCroppedAtTheFaceScaleAroundTheMask).
  const cv::Rect2f box = data::mask_bounding_box(mask);
  EXPECT_NEAR(box.x + box.width / 2, 32, 1.5);
  EXPECT_NEAR(box.y + box.height / 2, 32, 1.5);
}

TEST(Prepare, ResumesSkipsFinishedInputsAndRedoesKilledOnes) {
  const cv::Mat face = face_photo();
  if (face.empty()) GTEST_SKIP() << "no face photo (libdlib19.1 docs or shared data) on this machine";
  test::TempDir dir;
  const RawTree raw(dir.path, face);
  const fs::path out = dir.path / "out";
  const PrepareOptions o = small_options(out);
  data::prepare(raw.items, o);
  const std::string train = test::read_file(out / "train/manifest.csv"), val = test::read_file(out / "val/manifest.csv");

  auto again = data::prepare(raw.items, o);
  EXPECT_EQ(again.skipped_done, 3u);
  EXPECT_EQ(again.frames, 0u);
  EXPECT_EQ(test::read_file(out / "train/manifest.csv"), train);
  EXPECT_EQ(test::read_file(out / "val/manifest.csv"), val);

  // A run killed inside clip.avi (group g1): its record is missing and a stray crop is left behind.
  size_t removed = 0;
  for (const auto& e : fs::directory_iterator(out / ".prepare")) {
    if (e.path().filename().string().rfind("train_real_g1-", 0) == 0) removed += fs::remove(e.path());
  }
  ASSERT_EQ(removed, 1u);
  test::write_file(out / "train/real/g1/000004.png", "partial");
  again = data::prepare(raw.items, o);
  EXPECT_EQ(again.skipped_done, 2u);
  EXPECT_EQ(again.frames, 3u);
  EXPECT_FALSE(fs::exists(out / "train/real/g1/000004.png"));
  EXPECT_EQ(test::read_file(out / "train/manifest.csv"), train);
  EXPECT_EQ(test::read_file(out / "val/manifest.csv"), val);

  // Other settings: everything is redone.
  PrepareOptions bigger = o;
  bigger.size = 32;
  again = data::prepare(raw.items, bigger);
  EXPECT_EQ(again.skipped_done, 0u);
  EXPECT_EQ(cv::imread((out / "val/real/frames/000000.png").string()).size(), cv::Size(32, 32));

  // A run with only one item keeps the others' rows in the manifests.
  again = data::prepare({raw.items[1]}, bigger);
  EXPECT_EQ(again.skipped_done, 1u);
  EXPECT_EQ(manifest_rows(out / "train/manifest.csv").size(), 3u);
}

/// Angle in degrees of the line through the eye centres (68-point landmarks).
double eye_angle(const std::vector<cv::Point2f>& lm) {
  cv::Point2f a(0, 0), b(0, 0);
  for (int i = 36; i < 42; ++i) a += lm[i] / 6.f;
  for (int i = 42; i < 48; ++i) b += lm[i] / 6.f;
  return std::atan2(b.y - a.y, b.x - a.x) * 180 / CV_PI;
}

TEST(Prepare, AlignLevelsTheEyes) {
  const std::string dlib = "/usr/share/doc/libdlib19.1/examples/faces/Tom_Cruise_avp_2014_4.jpg";
  if (!fs::exists(dlib)) GTEST_SKIP() << "libdlib19.1 example photos not installed";
  test::TempDir dir;
  cv::Mat img;
  cv::resize(data::read_image_bgr(dlib), img, cv::Size(282, 400), 0, 0, cv::INTER_AREA);
  const cv::Mat rot = cv::getRotationMatrix2D(cv::Point2f(141, 250), -20, 1.0);
  cv::warpAffine(img, img, rot, img.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  ASSERT_TRUE(cv::imwrite(dir.file("tilted.png"), img));

  data::FaceDetectorOptions d;
  d.landmarks = true;
  auto detector = data::make_face_detector(d);
  const auto before = detector->detect(img);
  ASSERT_FALSE(before.empty());
  EXPECT_GT(std::abs(eye_angle(before[0].landmarks)), 12);

  PrepareOptions o = small_options(dir.path / "out");
  o.align = true;
  o.crop_scale = 1.6f;
  o.size = 160;
  o.threads = 1;
  const auto report = data::prepare({{dir.file("tilted.png"), "", 0, "", "", ""}}, o);
  ASSERT_EQ(report.faces, 1u);
  const cv::Mat crop = cv::imread((dir.path / "out/all/real/tilted/000000.png").string());
  const auto after = detector->detect(crop);
  ASSERT_FALSE(after.empty());
  EXPECT_LT(std::abs(eye_angle(after[0].landmarks)), 4);
  // Still centred on the face.
  EXPECT_NEAR(after[0].box.x + after[0].box.width / 2, 80, 12);
}

TEST(Prepare, UnreadableInputsFailAloneAndFacelessFramesAreCounted) {
  test::TempDir dir;
  test::write_file(dir.path / "junk.mp4", std::string(3000, 'j'));
  cv::imwrite(dir.file("blank.png"), cv::Mat(120, 160, CV_8UC3, cv::Scalar::all(128)));
  const std::vector<PrepareItem> items = {
      {dir.file("missing.mp4"), "", 0, "", "", ""},
      {dir.file("junk.mp4"), "", 1, "", "", ""},
      {dir.file("blank.png"), "", 0, "", "", ""},
  };
  const fs::path out = dir.path / "out";
  PrepareOptions o = small_options(out);
  o.threads = 1;
  const auto report = data::prepare(items, o);
  EXPECT_EQ(report.failed_inputs, 2u);
  ASSERT_EQ(report.problems.size(), 3u);
  EXPECT_NE(report.problems[0].find("junk.mp4"), std::string::npos) << report.problems[0];
  EXPECT_NE(report.problems[1].find("missing.mp4: not found"), std::string::npos) << report.problems[1];
  EXPECT_EQ(report.frames, 1u);
  EXPECT_EQ(report.no_face, 1u);
  EXPECT_EQ(report.faces, 0u);
  // The blank image's record exists (no rows), the others failed: split "all" has no crop, so no
  // manifest (read_manifest refuses one without samples).
  EXPECT_TRUE(report.manifests.empty());
  EXPECT_EQ(report.empty_splits, std::vector<std::string>{"all"});
  EXPECT_NE(report.problems[2].find("no crops in split 'all' (1 input prepared, 1 frame without a face, 2 inputs failed)"),
            std::string::npos)
      << report.problems[2];
  EXPECT_FALSE(fs::exists(out / "all/manifest.csv"));
  EXPECT_FALSE(fs::exists(out / "all/fake/junk"));
  // Failed inputs are tried again, finished ones skipped.
  const auto again = data::prepare(items, o);
  EXPECT_EQ(again.failed_inputs, 2u);
  EXPECT_EQ(again.skipped_done, 1u);
}

/// Writes a faceless fake `image` (120x160 gray) and its `mask` (0 outside `box`, 255 inside).
void write_masked_blank(const fs::path& image, const fs::path& mask, const cv::Rect& box) {
  fs::create_directories(image.parent_path());
  fs::create_directories(mask.parent_path());
  ASSERT_TRUE(cv::imwrite(image.string(), cv::Mat(120, 160, CV_8UC3, cv::Scalar::all(70))));
  cv::Mat m(120, 160, CV_8UC1, cv::Scalar(0));
  m(box).setTo(255);
  ASSERT_TRUE(cv::imwrite(mask.string(), m));
}

TEST(Prepare, EmptySplitsGetNoManifestAndStaleOnesAreRemoved) {
  test::TempDir dir;
  // train: one faceless fake with a mask (cropped around the mask); val: a faceless real;
  // test: an input that fails.
  write_masked_blank(dir.path / "fake.png", dir.path / "fake_mask.png", cv::Rect(60, 40, 30, 30));
  ASSERT_TRUE(cv::imwrite(dir.file("blank.png"), cv::Mat(120, 160, CV_8UC3, cv::Scalar::all(128))));
  const std::vector<PrepareItem> items = {
      {dir.file("fake.png"), dir.file("fake_mask.png"), 1, "f", "df", "train"},
      {dir.file("blank.png"), "", 0, "b", "real", "val"},
      {dir.file("missing.mp4"), "", 0, "m", "real", "test"},
  };
  const fs::path out = dir.path / "out";
  for (const char* split : {"val", "test"}) {  // manifests of an earlier run that had crops there
    test::write_file(out / split / "manifest.csv", "path,label,mask,group,method\nreal/old/000000.png,0,,old,real\n");
  }
  PrepareOptions o = small_options(out);
  o.threads = 1;
  const auto report = data::prepare(items, o);
  EXPECT_EQ(report.faces, 1u);
  EXPECT_EQ(report.failed_inputs, 1u);
  EXPECT_EQ(report.manifests, std::vector<std::string>{(out / "train/manifest.csv").string()});
  EXPECT_EQ(report.empty_splits, (std::vector<std::string>{"test", "val"}));
  EXPECT_FALSE(fs::exists(out / "val/manifest.csv"));
  EXPECT_FALSE(fs::exists(out / "test/manifest.csv"));
  const std::string all_problems = [&] {
    std::string a;
    for (const std::string& p : report.problems) a += p + "\n";
    return a;
  }();
  ASSERT_EQ(report.problems.size(), 3u) << all_problems;
  EXPECT_NE(all_problems.find("no crops in split 'test' (0 inputs prepared, 0 frames without a face, 1 input failed)"),
            std::string::npos)
      << all_problems;
  EXPECT_NE(all_problems.find("no crops in split 'val' (1 input prepared, 1 frame without a face)"), std::string::npos)
      << all_problems;
  const data::Manifest m = data::read_manifest((out / "train/manifest.csv").string());
  ASSERT_EQ(m.samples.size(), 1u);
  data::check_images(m, 1);

  // Again: the finished inputs are skipped and the splits are still reported empty.
  const auto again = data::prepare(items, o);
  EXPECT_EQ(again.skipped_done, 2u);
  EXPECT_EQ(again.empty_splits, (std::vector<std::string>{"test", "val"}));
  EXPECT_FALSE(fs::exists(out / "val/manifest.csv"));

  // Every record dropped (here: of an older version) and a run with the val input only: train and
  // "old" are left without any record, so their manifests, listing crops no record stands for, go.
  for (const auto& e : fs::directory_iterator(out / ".prepare")) test::write_file(e.path(), "{\"version\": 1}");
  test::write_file(out / "old/manifest.csv", "path,label,mask,group,method\nx.png,0,,x,real\n");
  const auto dropped = data::prepare({items[1]}, o);
  EXPECT_EQ(dropped.empty_splits, (std::vector<std::string>{"old", "train", "val"}));
  EXPECT_TRUE(dropped.manifests.empty());
  EXPECT_FALSE(fs::exists(out / "train/manifest.csv"));
  EXPECT_FALSE(fs::exists(out / "old/manifest.csv"));
}

TEST(Prepare, OutputFoldersAreNamedAfterGroups) {
  test::TempDir dir;
  const cv::Rect box(60, 40, 30, 30);
  // Same file name in different folders, as plain folders give them (groups "fake/<dir>/<stem>").
  write_masked_blank(dir.path / "dirA/0.png", dir.path / "masks/dirA/0.png", box);
  write_masked_blank(dir.path / "dirB/0.png", dir.path / "masks/dirB/0.png", box);
  // A video's group whose folder holds the one above (group "fake/dirA" vs "fake/dirA/0").
  write_masked_blank(dir.path / "dirA.png", dir.path / "masks/dirA.png", box);
  // A group with characters that cannot go into a folder name as they are.
  write_masked_blank(dir.path / "odd.png", dir.path / "masks/odd.png", box);
  const std::string odd_group = "Deepfakes/../.x y,\"q\"";
  const std::vector<PrepareItem> items = {
      {dir.file("dirA/0.png"), dir.file("masks/dirA/0.png"), 1, "fake/dirA/0", "fake", ""},
      {dir.file("dirB/0.png"), dir.file("masks/dirB/0.png"), 1, "fake/dirB/0", "fake", ""},
      {dir.file("dirA.png"), dir.file("masks/dirA.png"), 1, "fake/dirA", "fake", ""},
      {dir.file("odd.png"), dir.file("masks/odd.png"), 1, odd_group, "Deepfakes", ""},
  };
  const fs::path out = dir.path / "out";
  PrepareOptions o = small_options(out);
  o.threads = 1;
  const auto report = data::prepare(items, o);
  EXPECT_EQ(report.faces, 4u);
  EXPECT_EQ(manifest_rows(out / "all/manifest.csv"),
            (std::vector<std::string>{
                "Deepfakes/_../_.x_y__q_/000000.png,1,Deepfakes/_../_.x_y__q_/000000_mask.png,"
                "\"Deepfakes/../.x y,\"\"q\"\"\",Deepfakes",
                "fake/dirA/0/000000.png,1,fake/dirA/0/000000_mask.png,fake/dirA/0,fake",
                "fake/dirA/000000.png,1,fake/dirA/000000_mask.png,fake/dirA,fake",
                "fake/dirB/0/000000.png,1,fake/dirB/0/000000_mask.png,fake/dirB/0,fake",
            }));
  // The group reads back as given, and every file is in place.
  const data::Manifest m = data::read_manifest((out / "all/manifest.csv").string());
  ASSERT_EQ(m.samples.size(), 4u);
  EXPECT_EQ(m.samples[0].group, odd_group);
  data::check_images(m, 1);

  // Redoing the input of group "fake/dirA" (its record lost) leaves "fake/dirA/0"'s crops alone.
  size_t removed = 0;
  for (const auto& e : fs::directory_iterator(out / ".prepare")) {
    if (e.path().filename().string().rfind("all_fake_dirA-", 0) == 0) removed += fs::remove(e.path());
  }
  ASSERT_EQ(removed, 1u);
  const auto again = data::prepare(items, o);
  EXPECT_EQ(again.skipped_done, 3u);
  EXPECT_TRUE(again.problems.empty()) << again.problems.front();
  EXPECT_TRUE(fs::exists(out / "all/fake/dirA/0/000000.png"));
  EXPECT_EQ(data::read_manifest((out / "all/manifest.csv").string()).samples.size(), 4u);

  // Groups that differ only in characters made safe would share a folder.
  const std::string msg = test::error_message<ConfigError>([&] {
    data::prepare({{dir.file("dirA/0.png"), "", 0, "a b", "real", ""}, {dir.file("dirB/0.png"), "", 0, "a_b", "real", ""}},
                  o);
  });
  EXPECT_NE(msg.find("dirA/0.png' (group 'a b')"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dirB/0.png' (group 'a_b')"), std::string::npos) << msg;
  EXPECT_NE(msg.find("would both be written to"), std::string::npos) << msg;
  EXPECT_NE(test::error_message<ConfigError>([&] { data::prepare({{dir.file("dirA/0.png"), "", 0, "//", "", ""}}, o); })
                .find("group '//'"),
            std::string::npos);
}

TEST(Prepare, FoldersApartFromGroupsReplacedInputsAreRedoneAndShortMasksNoted) {
  const cv::Mat face = face_photo();
  if (face.empty()) GTEST_SKIP() << "no face photo (libdlib19.1 docs or shared data) on this machine";
  test::TempDir dir;
  // A fake of 6 frames whose mask video has 2: sampled frames 1, 3, 5 -> only frame 1 has a mask.
  std::vector<cv::Mat> frames(6, face);
  cv::Mat m(face.size(), CV_8UC3, cv::Scalar::all(0));
  m(cv::Rect(face.cols / 4, face.rows / 4, face.cols / 2, face.rows / 2)).setTo(cv::Scalar::all(255));
  write_video(dir.path / "fake.avi", frames);
  write_video(dir.path / "mask.avi", {m, m});
  write_video(dir.path / "real.avi", frames);
  // FF++-like: the fake's group is its original's; the folders stay one per video.
  std::vector<PrepareItem> items = {
      {dir.file("real.avi"), "", 0, "youtube/000", "real", "", "real/000"},
      {dir.file("fake.avi"), dir.file("mask.avi"), 1, "youtube/000", "Deepfakes", "", "Deepfakes/000_001"},
  };
  const fs::path out = dir.path / "out";
  PrepareOptions o = small_options(out);
  o.threads = 1;
  auto report = data::prepare(items, o);
  ASSERT_EQ(report.faces, 6u) << (report.problems.empty() ? "" : report.problems.front());
  std::vector<std::string> rows = manifest_rows(out / "all/manifest.csv");
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0], "Deepfakes/000_001/000001.png,1,Deepfakes/000_001/000001_mask.png,youtube/000,Deepfakes");
  EXPECT_EQ(rows[1], "Deepfakes/000_001/000003.png,1,,youtube/000,Deepfakes");
  EXPECT_EQ(rows[3], "real/000/000001.png,0,,youtube/000,real");
  // Before: two crops without a mask, and not a word.
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_NE(report.notes[0].find(dir.file("fake.avi") + ": its mask '" + dir.file("mask.avi") +
                                 "' has no frame for 2 of its 3 crops"),
            std::string::npos)
      << report.notes[0];
  // Done by an earlier run: skipped, and the note is given again.
  report = data::prepare(items, o);
  EXPECT_EQ(report.skipped_done, 2u);
  EXPECT_EQ(report.notes.size(), 1u);

  // Another group only: the records and the manifest change, no crop is made again.
  items[0].group = items[1].group = "ffpp/000";
  report = data::prepare(items, o);
  EXPECT_EQ(report.skipped_done, 2u);
  EXPECT_EQ(report.frames, 0u);
  rows = manifest_rows(out / "all/manifest.csv");
  EXPECT_EQ(rows[3], "real/000/000001.png,0,,ffpp/000,real");

  // A mask video replaced by a whole one: the fake is cropped again, and every crop has its mask.
  write_video(dir.path / "mask.avi", std::vector<cv::Mat>(6, m));
  report = data::prepare(items, o);
  EXPECT_EQ(report.skipped_done, 1u);
  EXPECT_TRUE(report.notes.empty()) << report.notes.front();
  rows = manifest_rows(out / "all/manifest.csv");
  EXPECT_EQ(rows[1], "Deepfakes/000_001/000003.png,1,Deepfakes/000_001/000003_mask.png,ffpp/000,Deepfakes");

  // An input replaced by another (before: the old crops were kept): here the real, now faceless.
  write_video(dir.path / "real.avi", std::vector<cv::Mat>(6, cv::Mat(face.size(), CV_8UC3, cv::Scalar::all(90))));
  report = data::prepare(items, o);
  EXPECT_EQ(report.skipped_done, 1u);
  EXPECT_EQ(report.no_face, 3u);
  EXPECT_FALSE(fs::exists(out / "all/real/000/000001.png"));
  EXPECT_EQ(manifest_rows(out / "all/manifest.csv").size(), 3u);
  // The same bytes with a new modification time count as replaced too (a copy over the file).
  fs::last_write_time(dir.path / "fake.avi", fs::last_write_time(dir.path / "fake.avi") + std::chrono::seconds(5));
  EXPECT_EQ(data::prepare(items, o).skipped_done, 1u);

  // Two inputs of one folder are refused naming the folders.
  items[1].folder = "real/000";
  items[1].method = "real";
  items[1].mask.clear();
  items[1].label = 0;
  const std::string msg = test::error_message<ConfigError>([&] { data::prepare(items, o); });
  EXPECT_NE(msg.find("(folder 'real/000')"), std::string::npos) << msg;
}

TEST(Prepare, FakesAreCroppedAtTheFaceScaleAroundTheMask) {
  const cv::Mat face = face_photo();
  if (face.empty()) GTEST_SKIP() << "no face photo (libdlib19.1 docs or shared data) on this machine";
  test::TempDir dir;
  // The face on the left of a wider frame, so a mask can also lie away from it.
  cv::Mat frame(face.rows, face.cols + 200, CV_8UC3, cv::Scalar::all(90));
  face.copyTo(frame(cv::Rect(0, 0, face.cols, face.rows)));
  const auto faces = data::make_face_detector()->detect(frame);
  ASSERT_EQ(faces.size(), 1u);
  const cv::Rect2f fb = faces[0].box;
  ASSERT_LT(fb.x + fb.width, face.cols + 40);
  // On the face: a 24x24 mask in the face box's upper left quarter. Away from it: 40x30 on the right.
  const cv::Rect on_face(static_cast<int>(fb.x + fb.width / 4 - 12), static_cast<int>(fb.y + fb.height / 4 - 12), 24, 24);
  const cv::Rect away(frame.cols - 60, 20, 40, 30);
  ASSERT_TRUE(cv::imwrite(dir.file("frame.png"), frame));
  for (const auto& [name, box] : {std::pair{"on", on_face}, std::pair{"away", away}}) {
    cv::Mat m(frame.size(), CV_8UC1, cv::Scalar(0));
    m(box).setTo(255);
    ASSERT_TRUE(cv::imwrite(dir.file(std::string(name) + "_mask.png"), m));
  }
  const std::vector<PrepareItem> items = {
      {dir.file("frame.png"), "", 0, "real", "real", ""},
      {dir.file("frame.png"), dir.file("on_mask.png"), 1, "on", "df", ""},
      {dir.file("frame.png"), dir.file("away_mask.png"), 1, "away", "df", ""},
  };
  PrepareOptions o = small_options(dir.path / "out");
  o.size = 96;
  o.threads = 1;
  const auto report = data::prepare(items, o);
  ASSERT_EQ(report.faces, 3u);

  // What prepare should have cut: `box`'s centre, side 2.6 x the face box (or `side_of`).
  auto expected = [&](const cv::Rect2f& centre_of, const cv::Rect2f& side_of) {
    cv::Rect2f r = data::crop_region(side_of, o.crop_scale);
    r.x = centre_of.x + centre_of.width / 2 - r.width / 2;
    r.y = centre_of.y + centre_of.height / 2 - r.height / 2;
    return data::crop_square(frame, r, o.size, r.width > o.size ? cv::INTER_AREA : cv::INTER_LINEAR);
  };
  auto read = [&](const std::string& rel) { return cv::imread((dir.path / "out/all" / rel).string(), cv::IMREAD_UNCHANGED); };
  auto max_diff = [](const cv::Mat& a, const cv::Mat& b) {
    if (a.size() != b.size() || a.type() != b.type()) return 999.0;
    cv::Mat diff;
    cv::absdiff(a, b, diff);
    double d = 0;
    cv::minMaxLoc(diff.reshape(1), nullptr, &d);
    return d;
  };
  // The real: around the face. The fake with a mask on the face: the same scale, centred on the mask.
  EXPECT_EQ(max_diff(read("real/real/000000.png"), expected(fb, fb)), 0);
  EXPECT_EQ(max_diff(read("df/on/000000.png"), expected(on_face, fb)), 0);
  const cv::Rect2f on_crop = data::mask_bounding_box(read("df/on/000000_mask.png"));
  const float scale = o.size / (o.crop_scale * std::max(fb.width, fb.height));
  EXPECT_NEAR(on_crop.width, 24 * scale, 1.5);
  EXPECT_NEAR(on_crop.x + on_crop.width / 2, o.size / 2.0, 1.5);
  EXPECT_NEAR(on_crop.y + on_crop.height / 2, o.size / 2.0, 1.5);
  // No face overlaps the mask: 2.6 x the mask's box, the mask filling 1/2.6 of the crop.
  EXPECT_EQ(max_diff(read("df/away/000000.png"), expected(away, away)), 0);
  const cv::Rect2f away_crop = data::mask_bounding_box(read("df/away/000000_mask.png"));
  EXPECT_NEAR(away_crop.width, o.size / o.crop_scale, 1.5);
  EXPECT_NEAR(away_crop.x + away_crop.width / 2, o.size / 2.0, 1.5);
}

TEST(Prepare, BadOptionsAndItemsAreConfigErrorsNamingThem) {
  test::TempDir dir;
  const std::vector<PrepareItem> one = {{dir.file("a.mp4"), "", 0, "", "", ""}};
  auto message = [&](const PrepareOptions& o, const std::vector<PrepareItem>& items) {
    return test::error_message<ConfigError>([&] { data::prepare(items, o); });
  };
  PrepareOptions o = small_options(dir.path / "out");
  auto with = [&](auto change) {
    PrepareOptions c = o;
    change(c);
    return message(c, one);
  };
  EXPECT_NE(with([](PrepareOptions& c) { c.size = 0; }).find("size = 0"), std::string::npos);
  EXPECT_NE(with([](PrepareOptions& c) { c.frames_per_video = -1; }).find("frames_per_video = -1"), std::string::npos);
  EXPECT_NE(with([](PrepareOptions& c) { c.crop_scale = 0.5f; }).find("crop_scale"), std::string::npos);
  EXPECT_NE(with([](PrepareOptions& c) { c.image_format = "gif"; }).find("'gif'"), std::string::npos);
  EXPECT_NE(with([](PrepareOptions& c) { c.out_dir.clear(); }).find("out_dir"), std::string::npos);
  EXPECT_NE(with([](PrepareOptions& c) { c.detector.method = "cnn"; }).find("'cnn'"), std::string::npos);

  const std::string real_mask = message(o, {{dir.file("r.mp4"), dir.file("m.mp4"), 0, "", "real", ""}});
  EXPECT_NE(real_mask.find("r.mp4"), std::string::npos) << real_mask;
  EXPECT_NE(real_mask.find("mask"), std::string::npos) << real_mask;
  const std::string twice =
      message(o, {{dir.file("x/v.mp4"), "", 1, "", "df", "train"}, {dir.file("y/v.avi"), "", 1, "", "df", "train"}});
  EXPECT_NE(twice.find("y/v.avi"), std::string::npos) << twice;
  EXPECT_NE(twice.find("x/v.mp4"), std::string::npos) << twice;
  EXPECT_NE(message(o, {{dir.file("v.mp4"), "", 1, "", "a/b", ""}}).find("'a/b'"), std::string::npos);
  EXPECT_NE(message(o, {{dir.file("v.mp4"), "", 2, "", "", ""}}).find("label"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path / "out"));  // nothing was done
}

}  // namespace
}  // namespace sola
