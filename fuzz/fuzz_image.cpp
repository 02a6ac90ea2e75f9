// libFuzzer target for images and masks: sola::load_image -> sola::data::read_image_bgr (header size check, OpenCV decode).
// Build and run with scripts/fuzz.sh; see fuzz/README.md.
#include "fuzz_target.h"

SOLA_FUZZ_TARGET(run_image)
