#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine, with nothing downloaded beyond Debian packages:
# install, build, then detect forgeries with the shipped model (models/sola-dfdc.pt) in a face photo
# from a Debian package (dlib's examples) and in a self-blended pseudo-forgery made from that photo,
# writing heat maps of where the model sees the forgery.
#   scripts/quickstart.sh [--no-install] [--json FILE] [OUT_DIR]     (default: quickstart-out)
#   --no-install  skips installing and building (scripts/ship_model.sh checks a model this way);
#   --json FILE   writes sola detect's JSON lines into FILE instead of its table;
#   SOLA_BIN (./build/sola) and SOLA_MODEL (the model sola detect uses) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
install=1 json=""
[ "${1:-}" = "--no-install" ] && { install=0; shift; }
[ "${1:-}" = "--json" ] && { json=$2; shift 2; }
OUT=${1:-quickstart-out}
SOLA=${SOLA_BIN:-./build/sola}
if [ "$install" = 1 ]; then
  # Only what this job runs: the runtime packages and the sola binary (the test suite and benchmarks are
  # scripts/test.sh's). README.md, "Two commands", gives the time this takes on a fresh machine.
  bash scripts/setup.sh --runtime
  BUILD_TARGETS=sola bash scripts/build.sh
fi
photo=""
for p in /usr/share/doc/libdlib19.1/examples/faces/2008_001322.jpg \
         /usr/share/doc/libdlib19.1/examples/faces/Tom_Cruise_avp_2014_4.jpg; do
  [ -f "$p" ] && { photo="$p"; break; }
done
[ -n "$photo" ] || { echo "quickstart: no example photo under /usr/share/doc/libdlib19.1 (is libdlib-dev installed with its docs?)" >&2; exit 1; }
mkdir -p "$OUT/input"
cp "$photo" "$OUT/input/real.jpg"
# A pseudo-forgery: the photo's own face blended with a transformed copy of itself (exact mask written too).
"$SOLA" synth --images "$OUT/input/real.jpg" --out "$OUT/synth" --seed 7 > /dev/null
cp "$OUT"/synth/fake/*.png "$OUT/input/pseudo_fake.png"
echo "== sola detect (shipped model ${SOLA_MODEL:-models/sola-dfdc.pt}) on a real photo and on a pseudo-forgery of it" >&2
if [ -n "$json" ]; then
  "$SOLA" detect "$OUT/input" --heatmaps "$OUT/heatmaps" --json > "$json"
else
  "$SOLA" detect "$OUT/input" --heatmaps "$OUT/heatmaps"
fi
echo >&2
echo "Heat maps (face | second-order anomaly map | Grad-CAM): $OUT/heatmaps/" >&2
echo "The pseudo-forgery's true mask: $(ls "$OUT"/synth/mask/*.png)" >&2
echo "More: $SOLA detect --help, $SOLA serve (web page on http://127.0.0.1:8080)" >&2
