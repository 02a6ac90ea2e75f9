#!/usr/bin/env bash
# Configures and builds sola (Release) into ./build. Extra arguments go to cmake's configure step.
# BUILD_TARGETS="sola ..." builds only those targets (default: all).
# SOLA_CCACHE=1 (at the first configure) compiles through ccache, for several build folders.
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# SOLA_CCACHE=1: compile through ccache so that several build folders (worktrees) share objects;
# ccache cannot cache compiles that use a precompiled header, so that turns the header off.
launcher=()
if [ "${SOLA_CCACHE:-0}" = 1 ] && command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DSOLA_USE_PCH=OFF)
fi
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build "${generator[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
else
  # Configured before: configure again (seconds), so that packages installed since (GoogleTest after
  # scripts/quickstart.sh, which installs only what the binary needs) and "$@" are taken up.
  cmake -S . -B build "$@" > /dev/null
fi
targets=()
for t in ${BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build build --parallel "$(nproc)" "${targets[@]}"
