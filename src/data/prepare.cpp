#include "data/prepare.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/parallel.h"
#include "data/manifest.h"
#include "data/video.h"

namespace sola::data {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// Version of the record format in out/.prepare. 2: folders named after groups, fakes cropped at
/// the face's scale around the mask (records of version 1 are dropped and their inputs redone).
constexpr int kRecordVersion = 2;
/// Folder of the records, inside out_dir.
constexpr const char* kRecordDir = ".prepare";
/// Mask pixels above this are forged.
constexpr int kMaskThreshold = 127;
/// Longest folder name made from one part of a group; longer parts are cut and get a hash.
constexpr size_t kMaxFolderName = 100;

/// An output file or folder cannot be written: fatal for the whole run, unlike an unreadable input.
class WriteError : public IoError {
 public:
  using IoError::IoError;
};

// ---- options and items --------------------------------------------------------------------------

void validate(const PrepareOptions& o) {
  auto bad = [](const std::string& key, const std::string& value, const std::string& want) {
    throw ConfigError("prepare option " + key + " = " + value + ": " + want);
  };
  if (o.out_dir.empty()) bad("out_dir", "''", "an output folder is required");
  if (o.frames_per_video < 1) bad("frames_per_video", std::to_string(o.frames_per_video), "must be at least 1");
  if (o.size < 1) bad("size", std::to_string(o.size), "must be at least 1");
  if (!std::isfinite(o.crop_scale) || o.crop_scale < 1) {
    bad("crop_scale", std::to_string(o.crop_scale), "must be at least 1 (the paper uses 2.6)");
  }
  if (o.image_format != "png" && o.image_format != "jpg") bad("image_format", "'" + o.image_format + "'", "png or jpg");
  if (o.jpeg_quality < 1 || o.jpeg_quality > 100) bad("jpeg_quality", std::to_string(o.jpeg_quality), "1 to 100");
  if (o.threads < 0) bad("threads", std::to_string(o.threads), "must be 0 (one per core) or more");
}

/// Why `name` cannot be a folder name, or empty when it can.
std::string folder_name_problem(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.front() == '.') return "starts with '.'";
  for (const unsigned char c : name) {
    if (c == '/' || c == '\\' || c < 0x20) return "contains '/', '\\' or a control character";
  }
  return {};
}

/// An item with its defaults filled in and its output place.
struct Task {
  const PrepareItem* item = nullptr;
  std::string split, method, group;
  std::string folder;  ///< <method>/<group folder>, relative to the split's folder
  fs::path out;        ///< out_dir/<split>/<folder>
  fs::path record;     ///< out_dir/.prepare/<key>.json
};

/// 64-bit FNV-1a of `s`, as 16 hex digits.
std::string fnv1a_hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

/// `group` as a relative folder path, as prepare.h describes it; empty when no name is left.
std::string group_folder(const std::string& group, const std::string& method) {
  std::vector<std::string> parts;
  std::string part;
  for (size_t i = 0; i <= group.size(); ++i) {
    if (i == group.size() || group[i] == '/' || group[i] == '\\') {
      if (!part.empty()) parts.push_back(std::move(part));
      part.clear();
    } else {
      part += group[i];
    }
  }
  if (parts.size() > 1 && parts.front() == method) parts.erase(parts.begin());
  std::string out;
  for (const std::string& raw : parts) {
    std::string name = raw.front() == '.' ? "_" : "";
    for (const unsigned char c : raw) {
      const bool keep = std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '+' || c >= 0x80;
      name += keep ? static_cast<char>(c) : '_';
    }
    if (name.size() > kMaxFolderName) name = name.substr(0, kMaxFolderName - 17) + "-" + fnv1a_hex(raw);
    out += (out.empty() ? "" : "/") + name;
  }
  return out;
}

/// The file name of the record of the output folder `split`/`folder`: readable and unique.
std::string record_key(const std::string& split, const std::string& folder) {
  const std::string id = split + "/" + folder;
  std::string readable;
  for (const char c : id) {
    readable += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  }
  if (readable.size() > 80) readable.resize(80);
  return readable + "-" + fnv1a_hex(id);
}

/// Checks every item and works out where it goes. Throws ConfigError naming the input.
std::vector<Task> plan(const std::vector<PrepareItem>& items, const PrepareOptions& o) {
  std::vector<Task> tasks;
  std::map<std::string, size_t> places;  // split/folder -> index in tasks
  for (const PrepareItem& item : items) {
    const std::string what = "prepare input '" + item.input + "'";
    if (item.input.empty()) throw ConfigError("prepare input: empty path");
    if (item.label != 0 && item.label != 1) {
      throw ConfigError(what + ": label must be 0 or 1, got " + std::to_string(item.label));
    }
    if (item.label == 0 && !item.mask.empty()) {
      throw ConfigError(what + ": a real input (label 0) has a mask '" + item.mask + "'; only fakes can have masks");
    }
    Task t;
    t.item = &item;
    t.split = item.split.empty() ? "all" : item.split;
    t.method = item.method.empty() ? (item.label ? "fake" : "real") : item.method;
    for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"split", t.split},
                                     {"method", t.method}}) {
      if (const std::string p = folder_name_problem(value); !p.empty()) {
        throw ConfigError(what + ": " + key + " '" + value + "' " + p + " (it becomes a folder name)");
      }
    }
    if (item.group.empty()) {
      std::error_code ec;
      const fs::path in = fs::path(item.input).lexically_normal();
      const bool dir = fs::is_directory(in, ec);
      t.group = (dir ? (in.has_filename() ? in.filename() : in.parent_path().filename()) : in.stem()).string();
    } else {
      t.group = item.group;
    }
    const std::string& folder_of = item.folder.empty() ? t.group : item.folder;
    const std::string folder = group_folder(folder_of, t.method);
    if (folder.empty()) {
      throw ConfigError(what + ": " + (item.folder.empty() ? "group '" : "folder '") + folder_of +
                        "' gives no folder name");
    }
    t.folder = t.method + "/" + folder;
    t.out = fs::path(o.out_dir) / t.split / t.folder;
    t.record = fs::path(o.out_dir) / kRecordDir / (record_key(t.split, t.folder) + ".json");
    const auto [it, fresh] = places.emplace(t.split + "/" + t.folder, tasks.size());
    if (!fresh) {
      const Task& other = tasks[it->second];
      const std::string which = item.folder.empty() ? "group" : "folder";
      throw ConfigError(what + " (" + which + " '" + folder_of + "') and '" + other.item->input + "' (" + which +
                        " '" + (other.item->folder.empty() ? other.group : other.item->folder) +
                        "') would both be written to '" + t.out.string() + "': give them " + which +
                        "s that differ in letters or digits, or different methods");
    }
    tasks.push_back(std::move(t));
  }
  return tasks;
}

/// The options that shape the crops: a record made with others is redone.
json settings(const PrepareOptions& o) {
  return {{"frames_per_video", o.frames_per_video},
          {"crop_scale", o.crop_scale},
          {"size", o.size},
          {"use_mask_box", o.use_mask_box},
          {"align", o.align},
          {"image_format", o.image_format},
          {"jpeg_quality", o.image_format == "jpg" ? o.jpeg_quality : 0},
          {"detector",
           {{"method", o.detector.method},
            {"cascade_file", o.detector.cascade_file},
            {"min_face", o.detector.min_face},
            {"max_side", o.detector.max_side}}}};
}

// ---- files --------------------------------------------------------------------------------------

void write_image(const fs::path& file, const cv::Mat& img, const std::vector<int>& params) {
  bool ok = false;
  try {
    ok = cv::imwrite(file.string(), img, params);
  } catch (const cv::Exception& e) {
    throw WriteError(file.string(), "cannot write image: " + e.err);
  }
  if (!ok) throw WriteError(file.string(), "cannot write image");
}

void make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw WriteError(dir.string(), "cannot create folder: " + ec.message());
}

/// Removes the files directly in `dir` (the crops of one input), leaving its subfolders: they hold
/// the crops of inputs whose groups continue this one's (group "a/b" under group "a"). Nothing to
/// do when `dir` does not exist. Throws WriteError.
void remove_crops(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  std::vector<fs::path> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_directory(ec)) files.push_back(e.path());
  }
  if (ec) throw WriteError(dir.string(), "cannot list folder: " + ec.message());
  for (const fs::path& f : files) {
    if (!fs::remove(f, ec) && ec) throw WriteError(f.string(), "cannot remove: " + ec.message());
  }
}

/// The record at `file`, or null when it is missing or unreadable (`problem` says why then).
json read_record(const fs::path& file, std::string* problem = nullptr) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    if (problem) *problem = "cannot open";
    return nullptr;
  }
  try {
    json r = json::parse(in);
    if (!r.is_object() || r.value("version", 0) != kRecordVersion || !r.contains("rows") ||
        !r["rows"].is_array() || !r.contains("split") || !r["split"].is_string() || !r.contains("folder") ||
        !r["folder"].is_string()) {
      if (problem) *problem = "not a prepare record of this version";
      return nullptr;
    }
    if (!folder_name_problem(r["split"].get<std::string>()).empty() ||
        !std::all_of(r["rows"].begin(), r["rows"].end(), [](const json& row) { return row.is_object(); })) {
      if (problem) *problem = "malformed split or rows";
      return nullptr;
    }
    return r;
  } catch (const json::exception& e) {
    if (problem) *problem = std::string("unreadable: ") + e.what();
    return nullptr;
  }
}

/// The first file a record lists that does not exist under out_dir/<split>, or empty.
std::string missing_file(const json& record, const fs::path& out_dir) {
  const fs::path base = out_dir / record.value("split", "");
  std::error_code ec;
  for (const json& row : record["rows"]) {
    for (const char* key : {"path", "mask"}) {
      const std::string f = row.value(key, "");
      if (!f.empty() && !fs::is_regular_file(base / f, ec)) return (base / f).string();
    }
  }
  return {};
}

/// Size and modification time of a file: {"size": bytes, "mtime": ns}; null when it cannot be read.
json file_stamp(const fs::path& file) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(file, ec);
  if (ec) return nullptr;
  const auto mtime = fs::last_write_time(file, ec);
  if (ec) return nullptr;
  return {{"size", size},
          {"mtime", static_cast<int64_t>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count())}};
}

/// What a rerun compares to tell whether the input at `path` changed: the file's stamp, or for a
/// folder of frames a hash of its image files' names, sizes and modification times; null for ""
/// and for what cannot be read (which then never matches a record).
json input_stamp(const std::string& path) {
  if (path.empty()) return nullptr;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return file_stamp(path);
  std::vector<std::string> lines;
  for (const fs::directory_entry& e : fs::directory_iterator(path, ec)) {
    if (!e.is_regular_file(ec) || !is_image_file(e.path().string())) continue;
    const json st = file_stamp(e.path());
    lines.push_back(e.path().filename().string() + "\t" + st.dump());
  }
  if (ec) return nullptr;
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const std::string& l : lines) all += l + "\n";
  return {{"files", lines.size()}, {"hash", fnv1a_hex(all)}};
}

/// Whether an earlier run's record covers `t`.
enum class Done {
  kNo,         ///< no record, or one of another input, file version or settings: redo
  kYes,        ///< the same: skip
  kRegrouped,  ///< the same but for the group: skip, and rewrite the record with the new group
};

/// Compares `t` (whose files have stamps `input` and `mask`) with its record `r` (null: none).
Done already_done(const Task& t, const json& r, const json& input, const json& mask, const json& current_settings,
                  const fs::path& out_dir) {
  if (r.is_null()) return Done::kNo;
  const PrepareItem& item = *t.item;
  const bool same = r.value("input", "") == item.input && r.value("mask", "") == item.mask &&
                    r.value("label", -1) == item.label && r.value("method", "") == t.method &&
                    r.value("split", "") == t.split && r.value("folder", "") == t.folder &&
                    r.value("settings", json()) == current_settings && !input.is_null() &&
                    r.value("input_stamp", json()) == input && (item.mask.empty() || !mask.is_null()) &&
                    r.value("mask_stamp", json()) == mask && missing_file(r, out_dir).empty();
  if (!same) return Done::kNo;
  return r.value("group", "") == t.group ? Done::kYes : Done::kRegrouped;
}

/// The note for an input with `n` of its `crops` without a mask frame, or empty for none.
std::string mask_short_note(const std::string& input, const std::string& mask, size_t n, size_t crops) {
  if (n == 0) return {};
  return input + ": its mask '" + mask + "' has no frame for " + std::to_string(n) + " of its " +
         std::to_string(crops) + " crops (the mask is shorter than the input?): those crops have no mask";
}

// ---- frames -------------------------------------------------------------------------------------

/// A video, a folder of images or one image, read frame by frame.
class FrameSource {
 public:
  /// Throws IoError naming `path` when it is none of these.
  explicit FrameSource(const std::string& path) : path_(path) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (st.type() == fs::file_type::not_found) throw IoError(path, "not found");
    if (st.type() == fs::file_type::directory) {
      for (const fs::directory_entry& e : fs::directory_iterator(path, ec)) {
        if (e.is_regular_file(ec) && is_image_file(e.path().string())) files_.push_back(e.path().string());
      }
      if (ec) throw IoError(path, "cannot list folder: " + ec.message());
      if (files_.empty()) throw IoError(path, "folder holds no image files (.jpg .png .bmp .webp .tif)");
      std::sort(files_.begin(), files_.end());
    } else if (is_video_file(path)) {
      video_ = true;
    } else if (is_image_file(path)) {
      files_ = {path};
    } else {
      throw IoError(path, "not a video (.mp4 .avi .mov .mkv .webm ...), an image or a folder of images");
    }
  }

  /// Calls fn(index, bgr) for up to n frames spread evenly over the source. Unreadable images of a
  /// folder are skipped; throws IoError when no frame at all can be read.
  void for_each_sampled(int n, const std::function<void(int64_t, cv::Mat&)>& fn) const {
    if (video_) {
      for_each_sampled_frame(path_, n, [&](VideoFrame& f) { fn(f.index, f.bgr); });
      return;
    }
    std::string first_problem;
    size_t read = 0;
    for (const int64_t i : even_frame_indices(static_cast<int64_t>(files_.size()), n)) {
      cv::Mat img;
      try {
        img = read_image_bgr(files_[i]);
      } catch (const IoError& e) {
        if (files_.size() == 1) throw;
        if (first_problem.empty()) first_problem = e.what();
        continue;
      }
      ++read;
      fn(i, img);
    }
    if (read == 0) throw IoError(path_, "no image of the folder can be read, e.g. " + first_problem);
  }

  /// Frame `index` (8-bit BGR) into `bgr`; false when the source has no such frame.
  bool frame(int64_t index, cv::Mat& bgr) {
    if (video_) {
      if (!reader_) reader_ = std::make_unique<VideoReader>(path_);
      return reader_->read(index, bgr);
    }
    if (index < 0 || index >= static_cast<int64_t>(files_.size())) return false;
    bgr = read_image_bgr(files_[index]);
    return true;
  }

 private:
  std::string path_;
  bool video_ = false;
  std::vector<std::string> files_;
  std::unique_ptr<VideoReader> reader_;
};

/// The largest of `faces` (by box area) whose box overlaps `box`, or nullptr.
const Face* largest_face_overlapping(const std::vector<Face>& faces, const cv::Rect2f& box) {
  const Face* best = nullptr;
  for (const Face& f : faces) {
    if ((f.box & box).area() > 0 && (!best || f.box.area() > best->box.area())) best = &f;
  }
  return best;
}

/// Mean of landmarks [from, to).
cv::Point2f mean_point(const std::vector<cv::Point2f>& pts, size_t from, size_t to) {
  cv::Point2f s(0, 0);
  for (size_t i = from; i < to; ++i) s += pts[i];
  return s / static_cast<float>(to - from);
}

/// What one input produced.
struct Outcome {
  size_t frames = 0, faces = 0, no_face = 0;
  size_t mask_missing = 0;  ///< crops of a fake with a mask source for which it has no frame
  json rows = json::array();
};

/// Crops the sampled frames of one input (and its mask) into t.out and returns the rows.
Outcome prepare_input(const Task& t, const PrepareOptions& o, FaceDetector& detector) {
  const PrepareItem& item = *t.item;
  std::error_code ec;
  fs::remove(t.record, ec);  // an outdated record: the input is redone now
  FrameSource input(item.input);
  std::unique_ptr<FrameSource> mask_source;
  if (!item.mask.empty()) mask_source = std::make_unique<FrameSource>(item.mask);

  remove_crops(t.out);  // crops of a run killed half-way through this input, or of other settings
  make_dirs(t.out);

  const std::vector<int> params =
      o.image_format == "jpg" ? std::vector<int>{cv::IMWRITE_JPEG_QUALITY, o.jpeg_quality}
                              : std::vector<int>{cv::IMWRITE_PNG_COMPRESSION, 3};
  Outcome out;
  input.for_each_sampled(o.frames_per_video, [&](int64_t index, cv::Mat& frame) {
    ++out.frames;
    cv::Mat mask;
    const bool has_mask_frame = mask_source && mask_source->frame(index, mask);
    if (has_mask_frame) {
      if (mask.size() != frame.size()) {
        throw IoError(item.mask, "mask frame " + std::to_string(index) + " is " + std::to_string(mask.cols) + "x" +
                                     std::to_string(mask.rows) + " but the input's is " + std::to_string(frame.cols) +
                                     "x" + std::to_string(frame.rows));
      }
      cv::cvtColor(mask, mask, cv::COLOR_BGR2GRAY);
      cv::threshold(mask, mask, kMaskThreshold, 255, cv::THRESH_BINARY);
    }
    // With a forged area to centre on: the face that overlaps it gives the crop's size.
    cv::Rect2f mask_box = o.use_mask_box && !mask.empty() ? mask_bounding_box(mask) : cv::Rect2f();
    const std::vector<Face> faces = detector.detect(frame);
    const Face* face = mask_box.empty() ? largest_face(faces) : largest_face_overlapping(faces, mask_box);
    if (o.align && face && face->landmarks.size() == 68) {
      const cv::Point2f eye1 = mean_point(face->landmarks, 36, 42), eye2 = mean_point(face->landmarks, 42, 48);
      const double angle = std::atan2(eye2.y - eye1.y, eye2.x - eye1.x) * 180 / CV_PI;
      const cv::Point2f c(face->box.x + face->box.width / 2, face->box.y + face->box.height / 2);
      const cv::Mat rot = cv::getRotationMatrix2D(c, angle, 1.0);
      cv::warpAffine(frame, frame, rot, frame.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar::all(0));
      if (!mask.empty()) {
        cv::warpAffine(mask, mask, rot, mask.size(), cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar::all(0));
        if (!mask_box.empty()) mask_box = mask_bounding_box(mask);
      }
    }
    cv::Rect2f region;
    if (!mask_box.empty()) {
      region = crop_region(face ? face->box : mask_box, o.crop_scale);
      region.x = mask_box.x + mask_box.width / 2 - region.width / 2;
      region.y = mask_box.y + mask_box.height / 2 - region.height / 2;
    } else if (face) {
      region = crop_region(face->box, o.crop_scale);
    } else {
      ++out.no_face;
      return;
    }

    char stem[32];
    std::snprintf(stem, sizeof stem, "%06lld", static_cast<long long>(index));
    const std::string crop_name = std::string(stem) + "." + o.image_format;
    const int interpolation = region.width > o.size ? cv::INTER_AREA : cv::INTER_LINEAR;
    write_image(t.out / crop_name, crop_square(frame, region, o.size, interpolation), params);
    json row = {{"path", t.folder + "/" + crop_name}, {"mask", ""}};
    if (mask_source && !has_mask_frame) ++out.mask_missing;
    if (!mask.empty()) {
      const std::string mask_name = std::string(stem) + "_mask.png";
      write_image(t.out / mask_name, crop_square(mask, region, o.size, cv::INTER_NEAREST), {});
      row["mask"] = t.folder + "/" + mask_name;
    }
    out.rows.push_back(std::move(row));
    ++out.faces;
  });
  return out;
}

// ---- manifests ----------------------------------------------------------------------------------

/// What the records of one split hold, and what failed in it in this run.
struct SplitContent {
  std::vector<Sample> rows;       ///< manifest rows, paths relative to the split's folder
  size_t inputs = 0;              ///< records
  size_t no_face = 0;             ///< frames without a face, over the records
  size_t failed = 0;              ///< inputs of this run that failed
};

/// `n` and the noun, "1 input" / "2 inputs".
std::string count_of(size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

/// Rewrites out/<split>/manifest.csv of every split from all records. `failed_by_split` holds the
/// splits of this run's inputs, with the number of them that failed. A split without any row (all
/// its frames faceless, all its inputs failed, or all its records dropped) gets no manifest (a
/// stale one is removed): it is added to report.empty_splits and to report.problems. Fills
/// report.manifests.
void write_manifests(const fs::path& out_dir, const std::map<std::string, size_t>& failed_by_split,
                     PrepareReport& report) {
  std::vector<std::string>& problems = report.problems;
  std::map<std::string, SplitContent> splits;
  for (const auto& [split, failed] : failed_by_split) splits[split].failed = failed;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(out_dir, ec)) {  // manifests of earlier runs
    const std::string name = e.path().filename().string();
    std::error_code absent;
    if (folder_name_problem(name).empty() && fs::is_regular_file(e.path() / "manifest.csv", absent)) splits[name];
  }
  if (ec) throw IoError(out_dir.string(), "cannot list folder: " + ec.message());
  std::vector<fs::path> records;
  for (const fs::directory_entry& e : fs::directory_iterator(out_dir / kRecordDir, ec)) {
    if (e.path().extension() == ".json") records.push_back(e.path());
  }
  if (ec) throw IoError((out_dir / kRecordDir).string(), "cannot list records: " + ec.message());
  std::sort(records.begin(), records.end());
  for (const fs::path& file : records) {
    std::string problem;
    const json r = read_record(file, &problem);
    if (r.is_null()) {
      problems.push_back(file.string() + ": " + problem + "; removed, its input will be prepared again");
      fs::remove(file, ec);
      continue;
    }
    if (const std::string missing = missing_file(r, out_dir); !missing.empty()) {
      problems.push_back(file.string() + ": lists missing file '" + missing +
                         "'; removed, its input will be prepared again");
      fs::remove(file, ec);
      continue;
    }
    SplitContent& content = splits[r["split"].get<std::string>()];
    ++content.inputs;
    content.no_face += r.value("no_face", size_t{0});
    for (const json& row : r["rows"]) {
      Sample sample;
      sample.path = row.value("path", "");
      sample.label = r.value("label", 0);
      sample.mask = row.value("mask", "");
      sample.group = r.value("group", "");
      sample.method = r.value("method", "");
      content.rows.push_back(std::move(sample));
    }
  }
  for (auto& [split, content] : splits) {
    const fs::path file = out_dir / split / "manifest.csv";
    if (content.rows.empty()) {
      // read_manifest refuses a manifest without samples, and a stale one would list old crops.
      if (!fs::remove(file, ec) && ec) throw WriteError(file.string(), "cannot remove stale manifest: " + ec.message());
      report.empty_splits.push_back(split);
      std::string why = count_of(content.inputs, "input") + " prepared, " +
                        count_of(content.no_face, "frame") + " without a face";
      if (content.failed > 0) why += ", " + count_of(content.failed, "input") + " failed";
      problems.push_back((out_dir / split).string() + ": no crops in split '" + split + "' (" + why +
                         "); no manifest written");
      continue;
    }
    std::sort(content.rows.begin(), content.rows.end(),
              [](const Sample& a, const Sample& b) { return a.path < b.path; });
    make_dirs(file.parent_path());
    remove_stale_temporaries(file.parent_path().string());  // of a manifest whose writing was killed
    write_manifest(file.string(), content.rows);
    report.manifests.push_back(file.string());
  }
}

/// What became of one input in this run.
struct InputResult {
  bool skipped = false, failed = false;
  Outcome outcome;
  std::string problem, note;
};

/// Prepares the input of `t`, or skips it when its record covers it. An input that cannot be read
/// is a failed input; an output that cannot be written throws (WriteError, IoError).
InputResult run_input(const Task& t, const PrepareOptions& options, const json& current, const fs::path& out_dir,
                      FaceDetector& detector) {
  InputResult r;
  // Stamped before reading: a file replaced while it is read does not match the record next time.
  const json input_st = input_stamp(t.item->input), mask_st = input_stamp(t.item->mask);
  json record = read_record(t.record);
  const Done done_before = already_done(t, record, input_st, mask_st, current, out_dir);
  if (done_before != Done::kNo) {
    r.skipped = true;
    if (done_before == Done::kRegrouped) {  // only the manifest's group column changes
      record["group"] = t.group;
      write_file_atomically(t.record.string(), record.dump(1));
    }
    r.note = mask_short_note(t.item->input, t.item->mask, record.value("mask_missing", size_t{0}),
                             record.value("faces", size_t{0}));
    return r;
  }
  try {
    r.outcome = prepare_input(t, options, detector);
  } catch (const WriteError&) {
    throw;
  } catch (const IoError& e) {
    r.failed = true;
    r.problem = e.path() == t.item->input ? e.what() : t.item->input + ": " + e.what();
  } catch (const cv::Exception& e) {
    r.failed = true;
    r.problem = t.item->input + ": " + e.err;
  }
  if (r.failed) {
    remove_crops(t.out);
    std::error_code ec;
    fs::remove(t.out, ec);  // only when empty: subfolders may hold other inputs' crops
    r.outcome = {};
    return r;
  }
  record = {{"version", kRecordVersion},
            {"input", t.item->input},
            {"mask", t.item->mask},
            {"input_stamp", input_st},
            {"mask_stamp", mask_st},
            {"label", t.item->label},
            {"group", t.group},
            {"method", t.method},
            {"split", t.split},
            {"folder", t.folder},
            {"settings", current},
            {"frames", r.outcome.frames},
            {"faces", r.outcome.faces},
            {"no_face", r.outcome.no_face},
            {"mask_missing", r.outcome.mask_missing},
            {"rows", r.outcome.rows}};
  write_file_atomically(t.record.string(), record.dump(1));
  r.note = mask_short_note(t.item->input, t.item->mask, r.outcome.mask_missing, r.outcome.faces);
  return r;
}

}  // namespace

PrepareReport prepare(const std::vector<PrepareItem>& items, const PrepareOptions& options,
                      const std::function<void(size_t, size_t)>& progress) {
  validate(options);
  const std::vector<Task> tasks = plan(items, options);
  FaceDetectorOptions detector_options = options.detector;
  detector_options.landmarks = options.align;
  PerWorker<FaceDetector> detectors(worker_count(options.threads, tasks.size()),
                                    [&] { return make_face_detector(detector_options); });
  detectors.first();  // bad detector options fail before any work
  const fs::path out_dir(options.out_dir);
  make_dirs(out_dir / kRecordDir);
  remove_stale_temporaries((out_dir / kRecordDir).string());  // of records whose writing was killed
  const json current = settings(options);

  std::vector<InputResult> results(tasks.size());
  ParallelOptions parallel;
  parallel.threads = options.threads;
  parallel.item_name = [&](size_t i) { return "prepare input '" + tasks[i].item->input + "'"; };
  parallel.progress = progress;
  parallel_for(tasks.size(), [&](size_t i, size_t worker) {
    results[i] = run_input(tasks[i], options, current, out_dir, detectors[worker]);
  }, parallel);

  PrepareReport report;
  report.inputs = items.size();
  std::map<std::string, size_t> failed_by_split;  // every split of this run -> its failed inputs
  for (size_t i = 0; i < tasks.size(); ++i) {
    const InputResult& r = results[i];
    size_t& failed_in_split = failed_by_split[tasks[i].split];
    report.skipped_done += r.skipped;
    if (!r.note.empty()) report.notes.push_back(r.note);
    if (r.failed) {
      ++report.failed_inputs;
      ++failed_in_split;
      report.problems.push_back(r.problem);
    }
    report.frames += r.outcome.frames;
    report.faces += r.outcome.faces;
    report.no_face += r.outcome.no_face;
  }
  std::sort(report.problems.begin(), report.problems.end());
  std::sort(report.notes.begin(), report.notes.end());
  write_manifests(out_dir, failed_by_split, report);
  return report;
}

}  // namespace sola::data
