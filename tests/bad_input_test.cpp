// Bad inputs: every parser of outside input meets broken, odd and hostile files and must either
// accept them or reject them with a sola::Error whose message names the input (the file, or the
// config key) -- never crash, hang or allocate what a file's header merely claims.
//
//   BadInput/Table.*        one row per input: what it is, the expected outcome, the names the
//                           message must contain. SOLA_BAD_INPUT_TABLE=FILE writes the table as
//                           markdown (docs/RELIABILITY.md holds a copy).
//   BadInput.FuzzRegressions  every file under fuzz/regressions/<target>/ (inputs that once crashed
//                           a fuzz target) through the same entry point as the target.
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <torch/torch.h>

#include "../fuzz/entry_points.h"
#include "cli/common.h"
#include "core/error.h"
#include "data/image.h"
#include "data/manifest.h"
#include "data/perturb.h"
#include "data/video.h"
#include "model/checkpoint.h"
#include "test_util.h"
#include "file_util.h"

namespace sola {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using test::read_file;
using test::write_file;

// ---- making inputs ------------------------------------------------------------------------------


/// `img` encoded by OpenCV in the format of `ext` (".png", ".jpg", ...).
std::string encode(const std::string& ext, const cv::Mat& img, const std::vector<int>& params = {}) {
  std::vector<uchar> buf;
  if (!cv::imencode(ext, img, buf, params)) throw std::runtime_error("cannot encode " + ext);
  return {buf.begin(), buf.end()};
}

/// A `w`x`h` 8-bit image of `channels` channels with a gradient (so JPEG has real scan data).
cv::Mat gradient(int w, int h, int channels = 3) {
  cv::Mat m(h, w, CV_8UC(channels));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) m.ptr<uchar>(y)[x * channels + c] = static_cast<uchar>((x * 7 + y * 13 + c * 50) % 256);
  return m;
}

/// CRC-32 (ISO-HDLC, as PNG uses it).
uint32_t crc32(std::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

/// One PNG chunk with a correct CRC.
std::string png_chunk(const std::string& type, const std::string& data) {
  return be32(static_cast<uint32_t>(data.size())) + type + data + be32(crc32(type + data));
}

/// A PNG whose (valid, CRC-correct) IHDR claims `w`x`h` 8-bit RGB, with no pixel data after it: only
/// a check of the header can say more than "cannot decode" about it.
std::string png_claiming(uint32_t w, uint32_t h) {
  const std::string ihdr = be32(w) + be32(h) + "\x08\x02\x00\x00\x00"s;
  return "\x89PNG\r\n\x1a\n"s + png_chunk("IHDR", ihdr) + png_chunk("IEND", "");
}

/// Offset of the first JPEG marker segment `marker` (e.g. 0xC0 for SOF0) in `jpeg`, walking the
/// segments from the start; npos when there is none before the scan.
size_t jpeg_segment(const std::string& jpeg, unsigned char marker) {
  size_t pos = 2;
  while (pos + 4 <= jpeg.size() && static_cast<unsigned char>(jpeg[pos]) == 0xFF) {
    const auto m = static_cast<unsigned char>(jpeg[pos + 1]);
    if (m == marker) return pos;
    if (m == 0xDA) break;
    pos += 2 + (static_cast<unsigned char>(jpeg[pos + 2]) << 8 | static_cast<unsigned char>(jpeg[pos + 3]));
  }
  return std::string::npos;
}

/// A 16x16 baseline JPEG whose frame header (SOF0) is patched to claim `w`x`h`.
std::string jpeg_claiming(uint16_t w, uint16_t h) {
  std::string jpeg = encode(".jpg", gradient(16, 16));
  const size_t sof = jpeg_segment(jpeg, 0xC0);
  if (sof == std::string::npos) throw std::runtime_error("no SOF0 in OpenCV's JPEG");
  jpeg[sof + 5] = static_cast<char>(h >> 8);
  jpeg[sof + 6] = static_cast<char>(h);
  jpeg[sof + 7] = static_cast<char>(w >> 8);
  jpeg[sof + 8] = static_cast<char>(w);
  return jpeg;
}

/// The JPEG's segments up to and including its frame header, one stray byte before the frame
/// header (libjpeg skips such bytes with a warning), then the end marker: a decoder reads the
/// claimed size and fails for want of a scan, so only a header check reports the size.
std::string jpeg_stray_byte_claiming(uint16_t w, uint16_t h) {
  const std::string jpeg = jpeg_claiming(w, h);
  const size_t sof = jpeg_segment(jpeg, 0xC0);
  const size_t sof_end = sof + 2 + (static_cast<unsigned char>(jpeg[sof + 2]) << 8 | static_cast<unsigned char>(jpeg[sof + 3]));
  return jpeg.substr(0, sof) + "X" + jpeg.substr(sof, sof_end - sof) + "\xFF\xD9";
}

/// A BMP file header + BITMAPINFOHEADER claiming `w`x`h` 24-bit, with no pixels.
std::string bmp_claiming(int32_t w, int32_t h) {
  auto le32 = [](uint32_t v) {
    return std::string{static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
  };
  return "BM"s + le32(54) + le32(0) + le32(54) + le32(40) + le32(static_cast<uint32_t>(w)) +
         le32(static_cast<uint32_t>(h)) + "\x01\x00\x18\x00"s + std::string(24, '\0');
}

/// A little-endian TIFF whose first directory claims `w`x`h` 8-bit gray and has no strips.
std::string tiff_claiming(uint32_t w, uint32_t h) {
  auto le16 = [](uint16_t v) { return std::string{static_cast<char>(v), static_cast<char>(v >> 8)}; };
  auto le32 = [](uint32_t v) {
    return std::string{static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
  };
  auto entry = [&](uint16_t tag, uint16_t type, uint32_t value) {
    return le16(tag) + le16(type) + le32(1) + (type == 3 ? le16(static_cast<uint16_t>(value)) + le16(0) : le32(value));
  };
  return "II*\0"s + le32(8) + le16(4) + entry(256, 4, w) + entry(257, 4, h) + entry(258, 3, 8) + entry(262, 3, 1) + le32(0);
}

/// The smallest model configuration the options allow.
ModelOptions tiny_options() {
  return ModelOptions{}.noise("none").dcam(false).lem(false).input_size(32).grid(4)
      .anomaly_channels(1).classifier_channels(1).classifier_kernel(1);
}

/// A tiny but complete model file (~11 MB), made once.
const std::string& tiny_model_file() {
  static test::TempDir dir;
  static const std::string file = [] {
    const std::string f = dir.file("tiny.pt");
    torch::manual_seed(0);
    save_model(f, *build_model(tiny_options()));
    return f;
  }();
  return file;
}

/// A model-file-shaped LibTorch archive: format tag, config string and a "model" holding `weights`.
void write_archive(const std::string& file, const std::string& format, const std::string& config,
                   const std::vector<std::pair<std::string, torch::Tensor>>& weights) {
  torch::serialize::OutputArchive a;
  a.write("format", c10::IValue(format));
  a.write("config", c10::IValue(config));
  torch::serialize::OutputArchive w;
  for (const auto& [name, t] : weights) w.write(name, t);
  a.write("model", w);
  a.save_to(file);
}

/// A manifest folder with real/a.png and fake/b.png (32x32), mask/b.png (32x32) and mask/small.png (16x16).
fs::path dataset(const fs::path& dir) {
  const fs::path ds = dir / "ds";
  fs::create_directories(ds / "real");
  fs::create_directories(ds / "fake");
  fs::create_directories(ds / "mask");
  cv::imwrite((ds / "real/a.png").string(), gradient(32, 32));
  cv::imwrite((ds / "fake/b.png").string(), gradient(32, 32));
  cv::imwrite((ds / "mask/b.png").string(), gradient(32, 32, 1));
  cv::imwrite((ds / "mask/small.png").string(), gradient(16, 16, 1));
  return ds;
}

// ---- the table ----------------------------------------------------------------------------------

/// What a row's input turned into: the call to make, and the strings a rejection must name.
struct Case {
  std::function<void()> run;           ///< calls the parser (and checks what it returned)
  std::vector<std::string> must_name;  ///< the input's file path and/or config key
};

struct Row {
  std::string name;    ///< test name
  std::string parser;  ///< the entry point, for the markdown table
  std::string input;   ///< the input, in words
  std::string expect;  ///< "" accepted; else a fragment the rejection message must contain
  std::string note;    ///< what "accepted" means here (markdown only)
  std::function<Case(const fs::path& dir)> make;
};

/// gtest prints a parameter with this (instead of its bytes).
void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

/// A load_image row on the bytes `make_bytes()` written to `name`.
Row image_row(std::string test, std::string input, std::string name, std::function<std::string()> make_bytes,
              std::string expect, std::string note = "", std::function<void(const torch::Tensor&)> check = {}) {
  Row r{std::move(test), "`load_image` / `read_image_bgr`", std::move(input), std::move(expect), std::move(note), {}};
  r.make = [name, make_bytes, check](const fs::path& dir) {
    const std::string file = (dir / name).string();
    write_file(file, make_bytes());
    return Case{[file, check] {
                  const torch::Tensor t = load_image(file, 32);
                  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 32, 32}));
                  if (check) check(t);
                },
                {file}};
  };
  return r;
}

/// A read_manifest (+ check_images) row: the manifest text `csv` in the folder of dataset().
Row manifest_row(std::string test, std::string input, std::string csv, std::string expect, size_t samples = 0,
                 std::vector<std::string> also_named = {}, bool check_images = false) {
  Row r{std::move(test), check_images ? "`read_manifest` + `check_images`" : "`read_manifest`", std::move(input),
        std::move(expect), "", {}};
  if (r.expect.empty()) r.note = std::to_string(samples) + (samples == 1 ? " sample" : " samples");
  r.make = [csv, samples, also_named, check_images](const fs::path& dir) {
    const fs::path ds = dataset(dir);
    const std::string file = (ds / "manifest.csv").string();
    write_file(file, csv);
    Case c{[file, samples, check_images] {
             const data::Manifest m = data::read_manifest(file);
             EXPECT_EQ(m.samples.size(), samples);
             if (check_images) data::check_images(m, 1);
           },
           {file}};
    for (const std::string& n : also_named) c.must_name.push_back((ds / n).string());
    return c;
  };
  return r;
}

/// A resolve_config row: `json` as the --config file, then `sets` as --set values.
Row config_row(std::string test, std::string input, std::string json, std::string expect,
               std::vector<std::string> named = {}, std::vector<std::string> sets = {},
               std::function<void(const cli::RunConfig&)> check = {}) {
  Row r{std::move(test), "`resolve_config`", std::move(input), std::move(expect), "", {}};
  r.make = [json, named, sets, check](const fs::path& dir) {
    cli::ModelConfigArgs args;
    args.config_file = (dir / "config.json").string();
    args.sets = sets;
    write_file(args.config_file, json);
    Case c{[args, check] {
             const cli::RunConfig cfg = cli::resolve_config(args);
             if (check) check(cfg);
           },
           named};
    if (sets.empty()) c.must_name.push_back(args.config_file);
    return c;
  };
  return r;
}

/// A load_model row on the file `write(path)` makes.
Row model_row(std::string test, std::string input, std::function<void(const std::string&)> write, std::string expect) {
  Row r{std::move(test), "`load_model`", std::move(input), std::move(expect), "", {}};
  r.make = [write](const fs::path& dir) {
    const std::string file = (dir / "model.pt").string();
    write(file);
    return Case{[file] { load_model(file); }, {file}};
  };
  return r;
}

/// A writer of the tiny model with its first weight replaced by `replace(weight)`.
std::function<void(const std::string&)> first_weight_replaced(std::function<torch::Tensor(const torch::Tensor&)> replace) {
  return [replace](const std::string& f) {
    torch::manual_seed(0);
    auto model = build_model(tiny_options());
    torch::NoGradGuard no_grad;
    auto w = model->parameters()[0];
    w.set_requires_grad(false);  // (data of another dtype than a float)
    w.set_data(replace(w));
    save_model(f, *model);
  };
}

/// A sample_frames row on the file `write(path)` makes (named `name`).
Row video_row(std::string test, std::string input, std::string name, std::function<void(const std::string&)> write,
              std::string expect) {
  Row r{std::move(test), "`sample_frames`", std::move(input), std::move(expect), "", {}};
  r.make = [name, write](const fs::path& dir) {
    const std::string file = (dir / name).string();
    write(file);
    return Case{[file] { data::sample_frames(file, 4); }, {file}};
  };
  return r;
}

const std::vector<Row>& rows() {
  static const std::vector<Row> table = [] {
    const std::string larger = "larger than 8192 px a side";
    const std::string undecodable = "cannot decode image";
    std::vector<Row> t;
    // ---- images ----
    t.push_back(image_row("ZeroByteJpeg", "zero-byte `.jpg`", "empty.jpg", [] { return ""s; }, "empty image file (0 bytes)"));
    t.push_back(Row{"MissingImage", "`load_image` / `read_image_bgr`", "missing file", "image file not found", "",
                    [](const fs::path& dir) {
                      const std::string file = (dir / "nope.png").string();
                      return Case{[file] { load_image(file, 32); }, {file}};
                    }});
    // Not regular files: refused before anything opens them (opening a FIFO blocks until a writer comes).
    auto special_row = [](std::string test, std::string input, std::string expect,
                          std::function<void(const std::string& file)> make_file) {
      return Row{std::move(test), "`load_image` / `read_image_bgr`", std::move(input), std::move(expect), "",
                 [make_file](const fs::path& dir) {
                   const std::string file = (dir / "x.jpg").string();
                   make_file(file);
                   return Case{[file] { load_image(file, 32); }, {file}};
                 }};
    };
    t.push_back(special_row("FifoNamedJpeg", "a FIFO named `x.jpg` (`mkfifo`)", "is a FIFO (named pipe), not a regular file",
                            [](const std::string& f) { ASSERT_EQ(::mkfifo(f.c_str(), 0600), 0); }));
    t.push_back(special_row("SymlinkLoop", "a symbolic link loop named `x.jpg`", "symbolic link loop",
                            [](const std::string& f) { fs::create_symlink(f, f); }));
    t.push_back(special_row("DanglingSymlink", "a symbolic link to a missing file", "broken symbolic link",
                            [](const std::string& f) { fs::create_symlink(f + ".gone", f); }));
    t.push_back(image_row("TextAsJpeg", "a text file named `.jpg`", "text.jpg", [] { return "hello\n"s; },
                          "not an image OpenCV can read"));
    t.push_back(image_row("JpegCutInHeader", "JPEG cut after 100 bytes (inside its tables)", "cut.jpg",
                          [] { return encode(".jpg", gradient(64, 64)).substr(0, 100); }, undecodable));
    t.push_back(image_row("JpegCutInScan", "JPEG cut at 60% (inside the scan data)", "cut.jpg",
                          [] {
                            const std::string j = encode(".jpg", gradient(64, 64));
                            return j.substr(0, j.size() * 6 / 10);
                          },
                          "", "libjpeg decodes what is there and fills the rest; `sola detect` and `sola serve` "
                              "report it as `damaged`, with a warning naming the file"));
    t.push_back(image_row("CorruptJpegHuffman", "JPEG with its Huffman tables overwritten", "bad.jpg",
                          [] {
                            std::string j = encode(".jpg", gradient(16, 16));
                            const size_t dht = jpeg_segment(j, 0xC4);
                            for (size_t i = dht + 5; i < dht + 21; ++i) j[i] = '\xFF';
                            return j;
                          },
                          undecodable));
    t.push_back(image_row("PngCutInHalf", "PNG cut in half", "cut.png",
                          [] {
                            const std::string p = encode(".png", gradient(64, 64));
                            return p.substr(0, p.size() / 2);
                          },
                          undecodable));
    t.push_back(image_row("PngBadCrc", "PNG whose pixel-data CRC is wrong", "crc.png",
                          [] {
                            std::string p = encode(".png", gradient(16, 16));
                            p[p.size() - 13] ^= 0x55;  // last byte of the IDAT CRC (IEND is the final 12 bytes)
                            return p;
                          },
                          undecodable));
    t.push_back(image_row("GrayPng", "8-bit grayscale PNG", "gray.png", [] { return encode(".png", gradient(16, 16, 1)); },
                          "", "gray replicated to R, G, B", [](const torch::Tensor& x) {
                            EXPECT_TRUE(torch::equal(x[0], x[1]));
                            EXPECT_TRUE(torch::equal(x[1], x[2]));
                          }));
    t.push_back(image_row("RgbaPng", "RGBA PNG (alpha 0)", "rgba.png",
                          [] {
                            cv::Mat m(16, 16, CV_8UC4, cv::Scalar(0, 0, 255, 0));  // red, fully transparent
                            return encode(".png", m);
                          },
                          "", "alpha dropped, not composited", [](const torch::Tensor& x) {
                            EXPECT_NEAR(x[0].mean().item<float>(), 1.0, 1e-6);
                            EXPECT_NEAR(x[1].mean().item<float>(), 0.0, 1e-6);
                          }));
    t.push_back(image_row("Rgb16Png", "16-bit RGB PNG", "deep.png",
                          [] { return encode(".png", cv::Mat(16, 16, CV_16UC3, cv::Scalar(0, 0x8000, 0xFFFF))); },
                          "", "scaled to 8 bits: the high byte", [](const torch::Tensor& x) {
                            EXPECT_NEAR(x[0].mean().item<float>(), 1.0, 1e-6);
                            EXPECT_NEAR(x[1].mean().item<float>(), 128 / 255.0, 1e-6);
                            EXPECT_NEAR(x[2].mean().item<float>(), 0.0, 1e-6);
                          }));
    t.push_back(image_row("Gray16Png", "16-bit grayscale PNG", "deep-gray.png",
                          [] { return encode(".png", cv::Mat(16, 16, CV_16UC1, cv::Scalar(0xFFFF))); }, "",
                          "white", [](const torch::Tensor& x) { EXPECT_NEAR(x.mean().item<float>(), 1.0, 1e-6); }));
    t.push_back(image_row("CmykJpeg", "CMYK JPEG with Adobe marker (`fuzz/seeds/cmyk.jpg`, pure red)", "cmyk.jpg",
                          [] { return read_file(SOLA_SOURCE_DIR "/fuzz/seeds/cmyk.jpg"); }, "", "converted to RGB: red",
                          [](const torch::Tensor& x) {
                            EXPECT_GT(x[0].mean().item<float>(), 0.9);
                            EXPECT_LT(x[1].mean().item<float>(), 0.1);
                            EXPECT_LT(x[2].mean().item<float>(), 0.1);
                          }));
    t.push_back(image_row("Bmp8BitGray", "8-bit palette BMP", "gray.bmp", [] { return encode(".bmp", gradient(5, 3, 1)); },
                          "", "upscaled to 32x32"));
    t.push_back(image_row("PngClaims100000", "PNG header claiming 100000x100000", "huge.png",
                          [] { return png_claiming(100000, 100000); }, "100000x100000, " + larger));
    t.push_back(image_row("PngClaims20000", "PNG header claiming 20000x20000 (under OpenCV's own 2^30-pixel limit)",
                          "big.png", [] { return png_claiming(20000, 20000); }, "20000x20000, " + larger));
    t.push_back(image_row("PngClaimsZeroWidth", "PNG header claiming 0x5", "zero.png", [] { return png_claiming(0, 5); },
                          "size of 0x5"));
    t.push_back(image_row("JpegClaims65000", "JPEG frame header (SOF0) claiming 65000x65000", "huge.jpg",
                          [] { return jpeg_claiming(65000, 65000); }, "65000x65000, " + larger));
    t.push_back(image_row("JpegStrayByteClaims20000",
                          "JPEG claiming 20000x20000 behind a stray byte before its SOF0 (libjpeg skips it)",
                          "stray.jpg", [] { return jpeg_stray_byte_claiming(20000, 20000); }, "20000x20000, " + larger));
    t.push_back(image_row("BmpClaims20000", "BMP header claiming 20000x20000", "huge.bmp",
                          [] { return bmp_claiming(20000, 20000); }, "20000x20000, " + larger));
    t.push_back(image_row("TiffClaims20000", "TIFF directory claiming 20000x20000", "huge.tif",
                          [] { return tiff_claiming(20000, 20000); }, "20000x20000, " + larger));
    t.push_back(image_row("PgmClaims30000", "20-byte PGM claiming 30000x30000 (OpenCV reads PNM)", "huge.pgm",
                          [] { return "P5\n30000 30000\n255\nxx"s; }, "no readable JPEG, PNG, BMP, WebP or TIFF header"));
    t.push_back(image_row("RawVp8Claims16000", "a bare VP8 key frame claiming 16144x16383, no RIFF container (found by fuzz_image)",
                          "raw.webp", [] { return read_file(SOLA_SOURCE_DIR "/fuzz/regressions/fuzz_image/oom-raw-vp8-no-riff-16144x16383"); },
                          "no readable JPEG, PNG, BMP, WebP or TIFF header"));
    t.push_back(image_row("BmpHeightIntMin", "BMP header with height -2^31", "min.bmp",
                          [] { return bmp_claiming(16, INT32_MIN); }, "16x2147483648, " + larger));

    // ---- manifests ----
    t.push_back(manifest_row("ManifestOk", "valid manifest (reference)",
                             "path,label,mask\nreal/a.png,0,\nfake/b.png,1,mask/b.png\n", "", 2, {}, true));
    t.push_back(manifest_row("ManifestCrlf", "Windows line endings (CRLF)", "path,label\r\nreal/a.png,0\r\nfake/b.png,1\r\n", "", 2));
    t.push_back(manifest_row("ManifestBom", "UTF-8 byte order mark", "\xEF\xBB\xBFpath,label\nreal/a.png,0\n", "", 1));
    t.push_back(manifest_row("ManifestUtf16", "UTF-16 text (as Excel may save it)",
                             "\xFF\xFEp\0a\0t\0h\0,\0l\0a\0b\0e\0l\0\n\0"s, "header has no 'path' column"));
    t.push_back(manifest_row("ManifestSemicolons", "semicolon-separated", "path;label\nreal/a.png;0\n",
                             "header has no 'path' column"));
    t.push_back(manifest_row("ManifestEmpty", "zero-byte manifest", "", "empty manifest"));
    t.push_back(manifest_row("ManifestHeaderOnly", "header and no rows", "path,label,mask\n", "no samples after the header"));
    t.push_back(manifest_row("ManifestMissingFiles", "rows naming missing image and mask files",
                             "path,label,mask\nreal/gone.png,0,\nfake/b.png,1,mask/gone.png\n", "not found", 0,
                             {"real/gone.png", "mask/gone.png"}));
    t.push_back(manifest_row("ManifestBadLabels", "labels `2`, `fake` and empty",
                             "path,label\nreal/a.png,2\nfake/b.png,fake\nreal/c.png,\n", "label must be 0 or 1, found 'fake'"));
    t.push_back(manifest_row("ManifestDuplicateRows", "the same image twice (`real/a.png`, `./real/a.png`)",
                             "path,label\nreal/a.png,0\n./real/a.png,0\n", "duplicate path './real/a.png' (first on line 2)"));
    t.push_back(manifest_row("ManifestMaskOnReal", "a mask on a real image", "path,label,mask\nreal/a.png,0,mask/b.png\n",
                             "only fakes can have masks"));
    t.push_back(manifest_row("ManifestFieldCount", "a row with a missing field", "path,label,mask\nreal/a.png,0\n",
                             "expected 3 fields as in the header, found 2"));
    t.push_back(manifest_row("ManifestUnclosedQuote", "an unclosed quote", "path,label\n\"real/a.png,0\n", "is never closed"));
    t.push_back(manifest_row("MaskWrongSize", "a 16x16 mask for a 32x32 image",
                             "path,label,mask\nfake/b.png,1,mask/small.png\n", "is 16x16 but its image is 32x32", 1,
                             {"mask/small.png"}, true));
    t.push_back(manifest_row("ManifestUndecodableImage", "a row whose image is not an image",
                             "path,label\nmanifest.csv,0\n", "is not an image OpenCV can read", 1, {}, true));

    // ---- configs ----
    t.push_back(config_row("ConfigOk", "valid config with BOM (reference)",
                           "\xEF\xBB\xBF{\"model\":{\"grid\":8},\"train\":{\"epochs\":2}}", "", {}, {},
                           [](const cli::RunConfig& c) {
                             EXPECT_EQ(c.model.grid(), 8);
                             EXPECT_EQ(c.train.epochs(), 2);
                           }));
    t.push_back(config_row("ConfigDuplicateKey", "the same key twice (`grid` 8, then 16)", R"({"model":{"grid":8,"grid":16}})",
                           "", {}, {}, [](const cli::RunConfig& c) { EXPECT_EQ(c.model.grid(), 16); }));
    t.back().note = "the last value wins, as in nlohmann::json";
    t.push_back(config_row("ConfigUnknownModelKey", "unknown model key `gird`", R"({"model":{"gird":8}})",
                           "unknown model config key 'gird'", {"gird"}));
    t.push_back(config_row("ConfigUnknownTrainKey", "unknown train key `epoch`", R"({"train":{"epoch":8}})",
                           "unknown train config key 'epoch'", {"epoch"}));
    t.push_back(config_row("ConfigUnknownSection", "unknown section `data`", R"({"data":{}})",
                           "unknown config section 'data'", {"data"}));
    t.push_back(config_row("ConfigGridOutOfRange", "`grid` 7", R"({"model":{"grid":7}})", "'grid' = 7 is invalid", {"grid"}));
    t.push_back(config_row("ConfigLrOutOfRange", "`lr` -1", R"({"train":{"lr":-1}})", "'lr' = -1", {"lr"}));
    t.push_back(config_row("ConfigWrongType", "`grid` as a string", R"({"model":{"grid":"8"}})",
                           "'grid' must be an integer", {"grid"}));
    t.push_back(config_row("ConfigIntegerTooLarge", "`epochs` 18446744073709551615 (above int64)",
                           R"({"train":{"epochs":18446744073709551615}})", "'epochs' must be an integer from", {"epochs"}));
    t.push_back(config_row("ConfigNumberOverflow", "`lr` 1e400", R"({"train":{"lr":1e400}})", "not valid JSON"));
    t.push_back(config_row("ConfigTrailingComma", "invalid JSON (trailing comma)", R"({"model":{"grid":8,}})",
                           "not valid JSON"));
    t.push_back(config_row("ConfigNotObject", "a JSON array", R"([{"model":{}}])", "config must be a JSON object"));
    t.push_back(config_row("ConfigSectionNotObject", "`model` is an array", R"({"model":[]})",
                           "'model' config must be a JSON object"));
    t.push_back(config_row("SetNotUtf8", "`--set grid=\\xff` (not UTF-8)", "{}", "'grid' must be an integer",
                           {"grid"}, {"grid=\xff"}));

    // ---- model files ----
    t.push_back(model_row("ModelOk", "valid tiny model (reference)",
                          [](const std::string& f) { fs::copy_file(tiny_model_file(), f); }, ""));
    t.push_back(model_row("ModelZeroBytes", "zero-byte model file", [](const std::string& f) { write_file(f, ""); },
                          "empty file (0 bytes)"));
    t.push_back(model_row("ModelText", "a text file", [](const std::string& f) { write_file(f, "weights\n"); },
                          "not a readable sola model file"));
    t.push_back(model_row("ModelTruncated", "a valid model cut in half",
                          [](const std::string& f) {
                            const std::string m = read_file(tiny_model_file());
                            write_file(f, m.substr(0, m.size() / 2));
                          },
                          "truncated"));
    t.push_back(model_row("ModelFlippedByte", "a valid model with one bit flipped in its weights",
                          [](const std::string& f) {
                            std::string m = read_file(tiny_model_file());
                            m[m.size() / 2] ^= 0x01;
                            write_file(f, m);
                          },
                          "corrupted"));
    t.push_back(model_row("ModelForeignArchive", "a LibTorch archive without the sola format tag",
                          [](const std::string& f) { write_archive(f, "other", "{}", {}); }, "not a sola model file"));
    t.push_back(model_row("ModelBadConfig", "stored config with `grid` 7",
                          [](const std::string& f) { write_archive(f, "sola-model-v1", R"({"grid":7})", {}); },
                          "'grid' = 7 is invalid"));
    t.push_back(model_row("ModelConfigNotJson", "stored config that is not JSON",
                          [](const std::string& f) { write_archive(f, "sola-model-v1", "{grid", {}); }, "not valid JSON"));
    t.push_back(model_row("ModelWrongWeights", "weights that do not fit the stored config",
                          [](const std::string& f) {
                            write_archive(f, "sola-model-v1", "{}", {{"rgb.conv1.weight", torch::zeros({2})}});
                          },
                          "weights do not match the stored configuration"));
    // As fuzz_checkpoint found (CI, 2026-12-01): LibTorch's loader gives a stored tensor whatever shape
    // the file claims; converting the float16 weights of such a file allocated 25 GB.
    t.push_back(model_row("ModelWeightShapeTooLarge",
                          "a valid model whose first weight claims 65536x65536 elements over 4 stored bytes",
                          first_weight_replaced([](const torch::Tensor&) {
                            return torch::zeros({1}).as_strided({65536, 65536}, {0, 0});
                          }),
                          "has shape [65536, 65536], expected"));
    // The same with the right shape over too few stored bytes (a truncated tensor record).
    t.push_back(model_row("ModelWeightBeyondItsBytes",
                          "a valid model whose first weight has its shape but 4 stored bytes",
                          first_weight_replaced([](const torch::Tensor& w) {
                            auto bad = w.detach().clone();
                            bad.storage().set_nbytes(4);
                            return bad;
                          }),
                          "reaches beyond its 4 stored bytes"));
    t.push_back(model_row("ModelWeightWrongDtype", "a valid model whose first weight is stored as int32",
                          first_weight_replaced([](const torch::Tensor& w) { return w.to(torch::kInt); }),
                          "is stored as Int, expected Float"));

    // ---- videos ----
    t.push_back(video_row("VideoZeroBytes", "zero-byte `.mp4`", "empty.mp4", [](const std::string& f) { write_file(f, ""); },
                          "empty video file (0 bytes)"));
    t.push_back(video_row("VideoGarbage", "random bytes named `.mp4`", "noise.mp4",
                          [](const std::string& f) { write_file(f, std::string(4096, '\x5A')); }, "cannot open"));
    t.push_back(video_row("VideoNoFrames", "an AVI (MJPEG) container with no frames", "none.avi",
                          [](const std::string& f) {
                            cv::VideoWriter w(f, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(32, 32));
                            w.release();
                          },
                          "video has no frames"));
    // ---- robustness degradations (sola eval --perturb) ----
    auto perturb_row = [](std::string test, std::string spec, std::string expect) {
      return Row{std::move(test), "`parse_perturbation` (`sola eval --perturb`)", "`" + spec + "`", std::move(expect), "",
                 [spec](const fs::path&) { return Case{[spec] { data::parse_perturbation(spec); }, {"'" + spec + "'"}}; }};
    };
    t.push_back(perturb_row("PerturbOk", "blur:1.5", ""));
    t.push_back(perturb_row("PerturbUnknownKind", "emboss:1", "expected blur:SIGMA"));
    t.push_back(perturb_row("PerturbNotANumber", "jpeg:high", "is not a finite decimal number"));
    t.push_back(perturb_row("PerturbOverflow", "blur:1e400", "is not a finite decimal number"));
    t.push_back(perturb_row("PerturbHexadecimal", "blur:0x1", "is not a finite decimal number"));
    t.push_back(perturb_row("PerturbJpegQualityNotWhole", "jpeg:50.5", "JPEG quality '50.5' is not a whole number"));
    t.push_back(perturb_row("PerturbOutOfRange", "downscale:1", "out of range"));
    return t;
  }();
  return table;
}

class Table : public testing::TestWithParam<Row> {};

TEST_P(Table, AcceptsOrRejectsNamingTheInput) {
  const Row& row = GetParam();
  test::TempDir dir;
  const Case c = row.make(dir.path);
  std::string message = "(accepted)";
  try {
    c.run();
  } catch (const Error& e) {
    message = e.what();
  }
  RecordProperty("message", message);
  if (row.expect.empty()) {
    EXPECT_EQ(message, "(accepted)") << row.input;
    return;
  }
  EXPECT_NE(message.find(row.expect), std::string::npos) << row.input << "\nexpected: " << row.expect << "\ngot: " << message;
  for (const std::string& name : c.must_name)
    EXPECT_NE(message.find(name), std::string::npos) << "message does not name " << name << ": " << message;
}

INSTANTIATE_TEST_SUITE_P(BadInput, Table, testing::ValuesIn(rows()),
                         [](const testing::TestParamInfo<Row>& info) { return info.param.name; });

/// SOLA_BAD_INPUT_TABLE=FILE: writes the table as markdown (for docs/RELIABILITY.md).
TEST(BadInput, MarkdownTable) {
  const char* out = std::getenv("SOLA_BAD_INPUT_TABLE");
  if (!out) GTEST_SKIP() << "set SOLA_BAD_INPUT_TABLE=FILE to write the table";
  std::ofstream md(out);
  md << "| Parser | Input | Outcome |\n|---|---|---|\n";
  for (const Row& r : rows()) {
    std::string outcome = r.expect.empty() ? "accepted" : "rejected: \"" + r.expect + "\"";
    if (!r.note.empty()) outcome += " (" + r.note + ")";
    md << "| " << r.parser << " | " << r.input << " | " << outcome << " |\n";
  }
  ASSERT_TRUE(md.good()) << out;
}

// ---- fuzz regressions ---------------------------------------------------------------------------

TEST(BadInput, FuzzRegressions) {
  const fs::path root = fs::path(SOLA_SOURCE_DIR) / "fuzz" / "regressions";
  ASSERT_TRUE(fs::is_directory(root)) << root;
  test::TempDir dir;
  const fuzz::Scratch scratch(dir.path);
  size_t replayed = 0;
  for (const std::string& target : fuzz::target_names()) {
    if (!fs::is_directory(root / target)) continue;
    for (const auto& entry : fs::directory_iterator(root / target)) {
      if (!entry.is_regular_file()) continue;
      SCOPED_TRACE(entry.path().string());
      const std::string bytes = read_file(entry.path());
      try {
        fuzz::run_target(target, scratch, bytes);
      } catch (const Error&) {
        // rejected with a message: fine
      }
      ++replayed;
    }
  }
  std::cout << "replayed " << replayed << " fuzz regression inputs\n";
}

}  // namespace
}  // namespace sola
