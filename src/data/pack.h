#pragma once
// The packer: a packed bundle (data/packed.h) from manifests, within a size limit (sola pack).
//
// Samples go in whole groups (a source video's real crop and its fakes together, so no group is
// split between kept and left out), in a seeded random order of the groups, until the next group
// would pass the limit; the rest is left out and counted in the bundle's info. A crop that is a
// JPEG or PNG of image_size x image_size keeps its file's bytes (no second lossy encoding); any
// other is resized (area when shrinking) and encoded as JPEG at `quality`. Masks are reduced to
// mask_size x mask_size grey by area (soft edges: each pixel is the forged fraction of its area)
// and stored as PNG: the patch scores of any grid that divides mask_size are exact patch means.
#include <cstdint>
#include <string>

#include "data/manifest.h"

namespace sola::data {

struct PackOptions {
  int image_size = 224;  ///< side of the stored crops
  int quality = 90;      ///< JPEG quality of crops that are encoded again (1..100)
  int mask_size = 64;    ///< side of the stored masks
  bool masks = true;     ///< false: store no masks (validation bundles need none)
  double max_mib = 0;    ///< size limit of the bundle file in MiB (0: none)
  uint64_t seed = 0;     ///< order of the groups
};

struct PackReport {
  size_t images = 0, groups = 0, with_mask = 0, reencoded = 0;
  size_t left_out_images = 0, left_out_groups = 0;
  size_t bytes = 0;  ///< of the bundle file
};

/// Packs `manifest` into `out_path` on `threads` threads (0: one per core). Throws ConfigError for
/// bad options; IoError naming `out_path` and the reason when it cannot be written (checked before
/// any image is read: a folder, a missing folder, a file where a folder should be, a read-only or
/// forbidden folder); IoError naming the file and manifest line of an image or mask that cannot be
/// read, or of a mask whose size differs from its image's (check_images' check: it is refused,
/// not stretched).
PackReport pack_manifest(const Manifest& manifest, const std::string& out_path, const PackOptions& options,
                         unsigned threads = 0);

}  // namespace sola::data
