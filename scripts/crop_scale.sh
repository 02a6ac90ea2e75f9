#!/usr/bin/env bash
# Which face-crop scale makes sola's crops look like the DFDC training crops?
# The DFDC crops were cut by another pipeline; sola cuts `crop_scale` x the dlib face box. Both are
# measured the same way: dlib's detector run again on the crop, box side / crop side (median).
# The reference photos are Debian's dlib example faces (not a set we report on). Prints one JSON line
# per set; pick the scale whose median matches the DFDC crops' (models/README.md records it).
#   scripts/crop_scale.sh [SCALES]    (default "1.0 1.2 1.4"); SOLA_BIN, SOLA_DATA as elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
SOLA=${SOLA_BIN:-./build/sola}
DATA=${SOLA_DATA:-../shared/data}
PHOTOS=/usr/share/doc/libdlib19.1/examples/faces
SCALES=${1:-"1.0 1.2 1.4"}
WORK=$(mktemp -d /tmp/sola-crop-scale-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ratio() {  # NAME, then `sola detect --json` lines on stdin
  /usr/bin/python3 -c '
import json, statistics, sys
r, missed = [], 0
for line in sys.stdin:
    j = json.loads(line)
    if not j.get("faces"):
        missed += 1
        continue
    r.append(j["faces"][0]["box"][2] / 224)
print(json.dumps({"set": sys.argv[1], "crops": len(r) + missed, "no_face": missed,
                  "median_box_over_crop": statistics.median(r), "quartiles": statistics.quantiles(r, n=4)}))
' "$1"
}
awk -F, 'NR > 1 && NR <= 401 {print $1}' "$DATA/dfdc/train/manifest.csv" | sed "s|^|$DATA/dfdc/train/|" > "$WORK/dfdc.txt"
# shellcheck disable=SC2046
{ "$SOLA" detect --json $(cat "$WORK/dfdc.txt") 2>/dev/null || true; } | ratio "dfdc/train, first 400 crops (224 px)"
mkdir -p "$WORK/photos"
cp "$PHOTOS"/*.jpg "$WORK/photos/"
for s in $SCALES; do
  "$SOLA" prepare --real "$WORK/photos" --out "$WORK/cut$s" --scale "$s" --size 224 --format png --json > /dev/null 2>&1
  { "$SOLA" detect --json "$WORK/cut$s" 2>/dev/null || true; } | ratio "Debian dlib example photos cut by sola prepare at scale $s"
done
