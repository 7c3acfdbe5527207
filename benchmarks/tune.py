"""A search for the CPU recipe: Optuna's TPE over the knobs together, each trial judged by FID after the
faces a 5-minute lab sees.

    python -m benchmarks.tune --journal FILE [--trials 20] [--data ZIP] [--seed 0] [--max-images N]
    python -m benchmarks.tune --journal FILE --report JSON [--plot PNG]   (the study as JSON and a picture)
    python -m benchmarks.tune --journal FILE --confirm [TRIAL] --seed S --json FILE   (a trial's recipe, or the
                                                        lesson's with --confirm lesson, from seed S: FID of 5,000)

Each trial is the lesson's DCGAN (the notebook's own networks, update_average and train_step, trained
by helpers.train with FastStep, as the notebook trains) with the knobs the trial draws: the batch size,
D's and G's learning rates, Adam's beta1, the weight average's decay and warm-up, and label smoothing. It
trains 3 epochs of the 27,600 training faces (82,800 faces, 82,752 with batches that do not divide them)
and is scored by FID of 2,000 samples against 2,000 held-out faces. After epochs 1 and 2 it is scored with
250 samples (FID's Inception network costs a CPU about as much as a minute of training per 500 samples),
and the median pruner stops a trial that is worse there than the median of the trials before it. The study lives in the journal FILE (Optuna's JournalStorage: several processes can share it,
and a study cut short goes on where it stopped). The first trials are the DCGAN paper's optimizer at the
laptop's size (recipe_sweep.PAPER) and the recipes the one-knob sweep found (benchmarks/recipe_sweep.py), so
the search starts from them.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

import helpers
from benchmarks import machine
from benchmarks.notebook import load_notebook_code
from benchmarks.recipe_sweep import LESSON, PAPER, run

STUDY = "cpu-recipe-82800"
STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "stopped unfinished", "RUNNING": "running"}
EPOCHS, STAGE_SAMPLES = [1, 2, 3], [250, 250, 2000]  # FID's samples after each epoch: the cheap ones only prune
START = [PAPER, {**PAPER, "batch_size": 16}, {**PAPER, "d_lr": 4e-4, "g_lr": 4e-4}]  # tried first


def suggest(trial) -> dict:
    """The knobs a trial draws (the rest is the laptop's: conv_dim 32)."""
    return {**PAPER,
            "batch_size": trial.suggest_categorical("batch_size", [16, 24, 32, 48]),
            "d_lr": trial.suggest_float("d_lr", 1e-4, 1e-3, log=True),
            "g_lr": trial.suggest_float("g_lr", 1e-4, 1e-3, log=True),
            "beta1": trial.suggest_float("beta1", 0.0, 0.8),
            "ema": trial.suggest_categorical("ema", [0.99, 0.995, 0.999]),
            "warmup": trial.suggest_int("warmup", 1, 300, log=True),
            "smooth": trial.suggest_categorical("smooth", [True, False])}


def open_study(journal: Path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=6, multivariate=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)
    study = optuna.create_study(study_name=STUDY, storage=storage, sampler=sampler, pruner=pruner,
                                direction="minimize", load_if_exists=True)
    if not study.trials:
        for recipe in START:
            study.enqueue_trial({k: recipe[k] for k in ("batch_size", "d_lr", "g_lr", "beta1", "ema", "warmup",
                                                         "smooth")})
    return study


def search(args) -> None:
    import optuna

    study = open_study(args.journal)
    nb = load_notebook_code()
    work = Path(tempfile.mkdtemp(prefix="tune-"))
    faces = helpers.load_images(helpers.find_dataset(args.data, out_dir=work, download=False), verbose=False)
    images, held_out = helpers.hold_out(faces[:args.max_images])

    def objective(trial) -> float:
        recipe = suggest(trial)

        def scored(stage: int, fid: float) -> None:
            trial.report(fid, stage)
            if stage < len(EPOCHS) - 1 and trial.should_prune():
                raise optuna.TrialPruned()

        entries = run(nb, images, held_out, recipe, args.seed, EPOCHS, STAGE_SAMPLES, work / f"trial{trial.number}",
                      scored=scored, cache_dir=args.journal.parent / "cache")  # the held-out faces' statistics, once
        trial.set_user_attr("runs", entries)
        return entries[-1]["fid"]

    study.optimize(objective, n_trials=args.trials)


def confirm(args) -> None:
    """Train the recipe of one trial (the best by default; "lesson": the lesson's) from --seed for the same 82,800
    faces and score it with FID of 5,000 samples against the 5,000 held-out faces; write it to --json."""
    if args.confirm == "lesson":
        number, recipe = None, LESSON
    else:
        study = open_study(args.journal)
        trial = study.best_trial if args.confirm == "best" else study.trials[int(args.confirm)]
        number, recipe = trial.number, {**PAPER, **trial.params}
    nb = load_notebook_code()
    work = Path(tempfile.mkdtemp(prefix="confirm-"))
    images, held_out = helpers.hold_out(helpers.load_images(helpers.find_dataset(args.data, out_dir=work,
                                                                                   download=False), verbose=False))
    entries = run(nb, images, held_out, recipe, args.seed, [EPOCHS[-1]], 5000, work,
                  cache_dir=args.journal.parent / "cache")
    helpers.write_json(args.json, {"trial": number, "recipe": recipe, **entries[-1], "date": time.strftime("%Y-%m-%d"),
                                   "machine": machine()})
    print(json.dumps({"trial": number, **entries[-1]}))


def report(args) -> None:
    """The study as JSON (every trial: its knobs, state, FID at each stage) and FID against trial as a picture."""
    study = open_study(args.journal)
    trials = [{"number": t.number, "state": t.state.name, "ended": STATES.get(t.state.name, t.state.name.lower()),
               "params": t.params,
               "fid": t.value if t.state.name == "COMPLETE" else None,
               "fid_by_epoch": {str(EPOCHS[int(k)]): round(v, 2) for k, v in sorted(t.intermediate_values.items())},
               "runs": t.user_attrs.get("runs", [])} for t in study.trials]
    done = [t for t in trials if t["state"] == "COMPLETE"]
    best = sorted(done, key=lambda t: t["fid"])[:5]
    helpers.write_json(args.report, {"date": time.strftime("%Y-%m-%d"), "machine": f"{machine()}, the 32,600 real faces",
                                     "command": f"python -m benchmarks.tune --journal {args.journal} --trials N "
                                                "(each worker: OMP_NUM_THREADS=1), then --report",
                                     "study": STUDY, "epochs": EPOCHS, "stage_samples": STAGE_SAMPLES,
                                     "trials": trials, "best": [t["number"] for t in best]})
    if args.plot:
        plot(json.loads(args.report.read_text()), args.plot)


def plot(report: dict, png: Path) -> None:
    """FID at each stage of every trial of a study's report (`--report`'s JSON), to png."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for t in report["trials"]:
        if t["fid_by_epoch"]:
            p = t["params"]
            label = (f"{t['number']}: batch {p['batch_size']}, lr {p['d_lr']:.0e}/{p['g_lr']:.0e}, beta1 "
                     f"{p['beta1']:.2f}, avg {p['ema']} ({t['ended']})")
            ax.plot([int(e) for e in t["fid_by_epoch"]], list(t["fid_by_epoch"].values()), marker="o", label=label)
    ax.set(xlabel="epochs of the 27,600 training faces", xticks=report["epochs"],
           ylabel="FID (epochs 1, 2: 250 samples; 3: 2,000)", title="The recipe search on the CPU (lower is better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--journal", type=Path, required=True, help="the study's journal file (made if missing)")
    parser.add_argument("--trials", type=int, default=20, help="trials this process runs")
    parser.add_argument("--data", default="", help="dataset zip or folder (default: as the notebook finds it)")
    parser.add_argument("--seed", type=int, default=0, help="every trial's seed (the confirmation varies it)")
    parser.add_argument("--confirm", nargs="?", const="best", help="train a trial's recipe (default: the best; "
                        "'lesson': the lesson's) from --seed and score it with FID of 5,000 samples, to --json")
    parser.add_argument("--json", type=Path, help="with --confirm: the result's file")
    parser.add_argument("--max-images", type=int, help="only the first N faces (a quick try of the search)")
    parser.add_argument("--report", type=Path, help="write the study to this JSON file instead of searching")
    parser.add_argument("--plot", type=Path, help="with --report: FID by trial, to this picture")
    args = parser.parse_args()
    report(args) if args.report else confirm(args) if args.confirm else search(args)


if __name__ == "__main__":
    main()
