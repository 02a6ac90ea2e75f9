// sola runs: the summary of training runs from their folders (best and last epoch, stop reason, the
// per-epoch curve, config and command), as a table or as JSON.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "train/run_summary.h"

namespace sola::cli {
namespace {

struct RunsOptions {
  std::vector<std::string> dirs;
  bool json = false;
};

int run_runs(const RunsOptions& opts) {
  std::vector<RunSummary> runs;
  for (const auto& dir : opts.dirs) runs.push_back(read_run(dir));
  if (!opts.json) {
    std::cout << runs_table(runs);
    return kOk;
  }
  nlohmann::json j = nlohmann::json::array();
  for (const auto& run : runs) j.push_back(run.to_json());
  std::cout << json_line(j) << std::endl;
  return kOk;
}

}  // namespace

void setup_runs(CLI::App& app) {
  auto opts = std::make_shared<RunsOptions>();
  auto* sub = app.add_subcommand(
      "runs", "Summarise training runs from their folders: status, best and last epoch, stop reason, train time");
  sub->add_option("dirs", opts->dirs,
                  "run folders (config.json, metrics.jsonl; done.json once finished; DIR/command.txt or "
                  "DIR.command.txt)")
      ->required();
  sub->add_flag("--json", opts->json,
                "print a JSON array instead: per run its config, command, done.json, epoch lines (one per epoch) "
                "and the figures derived from them");
  sub->callback([opts] {
    if (int code = run_runs(*opts); code != kOk) throw CLI::RuntimeError(code);
  });
}

}  // namespace sola::cli
