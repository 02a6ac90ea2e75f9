#!/usr/bin/env bash
# A figure of where a model sees forgeries: `sola detect --heatmaps` panels (face | second-order anomaly
# map | Grad-CAM, with the score) for the first N real and N fake crops of dfdc/val and of the gan-faces
# crops (manifest order: no picking), one row per group, tiled into one PNG. For docs/RESULTS.md: what
# the local-anomaly maps do on DFDC's face swaps and on GAN faces (a read-out, never a choice).
#   scripts/map_figure.sh MODEL OUT.png [N]      (N: faces per row, default 4)
#   SOLA_BIN (./build/sola), SOLA_DATA (../shared/data), THREADS (2), TITLE (the figure's model name: MODEL)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: scripts/map_figure.sh MODEL OUT.png [N]" >&2; exit 2; }
MODEL=$1 OUT=$2 N=${3:-4}
[ -f "$MODEL" ] || { echo "map_figure.sh: $MODEL: no such model file" >&2; exit 2; }
DATA=${SOLA_DATA:-../shared/data}
SOLA=${SOLA_BIN:-./build/sola}
THREADS=${THREADS:-2}
. scripts/eval_sets.sh
GAN_MANIFEST=$(gan_crops_manifest)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The first N crops of one label of a manifest, linked into TMP/GROUP (names keep the manifest order).
pick() {  # MANIFEST LABEL GROUP
  local dir i=0 path label
  dir=$(dirname "$1")
  mkdir -p "$TMP/$3"
  while IFS=, read -r path label _; do
    [ "$label" = "$2" ] || continue
    ln -s "$(realpath "$dir/$path")" "$TMP/$3/$(printf '%02d' "$i").${path##*.}"
    i=$((i + 1))
    [ "$i" -lt "$N" ] || break
  done < <(tail -n +2 "$1")
  [ "$i" -eq "$N" ] || { echo "map_figure.sh: $1 has only $i crops of label $2" >&2; exit 1; }
}
GROUPS_=(dfdc_real dfdc_fake gan_real gan_fake)
pick "$DATA/dfdc/val/manifest.csv" 0 dfdc_real
pick "$DATA/dfdc/val/manifest.csv" 1 dfdc_fake
pick "$GAN_MANIFEST" 0 gan_real
pick "$GAN_MANIFEST" 1 gan_fake
for g in "${GROUPS_[@]}"; do
  "$SOLA" detect --crops --model "$MODEL" --threads "$THREADS" --heatmaps "$TMP/maps/$g" "$TMP/$g" > /dev/null
done
/usr/bin/python3 - "$TMP/maps" "$OUT" "${TITLE:-$MODEL}" "${GROUPS_[@]}" <<'PY'
import os, sys
from PIL import Image, ImageDraw
maps, out, model, groups = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
titles = {"dfdc_real": "dfdc/val real", "dfdc_fake": "dfdc/val fake (face swap)",
          "gan_real": "gan-faces real (FFHQ)", "gan_fake": "gan-faces fake (StyleGAN2)"}
rows = []
for g in groups:
    files = sorted(os.listdir(os.path.join(maps, g)))
    if not files:
        sys.exit(f"map_figure.sh: no heat map written for {g}")
    rows.append([Image.open(os.path.join(maps, g, f)).convert("RGB") for f in files])
scale = 0.5
w, h = (int(v * scale) for v in rows[0][0].size)
label_h, pad = 22, 6
canvas = Image.new("RGB", (len(rows[0]) * (w + pad) + pad, 26 + len(rows) * (h + label_h + pad)), "white")
draw = ImageDraw.Draw(canvas)
draw.text((pad, 6), f"model: {model}   (each panel: face | second-order anomaly map | Grad-CAM)", fill="black")
y = 26
for g, panels in zip(groups, rows):
    draw.text((pad, y + 4), titles.get(g, g), fill="black")
    y += label_h
    for i, p in enumerate(panels):
        canvas.paste(p.resize((w, h), Image.LANCZOS), (pad + i * (w + pad), y))
    y += h + pad
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
canvas.save(out, quality=88)  # (JPEG; PNG ignores it)
print(f"wrote {out}", file=sys.stderr)
PY
