"""A training run: its folder (named by its settings; the same settings resume it), where it stands
(TrainState: epoch, step, history, the fixed z; saved with the random state in each checkpoint), its batches,
its summary, and the fixed z's samples. helpers.train drives it; the checkpoint files are
facegen/checkpoints.py's, the clock, bar, log and Stop facegen/progress.py's."""
from __future__ import annotations

import dataclasses
import glob
import itertools
import json
import re
from pathlib import Path

import torch
import torch.nn as nn

from facegen import FacegenError, write_json
from facegen.checkpoints import load_checkpoint
from facegen.progress import HISTORY_KEYS, Progress
from facegen.settings import device_name


# --- sampling -------------------------------------------------------------------------------------
# Turning generator outputs into pictures: uint8 pixels, sampled with G in eval mode.

def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 images unchanged; float images in [-1, 1] (the generator's tanh range) to uint8."""
    if images.dtype == torch.uint8:
        return images.cpu()
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def fixed_noise(n: int, z_size: int, seed: int) -> torch.Tensor:
    """The fixed z a run draws its samples from: n vectors of N(0, 1), the same for the same seed (on the
    CPU, from their own generator: the global random state is not touched)."""
    return torch.randn(n, z_size, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def sample_images(G: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """G's images for z as uint8 on the CPU, with G in eval mode (batch norm uses running stats)."""
    was_training = G.training
    G.eval()
    try:
        return to_uint8(G(z))
    finally:
        G.train(was_training)


# --- runs -----------------------------------------------------------------------------------------
# Runs you can see: each run is a folder, outputs/runs/<name>/, and its identity is a plain dict.
#
# A run's settings (run_settings) are what a learner can read: the networks as printed, each
# optimizer's settings, the batch size, the data, z_size, label smoothing, the weight average and the
# seed. They are written to settings.json in the run's folder and stored in every checkpoint, as
# nanoGPT stores its config. One rule: the same settings resume the run in their folder; other
# settings (or fresh=True) get a new folder beside it. No file of another run is renamed or
# overwritten. Code is not compared: after editing train_step or the losses, start over with
# fresh = True in the notebook's settings cell (FACEGEN_FRESH=1).

# Optimizer options that change how fast a step runs, not what it computes.
IMPLEMENTATION_OPTIONS = {"params", "foreach", "fused", "capturable", "differentiable"}


def optimizer_settings(optimizer: torch.optim.Optimizer) -> dict:
    """{"type": "Adam", "lr": 0.0002, "betas": [0.5, 0.999], ...}: what the optimizer does, not how fast."""
    groups = [{k: v for k, v in group.items() if k not in IMPLEMENTATION_OPTIONS} for group in optimizer.param_groups]
    return {"type": type(optimizer).__name__, **(groups[0] if len(groups) == 1 else {"groups": groups})}


def run_settings(D: nn.Module, G: nn.Module, d_optimizer, g_optimizer, loader, **values) -> dict:
    """The run's identity as plain JSON values: the networks as printed, the optimizers, the batch size,
    the number of images, the loader's shuffling seed (EpochShuffle's), and values (z_size, smooth, ema_decay,
    seed, data, ...)."""
    shuffle_seed = getattr(getattr(loader, "sampler", None), "seed", None)
    if shuffle_seed is not None:
        values = {**values, "shuffle_seed": shuffle_seed}
    settings = {**values, "batch_size": getattr(loader, "batch_size", None) or len(batch_images(next(iter(loader)))),
                "images": len(getattr(loader, "dataset", [])) or None,
                "d_optimizer": optimizer_settings(d_optimizer), "g_optimizer": optimizer_settings(g_optimizer),
                "D": str(D).splitlines(), "G": str(G).splitlines()}
    return json.loads(json.dumps(settings, default=str))  # tuples become lists, as they will read back


def batch_images(batch) -> torch.Tensor:
    """The images of a batch (B, 3, S, S); batches of (images, labels), as an ImageFolder gives, too."""
    images = batch[0] if isinstance(batch, (list, tuple)) else batch
    if not (torch.is_tensor(images) and images.ndim == 4 and images.shape[1] == 3):
        raise FacegenError(f"train_loader must yield image batches of shape (B, 3, S, S), got "
                           f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
    return images


def run_name(settings: dict) -> str:
    """A folder name a learner can read, e.g. 'batch128-lr0.0002-seed0'."""
    lr = settings["d_optimizer"].get("lr", "")
    return f"batch{settings['batch_size']}-lr{lr:g}-seed{settings['seed']}" if isinstance(lr, float) else \
        f"batch{settings['batch_size']}-seed{settings['seed']}"


def _read_settings(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "settings.json").read_text())
    except (OSError, ValueError):
        return None


def differences(old: dict, new: dict, prefix: str = "") -> str:
    """What differs between two settings, in one line: 'smooth True -> False, d_optimizer lr 0.0002 -> 0.0001,
    the layers of D'."""
    parts = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key in ("D", "G"):
            parts.append(f"the layers of {key}")
        elif isinstance(a, dict) and isinstance(b, dict):
            parts.append(differences(a, b, f"{prefix}{key} "))
        else:
            parts.append(f"{prefix}{key} {a!r} -> {b!r}")
    return ", ".join(parts)


def find_run_folder(out_dir: Path, settings: dict, fresh: bool = False) -> tuple[Path, bool]:
    """(the folder of the run with these settings, whether it already existed). A new folder gets
    settings.json at once and the reason is said in one line; an existing one is never changed here."""
    runs, base = Path(out_dir) / "runs", run_name(settings)
    numbered = {1 if m[1] is None else int(m[1]): p for p in runs.glob(f"{glob.escape(base)}*")
                if p.is_dir() and (m := re.fullmatch(rf"{re.escape(base)}(?:-(\d+))?", p.name))}
    existing = [numbered[n] for n in sorted(numbered)]  # base, base-2, ...: a deleted one hides none after it
    if not fresh:
        for folder in existing:
            if _read_settings(folder) == settings:
                return folder, True
    latest = max(runs.glob("*/settings.json"), key=lambda p: p.stat().st_mtime, default=None)
    folder = runs / (base if not existing else f"{base}-{max(numbered) + 1}")
    write_json(folder / "settings.json", settings)
    if fresh and existing:
        print(f"New run in {folder}/ (a fresh start, fresh = True or FACEGEN_FRESH=1; the runs beside it are kept as "
              "they are). Set fresh back to False to resume this run next time.")
    elif latest is not None:
        print(f"New run in {folder}/: the last run, {latest.parent}/, has other settings "
              f"({differences(_read_settings(latest.parent) or {}, settings)}).")
    else:
        print(f"New run in {folder}/ (its settings are in settings.json).")
    return folder, False


@dataclasses.dataclass
class TrainState:
    """Where a run stands: what a checkpoint stores besides the weights, the optimizers and the random state.
    The training loop advances it itself: advance() after each step, end_epoch() after each epoch."""

    fixed_z: torch.Tensor
    history: dict = dataclasses.field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    samples_per_epoch: list = dataclasses.field(default_factory=list)
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    step: int = 0  # batches done in the whole run
    images_seen: int = 0
    seconds_before: float = 0.0  # training time of earlier sittings of this run

    def advance(self, images: int) -> None:
        """One more step done, on `images` faces."""
        self.batch, self.step, self.images_seen = self.batch + 1, self.step + 1, self.images_seen + images

    def end_epoch(self, samples: torch.Tensor) -> None:
        """The epoch is done: keep the fixed z's samples, count the epoch."""
        self.samples_per_epoch.append(samples)
        self.epoch, self.batch = self.epoch + 1, 0

    def where(self) -> str:
        return f"epoch {self.epoch + 1}, step {self.batch}" if self.batch else f"the end of epoch {self.epoch}"

    def to_dict(self, seconds_this_sitting: float) -> dict:
        """The state as the checkpoint keeps it (CPU tensors and plain values)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**fields, "fixed_z": self.fixed_z.cpu(), "seconds_before": self.seconds_before + seconds_this_sitting}


def random_state(device: torch.device) -> dict:
    """The random state a resumed run needs to go on exactly as it would have: the CPU's, and the GPU's."""
    return {"rng_cpu": torch.get_rng_state(), **({"rng_cuda": torch.cuda.get_rng_state(device)}
                                                 if device.type == "cuda" else {})}


def _load(module, state: dict, name: str, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as e:
        raise FacegenError(f"{path} does not fit this {name} ({str(e).splitlines()[0]}); start a new run with "
                           "fresh = True in the settings cell (or FACEGEN_FRESH=1).") from None


def resume(folder: Path, settings: dict, models: dict, device: torch.device) -> TrainState | None:
    """Load the run's last checkpoint into models (D, G, d_optimizer, g_optimizer, G_average: the checkpoint's
    names) and the random state, so the run goes on exactly as it would have; None when it has no checkpoint."""
    saved = load_checkpoint(folder / "checkpoint.pt")
    if saved is None:
        return None
    path = Path(saved["loaded_from"])
    if saved.get("settings") != settings or "state" not in saved:
        raise FacegenError(f"{path} was saved with other settings than {folder}/settings.json; "
                           "start a new run with fresh = True in the settings cell (or FACEGEN_FRESH=1).")
    for key, module in models.items():
        if module is not None:
            _load(module, saved[key], "weight average" if key == "G_average" else key, path)
    torch.set_rng_state(saved["rng_cpu"])
    if device.type == "cuda" and "rng_cuda" in saved:
        torch.cuda.set_rng_state(saved["rng_cuda"], device)
    state = TrainState(**{**saved["state"], "fixed_z": saved["state"]["fixed_z"].to(device)})
    print(f"Resumed {folder}/ from {path.name}: {state.where()} done, {state.images_seen:,} images seen "
          "(the random state too).")
    return state


def batches(loader, state: TrainState, device: torch.device):
    """This epoch's batches on the device, after those a resumed run has already done. A loader whose
    sampler has set_epoch (helpers.get_dataloader's) replays the interrupted epoch's order."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(state.epoch)
    elif state.batch:
        print(f"This DataLoader shuffles anew each time, so the rest of epoch {state.epoch + 1} comes from a "
              "new order (some faces twice, some not at all); helpers.get_dataloader replays the order exactly.")
    for batch in itertools.islice(loader, state.batch, None):
        yield batch_images(batch).to(device, non_blocking=True)


def summary(state: TrainState, settings: dict, folder: Path, progress: Progress, why: str, train_step) -> dict:
    """What summary.json says about this run."""
    device = state.fixed_z.device
    if device.type == "cuda":
        torch.cuda.synchronize()  # the GPU's queued steps count in the time
    seconds = progress.elapsed()
    last = {k: state.history[k][-1] if state.history[k] else None for k in ("d_loss", "g_loss")}
    return {"images_per_second": round((state.images_seen - progress.images_at_start) / max(seconds, 1e-9), 1),
            "images_seen": state.images_seen, "epochs_completed": state.epoch, "steps_in_last_epoch": state.batch,
            "seconds_training": round(state.seconds_before + seconds, 1), "seconds_this_session": round(seconds, 1),
            "device": device_name(device), "precision": getattr(train_step, "precision", "fp32"),
            "cuda_graph": getattr(train_step, "graph", None) is not None, "threads": torch.get_num_threads(),
            "batch_size": settings["batch_size"], "ema_decay": settings.get("ema_decay"),
            "stopped_by": why, "time_limit_minutes": progress.limit and progress.limit / 60,
            "dataset": {"source": settings.get("faces"), "images": settings["images"]},
            **last, "resumed": state.seconds_before > 0, "run": str(folder), "settings": settings}


@dataclasses.dataclass
class TrainResult:
    """What train() returns: the loss history, fixed-z samples per epoch, and the run's summary."""

    history: dict  # step, epoch, d_loss, g_loss, d_real, d_fake: lists, one entry per log interval
    samples_per_epoch: list  # uint8 tensors (sample_size, 3, S, S) on the CPU, one per epoch
    fixed_z: torch.Tensor
    summary: dict
    generator: nn.Module  # the generator to sample from: the weight average when ema_decay is set, else G
    folder: Path  # the run's folder: settings.json, checkpoint.pt, samples.png, losses.png, summary.json


def what_to_expect(epochs: int) -> str:
    """What the samples look like after this many epochs (seen in the CPU recipe's runs on the real faces)."""
    if epochs == 0:
        return "less than one epoch, so the samples are colour blobs or the first blurry faces."
    if epochs < 10:
        return f"{epochs} epoch(s), so expect blurry faces, some warped."
    return f"{epochs} epochs: faces, still blurry in the details."


def epochs_text(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def already_complete(state: TrainState, folder: Path, generator: nn.Module) -> TrainResult:
    """A finished run, run again: say so and how to go on; keep its summary.json as it is."""
    print(f"This run is already complete ({epochs_text(state.epoch)}; {folder}/). To train further, set epochs "
          f"above {state.epoch} (FACEGEN_EPOCHS); to start over in a new folder, set fresh = True in the settings cell "
          "(or FACEGEN_FRESH=1).")
    summary_file = folder / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {"epochs_completed": state.epoch}
    return TrainResult(state.history, state.samples_per_epoch, state.fixed_z.cpu(), summary, generator, folder)
