# shellcheck shell=bash
# The evaluation sets the results scripts share, made once into runs/ (sourced, not run):
#   pseudo_val_manifest   prints the pseudo-forgery validation set's manifest, making it first: the
#                         dfdc/val reals and one self-blended fake of each (`sola synth`, seed fixed)
#   gan_crops_manifest    prints the manifest of the gan-faces face crops, making them first: faces cut
#                         with sola's detector at the scale of the DFDC training crops (1.2x the dlib
#                         box, models/README.md), 224 px like them, lossless
#   eval_once FILE ARGS   `sola eval ARGS` (fp32, THREADS) into FILE unless it exists: the cache of every read-out
#   data_args "A;B"       the --data arguments of ";"-separated manifests, one per line
#   degraded_val OUT MODEL CACHE_PREFIX
#                         MODEL on dfdc/val and ffpp/val under each degradation of issue 27's robustness
#                         target (ROBUST_PERTURBS), one cached evaluation each (CACHE_PREFIX.perturb-P.json),
#                         gathered into OUT: [{"perturb", "data", "auc"}] (chosen on, like the AUC)
#   run_kept NAME OUT KEEP DATA [--best-only] -- TRAIN_COMMAND...
#                         one run of a results table: trains OUT with the command unless OUT/done.json
#                         says it finished (resuming from OUT/last.pt), evaluates OUT/best.pt (chosen on
#                         --val) and OUT/last.pt (not with --best-only) on the manifests of DATA
#                         (";"-separated), and copies the
#                         run's small files (command, config.json, metrics.jsonl, done.json, the
#                         evaluation) into KEEP, the committed folder the tables are made from
# They need SOLA (the sola binary), DATA (../shared/data) and THREADS set by the caller. gan-faces is a
# report set: read out, never trained or chosen on.
PSEUDO_VAL=runs/pseudo-val
GAN_CROPS=runs/dfdc/gan-faces-crops

pseudo_val_manifest() {
  if [ ! -f "$PSEUDO_VAL/manifest.csv" ] || [ ! -f "$PSEUDO_VAL.synth.json" ]; then
    echo "== synth: the pseudo-forgery validation set into $PSEUDO_VAL" >&2
    mkdir -p "$(dirname "$PSEUDO_VAL")"
    "$SOLA" synth --manifest "$DATA/dfdc/val/manifest.csv" --out "$PSEUDO_VAL" --per-image 1 --seed 20261201 \
      --json > "$PSEUDO_VAL.synth.json.tmp"
    mv "$PSEUDO_VAL.synth.json.tmp" "$PSEUDO_VAL.synth.json"
  fi
  echo "$PSEUDO_VAL/manifest.csv"
}

gan_crops_manifest() {
  if [ ! -f "$GAN_CROPS.prepare.json" ]; then
    echo "== prepare: face crops of gan-faces into $GAN_CROPS" >&2
    mkdir -p "$(dirname "$GAN_CROPS")"
    "$SOLA" prepare --real "$DATA/gan-faces/real" --fake "$DATA/gan-faces/fake" --out "$GAN_CROPS" --scale 1.2 \
      --size 224 --format png --json > "$GAN_CROPS.prepare.json.tmp"
    mv "$GAN_CROPS.prepare.json.tmp" "$GAN_CROPS.prepare.json"
  fi
  ls "$GAN_CROPS"/*/manifest.csv | head -n 1
}

eval_once() {  # FILE SOLA_EVAL_ARGS...: `sola eval ARGS --json FILE` (fp32) unless FILE exists; written whole
  local file=$1
  shift
  [ -f "$file" ] && return 0
  "$SOLA" eval "$@" --threads "$THREADS" --precision fp32 --json "$file.tmp" >&2
  mv "$file.tmp" "$file"
}

data_args() {  # "A;B;..." -> one "--data" and one manifest per line (mapfile -t ARR < <(data_args ...))
  local manifests=() m
  IFS=';' read -ra manifests <<< "$1"
  for m in "${manifests[@]}"; do printf -- '--data\n%s\n' "$m"; done
}

# The degradations of issue 27's robustness target, each kept at frame AUC >= 0.85 on both test sets.
ROBUST_PERTURBS=(blur:1 downscale:0.5 noise:4 jpeg:50 sharpen:1)

degraded_val() {  # OUT MODEL CACHE_PREFIX
  local out=$1 model=$2 prefix=$3 p files=()
  for p in "${ROBUST_PERTURBS[@]}"; do
    files+=("$prefix.perturb-$p.json")
    eval_once "$prefix.perturb-$p.json" --model "$model" --data "$DATA/dfdc/val/manifest.csv" \
      --data "$DATA/ffpp/val/manifest.csv" --perturb "$p"
  done
  /usr/bin/python3 - "$out.tmp" "${files[@]}" <<'PY'
import json, sys
rows = []
for path in sys.argv[2:]:
    perturb = path.rsplit(".perturb-", 1)[1][:-len(".json")]
    for r in json.load(open(path)):
        rows.append({"perturb": perturb, "data": r["data"], "auc": r["frame"]["auc"]})
json.dump(rows, open(sys.argv[1], "w"), indent=1)
PY
  mv "$out.tmp" "$out"
}

run_kept() {
  local name=$1 out=$2 keep=$3 data=$4 models=(--model "$2/best.pt" --model "$2/last.pt")
  shift 4
  [ "$1" = --best-only ] && { models=(--model "$out/best.pt"); shift; }
  shift  # --
  if [ ! -f "$out/done.json" ]; then
    local resume=()
    if [ -f "$out/last.pt" ]; then
      resume=(--resume)
    elif [ -f "$out/config.json" ]; then
      resume=(--overwrite)  # stopped before its first checkpoint: nothing to resume from, start it again
    fi
    echo "== $name: $* ${resume[*]}" >&2
    "$@" "${resume[@]}" > "$out.train.json.tmp"
    printf '%s\n' "$*" > "$out.command.txt"
    mv "$out.train.json.tmp" "$out/done.json"
  fi
  local sets=()
  mapfile -t sets < <(data_args "$data")
  eval_once "$out.eval.json" "${models[@]}" "${sets[@]}"
  mkdir -p "$keep/$name"
  cp "$out/config.json" "$out/metrics.jsonl" "$out/done.json" "$keep/$name/"
  cp "$out.command.txt" "$out.eval.json" "$keep/"
}
