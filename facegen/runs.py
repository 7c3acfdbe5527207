"""Runs you can see: each run is a folder, outputs/runs/<name>/, and its identity is a plain dict.

A run's settings (run_settings) are what a learner can read: the networks as printed, each
optimizer's settings, the batch size, the data, z_size, label smoothing, the weight average and the
seed. They are written to settings.json in the run's folder and stored in every checkpoint, as
nanoGPT stores its config. One rule: the same settings resume the run in their folder; other
settings (or fresh=True) get a new folder beside it. No file of another run is renamed or
overwritten. Code is not compared: after editing train_step or the losses, start over with
FACEGEN_FRESH=1.
"""
from __future__ import annotations

import dataclasses
import glob
import itertools
import json
import re
from pathlib import Path

import torch
import torch.nn as nn

from facegen import FacegenError
from facegen.checkpoints import CheckpointWriter, load_checkpoint, write_json
from facegen.device import device_name
from facegen.progress import HISTORY_KEYS, LossLog, ProgressBar
from facegen.sampling import fixed_noise, sample_images

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
        print(f"New run in {folder}/ (a fresh start, FACEGEN_FRESH=1; the runs beside it are kept as they are).")
    elif latest is not None:
        print(f"New run in {folder}/: the last run, {latest.parent}/, has other settings "
              f"({differences(_read_settings(latest.parent) or {}, settings)}).")
    else:
        print(f"New run in {folder}/ (its settings are in settings.json).")
    return folder, False


@dataclasses.dataclass
class RunState:
    """Where a run stands; what a checkpoint stores besides the weights and the optimizers."""

    fixed_z: torch.Tensor
    history: dict = dataclasses.field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    samples_per_epoch: list = dataclasses.field(default_factory=list)
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    images_seen: int = 0
    seconds_before: float = 0.0  # training time of earlier sessions of this run

    def where(self) -> str:
        return f"epoch {self.epoch + 1}, step {self.batch}" if self.batch else f"the end of epoch {self.epoch}"


def _load(module, state: dict, name: str, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as e:
        raise FacegenError(f"{path} does not fit this {name} ({str(e).splitlines()[0]}); start a new run with "
                           "FACEGEN_FRESH=1.") from None


def resume(folder: Path, settings: dict, models: tuple, device: torch.device) -> RunState | None:
    """Load the run's last checkpoint into (D, G, d_optimizer, g_optimizer, average) and the random
    state (so the run goes on exactly as it would have); None when it has no checkpoint yet."""
    state = load_checkpoint(folder / "checkpoint.pt")
    if state is None:
        return None
    path = Path(state["loaded_from"])
    if state.get("settings") != settings:
        raise FacegenError(f"{path} was saved with other settings than {folder}/settings.json; "
                           "start a new run with FACEGEN_FRESH=1.")
    D, G, d_optimizer, g_optimizer, average = models
    for module, key in ((D, "D"), (G, "G"), (d_optimizer, "d_optimizer"), (g_optimizer, "g_optimizer")):
        _load(module, state[key], key, path)
    if average is not None:
        _load(average, state["G_average"], "weight average", path)
    torch.set_rng_state(state["rng_cpu"])
    if device.type == "cuda" and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"], device)
    run = RunState(state["fixed_z"].to(device), {k: list(state["history"][k]) for k in HISTORY_KEYS},
                   list(state["samples_per_epoch"]), state["epoch"], state["batch"], state["images_seen"],
                   state["seconds_training"])
    print(f"Resumed {folder}/ from {path.name}: {run.where()} done, {run.images_seen:,} images seen "
          "(the random state too).")
    return run


def checkpoint_state(run: RunState, settings: dict, models: tuple, seconds: float, device) -> dict:
    """Everything needed to go on exactly where the run stands."""
    D, G, d_optimizer, g_optimizer, average = models
    state = {"settings": settings, "D": D.state_dict(), "G": G.state_dict(), "d_optimizer": d_optimizer.state_dict(),
             "g_optimizer": g_optimizer.state_dict(), "fixed_z": run.fixed_z.cpu(), "history": run.history,
             "samples_per_epoch": run.samples_per_epoch, "epoch": run.epoch, "batch": run.batch,
             "images_seen": run.images_seen, "seconds_training": seconds, "rng_cpu": torch.get_rng_state()}
    if average is not None:
        state["G_average"] = average.state_dict()
    if device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(device)
    return state


class Run:
    """One training run: its folder, where it stands, its log, progress bar and checkpoints.

    Run.open finds the folder for the settings and resumes it; inside `with run.training(...)`,
    batches() serves this epoch's batches, log() records train_step's four values, save_if_due()
    and save() write checkpoint.pt (in the background), end_epoch() draws the fixed z.
    """

    def __init__(self, folder: Path, settings: dict, models: tuple, state: RunState, device: torch.device):
        self.folder, self.settings, self.models, self.state, self.device = folder, settings, models, state, device
        self.writer = CheckpointWriter(folder / "checkpoint.pt")

    @classmethod
    def open(cls, out_dir: Path, settings: dict, fresh: bool, models: tuple, sample_size: int) -> Run:
        device = next(models[0].parameters()).device
        folder, existed = find_run_folder(out_dir, settings, fresh)
        state = resume(folder, settings, models, device) if existed else None
        return cls(folder, settings, models, state or RunState(fixed_noise(sample_size, settings["z_size"],
                                                                           settings["seed"]).to(device)), device)

    def training(self, epochs: int, clock, steps_per_epoch: int, log_every: int | None, checkpoint_minutes: float):
        """Enter before the loop: the progress bar and the loss log; on leaving, the last checkpoint lands."""
        self.clock, self.steps_per_epoch, self.epochs = clock, steps_per_epoch, epochs
        self.every, self.last_save = checkpoint_minutes * 60, clock.elapsed()
        self.images_at_start = self.state.images_seen
        self.bar = ProgressBar(clock, self.state.epoch * steps_per_epoch + self.state.batch, epochs * steps_per_epoch)
        self.losses = LossLog(self.state, log_every or max(1, min(50, steps_per_epoch // 4)), steps_per_epoch,
                              self.bar, self.writer)
        return self

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()
        self.writer.wait()

    @property
    def epoch(self) -> int:
        return self.state.epoch

    @property
    def steps_done(self) -> int:
        """Training steps of the whole run so far (the one under way included)."""
        return self.state.epoch * self.steps_per_epoch + self.state.batch

    def batches(self, loader):
        """This epoch's batches on the device, after those a resumed run has already done. A loader
        whose sampler has set_epoch (helpers.get_dataloader's) replays the interrupted epoch's order."""
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.state.epoch)
        elif self.state.batch:
            print(f"This DataLoader shuffles anew each time, so the rest of epoch {self.state.epoch + 1} comes from a "
                  "new order (some faces twice, some not at all); helpers.get_dataloader replays the order exactly.")
        for batch in itertools.islice(loader, self.state.batch, None):
            images = batch_images(batch)
            self.state.batch, self.state.images_seen = self.state.batch + 1, self.state.images_seen + len(images)
            yield images.to(self.device, non_blocking=True)

    def log(self, *values) -> None:
        """Add train_step's (d_loss, g_loss, D(x), D(G(z))) to the log; advance the progress bar."""
        self.losses.add(torch.stack([torch.as_tensor(v, device=self.device).detach().float().reshape(())
                                     for v in values]))
        self.bar.advance()

    def epoch_complete(self) -> bool:
        """Log what is left of the last interval; True when every batch of the epoch is done."""
        self.losses.flush()
        return self.state.batch == self.steps_per_epoch

    def end_epoch(self, generator: nn.Module) -> None:
        """Draw the fixed z, print the epoch's losses, and count the epoch."""
        run, h = self.state, self.state.history
        run.samples_per_epoch.append(sample_images(generator, run.fixed_z))
        self.bar.write(f"Epoch {run.epoch + 1:3d}/{self.epochs} | d_loss {h['d_loss'][-1]:.4f} | g_loss "
                       f"{h['g_loss'][-1]:.4f} | D(x) {h['d_real'][-1]:.3f} | D(G(z)) {h['d_fake'][-1]:.3f}")
        run.epoch, run.batch = run.epoch + 1, 0

    def save(self) -> None:
        """Write checkpoint.pt: serialised now, written in the background (the previous one becomes .prev.pt)."""
        seconds = self.state.seconds_before + self.clock.elapsed()
        self.writer.save(checkpoint_state(self.state, self.settings, self.models, seconds, self.device))
        self.last_save = self.clock.elapsed()

    def save_if_due(self) -> None:
        """A checkpoint when the last is older than checkpoint_minutes, right after a log line (so the
        saved history is whole)."""
        if self.clock.elapsed() - self.last_save > self.every and self.losses.count == 0:
            self.save()

    def summary(self, why: str, train_step) -> dict:
        """What summary.json says about this run."""
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        run, seconds = self.state, self.clock.elapsed()
        last = {k: run.history[k][-1] if run.history[k] else None for k in ("d_loss", "g_loss")}
        return {"images_per_second": round((run.images_seen - self.images_at_start) / max(seconds, 1e-9), 1),
                "images_seen": run.images_seen, "epochs_completed": run.epoch, "steps_in_last_epoch": run.batch,
                "seconds_training": round(run.seconds_before + seconds, 1), "seconds_this_session": round(seconds, 1),
                "device": device_name(self.device), "precision": getattr(train_step, "precision", "fp32"),
                "cuda_graph": getattr(train_step, "graph", None) is not None, "threads": torch.get_num_threads(),
                "batch_size": self.settings["batch_size"], "ema_decay": self.settings.get("ema_decay"),
                "stopped_by": why, "dataset": {"source": self.settings.get("data"), "images": self.settings["images"]},
                **last, "resumed": run.seconds_before > 0, "run": str(self.folder), "settings": self.settings}


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


def already_complete(run: Run, generator: nn.Module) -> TrainResult:
    """A finished run, run again: say so and how to go on; keep its summary.json as it is."""
    state = run.state
    print(f"This run is already complete ({epochs_text(state.epoch)}; {run.folder}/). To train further, set epochs "
          f"above {state.epoch} (FACEGEN_EPOCHS); to start over in a new folder, set FACEGEN_FRESH=1.")
    summary_file = run.folder / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {"epochs_completed": state.epoch}
    return TrainResult(state.history, state.samples_per_epoch, state.fixed_z.cpu(), summary, generator, run.folder)
