// Videos and photos through `sola detect`'s pipeline (detect::Detector), phase by phase: sampled
// frames per second of decoding, face finding and the model, and end to end, for clips made from
// Debian's face photos (tests/face_clips.h) at 480p, 720p and 1080p: one face moving or still, a group
// of faces moving. Each clip runs three ways:
//   before   -- the pipeline before issue 14: decode then find faces in turn, a full-frame detection
//               at the full detection scale in every sampled frame
//   after    -- the default: decoding on a second thread, the face followed between sampled frames,
//               full-frame detections coarse to fine
//   after+bf16 -- the same with the model under bf16 autocast
// and prints how many faces "after" misses against "before" (a sampled frame where before found a face
// and after none), the mean IoU of their boxes, and the largest change of a frame and of the video score.
// Then per photo of the Debian examples: face finding and model milliseconds, before and after, and the
// face finder's thread CPU time (steady under load).
//
//   sola_bench_video [--model models/sola-dfdc.pt] [--sizes 480,720,1080] [--seconds 10] [--fps 25]
//                    [--frames 32] [--repeats 3] [--threads 0 (all cores)] [--codec avc1] [--keep DIR]
//                    [--clips TEXT (only clips whose name contains it)] [--no-photos] [--json]
// Figures are medians over --repeats runs after one warm-up run.
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "bench_util.h"
#include "core/runtime.h"
#include "data/face_track.h"
#include "detect/detect.h"
#include "face_clips.h"
#include "model/checkpoint.h"

namespace {

namespace fs = std::filesystem;
using sola::bench::median;

struct Clip {
  std::string name;
  sola::test::ClipSpec spec;
};

struct Way {
  std::string name;
  sola::detect::DetectOptions options;
};

struct Run {
  double wall_ms = 0, cpu_ms = 0;
  sola::detect::InputResult result;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double fps(double frames, double ms) { return ms > 0 ? frames * 1000.0 / ms : 0.0; }

/// CPU time of the whole process (all threads: decoding, FFmpeg's, LibTorch's) in milliseconds.
double process_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/// CPU time of the calling thread in milliseconds (face finding runs on one thread: this figure hardly
/// moves when other processes share the cores, unlike the wall clock).
double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/// Accuracy of `after` against `before` (full detection) frame by frame.
nlohmann::json compare(const sola::detect::InputResult& before, const sola::detect::InputResult& after) {
  std::map<int64_t, sola::detect::FrameScore> b;
  for (const auto& f : before.frame_scores()) b[f.frame] = f;
  int with_face = 0, missed = 0, extra = 0, matched = 0;
  double iou_sum = 0, score_diff = 0;
  for (const auto& a : after.frame_scores()) {
    const auto it = b.find(a.frame);
    if (it == b.end()) continue;
    const auto& f = it->second;
    with_face += f.has_face() ? 1 : 0;
    if (f.has_face() && !a.has_face()) ++missed;
    if (!f.has_face() && a.has_face()) ++extra;
    if (f.has_face() && a.has_face()) {
      ++matched;
      iou_sum += sola::data::box_iou(f.faces.front()->box, a.faces.front()->box);
      score_diff = std::max(score_diff, std::abs(f.score - a.score));
    }
  }
  return {{"frames_with_face_full_detection", with_face},
          {"faces_missed", missed},
          {"extra", extra},
          {"mean_iou", matched ? iou_sum / matched : 0.0},
          {"max_frame_score_change", score_diff},
          {"video_score_change", std::abs(before.score - after.score)}};
}

int run(int argc, char** argv) {
  sola::bench::Args args(argc, argv);
  const std::string model_file = args.get("model", SOLA_SOURCE_DIR "/models/sola-dfdc.pt");
  const auto sizes = args.get_list("sizes", "480,720,1080");
  const double seconds = std::stod(args.get("seconds", "10"));
  const double clip_fps = std::stod(args.get("fps", "25"));
  const int frames = static_cast<int>(args.get_int("frames", 32));
  const int repeats = static_cast<int>(std::max(1LL, args.get_int("repeats", 3)));
  const int threads = static_cast<int>(args.get_int("threads", 0));
  const std::string codec = args.get("codec", "avc1");
  const std::string keep = args.get("keep", "");
  const std::string only = args.get("clips", "");
  const bool photos = !args.flag("no-photos");
  const bool json_out = args.flag("json");
  args.check();
  if (!sola::test::face_photos_installed())
    throw std::runtime_error("the dlib example photos are missing (" + sola::test::kDlibFaces + "; Debian libdlib-dev)");
  sola::configure_threads(threads);

  auto loaded = sola::load_model(model_file);
  sola::detect::DetectOptions base;
  base.frames = frames;
  base.crop_scale = static_cast<float>(sola::detect::model_crop_scale(loaded.metadata));
  std::vector<Way> ways;
  {
    Way before{"before", base};
    before.options.prefetch = false;
    before.options.tracking.track = false;
    before.options.detector.coarse_to_fine = false;
    ways.push_back(before);
    ways.push_back({"after", base});
    Way bf16{"after+bf16", base};
    bf16.options.bf16 = true;
    ways.push_back(bf16);
  }
  std::vector<sola::detect::Detector> detectors;
  for (const auto& w : ways) detectors.emplace_back(loaded.model, w.options);

  const fs::path dir = keep.empty() ? fs::temp_directory_path() / ("sola-video-bench-" + std::to_string(::getpid()))
                                    : fs::path(keep);
  fs::create_directories(dir);
  std::vector<Clip> clips;
  for (const long long h : sizes) {
    sola::test::ClipSpec s;
    s.height = static_cast<int>(h);
    s.seconds = seconds;
    s.fps = clip_fps;
    s.fourcc = codec;
    const std::string p = std::to_string(h) + "p";
    clips.push_back({p + " one face moving", s});
    s.moving = false;
    clips.push_back({p + " one face still", s});
    s.moving = true;
    s.several = true;
    clips.push_back({p + " group moving", s});
  }

  nlohmann::json out = nlohmann::json::array();
  if (!json_out)
    std::printf("%-24s %-11s %6s %8s %8s %8s %12s %9s   %s\n", "clip", "way", "frames", "decode/s", "face/s", "model/s",
                "end-to-end/s", "cpu ms/fr", "faces missed vs before, mean IoU, largest frame / video score change");
  for (const Clip& clip : clips) {
    if (!only.empty() && clip.name.find(only) == std::string::npos) continue;
    const std::string ext = codec == "MJPG" ? ".avi" : codec == "VP80" ? ".webm" : ".mp4";
    std::string file = (dir / (clip.name + ext)).string();
    std::replace(file.begin() + static_cast<long>(dir.string().size()), file.end(), ' ', '_');
    if (!fs::exists(file)) {
      const auto t0 = std::chrono::steady_clock::now();
      if (!sola::test::write_face_clip(file, clip.spec)) throw std::runtime_error("cannot write " + file + " (codec " + codec + ")");
      std::fprintf(stderr, "made %s in %.1f s\n", file.c_str(), ms_since(t0) / 1000);
    }
    sola::detect::InputResult before;
    for (size_t w = 0; w < ways.size(); ++w) {
      std::vector<Run> runs;
      for (int r = 0; r <= repeats; ++r) {
        Run run;
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = process_cpu_ms();
        run.result = detectors[w].detect_file(file);
        run.cpu_ms = process_cpu_ms() - c0;
        run.wall_ms = ms_since(t0);
        if (!run.result.ok()) throw std::runtime_error(file + ": " + run.result.status + " " + run.result.error);
        if (r > 0) runs.push_back(std::move(run));  // the first run warms up
      }
      auto med = [&](auto field) {
        std::vector<double> v;
        for (const auto& r : runs) v.push_back(field(r));
        return median(v);
      };
      const double n = static_cast<double>(runs.front().result.frames_read);
      const double wall = med([](const Run& r) { return r.wall_ms; });
      const double cpu = med([](const Run& r) { return r.cpu_ms; });
      const double dec = med([](const Run& r) { return r.result.timing.decode_ms; });
      const double face = med([](const Run& r) { return r.result.timing.face_ms; });
      const double model = med([](const Run& r) { return r.result.timing.model_ms; });
      nlohmann::json row{{"clip", clip.name},   {"way", ways[w].name},  {"frames", n},
                         {"decode_fps", fps(n, dec)}, {"face_fps", fps(n, face)}, {"model_fps", fps(n, model)},
                         {"end_to_end_fps", fps(n, wall)}, {"wall_ms", wall}, {"cpu_ms_per_frame", cpu / n}};
      if (w == 0) before = runs.front().result;
      std::string accuracy;
      if (w > 0) {
        row["vs_before"] = compare(before, runs.front().result);
        const auto& c = row["vs_before"];
        char buf[160];
        std::snprintf(buf, sizeof buf, "%d of %d missed, IoU %.3f, %.4f / %.4f", c["faces_missed"].get<int>(),
                      c["frames_with_face_full_detection"].get<int>(), c["mean_iou"].get<double>(),
                      c["max_frame_score_change"].get<double>(), c["video_score_change"].get<double>());
        accuracy = buf;
      }
      out.push_back(row);
      if (!json_out)
        std::printf("%-24s %-11s %6.0f %8.1f %8.1f %8.1f %12.1f %9.1f   %s\n", clip.name.c_str(), ways[w].name.c_str(),
                    n, fps(n, dec), fps(n, face), fps(n, model), fps(n, wall), cpu / n, accuracy.c_str());
      std::fflush(stdout);
    }
  }

  if (photos) {
    if (!json_out)
      std::printf("\n%-28s %-9s %10s %9s %12s %9s %11s\n", "photo", "size", "way", "face ms", "face cpu ms", "model ms",
                  "faces found");
    // The face finder of each way alone, timed in thread CPU time (the "face cpu ms" column).
    std::vector<std::unique_ptr<sola::data::FaceDetector>> finders;
    for (size_t w = 0; w < 2; ++w) finders.push_back(sola::data::make_face_detector(ways[w].options.detector));
    for (const auto& entry : fs::directory_iterator(sola::test::kDlibFaces)) {
      if (entry.path().extension() != ".jpg") continue;
      const cv::Mat bgr = cv::imread(entry.path().string());
      for (size_t w = 0; w < 2; ++w) {
        std::vector<double> face, face_cpu, model;
        size_t found = 0;
        for (int r = 0; r <= repeats; ++r) {
          const auto res = detectors[w].detect_image(bgr, entry.path().filename().string());
          found = res.faces.size();
          const double c0 = thread_cpu_ms();
          (void)finders[w]->detect_largest(bgr);
          const double c = thread_cpu_ms() - c0;
          if (r == 0) continue;
          face.push_back(res.timing.face_ms);
          face_cpu.push_back(c);
          model.push_back(res.timing.model_ms);
        }
        const std::string size = std::to_string(bgr.cols) + "x" + std::to_string(bgr.rows);
        out.push_back({{"photo", entry.path().filename().string()}, {"size", size}, {"way", ways[w].name},
                       {"face_ms", median(face)}, {"face_cpu_ms", median(face_cpu)}, {"model_ms", median(model)},
                       {"faces", found}});
        if (!json_out)
          std::printf("%-28s %-9s %10s %9.1f %12.1f %9.1f %11zu\n", entry.path().filename().string().c_str(), size.c_str(),
                      ways[w].name.c_str(), median(face), median(face_cpu), median(model), found);
      }
    }
  }
  if (json_out) std::printf("%s\n", out.dump(1).c_str());
  if (keep.empty()) fs::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return sola::bench::run_main("sola_bench_video", [&] { return run(argc, argv); }); }
