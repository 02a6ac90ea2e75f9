#!/usr/bin/env bash
# Calibration read-out (issue 27, "scores that mean something"): fits Platt scaling of a model's logit on
# the validation sets (dfdc/val + ffpp/val: `sola calibrate`), then scores dfdc/test and ffpp/test with the
# raw and with the calibrated scores (`sola eval --no-calibration` and `sola eval`) and keeps both reports:
# expected calibration error, the false-positive rate at 0.5 and 0.9 and the reliability bins, before and
# after, and the reliability diagram of both test sets, raw and calibrated, from the second pass (`sola eval
# --reliability`: a calibrated model's raw sigmoid and calibrated score come from the same logits). The test
# sets are read-outs: the fit sees only the validation sets.
#   scripts/calibration.sh [MODEL]   (default models/sola-dfdc.pt) -> results/calibration/NAME.{fit,before,after}.json
#                                    and docs/figures/reliability_NAME.png
#   SOLA_BIN (./build/sola), SOLA_DATA (../shared/data), THREADS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/sola-dfdc.pt}
DATA=${SOLA_DATA:-../shared/data}
SOLA=${SOLA_BIN:-./build/sola}
THREADS=${THREADS:-2}
[ -f "$MODEL" ] || { echo "calibration.sh: no model file $MODEL" >&2; exit 1; }
NAME=$(basename "$MODEL" .pt)
KEEP=results/calibration
FIGURES=runs/calibration/figures
mkdir -p "$KEEP" "$FIGURES" docs/figures
CALIBRATED=runs/calibration/$NAME-calibrated.pt
"$SOLA" calibrate --model "$MODEL" --data "$DATA/dfdc/val/manifest.csv" --data "$DATA/ffpp/val/manifest.csv" \
  --out "$CALIBRATED" --threads "$THREADS" --precision fp32 > "$KEEP/$NAME.fit.json.tmp"
mv "$KEEP/$NAME.fit.json.tmp" "$KEEP/$NAME.fit.json"
TESTS=(--data "$DATA/dfdc/test/manifest.csv" --data "$DATA/ffpp/test/manifest.csv")
"$SOLA" eval --model "$CALIBRATED" "${TESTS[@]}" --no-calibration --threads "$THREADS" --precision fp32 \
  --json "$KEEP/$NAME.before.json.tmp" >&2
mv "$KEEP/$NAME.before.json.tmp" "$KEEP/$NAME.before.json"
"$SOLA" eval --model "$CALIBRATED" "${TESTS[@]}" --threads "$THREADS" --precision fp32 \
  --json "$KEEP/$NAME.after.json.tmp" --reliability "$FIGURES" >&2
mv "$KEEP/$NAME.after.json.tmp" "$KEEP/$NAME.after.json"
# sola eval names the file after the model it scored ($CALIBRATED); the figure is the model's.
mv "$FIGURES/reliability_$(basename "$CALIBRATED" .pt).png" "docs/figures/reliability_$NAME.png"
echo "wrote docs/figures/reliability_$NAME.png" >&2
/usr/bin/python3 - "$KEEP" "$NAME" <<'PY'
import json, sys
keep, name = sys.argv[1:]
fit = json.load(open(f"{keep}/{name}.fit.json"))["calibration"]
print(f"Platt scaling fitted on {', '.join(fit['fitted_on'])} ({fit['samples']} faces): a = {fit['a']:.4f}, b = {fit['b']:.4f}")
for label in ("before", "after"):
    for c in json.load(open(f"{keep}/{name}.{label}.json")):
        print(f"{label:6} {c['data']:10} AUC {100 * c['frame']['auc']:.2f}  ECE {100 * c['ece']:.2f}  "
              f"FPR@0.5 {100 * c['fpr_at_0.5']:.2f}  FPR@0.9 {100 * c['fpr_at_0.9']:.2f}  ACC@0.5 {100 * c['frame']['acc']:.2f}")
PY
