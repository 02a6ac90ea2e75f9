// sola detect: faces in images, videos and folders scored by a model; a table (or JSON lines) on
// stdout, optional heat maps. While the model scores one chunk of inputs, the next chunk is read and
// its faces found on a second thread (on 2 cores: 12 face photos in 6.4 s instead of 9.7-13 s; for
// crops, decoding is a small part of the time and it makes no measurable difference).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "eval/calibration.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/face.h"
#include "detect/detect.h"
#include "detect/heatmap.h"
#include "detect/inputs.h"
#include "detect/timeline.h"
#include "model/checkpoint.h"
#include "train/progress.h"

namespace sola::cli {
namespace fs = std::filesystem;

namespace {

struct DetectCliOptions {
  std::vector<std::string> inputs;
  std::string model_file;
  detect::DetectOptions detect;
  std::string heatmap_dir;
  std::string timeline_dir;
  bool json = false;
  int threads = 0;
  double scale = 0;
  std::string precision = "auto";
};

struct Counts {
  size_t inputs = 0, fake = 0, real = 0, no_face = 0, failed = 0, damaged = 0, faces = 0;
  size_t unwritten = 0;  ///< inputs scored whose pictures could not be written
};

/// A path for one table row: control characters (a newline in a file name) written as \n, \t, \xHH.
std::string table_path(const std::string& path) {
  std::string out;
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\\') out += "\\\\";
    else if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  return out;
}

/// "12/32" frames with a face for a video, the number of faces for an image.
std::string faces_column(const detect::InputResult& r) {
  if (r.kind == "video") return fmt::format("{}/{}", r.frames_read - r.frames_without_face, r.frames_read);
  return std::to_string(r.faces.size());
}

/// The file-name stem for the pictures of `path`: a stem seen before gets -2, -3, ...
std::string unique_stem(const std::string& path, std::map<std::string, int>& stems) {
  std::string stem = fs::path(path).stem().string();
  if (const int seen = stems[stem]++; seen > 0) stem += "-" + std::to_string(seen + 1);
  return stem;
}

/// Heat maps of one input: every face of an image; for a video only the faces of its highest-scoring
/// frame. Files are DIR/<stem>[_f<frame>]_<face>.png.
void write_heatmaps(const std::string& dir, const detect::InputResult& r, double threshold, const std::string& stem) {
  if (!r.ok() || r.faces.empty()) return;
  int64_t frame = r.faces.front().frame;
  if (r.kind == "video") {
    const auto best = std::max_element(r.faces.begin(), r.faces.end(),
                                       [](const auto& a, const auto& b) { return a.score < b.score; });
    frame = best->frame;
  }
  int index = 0;
  for (const auto& f : r.faces) {
    if (f.frame != frame) continue;
    const std::string name = r.kind == "video" ? fmt::format("{}_f{}_{}.png", stem, f.frame, index)
                                               : fmt::format("{}_{}.png", stem, index);
    detect::write_heatmap((fs::path(dir) / name).string(), f, threshold);
    ++index;
  }
}

/// --heatmaps and --timeline: a video's timeline goes into the timeline folder with the heat map of
/// its highest-scoring frame (into the heat-map folder instead when one is given).
void write_pictures(const DetectCliOptions& opts, const detect::InputResult& r, double threshold,
                    std::map<std::string, int>& stems) {
  const bool timeline = !opts.timeline_dir.empty() && r.kind == "video";
  if (opts.heatmap_dir.empty() && !timeline) return;
  const std::string stem = unique_stem(r.path, stems);
  if (timeline) detect::write_timeline((fs::path(opts.timeline_dir) / (stem + "_timeline.png")).string(), r);
  if (!opts.heatmap_dir.empty())
    write_heatmaps(opts.heatmap_dir, r, threshold, stem);
  else if (timeline)
    write_heatmaps(opts.timeline_dir, r, threshold, stem);
}

int run_detect(const DetectCliOptions& opts) {
  configure_threads(opts.threads);
  const std::string model_path = opts.model_file.empty() ? detect::default_model_path() : opts.model_file;
  auto loaded = load_model(model_path);
  detect::DetectOptions options = opts.detect;
  // The framing the model learned: its crop_scale (sola train measures it), --scale, else 2.6.
  const detect::CropScaleChoice crop = detect::choose_crop_scale(opts.scale, loaded.metadata);
  options.crop_scale = static_cast<float>(crop.scale);
  if (!options.crops) {
    fmt::print(stderr, "sola detect: {}\n", crop.describe());
    if (!crop.warning.empty()) fmt::print(stderr, "sola detect: warning: {}\n", crop.warning);
  }
  options.bf16 = resolve_inference_precision(opts.precision, "sola detect").bf16();
  options.maps = !opts.heatmap_dir.empty() || !opts.timeline_dir.empty();
  options.calibration = eval::calibration_from_json(loaded.metadata.value("calibration", nlohmann::json()), model_path);
  detect::Detector detector(loaded.model, options);
  if (!opts.heatmap_dir.empty()) require_writable_folder(opts.heatmap_dir, "--heatmaps");
  if (!opts.timeline_dir.empty()) require_writable_folder(opts.timeline_dir, "--timeline");
  const std::vector<std::string> inputs = detect::expand_inputs(opts.inputs);
  if (inputs.empty()) {
    std::string given;
    for (const auto& p : opts.inputs) given += (given.empty() ? "" : ", ") + p;
    std::cerr << "sola detect: no input files found in " << given << "\n";
    return kFailure;
  }

  const bool table = !opts.json;
  // On a terminal the table itself shows the progress; the bar is for redirected output.
  std::unique_ptr<ProgressBar> bar;
  if (inputs.size() > 4 && !::isatty(STDOUT_FILENO)) bar = std::make_unique<ProgressBar>("detect", inputs.size());
  if (table) fmt::print("{:<6} {:<11} {:>6} {:>8} {:<5} {}\n", "kind", "status", "faces", "score", "label", "path");

  Counts counts;
  std::map<std::string, int> stems;
  const auto started = std::chrono::steady_clock::now();
  // Chunks of batch_size inputs: chunk k+1 is prepared (decoded, faces cut) while chunk k is scored.
  const size_t chunk = static_cast<size_t>(options.batch_size);
  auto prepare = [&detector, &inputs](size_t begin, size_t end) {
    std::vector<detect::InputResult> out;
    for (size_t i = begin; i < end; ++i) out.push_back(detector.prepare_file(inputs[i]));
    return out;
  };
  std::future<std::vector<detect::InputResult>> next =
      std::async(std::launch::async, prepare, size_t{0}, std::min(chunk, inputs.size()));
  for (size_t begin = 0; begin < inputs.size(); begin += chunk) {
    std::vector<detect::InputResult> results = next.get();
    const size_t after = begin + chunk;
    if (after < inputs.size()) next = std::async(std::launch::async, prepare, after, std::min(after + chunk, inputs.size()));
    detector.score(results);
    for (const auto& r : results) {
      ++counts.inputs;
      counts.faces += r.faces.size();
      std::string unwritten;  // a picture that cannot be written fails that input's output, not the run
      if (r.ok()) {
        ++(r.fake ? counts.fake : counts.real);
        if (!r.warnings.empty()) ++counts.damaged;
        try {
          write_pictures(opts, r, options.threshold, stems);
        } catch (const Error& e) {
          unwritten = e.what();
          ++counts.unwritten;
        }
      } else if (r.status == "no_face") {
        ++counts.no_face;
      } else {
        ++counts.failed;
      }
      if (table) {
        fmt::print("{:<6} {:<11} {:>6} {:>8} {:<5} {}\n", r.kind, r.reported_status(), faces_column(r),
                   r.ok() ? fmt::format("{:.4f}", r.score) : "-", r.ok() ? (r.fake ? "fake" : "real") : "-",
                   table_path(r.path));
        if (!r.ok() && r.status != "no_face") fmt::print(stderr, "sola detect: {}\n", r.error);
        for (const auto& w : r.warnings) fmt::print(stderr, "sola detect: warning: {}\n", w);
        if (!unwritten.empty()) fmt::print(stderr, "sola detect: {}\n", unwritten);
      } else {
        nlohmann::json j = r.to_json();
        if (!unwritten.empty()) j["output_error"] = unwritten;
        fmt::print("{}\n", json_line(j));
        if (!unwritten.empty()) fmt::print(stderr, "sola detect: {}\n", unwritten);
      }
    }
    std::fflush(stdout);
    if (bar) bar->update(counts.inputs, fmt::format("{} fake", counts.fake));
  }
  if (bar) bar->finish(fmt::format("{} fake", counts.fake));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string summary =
      fmt::format("{} inputs: {} fake, {} real, {} no face, {} failed{}{}; {:.1f} inputs/s, {:.1f} faces/s", counts.inputs,
                  counts.fake, counts.real, counts.no_face, counts.failed,
                  counts.damaged ? fmt::format(" ({} scored despite damage)", counts.damaged) : "",
                  counts.unwritten ? fmt::format(", {} whose pictures could not be written", counts.unwritten) : "",
                  counts.inputs / seconds, counts.faces / seconds);
  if (table)
    fmt::print("{}\n", summary);
  else
    fmt::print(stderr, "{}\n", summary);
  if (!opts.heatmap_dir.empty()) fmt::print(stderr, "heat maps in {}\n", opts.heatmap_dir);
  if (!opts.timeline_dir.empty()) fmt::print(stderr, "video timelines in {}\n", opts.timeline_dir);
  return counts.failed || counts.unwritten ? kFailure : kOk;
}

}  // namespace

void setup_detect(CLI::App& app) {
  auto opts = std::make_shared<DetectCliOptions>();
  auto* sub = app.add_subcommand(
      "detect",
      "Find faces in images, videos and folders and score them as real or fake (a table, or JSON lines)");
  sub->add_option("inputs", opts->inputs, "image or video files, or folders (searched recursively)")->required();
  sub->add_option("--model", opts->model_file,
                  "model file (default: $SOLA_MODEL, else models/sola-dfdc.pt next to the executable)");
  sub->add_flag("--crops", opts->detect.crops, "inputs are face crops already: score whole images, no face detection");
  sub->add_option("--threshold", opts->detect.threshold, "score at or above which a face is labelled fake")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--frames", opts->detect.frames, "frames sampled evenly per video (video score: their mean)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  sub->add_flag("!--no-track", opts->detect.tracking.track,
                "videos: a full-frame face detection in every sampled frame instead of following the faces found "
                "(slower; see docs/PERFORMANCE.md)");
  sub->add_option("--scale", opts->scale, "face crop side as a multiple of the face box (0: the model's, from its "
                                         "metadata; 2.6 as in the paper when it has none)")
      ->capture_default_str();
  sub->add_flag("--all-faces", opts->detect.all_faces, "score every face, not only the largest (image score: the maximum)");
  sub->add_option("--detector", opts->detect.detector.method, "face detector")
      ->capture_default_str()
      ->check(CLI::IsMember(data::face_detector_methods()));
  sub->add_option("--heatmaps", opts->heatmap_dir,
                  "write a heat map PNG per face into DIR: crop | 2nd-order anomaly | Grad-CAM "
                  "(<stem>_<face>.png; videos: the highest-scoring frame only, <stem>_f<frame>_<face>.png)")
      ->type_name("DIR");
  sub->add_option("--timeline", opts->timeline_dir,
                  "write per video a score-over-time PNG into DIR (<stem>_timeline.png: frame scores, the threshold, "
                  "frames without a face marked) with the heat map of its highest-scoring frame")
      ->type_name("DIR");
  sub->add_flag("--json", opts->json,
                "one JSON object per input on stdout instead of the table (videos: a per-frame \"timeline\" and "
                "the \"aggregation\" of the frame scores)");
  sub->add_option("--batch", opts->detect.batch_size, "faces per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  add_precision_option(sub, opts->precision);
  add_threads_option(sub, opts->threads);
  sub->footer(
      "Exit status: 0 when every input was processed (an input without a face counts as processed),\n"
      "1 when an input was unreadable or unsupported or its pictures could not be written (the run goes on),\n"
      "or an output folder cannot be written (refused before any input is read), 2 for a usage or\n"
      "configuration error.\n");
  sub->callback([opts] {
    if (int code = run_detect(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
