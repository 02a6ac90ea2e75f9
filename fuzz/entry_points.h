#pragma once
// The parsers of outside input, each behind one function taking the raw bytes of an input file.
// The libFuzzer targets (fuzz/fuzz_*.cpp) and the regression replay in tests/bad_input_test.cpp call
// the same functions, so a crash found by fuzzing is replayed exactly by the normal test suite.
//
// Contract of every entry point: it returns normally when the parser accepts the input and throws
// sola::Error when it rejects it. Anything else (another exception, a crash, a sanitizer report,
// unbounded memory or time) is a bug.
#include <cstdint>
#include <stdexcept>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cli/common.h"
#include "core/error.h"
#include "data/image.h"
#include "data/manifest.h"
#include "model/checkpoint.h"

namespace sola::fuzz {

/// The fuzz targets, by name: also the folder names under fuzz/regressions/ and the corpus.
inline const std::vector<std::string>& target_names() {
  static const std::vector<std::string> names = {"fuzz_image", "fuzz_manifest", "fuzz_config", "fuzz_checkpoint"};
  return names;
}

/// Writes `bytes` to `file`, replacing it. Throws IoError when it cannot.
inline void write_bytes(const std::string& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw IoError(file, "cannot write fuzz input");
}

/// A folder the entry points write their input files into, with the files a fuzzed manifest may
/// name: `a.png` and `b.jpg` (8x8 colour images), `m.png` (8x8 mask), `s.png` (4x4 mask, the wrong
/// size), `t.png` (text, not an image) and the folder `d/`.
class Scratch {
 public:
  /// Creates the files under `dir` (which must exist).
  explicit Scratch(std::filesystem::path dir) : dir_(std::move(dir)) {
    namespace fs = std::filesystem;
    const cv::Mat colour(8, 8, CV_8UC3, cv::Scalar(40, 120, 200));
    cv::imwrite(file("a.png"), colour);
    cv::imwrite(file("b.jpg"), colour);
    cv::imwrite(file("m.png"), cv::Mat(8, 8, CV_8UC1, cv::Scalar(255)));
    cv::imwrite(file("s.png"), cv::Mat(4, 4, CV_8UC1, cv::Scalar(255)));
    write_bytes(file("t.png"), "not a PNG\n");
    fs::create_directories(dir_ / "d");
  }
  /// `name` inside the folder.
  std::string file(const std::string& name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
};

/// Images: sola::load_image (and through it sola::data::read_image_bgr with its header check),
/// resized to 32x32 as the model input is.
inline void run_image(const Scratch& s, std::string_view bytes) {
  const std::string file = s.file("input.img");
  write_bytes(file, bytes);
  load_image(file, 32);
}

/// Manifests: sola::data::read_manifest on the bytes as `manifest.csv` in the scratch folder (its
/// rows may name the scratch files), then check_images when it lists at most 8 samples.
inline void run_manifest(const Scratch& s, std::string_view bytes) {
  const std::string file = s.file("manifest.csv");
  write_bytes(file, bytes);
  const data::Manifest m = data::read_manifest(file);
  if (m.samples.size() <= 8) data::check_images(m, 1);
}

/// Config files: the CLI's resolve_config on a config file made of the bytes up to the first NUL;
/// every further NUL-separated piece is one `--set KEY=VALUE`.
inline void run_config(const Scratch& s, std::string_view bytes) {
  cli::ModelConfigArgs args;
  args.config_file = s.file("config.json");
  const size_t nul = bytes.find('\0');
  write_bytes(args.config_file, bytes.substr(0, nul));
  if (nul != std::string_view::npos) {
    std::string_view rest = bytes.substr(nul + 1);
    for (;;) {
      const size_t next = rest.find('\0');
      args.sets.emplace_back(rest.substr(0, next));
      if (next == std::string_view::npos) break;
      rest.remove_prefix(next + 1);
    }
  }
  cli::resolve_config(args);
}

/// Model files: sola::load_model.
inline void run_checkpoint(const Scratch& s, std::string_view bytes) {
  const std::string file = s.file("model.pt");
  write_bytes(file, bytes);
  load_model(file);
}

/// The entry point of the target named `target` (one of target_names()). Throws std::invalid_argument
/// for another name.
inline void run_target(const std::string& target, const Scratch& s, std::string_view bytes) {
  if (target == "fuzz_image") return run_image(s, bytes);
  if (target == "fuzz_manifest") return run_manifest(s, bytes);
  if (target == "fuzz_config") return run_config(s, bytes);
  if (target == "fuzz_checkpoint") return run_checkpoint(s, bytes);
  throw std::invalid_argument("unknown fuzz target '" + target + "'");
}

}  // namespace sola::fuzz
