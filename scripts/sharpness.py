#!/usr/bin/env python3
"""How sharp the face crops of each evaluation set are, per class: the cue "sharpness" measured.

For each manifest and label, the high-frequency energy of its crops as the model sees them: the
crop in grey (ITU-R 601 luma), shrunk to the model's input size by area averaging, and the standard
deviation of its 4-neighbour Laplacian over the central half (the face, not the background), in
8-bit grey levels. Prints (or writes with --json) one row per manifest and label: the count, the
median and the quartiles.

  /usr/bin/python3 scripts/sharpness.py [--size 128] [--max-per-class N] [--json OUT] NAME=MANIFEST...

scripts/results_dfdc.sh runs it on the DFDC training, validation and gan-faces crops
(results/dfdc/sharpness.json) for docs/RESULTS.md. Rows are taken in manifest order (the first N
of each class), so the figures do not depend on a seed.
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
from PIL import Image


def high_frequency(path, size):
    """Standard deviation of the Laplacian over the central half of the crop at `size` px, grey."""
    try:
        with Image.open(path) as im:
            grey = im.convert("L")
            if grey.size != (size, size):
                grey = grey.resize((size, size), Image.BOX if grey.width > size else Image.BILINEAR)
            x = np.asarray(grey, dtype=np.float64)
    except (OSError, ValueError) as e:
        sys.exit(f"sharpness.py: cannot read image {path}: {e}")
    lap = -4 * x[1:-1, 1:-1] + x[:-2, 1:-1] + x[2:, 1:-1] + x[1:-1, :-2] + x[1:-1, 2:]
    q = size // 4  # the central half of the image, in the Laplacian's (shifted by one) coordinates
    return float(lap[q - 1:size - q - 1, q - 1:size - q - 1].std())


def rows_of(manifest):
    try:
        with open(manifest, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"sharpness.py: cannot read manifest {manifest}: {e}")
    if rows and not {"path", "label"} <= set(rows[0]):
        sys.exit(f"sharpness.py: manifest {manifest} has no 'path' and 'label' columns")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="+", metavar="NAME=MANIFEST")
    ap.add_argument("--size", type=int, default=128, help="the model's input size (default 128)")
    ap.add_argument("--max-per-class", type=int, default=500, help="crops per class and manifest (default 500)")
    ap.add_argument("--json", help="write the rows to this file (JSON list) instead of printing them")
    a = ap.parse_args()
    if a.size < 8:
        sys.exit(f"sharpness.py: --size {a.size} is too small (at least 8)")
    out = []
    for spec in a.sets:
        name, sep, manifest = spec.partition("=")
        if not sep or not name or not manifest:
            sys.exit(f"sharpness.py: '{spec}' is not NAME=MANIFEST")
        rows = rows_of(manifest)
        base = os.path.dirname(manifest)
        for label in ("0", "1"):
            picked = [r for r in rows if r["label"] == label][:a.max_per_class]
            if not picked:
                continue
            v = np.array([high_frequency(os.path.join(base, r["path"]), a.size) for r in picked])
            q1, med, q3 = np.percentile(v, [25, 50, 75])
            out.append({"data": name, "label": int(label), "n": len(v), "median": round(float(med), 3),
                        "q1": round(float(q1), 3), "q3": round(float(q3), 3), "size": a.size})
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(out, f, indent=1)
        os.replace(a.json + ".tmp", a.json)
    else:
        for r in out:
            print(json.dumps(r))


if __name__ == "__main__":
    main()
