#include "data/framing.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "core/error.h"
#include "data/video.h"

namespace sola::data {
using json = nlohmann::json;

namespace {

/// The value below which `share` of the total weight lies (values sorted by value).
double weighted_quantile(std::vector<std::pair<double, double>> values, double share) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  double total = 0;
  for (const auto& v : values) total += v.second;
  double seen = 0;
  for (const auto& [value, weight] : values) {
    seen += weight;
    if (seen >= share * total - 1e-12) return value;
  }
  return values.back().first;
}

void summarise(SourceFraming& f, const std::vector<std::pair<double, double>>& ratios) {
  f.faces = static_cast<int64_t>(ratios.size());
  if (ratios.empty()) return;
  f.median_ratio = weighted_quantile(ratios, 0.5);
  f.q1 = weighted_quantile(ratios, 0.25);
  f.q3 = weighted_quantile(ratios, 0.75);
}

}  // namespace

json SourceFraming::to_json() const {
  json j{{"source", source}, {"images", images}, {"sampled", sampled}, {"faces", faces}};
  if (faces > 0) {
    j["median_box_over_crop"] = median_ratio;
    j["quartiles"] = {q1, q3};
    j["crop_scale"] = crop_scale();
  }
  return j;
}

double framing_ratio(const cv::Mat& bgr, FaceDetector& detector) {
  if (bgr.empty()) return -1;
  const auto faces = detector.detect_largest(bgr);
  const Face* face = largest_face(faces);
  if (!face) return -1;
  const double box = std::max(face->box.width, face->box.height);
  return box / static_cast<double>(std::max(bgr.cols, bgr.rows));
}

Framing measure_framing(const Manifest& manifest, const FramingOptions& options) {
  // The rows of each source, in file order.
  std::vector<std::string> order;
  std::map<std::string, std::vector<size_t>> rows;
  for (size_t i = 0; i < manifest.samples.size(); ++i) {
    const std::string& source = manifest.samples[i].source;
    if (!rows.count(source)) order.push_back(source);
    rows[source].push_back(i);
  }
  const double total = static_cast<double>(manifest.samples.size());
  auto detector = make_face_detector(options.detector);
  Framing framing;
  std::vector<std::pair<double, double>> everything;  // (ratio, weight): each source by its number of images
  for (const auto& source : order) {
    const auto& mine = rows[source];
    SourceFraming f;
    f.source = source.empty() ? "(manifest)" : source;
    f.images = static_cast<int64_t>(mine.size());
    const int64_t share = std::llround(options.sample * static_cast<double>(mine.size()) / std::max(total, 1.0));
    const int64_t n = std::min<int64_t>(f.images, std::max<int64_t>(options.min_per_source, share));
    std::vector<std::pair<double, double>> ratios;
    for (int64_t k = 0; k < n; ++k) {
      // Evenly spread over the source's rows (its first row included).
      const size_t index = mine[static_cast<size_t>(k * f.images / n)];
      ++f.sampled;
      double ratio = -1;
      try {
        ratio = framing_ratio(read_image_bgr(manifest.samples[index].path), *detector);
      } catch (const Error&) {
        // unreadable: sampled, no face (check_images reports it before training)
      }
      if (ratio > 0) ratios.emplace_back(ratio, 1.0);
    }
    summarise(f, ratios);
    for (const auto& r : ratios) everything.emplace_back(r.first, static_cast<double>(f.images) / static_cast<double>(ratios.size()));
    framing.all.sampled += f.sampled;
    framing.all.images += f.images;
    framing.sources.push_back(f);
  }
  framing.all.source = "all";
  summarise(framing.all, everything);
  const double scale = framing.all.crop_scale();
  if (scale > 0) framing.crop_scale = std::clamp(scale, 1.0, 10.0);
  double lo = 0, hi = 0;
  for (const auto& f : framing.sources) {
    if (f.crop_scale() <= 0) continue;
    lo = lo > 0 ? std::min(lo, f.crop_scale()) : f.crop_scale();
    hi = std::max(hi, f.crop_scale());
  }
  framing.spread = lo > 0 ? hi / lo - 1 : 0;
  if (!framing.measured()) {
    framing.warning = fmt::format("no face found in the {} training images sampled: the framing of the training "
                                  "data is unknown, and the model files carry no crop_scale (sola detect/serve "
                                  "will crop faces at --scale, else at the paper's 2.6x)",
                                  framing.all.sampled);
  } else if (framing.sources.size() > 1 && framing.spread > options.wide_spread) {
    std::string figures;
    for (const auto& f : framing.sources)
      figures += fmt::format("{}{}: {}", figures.empty() ? "" : ", ", f.source,
                             f.crop_scale() > 0 ? fmt::format("{:.2f}x", f.crop_scale()) : std::string("no face found"));
    framing.warning = fmt::format("the training sources differ widely in framing (crop scales {}; {:.0f}% apart): the "
                                  "model learns faces at both, and detection crops at the combined {:.2f}x",
                                  figures, 100 * framing.spread, framing.crop_scale);
  }
  if (framing.measured() && scale != framing.crop_scale)
    framing.warning += fmt::format("{}the measured crop scale {:.2f} lies outside 1-10; the model files carry {:.2f}",
                                   framing.warning.empty() ? "" : "; ", scale, framing.crop_scale);
  return framing;
}

std::string Framing::describe() const {
  auto line = [](const SourceFraming& f) {
    if (f.faces == 0) return fmt::format("no face found in {} images sampled", f.sampled);
    return fmt::format("face box / crop side {:.2f} (quartiles {:.2f}-{:.2f}; faces found in {} of {} images sampled): "
                       "crop scale {:.2f}",
                       f.median_ratio, f.q1, f.q3, f.faces, f.sampled, f.crop_scale());
  };
  std::string text = "framing of the training images: " + line(all);
  if (sources.size() > 1)
    for (const auto& f : sources) text += "\n  " + f.source + ": " + line(f);
  return text;
}

json Framing::to_json() const {
  json j{{"method", "dlib-hog face box side / crop side on a sample of the training images (scripts/crop_scale.sh's "
                    "measure); crop_scale = 1 / median"},
         {"sampled", all.sampled},
         {"faces", all.faces},
         {"sources", json::array()}};
  if (measured()) {
    j["crop_scale"] = crop_scale;
    j["median_box_over_crop"] = all.median_ratio;
    j["quartiles"] = {all.q1, all.q3};
  }
  for (const auto& f : sources) j["sources"].push_back(f.to_json());
  if (sources.size() > 1) j["spread"] = spread;
  if (!warning.empty()) j["warning"] = warning;
  return j;
}

}  // namespace sola::data
