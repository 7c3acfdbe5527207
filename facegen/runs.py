"""A training run: its folder (named by its settings; the same settings resume it), where it stands
(TrainState: epoch, step, history, the fixed z; saved with the random state in each checkpoint), the fixed
z's samples, and a Session (one sitting: clock, progress bar, loss log, when to save). The checkpoint files
are facegen/checkpoints.py's; the clock, bar, log and Stop facegen/progress.py's."""
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
from facegen.checkpoints import CheckpointWriter, load_checkpoint
from facegen.progress import HISTORY_KEYS, Clock, LossLog, ProgressBar
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
    """Where a run stands; what a checkpoint stores besides the weights, the optimizers and the random state.
    The training loop advances it: advance() after each step, end_epoch() (Session's) after each epoch."""

    fixed_z: torch.Tensor
    history: dict = dataclasses.field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    samples_per_epoch: list = dataclasses.field(default_factory=list)
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    images_seen: int = 0
    seconds_before: float = 0.0  # training time of earlier sessions of this run

    def advance(self, images: int) -> None:
        """One more step of this epoch done, on `images` faces."""
        self.batch, self.images_seen = self.batch + 1, self.images_seen + images

    def where(self) -> str:
        return f"epoch {self.epoch + 1}, step {self.batch}" if self.batch else f"the end of epoch {self.epoch}"


def _load(module, state: dict, name: str, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as e:
        raise FacegenError(f"{path} does not fit this {name} ({str(e).splitlines()[0]}); start a new run with "
                           "fresh = True in the settings cell (or FACEGEN_FRESH=1).") from None


def resume(folder: Path, settings: dict, models: tuple, device: torch.device) -> TrainState | None:
    """Load the run's last checkpoint into (D, G, d_optimizer, g_optimizer, average) and the random
    state (so the run goes on exactly as it would have); None when it has no checkpoint yet."""
    state = load_checkpoint(folder / "checkpoint.pt")
    if state is None:
        return None
    path = Path(state["loaded_from"])
    if state.get("settings") != settings:
        raise FacegenError(f"{path} was saved with other settings than {folder}/settings.json; "
                           "start a new run with fresh = True in the settings cell (or FACEGEN_FRESH=1).")
    D, G, d_optimizer, g_optimizer, average = models
    for module, key in ((D, "D"), (G, "G"), (d_optimizer, "d_optimizer"), (g_optimizer, "g_optimizer")):
        _load(module, state[key], key, path)
    if average is not None:
        _load(average, state["G_average"], "weight average", path)
    torch.set_rng_state(state["rng_cpu"])
    if device.type == "cuda" and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"], device)
    run = TrainState(state["fixed_z"].to(device), {k: list(state["history"][k]) for k in HISTORY_KEYS},
                   list(state["samples_per_epoch"]), state["epoch"], state["batch"], state["images_seen"],
                   state["seconds_training"])
    print(f"Resumed {folder}/ from {path.name}: {run.where()} done, {run.images_seen:,} images seen "
          "(the random state too).")
    return run


def checkpoint_state(run: TrainState, settings: dict, models: tuple, seconds: float, device) -> dict:
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
    """One training run as it stands: its folder, settings, networks and optimizers, where it is
    (TrainState) and its checkpoint file. Run.open finds the folder for the settings and, when it
    exists, loads its checkpoint; batches() serves the rest of this epoch; save() writes checkpoint.pt
    in the background. The clock, progress bar and loss log of one sitting are a Session's."""

    def __init__(self, folder: Path, settings: dict, models: tuple, state: TrainState, device: torch.device):
        self.folder, self.settings, self.models, self.state, self.device = folder, settings, models, state, device
        self.writer = CheckpointWriter(folder / "checkpoint.pt")

    @classmethod
    def open(cls, out_dir: Path, settings: dict, fresh: bool, models: tuple, sample_size: int) -> Run:
        device = next(models[0].parameters()).device
        folder, existed = find_run_folder(out_dir, settings, fresh)
        state = resume(folder, settings, models, device) if existed else None
        return cls(folder, settings, models, state or TrainState(fixed_noise(sample_size, settings["z_size"],
                                                                           settings["seed"]).to(device)), device)

    @property
    def epoch(self) -> int:
        return self.state.epoch

    @property
    def batch(self) -> int:
        """Batches of the current epoch done so far."""
        return self.state.batch

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
            yield batch_images(batch).to(self.device, non_blocking=True)

    def save(self, seconds_this_session: float) -> None:
        """Write checkpoint.pt: serialised now, written in the background (the previous one becomes .prev.pt)."""
        seconds = self.state.seconds_before + seconds_this_session
        self.writer.save(checkpoint_state(self.state, self.settings, self.models, seconds, self.device))


class Session:
    """One sitting of training a Run, from `with Session(...)` to its end: the clock (and its time
    limit), the progress bar, the loss log and when to save. Leaving it closes the bar and waits for
    the last checkpoint to land."""

    def __init__(self, run: Run, epochs: int, max_minutes: float | None, steps_per_epoch: int,
                 log_every: int | None = None, checkpoint_minutes: float = 2.0):
        self.run, self.epochs, self.steps_per_epoch = run, epochs, steps_per_epoch
        self.clock = Clock(max_minutes)
        self.every, self.last_save = checkpoint_minutes * 60, self.clock.elapsed()
        self.images_at_start = run.state.images_seen
        self.bar = ProgressBar(self.clock, self.steps_done, epochs * steps_per_epoch)
        self.losses = LossLog(run.state, log_every or max(1, min(50, steps_per_epoch // 4)), steps_per_epoch,
                              self.bar, run.writer)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()
        self.run.writer.wait()

    def out_of_time(self) -> bool:
        return self.clock.out_of_time()

    @property
    def steps_done(self) -> int:
        """Training steps of the whole run done so far."""
        return self.run.state.epoch * self.steps_per_epoch + self.run.state.batch

    def log(self, *values) -> None:
        """Add train_step's (d_loss, g_loss, D(x), D(G(z))) to the log; advance the progress bar."""
        self.losses.add(torch.stack([torch.as_tensor(v, device=self.run.device).detach().float().reshape(())
                                     for v in values]))
        self.bar.advance()

    def flush_log(self) -> None:
        """Log the means of the steps since the last log line (the end of an epoch, or a stop)."""
        self.losses.flush()

    def checkpoint_due(self) -> bool:
        """Whether the last checkpoint is older than checkpoint_minutes, right after a log line (so the
        saved history is whole)."""
        return self.clock.elapsed() - self.last_save > self.every and self.losses.count == 0

    def save(self) -> None:
        self.run.save(self.clock.elapsed())
        self.last_save = self.clock.elapsed()

    def end_epoch(self, generator: nn.Module) -> None:
        """Draw the fixed z, print the epoch's losses, and count the epoch."""
        state, h = self.run.state, self.run.state.history
        state.samples_per_epoch.append(sample_images(generator, state.fixed_z))
        self.bar.write(f"Epoch {state.epoch + 1:3d}/{self.epochs} | d_loss {h['d_loss'][-1]:.4f} | g_loss "
                       f"{h['g_loss'][-1]:.4f} | D(x) {h['d_real'][-1]:.3f} | D(G(z)) {h['d_fake'][-1]:.3f}")
        state.epoch, state.batch = state.epoch + 1, 0

    def summary(self, why: str, train_step) -> dict:
        """What summary.json says about this run."""
        run, state = self.run, self.run.state
        if run.device.type == "cuda":
            torch.cuda.synchronize()  # the GPU's queued steps count in the time
        seconds = self.clock.elapsed()
        last = {k: state.history[k][-1] if state.history[k] else None for k in ("d_loss", "g_loss")}
        return {"images_per_second": round((state.images_seen - self.images_at_start) / max(seconds, 1e-9), 1),
                "images_seen": state.images_seen, "epochs_completed": state.epoch, "steps_in_last_epoch": state.batch,
                "seconds_training": round(state.seconds_before + seconds, 1), "seconds_this_session": round(seconds, 1),
                "device": device_name(run.device), "precision": getattr(train_step, "precision", "fp32"),
                "cuda_graph": getattr(train_step, "graph", None) is not None, "threads": torch.get_num_threads(),
                "batch_size": run.settings["batch_size"], "ema_decay": run.settings.get("ema_decay"),
                "stopped_by": why, "dataset": {"source": run.settings.get("data"), "images": run.settings["images"]},
                **last, "resumed": state.seconds_before > 0, "run": str(run.folder), "settings": run.settings}


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
          f"above {state.epoch} (FACEGEN_EPOCHS); to start over in a new folder, set fresh = True in the settings cell "
          "(or FACEGEN_FRESH=1).")
    summary_file = run.folder / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {"epochs_completed": state.epoch}
    return TrainResult(state.history, state.samples_per_epoch, state.fixed_z.cpu(), summary, generator, run.folder)
