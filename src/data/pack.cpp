#include "data/pack.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "core/parallel.h"
#include "data/mask_size.h"
#include "data/packed.h"
#include "data/sample_source.h"

namespace sola::data {
namespace {

std::string where(const Sample& s) { return s.source + ":" + std::to_string(s.line); }

std::string file_bytes(const std::string& path, const Sample& s) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "cannot read (" + where(s) + ")");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string encode(const cv::Mat& image, const std::string& ext, const std::vector<int>& params, const Sample& s) {
  std::vector<uchar> out;
  if (!cv::imencode(ext, image, out, params)) throw IoError(s.path, "OpenCV cannot encode it as " + ext + " (" + where(s) + ")");
  return std::string(out.begin(), out.end());
}

cv::Mat resized(const cv::Mat& m, int side) {
  if (m.cols == side && m.rows == side) return m;
  cv::Mat out;
  cv::resize(m, out, cv::Size(side, side), 0, 0, m.cols > side && m.rows > side ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

/// One sample as the bundle stores it; `reencoded` tells whether the image was encoded again.
PackedSample pack_sample(const Sample& s, const PackOptions& o, bool& reencoded) {
  PackedSample p;
  p.sample = s;
  p.sample.mask.clear();
  std::string bytes = file_bytes(s.path, s);
  const cv::Mat image = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, bytes.data()), cv::IMREAD_COLOR);
  if (image.empty()) throw IoError(s.path, "cannot decode image (" + where(s) + ")");
  const bool jpeg = bytes.size() > 2 && static_cast<unsigned char>(bytes[0]) == 0xFF && static_cast<unsigned char>(bytes[1]) == 0xD8;
  const bool png = bytes.size() > 4 && bytes.compare(1, 3, "PNG") == 0 && static_cast<unsigned char>(bytes[0]) == 0x89;
  reencoded = !((jpeg || png) && image.cols == o.image_size && image.rows == o.image_size);
  p.image = reencoded ? encode(resized(image, o.image_size), ".jpg", {cv::IMWRITE_JPEG_QUALITY, o.quality}, s)
                      : std::move(bytes);
  if (o.masks && s.label == 1 && !s.mask.empty()) {
    const cv::Mat mask = cv::imread(s.mask, cv::IMREAD_GRAYSCALE);
    if (mask.empty()) throw IoError(s.mask, "cannot decode mask (" + where(s) + ")");
    // The check of `sola train` (check_images): a mask of another size would be stretched onto the crop.
    const std::string problem = mask_size_problem(s.mask, mask.cols, mask.rows, image.cols, image.rows);
    if (!problem.empty()) throw IoError(where(s), problem);
    cv::Mat small;
    cv::resize(mask, small, cv::Size(o.mask_size, o.mask_size), 0, 0, cv::INTER_AREA);
    p.mask = encode(small, ".png", {cv::IMWRITE_PNG_COMPRESSION, 9}, s);
    p.sample.mask = s.mask;
  }
  return p;
}

/// Refuses an output file that cannot be written, before any image is read: a folder, a path below
/// a regular file or a missing folder, a folder where no file can be created (permissions, a
/// read-only file system). Throws IoError naming `out` and what is wrong.
void check_out_path(const std::string& out) {
  namespace fs = std::filesystem;
  if (out.empty()) throw ConfigError("pack: no output file given");
  std::error_code ec;
  const fs::path path(out);
  if (fs::is_directory(path, ec)) {
    throw IoError(out, "is a folder: give the bundle's file name, e.g. " + (path / "train.solapack").string());
  }
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, ec)) {
    // The nearest part of the path that exists says why: a regular file, or nothing at all.
    for (fs::path p = parent; !p.empty(); p = p.parent_path()) {
      const fs::file_status st = fs::status(p, ec);
      if (st.type() == fs::file_type::not_found || ec) {
        if (p == p.parent_path()) break;
        continue;
      }
      if (!fs::is_directory(st)) throw IoError(out, "'" + p.string() + "' is a file, not a folder");
      break;
    }
    throw IoError(out, "folder '" + parent.string() + "' does not exist (sola pack does not create folders)");
  }
  // Create (and remove) a file where the bundle's temporary file will go: the one true test.
  const std::string probe = (parent / ("." + path.filename().string() + ".probe." + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    const int err = errno;
    std::string why = std::strerror(err);
    if (err == EACCES || err == EPERM) why = "permission denied: no file can be created in folder '" + parent.string() + "'";
    if (err == EROFS) why = "folder '" + parent.string() + "' is on a read-only file system";
    throw IoError(out, "cannot write the bundle: " + why);
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace

PackReport pack_manifest(const Manifest& m, const std::string& out_path, const PackOptions& o, unsigned threads) {
  if (o.image_size < 8 || o.image_size > 1024) throw ConfigError("pack: image size " + std::to_string(o.image_size) + " is not in 8..1024");
  if (o.quality < 1 || o.quality > 100) throw ConfigError("pack: JPEG quality " + std::to_string(o.quality) + " is not in 1..100");
  if (o.masks && (o.mask_size < 1 || o.mask_size > 1024))
    throw ConfigError("pack: mask size " + std::to_string(o.mask_size) + " is not in 1..1024");
  if (!(o.max_mib >= 0)) throw ConfigError("pack: the size limit must be >= 0 MiB");
  if (m.samples.empty()) throw ConfigError("pack: the manifests hold no samples");
  check_out_path(out_path);

  // Groups in first-appearance order, then a seeded order of them.
  std::vector<std::vector<size_t>> groups;
  std::map<std::string, size_t> group_of;
  for (size_t i = 0; i < m.samples.size(); ++i) {
    const auto [it, added] = group_of.emplace(m.samples[i].group, groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  const std::vector<size_t> order = epoch_order(groups.size(), o.seed, 0, true);

  const size_t limit = o.max_mib > 0 ? static_cast<size_t>(o.max_mib * 1024 * 1024) : SIZE_MAX;
  constexpr size_t kIndexAllowance = 8192;  // header, the index's fixed part and the info
  const size_t workers = worker_count(static_cast<int>(threads), order.size());
  ParallelOptions parallel;
  parallel.threads = static_cast<int>(threads);
  std::vector<PackedSample> kept;
  PackReport report;
  size_t bytes = kIndexAllowance, next_group = 0;
  bool full = false;
  while (!full && next_group < order.size()) {
    // A chunk of groups encoded in parallel, then taken in order while they fit.
    const size_t chunk_end = std::min(order.size(), next_group + 32 * workers);
    std::vector<std::vector<PackedSample>> packed(chunk_end - next_group);
    std::vector<std::vector<char>> reencoded(chunk_end - next_group);
    parallel.item_name = [&](size_t k) {
      return "group '" + m.samples[groups[order[next_group + k]].front()].group + "'";
    };
    parallel_for(packed.size(), [&](size_t k, size_t) {
      for (size_t i : groups[order[next_group + k]]) {
        bool again = false;
        packed[k].push_back(pack_sample(m.samples[i], o, again));
        reencoded[k].push_back(again);
      }
    }, parallel);
    for (size_t k = 0; k < packed.size(); ++k) {
      size_t group_bytes = 0;
      for (const auto& p : packed[k]) group_bytes += packed_row_bytes(p) + p.image.size() + p.mask.size();
      if (bytes + group_bytes > limit) {
        full = true;
        break;
      }
      bytes += group_bytes;
      ++report.groups;
      for (size_t j = 0; j < packed[k].size(); ++j) {
        report.with_mask += !packed[k][j].mask.empty();
        report.reencoded += reencoded[k][j] != 0;
        kept.push_back(std::move(packed[k][j]));
      }
    }
    next_group = chunk_end;
  }
  if (kept.empty()) throw ConfigError("pack: not even one group fits in " + std::to_string(o.max_mib) + " MiB");
  report.images = kept.size();
  report.left_out_groups = groups.size() - report.groups;
  report.left_out_images = m.samples.size() - report.images;
  const nlohmann::json info{{"sources", m.sources},
                            {"image_size", o.image_size},
                            {"jpeg_quality_of_reencoded", o.quality},
                            {"mask_size", o.masks ? o.mask_size : 0},
                            {"masks", o.masks},
                            {"seed", o.seed},
                            {"max_mib", o.max_mib},
                            {"images", report.images},
                            {"groups", report.groups},
                            {"with_mask", report.with_mask},
                            {"kept_file_bytes", report.images - report.reencoded},
                            {"reencoded", report.reencoded},
                            {"left_out_images", report.left_out_images},
                            {"left_out_groups", report.left_out_groups},
                            {"left_out_masks", o.masks ? 0 : m.n_with_mask()}};
  write_packed(out_path, o.image_size, o.masks ? o.mask_size : 0, kept, info);
  report.bytes = static_cast<size_t>(std::filesystem::file_size(out_path));
  return report;
}

}  // namespace sola::data
