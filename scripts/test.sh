#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (CTest over one GoogleTest binary).
# Tests that need ../shared/data are reported as skipped where it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
# The web page's browser test drives Debian's chromium with playwright-core from the npm registry
# (it reports itself skipped where node, npm or chromium is missing).
if command -v npm >/dev/null && [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) || echo "test: npm ci failed: the browser test will be skipped" >&2
fi
cd build
# A build folder configured without GoogleTest holds no tests: fail rather than pass on nothing.
if ! ctest -N | grep -q "Total Tests: [1-9]"; then
  echo "test: no tests in build/ (was GoogleTest found at configure? see the cmake warning above)" >&2
  exit 1
fi
ctest --output-on-failure --timeout 900 -j "$(nproc)"
