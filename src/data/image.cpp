#include "data/image.h"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "data/manifest.h"
#include "data/video.h"

namespace sola {

torch::Tensor load_image(const std::string& path, int64_t size) {
  // read_image_bgr refuses a side above kMaxImageSide from the header, before any pixel is decoded,
  // so a small file claiming a huge image cannot make this allocate gigabytes.
  cv::Mat img = data::read_image_bgr(path, data::kMaxImageSide);
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
