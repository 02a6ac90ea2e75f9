#pragma once
// The output folder of a `sola train` run: one run at a time, no silent overwrite of a previous run,
// no temporary files left behind by a killed one, and a resumed run on the data it started with.
//
//   RunDir dir = RunDir::claim(out, resume, overwrite);     // before the data is even read
//   provenance["data"] = training_data_record(train, val);  // recorded in config.json
//   if (resume) check_resume_data(out, provenance["data"]);
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/manifest.h"

namespace sola {

class RunDir {
 public:
  RunDir() = default;
  ~RunDir();
  RunDir(RunDir&& other) noexcept;
  RunDir& operator=(RunDir&& other) noexcept;
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;

  /// Claims `dir` (created when missing) for one training run, in this order:
  /// - takes an exclusive lock on dir/.lock (flock: the kernel drops it when the process ends, killed
  ///   or not) and writes this process's id into it; a folder another run holds is refused at once
  ///   (Error naming the folder and the holder's process id);
  /// - without `resume`: a folder that holds a previous run's outputs (config.json, last.pt,
  ///   last.prev.pt, best.pt, metrics.jsonl, curves.png) is refused (ConfigError naming --resume and
  ///   --overwrite) unless `overwrite`, which deletes them; `resume` and `overwrite` together are a
  ///   ConfigError;
  /// - deletes the temporary files (NAME.tmp.PID) that an interrupted checkpoint save left, printing
  ///   each on stderr: while the lock is held no other run can be writing them.
  static RunDir claim(const std::string& dir, bool resume, bool overwrite);

  bool held() const { return fd_ >= 0; }
  const std::string& dir() const { return dir_; }

 private:
  int fd_ = -1;
  std::string dir_;
};

/// The files a run writes into its folder (the outputs `claim` protects).
const std::vector<std::string>& run_output_files();

/// What a run trains and validates on: {"train": {"images", "fingerprint"}, "val": {...}}, where the
/// fingerprint is a hash of every sample's absolute path, label and mask (independent of the
/// working directory and of how the manifests are split into files).
nlohmann::json training_data_record(const data::Manifest& train, const data::Manifest& val);

/// For --resume: throws ConfigError naming dir/config.json when the run recorded other training or
/// validation data than `record` (a run recorded before the data was recorded is accepted), and when
/// its config.json is missing beside a checkpoint or is not a JSON object.
void check_resume_data(const std::string& dir, const nlohmann::json& record);

}  // namespace sola
