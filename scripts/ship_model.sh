#!/usr/bin/env bash
# Ships a checkpoint as the model `sola detect` and `sola serve` use: models/sola-dfdc.pt, and writes
# its model card models/README.md (and the figures block of README.md) from what this script measures.
#   scripts/ship_model.sh CKPT METRICS COMMAND_FILE
#     CKPT          the checkpoint (chosen on the validation sets, e.g. runs/long/best.pt)
#     METRICS       its run's metrics.jsonl (epochs and training time for the card)
#     COMMAND_FILE  the file holding its run's training command
# Steps: export float16 with the crop scale of the DFDC training crops (1.2x the dlib face box); calibrate
# the float16 file (`sola calibrate`: Platt scaling of its logit fitted on dfdc/val + ffpp/val, stored in the
# file, so that `sola detect`, `serve` and `eval` report calibrated probabilities; the fit's line is kept as
# card/calibration.json) and ship the calibrated file; evaluate the checkpoint and the shipped file on
# dfdc/val, the pseudo-forgery validation set, ffpp/val, dfdc/test, ffpp/test and the gan-faces crops
# (card/eval.json; read-outs: the checkpoint was chosen before, on the validation sets, and the test sets
# never fit anything); read the shipped file out on dfdc/test and ffpp/test once more with its raw scores
# (`--no-calibration`: card/eval_raw.json, the ECE before calibration) and once calibrated at the threshold
# 0.9 (card/eval_at_0.9.json: its accuracy there gives the share of fakes caught at 0.9), that pass drawing
# the reliability diagram, raw and calibrated (docs/figures/reliability_shipped.png); draw where it looks
# (scripts/map_figure.sh -> docs/figures/maps_shipped.jpg); run the quickstart's photo and pseudo-forgery
# through `sola detect`, and FaceForensics++'s whole c23 videos (ffpp-videos, when the data has them:
# card/ffpp_videos.jsonl); keep every figure in models/card/ and generate the card from them
# (scripts/make_model_card.py). The shipped file and the figures are replaced only after all steps passed.
#   SOLA_BIN (./build/sola), SOLA_DATA (../shared/data), THREADS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 3 ] || { echo "usage: scripts/ship_model.sh CKPT METRICS COMMAND_FILE" >&2; exit 2; }
CKPT=$1 METRICS=$2 COMMAND_FILE=$3
for f in "$CKPT" "$METRICS" "$COMMAND_FILE"; do
  [ -f "$f" ] || { echo "ship_model.sh: $f: no such file" >&2; exit 2; }
done
DATA=${SOLA_DATA:-../shared/data}
SOLA=${SOLA_BIN:-./build/sola}
THREADS=${THREADS:-2}
CARD=models/card
CROP_SCALE=1.2
. scripts/eval_sets.sh
PSEUDO_MANIFEST=$(pseudo_val_manifest)
GAN_MANIFEST=$(gan_crops_manifest)

STAGE=$(mktemp -d runs/ship.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/card"
# The checkpoint's epoch and its run's epochs up to it.
"$SOLA" info --model "$CKPT" > "$STAGE/card/checkpoint_info.json"
epoch=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["train_state"]["epoch"])' \
  "$STAGE/card/checkpoint_info.json")
"$SOLA" runs --json "$(dirname "$METRICS")" | /usr/bin/python3 -c 'import json, sys
for line in json.load(sys.stdin)[0]["epochs"]:  # one line per epoch (sola runs)
    if line["epoch"] <= int(sys.argv[1]):
        print(json.dumps(line))' "$epoch" > "$STAGE/card/epochs.jsonl"
cp "$COMMAND_FILE" "$STAGE/card/command.txt"

echo "== export float16 ($CKPT, epoch $epoch)" >&2
mkdir -p "$STAGE/export"
"$SOLA" export --model "$CKPT" --out "$STAGE/export/sola-dfdc.pt" --format sola --half --crop-scale "$CROP_SCALE" \
  --note "sola-dfdc: exported from $CKPT (epoch $epoch) by scripts/ship_model.sh; see models/README.md" \
  > "$STAGE/card/export.json"

echo "== calibrate the float16 file: Platt scaling on dfdc/val + ffpp/val (validation sets only)" >&2
"$SOLA" calibrate --model "$STAGE/export/sola-dfdc.pt" --data "$DATA/dfdc/val/manifest.csv" \
  --data "$DATA/ffpp/val/manifest.csv" --out "$STAGE/sola-dfdc.pt" --half --threads "$THREADS" --precision fp32 \
  > "$STAGE/card/calibration.json"
rm -rf "$STAGE/export"
"$SOLA" info --model "$STAGE/sola-dfdc.pt" > "$STAGE/card/info.json"

TESTS=(--data "$DATA/dfdc/test/manifest.csv" --data "$DATA/ffpp/test/manifest.csv")
echo "== read-outs: the checkpoint and the shipped file on val, pseudo-val, ffpp/val, dfdc/test, ffpp/test, gan-faces" >&2
"$SOLA" eval --model "$CKPT" --model "$STAGE/sola-dfdc.pt" --data "$DATA/dfdc/val/manifest.csv" \
  --data "$PSEUDO_MANIFEST" --data "$DATA/ffpp/val/manifest.csv" "${TESTS[@]}" --data "$GAN_MANIFEST" \
  --threads "$THREADS" --precision fp32 --json "$STAGE/card/eval.json" >&2

echo "== the shipped file's raw scores on dfdc/test and ffpp/test (--no-calibration: ECE before calibration)" >&2
"$SOLA" eval --model "$STAGE/sola-dfdc.pt" "${TESTS[@]}" --no-calibration --threads "$THREADS" --precision fp32 \
  --json "$STAGE/card/eval_raw.json" >&2

echo "== reliability diagram of the shipped file on dfdc/test and ffpp/test (raw and calibrated), accuracy at 0.9" >&2
"$SOLA" eval --model "$STAGE/sola-dfdc.pt" "${TESTS[@]}" --threshold 0.9 --threads "$THREADS" --precision fp32 \
  --json "$STAGE/card/eval_at_0.9.json" --reliability "$STAGE/reliability" >&2
mv "$STAGE/reliability/reliability_sola-dfdc.png" "$STAGE/reliability_shipped.png"  # sola eval names it after the model

echo "== where it looks: heat maps of dfdc/val and gan-faces crops" >&2
SOLA_BIN=$SOLA SOLA_DATA=$DATA THREADS=$THREADS TITLE="models/sola-dfdc.pt (from $CKPT, epoch $epoch)" \
  bash scripts/map_figure.sh "$STAGE/sola-dfdc.pt" "$STAGE/maps_shipped.jpg"

echo "== the quickstart's photo and pseudo-forgery" >&2
SOLA_BIN=$SOLA SOLA_MODEL=$STAGE/sola-dfdc.pt bash scripts/quickstart.sh --no-install --json "$STAGE/card/quickstart.jsonl" \
  "$STAGE/quickstart" >&2

if [ -d "$DATA/ffpp-videos" ]; then
  echo "== whole videos: sola detect on FaceForensics++'s c23 originals and fakes (ffpp-videos)" >&2
  "$SOLA" detect --model "$STAGE/sola-dfdc.pt" --json --threads "$THREADS" --precision fp32 "$DATA/ffpp-videos" |
    /usr/bin/python3 -c 'import json, sys
for line in sys.stdin:  # each video'"'"'s verdict and aggregation; its per-frame faces and timeline stay out of the card
    v = json.loads(line)
    print(json.dumps({k: x for k, x in v.items() if k not in ("faces", "timeline")}))' > "$STAGE/card/ffpp_videos.jsonl"
fi

# Every figure the card needs is there, the calibration's included.
/usr/bin/python3 scripts/make_model_card.py "$STAGE/card" --check --calibrated
rm -rf "$CARD.new" && cp -r "$STAGE/card" "$CARD.new"
mv "$STAGE/sola-dfdc.pt" models/sola-dfdc.pt
mv "$STAGE/maps_shipped.jpg" docs/figures/maps_shipped.jpg
mv "$STAGE/reliability_shipped.png" docs/figures/reliability_shipped.png
rm -rf "$CARD" && mv "$CARD.new" "$CARD"
/usr/bin/python3 scripts/make_model_card.py "$CARD" --readme README.md > models/README.md
echo "shipped $CKPT (epoch $epoch) as models/sola-dfdc.pt; card models/README.md (commit models/, README.md, docs/figures/maps_shipped.jpg and docs/figures/reliability_shipped.png)" >&2
