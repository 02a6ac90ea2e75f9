#include "data/importers_common.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <system_error>

#include "core/error.h"
#include "core/paths.h"
#include "data/importers.h"
#include "data/video.h"

namespace sola::data {
namespace importers {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::string examples(const std::vector<std::string>& names) {
  std::vector<std::string> shown(names.begin(), names.begin() + std::min(names.size(), kMaxExamples));
  std::string out = join(shown, ", ");
  if (names.size() > kMaxExamples) out += ", ...";
  return out;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

std::string normal(const fs::path& p) { return p.lexically_normal().string(); }

std::vector<fs::directory_entry> list_dir(const fs::path& dir) {
  std::vector<fs::directory_entry> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw IoError(dir.string(), "cannot list folder: " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw IoError(dir.string(), "cannot list folder: " + ec.message());
    if (!is_hidden(it->path())) out.push_back(*it);
  }
  std::sort(out.begin(), out.end(), [](const fs::directory_entry& a, const fs::directory_entry& b) {
    return a.path().filename() < b.path().filename();
  });
  return out;
}

bool entry_is_dir(const fs::directory_entry& e) {
  std::error_code ec;
  return e.is_directory(ec);
}

bool entry_is_file(const fs::directory_entry& e) {
  std::error_code ec;
  return e.is_regular_file(ec);
}

std::vector<Medium> list_media(const fs::path& dir, Take take) {
  std::vector<Medium> out;
  for (const fs::directory_entry& e : list_dir(dir)) {
    if (take == Take::kFolders && entry_is_dir(e)) {
      out.push_back({normal(e.path()), e.path().filename().string(), true});
    } else if (take == Take::kVideos && entry_is_file(e) && is_video_file(e.path().string())) {
      out.push_back({normal(e.path()), e.path().stem().string(), false});
    }
  }
  return out;
}

void check_split_name(const std::string& split, const std::string& what) {
  if (split.empty() || split == "train" || split == "val" || split == "test") return;
  throw ConfigError(what + " '" + split + "' is not one of train, val, test or empty");
}

std::string read_text_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError(file.string(), "cannot open for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw IoError(file.string(), "read error");
  return text.str();
}

}  // namespace importers

ImportCounts count_items(const std::vector<PrepareItem>& items) {
  ImportCounts c;
  c.inputs = items.size();
  for (const PrepareItem& item : items) {
    (item.label ? c.fake : c.real) += 1;
    if (!item.mask.empty()) ++c.with_mask;
    ++c.splits[item.split.empty() ? "all" : item.split];
    ++c.methods[item.method];
  }
  return c;
}

std::string describe(const ImportCounts& c) {
  auto list = [](const std::map<std::string, size_t>& m) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : m) parts.push_back(k + " " + std::to_string(v));
    return importers::join(parts, ", ");
  };
  return std::to_string(c.inputs) + " inputs: " + std::to_string(c.real) + " real, " + std::to_string(c.fake) +
         " fake (" + std::to_string(c.with_mask) + " with masks); splits: " + list(c.splits) +
         "; methods: " + list(c.methods);
}

}  // namespace sola::data
