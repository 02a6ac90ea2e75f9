"""Issue 27's recipe section of docs/RESULTS.md, from what scripts/recipe_sources.sh keeps in results/sources/.

Per run NAME: `sola runs --json` of the folder NAME (config, command, epochs, best epoch, times), NAME.eval.json
(`sola eval --json` of NAME/best.pt and NAME/last.pt on dfdc/val, ffpp/val, the pseudo-forgery set, dfdc/test,
ffpp/test and the gan-faces crops) and NAME.perturbed.json (best.pt on dfdc/val and ffpp/val under each
degradation of the robustness target). shipped.eval.json and shipped.perturbed.json: the shipped model read out
the same way, the reference every run starts from. No figure is typed by hand.

The choice is made on the validation columns only, by the combined validation: the mean of the twelve validation
cells that mirror the issue's AUC targets (dfdc/val and ffpp/val as they are, and each under the five degradations
of the robustness target), so that a recipe is chosen for what the targets ask, robustness included. The mean of
the clean pair and the worst degraded cell are shown beside it. The test columns are read-outs.
For the long run (models/longrun-sources): its metrics.jsonl and command, validation.jsonl (`long_run.sh
--validate`: a checkpoint's combined validation, one line per epoch) and evals.jsonl (`--readout`, `--ship`).
"""
import json
import os

from ffpp_results import mean, pct
from sola_json import load_jsonl, recipes, run_summaries

# The targets (for the shipped model; read on the test sets, never chosen on).
TARGET_DFDC, TARGET_FFPP_MEAN, TARGET_FFPP_MIN, TARGET_ROBUST, TARGET_GAN = 0.94, 0.95, 0.90, 0.85, 0.60
METHODS = ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"]
CLEAN_CELLS, DEGRADED_CELLS = 2, 10  # dfdc/val and ffpp/val; each of them under the five degradations


def worst_cell(degraded):
    """(AUC, perturbation, set) of the lowest of the degraded validation cells ([{"perturb", "data", "auc"}]), or
    None when there are none."""
    if not degraded:
        return None
    r = min(degraded, key=lambda r: r["auc"])
    return r["auc"], r["perturb"], r["data"]


def worst_text(worst):
    """"62.80 (downscale:0.5, ffpp/val)" for a worst_cell, "–" for None."""
    return f"{pct(worst[0])} ({worst[1]}, {worst[2]})" if worst else "–"


def combined_val(dfdc, ffpp, degraded):
    """The combined validation: the mean of dfdc/val, ffpp/val and the ten degraded cells ([{"auc"}]); None
    unless every cell is there."""
    cells = [dfdc, ffpp] + [r["auc"] for r in degraded]
    return mean(cells) if None not in cells and len(degraded) == DEGRADED_CELLS else None


class SourcesRun:
    """The evaluation cells of one kept run (best checkpoint) or of the shipped model."""

    def __init__(self, keep, name, summary=None):
        self.name = name
        self.summary = summary
        self.cells = [c for c in json.load(open(os.path.join(keep, name + ".eval.json")))
                      if not c["model"].endswith("/last")]
        path = os.path.join(keep, name + ".perturbed.json")
        self.perturbed = json.load(open(path)) if os.path.exists(path) else []

    def cell(self, prefix):
        return next((c for c in self.cells if prefix in c["data"]), None)

    def auc(self, prefix):
        c = self.cell(prefix)
        return None if c is None else c["frame"]["auc"]

    def ffpp_methods(self, data="ffpp/test"):
        c = self.cell(data)
        per = c.get("per_method_auc", {}) if c else {}
        return [per.get(m) for m in METHODS]

    def val_mean(self):
        return mean([self.auc("dfdc/val"), self.auc("ffpp/val")])

    def robust_worst(self):
        """(worst validation AUC under a degradation, its perturbation and set), or None."""
        return worst_cell(self.perturbed)

    def robust_mean(self):
        return mean([r["auc"] for r in self.perturbed])

    def combined(self):
        return combined_val(self.auc("dfdc/val"), self.auc("ffpp/val"), self.perturbed)


def long_run_recipe(configs="configs"):
    """The run whose recipe the long run carries: the name that configs/sources/long_run.json extends, or None."""
    path = os.path.join(configs, "sources", "long_run.json")
    if not os.path.exists(path):
        return None
    extends = json.load(open(path)).get("extends")
    return os.path.splitext(os.path.basename(extends))[0] if extends else None


def epoch_cells(e):
    """(dfdc/val, ffpp/val, their mean, pseudo-val, pooled val) frame AUCs of one epoch line of metrics.jsonl."""
    extra = e.get("val_extra", {})

    def auc(k):
        return extra.get(k, {}).get("frame", {}).get("auc")
    d, f = auc("dfdc"), auc("ffpp")
    return d, f, mean([d, f]), auc("pseudo"), e.get("val", {}).get("frame", {}).get("auc")


def write_sources_longrun(w, sola, folder, shipped=None):
    """The long run with every source (VARIANT=sources scripts/long_run.sh), from what it commits in `folder`:
    its learning curve per validation set, where it stands against its stop rule and against the shipped model
    (the mean of dfdc/val and ffpp/val: shipped when ahead), and the read-outs of the checkpoints considered."""
    if not folder or not os.path.exists(os.path.join(folder, "metrics.jsonl")):
        return
    run = run_summaries(sola, [folder])[0]
    t, epochs = run["config"]["train"], run["epochs"]
    w("### The long run with every source")
    w("")
    w(f"The carried recipe at full length: epochs of {t['max_steps_per_epoch']} steps of batch {t['batch_size']} "
      f"towards {t['epochs']}, Adam lr {t['lr']} ({t['lr_schedule']}), stopping when no validation AUC has improved "
      f"for {t.get('patience', 0)} epochs. It goes on from sitting to sitting (`VARIANT=sources scripts/long_run.sh`: "
      f"the committed compact state `{folder}/state.pt`); `best.pt` follows dfdc/val and ffpp/val pooled.")
    w("")
    w("```sh")
    w(run["command"] or "")
    w("```")
    w("")
    if epochs:
        w("| epoch | train loss | dfdc/val | ffpp/val | mean | pseudo-val | pooled val | train img/s | minutes |")
        w("|---|---|---|---|---|---|---|---|---|")
        for e in epochs:
            cells = " | ".join(pct(v) for v in epoch_cells(e))
            w(f"| {e['epoch']}{' (best)' if e['epoch'] == run['best_epoch'] else ''} | {e['train_loss']:.4f} | {cells} | "
              f"{e['train_images_per_second']:.1f} | {(e['train_seconds'] + e.get('validate_seconds', 0)) / 60:.1f} |")
        w("")
        hours = (run["train_seconds"] + run["validate_seconds"]) / 3600
        ended = run["stop_reason"]
        w(f"{len(epochs)} epochs of {t['epochs']}{'' if ended else ' so far'}, {hours:.1f} hours of training and "
          f"validation (wall time on 2 shared cores); {run['epochs_since_improvement']} epochs since a validation AUC "
          f"last improved (patience {t.get('patience', 0)})." + (f" The run has ended: {ended}." if ended else ""))
        w("")
    evals_path = os.path.join(folder, "evals.jsonl")
    evals = load_jsonl(evals_path) if os.path.exists(evals_path) else []
    if epochs:
        write_longrun_choice(w, folder, run["best_epoch"], evals, shipped)
    if evals:
        w("Read-outs of the checkpoints shipped or considered (frame AUC %; the test columns and gan-faces choose "
          "nothing):")
        w("")
        w("| checkpoint | epoch | dfdc/val | ffpp/val | pseudo-val | **dfdc/test** | **ffpp/test** | **gan-faces** |")
        w("|---|---|---|---|---|---|---|---|")
        for e in evals:
            w(f"| {e['checkpoint']}{' (shipped)' if e.get('shipped') else ''} | {e.get('epoch')} | {pct(e.get('val'))} | "
              f"{pct(e.get('ffpp_val'))} | {pct(e.get('pseudo_val'))} | {pct(e.get('test'))} | "
              f"{pct(e.get('ffpp_test'))} | {pct(e.get('gan'))} |")
        w("")


def write_longrun_choice(w, folder, best_epoch, evals, shipped):
    """The long run's checkpoints against the model shipped (the latest epoch shipped from this run, else the
    model the run started from) on the combined validation (validation.jsonl, `long_run.sh --validate`)."""
    path = os.path.join(folder, "validation.jsonl")
    lines = {l["epoch"]: l for l in load_jsonl(path)} if os.path.exists(path) else {}

    def combined(l):
        return combined_val(l.get("dfdc_val"), l.get("ffpp_val"), l.get("degraded", []))
    shipped_epochs = [e["epoch"] for e in evals if e.get("shipped")]
    if shipped_epochs and shipped_epochs[-1] in lines:
        ref_line = lines[shipped_epochs[-1]]
        ref_name = f"epoch {shipped_epochs[-1]}, shipped"
        ref = (ref_line["dfdc_val"], ref_line["ffpp_val"], ref_line["degraded"], combined(ref_line))
    elif shipped and not shipped_epochs:
        ref_name = "the model the run started from (shipped then)"
        ref = (shipped.auc("dfdc/val"), shipped.auc("ffpp/val"), shipped.perturbed, shipped.combined())
    else:
        ref_name, ref = None, None
    if lines or ref:
        w("Combined validation (`VARIANT=sources scripts/long_run.sh --validate`: the checkpoint in float32 on "
          "dfdc/val and ffpp/val, as they are and under each degradation of the robustness target):")
        w("")
        w("| checkpoint | dfdc/val | ffpp/val | degraded val: mean / worst | **combined val** |")
        w("|---|---|---|---|---|")

        def row(name, d, f, degraded, c):
            worst_s = worst_text(worst_cell(degraded))
            w(f"| {name} | {pct(d)} | {pct(f)} | {pct(mean([r['auc'] for r in degraded]))} / {worst_s} | **{pct(c)}** |")
        if ref and not shipped_epochs:
            row(ref_name, *ref)
        for e, l in sorted(lines.items()):
            row(f"epoch {e}" + (", shipped" if e in shipped_epochs else ""), l["dfdc_val"], l["ffpp_val"],
                l["degraded"], combined(l))
        w("")
    best = lines.get(best_epoch)
    if ref is None:
        return
    if best is None:
        w(f"The best checkpoint so far (epoch {best_epoch}) has no combined validation yet "
          "(`VARIANT=sources scripts/long_run.sh --validate`).")
    elif shipped_epochs and best_epoch == shipped_epochs[-1]:
        w(f"The best checkpoint so far (epoch {best_epoch}) is the one shipped.")
    else:
        c = combined(best)
        w(f"The best checkpoint so far (epoch {best_epoch}) against {ref_name}: combined val {pct(c)} against "
          f"{pct(ref[3])}: " + ("ahead: ship it (`VARIANT=sources scripts/long_run.sh --ship`)." if c > ref[3] else
                                "not ahead; the rule is to ship when the combined validation is ahead."))
    w("")


def write_sources(w, keep, sola, order, configs="configs", longrun=None):
    """The section, from the runs kept in `keep` (in `order`); `sola`: the sola binary; `longrun`: the folder of
    the long run with every source (models/longrun-sources), when it has begun."""
    if not keep or not os.path.isdir(keep):
        return
    names = [n for n in order if os.path.exists(os.path.join(keep, n + ".eval.json"))]
    shipped = SourcesRun(keep, "shipped") if os.path.exists(os.path.join(keep, "shipped.eval.json")) else None
    if not names and not shipped:
        return
    summaries = run_summaries(sola, [os.path.join(keep, n) for n in names])
    runs = [SourcesRun(keep, n, s) for n, s in zip(names, summaries)]
    rec = recipes(sola, os.path.join(configs, "sources")) if runs else {}
    w("## Every source, robust, calibrated: the recipe at equal CPU time (issue 27)")
    w("")
    w("Generated by `scripts/recipe_sources.sh`. Each run fine-tunes the shipped model (`init "
      "sola:models/sola-dfdc.pt`) for the same number of steps, with one change from `configs/sources/base.json`: "
      "the sources it learns from and their shares (`source_weights`: dfdc/train, dfdc/train-extra, ffpp/train, "
      "faces-real/utkface, whose reals each get a self-blend), and the degradation augmentation. `best.pt` follows "
      "dfdc/val and ffpp/val pooled. **Chosen on**: the combined validation (below), made of the validation columns "
      "and of both validation sets under the robustness target's degradations (blur:1, downscale:0.5, noise:4, "
      "jpeg:50, sharpen:1). **Read out, never chosen on**: the test columns and gan-faces. Frame AUC %.")
    w("")
    if runs:
        t = runs[0].summary["config"]["train"]
        w(f"Budget of every run: {t['epochs']} epochs of {t['max_steps_per_epoch']} steps of batch {t['batch_size']} "
          f"({t['epochs'] * t['max_steps_per_epoch'] * t['batch_size']:,} images), Adam lr {t['lr']} ({t['lr_schedule']}, "
          f"{t['warmup_epochs']} warm-up epoch), 128 px, seed {t['seed']}.")
        w("")
    w("| run | change | dfdc/val | ffpp/val | mean | pseudo-val | degraded val: mean / worst | **combined val** | "
      "dfdc/test | ffpp/test DF / F2F / FS / NT (mean) | gan-faces |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = ([("start", "the model every run starts from: the DFDC model shipped before these runs "
                        "(`models/sola-dfdc.pt` then)", shipped)] if shipped else []) + \
           [(r.name, rec.get(r.name, {}).get("description", ""), r) for r in runs]
    for name, what, r in rows:
        worst_s = worst_text(r.robust_worst())
        per = r.ffpp_methods()
        w(f"| {name} | {what} | {pct(r.auc('dfdc/val'))} | {pct(r.auc('ffpp/val'))} | {pct(r.val_mean())} | "
          f"{pct(r.auc('pseudo-val'))} | {pct(r.robust_mean())} / {worst_s} | **{pct(r.combined())}** | "
          f"{pct(r.auc('dfdc/test'))} | "
          + " / ".join(pct(v) for v in per) + f" ({pct(mean(per))}) | {pct(r.auc('gan-faces'))} |")
    w("")
    if runs:
        # The choice, on validation alone: the best mean of dfdc/val and ffpp/val, the degraded worst case beside it.
        best = max(runs, key=lambda r: r.val_mean() or 0)
        robust = max(runs, key=lambda r: (r.robust_worst() or (0,))[0])
        chosen = max(runs, key=lambda r: r.combined() or 0)
        w(f"**Combined val**: the mean of the {CLEAN_CELLS + DEGRADED_CELLS} validation cells that mirror the AUC targets "
          "(dfdc/val and ffpp/val as they are, and each under the five degradations), what the choice is made on. "
          f"`{chosen.name}` has the best ({pct(chosen.combined())}); `{best.name}` the best mean of dfdc/val and ffpp/val "
          f"as they are ({pct(best.val_mean())}) and `{robust.name}` the best worst case under degradation "
          f"({pct((robust.robust_worst() or (None,))[0])}).")
        w("")
        w("Runs (command, best epoch of the epochs, wall minutes of training and validation):")
        w("")
        for r in runs:
            s = r.summary
            w(f"- `{r.name}`: best epoch {s['best_epoch']} of {s['epochs_planned']}, "
              f"{(s['train_seconds'] + s['validate_seconds']) / 60:.0f} min; `{s['command']}`")
        w("")
    if runs:
        carried = long_run_recipe(configs)
        if carried:
            r = next((r for r in runs if r.name == carried), None)
            figures = f": combined val {pct(r.combined())}" if r else ""
            w(f"The long run carries `{carried}` (`configs/sources/long_run.json` extends `{carried}.json`){figures}" +
              (", the best combined validation." if carried == chosen.name else
               f"; the best combined validation is now `{chosen.name}`'s.") +
              f" Its recipe: {rec.get('long_run', {}).get('description', '')}.")
            w("")
    if longrun:
        write_sources_longrun(w, sola, longrun, shipped)
    w(f"Targets of the shipped model (on the test sets): dfdc/test ≥ {pct(TARGET_DFDC)}, ffpp/test ≥ "
      f"{pct(TARGET_FFPP_MEAN)} averaged over the four methods and none below {pct(TARGET_FFPP_MIN)}, every "
      f"degradation ≥ {pct(TARGET_ROBUST)} on both test sets (the robustness section), gan-faces ≥ {pct(TARGET_GAN)}, "
      "expected calibration error ≤ 5.00 (the calibration section).")
    w("")
