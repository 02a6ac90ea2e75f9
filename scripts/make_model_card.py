#!/usr/bin/env python3
"""Writes the model card of the shipped model (models/README.md, to stdout) from the figures that
scripts/ship_model.sh keeps in models/card/; no figure is typed by hand.

Usage: make_model_card.py CARD_DIR [--check [--calibrated]] [--readme README.md]
  --check           only checks that CARD_DIR holds every figure the card needs (exit 1 naming what is missing)
  --calibrated      also requires the card to be of a calibrated model (what scripts/ship_model.sh makes)
  --readme FILE     also rewrites the shipped model's figures in FILE, between the lines
                    "<!-- model-figures:begin -->" and "<!-- model-figures:end -->"
CARD_DIR holds: checkpoint_info.json and info.json (`sola info` of the checkpoint and of the shipped float16
file), export.json, eval.json (`sola eval --json` of both on dfdc/val, the pseudo-forgery validation set,
dfdc/test and the gan-faces crops, and on ffpp/val and ffpp/test since issue 27), epochs.jsonl (the run's
epoch lines up to the shipped one), command.txt (the training command), quickstart.jsonl (`sola detect
--json` on the quickstart's photo and pseudo-forgery); optional: robustness.json (scripts/robustness.sh) and
ffpp_videos.jsonl (`sola detect --json` of the shipped file on ../shared/data/ffpp-videos, whole c23 videos).
A calibrated card (issue 27: the shipped file's metadata has a calibration, or any of these files is there)
also holds, and then needs, every one of: calibration.json (the line `sola calibrate` printed: Platt
scaling fitted on dfdc/val + ffpp/val), eval_raw.json (`sola eval --no-calibration --json` of the shipped
file on dfdc/test and ffpp/test: the scores before calibration), eval_at_0.9.json (`sola eval --threshold
0.9 --json` of it on the same sets, calibrated: its accuracy at 0.9), and eval.json's ffpp/val and ffpp/test
rows. A card made before issue 27 has none of them and still makes its card, which then says that the
scores are not calibrated.
"""
import json
import os
import sys

from make_results import pct, report_set
from sola_json import load_jsonl

BEGIN, END = "<!-- model-figures:begin -->", "<!-- model-figures:end -->"
FILES = ["checkpoint_info.json", "info.json", "export.json", "eval.json", "epochs.jsonl", "command.txt",
         "quickstart.jsonl"]
# A calibrated card's files (scripts/ship_model.sh since issue 27), needed only by a calibrated card.
CALIBRATION_FILES = ["calibration.json", "eval_raw.json", "eval_at_0.9.json"]
# The evaluation sets, by the key of the name `sola eval` gives them: (key, label, role). The FaceForensics++
# ones are read out since issue 27 (a card made before has no figures for them: no rows).
SETS = [("val", "`dfdc/val`", "chooses"), ("pseudo_val", "pseudo-forgery val", "chooses"),
        ("ffpp_val", "`ffpp/val`", "validation"),
        ("test", "**`dfdc/test`**", "report: unseen DFDC videos"),
        ("ffpp_test", "**`ffpp/test`**", "report: FaceForensics++'s manipulations"),
        ("gan", "**`gan-faces`**", "report: a manipulation never seen")]
FFPP_SETS = ("ffpp_val", "ffpp_test")
# The sets whose scores the calibration is read out on (before and after).
CALIBRATION_TESTS = [("test", "`dfdc/test`"), ("ffpp_test", "`ffpp/test`")]
GAN_TARGET, TEST_TARGET = 0.65, 0.94
# Issue 27 ("Scores that mean something"): ECE at most 0.05 on both test sets; ffpp/test frame AUC at least
# 0.95 as the mean over its methods and at least 0.90 for each; dfdc/test at least 0.94 (TEST_TARGET).
ECE_TARGET, FFPP_MEAN_TARGET, FFPP_MIN_TARGET = 0.05, 0.95, 0.90
THRESHOLDS = (0.5, 0.9)  # what the card says a score means at (sola eval's fpr_at_0.5 and fpr_at_0.9)


def fail(msg):
    sys.exit(f"make_model_card.py: {msg}")


def data_set(manifest):
    """"dfdc/train" for .../dfdc/train/manifest.csv (the name `sola eval` gives a manifest); else its folder."""
    parts = manifest.replace("\\", "/").split("/")
    return "/".join(parts[-3:-1]) if len(parts) >= 3 else parts[0]


# What each source is, in words (by its data set's first component), for the card's first bullet.
SOURCE_WORDS = {"dfdc": "DFDC's face swaps", "ffpp": "FaceForensics++'s four manipulations",
                "faces-real": "real web photographs (UTKFace)"}


def set_key(data):
    """make_results.report_set's key of a `sola eval` data name."""
    return report_set(data)


def load(card, files=FILES):
    missing = [f for f in files if not os.path.exists(os.path.join(card, f))]
    if missing:
        fail(f"{card}: missing {', '.join(missing)} (made by scripts/ship_model.sh)")
    c = {}
    try:
        for f in files:
            path = os.path.join(card, f)
            if f.endswith(".jsonl"):
                c[f] = load_jsonl(path)
            elif f.endswith(".json"):
                c[f] = json.load(open(path))
            else:
                c[f] = open(path).read().strip()
    except ValueError as e:
        fail(f"{card}/{f}: not valid JSON ({e})")
    return c


def tp_bounds(row, t):
    """The fakes scored >= t as far as the row's reliability bins tell: those of the bins above t at least,
    those of the bins reaching above t at most (t on no bin edge lies inside one bin)."""
    low = high = 0.0
    for b in row["reliability"]:
        fakes = b["count"] * b["fake_fraction"]
        low += fakes if b["lo"] >= t else 0.0
        high += fakes if b["hi"] > t else 0.0
    return low, high


def caught(row, t, where):
    """The share of fakes scored >= t (true-positive rate), from the row's accuracy, which `sola eval`
    measured at the threshold t: ACC x n = TP + TN and TN = (1 - FPR) x n_real. Checked against the
    reliability bins, which bound it, so that a read-out at another threshold is refused."""
    f = row["frame"]
    tp = f["acc"] * f["n"] - (1 - row[f"fpr_at_{t:g}"]) * f["n_real"]
    low, high = tp_bounds(row, t)
    if not low - 0.5 <= tp <= high + 0.5:
        fail(f"{where}: its accuracy is not at the threshold {t:g} ({tp:.1f} fakes caught, where its reliability "
             f"bins hold {low:.0f} to {high:.0f} at or above {t:g})")
    return tp / f["n_fake"]


class Card:
    def __init__(self, card, require_calibration=False):
        c = load(card)
        self.ckpt_info, self.info, self.export = c["checkpoint_info.json"], c["info.json"], c["export.json"]
        self.epochs, self.command, self.quick = c["epochs.jsonl"], c["command.txt"], c["quickstart.jsonl"]
        # Optional: the robustness read-out of this model (scripts/robustness.sh copies it here; shipping
        # a new model replaces the folder, so a stale one cannot stay).
        rob = os.path.join(card, "robustness.json")
        self.robustness = json.load(open(rob)) if os.path.exists(rob) else None
        self.cfg = self.info["config"]
        self.meta = self.info["metadata"]
        self.train = self.ckpt_info["metadata"]["train"]
        self.state = self.ckpt_info["metadata"]["train_state"]
        self.prov = self.ckpt_info["metadata"]["provenance"]
        # What it learned from and was chosen on: the data sets of its manifests ("dfdc/train", "ffpp/val").
        self.train_sets = [data_set(m) for m in self.prov.get("train_manifests", [])]
        self.val_sets = [data_set(m) for m in self.prov.get("val_manifests", [])] or ["dfdc/val"]
        self.multi_source = len({d.split("/")[0] for d in self.train_sets}) > 1
        vids = os.path.join(card, "ffpp_videos.jsonl")
        self.videos = load_jsonl(vids) if os.path.exists(vids) else []
        rows = c["eval.json"]
        # The checkpoint is the first model of ship_model.sh's `sola eval` (then the float16 file, sola-dfdc).
        ckpt_name = rows[0]["model"] if rows else None
        self.ev, self.rows, self.maps = {}, {}, {}
        for r in rows:
            kind = "fp16" if r["model"] == "sola-dfdc" else "fp32" if r["model"] == ckpt_name else None
            key = set_key(r["data"])
            if kind and key:
                self.ev[(kind, key)] = r["frame"]
                self.rows[(kind, key)] = r
                if kind == "fp16" and "map" in r:
                    self.maps[key] = r["map"]
        # Calibrated (issue 27): the shipped file carries a calibration, or the card holds a calibration's file;
        # then every file and figure of the calibration is needed.
        self.fit = self.meta.get("calibration")
        self.calibrated = bool(self.fit) or any(os.path.exists(os.path.join(card, f)) for f in CALIBRATION_FILES)
        if require_calibration and not self.calibrated:
            fail(f"{card}: not a calibrated model (info.json's metadata has no calibration: `sola calibrate` in "
                 "scripts/ship_model.sh)")
        needed = [s for s, _, _ in SETS if s not in FFPP_SETS or self.calibrated]
        missing = [f"{k} on {s}" for k in ("fp32", "fp16") for s in needed if (k, s) not in self.ev]
        if missing:
            fail(f"{card}/eval.json: no figures for {', '.join(missing)}")
        # The sets of the table: the FaceForensics++ ones where they were read out (by both models).
        self.sets = [s for s in SETS if all((k, s[0]) in self.ev for k in ("fp32", "fp16"))]
        if self.calibrated:
            self.load_calibration(card)
        if len(self.quick) != 2 or any(q.get("status") != "ok" for q in self.quick):
            fail(f"{card}/quickstart.jsonl: expected the photo and the pseudo-forgery, both scored: {self.quick}")
        if not self.epochs:
            fail(f"{card}/epochs.jsonl: no epoch lines")

    def load_calibration(self, card):
        c = load(card, CALIBRATION_FILES)
        line = c["calibration.json"].get("calibration") or fail(f"{card}/calibration.json: no calibration")
        if not self.fit:
            fail(f"{card}/info.json: the shipped file has no calibration in its metadata, but the card has "
                 "calibration.json (ship the file `sola calibrate` wrote)")
        if any(abs(line[p] - self.fit[p]) > 1e-9 for p in ("a", "b")):
            fail(f"{card}: calibration.json (a = {line['a']}, b = {line['b']}) is not the shipped file's calibration "
                 f"(a = {self.fit['a']}, b = {self.fit['b']})")
        self.fit = line

        def by_set(f, calibrated):
            out = {}
            for r in c[f]:
                key = set_key(r["data"])
                if r["model"] == "sola-dfdc" and key:
                    if r.get("calibrated") is not calibrated:
                        fail(f"{card}/{f}: the row on {r['data']} is {'not ' if calibrated else ''}calibrated")
                    out[key] = r
            missing = [s for s, _ in CALIBRATION_TESTS if s not in out]
            if missing:
                fail(f"{card}/{f}: no figures for the shipped file on {', '.join(missing)}")
            return out
        self.raw, self.at_09 = by_set("eval_raw.json", False), by_set("eval_at_0.9.json", True)
        for s, _ in CALIBRATION_TESTS:
            if self.rows[("fp16", s)].get("calibrated") is not True:
                fail(f"{card}/eval.json: the shipped file's row on {s} is not calibrated")
        # The share of fakes caught at each threshold: at 0.5 from eval.json (sola eval's default threshold),
        # at 0.9 from the read-out at --threshold 0.9.
        self.tpr = {}
        for s, _ in CALIBRATION_TESTS:
            self.tpr[(s, 0.5)] = caught(self.rows[("fp16", s)], 0.5, f"{card}/eval.json on {s}")
            self.tpr[(s, 0.9)] = caught(self.at_09[s], 0.9, f"{card}/eval_at_0.9.json on {s}")

    def has(self, key):
        return any(s == key for s, _, _ in self.sets)

    def auc(self, key, kind="fp16"):
        return self.ev[(kind, key)]["auc"]

    def methods(self, kind="fp16"):
        """ffpp/test's frame AUC per manipulation (each method's fakes against all reals)."""
        return self.rows[(kind, "ffpp_test")].get("per_method_auc", {})

    def fitted_on(self):
        """The sets the calibration was fitted on, by the name `sola eval` gives them (dfdc/val)."""
        return " and ".join(f"`{data_set(p)}`" for p in self.fit["fitted_on"])

    def issue27_targets(self):
        """Issue 27's targets against the measured figures (shipped file), where they were read out."""
        parts = []
        methods = self.methods() if self.has("ffpp_test") else {}
        if methods:
            mean = sum(methods.values()) / len(methods)
            low_name = min(methods, key=methods.get)
            parts.append(f"`ffpp/test` frame AUC >= {pct(FFPP_MEAN_TARGET)} as the mean over its {len(methods)} "
                         f"manipulations ({pct(mean)}: {'met' if mean >= FFPP_MEAN_TARGET else 'not met'}) and >= "
                         f"{pct(FFPP_MIN_TARGET)} for each (lowest {low_name} {pct(methods[low_name])}: "
                         f"{'met' if methods[low_name] >= FFPP_MIN_TARGET else 'not met'})")
        parts.append(f"`dfdc/test` >= {pct(TEST_TARGET)} ({pct(self.auc('test'))}: "
                     f"{'met' if self.auc('test') >= TEST_TARGET else 'not met'})")
        if self.calibrated:
            parts.append("ECE <= " + pct(ECE_TARGET) + " on " + " and ".join(
                f"{label} ({pct(self.rows[('fp16', s)]['ece'])}: "
                f"{'met' if self.rows[('fp16', s)]['ece'] <= ECE_TARGET else 'not met'})"
                for s, label in CALIBRATION_TESTS))
        return "; ".join(parts)

    def hours(self):
        return sum(l["train_seconds"] for l in self.epochs) / 3600

    @staticmethod
    def gan_verdict(gan):
        if gan < 0.45:
            return (", below a coin flip: it ranks the FFHQ photographs as more fake than the StyleGAN2 faces (what it "
                    "learned to call fake is closer to a sharp photograph than to a GAN face)")
        return ", close to a coin flip" if gan < 0.6 else ""

    def map_sentence(self):
        """How high the second-order maps rise on GAN faces against DFDC's fakes (mean peak per class)."""
        gan, test = self.maps.get("gan"), self.maps.get("test")
        if not gan or not test:
            return ""
        return (f" Its second-order maps peak at {gan['fake_mean_peak']:.3f} on average on the StyleGAN2 faces and "
                f"{gan['real_mean_peak']:.3f} on the FFHQ photographs, where DFDC's fakes reach "
                f"{test['fake_mean_peak']:.3f} against {test['real_mean_peak']:.3f} for DFDC's reals (`dfdc/test`): "
                "a face generated whole has no blending boundary or local inconsistency for them to find" +
                (", and a sharp photograph raises them more." if gan["real_mean_peak"] > gan["fake_mean_peak"] else "."))

    def robustness_sentence(self):
        """What each degradation of scripts/robustness.sh costs on dfdc/test (and on ffpp/test where it was read
        out too), from robustness.json."""
        if not self.robustness:
            return ""
        auc = {(r["perturb"], r["data"]): r["auc"] for r in self.robustness["rows"]}
        ref = auc.get(("none", "test"))
        if ref is None:
            return ""
        words = {"jpeg": "JPEG at quality {}", "blur": "a Gaussian blur of {} px", "downscale": "downscaling to {}x and back",
                 "noise": "Gaussian noise of {} grey levels", "sharpen": "an unsharp mask of amount {}"}

        def costs(data):
            out = []
            for (p, d), v in auc.items():
                if d != data or p == "none":
                    continue
                kind, value = p.split(":", 1)
                out.append(f"{words.get(kind, kind + ' {}').format(value)} {pct(v)} ({100 * (v - auc[('none', data)]):+.2f})")
            return "; ".join(out)
        text = (f"On `dfdc/test` (frame AUC {pct(ref)} as given), every image degraded the same way first "
                f"(`scripts/robustness.sh`, at the model's {self.cfg['input_size']} px input): " + costs("test") + ".")
        sets = ["test"]
        ffpp = auc.get(("none", "ffpp_test"))
        if ffpp is not None and any(d == "ffpp_test" and p != "none" for p, d in auc):
            text += f" On `ffpp/test` (FaceForensics++, frame AUC {pct(ffpp)} as given): " + costs("ffpp_test") + "."
            sets.append("ffpp_test")
        # The largest loss of either test set: (perturbation, set) -> AUC points lost.
        drops = {(p, d): auc[("none", d)] - v for (p, d), v in auc.items() if d in sets and p != "none"}
        if max(drops.values(), default=0.0) >= 0.10:
            text += (" What it learned to call fake lives in the finest detail of the face: re-encoded, resized or noisy "
                     "copies (uploads, screenshots, re-compressed videos) can score near chance.")
            if any(p.startswith("sharpen:") and drop >= 0.10 for (p, d), drop in drops.items()):
                text += (" So can sharper ones (a phone camera's or an editor's sharpening): detail beyond that of "
                         "DFDC's video frames makes real faces look forged.")
        return text

    def quick_scores(self):
        by = {os.path.basename(q["path"]).split(".")[0]: q for q in self.quick}
        return by.get("real"), by.get("pseudo_fake")


def write_card(k):
    out = []
    w = out.append
    cfg, t = k.cfg, k.train
    epoch, planned = k.state["epoch"], t["epochs"]
    patch = cfg["input_size"] // cfg["grid"]
    params = k.info["parameters"]["total"]
    images = k.prov["data"]["train"]["images"]
    manifests = ", ".join(f"`{m}`" for m in k.prov["train_manifests"])
    schedule = t["lr_schedule"] + (f" with a {t['warmup_epochs']:g}-epoch warm-up" if t.get("warmup_epochs") else "")
    pseudo = t.get("pseudo_fake_share", 0)
    augment = ", ".join(n for n, key in (("flip", "aug_hflip"), ("colour", "aug_color"), ("JPEG re-encoding", "aug_jpeg"),
                                         ("resized crop", "aug_crop"), ("blur", "aug_blur"),
                                         ("sharpening", "aug_sharpen"), ("downscale-and-back", "aug_downscale"),
                                         ("sensor noise", "aug_noise")) if t.get("augment") and t.get(key))
    # Several sources, each in its share (source_weights, normalised), or one data set as it is.
    weights = [float(x) for x in t.get("source_weights", "").split(",") if x.strip()]
    if weights and len(weights) == len(k.prov["train_manifests"]):
        total = sum(weights)
        data = ("; ".join(f"`{m}` {100 * x / total:.1f}%" for m, x in zip(k.prov["train_manifests"], weights)) +
                f" of each epoch ({images:,} images in all; a reals-only source's reals paired with a self-blend each)")
    else:
        data = f"{manifests}: {images:,} DFDC face crops (224 px, one or two per source video)"
    start = (f"fine-tuned from `{t['init'].split(':', 1)[-1]}`" if t.get("init") else
             "from scratch (no ImageNet weights can be had here)")
    w("# Model card: `sola-dfdc.pt`")
    w("")
    w("Generated by `scripts/ship_model.sh` (`scripts/make_model_card.py`) from the figures it measured, kept in "
      "`models/card/`; do not edit by hand. The model `sola detect` and `sola serve` use when no `--model` is given "
      "(found next to the executable's folder, in `models/`, or via `$SOLA_MODEL`).")
    w("")
    w("| | |")
    w("|---|---|")
    w(f"| Architecture | SOLA (this repository): {cfg['backbone']} RGB + noise ({cfg['noise'].upper()}) branches, DCAM, "
      f"LEM, SOLA head; **input {cfg['input_size']} x {cfg['input_size']}**, grid {cfg['grid']} ({patch} x {patch}-pixel "
      f"patches), classifier reading the second-order map {'logits' if cfg['classifier_input'] == 'logits' else 'probabilities'} "
      f"({'the cells the losses constrain' if cfg.get('classifier_cells') == 'valid' else 'every cell'}); {params:,} parameters |")
    w(f"| Weights | float16 in the file, float32 in memory (`sola info --model models/sola-dfdc.pt` prints the rest)"
      + ("; the score's calibration (Platt scaling, \"Scores\" below) in its metadata |" if k.calibrated else " |"))
    w(f"| Training data | {data}; nothing from the `val` or `test` splits or `gan-faces` |")
    w(f"| Training | {start}; loss {t['loss']} (alpha = {t['alpha']:g}, "
      f"beta = {t['beta']:g}, gamma = {t['gamma']:g}); pseudo-fake share {pseudo:g} (that share of each batch's fakes "
      f"replaced by self-blends of the batch's reals, exact masks); {t.get('precision', 'fp32')} autocast; Adam lr "
      f"{t['lr']:g}, {schedule}; batch {t['batch_size']}; augmentation: {augment or 'none'}; seed {t['seed']} |")
    runner = "`VARIANT=sources scripts/long_run.sh`" if k.multi_source else "`scripts/long_run.sh`"
    w(f"| Length | **epoch {epoch}** of a run planned for {planned} ({runner}, carried from sitting to "
      f"sitting); {k.hours():.1f} hours of training loop on 2 CPU cores (wall time, cores shared with other work)" +
      (f", on top of those of `{t['init'].split(':', 1)[-1]}`'s own training" if t.get("init") else "") + " |")
    reports = "`dfdc/test`, `ffpp/test` and `gan-faces`" if k.has("ffpp_test") else "`dfdc/test` and `gan-faces`"
    chosen_on = (f"frame AUC so far on {' and '.join(f'`{v}`' for v in k.val_sets)} pooled" if len(k.val_sets) > 1
                 else f"`{k.val_sets[0]}` frame AUC so far")
    w(f"| Chosen | the best {chosen_on} ({pct(k.state['best'])} at epoch {epoch}), with the pseudo-forgery "
      f"validation set beside it; {reports} were read out after the choice, never used to make it |")
    w(f"| Face crop | `sola detect`/`serve` crop faces at **{k.meta.get('crop_scale', 1.2):g} x** the dlib face box for "
      "this model (stored as `crop_scale` in its metadata, `--scale` overrides): the DFDC crops it was trained on are "
      "tight (dlib finds 187-248 px faces in the 224 px crops), so the paper's 2.6x would show it faces at a scale it "
      "never saw |")
    w("")
    w("## Figures")
    w("")
    w("Frame AUC, AP, EER and accuracy at 0.5 in %" + (" (the shipped file's accuracy is that of its calibrated "
      "score, what `sola detect` reports)" if k.calibrated else "") + "; one crop per source video (gan-faces: one face per "
      "portrait), so video AUC equals frame AUC" + (" (FaceForensics++'s sets: several frames per video, frame AUC "
      "still the figure)" if k.has("ffpp_test") else "") + ". `pseudo-forgery val`: the `dfdc/val` reals and one "
      "self-blended fake of each (`sola synth`, seed fixed). `gan-faces`: 200 StyleGAN2 faces against 200 FFHQ "
      "photographs, faces cut by sola's detector." + (f" `ffpp/val`, `ffpp/test`: FaceForensics++'s reals and its "
      f"{len(k.methods())} manipulations" + (", `ffpp/val` with `dfdc/val` fitting the calibration" if k.calibrated
                                              else "") + "." if k.has("ffpp_test") else ""))
    w("")
    w("| data | role | frame AUC, checkpoint (float32) | **frame AUC, shipped (float16)** | AP | EER | ACC@0.5 | "
      "AUC of the maps alone |")
    w("|---|---|---|---|---|---|---|---|")
    for key, label, role in k.sets:
        role = "calibrates" if key == "ffpp_val" and k.calibrated else role
        f = k.ev[("fp16", key)]
        m = k.maps.get(key)
        w(f"| {label} | {role} | {pct(k.auc(key, 'fp32'))} | **{pct(f['auc'])}** | {pct(f['ap'])} | {pct(f['eer'])} | "
          f"{pct(f['acc'])} | {pct(m and m['auc'])} |")
    w("")
    w("\"The maps alone\": the largest cell of the second-order anomaly map used as the score, without the "
      "classifier (`sola eval`'s mapAUC): how far the local-anomaly cue by itself separates the classes. "
      "Where the model looks, on the first four real and fake crops of `dfdc/val` and of `gan-faces` (no picking): "
      "[docs/figures/maps_shipped.jpg](../docs/figures/maps_shipped.jpg) (face | second-order anomaly map | Grad-CAM).")
    w("")
    worst = max(abs(k.auc(s, "fp16") - k.auc(s, "fp32")) for s, _, _ in k.sets)
    w(f"Halving the file's precision moves a frame AUC by at most {100 * worst:.2f} points. Targets of the project "
      f"(issue \"A detector worth shipping\"): `dfdc/test` >= {pct(TEST_TARGET)} "
      f"({'met' if k.auc('test') >= TEST_TARGET else 'not met'}), `gan-faces` >= {pct(GAN_TARGET)} "
      f"({'met' if k.auc('gan') >= GAN_TARGET else 'not met'}).")
    w("")
    if k.has("ffpp_test") and k.methods():
        names = list(k.methods())
        w("`ffpp/test` per manipulation (frame AUC %, each method's fakes against all the reals):")
        w("")
        w("| model | " + " | ".join(names) + " | mean |")
        w("|---|" + "---|" * (len(names) + 1))
        for kind, label in (("fp32", "checkpoint (float32)"), ("fp16", "**shipped (float16)**")):
            m = k.methods(kind)
            vals = [m.get(n) for n in names]
            mean = sum(vals) / len(vals) if None not in vals else None
            w(f"| {label} | " + " | ".join(pct(v) for v in vals) + f" | {pct(mean)} |")
        w("")
        w(f"Targets of issue 27 (\"Scores that mean something\"), shipped file: {k.issue27_targets()}.")
        w("")
    if k.calibrated:
        write_scores(w, k)
    section = "The long run with every source" if k.multi_source else "The long run"
    w(f"Learning curve of the run up to the shipped epoch (frame AUC %; the whole run: `docs/RESULTS.md`, \"{section}\"):")
    w("")
    w("| epoch | " + " | ".join(str(l["epoch"]) for l in k.epochs) + " |")
    w("|---|" + "---|" * len(k.epochs))
    if len(k.val_sets) > 1:  # the pooled set chooses; each of its sets is logged alone (val_extra, by source)
        w(f"| {' + '.join(k.val_sets)} pooled | " + " | ".join(pct(l["val"]["frame"]["auc"]) for l in k.epochs) + " |")
        extras = [(v.split("/")[0], v) for v in k.val_sets]
    else:
        w(f"| {k.val_sets[0]} | " + " | ".join(pct(l["val"]["frame"]["auc"]) for l in k.epochs) + " |")
        extras = []
    for key, label in extras + [("pseudo", "pseudo-forgery val")]:
        w(f"| {label} | " + " | ".join(
            pct(l["val_extra"][key]["frame"]["auc"]) if key in l.get("val_extra", {}) else "–" for l in k.epochs) + " |")
    w("")
    if k.videos:
        write_videos(w, k)
    w("## The quickstart's two faces")
    w("")
    real, fake = k.quick_scores()
    thr = real["threshold"]
    w(f"`scripts/quickstart.sh` scores a real photo (dlib's example `2008_001322.jpg`) and a self-blended "
      f"pseudo-forgery made from it (`sola synth --seed 7`): **real photo {real['score']:.3f} ({real['label']}), "
      f"pseudo-forgery {fake['score']:.3f} ({fake['label']})** at the threshold {thr:g}.")
    wrong = [n for n, q, want in (("the real photo", real, "real"), ("the pseudo-forgery", fake, "fake")) if q["label"] != want]
    if not wrong:
        w("Both come out on the right side of the threshold.")
    else:
        w(f"{' and '.join(wrong).capitalize()} {'is' if len(wrong) == 1 else 'are'} on the wrong side of the threshold. "
          "The photo is a still image, with the noise and compression of a camera JPEG rather than of the DFDC video "
          "frames the model learned from, and the scores are " + (
              "calibrated on video frames (DFDC's and FaceForensics++'), not on photographs" if k.calibrated
              else "not calibrated") + ": read them against each other "
          f"({'the pseudo-forgery scores higher' if fake['score'] > real['score'] else 'the pseudo-forgery does not even score higher'}) "
          "and pick a threshold on data like yours.")
    w("")
    w("## How to reproduce")
    w("")
    w("```sh")
    w(f"# the training run (scripts/long_run.sh runs it and carries it from sitting to sitting):")
    w(k.command)
    w(f"# then: export float16, {'calibrate, ' if k.calibrated else ''}read out, check the quickstart, write this card")
    w(f"bash scripts/ship_model.sh {k.meta['exported_from']} <run>/metrics.jsonl <run>.command.txt   # or: bash scripts/long_run.sh --ship")
    w("```")
    w("")
    w("## What it is not good at")
    w("")
    gan = k.auc("gan")
    if k.multi_source:
        learned = []
        for d in k.train_sets:
            words = SOURCE_WORDS.get(d.split("/")[0], f"`{d}`")
            if words not in learned:
                learned.append(words)
        w(f"- **Forgeries unlike those it learned from.** It learned from {', '.join(learned[:-1])} and {learned[-1]} "
          f"(reals turned into fakes by self-blending beside them): on entirely generated faces (`gan-faces`, StyleGAN2) its frame AUC is "
          f"{pct(gan)}{k.gan_verdict(gan)}.{k.map_sentence()} Expect lower accuracy on other methods and datasets "
          "(Celeb-DF, DeeperForensics, diffusion-made faces), on heavy compression, and on faces unlike those sources' "
          "people and cameras" + (f"; even on FaceForensics++, which it learned from, its frame AUC on `ffpp/test` is "
                                 f"{pct(k.auc('ffpp_test'))}" if k.has("ffpp_test") else "") + ".")
        w(f"- **A CPU-sized training.** {epoch} epochs of fine-tuning on 2 CPU cores, on top of a model trained from "
          "scratch on DFDC alone; the paper starts from ImageNet weights and trains 50 epochs at 256 px on "
          "FaceForensics++'s videos. Treat its scores as a screening signal, not as evidence.")
    else:
        w(f"- **Forgeries unlike DFDC's.** It learned from DFDC's face swaps (and self-blends of DFDC reals): on "
          f"entirely generated faces (`gan-faces`, StyleGAN2) its frame AUC is {pct(gan)}"
          f"{k.gan_verdict(gan)}.{k.map_sentence()} Expect lower accuracy on other methods and "
          "datasets (" + (f"FaceForensics++: frame AUC {pct(k.auc('ffpp_test'))} on `ffpp/test`" if k.has("ffpp_test")
                          else "FaceForensics++") + ", Celeb-DF), on heavy compression, and on faces unlike DFDC's actors.")
        w(f"- **A CPU-sized training.** {epoch} epochs from scratch on {images:,} crops of one dataset; the paper starts "
          "from ImageNet weights and trains 50 epochs at 256 px. Treat its scores as a screening signal, not as evidence.")
    rob = k.robustness_sentence()
    if rob:
        w(f"- **Degraded images.** {rob}")
    if k.calibrated:
        w(f"- **Calibrated on two validation sets.** A score is a probability of fake as far as data resembles "
          f"{k.fitted_on()} (their sources, compression and share of fakes); elsewhere it drifts (the ECE of the test "
          "sets in \"Scores\" says by how much on two of them): on data unlike them, pick a threshold on data like yours "
          "(`--threshold`).")
    else:
        w("- **Scores are not calibrated.** The threshold 0.5 is arbitrary; pick one on data like yours (`--threshold`).")
    w(f"- **Low resolution.** Faces are resized to {cfg['input_size']} x {cfg['input_size']}, so small artefacts are "
      f"lost, and the anomaly maps are {cfg['grid']} x {cfg['grid']}.")
    w("- **Face detection first.** `sola detect` scores only faces dlib's HOG detector finds (frontal, not too small); "
      "profile or occluded faces are reported as `no_face`.")
    w("- **Heat maps are explanations, not masks.** The second-order map and the Grad-CAM show where the model's "
      "evidence is; they are not trained to segment the manipulated region precisely (" +
      ("the DFDC and FaceForensics++ training masks are" if k.multi_source else "DFDC's training masks are") +
      " approximate).")
    return "\n".join(out) + "\n"


def write_scores(w, k):
    """The "Scores" section of a calibrated card: the calibration, its ECE before and after on the test sets,
    and what the thresholds 0.5 and 0.9 mean on each."""
    fit = k.fit
    w("## Scores")
    w("")
    w(f"`sola detect`, `sola serve` and `sola eval` report a calibrated probability of fake: p = sigmoid(a z + b) of the "
      f"model's logit z, with **a = {fit['a']:.4f}, b = {fit['b']:.4f}**, fitted by Platt scaling (`sola calibrate`; "
      f"`src/eval/calibration.h` says why Platt) on {k.fitted_on()} together ({fit['samples']:,} faces) and stored in "
      "the model file (`--no-calibration` gives the raw sigmoid(z)). It keeps the ranking (the AUCs above are those of "
      "the raw scores, ties among near-equal scores aside) and moves where the scores fall. On the faces it was fitted on, the expected calibration "
      f"error (ECE, 15 bins, %) went from {pct(fit['before']['ece'])} to {pct(fit['after']['ece'])}; the test sets "
      "below were read out after the fit, never used to make it.")
    w("")
    w("| data | ECE, raw scores | **ECE, calibrated** | target | " +
      " | ".join(f"FPR at {t:g} | fakes caught at {t:g}" for t in THRESHOLDS) + " |")
    w("|---|---|---|---|" + "---|---|" * len(THRESHOLDS))
    for s, label in CALIBRATION_TESTS:
        row = k.rows[("fp16", s)]
        w(f"| {label} | {pct(k.raw[s]['ece'])} | **{pct(row['ece'])}** | <= {pct(ECE_TARGET)} "
          f"({'met' if row['ece'] <= ECE_TARGET else 'not met'}) | " +
          " | ".join(f"{pct(row[f'fpr_at_{t:g}'])} | {pct(k.tpr[(s, t)])}" for t in THRESHOLDS) + " |")
    w("")
    w("In %, of the shipped file's calibrated scores. What a threshold means on each test set:")
    w("")
    for s, label in CALIBRATION_TESTS:
        row = k.rows[("fp16", s)]
        (t0, t1) = THRESHOLDS
        w(f"- {label}: flagging faces scored {t0:g} or more flags {pct(row[f'fpr_at_{t0:g}'])}% of the real faces "
          f"(false positives) and catches {pct(k.tpr[(s, t0)])}% of the fakes; {t1:g} or more flags "
          f"{pct(row[f'fpr_at_{t1:g}'])}% of the real faces and catches {pct(k.tpr[(s, t1)])}% of the fakes "
          f"(raw scores: {pct(k.raw[s][f'fpr_at_{t0:g}'])}% and {pct(k.raw[s][f'fpr_at_{t1:g}'])}% of the real faces).")
    w("")
    w("FPR: the share of real faces scored at or above the threshold (`sola eval`'s `fpr_at_0.5` and `fpr_at_0.9`). "
      "Fakes caught (the true-positive rate) is derived from `sola eval`'s accuracy at the threshold, "
      "(ACC x n - (1 - FPR) x n_real) / n_fake: at 0.5 from the read-out above, at 0.9 from the same read-out run "
      "with `--threshold 0.9` (`models/card/eval_at_0.9.json`), each checked against its reliability bins, which "
      "bound it. The reliability diagram of both test sets, raw and calibrated (the share of fakes against the mean "
      "score in each bin, the diagonal being a perfect calibration): "
      "[docs/figures/reliability_shipped.png](../docs/figures/reliability_shipped.png).")
    w("")


def write_videos(w, k):
    """Whole videos as a user meets them: `sola detect` of the shipped file on FaceForensics++'s c23 videos
    (ffpp_videos.jsonl), each video's truth read from the official folder layout."""
    def truth(path):
        parts = path.replace("\\", "/").split("/")
        if "original_sequences" in parts:
            return "real", "original"
        if "manipulated_sequences" in parts:
            i = parts.index("manipulated_sequences")
            return "fake", parts[i + 1] if i + 1 < len(parts) else "fake"
        return None, None
    rows = [(v, *truth(v["path"])) for v in k.videos if v.get("kind") == "video"]
    rows = [r for r in rows if r[1]]
    if not rows:
        return
    thr = rows[0][0].get("threshold", 0.5)
    w("## Whole videos")
    w("")
    w(f"`sola detect` on the {len(rows)} FaceForensics++ c23 videos of `../shared/data/ffpp-videos` (the first 4 seconds "
      "of each, as FaceForensics++ published them; the originals are YouTube videos), as a user would run it: faces "
      f"found and followed, {rows[0][0].get('aggregation', {}).get('frames_scored', 32)} frames sampled, the video's "
      f"score the mean of its frames' {'calibrated ' if k.calibrated else ''}scores, threshold {thr:g}:")
    w("")
    w("| video | truth | score | label |")
    w("|---|---|---|---|")
    for v, label, what in sorted(rows, key=lambda r: (r[1] != "real", r[2], r[0]["path"])):
        name = "/".join(v["path"].replace("\\", "/").split("/")[-1:])
        score = v.get("score")
        w(f"| {what} `{name}` | {label} | {'–' if score is None else f'{score:.3f}'} | {v.get('label', v.get('status'))} |")
    w("")
    right = {t: sum(1 for v, l, _ in rows if l == t and v.get("label") == t) for t in ("real", "fake")}
    count = {t: sum(1 for _, l, _ in rows if l == t) for t in ("real", "fake")}
    w(f"On the right side of {thr:g}: {right['real']} of {count['real']} originals and {right['fake']} of "
      f"{count['fake']} fakes ({len(rows)} videos: an illustration of what a user sees, not a measurement).")
    w("")


def readme_block(k):
    if k.multi_source:
        how = (f"fine-tuned with sola itself on 2 CPU cores from a SOLA trained from scratch on DFDC, on every source of "
               f"`../shared/data` in its share (" + ", ".join(f"`{d}`" for d in k.train_sets) +
               f"; epoch {k.state['epoch']} of the long run with every source, {k.hours():.1f} hours)")
    else:
        how = (f"trained with sola itself, from scratch on 2 CPU cores, on the {k.prov['data']['train']['images']:,} "
               f"DFDC training crops of `../shared/data` (epoch {k.state['epoch']} of the long run, {k.hours():.1f} hours)")
    return (f"The shipped model `models/sola-dfdc.pt` (model card: `models/README.md`) is a SOLA {how}: frame AUC "
            f"**{pct(k.auc('test'))}% on `dfdc/test`** (DFDC videos it never saw)"
            + (f", **{pct(k.auc('ffpp_test'))}% on `ffpp/test`** (FaceForensics++'s manipulations)" if k.has("ffpp_test")
               else "") +
            f" and **{pct(k.auc('gan'))}% on `gan-faces`** (StyleGAN2 faces against FFHQ photographs, a manipulation "
            "it never saw). "
            + ("Its scores are calibrated probabilities of fake (Platt scaling fitted on " + k.fitted_on() +
               "; expected calibration error " + " and ".join(
                   f"{pct(k.rows[('fp16', s)]['ece'])}% on {label}" for s, label in CALIBRATION_TESTS) + "). "
               if k.calibrated else "") +
            "`sola detect` and `sola serve` use it by default.")


def rewrite_readme(path, k):
    try:
        text = open(path).read()
    except OSError as e:
        fail(f"{path}: {e}")
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        fail(f"{path}: expected one '{BEGIN}' line followed by one '{END}' line")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + BEGIN + "\n" + readme_block(k) + "\n" + END + tail
    with open(path + ".tmp", "w") as f:
        f.write(new)
    os.replace(path + ".tmp", path)


def main(argv):
    if not argv or argv[0].startswith("-"):
        fail("usage: make_model_card.py CARD_DIR [--check [--calibrated]] [--readme README.md]")
    card, check, calibrated, readme = argv[0], False, False, None
    it = iter(argv[1:])
    for a in it:
        if a == "--check":
            check = True
        elif a == "--calibrated":
            calibrated = True
        elif a == "--readme":
            readme = next(it, None) or fail("--readme needs a file")
        else:
            fail(f"unknown argument {a}")
    try:
        k = Card(card, require_calibration=calibrated)
        text = write_card(k)
    except KeyError as e:
        fail(f"{card}: a figure is missing from its files ({e})")
    if check:
        return
    if readme:
        rewrite_readme(readme, k)
    sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
