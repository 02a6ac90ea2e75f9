#!/usr/bin/env bash
# The recipe table of docs/RESULTS.md ("The recipe, measured"): short SOLA runs at equal CPU cost, one
# change each from the base recipe, on all the DFDC training crops (dfdc/train + dfdc/train-extra).
# Each run is validated every epoch on dfdc/val and on the pseudo-forgery validation set (the dfdc/val
# reals with one self-blended fake each, scripts/eval_sets.sh); its best checkpoint is chosen on dfdc/val.
# dfdc/test and gan-faces are read out for the best and the last checkpoint: never chosen on.
#
# Equal cost: every run sees the same number of optimizer steps' worth of CPU time. The base run trains
# on BUDGET_IMAGES images (3 epochs of BUDGET_IMAGES / 3, random subsets of the 22,000 crops); a run
# whose step costs more (256 px, grid 16) gets proportionally fewer images, from the cost of one
# training step of each geometry measured once with sola_bench_train (results/recipe/costs.json,
# committed, so that every sitting uses the same figures).
# Each run's recipe is configs/recipe/NAME.json (`sola info --recipes`: the base recipe, configs/recipe/base.json,
# and one change each); this script adds only the budget (epochs, steps per epoch) and the data.
# Resumable like scripts/results_dfdc.sh: unfinished runs continue, finished ones are kept in
# results/recipe/ (small files; commit them) and not retrained. Ends by regenerating docs/RESULTS.md.
#   scripts/recipe_dfdc.sh [RUNS_DIR]     (default runs/recipe)
#   scripts/recipe_dfdc.sh --list         prints the runs, in their order (that of the recipe table)
#   SOLA_BIN (./build/sola; a copy keeps runs safe from rebuilds), SOLA_BENCH_TRAIN
#   (./build/sola_bench_train), SOLA_DATA (../shared/data), THREADS (2), ONLY="name ..." (these runs
#   only), BUDGET_IMAGES (60000: about 35 minutes of 2 free cores at 128 px)
set -euo pipefail
cd "$(dirname "$0")/.."
# The runs, in the order they train and appear in the recipe table: configs/recipe/NAME.json each.
ORDER=(base base_seed1 pseudo_0 pseudo_0.5 pseudo_1 weak no_jpeg blur sharpen blur_sharpen constant_lr resnet18 size_256 size_256_grid_16)
if [ "${1:-}" = --list ]; then echo "${ORDER[*]}"; exit 0; fi
RUNS=${1:-runs/recipe}
DATA=${SOLA_DATA:-../shared/data}
SOLA=${SOLA_BIN:-./build/sola}
BENCH=${SOLA_BENCH_TRAIN:-./build/sola_bench_train}
THREADS=${THREADS:-2}
BUDGET=${BUDGET_IMAGES:-60000}
KEEP=results/recipe
EPOCHS=3
BATCH=32
mkdir -p "$RUNS" "$KEEP"
. scripts/eval_sets.sh
PSEUDO_MANIFEST=$(pseudo_val_manifest)
GAN_MANIFEST=$(gan_crops_manifest)

# The cost of a training step per model and geometry (channels-last, batch 32, the precision
# sola train's precision=auto chooses on this CPU: sola train's step), measured once.
if [ ! -f "$KEEP/costs.json" ]; then
  echo "== measuring the training step of each model and geometry (sola_bench_train)" >&2
  : > "$KEEP/costs.json.tmp"
  for g in "sola-r18 128 8" "sola-r18 256 8" "sola-r18 256 16" "resnet18 128 8"; do
    set -- $g
    "$BENCH" --variant "$1" --size "$2" --grid "$3" --batch $BATCH --channels-last --dtype auto --threads "$THREADS" \
      --repeats 5 --json >> "$KEEP/costs.json.tmp"
  done
  mv "$KEEP/costs.json.tmp" "$KEEP/costs.json"
fi
# Images of a run: BUDGET scaled by the base's step time over the run's, the run's model and geometry
# read from its recipe (`sola info --config`).
images_for() {
  /usr/bin/python3 - "$KEEP/costs.json" "$BUDGET" "$("$SOLA" info --config "configs/recipe/$1.json" --threads 1)" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
budget, model = int(sys.argv[2]), json.loads(sys.argv[3])["config"]
variant = ("resnet" if model["arch"] == "resnet" else "sola-r") + model["backbone"][len("resnet"):]  # costs.json's names
ips = {(r["variant"], r["size"], r["grid"]): r["img_s"] for r in rows}
print(int(budget * ips[(variant, model["input_size"], model["grid"])] / ips[("sola-r18", 128, 8)]))
PY
}

# The images of one whole epoch: the training set's rows, in whole batches (a step takes a full batch).
TRAIN_MANIFESTS=("$DATA/dfdc/train/manifest.csv" "$DATA/dfdc/train-extra/manifest.csv")
n_train=0
for m in "${TRAIN_MANIFESTS[@]}"; do
  n_train=$(( n_train + $(tail -n +2 "$m" | grep -c .) ))
done
FULL_EPOCH=$(( n_train / BATCH * BATCH ))

for name in ${ONLY:-"${ORDER[@]}"}; do
  [ -f "configs/recipe/$name.json" ] || { echo "recipe_dfdc.sh: no recipe configs/recipe/$name.json (runs: ${ORDER[*]})" >&2; exit 2; }
  out="$RUNS/$name"
  [ -f "$KEEP/$name.eval.json" ] && continue  # finished (in this sitting or an earlier one)
  images=$(images_for "$name")
  # EPOCHS epochs of random subsets; a run whose images would not fit in EPOCHS passes over the
  # training set (a cheaper step: the ResNet18 baseline) gets more epochs instead.
  epochs=$(( (images + FULL_EPOCH - 1) / FULL_EPOCH ))
  [ "$epochs" -ge "$EPOCHS" ] || epochs=$EPOCHS
  steps=$(( images / (epochs * BATCH) ))
  [ "$steps" -ge 1 ] || steps=1  # (max_steps_per_epoch=0 would mean the whole training set)
  echo "== $name: $images images ($epochs epochs of $steps steps)" >&2
  # --skip-image-check: decoding all 22,000 crops first would cost each run about 2 minutes, for
  # the files that scripts/long_run.sh checks at every start.
  run_kept "$name" "$out" "$KEEP" "$DATA/dfdc/val/manifest.csv;$PSEUDO_MANIFEST;$DATA/dfdc/test/manifest.csv;$GAN_MANIFEST" -- \
    "$SOLA" train --config "configs/recipe/$name.json" --set epochs=$epochs --set max_steps_per_epoch=$steps --skip-image-check \
    "${TRAIN_MANIFESTS[@]/#/--train=}" \
    --val "$DATA/dfdc/val/manifest.csv" --val-extra "pseudo=$PSEUDO_MANIFEST" --out "$out" --threads "$THREADS"
done
bash scripts/results_dfdc.sh --report
