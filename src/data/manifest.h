#pragma once
// Dataset manifests: CSV files listing images, labels and forgery masks (see shared/data/README.md).
//
//   path,label,mask,group,method
//   real/ldwxjylmvu.jpg,0,,ldwxjylmvu,real
//   fake/yuojninrqr.jpg,1,mask/yuojninrqr.png,ldwxjylmvu,dfdc
//
// Paths are relative to the manifest's folder. Every reported problem reads `FILE:LINE: problem`.
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace sola::data {

/// Largest image width or height `check_images` accepts, in pixels.
inline constexpr int kMaxImageSide = 8192;

/// One row of a manifest.
struct Sample {
  std::string path;    ///< image file: absolute, or lexically normal and relative to the cwd
  std::string mask;    ///< forgery mask file like `path`, or empty where none is known
  std::string group;   ///< source id (e.g. video); defaults to `path`
  std::string method;  ///< manipulation; defaults to "real" / "fake" by label
  int label = 0;       ///< 0 real, 1 fake
  std::string source;  ///< the manifest file this row came from
  size_t line = 0;     ///< 1-based line of the row in `source`
};

/// The samples of one or more manifests, in file order.
struct Manifest {
  std::vector<Sample> samples;
  std::vector<std::string> sources;  ///< the manifest files read, in order

  /// Number of samples with label 0.
  size_t n_real() const {
    return std::count_if(samples.begin(), samples.end(), [](const Sample& s) { return s.label == 0; });
  }
  /// Number of samples with label 1.
  size_t n_fake() const {
    return std::count_if(samples.begin(), samples.end(), [](const Sample& s) { return s.label == 1; });
  }
  /// Number of samples with a mask.
  size_t n_with_mask() const {
    return std::count_if(samples.begin(), samples.end(), [](const Sample& s) { return !s.mask.empty(); });
  }
};

/// Reads and validates one manifest CSV (UTF-8 with or without BOM, LF or CRLF, RFC-4180 quoting,
/// blank lines skipped). Header columns are found by name in any order; `path` and `label` are
/// required, `mask`, `group` and `method` optional, others ignored. Checks every row (field count,
/// label 0/1, non-empty and unique path, no mask on a real image, a real's method `real` and a fake's
/// anything else, image and mask files exist) and
/// throws one sola::Error listing all problems. Throws IoError when the file cannot be read.
Manifest read_manifest(const std::string& path);

/// Concatenates manifests in order. Throws sola::Error listing every image that appears in more
/// than one of them (with both places).
Manifest combine(const std::vector<Manifest>& manifests);

/// read_manifest for each path, then combine.
Manifest read_manifests(const std::vector<std::string>& paths);

/// The samples of `m` that are real or a fake of one of `methods` (every sample when `methods` is
/// empty), in order; `sources` kept. Throws ConfigError naming `what` (e.g. "--train") when a method
/// of `methods` has no fake in `m`, listing the methods it has.
Manifest filter_methods(const Manifest& m, const std::vector<std::string>& methods, const std::string& what);

/// The manipulation methods of the fakes of `m`, in order of first appearance.
std::vector<std::string> fake_methods(const Manifest& m);

/// `value` as one CSV field (RFC 4180): unchanged when it holds no comma, double quote, CR or LF,
/// else enclosed in double quotes with every double quote doubled. read_manifest reads it back
/// as `value`.
std::string csv_field(const std::string& value);

/// Writes `samples` to the manifest CSV `file` atomically (core/atomic_file.h): the header
/// "path,label,mask,group,method", then one row per sample in order, every field through
/// csv_field, so that read_manifest reads them back. `path` and `mask` are written as they are:
/// relative to the manifest's folder, or absolute (read_manifest resolves them against it). Throws
/// ConfigError naming `file` for what read_manifest would refuse (no sample, an empty path, a label
/// other than 0 or 1) before writing anything, and IoError when the file cannot be written.
void write_manifest(const std::string& file, const std::vector<Sample>& samples);

/// Decodes every image and mask of `m` on `threads` threads (0: one per core, core/parallel.h)
/// and throws one sola::Error listing all problems: undecodable image or mask, a side larger than
/// kMaxImageSide, mask size different from its image's.
void check_images(const Manifest& m, unsigned threads = 0);

}  // namespace sola::data
