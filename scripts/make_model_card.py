#!/usr/bin/env python3
"""Writes the model card of the shipped model (models/README.md, to stdout) from the figures that
scripts/ship_model.sh keeps in models/card/; no figure is typed by hand.

Usage: make_model_card.py CARD_DIR [--check] [--readme README.md]
  --check           only checks that CARD_DIR holds every figure the card needs (exit 1 naming what is missing)
  --readme FILE     also rewrites the shipped model's figures in FILE, between the lines
                    "<!-- model-figures:begin -->" and "<!-- model-figures:end -->"
CARD_DIR holds: checkpoint_info.json and info.json (`sola info` of the checkpoint and of the float16 file),
export.json, eval.json (`sola eval --json` of both on dfdc/val, the pseudo-forgery validation set, dfdc/test
and the gan-faces crops), epochs.jsonl (the run's epoch lines up to the shipped one), command.txt (the
training command), quickstart.jsonl (`sola detect --json` on the quickstart's photo and pseudo-forgery).
"""
import json
import os
import sys

from make_results import load_jsonl, pct, report_set

BEGIN, END = "<!-- model-figures:begin -->", "<!-- model-figures:end -->"
FILES = ["checkpoint_info.json", "info.json", "export.json", "eval.json", "epochs.jsonl", "command.txt",
         "quickstart.jsonl"]
# The evaluation sets, by the name `sola eval` gives them: (label, role).
SETS = [("val", "`dfdc/val`", "chooses"), ("pseudo_val", "pseudo-forgery val", "chooses"),
        ("test", "**`dfdc/test`**", "report: unseen DFDC videos"),
        ("gan", "**`gan-faces`**", "report: a manipulation never seen")]
GAN_TARGET, TEST_TARGET = 0.65, 0.94


def fail(msg):
    sys.exit(f"make_model_card.py: {msg}")


def load(card):
    missing = [f for f in FILES if not os.path.exists(os.path.join(card, f))]
    if missing:
        fail(f"{card}: missing {', '.join(missing)} (made by scripts/ship_model.sh)")
    c = {}
    try:
        for f in FILES:
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


class Card:
    def __init__(self, card):
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
        rows = c["eval.json"]
        # The checkpoint is the first model of ship_model.sh's `sola eval` (then the float16 file, sola-dfdc).
        ckpt_name = rows[0]["model"] if rows else None
        self.ev, self.maps = {}, {}
        for r in rows:
            kind = "fp16" if r["model"] == "sola-dfdc" else "fp32" if r["model"] == ckpt_name else None
            key = report_set(r["data"])
            if kind and key:
                self.ev[(kind, key)] = r["frame"]
                if kind == "fp16" and "map" in r:
                    self.maps[key] = r["map"]
        missing = [f"{k} on {s}" for k in ("fp32", "fp16") for s, _, _ in SETS if (k, s) not in self.ev]
        if missing:
            fail(f"{card}/eval.json: no figures for {', '.join(missing)}")
        if len(self.quick) != 2 or any(q.get("status") != "ok" for q in self.quick):
            fail(f"{card}/quickstart.jsonl: expected the photo and the pseudo-forgery, both scored: {self.quick}")
        if not self.epochs:
            fail(f"{card}/epochs.jsonl: no epoch lines")

    def auc(self, key, kind="fp16"):
        return self.ev[(kind, key)]["auc"]

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
                                         ("sharpening", "aug_sharpen")) if t.get("augment") and t.get(key))
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
    w(f"| Weights | float16 in the file, float32 in memory (`sola info --model models/sola-dfdc.pt` prints the rest) |")
    w(f"| Training data | {manifests}: {images:,} DFDC face crops (224 px, one or two per source video); nothing "
      "from `dfdc/val`, `dfdc/test` or `gan-faces` |")
    w(f"| Training | from scratch (no ImageNet weights can be had here); loss {t['loss']} (alpha = {t['alpha']:g}, "
      f"beta = {t['beta']:g}, gamma = {t['gamma']:g}); pseudo-fake share {pseudo:g} (that share of each batch's fakes "
      f"replaced by self-blends of the batch's reals, exact masks); {t.get('precision', 'fp32')} autocast; Adam lr "
      f"{t['lr']:g}, {schedule}; batch {t['batch_size']}; augmentation: {augment or 'none'}; seed {t['seed']} |")
    w(f"| Length | **epoch {epoch}** of a run planned for {planned} (`scripts/long_run.sh`, carried from sitting to "
      f"sitting); {k.hours():.1f} hours of training loop on 2 CPU cores (wall time, cores shared with other work) |")
    w(f"| Chosen | the best `dfdc/val` frame AUC so far ({pct(k.state['best'])} at epoch {epoch}), with the pseudo-forgery "
      "validation set beside it; `dfdc/test` and `gan-faces` were read out after the choice, never used to make it |")
    w(f"| Face crop | `sola detect`/`serve` crop faces at **{k.meta.get('crop_scale', 1.2):g} x** the dlib face box for "
      "this model (stored as `crop_scale` in its metadata, `--scale` overrides): the DFDC crops it was trained on are "
      "tight (dlib finds 187-248 px faces in the 224 px crops), so the paper's 2.6x would show it faces at a scale it "
      "never saw |")
    w("")
    w("## Figures")
    w("")
    w("Frame AUC, AP, EER and accuracy at 0.5 in %; one crop per source video (gan-faces: one face per "
      "portrait), so video AUC equals frame AUC. `pseudo-forgery val`: the `dfdc/val` reals and one self-blended "
      "fake of each (`sola synth`, seed fixed). `gan-faces`: 200 StyleGAN2 faces against 200 FFHQ photographs, "
      "faces cut by sola's detector.")
    w("")
    w("| data | role | frame AUC, checkpoint (float32) | **frame AUC, shipped (float16)** | AP | EER | ACC@0.5 | "
      "AUC of the maps alone |")
    w("|---|---|---|---|---|---|---|---|")
    for key, label, role in SETS:
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
    worst = max(abs(k.auc(s, "fp16") - k.auc(s, "fp32")) for s, _, _ in SETS)
    w(f"Halving the file's precision moves a frame AUC by at most {100 * worst:.2f} points. Targets of the project "
      f"(issue \"A detector worth shipping\"): `dfdc/test` >= {pct(TEST_TARGET)} "
      f"({'met' if k.auc('test') >= TEST_TARGET else 'not met'}), `gan-faces` >= {pct(GAN_TARGET)} "
      f"({'met' if k.auc('gan') >= GAN_TARGET else 'not met'}).")
    w("")
    w("Learning curve of the run up to the shipped epoch (frame AUC %; the whole run: `docs/RESULTS.md`, \"The long run\"):")
    w("")
    w("| epoch | " + " | ".join(str(l["epoch"]) for l in k.epochs) + " |")
    w("|---|" + "---|" * len(k.epochs))
    w("| dfdc/val | " + " | ".join(pct(l["val"]["frame"]["auc"]) for l in k.epochs) + " |")
    w("| pseudo-forgery val | " + " | ".join(
        pct(l["val_extra"]["pseudo"]["frame"]["auc"]) if "pseudo" in l.get("val_extra", {}) else "–" for l in k.epochs) + " |")
    w("")
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
          "frames the model learned from, and the scores are not calibrated: read them against each other "
          f"({'the pseudo-forgery scores higher' if fake['score'] > real['score'] else 'the pseudo-forgery does not even score higher'}) "
          "and pick a threshold on data like yours.")
    w("")
    w("## How to reproduce")
    w("")
    w("```sh")
    w(f"# the training run (scripts/long_run.sh runs it and carries it from sitting to sitting):")
    w(k.command)
    w(f"# then: export float16, read out, check the quickstart, write this card")
    w(f"bash scripts/ship_model.sh {k.meta['exported_from']} <run>/metrics.jsonl <run>.command.txt   # or: bash scripts/long_run.sh --ship")
    w("```")
    w("")
    w("## What it is not good at")
    w("")
    gan = k.auc("gan")
    w(f"- **Forgeries unlike DFDC's.** It learned from DFDC's face swaps (and self-blends of DFDC reals): on "
      f"entirely generated faces (`gan-faces`, StyleGAN2) its frame AUC is {pct(gan)}"
      f"{k.gan_verdict(gan)}.{k.map_sentence()} Expect lower accuracy on other methods and "
      "datasets (FaceForensics++, Celeb-DF), on heavy compression, and on faces unlike DFDC's actors.")
    w(f"- **A CPU-sized training.** {epoch} epochs from scratch on {images:,} crops of one dataset; the paper starts from "
      "ImageNet weights and trains 50 epochs at 256 px. Treat its scores as a screening signal, not as evidence.")
    rob = k.robustness_sentence()
    if rob:
        w(f"- **Degraded images.** {rob}")
    w("- **Scores are not calibrated.** The threshold 0.5 is arbitrary; pick one on data like yours (`--threshold`).")
    w(f"- **Low resolution.** Faces are resized to {cfg['input_size']} x {cfg['input_size']}, so small artefacts are "
      f"lost, and the anomaly maps are {cfg['grid']} x {cfg['grid']}.")
    w("- **Face detection first.** `sola detect` scores only faces dlib's HOG detector finds (frontal, not too small); "
      "profile or occluded faces are reported as `no_face`.")
    w("- **Heat maps are explanations, not masks.** The second-order map and the Grad-CAM show where the model's "
      "evidence is; they are not trained to segment the manipulated region precisely (DFDC's training masks are "
      "approximate).")
    return "\n".join(out) + "\n"


def readme_block(k):
    return (f"The shipped model `models/sola-dfdc.pt` (model card: `models/README.md`) is a SOLA trained with sola "
            f"itself, from scratch on 2 CPU cores, on the {k.prov['data']['train']['images']:,} DFDC training crops of "
            f"`../shared/data` (epoch {k.state['epoch']} of the long run, {k.hours():.1f} hours): frame AUC "
            f"**{pct(k.auc('test'))}% on `dfdc/test`** (DFDC videos it never saw) and **{pct(k.auc('gan'))}% on "
            f"`gan-faces`** (StyleGAN2 faces against FFHQ photographs, a manipulation it never saw). "
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
        fail("usage: make_model_card.py CARD_DIR [--check] [--readme README.md]")
    card, check, readme = argv[0], False, None
    it = iter(argv[1:])
    for a in it:
        if a == "--check":
            check = True
        elif a == "--readme":
            readme = next(it, None) or fail("--readme needs a file")
        else:
            fail(f"unknown argument {a}")
    try:
        k = Card(card)
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
