#pragma once
// Packed bundles: a data set in one file that LibTorch-only code trains on. `sola pack` (OpenCV,
// data/pack.h) writes one from manifests; PackedDataset reads it without OpenCV (stb_image decodes
// its JPEG and PNG blobs), which is what the GPU machine's build has (scripts/gpu_train.sh).
//
// File layout (integers little-endian):
//   8 bytes   "SOLAPACK"
//   4 bytes   format version (kPackedVersion)
//   4 bytes   zero
//   8 bytes   length L of the index
//   L bytes   the index, JSON:
//               {"image_size": S, "mask_size": M,
//                "columns": ["label", "group", "method", "path", "image_bytes", "mask_bytes"],
//                "samples": [[0, "abc", "real", "real/abc.jpg", 4957, 0], ...],
//                "info": {what the packer did: sources, what it left out, ...}}
//   then, sample after sample in index order, its image (JPEG or PNG, S x S) and its mask (PNG,
//   M x M grey; 0 bytes where the sample has none). Nothing follows the last blob.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/arg.h>
#include <torch/types.h>

#include "data/augment_plan.h"
#include "data/manifest.h"
#include "data/sample_source.h"

namespace sola::data {

inline constexpr uint32_t kPackedVersion = 1;

/// One sample as a packer hands it to write_packed.
struct PackedSample {
  Sample sample;      ///< label, group, method and path (as in its manifest, for reports)
  std::string image;  ///< encoded image (JPEG or PNG), image_size x image_size
  std::string mask;   ///< encoded mask (PNG, grey), mask_size x mask_size; empty: none
};

/// Bytes the index row of `s` adds to a bundle's index (a packer's size budget).
size_t packed_row_bytes(const PackedSample& s);

/// Writes a bundle (a temporary file renamed into place). Throws IoError naming the path.
void write_packed(const std::string& path, int64_t image_size, int64_t mask_size,
                  const std::vector<PackedSample>& samples, const nlohmann::json& info);

/// A bundle, decoded into memory.
struct PackedData {
  std::string path;
  int64_t image_size = 0, mask_size = 0;
  /// One row per sample: label, group, method, path as packed; `mask` non-empty where one is
  /// stored; `source` is the bundle and `line` the 1-based sample number (for messages).
  Manifest manifest;
  torch::Tensor images;  ///< [N, S, S, 3] uint8 RGB
  torch::Tensor masks;   ///< [N, M, M] uint8 grey, zeros where none
  nlohmann::json info;   ///< the packer's notes
};

/// Reads and decodes a bundle on `threads` threads (0: one per core, core/parallel.h). Throws
/// IoError naming the file and what is wrong: not a bundle, another format version, truncated, a
/// bad index, or (naming the first such sample and its path) an image or mask that does not
/// decode or has another size.
PackedData read_packed(const std::string& path, unsigned threads = 0);

struct PackedDatasetOptions {
  TORCH_ARG(int64_t, input_size) = 256;
  TORCH_ARG(int64_t, grid) = 16;
  /// Training augmentation: crop, flip and colour jitter as the OpenCV pipeline plans them (same
  /// draws); the JPEG re-encoding stage is skipped (its draws are still made).
  TORCH_ARG(bool, augment) = false;
  TORCH_ARG(AugmentOptions, augment_options) = {};
  TORCH_ARG(uint64_t, seed) = 0;
};

/// The samples of a bundle as a SampleSource, with LibTorch alone. A sample goes through the
/// OpenCV pipeline's geometry: resized to the input size (area when shrinking, else bilinear), the
/// plan's crop cut out and resized back (bilinear), mirrored; the stored mask goes through the same
/// steps (bilinear where the OpenCV pipeline takes nearest neighbours) and its G x G patch means
/// become the patch scores. Colour jitter follows the plan's factors; its hue step rotates colours
/// about the grey axis (the OpenCV pipeline rotates HSV hue) by the same angle. Augmentation is
/// seeded by (seed, epoch, index), so a sample's pixels repeat exactly.
class PackedDataset : public SampleSource {
 public:
  PackedDataset(std::shared_ptr<const PackedData> data, PackedDatasetOptions options);
  size_t size() const override { return data_->manifest.samples.size(); }
  const Manifest& manifest() const override { return data_->manifest; }
  int64_t input_size() const override { return options_.input_size(); }
  int64_t grid() const override { return options_.grid(); }
  Example get(size_t index, uint64_t epoch) const override;
  /// A seeded permutation of the samples (epoch_order).
  std::vector<size_t> training_order(uint64_t epoch) const override;

 private:
  std::shared_ptr<const PackedData> data_;
  PackedDatasetOptions options_;
};

}  // namespace sola::data
