#!/usr/bin/env bash
# The DFDC results of docs/RESULTS.md, regenerated: trains every run below on ../shared/data/dfdc/train
# (3 epochs, 128 px: each run's recipe is configs/dfdc/NAME.json, `sola info --recipes` says what each is
# and which it is compared with), chooses each run's checkpoint on dfdc/val only, and
# reports dfdc/test (in-domain, 1000 other source videos) and gan-faces (StyleGAN2 faces against FFHQ
# photographs: a manipulation never seen in training) for its best and its last checkpoint.
# Never choose anything on dfdc/test or gan-faces: they are read-outs.
# Also writes the long run's section from what scripts/long_run.sh committed in models/longrun/.
# Measures the sharpness of the training, validation and gan-faces crops per class once (scripts/sharpness.py:
# results/dfdc/sharpness.json) for the long run's "what limits it".
# Resumable: rerunning continues unfinished runs (and the synthesis) where they stopped; finished
# runs are not retrained. Runs that are not finished are left out of RESULTS.md.
# Each finished run's small files (command, config.json, metrics.jsonl, done.json, its eval) are kept
# in results/dfdc/ (commit them): RESULTS.md is made from there, so a run finished in one sitting stays
# in it when RUNS_DIR (checkpoints; not committed) is gone in the next.
#   scripts/results_dfdc.sh [RUNS_DIR]      (default: runs/dfdc)
#   scripts/results_dfdc.sh --report        only docs/RESULTS.md, from what results/ holds (trains nothing;
#                                           scripts/recipe_dfdc.sh ends with it)
#   SOLA_BIN (./build/sola: a copy keeps a long run safe from rebuilds), SOLA_DATA (../shared/data),
#   THREADS (LibTorch threads per run, default 2), ONLY="name ..." (train only these runs now)
set -euo pipefail
cd "$(dirname "$0")/.."
REPORT_ONLY=0
[ "${1:-}" = "--report" ] && { REPORT_ONLY=1; shift; }
RUNS=${1:-runs/dfdc}
DATA=${SOLA_DATA:-../shared/data}
SOLA=${SOLA_BIN:-./build/sola}
THREADS=${THREADS:-2}
KEEP=results/dfdc
mkdir -p "$RUNS" "$KEEP"

# Pseudo-forgeries of the training reals: one self-blended fake (exact mask) per real training image;
# the manifest lists the reals and the fakes only (no DFDC fake is used).
SBI="$RUNS/sbi"
synth_train() {
  if [ ! -f "$RUNS/sbi.synth.json" ]; then
    echo "== synth: pseudo-fakes of the dfdc/train reals into $SBI" >&2
    "$SOLA" synth --manifest "$DATA/dfdc/train/manifest.csv" --out "$SBI" --per-image 1 --seed 0 --json > "$RUNS/sbi.synth.json.tmp"
    mv "$RUNS/sbi.synth.json.tmp" "$RUNS/sbi.synth.json"
  fi
}
# gan-faces are whole portraits: their faces are cut once (scripts/eval_sets.sh).
. scripts/eval_sets.sh
if [ "$REPORT_ONLY" = 0 ]; then
  GAN_MANIFEST=$(gan_crops_manifest)
  cp "$GAN_CROPS.prepare.json" "$KEEP/gan-faces-crops.prepare.json"
fi


declare -A RUN_TRAIN=([sola_pseudo_logits]="$SBI/manifest.csv")
MAIN=(sola_supervised sola_weak resnet18)
CHECKS=(sola_supervised_seed1 sola_supervised_fp32 sola_supervised_allcells)
TRIED=(sola_supervised_alpha10 sola_supervised_logits)
PSEUDO=(sola_pseudo_logits)
ORDER=("${MAIN[@]}" "${CHECKS[@]}" "${TRIED[@]}" "${PSEUDO[@]}")
[ "$REPORT_ONLY" = 1 ] && ORDER=() && ONLY=""
for name in ${ONLY:-"${ORDER[@]}"}; do
  [ -f "$KEEP/$name.eval.json" ] && continue  # finished (in this sitting or an earlier one)
  [ "$name" = sola_pseudo_logits ] && synth_train
  [ -f "configs/dfdc/$name.json" ] || { echo "results_dfdc.sh: no recipe configs/dfdc/$name.json" >&2; exit 2; }
  # Read out: best (chosen on dfdc/val) and last checkpoint on val, test and gan-faces.
  run_kept "$name" "$RUNS/$name" "$KEEP" "$DATA/dfdc/val/manifest.csv;$DATA/dfdc/test/manifest.csv;$GAN_MANIFEST" -- \
    "$SOLA" train --config "configs/dfdc/$name.json" --train "${RUN_TRAIN[$name]:-$DATA/dfdc/train/manifest.csv}" \
    --val "$DATA/dfdc/val/manifest.csv" --out "$RUNS/$name" --threads "$THREADS"
  if [ -f "$RUNS/sbi.synth.json" ]; then cp "$RUNS/sbi.synth.json" "$KEEP/"; fi
done
done_runs() { for n in "$@"; do [ -f "$KEEP/$n.eval.json" ] && printf '%s ' "$n"; done; true; }
# ROC curves on dfdc/test of the main runs' best checkpoints.
main_done=$(done_runs "${MAIN[@]}")
have_checkpoints=1
for n in $main_done; do [ -f "$RUNS/$n/best.pt" ] || have_checkpoints=0; done
if [ "$REPORT_ONLY" = 0 ] && [ -n "$main_done" ] && [ "$have_checkpoints" = 1 ]; then
  models=()
  for n in $main_done; do models+=(--model "$RUNS/$n/best.pt"); done
  "$SOLA" eval "${models[@]}" --data "$DATA/dfdc/test/manifest.csv" --threads "$THREADS" --precision fp32 --roc docs/figures --json /dev/null >&2
fi
# The sharpness of the training, validation and gan-faces crops per class (once: results/dfdc/sharpness.json),
# when the gan-faces crops are there.
if [ ! -f "$KEEP/sharpness.json" ] && [ -f "$GAN_CROPS.prepare.json" ]; then
  /usr/bin/python3 scripts/sharpness.py --json "$KEEP/sharpness.json" train="$DATA/dfdc/train/manifest.csv" \
    train-extra="$DATA/dfdc/train-extra/manifest.csv" val="$DATA/dfdc/val/manifest.csv" \
    gan-faces="$(gan_crops_manifest)"
fi
# The tables: make_results.py lays out what `sola runs --json` and the kept `sola eval --json` give.
# shellcheck disable=SC2046
/usr/bin/python3 scripts/make_results.py "$KEEP" --sola "$SOLA" --configs configs --gan "$KEEP/gan-faces-crops.prepare.json" --longrun models/longrun \
  --sharpness "$KEEP/sharpness.json" --robustness "$KEEP/robustness.json" \
  --recipe results/recipe --ffpp results/ffpp --calibration results/calibration \
  --main $(done_runs "${MAIN[@]}") --checks $(done_runs "${CHECKS[@]}") --tried $(done_runs "${TRIED[@]}") \
  --pseudo $(done_runs "${PSEUDO[@]}") --recipe-runs $(bash scripts/recipe_dfdc.sh --list) \
  --sources results/sources --sources-longrun models/longrun-sources --sources-runs $(bash scripts/recipe_sources.sh --list) > docs/RESULTS.md.tmp
mv docs/RESULTS.md.tmp docs/RESULTS.md
echo "wrote docs/RESULTS.md" >&2
