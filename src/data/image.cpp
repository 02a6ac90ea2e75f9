#include "data/image.h"

#include <filesystem>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "core/error.h"

namespace sola {

torch::Tensor load_image(const std::string& path, int64_t size) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError(path, "file not found");
  if (fs::is_directory(path, ec)) throw IoError(path, "is a directory, expected an image file");
  if (fs::file_size(path, ec) == 0) throw IoError(path, "empty file (0 bytes)");
  cv::Mat img;
  try {
    img = cv::imread(path, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw IoError(path, std::string("cannot decode image: ") + e.what());
  }
  if (img.empty()) throw IoError(path, "cannot decode image (unsupported format or corrupt data)");
  cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
  if (size > 0 && (img.rows != size || img.cols != size)) {
    const bool shrink = img.rows > size && img.cols > size;
    cv::resize(img, img, cv::Size(static_cast<int>(size), static_cast<int>(size)), 0, 0,
               shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  auto t = torch::from_blob(img.data, {img.rows, img.cols, 3}, torch::kUInt8).clone();
  return t.permute({2, 0, 1}).to(torch::kFloat).div_(255.0).contiguous();
}

}  // namespace sola
