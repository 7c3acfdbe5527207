"""Which checkpoint belongs to this run, and what a checkpoint holds.

A checkpoint is resumed only when it is the same run: the same architecture, optimizer settings,
train_step code (and the functions it calls, such as real_loss), data, batch size, z size, label
smoothing, weight average and seed, and the networks start from the weights that run started from
(or stand where it stopped). Anything else starts fresh and says what changed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
from pathlib import Path

import torch
import torch.nn as nn

from facegen.checkpoints import CheckpointWriter, load_checkpoint
from facegen.device import device_name
from facegen.progress import HISTORY_KEYS

# Optimizer options that change how fast the step runs, not what it computes.
IMPLEMENTATION_OPTIONS = {"params", "foreach", "fused", "capturable", "differentiable"}


def digest(value) -> str:
    """A short, stable digest of any JSON-able value (or bytes)."""
    data = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def code_digest(fn, seen: set | None = None) -> str:
    """A digest of a function's code and of every function it calls by a global name (real_loss,
    fake_loss, ...), so editing any of them makes a different run."""
    seen = set() if seen is None else seen
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen:
        return ""
    seen.add(id(fn))
    parts = [_code_bytes(code), repr(fn.__defaults__)]
    for name in sorted(_global_names(code)):
        called = fn.__globals__.get(name)
        if isinstance(called, types.FunctionType):
            parts.append(name + code_digest(called, seen))
    return digest("|".join(map(str, parts)))


def _code_bytes(code: types.CodeType) -> str:
    """Bytecode and constants of a code object and the code objects nested in it."""
    nested = [_code_bytes(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}{code.co_names}{nested}"


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def weights_digest(*models: nn.Module) -> str:
    """A digest of the models' weights and buffers (whatever device or memory layout they are in)."""
    h = hashlib.sha256()
    for model in models:
        for name, tensor in model.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def optimizer_settings(optimizer: torch.optim.Optimizer) -> list[dict]:
    """What an optimizer does (type, lr, betas, ...), leaving out how fast it does it (fused, ...)."""
    return [type(optimizer).__name__] + [{k: v for k, v in group.items() if k not in IMPLEMENTATION_OPTIONS}
                                         for group in optimizer.param_groups]


def data_identity(loader) -> str:
    """What the loader serves: the dataset's own fingerprint where it has one (FaceDataset: the faces and
    the code of its scale function), else
    its type, size and root folder (e.g. an ImageFolder)."""
    dataset = getattr(loader, "dataset", loader)
    fingerprint = getattr(dataset, "fingerprint", None)
    if fingerprint:  # the faces, and the scale function they go through
        return fingerprint + code_digest(getattr(dataset, "scale", None))
    size = len(dataset) if hasattr(dataset, "__len__") else "?"
    return f"{type(dataset).__name__}:{size}:{getattr(dataset, 'root', '')}"


def run_key(D, G, d_optimizer, g_optimizer, train_step, loader, **settings) -> dict:
    """Everything that changes what training does, except the starting weights (see resume)."""
    shapes = {f"{n}.{k}": list(v.shape) for n, m in (("D", D), ("G", G)) for k, v in m.state_dict().items()}
    return {"architecture": digest(shapes),
            "d_optimizer": digest(optimizer_settings(d_optimizer)),
            "g_optimizer": digest(optimizer_settings(g_optimizer)),
            "train_step": code_digest(train_step), "data": data_identity(loader),
            "batch_size": getattr(loader, "batch_size", None), **settings}


@dataclasses.dataclass
class RunState:
    """Where a run stands; what a checkpoint stores besides the weights and optimizers."""

    fixed_z: torch.Tensor
    history: dict
    samples_per_epoch: list
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    images_seen: int = 0
    seconds_before: float = 0.0  # training time of earlier sessions of this run
    start_weights: str = ""  # digest of D's and G's weights when the run started

    @classmethod
    def fresh(cls, D, G, sample_size: int, z_size: int, seed: int, device) -> RunState:
        fixed_z = torch.randn(sample_size, z_size, generator=torch.Generator().manual_seed(seed)).to(device)
        return cls(fixed_z, {k: [] for k in HISTORY_KEYS}, [], start_weights=weights_digest(D, G))


def checkpoint_state(run: RunState, key: dict, D, G, d_optimizer, g_optimizer, average, seconds: float,
                     device) -> dict:
    """Everything needed to go on exactly where the run stands."""
    state = {"D": D.state_dict(), "G": G.state_dict(), "d_optimizer": d_optimizer.state_dict(),
             "g_optimizer": g_optimizer.state_dict(), "fixed_z": run.fixed_z.cpu(), "history": run.history,
             "samples_per_epoch": run.samples_per_epoch, "epoch": run.epoch, "batch": run.batch,
             "images_seen": run.images_seen, "seconds_training": seconds, "key": key,
             "start_weights": run.start_weights, "weights_now": weights_digest(D, G),
             "rng_cpu": torch.get_rng_state()}
    if average is not None:
        state["G_average"] = average.model.state_dict()
        state["G_average_updates"] = average.updates.item()
    if device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(device)
    return state


def _changes(state: dict, key: dict, D, G) -> list[str]:
    """What differs between a checkpoint and this run ([] for the same run)."""
    old = state.get("key") or {}
    changed = sorted(k for k in key if old.get(k) != key[k])
    if "architecture" not in changed and weights_digest(D, G) not in (state.get("start_weights"),
                                                                       state.get("weights_now")):
        changed.append("starting weights (the networks were rebuilt or re-initialised)")
    return changed


def resume(path: Path, key: dict, D, G, d_optimizer, g_optimizer, average, device) -> RunState | None:
    """Load this run's checkpoint into the models and optimizers; None to start fresh (says why)."""
    state = load_checkpoint(path)
    if state is None:
        return None
    source = Path(state["loaded_from"])
    changed = _changes(state, key, D, G)
    if changed:
        kept = path.with_suffix(".replaced.pt")
        print(f"Starting fresh: {source} is from a different setup (changed: {', '.join(changed)}); "
              f"it is kept as {kept.name}.")
        os.replace(source, kept)
        return None
    D.load_state_dict(state["D"])
    G.load_state_dict(state["G"])
    d_optimizer.load_state_dict(state["d_optimizer"])
    g_optimizer.load_state_dict(state["g_optimizer"])
    if average is not None:
        average.model.load_state_dict(state.get("G_average") or state["G"])
        average.updates.fill_(float(state.get("G_average_updates", 0)))
    torch.set_rng_state(state["rng_cpu"])
    if device.type == "cuda" and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"], device)
    run = RunState(state["fixed_z"].to(device), {k: list(state["history"][k]) for k in HISTORY_KEYS},
                   list(state["samples_per_epoch"]), state["epoch"], state["batch"], state["images_seen"],
                   state["seconds_training"], state["start_weights"])
    where = f"epoch {run.epoch + 1}, step {run.batch}" if run.batch else f"epoch {run.epoch}"
    print(f"Resumed from {source}: {where} done, {run.images_seen:,} images seen.")
    return run


class RunSaver:
    """Writes the run's checkpoints: at each epoch end, every few minutes, and when stopped. The
    state is serialised at once and written by a background thread (CheckpointWriter); leaving the
    `with` block waits for the last write, also after an error, so the last good checkpoint lands."""

    def __init__(self, path: Path, key: dict, D, G, d_optimizer, g_optimizer, average, clock, device,
                 every_minutes: float = 2.0):
        self.path, self.key, self.models = Path(path), key, (D, G, d_optimizer, g_optimizer, average)
        self.clock, self.device, self.every = clock, device, every_minutes * 60
        self.writer, self.last = CheckpointWriter(self.path), clock.elapsed()

    def save(self, run: RunState) -> None:
        seconds = run.seconds_before + self.clock.elapsed()
        self.writer.save(checkpoint_state(run, self.key, *self.models, seconds, self.device))
        self.last = self.clock.elapsed()

    def due(self) -> bool:
        """True when the last checkpoint is older than every_minutes."""
        return self.clock.elapsed() - self.last > self.every

    def __enter__(self) -> RunSaver:
        return self

    def __exit__(self, *exc) -> None:
        self.writer.wait()


def summary(run: RunState, why: str, precision: str, step, clock, images_at_start: int, loader, dataset,
            ema_decay, device) -> dict:
    """What summary.json says about this run."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds, h = clock.elapsed(), run.history
    return {
        "images_per_second": round((run.images_seen - images_at_start) / max(seconds, 1e-9), 1),
        "images_seen": run.images_seen, "epochs_completed": run.epoch, "steps_in_last_epoch": run.batch,
        "seconds_training": round(run.seconds_before + seconds, 1), "seconds_this_session": round(seconds, 1),
        "device": device_name(device), "precision": precision, "cuda_graph": step.graph is not None,
        "batch_size": getattr(loader, "batch_size", None), "ema_decay": ema_decay, "stopped_by": why,
        "dataset": {"source": dataset.kind if dataset else "unknown", "path": str(dataset.path) if dataset else "",
                    "images": len(loader.dataset) if hasattr(loader, "dataset") else None},
        "d_loss": h["d_loss"][-1] if h["d_loss"] else None, "g_loss": h["g_loss"][-1] if h["g_loss"] else None,
        "resumed": run.seconds_before > 0}


@dataclasses.dataclass
class TrainResult:
    """What train() returns: the loss history, fixed-z samples per epoch, and the run's summary."""

    history: dict  # step, epoch, d_loss, g_loss, d_real, d_fake: lists, one entry per log interval
    samples_per_epoch: list  # uint8 tensors (sample_size, 3, S, S) on the CPU, one per epoch
    fixed_z: torch.Tensor
    summary: dict
    generator: nn.Module  # the generator to sample from: the weight average when ema_decay is set, else G


def what_to_expect(epochs: int) -> str:
    """What the samples look like after this many epochs (seen in our runs on the real faces)."""
    if epochs == 0:
        return "less than one epoch, so the samples are still noise or colour blobs."
    if epochs < 10:
        return f"{epochs} epoch(s), so expect blurry face layouts, many alike."
    return f"{epochs} epochs: faces, still blurry in the details; the README's took 40."


def already_complete(run: RunState, out_dir: Path, generator: nn.Module) -> TrainResult:
    """A finished run, run again: say so and how to go on; keep its summary.json as it is."""
    epochs = f"{run.epoch} epoch{'' if run.epoch == 1 else 's'}"
    print(f"This run is already complete ({epochs}; {out_dir / 'checkpoint.pt'}). To train further, set epochs "
          f"above {run.epoch} (FACEGEN_EPOCHS); to start over, set FACEGEN_FRESH=1.")
    summary_file = out_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {"epochs_completed": run.epoch}
    return TrainResult(run.history, run.samples_per_epoch, run.fixed_z.cpu(), summary, generator)
