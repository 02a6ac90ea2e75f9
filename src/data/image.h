#pragma once
// Image files to tensors (OpenCV). Errors name the file.
#include <string>

#include <torch/types.h>

namespace sola {

/// Decodes an image file to an RGB float tensor [3, size, size] in [0, 1] (bilinear/area resize;
/// size <= 0 keeps the original size). Grayscale, alpha and 16-bit images are converted to 8-bit RGB.
/// Reads JPEG, PNG, BMP, WebP and TIFF through data::read_image_bgr: a side above 8192 is refused
/// from the header, before decoding. Throws IoError for a missing, empty, oversized, unsupported or
/// undecodable file.
torch::Tensor load_image(const std::string& path, int64_t size = 0);

}  // namespace sola
