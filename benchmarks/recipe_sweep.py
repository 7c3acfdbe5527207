"""CPU recipes judged by faces seen: FID after the same numbers of training faces, over seeds.

    python -m benchmarks.recipe_sweep [--data ZIP] [--epochs 1 2 3 6 | --minutes M] [--seeds 0 1]
                                      [--fid-samples 2000] [--recipes paper batches ...] [--json FILE]
    python -m benchmarks.recipe_sweep --plot PNG --json FILE    (FID against faces seen, from a sweep's FILE)

Each recipe is the lesson's DCGAN (the notebook's own networks and train_step) trained as the notebook
trains (helpers.train with FastStep) for --epochs epochs of the training faces (3 epochs of the 27,600 =
82,800 faces, about what a 5-minute run sees on a 2-core AVX2 CPU), then scored by FID with --fid-samples
samples against as many held-out faces. Several --epochs give FID against faces seen: the run is scored at
each, then resumed (as the notebook resumes a run). A recipe changes only what the lesson can keep: the
learning rates, beta1, the weight average's decay and warm-up, label smoothing, the batch size.
--recipes picks some by how their names start. --minutes trains each for the same time instead (faces seen
then differ with each recipe's speed).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

import helpers
from benchmarks import command, machine
from benchmarks.notebook import load_notebook_code
from benchmarks.train_speed import build_models

# warmup: the weight average's decay at its n-th update is min(ema, (1 + n) / (warmup + n)); 10 is the lesson's
# (helpers.average_decay). PAPER: the DCGAN paper's optimizer (lr 2e-4, beta1 0.5) at the laptop's size and batch;
# LESSON: the notebook's laptop recipe (its Hyperparameters cell without a GPU), the recipe search's best.
PAPER = {"d_lr": 2e-4, "g_lr": 2e-4, "beta1": 0.5, "ema": 0.999, "warmup": 10, "smooth": True, "batch_size": 32,
         "conv_dim": 32}
LESSON = {**PAPER, "d_lr": 4e-4, "g_lr": 4e-4, "beta1": 0.3, "ema": 0.995}
RECIPES = {
    "paper's (lr 2e-4 both, beta1 0.5, average 0.999, batches of 32)": PAPER,
    "two learning rates (D 4e-4, G 1e-4)": {**PAPER, "d_lr": 4e-4, "g_lr": 1e-4},
    "learning rates 4e-4 both": {**PAPER, "d_lr": 4e-4, "g_lr": 4e-4},
    "average 0.99": {**PAPER, "ema": 0.99},
    "average warm-up 10 times longer: (1 + n) / (100 + n)": {**PAPER, "warmup": 100},
    "batches of 16": {**PAPER, "batch_size": 16},
    "batches of 64": {**PAPER, "batch_size": 64},
    "lesson (lr 4e-4 both, beta1 0.3, average 0.995: the search's trial 3)": LESSON,
    "batches of 16, lr 3e-4 both, average 0.995 (the search's trial 4)": {**PAPER, "batch_size": 16, "d_lr": 3e-4,
                                                                          "g_lr": 3e-4, "ema": 0.995},
}


def run(nb: dict, images: torch.Tensor, held_out: torch.Tensor, recipe: dict, seed: int, epochs: list[int],
        fid_samples: int | list[int], out_dir: Path, minutes: float | None = None, scored=None,
        cache_dir: Path | None = None) -> list[dict]:
    """Train one recipe from one seed to each of `epochs` in turn (or for `minutes`), scoring FID at each
    (fid_samples: one count for all, or one per stage): the faces seen, minutes and FID at each.
    scored(stage, fid), if given, hears each score as it comes (a tuner's pruner may stop the run there).
    cache_dir: where the held-out faces' Inception statistics are kept (default: out_dir/cache)."""
    D, G, d_opt, g_opt = build_models(nb, torch.device("cpu"), seed=seed, conv_dim=recipe["conv_dim"],
                                      d_lr=recipe["d_lr"], g_lr=recipe["g_lr"], beta1=recipe["beta1"])
    loader = helpers.get_dataloader(recipe["batch_size"], images=images, scale=nb["scale"], seed=seed)
    step = helpers.FastStep(nb["train_step"], D, G, "cpu")
    update_average, updates = nb["update_average"], [0]
    if recipe["warmup"] != 10:  # another warm-up than the lesson's: the decay from this run's own count of updates
        def update_average(average, G_, decay):
            updates[0] += 1
            nb["update_average"](average, G_, min(recipe["ema"], (1 + updates[0]) / (recipe["warmup"] + updates[0])))
    stages, took, results = [(10_000, minutes)] if minutes else [(e, None) for e in epochs], 0.0, []
    samples = fid_samples if isinstance(fid_samples, list) else [fid_samples] * len(stages)
    for i, (stage_epochs, stage_minutes) in enumerate(stages):
        start = time.perf_counter()
        result = helpers.train(D, G, d_opt, g_opt, step, loader,
                               helpers.Settings(epochs=stage_epochs, minutes=stage_minutes, ema_decay=recipe["ema"],
                                                smooth=recipe["smooth"], seed=seed, checkpoint_minutes=1e9,
                                                out_dir=out_dir, fresh=i == 0),
                               update_average=update_average)
        took += (time.perf_counter() - start) / 60
        score = samples[i] and helpers.fid(result.generator, held_out, n_samples=samples[i], device=torch.device("cpu"),
                                           cache_dir=cache_dir or out_dir / "cache")  # 0 samples: speed only
        results.append({"seed": seed, "epochs": stage_epochs if not minutes else None,
                        "faces": result.summary["images_seen"], "minutes": round(took, 2),
                        "images_per_second": result.summary["images_per_second"], "fid_samples": samples[i],
                        "fid": round(score, 2) if samples[i] else None})
        if scored is not None and samples[i]:
            scored(i, score)
    return results


def plot(results: dict, png: Path) -> None:
    """FID against faces seen: a line per recipe through the mean over seeds, each seed's points around it."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name in dict.fromkeys(r["recipe"] for r in results["runs"]):
        runs = [r for r in results["runs"] if r["recipe"] == name]
        by_epochs = {e: [r for r in runs if r["epochs"] == e] for e in sorted({r["epochs"] for r in runs})}
        faces = [sum(r["faces"] for r in rs) / len(rs) / 1000 for rs in by_epochs.values()]
        mean = [sum(r["fid"] for r in rs) / len(rs) for rs in by_epochs.values()]
        line, = ax.plot(faces, mean, marker="o", label=f"{name} (mean of {len({r['seed'] for r in runs})} seeds)")
        ax.scatter([r["faces"] / 1000 for r in runs], [r["fid"] for r in runs], color=line.get_color(), s=12, alpha=0.5)
    ax.set(xlabel="faces seen in training (thousands)",
           ylabel=f"FID ({results['fid_samples']:,} samples, held-out faces)",
           title="FID against faces seen on the CPU (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="", help="dataset zip or folder (default: as the notebook finds it)")
    parser.add_argument("--epochs", type=int, nargs="+", default=[3], help="score after each of these epochs")
    parser.add_argument("--minutes", type=float, help="train each recipe this long instead of --epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--fid-samples", type=int, default=2000, help="0: no FID (speed only)")
    parser.add_argument("--recipes", nargs="+", default=[], help="only the recipes whose names start so")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--plot", type=Path, help="draw the results in --json to this picture instead of training")
    args = parser.parse_args()
    if args.plot:
        return plot(json.loads(args.json.read_text()), args.plot)
    recipes = {name: r for name, r in RECIPES.items() if not args.recipes or name.startswith(tuple(args.recipes))}
    nb = load_notebook_code()
    work = Path(tempfile.mkdtemp(prefix="recipe_sweep-"))
    images, held_out = helpers.hold_out(helpers.load_images(helpers.find_dataset(args.data, out_dir=work,
                                                                                   download=False), verbose=False))
    results = []
    for seed in args.seeds:  # seed by seed, so a cut-short sweep has compared every recipe at least once
        for name, recipe in recipes.items():
            for entry in run(nb, images, held_out, recipe, seed, args.epochs, args.fid_samples, work, args.minutes):
                results.append({"recipe": name, **entry})
                print(json.dumps(results[-1]), flush=True)
            if args.json:
                helpers.write_json(args.json, {"date": time.strftime("%Y-%m-%d"), "machine": machine(),
                                               "command": command("recipe_sweep", sys.argv[1:]),
                                               "fid_samples": args.fid_samples, "epochs": args.epochs,
                                               "minutes": args.minutes, "runs": results})


if __name__ == "__main__":
    main()
