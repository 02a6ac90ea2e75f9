// sola synth: self-blended pseudo-fakes (SBI, CVPR 2022) from real face images, with their masks
// and a manifest that lists the reals too, so that it alone can train a detector (resumable).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/face.h"
#include "data/image_header.h"
#include "data/manifest.h"
#include "data/self_blend.h"
#include "data/video.h"
#include "model/checkpoint.h"
#include "train/progress.h"

namespace sola::cli {
namespace {

namespace fs = std::filesystem;

/// Version of OUT/synth.json, the settings a folder was made with.
constexpr int kSettingsVersion = 1;

struct SynthCliOptions {
  std::string manifest;
  std::vector<std::string> images;
  std::string out;
  int per_image = 1;
  uint64_t seed = 0;
  int size = 0;
  data::FaceDetectorOptions detector;
  std::vector<std::string> shapes;  ///< empty: SelfBlendOptions' default
  int threads = 0;
  bool json = false;
};

/// One real image to blend.
struct Input {
  std::string path;   ///< the image file, as given or resolved by the manifest reader
  std::string group;  ///< manifest group (the file name stem in --images mode)
  std::string name;   ///< output name stem, unique within the run
};

/// What became of one input in this run.
struct Outcome {
  bool failed = false;
  bool skipped = false;       ///< all outputs existed already
  bool landmarks = false;     ///< 68 plausible landmarks were found
  bool face = false;          ///< the detector found a face
  int written = 0;            ///< fakes written
  std::map<std::string, int> shapes;
  std::string problem;
};

/// The output files of one input.
struct Paths {
  fs::path real;  ///< resized copy (--size), else empty
  std::vector<fs::path> fakes, masks;
};

Paths output_paths(const fs::path& out, const Input& in, int per_image, bool resized) {
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

/// Writes `size` bytes at `data` to `file` atomically (temporary file, fsync, rename), so a killed
/// run never leaves a partial file under the final name.
void write_file(const fs::path& file, const char* data, size_t size) {
  write_atomically(file.string(), [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(data, static_cast<std::streamsize>(size));
    out.close();
    if (!out) throw IoError(tmp, "write failed (disk full?)");
  });
}

void write_text(const fs::path& file, const std::string& text) { write_file(file, text.data(), text.size()); }

/// Writes `image` as PNG to `file` atomically.
void write_png(const fs::path& file, const cv::Mat& image) {
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", image, bytes)) throw IoError(file.string(), "OpenCV cannot encode the PNG");
  write_file(file, reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

/// `file` as written in a manifest in `dir`: absolute when it is given absolute, else relative to
/// `dir` (so a tree that holds both can move).
std::string manifest_path(const fs::path& file, const fs::path& dir) {
  if (file.is_absolute()) return file.lexically_normal().generic_string();
  const fs::path rel = fs::absolute(file).lexically_normal().lexically_relative(fs::absolute(dir).lexically_normal());
  return rel.empty() ? fs::absolute(file).lexically_normal().generic_string() : rel.generic_string();
}

/// The real images to blend: the label-0 rows of --manifest, or the image files of --images
/// (folders searched recursively, in name order). Names are file stems made unique with _2, _3...
std::vector<Input> collect_inputs(const SynthCliOptions& opts) {
  std::vector<Input> inputs;
  if (!opts.manifest.empty()) {
    const data::Manifest m = data::read_manifest(opts.manifest);
    for (const data::Sample& s : m.samples) {
      if (s.label == 0) inputs.push_back({s.path, s.group, ""});
    }
    if (inputs.empty()) throw Error(opts.manifest + ": no real images (label 0) to blend");
  } else {
    for (const std::string& arg : opts.images) {
      std::error_code ec;
      const fs::file_status st = fs::status(arg, ec);
      if (st.type() == fs::file_type::not_found) throw IoError(arg, "not found");
      if (st.type() == fs::file_type::directory) {
        std::vector<std::string> files;
        for (fs::recursive_directory_iterator it(arg, ec), end; !ec && it != end; it.increment(ec)) {
          if (it->is_regular_file() && data::is_image_file(it->path().string())) files.push_back(it->path().string());
        }
        if (ec) throw IoError(arg, "cannot list folder: " + ec.message());
        std::sort(files.begin(), files.end());
        for (const std::string& f : files) inputs.push_back({f, "", ""});
      } else if (data::is_image_file(arg)) {
        inputs.push_back({arg, "", ""});
      } else {
        throw IoError(arg, "not a folder or an image file (.jpg .jpeg .png .bmp .webp .tif .tiff)");
      }
    }
    if (inputs.empty()) throw Error("no image files found in --images");
  }
  std::set<std::string> used;
  for (Input& in : inputs) {
    const std::string stem = fs::path(in.path).stem().string();
    in.name = stem;
    for (int n = 2; !used.insert(in.name).second; ++n) in.name = stem + "_" + std::to_string(n);
    if (in.group.empty()) in.group = in.name;
  }
  return inputs;
}

/// Refuses inputs of which not one has the header of an image (a folder of files named .jpg that are
/// not images), before anything is written: they would all fail, and the manifest would hold no row.
void check_some_image_readable(const std::vector<Input>& inputs, const SynthCliOptions& opts) {
  std::vector<std::string> examples;
  for (const Input& in : inputs) {
    if (data::probe_image_file(in.path).ok()) return;
    if (examples.size() < 3) examples.push_back("'" + in.path + "'");
  }
  std::string list;
  for (const std::string& e : examples) list += (list.empty() ? "" : ", ") + e;
  if (inputs.size() > examples.size()) list += ", ...";
  const std::string given = opts.manifest.empty() ? "--images" : opts.manifest;
  throw Error(fmt::format("{}: none of the {} input files is an image sola can read (a JPEG, PNG, BMP, WebP or TIFF "
                          "with a readable header: {}); nothing written to {}",
                          given, inputs.size(), list, opts.out));
}

/// The settings that decide the output images; a folder made with others cannot be resumed.
nlohmann::json settings_json(const SynthCliOptions& opts, const data::SelfBlendOptions& blend) {
  return {{"version", kSettingsVersion},
          {"seed", opts.seed},
          {"size", opts.size},
          {"detector", opts.detector.method},
          {"landmarks_file", opts.detector.landmarks_file},
          {"shapes", blend.shapes}};
}

/// Writes OUT/synth.json, or checks that the existing one matches. Throws ConfigError naming the
/// first setting that differs.
void check_settings(const fs::path& out, const nlohmann::json& settings) {
  const fs::path file = out / "synth.json";
  if (fs::exists(file)) {
    const nlohmann::json old = read_json_file(file.string());
    for (const auto& [key, value] : settings.items()) {
      if (!old.contains(key) || old[key] != value) {
        throw ConfigError(fmt::format("{} was made with {} = {}; this run asks for {}: use another --out, or the "
                                      "same settings to resume",
                                      out.string(), key, old.contains(key) ? old[key].dump() : "(none)", value.dump()));
      }
    }
    return;
  }
  write_text(file, settings.dump(2) + "\n");
}

/// Removes temporary files a killed run left in `dir` ("NAME.tmp.PID").
void remove_stale_temporaries(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().find(".tmp.") != std::string::npos) fs::remove(it->path(), ec);
  }
}

/// Per-thread tools: a face detector and a landmark predictor.
struct Worker {
  std::unique_ptr<data::FaceDetector> detector;
  data::LandmarkPredictor predictor;
  explicit Worker(const data::FaceDetectorOptions& o)
      : detector(data::make_face_detector(o)), predictor(o.landmarks_file) {}
};

/// Blends one input; errors reading it are returned as a problem, errors writing are thrown.
Outcome synth_one(const Input& in, const SynthCliOptions& opts, const data::SelfBlendOptions& blend,
                  const fs::path& out, Worker& worker) {
  Outcome r;
  const Paths paths = output_paths(out, in, opts.per_image, opts.size > 0);
  auto done = [&](int k) { return fs::exists(paths.fakes[k]) && fs::exists(paths.masks[k]); };
  bool all_done = paths.real.empty() || fs::exists(paths.real);
  for (int k = 0; k < opts.per_image && all_done; ++k) all_done = done(k);
  if (all_done) {
    r.skipped = true;
    return r;
  }
  cv::Mat image;
  try {
    image = data::read_image_bgr(in.path);
  } catch (const Error& e) {
    r.failed = true;
    r.problem = e.what();
    return r;
  }
  if (opts.size > 0 && image.size() != cv::Size(opts.size, opts.size)) {
    const bool shrink = image.cols > opts.size || image.rows > opts.size;
    cv::resize(image, image, cv::Size(opts.size, opts.size), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_CUBIC);
  }
  if (!paths.real.empty() && !fs::exists(paths.real)) write_png(paths.real, image);

  cv::Rect2f box;
  const std::vector<cv::Point2f> landmarks = data::find_landmarks(image, *worker.detector, worker.predictor, &box);
  r.landmarks = !landmarks.empty();
  r.face = box.area() > 0;
  for (int k = 0; k < opts.per_image; ++k) {
    if (done(k)) continue;
    const data::SelfBlendResult fake = data::self_blend(image, landmarks, box, fake_seed(opts.seed, in.name, k), blend);
    write_png(paths.masks[k], fake.mask);  // the mask first: a fake on disk always has its mask
    write_png(paths.fakes[k], fake.fake);
    ++r.written;
    ++r.shapes[fake.shape];
  }
  return r;
}

/// Rewrites OUT/manifest.csv: per input that did not fail, its real image then its fakes that exist.
size_t write_manifest(const fs::path& out, const std::vector<Input>& inputs, const std::vector<Outcome>& outcomes,
                      const SynthCliOptions& opts, size_t& n_real) {
  std::string text = "path,label,mask,group,method\n";
  size_t n_fake = 0;
  n_real = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (outcomes[i].failed) continue;
    const Paths p = output_paths(out, inputs[i], opts.per_image, opts.size > 0);
    const std::string group = data::csv_field(inputs[i].group);
    const std::string real = p.real.empty() ? manifest_path(inputs[i].path, out) : "real/" + p.real.filename().string();
    text += data::csv_field(real) + ",0,," + group + ",real\n";
    ++n_real;
    for (int k = 0; k < opts.per_image; ++k) {
      if (!fs::exists(p.fakes[k]) || !fs::exists(p.masks[k])) continue;
      text += data::csv_field("fake/" + p.fakes[k].filename().string()) + ",1," +
              data::csv_field("mask/" + p.masks[k].filename().string()) + "," + group + ",self-blend\n";
      ++n_fake;
    }
  }
  write_text(out / "manifest.csv", text);
  return n_fake;
}

int run_synth(const SynthCliOptions& opts) {
  if (opts.manifest.empty() == opts.images.empty()) {
    throw ConfigError("name the real images with exactly one of --manifest FILE or --images DIR...");
  }
  data::SelfBlendOptions blend;
  if (!opts.shapes.empty()) blend.shapes = opts.shapes;
  blend.validate();

  const std::vector<Input> inputs = collect_inputs(opts);
  check_some_image_readable(inputs, opts);
  data::FaceDetectorOptions detector = opts.detector;
  detector.landmarks = false;  // find_landmarks predicts them for the largest face only
  // The first worker is made before anything is written, so a bad detector or landmark file fails first.
  Worker first(detector);
  const fs::path out(opts.out);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw IoError(out.string(), "cannot create folder: " + ec.message());
  check_settings(out, settings_json(opts, blend));
  for (const char* sub : {"fake", "mask", "real"}) {
    if (std::string(sub) == "real" && opts.size <= 0) continue;
    fs::create_directories(out / sub, ec);
    if (ec) throw IoError((out / sub).string(), "cannot create folder: " + ec.message());
    remove_stale_temporaries(out / sub);
  }

  const unsigned threads = static_cast<unsigned>(
      std::min<size_t>(inputs.size(), opts.threads > 0 ? opts.threads : std::max(1, available_cores())));
  fmt::print(stderr, "sola synth: {} real images, {} pseudo-fake(s) each, {} threads, detector {}\n", inputs.size(),
             opts.per_image, threads, detector.method);

  std::vector<Outcome> outcomes(inputs.size());
  std::atomic<size_t> next{0}, finished{0};
  std::atomic<bool> stop{false};
  std::exception_ptr fatal;
  std::mutex mutex;  // guards `fatal` and the progress bar
  ProgressBar bar("synth", inputs.size());
  auto work = [&](Worker* w) {
    try {
      std::unique_ptr<Worker> own;
      if (!w) {
        own = std::make_unique<Worker>(detector);
        w = own.get();
      }
      for (size_t i = next++; i < inputs.size() && !stop; i = next++) {
        outcomes[i] = synth_one(inputs[i], opts, blend, out, *w);
        const size_t n = ++finished;
        std::lock_guard<std::mutex> lock(mutex);
        bar.update(n);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!fatal) fatal = std::current_exception();
      stop = true;
    }
  };
  // Parallel over images: OpenCV's own threads would only compete with ours.
  const int cv_threads = cv::getNumThreads();
  if (threads > 1) cv::setNumThreads(1);
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, nullptr);
  work(&first);
  for (std::thread& t : pool) t.join();
  cv::setNumThreads(cv_threads);
  if (fatal) std::rethrow_exception(fatal);

  size_t skipped = 0, failed = 0, written = 0, landmarks = 0, no_face = 0, processed = 0;
  std::map<std::string, int> shapes;
  std::vector<std::string> problems;
  for (const Outcome& o : outcomes) {
    skipped += o.skipped;
    failed += o.failed;
    written += o.written;
    if (o.failed) problems.push_back(o.problem);
    if (o.skipped || o.failed) continue;
    ++processed;
    landmarks += o.landmarks;
    no_face += !o.face;
    for (const auto& [shape, n] : o.shapes) shapes[shape] += n;
  }
  if (failed == inputs.size()) {
    // A manifest with a header only is one that read_manifest refuses: write none.
    bar.finish("no image could be read");
    std::string list;
    for (size_t i = 0; i < problems.size() && i < 3; ++i) list += "\n  " + problems[i];
    throw Error(fmt::format("none of the {} input images could be read, so no manifest was written to {}:{}",
                            inputs.size(), (out / "manifest.csv").string(), list));
  }
  size_t n_real = 0;
  const size_t n_fake = write_manifest(out, inputs, outcomes, opts, n_real);
  const std::string manifest = (out / "manifest.csv").string();
  bar.finish(fmt::format("{} fakes written", written));

  std::FILE* human = opts.json ? stderr : stdout;
  fmt::print(human, "inputs:            {} ({} done by an earlier run)\n", inputs.size(), skipped);
  fmt::print(human, "fakes written:     {}\n", written);
  fmt::print(human, "landmarks found:   {} of {} processed; ellipse fallback for {} ({} without a face)\n", landmarks,
             processed, processed - landmarks, no_face);
  fmt::print(human, "failed inputs:     {}\n", failed);
  for (const std::string& p : problems) fmt::print(human, "  {}\n", p);
  fmt::print(human, "wrote {}: {} real, {} self-blend\n", manifest, n_real, n_fake);
  std::fflush(human);
  if (opts.json) {
    nlohmann::json j{{"out", opts.out},
                     {"manifest", manifest},
                     {"inputs", inputs.size()},
                     {"skipped_done", skipped},
                     {"processed", processed},
                     {"fakes_written", written},
                     {"landmarks_found", landmarks},
                     {"ellipse_fallback", processed - landmarks},
                     {"no_face", no_face},
                     {"shapes", shapes},
                     {"failed_inputs", failed},
                     {"problems", problems},
                     {"manifest_real", n_real},
                     {"manifest_fake", n_fake},
                     {"seconds", bar.elapsed_seconds()}};
    std::cout << json_line(j) << std::endl;
  }
  return failed > 0 ? kFailure : kOk;
}

}  // namespace

void setup_synth(CLI::App& app) {
  auto opts = std::make_shared<SynthCliOptions>();
  auto* sub = app.add_subcommand(
      "synth",
      "Make self-blended pseudo-fakes (SBI) from real face images: OUT/fake, OUT/mask and OUT/manifest.csv (resumable)");
  sub->footer(
      "Each real image is blended with a transformed copy of itself inside a soft face-shaped mask (68 dlib "
      "landmarks; an ellipse in the face box, or in a centred box of 60% of the image, where none are found).\n"
      "Writes OUT/fake/NAME_K.png, OUT/mask/NAME_K.png (255 exactly where the fake differs from its background), "
      "with --size also OUT/real/NAME.png (the resized real), and OUT/manifest.csv: every real image (label 0, "
      "method real; the resized copy, or the original by its absolute path where it was given absolute and "
      "relative to OUT otherwise) followed by its fakes (label 1, with mask, method self-blend, the real image's "
      "group), so that this manifest alone can train a detector without any forgery data.\n"
      "Outputs that exist are kept, so a killed run resumes (more --per-image adds fakes); OUT/synth.json records "
      "the settings, and a run with other ones is refused.");
  auto* manifest = sub->add_option("--manifest", opts->manifest, "manifest CSV whose real rows (label 0) to blend");
  auto* images =
      sub->add_option("--images", opts->images, "folders (searched recursively) or image files of real faces")
          ->allow_extra_args(true);
  manifest->excludes(images);
  sub->add_option("--out", opts->out, "output folder")->required();
  sub->add_option("--per-image", opts->per_image, "pseudo-fakes per real image")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  sub->add_option("--seed", opts->seed, "random seed (each fake's seed also depends on its name and index)")
      ->capture_default_str();
  sub->add_option("--size", opts->size, "resize every image to SIZE x SIZE first (0 keeps the size)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  sub->add_option("--detector", opts->detector.method, "face detector")
      ->capture_default_str()
      ->check(CLI::IsMember(data::face_detector_methods()));
  sub->add_option("--landmarks", opts->detector.landmarks_file, "dlib 68-point shape predictor file")
      ->capture_default_str();
  sub->add_option("--shapes", opts->shapes,
                  "mask shapes drawn uniformly, comma-separated: hull, lower, inner, extended, ellipse "
                  "(default: hull,lower,inner,extended)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(CLI::IsMember(data::self_blend_shapes()));
  sub->add_option("--threads", opts->threads, "worker threads (0 = one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  sub->add_flag("--json", opts->json, "print one JSON object with the counts on stdout");
  sub->callback([opts] {
    if (int code = run_synth(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
