#!/usr/bin/env bash
# The robustness read-out of the shipped model (docs/RESULTS.md, "Robustness"): dfdc/test and the
# gan-faces crops scored again with each fixed degradation of `sola eval --perturb` (blur, resolution
# loss, JPEG, noise, and the other way sharpening; at the model's input size). A read-out, never a
# choice: it says how much of the model's AUC rests on the finest detail, whether the gan-faces crops,
# 2.2x as sharp as DFDC's (results/dfdc/sharpness.json), score differently once that excess detail is
# blurred away, and whether DFDC's own fakes get harder to tell once their crops are made as sharp.
#   scripts/robustness.sh [MODEL]   (default models/sola-dfdc.pt) -> results/dfdc/robustness.json (and,
#                                   for the shipped model, models/card/robustness.json: its model card)
# Resumable: each degradation's evaluation is kept in runs/robustness/SHA/ (SHA: the model file's
# sha256, so that a newly shipped model is read out anew).
#   SOLA_BIN (./build/sola), SOLA_DATA (../shared/data), THREADS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/sola-dfdc.pt}
DATA=${SOLA_DATA:-../shared/data}
SOLA=${SOLA_BIN:-./build/sola}
THREADS=${THREADS:-2}
OUT=results/dfdc/robustness.json
. scripts/eval_sets.sh
GAN_MANIFEST=$(gan_crops_manifest)
[ -f "$MODEL" ] || { echo "robustness.sh: no model file $MODEL" >&2; exit 1; }
SHA=$(sha256sum "$MODEL" | cut -c1-64)
CACHE=runs/robustness/${SHA:0:16}
mkdir -p "$CACHE" "$(dirname "$OUT")"
# none first: the reference every other row is read against.
PERTURBS=(none blur:0.5 blur:1 blur:1.5 downscale:0.5 jpeg:50 noise:4 sharpen:1 sharpen:2)
for p in "${PERTURBS[@]}"; do
  f=$CACHE/$p.json
  [ -f "$f" ] && continue
  args=()
  [ "$p" = none ] || args=(--perturb "$p")
  echo "== $MODEL on dfdc/test and gan-faces, ${p}" >&2
  "$SOLA" eval --model "$MODEL" --data "$DATA/dfdc/test/manifest.csv" --data "$GAN_MANIFEST" "${args[@]}" \
    --threads "$THREADS" --precision fp32 --json "$f.tmp" >&2
  mv "$f.tmp" "$f"
done
/usr/bin/python3 - "$MODEL" "$SHA" "$CACHE" "$OUT" "${PERTURBS[@]}" <<'PY'
import json, os, sys
sys.path.insert(0, "scripts")
from make_results import report_set
model, sha, cache, out, perturbs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
rows = []
for p in perturbs:
    for r in json.load(open(os.path.join(cache, p + ".json"))):
        m = r.get("map", {})
        rows.append({"perturb": p, "data": report_set(r["data"]), "auc": r["frame"]["auc"], "map_auc": m.get("auc"),
                     "real_peak": m.get("real_mean_peak"), "fake_peak": m.get("fake_mean_peak")})
json.dump({"model": model, "sha256": sha, "rows": rows}, open(out, "w"), indent=1)
print(f"wrote {out}", file=sys.stderr)
PY
# The shipped model's read-out also goes into its model card ("What it is not good at"): shipping a new
# model replaces models/card, so the card never quotes another model's figures.
if [ "$(realpath "$MODEL")" = "$(realpath models/sola-dfdc.pt)" ] && [ -d models/card ]; then
  cp "$OUT" models/card/robustness.json
  /usr/bin/python3 scripts/make_model_card.py models/card --readme README.md > models/README.md.tmp
  mv models/README.md.tmp models/README.md
  echo "robustness.sh: models/card/robustness.json and models/README.md updated (commit them)" >&2
fi
