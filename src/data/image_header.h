#pragma once
// The size of an encoded image from its header alone, before any decoder allocates pixels: every
// image sola reads (files, manifests, uploads to `sola serve`) is checked this way first, so that a
// small hostile file cannot claim gigabytes (docs/RELIABILITY.md). One parser for files and bytes.
#include <cstdint>
#include <string>

namespace sola::data {

/// Width and height of an encoded image read from its header only (PNG, JPEG, BMP, WebP, TIFF).
struct ImageHeader {
  std::string format;  ///< "png" | "jpeg" | "bmp" | "webp" | "tiff"; empty when not recognised
  int64_t width = 0;   ///< as the header claims it: may be 0 (or negative in a BMP), the caller refuses
  int64_t height = 0;  ///< as the header claims it (a BMP's negative height, rows top-down: its size)

  /// A recognised header with both sides positive.
  bool ok() const { return !format.empty() && width > 0 && height > 0; }
};

/// Parses the header of the encoded image `bytes` without decoding pixels. `format` is empty for
/// other formats and for a truncated or unparsable header. JPEG markers
/// are walked as libjpeg does (stray bytes and fill bytes before a marker skipped) up to the first
/// frame header; TIFF's first image directory may lie anywhere in the bytes.
ImageHeader probe_image_header(const std::string& bytes);

/// The same for a file, reading only the bytes the header needs; `format` is also empty when the
/// file cannot be read.
ImageHeader probe_image_file(const std::string& path);

}  // namespace sola::data
