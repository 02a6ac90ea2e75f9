#include "data/manifest.h"

#include "data/image_header.h"
#include "data/mask_size.h"
#include "data/video.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/parallel.h"

namespace sola::data {
namespace {

namespace fs = std::filesystem;

/// At most this many problems are spelled out in one error message.
constexpr size_t kMaxListed = 20;

/// The column names of a complete manifest, for messages.
constexpr const char* kFullHeader = "path,label,mask,group,method";

/// "FILE:LINE: problem".
std::string located(const std::string& file, size_t line, const std::string& problem) {
  return file + ":" + std::to_string(line) + ": " + problem;
}

/// Throws one sola::Error, "`title` (N problems):" followed by the first kMaxListed problems one a
/// line, if there are any problems.
void throw_if_any(const std::string& title, const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  std::string msg = title + " (" + std::to_string(problems.size()) +
                    (problems.size() == 1 ? " problem):" : " problems):");
  for (size_t i = 0; i < std::min(problems.size(), kMaxListed); ++i) msg += "\n  " + problems[i];
  if (problems.size() > kMaxListed) {
    msg += "\n  ... and " + std::to_string(problems.size() - kMaxListed) + " more";
  }
  throw Error(msg);
}

/// The whole file as bytes. Throws IoError when it is missing or unreadable.
std::string read_text(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) throw IoError(path, "manifest not found");
  if (st.type() == fs::file_type::directory) {
    throw IoError(path, "is a directory, expected a manifest CSV file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "cannot open manifest for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw IoError(path, "read error");
  return text.str();
}

/// One CSV record: its fields and the line it starts on.
struct Record {
  std::vector<std::string> fields;
  size_t line = 0;
  bool blank = false;  ///< an empty or whitespace-only line
  std::string error;   ///< a quoting problem; `fields` are then unreliable
};

/// True for a string of spaces and tabs only (or none).
bool is_blank(std::string_view s) {
  return s.find_first_not_of(" \t") == std::string_view::npos;
}

/// `s` without leading and trailing spaces and tabs.
std::string trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return std::string(s.substr(b, s.find_last_not_of(" \t") - b + 1));
}

/// Splits RFC-4180 CSV text into records. Lines end with LF, CRLF or CR; a quoted field may hold
/// commas, line ends and doubled quotes (""). A quote inside an unquoted field is kept as is.
std::vector<Record> parse_csv(std::string_view text) {
  std::vector<Record> records;
  const size_t n = text.size();
  size_t i = 0;
  size_t line = 1;
  // Consumes the line end at i into `out` (if given); false when there is none.
  auto eat_eol = [&](std::string* out) {
    if (i >= n || (text[i] != '\r' && text[i] != '\n')) return false;
    const size_t len = (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ? 2 : 1;
    if (out) out->append(text.substr(i, len));
    i += len;
    ++line;
    return true;
  };
  auto at_separator = [&] { return i >= n || text[i] == ',' || text[i] == '\r' || text[i] == '\n'; };

  while (i < n) {
    Record rec;
    rec.line = line;
    bool quoted = false;
    for (;;) {
      std::string field;
      if (i < n && text[i] == '"') {
        quoted = true;
        const size_t opened = line;
        bool closed = false;
        ++i;
        while (i < n && !closed) {
          if (text[i] == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field += '"';
              i += 2;
            } else {
              closed = true;
              ++i;
            }
          } else if (!eat_eol(&field)) {
            field += text[i++];
          }
        }
        if (!closed && rec.error.empty()) {
          rec.error = "quoted field opened on line " + std::to_string(opened) + " is never closed";
        } else if (!at_separator() && rec.error.empty()) {
          rec.error = "unexpected text after the closing quote of field " +
                      std::to_string(rec.fields.size() + 1);
        }
        while (!at_separator()) ++i;
      } else {
        while (!at_separator()) field += text[i++];
      }
      rec.fields.push_back(std::move(field));
      if (i < n && text[i] == ',') {
        ++i;
        continue;
      }
      eat_eol(nullptr);
      break;
    }
    rec.blank = !quoted && rec.fields.size() == 1 && is_blank(rec.fields[0]);
    records.push_back(std::move(rec));
  }
  return records;
}

/// `entry` resolved against the manifest folder `base`, lexically normal.
std::string resolve(const fs::path& base, const std::string& entry) {
  const fs::path p(entry);
  return (p.is_absolute() ? p : base / p).lexically_normal().string();
}

/// Why `file` (an "image" or "mask") cannot be used as a file, or empty when it can.
std::string file_problem(const std::string& file, const std::string& what) {
  std::error_code ec;
  const fs::file_status st = fs::status(file, ec);
  if (st.type() == fs::file_type::not_found) return what + " file '" + file + "' not found";
  if (ec) return "cannot access " + what + " file '" + file + "': " + ec.message();
  if (st.type() == fs::file_type::directory) {
    return what + " path '" + file + "' is a directory, expected a file";
  }
  return {};
}

/// Column indices of the manifest header; -1 where the column is absent.
struct Columns {
  int path = -1, label = -1, mask = -1, group = -1, method = -1;
};

/// Finds the known columns in `header`; reports missing required and repeated columns.
Columns find_columns(const Record& header, const std::string& file, std::vector<std::string>& problems) {
  Columns c;
  const std::pair<const char*, int*> known[] = {
      {"path", &c.path}, {"label", &c.label}, {"mask", &c.mask}, {"group", &c.group}, {"method", &c.method}};
  for (size_t i = 0; i < header.fields.size(); ++i) {
    const std::string name = trim(header.fields[i]);
    for (const auto& [key, index] : known) {
      if (name != key) continue;
      if (*index >= 0) {
        problems.push_back(located(file, header.line,
                                   "column '" + name + "' appears twice in the header (columns " +
                                       std::to_string(*index + 1) + " and " + std::to_string(i + 1) + ")"));
      } else {
        *index = static_cast<int>(i);
      }
    }
  }
  for (const auto& [key, index] : {std::pair{"path", c.path}, std::pair{"label", c.label}}) {
    if (index < 0) {
      problems.push_back(located(file, header.line,
                                 std::string("header has no '") + key + "' column (expected e.g. '" +
                                     kFullHeader + "')"));
    }
  }
  return c;
}

/// Decodes `file` (an "image" or "mask") with imread `flags`. Returns an empty Mat and sets
/// `problem` when it is not a decodable image or has a side larger than kMaxImageSide.
cv::Mat decode(const std::string& file, int flags, const std::string& what, std::string& problem) {
  const std::string name = what + " '" + file + "'";
  if (!cv::haveImageReader(file)) {
    problem = name + " is not an image OpenCV can read (missing, empty or unknown format)";
    return {};
  }
  // The size comes from the header first: a small hostile file must not make the decoder allocate
  // gigabytes (docs/RELIABILITY.md, fuzzing findings 5-7).
  const ImageHeader header = probe_image_file(file);
  if (header.format.empty()) {
    problem = name + " is not a JPEG, PNG, BMP, WebP or TIFF image with a readable header (other formats are not read)";
    return {};
  }
  if (!header.ok()) {
    problem = name + " has a header giving a size of " + std::to_string(header.width) + "x" + std::to_string(header.height);
    return {};
  }
  if (header.width > kMaxImageSide || header.height > kMaxImageSide) {
    problem = name + " is " + std::to_string(header.width) + "x" + std::to_string(header.height) + ", larger than " +
              std::to_string(kMaxImageSide) + " px a side";
    return {};
  }
  cv::Mat img;
  try {
    img = cv::imread(file, flags);
  } catch (const cv::Exception& e) {
    problem = name + " cannot be decoded: " + e.err;
    return {};
  }
  if (img.empty()) {
    problem = name + " cannot be decoded (corrupt or truncated)";
  } else if (img.cols > kMaxImageSide || img.rows > kMaxImageSide) {
    problem = name + " is " + std::to_string(img.cols) + "x" + std::to_string(img.rows) +
              ", larger than " + std::to_string(kMaxImageSide) + " px a side";
    img.release();
  }
  return img;
}

/// The problems of one sample's image and mask, each as "FILE:LINE: problem".
std::vector<std::string> sample_problems(const Sample& s) {
  std::vector<std::string> out;
  try {
    std::string problem;
    const cv::Mat img = decode(s.path, cv::IMREAD_COLOR, "image", problem);
    if (!problem.empty()) out.push_back(located(s.source, s.line, problem));
    if (s.mask.empty()) return out;
    problem.clear();
    const cv::Mat mask = decode(s.mask, cv::IMREAD_GRAYSCALE, "mask", problem);
    if (!problem.empty()) {
      out.push_back(located(s.source, s.line, problem));
    } else if (!img.empty()) {
      problem = mask_size_problem(s.mask, mask.cols, mask.rows, img.cols, img.rows);
      if (!problem.empty()) out.push_back(located(s.source, s.line, problem));
    }
  } catch (const std::exception& e) {
    out.push_back(located(s.source, s.line, std::string("cannot check image and mask: ") + e.what()));
  }
  return out;
}

/// The manifest files of `m`, comma-separated, for messages.
std::string source_list(const Manifest& m) {
  std::string out;
  for (const std::string& s : m.sources) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "(no manifest)" : out;
}

}  // namespace

Manifest read_manifest(const std::string& path) {
  const std::string bytes = read_text(path);
  std::string_view text = bytes;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 byte order mark
  const std::vector<Record> records = parse_csv(text);

  std::vector<std::string> problems;
  auto report = [&](size_t line, const std::string& problem) {
    problems.push_back(located(path, line, problem));
  };
  auto header = std::find_if(records.begin(), records.end(), [](const Record& r) { return !r.blank; });
  if (header == records.end()) {
    report(1, std::string("empty manifest, expected a header line such as '") + kFullHeader + "'");
    throw_if_any("invalid manifest '" + path + "'", problems);
  }
  if (!header->error.empty()) report(header->line, header->error);
  const Columns col = find_columns(*header, path, problems);
  throw_if_any("invalid manifest '" + path + "'", problems);

  Manifest m;
  m.sources = {path};
  const fs::path base = fs::path(path).parent_path();
  std::unordered_map<std::string, size_t> first_line;  // resolved image path -> line
  for (auto rec = std::next(header); rec != records.end(); ++rec) {
    if (rec->blank) continue;
    if (!rec->error.empty()) {
      report(rec->line, rec->error);
      continue;
    }
    const std::vector<std::string>& f = rec->fields;
    if (f.size() != header->fields.size()) {
      report(rec->line, "expected " + std::to_string(header->fields.size()) + " fields as in the header, found " +
                            std::to_string(f.size()));
      continue;
    }
    Sample s;
    s.source = path;
    s.line = rec->line;

    const std::string& label = f[col.label];
    const bool label_ok = label == "0" || label == "1";
    if (label_ok) {
      s.label = label == "1";
    } else {
      report(rec->line, "label must be 0 or 1, found '" + label + "'");
    }

    const std::string& image = f[col.path];
    if (image.empty()) {
      report(rec->line, "empty path");
    } else {
      s.path = resolve(base, image);
      const auto [first, inserted] = first_line.emplace(s.path, rec->line);
      if (!inserted) {
        report(rec->line, "duplicate path '" + image + "' (first on line " + std::to_string(first->second) + ")");
      } else if (std::string problem = file_problem(s.path, "image"); !problem.empty()) {
        report(rec->line, problem);
      }
    }

    const std::string mask = col.mask >= 0 ? f[col.mask] : std::string();
    if (!mask.empty()) {
      if (label_ok && s.label == 0) {
        report(rec->line, "real image (label 0) has a mask '" + mask + "'; only fakes can have masks");
      } else {
        s.mask = resolve(base, mask);
        if (std::string problem = file_problem(s.mask, "mask"); !problem.empty()) report(rec->line, problem);
      }
    }

    s.group = col.group >= 0 && !f[col.group].empty() ? f[col.group] : s.path;
    s.method = col.method >= 0 && !f[col.method].empty() ? f[col.method] : (s.label ? "fake" : "real");
    // Per-method AUC sets each method's fakes against the reals: a real must be called `real`.
    if (label_ok && s.label == 0 && s.method != "real")
      report(rec->line, "real image (label 0) has method '" + s.method + "'; a real's method must be 'real' (or empty)");
    if (label_ok && s.label == 1 && s.method == "real")
      report(rec->line, "fake image (label 1) has method 'real'; name its manipulation (or leave it empty)");
    m.samples.push_back(std::move(s));
  }
  if (m.samples.empty() && problems.empty()) report(header->line, "no samples after the header");
  throw_if_any("invalid manifest '" + path + "'", problems);
  return m;
}

std::vector<std::string> fake_methods(const Manifest& m) {
  std::vector<std::string> out;
  for (const Sample& s : m.samples)
    if (s.label == 1 && std::find(out.begin(), out.end(), s.method) == out.end()) out.push_back(s.method);
  return out;
}

Manifest filter_methods(const Manifest& m, const std::vector<std::string>& methods, const std::string& what) {
  if (methods.empty()) return m;
  const std::vector<std::string> present = fake_methods(m);
  for (const std::string& method : methods) {
    if (std::find(present.begin(), present.end(), method) != present.end()) continue;
    std::string list;
    for (const std::string& p : present) list += (list.empty() ? "" : ", ") + p;
    throw ConfigError(what + " (" + source_list(m) + "): no fake of method '" + method + "'; its fakes' methods are: " +
                      (list.empty() ? "none" : list));
  }
  Manifest out;
  out.sources = m.sources;
  for (const Sample& s : m.samples)
    if (s.label == 0 || std::find(methods.begin(), methods.end(), s.method) != methods.end()) out.samples.push_back(s);
  return out;
}

std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string quoted = "\"";
  for (const char c : value) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

Manifest combine(const std::vector<Manifest>& manifests) {
  Manifest out;
  std::vector<std::string> problems;
  std::unordered_map<std::string, const Sample*> first;  // image path -> where it was first listed
  for (const Manifest& m : manifests) {
    out.sources.insert(out.sources.end(), m.sources.begin(), m.sources.end());
    for (const Sample& s : m.samples) {
      const auto [it, inserted] = first.emplace(s.path, &s);
      if (!inserted) {
        problems.push_back(located(s.source, s.line,
                                   "image '" + s.path + "' is also listed at " + it->second->source + ":" +
                                       std::to_string(it->second->line)));
      }
      out.samples.push_back(s);
    }
  }
  throw_if_any("manifests overlap", problems);
  return out;
}

Manifest read_manifests(const std::vector<std::string>& paths) {
  std::vector<Manifest> parts;
  parts.reserve(paths.size());
  for (const std::string& p : paths) parts.push_back(read_manifest(p));
  return combine(parts);
}

void write_manifest(const std::string& file, const std::vector<Sample>& samples) {
  std::vector<std::string> problems;
  if (samples.empty()) problems.push_back("no samples (a manifest needs at least one)");
  std::string text = std::string(kFullHeader) + "\n";
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    const std::string row = "row " + std::to_string(i + 1) + " ('" + s.path + "'): ";
    if (s.path.empty()) problems.push_back(row + "empty path");
    if (s.label != 0 && s.label != 1) problems.push_back(row + "label must be 0 or 1, got " + std::to_string(s.label));
    text += csv_field(s.path) + "," + std::to_string(s.label) + "," + csv_field(s.mask) + "," + csv_field(s.group) +
            "," + csv_field(s.method) + "\n";
  }
  if (!problems.empty()) {
    std::string msg = "cannot write manifest '" + file + "':";
    for (size_t i = 0; i < std::min(problems.size(), kMaxListed); ++i) msg += "\n  " + problems[i];
    if (problems.size() > kMaxListed) msg += "\n  ... and " + std::to_string(problems.size() - kMaxListed) + " more";
    throw ConfigError(msg);
  }
  write_file_atomically(file, text);
}

void check_images(const Manifest& m, unsigned threads) {
  std::vector<std::vector<std::string>> found(m.samples.size());  // per sample, so the report keeps file order
  ParallelOptions parallel;
  parallel.threads = static_cast<int>(threads);
  parallel_for(m.samples.size(), [&](size_t i, size_t) { found[i] = sample_problems(m.samples[i]); }, parallel);

  std::vector<std::string> problems;
  for (std::vector<std::string>& f : found) {
    problems.insert(problems.end(), std::make_move_iterator(f.begin()), std::make_move_iterator(f.end()));
  }
  throw_if_any("bad images in " + source_list(m), problems);
}

}  // namespace sola::data
