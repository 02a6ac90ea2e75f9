#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (CTest over one GoogleTest binary).
# Tests that need ../shared/data are reported as skipped where it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j "$(nproc)"
