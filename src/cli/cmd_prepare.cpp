// sola prepare: FaceForensics++ / Celeb-DF / plain folders of videos -> face crops, masks and
// manifests (resumable: inputs finished by an earlier run are skipped).
#include <cstdio>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "data/face.h"
#include "data/importers.h"
#include "data/prepare.h"
#include "train/progress.h"

namespace sola::cli {
namespace {

struct PrepareCliOptions {
  // Source: exactly one of ffpp, celebdf, real/fake.
  std::string ffpp;
  std::string celebdf;
  std::vector<std::string> real;
  std::vector<std::string> fake;
  // FaceForensics++.
  data::FfppOptions ffpp_options;
  bool no_masks = false;
  // Output.
  data::PrepareOptions prepare;
  bool no_mask_box = false;
  bool json = false;
};

/// The items of the source the options name. Throws ConfigError unless exactly one is named.
data::ImportResult import_source(const PrepareCliOptions& opts, std::string& source, std::string& root) {
  const int named = !opts.ffpp.empty() + !opts.celebdf.empty() + !(opts.real.empty() && opts.fake.empty());
  if (named != 1) {
    throw ConfigError("name exactly one source: --ffpp ROOT, --celebdf ROOT, or --real DIR... and/or --fake DIR...");
  }
  if (!opts.ffpp.empty()) {
    source = "ffpp";
    root = opts.ffpp;
    data::FfppOptions o = opts.ffpp_options;
    o.include_masks = !opts.no_masks;
    return data::import_ffpp(opts.ffpp, o);
  }
  if (!opts.celebdf.empty()) {
    source = "celebdf";
    root = opts.celebdf;
    return data::import_celebdf(opts.celebdf);
  }
  source = "folders";
  data::FolderImportOptions o;
  o.real = opts.real;
  o.fake = opts.fake;
  return data::import_folders(o);
}

int run_prepare(const PrepareCliOptions& opts) {
  std::string source, root;
  const data::ImportResult imported = import_source(opts, source, root);
  const data::ImportCounts counts = data::count_items(imported.items);
  fmt::print(stderr, "sola prepare: {}{}: {}\n", source, root.empty() ? "" : " " + root, data::describe(counts));
  for (const std::string& note : imported.notes) fmt::print(stderr, "  note: {}\n", note);
  if (imported.items.empty()) throw Error("nothing to prepare: the import found no inputs (see the notes above)");

  data::PrepareOptions popts = opts.prepare;
  popts.use_mask_box = !opts.no_mask_box;
  ProgressBar bar("prepare", imported.items.size());
  const data::PrepareReport report =
      data::prepare(imported.items, popts, [&](size_t done, size_t) { bar.update(done); });  // called serialized
  bar.finish(fmt::format("{} crops", report.faces));

  // Human summary: on stdout, or on stderr when stdout carries the JSON object.
  std::FILE* human = opts.json ? stderr : stdout;
  fmt::print(human, "inputs:          {} ({} done by an earlier run)\n", report.inputs, report.skipped_done);
  fmt::print(human, "frames read:     {}\n", report.frames);
  fmt::print(human, "face crops:      {}\n", report.faces);
  fmt::print(human, "no-face frames:  {}\n", report.no_face);
  fmt::print(human, "failed inputs:   {}\n", report.failed_inputs);
  for (const std::string& p : report.problems) fmt::print(human, "  {}\n", p);
  for (const std::string& n : report.notes) fmt::print(human, "  note: {}\n", n);
  for (const std::string& m : report.manifests) fmt::print(human, "wrote {}\n", m);
  std::fflush(human);

  if (opts.json) {
    nlohmann::json j{{"source", source},
                     {"out", popts.out_dir},
                     {"inputs", report.inputs},
                     {"real", counts.real},
                     {"fake", counts.fake},
                     {"with_mask", counts.with_mask},
                     {"splits", counts.splits},
                     {"methods", counts.methods},
                     {"notes", imported.notes},
                     {"prepare_notes", report.notes},
                     {"skipped_done", report.skipped_done},
                     {"frames", report.frames},
                     {"faces", report.faces},
                     {"no_face", report.no_face},
                     {"failed_inputs", report.failed_inputs},
                     {"problems", report.problems},
                     {"empty_splits", report.empty_splits},
                     {"manifests", report.manifests},
                     {"seconds", bar.elapsed_seconds()}};
    if (!root.empty()) j["root"] = root;
    std::cout << json_line(j) << std::endl;
  }
  return report.failed_inputs > 0 ? kFailure : kOk;
}

}  // namespace

void setup_prepare(CLI::App& app) {
  auto opts = std::make_shared<PrepareCliOptions>();
  auto* sub = app.add_subcommand(
      "prepare",
      "Detect and crop faces in FaceForensics++, Celeb-DF or plain folders of videos/images; write crops, "
      "masks and OUT/<split>/manifest.csv (resumable)");
  sub->footer(
      "FaceForensics++ ROOT is the download script's output folder (original_sequences/, manipulated_sequences/, "
      "optional splits/{train,val,test}.json); Celeb-DF ROOT holds Celeb-real/, Celeb-synthesis/, YouTube-real/ "
      "and List_of_testing_videos.txt (listed videos -> test, the rest -> train).");
  auto* ffpp = sub->add_option("--ffpp", opts->ffpp, "FaceForensics++ root folder");
  auto* celebdf = sub->add_option("--celebdf", opts->celebdf, "Celeb-DF v2 root folder");
  auto* real = sub->add_option("--real", opts->real,
                                "folders (or files) of real videos, images and frame folders, searched recursively");
  auto* fake = sub->add_option("--fake", opts->fake,
                               "folders (or files) of fake videos, images and frame folders, searched recursively");
  ffpp->excludes(celebdf)->excludes(real)->excludes(fake);
  celebdf->excludes(real)->excludes(fake);
  sub->add_option("--out", opts->prepare.out_dir, "output folder (crops, masks, <split>/manifest.csv)")->required();

  data::FfppOptions& f = opts->ffpp_options;
  sub->add_option("--compression", f.compression, "FaceForensics++ compression: raw (= c0), c23, c40")
      ->capture_default_str()
      ->needs(ffpp);
  sub->add_option("--methods", f.methods,
                  "FaceForensics++ methods, comma-separated: Deepfakes, Face2Face, FaceSwap, NeuralTextures, "
                  "FaceShifter, DeepFakeDetection (default: the first five that are present)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->needs(ffpp);
  sub->add_flag("--dfd", f.dfd, "also DeepFakeDetection: original_sequences/actors + manipulated_sequences/DeepFakeDetection")
      ->needs(ffpp);
  sub->add_option("--dfd-split", f.dfd_split, "split of the DeepFakeDetection part: train, val, test or ''")
      ->capture_default_str()
      ->needs(ffpp);
  sub->add_option("--splits", f.splits_dir, "folder of train.json, val.json, test.json (default: ROOT/splits if present)")
      ->needs(ffpp);
  sub->add_flag("--keep-unsplit", f.keep_unsplit, "keep youtube videos (and their fakes) that are in no split file")
      ->needs(ffpp);
  sub->add_flag("--no-masks", opts->no_masks, "ignore the FaceForensics++ mask videos")->needs(ffpp);

  data::PrepareOptions& p = opts->prepare;
  sub->add_option("--frames", p.frames_per_video, "frames sampled evenly per video")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  sub->add_option("--size", p.size, "crop side in pixels")->capture_default_str()->check(CLI::Range(16, 4096));
  sub->add_option("--scale", p.crop_scale, "crop side as a multiple of the face box")
      ->capture_default_str()
      ->check(CLI::Range(1.0f, 10.0f));
  sub->add_option("--detector", p.detector.method, "face detector")
      ->capture_default_str()
      ->check(CLI::IsMember(data::face_detector_methods()));
  sub->add_flag("--align", p.align, "rotate each face so the eyes are level (68 landmarks) before cropping");
  sub->add_flag("--no-mask-box", opts->no_mask_box, "crop around the detected face even where a mask exists");
  sub->add_option("--format", p.image_format, "crop image format")->capture_default_str()->check(
      CLI::IsMember({"png", "jpg"}));
  sub->add_option("--threads", p.threads, "worker threads (0 = one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  sub->add_flag("--json", opts->json, "print one JSON object with the counts on stdout");
  sub->callback([opts] {
    if (int code = run_prepare(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
