#pragma once
// Video clips of faces made from Debian's dlib example photos (libdlib19.1's examples/faces), for
// the tests and the video benchmark: one face or a group, still or moving, at a chosen frame height,
// with a little sensor noise so that the codec has real work, as in a camera's video.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <thread>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

namespace sola::test {

inline const std::string kDlibFaces = "/usr/share/doc/libdlib19.1/examples/faces/";
inline const std::string kOneFacePhoto = kDlibFaces + "Tom_Cruise_avp_2014_4.jpg";  // one frontal face, 565x800
inline const std::string kGroupPhoto = kDlibFaces + "2008_002506.jpg";              // several faces, 500x375

inline bool face_photos_installed() {
  return std::filesystem::exists(kOneFacePhoto) && std::filesystem::exists(kGroupPhoto);
}

struct ClipSpec {
  int height = 720;            ///< frame height; width = 16:9, even
  double seconds = 10;
  double fps = 25;
  bool moving = true;          ///< the photo pans (and the single face zooms a little); else it stands still
  bool several = false;        ///< the group photo (several faces) instead of the single face
  std::string fourcc = "avc1"; ///< avc1 (H.264, .mp4/.mov), mp4v, MJPG (.avi), VP80 (.webm)
  double noise = 3;            ///< standard deviation of the per-frame Gaussian noise, in 8-bit levels
  int blank_from = -1, blank_to = -1;  ///< frames [from, to) show no face (a cut to a plain picture)
};

inline int clip_width(int height) { return (height * 16 / 9 + 1) / 2 * 2; }

/// Frame `i` of the clip.
inline cv::Mat clip_frame(const ClipSpec& s, const cv::Mat& photo, int i, int frames) {
  const int w = clip_width(s.height), h = s.height;
  cv::Mat frame(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)  // a soft vertical gradient as the background
    frame.row(y).setTo(cv::Scalar(70 + 60.0 * y / h, 80 + 40.0 * y / h, 90 + 20.0 * y / h));
  if (!(i >= s.blank_from && i < s.blank_to)) {
    const double t = frames > 1 ? static_cast<double>(i) / (frames - 1) : 0.0;  // 0..1 through the clip
    cv::Mat scaled;
    if (s.several) {
      // The group fills the frame height and pans across a wider strip.
      const double f = 1.15 * h / photo.rows;
      cv::resize(photo, scaled, cv::Size(), f, f, cv::INTER_AREA);
      const int x = (w - scaled.cols) / 2 + static_cast<int>(s.moving ? (t - 0.5) * 0.2 * w : 0);
      const int y = (h - scaled.rows) / 2;
      const cv::Rect dst = cv::Rect(x, y, scaled.cols, scaled.rows) & cv::Rect(0, 0, w, h);
      scaled(dst - cv::Point(x, y)).copyTo(frame(dst));
    } else {
      // The portrait stands at 90 % of the frame height, walks across and zooms by up to 10 %.
      const double zoom = s.moving ? 1.0 + 0.1 * std::sin(3.14159 * t) : 1.0;
      const double f = 0.9 * h / photo.rows * zoom;
      cv::resize(photo, scaled, cv::Size(), f, f, f < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
      const int x = static_cast<int>((s.moving ? 0.1 + 0.5 * t : 0.5) * (w - scaled.cols));
      const int y = (h - scaled.rows) / 2;
      const cv::Rect dst = cv::Rect(x, y, scaled.cols, scaled.rows) & cv::Rect(0, 0, w, h);
      scaled(dst - cv::Point(x, y)).copyTo(frame(dst));
    }
  }
  if (s.noise > 0) {
    cv::Mat noise(frame.size(), CV_16SC3);
    cv::randn(noise, cv::Scalar::all(0), cv::Scalar::all(s.noise));
    cv::Mat out;
    frame.convertTo(out, CV_16SC3);
    out += noise;
    out.convertTo(frame, CV_8UC3);
  }
  return frame;
}

/// Writes the clip to `path` (container by its extension). False when the photo is missing or the
/// writer cannot be opened (codec not available).
inline bool write_face_clip(const std::string& path, const ClipSpec& s) {
  const cv::Mat photo = cv::imread(s.several ? kGroupPhoto : kOneFacePhoto);
  if (photo.empty()) return false;
  const int frames = std::max(1, static_cast<int>(std::lround(s.seconds * s.fps)));
  const std::string& c = s.fourcc;
  cv::VideoWriter writer(path, cv::CAP_FFMPEG, cv::VideoWriter::fourcc(c[0], c[1], c[2], c[3]), s.fps,
                         cv::Size(clip_width(s.height), s.height));
  if (!writer.isOpened()) return false;
  cv::theRNG().state = 12345;
  for (int i = 0; i < frames; ++i) writer.write(clip_frame(s, photo, i, frames));
  return true;
}

/// An MJPG AVI of `frames` noise frames (w x h, `fps`) written by FFmpeg through a pipe, as
/// `ffmpeg ... -f avi - > out.avi` writes it: the header is never filled in (OpenCV reads its frame
/// count as 2^30) and there is no index. Returns the file's bytes ("" when the writer cannot be opened).
inline std::string piped_avi(int frames, int w, int h, double fps) {
  char dir_template[] = "/tmp/sola-pipe-XXXXXX";
  if (!::mkdtemp(dir_template)) return "";
  const std::string fifo = std::string(dir_template) + "/pipe.avi";
  std::string bytes;
  if (::mkfifo(fifo.c_str(), 0600) == 0) {
    std::thread reader([&] {  // the writer's open blocks until this end is open
      const int fd = ::open(fifo.c_str(), O_RDONLY);
      if (fd < 0) return;
      char buf[65536];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
      ::close(fd);
    });
    {
      cv::VideoWriter writer(fifo, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, cv::Size(w, h));
      if (writer.isOpened()) {
        cv::Mat frame(h, w, CV_8UC3);
        cv::theRNG().state = 7;
        for (int i = 0; i < frames; ++i) {
          cv::randu(frame, cv::Scalar::all(0), cv::Scalar::all(255));
          writer.write(frame);
        }
      } else {  // unblock the reader
        const int fd = ::open(fifo.c_str(), O_WRONLY);
        if (fd >= 0) ::close(fd);
      }
    }
    reader.join();
    ::unlink(fifo.c_str());
  }
  ::rmdir(dir_template);
  return bytes;
}

}  // namespace sola::test
