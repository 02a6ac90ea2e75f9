#!/usr/bin/env bash
# A figure of where a model sees forgeries: `sola detect --heatmaps` panels (face | second-order anomaly
# map | Grad-CAM, with the score) tiled into one PNG, one row per group of crops taken in manifest order
# (no picking). For docs/RESULTS.md and the model card: a read-out, never a choice (validation sets only).
#   scripts/map_figure.sh MODEL OUT.png [N]      (N: faces per row, default 4)
#   SET=dfdc-gan (default): the first N real and N fake crops of dfdc/val and of the gan-faces crops:
#     what the local-anomaly maps do on DFDC's face swaps and on GAN faces.
#   SET=ffpp: ffpp/val's reals and each manipulation's fakes, one crop from each of the first N videos
#     (groups): the paper's Fig. 5, where a model trained on one method looks on the others.
#   SOLA_BIN (./build/sola), SOLA_DATA (../shared/data), THREADS (2), TITLE (the figure's model name: MODEL)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: scripts/map_figure.sh MODEL OUT.png [N]" >&2; exit 2; }
MODEL=$1 OUT=$2 N=${3:-4}
[ -f "$MODEL" ] || { echo "map_figure.sh: $MODEL: no such model file" >&2; exit 2; }
DATA=${SOLA_DATA:-../shared/data}
SOLA=${SOLA_BIN:-./build/sola}
THREADS=${THREADS:-2}
SET=${SET:-dfdc-gan}
. scripts/eval_sets.sh
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The first N crops of a manifest with label LABEL (and method METHOD, if given; one per group (video)
# with ONE_PER_GROUP=1), linked into TMP/GROUP under names that keep the manifest order. Columns are
# found by the header's names.
pick() {  # MANIFEST LABEL GROUP [METHOD]
  local dir i=0 path
  dir=$(dirname "$1")
  mkdir -p "$TMP/$3"
  while IFS= read -r path; do
    ln -s "$(realpath "$dir/$path")" "$TMP/$3/$(printf '%02d' "$i").${path##*.}"
    i=$((i + 1))
  done < <(awk -F, -v want="$2" -v method="${4:-}" -v one="${ONE_PER_GROUP:-0}" -v n="$N" '
    { sub(/\r$/, "") }  # CRLF manifests (the FF++ ones)
    NR == 1 { for (c = 1; c <= NF; c++) col[$c] = c; next }
    $col["label"] != want { next }
    method != "" && $col["method"] != method { next }
    one == 1 && ($col["group"] in seen) { next }
    { seen[$col["group"]] = 1; print $col["path"]; if (++k == n) exit }' "$1")
  [ "$i" -eq "$N" ] || { echo "map_figure.sh: $1 has only $i crops of label $2${4:+ and method $4}" >&2; exit 1; }
}
case "$SET" in
  dfdc-gan)
    GAN_MANIFEST=$(gan_crops_manifest)
    GROUPS_=(dfdc_real dfdc_fake gan_real gan_fake)
    pick "$DATA/dfdc/val/manifest.csv" 0 dfdc_real
    pick "$DATA/dfdc/val/manifest.csv" 1 dfdc_fake
    pick "$GAN_MANIFEST" 0 gan_real
    pick "$GAN_MANIFEST" 1 gan_fake ;;
  ffpp)
    GROUPS_=(ffpp_real ffpp_Deepfakes ffpp_Face2Face ffpp_FaceSwap ffpp_NeuralTextures)
    ONE_PER_GROUP=1 pick "$DATA/ffpp/val/manifest.csv" 0 ffpp_real
    for m in Deepfakes Face2Face FaceSwap NeuralTextures; do
      ONE_PER_GROUP=1 pick "$DATA/ffpp/val/manifest.csv" 1 "ffpp_$m" "$m"
    done ;;
  *) echo "map_figure.sh: SET=$SET: expected dfdc-gan or ffpp" >&2; exit 2 ;;
esac
for g in "${GROUPS_[@]}"; do
  "$SOLA" detect --crops --model "$MODEL" --threads "$THREADS" --heatmaps "$TMP/maps/$g" "$TMP/$g" > /dev/null
done
/usr/bin/python3 - "$TMP/maps" "$OUT" "${TITLE:-$MODEL}" "${GROUPS_[@]}" <<'PY'
import os, sys
from PIL import Image, ImageDraw
maps, out, model, groups = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
titles = {"dfdc_real": "dfdc/val real", "dfdc_fake": "dfdc/val fake (face swap)",
          "gan_real": "gan-faces real (FFHQ)", "gan_fake": "gan-faces fake (StyleGAN2)",
          "ffpp_real": "ffpp/val real (YouTube)", "ffpp_Deepfakes": "ffpp/val Deepfakes",
          "ffpp_Face2Face": "ffpp/val Face2Face", "ffpp_FaceSwap": "ffpp/val FaceSwap",
          "ffpp_NeuralTextures": "ffpp/val NeuralTextures"}
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
