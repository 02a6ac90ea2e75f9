// Face detection, landmarks, the 2.6x face crop and mask crops.
#include <filesystem>
#include <fstream>
#include <memory>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "data/face.h"
#include "data/video.h"
#include "test_util.h"

namespace sola {
namespace {

namespace fs = std::filesystem;
using data::Face;
using data::FaceDetectorOptions;

/// A photo with one face from libdlib19.1's documentation (empty when the docs are not installed).
std::string dlib_face_photo() {
  const std::string file = "/usr/share/doc/libdlib19.1/examples/faces/Tom_Cruise_avp_2014_4.jpg";
  return fs::exists(file) ? file : std::string();
}

cv::Point2f centre(const cv::Rect2f& r) { return {r.x + r.width / 2, r.y + r.height / 2}; }

/// Detectors are slow to make (the landmark model is 100 MB): one of each for all tests.
class FaceDetection : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const std::string& m : data::face_detector_methods()) {
      FaceDetectorOptions o;
      o.method = m;
      o.landmarks = m == "dlib-hog";
      detectors().push_back(data::make_face_detector(o));
    }
  }
  static void TearDownTestSuite() { detectors().clear(); }
  static std::vector<std::unique_ptr<data::FaceDetector>>& detectors() {
    static std::vector<std::unique_ptr<data::FaceDetector>> d;
    return d;
  }
  static data::FaceDetector& hog() { return *detectors().front(); }
};

TEST_F(FaceDetection, EveryMethodFindsTheFaceInAnFfppFrame) {
  SOLA_REQUIRE_SHARED_DATA(shared);
  const cv::Mat img = data::read_image_bgr(shared + "/ffpp-examples/ex_original.png");
  ASSERT_EQ(detectors().size(), 3u);
  for (auto& d : detectors()) {
    SCOPED_TRACE(d->name());
    const std::vector<Face> faces = d->detect(img);
    ASSERT_FALSE(faces.empty());
    // The presenter's face is centred near (350, 135) and about 110 px wide.
    const Face& f = faces.front();
    EXPECT_NEAR(centre(f.box).x, 350, 25);
    EXPECT_NEAR(centre(f.box).y, 135, 25);
    EXPECT_GT(f.box.width, 70);
    EXPECT_LT(f.box.width, 160);
    EXPECT_GT(f.score, 0);
  }
  EXPECT_EQ(hog().name(), "dlib-hog");
  EXPECT_EQ(hog().detect(img).front().landmarks.size(), 68u);
}

TEST_F(FaceDetection, FindsTheFaceInADlibExamplePhoto) {
  const std::string file = dlib_face_photo();
  if (file.empty()) GTEST_SKIP() << "libdlib19.1 example photos not installed";
  const cv::Mat img = data::read_image_bgr(file);
  const std::vector<Face> faces = hog().detect(img);
  ASSERT_EQ(faces.size(), 1u);
  EXPECT_NEAR(centre(faces[0].box).x, 281, 30);
  EXPECT_NEAR(centre(faces[0].box).y, 503, 30);
  EXPECT_GT(faces[0].box.width, 300);
}

TEST_F(FaceDetection, NoFaceInBlankImages) {
  cv::Mat blank(240, 320, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::Mat gradient(240, 320, CV_8UC1);
  for (int y = 0; y < gradient.rows; ++y) gradient.row(y).setTo(y);
  for (auto& d : detectors()) {
    SCOPED_TRACE(d->name());
    EXPECT_TRUE(d->detect(blank).empty());
    EXPECT_TRUE(d->detect(gradient).empty());
    EXPECT_TRUE(d->detect(cv::Mat()).empty());
  }
  EXPECT_THROW(hog().detect(cv::Mat(64, 64, CV_32FC3, cv::Scalar::all(0))), Error);
}

TEST_F(FaceDetection, SmallFacesAreFoundDownToMinFace) {
  const std::string file = dlib_face_photo();
  if (file.empty()) GTEST_SKIP() << "libdlib19.1 example photos not installed";
  cv::Mat img = data::read_image_bgr(file);
  // Face about 400 px wide -> about 56 px: below dlib's 80 px window, found by upsampling.
  cv::resize(img, img, cv::Size(), 0.14, 0.14, cv::INTER_AREA);
  const auto faces = hog().detect(img);  // min_face 40 by default
  ASSERT_EQ(faces.size(), 1u);
  EXPECT_NEAR(faces[0].box.width, 56, 12);
  FaceDetectorOptions o;
  o.min_face = 80;  // no upsampling, and the face would be too small anyway
  EXPECT_TRUE(data::make_face_detector(o)->detect(img).empty());
}

TEST_F(FaceDetection, LargeImagesAreDownscaledForDetectionOnly) {
  SOLA_REQUIRE_SHARED_DATA(shared);
  const cv::Mat img = data::read_image_bgr(shared + "/ffpp-examples/ex_original.png");
  cv::Mat big;
  cv::resize(img, big, cv::Size(), 3, 3, cv::INTER_LINEAR);  // 1920x1440 > max_side 1280
  const auto small_faces = hog().detect(img);
  const auto big_faces = hog().detect(big);
  ASSERT_FALSE(small_faces.empty());
  ASSERT_FALSE(big_faces.empty());
  // Boxes come back in the coordinates of the image given.
  EXPECT_NEAR(centre(big_faces[0].box).x, 3 * centre(small_faces[0].box).x, 15);
  EXPECT_NEAR(centre(big_faces[0].box).y, 3 * centre(small_faces[0].box).y, 15);
  EXPECT_NEAR(big_faces[0].box.width, 3 * small_faces[0].box.width, 30);
}

TEST_F(FaceDetection, LandmarksLieOnTheFace) {
  SOLA_REQUIRE_SHARED_DATA(shared);
  const cv::Mat img = data::read_image_bgr(shared + "/ffpp-examples/ex_original.png");
  const auto faces = hog().detect(img);
  ASSERT_FALSE(faces.empty());
  const Face& f = faces.front();
  ASSERT_EQ(f.landmarks.size(), 68u);
  const float m = 0.25f * f.box.width;
  const cv::Rect2f around(f.box.x - m, f.box.y - m, f.box.width + 2 * m, f.box.height + 2 * m);
  for (const cv::Point2f& p : f.landmarks) EXPECT_TRUE(around.contains(p)) << p;
  auto mean = [&](int from, int to) {
    cv::Point2f s(0, 0);
    for (int i = from; i < to; ++i) s += f.landmarks[i];
    return s / static_cast<float>(to - from);
  };
  const cv::Point2f eye1 = mean(36, 42), eye2 = mean(42, 48), mouth = mean(48, 68);
  EXPECT_LT(eye1.x, eye2.x);  // subject's right eye is on the image's left
  EXPECT_LT(eye1.y, mouth.y);
  EXPECT_LT(eye2.y, mouth.y);
  EXPECT_NEAR(eye2.x - eye1.x, 0.45 * f.box.width, 0.15 * f.box.width);

  // The predictor on its own gives the same points.
  const data::LandmarkPredictor predictor;
  const auto again = predictor.predict(img, f.box);
  ASSERT_EQ(again.size(), 68u);
  EXPECT_EQ(again[30], f.landmarks[30]);
}

TEST(FaceDetector, BadMethodsAndFilesAreReported) {
  test::TempDir dir;
  FaceDetectorOptions o;
  o.method = "mtcnn";
  EXPECT_NE(test::error_message<ConfigError>([&] { data::make_face_detector(o); }).find("'mtcnn'"),
            std::string::npos);
  o.method = "dlib-hog";
  o.min_face = 0;
  EXPECT_NE(test::error_message<ConfigError>([&] { data::make_face_detector(o); }).find("min_face"),
            std::string::npos);
  o = {};
  o.method = "haar";
  o.cascade_file = dir.file("missing.xml");
  EXPECT_NE(test::error_message<IoError>([&] { data::make_face_detector(o); }).find(o.cascade_file),
            std::string::npos);
  std::ofstream(dir.file("bad.xml")) << "<opencv_storage><nothing/></opencv_storage>\n";
  o.cascade_file = dir.file("bad.xml");
  EXPECT_NE(test::error_message<IoError>([&] { data::make_face_detector(o); }).find("bad.xml"), std::string::npos);
}

TEST(LandmarkPredictor, MissingOrCorruptModelIsAnIoError) {
  test::TempDir dir;
  const std::string missing = dir.file("none.dat");
  EXPECT_NE(test::error_message<IoError>([&] { data::LandmarkPredictor p(missing); }).find(missing),
            std::string::npos);
  const std::string bad = dir.file("bad.dat");
  std::ofstream(bad, std::ios::binary) << std::string(1000, '\x7f');
  const std::string msg = test::error_message<IoError>([&] { data::LandmarkPredictor p(bad); });
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape predictor"), std::string::npos) << msg;
  FaceDetectorOptions o;
  o.landmarks = true;
  o.landmarks_file = bad;
  EXPECT_THROW(data::make_face_detector(o), IoError);
}

TEST(Crop, RegionIsCentredOnTheBoxAndScaled) {
  const cv::Rect2f r = data::crop_region(cv::Rect2f(10, 20, 40, 20), 2.6f);
  EXPECT_FLOAT_EQ(r.width, 104);
  EXPECT_FLOAT_EQ(r.height, 104);
  EXPECT_FLOAT_EQ(r.x + r.width / 2, 30);
  EXPECT_FLOAT_EQ(r.y + r.height / 2, 30);
  const cv::Rect2f same = data::crop_region(cv::Rect2f(0, 0, 50, 50), 1.0f);
  EXPECT_EQ(same, cv::Rect2f(0, 0, 50, 50));
}

TEST(Crop, LargestFaceIsTheLargestBox) {
  std::vector<Face> faces(3);
  faces[0].box = cv::Rect2f(0, 0, 10, 10);
  faces[1].box = cv::Rect2f(0, 0, 30, 5);
  faces[2].box = cv::Rect2f(0, 0, 12, 12);
  EXPECT_EQ(data::largest_face(faces), &faces[1]);
  EXPECT_EQ(data::largest_face({}), nullptr);
}

TEST(Crop, PartsOutsideTheImageAreZero) {
  const cv::Mat img(100, 100, CV_8UC3, cv::Scalar(200, 150, 100));
  // Left half of the region lies outside the image.
  const cv::Mat crop = data::crop_square(img, cv::Rect2f(-50, 0, 100, 100), 50, cv::INTER_AREA);
  ASSERT_EQ(crop.size(), cv::Size(50, 50));
  ASSERT_EQ(crop.type(), CV_8UC3);
  EXPECT_EQ(crop.at<cv::Vec3b>(25, 10), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(crop.at<cv::Vec3b>(25, 24), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(crop.at<cv::Vec3b>(25, 25), cv::Vec3b(200, 150, 100));
  EXPECT_EQ(crop.at<cv::Vec3b>(49, 49), cv::Vec3b(200, 150, 100));
  // Entirely outside: all zero.
  EXPECT_EQ(cv::countNonZero(data::crop_square(img, cv::Rect2f(500, 500, 10, 10), 8, cv::INTER_LINEAR)
                                 .reshape(1)),
            0);
  EXPECT_THROW(data::crop_square(img, cv::Rect2f(0, 0, 0, 10), 8, cv::INTER_LINEAR), Error);
  EXPECT_THROW(data::crop_square(img, cv::Rect2f(0, 0, 10, 10), 0, cv::INTER_LINEAR), Error);
  EXPECT_THROW(data::crop_square(cv::Mat(), cv::Rect2f(0, 0, 10, 10), 8, cv::INTER_LINEAR), Error);
}

TEST(Crop, FaceBoxEndsUpCentredAndPointsMapWithIt) {
  cv::Mat img(300, 400, CV_8UC3, cv::Scalar::all(0));
  const cv::Rect box(150, 100, 60, 60);
  img(box).setTo(cv::Scalar::all(255));
  const cv::Rect2f region = data::crop_region(cv::Rect2f(box), 2.6f);  // 156 px side
  const cv::Mat crop = data::crop_square(img, region, 256, cv::INTER_AREA);
  cv::Mat gray;
  cv::cvtColor(crop, gray, cv::COLOR_BGR2GRAY);
  const cv::Rect2f found = data::mask_bounding_box(gray > 127);
  EXPECT_NEAR(centre(found).x, 128, 1);
  EXPECT_NEAR(centre(found).y, 128, 1);
  EXPECT_NEAR(found.width, 60 * 256 / 156.0, 2);
  // The box's corner pixels land on the crop's white square's corners.
  const auto pts = data::to_crop_coordinates({cv::Point2f(150, 100), cv::Point2f(209, 159)}, region, 256);
  EXPECT_NEAR(pts[0].x, found.x, 1.5);
  EXPECT_NEAR(pts[0].y, found.y, 1.5);
  EXPECT_NEAR(pts[1].x, found.x + found.width - 1, 1.5);
  EXPECT_NEAR(pts[1].y, found.y + found.height - 1, 1.5);
}

TEST(Crop, MaskCropStaysBinaryAndAlignedWithTheImageCrop) {
  cv::Mat img(240, 320, CV_8UC3, cv::Scalar(30, 40, 50));
  cv::Mat mask(240, 320, CV_8UC1, cv::Scalar(0));
  cv::circle(img, cv::Point(170, 110), 37, cv::Scalar::all(250), cv::FILLED);
  cv::circle(mask, cv::Point(170, 110), 37, cv::Scalar(255), cv::FILLED);
  for (const int size : {64, 256, 300}) {
    SCOPED_TRACE(size);
    const cv::Rect2f region = data::crop_region(data::mask_bounding_box(mask), 2.6f);
    const cv::Mat img_crop = data::crop_square(img, region, size, cv::INTER_AREA);
    const cv::Mat mask_crop = data::crop_square(mask, region, size, cv::INTER_NEAREST);
    ASSERT_EQ(mask_crop.type(), CV_8UC1);
    EXPECT_EQ(cv::countNonZero(mask_crop == 0) + cv::countNonZero(mask_crop == 255), size * size);
    cv::Mat gray;
    cv::cvtColor(img_crop, gray, cv::COLOR_BGR2GRAY);
    const cv::Mat differ = (gray > 140) != mask_crop;
    // Only pixels on the disc's rim may disagree.
    const double rim = 2 * CV_PI * 37 * size / region.width;
    EXPECT_LT(cv::countNonZero(differ), rim) << "of " << cv::countNonZero(mask_crop);
    const cv::Rect2f a = data::mask_bounding_box(gray > 140), b = data::mask_bounding_box(mask_crop);
    EXPECT_NEAR(a.x, b.x, 1);
    EXPECT_NEAR(a.y, b.y, 1);
    EXPECT_NEAR(a.width, b.width, 1);
  }
}

TEST(Crop, MaskBoundingBox) {
  cv::Mat mask(50, 60, CV_8UC3, cv::Scalar::all(0));
  EXPECT_TRUE(data::mask_bounding_box(mask).empty());
  EXPECT_TRUE(data::mask_bounding_box(cv::Mat()).empty());
  mask.at<cv::Vec3b>(10, 20) = cv::Vec3b(0, 0, 9);  // any channel counts
  mask.at<cv::Vec3b>(30, 5) = cv::Vec3b(255, 0, 0);
  EXPECT_EQ(data::mask_bounding_box(mask), cv::Rect2f(5, 10, 16, 21));
}

TEST_F(FaceDetection, FfppMaskCropCoversTheFace) {
  SOLA_REQUIRE_SHARED_DATA(shared);
  const cv::Mat img = data::read_image_bgr(shared + "/ffpp-examples/ex_deepfakes.png");
  cv::Mat mask;
  cv::cvtColor(data::read_image_bgr(shared + "/ffpp-examples/ex_deepfakes_mask.png"), mask, cv::COLOR_BGR2GRAY);
  mask = mask > 127;
  const cv::Rect2f mask_box = data::mask_bounding_box(mask);
  ASSERT_FALSE(mask_box.empty());
  const auto faces = hog().detect(img);
  ASSERT_FALSE(faces.empty());
  // The manipulated region is the face.
  EXPECT_GT((mask_box & faces[0].box).area(), 0.5 * faces[0].box.area());
  const cv::Rect2f region = data::crop_region(mask_box, 2.6f);
  const cv::Mat mask_crop = data::crop_square(mask, region, 256, cv::INTER_NEAREST);
  EXPECT_EQ(cv::countNonZero(mask_crop == 0) + cv::countNonZero(mask_crop == 255), 256 * 256);
  // The mask box is 1/2.6 of the crop, centred.
  const cv::Rect2f in_crop = data::mask_bounding_box(mask_crop);
  EXPECT_NEAR(centre(in_crop).x, 128, 2);
  EXPECT_NEAR(centre(in_crop).y, 128, 2);
  EXPECT_NEAR(std::max(in_crop.width, in_crop.height), 256 / 2.6, 3);
}

}  // namespace
}  // namespace sola
