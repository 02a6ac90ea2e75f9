#include "serve/video_upload.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "data/video.h"
#include "serve/server.h"

namespace sola::serve {

std::string probe_video_container(const std::string& bytes) {
  const size_t n = bytes.size();
  auto at = [&](size_t pos, const char* text) { return n >= pos + std::strlen(text) && bytes.compare(pos, std::strlen(text), text) == 0; };
  if (at(4, "ftyp")) return at(8, "qt  ") ? "mov" : "mp4";  // ISO base media: the major brand tells QuickTime
  for (const char* atom : {"moov", "mdat", "wide", "free", "skip"})
    if (at(4, atom)) return "mov";  // QuickTime files from before ftyp
  if (at(0, "\x1a\x45\xdf\xa3")) {  // EBML: Matroska or its WebM profile, named by the DocType
    const std::string head = bytes.substr(0, 64);
    if (head.find("webm") != std::string::npos) return "webm";
    if (head.find("matroska") != std::string::npos) return "mkv";
    return "";
  }
  if (at(0, "RIFF") && at(8, "AVI ")) return "avi";
  if (at(0, "FLV")) return "flv";
  if (at(0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11")) return "wmv";
  if (n >= 4 && bytes.compare(0, 4, std::string("\x00\x00\x01\xba", 4)) == 0) return "mpeg";
  if (n >= 377 && bytes[0] == 0x47 && bytes[188] == 0x47 && bytes[376] == 0x47) return "mpeg-ts";
  return "";
}

bool is_accepted_video(const std::string& format) {
  return format == "mp4" || format == "mov" || format == "webm" || format == "avi";
}

TempFile::TempFile(const std::string& bytes, const std::string& extension) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/sola-upload-XXXXXX" + extension;
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  fd_ = ::mkostemps(name.data(), static_cast<int>(extension.size()), O_CLOEXEC);  // mode 0600
  if (fd_ < 0) throw IoError(pattern, std::string("cannot create a temporary file for the upload: ") + std::strerror(errno));
  name_ = path_ = name.data();
  // Read through the descriptor, the name gone: a killed server leaves nothing behind.
  const std::string by_fd = "/proc/self/fd/" + std::to_string(fd_);
  if (::access(by_fd.c_str(), R_OK) == 0 && ::unlink(name_.c_str()) == 0) {
    path_ = by_fd;
    name_.clear();
  }
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t w = ::write(fd_, bytes.data() + written, bytes.size() - written);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const std::string why = w < 0 ? std::strerror(errno) : "no space written";
      const std::string where = name_.empty() ? pattern : name_;
      ::close(fd_);
      if (!name_.empty()) ::unlink(name_.c_str());
      throw IoError(where, "cannot write the upload to a temporary file: " + why);
    }
    written += static_cast<size_t>(w);
  }
}

TempFile::~TempFile() {
  if (!name_.empty()) ::unlink(name_.c_str());
  ::close(fd_);
}

VideoLength video_length(const std::string& path) {
  data::VideoReader reader(path);
  VideoLength v;
  v.frames = reader.frame_count();
  v.fps = reader.fps();
  if (v.frames > 0 && v.fps > 0) v.seconds = static_cast<double>(v.frames) / v.fps;
  v.width = reader.width();
  v.height = reader.height();
  return v;
}

int64_t count_video_frames(const std::string& path, int64_t limit) {
  data::VideoReader reader(path);
  return reader.count_frames(limit);
}

}  // namespace sola::serve
