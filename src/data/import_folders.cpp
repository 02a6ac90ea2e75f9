// Plain folders of real and fake media: import_folders (what it takes as an input: data/importers.h).
#include "data/importers.h"

#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "data/importers_common.h"
#include "data/video.h"

namespace sola::data {
using namespace importers;  // the importers' shared helpers (data/importers_common.h)

namespace {

/// Walks the folders given to import_folders, making items and refusing inputs seen twice.
class FolderWalker {
 public:
  FolderWalker(const FolderImportOptions& options, ImportResult& out) : options_(options), out_(out) {}

  /// Adds every input under `given` (a folder or a media file) with `label`; `name` heads groups.
  void add_root(const std::string& given, int label, const std::string& name) {
    fs::path root = fs::path(given).lexically_normal();
    if (root.filename().empty() && root.has_parent_path()) root = root.parent_path();  // "dir/" -> "dir"
    std::error_code ec;
    const fs::file_status st = fs::status(root, ec);
    if (st.type() == fs::file_type::not_found) throw IoError(given, "not found");
    if (ec) throw IoError(given, "cannot access: " + ec.message());
    const size_t before = out_.items.size();
    const std::string head = (label ? "fake/" : "real/") + name;
    if (fs::is_directory(st)) {
      walk(root, root, label, head);
      if (out_.items.size() == before) throw IoError(given, "no videos, images or frame folders in it");
    } else if (is_video_file(given) || is_image_file(given)) {
      add(root, label, head + "/" + root.stem().string());
    } else {
      throw IoError(given, "not a folder, video or image file");
    }
  }

 private:
  void walk(const fs::path& dir, const fs::path& root, int label, const std::string& head) {
    std::error_code ec;
    const fs::path canonical = fs::canonical(dir, ec);
    if (!ec) {
      const auto [it, inserted] = visited_.emplace(canonical.string(), normal(dir));
      if (!inserted) {
        throw ConfigError("folder '" + normal(dir) + "' is reached twice (also as '" + it->second +
                          "'): the given folders overlap or a link leads back into them");
      }
    }
    std::vector<fs::path> subdirs, videos, images;
    for (const fs::directory_entry& e : list_dir(dir)) {
      if (entry_is_dir(e)) {
        subdirs.push_back(e.path());
      } else if (entry_is_file(e)) {
        const std::string p = e.path().string();
        if (is_video_file(p)) videos.push_back(e.path());
        else if (is_image_file(p)) images.push_back(e.path());
      }
    }
    auto group = [&](const fs::path& p) {
      fs::path rel = p.lexically_relative(root);
      rel.replace_extension();
      return head + "/" + rel.generic_string();
    };
    if (dir != root && subdirs.empty() && videos.empty() && !images.empty()) {
      fs::path rel = dir.lexically_relative(root);
      add(dir, label, head + "/" + rel.generic_string());  // a video as a folder of frames
      return;
    }
    for (const fs::path& v : videos) add(v, label, group(v));
    for (const fs::path& i : images) add(i, label, group(i));
    for (const fs::path& d : subdirs) walk(d, root, label, head);
  }

  void add(const fs::path& input, int label, const std::string& group) {
    std::error_code ec;
    fs::path key = fs::canonical(input, ec);
    if (ec) key = fs::absolute(input).lexically_normal();
    const auto [it, inserted] = seen_.emplace(key.string(), normal(input));
    if (!inserted) {
      throw ConfigError("'" + normal(input) + "' is reached twice (also as '" + it->second +
                        "'): the given real/fake folders overlap");
    }
    PrepareItem item;
    item.input = normal(input);
    item.label = label;
    item.group = group;
    item.method = label ? options_.fake_method : "real";
    item.split = options_.split;
    out_.items.push_back(std::move(item));
  }

  const FolderImportOptions& options_;
  ImportResult& out_;
  std::unordered_map<std::string, std::string> visited_;  // canonical folder -> path as found
  std::unordered_map<std::string, std::string> seen_;  // canonical input -> path as found
};

/// The name of a given folder or file, for groups: its last component ("." and "/" resolved).
std::string root_name(const std::string& given) {
  fs::path p = fs::absolute(given).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  const std::string name = is_dir(p) ? p.filename().string() : p.parent_path().filename().string();
  return name.empty() ? "root" : name;
}

}  // namespace

ImportResult import_folders(const FolderImportOptions& options) {
  if (options.real.empty() && options.fake.empty()) throw ConfigError("no real or fake folder given to import");
  check_split_name(options.split, "split");
  if (options.fake_method.empty() || options.fake_method == "real") {
    throw ConfigError("fake method '" + options.fake_method + "' must be a non-empty name other than 'real'");
  }
  ImportResult out;
  FolderWalker walker(options, out);
  for (int label : {0, 1}) {
    const std::vector<std::string>& roots = label ? options.fake : options.real;
    std::unordered_map<std::string, int> uses;  // root name -> times used so far
    for (const std::string& given : roots) {
      std::string name = root_name(given);
      const int n = ++uses[name];
      if (n > 1) name += "-" + std::to_string(n);
      walker.add_root(given, label, name);
    }
  }
  return out;
}

}  // namespace sola::data
