"""FID against wall-clock minutes on the CPU: the notebook's training for a recipe, snapshots on the way.

    python -m benchmarks.cpu_recipe train NAME --conv-dim 32 --batch-size 64 [--lr L --beta1 B] [--minutes 2.5 5 ...]
    python -m benchmarks.cpu_recipe score [NAME ...] [--fid-samples 300]
    python -m benchmarks.cpu_recipe table NAME:LABEL:EMA ... --json FILE   (FID and faces seen by minutes, for docs/)

`train` runs helpers.train with helpers.FastStep, as the notebook does, on the faces the notebook
trains on (the held-out faces excluded), and stops at each of --minutes of training time (the
notebook's clock), resuming the same run each time: a snapshot of the generator it samples from
(the weight average) is saved then, with the weight averages of the other --ema decays, kept in
the same run, and G itself (ema0). `score` measures each snapshot's FID against the held-out faces
and writes --out/NAME/curve.json (--out: outputs/cpu_recipe by default).
"""
from __future__ import annotations

import argparse
import copy
import json
import shlex
import time
from pathlib import Path

import torch

import helpers
from benchmarks.notebook import load_notebook_code
from benchmarks.train_speed import build_models
from facegen.checkpoints import save_generator


def snapshot_minutes(name: str) -> float:
    """The minutes of training in a snapshot's name: G-{minutes}min-ema{decay}."""
    return float(name.split("-")[1].removesuffix("min"))


def train(args, nb, images) -> None:
    device = torch.device("cpu")
    folder = args.out / args.name
    folder.mkdir(parents=True, exist_ok=True)
    D, G, d_opt, g_opt = build_models(nb, device, seed=args.seed, conv_dim=args.conv_dim, d_lr=args.lr, g_lr=args.lr,
                                      beta1=args.beta1)
    loader = helpers.get_dataloader(args.batch_size, images=images, scale=nb["scale"], device=device, seed=args.seed)
    step = helpers.FastStep(nb["train_step"], D, G, device, args.precision)
    extras = {d: copy.deepcopy(G).requires_grad_(False) for d in args.ema if d != args.ema[0]}
    updates = {"n": 0}

    def update_average(average, G_, decay):
        nb["update_average"](average, G_, decay)
        for cap, kept in extras.items():
            nb["update_average"](kept, G_, helpers.average_decay(updates["n"], cap))
        updates["n"] += 1

    previous = json.loads((folder / "log.json").read_text())["log"] if (folder / "log.json").exists() else []
    log, done, start = previous, args.resume_from, time.perf_counter()
    for minutes in args.minutes:
        result = helpers.train(D, G, d_opt, g_opt, step, loader,
                               helpers.Settings(epochs=10_000, ema_decay=args.ema[0], seed=args.seed,
                                                minutes=minutes - done, checkpoint_minutes=1e9, out_dir=folder / "run"),
                               update_average=update_average)
        done = minutes
        s = result.summary
        entry = {"minutes": minutes, "wall_seconds": round(time.perf_counter() - start, 1),
                 "images_seen": s.get("images_seen"), "steps": updates["n"], "epochs": s.get("epochs_completed")}
        save_generator(result.generator, folder / f"G-{minutes:g}min-ema{args.ema[0]:g}.pt")
        for cap, kept in extras.items():
            save_generator(helpers.copy_g_buffers(kept, G), folder / f"G-{minutes:g}min-ema{cap:g}.pt")
        save_generator(G, folder / f"G-{minutes:g}min-ema0.pt")
        log.append(entry)
        print(json.dumps(entry), flush=True)
        recipe = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        helpers.write_json(folder / "log.json", {"recipe": recipe, "log": log})


def score(args, nb, held_out) -> None:
    from facegen.fid import load_inception
    inception = load_inception(torch.device("cpu"))
    for folder in sorted(args.out.iterdir()):
        if args.names and folder.name not in args.names or not (folder / "log.json").exists():
            continue
        info = json.loads((folder / "log.json").read_text())
        conv_dim = info["recipe"]["conv_dim"]
        curve = json.loads((folder / "curve.json").read_text()) if (folder / "curve.json").exists() else {}
        for path in sorted(folder.glob("G-*.pt"), key=lambda p: snapshot_minutes(p.stem)):
            if args.only and not any(path.stem.endswith(f"-ema{e}") for e in args.only):
                continue
            if args.at and snapshot_minutes(path.stem) not in args.at:
                continue
            key = f"{path.stem}|{args.fid_samples}" + (f"|seed{args.fid_seed}" if args.fid_seed != 1234 else "")
            if key in curve:
                continue
            G = helpers.load_generator(nb["Generator"](100, conv_dim), path).eval()
            start = time.perf_counter()
            curve[key] = round(helpers.fid(G, held_out, args.fid_samples, device=torch.device("cpu"),
                                           cache_dir=args.out / "cache", model=inception, seed=args.fid_seed), 2)
            print(folder.name, key, curve[key], f"{time.perf_counter() - start:.0f} s", flush=True)
            helpers.write_json(folder / "curve.json", curve)


def curve_points(folder: Path, ema: str, fid_samples: int) -> dict[float, tuple]:
    """{minutes: (FID, faces seen)} of a run's snapshots of one weight average, as `score` and `train` wrote them."""
    curve = json.loads((folder / "curve.json").read_text())
    seen = {e["minutes"]: e["images_seen"] for e in json.loads((folder / "log.json").read_text())["log"]}
    return {snapshot_minutes(k.split("|")[0]): (v, seen[snapshot_minutes(k.split("|")[0])]) for k, v in curve.items()
            if k.endswith(f"-ema{ema}|{fid_samples}")}


def train_command(folder: Path) -> str:
    """The command that trains a run again, from its log (its stops resumed, as they were, in one command)."""
    info = json.loads((folder / "log.json").read_text())
    r, minutes = info["recipe"], " ".join(f"{e['minutes']:g}" for e in info["log"])
    return (f"python -m benchmarks.cpu_recipe train {folder.name} --conv-dim {r['conv_dim']} --batch-size "
            f"{r['batch_size']} --lr {r['lr']:g} --beta1 {r.get('beta1', 0.5):g} --ema {r['ema'][0]:g} --minutes {minutes}"
            + (f" --precision {r['precision']}" if r.get("precision", "auto") != "auto" else ""))


def table(args) -> None:
    """FID and faces seen at each minute for each NAME:LABEL:EMA, as a docs table in --json."""
    from benchmarks import machine

    runs = [(label, curve_points(args.out / name, ema, args.fid_samples))
            for name, label, ema in (spec.split(":") for spec in args.names)]
    minutes = sorted({m for _, points in runs for m in points})
    rows = []
    for label, points in runs:
        rows.append([f"{label}: FID"] + [f"{points[m][0]:.1f}" if m in points else "" for m in minutes])
        rows.append(["faces seen"] + [f"{points[m][1]:,}" if m in points else "" for m in minutes])
    names = [spec.split(":")[0] for spec in args.names]
    helpers.write_json(args.json, {
        "date": time.strftime("%Y-%m-%d"), "command": "; ".join(train_command(args.out / n) for n in names)
        + f"; then score {' '.join(names)} --fid-samples {args.fid_samples}; "
        f"then table {' '.join(shlex.quote(n) for n in args.names)} --json {args.json}",
        "machine": f"{machine()}, the 32,600 real faces; FID of {args.fid_samples} samples against as many held-out faces",
        "fid_samples": args.fid_samples,
        "columns": ["minutes of training"] + [f"{m:g}" for m in minutes], "rows": rows})


def plot(table: dict, png: Path) -> None:
    """FID against minutes, a line per recipe, from a table `table` wrote (its rows "LABEL: FID")."""
    import matplotlib.pyplot as plt

    minutes = [float(m) for m in table["columns"][1:]]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for row in (r for r in table["rows"] if r[0].endswith(": FID")):
        points = [(m, float(v)) for m, v in zip(minutes, row[1:]) if v]
        ax.plot(*zip(*points), marker="o", label=row[0].removesuffix(": FID"))
        for x, y in points:
            ax.annotate(f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.axvline(5, color="grey", linestyle=":", label="the notebook's CPU time limit")
    ax.set(xlabel="minutes of training on 2 CPU cores", ylabel=f"FID ({table['fid_samples']} samples, held-out faces)",
           title="FID against training time on the CPU (lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["train", "score", "table"])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--data", default="")
    parser.add_argument("--out", type=Path, default=Path("outputs/cpu_recipe"))
    parser.add_argument("--conv-dim", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--beta1", type=float, default=0.5, help="Adam's beta1, for D and G")
    parser.add_argument("--ema", type=float, nargs="+", default=[0.999])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="auto", help="FastStep's: auto (the notebook's: bf16 where native and "
                        "faster), fp32 or bf16")
    parser.add_argument("--minutes", type=float, nargs="+", default=[2.5, 5])
    parser.add_argument("--resume-from", type=float, default=0.0,
                        help="train: the minutes its run has already trained (it resumes; extra averages start anew)")
    parser.add_argument("--only", nargs="*", help="score: only the snapshots of these EMA decays (e.g. 0.99 0)")
    parser.add_argument("--at", type=float, nargs="*", help="score: only the snapshots at these minutes")
    parser.add_argument("--fid-seed", type=int, default=1234, help="score: which real faces and z (the noise)")
    parser.add_argument("--fid-samples", type=int, default=300)
    parser.add_argument("--json", type=Path, help="table: the docs table's file")
    args = parser.parse_args()
    if args.what == "table":
        return table(args)
    torch.set_num_threads(2)
    nb = load_notebook_code()
    source = helpers.find_dataset(args.data, out_dir=args.out, download=False)
    images, held_out = helpers.hold_out(helpers.load_images(source, cache_dir=args.out / "cache"))
    if args.what == "train":
        args.name = args.names[0]
        train(args, nb, images)
    else:
        score(args, nb, held_out)


if __name__ == "__main__":
    main()
