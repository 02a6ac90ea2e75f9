#pragma once
// sola synth: self-blended pseudo-fakes (data/self_blend.h) from real face images, with their masks
// and a manifest that lists the reals too, so that it alone can train a detector.
//
//   out/fake/<name>_<k>.png   pseudo-fake k of the real image <name> (k = 0 .. per_image-1)
//   out/mask/<name>_<k>.png   its mask: 255 exactly where the fake differs from its background
//   out/real/<name>.png       the real image resized to size x size (only with size > 0)
//   out/manifest.csv          per real image that could be read, its row (label 0, method real;
//                             the resized copy, or the original: by its absolute path where it was
//                             given absolute, else relative to out) then its fakes' rows (label 1,
//                             with mask, method self-blend, the real image's group)
//   out/synth.json            the settings that decide the images (seed, size, detector, shapes)
//
// <name> is the real image's file stem, made unique within the run with _2, _3, ... Fake k of an
// image is drawn with a seed made from `seed`, <name> and k alone, so neither the thread count nor
// the other inputs change it. Landmarks: the 68 points of the largest face; an ellipse in the face
// box, or in a centred box of 60% of the image, where none are found.
//
// Resuming: an output file that exists is kept (every file is written atomically, so one that
// exists is whole; a mask is written before its fake, so a fake on disk has its mask), and a run
// with a larger per_image adds fakes. A folder whose synth.json holds other settings is refused.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/face.h"
#include "data/self_blend.h"

namespace sola::data {

struct SynthOptions {
  /// The real images: exactly one of a manifest (its label-0 rows) and `images` (folders, searched
  /// recursively in name order, or image files).
  std::string manifest;
  std::vector<std::string> images;
  std::string out_dir;
  int per_image = 1;  ///< pseudo-fakes per real image, 1 .. 1000
  uint64_t seed = 0;
  int size = 0;  ///< resize every real image to size x size first (0 keeps the size), 0 .. 4096
  /// Face detector; its `landmarks` is not used (the 68 points of the largest face are predicted
  /// with landmarks_file).
  FaceDetectorOptions detector;
  SelfBlendOptions blend;
  int threads = 0;  ///< 0: one per core (core/parallel.h); each thread has its own detector

  /// Throws ConfigError naming the option and its value.
  void validate() const;
};

/// One real image to blend.
struct SynthInput {
  std::string path;   ///< the image file, as given or as the manifest reader resolved it
  std::string group;  ///< manifest group (the name in `images` mode)
  std::string name;   ///< output name stem, unique within the run
};

struct SynthReport {
  size_t inputs = 0;
  size_t skipped_done = 0;    ///< every output existed already (an earlier run)
  size_t processed = 0;       ///< read and blended in this run
  size_t fakes_written = 0;
  size_t landmarks_found = 0; ///< of the processed: 68 plausible landmarks (else the ellipse)
  size_t no_face = 0;         ///< of the processed: no face found at all
  std::map<std::string, size_t> shapes;  ///< mask shape -> fakes written with it
  size_t failed_inputs = 0;   ///< real images that could not be read
  std::vector<std::string> problems;  ///< one per failed input, in input order
  std::string manifest;       ///< the manifest file written
  size_t manifest_real = 0, manifest_fake = 0;  ///< its rows
};

/// The real images of `options` with their names. Throws ConfigError for bad options, sola::Error
/// for a manifest without real rows or no image file found, IoError naming a path in `images`
/// that does not exist or is neither a folder nor an image file, and sola::Error listing a few of
/// them when not one input has the header of an image sola reads -- all before anything is written.
std::vector<SynthInput> synth_inputs(const SynthOptions& options);

/// Blends `inputs` (from synth_inputs) into options.out_dir on options.threads threads and writes
/// its manifest. `progress(done, total)` is called after each input, one call at a time. Throws
/// ConfigError for bad options or a folder made with other settings, IoError naming the detector
/// or landmark file that cannot be loaded (before anything is written) or an output that cannot be
/// written, and sola::Error when not one input can be read (no manifest is written then); an input
/// that cannot be read otherwise is a failed input of the report.
SynthReport synthesize(const std::vector<SynthInput>& inputs, const SynthOptions& options,
                       const std::function<void(size_t done, size_t total)>& progress = {});

}  // namespace sola::data
