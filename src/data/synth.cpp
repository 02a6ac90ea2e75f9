#include "data/synth.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/parallel.h"
#include "data/image_header.h"
#include "data/manifest.h"
#include "data/video.h"

namespace sola::data {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// Version of OUT/synth.json, the settings a folder was made with.
constexpr int kSettingsVersion = 1;

/// What became of one input in this run.
struct Outcome {
  bool failed = false;
  bool skipped = false;    ///< all outputs existed already
  bool landmarks = false;  ///< 68 plausible landmarks were found
  bool face = false;       ///< the detector found a face
  size_t written = 0;      ///< fakes written
  std::map<std::string, size_t> shapes;
  std::string problem;
};

/// The output files of one input.
struct Paths {
  fs::path real;  ///< resized copy (size > 0), else empty
  std::vector<fs::path> fakes, masks;
};

Paths output_paths(const fs::path& out, const SynthInput& in, int per_image, bool resized) {
  Paths p;
  if (resized) p.real = out / "real" / (in.name + ".png");
  for (int k = 0; k < per_image; ++k) {
    const std::string file = in.name + "_" + std::to_string(k) + ".png";
    p.fakes.push_back(out / "fake" / file);
    p.masks.push_back(out / "mask" / file);
  }
  return p;
}

/// splitmix64's finaliser: a well-mixed 64-bit hash of x.
uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// The seed of fake `k` of the image named `name`: independent of thread scheduling and of the
/// other inputs, so a resumed or extended run makes the same images.
uint64_t fake_seed(uint64_t seed, const std::string& name, int k) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a of the name
  for (const unsigned char c : name) h = (h ^ c) * 0x100000001B3ull;
  return mix64(mix64(seed) ^ mix64(h + static_cast<uint64_t>(k)));
}

/// Writes `image` as PNG to `file` atomically.
void write_png(const fs::path& file, const cv::Mat& image) {
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", image, bytes)) throw IoError(file.string(), "OpenCV cannot encode the PNG");
  write_file_atomically(file.string(), std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

/// `file` as written in a manifest in `dir`: absolute when it is given absolute, else relative to
/// `dir` (so a tree that holds both can move).
std::string manifest_path(const fs::path& file, const fs::path& dir) {
  if (file.is_absolute()) return file.lexically_normal().generic_string();
  const fs::path rel = fs::absolute(file).lexically_normal().lexically_relative(fs::absolute(dir).lexically_normal());
  return rel.empty() ? fs::absolute(file).lexically_normal().generic_string() : rel.generic_string();
}

/// Refuses inputs of which not one has the header of an image (a folder of files named .jpg that are
/// not images), before anything is written: they would all fail, and the manifest would hold no row.
void check_some_image_readable(const std::vector<SynthInput>& inputs, const SynthOptions& o) {
  std::vector<std::string> examples;
  for (const SynthInput& in : inputs) {
    if (probe_image_file(in.path).ok()) return;
    if (examples.size() < 3) examples.push_back("'" + in.path + "'");
  }
  std::string list;
  for (const std::string& e : examples) list += (list.empty() ? "" : ", ") + e;
  if (inputs.size() > examples.size()) list += ", ...";
  const std::string given = o.manifest.empty() ? "--images" : o.manifest;
  throw Error(fmt::format("{}: none of the {} input files is an image sola can read (a JPEG, PNG, BMP, WebP or TIFF "
                          "with a readable header: {}); nothing written to {}",
                          given, inputs.size(), list, o.out_dir));
}

/// The settings that decide the output images; a folder made with others cannot be resumed.
json settings_json(const SynthOptions& o) {
  return {{"version", kSettingsVersion},
          {"seed", o.seed},
          {"size", o.size},
          {"detector", o.detector.method},
          {"landmarks_file", o.detector.landmarks_file},
          {"shapes", o.blend.shapes}};
}

/// Writes OUT/synth.json, or checks that the existing one matches. Throws ConfigError naming the
/// first setting that differs.
void check_settings(const fs::path& out, const json& settings) {
  const fs::path file = out / "synth.json";
  if (fs::exists(file)) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw IoError(file.string(), "cannot open for reading");
    json old;
    try {
      old = json::parse(in);
    } catch (const json::exception& e) {
      throw ConfigError(file.string() + ": not valid JSON: " + e.what());
    }
    for (const auto& [key, value] : settings.items()) {
      if (!old.contains(key) || old[key] != value) {
        throw ConfigError(fmt::format("{} was made with {} = {}; this run asks for {}: use another --out, or the "
                                      "same settings to resume",
                                      out.string(), key, old.contains(key) ? old[key].dump() : "(none)", value.dump()));
      }
    }
    return;
  }
  write_file_atomically(file.string(), settings.dump(2) + "\n");
}

/// Per-thread tools: a face detector and a landmark predictor.
struct Worker {
  std::unique_ptr<FaceDetector> detector;
  LandmarkPredictor predictor;
  explicit Worker(const FaceDetectorOptions& o) : detector(make_face_detector(o)), predictor(o.landmarks_file) {}
};

/// Blends one input; errors reading it are returned as a problem, errors writing are thrown.
Outcome synth_one(const SynthInput& in, const SynthOptions& o, const fs::path& out, Worker& worker) {
  Outcome r;
  const Paths paths = output_paths(out, in, o.per_image, o.size > 0);
  auto done = [&](int k) { return fs::exists(paths.fakes[k]) && fs::exists(paths.masks[k]); };
  bool all_done = paths.real.empty() || fs::exists(paths.real);
  for (int k = 0; k < o.per_image && all_done; ++k) all_done = done(k);
  if (all_done) {
    r.skipped = true;
    return r;
  }
  cv::Mat image;
  try {
    image = read_image_bgr(in.path);
  } catch (const Error& e) {
    r.failed = true;
    r.problem = e.what();
    return r;
  }
  if (o.size > 0 && image.size() != cv::Size(o.size, o.size)) {
    const bool shrink = image.cols > o.size || image.rows > o.size;
    cv::resize(image, image, cv::Size(o.size, o.size), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_CUBIC);
  }
  if (!paths.real.empty() && !fs::exists(paths.real)) write_png(paths.real, image);

  cv::Rect2f box;
  const std::vector<cv::Point2f> landmarks = find_landmarks(image, *worker.detector, worker.predictor, &box);
  r.landmarks = !landmarks.empty();
  r.face = box.area() > 0;
  for (int k = 0; k < o.per_image; ++k) {
    if (done(k)) continue;
    const SelfBlendResult fake = self_blend(image, landmarks, box, fake_seed(o.seed, in.name, k), o.blend);
    write_png(paths.masks[k], fake.mask);  // the mask first: a fake on disk always has its mask
    write_png(paths.fakes[k], fake.fake);
    ++r.written;
    ++r.shapes[fake.shape];
  }
  return r;
}

/// The manifest's rows: per input that did not fail, its real image then its fakes that exist.
std::vector<Sample> manifest_rows(const fs::path& out, const std::vector<SynthInput>& inputs,
                                  const std::vector<Outcome>& outcomes, const SynthOptions& o) {
  std::vector<Sample> rows;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (outcomes[i].failed) continue;
    const Paths p = output_paths(out, inputs[i], o.per_image, o.size > 0);
    Sample real;
    real.path = p.real.empty() ? manifest_path(inputs[i].path, out) : "real/" + p.real.filename().string();
    real.group = inputs[i].group;
    real.method = "real";
    rows.push_back(real);
    for (int k = 0; k < o.per_image; ++k) {
      if (!fs::exists(p.fakes[k]) || !fs::exists(p.masks[k])) continue;
      Sample fake;
      fake.path = "fake/" + p.fakes[k].filename().string();
      fake.mask = "mask/" + p.masks[k].filename().string();
      fake.label = 1;
      fake.group = inputs[i].group;
      fake.method = "self-blend";
      rows.push_back(std::move(fake));
    }
  }
  return rows;
}

/// Makes `dir` (and its parents). Throws IoError naming it.
void make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError(dir.string(), "cannot create folder: " + ec.message());
}

/// Sets OpenCV's threads for its lifetime: one while our own workers run in parallel.
class OpenCvThreads {
 public:
  explicit OpenCvThreads(int threads) : saved_(cv::getNumThreads()) { cv::setNumThreads(threads); }
  ~OpenCvThreads() { cv::setNumThreads(saved_); }
  OpenCvThreads(const OpenCvThreads&) = delete;
  OpenCvThreads& operator=(const OpenCvThreads&) = delete;

 private:
  int saved_;
};

}  // namespace

void SynthOptions::validate() const {
  if (manifest.empty() == images.empty()) {
    throw ConfigError("name the real images with exactly one of --manifest FILE or --images DIR...");
  }
  auto bad = [](const std::string& key, const std::string& value, const std::string& want) {
    throw ConfigError("synth option " + key + " = " + value + ": " + want);
  };
  if (out_dir.empty()) bad("out_dir", "''", "an output folder is required");
  if (per_image < 1 || per_image > 1000) bad("per_image", std::to_string(per_image), "must be 1 to 1000");
  if (size < 0 || size > 4096) bad("size", std::to_string(size), "must be 0 (keep) to 4096");
  if (threads < 0) bad("threads", std::to_string(threads), "must be 0 (one per core) or more");
  blend.validate();
}

std::vector<SynthInput> synth_inputs(const SynthOptions& o) {
  o.validate();
  std::vector<SynthInput> inputs;
  if (!o.manifest.empty()) {
    const Manifest m = read_manifest(o.manifest);
    for (const Sample& s : m.samples) {
      if (s.label == 0) inputs.push_back({s.path, s.group, ""});
    }
    if (inputs.empty()) throw Error(o.manifest + ": no real images (label 0) to blend");
  } else {
    for (const std::string& arg : o.images) {
      std::error_code ec;
      const fs::file_status st = fs::status(arg, ec);
      if (st.type() == fs::file_type::not_found) throw IoError(arg, "not found");
      if (st.type() == fs::file_type::directory) {
        std::vector<std::string> files;
        for (fs::recursive_directory_iterator it(arg, ec), end; !ec && it != end; it.increment(ec)) {
          if (it->is_regular_file() && is_image_file(it->path().string())) files.push_back(it->path().string());
        }
        if (ec) throw IoError(arg, "cannot list folder: " + ec.message());
        std::sort(files.begin(), files.end());
        for (const std::string& f : files) inputs.push_back({f, "", ""});
      } else if (is_image_file(arg)) {
        inputs.push_back({arg, "", ""});
      } else {
        throw IoError(arg, "not a folder or an image file (.jpg .jpeg .png .bmp .webp .tif .tiff)");
      }
    }
    if (inputs.empty()) throw Error("no image files found in --images");
  }
  std::set<std::string> used;
  for (SynthInput& in : inputs) {
    const std::string stem = fs::path(in.path).stem().string();
    in.name = stem;
    for (int n = 2; !used.insert(in.name).second; ++n) in.name = stem + "_" + std::to_string(n);
    if (in.group.empty()) in.group = in.name;
  }
  check_some_image_readable(inputs, o);
  return inputs;
}

SynthReport synthesize(const std::vector<SynthInput>& inputs, const SynthOptions& options,
                       const std::function<void(size_t, size_t)>& progress) {
  options.validate();
  if (inputs.empty()) throw ConfigError("synth: no real images to blend");
  FaceDetectorOptions detector = options.detector;
  detector.landmarks = false;  // find_landmarks predicts them for the largest face only
  const size_t workers = worker_count(options.threads, inputs.size());
  PerWorker<Worker> tools(workers, [&] { return std::make_unique<Worker>(detector); });
  tools.first();  // a bad detector or landmark file fails before anything is written
  const fs::path out(options.out_dir);
  make_dirs(out);
  check_settings(out, settings_json(options));
  for (const char* sub : {"fake", "mask", "real"}) {
    if (std::string(sub) == "real" && options.size <= 0) continue;
    make_dirs(out / sub);
    remove_stale_temporaries((out / sub).string());  // of files whose writing a killed run left
  }

  std::vector<Outcome> outcomes(inputs.size());
  {
    // Parallel over images: OpenCV's own threads would only compete with ours.
    const OpenCvThreads cv_threads(workers > 1 ? 1 : cv::getNumThreads());
    ParallelOptions parallel;
    parallel.threads = options.threads;
    parallel.item_name = [&](size_t i) { return inputs[i].path; };
    parallel.progress = progress;
    parallel_for(inputs.size(), [&](size_t i, size_t worker) {
      outcomes[i] = synth_one(inputs[i], options, out, tools[worker]);
    }, parallel);
  }

  SynthReport report;
  report.inputs = inputs.size();
  for (const Outcome& o : outcomes) {
    report.skipped_done += o.skipped;
    report.failed_inputs += o.failed;
    report.fakes_written += o.written;
    if (o.failed) report.problems.push_back(o.problem);
    if (o.skipped || o.failed) continue;
    ++report.processed;
    report.landmarks_found += o.landmarks;
    report.no_face += !o.face;
    for (const auto& [shape, n] : o.shapes) report.shapes[shape] += n;
  }
  report.manifest = (out / "manifest.csv").string();
  if (report.failed_inputs == inputs.size()) {
    // A manifest with a header only is one that read_manifest refuses: write none.
    std::string list;
    for (size_t i = 0; i < report.problems.size() && i < 3; ++i) list += "\n  " + report.problems[i];
    throw Error(fmt::format("none of the {} input images could be read, so no manifest was written to {}:{}",
                            inputs.size(), report.manifest, list));
  }
  const std::vector<Sample> rows = manifest_rows(out, inputs, outcomes, options);
  for (const Sample& s : rows) (s.label ? report.manifest_fake : report.manifest_real) += 1;
  write_manifest(report.manifest, rows);
  return report;
}

}  // namespace sola::data
