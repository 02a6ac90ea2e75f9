#include "data/self_blend.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <random>
#include <sstream>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "data/face.h"

namespace sola::data {
namespace {

/// Number of dlib/iBUG face landmarks.
constexpr size_t kLandmarks = 68;
/// Control points a side of the elastic displacement grid.
constexpr int kElasticGrid = 5;
/// The elastic grid spans the mask's bounding box enlarged by this fraction of the face size a
/// side (more than any displacement, so the field's edge never touches the mask).
constexpr double kElasticMargin = 0.25;
/// Fraction of the image each side of the fallback face box (a centred box of 60%).
constexpr float kCentredBoxMargin = 0.2f;
/// The ellipse's semi-axes as fractions of half the box side: width, height ranges.
constexpr double kEllipseWMin = 0.8, kEllipseWMax = 1.0;
constexpr double kEllipseHMin = 0.9, kEllipseHMax = 1.1;
/// The ellipse's largest rotation (degrees) and centre offset (fraction of the box side).
constexpr double kEllipseRotation = 10.0;
constexpr double kEllipseOffset = 0.05;
/// "extended": the brows are raised by this fraction range of the brow-chin distance.
constexpr double kRaiseMin = 0.15, kRaiseMax = 0.3;
/// Luma weights of a BGR pixel (ITU-R 601, as cv::COLOR_BGR2GRAY).
constexpr double kGreyB = 0.114, kGreyG = 0.587, kGreyR = 0.299;

/// Uniform in [0, 1) from one raw 64-bit engine output (mt19937_64's outputs are fixed by the standard).
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1p-53; }

/// Maps a uniform [0, 1) number `u` to [lo, hi).
double lerp(double lo, double hi, double u) { return lo + (hi - lo) * u; }

/// Maps a uniform [0, 1) number `u` to an index in [0, n).
size_t pick(size_t n, double u) { return std::min(n - 1, static_cast<size_t>(u * static_cast<double>(n))); }

/// The numbers one stage uses, all uniform in [0, 1). Every stage draws all of its numbers on
/// every call, so the engine advances by the same count whatever the options.
template <size_t N>
struct Draws {
  std::array<double, N> u;
  explicit Draws(std::mt19937_64& rng) {
    for (double& x : u) x = uniform01(rng);
  }
};

/// Throws ConfigError "self-blend option 'FIELD' = VALUE is invalid: must be ALLOWED".
template <typename T>
[[noreturn]] void reject(const std::string& field, const T& value, const std::string& allowed) {
  std::ostringstream msg;
  msg << "self-blend option '" << field << "' = " << value << " is invalid: must be " << allowed;
  throw ConfigError(msg.str());
}

/// Whether lo <= x <= hi (false for NaN).
bool within(double x, double lo, double hi) { return x >= lo && x <= hi; }

void check_probability(const char* field, double p) {
  if (!within(p, 0.0, 1.0)) reject(field, p, "a probability in [0, 1]");
}

void check_range(const char* field, double x, double lo, double hi) {
  if (!within(x, lo, hi)) {
    std::ostringstream allowed;
    allowed << "in [" << lo << ", " << hi << "]";
    reject(field, x, allowed.str());
  }
}

/// "a, b, c" for messages.
template <typename T>
std::string joined(const std::vector<T>& items) {
  std::ostringstream out;
  for (size_t i = 0; i < items.size(); ++i) out << (i ? ", " : "") << items[i];
  return out.str();
}

/// The longer side of a rectangle, at least 1.
float long_side(const cv::Rect2f& r) { return std::max(1.f, std::max(r.width, r.height)); }

/// Bounding box of points.
cv::Rect2f bounds(const std::vector<cv::Point2f>& points) {
  float x0 = points[0].x, y0 = points[0].y, x1 = x0, y1 = y0;
  for (const cv::Point2f& p : points) {
    x0 = std::min(x0, p.x), y0 = std::min(y0, p.y);
    x1 = std::max(x1, p.x), y1 = std::max(y1, p.y);
  }
  return {x0, y0, x1 - x0, y1 - y0};
}

/// The landmarks `first..last` (inclusive) of `lm` appended to `out`.
void take(const std::vector<cv::Point2f>& lm, int first, int last, std::vector<cv::Point2f>& out) {
  out.insert(out.end(), lm.begin() + first, lm.begin() + last + 1);
}

/// The points whose convex hull is `shape` ("hull", "lower", "inner", "extended").
std::vector<cv::Point2f> shape_points(const std::string& shape, const std::vector<cv::Point2f>& lm,
                                      double raise_u) {
  std::vector<cv::Point2f> pts;
  if (shape == "hull") {
    pts = lm;
  } else if (shape == "lower") {  // jaw, nose, eyes, mouth: no brows
    take(lm, 0, 16, pts);
    take(lm, 27, 67, pts);
  } else if (shape == "inner") {  // brows, nose, eyes, mouth: no jaw line
    take(lm, 17, 67, pts);
  } else {  // "extended": jaw plus the brows moved away from the chin
    take(lm, 0, 16, pts);
    cv::Point2f brow(0.f, 0.f);
    for (int i = 17; i <= 26; ++i) brow += lm[i];
    brow *= 0.1f;
    const cv::Point2f up = brow - lm[8];  // chin to brows
    const auto raise = static_cast<float>(lerp(kRaiseMin, kRaiseMax, raise_u));
    for (int i = 17; i <= 26; ++i) pts.push_back(lm[i] + raise * up);
  }
  return pts;
}

/// A filled convex hull of `points` as a CV_8UC1 0/255 mask of `size`.
cv::Mat hull_mask(const std::vector<cv::Point2f>& points, cv::Size size) {
  constexpr int kShift = 4;  // sub-pixel vertex precision of fillConvexPoly
  std::vector<cv::Point2f> hull;
  cv::convexHull(points, hull);
  std::vector<cv::Point> fixed;
  fixed.reserve(hull.size());
  for (const cv::Point2f& p : hull) {
    // Clamp far-away points so the fixed-point coordinates cannot overflow.
    const float x = std::clamp(p.x, -4.f * size.width, 5.f * size.width);
    const float y = std::clamp(p.y, -4.f * size.height, 5.f * size.height);
    fixed.emplace_back(cvRound(x * (1 << kShift)), cvRound(y * (1 << kShift)));
  }
  cv::Mat mask = cv::Mat::zeros(size, CV_8UC1);
  cv::fillConvexPoly(mask, fixed, cv::Scalar(255), cv::LINE_8, kShift);
  return mask;
}

/// A filled ellipse in `box` (semi-axes, rotation and offset from draws 1..5 of `d`) as a
/// CV_8UC1 0/255 mask of `size`.
cv::Mat ellipse_mask(const cv::Rect2f& box, cv::Size size, const Draws<7>& d) {
  const cv::Point2f centre(box.x + box.width / 2 + static_cast<float>(lerp(-1, 1, d.u[4]) * kEllipseOffset) * box.width,
                           box.y + box.height / 2 + static_cast<float>(lerp(-1, 1, d.u[5]) * kEllipseOffset) * box.height);
  const auto w = static_cast<float>(box.width * lerp(kEllipseWMin, kEllipseWMax, d.u[2]));
  const auto h = static_cast<float>(box.height * lerp(kEllipseHMin, kEllipseHMax, d.u[3]));
  const auto angle = static_cast<float>(lerp(-kEllipseRotation, kEllipseRotation, d.u[6]));
  cv::Mat mask = cv::Mat::zeros(size, CV_8UC1);
  cv::ellipse(mask, cv::RotatedRect(centre, cv::Size2f(std::max(w, 1.f), std::max(h, 1.f)), angle), cv::Scalar(255),
              cv::FILLED);
  return mask;
}

/// The centred box of 60% of an image of `size`.
cv::Rect2f centred_box(cv::Size size) {
  return {kCentredBoxMargin * size.width, kCentredBoxMargin * size.height,
          (1 - 2 * kCentredBoxMargin) * size.width, (1 - 2 * kCentredBoxMargin) * size.height};
}

/// Clamps every channel of a CV_32FC3 image to [0, 255].
void clamp255(cv::Mat& f) {
  cv::max(f, 0.0, f);
  cv::min(f, 255.0, f);
}

/// Rotates the hue (degrees) and scales saturation and value of a CV_32FC3 BGR image in [0, 255].
void jitter_hsv(cv::Mat& f, float hue, float sat, float val) {
  cv::Mat hsv;
  cv::cvtColor(f * (1.0 / 255.0), hsv, cv::COLOR_BGR2HSV);  // H in degrees [0, 360), S, V in [0, 1]
  auto* px = hsv.ptr<cv::Vec3f>();
  const size_t n = hsv.total();
  for (size_t i = 0; i < n; ++i) {
    float h = px[i][0] + hue;
    if (h < 0.f) h += 360.f;
    if (h >= 360.f) h -= 360.f;
    px[i][0] = h;
    px[i][1] = std::min(1.f, px[i][1] * sat);
    px[i][2] = std::min(1.f, px[i][2] * val);
  }
  cv::cvtColor(hsv, f, cv::COLOR_HSV2BGR);
  f *= 255.0;
}

/// Draws of the colour and frequency stages.
struct ColourDraws {
  Draws<4> rgb;        // fire, offset b, g, r
  Draws<4> hsv;        // fire, hue, saturation, value
  Draws<3> bc;         // fire, brightness, contrast
  Draws<3> frequency;  // fire, downscale-or-sharpen, amount
  explicit ColourDraws(std::mt19937_64& rng) : rgb(rng), hsv(rng), bc(rng), frequency(rng) {}
};

/// The colour and frequency stages on `image` (CV_8UC3), in place; true when any fired.
bool colour_and_frequency(cv::Mat& image, const SelfBlendOptions& o, const ColourDraws& d) {
  const bool rgb = d.rgb.u[0] < o.rgb_shift_p && o.rgb_shift > 0;
  const bool hsv = d.hsv.u[0] < o.hsv_p;
  const bool bc = d.bc.u[0] < o.brightness_contrast_p;
  const bool freq = d.frequency.u[0] < o.frequency_p;
  if (!rgb && !hsv && !bc && !freq) return false;

  cv::Mat f;
  image.convertTo(f, CV_32FC3);
  if (rgb) {
    cv::Scalar offset;
    for (int c = 0; c < 3; ++c) offset[c] = std::round(lerp(-o.rgb_shift, o.rgb_shift, d.rgb.u[1 + c]));
    f += offset;
    clamp255(f);
  }
  if (hsv) {
    jitter_hsv(f, static_cast<float>(lerp(-o.hue_shift, o.hue_shift, d.hsv.u[1])),
               static_cast<float>(lerp(1 - o.saturation, 1 + o.saturation, d.hsv.u[2])),
               static_cast<float>(lerp(1 - o.value, 1 + o.value, d.hsv.u[3])));
    clamp255(f);
  }
  if (bc) {
    const double brightness = lerp(-o.brightness, o.brightness, d.bc.u[1]) * 255.0;
    const double contrast = lerp(1 - o.contrast, 1 + o.contrast, d.bc.u[2]);
    const cv::Scalar mean = cv::mean(f);
    const double grey = kGreyB * mean[0] + kGreyG * mean[1] + kGreyR * mean[2];
    f.convertTo(f, CV_32FC3, contrast, grey * (1 - contrast) + brightness);
    clamp255(f);
  }
  if (freq) {
    if (d.frequency.u[1] < 0.5) {  // lose detail: area downscale, bilinear upscale
      const double factor = lerp(o.downscale_min, o.downscale_max, d.frequency.u[2]);
      const cv::Size small(std::max(1, static_cast<int>(std::lround(f.cols / factor))),
                           std::max(1, static_cast<int>(std::lround(f.rows / factor))));
      cv::Mat low;
      cv::resize(f, low, small, 0, 0, cv::INTER_AREA);
      cv::resize(low, f, image.size(), 0, 0, cv::INTER_LINEAR);
    } else {  // sharpen: (1 - a) * identity + a * [-1 -1 -1; -1 9 -1; -1 -1 -1]
      const auto a = static_cast<float>(lerp(o.sharpen_min, o.sharpen_max, d.frequency.u[2]));
      cv::Matx33f k(-a, -a, -a, -a, 1 + 8 * a, -a, -a, -a, -a);
      cv::filter2D(f, f, -1, k, cv::Point(-1, -1), 0, cv::BORDER_REFLECT_101);
    }
    clamp255(f);
  }
  f.convertTo(image, CV_8UC3);  // rounds and saturates
  return true;
}

/// Elastic deformation of a binary CV_8UC1 mask: a bicubic displacement field from a
/// kElasticGrid^2 grid of draws over the mask's enlarged bounding box. Returns the deformed mask,
/// or `mask` itself when the deformation would empty it.
cv::Mat elastic(const cv::Mat& mask, double amplitude, double face, const Draws<1 + 2 * kElasticGrid * kElasticGrid>& d) {
  const cv::Rect box = cv::boundingRect(mask);
  const int margin = static_cast<int>(std::ceil(kElasticMargin * face));
  const cv::Rect area = (box + cv::Size(2 * margin, 2 * margin) - cv::Point(margin, margin)) & cv::Rect({}, mask.size());
  cv::Mat grid_x(kElasticGrid, kElasticGrid, CV_32F), grid_y(kElasticGrid, kElasticGrid, CV_32F);
  for (int i = 0; i < kElasticGrid * kElasticGrid; ++i) {
    grid_x.at<float>(i / kElasticGrid, i % kElasticGrid) = static_cast<float>(lerp(-amplitude, amplitude, d.u[1 + 2 * i]));
    grid_y.at<float>(i / kElasticGrid, i % kElasticGrid) = static_cast<float>(lerp(-amplitude, amplitude, d.u[2 + 2 * i]));
  }
  cv::Mat map_x, map_y;
  cv::resize(grid_x, map_x, area.size(), 0, 0, cv::INTER_CUBIC);
  cv::resize(grid_y, map_y, area.size(), 0, 0, cv::INTER_CUBIC);
  for (int y = 0; y < area.height; ++y) {
    auto* mx = map_x.ptr<float>(y);
    auto* my = map_y.ptr<float>(y);
    for (int x = 0; x < area.width; ++x) {
      mx[x] += static_cast<float>(area.x + x);
      my[x] += static_cast<float>(area.y + y);
    }
  }
  cv::Mat warped;
  cv::remap(mask, warped, map_x, map_y, cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0));
  cv::Mat out = cv::Mat::zeros(mask.size(), CV_8UC1);
  cv::threshold(warped, out(area), 127, 255, cv::THRESH_BINARY);
  return cv::countNonZero(out) > 0 ? out : mask;
}

/// Sets every pixel of `source` closer than `min_diff` (largest channel difference) to `target`
/// to target +- min_diff per channel, the sign `sign` unless that leaves [0, 255].
void floor_difference(cv::Mat& source, const cv::Mat& target, int min_diff, int sign) {
  for (int y = 0; y < source.rows; ++y) {
    auto* s = source.ptr<cv::Vec3b>(y);
    const auto* t = target.ptr<cv::Vec3b>(y);
    for (int x = 0; x < source.cols; ++x) {
      int largest = 0;
      for (int c = 0; c < 3; ++c) largest = std::max(largest, std::abs(int(s[x][c]) - int(t[x][c])));
      if (largest >= min_diff) continue;
      for (int c = 0; c < 3; ++c) {
        int v = t[x][c] + sign * min_diff;
        if (v < 0 || v > 255) v = t[x][c] - sign * min_diff;
        s[x][c] = static_cast<uchar>(v);
      }
    }
  }
}

}  // namespace

std::vector<std::string> self_blend_shapes() { return {"hull", "lower", "inner", "extended", "ellipse"}; }

void SelfBlendOptions::validate() const {
  if (shapes.empty()) reject("shapes", "(none)", "one or more of " + joined(self_blend_shapes()));
  const std::vector<std::string> known = self_blend_shapes();
  for (const std::string& s : shapes) {
    if (std::find(known.begin(), known.end(), s) == known.end()) {
      reject("shapes", "'" + s + "'", "one or more of " + joined(known));
    }
  }
  check_probability("target_p", target_p);
  check_probability("rgb_shift_p", rgb_shift_p);
  check_range("rgb_shift", rgb_shift, 0, 255);
  check_probability("hsv_p", hsv_p);
  check_range("hue_shift", hue_shift, 0, 180);
  check_range("saturation", saturation, 0, 1);
  check_range("value", value, 0, 1);
  check_probability("brightness_contrast_p", brightness_contrast_p);
  check_range("brightness", brightness, 0, 1);
  check_range("contrast", contrast, 0, 1);
  check_probability("frequency_p", frequency_p);
  check_range("downscale_min", downscale_min, 1, 16);
  check_range("downscale_max", downscale_max, downscale_min, 16);
  check_range("sharpen_min", sharpen_min, 0, 1);
  check_range("sharpen_max", sharpen_max, sharpen_min, 1);
  check_probability("geometric_p", geometric_p);
  check_range("translate_x", translate_x, 0, 0.25);
  check_range("translate_y", translate_y, 0, 0.25);
  check_range("scale_min", scale_min, 0.5, 1);
  check_range("scale_max", scale_max, 1, 2);
  check_probability("elastic_p", elastic_p);
  check_range("elastic_strength", elastic_strength, 0, kElasticMargin);
  check_probability("morph_p", morph_p);
  check_range("morph_max", morph_max, 0, 0.5);
  check_range("blur_min", blur_min, 0, 0.5);
  check_range("blur_max", blur_max, blur_min, 0.5);
  if (blend_ratios.empty()) reject("blend_ratios", "(none)", "one or more ratios in (0, 1]");
  for (double r : blend_ratios) {
    if (!(r > 0.0 && r <= 1.0)) reject("blend_ratios", joined(blend_ratios), "ratios in (0, 1]");
  }
  check_range("min_difference", min_difference, 1, 32);
  // The pixel of largest weight (the smallest ratio, at least) must move by more than half a
  // grey level, so that a pseudo-fake always differs from its target.
  const double smallest = *std::min_element(blend_ratios.begin(), blend_ratios.end());
  if (!(smallest * min_difference > 0.5)) {
    std::ostringstream allowed;
    allowed << "> 0.5 / " << smallest << " (the smallest of blend_ratios), so that every blend changes a pixel";
    reject("min_difference", min_difference, allowed.str());
  }
}

bool plausible_landmarks(const std::vector<cv::Point2f>& landmarks, cv::Size image_size) {
  if (landmarks.size() != kLandmarks || image_size.area() <= 0) return false;
  for (const cv::Point2f& p : landmarks) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) return false;
  }
  const cv::Rect2f b = bounds(landmarks);
  const float mx = 0.1f * image_size.width, my = 0.1f * image_size.height;
  const bool inside = b.x >= -mx && b.y >= -my && b.x + b.width <= image_size.width + mx &&
                      b.y + b.height <= image_size.height + my;
  return inside && b.area() >= 0.01f * static_cast<float>(image_size.area());
}

SelfBlendResult self_blend(const cv::Mat& bgr, const std::vector<cv::Point2f>& landmarks,
                           const cv::Rect2f& face_box, uint64_t seed, const SelfBlendOptions& options) {
  options.validate();
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    throw std::invalid_argument("self_blend: image must be a non-empty CV_8UC3 (BGR) matrix");
  }
  if (!landmarks.empty() && landmarks.size() != kLandmarks) {
    throw std::invalid_argument("self_blend: expected 0 or 68 landmarks, got " + std::to_string(landmarks.size()));
  }
  const cv::Size size = bgr.size();
  std::mt19937_64 rng(seed);
  SelfBlendResult r;

  // 1. Mask shape.
  const Draws<7> shape_d(rng);  // shape, raise, ellipse w, h, x, y, angle
  r.shape = landmarks.empty() ? "ellipse" : options.shapes[pick(options.shapes.size(), shape_d.u[0])];
  cv::Mat mask;  // CV_8UC1 0/255
  cv::Rect2f face;
  if (r.shape != "ellipse") {
    mask = hull_mask(shape_points(r.shape, landmarks, shape_d.u[1]), size);
    face = bounds(landmarks);
    if (cv::countNonZero(mask) == 0) r.shape = "ellipse";  // the face lies outside the image
  }
  if (r.shape == "ellipse") {
    face = face_box.area() > 0 ? face_box : !landmarks.empty() ? bounds(landmarks) : centred_box(size);
    mask = ellipse_mask(face, size, shape_d);
    if (cv::countNonZero(mask) == 0) {  // a box outside the image
      face = centred_box(size);
      mask = ellipse_mask(face, size, shape_d);
    }
  }
  const double face_size = long_side(face);
  const cv::Point2f centre(face.x + face.width / 2, face.y + face.height / 2);

  // 2. Colour and frequency, on the source or the target.
  r.source = bgr.clone();
  r.target = bgr.clone();
  const Draws<1> side(rng);
  r.target_transformed = side.u[0] < options.target_p;
  const ColourDraws colour(rng);
  colour_and_frequency(r.target_transformed ? r.target : r.source, options, colour);

  // 3. Geometry of the source; the mask moves with it (skipped if that would move it out).
  const Draws<4> geo(rng);  // fire, x, y, scale
  if (geo.u[0] < options.geometric_p) {
    const double s = lerp(options.scale_min, options.scale_max, geo.u[3]);
    const double tx = lerp(-options.translate_x, options.translate_x, geo.u[1]) * size.width;
    const double ty = lerp(-options.translate_y, options.translate_y, geo.u[2]) * size.height;
    const cv::Matx23d m(s, 0, (1 - s) * centre.x + tx, 0, s, (1 - s) * centre.y + ty);
    cv::Mat moved;
    cv::warpAffine(mask, moved, m, size, cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0));
    cv::threshold(moved, moved, 127, 255, cv::THRESH_BINARY);
    if (cv::countNonZero(moved) > 0) {
      mask = moved;
      cv::warpAffine(r.source, r.source, m, size, cv::INTER_LINEAR, cv::BORDER_REFLECT_101);
    }
  }

  // 4. Deformation: elastic, erode/dilate, soft edge, blend ratio.
  const Draws<1 + 2 * kElasticGrid * kElasticGrid> elastic_d(rng);
  if (elastic_d.u[0] < options.elastic_p && options.elastic_strength > 0) {
    mask = elastic(mask, options.elastic_strength * face_size, face_size, elastic_d);
  }
  const Draws<3> morph(rng);  // fire, erode-or-dilate, radius
  if (morph.u[0] < options.morph_p) {
    const int radius = static_cast<int>(std::lround(lerp(0, options.morph_max, morph.u[2]) * face_size));
    if (radius > 0) {
      const cv::Mat kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * radius + 1, 2 * radius + 1));
      cv::Mat changed;
      if (morph.u[1] < 0.5) {
        cv::erode(mask, changed, kernel, cv::Point(-1, -1), 1, cv::BORDER_CONSTANT, cv::Scalar(0));
      } else {
        cv::dilate(mask, changed, kernel, cv::Point(-1, -1), 1, cv::BORDER_CONSTANT, cv::Scalar(0));
      }
      if (cv::countNonZero(changed) > 0) mask = changed;
    }
  }
  cv::Mat weight;
  mask.convertTo(weight, CV_32F, 1.0 / 255.0);
  const Draws<2> soft(rng);  // blur sigma, blend ratio
  const double sigma = lerp(options.blur_min, options.blur_max, soft.u[0]) * face_size;
  if (sigma >= 0.3) {
    cv::GaussianBlur(weight, weight, cv::Size(0, 0), sigma, sigma, cv::BORDER_REFLECT_101);
    double peak = 0;
    cv::minMaxLoc(weight, nullptr, &peak);
    if (peak > 0) weight *= 1.0 / peak;
    cv::min(weight, 1.0, weight);
  }
  weight *= options.blend_ratios[pick(options.blend_ratios.size(), soft.u[1])];

  // 5. Floor: the source differs from the target by at least min_difference everywhere.
  const Draws<1> sign(rng);
  floor_difference(r.source, r.target, options.min_difference, sign.u[0] < 0.5 ? 1 : -1);

  // 6. Blend; the weight is cleared (and the mask left 0) where the rounded fake equals the target.
  r.fake = r.target.clone();
  r.mask = cv::Mat::zeros(size, CV_8UC1);
  for (int y = 0; y < size.height; ++y) {
    auto* w = weight.ptr<float>(y);
    const auto* s = r.source.ptr<cv::Vec3b>(y);
    const auto* t = r.target.ptr<cv::Vec3b>(y);
    auto* f = r.fake.ptr<cv::Vec3b>(y);
    auto* m = r.mask.ptr<uchar>(y);
    for (int x = 0; x < size.width; ++x) {
      if (w[x] <= 0.f) {
        w[x] = 0.f;
        continue;
      }
      bool changed = false;
      for (int c = 0; c < 3; ++c) {
        const float tc = t[x][c];
        f[x][c] = cv::saturate_cast<uchar>(tc + w[x] * (static_cast<float>(s[x][c]) - tc));
        changed |= f[x][c] != t[x][c];
      }
      if (changed) {
        m[x] = 255;
      } else {
        w[x] = 0.f;
      }
    }
  }
  r.weight = weight;
  return r;
}

std::vector<cv::Point2f> find_landmarks(const cv::Mat& bgr, FaceDetector& detector, const LandmarkPredictor& predictor,
                                        cv::Rect2f* face_box) {
  if (face_box) *face_box = cv::Rect2f();
  const std::vector<Face> faces = detector.detect(bgr);
  const Face* face = largest_face(faces);
  if (!face) return {};
  if (face_box) *face_box = face->box;
  std::vector<cv::Point2f> points =
      face->landmarks.size() == kLandmarks ? face->landmarks : predictor.predict(bgr, face->box);
  if (!plausible_landmarks(points, bgr.size())) return {};
  return points;
}

}  // namespace sola::data
