// libFuzzer target for model files: sola::load_model (LibTorch zip archive, pickled values, config JSON, weights).
// Build and run with scripts/fuzz.sh; see fuzz/README.md.
#include "fuzz_target.h"

SOLA_FUZZ_TARGET(run_checkpoint)
