#!/usr/bin/env bash
# The paper's own experiments on FaceForensics++ (docs/RESULTS.md, "FaceForensics++: the paper's
# protocol"): Table 2 (train on one manipulation, test on all four), the Table 7 ablations, the
# Table 5 analogue (DFDC-trained models on FF++; all-methods FF++ models on DFDC) and the ResNet18
# baseline at equal CPU time.
#
# Every run trains from scratch (no ImageNet weights can be had here) on ../shared/data/ffpp/train
# filtered to its method (`--set methods=X`: the method's fakes and every real), chooses its checkpoint
# on ffpp/val filtered the same way, and is read out on the whole of ffpp/test (every method against
# every real: the Table 2 row) for its best and its last checkpoint; the all-methods runs are also read
# out on dfdc/test. Never choose anything on ffpp/test or dfdc/test: they are read-outs.
# Same input size, grid, epochs, schedule and seed for every run (the configs of configs/ffpp/, one per
# model and ablation, sharing configs/ffpp/sola_supervised.json's schedule); the ResNet18 rows at
# equal CPU time get the epochs its cheaper step buys (the step costs of results/recipe/costs.json,
# measured with sola_bench_train on one machine).
# Resumable like scripts/results_dfdc.sh: unfinished runs continue (--resume), finished ones are kept in
# results/ffpp/ (small files; commit them) and not retrained. Ends by regenerating docs/RESULTS.md.
#   scripts/ffpp_protocol.sh [RUNS_DIR]     (default runs/ffpp)
#   SOLA_BIN (./build/sola; a copy keeps runs safe from rebuilds), SOLA_DATA (../shared/data),
#   THREADS (2), ONLY="name ..." (these runs only), GROUPS_TO_RUN ("table2 seeds ablations eqtime
#   alltrain table5": the groups below, in this order)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/ffpp}
DATA=${SOLA_DATA:-../shared/data}
SOLA=${SOLA_BIN:-./build/sola}
THREADS=${THREADS:-2}
KEEP=results/ffpp
CONFIGS=configs/ffpp  # the recipes (sola info --recipes): the model, its loss and the shared schedule
mkdir -p "$RUNS" "$KEEP"
. scripts/eval_sets.sh

METHODS=(Deepfakes Face2Face FaceSwap NeuralTextures)
# The recipe of the DFDC runs (configs/long_run.json) without pseudo-fakes (Table 2 trains on the method's
# own fakes only), at 128 px: the paper's 256 px costs 4x the step on these CPUs; 8 epochs, about 7 minutes
# of 2 free cores per SOLA run (2,400 images an epoch).
declare -A MODEL=(
  [sola_supervised]="--config $CONFIGS/sola_supervised.json"
  [sola_weak]="--config $CONFIGS/sola_weak.json"
  [resnet18]="--config $CONFIGS/resnet18.json"
)
# The ResNet18 baseline at SOLA's CPU time: epochs x (ResNet18 img/s / SOLA img/s) at 128 px, grid 8.
# eqtime_epochs [SOLA_CONFIG] (configs/ffpp/sola_supervised.json): the epochs of that SOLA config, scaled.
eqtime_epochs() {
  /usr/bin/python3 - "${1:-$CONFIGS/sola_supervised.json}" results/recipe/costs.json <<'EOF2'
import json, sys
epochs = json.load(open(sys.argv[1]))["train"]["epochs"]
costs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ips = {c["variant"]: c["img_s"] for c in costs if c["size"] == 128 and c["grid"] == 8}
print(round(epochs * ips["resnet18"] / ips["sola-r18"]))
EOF2
}
# Per run: its arguments, and where they differ from FF++ (the Table 5 runs), its training and validation
# manifests and the manifests it is read out on.
declare -A RUN_ARGS RUN_EXTRA_DATA RUN_TRAIN RUN_VAL RUN_DATA
GROUP_table2=() GROUP_seeds=() GROUP_ablations=() GROUP_eqtime=() GROUP_alltrain=() GROUP_table5=()
# SOLA supervised and ResNet18 first (the comparison of the targets), then SOLA weak.
for m in sola_supervised resnet18 sola_weak; do
  for x in "${METHODS[@]}"; do
    RUN_ARGS[${m}_$x]="${MODEL[$m]} --set methods=$x"
    GROUP_table2+=("${m}_$x")
  done
done
for x in "${METHODS[@]}"; do
  RUN_ARGS[resnet18_eqtime_$x]="${MODEL[resnet18]} --set methods=$x --set epochs=$(eqtime_epochs)"
  GROUP_eqtime+=("resnet18_eqtime_$x")
done
# The noise of one cell: the supervised Deepfakes run again with another seed.
RUN_ARGS[sola_supervised_Deepfakes_seed1]="${MODEL[sola_supervised]} --set methods=Deepfakes --set seed=1"
GROUP_seeds+=(sola_supervised_Deepfakes_seed1)
# Table 7: SOLA weak on Deepfakes without the LEM, with fixed SRM kernels, without the noise branch.
for a in no_lem srm no_noise; do
  RUN_ARGS[sola_weak_Deepfakes_$a]="--config $CONFIGS/sola_weak_$a.json --set methods=Deepfakes"
done
GROUP_ablations+=(sola_weak_Deepfakes_no_lem sola_weak_Deepfakes_srm sola_weak_Deepfakes_no_noise)
# The reverse of Table 5: trained on all four methods, read out on dfdc/test too.
for m in sola_supervised resnet18; do
  RUN_ARGS[${m}_all]="${MODEL[$m]}"
  RUN_EXTRA_DATA[${m}_all]=";$DATA/dfdc/test/manifest.csv"
  GROUP_alltrain+=("${m}_all")
done

# Table 5: trained on DFDC (dfdc/train, chosen on dfdc/val), read out on ffpp/test and dfdc/test. The
# shipped model (44 epochs over 22,000 crops, hours of CPU) cannot be matched by a ResNet18 in a sitting, so
# SOLA and ResNet18 are compared at the recipe table's budget (configs/dfdc/: 3 epochs of dfdc/train),
# ResNet18 at SOLA's CPU time (its same-epoch row on dfdc/test is the recipe table's).
DFDC_SOLA=configs/dfdc/sola_supervised.json
RUN_ARGS[dfdc_sola_supervised]="--config $DFDC_SOLA"
RUN_ARGS[dfdc_resnet18_eqtime]="--config configs/dfdc/resnet18.json --set epochs=$(eqtime_epochs "$DFDC_SOLA")"
for n in dfdc_sola_supervised dfdc_resnet18_eqtime; do
  RUN_TRAIN[$n]="$DATA/dfdc/train/manifest.csv"
  RUN_VAL[$n]="$DATA/dfdc/val/manifest.csv"
  RUN_DATA[$n]="$DATA/dfdc/val/manifest.csv;$DATA/ffpp/test/manifest.csv;$DATA/dfdc/test/manifest.csv"
  GROUP_table5+=("$n")
done

ORDER=()
for g in ${GROUPS_TO_RUN:-table2 seeds ablations eqtime alltrain table5}; do
  eval "ORDER+=(\"\${GROUP_$g[@]}\")"
done
for name in ${ONLY:-"${ORDER[@]}"}; do
  [ -n "${RUN_ARGS[$name]+x}" ] || { echo "ffpp_protocol.sh: unknown run '$name'" >&2; exit 2; }
  [ -f "$KEEP/$name.eval.json" ] && continue  # finished (in this sitting or an earlier one)
  val=${RUN_VAL[$name]:-$DATA/ffpp/val/manifest.csv}
  data=${RUN_DATA[$name]:-$val;$DATA/ffpp/test/manifest.csv${RUN_EXTRA_DATA[$name]:-}}
  # shellcheck disable=SC2086
  run_kept "$name" "$RUNS/$name" "$KEEP" "$data" -- \
    "$SOLA" train ${RUN_ARGS[$name]} --train "${RUN_TRAIN[$name]:-$DATA/ffpp/train/manifest.csv}" \
    --val "$val" --out "$RUNS/$name" --threads "$THREADS"
done

# Table 5: the shipped DFDC model on ffpp/test, once (its figures are the model's; no training here).
[ -f models/sola-dfdc.pt ] && eval_once "$KEEP/dfdc_shipped.eval.json" --model models/sola-dfdc.pt --data "$DATA/ffpp/test/manifest.csv"
bash scripts/results_dfdc.sh --report
