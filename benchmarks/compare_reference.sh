#!/usr/bin/env bash
# sola against the PyTorch reference (reference/sola_ref.py) on this machine: inference, training,
# end-to-end detection, the AUC cost of bf16 and the convolution throughput as a fraction of the
# measured peak. Prints the Markdown tables of docs/PERFORMANCE.md on stdout (progress on stderr);
# the raw JSON lines stay in the work folder it names.
#
#   benchmarks/compare_reference.sh [--bin DIR] [--model FILE] [--data DIR] [--threads N]
#                                   [--repeats N] [--train-batch N] [--train-repeats N] [--crops N]
#                                   [--size N] [--quick] [--tables RESULTS.jsonl]
#
#   --bin DIR         where sola, sola_bench_forward, sola_bench_train, sola_bench_auc are (build/)
#   --model FILE      the trained model for the end-to-end and AUC rows (models/sola-dfdc.pt)
#   --data DIR        the shared data (../shared/data): dfdc/val/manifest.csv and its crops
#   --threads N       LibTorch / torch.set_num_threads threads for every run (default: nproc)
#   --repeats N       timed runs per inference figure (default 7; medians are reported)
#   --train-batch N   images per training step (default 32)
#   --crops N         images for the end-to-end rows (default 200: half real, half fake)
#   --size N          input side of the inference rows (default 256)
#   --train-sizes "A B"  input sides of the training rows (default "128 SIZE")
#   --train-only      only the training rows (and their table)
#   --quick           a smoke test: 2 repeats, 64 px, training batch 2, 20 crops (figures meaningless)
#   --tables FILE     only print the tables of an earlier run's results.jsonl
#
# Each sola-vs-reference figure comes from its own process (so peak memory is per configuration),
# sola and the reference alternating; the levers table comes from one process that interleaves its
# configurations. Every ratio is computed from figures of this one run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/build
MODEL=$ROOT/models/sola-dfdc.pt
DATA=$ROOT/../shared/data
THREADS=$(nproc)
REPEATS=7
TRAIN_BATCH=32
TRAIN_REPEATS=5
CROPS=200
SIZE=256
TRAIN_SIZES=
TRAIN_ONLY=
PY=${PYTHON:-/usr/bin/python3}
TABLES=
while [ $# -gt 0 ]; do
  case $1 in
    --tables) TABLES=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --train-batch) TRAIN_BATCH=$2; shift 2 ;;
    --train-repeats) TRAIN_REPEATS=$2; shift 2 ;;
    --crops) CROPS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --train-sizes) TRAIN_SIZES=$2; shift 2 ;;
    --train-only) TRAIN_ONLY=1; shift ;;
    --quick) REPEATS=2; TRAIN_BATCH=2; TRAIN_REPEATS=2; CROPS=20; SIZE=64; TRAIN_SIZES=64; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "compare_reference.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
# ---- the tables (from the JSON lines of a run) ----
print_tables() {  # RESULTS.jsonl [busy_start.txt]
"$PY" - "$1" "${2:-/dev/null}" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
busy = open(sys.argv[2]).read().strip()
def pick(**kw):
    # A figure taken with --dtype auto is asked for by dtype_requested="auto" only.
    auto = kw.get("dtype_requested") == "auto"
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items()) and (auto or r.get("dtype_requested") != "auto")]
def one(**kw):
    found = pick(**kw)
    return found[-1] if found else None
def f(x, d=1):
    return "–" if x is None else f"{x:.{d}f}"
def ratio(a, b):
    return "–" if a is None or b is None or b == 0 else f"**{a / b:.2f}x**"
m = one(bench="machine")
end = one(bench="machine_end")
threads = m["threads"]
print(f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores, bf16 ISA: {m['bf16_isa'].strip() or 'none'}), "
      f"{threads} threads everywhere, torch {m['torch']} (the same LibTorch under sola and the reference); "
      f"load average at start {m['load_start']}, at end {end['load_end']}.")
if busy:
    print("Other processes using the CPU at the start:\n```\n" + busy + "\n```")
print()
sections = [s for s in pick(bench="section") if not s["name"].startswith("raw results")]
if sections:
    print("Load average (1, 5, 15 min) when each part started, and other processes then above 20% of a core:\n")
    print("| part | time | load | other busy processes |")
    print("|---|---|---|---|")
    for s in sections:
        print(f"| {s['name']} | {s['time']} | {s['load']} | {s['busy'].strip() or '–'} |")
    print()
train_only = not pick(bench="infer")
if not train_only:
    size = one(bench="infer", impl="sola")["size"]
    print(f"### Inference, sola-r18 at {size}x{size} (random weights), images/s (median of {m['repeats']})\n")
    print("| batch | dtype | sola before (eager) | sola (prepared) | reference (eager) | **sola / reference** | reference channels-last | sola / ref. channels-last | peak RSS MiB sola / ref. |")
    print("|---|---|---|---|---|---|---|---|---|")
    for batch in (1, 32):
        for dtype in ("fp32", "bf16"):
            se = one(bench="infer", impl="sola", config="eager", batch=batch, dtype=dtype, threads=threads)
            sp = one(bench="infer", impl="sola", config="prepared", batch=batch, dtype=dtype, threads=threads)
            re = one(bench="infer", impl="reference", config="eager", batch=batch, dtype=dtype)
            rc = one(bench="infer", impl="reference", config="channels_last", batch=batch, dtype=dtype)
            g = lambda r: r and r["img_s"]
            mem = f"{f(sp and sp['peak_rss_mib'], 0)} / {f(re and re['peak_rss_mib'], 0)}"
            print(f"| {batch} | {dtype} | {f(g(se))} | {f(g(sp))} | {f(g(re))} | {ratio(g(sp), g(re))} | {f(g(rc))} | {ratio(g(sp), g(rc))} | {mem} |")
    print()
    print("### Inference levers (one process, configurations interleaved), speed-up over eager (median ms)\n")
    levers = ["eager", "inference_mode", "fold", "channels_last", "fold_channels_last", "prepared", "prepared_nhwc"]
    cols = [(1, "fp32"), (1, "bf16"), (32, "fp32"), (32, "bf16")]
    print("| lever | " + " | ".join(f"batch {b} {d}" for b, d in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for lv in levers:
        cells = []
        for b, d in cols:
            r = one(bench="levers", config=lv, batch=b, dtype=d)
            cells.append("–" if r is None else f"{r['speedup_vs_eager']:.2f}x ({r['median_ms']:.1f} ms)")
        print(f"| {lv} | " + " | ".join(cells) + " |")
    print()
    print(f"Threads (LibTorch defaults to 1 thread here; sola's configure_threads uses one per core), fp32, images/s:\n")
    print(f"| batch | config | 1 thread | {threads} threads | speed-up |")
    print("|---|---|---|---|---|")
    for b in (1, 32):
        for cfg in ("eager", "prepared"):
            r1 = one(bench="infer", impl="sola", config=cfg, batch=b, dtype="fp32", threads=1)
            rn = one(bench="infer", impl="sola", config=cfg, batch=b, dtype="fp32", threads=threads)
            if r1 and rn and threads != 1:
                print(f"| {b} | {cfg} | {f(r1['img_s'])} | {f(rn['img_s'])} | {ratio(rn['img_s'], r1['img_s'])} |")
    print()
print(f"### Training, one Adam step with the supervised loss, images/s\n")
print("`sola train` runs channels-last with precision=auto (its defaults): bf16 autocast on a CPU with native bf16 (AVX512-BF16 or AMX-BF16), fp32 elsewhere. "
      "The reference's best configuration is the fastest of its three on this machine.\n")
print("| size | config | batch | sola | reference | **sola / reference** | peak RSS MiB sola / ref. |")
print("|---|---|---|---|---|---|---|")
train_sizes = sorted({r["size"] for r in pick(bench="train")})
for sz in train_sizes:
    for cfg, dt in (("eager", "fp32"), ("channels_last", "fp32"), ("channels_last", "bf16")):
        s = one(bench="train", impl="sola", config=cfg, dtype=dt, size=sz)
        r = one(bench="train", impl="reference", config=cfg, dtype=dt, size=sz)
        if s:
            rs = f(r['img_s'], 2) if r else "–"
            print(f"| {sz} | {cfg.replace('_', '-')} {dt} | {s['batch']} | {f(s['img_s'], 2)} | {rs} | {ratio(s['img_s'], r['img_s']) if r else '–'} | {f(s['peak_rss_mib'], 0)} / {f(r['peak_rss_mib'], 0) if r else '–'} |")
print()
def best_reference(sz):
    found = pick(bench="train", impl="reference", size=sz)
    return max(found, key=lambda r: r["img_s"]) if found else None
auto_rows = [(sz, one(bench="train", impl="sola", dtype_requested="auto", size=sz)) for sz in train_sizes]
if any(a for _, a in auto_rows):
    print("`sola train`'s step on this machine (channels-last, precision=auto) against PyTorch's best configuration here:\n")
    print("| size | auto chose | sola img/s | reference best here | reference img/s | **sola / reference best** |")
    print("|---|---|---|---|---|---|")
    for sz, a in auto_rows:
        rb = best_reference(sz)
        if a:
            rname = f"{rb['config'].replace('_', '-')} {rb['dtype']}" if rb else "–"
            print(f"| {sz} | {a['dtype']} | {f(a['img_s'], 2)} | {rname} | {f(rb['img_s'], 2) if rb else '–'} | {ratio(a['img_s'], rb['img_s']) if rb else '–'} |")
    print()
print("Targets, as ratios of this run: sola's bf16 step against sola's fp32 step (both channels-last) and against the reference's best configuration.\n")
print("| size | sola bf16 / sola fp32 (target >= 2.0) | sola bf16 / reference channels-last bf16 (target >= 1.2) |")
print("|---|---|---|")
for sz in train_sizes:
    sb = one(bench="train", impl="sola", config="channels_last", dtype="bf16", size=sz)
    sf = one(bench="train", impl="sola", config="channels_last", dtype="fp32", size=sz)
    se = one(bench="train", impl="sola", config="eager", dtype="fp32", size=sz)
    rb = one(bench="train", impl="reference", config="channels_last", dtype="bf16", size=sz)
    if sb and sf:
        vs_eager = f" ({ratio(sb['img_s'], se['img_s'])} over eager fp32)" if se else ""
        print(f"| {sz} | {ratio(sb['img_s'], sf['img_s'])}{vs_eager} | {ratio(sb['img_s'], rb['img_s']) if rb else '–'} |")
print()
if not train_only:
    print("### End to end: scoring DFDC val face crops (128 px model), images/s (median of 3)\n")
    def med(rs, key):
        vals = [r[key] for r in rs if r.get(key) is not None]
        return statistics.median(vals) if vals else None
    sd = pick(bench="detect", impl="sola", dtype="fp32")
    sb = pick(bench="detect", impl="sola", dtype="bf16")
    rp = pick(bench="detect", impl="reference", decode="parity")
    rl = pick(bench="detect", impl="reference", decode="pil")
    n = sd[0]["images"] if sd else 0
    print(f"| | images/s (in-loop) | whole command, s | vs reference (parity decode) |")
    print("|---|---|---|---|")
    print(f"| `sola detect --crops --json` fp32 | {f(med(sd, 'img_s'))} | {f(med(sd, 'total_s'), 2)} | {ratio(med(sd, 'img_s'), med(rp, 'img_s'))} |")
    print(f"| `sola detect --crops --json --bf16` | {f(med(sb, 'img_s'))} | {f(med(sb, 'total_s'), 2)} | {ratio(med(sb, 'img_s'), med(rp, 'img_s'))} |")
    print(f"| reference, parity.py decoding (sola's exact pixels) | {f(med(rp, 'img_s'))} | {f(med(rp, 'total_s'), 2)} | 1.00x |")
    print(f"| reference, Pillow decoding (Image.BOX resize) | {f(med(rl, 'img_s'))} | {f(med(rl, 'total_s'), 2)} | {ratio(med(rl, 'img_s'), med(rp, 'img_s'))} |")
    agree = one(bench="detect_agreement")
    if agree:
        print(f"\n{n} crops; largest score difference sola vs reference: {agree['max_diff_parity']:.1e} with parity decoding, "
              f"{agree['max_diff_pil']:.3f} with Pillow's resize.")
    print()
    print("### What bf16 costs in accuracy (DFDC val, 1000 crops, the shipped model)\n")
    print("| run | frame AUC | video AUC | largest score change | images/s (incl. decoding) |")
    print("|---|---|---|---|---|")
    for r in pick(bench="auc"):
        print(f"| {r['run']} | {r['frame_auc']:.4f} | {r['video_auc']:.4f} | {r['max_score_diff']:.1e} | {r['img_s']:.1f} |")
    print("\n(One real and one fake crop per video here, so the video AUC equals the frame AUC.)")
    print()
    print("### Convolution throughput against the measured peak\n")
    print("| kernel | GFLOP/s |")
    print("|---|---|")
    peak = {r["kernel"]: r["gflop_s"] for r in pick(bench="peak")}
    for k, v in peak.items():
        print(f"| {k} | {v:.1f} |")
    fp32_peak = max([v for k, v in peak.items() if "fp32" in k] or [0])
    bf16_peak = max([v for k, v in peak.items() if "bf16" in k] or [0])
    print()
    print("| model run | GFLOP/image | images/s | GFLOP/s | fraction of the fp32 / bf16 peak |")
    print("|---|---|---|---|---|")
    for cfg in ("eager", "prepared"):
        for dtype in ("fp32", "bf16"):
            r = one(bench="infer", impl="sola", config=cfg, batch=32, dtype=dtype, threads=threads)
            if r and fp32_peak:
                gf = r["gflops_per_img"] * r["img_s"]
                pk = fp32_peak if dtype == "fp32" else bf16_peak
                print(f"| sola {cfg}, batch 32, {dtype} | {r['gflops_per_img']:.2f} | {r['img_s']:.1f} | {gf:.0f} | {100 * gf / pk:.0f}% of {pk:.0f} |")
EOF
}
if [ -n "$TABLES" ]; then print_tables "$TABLES"; exit 0; fi
[ -n "$TRAIN_SIZES" ] || TRAIN_SIZES="128 $SIZE"

needed="sola sola_bench_forward sola_bench_train sola_bench_auc"
[ -n "$TRAIN_ONLY" ] && needed=sola_bench_train
for exe in $needed; do
  [ -x "$BIN/$exe" ] || { echo "compare_reference.sh: $BIN/$exe not found (build it, or pass --bin)" >&2; exit 2; }
done
[ -f "$MODEL" ] || { echo "compare_reference.sh: model $MODEL not found" >&2; exit 2; }
VAL=$DATA/dfdc/val
[ -f "$VAL/manifest.csv" ] || { echo "compare_reference.sh: $VAL/manifest.csv not found" >&2; exit 2; }
"$PY" -c 'import torch, torchvision, PIL' 2>/dev/null || { echo "compare_reference.sh: $PY lacks torch/torchvision/Pillow" >&2; exit 2; }

WORK=$(mktemp -d /tmp/sola-compare-XXXXXX)
RESULTS=$WORK/results.jsonl
: > "$RESULTS"
# A section's start: on stderr, and with the load average and the other busy processes in the results
# (none of this script's own runs is alive at that moment).
log() {
  echo "[$(date +%H:%M:%S)] $*" >&2
  local busy
  busy=$(ps -eo pcpu,comm --sort=-pcpu | awk 'NR>1 && $1 > 20 {print $2}' | sort -u | tr '\n' ' ' || true)
  echo "{\"bench\": \"section\", \"name\": \"$*\", \"time\": \"$(date +%H:%M:%S)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"busy\": \"$busy\"}" >> "$RESULTS"
}
run() { "$@" | tee -a "$RESULTS" >&2; }  # every benchmark prints JSON lines

# ---- the machine ----
{
  echo "{\"bench\": \"machine\", \"cpu\": \"$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)\", \"cores\": $(nproc), \"threads\": $THREADS,"
  echo " \"bf16_isa\": \"$(grep -o -w 'avx512_bf16\|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')\","
  echo " \"torch\": \"$("$PY" -c 'import torch; print(torch.__version__)')\", \"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\","
  echo " \"load_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"model\": \"$MODEL\", \"repeats\": $REPEATS}"
} | "$PY" -c 'import json,sys; print(json.dumps(json.loads(sys.stdin.read())))' >> "$RESULTS"
ps -eo pcpu,args --sort=-pcpu | awk 'NR>1 && $1 > 5 {print}' | head -5 > "$WORK/busy_start.txt" || true

# ---- inference: one process per figure, sola and the reference alternating ----
if [ -z "$TRAIN_ONLY" ]; then
for batch in 1 32; do
  for dtype in fp32 bf16; do
    log "inference batch $batch $dtype"
    run "$BIN/sola_bench_forward" --mode one --config eager --batch $batch --dtype $dtype --threads "$THREADS" --repeats "$REPEATS" --size "$SIZE"
    run "$PY" "$ROOT/reference/bench.py" infer --batch $batch --dtype $dtype --threads "$THREADS" --repeats "$REPEATS" --size "$SIZE"
    run "$BIN/sola_bench_forward" --mode one --config prepared --batch $batch --dtype $dtype --threads "$THREADS" --repeats "$REPEATS" --size "$SIZE"
    run "$PY" "$ROOT/reference/bench.py" infer --batch $batch --dtype $dtype --threads "$THREADS" --repeats "$REPEATS" --size "$SIZE" --channels-last
  done
done
log "threads lever: 1 thread"
for batch in 1 32; do
  run "$BIN/sola_bench_forward" --mode one --config eager --batch $batch --dtype fp32 --threads 1 --repeats "$REPEATS" --size "$SIZE"
  run "$BIN/sola_bench_forward" --mode one --config prepared --batch $batch --dtype fp32 --threads 1 --repeats "$REPEATS" --size "$SIZE"
done
log "levers (interleaved, one process)"
run "$BIN/sola_bench_forward" --mode levers --batch 1,32 --dtype both --threads "$THREADS" --repeats "$REPEATS" --size "$SIZE" --json
fi

# ---- training: fp32 eager, channels-last fp32, channels-last bf16 (sola train's default), at the
# model size of the shipped model (128) and the paper's (SIZE, 256) ----
log "training, batch $TRAIN_BATCH"
for tsize in $TRAIN_SIZES; do
  for tcfg in "eager fp32" "channels-last fp32" "channels-last bf16"; do
    set -- $tcfg
    cl=(); [ "$1" = channels-last ] && cl=(--channels-last)
    run "$BIN/sola_bench_train" --batch "$TRAIN_BATCH" --threads "$THREADS" --repeats "$TRAIN_REPEATS" --size "$tsize" "${cl[@]}" --dtype "$2" --json
    run "$PY" "$ROOT/reference/bench.py" train --batch "$TRAIN_BATCH" --threads "$THREADS" --repeats "$TRAIN_REPEATS" --size "$tsize" "${cl[@]}" --dtype "$2"
  done
  # sola train's own step here (precision=auto: bf16 where this CPU has it natively, else fp32)
  run "$BIN/sola_bench_train" --batch "$TRAIN_BATCH" --threads "$THREADS" --repeats "$TRAIN_REPEATS" --size "$tsize" --channels-last --dtype auto --json
done

# ---- end to end: sola detect --crops on DFDC val crops vs the reference's own loop ----
if [ -z "$TRAIN_ONLY" ]; then
CROPDIR=$WORK/crops
mkdir -p "$CROPDIR"
half=$((CROPS / 2))
for f in $(ls "$VAL/real" | sort | head -n $half) ; do ln -s "$VAL/real/$f" "$CROPDIR/real_$f"; done
for f in $(ls "$VAL/fake" | sort | head -n $((CROPS - half))); do ln -s "$VAL/fake/$f" "$CROPDIR/fake_$f"; done
"$BIN/sola" export --model "$MODEL" --out "$WORK/model.export.pt" > /dev/null
for round in 1 2 3; do
  log "end to end, round $round"
  for dtype in fp32 bf16; do  # explicit: sola detect's default (auto) depends on the CPU
    t0=$(date +%s.%N)
    "$BIN/sola" detect --crops --json --precision $dtype --threads "$THREADS" --model "$MODEL" "$CROPDIR" > "$WORK/sola_detect.jsonl" 2> "$WORK/sola_detect.err"
    t1=$(date +%s.%N)
    rate=$(sed -n 's/.* \([0-9.]*\) inputs\/s.*/\1/p' "$WORK/sola_detect.err" | tail -n 1)
    echo "{\"bench\": \"detect\", \"impl\": \"sola\", \"dtype\": \"$dtype\", \"images\": $(wc -l < "$WORK/sola_detect.jsonl"), \"img_s\": $rate, \"total_s\": $("$PY" -c "print($t1 - $t0)")}" | tee -a "$RESULTS" >&2
    [ "$dtype" = fp32 ] && cp "$WORK/sola_detect.jsonl" "$WORK/sola_detect_fp32.jsonl"
  done
  for decode in parity pil; do
    t0=$(date +%s.%N)
    "$PY" "$ROOT/reference/bench.py" detect --export "$WORK/model.export.pt" --dir "$CROPDIR" --limit "$CROPS" \
        --threads "$THREADS" --decode $decode --print > "$WORK/ref_$decode.jsonl" 2> "$WORK/ref_$decode.err"
    t1=$(date +%s.%N)
    tail -n 1 "$WORK/ref_$decode.err" | "$PY" -c "import json,sys; d=json.loads(sys.stdin.read()); d['total_s']=$t1-$t0; print(json.dumps(d))" | tee -a "$RESULTS" >&2
  done
done
"$PY" - "$WORK/sola_detect_fp32.jsonl" "$WORK/ref_parity.jsonl" "$WORK/ref_pil.jsonl" >> "$RESULTS" <<'EOF'
import json, os, sys
def scores(path):
    return {os.path.basename(d["path"]): d["score"] for d in map(json.loads, open(path))}
sola, parity, pil = (scores(p) for p in sys.argv[1:4])
print(json.dumps({"bench": "detect_agreement", "images": len(sola),
                  "max_diff_parity": max(abs(sola[k] - parity[k]) for k in sola),
                  "max_diff_pil": max(abs(sola[k] - pil[k]) for k in sola)}))
EOF
rm -rf "$CROPDIR" "$WORK/model.export.pt"

# ---- accuracy of bf16 ----
log "AUC on $VAL/manifest.csv"
run "$BIN/sola_bench_auc" --model "$MODEL" --data "$VAL/manifest.csv" --threads "$THREADS" --json

# ---- the machine's peak ----
log "peak GFLOP/s"
run "$BIN/sola_bench_forward" --mode peak --threads "$THREADS" --repeats "$REPEATS" --json
fi

echo "{\"bench\": \"machine_end\", \"load_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$RESULTS"
echo "raw results: $RESULTS" >&2
print_tables "$RESULTS" "$WORK/busy_start.txt"
