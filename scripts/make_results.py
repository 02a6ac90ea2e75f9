#!/usr/bin/env python3
"""Writes docs/RESULTS.md from the outputs of scripts/results_dfdc.sh and scripts/long_run.sh (stdout).

Usage: make_results.py RUNS_DIR [--sola BIN] [--configs DIR] [--gan PREPARE_JSON] [--longrun DIR]
                       [--recipe DIR] [--ffpp DIR] [--calibration DIR] [--sharpness JSON] [--robustness JSON]
                       [--sources DIR] [--sources-longrun DIR] --main NAME ... [--checks NAME ...]
                       [--tried NAME ...] [--pseudo NAME ...] [--recipe-runs NAME ...] [--sources-runs NAME ...]
Lays out tables; it derives nothing that `sola` gives. Per run folder RUNS_DIR/NAME (a run's small files,
kept by scripts/eval_sets.sh) it reads `sola runs --json` (config, command, epochs once each, best epoch,
stop reason, times) and RUNS_DIR/NAME.eval.json (`sola eval --json` of NAME/best.pt and NAME/last.pt on
dfdc/val, dfdc/test and the gan-faces crops); what each run is, from its recipe (`sola info --recipes`:
configs/dfdc/NAME.json, configs/recipe/NAME.json; a check or a tried run is compared with the recipe it
extends). For the long run, `sola runs --json` of DIR and DIR/evals.jsonl (scripts/long_run.sh); for the
recipe table, the --recipe DIR that scripts/recipe_dfdc.sh fills (the runs of --recipe-runs, in that
order, and costs.json); for the FaceForensics++ section, the --ffpp DIR that scripts/ffpp_protocol.sh fills
(scripts/ffpp_results.py); for issue 27's section, the --sources DIR of scripts/recipe_sources.sh and the
--sources-longrun DIR of `VARIANT=sources scripts/long_run.sh` (scripts/sources_results.py). No figure is typed by hand, and a conclusion drawn at a threshold states it.
BIN: the sola binary (default $SOLA_BIN, else ./build/sola); DIR of --configs: configs.
"""
import hashlib
import json
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ffpp_results import write_ffpp  # noqa: E402
from sources_results import write_sources  # noqa: E402
from sola_json import default_sola, load_jsonl, recipes, run_summaries  # noqa: E402

VAL, TEST, FFPP_VAL, FFPP_TEST = "dfdc/val", "dfdc/test", "ffpp/val", "ffpp/test"


def report_set(data):
    """The evaluation set of a `sola eval` data name: "val", "pseudo_val", "test" (dfdc/test), "ffpp_val"
    (ffpp/val), "ffpp_test" (ffpp/test), "gan" (the gan-faces crops), or None for another set."""
    if data.startswith("gan-faces"):
        return "gan"
    if data.endswith("pseudo-val"):
        return "pseudo_val"
    return {VAL: "val", TEST: "test", FFPP_VAL: "ffpp_val", FFPP_TEST: "ffpp_test"}.get(data)


def pct(v):
    return "–" if v is None else f"{100 * v:.2f}"


def write_command(w, cmd, name, description):
    w(f"**{name}**: {description}")
    w("")
    w("```sh")
    w(cmd)
    w("```")
    w("")


class Run:
    """A kept run: its summary (`sola runs --json`) and its evaluation (`sola eval --json` of best.pt and last.pt)."""

    def __init__(self, runs, summary, gan_name):
        self.name = summary["name"]
        self.summary = summary
        if not summary["command"]:
            sys.exit(f"make_results.py: run {self.name} in {runs}: no command file ({self.name}.command.txt)")
        self.cmd = summary["command"]
        self.cfg = summary["config"]
        self.epochs = summary["epochs"]
        path = os.path.join(runs, self.name + ".eval.json")
        try:
            self.evals = {(e["model"], e["data"]): e for e in json.load(open(path))}
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"make_results.py: run {self.name} in {runs}: cannot read {path} ({e})")
        self.gan = gan_name

    def eval(self, data, last=False):
        """The `sola eval` row of the best (or last) checkpoint on `data`, by the name sola eval gives it."""
        return self.evals.get((self.summary["checkpoints"]["last" if last else "best"], data))

    def auc(self, data, last=False):
        e = self.eval(data, last)
        return None if e is None else e["frame"]["auc"]

    def map_auc(self, data, last=False):
        """The AUC of the second-order maps' peak alone (sola eval's "map"), None where not measured."""
        e = self.eval(data, last)
        return None if e is None or "map" not in e else e["map"]["auc"]

    def metric(self, data, key, last=False):
        e = self.eval(data, last)
        return None if e is None else e["frame"][key]

    def best_epoch(self):
        return self.summary["best_epoch"]

    def ips(self):
        return self.summary["train_images_per_second"]

    def minutes(self):
        return self.summary["train_seconds"] / 60

    def data_wait(self):
        return self.summary["data_wait_share"]


def load_runs(sola, runs, names, gan_name):
    """The runs NAME of the folder `runs`, by name (`sola runs --json` of them all at once)."""
    summaries = run_summaries(sola, [os.path.join(runs, n) for n in names])
    return {n: Run(runs, s, gan_name) for n, s in zip(names, summaries)}


def table_header(w):
    w("| run | val AUC | **test AUC** | test AUC (last) | **gan-faces AUC** | gan-faces (last) | test AP | test EER | "
      "best epoch | train img/s | data wait | train time |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")


def table_row(w, r):
    wait = r.data_wait()
    w(f"| {r.name} | {pct(r.auc(VAL))} | {pct(r.auc(TEST))} | {pct(r.auc(TEST, True))} | {pct(r.auc(r.gan))} | "
      f"{pct(r.auc(r.gan, True))} | {pct(r.metric(TEST, 'ap'))} | {pct(r.metric(TEST, 'eer'))} | "
      f"{r.best_epoch()}/{len(r.epochs)} | {r.ips():.1f} | {'–' if wait is None else f'{100 * wait:.1f}%'} | "
      f"{r.minutes():.0f} min |")


def diff(a, b):
    return "–" if a is None or b is None else f"{100 * (a - b):+.2f}"


def parse_args(argv):
    """RUNS_DIR and the options (module docstring) -> a namespace: one attribute per option (its dashes as
    underscores; None when absent), `runs`, and `groups` (the run names after each of --main ... --sources-runs)."""
    groups = {"--main": [], "--checks": [], "--tried": [], "--pseudo": [], "--recipe-runs": [], "--sources-runs": []}
    paths = ("--gan", "--longrun", "--recipe", "--ffpp", "--calibration", "--sources", "--sources-longrun")
    measured = ("--sharpness", "--robustness")  # JSON files read when they exist (measured once their data does)
    a = types.SimpleNamespace(runs=argv[0], sola=default_sola(), configs="configs", groups=groups,
                              **{k[2:].replace("-", "_"): None for k in paths + measured})
    current = None
    it = iter(argv[1:])
    for arg in it:
        if arg in ("--sola", "--configs") + paths:
            setattr(a, arg[2:].replace("-", "_"), next(it))
        elif arg in measured:
            path = next(it)
            setattr(a, arg[2:], json.load(open(path)) if os.path.exists(path) else None)
        elif arg in groups:
            current = arg
        elif current is None:
            sys.exit(f"make_results.py: expected --main before {arg}")
        else:
            groups[current].append(arg)
    return a


def gan_data_name(runs, names):
    """The eval data name of the gan-faces crops (e.g. gan-faces-crops/all), from any run's eval."""
    for name in names:
        path = os.path.join(runs, name + ".eval.json")
        if not os.path.exists(path):
            continue  # reported by Run
        for e in json.load(open(path)):
            if e["data"].startswith("gan-faces"):
                return e["data"]
    return "gan-faces"


PSEUDO_VAL = "runs/pseudo-val"
# The recipe row that repeats `base` with another seed: the noise, not a change.
SEED_ROW = "base_seed1"
# The thresholds the conclusions below are drawn at (AUC as a fraction); every sentence that uses one states it.
LEVEL = 0.01        # two AUCs closer than this are called level
BELOW_CHANCE = 0.45  # an AUC under this ranks the classes the wrong way round
ABOVE_CHANCE = 0.55  # an AUC at or over this separates them
MOVED = 0.05         # a change of at least this much moves a figure
COSTLY = 0.10        # a loss of at least this much is a large cost
PEAK_RISE = 0.1      # a rise of the maps' mean peak (a probability) by at least this much
# Issue 27's robustness target: frame AUC at least ROBUST_AUC on both test sets under each of these.
ROBUST_AUC = 0.85
ROBUST_PERTURBS = ("blur:1", "downscale:0.5", "noise:4", "jpeg:50", "sharpen:1")
ROBUST_SETS = (("test", "dfdc/test"), ("ffpp_test", "ffpp/test"))


def write_recipe(w, sola, recipe, order, described):
    """The recipe table: the runs of `order` (scripts/recipe_dfdc.sh's) that have finished, each described by
    its recipe (configs/recipe/NAME.json)."""
    names = [n for n in order if os.path.exists(os.path.join(recipe, n + ".eval.json"))]
    if not names:
        return
    runs = load_runs(sola, recipe, names, None)
    for n in names:
        runs[n].gan = gan_data_name(recipe, [n])
    costs_path = os.path.join(recipe, "costs.json")
    costs = load_jsonl(costs_path) if os.path.exists(costs_path) else []
    w("## The recipe, measured")
    w("")
    w("Short runs on all 22,000 DFDC training crops (`dfdc/train` + `dfdc/train-extra`), one change each from "
      "the base recipe, at equal CPU cost: the base run trains on a fixed number of images (3 epochs of random "
      "subsets), a run whose training step costs more gets proportionally fewer images and one whose step costs "
      "less more images (in more epochs where they would not fit in 3 passes over the crops; the step of each "
      "geometry measured once with `sola_bench_train`: " +
      ", ".join(f"{c['variant']} {c['size']} px grid {c['grid']}: {c['img_s']:.1f} img/s" for c in costs) + "). Chosen on "
      "`dfdc/val` (best checkpoint) with the pseudo-forgery validation set beside it; dfdc/test and gan-faces are "
      "read out for the best and the last checkpoint. Frame AUC in %; the differences are against `base`, "
      "one seed each (the two-seed noise of the checks above applies). \"Maps alone\": the AUC of the largest cell "
      "of the second-order anomaly map as the score, without the classifier (`sola eval`'s mapAUC): whether the "
      "local-anomaly cue itself separates the GAN faces.")
    w("")
    w("| run | change | images | val | pseudo-val | **test** | **gan-faces** | gan-faces, maps alone | test (last) | "
      "gan-faces (last) | val vs base | gan-faces vs base | train time |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    base = runs.get("base")
    for n in names:
        r = runs[n]
        w(f"| {n} | {described(n)} | {r.summary['images']} | {pct(r.auc(VAL))} | {pct(r.auc(PSEUDO_VAL))} | {pct(r.auc(TEST))} | "
          f"{pct(r.auc(r.gan))} | {pct(r.map_auc(r.gan))} | {pct(r.auc(TEST, True))} | {pct(r.auc(r.gan, True))} | "
          f"{diff(r.auc(VAL), base.auc(VAL)) if base else '–'} | {diff(r.auc(r.gan), base.auc(base.gan)) if base else '–'} | "
          f"{r.minutes():.0f} min |")
    w("")
    baseline = runs.get("resnet18")
    sola_rows = [n for n in names if n != "resnet18" and runs[n].auc(VAL) is not None]
    if baseline and sola_rows:
        # The baseline against SOLA at the same cost: the base recipe (the long run's), and the SOLA
        # row best on dfdc/val (chosen there, never on what is reported).
        chosen = max(sola_rows, key=lambda n: runs[n].auc(VAL))
        def versus(n):
            r = runs[n]
            dt, dg = r.auc(TEST) - baseline.auc(TEST), r.auc(r.gan) - baseline.auc(baseline.gan)
            def word(d):  # one seed each: a difference under LEVEL is called level, and the text says so
                return "level" if abs(d) < LEVEL else "ahead" if d > 0 else "behind"
            return (f"`{n}` {pct(r.auc(TEST))} / {pct(r.auc(r.gan))} ({diff(r.auc(TEST), baseline.auc(TEST))} / "
                    f"{diff(r.auc(r.gan), baseline.auc(baseline.gan))}: {word(dt)} in-domain, {word(dg)} on the GAN faces)")
        compared = ["base"] if "base" in runs else []
        if chosen not in compared:
            compared.append(chosen)
        w(f"**SOLA against the ResNet18 baseline at the same cost** (dfdc/test / gan-faces, frame AUC %): the baseline "
          f"{pct(baseline.auc(TEST))} / {pct(baseline.auc(baseline.gan))}; " + "; ".join(versus(n) for n in compared) +
          f". (`{chosen}` is the SOLA row best on dfdc/val; \"level\": less than {100 * LEVEL:.2f} points apart.)")
        w("")
        def images(r):
            return r.summary["images"]
        if base and base.auc(TEST) is not None and base.auc(TEST) < baseline.auc(TEST) and images(base) > 0:
            why = (f"Why `base` is behind: at the same cost the baseline sees {images(baseline) / images(base):.1f}x the "
                   f"images ({images(baseline)} against {images(base)}; its step is that much cheaper)")
            p0 = runs.get("pseudo_0")
            if p0 and p0.auc(VAL) is not None and base.auc(VAL) is not None and p0.auc(VAL) > base.auc(VAL):
                why += (f", and the base recipe gives a quarter of its fakes to self-blends, which cost it "
                        f"{100 * (p0.auc(VAL) - base.auc(VAL)):.2f} points of dfdc/val at this budget (`pseudo_0`)")
            w(why + ". Short runs favour the cheaper step: whether SOLA's second trunk pays off at a longer budget is "
                    "what the baseline's long run at equal compute (`VARIANT=resnet18 scripts/long_run.sh`) measures.")
            w("")
    findings = gan_findings(runs, names)
    if findings:
        w(findings)
        w("")
    for n in names:
        write_command(w, runs[n].cmd, n, described(n))
        w("Per epoch: " + "; ".join(
            f"{l['epoch']}: val {pct(l['val']['frame']['auc'])}, pseudo-val "
            f"{pct(l.get('val_extra', {}).get('pseudo', {}).get('frame', {}).get('auc'))}" for l in runs[n].epochs) + ".")
        w("")


def gan_findings(runs, names):
    """What each recipe row does to the GAN faces against `base`: a read-out, nothing is chosen on it."""
    # Per run: gan-faces AUC, maps-alone AUC on gan-faces, dfdc/val AUC (each None where not measured).
    fig = {n: (runs[n].auc(runs[n].gan), runs[n].map_auc(runs[n].gan), runs[n].auc(VAL)) for n in names}
    if "base" not in fig or fig["base"][0] is None:
        return ""
    bg, bm, bv = fig["base"]
    ranked = sorted((n for n in names if n not in ("base", SEED_ROW) and fig[n][0] is not None), key=lambda n: -fig[n][0])
    if not ranked:
        return ""
    sg, _, sv = fig.get(SEED_ROW, (None, None, None))

    def item(n):
        g, m, v = fig[n]
        return f"`{n}` {pct(g)} ({diff(g, bg)}" + (f", maps alone {pct(m)}" if m is not None else "") + f"; dfdc/val {diff(v, bv)})"
    # Below chance: the base ranks the StyleGAN2 faces as more real than the photographs (with both seeds, when
    # the second was run: otherwise the low score is one seed's draw, not the recipe's).
    below = bg < BELOW_CHANCE and (sg is None or sg < BELOW_CHANCE)
    text = ("**What moves gan-faces** (frame AUC %, a read-out: nothing is chosen on it). `base` scores " + pct(bg) +
            (f" (maps alone {pct(bm)})" if bm is not None else "") +
            (f", below chance (under {pct(BELOW_CHANCE)}" + (" with both seeds" if sg is not None else "") +
             "): it ranks the StyleGAN2 faces as more real than the FFHQ photographs" if below else "") + ". ")
    if sg is not None:
        text += (f"Two seeds of the base recipe land {100 * abs(sg - bg):.2f} points apart on gan-faces ({pct(bg)} and "
                 f"{pct(sg)}) and {100 * abs(sv - bv):.2f} on dfdc/val ({pct(bv)} and {pct(sv)}): "
                 "a difference within that is noise. ")
    text += "The rows, by their gan-faces AUC: " + ", ".join(item(n) for n in ranked) + ". "
    best = fig[ranked[0]][0]
    if best < ABOVE_CHANCE:
        text += (f"No row lifts the classifier's score clearly above chance (to {pct(ABOVE_CHANCE)} or more; the best, "
                 f"`{ranked[0]}`, {pct(best)})" +
                 (f": the changes take it from below chance to about chance (the best more than {100 * MOVED:.2f} points "
                  "above `base`), they remove a cue that pointed the wrong way rather than teach one that transfers"
                  if below and best > bg + MOVED else "") + ". ")
    mapped = [n for n in ["base"] + ranked if fig[n][1] is not None]
    if mapped:
        mn = max(mapped, key=lambda n: fig[n][1])
        g, m, _ = fig[mn]
        if m >= ABOVE_CHANCE and m > g:
            text += (f"The second-order anomaly maps alone separate the GAN faces best in `{mn}` ({pct(m)}: "
                     f"{pct(ABOVE_CHANCE)} or more, and above its classifier's {pct(g)}): the local-anomaly cue carries "
                     "more of them than the classifier over it uses.")
    return text.strip()


def sharpness_sentence(rows):
    """The measured sharpness of the DFDC training crops and the gan-faces crops, and what it means."""
    med = {(r["data"], r["label"]): r["median"] for r in rows}
    quart = {(r["data"], r["label"]): (r["q1"], r["q3"]) for r in rows}
    need = [("train", 0), ("train", 1), ("gan-faces", 0), ("gan-faces", 1)]
    if not all(k in med for k in need):
        return ""
    tr, tf, gr, gf = (med[k] for k in need)
    size = rows[0].get("size", 128)
    smoother = "smoother" if tf < tr else "sharper"
    ratio = min(gr, gf) / max(tr, tf)
    equal = abs(gr - gf) < 0.1 * max(gr, gf)
    gan_q1 = min(quart[("gan-faces", 0)][0], quart[("gan-faces", 1)][0])
    train_q3 = max(quart[("train", 0)][1], quart[("train", 1)][1])
    return (f"Sharpness, measured (`scripts/sharpness.py`: the standard deviation of the Laplacian over the central "
            f"half of each crop at {size} px, in grey levels, median per class; results/dfdc/sharpness.json): "
            f"dfdc/train real {tr:.1f}, fake {tf:.1f}; gan-faces real {gr:.1f}, fake {gf:.1f}. Within DFDC the fakes "
            f"are the {smoother} class ({100 * (tf - tr) / tr:+.0f}%), a cue a detector can learn; the gan-faces crops "
            f"are {ratio:.1f}x as sharp as either DFDC class and {'equally' if equal else 'unequally'} sharp in both of "
            f"theirs (medians {'within 10% of each other' if equal else 'more than 10% apart'})" +
            (f": three in four lie beyond three in four of DFDC's crops (gan-faces' lower quartile {gan_q1:.1f} above "
             f"DFDC's upper quartile {train_q3:.1f}), outside most of what the training showed. " if gan_q1 > train_q3 else ". "))


def robustness_target(auc):
    """Issue 27's robustness target read from the rows ((perturb, data) -> row): which of its cells meet it."""
    met, missed, absent = [], [], []
    for key, name in ROBUST_SETS:
        for p in ROBUST_PERTURBS:
            v = auc.get((p, key), {}).get("auc")
            if v is None:
                absent.append(f"{name} `{p}`")
            elif v >= ROBUST_AUC:
                met.append(f"{name} `{p}` {pct(v)}")
            else:
                missed.append(f"{name} `{p}` {pct(v)}")
    cells = len(ROBUST_SETS) * len(ROBUST_PERTURBS)
    perturbs = ", ".join(f"`{p}`" for p in ROBUST_PERTURBS[:-1]) + f" and `{ROBUST_PERTURBS[-1]}`"
    text = (f"**Target** (issue 27): frame AUC {pct(ROBUST_AUC)} or more on both dfdc/test and ffpp/test under each of "
            f"{perturbs}. ")
    if not missed and not absent:
        return text + f"Met: all {cells} cells."
    text += "Not met: " if missed else "Not read out in full: "
    text += f"{len(met)} of the {cells} cells {'meets' if len(met) == 1 else 'meet'} it" + (f" ({'; '.join(met)})" if met else "")
    if missed:
        text += f", {len(missed)} {'falls' if len(missed) == 1 else 'fall'} short ({'; '.join(missed)})"
    if absent:
        text += f", {len(absent)} not read out ({'; '.join(absent)}: rerun `scripts/robustness.sh`)"
    return text + "."


def write_robustness(w, rob):
    """The shipped model scored under fixed degradations (scripts/robustness.sh: sola eval --perturb)."""
    if not rob or not rob.get("rows"):
        return
    w("## Robustness of the shipped model")
    w("")
    if os.path.exists(rob["model"]):
        with open(rob["model"], "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != rob["sha256"]:
                w(f"The read-out below is of an earlier `{rob['model']}`: rerun `scripts/robustness.sh`.")
                w("")
    auc = {(r["perturb"], r["data"]): r for r in rob["rows"]}
    perturbs = list(dict.fromkeys(r["perturb"] for r in rob["rows"]))
    present = {r["data"] for r in rob["rows"]}
    scored = [n for k, n in (("test", "dfdc/test"), ("ffpp_test", "ffpp/test"), ("gan", "gan-faces")) if k in present]
    w(f"`{rob['model']}` scoring {', '.join(scored[:-1]) + ' and ' + scored[-1] if len(scored) > 1 else ''.join(scored)} "
      "with every image degraded the same way first "
      "(`scripts/robustness.sh`: `sola eval --perturb`, at the model's input size; blur in px of that size). "
      "Sharpening (`sharpen:AMOUNT`, an unsharp mask of 1 px) adds detail where blur takes it away. "
      "A read-out: nothing is chosen on it. Frame AUC %, the difference against the undegraded images in brackets.")
    w("")
    peaks = all(auc.get((p, "test"), {}).get("real_peak") is not None for p in perturbs)
    w("| degradation | dfdc/test | ffpp/test | gan-faces | gan-faces, maps alone |" +
      (" maps' mean peak, dfdc/test real / fake |" if peaks else ""))
    w("|---|---|---|---|---|" + ("---|" if peaks else ""))
    def cell(p, d, key="auc"):
        v, ref = auc.get((p, d), {}).get(key), auc.get(("none", d), {}).get(key)
        if v is None:
            return "–"
        return pct(v) if p == "none" or ref is None else f"{pct(v)} ({100 * (v - ref):+.2f})"
    for p in perturbs:
        row = f"| {p} | {cell(p, 'test')} | {cell(p, 'ffpp_test')} | {cell(p, 'gan')} | {cell(p, 'gan', 'map_auc')} |"
        if peaks:
            r = auc[(p, "test")]
            row += f" {r['real_peak']:.2f} / {r['fake_peak']:.2f} |"
        w(row)
    w("")
    w(robustness_target(auc))
    w("")
    if peaks and len(perturbs) > 1 and ("none", "test") in auc:
        r0 = auc[("none", "test")]["real_peak"]
        others = [p for p in perturbs if p != "none"]
        rise = [p for p in others if auc[(p, "test")]["real_peak"] - r0 >= PEAK_RISE]
        top = max(others, key=lambda p: auc[(p, "test")]["real_peak"])
        if len(rise) >= len(others) / 2:
            w(f"The maps' mean peak on dfdc/test's real faces, {r0:.2f} on the images as they are, rises by {PEAK_RISE:.2f} or "
              f"more under {len(rise)} of the {len(others)} degradations (to {auc[(top, 'test')]['real_peak']:.2f} at `{top}`), "
              "whichever way they move the detail: softer, coarser, noisier or sharper. What the maps have learned as "
              "normal is the low-level statistics of DFDC's real video frames, and a real face that departs from them "
              "reads as an anomaly, which is what the FFHQ photographs of gan-faces are" +
              (f" (their mean peak: {auc[('none', 'gan')]['real_peak']:.2f})."
               if auc.get(("none", "gan"), {}).get("real_peak") is not None else "."))
            w("")
    blurs = [p for p in perturbs if p.startswith("blur:") and (p, "gan") in auc and (p, "test") in auc]
    if ("none", "gan") in auc and ("none", "test") in auc and blurs:
        g0, t0 = auc[("none", "gan")]["auc"], auc[("none", "test")]["auc"]
        top = max(blurs, key=lambda p: auc[(p, "gan")]["auc"])
        g1, t1 = auc[(top, "gan")]["auc"], auc[(top, "test")]["auc"]
        text = (f"Blurring the finest detail away moves gan-faces from {pct(g0)} to at most {pct(g1)} (`{top}`), while "
                f"dfdc/test goes from {pct(t0)} to {pct(t1)} there. ")
        if g1 - g0 >= MOVED:
            text += (f"The GAN faces score better ({100 * (g1 - g0):+.2f} points, {100 * MOVED:.2f} or more) once the detail that makes them (and the FFHQ photographs) sharper than "
                     "DFDC's crops is gone: that excess detail pointed the model the wrong way, a domain gap in sharpness "
                     "rather than a missing cue alone.")
            if t0 - t1 >= COSTLY:
                text += (f" The same blur costs dfdc/test {100 * (t0 - t1):.2f} points ({100 * COSTLY:.2f} or more): what the model learned to "
                         "call fake on DFDC lives in the finest detail of its input, the very band in which the gan-faces "
                         "crops differ most from DFDC's (results/dfdc/sharpness.json). No setting is chosen on this: "
                         "gan-faces is a report set, and a blur that helps it costs the in-domain figure.")
        elif g1 >= ABOVE_CHANCE:
            text += (f"Blur changes little (gan-faces up less than {100 * MOVED:.2f} points, and at {pct(ABOVE_CHANCE)} or "
                     "more already): the model's ranking of the GAN faces does not rest on the finest detail.")
        else:
            text += (f"Taking the excess detail away does not make the GAN faces separable (up less than "
                     f"{100 * MOVED:.2f} points, under {pct(ABOVE_CHANCE)}): the sharpness gap is not what "
                     "hides them; the cue the model learned on DFDC (blending boundaries, local noise inconsistencies) "
                     "is absent from a face generated whole.")
        w(text)
        w("")
    sharps = [p for p in perturbs if p.startswith("sharpen:") and (p, "test") in auc]
    if ("none", "test") in auc and sharps:
        t0 = auc[("none", "test")]["auc"]
        top = max(sharps, key=lambda p: float(p.split(":", 1)[1]))  # the strongest sharpening
        t1 = auc[(top, "test")]["auc"]
        text = (f"Sharpening goes the other way, towards the detail of a photograph: at `{top}` dfdc/test goes from "
                f"{pct(t0)} to {pct(t1)}")
        if ("none", "gan") in auc and (top, "gan") in auc:
            text += f" and gan-faces from {pct(auc[('none', 'gan')]['auc'])} to {pct(auc[(top, 'gan')]['auc'])}"
        if t0 - t1 >= MOVED:
            text += (f". DFDC's own forgeries get harder to tell (dfdc/test {100 * (t0 - t1):.2f} points down: "
                     f"{100 * MOVED:.2f} or more) once their crops are as sharp as a photograph")
            r0, r1 = auc[("none", "test")].get("real_peak"), auc[(top, "test")].get("real_peak")
            f0, f1 = auc[("none", "test")].get("fake_peak"), auc[(top, "test")].get("fake_peak")
            if None not in (r0, r1, f0, f1) and r1 - r0 > f1 - f0:
                text += (f": the added detail raises the maps of the real faces (mean peak {r0:.2f} to {r1:.2f}) more than "
                         f"those of the fakes ({f0:.2f} to {f1:.2f}), so real faces sharper than DFDC's frames look forged.")
            else:
                text += ": the model's cue is tuned to the soft look of DFDC's video frames."
        else:
            text += (f". DFDC's crops made as sharp as a photograph keep most of their AUC (dfdc/test less than "
                     f"{100 * MOVED:.2f} points down): added detail alone does not "
                     "mislead the model on the forgeries it was trained on.")
        w(text)
        w("")


def write_curve(w, run):
    """A long run's learning curve (its `sola runs --json` summary): one row per epoch, its hours, where it stands
    against its stop rule (train option patience)."""
    epochs, stops = run["epochs"], run["stops"]
    if not epochs:
        return
    w("| epoch | train loss | val frame AUC | pseudo-val frame AUC | train img/s | data wait | minutes |")
    w("|---|---|---|---|---|---|---|")
    for l in epochs:
        pv = l.get("val_extra", {}).get("pseudo", {}).get("frame", {}).get("auc")
        wait = l.get("data_wait_share")
        w(f"| {l['epoch']} | {l['train_loss']:.4f} | {pct(l['val']['frame']['auc'])} | {pct(pv)} | "
          f"{l['train_images_per_second']:.1f} | {'–' if wait is None else f'{100 * wait:.1f}%'} | "
          f"{l['train_seconds'] / 60:.0f} |")
    w("")
    hours = run["train_seconds"] / 3600
    so_far = "" if stops else " so far"  # a run that stopped itself has ended
    w(f"{len(epochs)} epochs{so_far}, {hours:.1f} hours of training loop (wall time, on 2 shared cores).")
    w("")
    # Where the run stands: the best of each validation set and the epochs since either last improved, as the
    # trainer's early stopping counts them.
    best = {b["set"]: b for b in run["best"]}
    val, pv = best.get("val", {}), best.get("pseudo", {})
    last, max_epochs = run["last_epoch"], run["epochs_planned"]
    patience = run["config"]["train"].get("patience", 0)
    rule = (f"The run stops when neither has improved over {patience} epochs or at {max_epochs} epochs: " +
            ("that point is reached." if run["epochs_since_improvement"] >= patience else "not yet.") if patience else
            f"The run stops at {max_epochs} epochs: " + ("that point is reached." if last >= max_epochs else "not yet."))
    w(f"Best{so_far}: dfdc/val {pct(val.get('auc'))} at epoch {val.get('epoch')}, pseudo-val {pct(pv.get('auc'))} at "
      f"epoch {pv.get('epoch')} ({last - val.get('epoch', last)} and {last - pv.get('epoch', last)} epochs ago). " + rule)
    w("")
    if stops:
        w(f"The run stopped itself before epoch {stops[-1]['epoch'] + 1} (`sola train`, metrics.jsonl): "
          f"{stops[-1]['reason']}.")
        w("")


def write_longrun_baseline(w, sola, folder, sola_run, sola_evals):
    """The ResNet18 baseline's long run (VARIANT=resnet18 scripts/long_run.sh) against SOLA's at equal compute."""
    if not os.path.exists(os.path.join(folder, "metrics.jsonl")):
        return
    run = run_summaries(sola, [folder])[0]
    epochs, cfg = run["epochs"], run["config"]
    evals_path = os.path.join(folder, "evals.jsonl")
    evals = load_jsonl(evals_path) if os.path.exists(evals_path) else []
    w("### The ResNet18 baseline at equal compute")
    w("")
    w(f"The plain ResNet18 (classifier BCE) on the same crops with the same recipe, validation sets and stopping rule, "
      f"given the compute of SOLA's 50 epochs: its training step is cheaper (results/recipe/costs.json), so it gets "
      f"{cfg['train']['epochs']} epochs (`VARIANT=resnet18 scripts/long_run.sh`, carried from sitting to sitting through "
      f"`{folder}`).")
    w("")
    w("```sh")
    w(run["command"] or "")
    w("```")
    w("")
    write_curve(w, run)
    sola_hours = sola_run["train_seconds"] / 3600
    if epochs:
        hours = run["train_seconds"] / 3600
        w(f"Compute so far: the baseline {len(epochs)} epochs in {hours:.1f} hours, SOLA {sola_run['epochs_done']} epochs in "
          f"{sola_hours:.1f} hours (wall time on shared cores: a guide; the budget is set in epochs from the measured step costs).")
        w("")
    read = [e for e in evals if e.get("test") is not None and e.get("gan") is not None]
    shipped = [e for e in sola_evals if e.get("shipped") and e.get("test") is not None and e.get("gan") is not None]
    if read:
        w("| checkpoint | epoch | val | pseudo-val | **dfdc/test** | **gan-faces** |")
        w("|---|---|---|---|---|---|")
        for e in read:
            w(f"| {e['checkpoint']} | {e['epoch']} | {pct(e.get('val'))} | {pct(e.get('pseudo_val'))} | {pct(e['test'])} | "
              f"{pct(e['gan'])} |")
        w("")
    if read and shipped:
        b, s_ = read[-1], shipped[-1]
        dt, dg = 100 * (s_["test"] - b["test"]), 100 * (s_["gan"] - b["gan"])
        def side(d):
            return "ahead" if d > 0 else "behind" if d < 0 else "level"
        w(f"SOLA's shipped model (epoch {s_['epoch']}) against the baseline's best so far (epoch {b['epoch']}): dfdc/test "
          f"{pct(s_['test'])} against {pct(b['test'])} ({dt:+.2f}: {side(dt)}), gan-faces {pct(s_['gan'])} against "
          f"{pct(b['gan'])} ({dg:+.2f}: {side(dg)}).")
        w("")


def write_longrun(w, sola, longrun, sharpness=None):
    """The long run's section; `sharpness`: the rows of scripts/sharpness.py, when measured."""
    if not os.path.exists(os.path.join(longrun, "metrics.jsonl")):
        return
    run = run_summaries(sola, [longrun])[0]
    cfg, cmd = run["config"], run["command"] or ""
    evals_path = os.path.join(longrun, "evals.jsonl")
    evals = load_jsonl(evals_path) if os.path.exists(evals_path) else []
    t = cfg["train"]
    w("## The long run")
    w("")
    w(f"SOLA on all 22,000 DFDC training crops (`dfdc/train` + `dfdc/train-extra`) towards {t['epochs']} epochs: "
      f"input {cfg['model']['input_size']} px, grid {cfg['model']['grid']}, loss {cfg.get('loss', {}).get('mode', t['loss'])}, "
      f"pseudo_fake_share {t.get('pseudo_fake_share', 0)}, {t.get('precision', 'fp32')}, Adam lr {t['lr']} "
      f"({t['lr_schedule']}, warm-up {t.get('warmup_epochs', 0)} epoch), batch {t['batch_size']}. It goes on from sitting to "
      "sitting (`scripts/long_run.sh`: the committed compact state `models/longrun/state.pt`, weights in fp16 with the "
      "run's position; Adam restarts with a one-epoch warm-up at each sitting). Both validation sets choose: `dfdc/val` "
      "and the pseudo-forgery set (the `dfdc/val` reals with one `sola synth` blend each, seed fixed). dfdc/test and "
      "gan-faces are read out only when a checkpoint is shipped, and for the last checkpoint once the run has ended.")
    w("")
    w("```sh")
    w(cmd)
    w("```")
    w("")
    write_curve(w, run)
    if evals:
        w("Read-outs of the checkpoints shipped or considered (frame AUC %):")
        w("")
        w("| checkpoint | epoch | val | pseudo-val | **dfdc/test** | **gan-faces** | gan-faces, maps alone |")
        w("|---|---|---|---|---|---|---|")
        for e in evals:
            w(f"| {e['checkpoint']}{' (shipped)' if e.get('shipped') else ''} | {e['epoch']} | {pct(e.get('val'))} | "
              f"{pct(e.get('pseudo_val'))} | {pct(e.get('test'))} | {pct(e.get('gan'))} | {pct(e.get('gan_map'))} |")
        w("")
        shipped = [e for e in evals if e.get("shipped")]
        later = [e for e in evals if not e.get("shipped") and shipped and (e.get("epoch") or 0) > (shipped[-1].get("epoch") or 0)]
        if later and later[-1].get("val") is not None and shipped[-1].get("val") is not None:
            e, s_ = later[-1], shipped[-1]
            ahead = e["val"] > s_["val"] and (e.get("pseudo_val") or 0) > (s_.get("pseudo_val") or 0)
            w(f"`{e['checkpoint']}` (epoch {e['epoch']}) is read out, " + (
                "and ahead of the shipped model on both validation sets: ship it (`scripts/long_run.sh --ship`)."
                if ahead else
                f"not shipped: the shipped epoch {s_['epoch']} is not behind it on " + " and ".join(
                    f"{name} ({pct(s_.get(k))} against {pct(e.get(k))})" for k, name in (("val", "dfdc/val"), ("pseudo_val", "pseudo-val"))
                    if e.get(k) is not None and s_.get(k) is not None and e[k] <= s_[k]) +
                "; the rule is to ship only what beats it on both validation sets. Its dfdc/test and gan-faces figures "
                "are read-outs, and choose nothing."))
            w("")
        w("\"Maps alone\": the AUC of the largest cell of the second-order anomaly map as the score, without the "
          "classifier (`sola eval`'s mapAUC). Where the shipped model looks, on the first real and fake crops of "
          "`dfdc/val` and `gan-faces`: [figures/maps_shipped.jpg](figures/maps_shipped.jpg) (made by "
          "`scripts/ship_model.sh`; the model card `models/README.md` gives the maps' mean peaks per class).")
        w("")
        read = [e for e in evals if e.get("gan") is not None and e.get("test") is not None]
        if len(read) >= 2 and read[-1]["epoch"] != read[0]["epoch"]:
            a, b = read[0], read[-1]
            w(f"What limits it: from epoch {a['epoch']} to epoch {b['epoch']} dfdc/test went from {pct(a['test'])} to "
              f"{pct(b['test'])} and gan-faces from {pct(a['gan'])} to {pct(b['gan'])}. " +
              ("More DFDC epochs buy the in-domain figure and move the GAN faces the other way"
               if b["gan"] < a["gan"] and b["test"] > a["test"] else "More DFDC epochs do not carry over to the GAN faces") +
              ": what the model learns to call fake (a blending boundary, a "
              "local inconsistency in the noise) is absent from a face generated whole, and the FFHQ photographs, sharper "
              "and more varied, raise the maps more than the StyleGAN2 faces do (the model card gives the maps' mean "
              "peaks). " + (sharpness_sentence(sharpness) if sharpness else "") +
              "Next levers: sharpness varied both ways in training, so that it stops being a cue (the `blur`, `sharpen` "
              "and `blur_sharpen` rows of the recipe table measure what it does to "
              "gan-faces and to dfdc/val: \"What moves gan-faces\" above; the robustness read-out below shows what the shipped model does with the GAN faces once "
              "their excess detail is blurred away, and that its maps call a real face anomalous as soon as it is "
              "sharper, softer or noisier than DFDC's frames), with a validation set from a sharper source to choose "
              "such a recipe on (dfdc/val and the pseudo-forgeries made from it are as soft as the training crops, so "
              "they cannot tell; dfdc/val scored through `sola eval --perturb sharpen:2`, made from the validation "
              "split alone, is one such set); the input size that keeps the noise residuals (`size_256`); and training data with "
              "whole-face synthesis, which DFDC does not have.")
            w("")
    write_longrun_baseline(w, sola, longrun.rstrip("/") + "-resnet18", run, evals)


def write_calibration(w, folder):
    """The calibration read-out of scripts/calibration.sh: Platt scaling fitted on the validation sets, the test
    sets scored before and after (ECE, false-positive rates at 0.5 and 0.9), and the reliability diagram it draws
    (docs/figures/reliability_NAME.png, beside results/; linked where it exists)."""
    if not folder or not os.path.isdir(folder):
        return
    figures = os.path.join(os.path.dirname(os.path.abspath(folder)), "..", "docs", "figures")
    for fit_file in sorted(f for f in os.listdir(folder) if f.endswith(".fit.json")):
        name = fit_file[:-len(".fit.json")]
        paths = [os.path.join(folder, f"{name}.{part}.json") for part in ("before", "after")]
        if not all(os.path.exists(p) for p in paths):
            continue
        fit = json.load(open(os.path.join(folder, fit_file)))["calibration"]
        before, after = ({c["data"]: c for c in json.load(open(p))} for p in paths)
        w(f"## Calibration of `{name}`")
        w("")
        w(f"Generated by `scripts/calibration.sh`: Platt scaling of the logit (`sola calibrate`; why Platt: "
          f"`src/eval/calibration.h`) fitted on {', '.join('`' + f + '`' for f in fit['fitted_on'])} "
          f"({fit['samples']} faces): p = sigmoid({fit['a']:.4f} z + {fit['b']:.4f}). The test sets are scored with "
          "the raw sigmoid (before) and the calibrated score (after); the AUC cannot move (the map is monotone). "
          "ECE: expected calibration error, 15 equal-width bins. FPR@t: the share of real faces scored >= t.")
        w("")
        w("| test set | AUC | ECE before | ECE after | FPR@0.5 before / after | FPR@0.9 before / after |")
        w("|---|---|---|---|---|---|")
        for data, b in before.items():
            a = after.get(data)
            if a is None:
                continue
            w(f"| {data} | {pct(b['frame']['auc'])} | {pct(b['ece'])} | {pct(a['ece'])} | "
              f"{pct(b['fpr_at_0.5'])} / {pct(a['fpr_at_0.5'])} | {pct(b['fpr_at_0.9'])} / {pct(a['fpr_at_0.9'])} |")
        w("")
        fig = f"reliability_{name}.png"
        if os.path.exists(os.path.join(figures, fig)):
            sets = [d for d in before if d in after]
            w(f"Reliability diagram of {', '.join(sets[:-1]) + ' and ' + sets[-1] if len(sets) > 1 else ''.join(sets)}, raw and calibrated (`sola eval --reliability`: the share of "
              "fakes against the mean score in each of the 15 bins; on the dashed diagonal a score is the frequency of "
              "fakes it stands for, below it the score is too high):")
            w("")
            w(f"![reliability of {name}](figures/{fig})")
            w("")


def main():
    args = parse_args(sys.argv[1:])
    runs, sola, configs, groups = args.runs, args.sola, args.configs, args.groups
    gan_json, longrun, recipe, sharpness, robustness = args.gan, args.longrun, args.recipe, args.sharpness, args.robustness
    ffpp, calibration, sources = args.ffpp, args.calibration, args.sources
    all_names = groups["--main"] + groups["--checks"] + groups["--tried"] + groups["--pseudo"]
    gan = gan_data_name(runs, all_names)
    loaded = load_runs(sola, runs, all_names, gan)
    # What each run is: its recipe (configs/dfdc/NAME.json; configs/recipe/NAME.json for the recipe table).
    described = recipes(sola, configs)

    def recipe_of(group, n):
        return described.get(f"{group}/{n}", {})

    def against(n):
        """The run a check, a tried run or a pseudo-fake run is compared with (the recipe it extends) and why."""
        r = recipe_of("dfdc", n)
        return r.get("extends"), r.get("question", "")
    out = []
    w = out.append
    w("# Results")
    w("")
    w("Generated by `scripts/results_dfdc.sh` (which calls `scripts/make_results.py`); do not edit by hand.")
    w("")
    w("## Protocol")
    w("")
    w("Train on `dfdc/train` (8000 crops: 4000 real, 4000 fake, 2849 fakes with approximate masks). Choose the "
      "checkpoint (best validation frame AUC) and every setting on `dfdc/val` (1000 crops of 500 other source "
      "videos) only. Report on `dfdc/test` (2000 crops of 1000 further source videos: in-domain) and on "
      "`gan-faces` (200 StyleGAN2 faces against 200 FFHQ photographs, faces cut by sola's detector at 1.2x the "
      "face box: a manipulation never seen in training), for the chosen (best) and the last checkpoint. Nothing "
      "is chosen on those two. All weights start from scratch (no ImageNet weights can be had here), on 2 CPU "
      "cores. Frame AUC in %; one crop per video, so video AUC equals frame AUC.")
    w("")
    if gan_json and os.path.exists(gan_json):
        g = json.load(open(gan_json))
        w("gan-faces face crops (`sola prepare`): `" + json.dumps(g, sort_keys=True) + "`.")
        w("")
    names = groups["--main"]
    if names:
        w("## DFDC: the main runs")
        w("")
        table_header(w)
        for n in names:
            table_row(w, loaded[n])
        w("")
        w("Train img/s: median over epochs of images / wall time of the epoch's training loop (data loading "
          "included); data wait: median share of that time the step waited for the loader. Runs may have shared "
          "the machine with other work, so compare speeds within the performance benchmarks, not here.")
        w("")
        if "resnet18" in loaded:
            base = loaded["resnet18"]
            sola_runs = [n for n in names if n.startswith("sola")]
            if sola_runs:
                w("SOLA against the ResNet18 baseline at the same number of epochs (AUC points): " + "; ".join(
                    f"{n}: test {diff(loaded[n].auc(TEST), base.auc(TEST))}, gan-faces "
                    f"{diff(loaded[n].auc(gan), base.auc(gan))}" for n in sola_runs) +
                  f". The baseline trains about {base.ips() / max(loaded[sola_runs[0]].ips(), 1e-9):.1f}x faster per "
                  "image (one trunk instead of two, four stages instead of three), so at equal wall time it sees "
                  "more epochs.")
                w("")
        w("ROC curves on dfdc/test: " + ", ".join(f"[{n}](figures/roc_{n}.png)" for n in names) + ".")
        w("")
    checks = groups["--checks"]
    if checks:
        w("## Checks: noise, bf16, the classifier fix")
        w("")
        w("Each row changes one thing of the run it names; all columns are AUC points of the row minus its base.")
        w("")
        w("| run | against | question | val | test | gan-faces | test (last) | gan-faces (last) |")
        w("|---|---|---|---|---|---|---|---|")
        for n in checks:
            base_name, why = against(n)
            if base_name not in loaded:
                continue
            r, b = loaded[n], loaded[base_name]
            w(f"| {n} | {base_name} | {why} | {diff(r.auc(VAL), b.auc(VAL))} | {diff(r.auc(TEST), b.auc(TEST))} | "
              f"{diff(r.auc(gan), b.auc(gan))} | {diff(r.auc(TEST, True), b.auc(TEST, True))} | "
              f"{diff(r.auc(gan, True), b.auc(gan, True))} |")
        w("")
        table_header(w)
        for n in checks:
            table_row(w, loaded[n])
        w("")
    tried = groups["--tried"]
    if tried:
        w("## What we tried")
        w("")
        w("Each row changes one thing of the run it names, at the same budget (epochs, input size, schedule).")
        w("")
        w("| run | changes | hypothesis | val | test | gan-faces | base val / test / gan-faces |")
        w("|---|---|---|---|---|---|---|")
        for n in tried:
            base_name, why = against(n)
            if base_name not in loaded:
                continue
            r, b = loaded[n], loaded[base_name]
            changed = " ".join(a for a in r.cmd.split() if "=" in a and a not in b.cmd.split())
            w(f"| {n} | `{changed}` | {why} | {pct(r.auc(VAL))} | {pct(r.auc(TEST))} | {pct(r.auc(gan))} | "
              f"{pct(b.auc(VAL))} / {pct(b.auc(TEST))} / {pct(b.auc(gan))} ({base_name}) |")
        w("")
    pseudo = groups["--pseudo"]
    if pseudo:
        w("## Training without fake data: self-blended pseudo-forgeries")
        w("")
        synth_path = os.path.join(runs, "sbi.synth.json")
        if os.path.exists(synth_path):
            sj = json.load(open(synth_path))
            w("`sola synth` made one pseudo-forgery per real training image (the Self-Blended Images idea: the face "
              "blended with a colour-, frequency- and geometry-transformed copy of itself inside a deformed landmark "
              "mask; the mask is exact). Summary of that run: `" + json.dumps(sj, sort_keys=True) + "`.")
            w("")
        w("Examples (real / pseudo-fake / mask): ![pseudo-fakes](figures/pseudo_fakes.png)")
        w("")
        w("| run | trained on | val | test | gan-faces | same settings on real DFDC fakes (val / test / gan-faces) |")
        w("|---|---|---|---|---|---|")
        for n in pseudo:
            r = loaded[n]
            train = ", ".join(r.cfg.get("provenance", {}).get("train_manifests", []))
            b = loaded.get(against(n)[0])
            base = f"{pct(b.auc(VAL))} / {pct(b.auc(TEST))} / {pct(b.auc(gan))}" if b else "–"
            w(f"| {n} | `{train}` | {pct(r.auc(VAL))} | {pct(r.auc(TEST))} | {pct(r.auc(gan))} | {base} |")
        w("")
    if recipe:
        write_recipe(w, sola, recipe, groups["--recipe-runs"], lambda n: recipe_of("recipe", n).get("description", ""))
    if longrun:
        write_longrun(w, sola, longrun, sharpness)
    write_robustness(w, robustness)
    if ffpp:
        write_ffpp(w, ffpp, sola)
    write_sources(w, sources, sola, groups["--sources-runs"], configs, args.sources_longrun)
    write_calibration(w, calibration)
    w("## Commands and per-epoch validation")
    w("")
    for n in all_names:
        r = loaded[n]
        write_command(w, r.cmd, n, recipe_of("dfdc", n).get("description", ""))
        t, m = r.cfg["train"], r.cfg["model"]
        arch = (f"arch=resnet, backbone={m['backbone']}, input {m['input_size']} px" if m["arch"] == "resnet" else
                f"arch=sola, backbone={m['backbone']}, input {m['input_size']} px, grid {m['grid']}, noise={m['noise']}, "
                f"lem={m['lem']}, dcam={m['dcam']}, classifier_input={m.get('classifier_input', 'maps')}, "
                f"classifier_cells={m.get('classifier_cells', 'all')}")
        loss = r.cfg.get("loss", {}).get("what_it_does", t["loss"])
        w(f"model: {arch}; train: {t.get('precision', 'fp32')}, loss: {loss}; alpha/beta/gamma="
          f"{t['alpha']}/{t['beta']}/{t['gamma']}, epochs={t['epochs']}, batch={t['batch_size']}, Adam lr={t['lr']} "
          f"({t['lr_schedule']}), augment={t['augment']}, seed={t['seed']}")
        w("")
        w("Per epoch: " + "; ".join(f"{l['epoch']}: loss {l['train_loss']:.4f}, val AUC {pct(l['val']['frame']['auc'])}"
                                     for l in r.epochs) + ".")
        w("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
