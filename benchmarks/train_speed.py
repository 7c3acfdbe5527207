"""Training throughput: the classic tutorial loop against the notebook's training, on the same data.

    python -m benchmarks.train_speed [--data ZIP] [--seconds 60] [--device cpu|cuda] [--precision auto|fp32|bf16]

The reference is the plain loop the tutorials write: torchvision ImageFolder over the extracted
folder, Resize(32) + ToTensor + Normalize to [-1, 1], DataLoader(shuffle=True, num_workers=2), fp32,
batch 128, one .item() per step for logging. The notebook's path is helpers.train. Both use the
notebook's own Discriminator, Generator, weights_init_normal and train_step (read from the
notebook, not copied). Each runs for the same wall time; throughput counts everything, data
loading included. Also times the data preparation (zip -> uint8 tensor), cold and cached.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

import helpers
from benchmarks.extract import safe_extract
from benchmarks.notebook import load_notebook_code


def build_models(nb: dict, device: torch.device, seed: int = 0, conv_dim: int = 64, d_lr: float = 2e-4,
                 g_lr: float = 2e-4, beta1: float = 0.5):
    """Fresh D and G (notebook definitions, DCGAN init) with their Adam optimizers, as the notebook builds them."""
    torch.manual_seed(seed)
    D, G = nb["Discriminator"](conv_dim).to(device), nb["Generator"](100, conv_dim).to(device)
    D.apply(nb["weights_init_normal"])
    G.apply(nb["weights_init_normal"])
    fused = device.type == "cuda"
    d_opt = torch.optim.Adam(D.parameters(), lr=d_lr, betas=(beta1, 0.999), fused=fused)
    g_opt = torch.optim.Adam(G.parameters(), lr=g_lr, betas=(beta1, 0.999), fused=fused)
    return D, G, d_opt, g_opt


def reference_loop(nb: dict, folder: Path, device: torch.device, seconds: float, batch_size: int = 128,
                   warmup_steps: int = 3) -> float:
    """Images per second of the tutorial loop over `seconds` (after a few warm-up steps)."""
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.Resize(32), transforms.ToTensor(),
                                    transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(str(folder), transform), batch_size=batch_size,
                                         shuffle=True, num_workers=2, drop_last=True,
                                         pin_memory=device.type == "cuda", persistent_workers=True)
    D, G, d_opt, g_opt = build_models(nb, device, seed=0)
    steps, start = 0, None
    while True:
        for real, _ in loader:
            d_loss, g_loss, _, _ = nb["train_step"](D, G, d_opt, g_opt, real.to(device), 100)
            d_loss.item(), g_loss.item()  # the per-step logging the tutorials do
            steps += 1
            if steps == warmup_steps:
                start = time.perf_counter()
            elif start is not None and time.perf_counter() - start > seconds:
                return (steps - warmup_steps) * batch_size / (time.perf_counter() - start)


def notebook_training(nb: dict, images: torch.Tensor, device: torch.device, seconds: float, out_dir: Path,
                      batch_size: int = 128, precision: str = "auto") -> dict:
    """helpers.train with helpers.FastStep, as the notebook trains, for `seconds`; returns its summary
    (images_per_second over the whole run)."""
    D, G, d_opt, g_opt = build_models(nb, device, seed=0)
    loader = helpers.get_dataloader(batch_size, images=images, scale=nb["scale"], device=device)
    step = helpers.FastStep(nb["train_step"], D, G, device, precision)
    result = helpers.train(D, G, d_opt, g_opt, step, loader,
                           helpers.Settings(epochs=10_000, minutes=seconds / 60, out_dir=out_dir, fresh=True),
                           update_average=nb["update_average"])
    return result.summary


def data_preparation(source: helpers.DataSource, cache_dir: Path) -> dict:
    """Seconds from the zip to a uint8 tensor, cold (decode) and warm (cache)."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    start = time.perf_counter()
    images = helpers.load_images(source, cache_dir=cache_dir, verbose=False)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    helpers.load_images(source, cache_dir=cache_dir, verbose=False)
    return {"images": len(images), "cold_seconds": round(cold, 2), "cached_seconds": round(time.perf_counter() - start, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="", help="dataset zip or folder (default: as the notebook finds it)")
    parser.add_argument("--seconds", type=float, default=60, help="wall time for each of the two runs")
    parser.add_argument("--device", default="", help="cpu, cuda, mps (default: the best there is)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="the notebook side's precision (default: as the notebook picks it)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    device = helpers.pick_device(args.device)
    nb = load_notebook_code()
    work = Path(tempfile.mkdtemp(prefix="train_speed-"))
    try:
        source = helpers.find_dataset(args.data, out_dir=work, download=False)
        prep = data_preparation(source, work / "cache")
        print(f"Data: {prep['images']:,} images; zip -> uint8 tensor {prep['cold_seconds']} s cold, "
              f"{prep['cached_seconds']} s cached")
        folder = work / "extracted"
        if source.kind == "folder":
            folder = source.path
        else:
            safe_extract(source.path, folder)
            folder = next(p for p in folder.rglob("*") if p.is_dir() and any(q.is_dir() for q in p.iterdir()))
        images = helpers.load_images(source, cache_dir=work / "cache", verbose=False)

        print(f"Reference loop on {device} for {args.seconds:g} s ...")
        reference = round(reference_loop(nb, folder, device, args.seconds), 1)
        print(f"  {reference:,.0f} images/s")
        print(f"Notebook training on {device} for {args.seconds:g} s ...")
        summary = notebook_training(nb, images, device, args.seconds, work / "run", precision=args.precision)
        fast = summary["images_per_second"]
        print(f"  {fast:,.0f} images/s ({summary['precision']}, CUDA graph: {summary['cuda_graph']})")
        results = {"device": summary["device"], "reference_images_per_second": reference,
                   "notebook_images_per_second": fast, "ratio": round(fast / reference, 2),
                   "precision": summary["precision"], "cuda_graph": summary["cuda_graph"], "data": prep,
                   "torch": torch.__version__, "seconds_each": args.seconds}
        print(f"Ratio: {results['ratio']:.2f}x")
        print(json.dumps(results, indent=2))
        if args.json:
            helpers.write_json(args.json, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
