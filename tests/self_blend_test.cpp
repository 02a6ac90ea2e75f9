// Self-blended pseudo-fakes: the mask/changed-pixel invariant, reproducibility, shapes, fallbacks,
// option checks, and the landmark helper on a real DFDC crop; `sola synth` on inputs it cannot use.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "data/face.h"
#include "data/self_blend.h"
#include "test_util.h"

namespace sola {
namespace {

using data::SelfBlendOptions;
using data::SelfBlendResult;

const char* const kFacesDir = "/usr/share/doc/libdlib19.1/examples/faces/";

/// A face photo cropped around one face, with that face's box and 68 landmarks in crop coordinates.
struct FaceCrop {
  cv::Mat image;
  cv::Rect2f box;
  std::vector<cv::Point2f> landmarks;
};

/// The first face of 2008_002506.jpg (a 109 px face) in a 218 px square crop, its landmarks taken
/// from dlib's own annotation file (so the test needs no detector).
const FaceCrop& dlib_face() {
  static const FaceCrop crop = [] {
    const std::string dir = kFacesDir;
    std::ifstream in(dir + "testing_with_face_landmarks.xml");
    std::stringstream text;
    text << in.rdbuf();
    const std::string xml = text.str();
    const size_t at = xml.find("<image file='2008_002506.jpg'");
    if (at == std::string::npos) throw std::runtime_error("2008_002506.jpg not in the landmark file");
    const std::string rest = xml.substr(at);
    std::smatch m;
    if (!std::regex_search(rest, m, std::regex("<box top='(\\d+)' left='(\\d+)' width='(\\d+)' height='(\\d+)'"))) {
      throw std::runtime_error("no box for 2008_002506.jpg");
    }
    const cv::Rect2f box(std::stof(m[2]), std::stof(m[1]), std::stof(m[3]), std::stof(m[4]));
    const cv::Rect roi(cvRound(box.x + box.width / 2 - box.width), cvRound(box.y + box.height / 2 - box.height),
                       cvRound(2 * box.width), cvRound(2 * box.height));
    FaceCrop c;
    const cv::Mat full = cv::imread(dir + "2008_002506.jpg", cv::IMREAD_COLOR);
    if (full.empty()) throw std::runtime_error("cannot read 2008_002506.jpg");
    c.image = full(roi).clone();
    c.box = cv::Rect2f(box.x - roi.x, box.y - roi.y, box.width, box.height);
    const std::regex part("<part name='\\d+' x='(\\d+)' y='(\\d+)'/>");
    for (auto it = std::sregex_iterator(rest.begin(), rest.end(), part); it != std::sregex_iterator() &&
                                                                          c.landmarks.size() < 68;
         ++it) {
      c.landmarks.emplace_back(std::stof((*it)[1]) - roi.x, std::stof((*it)[2]) - roi.y);
    }
    return c;
  }();
  return crop;
}

/// Byte-for-byte equality of two matrices (type, size and data).
bool same(const cv::Mat& a, const cv::Mat& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  const cv::Mat ca = a.isContinuous() ? a : a.clone(), cb = b.isContinuous() ? b : b.clone();
  return std::memcmp(ca.data, cb.data, ca.total() * ca.elemSize()) == 0;
}

/// Checks everything self_blend promises about one result for an input `image`; returns the
/// number of mask pixels.
int check_result(const SelfBlendResult& r, const cv::Mat& image, const SelfBlendOptions& o, const std::string& what) {
  const cv::Size size = image.size();
  EXPECT_EQ(r.fake.type(), CV_8UC3) << what;
  EXPECT_EQ(r.source.type(), CV_8UC3) << what;
  EXPECT_EQ(r.target.type(), CV_8UC3) << what;
  EXPECT_EQ(r.weight.type(), CV_32FC1) << what;
  EXPECT_EQ(r.mask.type(), CV_8UC1) << what;
  for (const cv::Mat* m : {&r.fake, &r.source, &r.target, &r.weight, &r.mask}) EXPECT_EQ(m->size(), size) << what;
  if (!r.target_transformed) {
    EXPECT_TRUE(same(r.target, image)) << what << ": untransformed target is the input";
  }
  int in_mask = 0, bad_mask = 0, bad_fake = 0, bad_weight = 0, below_floor = 0;
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      const cv::Vec3b f = r.fake.at<cv::Vec3b>(y, x), t = r.target.at<cv::Vec3b>(y, x), s = r.source.at<cv::Vec3b>(y, x);
      const float w = r.weight.at<float>(y, x);
      const uchar m = r.mask.at<uchar>(y, x);
      const bool differs = f != t;
      bad_mask += (m != 0 && m != 255) || ((m == 255) != differs);
      bad_weight += !(w >= 0.f && w <= 1.f) || ((w > 0.f) != (m == 255));
      int largest = 0;
      for (int c = 0; c < 3; ++c) {
        const float tc = t[c];
        bad_fake += f[c] != cv::saturate_cast<uchar>(tc + w * (static_cast<float>(s[c]) - tc));
        largest = std::max(largest, std::abs(int(s[c]) - int(t[c])));
      }
      below_floor += largest < o.min_difference;
      in_mask += m == 255;
    }
  }
  EXPECT_EQ(bad_mask, 0) << what << ": mask pixels that disagree with fake != target";
  EXPECT_EQ(bad_weight, 0) << what << ": weights out of [0, 1] or disagreeing with the mask";
  EXPECT_EQ(bad_fake, 0) << what << ": fake channels that are not target + weight * (source - target)";
  EXPECT_EQ(below_floor, 0) << what << ": source pixels closer than min_difference to the target";
  EXPECT_GT(in_mask, 0) << what << ": empty mask";
  EXPECT_LT(in_mask, size.area()) << what << ": the whole image is masked";
  return in_mask;
}

/// Centre of mass of a 0/255 mask.
cv::Point2d centroid(const cv::Mat& mask) {
  const cv::Moments m = cv::moments(mask, true);
  return {m.m10 / m.m00, m.m01 / m.m00};
}

TEST(SelfBlend, MaskIsExactlyWhereTheFakeDiffersOnARealFace) {
  const FaceCrop& face = dlib_face();
  ASSERT_EQ(face.landmarks.size(), 68u);
  const SelfBlendOptions o;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    const SelfBlendResult r = data::self_blend(face.image, face.landmarks, {}, seed, o);
    const std::string what = "seed " + std::to_string(seed) + " shape " + r.shape;
    const int n = check_result(r, face.image, o, what);
    // Around the face: the mask's centre lies in the face box, and it covers a good part of it.
    EXPECT_TRUE(face.box.contains(cv::Point2f(centroid(r.mask)))) << what;
    EXPECT_GT(n, 0.2 * face.box.area()) << what;
    EXPECT_NE(r.shape, "ellipse") << what;
    // The blend is visible where it is strongest: mean change in the mask over a grey level.
    cv::Mat diff;
    cv::absdiff(r.fake, r.target, diff);
    EXPECT_GT(cv::mean(diff, r.mask)[0] + cv::mean(diff, r.mask)[1] + cv::mean(diff, r.mask)[2], 1.0) << what;
  }
}

TEST(SelfBlend, EveryShapeKeepsTheInvariant) {
  const FaceCrop& face = dlib_face();
  for (const std::string& shape : data::self_blend_shapes()) {
    SelfBlendOptions o;
    o.shapes = {shape};
    for (uint64_t seed = 10; seed < 13; ++seed) {
      const SelfBlendResult r = data::self_blend(face.image, face.landmarks, face.box, seed, o);
      EXPECT_EQ(r.shape, shape);
      check_result(r, face.image, o, shape + " seed " + std::to_string(seed));
    }
  }
}

TEST(SelfBlend, ShapesDifferInExtent) {
  // With no deformation, "inner" lies within "hull" and "extended" reaches above it.
  SelfBlendOptions o;
  o.elastic_p = o.morph_p = o.geometric_p = 0.0;
  o.blend_ratios = {1.0};
  const FaceCrop& face = dlib_face();
  auto mask_of = [&](const std::string& shape) {
    o.shapes = {shape};
    return data::self_blend(face.image, face.landmarks, {}, 3, o).mask;
  };
  const cv::Mat hull = mask_of("hull"), inner = mask_of("inner"), extended = mask_of("extended");
  EXPECT_LT(cv::countNonZero(inner), cv::countNonZero(hull));
  EXPECT_GT(cv::countNonZero(extended), cv::countNonZero(hull));
  EXPECT_LT(cv::boundingRect(extended).y, cv::boundingRect(hull).y);
}

TEST(SelfBlend, SameSeedSameBytesOtherSeedsDiffer) {
  const FaceCrop& face = dlib_face();
  const SelfBlendResult a = data::self_blend(face.image, face.landmarks, {}, 42);
  const SelfBlendResult b = data::self_blend(face.image, face.landmarks, {}, 42);
  EXPECT_TRUE(same(a.fake, b.fake));
  EXPECT_TRUE(same(a.mask, b.mask));
  EXPECT_TRUE(same(a.weight, b.weight));
  EXPECT_TRUE(same(a.source, b.source));
  EXPECT_EQ(a.shape, b.shape);
  for (uint64_t seed : {43, 44, 1000}) {
    const SelfBlendResult c = data::self_blend(face.image, face.landmarks, {}, seed);
    EXPECT_FALSE(same(a.fake, c.fake)) << "seed " << seed;
    EXPECT_FALSE(same(a.mask, c.mask)) << "seed " << seed;
  }
}

TEST(SelfBlend, TargetProbabilityChoosesWhatIsTransformed) {
  const FaceCrop& face = dlib_face();
  SelfBlendOptions o;
  o.target_p = 0.0;
  const SelfBlendResult kept = data::self_blend(face.image, face.landmarks, {}, 5, o);
  EXPECT_FALSE(kept.target_transformed);
  EXPECT_TRUE(same(kept.target, face.image));
  o.target_p = 1.0;
  const SelfBlendResult moved = data::self_blend(face.image, face.landmarks, {}, 5, o);
  EXPECT_TRUE(moved.target_transformed);
  EXPECT_FALSE(same(moved.target, face.image));
  check_result(moved, face.image, o, "transformed target");
}

TEST(SelfBlend, StageOffLeavesTheOtherChoicesAlone) {
  // Switching the colour stages off changes pixels, not the random shape, mask or weights.
  const FaceCrop& face = dlib_face();
  SelfBlendOptions on;
  on.blend_ratios = {1.0};
  SelfBlendOptions off = on;
  off.rgb_shift_p = off.hsv_p = off.brightness_contrast_p = off.frequency_p = 0.0;
  off.min_difference = 255 / 8;  // every source pixel is then moved by the floor, so weights > 1/60 show
  on.min_difference = off.min_difference;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    const SelfBlendResult a = data::self_blend(face.image, face.landmarks, {}, seed, on);
    const SelfBlendResult b = data::self_blend(face.image, face.landmarks, {}, seed, off);
    EXPECT_EQ(a.shape, b.shape);
    EXPECT_EQ(a.target_transformed, b.target_transformed);
    EXPECT_FALSE(same(a.fake, b.fake)) << "seed " << seed;
    // The weights agree wherever both blends changed the pixel.
    cv::Mat both;
    cv::bitwise_and(a.mask, b.mask, both);
    EXPECT_GT(cv::countNonZero(both), 0.9 * std::max(cv::countNonZero(a.mask), cv::countNonZero(b.mask)));
    cv::Mat wa, wb;
    a.weight.copyTo(wa, both);
    b.weight.copyTo(wb, both);
    EXPECT_TRUE(same(wa, wb)) << "seed " << seed;
  }
}

TEST(SelfBlend, EllipseFallbackAroundTheBoxWithoutLandmarks) {
  const FaceCrop& face = dlib_face();
  for (uint64_t seed = 0; seed < 6; ++seed) {
    const std::string what = "seed " + std::to_string(seed);
    const SelfBlendResult r = data::self_blend(face.image, {}, face.box, seed);
    EXPECT_EQ(r.shape, "ellipse");
    check_result(r, face.image, SelfBlendOptions{}, what);
    // Inside the box enlarged by half its size a side, and centred in the box's middle half.
    const cv::Rect2f box = face.box;
    const cv::Rect2f near(box.x - box.width / 2, box.y - box.height / 2, 2 * box.width, 2 * box.height);
    const cv::Rect bounds = cv::boundingRect(r.mask);
    EXPECT_TRUE(near.contains(bounds.tl()) && near.contains(bounds.br())) << what;
    const cv::Rect2f middle(box.x + box.width / 4, box.y + box.height / 4, box.width / 2, box.height / 2);
    EXPECT_TRUE(middle.contains(cv::Point2f(centroid(r.mask)))) << what;
  }
}

TEST(SelfBlend, CentredEllipseWithoutLandmarksOrBox) {
  cv::Mat image(120, 160, CV_8UC3);
  cv::randu(image, cv::Scalar::all(0), cv::Scalar::all(256));
  cv::GaussianBlur(image, image, cv::Size(0, 0), 2.0);
  for (uint64_t seed = 0; seed < 4; ++seed) {
    const std::string what = "seed " + std::to_string(seed);
    const SelfBlendResult r = data::self_blend(image, {}, {}, seed);
    EXPECT_EQ(r.shape, "ellipse");
    const int n = check_result(r, image, SelfBlendOptions{}, what);
    EXPECT_EQ(r.mask.at<uchar>(60, 80), 255) << what << ": the image centre is blended";
    EXPECT_LT(n, 0.8 * image.total()) << what;
    EXPECT_GT(n, 0.15 * image.total()) << what;
  }
  // A box entirely outside the image falls back to the centred box.
  const SelfBlendResult r = data::self_blend(image, {}, cv::Rect2f(500, 500, 40, 40), 1);
  EXPECT_EQ(r.mask.at<uchar>(60, 80), 255);
}

/// Pixels of a 0/255 mask that are 0 and not connected to the image border (holes).
int holes(const cv::Mat& mask) {
  cv::Mat padded;
  cv::copyMakeBorder(mask, padded, 1, 1, 1, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
  cv::floodFill(padded, cv::Point(0, 0), cv::Scalar(128));
  return static_cast<int>(padded.total()) - cv::countNonZero(padded);
}

TEST(SelfBlend, FlatAndSaturatedImagesGiveSolidMasks) {
  // No texture for the geometric stage and no headroom for colour shifts at 0 and 255: the floor
  // step alone must make the blend visible, over the whole region of large weights.
  for (const int level : {0, 128, 255}) {
    const cv::Mat image(96, 96, CV_8UC3, cv::Scalar::all(level));
    for (uint64_t seed = 0; seed < 4; ++seed) {
      const std::string what = "level " + std::to_string(level) + " seed " + std::to_string(seed);
      const SelfBlendResult r = data::self_blend(image, {}, {}, seed);
      check_result(r, image, SelfBlendOptions{}, what);
      EXPECT_EQ(r.mask.at<uchar>(48, 48), 255) << what;
      EXPECT_EQ(holes(r.mask), 0) << what;
    }
  }
}

TEST(SelfBlend, LandmarksOutsideTheImageFallBackToTheEllipse) {
  const FaceCrop& face = dlib_face();
  std::vector<cv::Point2f> far = face.landmarks;
  for (cv::Point2f& p : far) p += cv::Point2f(1000.f, 0.f);
  SelfBlendOptions o;
  o.shapes = {"hull"};
  const SelfBlendResult r = data::self_blend(face.image, far, face.box, 2, o);
  EXPECT_EQ(r.shape, "ellipse");
  check_result(r, face.image, o, "far landmarks");
}

TEST(SelfBlend, RejectsBadOptionsAndInputs) {
  const FaceCrop& face = dlib_face();
  auto message = [&](const SelfBlendOptions& o) {
    return test::error_message<ConfigError>([&] { data::self_blend(face.image, face.landmarks, {}, 0, o); });
  };
  SelfBlendOptions o;
  o.blend_ratios = {0.5, 1.5};
  EXPECT_NE(message(o).find("blend_ratios"), std::string::npos) << message(o);
  o.blend_ratios = {};
  EXPECT_NE(message(o).find("blend_ratios"), std::string::npos) << message(o);
  o.blend_ratios = {0.0, 1.0};
  EXPECT_NE(message(o).find("(0, 1]"), std::string::npos) << message(o);
  o = {};
  o.shapes = {"hull", "square"};
  EXPECT_NE(message(o).find("'square'"), std::string::npos) << message(o);
  o = {};
  o.rgb_shift_p = 2.0;
  EXPECT_NE(message(o).find("rgb_shift_p"), std::string::npos) << message(o);
  o = {};
  o.downscale_max = 1.2;  // below downscale_min
  EXPECT_NE(message(o).find("downscale_max"), std::string::npos) << message(o);
  o = {};
  o.blur_min = std::nan("");
  EXPECT_NE(message(o).find("blur_min"), std::string::npos) << message(o);
  o = {};
  o.min_difference = 2;  // 0.25 * 2 = 0.5 may round to no change
  EXPECT_NE(message(o).find("min_difference"), std::string::npos) << message(o);
  o.blend_ratios = {0.5, 1.0};
  EXPECT_NO_THROW(o.validate());
  EXPECT_NO_THROW(SelfBlendOptions{}.validate());

  EXPECT_THROW(data::self_blend(cv::Mat(), {}, {}, 0), std::invalid_argument);
  EXPECT_THROW(data::self_blend(cv::Mat(10, 10, CV_8UC1, cv::Scalar(0)), {}, {}, 0), std::invalid_argument);
  const std::vector<cv::Point2f> five(face.landmarks.begin(), face.landmarks.begin() + 5);
  EXPECT_THROW(data::self_blend(face.image, five, {}, 0), std::invalid_argument);
}

TEST(SelfBlend, PlausibleLandmarks) {
  const FaceCrop& face = dlib_face();
  EXPECT_TRUE(data::plausible_landmarks(face.landmarks, face.image.size()));
  EXPECT_FALSE(data::plausible_landmarks({}, face.image.size()));
  std::vector<cv::Point2f> pts = face.landmarks;
  pts.pop_back();
  EXPECT_FALSE(data::plausible_landmarks(pts, face.image.size()));
  pts = face.landmarks;
  pts[30].x = std::nanf("");
  EXPECT_FALSE(data::plausible_landmarks(pts, face.image.size()));
  pts = face.landmarks;
  for (cv::Point2f& p : pts) p.x += 200.f;  // mostly off the right edge
  EXPECT_FALSE(data::plausible_landmarks(pts, face.image.size()));
  pts = face.landmarks;
  for (cv::Point2f& p : pts) p = p * 0.05f;  // a speck
  EXPECT_FALSE(data::plausible_landmarks(pts, face.image.size()));
}

TEST(SelfBlend, FindLandmarksOnADfdcCropKeepsTheInvariant) {
  SOLA_REQUIRE_SHARED_DATA(shared);
  const std::string file = shared + "/dfdc/train/real/aabqcugcpc.jpg";
  const cv::Mat image = cv::imread(file, cv::IMREAD_COLOR);
  ASSERT_FALSE(image.empty()) << file;
  auto detector = data::make_face_detector();
  const data::LandmarkPredictor predictor;
  cv::Rect2f box;
  const std::vector<cv::Point2f> landmarks = data::find_landmarks(image, *detector, predictor, &box);
  ASSERT_EQ(landmarks.size(), 68u) << "no face found in " << file;
  EXPECT_GT(box.area(), 0.f);
  EXPECT_TRUE(box.contains(landmarks[30])) << "nose tip inside the face box";
  const SelfBlendOptions o;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    const SelfBlendResult r = data::self_blend(image, landmarks, box, seed, o);
    check_result(r, image, o, file + " seed " + std::to_string(seed));
    EXPECT_TRUE(box.contains(cv::Point2f(centroid(r.mask))));
  }

  // No face in a flat grey image: no landmarks and an empty box.
  box = cv::Rect2f(1, 1, 1, 1);
  EXPECT_TRUE(data::find_landmarks(cv::Mat(224, 224, CV_8UC3, cv::Scalar::all(128)), *detector, predictor, &box).empty());
  EXPECT_TRUE(box.empty());
}

TEST(SynthCli, InputsOfWhichNoneIsAnImageAreRefusedWritingNothing) {
  // Before: rc 1 and a manifest of a header only, which read_manifest then refuses.
  test::TempDir dir;
  for (const char* name : {"a.jpg", "b.png", "notes/c.jpg"}) {
    std::filesystem::create_directories(std::filesystem::path(dir.file("in/" + std::string(name))).parent_path());
    std::ofstream(dir.file("in/" + std::string(name))) << "not an image\n";
  }
  const std::string out = dir.file("out");
  const std::string cmd = std::string(SOLA_CLI_PATH) + " synth --images " + dir.file("in") + " --out " + out + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string text;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) text.append(buf, n);
  const int status = pclose(pipe);
  EXPECT_NE(status, 0) << text;
  EXPECT_NE(text.find("none of the 3 input files is an image sola can read"), std::string::npos) << text;
  EXPECT_NE(text.find("'" + dir.file("in/a.jpg") + "'"), std::string::npos) << text;
  EXPECT_NE(text.find("nothing written to " + out), std::string::npos) << text;
  EXPECT_FALSE(std::filesystem::exists(out)) << "nothing is written";
}

}  // namespace
}  // namespace sola
