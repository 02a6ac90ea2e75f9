#pragma once
// What a path's name says about it, for the folder scans of the dataset importers and of `sola detect`.
#include <filesystem>
#include <string>

namespace sola {

/// True when the last component of `path` starts with '.' (a hidden file or folder): what folder
/// scans skip (data/importers.h, detect::expand_inputs).
inline bool is_hidden(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

}  // namespace sola
