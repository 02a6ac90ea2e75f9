#pragma once
// The inputs of `sola detect`: folders expanded into the files under them.
#include <string>
#include <vector>

namespace sola::detect {

/// All files under `paths` (folders recursively, sorted, hidden files and folders skipped), images
/// and videos first-class; other files are returned too so that they get an "unsupported" status.
/// A path that does not exist is kept (its result is "unreadable": file not found), and so are folders
/// that cannot be read and entries whose symbolic link is broken or loops (reported as unreadable).
std::vector<std::string> expand_inputs(const std::vector<std::string>& paths);

}  // namespace sola::detect
