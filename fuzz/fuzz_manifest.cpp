// libFuzzer target for dataset manifests: sola::data::read_manifest (CSV, paths, labels), then check_images.
// Build and run with scripts/fuzz.sh; see fuzz/README.md.
#include "fuzz_target.h"

SOLA_FUZZ_TARGET(run_manifest)
