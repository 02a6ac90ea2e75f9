#!/usr/bin/python3
"""Test of scripts/sources_results.py (CTest `sources_results`): issue 27's recipe section of RESULTS.md made from
a fixture of what scripts/recipe_sources.sh keeps, every figure traced to its file, and the choice made on the
validation columns alone.

    tests/scripts/sources_results_test.py SOURCE_DIR SOLA_BIN   (runs read through `sola runs --json`, the
                                                                 descriptions through `sola info --recipes`)
"""
import json
import os
import sys
import tempfile

from checks import Checks

SOURCE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
SOLA = sys.argv[2] if len(sys.argv) > 2 else os.path.join(SOURCE, "build", "sola")
sys.path.insert(0, os.path.join(SOURCE, "scripts"))
import sources_results  # noqa: E402

METHODS = sources_results.METHODS
PERTURBS = ["blur:1", "downscale:0.5", "noise:4", "jpeg:50", "sharpen:1"]


def write_eval(keep, name, model, auc, ffpp_methods, test=None):
    """NAME.eval.json: the best checkpoint (and, for a run, its last one, which must be ignored) on the six sets."""
    rows = []
    models = [(model, 0.0)] + ([(model + "/last", -0.3)] if model != "sola-dfdc" else [])
    for m, shift in models:
        for data, v in (("dfdc/val", auc["dfdc"]), ("ffpp/val", auc["ffpp"]), ("runs/pseudo-val", 0.95),
                        ("dfdc/test", test if test is not None else auc["dfdc"]), ("gan-faces-crops/all", 0.45)):
            rows.append({"model": m, "data": data, "frame": {"auc": v + shift}})
        rows.append({"model": m, "data": "ffpp/test", "frame": {"auc": 0.7 + shift},
                     "per_method_auc": {k: v + shift for k, v in zip(METHODS, ffpp_methods)}})
    json.dump(rows, open(os.path.join(keep, name + ".eval.json"), "w"))


def write_perturbed(keep, name, worst):
    """NAME.perturbed.json: 0.8 everywhere but one cell, `worst` = (perturb, data, auc)."""
    rows = [{"perturb": p, "data": d, "auc": worst[2] if (p, d) == worst[:2] else 0.8}
            for p in PERTURBS for d in ("dfdc/val", "ffpp/val")]
    json.dump(rows, open(os.path.join(keep, name + ".perturbed.json"), "w"))


def write_run(keep, name, auc, ffpp_methods, worst):
    os.makedirs(os.path.join(keep, name))
    train = {"epochs": 3, "max_steps_per_epoch": 150, "batch_size": 32, "lr": 0.0005, "lr_schedule": "cosine",
             "warmup_epochs": 0.25, "seed": 0}
    json.dump({"train": train, "model": {"arch": "sola", "input_size": 128, "grid": 8}},
              open(os.path.join(keep, name, "config.json"), "w"))
    with open(os.path.join(keep, name, "metrics.jsonl"), "w") as f:
        for e in (1, 2, 3):
            f.write(json.dumps({"type": "epoch", "epoch": e, "train_seconds": 100.0, "validate_seconds": 20.0,
                                "val": {"frame": {"auc": 0.7 + 0.01 * e}}}) + "\n")
    open(os.path.join(keep, name + ".command.txt"), "w").write(
        f"sola train --config configs/sources/{name}.json --out runs/sources/{name}\n")
    write_eval(keep, name, name, auc, ffpp_methods)
    write_perturbed(keep, name, worst)


def write_longrun(folder, epochs, evals=()):
    """What `VARIANT=sources scripts/long_run.sh --save` commits: config, command, the log of `epochs` =
    [(dfdc/val, ffpp/val, pooled val)], and evals.jsonl (`--readout`/`--ship` lines)."""
    os.makedirs(folder, exist_ok=True)
    train = {"epochs": 40, "max_steps_per_epoch": 300, "batch_size": 32, "lr": 0.0005, "lr_schedule": "cosine",
             "warmup_epochs": 0.5, "seed": 0, "patience": 6}
    json.dump({"train": train, "model": {"arch": "sola", "input_size": 128, "grid": 8}},
              open(os.path.join(folder, "config.json"), "w"))
    open(os.path.join(folder, "command.txt"), "w").write("sola train --config configs/sources/long_run.json\n")
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        for e, (d, ff, pooled) in enumerate(epochs, 1):
            extra = {k: {"frame": {"auc": v}} for k, v in (("dfdc", d), ("ffpp", ff), ("pseudo", 0.9))}
            f.write(json.dumps({"type": "epoch", "epoch": e, "best": True, "train_loss": 4.0 - 0.1 * e,
                                "train_images_per_second": 40.0, "train_seconds": 240.0, "validate_seconds": 60.0,
                                "val": {"frame": {"auc": pooled}}, "val_extra": extra}) + "\n")
    with open(os.path.join(folder, "evals.jsonl"), "w") as f:
        for e in evals:
            f.write(json.dumps(e) + "\n")


def render(keep, order, longrun=None):
    out = []
    sources_results.write_sources(out.append, keep, SOLA, order, os.path.join(SOURCE, "configs"), longrun)
    return "\n".join(out)


def main():
    checks = Checks("sources_results_test")
    expect = checks.expect
    with tempfile.TemporaryDirectory() as keep:
        expect(render(os.path.join(keep, "none"), ["base"]) == "", "no folder: no section")
        expect(render(keep, ["base"]) == "", "an empty folder: no section")
        # The reference row alone (the shipped model read out before any run).
        write_eval(keep, "shipped", "sola-dfdc", {"dfdc": 0.9335, "ffpp": 0.7037}, [0.78, 0.61, 0.60, 0.66], test=0.9375)
        write_perturbed(keep, "shipped", ("noise:4", "dfdc/val", 0.525))
        md = render(keep, ["base", "no_degrade"])
        # Its combined validation: (93.35 + 70.37 + 9 x 80 + 52.5) / 12 = 78.02.
        expect("| start | the model every run starts from: the DFDC model shipped before these runs "
               "(`models/sola-dfdc.pt` then) | 93.35 | 70.37 | 81.86 | 95.00 | 77.25 / 52.50 (noise:4, dfdc/val) | "
               "**78.02** | 93.75 | 78.00 / 61.00 / 60.00 / 66.00 (66.25) | 45.00 |" in md,
               "the shipped model's row, its worst degraded cell named:\n" + md)
        expect("has the best" not in md, "no choice without a run:\n" + md)
        # Two runs: base has the better validation mean, no_degrade the better worst case under degradation and
        # the better combined validation ((93 + 80 + 9 x 80 + 70) / 12 = 80.25 against base's 79.67); their last
        # checkpoints (0.3 lower) are never read.
        write_run(keep, "base", {"dfdc": 0.92, "ffpp": 0.84}, [0.9, 0.8, 0.85, 0.8], ("blur:1", "ffpp/val", 0.6))
        write_run(keep, "no_degrade", {"dfdc": 0.93, "ffpp": 0.80}, [0.9, 0.8, 0.85, 0.8], ("noise:4", "dfdc/val", 0.7))
        md = render(keep, ["base", "no_degrade"])
        expect("| base | issue 27's base:" in md and "| 92.00 | 84.00 | 88.00 | 95.00 | 78.00 / 60.00 (blur:1, ffpp/val) | "
               "**79.67** |" in md, "base's row, its description from configs/sources/base.json:\n" + md)
        expect("| 93.00 | 80.00 | 86.50 |" in md, "no_degrade's validation columns:\n" + md)
        expect("`no_degrade` has the best (80.25); `base` the best mean of dfdc/val and ffpp/val as they are (88.00) and "
               "`no_degrade` the best worst case under degradation (70.00)" in md, "the choice, on validation alone:\n" + md)
        expect("Budget of every run: 3 epochs of 150 steps of batch 32 (14,400 images)" in md, "the budget:\n" + md)
        expect("- `base`: best epoch 3 of 3, 6 min; `sola train --config configs/sources/base.json" in md,
               "the run list with its command:\n" + md)
        expect("62.00" not in md and "54.00" not in md, "the last checkpoints are not read:\n" + md)
        # The order is the script's, whatever the folder holds.
        expect(md.index("| base |") < md.index("| no_degrade |"), "rows in the script's order:\n" + md)
        md = render(keep, ["no_degrade"])
        expect("| base |" not in md, "a run left out of the order is not shown:\n" + md)
        # The long run carries the recipe configs/sources/long_run.json extends, with that run's figures.
        md = render(keep, ["base", "no_degrade"])
        expect("The long run carries `base` (`configs/sources/long_run.json` extends `base.json`): combined val 79.67; "
               "the best combined validation is now `no_degrade`'s. Its recipe: issue 27's long run" in md,
               "the recipe carried into the long run, and a better one said:\n" + md)
        # The long run: no folder, no subsection; then two epochs, the second best on pooled val, not validated yet;
        # then validated, behind the model it started from on the combined validation (78.02); then a third
        # ahead of it, shipped; then a fourth ahead of the shipped third.
        longrun = os.path.join(keep, "longrun-sources")
        expect("### The long run" not in render(keep, ["base"], longrun), "no long run yet: no subsection")
        write_longrun(longrun, [(0.92, 0.69, 0.85), (0.925, 0.70, 0.86)])
        md = render(keep, ["base"], longrun)
        expect("| 2 (best) | 3.8000 | 92.50 | 70.00 | 81.25 | 90.00 | 86.00 | 40.0 | 5.0 |" in md,
               "the curve, one row per epoch, its validation sets from val_extra:\n" + md)
        expect("2 epochs of 40 so far, 0.2 hours" in md and "patience 6" in md, "where the run stands:\n" + md)
        expect("The best checkpoint so far (epoch 2) has no combined validation yet" in md and
               "| the model the run started from (shipped then) | 93.35 | 70.37 | 77.25 / 52.50 (noise:4, dfdc/val) | "
               "**78.02** |" in md, "not validated yet; the reference row:\n" + md)

        def validated(epoch, d, f, degraded):
            with open(os.path.join(longrun, "validation.jsonl"), "a") as out:
                out.write(json.dumps({"checkpoint": "runs/long-sources/best.pt", "epoch": epoch, "dfdc_val": d,
                                      "ffpp_val": f, "degraded": [{"perturb": p, "data": v, "auc": degraded}
                                                                  for p in PERTURBS for v in ("dfdc/val", "ffpp/val")]})
                          + "\n")
        validated(2, 0.925, 0.70, 0.75)  # (92.5 + 70 + 10 x 75) / 12 = 76.04
        md = render(keep, ["base"], longrun)
        expect("| epoch 2 | 92.50 | 70.00 | 75.00 / 75.00 (blur:1, dfdc/val) | **76.04** |" in md and
               "(epoch 2) against the model the run started from (shipped then): combined val 76.04 against 78.02: "
               "not ahead" in md, "behind the model it started from:\n" + md)
        validated(3, 0.93, 0.75, 0.85)  # (93 + 75 + 10 x 85) / 12 = 84.83
        write_longrun(longrun, [(0.92, 0.69, 0.85), (0.925, 0.70, 0.86), (0.93, 0.75, 0.88)])
        md = render(keep, ["base"], longrun)
        expect("(epoch 3) against the model the run started from (shipped then): combined val 84.83 against 78.02: "
               "ahead: ship it" in md, "ahead of it:\n" + md)
        shipped3 = {"checkpoint": "runs/long-sources-ship/best.pt", "epoch": 3, "val": 0.93, "ffpp_val": 0.75,
                    "pseudo_val": 0.9, "test": 0.94, "ffpp_test": 0.77, "gan": 0.5, "shipped": True}
        write_longrun(longrun, [(0.92, 0.69, 0.85), (0.925, 0.70, 0.86), (0.93, 0.75, 0.88)], [shipped3])
        md = render(keep, ["base"], longrun)
        expect("The best checkpoint so far (epoch 3) is the one shipped." in md and "| epoch 3, shipped |" in md and
               "| the model the run started from" not in md, "shipped:\n" + md)
        expect("| runs/long-sources-ship/best.pt (shipped) | 3 | 93.00 | 75.00 | 90.00 | 94.00 | 77.00 | 50.00 |" in md,
               "the read-outs, with the FF++ columns:\n" + md)
        validated(4, 0.94, 0.78, 0.86)  # (94 + 78 + 10 x 86) / 12 = 86.00
        write_longrun(longrun, [(0.92, 0.69, 0.85), (0.925, 0.70, 0.86), (0.93, 0.75, 0.88), (0.94, 0.78, 0.89)],
                      [shipped3])
        md = render(keep, ["base"], longrun)
        expect("(epoch 4) against epoch 3, shipped: combined val 86.00 against 84.83: ahead: ship it" in md,
               "a later checkpoint against the epoch shipped:\n" + md)
        expect(md.index("### The long run") < md.index("Targets of the shipped model"), "the subsection's place:\n" + md)
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
