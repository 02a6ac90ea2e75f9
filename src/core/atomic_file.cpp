#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace sola {
namespace fs = std::filesystem;

namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

/// Flushes the file or folder at `path` to disk. Throws IoError naming it. A file system that
/// cannot sync a folder (EINVAL) is no error.
void sync_path(const std::string& path, bool folder) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (folder ? O_DIRECTORY : 0));
  if (fd < 0) throw IoError(path, std::string("cannot open to flush it to disk: ") + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && !(folder && err == EINVAL)) {
    throw IoError(path, std::string("cannot flush to disk: ") + std::strerror(err));
  }
}

/// True for "NAME.tmp.PID", the name of a temporary file of write_atomically.
bool is_temporary_name(const std::string& name) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at == 0 || at + 5 == name.size()) return false;
  for (size_t i = at + 5; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  }
  return true;
}

}  // namespace

void write_atomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code exists_ec;
  if (!fs::is_directory(folder, exists_ec)) throw IoError(path, "directory " + folder.string() + " does not exist");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    write(tmp);
    sync_path(tmp, false);  // the contents reach the disk before the rename makes them visible
    fs::rename(tmp, target);
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw IoError(path, std::string("cannot write: ") + first_line(e.what()));
  }
  sync_path(folder.string(), true);  // and the rename survives a crash
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out.is_open()) throw IoError(tmp, std::string("cannot create: ") + std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw IoError(tmp, "write failed (disk full?)");
  });
}

std::vector<RemovedTemporary> remove_stale_temporaries(const std::string& dir) {
  std::vector<RemovedTemporary> found;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code entry_ec;  // an entry that cannot be looked at is left alone; the listing goes on
    if (!is_temporary_name(it->path().filename().string()) || !it->is_regular_file(entry_ec)) continue;
    const uintmax_t bytes = it->file_size(entry_ec);
    found.push_back({it->path().string(), entry_ec ? 0 : bytes});
  }
  std::vector<RemovedTemporary> removed;
  for (RemovedTemporary& t : found) {
    if (fs::remove(t.path, ec)) removed.push_back(std::move(t));
  }
  return removed;
}

}  // namespace sola
