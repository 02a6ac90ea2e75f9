#include "data/image_header.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <vector>
#include <algorithm>

namespace sola::data {
namespace {

/// Reads n bytes at an offset into out; false when they are not all there.
using ReadAt = std::function<bool(uint64_t offset, size_t n, unsigned char* out)>;

uint32_t be16(const unsigned char* p) { return (uint32_t(p[0]) << 8) | p[1]; }
uint32_t be32(const unsigned char* p) { return (be16(p) << 16) | be16(p + 2); }
uint32_t le16(const unsigned char* p) { return (uint32_t(p[1]) << 8) | p[0]; }
uint32_t le24(const unsigned char* p) { return (uint32_t(p[2]) << 16) | le16(p); }
uint32_t le32(const unsigned char* p) { return (uint32_t(p[3]) << 24) | le24(p); }

ImageHeader claimed(const char* format, int64_t width, int64_t height) { return ImageHeader{format, width, height}; }

/// The first frame header (SOFn) of a JPEG, walking the marker segments after SOI like libjpeg's
/// next_marker: stray bytes (and FF 00) before a marker skipped, then fill bytes.
ImageHeader jpeg_header(const ReadAt& read) {
  uint64_t at = 2;
  unsigned char c = 0, b[5];
  for (;;) {
    do {
      if (!read(at++, 1, &c)) return {};
    } while (c != 0xFF);
    do {
      if (!read(at++, 1, &c)) return {};
    } while (c == 0xFF);
    const unsigned char marker = c;
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // no payload
    if (marker == 0xD9 || marker == 0xDA) return {};  // end of image / scan data before any frame header
    if (!read(at, 2, b)) return {};
    const uint32_t length = be16(b);  // counts its own two bytes
    if (length < 2) return {};
    const bool frame_header = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame_header) {
      if (length < 7 || !read(at + 2, 5, b)) return {};
      return claimed("jpeg", be16(b + 3), be16(b + 1));
    }
    at += length;
  }
}

/// ImageWidth (256) and ImageLength (257) of a TIFF's first image directory, SHORT or LONG, in the
/// byte order of its header.
ImageHeader tiff_header(const ReadAt& read, bool little) {
  auto u16 = [little](const unsigned char* p) { return little ? le16(p) : be16(p); };
  auto u32 = [little](const unsigned char* p) { return little ? le32(p) : be32(p); };
  unsigned char b[12];
  if (!read(4, 4, b)) return {};
  uint64_t at = u32(b);
  if (!read(at, 2, b)) return {};
  const uint32_t entries = u16(b);
  at += 2;
  int64_t w = 0, h = 0;
  bool have_w = false, have_h = false;
  for (uint32_t i = 0; i < entries && read(at, 12, b); ++i, at += 12) {
    const uint32_t tag = u16(b), type = u16(b + 2);
    if (tag != 256 && tag != 257) continue;
    const int64_t v = type == 3 ? u16(b + 8) : type == 4 ? u32(b + 8) : 0;
    (tag == 256 ? w : h) = v;
    (tag == 256 ? have_w : have_h) = true;
  }
  if (!have_w || !have_h) return {};
  return claimed("tiff", w, h);
}

ImageHeader probe(const ReadAt& read) {
  unsigned char p[32] = {};
  if (!read(0, 4, p)) return {};
  read(0, sizeof p, p);  // shorter inputs keep zeros past their end: each format checks what it reads
  auto is = [&](size_t at, const char* text) { return std::memcmp(p + at, text, std::strlen(text)) == 0; };
  if (is(0, "\x89PNG\r\n\x1a\n")) {
    if (!read(0, 24, p) || !is(12, "IHDR")) return {};
    return claimed("png", be32(p + 16), be32(p + 20));
  }
  if (p[0] == 0xFF && p[1] == 0xD8) return jpeg_header(read);
  if (p[0] == 'B' && p[1] == 'M') {
    if (!read(0, 26, p)) return {};
    const uint32_t dib = le32(p + 14);
    if (dib == 12) return claimed("bmp", le16(p + 18), le16(p + 20));  // OS/2 core header: 16-bit sides
    if (dib < 40) return {};
    // BITMAPINFOHEADER and later: 32-bit signed sides (a negative height: rows stored top-down).
    const auto w = static_cast<int32_t>(le32(p + 18)), h = static_cast<int32_t>(le32(p + 22));
    return claimed("bmp", w, std::abs(static_cast<int64_t>(h)));
  }
  if (is(0, "RIFF")) {
    if (!read(0, 30, p) || !is(8, "WEBP")) return {};
    if (is(12, "VP8 ")) {  // lossy: frame tag (3 bytes), start code 9d 01 2a, 14-bit sides
      if (p[23] != 0x9D || p[24] != 0x01 || p[25] != 0x2A) return {};
      return claimed("webp", le16(p + 26) & 0x3FFF, le16(p + 28) & 0x3FFF);
    }
    if (is(12, "VP8L")) {  // lossless: signature 0x2f, then 14 bits width-1, 14 bits height-1
      if (p[20] != 0x2F) return {};
      const uint32_t bits = le32(p + 21);
      return claimed("webp", int64_t(bits & 0x3FFF) + 1, int64_t((bits >> 14) & 0x3FFF) + 1);
    }
    if (is(12, "VP8X")) return claimed("webp", int64_t(le24(p + 24)) + 1, int64_t(le24(p + 27)) + 1);  // extended
    return {};
  }
  if (is(0, "II*") && p[3] == 0) return tiff_header(read, /*little=*/true);
  if (is(0, "MM") && p[2] == 0 && p[3] == 42) return tiff_header(read, /*little=*/false);
  return {};
}

}  // namespace

ImageHeader probe_image_header(const std::string& bytes) {
  return probe([&bytes](uint64_t offset, size_t n, unsigned char* out) {
    if (offset > bytes.size() || n > bytes.size() - offset) {
      if (offset < bytes.size()) std::memcpy(out, bytes.data() + offset, bytes.size() - offset);
      return false;
    }
    std::memcpy(out, bytes.data() + offset, n);
    return true;
  });
}

ImageHeader probe_image_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  // The JPEG walk reads byte by byte: serve it from 64 KiB chunks, not one seek per byte.
  std::vector<unsigned char> chunk;
  uint64_t chunk_at = 0;
  return probe([&](uint64_t offset, size_t n, unsigned char* out) {
    if (offset < chunk_at || offset - chunk_at + n > chunk.size()) {
      chunk.resize(std::max<size_t>(n, 64 * 1024));
      in.clear();
      in.seekg(static_cast<std::streamoff>(offset));
      in.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
      chunk.resize(in ? chunk.size() : static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
      chunk_at = offset;
    }
    const size_t have = offset - chunk_at <= chunk.size() ? chunk.size() - (offset - chunk_at) : 0;
    if (have > 0) std::memcpy(out, chunk.data() + (offset - chunk_at), std::min(n, have));
    return have >= n;
  });
}

}  // namespace sola::data
