#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install, build, describe the model, and run it on a
# face photo that ships with a Debian package (dlib's examples), with no other download.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/sola info --set input_size=256 | head -n 40
photo=""
for p in /usr/share/doc/libdlib19.1/examples/faces/Tom_Cruise_avp_2014_4.jpg \
         /usr/share/doc/libdlib19.1/examples/faces/2008_001322.jpg; do
  [ -f "$p" ] && { photo="$p"; break; }
done
if [ -z "$photo" ]; then  # some images strip /usr/share/doc: make a test photo with OpenCV's sample-free path
  photo=$(mktemp --suffix=.png)
  python3 - "$photo" <<'PY'
import sys, zlib, struct
w = h = 256
raw = b"".join(b"\x00" + bytes(((x * 7 + y * 3) % 256, (x * y) % 256, (y * 5) % 256) * 1 for x in range(w)) for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
fi
echo "== forward pass on $photo" >&2
./build/sola forward "$photo"
