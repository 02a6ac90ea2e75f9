#pragma once
// What the dataset importers share (import_ffpp.cpp, import_celebdf.cpp, import_folders.cpp): folder
// listings without hidden entries, sorted; the media in a folder; split names; notes that name a few
// examples. Internal to the importers: the public interface is data/importers.h.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace sola::data::importers {

namespace fs = std::filesystem;

/// Examples spelled out in a note about many left-out files.
constexpr size_t kMaxExamples = 5;

/// `s` in lower case (ASCII).
std::string lower(std::string s);

/// The parts joined by `sep`.
std::string join(const std::vector<std::string>& parts, const std::string& sep);

/// "a, b, c, ..." with at most kMaxExamples names.
std::string examples(const std::vector<std::string>& names);

/// True for a folder (following links); false when it cannot be told.
bool is_dir(const fs::path& p);

/// `p` as a lexically normal string (the form items carry).
std::string normal(const fs::path& p);

/// The entries of `dir` that are not hidden (core/paths.h), sorted by name. Throws IoError naming
/// the folder when it cannot be read.
std::vector<fs::directory_entry> list_dir(const fs::path& dir);

/// Whether an entry is a folder or a regular file (following links); false when it cannot be told.
bool entry_is_dir(const fs::directory_entry& e);
bool entry_is_file(const fs::directory_entry& e);

/// One video file or frame folder found in a folder.
struct Medium {
  std::string path;
  std::string stem;  ///< file name without extension, or the folder's name
  bool folder = false;
};

/// Which entries of a folder are media: video files or subfolders (frame folders).
enum class Take { kVideos, kFolders };

/// The media directly in `dir` (hidden entries skipped), sorted by name.
std::vector<Medium> list_media(const fs::path& dir, Take take);

/// Throws ConfigError "WHAT 'SPLIT' is not one of train, val, test or empty" for another split name.
void check_split_name(const std::string& split, const std::string& what);

/// The whole content of a text file; IoError naming it when it cannot be read.
std::string read_text_file(const fs::path& file);

}  // namespace sola::data::importers
