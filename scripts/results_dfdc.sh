#!/usr/bin/env bash
# Trains SOLA (supervised), SOLA (weakly supervised) and the ResNet18 baseline on
# ../shared/data/dfdc/train, validates on dfdc/val, evaluates the best checkpoints and regenerates
# docs/RESULTS.md. Also trains SOLA with no fake data at all: the real training images plus
# self-blended pseudo-forgeries made from them by `sola synth`.
# Resumable: rerunning continues unfinished runs (and the synthesis) where they stopped.
#   scripts/results_dfdc.sh [RUNS_DIR]      (default: runs/dfdc)
# Settings shared by all runs are in SHARED below; a run's own are in its line of RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/dfdc}
DATA=${SOLA_DATA:-../shared/data}
SOLA=${SOLA_BIN:-./build/sola}   # a copy keeps a long run safe from rebuilds
mkdir -p "$RUNS"
# Pseudo-forgeries: one self-blended fake (with its exact mask) per real training image; the
# manifest lists the reals and the fakes only (no DFDC fake is used).
SBI="$RUNS/sbi"
if [ ! -f "$RUNS/sbi.synth.json" ]; then
  echo "== synth: pseudo-fakes of the dfdc/train reals into $SBI" >&2
  "$SOLA" synth --manifest "$DATA/dfdc/train/manifest.csv" --out "$SBI" --per-image 1 --seed 0 --json > "$RUNS/sbi.synth.json.tmp"
  mv "$RUNS/sbi.synth.json.tmp" "$RUNS/sbi.synth.json"
fi
SHARED=(--set input_size=128 --set grid=8 --set epochs=3 --set batch_size=32 --set lr=1e-3 --set lr_schedule=cosine --set seed=0)
declare -A RUN_ARGS=(
  [sola_supervised]="--set loss=supervised"
  [sola_weak]="--set loss=weak"
  [resnet18]="--variant resnet18 --set loss=classifier"
  # What we tried when SOLA trailed the baseline (docs/RESULTS.md, "What we tried"):
  [sola_supervised_alpha10]="--set loss=supervised --set alpha=10"
  [sola_supervised_logits]="--set loss=supervised --set classifier_input=logits"
  # No fake data: reals + pseudo-fakes (compare with sola_supervised_logits, same settings on real fakes)
  [sola_pseudo_logits]="--set loss=supervised --set classifier_input=logits"
)
declare -A RUN_TRAIN=([sola_pseudo_logits]="$SBI/manifest.csv")
MAIN=(sola_supervised sola_weak resnet18)
TRIED=(sola_supervised_alpha10 sola_supervised_logits)
PSEUDO=(sola_pseudo_logits)
ORDER=("${MAIN[@]}" "${TRIED[@]}" "${PSEUDO[@]}")
for name in "${ORDER[@]}"; do
  out="$RUNS/$name"
  if [ -f "$out/done.json" ]; then echo "== $name: done" >&2; continue; fi
  resume=()
  [ -f "$out/last.pt" ] && resume=(--resume)
  # shellcheck disable=SC2086
  cmd=("$SOLA" train ${RUN_ARGS[$name]} "${SHARED[@]}" --train "${RUN_TRAIN[$name]:-$DATA/dfdc/train/manifest.csv}" --val "$DATA/dfdc/val/manifest.csv" --out "$out")
  echo "== $name: ${cmd[*]} ${resume[*]}" >&2
  "${cmd[@]}" "${resume[@]}" > "$out.train.json.tmp"
  printf '%s\n' "${cmd[*]}" > "$out.command.txt"
  mv "$out.train.json.tmp" "$out/done.json"
done
models=()
for name in "${ORDER[@]}"; do models+=(--model "$RUNS/$name/best.pt"); done
"$SOLA" eval "${models[@]}" --data "$DATA/dfdc/val/manifest.csv" --json "$RUNS/eval.json" --markdown "$RUNS/eval.md" --roc docs/figures
/usr/bin/python3 scripts/make_results.py "$RUNS" --main "${MAIN[@]}" --tried "${TRIED[@]}" --pseudo "${PSEUDO[@]}" > docs/RESULTS.md.tmp
mv docs/RESULTS.md.tmp docs/RESULTS.md
echo "wrote docs/RESULTS.md" >&2
