#!/usr/bin/env bash
# The robustness read-out of the shipped model (docs/RESULTS.md, "Robustness"): dfdc/test, ffpp/test and
# the gan-faces crops scored again with each fixed degradation of `sola eval --perturb` (blur, resolution
# loss, JPEG, noise, and the other way sharpening; at the model's input size). A read-out, never a
# choice: it says how much of the model's AUC rests on the finest detail, whether the gan-faces crops,
# 2.2x as sharp as DFDC's (results/dfdc/sharpness.json), score differently once that excess detail is
# blurred away, and whether DFDC's own fakes get harder to tell once their crops are made as sharp.
# Issue 27's target is read from it (scripts/make_results.py): frame AUC >= 85 on dfdc/test and
# ffpp/test under each of blur:1, downscale:0.5, noise:4, jpeg:50 and sharpen:1.
#   scripts/robustness.sh [MODEL]   (default models/sola-dfdc.pt) -> results/dfdc/robustness.json (and,
#                                   for the shipped model, models/card/robustness.json: its model card)
# Resumable: each set's evaluation under each degradation is kept in runs/robustness/SHA/SET/PERTURB.json
# (SHA: the model file's sha256, so that a newly shipped model is read out anew; SET: the set's key, so
# that a set added later is evaluated alone, and the two-set files of earlier versions,
# runs/robustness/SHA/PERTURB.json, are never read as these).
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
# The sets, by their key in the rows (make_results.report_set of the name `sola eval` gives them): the
# two test sets of the target, then the gan-faces crops.
SET_KEYS=(test ffpp_test gan)
SET_MANIFESTS=("$DATA/dfdc/test/manifest.csv" "$DATA/ffpp/test/manifest.csv" "$GAN_MANIFEST")
mkdir -p "$(dirname "$OUT")"
# none first: the reference every other row is read against.
PERTURBS=(none blur:0.5 blur:1 blur:1.5 downscale:0.5 jpeg:50 noise:4 sharpen:1 sharpen:2)
for i in "${!SET_KEYS[@]}"; do
  key=${SET_KEYS[$i]}
  mkdir -p "$CACHE/$key"
  for p in "${PERTURBS[@]}"; do
    args=()
    [ "$p" = none ] || args=(--perturb "$p")
    eval_once "$CACHE/$key/$p.json" --model "$MODEL" --data "${SET_MANIFESTS[$i]}" "${args[@]}"
  done
done
/usr/bin/python3 - "$MODEL" "$SHA" "$CACHE" "$OUT" "${SET_KEYS[*]}" "${PERTURBS[@]}" <<'PY'
import json, os, sys
sys.path.insert(0, "scripts")
from make_results import report_set
model, sha, cache, out, keys, perturbs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split(), sys.argv[6:]
rows = []
for p in perturbs:
    for key in keys:
        for r in json.load(open(os.path.join(cache, key, p + ".json"))):
            if report_set(r["data"]) != key:
                sys.exit(f"robustness.sh: {cache}/{key}/{p}.json holds {r['data']}, not the set {key}")
            m = r.get("map", {})
            rows.append({"perturb": p, "data": key, "auc": r["frame"]["auc"], "map_auc": m.get("auc"),
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
