#pragma once
// A `sola train` run read back from its folder: what `sola runs` prints and what the results scripts
// lay out (scripts/make_results.py), so that no script re-derives it from the files.
//
// A run folder holds config.json and metrics.jsonl (the trainer writes both), done.json once the run
// finished (the JSON line `sola train` prints at its end, which scripts/eval_sets.sh keeps there), and
// the command that started it: DIR/command.txt, else DIR.command.txt beside the folder (what
// scripts/eval_sets.sh and scripts/long_run.sh write).
//
//   RunSummary run = read_run("runs/dfdc/sola_supervised");
//   run.best_epoch();            // the epoch best.pt holds: the highest main validation frame AUC
//   run.to_json();               // `sola runs --json`
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sola {

/// The epoch lines of a run's log (metrics.jsonl lines of type "epoch"), one per epoch number, in epoch
/// order. A log can hold an epoch twice (a run resumed from a checkpoint older than its log, or a log
/// carried from sitting to sitting): the later line wins, as the later run is the one that went on.
std::vector<nlohmann::json> unique_epochs(const std::vector<nlohmann::json>& log_lines);

/// The name `sola eval` gives a model file: "RUN" for RUN/best.pt, "RUN/last" for RUN/last.pt, else the
/// file's stem.
std::string checkpoint_name(const std::string& path);

struct RunSummary {
  std::string dir;                     ///< the folder as given
  std::string name;                    ///< the folder's name (the run's name in the results tables)
  nlohmann::json config;               ///< config.json: {"model", "train", "loss", "precision", "provenance"}
  std::string command;                 ///< the command that started it ("" without a command file)
  std::string command_file;            ///< where `command` was read ("" when none was found)
  nlohmann::json done;                 ///< done.json (null while the run has not finished)
  std::vector<nlohmann::json> epochs;  ///< unique_epochs() of metrics.jsonl
  std::vector<nlohmann::json> stops;   ///< metrics.jsonl's "stop" lines (early stopping), in order
  std::vector<std::string> warnings;   ///< what was skipped while reading (a last log line cut short)

  /// train.epochs of the config: the epochs the run was started towards.
  int64_t planned_epochs() const;
  /// "finished" (done.json, all planned epochs), "stopped early" (a stop line, or done.json saying so),
  /// or "unfinished" (no done.json: running, killed, or carried on in another sitting).
  std::string status() const;
  /// Why the run ended before its planned epochs, in the trainer's words ("" when it did not).
  std::string stop_reason() const;
  /// The epoch with the highest main validation ("val") frame AUC, the earliest on ties: the epoch
  /// best.pt holds. 0 when no epoch was validated.
  int64_t best_epoch() const;
  /// The epoch line of `epoch` (null when the log has none).
  nlohmann::json epoch_line(int64_t epoch) const;
  /// The median over epochs of a number every epoch line may hold (train_images_per_second,
  /// data_wait_share...); null when no line holds it.
  nlohmann::json median(const std::string& key) const;
  /// The sum over epochs of a number (train_seconds, validate_seconds); 0 when no line holds it.
  double total(const std::string& key) const;

  /// Everything above with the derived figures: status, stop reason, best epoch and best AUC per
  /// validation set (the trainer's validation_stall), epochs since the last improvement, seconds,
  /// medians, images seen, the names `sola eval` gives best.pt and last.pt, and the epoch lines.
  nlohmann::json to_json() const;
};

/// Reads one run folder. Throws IoError naming the file when config.json or metrics.jsonl is missing
/// or unreadable, or a file is not valid JSON (its line, for metrics.jsonl); a last log line cut short
/// by a killed run is skipped with a warning.
RunSummary read_run(const std::string& dir);

/// The table `sola runs` prints: one row per run (status, epochs, best and last validation AUC, train
/// time), then the reason of every run that stopped early.
std::string runs_table(const std::vector<RunSummary>& runs);

}  // namespace sola
