// The one image-header parser (data/image_header.h): sides of every format from bytes and from files,
// without decoding; what it refuses.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "data/image_header.h"
#include "test_util.h"

namespace sola {
namespace {

using data::probe_image_file;
using data::probe_image_header;

std::string encode(int w, int h, const std::string& ext, const std::vector<int>& params = {}) {
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(10, 120, 200));
  std::vector<uchar> bytes;
  EXPECT_TRUE(cv::imencode(ext, img, bytes, params)) << ext;
  return std::string(bytes.begin(), bytes.end());
}

std::string write(const test::TempDir& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir.file(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}


TEST(ImageHeader, SidesOfEveryFormatFromBytesAndFromFiles) {
  test::TempDir dir;
  const struct {
    const char* ext;
    const char* format;
    std::vector<int> params;
  } cases[] = {{".png", "png", {}},
               {".jpg", "jpeg", {}},
               {".jpg", "jpeg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1}},
               {".bmp", "bmp", {}},
               {".webp", "webp", {}},
               {".webp", "webp", {cv::IMWRITE_WEBP_QUALITY, 101}},  // lossless: another header
               {".tiff", "tiff", {}}};
  int i = 0;
  for (const auto& c : cases) {
    const std::string bytes = encode(123, 45, c.ext, c.params);
    const std::string path = write(dir, "img" + std::to_string(i++) + c.ext, bytes);
    for (const auto& h : {probe_image_header(bytes), probe_image_file(path)}) {
      EXPECT_EQ(h.format, c.format) << c.ext;
      EXPECT_EQ(h.width, 123) << c.ext;
      EXPECT_EQ(h.height, 45) << c.ext;
    }
  }
}

TEST(ImageHeader, JpegMarkersAreWalkedAsLibjpegDoesAcrossLongSegments) {
  test::TempDir dir;
  const std::string jpeg = encode(77, 33, ".jpg");
  // Two 60 KiB application segments after SOI push the frame header past the file reader's first
  // 64 KiB chunk; stray bytes and fill bytes before a marker are skipped as libjpeg skips them.
  std::string app(2 + 2 + 60000, 'x');
  app[0] = '\xff', app[1] = '\xe1', app[2] = char((60002 >> 8) & 0xff), app[3] = char(60002 & 0xff);
  const std::string padded = jpeg.substr(0, 2) + app + app + "\x12\x34\xff\xff" + jpeg.substr(2);
  for (const auto& h : {probe_image_header(padded), probe_image_file(write(dir, "padded.jpg", padded))}) {
    EXPECT_EQ(h.format, "jpeg");
    EXPECT_EQ(h.width, 77);
    EXPECT_EQ(h.height, 33);
  }
  // Cut inside the second segment: no frame header.
  const std::string cut = padded.substr(0, 90000);
  EXPECT_TRUE(probe_image_header(cut).format.empty());
  EXPECT_TRUE(probe_image_file(write(dir, "cut.jpg", cut)).format.empty());
}

TEST(ImageHeader, RefusesOtherFormatsTruncatedHeadersAndEmptySides) {
  test::TempDir dir;
  const auto huge = probe_image_header(test::png_header(100000, 100000));
  EXPECT_EQ(huge.format, "png");  // a claim, read without allocating: the callers refuse it by size
  EXPECT_EQ(huge.width, 100000);
  const auto empty = probe_image_header(test::png_header(0, 10));
  EXPECT_EQ(empty.format, "png");  // recognised, but no image: ok() says so, the callers refuse it
  EXPECT_EQ(empty.width, 0);
  EXPECT_FALSE(empty.ok());
  EXPECT_TRUE(huge.ok());
  for (const std::string& bytes : {std::string("GIF89a...."), std::string("\xff\xd8\xff\xe0\x00", 5),
                                   std::string(), std::string("BM"), std::string("RIFF\0\0\0\0WEBPVP8 ", 16),
                                   std::string("II*\0\xff\xff\xff\x7f", 8), test::png_header(5, 5).substr(0, 20)}) {
    EXPECT_TRUE(probe_image_header(bytes).format.empty()) << bytes.size();
    EXPECT_TRUE(probe_image_file(write(dir, "bad", bytes)).format.empty()) << bytes.size();
  }
  EXPECT_TRUE(probe_image_file(dir.file("missing.png")).format.empty());
  EXPECT_TRUE(probe_image_file(dir.path.string()).format.empty());  // a folder
}

}  // namespace
}  // namespace sola
