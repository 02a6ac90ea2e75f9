#include "data/face.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <utility>

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_processing/shape_predictor.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "core/error.h"
#include "data/video.h"

namespace sola::data {
namespace {

namespace fs = std::filesystem;

/// Side in pixels of the smallest face dlib's HOG detector finds (its 80x80 sliding window).
constexpr int kHogWindow = 80;

/// Cascades: a face needs more than this many overlapping raw detections (OpenCV's default).
constexpr int kMinNeighbours = 3;

/// Default cascade files of opencv-data, by method.
constexpr const char* kHaarCascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
constexpr const char* kLbpCascade = "/usr/share/opencv4/lbpcascades/lbpcascade_frontalface_improved.xml";

void require_file(const std::string& file, const std::string& what) { require_input_file(file, what); }

/// `image` as 8-bit BGR or gray (BGRA loses its alpha). Throws sola::Error for other pixel types.
cv::Mat as_bgr_or_gray(const cv::Mat& image) {
  if (image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3 && image.channels() != 4)) {
    throw Error("face detection needs an 8-bit image with 1, 3 or 4 channels, got depth " +
                std::to_string(image.depth()) + " with " + std::to_string(image.channels()) + " channels");
  }
  if (image.channels() != 4) return image;
  cv::Mat bgr;
  cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
  return bgr;
}

/// `image` as 8-bit gray.
cv::Mat as_gray(const cv::Mat& image) {
  if (image.channels() == 1) return image;
  cv::Mat gray;
  cv::cvtColor(image, gray, image.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
  return gray;
}

/// A box in pixel coordinates as an inclusive dlib rectangle.
dlib::rectangle to_dlib(const cv::Rect2f& box) {
  const long l = std::lround(box.x), t = std::lround(box.y);
  const long r = std::lround(box.x + box.width) - 1, b = std::lround(box.y + box.height) - 1;
  return dlib::rectangle(l, t, std::max(l, r), std::max(t, b));
}

/// The detector-independent part: scaling, min_face filtering, landmarks, order.
class ScaledDetector : public FaceDetector {
 public:
  explicit ScaledDetector(const FaceDetectorOptions& options) : options_(options) {
    if (options.min_face < 1) {
      throw ConfigError("min_face must be at least 1 pixel, got " + std::to_string(options.min_face));
    }
    if (options.max_side < 32) {
      throw ConfigError("max_side must be at least 32 pixels, got " + std::to_string(options.max_side));
    }
    if (options.landmarks) landmarks_ = std::make_unique<LandmarkPredictor>(options.landmarks_file);
  }

  std::vector<Face> detect(const cv::Mat& input) override {
    if (input.empty()) return {};
    const cv::Mat image = as_bgr_or_gray(input);
    return finish(scan(image, full_scale(image)), image, {0, 0});
  }

  std::vector<Face> detect_largest(const cv::Mat& input) override {
    if (input.empty()) return {};
    const cv::Mat image = as_bgr_or_gray(input);
    const double f = full_scale(image);
    const double longer = std::max(image.cols, image.rows);
    std::vector<Face> faces;
    // The scan at f * step^-k covers the full scan's pyramid levels k, k+1, ...: once the levels from
    // `scanned_from` on were scanned and held no face, the finer scans need only the levels above them.
    constexpr int kAll = 0;  // no limit on the pyramid levels of a scan
    int scanned_from = kAll;
    bool unconfirmed = false;  // a coarse face not found again: scan every level from then on, as before
    if (options_.coarse_to_fine) {
      // About 1/4 and 1/2 of the full scale, on the full scan's pyramid levels (boxes come out alike).
      for (const int k : {8, 4}) {
        const double coarse = f * std::pow(kPyramidStep, -k);
        if (longer * coarse < kCoarsestSide) continue;
        const bool limited = !unconfirmed && scanned_from != kAll;
        faces = finish(scan(image, coarse, limited ? scanned_from - k : kAll), image, {0, 0});
        if (faces.empty()) {
          if (!unconfirmed) scanned_from = k;
          continue;
        }
        // A face found at a coarse scale may be near the smallest the detector sees there, where its
        // box comes out too large (no finer pyramid level to settle on): find it again around that
        // box at a scale with room to spare, as a full detection would.
        const Face& coarse_face = faces.front();
        const float side = std::max(coarse_face.box.width, coarse_face.box.height);
        const cv::Point2f c(coarse_face.box.x + coarse_face.box.width / 2, coarse_face.box.y + coarse_face.box.height / 2);
        std::vector<Face> refined = detect_in(image, cv::Rect2f(c.x - side, c.y - side, 2 * side, 2 * side), side);
        if (!refined.empty()) return {refined.front()};
        faces.clear();  // not confirmed: look at the finer scales
        unconfirmed = true;
      }
    }
    faces = finish(scan(image, f, unconfirmed ? kAll : scanned_from), image, {0, 0});
    if (faces.size() > 1) faces.resize(1);  // sorted largest first
    return faces;
  }

  std::vector<Face> detect_in(const cv::Mat& input, const cv::Rect2f& region, float face_side) override {
    if (input.empty() || !(face_side > 0)) return {};
    const cv::Mat image = as_bgr_or_gray(input);
    const cv::Rect r = cv::Rect(cv::Point(static_cast<int>(std::floor(region.x)), static_cast<int>(std::floor(region.y))),
                                cv::Point(static_cast<int>(std::ceil(region.x + region.width)),
                                          static_cast<int>(std::ceil(region.y + region.height)))) &
                       cv::Rect(0, 0, image.cols, image.rows);
    if (r.width < 8 || r.height < 8) return {};
    // A face of face_side becomes 1.6 to 1.9 windows: faces down to about 0.6 face_side are found, and
    // the pyramid has levels around the face's size to fit its box. The scale is one of the full scan's
    // pyramid levels, so that the box comes out as a full-image scan would give it.
    const double full = full_scale(image), target = 1.6 * window() / face_side;
    const double steps = target < full ? std::floor(std::log(full / target) / std::log(kPyramidStep)) : 0.0;
    const double f = full * std::pow(kPyramidStep, -steps);
    return finish(scan(image(r), f), image, cv::Point2f(static_cast<float>(r.x), static_cast<float>(r.y)));
  }

 protected:
  /// Side of the smallest face the detector finds at scale 1.
  virtual int window() const = 0;
  /// The faces in `image` (8-bit BGR or gray, already scaled), in its coordinates; max_levels as in scan().
  virtual std::vector<Face> detect_scaled(const cv::Mat& image, int max_levels) = 0;

 private:
  /// detect_largest never scans an image whose longer side is below this (a face there would have
  /// to fill most of it).
  static constexpr double kCoarsestSide = 200;
  /// The scale step between the levels of dlib's HOG pyramid (pyramid_down<6>: 5/6 per level).
  static constexpr double kPyramidStep = 6.0 / 5.0;

  /// The scale of a full detection: min(max_side / longer side, window / min_face).
  double full_scale(const cv::Mat& image) const {
    const double longer = std::max(image.cols, image.rows);
    return std::min(options_.max_side / longer, static_cast<double>(window()) / options_.min_face);
  }

  /// The faces of `image` scanned at scale f, boxes mapped back to `image`'s coordinates; with
  /// max_levels > 0 only the finest max_levels levels of the detector's image pyramid are scanned
  /// (where the detector has such levels: dlib's HOG; the cascades scan all of theirs).
  std::vector<Face> scan(const cv::Mat& image, double f, int max_levels = 0) {
    cv::Mat scaled = image;
    if (std::abs(f - 1.0) > 1e-6) {
      const cv::Size to(std::max(1, static_cast<int>(std::lround(image.cols * f))),
                        std::max(1, static_cast<int>(std::lround(image.rows * f))));
      cv::resize(image, scaled, to, 0, 0, f < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    }
    const double fx = static_cast<double>(scaled.cols) / image.cols;
    const double fy = static_cast<double>(scaled.rows) / image.rows;
    std::vector<Face> faces = detect_scaled(scaled, max_levels);
    for (Face& face : faces)
      face.box = cv::Rect2f(static_cast<float>(face.box.x / fx), static_cast<float>(face.box.y / fy),
                            static_cast<float>(face.box.width / fx), static_cast<float>(face.box.height / fy));
    return faces;
  }

  /// Boxes shifted by `offset` into `image` (the whole frame), faces below min_face dropped, landmarks
  /// predicted, largest first.
  std::vector<Face> finish(std::vector<Face> found, const cv::Mat& image, cv::Point2f offset) const {
    std::vector<Face> faces;
    for (Face& face : found) {
      face.box.x += offset.x;
      face.box.y += offset.y;
      if (std::max(face.box.width, face.box.height) < options_.min_face) continue;
      if (landmarks_) face.landmarks = landmarks_->predict(image, face.box);
      faces.push_back(std::move(face));
    }
    std::stable_sort(faces.begin(), faces.end(), [](const Face& a, const Face& b) {
      if (a.box.area() != b.box.area()) return a.box.area() > b.box.area();
      return a.score > b.score;
    });
    return faces;
  }

  FaceDetectorOptions options_;
  std::unique_ptr<LandmarkPredictor> landmarks_;
};

/// dlib's frontal face detector: HOG features, 5 linear SVMs (front, left, right, ...).
class DlibHogDetector : public ScaledDetector {
  /// Deserializing the detector takes most of a second; copies of one made once are cheap.
  static const dlib::frontal_face_detector& prototype() {
    static const dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
    return detector;
  }

 public:
  explicit DlibHogDetector(const FaceDetectorOptions& options)
      : ScaledDetector(options), detector_(prototype()) {}
  std::string name() const override { return "dlib-hog"; }

 protected:
  int window() const override { return kHogWindow; }
  std::vector<Face> detect_scaled(const cv::Mat& image, int max_levels) override {
    dlib::frontal_face_detector& detector = max_levels > 0 ? with_levels(max_levels) : detector_;
    std::vector<dlib::rect_detection> dets;
    if (image.channels() == 3) {
      detector(dlib::cv_image<dlib::bgr_pixel>(image), dets);
    } else {
      detector(dlib::cv_image<unsigned char>(image), dets);
    }
    std::vector<Face> faces;
    for (const dlib::rect_detection& d : dets) {
      Face face;
      face.box = cv::Rect2f(static_cast<float>(d.rect.left()), static_cast<float>(d.rect.top()),
                            static_cast<float>(d.rect.width()), static_cast<float>(d.rect.height()));
      face.score = static_cast<float>(d.detection_confidence);
      faces.push_back(std::move(face));
    }
    return faces;
  }

 private:
  /// The detector scanning only the finest `levels` levels of its pyramid (made once per count).
  dlib::frontal_face_detector& with_levels(int levels) {
    auto it = limited_.find(levels);
    if (it == limited_.end()) {
      dlib::frontal_face_detector::image_scanner_type scanner;  // not copyable: its configuration is
      scanner.copy_configuration(detector_.get_scanner());
      scanner.set_max_pyramid_levels(static_cast<unsigned long>(levels));
      std::vector<dlib::frontal_face_detector::feature_vector_type> w;
      for (unsigned long i = 0; i < detector_.num_detectors(); ++i) w.push_back(detector_.get_w(i));
      it = limited_.emplace(levels, dlib::frontal_face_detector(scanner, detector_.get_overlap_tester(), w)).first;
    }
    return it->second;
  }

  dlib::frontal_face_detector detector_;
  std::map<int, dlib::frontal_face_detector> limited_;
};

/// OpenCV's cascade classifiers (Viola-Jones Haar features, or LBP features).
class CascadeDetector : public ScaledDetector {
 public:
  CascadeDetector(const FaceDetectorOptions& options, const std::string& name, const std::string& file)
      : ScaledDetector(options), name_(name) {
    require_file(file, "face cascade file");
    bool loaded = false;
    try {
      loaded = cascade_.load(file);
    } catch (const cv::Exception& e) {
      throw IoError(file, "not an OpenCV cascade classifier: " + e.err);
    }
    if (!loaded || cascade_.empty()) throw IoError(file, "not an OpenCV cascade classifier XML file");
    const cv::Size w = cascade_.getOriginalWindowSize();
    window_ = std::max(1, std::max(w.width, w.height));
  }
  std::string name() const override { return name_; }

 protected:
  int window() const override { return window_; }
  std::vector<Face> detect_scaled(const cv::Mat& image, int /*max_levels*/) override {
    cv::Mat gray = as_gray(image);
    cv::equalizeHist(gray, gray);
    std::vector<cv::Rect> boxes;
    std::vector<int> neighbours;  // raw windows merged into each box: the confidence
    cascade_.detectMultiScale(gray, boxes, neighbours, 1.1, kMinNeighbours);
    std::vector<Face> faces;
    for (size_t i = 0; i < boxes.size(); ++i) {
      Face face;
      face.box = cv::Rect2f(boxes[i]);
      face.score = i < neighbours.size() ? static_cast<float>(neighbours[i]) : 0.f;
      faces.push_back(std::move(face));
    }
    return faces;
  }

 private:
  std::string name_;
  cv::CascadeClassifier cascade_;
  int window_ = 24;
};

}  // namespace

std::vector<Face> FaceDetector::detect_largest(const cv::Mat& image) {
  std::vector<Face> faces = detect(image);
  if (faces.size() > 1) faces.resize(1);
  return faces;
}

std::vector<Face> FaceDetector::detect_in(const cv::Mat& image, const cv::Rect2f& region, float /*face_side*/) {
  std::vector<Face> faces;
  for (Face& f : detect(image))
    if ((f.box & region).area() > 0.5f * f.box.area()) faces.push_back(std::move(f));
  return faces;
}

std::vector<std::string> face_detector_methods() { return {"dlib-hog", "haar", "lbp"}; }

std::unique_ptr<FaceDetector> make_face_detector(const FaceDetectorOptions& options) {
  if (options.method == "dlib-hog") return std::make_unique<DlibHogDetector>(options);
  if (options.method == "haar" || options.method == "lbp") {
    const std::string file = !options.cascade_file.empty() ? options.cascade_file
                             : options.method == "haar"    ? kHaarCascade
                                                           : kLbpCascade;
    return std::make_unique<CascadeDetector>(options, options.method, file);
  }
  std::string known;
  for (const std::string& m : face_detector_methods()) known += (known.empty() ? "" : ", ") + m;
  throw ConfigError("unknown face detector method '" + options.method + "' (known: " + known + ")");
}

struct LandmarkPredictor::Impl {
  dlib::shape_predictor predictor;
};

LandmarkPredictor::LandmarkPredictor(const std::string& file) : impl_(std::make_unique<Impl>()) {
  require_file(file, "face landmark model");
  try {
    dlib::deserialize(file) >> impl_->predictor;
  } catch (const dlib::serialization_error& e) {
    throw IoError(file, std::string("not a dlib shape predictor: ") + e.what());
  } catch (const std::bad_alloc&) {
    throw IoError(file, "not a dlib shape predictor (implausible sizes in the file)");
  }
  if (impl_->predictor.num_parts() != 68) {
    throw IoError(file, "is a dlib shape predictor with " + std::to_string(impl_->predictor.num_parts()) +
                            " points, expected the 68-point model");
  }
}

LandmarkPredictor::~LandmarkPredictor() = default;
LandmarkPredictor::LandmarkPredictor(LandmarkPredictor&&) noexcept = default;
LandmarkPredictor& LandmarkPredictor::operator=(LandmarkPredictor&&) noexcept = default;

std::vector<cv::Point2f> LandmarkPredictor::predict(const cv::Mat& input, const cv::Rect2f& box) const {
  if (input.empty()) throw Error("landmark prediction on an empty image");
  const cv::Mat image = as_bgr_or_gray(input);
  const dlib::rectangle rect = to_dlib(box);
  const dlib::full_object_detection shape =
      image.channels() == 3 ? impl_->predictor(dlib::cv_image<dlib::bgr_pixel>(image), rect)
                            : impl_->predictor(dlib::cv_image<unsigned char>(image), rect);
  std::vector<cv::Point2f> points;
  points.reserve(shape.num_parts());
  for (unsigned long i = 0; i < shape.num_parts(); ++i) {
    points.emplace_back(static_cast<float>(shape.part(i).x()), static_cast<float>(shape.part(i).y()));
  }
  return points;
}

const Face* largest_face(const std::vector<Face>& faces) {
  const auto it = std::max_element(faces.begin(), faces.end(),
                                   [](const Face& a, const Face& b) { return a.box.area() < b.box.area(); });
  return it == faces.end() ? nullptr : &*it;
}

cv::Rect2f crop_region(const cv::Rect2f& face, float scale) {
  const float side = scale * std::max(face.width, face.height);
  const float cx = face.x + face.width / 2, cy = face.y + face.height / 2;
  return cv::Rect2f(cx - side / 2, cy - side / 2, side, side);
}

namespace {

/// `region` with its corners rounded to whole pixels (at least 1x1): what crop_square cuts.
cv::Rect pixel_region(const cv::Rect2f& region) {
  if (!(region.width > 0 && region.height > 0) || !std::isfinite(region.x) || !std::isfinite(region.y) ||
      !std::isfinite(region.width) || !std::isfinite(region.height)) {
    throw Error("crop region has no area (" + std::to_string(region.width) + "x" + std::to_string(region.height) +
                " at " + std::to_string(region.x) + "," + std::to_string(region.y) + ")");
  }
  const int x0 = static_cast<int>(std::lround(region.x)), y0 = static_cast<int>(std::lround(region.y));
  const int x1 = static_cast<int>(std::lround(region.x + region.width));
  const int y1 = static_cast<int>(std::lround(region.y + region.height));
  return cv::Rect(x0, y0, std::max(1, x1 - x0), std::max(1, y1 - y0));
}

}  // namespace

cv::Mat crop_square(const cv::Mat& image, const cv::Rect2f& region, int size, int interpolation) {
  if (image.empty()) throw Error("cannot crop an empty image");
  if (size < 1) throw Error("crop size must be at least 1, got " + std::to_string(size));
  const cv::Rect r = pixel_region(region);
  const cv::Rect inside = r & cv::Rect(0, 0, image.cols, image.rows);
  cv::Mat source;
  if (inside == r) {
    source = image(r);
  } else {
    source = cv::Mat::zeros(r.size(), image.type());
    if (!inside.empty()) image(inside).copyTo(source(inside - r.tl()));
  }
  if (interpolation == cv::INTER_NEAREST) interpolation = cv::INTER_NEAREST_EXACT;
  cv::Mat out;
  cv::resize(source, out, cv::Size(size, size), 0, 0, interpolation);
  return out;
}

std::vector<cv::Point2f> to_crop_coordinates(const std::vector<cv::Point2f>& points, const cv::Rect2f& region,
                                             int size) {
  const cv::Rect r = pixel_region(region);
  const float sx = static_cast<float>(size) / r.width, sy = static_cast<float>(size) / r.height;
  std::vector<cv::Point2f> out;
  out.reserve(points.size());
  // Pixel centres map onto pixel centres, as cv::resize samples them.
  for (const cv::Point2f& p : points) {
    out.emplace_back((p.x + 0.5f - r.x) * sx - 0.5f, (p.y + 0.5f - r.y) * sy - 0.5f);
  }
  return out;
}

cv::Rect2f mask_bounding_box(const cv::Mat& mask) {
  if (mask.empty()) return {};
  cv::Mat any;
  if (mask.channels() == 1) {
    any = mask;
  } else {
    std::vector<cv::Mat> channels;
    cv::split(mask, channels);
    any = channels[0].clone();
    for (size_t i = 1; i < channels.size(); ++i) cv::max(any, channels[i], any);
  }
  if (any.depth() != CV_8U) any = any != 0;
  const cv::Rect box = cv::boundingRect(any);
  if (box.empty()) return {};
  return cv::Rect2f(box);
}

}  // namespace sola::data
