#pragma once
// Image files to tensors (OpenCV). Errors name the file.
#include <string>

#include <torch/types.h>

namespace sola {

/// Decodes an image file to an RGB float tensor [3, size, size] in [0, 1] (bilinear/area resize;
/// size <= 0 keeps the original size). Grayscale and alpha images are converted to RGB.
/// Throws IoError for a missing, empty or undecodable file.
torch::Tensor load_image(const std::string& path, int64_t size = 0);

}  // namespace sola
