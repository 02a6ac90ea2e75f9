#!/usr/bin/env bash
# Training on a lent GPU machine in one command (docs/TRAINING.md, "Training on an H200").
#
#   bash scripts/gpu_train.sh --pack        here: pack/ = the data bundles and the headers the GPU
#                                           machine lacks, within the size that travels (64 MiB)
#   OUT=dir bash scripts/gpu_train.sh       there: build against its CUDA LibTorch without OpenCV,
#                                           train (256 px, bf16 on a GPU that has it (precision=auto),
#                                           channels-last; batch size and
#                                           epochs from measured speed), validate on dfdc/val,
#                                           write the results into $OUT
#   OUT=dir bash scripts/gpu_train.sh --rehearse
#                                           here: the same steps on the CPU with a tiny bundle:
#                                           packing, a build without OpenCV against the CPU
#                                           LibTorch (build-rehearse/), a few steps, validation,
#                                           the same files in $OUT
#
# $OUT gets (at most 8 files): sola-dfdc-gpu.pt (float16 model of the best epoch), metrics.jsonl,
# config.json, summary.json (one JSON line: images/s, GPU memory, seconds of each phase, data-wait
# share, validation AUC) and run.log (with the build's output).
# Environment: SOLA_DATA (default ../shared/data), PACK (default pack), GPU_MINUTES (the whole
# command's time on the GPU machine, default 9), SOLA (the OpenCV build's sola for packing,
# default build/sola, built when missing), SOLA_TORCH_DIRECT=1 (link LibTorch from its libraries
# and headers without its CMake config, as the script does where that config fails).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=gpu
case "${1:-}" in
  --pack) MODE=pack ;;
  --rehearse) MODE=rehearse ;;
  "") ;;
  *) echo "usage: bash scripts/gpu_train.sh [--pack | --rehearse]   (OUT=dir for the run and the rehearsal)" >&2; exit 2 ;;
esac
DATA=${SOLA_DATA:-../shared/data}
START=$(date +%s)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "gpu_train: $*" >&2; }
die() { say "error: $*"; exit 1; }

# ---- packing (here) ----------------------------------------------------------------------------
# The headers the GPU machine has no package for: nlohmann-json and fmt (used header-only there),
# stb_image (decodes the bundles).
copy_headers() {
  local dest=$1/include
  rm -rf "$dest" && mkdir -p "$dest/stb"
  for d in /usr/include/nlohmann /usr/include/fmt; do
    [ -d "$d" ] || die "$d missing: run scripts/setup.sh"
    cp -rp "$d" "$dest/"  # -p: their dates, so a build using them is not redone
  done
  [ -f /usr/include/stb/stb_image.h ] || die "/usr/include/stb/stb_image.h missing: run scripts/setup.sh (libstb-dev)"
  cp -p /usr/include/stb/stb_image.h "$dest/stb/"
}

# Bytes of what a device call sends besides the bundle: tracked and untracked-not-ignored files.
tree_bytes() {
  git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1
}

sola_bin() {
  local sola=${SOLA:-build/sola}
  if [ ! -x "$sola" ]; then
    say "building the OpenCV build's sola for packing (scripts/build.sh)"
    BUILD_TARGETS=sola bash scripts/build.sh >&2
    sola=build/sola
  fi
  echo "$sola"
}

# pack_bundles DIR TRAIN_MIB VAL_MIB: val (no masks) and train bundles; TRAIN_MIB "auto" fills what
# is left of 60 MiB (4 MiB below the limit of 64) after the tree, the headers and val.
pack_bundles() {
  local dir=$1 train_mib=$2 val_mib=$3 sola
  sola=$(sola_bin)
  [ -f "$DATA/dfdc/train/manifest.csv" ] || die "no $DATA/dfdc/train/manifest.csv (set SOLA_DATA)"
  mkdir -p "$dir"
  copy_headers "$dir"
  "$sola" pack --manifest "$DATA/dfdc/val/manifest.csv" --no-masks --max-mib "$val_mib" --out "$dir/val.solapack" \
    > "$dir/val.json"
  if [ "$train_mib" = auto ]; then
    local used
    used=$(( $(tree_bytes) + $(du -sb "$dir" | cut -f1) ))
    train_mib=$(awk -v u="$used" 'BEGIN { printf "%.2f", 60 - u / 1048576 }')
    say "the tree and headers take $(awk -v u="$used" 'BEGIN { printf "%.1f", u / 1048576 }') MiB: $train_mib MiB for the training bundle"
  fi
  "$sola" pack --manifest "$DATA/dfdc/train/manifest.csv" --manifest "$DATA/dfdc/train-extra/manifest.csv" \
    --max-mib "$train_mib" --out "$dir/train.solapack" > "$dir/train.json"
  say "train bundle: $(cat "$dir/train.json")"
  say "val bundle:   $(cat "$dir/val.json")"
  say "$dir: $(du -sh "$dir" | cut -f1)"
}

# ---- the run (there, or here for the rehearsal) ----------------------------------------------
# run_training BUILD_DIR PACK_DIR DEADLINE_SECONDS and the arrays BUILD_ARGS, TRAIN_ARGS.
run_training() {
  local build=$1 pack=$2 deadline=$3
  [ -n "${OUT:-}" ] || die "set OUT to the folder for the results"
  mkdir -p "$OUT"
  for f in train.solapack val.solapack include/nlohmann/json.hpp include/fmt/format.h include/stb/stb_image.h; do
    [ -f "$pack/$f" ] || die "$pack/$f missing: make the bundle with bash scripts/gpu_train.sh --pack"
  done
  local log=$OUT/run.log t
  : > "$log"
  say "build: $build (no OpenCV, LibTorch ${TORCH_PREFIX:-of the system})"
  t=$(now)
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  configure() {
    cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DSOLA_WITH_OPENCV=OFF -DSOLA_BUILD_TESTS=OFF \
      -DSOLA_BUNDLED_HEADERS=ON -DSOLA_HEADERS_DIR="$ROOT/$pack/include" "${BUILD_ARGS[@]}" "$@" >> "$log" 2>&1
  }
  # LibTorch's CMake config first; where it does not configure (it looks for the CUDA toolkit, cuDNN
  # and NVTX), the libraries and headers directly (TORCH_LIB_DIR, TORCH_INCLUDE_DIRS, TORCH_ABI).
  if [ -n "${SOLA_TORCH_DIRECT:-}" ] || ! configure ${TORCH_PREFIX:+-DCMAKE_PREFIX_PATH="$TORCH_PREFIX"}; then
    say "LibTorch linked directly from $TORCH_LIB_DIR${SOLA_TORCH_DIRECT:+ (SOLA_TORCH_DIRECT)}"
    rm -rf "$build"
    configure -DSOLA_TORCH_LIB_DIR="$TORCH_LIB_DIR" -DSOLA_TORCH_INCLUDE_DIRS="$TORCH_INCLUDE_DIRS" \
      -DSOLA_TORCH_CXX11_ABI="$TORCH_ABI" || { tail -40 "$log" >&2; die "configure failed (whole log: $log)"; }
  fi
  cmake --build "$build" --target sola_train_packed --parallel "$(nproc)" >> "$log" 2>&1 ||
    { tail -40 "$log" >&2; die "build failed (whole log: $log)"; }
  local build_seconds
  build_seconds=$(since "$t")
  say "built in $build_seconds s"
  # The rehearsal's budget counts from here: a CPU build takes as long as it takes.
  [ "$MODE" = rehearse ] && START=$(date +%s)

  local mem_file=$OUT/.gpu-memory mem_pid=""
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$mem_file" 2>/dev/null &
    mem_pid=$!
  fi
  local run_dir budget
  run_dir=$(mktemp -d "${TMPDIR:-/tmp}/sola-gpu-run.XXXXXX")
  budget=$(( deadline - ($(date +%s) - START) ))
  [ "$budget" -gt 30 ] || die "only $budget s left for training"
  say "training: $budget s left of the command's $deadline s"
  t=$(now)
  local summary rc=0
  summary=$("$build/sola_train_packed" --train "$pack/train.solapack" --val "$pack/val.solapack" --out "$run_dir" \
    --export "$OUT/sola-dfdc-gpu.pt" --budget-seconds "$budget" "${TRAIN_ARGS[@]}" 2>> "$log") || rc=$?
  local run_seconds
  run_seconds=$(since "$t")
  if [ -n "$mem_pid" ]; then kill "$mem_pid" 2>/dev/null || true; wait "$mem_pid" 2>/dev/null || true; fi
  cp "$run_dir/metrics.jsonl" "$run_dir/config.json" "$OUT/" 2>/dev/null || true
  rm -rf "$run_dir"
  [ "$rc" = 0 ] || { tail -40 "$log" >&2; die "training failed with status $rc (whole log: $log)"; }
  local mem_peak=null
  if [ -s "$mem_file" ]; then mem_peak=$(sort -n "$mem_file" | tail -1 | tr -d ' '); fi
  rm -f "$mem_file"
  local extra
  extra=$(printf '"build_seconds":%s,"run_seconds":%s,"gpu_memory_peak_mib":%s,"command_seconds":%s,"mode":"%s"' \
    "$build_seconds" "$run_seconds" "$mem_peak" "$(( $(date +%s) - START ))" "$MODE")
  echo "${summary%\}},$extra}" > "$OUT/summary.json"
  say "summary: $(cat "$OUT/summary.json")"
  ls -l "$OUT" >&2
}

case "$MODE" in
  pack)
    pack_bundles "${PACK:-pack}" auto 0
    ;;
  gpu)
    command -v python3 >/dev/null || die "python3 (with PyTorch) not found"
    TORCH_PREFIX=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
    TORCH_DIR=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
    TORCH_LIB_DIR=$TORCH_DIR/lib
    TORCH_INCLUDE_DIRS="$TORCH_DIR/include;$TORCH_DIR/include/torch/csrc/api/include"
    TORCH_ABI=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
    export CUDACXX=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true
    # LibTorch from 2.12 on needs C++20 (2.11, the machine's, takes 17).
    CXX_STD=$(python3 -c 'import torch; v = torch.__version__.split("+")[0].split("."); print(20 if (int(v[0]), int(v[1])) >= (2, 12) else 17)')
    BUILD_ARGS=(-DTORCH_CUDA_ARCH_LIST=9.0 -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CXX_STANDARD="$CXX_STD")
    # The paper's recipe: 256 px, 50 epochs, batch 32 when they fit, else the fastest probed batch.
    TRAIN_ARGS=(--batch-sizes 32,64,128 --probe-steps 40 --threads 1
      --set device=cuda --set input_size=256 --set grid=16 --set channels_last=true
      --set epochs=50 --set "workers=$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))" --set eval_batch_size=256 --set log_every=20)
    run_training build-gpu "${PACK:-pack}" $(( ${GPU_MINUTES:-9} * 60 - 20 ))
    ;;
  rehearse)
    [ -n "${OUT:-}" ] || die "set OUT to the folder for the results"
    PACK=build-rehearse/pack
    say "packing a tiny bundle into $PACK"
    t0=$(now)
    pack_bundles "$PACK" 0.4 0.15
    say "packed in $(since "$t0") s"
    TORCH_PREFIX=""
    TORCH_LIB_DIR=/usr/lib/$(gcc -print-multiarch)
    TORCH_INCLUDE_DIRS="/usr/include;/usr/include/torch/csrc/api/include"
    TORCH_ABI=1
    BUILD_ARGS=()
    TRAIN_ARGS=(--batch-sizes 8,16 --probe-steps 6
      --set device=cpu --set input_size=64 --set grid=8 --set channels_last=true
      --set epochs=2 --set max_steps_per_epoch=4 --set workers=2 --set eval_batch_size=32 --set log_every=1)
    run_training build-rehearse/cmake "$PACK" 900
    ;;
esac
