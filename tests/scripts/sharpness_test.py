#!/usr/bin/python3
"""Test of scripts/sharpness.py (CTest `sharpness`): the high-frequency energy of a manifest's crops per
class, on images whose sharpness is known, and its errors on bad input.

    tests/scripts/sharpness_test.py SOURCE_DIR      (a Python with numpy and PIL: Debian's /usr/bin/python3)
"""
import json
import os
import subprocess
import sys
import tempfile

from checks import Checks

try:
    import numpy as np
    from PIL import Image, ImageFilter
except ImportError as e:  # scripts/setup.sh installs them (python3-pil, numpy with python3-torch)
    print(f"sharpness_test: skipped, {e}")
    sys.exit(77)

SOURCE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
SCRIPT = os.path.join(SOURCE, "scripts", "sharpness.py")


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def main():
    checks = Checks("sharpness_test")
    expect = checks.expect
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        # Real: noise at 224 px; fake: the same noise blurred. Two of each.
        lines = ["path,label"]
        for i in range(2):
            noise = Image.fromarray(rng.integers(60, 196, (224, 224, 3), dtype=np.uint8))
            noise.save(os.path.join(tmp, f"r{i}.png"))
            noise.filter(ImageFilter.GaussianBlur(3)).save(os.path.join(tmp, f"f{i}.png"))
            lines += [f"r{i}.png,0", f"f{i}.png,1"]
        flat = Image.new("RGB", (224, 224), (120, 120, 120))
        flat.save(os.path.join(tmp, "flat.png"))
        manifest = os.path.join(tmp, "m.csv")
        open(manifest, "w").write("\n".join(lines) + "\n")
        out = os.path.join(tmp, "s.json")
        r = run("--json", out, f"set={manifest}")
        expect(r.returncode == 0, f"sharpness.py failed: {r.stderr}")
        rows = json.load(open(out)) if os.path.exists(out) else []
        by = {row["label"]: row for row in rows}
        expect(sorted(by) == [0, 1] and all(row["data"] == "set" and row["n"] == 2 and row["size"] == 128 for row in rows),
               f"one row per class with its count: {rows}")
        if sorted(by) == [0, 1]:
            expect(by[0]["median"] > 4 * by[1]["median"], f"noise is far sharper than its blur: {rows}")
            expect(by[0]["q1"] <= by[0]["median"] <= by[0]["q3"], f"quartiles around the median: {by[0]}")
        # --max-per-class: the first N of each class; a flat image has no high frequencies.
        open(manifest, "w").write("path,label\nflat.png,0\nr0.png,0\n")
        r = run("--max-per-class", "1", f"flat={manifest}")
        got = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        expect(r.returncode == 0 and len(got) == 1 and got[0]["n"] == 1 and got[0]["median"] == 0.0,
               f"first row only, a flat image scores 0: {got} {r.stderr}")
        # Bad input: errors naming the file or the argument, no traceback.
        open(manifest, "w").write("path,label\nmissing.png,0\n")
        r = run(f"set={manifest}")
        expect(r.returncode != 0 and "missing.png" in r.stderr and "Traceback" not in r.stderr,
               f"a missing image is named: {r.stderr}")
        r = run(f"set={os.path.join(tmp, 'nope.csv')}")
        expect(r.returncode != 0 and "nope.csv" in r.stderr and "Traceback" not in r.stderr,
               f"a missing manifest is named: {r.stderr}")
        r = run(manifest)
        expect(r.returncode != 0 and "NAME=MANIFEST" in r.stderr and "Traceback" not in r.stderr,
               f"an argument without a name: {r.stderr}")
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
