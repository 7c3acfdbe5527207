"""CPU recipes judged by faces seen: FID after the same number of training faces, over seeds.

    python -m benchmarks.recipe_sweep [--data ZIP] [--epochs 3 | --minutes M] [--seeds 0 1] [--fid-samples 2000]
                                      [--recipes lesson batches ...] [--json FILE]

Each recipe is the lesson's DCGAN (conv_dim 32, the notebook's own networks and train_step) trained as the
notebook trains (helpers.train with FastStep) for --epochs epochs of the training faces (3 epochs of the
27,600 = 82,800 faces, about what a 5-minute run sees on a 2-core AVX2 CPU), then scored by FID with
--fid-samples samples against as many held-out faces. A recipe changes only what the lesson can keep:
the learning rates, the weight average's decay, the batch size. --recipes picks some by how their names start.
--minutes trains each for the same time instead (faces seen then differ with each recipe's speed).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import helpers
from benchmarks.notebook import load_notebook_code
from benchmarks.train_speed import build_models

RECIPES = {  # name: (d_lr, g_lr, ema_decay, batch_size)
    "lesson (lr 2e-4 both, average 0.999, batches of 32)": (2e-4, 2e-4, 0.999, 32),
    "two learning rates (D 4e-4, G 1e-4)": (4e-4, 1e-4, 0.999, 32),
    "average 0.99": (2e-4, 2e-4, 0.99, 32),
    "batches of 16": (2e-4, 2e-4, 0.999, 16),
    "batches of 64": (2e-4, 2e-4, 0.999, 64),
}


def run(nb: dict, images: torch.Tensor, held_out: torch.Tensor, recipe: tuple, seed: int, epochs: int,
        fid_samples: int, out_dir: Path, conv_dim: int = 32, minutes: float | None = None) -> dict:
    """Train one recipe from one seed; its faces seen, minutes and FID."""
    d_lr, g_lr, ema, batch_size = recipe
    D, G, d_opt, g_opt = build_models(nb, torch.device("cpu"), seed=seed, conv_dim=conv_dim, d_lr=d_lr, g_lr=g_lr)
    loader = helpers.get_dataloader(batch_size, images=images, scale=nb["scale"], seed=seed)
    step = helpers.FastStep(nb["train_step"], D, G, "cpu")
    start = time.perf_counter()
    result = helpers.train(D, G, d_opt, g_opt, step, loader,
                           recipe={"epochs": 10_000 if minutes else epochs, "max_minutes": minutes, "ema_decay": ema,
                                   "seed": seed, "checkpoint_minutes": 1e9},
                           out_dir=out_dir, fresh=True, update_average=nb["update_average"])
    took = (time.perf_counter() - start) / 60
    score = helpers.fid(result.generator, held_out, n_samples=fid_samples, device=torch.device("cpu"),
                        cache_dir=out_dir / "cache")
    return {"seed": seed, "faces": result.summary["images_seen"], "minutes": round(took, 2),
            "images_per_second": result.summary["images_per_second"], "fid": round(score, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="", help="dataset zip or folder (default: as the notebook finds it)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--minutes", type=float, help="train each recipe this long instead of --epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--fid-samples", type=int, default=2000)
    parser.add_argument("--recipes", nargs="+", default=[], help="only the recipes whose names start so")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    recipes = {name: r for name, r in RECIPES.items() if not args.recipes or name.startswith(tuple(args.recipes))}
    nb = load_notebook_code()
    work = Path(tempfile.mkdtemp(prefix="recipe_sweep-"))
    images, held_out = helpers.hold_out(helpers.load_images(helpers.find_dataset(args.data, out_dir=work,
                                                                                   download=False), verbose=False))
    results = []
    for seed in args.seeds:  # seed by seed, so a cut-short sweep has compared every recipe at least once
        for name, recipe in recipes.items():
            entry = {"recipe": name, **run(nb, images, held_out, recipe, seed, args.epochs, args.fid_samples, work,
                                           minutes=args.minutes)}
            results.append(entry)
            print(json.dumps(entry), flush=True)
            if args.json:
                helpers.write_json(args.json, {"fid_samples": args.fid_samples, "epochs": args.epochs,
                                               "minutes": args.minutes, "runs": results})


if __name__ == "__main__":
    main()
