"""A training run: its folder (named by its settings; the same settings resume it), its checkpoint
files (written atomically, in the background), the fixed z and the samples, the clock, the progress
bar and the loss log, and Stop (Ctrl-C) ending a step cleanly."""
from __future__ import annotations

import dataclasses
import glob
import io
import itertools
import json
import math
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import torch
import torch.nn as nn
from tqdm import tqdm

from facegen import FacegenError, write_atomically, write_json
from facegen.settings import device_name


# --- checkpoints ----------------------------------------------------------------------------------
# Files that a kill cannot break: atomic writes, and checkpoints written in the background.

def _write_checkpoint_bytes(path: Path, buffer: io.BytesIO) -> None:
    """Write a serialised checkpoint atomically; the previous one becomes <name>.prev.pt."""
    write_atomically(path.with_suffix(".new.pt"), lambda f: f.write(buffer.getbuffer()))
    if path.exists():
        os.replace(path, path.with_suffix(".prev.pt"))
    os.replace(path.with_suffix(".new.pt"), path)


class CheckpointWriter:
    """Saves checkpoints while training goes on: the state is serialised at once (so training
    cannot change it), then written and fsynced in a background thread, one write at a time.
    wait() finishes the pending write and raises its error, if any."""

    def __init__(self, path: Path):
        self.path, self.thread, self.error = Path(path), None, None
        for stale in self.path.parent.glob(f".{self.path.stem}.new.pt.tmp*"):  # left by a kill mid-write
            stale.unlink(missing_ok=True)

    def save(self, state: dict) -> None:
        self.wait()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.thread = threading.Thread(target=self._write, args=(buffer,), name="checkpoint-writer")
        self.thread.start()

    def _write(self, buffer: io.BytesIO) -> None:
        try:
            _write_checkpoint_bytes(self.path, buffer)
        except (FacegenError, OSError) as e:
            self.error = e

    def wait(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error if isinstance(error, FacegenError) else FacegenError(
                f"Could not save {self.path} ({error}); the previous checkpoint is unchanged.")


def load_checkpoint(path: Path) -> dict | None:
    """Load a checkpoint safely (weights_only=True: no code runs); fall back to the previous one.

    Returns None when there is none. A corrupt file is reported in one line and skipped. The
    returned dict says which file it came from under "loaded_from".
    """
    path = Path(path)
    candidates = [c for c in (path, path.with_suffix(".prev.pt")) if c.exists()]
    for i, candidate in enumerate(candidates):
        try:
            state = torch.load(candidate, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise TypeError(f"it holds a {type(state).__name__}, not a checkpoint")
            state["loaded_from"] = str(candidate)  # this file or the previous one
            return state
        except Exception as e:  # noqa: BLE001 - truncated, corrupt or not a checkpoint at all
            print(f"Checkpoint {candidate} is unreadable ({e.__class__.__name__}); "
                  f"{'trying the previous one' if i + 1 < len(candidates) else 'starting fresh'}.")
    return None


def load_generator(G: nn.Module, path: Path) -> nn.Module:
    """Load trained weights into G (weights_only=True), whatever G's attribute names, so the pretrained route works.

    The file's tensors are matched to G's by order and shape: a state dict lists the layers in the order
    __init__ assigns them (self.fc before self.deconv1; inside an nn.Sequential, its order), each layer's
    weight, bias, then batch norm's running statistics. So a Generator with other names or nesting loads
    the file if it builds the same layers in the same order. Anything else is refused in one line, G unchanged.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FacegenError(f"{path} does not exist; train first, or get it from the repository's assets/") from None
    except Exception as e:  # noqa: BLE001
        raise FacegenError(f"{path} is not a readable generator state dict ({e.__class__.__name__}).") from None
    if not isinstance(state, dict) or not state or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise FacegenError(f"{path} is not a generator state dict (a training checkpoint?): load a file written by "
                           "torch.save(G.state_dict(), path), such as assets/generator.pt.")
    own = G.state_dict()
    if state.keys() == own.keys():  # the same names: pair them by name, whatever order the file lists them in
        state = {key: state[key] for key in own}
    difference = _state_difference(list(state.items()), list(own.items()))
    if difference:
        raise FacegenError(f"{path.name} does not fit this Generator: {difference}")
    G.load_state_dict(dict(zip(own, state.values())))  # by order: the file's n-th tensor into G's n-th
    return G


def _state_difference(file: list[tuple[str, torch.Tensor]], own: list[tuple[str, torch.Tensor]]) -> str:
    """'' when the two state dicts hold the same tensors in the same order; else what differs, and what to do."""
    layers = {}  # a layer (a module holding tensors) -> its number, from 1, in the file's order
    z_size = next((t.shape[1] for _, t in file if t.dim() == 2), None)  # the first linear layer's input
    conv_dim = next((t.shape[0] for _, t in reversed(file) if t.dim() == 4), None)  # the last layer's input
    for i, ((key, theirs), (name, mine)) in enumerate(zip(file, own)):
        layer = layers.setdefault(key.rpartition(".")[0], len(layers) + 1)
        kind, my_kind = key.rpartition(".")[2], name.rpartition(".")[2]
        if kind == my_kind and theirs.shape == mine.shape:
            continue
        where = (f"layer {layer}: the file has a {kind} of shape {tuple(theirs.shape)}, this Generator ({name}) "
                 f"a {my_kind} of shape {tuple(mine.shape)}")
        if len(file) != len(own):
            return (f"this Generator has {len(own)} tensors, the file {len(file)}: a layer is missing or extra (e.g. "
                    f"a bias=False); the first difference is at {where}.")
        same_rows = theirs.dim() == mine.dim() == 2 and theirs.shape[0] == mine.shape[0]
        hint = (f"is z_size {z_size}?" if i == 0 and same_rows
                else f"is conv_dim {conv_dim}?" if kind == my_kind and theirs.dim() == mine.dim()
                else "are the layers built in the same order (as forward() uses them)?")
        return (f"{where}: {hint} Build Generator(z_size={z_size}, conv_dim={conv_dim}) with the notebook's "
                "architecture to load it.")
    if len(file) != len(own):
        return (f"this Generator has {len(own)} tensors, the file {len(file)}: a layer is missing or extra at the "
                f"end (e.g. a bias=False on the last layer).")
    return ""


def save_generator(G: nn.Module, path: Path) -> Path:
    """Save G's state dict as CPU tensors (atomically), so load_generator works on a machine without a GPU."""
    state = {k: v.detach().cpu() for k, v in G.state_dict().items()}
    write_atomically(Path(path), lambda f: torch.save(state, f))
    return Path(path)


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


# --- progress -------------------------------------------------------------------------------------
# Training time and the progress bar: honest about what this call will actually do.

HISTORY_KEYS = ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake")


class Clock:
    """Training time; out of time after max_minutes."""

    def __init__(self, max_minutes: float | None):
        self.start = time.perf_counter()
        self.limit = None if max_minutes is None else max_minutes * 60

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def out_of_time(self) -> bool:
        return self.limit is not None and self.elapsed() > self.limit


class ProgressBar:
    """Steps against the steps still to do, or, for a time-bounded run, seconds against the limit
    (the steps that fit are not known in advance), so the remaining time it shows is true."""

    def __init__(self, clock: Clock, steps_done: int, total_steps: int | None):
        self.clock = clock
        if clock.limit is not None:
            self.bar = tqdm(total=round(clock.limit), unit="s", desc="Training (time limit)", file=sys.stderr,
                            mininterval=2.0, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total} s{postfix}")
        else:
            self.bar = tqdm(total=total_steps, initial=min(steps_done, total_steps or steps_done), unit="step",
                            desc="Training", file=sys.stderr, mininterval=2.0)

    def advance(self) -> None:
        if self.clock.limit is None:
            self.bar.update(1)
        else:
            self.bar.update(max(0.0, min(self.clock.elapsed(), self.clock.limit) - self.bar.n))

    def show(self, **values: str) -> None:
        self.bar.set_postfix(values, refresh=False)

    def write(self, line: str) -> None:
        self.bar.write(line, file=sys.stdout)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def close(self) -> None:
        self.bar.close()


class LossLog:
    """Sums train_step's (d_loss, g_loss, D(x), D(G(z))) on the device and appends their means to
    run.history every `every` steps: reading a number from a GPU makes the CPU wait, so it is done
    once per log interval, not once per step. A NaN or infinite mean stops training, clearly."""

    def __init__(self, run, every: int, steps_per_epoch: int, bar: ProgressBar, writer):
        self.run, self.every, self.steps_per_epoch, self.bar = run, every, steps_per_epoch, bar
        self.sums, self.count, self.writer = torch.zeros(4, device=run.fixed_z.device), 0, writer

    def add(self, values: torch.Tensor) -> None:
        self.sums += values
        self.count += 1
        if self.count == self.every:
            self.flush()

    def flush(self) -> None:
        if self.count == 0:
            return
        means = (self.sums / self.count).tolist()
        self.sums.zero_()
        self.count = 0
        run = self.run
        if not all(math.isfinite(v) for v in means):
            self.writer.wait()  # a checkpoint still being written in the background lands first
            kept = f"The last good checkpoint ({self.writer.path}) is kept" if self.writer.path.exists() else \
                "No checkpoint was saved before that"
            raise FacegenError(f"Training diverged at epoch {run.epoch + 1}, step {run.batch}: the losses became "
                               f"{dict(zip(HISTORY_KEYS[2:], means))}. {kept}; try a lower learning rate or "
                               "check the losses.")
        for key, value in zip(HISTORY_KEYS, [run.epoch * self.steps_per_epoch + run.batch, run.epoch + 1, *means]):
            run.history[key].append(value)
        self.bar.show(d_loss=f"{means[0]:.3f}", g_loss=f"{means[1]:.3f}")


# --- interrupt ------------------------------------------------------------------------------------
# Stop (Jupyter's stop button, or Ctrl-C) ends training between two steps, not in the middle of one.
#
# Inside `with StopRequest() as stop:` the first interrupt only sets stop.requested; the training loop
# looks at it after each step, saves a checkpoint and returns. A second interrupt stops at once, the
# usual way (KeyboardInterrupt). Outside the main thread, where signal handlers cannot be set, the
# usual KeyboardInterrupt applies.

class StopRequest:
    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:  # pressed twice: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


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
                           "fresh = True in the settings cell (or FACEGEN_FRESH=1).") from None


def resume(folder: Path, settings: dict, models: tuple, device: torch.device) -> RunState | None:
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
    """One training run as it stands: its folder, settings, networks and optimizers, where it is
    (RunState) and its checkpoint file. Run.open finds the folder for the settings and, when it
    exists, loads its checkpoint; batches() serves the rest of this epoch; save() writes checkpoint.pt
    in the background. The clock, progress bar and loss log of one sitting are a Session's."""

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
            images = batch_images(batch)
            self.state.batch, self.state.images_seen = self.state.batch + 1, self.state.images_seen + len(images)
            yield images.to(self.device, non_blocking=True)

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
        """Training steps of the whole run so far (the one under way included)."""
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
