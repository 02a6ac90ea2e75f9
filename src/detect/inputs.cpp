#include "detect/inputs.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "core/paths.h"

namespace sola::detect {
namespace {

namespace fs = std::filesystem;

/// The files under `dir` (hidden ones skipped); a folder that cannot be listed, and an entry whose
/// link is broken or loops, is kept itself so that its result says what is wrong.
void collect_files(const fs::path& dir, std::vector<std::string>& found) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    found.push_back(dir.string());
    return;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (is_hidden(it->path())) continue;
    std::error_code type_ec;
    const fs::file_type own = it->symlink_status(type_ec).type();
    if (own == fs::file_type::directory) {
      collect_files(it->path(), found);
    } else if (it->is_regular_file(type_ec)) {
      found.push_back(it->path().string());
    } else if (own == fs::file_type::symlink && type_ec) {
      found.push_back(it->path().string());  // broken or looping link
    }
  }
  if (ec) found.push_back(dir.string());  // listing failed part-way
}

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (!fs::is_directory(p, ec)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    collect_files(p, found);
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

}  // namespace sola::detect
