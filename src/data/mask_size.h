#pragma once
// The one check of a forgery mask's size against its image's, shared by every reader of manifests:
// check_images (`sola train`'s check before training), the training data set, and `sola pack`
// (which, without it, stretched a mask of another size onto the crop).
#include <string>

namespace sola::data {

/// "mask 'MASK' is 64x64 but its image is 224x224", or empty when the sizes match.
inline std::string mask_size_problem(const std::string& mask, int mask_cols, int mask_rows, int image_cols,
                                     int image_rows) {
  if (mask_cols == image_cols && mask_rows == image_rows) return {};
  return "mask '" + mask + "' is " + std::to_string(mask_cols) + "x" + std::to_string(mask_rows) +
         " but its image is " + std::to_string(image_cols) + "x" + std::to_string(image_rows);
}

}  // namespace sola::data
