"""FastStep's CPU tuning (threads and precision by measurement) against the fixed rule it replaced (PyTorch's
default threads, fp32), on quiet cores and on busy ones.

    python -m benchmarks.cpu_threads [--data ZIP] [--seconds 40] [--rounds 2] [--json FILE]

Trains the CPU recipe (conv_dim 32, batches of 32) as the notebook does (helpers.train with FastStep) for
`seconds`, with tune=False (before) and tune=True (after) in alternating order, in three conditions: nothing else
running; beside a second training process (another notebook kernel: the same training, PyTorch's default
threads); beside a single-threaded busy program (a Python loop). Reports images/s over each whole run,
the tuning's own steps included.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import helpers
from benchmarks import cpu_name
from benchmarks.notebook import load_notebook_code
from benchmarks.train_speed import build_models

BUSY = {"second training": [sys.executable, "-m", "benchmarks.cpu_threads", "--forever"],
        "a busy single thread": [sys.executable, "-c", "while True: pass"]}


def train(nb: dict, images: torch.Tensor, seconds: float, out_dir: Path, tune: bool) -> dict:
    """The CPU recipe through helpers.train and FastStep for `seconds`; its summary."""
    threads = torch.get_num_threads()
    D, G, d_opt, g_opt = build_models(nb, torch.device("cpu"), conv_dim=32)
    loader = helpers.get_dataloader(32, images=images, scale=nb["scale"])
    step = helpers.FastStep(nb["train_step"], D, G, "cpu", tune=tune)
    try:
        return helpers.train(D, G, d_opt, g_opt, step, loader,
                             helpers.Settings(epochs=10_000, minutes=seconds / 60, out_dir=out_dir, fresh=True),
                             update_average=nb["update_average"]).summary
    finally:
        torch.set_num_threads(threads)  # the next run starts from PyTorch's default again


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="", help="dataset zip or folder (default: as the notebook finds it)")
    parser.add_argument("--seconds", type=float, default=40, help="training time of each run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each (before, after alternate in order)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--forever", action="store_true", help="(the second training process) train until killed")
    args = parser.parse_args()
    nb = load_notebook_code()
    work = Path(tempfile.mkdtemp(prefix="cpu_threads-"))
    images = helpers.load_images(helpers.find_dataset(args.data, out_dir=work, download=False), verbose=False)
    if args.forever:
        train(nb, images, 24 * 3600, work, tune=False)
        return
    results = []
    for condition in ("quiet", *BUSY):
        other = subprocess.Popen(BUSY[condition], stdout=subprocess.DEVNULL) if condition in BUSY else None
        try:
            time.sleep(10 if other else 0)  # let the other program start working (and the load average rise)
            for tune in [r % 2 == 1 - t for r in range(args.rounds) for t in (0, 1)]:
                summary = train(nb, images, args.seconds, work / f"{condition}-{tune}", tune)
                results.append({"condition": condition, "tuned": tune, "images_per_second": summary["images_per_second"],
                                "threads": summary["threads"], "precision": summary["precision"]})
                print(json.dumps(results[-1]), flush=True)
        finally:
            if other:
                other.kill()
                other.wait()
    print(json.dumps(results, indent=1))
    if args.json:
        helpers.write_json(args.json, {"cpu": cpu_name(), "torch": torch.__version__, "seconds": args.seconds,
                                       "runs": results})


if __name__ == "__main__":
    main()
