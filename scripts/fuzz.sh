#!/usr/bin/env bash
# Fuzzes every parser of outside input, and the HTTP server, with libFuzzer (clang, ASan + UBSan).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     e.g. scripts/fuzz.sh 10   (CI: a brief run)
#                                                             scripts/fuzz.sh 600 fuzz_manifest
#
# Targets: fuzz_image fuzz_manifest fuzz_config fuzz_checkpoint fuzz_http (fuzz/README.md says what
# each feeds; fuzz_http sends raw requests to an in-process `sola serve` server).
# Builds build-fuzz/ (standalone CMake project fuzz/, clang++), writes the seed corpus with the
# project's own make_corpus into build-fuzz/corpus/<target> (kept and grown between runs), runs each
# target SECONDS_PER_TARGET seconds in one process, prints the executions per target and in total,
# and copies every crash / timeout / out-of-memory input to fuzz/regressions/<target>/ (commit those:
# tests/bad_input_test.cpp replays them). fuzz_checkpoint runs in fork mode and sorts its crashes:
# those inside LibTorch's model loader are known (fuzz/known/fuzz_checkpoint/), the rest findings.
# Exits 1 when any target found something.
# Needs clang and libclang-rt-dev (Debian: apt-get install clang libclang-rt-14-dev).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}
shift || true
all_targets=(fuzz_image fuzz_manifest fuzz_config fuzz_checkpoint fuzz_http)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  case " ${all_targets[*]} " in *" $t "*) ;; *) echo "fuzz.sh: unknown target '$t' (known: ${all_targets[*]})" >&2; exit 2 ;; esac
done
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz.sh: SECONDS_PER_TARGET must be a positive integer, got '$seconds'" >&2
  exit 2
fi

# FUZZ_SOURCE_DIR / FUZZ_BUILD_DIR: fuzz another tree (e.g. a copy with a patch) in another build folder.
source_dir=${FUZZ_SOURCE_DIR:-$root/fuzz}
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
cxx=${CXX_FUZZ:-clang++}
cc=${CC_FUZZ:-clang}
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

# ---- build --------------------------------------------------------------------------------------
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$source_dir" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" >/dev/null
fi
jobs=${FUZZ_BUILD_JOBS:-2}
nice cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1 || { tail -40 "$build/build.log" >&2; exit 1; }

# LibTorch's and OpenCV's own allocations at exit are not ours: no leak check at exit (ASan's
# other checks stay on). UBSan findings abort with a stack trace (built with -fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:handle_abort=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# ---- seed corpus --------------------------------------------------------------------------------
rm -rf "$build/seeds"
"$build/make_corpus" "$build/seeds" "$source_dir/seeds" 2>"$build/make_corpus.log" || { cat "$build/make_corpus.log" >&2; exit 1; }

# ---- run ----------------------------------------------------------------------------------------

# True when the crash `file` made `target` report is inside LibTorch's model loader: the innermost
# sola frame of the stack is open_archive (which calls InputArchive::load_from). Those are upstream
# (fuzz/known/fuzz_checkpoint/README.md); everything else is ours.
in_libtorch_loader() {
  local target=$1 file=$2
  (cd "$build" && "./$target" "$file" 2>&1 || true) | grep -m1 -E '#[0-9]+ .* in sola::' | grep -q 'open_archive'
}

total=0
found=0
printf '%-16s %12s %8s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  log="$build/logs/$t.log"
  rm -rf "$artifacts"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  cp -n "$build/seeds/$t"/* "$corpus"/ 2>/dev/null || true
  [ -d "$root/fuzz/regressions/$t" ] && find "$root/fuzz/regressions/$t" -type f ! -name '*.md' -exec cp -n {} "$corpus"/ \;
  extra=()
  [ -f "$build/seeds/$t.dict" ] && extra+=("-dict=$build/seeds/$t.dict")
  # One allocation above -malloc_limit_mb is a finding. Images: the largest legitimate one is an
  # 8192x8192 decode (~200 MB, 400 MB at 16 bits), so 512 MB catches any size check bypassed.
  # Model files: LibTorch 1.13's loader crashes on some mutated archives and its unpickler
  # zero-fills whatever length a pickled string claims, up to 4 GiB (fuzz/known/fuzz_checkpoint/):
  # that target runs in fork mode, going on after a crash, and allows the 4 GiB; every crash is
  # then replayed and sorted into LibTorch's (known) and ours (a finding).
  rss=2048
  case "$t" in
    fuzz_checkpoint)
      rss=6144
      extra+=(-max_len=8388608 -malloc_limit_mb=4608 -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1) ;;
    fuzz_image) extra+=(-max_len=65536 -malloc_limit_mb=512) ;;
    # Requests: up to 16 KiB (the server's upload limit is 64 KiB there; the seeds are < 2 KiB).
    fuzz_http) extra+=(-max_len=16384 -malloc_limit_mb=2048) ;;
    *) extra+=(-max_len=8192 -malloc_limit_mb=2048) ;;
  esac
  rc=0
  (cd "$build" && "./$t" "$corpus" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb="$rss" \
      -timeout=30 -artifact_prefix="$artifacts/" "${extra[@]}") >"$log" 2>&1 || rc=$?
  # Executions: the final stats, or in fork mode the last "#N: cov: ..." line.
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -1)
  runs=${runs:-0}
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  [ -n "$speed" ] || speed=$((runs / seconds))  # fork mode prints no final stats
  total=$((total + runs))
  shopt -s nullglob
  finds=("$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*)
  shopt -u nullglob
  ours=() known=0
  for f in "${finds[@]}"; do
    if [ "$t" = fuzz_checkpoint ] && in_libtorch_loader "$t" "$f"; then
      known=$((known + 1))
    else
      ours+=("$f")
    fi
  done
  result=ok
  [ "$known" -eq 0 ] || result="ok ($known crash(es) inside LibTorch's loader: known, kept in $artifacts)"
  if [ ${#ours[@]} -gt 0 ] || { [ "$rc" -ne 0 ] && [ ${#finds[@]} -eq 0 ]; }; then
    found=1
    result="FOUND (exit $rc, log $log)"
    mkdir -p "$root/fuzz/regressions/$t"
    for f in "${ours[@]}"; do
      dup=""
      for r in "$root/fuzz/regressions/$t"/*; do cmp -s "$f" "$r" && dup=$r && break; done
      if [ -n "$dup" ]; then
        result+=" (again: fuzz/regressions/$t/$(basename "$dup"))"
      else
        cp "$f" "$root/fuzz/regressions/$t/"
        result+=" -> fuzz/regressions/$t/$(basename "$f")"
      fi
    done
    grep -m3 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | sed 's/^/    /' >&2 || true
  fi
  printf '%-16s %12s %8s  %s\n' "$t" "$runs" "${speed:-0}" "$result"
  # A target that crashed left its scratch folder (fuzz/fuzz_target.h) behind.
  for d in /dev/shm/sola-fuzz-*; do
    if [ -d "$d" ] && ! kill -0 "${d##*-}" 2>/dev/null; then rm -rf "$d"; fi
  done
done
printf '%-16s %12s\n' total "$total"
exit "$found"
