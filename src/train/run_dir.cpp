#include "train/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"

namespace sola {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kLockFile = ".lock";

/// The process id written in a lock file ("" when there is none).
std::string lock_holder(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

/// FNV-1a, 64 bits.
struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void add(const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // separator
  }
};

json data_part(const data::Manifest& m) {
  Fnv f;
  for (const auto& s : m.samples) {
    f.add(fs::absolute(s.path).lexically_normal().string());
    f.add(std::to_string(s.label));
    f.add(s.mask.empty() ? "" : fs::absolute(s.mask).lexically_normal().string());
  }
  return json{{"images", m.samples.size()}, {"fingerprint", fmt::format("{:016x}", f.h)}};
}

std::string describe(const json& part) {
  return fmt::format("{} images, fingerprint {}", part.value("images", size_t{0}), part.value("fingerprint", "?"));
}

}  // namespace

RunDir::~RunDir() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

RunDir::RunDir(RunDir&& other) noexcept : fd_(std::exchange(other.fd_, -1)), dir_(std::move(other.dir_)) {}

RunDir& RunDir::operator=(RunDir&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    dir_ = std::move(other.dir_);
  }
  return *this;
}

const std::vector<std::string>& run_output_files() {
  static const std::vector<std::string> files = {"config.json", "last.pt", "last.prev.pt", "best.pt", "metrics.jsonl",
                                                 "curves.png"};
  return files;
}

RunDir RunDir::claim(const std::string& dir, bool resume, bool overwrite) {
  if (resume && overwrite)
    throw ConfigError("--resume and --overwrite exclude each other: --resume continues the run in " + dir +
                      ", --overwrite deletes it");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw IoError(dir, "cannot create the output folder" + (ec ? ": " + ec.message() : ""));

  RunDir held;
  held.dir_ = dir;
  const std::string lock_path = (fs::path(dir) / kLockFile).string();
  held.fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (held.fd_ < 0) throw IoError(lock_path, std::string("cannot open the run lock: ") + std::strerror(errno));
  if (::flock(held.fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) throw IoError(lock_path, std::string("cannot lock: ") + std::strerror(err));
    const std::string pid = lock_holder(held.fd_);
    throw Error(dir + ": the folder is in use by another sola train run" + (pid.empty() ? "" : " (process " + pid + ")") +
                ", which holds " + lock_path + "; wait for it to finish or choose another --out");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(held.fd_, 0) != 0 || ::pwrite(held.fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    throw IoError(lock_path, std::string("cannot write: ") + std::strerror(errno));

  if (!resume) {
    std::vector<std::string> found;
    for (const auto& name : run_output_files())
      if (fs::exists(fs::path(dir) / name, ec)) found.push_back(name);
    if (!found.empty() && !overwrite)
      throw ConfigError(fmt::format("{} holds a previous run ({}): continue it with --resume, or start a new run over it "
                                    "with --overwrite (which deletes those files), or choose another --out",
                                    dir, fmt::join(found, ", ")));
    for (const auto& name : found) {
      fs::remove(fs::path(dir) / name, ec);
      if (ec) throw IoError((fs::path(dir) / name).string(), "cannot delete for --overwrite: " + ec.message());
    }
  }

  for (const RemovedTemporary& t : remove_stale_temporaries(dir)) {
    fmt::print(stderr, "removed {} ({:.1f} MB), left by an interrupted save\n", t.path,
               static_cast<double>(t.bytes) / 1e6);
  }
  return held;
}

json training_data_record(const data::Manifest& train, const data::Manifest& val) {
  return json{{"train", data_part(train)}, {"val", data_part(val)}};
}

void check_resume_data(const std::string& dir, const json& record) {
  const std::string config = (fs::path(dir) / "config.json").string();
  std::ifstream in(config);
  if (!in) {
    // A checkpoint without the run's record: what it trained on cannot be checked, so it is not resumed.
    std::error_code ec;
    for (const char* checkpoint : {"last.pt", "last.prev.pt"})
      if (fs::exists(fs::path(dir) / checkpoint, ec))
        throw ConfigError(fmt::format("{}: cannot be read, so --resume cannot check that {} continues on the data it "
                                      "trained on; restore the run's config.json, or start a new run in another --out",
                                      config, (fs::path(dir) / checkpoint).string()));
    return;  // no checkpoint either: the checkpoint check decides
  }
  const json cfg = json::parse(in, nullptr, false);
  if (cfg.is_discarded() || !cfg.is_object())
    throw ConfigError(fmt::format("{}: not a valid JSON object, so --resume cannot check the run's data; restore it, "
                                  "or start a new run in another --out",
                                  config));
  const json recorded = cfg.value("provenance", json::object()).value("data", json());
  if (!recorded.is_object()) return;  // written before the data was recorded
  for (const char* part : {"train", "val"}) {
    const json was = recorded.value(part, json::object()), now = record.value(part, json::object());
    if (was.value("fingerprint", "") != now.value("fingerprint", ""))
      throw ConfigError(fmt::format("{}: --resume with other {} data than the run recorded (recorded: {}; given: {}); "
                                    "resume with the same --train and --val manifests, or start a new run in another --out",
                                    config, part == std::string("train") ? "training" : "validation", describe(was),
                                    describe(now)));
  }
}

}  // namespace sola
