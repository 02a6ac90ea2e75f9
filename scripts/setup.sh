#!/usr/bin/env bash
# Installs every Debian package sola needs to build, test and run. Debian 12, as root or with sudo.
#   scripts/setup.sh [--runtime]   --runtime: only what building and running the sola binary needs
#                                  (scripts/quickstart.sh); without it also the test suite's packages.
set -euo pipefail
runtime=0
[ "${1:-}" = "--runtime" ] && runtime=1
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PACKAGES=(
  build-essential cmake ninja-build git pkg-config
  libtorch-dev                 # LibTorch 1.13 (CPU, oneDNN)
  libopenblas0-pthread         # fast BLAS for linear layers / matmul
  libopencv-dev opencv-data    # image and video I/O, face cascades
  libdlib-dev libdlib-data     # face detector and 68-point landmarks
  libgloo-dev                  # Gloo headers: c10d ProcessGroupGloo (multi-process training)
  libcpp-httplib-dev           # sola serve
  libcli11-dev nlohmann-json3-dev libfmt-dev
  libstb-dev                   # stb_image: decodes packed training bundles (also on the GPU machine)
)
TEST_PACKAGES=(
  libgtest-dev googletest
  python3-torch python3-torchvision python3-pil   # reference checks only; never needed at run time
  chromium                     # the web page's browser test (headless)
)
[ "$runtime" = 1 ] || PACKAGES+=("${TEST_PACKAGES[@]}")
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages already installed" >&2
fi
# Node.js + npm only run the browser test (tests/browser); Debian's are used where none is installed.
if [ "$runtime" = 0 ] && ! command -v npm >/dev/null; then
  echo "setup: installing nodejs npm (browser test)" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
