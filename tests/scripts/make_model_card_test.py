#!/usr/bin/python3
"""Test of scripts/make_model_card.py (CTest `make_model_card`): the model card and README's figures made
from a fixture of the files scripts/ship_model.sh keeps, every figure traced to its file; and the
committed card (models/README.md) is what the script makes of the committed figures (models/card/).

    tests/scripts/make_model_card_test.py SOURCE_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from checks import Checks

SOURCE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
SCRIPT = os.path.join(SOURCE, "scripts", "make_model_card.py")
DATA = {"dfdc/val": 0.80, "runs/pseudo-val": 0.70, "dfdc/test": 0.81, "gan-faces-crops/all": 0.55}


def write_card(card, real_score=0.2, fake_score=0.9):
    os.makedirs(card)
    train = {"epochs": 50, "batch_size": 32, "alpha": 1.0, "beta": 1.0, "gamma": 1.0, "lr": 0.001,
             "lr_schedule": "cosine", "warmup_epochs": 1.0, "augment": True, "aug_hflip": True, "aug_color": True,
             "aug_jpeg": False, "aug_crop": True, "seed": 0, "loss": "supervised", "precision": "bf16",
             "pseudo_fake_share": 0.25}
    prov = {"data": {"train": {"images": 22000}}, "train_manifests": ["data/dfdc/train/manifest.csv"]}
    ckpt_meta = {"train": train, "provenance": prov, "train_state": {"epoch": 7, "best": 0.80}}
    config = {"arch": "sola", "backbone": "resnet18", "noise": "asrm", "input_size": 128, "grid": 8,
              "classifier_input": "logits", "classifier_cells": "valid"}
    json.dump({"config": config, "metadata": ckpt_meta, "parameters": {"total": 5823961}},
              open(os.path.join(card, "checkpoint_info.json"), "w"))
    json.dump({"config": config, "parameters": {"total": 5823961},
               "metadata": {"train": train, "provenance": prov, "crop_scale": 1.2, "exported_from": "runs/long-ship/best.pt"}},
              open(os.path.join(card, "info.json"), "w"))
    json.dump({"format": "sola-model float16"}, open(os.path.join(card, "export.json"), "w"))
    rows = []
    for model, shift in (("long-ship", 0.0), ("sola-dfdc", -0.0004)):
        for data, auc in DATA.items():
            rows.append({"model": model, "data": data,
                         "frame": {"auc": auc + shift, "ap": 0.5, "eer": 0.3, "acc": 0.6, "n": 10}})
            if data != "dfdc/val":  # the maps' figures where sola eval gave them
                rows[-1]["map"] = {"auc": auc - 0.1 + shift, "real_mean_peak": 0.2, "fake_mean_peak": auc / 2}
    json.dump(rows, open(os.path.join(card, "eval.json"), "w"))
    with open(os.path.join(card, "epochs.jsonl"), "w") as f:
        for e in range(1, 8):
            f.write(json.dumps({"type": "epoch", "epoch": e, "train_seconds": 900.0,
                                "val": {"frame": {"auc": 0.6 + e / 100}},
                                "val_extra": {"pseudo": {"frame": {"auc": 0.5 + e / 100}}}}) + "\n")
    open(os.path.join(card, "command.txt"), "w").write("sola train --out runs/long\n")
    with open(os.path.join(card, "quickstart.jsonl"), "w") as f:
        for name, score in (("real.jpg", real_score), ("pseudo_fake.png", fake_score)):
            f.write(json.dumps({"path": "q/input/" + name, "status": "ok", "score": score, "threshold": 0.5,
                                "label": "fake" if score >= 0.5 else "real"}) + "\n")


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def main():
    checks = Checks("make_model_card_test")
    expect = checks.expect

    with tempfile.TemporaryDirectory() as tmp:
        card = os.path.join(tmp, "card")
        write_card(card)
        readme = os.path.join(tmp, "README.md")
        open(readme, "w").write("# x\n\nbefore\n<!-- model-figures:begin -->\nold figures\n<!-- model-figures:end -->\nafter\n")
        out = run(card, "--readme", readme)
        expect(out.returncode == 0, f"make_model_card.py failed: {out.stderr}")
        text = out.stdout
        # The figures table: the checkpoint's AUC, the shipped file's AUC and its other metrics.
        expect("| **`dfdc/test`** | report: unseen DFDC videos | 81.00 | **80.96** | 50.00 | 30.00 | 60.00 | 70.96 |" in text,
               "test row")
        expect("| `dfdc/val` | chooses | 80.00 | **79.96** | 50.00 | 30.00 | 60.00 | – |" in text, "no maps' figure: a dash")
        expect("| **`gan-faces`** | report: a manipulation never seen | 55.00 | **54.96** |" in text, "gan-faces row")
        expect("| pseudo-forgery val | chooses | 70.00 | **69.96** |" in text, "pseudo-val row")
        expect("at most 0.04 points" in text, "float16 difference")
        expect("`dfdc/test` >= 94.00 (not met)" in text and "`gan-faces` >= 65.00 (not met)" in text, "targets")
        expect("**epoch 7** of a run planned for 50" in text and "1.8 hours" in text, "length from the epochs")
        expect("augmentation: flip, colour, resized crop;" in text, "augmentation without JPEG")
        expect("| dfdc/val | 61.00 | 62.00 | 63.00 | 64.00 | 65.00 | 66.00 | 67.00 |" in text, "learning curve")
        expect("Both come out on the right side" in text, "quickstart verdict")
        expect("peak at 0.275 on average on the StyleGAN2 faces and 0.200 on the FFHQ photographs, where DFDC's "
               "fakes reach 0.405 against 0.200" in text, "the maps on GAN faces against DFDC's fakes")
        expect("sola train --out runs/long" in text, "training command")
        new = open(readme).read()
        expect(new.startswith("# x\n\nbefore\n<!-- model-figures:begin -->\n") and new.endswith(
            "<!-- model-figures:end -->\nafter\n") and "old figures" not in new, f"README block: {new}")
        expect("**80.96% on `dfdc/test`**" in new and "**55.00% on" not in new and "**54.96% on" in new,
               "README figures are the shipped file's")
        expect("**Degraded images.**" not in text, "no robustness read-out: no bullet")
        # With the robustness read-out of scripts/robustness.sh: what each degradation costs in-domain.
        json.dump({"model": "models/sola-dfdc.pt", "sha256": "0" * 64, "rows": [
            {"perturb": p, "data": d, "auc": a, "map_auc": None} for p, d, a in (
                ("none", "test", 0.81, ), ("none", "gan", 0.55), ("jpeg:50", "test", 0.80), ("blur:1", "test", 0.60),
                ("noise:4", "test", 0.50), ("sharpen:2", "test", 0.70))]}, open(os.path.join(card, "robustness.json"), "w"))
        text = run(card).stdout
        expect("- **Degraded images.** On `dfdc/test` (frame AUC 81.00 as given), every image degraded the same way first "
               "(`scripts/robustness.sh`, at the model's 128 px input): JPEG at quality 50 80.00 (-1.00); a Gaussian blur "
               "of 1 px 60.00 (-21.00); Gaussian noise of 4 grey levels 50.00 (-31.00); an unsharp mask of amount 2 70.00 (-11.00). What it learned to call fake lives "
               "in the finest detail" in text and "So can sharper ones" in text, "robustness bullet")
        expect("`ffpp/test`" not in text, "no ffpp/test rows (a read-out before issue 27): no ffpp/test figures")
        # With ffpp/test read out too (issue 27): its figures follow dfdc/test's, each against its own reference.
        json.dump({"model": "models/sola-dfdc.pt", "sha256": "0" * 64, "rows": [
            {"perturb": p, "data": d, "auc": a, "map_auc": None} for p, d, a in (
                ("none", "test", 0.81), ("none", "ffpp_test", 0.70), ("none", "gan", 0.55), ("jpeg:50", "test", 0.80),
                ("jpeg:50", "ffpp_test", 0.66), ("sharpen:1", "test", 0.79), ("sharpen:1", "ffpp_test", 0.55))]},
                  open(os.path.join(card, "robustness.json"), "w"))
        text = run(card).stdout
        expect("- **Degraded images.** On `dfdc/test` (frame AUC 81.00 as given), every image degraded the same way first "
               "(`scripts/robustness.sh`, at the model's 128 px input): JPEG at quality 50 80.00 (-1.00); an unsharp mask of "
               "amount 1 79.00 (-2.00). On `ffpp/test` (FaceForensics++, frame AUC 70.00 as given): JPEG at quality 50 66.00 "
               "(-4.00); an unsharp mask of amount 1 55.00 (-15.00). What it learned to call fake lives in the finest detail"
               in text and "So can sharper ones" in text,
               "robustness bullet with ffpp/test: its figures, and its 15-point loss under sharpening said")
        os.remove(os.path.join(card, "robustness.json"))
        # A face on the wrong side is said so.
        wrong = os.path.join(tmp, "wrong")
        write_card(wrong, real_score=0.7, fake_score=0.6)
        text = run(wrong).stdout
        expect("The real photo is on the wrong side of the threshold" in text, "wrong side said")
        # Missing figures: an error naming the file, no card, no traceback.
        os.remove(os.path.join(wrong, "eval.json"))
        bad = run(wrong, "--check")
        expect(bad.returncode != 0 and "eval.json" in bad.stderr and "Traceback" not in bad.stderr,
               f"missing file: {bad.returncode} {bad.stderr[-300:]}")
        # A README without the markers is refused, not silently left stale.
        open(readme, "w").write("# no markers\n")
        bad = run(card, "--readme", readme)
        expect(bad.returncode != 0 and "model-figures:begin" in bad.stderr, f"no markers: {bad.stderr[-300:]}")
        # The committed card is what the script makes of the committed figures.
        committed = os.path.join(SOURCE, "models", "card")
        if os.path.isdir(committed):
            copy = os.path.join(tmp, "README.copy.md")
            shutil.copy(os.path.join(SOURCE, "README.md"), copy)
            made = run(committed, "--readme", copy)
            expect(made.returncode == 0 and made.stdout == open(os.path.join(SOURCE, "models", "README.md")).read(),
                   "models/README.md is not what scripts/make_model_card.py makes of models/card (edited by hand?)")
            expect(open(copy).read() == open(os.path.join(SOURCE, "README.md")).read(),
                   "README.md's model figures are not those of models/card")
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
