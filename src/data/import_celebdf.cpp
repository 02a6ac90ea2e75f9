// Celeb-DF (v2): import_celebdf. The layout it reads and its test list: data/importers.h.
#include "data/importers.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "data/importers_common.h"

namespace sola::data {
using namespace importers;  // the importers' shared helpers (data/importers_common.h)

namespace {

struct CelebFolder {
  const char* name;
  int label;
  const char* method;
};
const CelebFolder kCelebFolders[] = {
    {"Celeb-real", 0, "real"}, {"YouTube-real", 0, "real"}, {"Celeb-synthesis", 1, "celeb-df"}};

constexpr const char* kCelebLayout =
    "expected the Celeb-DF v2 layout: Celeb-real/, Celeb-synthesis/, YouTube-real/, List_of_testing_videos.txt";

/// "<folder>/<stem>" of the videos in the test list (the key of a listed video or frame folder).
std::unordered_map<std::string, std::string> read_celeb_test_list(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw IoError(file.string(), "Celeb-DF test list not found");
  std::istringstream text(read_text_file(file));
  std::unordered_map<std::string, std::string> listed;  // key -> the path as listed
  std::string line;
  for (size_t n = 1; std::getline(text, line); ++n) {
    std::istringstream fields(line);
    std::string label, path, extra;
    if (!(fields >> label)) continue;  // blank line
    auto bad = [&](const std::string& problem) {
      return IoError(file.string(), "line " + std::to_string(n) + ": " + problem);
    };
    if (!(fields >> path) || (fields >> extra)) {
      throw bad("expected '<1 real | 0 synthesized> <folder>/<video>', found '" + line + "'");
    }
    if (label != "0" && label != "1") throw bad("label must be 1 (real) or 0 (synthesized), found '" + label + "'");
    std::replace(path.begin(), path.end(), '\\', '/');
    const fs::path p(path);
    const std::string folder = p.parent_path().string();
    const CelebFolder* f = nullptr;
    for (const CelebFolder& c : kCelebFolders)
      if (folder == c.name) f = &c;
    if (!f) throw bad("'" + path + "' is not in Celeb-real/, YouTube-real/ or Celeb-synthesis/");
    // The list's labels are 1 = real, 0 = synthesized: the opposite of ours.
    const int ours = label == "1" ? 0 : 1;
    if (ours != f->label) {
      throw bad("label " + label + (label == "1" ? " (real)" : " (synthesized)") + " but " + folder + " holds " +
                (f->label ? "synthesized" : "real") + " videos (in this list 1 = real, 0 = synthesized)");
    }
    listed.emplace(folder + "/" + p.stem().string(), path);
  }
  return listed;
}

}  // namespace

ImportResult import_celebdf(const std::string& root_str, const CelebDfOptions& options) {
  const fs::path root(root_str);
  if (!is_dir(root)) throw IoError(root_str, std::string("Celeb-DF root folder not found (") + kCelebLayout + ")");
  for (const CelebFolder& f : kCelebFolders) {
    if (!is_dir(root / f.name)) throw IoError(root_str, std::string("no ") + f.name + " folder (" + kCelebLayout + ")");
  }
  const fs::path list = options.list_file.empty() ? root / "List_of_testing_videos.txt" : fs::path(options.list_file);
  const auto listed = read_celeb_test_list(list);

  ImportResult out;
  std::set<std::string> found;
  for (const CelebFolder& f : kCelebFolders) {
    const auto media = list_media(root / f.name, Take::kVideos);
    if (media.empty()) throw IoError(normal(root / f.name), "no videos in it");
    for (const Medium& m : media) {
      const std::string key = std::string(f.name) + "/" + m.stem;
      PrepareItem item;
      item.input = m.path;
      item.label = f.label;
      item.method = f.method;
      item.group = key;
      item.split = listed.count(key) ? "test" : "train";
      if (item.split == "test") found.insert(key);
      out.items.push_back(std::move(item));
    }
  }
  std::vector<std::string> missing;
  for (const auto& [key, path] : listed)
    if (!found.count(key)) missing.push_back(path);
  if (!missing.empty()) {
    std::sort(missing.begin(), missing.end());
    out.notes.push_back(std::to_string(missing.size()) + " of " + std::to_string(listed.size()) + " videos listed in " +
                        list.string() + " are not under " + root_str + " (" + examples(missing) + ")");
  }
  return out;
}

}  // namespace sola::data
