#pragma once
// sola prepare: raw videos or frame folders -> face crops + masks + manifests.
//
//   out/<split>/manifest.csv                       (format of shared/data/README.md; split "all" when none)
//   out/<split>/<method>/<folder>/<frame>.png      face crop, size x size (.jpg with image_format jpg)
//   out/<split>/<method>/<folder>/<frame>_mask.png mask crop, 0/255 (fakes with a mask video/folder)
//   out/.prepare/<key>.json                        one record per finished input (resumption)
//
// <frame> is the frame number in the video (the position in the sorted folder; 0 for an image),
// 6 digits. <folder> is the item's `folder`, or where that is empty its group (then unique per
// video, as the folder importers make them), made safe as a path: '/' and '\' separate nested folders (empty parts dropped), a leading
// "<method>/" is dropped when more follows (the method folder says it already), every byte but
// ASCII letters and digits, '-', '_', '.', '+' and non-ASCII bytes becomes '_', a part starting
// with '.' gets a '_' in front, a part longer than 100 bytes is cut and ends in a hash of it. So
// folder "Deepfakes/000_003" of method Deepfakes -> Deepfakes/000_003/, "real/000" -> real/000/,
// "fake/dirA/sub/0" -> fake/dirA/sub/0/. Two inputs of a split that land in the same folder (e.g.
// groups "a b" and "a_b") are a ConfigError. An input owns the files directly in its folder, not
// its subfolders (group "a/b" is a subfolder of group "a"'s folder).
//
// Per input: frames sampled evenly (frames_per_video), faces detected, the crop resized to `size`,
// the mask cropped identically:
//   - no mask (or use_mask_box off): centred on the largest face, side crop_scale x the face box;
//     a frame without a face is counted, not fatal, and gives no crop.
//   - mask with forged pixels and use_mask_box set: centred on the mask's bounding box (so the
//     forged area is in the middle, as in the paper), side crop_scale x the box of the largest
//     face that overlaps the mask's box -- the same scale as a real's crop, so the size of the
//     face in a crop does not tell fakes from reals (cropping at crop_scale x the mask's box, which
//     is smaller than the face, zooms fakes in: a shortcut a model learns). Where no face overlaps
//     the mask's box, the side is crop_scale x the mask's box.
// With `align`, the frame and mask are first rotated about that face's centre so the eyes are
// level. Masks are read as gray and thresholded at 127; a mask frame that is missing (mask video
// shorter than the input) leaves that row without a mask, and the report notes the input.
//
// A split whose inputs give no crop at all (every frame faceless, every input failed, every
// record dropped) gets no manifest -- a manifest needs at least one sample -- and a stale one from
// an earlier run is removed; the report lists it in empty_splits and problems.
//
// An input whose record exists and matches (same input, mask, label, folder and the settings that
// shape the crops, and input and mask files of the same size and modification time -- for a folder
// of frames, those of its image files) is skipped, so a killed run resumes where it stopped; a
// record that differs only in its group is rewritten with the new group, without cropping again.
// Any other input is redone from scratch (the files of its folder removed first): a video that was
// replaced, or whose mask was, is cropped again. Manifests are rewritten from all records in out/.prepare
// at the end, including those of earlier runs with other items.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "data/face.h"

namespace sola::data {

/// One input: a video file, an image file or a folder of frames (sorted by name).
struct PrepareItem {
  std::string input;
  std::string mask;    ///< mask video / image / folder of frames aligned with `input`, or empty
  int label = 0;       ///< 0 real, 1 fake
  /// Manifest group: inputs that must stay on one side of a split (a video and the fakes made from
  /// it). Empty: the input's file stem (a folder's name).
  std::string group;
  std::string method;  ///< "real" or the manipulation name; empty: "real" / "fake" by label
  std::string split;   ///< train | val | test | "" (written as "all")
  // split and method become folder names: not empty, no '/' or '\', not starting with '.'.
  /// Output folder below <split>/<method>/ (see above), unique per input. Empty: the group's.
  std::string folder;
};

struct PrepareOptions {
  std::string out_dir;
  int frames_per_video = 32;
  float crop_scale = 2.6f;
  int size = 256;
  bool use_mask_box = true;    ///< centre crops on the mask's bounding box where a mask exists (see above)
  bool align = false;          ///< rotate so the eyes are level (68 landmarks) before cropping
  FaceDetectorOptions detector;  ///< its `landmarks` is set from `align`
  std::string image_format = "png";  ///< png | jpg
  int jpeg_quality = 95;
  int threads = 0;             ///< 0: one per core; each thread has its own detector
};

struct PrepareReport {
  size_t inputs = 0;           ///< items given
  size_t skipped_done = 0;     ///< already prepared by an earlier run
  size_t frames = 0;           ///< frames read
  size_t faces = 0;            ///< crops written
  size_t no_face = 0;          ///< frames without a face
  size_t failed_inputs = 0;    ///< inputs that could not be read at all
  /// "input: problem", one per failed input; also "record: problem" for a record of an earlier
  /// run that is unreadable or lists missing files (it is removed, so the next run redoes it),
  /// and "out/<split>: no crops in split ..." for each of empty_splits.
  std::vector<std::string> problems;
  std::vector<std::string> manifests;  ///< manifest files written
  /// "input: remark" for inputs that were prepared but not as asked, e.g. a mask video shorter
  /// than its input (crops without a mask). Also for inputs done by an earlier run. Sorted.
  std::vector<std::string> notes;
  /// Splits (of this run's inputs, of records, or with a manifest of an earlier run) without any
  /// crop: no manifest was written for them and a stale one was removed. Sorted.
  std::vector<std::string> empty_splits;
};

/// Prepares `items` on `threads` threads. `progress(done, total)` is called after each input,
/// serialized. Throws ConfigError naming the key or input for bad options or items (an unknown
/// detector method, a real with a mask, two inputs written to the same folder, ...) before any
/// work, and IoError when an output cannot be written; an input that cannot be read is a failed
/// input in the report, not an exception.
PrepareReport prepare(const std::vector<PrepareItem>& items, const PrepareOptions& options,
                      const std::function<void(size_t, size_t)>& progress = {});

}  // namespace sola::data
