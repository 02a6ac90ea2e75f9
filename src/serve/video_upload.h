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
/// `extension`; the file is removed on destruction. Throws IoError when it cannot be written.
class TempFile {
 public:
  TempFile(const std::string& bytes, const std::string& extension);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Frame count, frame rate and duration of a video from its container header (no decoding).
struct VideoLength {
  int64_t frames = 0;    ///< as reported; 0 when unknown
  double fps = 0;        ///< 0 when unknown
  double seconds = -1;   ///< frames / fps; -1 when either is unknown
};

/// Throws IoError naming `path` when it cannot be opened as a video.
VideoLength video_length(const std::string& path);

}  // namespace sola::serve
