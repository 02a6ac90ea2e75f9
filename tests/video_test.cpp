// Videos end to end: coarse-to-fine and windowed face detection, faces followed between sampled
// frames, decoding on a second thread, the per-frame timeline and aggregation of `sola detect`, the
// timeline picture, and the CLI's --json / --timeline on a clip made from Debian's face photos.
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "data/face.h"
#include "data/face_track.h"
#include "data/video.h"
#include "detect/detect.h"
#include "detect/timeline.h"
#include "eval/plot.h"
#include "face_clips.h"
#include "test_util.h"

namespace sola {
namespace {

namespace fs = std::filesystem;
using data::Face;

/// One dlib-hog detector for the whole file (loading dlib's model takes a while).
data::FaceDetector& hog() {
  static std::unique_ptr<data::FaceDetector> d = data::make_face_detector({});
  return *d;
}

/// The small untrained SOLA model of these tests (input 64, grid 8), built once.
Detector small_model() {
  static Detector model = [] {
    torch::manual_seed(5);
    return build_model(ModelOptions{}.input_size(64).grid(8));
  }();
  return model;
}

/// A 640x360 clip of `frames` frames at 10 fps (MJPG in AVI: quick to write and to read) of the moving
/// single face, frames [blank_from, blank_to) without it.
std::string small_clip(const test::TempDir& dir, int frames, int blank_from = -1, int blank_to = -1) {
  test::ClipSpec s;
  s.height = 360;
  s.fps = 10;
  s.seconds = frames / 10.0;
  s.fourcc = "MJPG";
  s.blank_from = blank_from;
  s.blank_to = blank_to;
  const std::string file = dir.file("clip.avi");
  EXPECT_TRUE(test::write_face_clip(file, s));
  return file;
}

#define SKIP_WITHOUT_PHOTOS() \
  if (!test::face_photos_installed()) GTEST_SKIP() << "dlib example faces not installed (libdlib-dev)"

// ---- face detection ---------------------------------------------------------------------------

TEST(FaceSearch, DetectLargestFindsTheLargestFaceOfAFullDetection) {
  SKIP_WITHOUT_PHOTOS();
  for (const std::string& file : {test::kOneFacePhoto, test::kGroupPhoto, test::kDlibFaces + "bald_guys.jpg"}) {
    const cv::Mat img = cv::imread(file);
    const std::vector<Face> all = hog().detect(img);
    ASSERT_FALSE(all.empty()) << file;
    const std::vector<Face> largest = hog().detect_largest(img);
    ASSERT_EQ(largest.size(), 1u) << file;
    // The same face as the largest of a full detection (or one as large: the group has a tie), its box
    // refitted at one of the full scan's scales (at most a pyramid step, 1.2x, larger or smaller).
    float best = 0;
    for (const Face& f : all)
      if (f.box.area() >= 0.9f * all.front().box.area()) best = std::max(best, data::box_iou(largest.front().box, f.box));
    EXPECT_GT(best, 0.6f) << file;
    data::FaceDetectorOptions full;
    full.coarse_to_fine = false;
    const std::vector<Face> exact = data::make_face_detector(full)->detect_largest(img);
    ASSERT_EQ(exact.size(), 1u);
    EXPECT_EQ(exact.front().box, all.front().box) << file;
  }
  EXPECT_TRUE(hog().detect_largest(cv::Mat(300, 400, CV_8UC3, cv::Scalar::all(128))).empty());
}

TEST(FaceSearch, SmallFacesAreFoundByTheFinestLevelsAfterTheCoarseScans) {
  SKIP_WITHOUT_PHOTOS();
  // Photos whose faces are too small for the coarse scans: the search ends with a scan of only the
  // pyramid levels finer than those scans covered, and must find what a full detection finds.
  for (const std::string name : {"2008_002470.jpg", "2008_007676.jpg", "2007_007763.jpg"}) {
    const cv::Mat img = cv::imread(test::kDlibFaces + name);
    ASSERT_FALSE(img.empty()) << name;
    const std::vector<Face> all = hog().detect(img);
    ASSERT_FALSE(all.empty()) << name;
    const std::vector<Face> largest = hog().detect_largest(img);
    ASSERT_EQ(largest.size(), 1u) << name;
    EXPECT_GT(data::box_iou(largest.front().box, all.front().box), 0.95f) << name;
  }
}

TEST(FaceSearch, DetectInLooksOnlyInsideItsWindow) {
  SKIP_WITHOUT_PHOTOS();
  // The portrait at the left of a wider canvas whose right part holds no face.
  const cv::Mat photo = cv::imread(test::kOneFacePhoto);
  cv::Mat img(photo.rows, photo.cols * 5 / 2, CV_8UC3, cv::Scalar(90, 110, 130));
  photo.copyTo(img(cv::Rect(0, 0, photo.cols, photo.rows)));
  const std::vector<Face> all = hog().detect(img);
  ASSERT_EQ(all.size(), 1u);
  const cv::Rect2f box = all.front().box;
  const float side = std::max(box.width, box.height);
  const cv::Rect2f around(box.x - side / 2, box.y - side / 2, 2 * side, 2 * side);
  const std::vector<Face> near = hog().detect_in(img, around, side);
  ASSERT_EQ(near.size(), 1u);
  EXPECT_GT(data::box_iou(near.front().box, box), 0.7f);
  // A window as large on the empty part, and one that holds only the face's lower right corner.
  EXPECT_TRUE(hog().detect_in(img, cv::Rect2f(photo.cols + 20.f, 0, 1.5f * side, 1.5f * side), side).empty());
  EXPECT_TRUE(hog().detect_in(img, cv::Rect2f(box.x + box.width * 0.8f, box.y + box.height * 0.8f, side, side), side).empty());
  // Windows outside the image or without area find nothing rather than failing.
  EXPECT_TRUE(hog().detect_in(img, cv::Rect2f(-5000, -5000, 100, 100), side).empty());
  EXPECT_TRUE(hog().detect_in(img, around, 0).empty());
}

// ---- tracking ---------------------------------------------------------------------------------

TEST(FaceTrack, FollowsAMovingFaceWithFewFullDetectionsAndRecoversAfterACut) {
  SKIP_WITHOUT_PHOTOS();
  test::ClipSpec s;
  s.height = 360;
  const cv::Mat photo = cv::imread(test::kOneFacePhoto);
  const int n = 20;
  data::FaceTracker tracker(hog(), {}, /*all_faces=*/false);
  for (int i = 0; i < n; ++i) {
    s.blank_from = 12;
    s.blank_to = 14;
    const cv::Mat frame = test::clip_frame(s, photo, i, n);
    const std::vector<Face> followed = tracker.next(frame);
    const std::vector<Face> full = hog().detect(frame);
    if (i == 12 || i == 13) {
      EXPECT_TRUE(followed.empty()) << "frame " << i;  // the cut: the face is lost, not carried over
      continue;
    }
    ASSERT_EQ(full.size(), 1u) << "frame " << i;
    ASSERT_EQ(followed.size(), 1u) << "frame " << i;
    EXPECT_GT(data::box_iou(followed.front().box, full.front().box), 0.6f) << "frame " << i;
  }
  const auto& st = tracker.stats();
  EXPECT_EQ(st.frames, n);
  EXPECT_EQ(st.full + st.followed, n);
  EXPECT_GE(st.lost, 1);                // at the cut
  EXPECT_LE(st.full, 2 + n / 8 + 2);    // first frame, the refreshes, the cut and the frame after it
  EXPECT_GE(st.followed, n / 2);

  data::FaceTrackOptions off;
  off.track = false;
  data::FaceTracker every(hog(), off, false);
  for (int i = 0; i < 3; ++i) every.next(test::clip_frame(s, photo, i, n));
  EXPECT_EQ(every.stats().full, 3);
}

TEST(FaceTrack, BadOptionsAreConfigErrors) {
  data::FaceTrackOptions o;
  o.refresh = 0;
  EXPECT_THROW(data::FaceTracker(hog(), o, false), ConfigError);
  o = {};
  o.window = 1.0f;
  EXPECT_THROW(data::FaceTracker(hog(), o, false), ConfigError);
  detect::DetectOptions d;
  d.tracking.refresh = 0;
  EXPECT_NE(test::error_message<ConfigError>([&] { detect::Detector(small_model(), d); }).find("refresh"),
            std::string::npos);
}

// ---- decoding ahead ---------------------------------------------------------------------------

/// A clip whose frame i is a flat grey of level 10 * i (so a frame tells its index).
std::string numbered_clip(const test::TempDir& dir, int frames) {
  const std::string file = dir.file("numbered.avi");
  cv::VideoWriter w(file, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 20, cv::Size(64, 48));
  for (int i = 0; i < frames; ++i) w.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar::all(10 * i)));
  return file;
}

TEST(VideoPrefetch, DeliversTheFramesAndTimesOfTheSerialReader) {
  test::TempDir dir;
  const std::string file = numbered_clip(dir, 24);
  std::vector<data::VideoFrame> serial, ahead;
  data::for_each_sampled_frame(file, 8, [&](data::VideoFrame& f) { serial.push_back(f); });
  double decode_ms = -1;
  data::for_each_sampled_frame_prefetched(file, 8, [&](data::VideoFrame& f) { ahead.push_back(f); }, 2, &decode_ms);
  ASSERT_EQ(serial.size(), 8u);
  ASSERT_EQ(ahead.size(), serial.size());
  for (size_t i = 0; i < serial.size(); ++i) {
    EXPECT_EQ(ahead[i].index, serial[i].index);
    EXPECT_NEAR(ahead[i].time_s, ahead[i].index / 20.0, 1e-6);  // 20 fps
    EXPECT_NEAR(cv::mean(ahead[i].bgr)[0], 10.0 * ahead[i].index, 3.0);
    EXPECT_EQ(cv::norm(ahead[i].bgr, serial[i].bgr, cv::NORM_INF), 0.0);
  }
  EXPECT_GE(decode_ms, 0.0);
}

TEST(VideoPrefetch, AnErrorOnEitherSideStopsBothAndIsRethrown) {
  test::TempDir dir;
  const std::string file = numbered_clip(dir, 40);
  int seen = 0;
  EXPECT_THROW(data::for_each_sampled_frame_prefetched(file, 40,
                                                       [&](data::VideoFrame&) {
                                                         if (++seen == 3) throw std::runtime_error("consumer failed");
                                                       },
                                                       2),
               std::runtime_error);
  EXPECT_EQ(seen, 3);
  const std::string missing = dir.file("missing.mp4");
  EXPECT_NE(test::error_message<IoError>([&] {
              data::for_each_sampled_frame_prefetched(missing, 4, [](data::VideoFrame&) {});
            }).find(missing),
            std::string::npos);
}

// ---- detection of a video ---------------------------------------------------------------------

TEST(VideoDetect, TimelineAndAggregationDescribeEverySampledFrame) {
  SKIP_WITHOUT_PHOTOS();
  test::TempDir dir;
  const std::string file = small_clip(dir, 20, 8, 12);  // frames 8-11 without a face
  detect::DetectOptions o;
  o.frames = 10;
  o.maps = true;
  detect::Detector det(small_model(), o);
  std::vector<std::pair<int64_t, int64_t>> progress;
  const detect::InputResult r = det.detect_file(file, [&](int64_t done, int64_t total) { progress.emplace_back(done, total); });
  ASSERT_EQ(r.status, "ok") << r.error;
  ASSERT_EQ(r.frames_read, 10);
  ASSERT_EQ(progress.size(), 10u);
  EXPECT_EQ(progress.back(), std::make_pair(int64_t{10}, int64_t{10}));
  EXPECT_GT(r.timing.face_ms, 0.0);
  EXPECT_GT(r.timing.model_ms, 0.0);

  const nlohmann::json j = r.to_json();
  const auto& timeline = j.at("timeline");
  ASSERT_EQ(timeline.size(), 10u);
  double sum = 0, max = 0;
  int scored = 0, above = 0, blank = 0;
  for (size_t i = 0; i < timeline.size(); ++i) {
    const auto& f = timeline[i];
    const int64_t frame = f.at("frame").get<int64_t>();
    EXPECT_NEAR(f.at("time").get<double>(), frame / 10.0, 1e-3);  // 10 fps
    if (i > 0) EXPECT_GT(frame, timeline[i - 1].at("frame").get<int64_t>());
    if (frame >= 8 && frame < 12) {
      EXPECT_TRUE(f.at("score").is_null()) << frame;
      EXPECT_TRUE(f.at("faces").empty()) << frame;
      ++blank;
      continue;
    }
    ASSERT_FALSE(f.at("score").is_null()) << "frame " << frame << " lost its face";
    ASSERT_EQ(f.at("faces").size(), 1u);
    const double s = f.at("score").get<double>();
    EXPECT_EQ(f.at("faces")[0].at("score").get<double>(), s);
    EXPECT_EQ(f.at("faces")[0].at("box").size(), 4u);
    sum += s;
    max = std::max(max, s);
    ++scored;
    above += s >= r.threshold ? 1 : 0;
  }
  EXPECT_EQ(blank, 2);  // frames 9 and 11 of the sampled 1, 3, ..., 19
  EXPECT_EQ(j.at("frames_without_face"), blank);
  const auto& a = j.at("aggregation");
  EXPECT_EQ(a.at("method"), "mean");
  EXPECT_EQ(a.at("frames_scored"), scored);
  EXPECT_NEAR(a.at("mean").get<double>(), sum / scored, 1e-5);
  EXPECT_NEAR(j.at("score").get<double>(), sum / scored, 1e-5);
  EXPECT_NEAR(a.at("max").get<double>(), max, 1e-6);
  EXPECT_NEAR(a.at("share_above_threshold").get<double>(), static_cast<double>(above) / scored, 1e-6);

  // Maps only for the faces of the highest-scoring frame.
  int with_maps = 0;
  for (const auto& f : r.faces) {
    if (f.gradcam.empty()) continue;
    ++with_maps;
    EXPECT_NEAR(f.score, r.score_max, 1e-12);
  }
  EXPECT_EQ(with_maps, 1);

  // Another threshold relabels frames and recomputes the share.
  detect::InputResult low = r;
  low.apply_threshold(0.0);
  EXPECT_TRUE(low.fake);
  EXPECT_DOUBLE_EQ(low.share_fake_frames, 1.0);
  low.apply_threshold(1.0);
  EXPECT_DOUBLE_EQ(low.share_fake_frames, max >= 1.0 ? 1.0 / scored : 0.0);
}

TEST(VideoDetect, FollowingFacesFindsWhatAFullDetectionFinds) {
  SKIP_WITHOUT_PHOTOS();
  test::TempDir dir;
  const std::string file = small_clip(dir, 30);
  detect::DetectOptions fast, full;
  fast.frames = full.frames = 15;
  full.tracking.track = false;
  full.prefetch = false;
  full.detector.coarse_to_fine = false;
  const auto a = detect::Detector(small_model(), fast).detect_file(file);
  const auto b = detect::Detector(small_model(), full).detect_file(file);
  ASSERT_EQ(a.status, "ok") << a.error;
  ASSERT_EQ(b.status, "ok") << b.error;
  ASSERT_EQ(a.faces.size(), b.faces.size());
  for (size_t i = 0; i < a.faces.size(); ++i) {
    EXPECT_EQ(a.faces[i].frame, b.faces[i].frame);
    EXPECT_GT(data::box_iou(a.faces[i].box, b.faces[i].box), 0.6f) << "frame " << a.faces[i].frame;
  }
}

TEST(VideoDetect, TimelinePictureMarksFramesWithoutAFace) {
  SKIP_WITHOUT_PHOTOS();
  test::TempDir dir;
  detect::DetectOptions o;
  o.frames = 10;
  detect::Detector det(small_model(), o);
  // Counts the pixels of the "no face found" series' colour (the third series).
  auto marks = [](const cv::Mat& img) {
    const cv::Scalar c = eval::series_color(2);
    cv::Mat hit;
    cv::inRange(img, c - cv::Scalar::all(8), c + cv::Scalar::all(8), hit);
    return cv::countNonZero(hit);
  };
  const auto with_gap = det.detect_file(small_clip(dir, 20, 8, 12));
  ASSERT_EQ(with_gap.status, "ok") << with_gap.error;
  const cv::Mat a = detect::render_timeline(with_gap);
  EXPECT_EQ(a.size(), cv::Size(1000, 380));
  EXPECT_GT(marks(a), 20);
  fs::remove(dir.file("clip.avi"));
  const auto whole = det.detect_file(small_clip(dir, 20));
  ASSERT_EQ(whole.status, "ok") << whole.error;
  EXPECT_EQ(whole.frames_without_face, 0);
  EXPECT_LT(marks(detect::render_timeline(whole)), 5);
  detect::write_timeline(dir.file("t.png"), whole);
  EXPECT_EQ(cv::imread(dir.file("t.png")).size(), cv::Size(1000, 380));
  detect::InputResult bad;
  bad.status = "unreadable";
  EXPECT_THROW(detect::render_timeline(bad), Error);
}

// ---- the command line -------------------------------------------------------------------------

TEST(VideoCli, JsonAndTimelineOfAClip) {
  SKIP_WITHOUT_PHOTOS();
  test::TempDir dir;
  const std::string clip = small_clip(dir, 20, 8, 12);
  const std::string out = dir.file("pictures");
  const std::string cmd = std::string(SOLA_CLI_PATH) + " detect --json --frames 10 --threads 1 --model " +
                          SOLA_SOURCE_DIR + "/models/sola-dfdc.pt --timeline " + out + " " + clip + " 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string text;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) text.append(buf.data(), n);
  ASSERT_EQ(pclose(pipe), 0) << text;
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j.at("kind"), "video");
  EXPECT_EQ(j.at("timeline").size(), 10u);
  EXPECT_EQ(j.at("aggregation").at("frames_scored"), 8);
  EXPECT_TRUE(fs::exists(out + "/clip_timeline.png"));
  int heatmaps = 0;
  for (const auto& e : fs::directory_iterator(out))
    heatmaps += e.path().filename().string().rfind("clip_f", 0) == 0 ? 1 : 0;
  EXPECT_EQ(heatmaps, 1);  // the face of the highest-scoring frame
}

/// Runs `sola ARGS` with stdout captured; (exit status, stdout). stderr goes to `err_file`.
std::pair<int, std::string> run_cli(const std::string& args, const std::string& err_file) {
  const std::string cmd = std::string(SOLA_CLI_PATH) + " " + args + " 2>" + err_file;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {-1, ""};
  std::string text;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) text.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(VideoCli, AnOutputFolderThatCannotBeWrittenIsRefusedBeforeAnyInput) {
  SKIP_WITHOUT_PHOTOS();
  test::TempDir dir;
  const std::string clip = small_clip(dir, 10);
  // /proc exists and is a folder, but nobody (root included) can create a file in it.
  for (const std::string option : {"--timeline", "--heatmaps"}) {
    const auto [code, out] = run_cli("detect --frames 2 --threads 1 --model " + std::string(SOLA_SOURCE_DIR) +
                                         "/models/sola-dfdc.pt " + option + " /proc " + clip,
                                     dir.file("err.txt"));
    const std::string err = file_text(dir.file("err.txt"));
    EXPECT_EQ(code, 1) << out << err;
    EXPECT_NE(err.find("/proc: cannot write " + option + " files into this folder"), std::string::npos) << err;
    EXPECT_EQ(out.find("clip.avi"), std::string::npos) << "an input was read before the folder was checked: " << out;
  }
}

TEST(VideoCli, APictureThatCannotBeWrittenFailsItsInputAndTheRunGoesOn) {
  SKIP_WITHOUT_PHOTOS();
  test::TempDir dir;
  fs::create_directories(dir.path / "a");
  fs::create_directories(dir.path / "b");
  const std::string a = (dir.path / "a" / "one.avi").string(), b = (dir.path / "b" / "two.avi").string();
  fs::copy_file(small_clip(dir, 10), a);
  fs::rename(dir.file("clip.avi"), b);
  const std::string out = dir.file("pictures");
  fs::create_directories(out + "/one_timeline.png");  // a folder where the first video's timeline goes
  const auto [code, text] = run_cli("detect --json --frames 2 --threads 1 --model " + std::string(SOLA_SOURCE_DIR) +
                                        "/models/sola-dfdc.pt --timeline " + out + " " + a + " " + b,
                                    dir.file("err.txt"));
  const std::string err = file_text(dir.file("err.txt"));
  EXPECT_EQ(code, 1) << text << err;  // a failure, reported ...
  std::istringstream lines(text);
  std::vector<nlohmann::json> results;
  for (std::string line; std::getline(lines, line);) results.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(results.size(), 2u) << text << err;  // ... but both videos have their score
  EXPECT_EQ(results[0].at("status"), "ok");
  EXPECT_TRUE(results[0].at("score").is_number());
  EXPECT_NE(results[0].at("output_error").get<std::string>().find("one_timeline.png"), std::string::npos) << results[0];
  EXPECT_EQ(results[1].at("status"), "ok");
  EXPECT_FALSE(results[1].contains("output_error"));
  EXPECT_TRUE(fs::is_regular_file(out + "/two_timeline.png"));
  EXPECT_NE(err.find("1 whose pictures could not be written"), std::string::npos) << err;
}

TEST(VideoDetect, AnAviWrittenThroughAPipeHasItsTrueLength) {
  // FFmpeg cannot go back to fill in the header of an AVI written to a pipe: OpenCV reads 2^30 frames.
  test::TempDir dir;
  const std::string bytes = test::piped_avi(30, 32, 32, 10);
  ASSERT_FALSE(bytes.empty());
  const std::string file = dir.file("piped.avi");
  std::ofstream(file, std::ios::binary) << bytes;
  data::VideoReader reader(file);
  EXPECT_EQ(reader.frame_count(), 0);  // unknown: more frames than bytes cannot be
  EXPECT_EQ(reader.width(), 32);
  EXPECT_EQ(reader.height(), 32);
  EXPECT_EQ(reader.count_frames(20), 20);
  EXPECT_EQ(reader.count_frames(1000), 30);
  detect::DetectOptions o;
  o.crops = true;
  o.frames = 4;
  detect::Detector det(small_model(), o);
  const auto r = det.detect_file(file);
  ASSERT_EQ(r.status, "ok") << r.error;
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();  // before: "ends after 30 of the 1073741824 frames"
  EXPECT_EQ(r.frames_read, 4);
}

}  // namespace
}  // namespace sola
