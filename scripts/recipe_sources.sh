#!/usr/bin/env bash
# Issue 27's recipe table (docs/RESULTS.md, "Every source, robust, calibrated: the recipe"): short runs at
# equal CPU time, each fine-tuning the shipped model (init sola:models/sola-dfdc.pt) with one change from
# configs/sources/base.json: which sources it learns from and in what share (`source_weights`, one weight per
# --train manifest below, in this order), and the degradation augmentation.
#
# Sources, in the order of the weights: dfdc/train, dfdc/train-extra, ffpp/train (all four methods),
# faces-real/utkface (reals only: each paired with a self-blend of itself, made on the fly). A run whose
# weights list fewer entries takes the first sources (configs/sources/dfdc_only.json: the two DFDC manifests).
#
# Choosing: best.pt follows the frame AUC of dfdc/val and ffpp/val pooled (one threshold for both, as a
# deployment has); each is also logged alone (--val-extra), with the pseudo-forgery set (the blending
# cue). After training, best.pt is scored on the validation sets degraded as the robustness target says
# (blur:1, downscale:0.5, noise:4, jpeg:50, sharpen:1): that is chosen on too. dfdc/test, ffpp/test and
# gan-faces are read out for the best checkpoint alone (the table reads nothing else): never chosen on.
#
# Equal cost: every run trains EPOCHS epochs of STEPS steps of batch 32 (the same model, so the same step);
# the epochs are random subsets of all sources in their shares.
# Resumable: unfinished runs continue, finished ones are kept in results/sources/ (small files: commit
# them) and not retrained. Ends by regenerating docs/RESULTS.md.
#   scripts/recipe_sources.sh [RUNS_DIR]     (default runs/sources)
#   scripts/recipe_sources.sh --list         prints the runs, in their order
#   SOLA_BIN (./build/sola; a copy keeps runs safe from rebuilds), SOLA_DATA (../shared/data), THREADS (2),
#   ONLY="name ..." (these runs only), STEPS (150 a epoch: with 3 epochs, 14,400 images, about 6 minutes of
#   2 free cores at 128 px)
set -euo pipefail
cd "$(dirname "$0")/.."
ORDER=(base dfdc_only no_degrade ffpp_heavy)
if [ "${1:-}" = --list ]; then echo "${ORDER[*]}"; exit 0; fi
RUNS=${1:-runs/sources}
DATA=${SOLA_DATA:-../shared/data}
SOLA=${SOLA_BIN:-./build/sola}
THREADS=${THREADS:-2}
STEPS=${STEPS:-150}
KEEP=results/sources
mkdir -p "$RUNS" "$KEEP"
. scripts/eval_sets.sh
PSEUDO_MANIFEST=$(pseudo_val_manifest)
GAN_MANIFEST=$(gan_crops_manifest)
[ -f models/sola-dfdc.pt ] || { echo "recipe_sources.sh: the runs start from models/sola-dfdc.pt, which is missing" >&2; exit 1; }

SOURCES=("$DATA/dfdc/train/manifest.csv" "$DATA/dfdc/train-extra/manifest.csv" "$DATA/ffpp/train/manifest.csv"
         "$DATA/faces-real/utkface/manifest.csv")
DFDC_VAL=$DATA/dfdc/val/manifest.csv
FFPP_VAL=$DATA/ffpp/val/manifest.csv
# The --train arguments of a run: as many sources as its source_weights has entries.
train_args() {  # NAME
  local n
  n=$("$SOLA" info --recipes --configs configs/sources | /usr/bin/python3 -c '
import json, sys
w = next(r for r in json.load(sys.stdin) if r["name"] == sys.argv[1])["train"].get("source_weights", "")
print(len(w.split(",")) if w else 0)' "$1")
  [ "$n" -ge 1 ] && [ "$n" -le "${#SOURCES[@]}" ] || {
    echo "recipe_sources.sh: configs/sources/$1.json: source_weights must have 1 to ${#SOURCES[@]} entries (got $n)" >&2; exit 2; }
  local i
  for ((i = 0; i < n; i++)); do printf -- '--train=%s\n' "${SOURCES[$i]}"; done
}

READ_SETS="$DFDC_VAL;$FFPP_VAL;$PSEUDO_MANIFEST;$DATA/dfdc/test/manifest.csv;$DATA/ffpp/test/manifest.csv;$GAN_MANIFEST"

# The reference row: the shipped model itself, read out the same way (no training).
if [ ! -f "$KEEP/shipped.perturbed.json" ]; then
  mapfile -t sets < <(data_args "$READ_SETS")
  eval_once "$KEEP/shipped.eval.json" --model models/sola-dfdc.pt "${sets[@]}"
  degraded_val "$KEEP/shipped.perturbed.json" models/sola-dfdc.pt "$RUNS/shipped"
fi

for name in ${ONLY:-"${ORDER[@]}"}; do
  [ -f "configs/sources/$name.json" ] || { echo "recipe_sources.sh: no recipe configs/sources/$name.json (runs: ${ORDER[*]})" >&2; exit 2; }
  out="$RUNS/$name"
  [ -f "$KEEP/$name.perturbed.json" ] && continue  # finished (in this sitting or an earlier one)
  mapfile -t train < <(train_args "$name")
  echo "== $name: 3 epochs of $STEPS steps from models/sola-dfdc.pt" >&2
  # --skip-image-check: scripts/long_run.sh checks the DFDC crops at every start; ffpp and utkface are
  # checked by the test suite's data tests.
  run_kept "$name" "$out" "$KEEP" "$READ_SETS" --best-only -- \
    "$SOLA" train --config "configs/sources/$name.json" --set max_steps_per_epoch="$STEPS" --skip-image-check \
    "${train[@]}" --val "$DFDC_VAL" --val "$FFPP_VAL" --val-extra "dfdc=$DFDC_VAL" --val-extra "ffpp=$FFPP_VAL" \
    --val-extra "pseudo=$PSEUDO_MANIFEST" --out "$out" --threads "$THREADS"
  degraded_val "$KEEP/$name.perturbed.json" "$out/best.pt" "$out"
done
bash scripts/results_dfdc.sh --report
