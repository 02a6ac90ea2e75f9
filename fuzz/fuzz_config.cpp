// libFuzzer target for config files and --set values: sola::cli::resolve_config (JSON, options_update, validate).
// Build and run with scripts/fuzz.sh; see fuzz/README.md.
#include "fuzz_target.h"

SOLA_FUZZ_TARGET(run_config)
