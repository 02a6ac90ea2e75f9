#include "data/video.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>

#include "core/error.h"
#include "data/image_header.h"

namespace sola::data {
namespace {

namespace fs = std::filesystem;

/// The lower-case extension of `path` with its dot ("" when none).
std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

void require_file(const std::string& path, const std::string& what) { require_input_file(path, what); }

/// `frame` as 8-bit BGR (gray, BGRA and 16-bit frames converted).
cv::Mat to_bgr8(cv::Mat frame) {
  if (frame.depth() == CV_16U) {
    frame.convertTo(frame, CV_8U, 1.0 / 257);
  } else if (frame.depth() != CV_8U) {
    frame.convertTo(frame, CV_8U);
  }
  if (frame.channels() == 1) cv::cvtColor(frame, frame, cv::COLOR_GRAY2BGR);
  if (frame.channels() == 4) cv::cvtColor(frame, frame, cv::COLOR_BGRA2BGR);
  return frame;
}

uint32_t be16(const unsigned char* p) { return (uint32_t(p[0]) << 8) | p[1]; }

/// Throws IoError when a side of a w x h image is above max_side.
void check_side(const std::string& path, int64_t w, int64_t h, int max_side) {
  if (w > max_side || h > max_side) {
    throw IoError(path, "image is " + std::to_string(w) + "x" + std::to_string(h) + ", larger than " +
                            std::to_string(max_side) + " px a side");
  }
}

}  // namespace

bool is_video_file(const std::string& path) {
  static const std::set<std::string> kExt = {".mp4", ".avi", ".mov", ".mkv", ".webm",
                                             ".m4v", ".mpg", ".mpeg", ".wmv"};
  return kExt.count(lower_extension(path)) > 0;
}

bool is_image_file(const std::string& path) {
  static const std::set<std::string> kExt = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"};
  return kExt.count(lower_extension(path)) > 0;
}

std::vector<int64_t> even_frame_indices(int64_t total, int n) {
  std::vector<int64_t> out;
  if (total <= 0 || n <= 0) return out;
  if (total <= n) {
    for (int64_t i = 0; i < total; ++i) out.push_back(i);
    return out;
  }
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    // (i + 0.5) * total / n in integers: floor((2i + 1) * total / 2n).
    out.push_back((2 * static_cast<int64_t>(i) + 1) * total / (2 * static_cast<int64_t>(n)));
  }
  return out;
}

// ---- VideoReader --------------------------------------------------------------------------------

struct VideoReader::Impl {
  cv::VideoCapture capture;
};

VideoReader::VideoReader(const std::string& path) : impl_(std::make_unique<Impl>()), path_(path) {
  require_file(path, "video file");
  open();
  const double count = impl_->capture.get(cv::CAP_PROP_FRAME_COUNT);
  std::error_code ec;
  const auto bytes = fs::file_size(path, ec);  // a frame takes at least a byte: more frames is a header never filled in
  const double most = ec ? 1e12 : static_cast<double>(bytes);
  reported_ = std::isfinite(count) && count > 0 && count < 1e12 && count <= most ? static_cast<int64_t>(std::llround(count)) : 0;
  auto side = [this](int prop) {
    const double v = impl_->capture.get(prop);
    return std::isfinite(v) && v > 0 && v < 1e9 ? static_cast<int>(v) : 0;
  };
  width_ = side(cv::CAP_PROP_FRAME_WIDTH);
  height_ = side(cv::CAP_PROP_FRAME_HEIGHT);
  const double fps = impl_->capture.get(cv::CAP_PROP_FPS);
  fps_ = std::isfinite(fps) && fps > 0 && fps < 1e4 ? fps : 0;
}

VideoReader::~VideoReader() = default;
VideoReader::VideoReader(VideoReader&&) noexcept = default;
VideoReader& VideoReader::operator=(VideoReader&&) noexcept = default;

void VideoReader::open() {
  cv::VideoCapture& cap = impl_->capture;
  cap.release();
  const int api = cv::videoio_registry::hasBackend(cv::CAP_FFMPEG) ? cv::CAP_FFMPEG : cv::CAP_ANY;
  bool opened = false;
  try {
    opened = cap.open(path_, api);
  } catch (const cv::Exception& e) {
    throw IoError(path_, "cannot open video: " + e.err);
  }
  if (!opened || !cap.isOpened()) {
    throw IoError(path_, "cannot open as a video (not a video, or an unsupported container or codec)");
  }
  next_ = 0;
}

bool VideoReader::read(int64_t index, cv::Mat& bgr, double* time_s) {
  if (index < 0) return false;
  if (end_ >= 0 && index >= end_) return false;
  if (index < next_) open();
  cv::VideoCapture& cap = impl_->capture;
  for (; next_ <= index; ++next_) {
    if (!cap.grab()) {
      end_ = next_;
      return false;
    }
  }
  cv::Mat frame;
  if (!cap.retrieve(frame) || frame.empty()) return false;
  bgr = to_bgr8(std::move(frame));
  if (time_s) {
    const double ms = cap.get(cv::CAP_PROP_POS_MSEC);
    *time_s = std::isfinite(ms) && ms >= 0 && (ms > 0 || index == 0) ? ms / 1000.0
              : fps_ > 0                                                ? static_cast<double>(index) / fps_
                                                                        : 0.0;
  }
  return true;
}

int64_t VideoReader::count_frames() {
  if (end_ >= 0) return end_;
  while (impl_->capture.grab()) ++next_;
  end_ = next_;
  return end_;
}

int64_t VideoReader::count_frames(int64_t limit) {
  if (end_ >= 0) return end_;
  while (next_ < limit && impl_->capture.grab()) ++next_;
  if (next_ < limit) end_ = next_;
  return next_;
}

// ---- sampling -----------------------------------------------------------------------------------

void for_each_sampled_frame(const std::string& path, int n, const std::function<void(VideoFrame&)>& fn,
                            std::vector<std::string>* warnings) {
  VideoReader reader(path);
  int64_t undecodable = 0;
  const int64_t total = reader.frame_count() > 0 ? reader.frame_count() : reader.count_frames();
  if (total <= 0) throw IoError(path, "video has no frames");
  std::set<int64_t> delivered;
  auto deliver = [&](int64_t index) {
    VideoFrame f;
    f.index = index;
    if (!reader.read(index, f.bgr, &f.time_s)) {
      if (reader.frames_at_end() < 0 || index < reader.frames_at_end()) ++undecodable;
      return;
    }
    delivered.insert(index);
    fn(f);
  };
  for (const int64_t i : even_frame_indices(total, n)) {
    if (reader.frames_at_end() >= 0 && i >= reader.frames_at_end()) break;
    deliver(i);
  }
  const int64_t real_total = reader.frames_at_end();
  if (real_total >= 0 && real_total < total) {
    // The container over-reported the length: spread the missing frames over the true one.
    const size_t want = static_cast<size_t>(std::min<int64_t>(n, real_total));
    for (const int64_t i : even_frame_indices(real_total, n)) {
      if (delivered.size() >= want) break;
      if (!delivered.count(i)) deliver(i);
    }
  }
  if (delivered.empty() && n > 0) {
    throw IoError(path, reader.frames_at_end() == 0 ? "video has no readable frames"
                                                    : "none of the sampled video frames could be decoded");
  }
  if (!warnings) return;
  // Containers may round their frame count; a video that ends more than 2% (and 2 frames) early is cut short.
  if (real_total >= 0 && total - real_total > std::max<int64_t>(2, total / 50))
    warnings->push_back(IoError(path, "damaged video: it ends after " + std::to_string(real_total) + " of the " +
                                          std::to_string(total) + " frames its container reports (truncated?)")
                            .what());
  if (undecodable > 0)
    warnings->push_back(IoError(path, "damaged video: " + std::to_string(undecodable) +
                                          " sampled frame(s) could not be decoded").what());
}

void for_each_sampled_frame_prefetched(const std::string& path, int n, const std::function<void(VideoFrame&)>& fn,
                                       int ahead, double* decode_ms, std::vector<std::string>* warnings) {
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<VideoFrame> queue;
  bool done = false, stop = false;
  std::exception_ptr decode_error;
  double busy_ms = 0;
  const size_t capacity = static_cast<size_t>(std::max(1, ahead));
  std::thread decoder([&] {
    auto t0 = std::chrono::steady_clock::now();
    auto add_busy = [&] {
      const auto t1 = std::chrono::steady_clock::now();
      busy_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
      t0 = t1;
    };
    try {
      for_each_sampled_frame(path, n, [&](VideoFrame& f) {
        add_busy();
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return stop || queue.size() < capacity; });
        if (stop) throw std::runtime_error("stopped");  // unwinds the reader; not reported
        queue.push_back(std::move(f));
        changed.notify_all();
        lock.unlock();
        t0 = std::chrono::steady_clock::now();
      }, warnings);  // written on this thread, read after it is joined
      add_busy();
    } catch (...) {
      add_busy();
      std::lock_guard<std::mutex> lock(mutex);
      if (!stop) decode_error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex);
    done = true;
    changed.notify_all();
  });
  auto finish = [&] {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
      changed.notify_all();
    }
    decoder.join();
    if (decode_ms) *decode_ms = busy_ms;
  };
  try {
    for (;;) {
      VideoFrame f;
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return done || !queue.empty(); });
        if (queue.empty()) break;  // done, and everything delivered
        f = std::move(queue.front());
        queue.pop_front();
        changed.notify_all();
      }
      fn(f);
    }
  } catch (...) {
    finish();
    throw;
  }
  finish();
  if (decode_error) std::rethrow_exception(decode_error);
}

std::vector<VideoFrame> sample_frames(const std::string& path, int n) {
  std::vector<VideoFrame> frames;
  for_each_sampled_frame(path, n, [&](VideoFrame& f) { frames.push_back(std::move(f)); });
  std::sort(frames.begin(), frames.end(), [](const VideoFrame& a, const VideoFrame& b) { return a.index < b.index; });
  return frames;
}

std::vector<VideoFrame> read_frames(const std::string& path, const std::vector<int64_t>& indices) {
  VideoReader reader(path);
  std::vector<int64_t> wanted = indices;
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  std::vector<VideoFrame> frames;
  for (const int64_t i : wanted) {
    VideoFrame f;
    f.index = i;
    if (reader.read(i, f.bgr, &f.time_s)) {
      frames.push_back(std::move(f));
    } else if (reader.frames_at_end() >= 0) {
      break;
    }
  }
  if (reader.frames_at_end() == 0) throw IoError(path, "video has no readable frames");
  return frames;
}

int64_t video_frame_count(const std::string& path) { return VideoReader(path).frame_count(); }

// ---- images -------------------------------------------------------------------------------------

std::string input_file_problem(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    struct stat link {};
    if ((err == ENOENT || err == ENOTDIR) && ::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode))
      return "broken symbolic link: its target does not exist";
    if (err == ENOENT || err == ENOTDIR) return what + " not found";
    if (err == ELOOP) return "symbolic link loop (too many levels of symbolic links)";
    if (err == EACCES) return "permission denied (a folder on its path cannot be searched)";
    return "cannot access " + what + ": " + std::strerror(err);
  }
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = ::opendir(path.c_str())) {
      ::closedir(d);
      return "is a directory, expected " + what;
    }
    return errno == EACCES ? "permission denied: the folder cannot be read" : "cannot read the folder: " + std::string(std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISFIFO(st.st_mode) ? "FIFO (named pipe)" : S_ISSOCK(st.st_mode) ? "socket"
                     : S_ISCHR(st.st_mode) ? "character device" : S_ISBLK(st.st_mode) ? "block device" : "special file";
    return std::string("is a ") + kind + ", not a regular file";
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return err == EACCES ? "permission denied" : "cannot open " + what + ": " + std::strerror(err);
  }
  ::close(fd);
  if (st.st_size == 0) return "empty " + what + " (0 bytes)";
  return "";
}

void require_input_file(const std::string& path, const std::string& what) {
  const std::string problem = input_file_problem(path, what);
  if (!problem.empty()) throw IoError(path, problem);
}

std::string encoded_image_damage(const std::string& bytes) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  if (n < 4 || b[0] != 0xFF || b[1] != 0xD8) return "";  // only JPEG is checked
  const std::string truncated = "damaged image: the JPEG data ends before its end-of-image marker (a truncated file; "
                                "the decoder filled in the missing part)";
  size_t i = 2;
  for (;;) {
    // A marker: FF (fill bytes FF), then its code.
    while (i < n && b[i] != 0xFF) ++i;  // stray bytes, as libjpeg skips them
    while (i < n && b[i] == 0xFF) ++i;
    if (i >= n) return truncated;
    const unsigned char marker = b[i++];
    if (marker == 0xD9) return "";
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // no payload
    if (i + 2 > n) return truncated;
    i += be16(b + i);  // the segment (its length counts the two length bytes)
    if (marker != 0xDA) continue;
    // Entropy-coded data after a start of scan: FF 00 is a data byte, FF D0-D7 a restart marker;
    // any other marker ends the scan (the next segment, or the end of the image).
    while (i + 1 < n && !(b[i] == 0xFF && b[i + 1] != 0x00 && !(b[i + 1] >= 0xD0 && b[i + 1] <= 0xD7))) ++i;
    if (i + 1 >= n) return truncated;
  }
}

std::string image_file_damage(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[2] = {};
  if (!in.read(head, 2) || head[0] != '\xFF' || head[1] != '\xD8') return "";
  in.seekg(0);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return encoded_image_damage(bytes);
}

cv::Mat read_image_bgr(const std::string& path, int max_side) {
  require_file(path, "image file");
  if (!cv::haveImageReader(path)) {
    throw IoError(path, "not an image OpenCV can read (unknown or unsupported format)");
  }
  // Only formats whose size the header gives are decoded: OpenCV's other readers (PNM, PFM, Sun
  // raster, Radiance HDR, a bare VP8 stream, ...) allocate whatever a 20-byte header claims.
  const ImageHeader header = probe_image_file(path);
  if (header.format.empty()) {
    throw IoError(path, "cannot decode image: no readable JPEG, PNG, BMP, WebP or TIFF header (other formats are "
                        "not read: their size cannot be checked before decoding)");
  }
  if (!header.ok())
    throw IoError(path, "image header gives a size of " + std::to_string(header.width) + "x" + std::to_string(header.height));
  check_side(path, header.width, header.height, max_side);
  cv::Mat img;
  try {
    img = cv::imread(path, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw IoError(path, "cannot decode image: " + e.err);
  }
  if (img.empty()) throw IoError(path, "cannot decode image (corrupt or truncated)");
  check_side(path, img.cols, img.rows, max_side);
  return to_bgr8(std::move(img));
}

}  // namespace sola::data
