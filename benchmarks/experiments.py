"""Experiments behind the README's figures: does the fast path learn the same, and what improves FID?

    python -m benchmarks.experiments fast-vs-fp32 [--data ZIP] [--epochs 10] [--out DIR]
    python -m benchmarks.experiments improvements [--data ZIP] [--epochs 40] [--out DIR]

fast-vs-fp32 trains the notebook's networks (with its defaults: label smoothing, EMA) twice from the
same seed: once in plain fp32, eager (TF32 off), once the notebook's way (bf16 autocast and a CUDA graph on a GPU). It draws their loss
curves and final samples side by side and measures FID of both.

improvements measures FID (10,000 samples, against the held-out faces) for the notebook's DCGAN and for a few changes a learner
would try, each from the same seed at the same number of epochs unless the row says otherwise.
Everything uses the notebook's own definitions (benchmarks/notebook.py). Needs a GPU to be quick.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import helpers
from facegen.pictures import image_grid
from benchmarks.notebook import load_notebook_code
from benchmarks.train_speed import build_models
from facegen.fid import load_inception


def train_and_score(nb, images, held_out, device, out_dir: Path, epochs: int, fid_samples: int, inception,
                    conv_dim=64, d_lr=2e-4, g_lr=2e-4, smooth=False, ema=False, fast=True) -> dict:
    """One training run from seed 0 (fast: through helpers.FastStep); returns its summary with the FID
    of its final generator."""
    D, G, d_opt, g_opt = build_models(nb, device, conv_dim=conv_dim, d_lr=d_lr, g_lr=g_lr)
    loader = helpers.get_dataloader(128, images=images, scale=nb["scale"], device=device)
    step = helpers.FastStep(nb["train_step"], D, G, device) if fast else nb["train_step"]
    start = time.perf_counter()
    result = helpers.train(D, G, d_opt, g_opt, step, loader,
                           helpers.Settings(epochs=epochs, smooth=smooth, ema_decay=0.999 if ema else None,
                                            out_dir=out_dir, fresh=True),
                           update_average=nb["update_average"])
    seconds = time.perf_counter() - start
    final_G = result.generator
    score = helpers.fid(final_G, held_out, fid_samples, device=device, cache_dir=out_dir.parent / "cache",
                        model=inception)
    return {"fid": round(score, 2), "seconds": round(seconds, 1), "epochs": epochs, "result": result,
            "images_per_second": result.summary["images_per_second"], "generator": final_G}


def fast_vs_fp32(nb, images, held_out, device, out: Path, epochs: int, fid_samples: int, inception) -> None:
    """Same seed, same steps: fp32 eager against the notebook's fast path; curves, grids and FID."""
    import matplotlib.pyplot as plt

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    plain = train_and_score(nb, images, held_out, device, out / "fp32", epochs, fid_samples, inception,
                            smooth=True, ema=True, fast=False)
    torch.backends.cudnn.allow_tf32 = True
    fast = train_and_score(nb, images, held_out, device, out / "fast", epochs, fid_samples, inception, smooth=True, ema=True)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.6), gridspec_kw={"width_ratios": [1.3, 1.3, 1, 1]})
    for run, name in ((plain, "fp32, eager"), (fast, f"{fast['result'].summary['precision']}, "
                                                     f"CUDA graph: {fast['result'].summary['cuda_graph']}")):
        h = run["result"].history
        axes[0].plot(h["step"], h["d_loss"], label=f"D, {name}")
        axes[0].plot(h["step"], h["g_loss"], label=f"G, {name}")
        axes[1].plot(h["step"], h["d_real"], label=f"D(x), {name}")
        axes[1].plot(h["step"], h["d_fake"], label=f"D(G(z)), {name}")
    axes[0].set(title=f"Losses, same seed, {epochs} epochs", xlabel="step")
    axes[1].set(title="D(x) and D(G(z))", xlabel="step", ylim=(0, 1))
    for ax in axes[:2]:
        ax.legend(fontsize=8)
    for ax, run, name in ((axes[2], plain, "fp32 eager"), (axes[3], fast, "fast path")):
        ax.imshow(image_grid(run["result"].samples_per_epoch[-1][:36], nrow=6))
        ax.set_title(f"{name}: FID {run['fid']:.1f}, {run['images_per_second']:,.0f} img/s")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "fast_vs_fp32.png", dpi=90)
    results = {name: {k: run[k] for k in ("fid", "seconds", "epochs", "images_per_second")} |
               {"final_d_loss": run["result"].summary["d_loss"], "final_g_loss": run["result"].summary["g_loss"]}
               for name, run in (("fp32_eager", plain), ("fast", fast))}
    helpers.write_json(out / "fast_vs_fp32.json", results)
    print(results)


VARIANTS = {  # name -> (what changes, train_and_score options)
    "dcgan": ("plain DCGAN (lr 2e-4 for both, no smoothing, no EMA, conv_dim 64)", {}),
    "label_smoothing": ("real labels 0.9 for D", {"smooth": True}),
    "ema": ("sample from an EMA of G's weights (decay 0.999)", {"ema": True}),
    "ttur": ("D lr 4e-4, G lr 1e-4", {"d_lr": 4e-4, "g_lr": 1e-4}),
    "wider": ("conv_dim 128 (about 4x the compute)", {"conv_dim": 128}),
    "smoothing_ema": ("label smoothing and EMA together (the notebook's default)", {"smooth": True, "ema": True}),
    "twice_the_epochs": ("twice the epochs (twice the budget)", {"epochs_factor": 2}),
}


def improvements(nb, images, held_out, device, out: Path, epochs: int, fid_samples: int, inception, only=None) -> None:
    """FID for each variant, same seed; writes improvements.json, a Markdown table, and the best G."""
    rows = {}
    for name, (what, options) in VARIANTS.items():
        if only and name not in only:
            continue
        options = dict(options)
        run_epochs = epochs * options.pop("epochs_factor", 1)
        run = train_and_score(nb, images, held_out, device, out / name, run_epochs, fid_samples, inception, **options)
        rows[name] = {"change": what, "epochs": run_epochs, "fid": run["fid"], "seconds": run["seconds"]}
        torch.save({k: v.detach().cpu() for k, v in run["generator"].state_dict().items()}, out / f"{name}_G.pt")
        print(name, rows[name], flush=True)
        helpers.write_json(out / "improvements.json", rows)
    lines = ["| change | epochs | FID (10k samples) | training time |", "|---|---|---|---|"]
    lines += [f"| {r['change']} | {r['epochs']} | {r['fid']:.1f} | {r['seconds']:.0f} s |" for r in rows.values()]
    (out / "improvements.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("experiment", choices=["fast-vs-fp32", "improvements"])
    parser.add_argument("--data", default="", help="dataset zip or folder (default: as the notebook finds it)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (10 / 40 by default)")
    parser.add_argument("--fid-samples", type=int, default=10_000)
    parser.add_argument("--only", nargs="*", help="improvements: run only these variants")
    parser.add_argument("--out", type=Path, default=Path("outputs/experiments"))
    parser.add_argument("--device", default="")
    args = parser.parse_args()

    device = helpers.pick_device(args.device)
    nb = load_notebook_code()
    source = helpers.find_dataset(args.data, out_dir=args.out, download=False)
    images, held_out = helpers.hold_out(helpers.load_images(source, cache_dir=args.out / "cache"))
    inception = load_inception(device)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.experiment == "fast-vs-fp32":
        fast_vs_fp32(nb, images, held_out, device, args.out, args.epochs or 10, args.fid_samples, inception)
    else:
        improvements(nb, images, held_out, device, args.out, args.epochs or 40, args.fid_samples, inception, args.only)


if __name__ == "__main__":
    main()
