// sola synth: self-blended pseudo-fakes (SBI, CVPR 2022) from real face images, with their masks
// and a manifest that lists the reals too, so that it alone can train a detector (resumable).
#include <cstdio>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/parallel.h"
#include "data/face.h"
#include "data/self_blend.h"
#include "data/synth.h"
#include "train/progress.h"

namespace sola::cli {
namespace {

struct SynthCliOptions {
  data::SynthOptions synth;
  std::vector<std::string> shapes;  ///< empty: SelfBlendOptions' default
  bool json = false;
};

int run_synth(const SynthCliOptions& opts) {
  data::SynthOptions o = opts.synth;
  if (!opts.shapes.empty()) o.blend.shapes = opts.shapes;
  const std::vector<data::SynthInput> inputs = data::synth_inputs(o);
  fmt::print(stderr, "sola synth: {} real images, {} pseudo-fake(s) each, {} threads, detector {}\n", inputs.size(),
             o.per_image, worker_count(o.threads, inputs.size()), o.detector.method);
  ProgressBar bar("synth", inputs.size());
  size_t done_count = 0;
  data::SynthReport r;
  try {
    r = data::synthesize(inputs, o, [&](size_t done, size_t) { bar.update(done_count = done); });
  } catch (const Error&) {
    if (done_count == inputs.size()) bar.finish("no image could be read");  // the one error after all the work
    throw;
  }
  bar.finish(fmt::format("{} fakes written", r.fakes_written));

  // Human summary: on stdout, or on stderr when stdout carries the JSON object.
  std::FILE* human = opts.json ? stderr : stdout;
  const size_t fallback = r.processed - r.landmarks_found;
  fmt::print(human, "inputs:            {} ({} done by an earlier run)\n", r.inputs, r.skipped_done);
  fmt::print(human, "fakes written:     {}\n", r.fakes_written);
  fmt::print(human, "landmarks found:   {} of {} processed; ellipse fallback for {} ({} without a face)\n",
             r.landmarks_found, r.processed, fallback, r.no_face);
  fmt::print(human, "failed inputs:     {}\n", r.failed_inputs);
  for (const std::string& p : r.problems) fmt::print(human, "  {}\n", p);
  fmt::print(human, "wrote {}: {} real, {} self-blend\n", r.manifest, r.manifest_real, r.manifest_fake);
  std::fflush(human);
  if (opts.json) {
    nlohmann::json j{{"out", o.out_dir},
                     {"manifest", r.manifest},
                     {"inputs", r.inputs},
                     {"skipped_done", r.skipped_done},
                     {"processed", r.processed},
                     {"fakes_written", r.fakes_written},
                     {"landmarks_found", r.landmarks_found},
                     {"ellipse_fallback", fallback},
                     {"no_face", r.no_face},
                     {"shapes", r.shapes},
                     {"failed_inputs", r.failed_inputs},
                     {"problems", r.problems},
                     {"manifest_real", r.manifest_real},
                     {"manifest_fake", r.manifest_fake},
                     {"seconds", bar.elapsed_seconds()}};
    std::cout << json_line(j) << std::endl;
  }
  return r.failed_inputs > 0 ? kFailure : kOk;
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
  auto* manifest =
      sub->add_option("--manifest", opts->synth.manifest, "manifest CSV whose real rows (label 0) to blend");
  auto* images =
      sub->add_option("--images", opts->synth.images, "folders (searched recursively) or image files of real faces")
          ->allow_extra_args(true);
  manifest->excludes(images);
  sub->add_option("--out", opts->synth.out_dir, "output folder")->required();
  sub->add_option("--per-image", opts->synth.per_image, "pseudo-fakes per real image")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  sub->add_option("--seed", opts->synth.seed, "random seed (each fake's seed also depends on its name and index)")
      ->capture_default_str();
  sub->add_option("--size", opts->synth.size, "resize every image to SIZE x SIZE first (0 keeps the size)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  sub->add_option("--detector", opts->synth.detector.method, "face detector")
      ->capture_default_str()
      ->check(CLI::IsMember(data::face_detector_methods()));
  sub->add_option("--landmarks", opts->synth.detector.landmarks_file, "dlib 68-point shape predictor file")
      ->capture_default_str();
  sub->add_option("--shapes", opts->shapes,
                  "mask shapes drawn uniformly, comma-separated: hull, lower, inner, extended, ellipse "
                  "(default: hull,lower,inner,extended)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(CLI::IsMember(data::self_blend_shapes()));
  sub->add_option("--threads", opts->synth.threads, "worker threads (0 = one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  sub->add_flag("--json", opts->json, "print one JSON object with the counts on stdout");
  sub->callback([opts] {
    if (int code = run_synth(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
