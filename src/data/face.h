#pragma once
// Face detection, landmarks and the face crop of training and detection (OpenCV + dlib).
//
// One interface, FaceDetector, over the detectors Debian ships: dlib's HOG detector ("dlib-hog",
// the default), OpenCV's Haar and LBP cascades from opencv-data ("haar", "lbp"). A stronger
// detector is one more subclass and one more name in make_face_detector. A detector object is
// used by one thread at a time: make one per worker.
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace sola::data {

/// One detected face, in the pixel coordinates of the image it was found in.
struct Face {
  cv::Rect2f box;                      ///< face box as the detector reports it
  /// Detector confidence, higher is surer, on a method-specific scale: dlib-hog: the HOG SVM
  /// margin (> 0 for a detection); haar/lbp: the number of overlapping raw detections merged
  /// into the box (more than 3; real faces typically score tens, false ones a few).
  float score = 0.f;
  std::vector<cv::Point2f> landmarks;  ///< 68 dlib points (iBUG order) when predicted, else empty
};

struct FaceDetectorOptions {
  std::string method = "dlib-hog";  ///< dlib-hog | haar | lbp
  std::string cascade_file;         ///< haar/lbp: cascade XML (empty: the default one under /usr/share/opencv4)
  /// 68-point shape predictor; used when `landmarks` is true.
  std::string landmarks_file = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";
  bool landmarks = false;           ///< predict 68 landmarks for every face found
  int min_face = 40;                ///< smallest face side to report, pixels of the input image
  int max_side = 1280;              ///< images with a longer side are downscaled for detection only
  // Detection runs on the image scaled by min(max_side / longer side, window / min_face), where
  // window is the detector's smallest face (80 px for dlib-hog, the cascade's window size): small
  // images are upsampled so faces of min_face are found, never beyond max_side.
  /// detect_largest: look first on the image downscaled by about 4, then 2 (coarser levels are skipped
  /// where the image's longer side would fall below 200 px), before the full detection scale; stop at
  /// the first scale that finds a face. false: always the full scale, as detect.
  bool coarse_to_fine = true;
};

class FaceDetector {
 public:
  virtual ~FaceDetector() = default;
  /// All faces in a BGR, BGRA or grayscale 8-bit image, largest first. Empty when none is found
  /// or the image is empty. Throws sola::Error for another pixel type.
  virtual std::vector<Face> detect(const cv::Mat& image) = 0;
  /// The largest face, as the first of detect(image) would be, found for less: the detector's cost
  /// grows with the pixels it scans, and a large face is found on a downscaled image (see
  /// FaceDetectorOptions::coarse_to_fine), then its box fitted again with detect_in around it. A face
  /// at a finer scale is only looked for when no coarser scale found one, so the face returned is the
  /// largest detect would find unless the detector misses it at the coarse scale and finds it at the
  /// fine one (or two faces are about as large). Empty when none is found.
  virtual std::vector<Face> detect_largest(const cv::Mat& image);
  /// Faces inside `region` of the image (clipped to it) whose side is about `face_side` pixels of the
  /// image: the region alone is scanned, scaled so that such a face is 1.6 to 1.9 times the detector's
  /// smallest (it finds faces from about 0.6x face_side up), at one of the scales a full detection
  /// scans (so boxes come out alike). For following a face from one video frame to the next. Boxes
  /// are in image coordinates; faces below min_face are dropped.
  virtual std::vector<Face> detect_in(const cv::Mat& image, const cv::Rect2f& region, float face_side);
  virtual std::string name() const = 0;
};

/// Throws ConfigError for an unknown method or min_face / max_side below 1 / 32, IoError naming
/// the file for a missing/unreadable cascade or landmark model.
std::unique_ptr<FaceDetector> make_face_detector(const FaceDetectorOptions& options = {});

/// The names make_face_detector accepts.
std::vector<std::string> face_detector_methods();

/// dlib's 68-point shape predictor (loaded once per object; one thread at a time).
class LandmarkPredictor {
 public:
  /// Throws IoError naming the file when it is missing or not a shape predictor.
  explicit LandmarkPredictor(const std::string& file = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat");
  ~LandmarkPredictor();
  LandmarkPredictor(LandmarkPredictor&&) noexcept;
  LandmarkPredictor& operator=(LandmarkPredictor&&) noexcept;
  /// 68 points for the face in `box` of a BGR or grayscale 8-bit image.
  std::vector<cv::Point2f> predict(const cv::Mat& image, const cv::Rect2f& box) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The largest face (by box area), or nullptr for an empty list.
const Face* largest_face(const std::vector<Face>& faces);

/// The square crop region around `face`: centred on the box, side = scale * max(box w, h)
/// (the paper's 2.6x). It may extend beyond the image; crop_square pads.
cv::Rect2f crop_region(const cv::Rect2f& face, float scale = 2.6f);

/// Cuts `region` out of `image` and resizes it to size x size. Parts outside the image are filled
/// with zeros (constant border). `interpolation` is an OpenCV flag: INTER_AREA/LINEAR for images,
/// INTER_NEAREST for masks (so a 0/255 mask stays binary; done as INTER_NEAREST_EXACT, which is
/// pixel-centre aligned like the other modes, so a mask crop lines up with its image crop).
/// The region's corners are rounded to whole pixels. Throws sola::Error for an empty image, a
/// region without area or size < 1.
cv::Mat crop_square(const cv::Mat& image, const cv::Rect2f& region, int size, int interpolation);

/// Maps points of the full image (pixel-index coordinates, as landmarks) into the crop of
/// crop_square(image, region, size).
std::vector<cv::Point2f> to_crop_coordinates(const std::vector<cv::Point2f>& points, const cv::Rect2f& region,
                                             int size);

/// Bounding box of the non-zero pixels of a mask (8-bit, any channels), or an empty rect.
cv::Rect2f mask_bounding_box(const cv::Mat& mask);

}  // namespace sola::data
