// sola: the command line. Each subcommand lives in its own cmd_*.cpp.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"sola: Second Order Local Anomaly face-forgery detection (CVPR 2022) in C++", "sola"};
  app.require_subcommand(1);
  app.set_version_flag("--version", SOLA_VERSION);
  sola::cli::setup_info(app);
  sola::cli::setup_forward(app);
  sola::cli::setup_train(app);
  sola::cli::setup_eval(app);
  sola::cli::setup_prepare(app);
  sola::cli::setup_synth(app);
  sola::cli::setup_detect(app);
  sola::cli::setup_serve(app);
  sola::cli::setup_export(app);
  sola::cli::setup_pack(app);
  sola::cli::setup_calibrate(app);
  sola::cli::setup_runs(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a subcommand finished with this code; it has reported why
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help/version to stdout, errors to stderr
    return code == 0 ? sola::cli::kOk : sola::cli::kUsage;
  } catch (const sola::ConfigError& e) {
    std::cerr << "sola: error: " << e.what() << "\n";
    return sola::cli::kUsage;
  } catch (const std::exception& e) {
    std::cerr << "sola: error: " << e.what() << "\n";
    return sola::cli::kFailure;
  }
  return sola::cli::kOk;
}
