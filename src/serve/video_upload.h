#pragma once
// Video uploads of `sola serve`: what container the bytes are, a temporary file for the decoder
// (OpenCV's FFmpeg reader reads files, not memory), and the clip's length from its header.
#include <cstdint>
#include <string>

namespace sola::serve {

/// The formats POST /v1/detect takes as video, in words for messages.
constexpr const char* kAcceptedVideos = "MP4, MOV, WebM or AVI";

/// True for the containers probe_video_container names that the server accepts: mp4 mov webm avi.
bool is_accepted_video(const std::string& format);

/// An upload written to a private temporary file (mode 0600, in $TMPDIR or /tmp) whose name ends in
/// `extension`. Where /proc is mounted, the name is removed at once and the file is read through its
/// open descriptor (/proc/self/fd/N), so that nothing is left in $TMPDIR even when the server is
/// killed; otherwise the file is removed on destruction. Throws IoError when it cannot be written.
class TempFile {
 public:
  TempFile(const std::string& bytes, const std::string& extension);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  /// Where to read the upload: /proc/self/fd/N, or the file's name.
  const std::string& path() const { return path_; }

 private:
  std::string path_, name_;  ///< name_: the file's name while it exists
  int fd_ = -1;
};

/// Frame count, frame rate and duration of a video from its container header (no decoding).
struct VideoLength {
  int64_t frames = 0;    ///< as reported; 0 when unknown (or implausible: data::VideoReader::frame_count)
  double fps = 0;        ///< 0 when unknown
  double seconds = -1;   ///< frames / fps; -1 when either is unknown
  int width = 0, height = 0;  ///< frame size from the stream header; 0 when unknown
};

/// Throws IoError naming `path` when it cannot be opened as a video.
VideoLength video_length(const std::string& path);

/// The frames of the video at `path` counted by reading it (grabbing only), at most `limit`: a result
/// of `limit` means "`limit` or more". Throws IoError naming `path` when it cannot be opened.
int64_t count_video_frames(const std::string& path, int64_t limit);

}  // namespace sola::serve
