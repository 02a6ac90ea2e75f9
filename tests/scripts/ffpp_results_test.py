#!/usr/bin/python3
"""Test of scripts/ffpp_results.py (CTest `ffpp_results`): the FaceForensics++ section of RESULTS.md made from a
fixture of what scripts/ffpp_protocol.sh keeps, every figure traced to its file.

    tests/scripts/ffpp_results_test.py SOURCE_DIR SOLA_BIN   (the runs are read through `sola runs --json`)
"""
import json
import os
import sys
import tempfile

from checks import Checks

SOURCE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
SOLA = sys.argv[2] if len(sys.argv) > 2 else os.path.join(SOURCE, "build", "sola")
sys.path.insert(0, os.path.join(SOURCE, "scripts"))
import ffpp_results  # noqa: E402

METHODS = ffpp_results.METHODS


def write_run(root, name, per_method, method, arch="sola"):
    """A finished run trained on `method`: config, two epochs, command and its evaluation (best and last)."""
    os.makedirs(os.path.join(root, name))
    train = {"epochs": 2, "batch_size": 32, "lr": 0.001, "lr_schedule": "cosine", "warmup_epochs": 1, "seed": 0,
             "methods": method}
    json.dump({"train": train, "model": {"arch": arch, "input_size": 128, "grid": 8}},
              open(os.path.join(root, name, "config.json"), "w"))
    with open(os.path.join(root, name, "metrics.jsonl"), "w") as f:
        for e, val in ((1, 0.7), (2, 0.8), (2, 0.8)):  # epoch 2 logged twice (a resumed run): counted once
            f.write(json.dumps({"type": "epoch", "epoch": e, "train_seconds": 120.0, "validate_seconds": 30.0,
                                "val": {"frame": {"auc": val}}}) + "\n")
    open(os.path.join(root, name + ".command.txt"), "w").write(f"sola train --set methods={method} --out runs/{name}\n")
    rows = []
    for model, shift in ((name, 0.0), (name + "/last", -0.05)):
        for data in ("ffpp/val", "ffpp/test"):
            rows.append({"model": model, "data": data, "frame": {"auc": 0.6},
                         "per_method_auc": {m: v + shift for m, v in zip(METHODS, per_method)}})
    json.dump(rows, open(os.path.join(root, name + ".eval.json"), "w"))


def render(keep):
    out = []
    ffpp_results.write_ffpp(out.append, keep, SOLA)
    return "\n".join(out)


def main():
    checks = Checks("ffpp_results_test")
    expect = checks.expect
    with tempfile.TemporaryDirectory() as keep:
        expect(render(os.path.join(keep, "none")) == "", "no folder: no section")
        # SOLA: 0.99 on its own method, 0.80 elsewhere; ResNet18: 0.98 on its own, 0.60 elsewhere, except one cell.
        for i, m in enumerate(METHODS):
            write_run(keep, f"sola_supervised_{m}", [0.99 if j == i else 0.80 for j in range(4)], m)
            resnet = [0.98 if j == i else 0.60 for j in range(4)]
            if i == 0:
                resnet[1] = 0.85  # ahead of SOLA on (DF -> F2F)
            write_run(keep, f"resnet18_{m}", resnet, m, arch="resnet")
        md = render(keep)
        expect("## FaceForensics++: the paper's protocol" in md, "the section is written")
        expect("| DF | **99.00** | 80.00 | 80.00 | 80.00 | 80.00 | 100.00 / 96.95 / 69.72 / 98.48 (88.38) |" in md,
               "SOLA supervised's DF row, ours beside the paper's with its off-diagonal mean:\n" + md)
        expect("| DF | **98.00** | 85.00 | 60.00 | 60.00 | 68.33 |" in md, "ResNet18's DF row:\n" + md)
        expect("SOLA supervised is ahead of ResNet18 (same epochs) on 11 of the 12 off-diagonal cells both have; it is "
               "not on DF -> F2F (80.00 against 85.00)." in md,
               "the count of cells where SOLA is ahead:\n" + md)
        expect("sola_supervised 80.00 (12 cells)" in md, "the off-diagonal mean over all cells:\n" + md)
        expect("2 epochs" in md and "128 px" in md, "the protocol names epochs and input size:\n" + md)
        expect("best epoch 2 of 2, 5 min; `ffpp/val` AUC of DF 99.00" in md, "per run: best epoch, minutes, val:\n" + md)
        expect("in-domain >= 95.00 on each method: met on DF, F2F, FS, NT of the 4 trained" in md and
               "off-diagonal mean >= 80.00: 80.00" in md and
               "ahead of ResNet18 on >= 10 of the 12 off-diagonal cells: 11 of 12" in md,
               "the targets beside the figures:\n" + md)
        expect("at SOLA's CPU time) on" not in md, "no equal-time count before its runs exist:\n" + md)
        # ResNet18 at equal CPU time on two methods, ahead of SOLA on every cell: its own count, over its 6 cells;
        # the target's count stays the same-epochs baseline's.
        for i, m in enumerate(METHODS[:2]):
            write_run(keep, f"resnet18_eqtime_{m}", [0.98 if j == i else 0.90 for j in range(4)], m, arch="resnet")
        md = render(keep)
        expect("SOLA supervised is ahead of ResNet18 (at SOLA's CPU time) on 0 of the 6 off-diagonal cells both have; "
               "it is not on DF -> F2F (80.00 against 90.00)" in md, "the count against the equal-time baseline:\n" + md)
        expect("ahead of ResNet18 on >= 10 of the 12 off-diagonal cells: 11 of 12" in md,
               "the target reads the same-epochs baseline:\n" + md)
        expect("The anomaly maps alone" not in md, "no map paragraph without map figures in the evaluations")
        # The maps alone, from the `map` block of the evaluation of ffpp/test.
        path = os.path.join(keep, "sola_supervised_Face2Face.eval.json")
        rows = json.load(open(path))
        for r in rows:
            if r["data"] == "ffpp/test" and r["model"] == "sola_supervised_Face2Face":
                r["map"] = {"auc": 0.6204, "fake_mean_peak": 0.16, "real_mean_peak": 0.128}
        json.dump(rows, open(path, "w"))
        md = render(keep)
        expect("trained on F2F: mapAUC 62.04, mean peak of fakes 0.160 vs reals 0.128" in md,
               "the maps alone, per training method:\n" + md)
        # The seed check and the Table 5 rows appear once their files exist.
        write_run(keep, "sola_supervised_Deepfakes_seed1", [0.97, 0.78, 0.83, 0.80], "Deepfakes")
        json.dump([{"model": "sola-dfdc", "data": "ffpp/test", "frame": {"auc": 0.66},
                    "per_method_auc": {"Deepfakes": 0.78, "Face2Face": 0.61, "FaceSwap": 0.60, "NeuralTextures": 0.66}}],
                  open(os.path.join(keep, "dfdc_shipped.eval.json"), "w"))
        md = render(keep)
        expect("the largest difference is 3.00 points" in md, "the noise of one cell:\n" + md)
        expect("| 78.00 | 61.00 | 60.00 | 66.00 | 66.25 | – |" in md, "Table 5: the shipped model on ffpp/test:\n" + md)
        # A DFDC-trained run of Table 5: its row reads ffpp/test per method and dfdc/test; it was chosen on dfdc/val.
        write_run(keep, "dfdc_resnet18_eqtime", [0.70, 0.50, 0.55, 0.65], "", arch="resnet")
        path = os.path.join(keep, "dfdc_resnet18_eqtime.eval.json")
        rows = json.load(open(path))
        rows = [r for r in rows if r["data"] == "ffpp/test"] + [
            {"model": "dfdc_resnet18_eqtime", "data": "dfdc/val", "frame": {"auc": 0.93}},
            {"model": "dfdc_resnet18_eqtime", "data": "dfdc/test", "frame": {"auc": 0.91}}]
        json.dump(rows, open(path, "w"))
        md = render(keep)
        expect("| `dfdc_resnet18_eqtime`: ResNet18 at SOLA's CPU time, DFDC 2 epochs | 70.00 | 50.00 | 55.00 | 65.00 | "
               "60.00 | 91.00 |" in md, "Table 5: a DFDC-trained run, per method and on dfdc/test:\n" + md)
        expect("- `dfdc_resnet18_eqtime`: best epoch 2 of 2, 5 min; `dfdc/val` AUC 93.00;" in md,
               "a DFDC-trained run is listed with the set it was chosen on:\n" + md)
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
