#pragma once
// Small on-disk datasets that tests make themselves (no ../shared needed).
#include <fstream>
#include <random>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace sola::test {

/// Writes `pairs` real images and as many fakes (a re-textured square blended in, with its
/// mask) of size x size pixels plus manifest.csv into `dir`; returns the manifest path.
inline std::string make_tiny_dataset(const std::string& dir, int pairs, int size, unsigned seed = 1,
                                     bool masks = true) {
  std::mt19937 rng(seed);
  std::ofstream manifest(dir + "/manifest.csv");
  manifest << "path,label,mask,group,method\n";
  for (int i = 0; i < pairs; ++i) {
    cv::Mat real(size, size, CV_8UC3);
    cv::randu(real, cv::Scalar::all(60), cv::Scalar::all(200));
    cv::GaussianBlur(real, real, cv::Size(5, 5), 1.5);
    cv::Mat fake = real.clone();
    cv::Mat mask = cv::Mat::zeros(size, size, CV_8UC1);
    const int s = size / 3 + static_cast<int>(rng() % (size / 4));
    const int x = static_cast<int>(rng() % (size - s)), y = static_cast<int>(rng() % (size - s));
    cv::Rect box(x, y, s, s);
    cv::Mat patch(s, s, CV_8UC3);
    cv::randu(patch, cv::Scalar::all(0), cv::Scalar::all(255));  // a noisier texture: a local anomaly
    patch.copyTo(fake(box));
    mask(box).setTo(255);
    const std::string id = std::to_string(i);
    cv::imwrite(dir + "/real_" + id + ".png", real);
    cv::imwrite(dir + "/fake_" + id + ".png", fake);
    cv::imwrite(dir + "/mask_" + id + ".png", mask);
    manifest << "real_" << id << ".png,0,,g" << id << ",real\n";
    manifest << "fake_" << id << ".png,1," << (masks ? "mask_" + id + ".png" : "") << ",g" << id << ",box\n";
  }
  return dir + "/manifest.csv";
}

}  // namespace sola::test
