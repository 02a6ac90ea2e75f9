#!/usr/bin/env bash
# The long run (docs/RESULTS.md, "The long run"): SOLA on all the DFDC training crops
# (dfdc/train + dfdc/train-extra, 22,000) with the recipe below, validated every epoch on dfdc/val
# (chooses best.pt) and on the pseudo-forgery validation set (the dfdc/val reals and one
# self-blended fake of each, made once with a fixed seed by `sola synth`).
#
# It outlives one sitting of a 2-core machine, and only what is committed survives a sitting, so:
#   scripts/long_run.sh           trains, carrying on from wherever the run stands:
#                                 RUNS/last.pt (same sitting: exact --resume), else the committed
#                                 compact state models/longrun/state.pt (--continue: fp16 weights,
#                                 position, best; Adam anew with a one-epoch warm-up), else from scratch
#   scripts/long_run.sh --readout [CKPT]  evaluates CKPT (RUNS/best.pt) on val, pseudo-val, dfdc/test and
#                                 gan-faces into models/longrun/evals.jsonl (when shipping; never to choose)
#   scripts/long_run.sh --ship [CKPT]     ships CKPT (RUNS/best.pt) as models/sola-dfdc.pt with its model card
#                                 (scripts/ship_model.sh) and appends its read-out to evals.jsonl
#   scripts/long_run.sh --save    writes the compact state of RUNS/last.pt (its position: epoch and
#                                 step) and the log into models/longrun/ (about 12 MB: commit it); once
#                                 the run has stopped itself (patience: a stop line in its log), the log
#                                 alone, and the state is removed: the run has ended, a later start says so
# Run it in the background with `nice -n 19`; kill it any time: checkpoints are written every 100
# steps and at each epoch's end.
#   VARIANT=resnet18 scripts/long_run.sh [--readout|--save]
#                                 the baseline's long run: the plain ResNet18 (classifier BCE) with the
#                                 same recipe and stopping rule, in runs/long-resnet18 and
#                                 models/longrun-resnet18, given the same compute as SOLA's 50 epochs: its
#                                 step is cheaper (results/recipe/costs.json), so it gets that many more
#                                 epochs. Never shipped.
#   VARIANT=sources scripts/long_run.sh [--readout|--save|--ship|--validate [CKPT]]
#                                 issue 27's long run (shipped by --ship like sola's): SOLA fine-tuned from the shipped model on every
#                                 source in its share (configs/sources/long_run.json: the winner of
#                                 scripts/recipe_sources.sh's runs at equal CPU time), chosen on dfdc/val
#                                 and ffpp/val pooled, in runs/long-sources and models/longrun-sources;
#                                 --validate: CKPT's (best.pt's) combined validation, both sets as they are
#                                 and degraded, into models/longrun-sources/validation.jsonl (RESULTS.md
#                                 compares it with the shipped model's: ship when ahead)
#   RUNS (default runs/long), SOLA_DATA (../shared/data), SOLA_BIN (./build/sola: use a copy so that
#   rebuilds do not touch the running binary), THREADS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
VARIANT=${VARIANT:-sola}
case $VARIANT in
  sola) RUNS=${RUNS:-runs/long}; STATE=models/longrun ;;
  resnet18) RUNS=${RUNS:-runs/long-resnet18}; STATE=models/longrun-resnet18 ;;
  sources) RUNS=${RUNS:-runs/long-sources}; STATE=models/longrun-sources ;;
  *) echo "long_run.sh: unknown VARIANT '$VARIANT' (sola, resnet18 or sources)" >&2; exit 2 ;;
esac
DATA=${SOLA_DATA:-../shared/data}
SOLA=${SOLA_BIN:-./build/sola}
THREADS=${THREADS:-2}
# The recipe: configs/long_run.json (128 px and G = 8: the size at which the CPU makes 50 epochs of
# 22,000 crops possible over a few sittings; patience 5: stop when neither validation AUC has improved
# over the last 5 epochs).
RECIPE=(--config configs/long_run.json)
if [ "$VARIANT" = resnet18 ]; then
  # The same compute as SOLA's 50 epochs: 50 x (the baseline's images per second / SOLA's), from the
  # training step of each measured once (results/recipe/costs.json, scripts/recipe_dfdc.sh).
  epochs=$(/usr/bin/python3 - results/recipe/costs.json <<'PY'
import json, sys
ips = {(r["variant"], r["size"], r["grid"]): r["img_s"] for r in map(json.loads, filter(str.strip, open(sys.argv[1])))}
print(round(50 * ips[("resnet18", 128, 8)] / ips[("sola-r18", 128, 8)]))
PY
)
  RECIPE=(--config configs/long_run_resnet18.json --set epochs="$epochs")
fi
TRAIN=(--train "$DATA/dfdc/train/manifest.csv" --train "$DATA/dfdc/train-extra/manifest.csv")
VAL=(--val "$DATA/dfdc/val/manifest.csv")
if [ "$VARIANT" = sources ]; then
  # Every source, in the order of the recipe's source_weights (scripts/recipe_sources.sh); best.pt follows
  # dfdc/val and ffpp/val pooled, each also logged alone.
  RECIPE=(--config configs/sources/long_run.json)
  TRAIN+=(--train "$DATA/ffpp/train/manifest.csv" --train "$DATA/faces-real/utkface/manifest.csv")
  VAL+=(--val "$DATA/ffpp/val/manifest.csv" --val-extra "dfdc=$DATA/dfdc/val/manifest.csv"
        --val-extra "ffpp=$DATA/ffpp/val/manifest.csv")
fi
. scripts/eval_sets.sh  # the pseudo-forgery validation set and the gan-faces crops

# The reason a run gives for its early stop (`sola train` with patience: `sola runs`), or nothing.
stop_reason() {  # RUN_DIR (config.json, metrics.jsonl)
  [ -f "$1/metrics.jsonl" ] || return 0
  "$SOLA" runs --json "$1" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["stop_reason"] or "")'
}

if [ "${1:-}" = "--save" ]; then
  [ -f "$RUNS/last.pt" ] || { echo "long_run.sh: no $RUNS/last.pt to save" >&2; exit 1; }
  mkdir -p "$STATE"
  ended=$(stop_reason "$RUNS")
  if [ -n "$ended" ]; then
    # The run has ended by its stopping rule: nothing is left to continue, so its log is kept and its
    # compact state removed (its best weights are what --ship ships; commit the removal).
    rm -f "$STATE/state.pt" "$STATE/export.json"
    echo "long_run.sh: the run has ended ($ended); its log is saved and $STATE/state.pt removed" >&2
  else
    "$SOLA" export --model "$RUNS/last.pt" --out "$STATE/state.pt" --format sola --half --keep-train-state \
      --note "long run state (scripts/long_run.sh)" > "$STATE/export.json"
  fi
  cp "$RUNS/metrics.jsonl" "$STATE/metrics.jsonl"
  cp "$RUNS/config.json" "$STATE/config.json"
  printf '%s\n' "$(cat "$RUNS.command.txt")" > "$STATE/command.txt"
  if [ -n "$ended" ]; then
    echo "saved the log of $RUNS into $STATE (commit it)" >&2
  else
    echo "saved $RUNS/last.pt into $STATE (commit it)" >&2
  fi
  exit 0
fi

# The line of models/longrun/evals.jsonl for checkpoint CKPT, from the rows of EVAL_JSON (sola eval --json)
# of its first model: CKPT (--readout evaluates it alone, ship_model.sh first and then its float16 export).
readout_line() {  # EVAL_JSON CKPT [EXTRA_JSON]
  /usr/bin/python3 - "$1" "$2" "${3:-}" "$SOLA" <<'PY'
import json, subprocess, sys
sys.path.insert(0, "scripts")
from make_results import report_set
path, ckpt, extra, sola = sys.argv[1:5]
rows = json.load(open(path))
name = rows[0]["model"]
auc = {}
for r in rows:
    key = report_set(r["data"])
    if r["model"] == name and key:
        auc[key] = r["frame"]["auc"]
        if "map" in r:  # the second-order maps' peak alone (SOLA models)
            auc[key + "_map"] = r["map"]["auc"]
info = json.loads(subprocess.run([sola, "info", "--model", ckpt], capture_output=True, text=True, check=True).stdout)
state = info.get("metadata", {}).get("train_state", {})
keys = ("val", "pseudo_val", "test", "gan") + tuple(k for k in ("ffpp_val", "ffpp_test") if k in auc)
print(json.dumps({"checkpoint": ckpt, "epoch": state.get("epoch"), **{k: auc.get(k) for k in keys},
                  **{k: v for k, v in auc.items() if k.endswith("_map")},
                  **(json.loads(extra) if extra else {})}))
PY
}

if [ "${1:-}" = "--readout" ]; then
  # Evaluates a checkpoint (default RUNS/best.pt) on both validation sets and on the report sets
  # (dfdc/test, the gan-faces crops of scripts/eval_sets.sh) and appends the line to
  # models/longrun/evals.jsonl: done when a checkpoint is considered for shipping, never to choose one.
  ckpt=${2:-$RUNS/best.pt}
  GAN_MANIFEST=$(gan_crops_manifest)
  ffpp=()  # the sources run learns from FF++ too: its validation and test sets are read out beside DFDC's
  [ "$VARIANT" = sources ] && ffpp=(--data "$DATA/ffpp/val/manifest.csv" --data "$DATA/ffpp/test/manifest.csv")
  "$SOLA" eval --model "$ckpt" --data "$DATA/dfdc/val/manifest.csv" --data "$(pseudo_val_manifest)" \
    --data "$DATA/dfdc/test/manifest.csv" --data "$GAN_MANIFEST" "${ffpp[@]}" --threads "$THREADS" --precision fp32 \
    --json "$RUNS/readout.json" >&2
  mkdir -p "$STATE"
  readout_line "$RUNS/readout.json" "$ckpt" >> "$STATE/evals.jsonl"
  tail -n 1 "$STATE/evals.jsonl"
  exit 0
fi

if [ "${1:-}" = "--validate" ]; then
  # Issue 27's combined validation of a checkpoint (default RUNS/best.pt): dfdc/val and ffpp/val as they are and
  # under each degradation of the robustness target (scripts/eval_sets.sh, degraded_val), in float32, as a line
  # of STATE/validation.jsonl (one per epoch: a later one replaces it). Validation sets only: it chooses.
  [ "$VARIANT" = sources ] || { echo "long_run.sh: --validate is the sources run's (VARIANT=sources)" >&2; exit 2; }
  ckpt=${2:-$RUNS/best.pt}
  [ -f "$ckpt" ] || { echo "long_run.sh: $ckpt: no such checkpoint" >&2; exit 1; }
  epoch=$("$SOLA" info --model "$ckpt" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["metadata"]["train_state"]["epoch"])')
  cache=$RUNS-validate/epoch$epoch
  mkdir -p "$RUNS-validate"
  [ -f "$cache.pt" ] || { cp "$ckpt" "$cache.pt.tmp" && mv "$cache.pt.tmp" "$cache.pt"; }  # best.pt may move on meanwhile
  eval_once "$cache.clean.json" --model "$cache.pt" --data "$DATA/dfdc/val/manifest.csv" --data "$DATA/ffpp/val/manifest.csv"
  degraded_val "$cache.degraded.json" "$cache.pt" "$cache"
  mkdir -p "$STATE"
  touch "$STATE/validation.jsonl"
  /usr/bin/python3 - "$STATE/validation.jsonl" "$ckpt" "$epoch" "$cache.clean.json" "$cache.degraded.json" <<'PY'
import json, sys
sys.path.insert(0, "scripts")
from make_results import report_set
path, ckpt, epoch, clean, degraded = sys.argv[1:6]
auc = {report_set(r["data"]) or r["data"]: r["frame"]["auc"] for r in json.load(open(clean))}
line = {"checkpoint": ckpt, "epoch": int(epoch), "dfdc_val": auc.get("val"), "ffpp_val": auc.get("ffpp_val"),
        "degraded": json.load(open(degraded))}
lines = [l for l in (json.loads(x) for x in open(path) if x.strip()) if l.get("epoch") != line["epoch"]]
with open(path + ".tmp", "w") as f:
    for l in sorted(lines + [line], key=lambda l: l["epoch"]):
        f.write(json.dumps(l) + "\n")
PY
  mv "$STATE/validation.jsonl.tmp" "$STATE/validation.jsonl"
  tail -n 1 "$STATE/validation.jsonl" | cut -c1-300
  exit 0
fi

if [ "${1:-}" = "--ship" ]; then
  [ "$VARIANT" != resnet18 ] || { echo "long_run.sh: the $VARIANT baseline is not shipped (--readout reads it out)" >&2; exit 2; }
  # Ships a checkpoint (default RUNS/best.pt, the best on dfdc/val so far) as models/sola-dfdc.pt with its
  # model card (scripts/ship_model.sh), from a copy in RUNS-ship/ (the run may replace best.pt meanwhile),
  # and appends its read-out to models/longrun/evals.jsonl.
  ckpt=${2:-$RUNS/best.pt}
  mkdir -p "$RUNS-ship"
  snap=$RUNS-ship/$(basename "$ckpt")
  cp "$ckpt" "$snap.tmp" && mv "$snap.tmp" "$snap"
  if [ "$VARIANT" = sources ]; then  # the shipped epoch's combined validation: what later checkpoints must beat
    VARIANT=$VARIANT RUNS=$RUNS SOLA_BIN=$SOLA SOLA_DATA=$DATA THREADS=$THREADS bash scripts/long_run.sh --validate "$snap"
  fi
  SOLA_BIN=$SOLA SOLA_DATA=$DATA THREADS=$THREADS bash scripts/ship_model.sh "$snap" "$RUNS/metrics.jsonl" "$RUNS.command.txt"
  mkdir -p "$STATE"
  readout_line models/card/eval.json "$snap" '{"shipped": true}' >> "$STATE/evals.jsonl"
  tail -n 1 "$STATE/evals.jsonl"
  exit 0
fi

PSEUDO_MANIFEST=$(pseudo_val_manifest)
mkdir -p "$RUNS"
how=()
if [ ! -f "$RUNS/last.pt" ] && [ ! -f "$STATE/state.pt" ] && [ -n "$(stop_reason "$STATE")" ]; then
  echo "long_run.sh: the $VARIANT long run has ended: $(stop_reason "$STATE")" >&2
  exit 0
fi
if [ -f "$RUNS/last.pt" ]; then
  how=(--resume)
elif [ -f "$STATE/state.pt" ]; then
  cp "$STATE/metrics.jsonl" "$RUNS/metrics.jsonl"
  how=(--continue "$STATE/state.pt")
elif [ -f "$RUNS/config.json" ]; then
  how=(--overwrite)  # a first start stopped before its first checkpoint: nothing to carry on from, start it again
fi
cmd=("$SOLA" train "${RECIPE[@]}" "${TRAIN[@]}" "${VAL[@]}"
     --val-extra "pseudo=$PSEUDO_MANIFEST" --out "$RUNS" --threads "$THREADS")
printf '%s\n' "${cmd[*]}" > "$RUNS.command.txt"
echo "== long run: ${cmd[*]} ${how[*]}" >&2
"${cmd[@]}" "${how[@]}"
