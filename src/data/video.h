#pragma once
// Media inputs: what is a video or an image, and frames sampled evenly from a video (OpenCV).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace sola::data {

/// By extension (case-insensitive): .mp4 .avi .mov .mkv .webm .m4v .mpg .mpeg .wmv
bool is_video_file(const std::string& path);
/// By extension: .jpg .jpeg .png .bmp .webp .tif .tiff
bool is_image_file(const std::string& path);

/// `n` indices spread evenly over [0, total): index i = floor((i + 0.5) * total / n); all of
/// them (0..total-1) when total <= n; empty when total <= 0 or n <= 0.
std::vector<int64_t> even_frame_indices(int64_t total, int n);

struct VideoFrame {
  int64_t index = 0;  ///< frame number in the video
  double time_s = 0;  ///< presentation time in seconds from the start (the container's, else index / fps)
  cv::Mat bgr;        ///< 8-bit BGR
};

/// One video read front to back (OpenCV, FFmpeg backend where available). Frames are decoded in
/// order -- the ones skipped are only grabbed -- which is exact where seeking by frame number is
/// not. One thread at a time.
class VideoReader {
 public:
  /// Throws IoError naming the file when it is missing or cannot be opened as a video.
  explicit VideoReader(const std::string& path);
  ~VideoReader();
  VideoReader(VideoReader&&) noexcept;
  VideoReader& operator=(VideoReader&&) noexcept;

  const std::string& path() const { return path_; }
  /// Frame count as the container reports it (may be approximate; 0 when unknown, and when it is more
  /// than the file's size in bytes -- a frame takes at least a byte -- as in an AVI written through a
  /// pipe, whose header is never filled in and reads as 2^30 frames).
  int64_t frame_count() const { return reported_; }
  /// Frames per second as the container reports it (0 when unknown or implausible).
  double fps() const { return fps_; }
  /// Decodes frame `index` into `bgr` (8-bit BGR), reading on from the last frame read (an earlier
  /// index reopens the video). False when the video ends before `index` or the frame cannot be decoded.
  /// `time_s`, when given, receives the frame's time stamp (see VideoFrame::time_s).
  bool read(int64_t index, cv::Mat& bgr, double* time_s = nullptr);
  /// Frame width and height from the stream header (no frame decoded; 0 when unknown).
  int width() const { return width_; }
  int height() const { return height_; }
  /// Reads through the rest of the video (grabbing only) and returns its true frame count.
  int64_t count_frames();
  /// Reads on (grabbing only) until the video ends or `limit` frames have been read, and returns the
  /// frames read: the true count when it is below `limit`.
  int64_t count_frames(int64_t limit);
  /// The true frame count once a read has reached the end of the video, else -1.
  int64_t frames_at_end() const { return end_; }

 private:
  void open();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  int64_t reported_ = 0;
  double fps_ = 0;
  int width_ = 0, height_ = 0;
  int64_t next_ = 0;  ///< index of the frame the next grab returns
  int64_t end_ = -1;
};

/// Calls `fn` for up to `n` frames spread evenly over the video: even_frame_indices of the frame
/// count the container reports, or, where it reports none, of the count found by reading the video
/// through once. Frames that cannot be decoded are skipped. When the video ends early (the container
/// over-reported its length), frames spread evenly over its true length are added until there are
/// min(n, true length); those may come after frames with higher indices. Throws IoError naming the
/// file when it cannot be opened or none of its frames is decodable. With `warnings`, appends a
/// message naming the file when the video proves damaged: it ends well before the length its
/// container reports (a truncated file), or sampled frames cannot be decoded.
void for_each_sampled_frame(const std::string& path, int n, const std::function<void(VideoFrame&)>& fn,
                            std::vector<std::string>* warnings = nullptr);

/// for_each_sampled_frame with the decoding on a second thread, up to `ahead` frames ahead of `fn`
/// (so decoding overlaps what fn does with a frame). The same frames in the same order; an exception
/// from either side stops both and is rethrown here (the decoder's first). `decode_ms`, when given,
/// receives the time the decoding thread spent opening the video and decoding; `warnings` as above.
void for_each_sampled_frame_prefetched(const std::string& path, int n, const std::function<void(VideoFrame&)>& fn,
                                       int ahead = 4, double* decode_ms = nullptr,
                                       std::vector<std::string>* warnings = nullptr);

/// The frames of for_each_sampled_frame, sorted by index.
std::vector<VideoFrame> sample_frames(const std::string& path, int n);

/// The frames with the given indices (sorted and deduplicated first); missing or undecodable ones
/// are skipped. Throws IoError naming the file when it cannot be opened or has no frame at all.
std::vector<VideoFrame> read_frames(const std::string& path, const std::vector<int64_t>& indices);

/// Frame count as the container reports it (may be approximate; 0 when unknown). Throws IoError
/// when the file cannot be opened.
int64_t video_frame_count(const std::string& path);

/// Reads an image file as 8-bit BGR (any depth/channels converted; EXIF orientation applied, as
/// cv::imread and load_image do). Throws IoError naming the file: missing, undecodable, or a side
/// above max_side. Only JPEG, PNG, BMP, WebP and TIFF are decoded, and only after their size has
/// been read from the header (so a small hostile file cannot make the decoder allocate gigabytes);
/// other formats are refused as unsupported.
cv::Mat read_image_bgr(const std::string& path, int max_side = 8192);

/// Why `path` cannot be read as an input file, or "" when it is a readable, non-empty regular file
/// (symbolic links followed): "WHAT not found", "broken symbolic link ...", "symbolic link loop ...",
/// "permission denied ...", "is a directory, expected WHAT" (or "permission denied: the folder
/// cannot be read"), "is a FIFO (named pipe), not a regular file" (likewise sockets and devices),
/// "empty WHAT (0 bytes)". Never blocks: a FIFO is not opened.
std::string input_file_problem(const std::string& path, const std::string& what);
/// Throws IoError naming `path` with input_file_problem's answer, when there is one.
void require_input_file(const std::string& path, const std::string& what);

/// What is wrong with an encoded image that decodes all the same, or "" when nothing is known to be:
/// a JPEG whose data ends before its end-of-image marker (a truncated file; libjpeg fills in the
/// missing part with a warning).
std::string encoded_image_damage(const std::string& bytes);
/// encoded_image_damage of a file's content ("" when it cannot be read: reading reports that).
std::string image_file_damage(const std::string& path);

}  // namespace sola::data
