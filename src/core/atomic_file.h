#pragma once
// Atomic file replacement: a crash, a kill or a full disk leaves either the old file or the new
// one under its name, never part of one.
//
// The content goes to a temporary file "PATH.tmp.PID" in the same folder, which is flushed to disk
// (fsync), renamed onto PATH, and the folder is flushed too, so that the rename itself survives a
// crash. A temporary file that a killed process left behind is removed by remove_stale_temporaries.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sola {

/// Replaces `path` with what `write(tmp)` writes into the file `tmp` (the writer must close it).
/// Throws IoError naming `path` (the folder does not exist, the writer threw, the file cannot be
/// synced or renamed); the temporary file is removed then, and `path` is left as it was.
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write);

/// write_atomically with `bytes` as the file's content.
void write_file_atomically(const std::string& path, std::string_view bytes);

/// A temporary file of write_atomically that was removed.
struct RemovedTemporary {
  std::string path;
  uintmax_t bytes = 0;
};

/// Removes the temporary files of write_atomically ("NAME.tmp.PID") directly in `dir`, left by a
/// process killed half-way through a write; returns them. Call it only where no other process is
/// writing into `dir` at the time. Nothing to do when `dir` does not exist.
std::vector<RemovedTemporary> remove_stale_temporaries(const std::string& dir);

}  // namespace sola
