#pragma once
// One file per subcommand: setup_x registers it (options struct defaults shown in --help),
// run_x does the work and returns the exit code.
#include <CLI/CLI.hpp>

namespace sola::cli {

void setup_info(CLI::App& app);
void setup_forward(CLI::App& app);
void setup_train(CLI::App& app);
void setup_eval(CLI::App& app);
void setup_prepare(CLI::App& app);
void setup_synth(CLI::App& app);
void setup_detect(CLI::App& app);
void setup_serve(CLI::App& app);
void setup_export(CLI::App& app);
void setup_pack(CLI::App& app);
void setup_calibrate(CLI::App& app);
void setup_runs(CLI::App& app);

}  // namespace sola::cli
