#pragma once
// Dataset importers: the official on-disk layouts of FaceForensics++ (with DeepFakeDetection and
// FaceShifter) and Celeb-DF v2, and plain folders of real and fake media, turned into the inputs
// of `prepare` (one PrepareItem per video, frame folder or image). Importers only list paths; they
// read no pixels.
//
// FaceForensics++ (as its download script writes it; ROOT is the script's output folder):
//   ROOT/original_sequences/youtube/<comp>/videos/000.mp4 ... 999.mp4     reals, method "real"
//   ROOT/original_sequences/actors/<comp>/videos/01__exit_phone_room.mp4  DFD reals, method "real"
//   ROOT/manipulated_sequences/<M>/<comp>/videos/000_003.mp4              fakes, method M
//   ROOT/manipulated_sequences/<M>/masks/videos/000_003.mp4               masks (not FaceShifter)
//   ROOT/splits/{train,val,test}.json                                     [["953","974"], ...]
// <comp> is raw (the download script's name for c0; "c0" is accepted as a folder name too), c23 or
// c40. In place of <comp>/videos/X.mp4 the frames extracted by FF++'s extract_compressed_videos.py,
// <comp>/images/X/0000.png ..., are taken (the folder is then the input; masks from masks/images/X/
// where present, else masks/videos/X.*). A videos folder wins over an images folder.
// Splits: originals a and b of a pair [a, b] go to that file's split, and so do the fakes a_b and
// b_a. The DeepFakeDetection part (actors + DeepFakeDetection) is in no official split.
//
// Groups tie a fake to its original: FaceForensics++ names a fake TARGET_SOURCE (000_003 is video
// 000 with the face of 003 swapped in; its frames are 000's), so every fake is in the group of its
// target video, as FF++'s own split files pair them: "youtube/000" for 000.mp4 and every
// <M>/000_*.mp4; "actors/01__exit_phone_room" for that DFD original and its fakes
// 01_*__exit_phone_room__*.mp4 (a DFD fake whose name does not parse keeps a group of its own,
// "DeepFakeDetection/<stem>", and is noted). A split by group therefore never puts an original
// and its fakes on both sides. The output folders stay one per video (PrepareItem::folder):
// "real/000", "actors/01__exit_phone_room", "<M>/000_003". Reals always have method "real" (the
// evaluator's per-method AUC needs it).
//
// Celeb-DF v2: ROOT/Celeb-real/id0_0000.mp4, ROOT/YouTube-real/00000.mp4 (reals, method "real"),
// ROOT/Celeb-synthesis/id0_id1_0000.mp4 (fakes, method "celeb-df") and
// ROOT/List_of_testing_videos.txt with lines "<label> <folder>/<file>" where, in that file,
// 1 = REAL and 0 = synthesized (the opposite of sola's 0 real / 1 fake; checked against the folder).
// Listed videos -> split "test", all others -> "train". Groups "<folder>/<stem>".
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "data/prepare.h"

namespace sola::data {

/// What an importer found: the inputs, and one line for each thing it left out or found odd.
struct ImportResult {
  std::vector<PrepareItem> items;
  std::vector<std::string> notes;
};

/// The FaceForensics++ manipulation folders the importer knows, in the official order:
/// Deepfakes, Face2Face, FaceSwap, NeuralTextures, FaceShifter, DeepFakeDetection.
std::vector<std::string> ffpp_methods();

struct FfppOptions {
  std::string compression = "c23";  ///< raw (= c0) | c23 | c40
  /// Manipulations to import (names of ffpp_methods(), any case). Empty: Deepfakes, Face2Face,
  /// FaceSwap, NeuralTextures and FaceShifter, those present (absent ones become notes); a
  /// method named here must be present. "DeepFakeDetection" here is the same as `dfd`.
  std::vector<std::string> methods;
  /// Also import the DeepFakeDetection data set: original_sequences/actors (reals) and
  /// manipulated_sequences/DeepFakeDetection (fakes). Both must be present.
  bool dfd = false;
  bool include_masks = true;  ///< attach mask videos / folders to the fakes where they exist
  /// Folder of train.json, val.json and test.json. Empty: ROOT/splits, used when that folder
  /// exists (all three files then required), else every item gets split "". A folder named here
  /// must hold all three files.
  std::string splits_dir;
  /// Youtube originals (and their fakes) in no split file: false leaves them out (one note),
  /// true keeps them with split "". Only matters when splits are used.
  bool keep_unsplit = false;
  /// Split of the DeepFakeDetection part when splits are used: train | val | test | "".
  std::string dfd_split = "test";
};

/// Lists the FaceForensics++ inputs under `root`, in order: youtube originals, the methods, actors,
/// DeepFakeDetection; by name within each. Throws ConfigError for a bad option value (naming it
/// and the valid ones), IoError naming the root when the layout or a requested method is missing
/// or empty, or when no manipulation has videos at the chosen compression (originals alone
/// cannot train or test a detector; the message names the compressions where fakes exist), naming
/// the file when a split file is missing or malformed.
ImportResult import_ffpp(const std::string& root, const FfppOptions& options = {});

struct CelebDfOptions {
  std::string list_file;  ///< the test list; empty: ROOT/List_of_testing_videos.txt
};

/// Lists the Celeb-DF (v2) inputs under `root` (the video files of its three folders).
/// Throws IoError naming the root when a folder is missing or empty, naming the list file when it
/// is missing, and "FILE: line N: problem" when a line of it is malformed or its label contradicts
/// the folder. Listed videos absent on disk become a note.
ImportResult import_celebdf(const std::string& root, const CelebDfOptions& options = {});

struct FolderImportOptions {
  std::vector<std::string> real;  ///< folders (or single media files) of real media
  std::vector<std::string> fake;  ///< folders (or single media files) of fake media
  std::string fake_method = "fake";  ///< method of the fakes
  std::string split;                 ///< split of every item: train | val | test | ""
};

/// Lists plain folders, recursively (hidden entries skipped, sorted by name). Every video file
/// (is_video_file) is an input, and so is every image file (is_image_file) -- except that a
/// folder below a given one holding images and no videos or subfolders is one input (a video as
/// frames). Groups are "real/<dir>/<path below it, no extension>" ("fake/..." for fakes; <dir> is
/// the given folder's name, numbered when two given folders share a name). Throws IoError naming
/// a missing path or a folder without media, ConfigError when no path is given, a split or
/// method is invalid, or an input is reached twice (e.g. nested or repeated folders).
ImportResult import_folders(const FolderImportOptions& options);

/// Counts of a list of items, for summaries.
struct ImportCounts {
  size_t inputs = 0;
  size_t real = 0;
  size_t fake = 0;
  size_t with_mask = 0;
  std::map<std::string, size_t> splits;   ///< split ("all" for "") -> inputs
  std::map<std::string, size_t> methods;  ///< method -> inputs
};

ImportCounts count_items(const std::vector<PrepareItem>& items);

/// One line: "12 inputs: 4 real, 8 fake (6 with masks); splits: test 3, train 9; methods: ...".
std::string describe(const ImportCounts& counts);

}  // namespace sola::data
