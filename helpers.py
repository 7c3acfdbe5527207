"""Plumbing for face_generation.ipynb, in the notebook's order.

1. Settings      read_parameters, pick_device, training_budget (from facegen/); explain_stubs
2. Data          find_dataset, load_images (from facegen/); FaceDataset, get_dataloader
3. Display       show_images, save_images, plot_losses, save_progress_gif
4. Training      GeneratorAverage, train: the loop, through small named helpers
5. Results       sample_images, load_generator, fid (from facegen/); interpolate

Every piece the lesson is about (the networks, the initialisation, the losses, the training step)
lives in the notebook itself. What a learner never needs to read (zip safety, the decode cache,
the synthetic faces, atomic checkpoints, the CUDA graph, FID's Inception network) lives in the
package facegen/, one job per module.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw
from torchvision.utils import make_grid, save_image

from facegen import FacegenError, fast_step, runs
from facegen.checkpoints import load_generator, write_atomically, write_json
from facegen.decode import load_images
from facegen.device import pick_device, pick_precision
from facegen.fid import fid, fid_available, fid_every
from facegen.interrupt import StopRequest
from facegen.locate import HERE, find_dataset
from facegen.parameters import Config, read_parameters, training_budget
from facegen.progress import Clock, LossLog, ProgressBar
from facegen.sampling import sample_images, to_uint8
from facegen.zipdata import DataSource, list_image_names

# Used by the notebook through helpers, defined in facegen/ (the one module the notebook imports is this one).
TrainResult = runs.TrainResult
__all__ = ["HERE", "Config", "FacegenError", "fid", "fid_available", "fid_every", "find_dataset", "load_generator",
           "load_images", "pick_device", "read_parameters", "sample_images", "training_budget"]


def explain_stubs() -> None:
    """In Jupyter, show a NotImplementedError (a step of the exercise not written yet) as one line
    naming the step, instead of a traceback through the code that called it."""
    try:
        shell = get_ipython()  # noqa: F821 - defined only inside IPython
    except NameError:
        return

    def brief(shell, etype, evalue, tb, tb_offset=None):
        if not str(evalue).startswith("not implemented yet: "):  # not a stub: the usual traceback
            shell._showtraceback(etype, evalue, shell.InteractiveTB.structured_traceback(etype, evalue, tb, tb_offset))
            return
        print(f"Not implemented yet: {str(evalue).removeprefix('not implemented yet: ')}. Write that step, run its "
              "cell, then run this one again.", file=sys.stderr)

    shell.set_custom_exc((NotImplementedError,), brief)


# ----------------------------------------------------------------------------------------------
# 2. Data: find it, decode it once, serve shuffled batches scaled to [-1, 1]
# ----------------------------------------------------------------------------------------------

class FaceDataset(torch.utils.data.Dataset):
    """All faces as one uint8 tensor, kept on the training device, served through your `scale`.

    dataset[i] is one face, scaled from [0, 1] to [-1, 1]; dataset.__getitems__([i, j, ...]), which
    the DataLoader calls with a whole batch's indices, gathers and scales the batch in one tensor
    operation on the device: no image is handled one by one, nothing is copied from the CPU.
    """

    def __init__(self, images: torch.Tensor, scale: Callable, device: torch.device | str = "cpu"):
        self.images, self.scale = images.to(device), scale

    @functools.cached_property
    def fingerprint(self) -> str:
        """A digest of the faces, for the run's resume key (computed when train() first asks)."""
        return hashlib.sha256(self.images.cpu().numpy().tobytes()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.scale(self.images[index].float() / 255)

    def __getitems__(self, indices: list[int]) -> torch.Tensor:
        return self.scale(self.images[torch.as_tensor(indices, device=self.images.device)].float() / 255)


class EpochShuffle(torch.utils.data.Sampler):
    """A new random order every epoch, fixed by (seed, epoch), so a resumed run sees exactly the
    batches the interrupted one would have. train() calls set_epoch, as with DistributedSampler."""

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())


def _whole_batch(batch: torch.Tensor) -> torch.Tensor:
    """collate_fn for FaceDataset: __getitems__ already returns the batch as one tensor."""
    return batch


def get_dataloader(batch_size: int, image_size: int = 32, images: torch.Tensor | None = None,
                   source: DataSource | None = None, max_images: int | None = None, scale: Callable | None = None,
                   device: torch.device | str = "cpu", seed: int = 0) -> torch.utils.data.DataLoader:
    """Shuffled batches (batch_size, 3, image_size, image_size), pixels in [0, 1] put through `scale`
    (yours, from step 3), made on `device`. Incomplete batches are dropped, so all have the same size."""
    if scale is None:
        raise FacegenError("get_dataloader needs scale=: the function of step 3 that maps [0, 1] to [-1, 1]")

    def check_batch_size(n_images: int) -> None:
        if not 1 <= batch_size <= n_images:
            raise FacegenError(f"FACEGEN_BATCH_SIZE={batch_size} must be between 1 and the number of images "
                               f"({n_images:,}). Use a smaller batch or more images.")

    if images is None:
        if source is None:
            raise FacegenError("get_dataloader needs images= (from load_images) or source= (from find_dataset)")
        check_batch_size(len(list_image_names(source)[:max_images]))  # before decoding, as load_images slices
        images = load_images(source, image_size, max_images, verbose=False)
    if images.shape[-1] != image_size:
        raise FacegenError(f"The images are {images.shape[-1]}x{images.shape[-1]}, not {image_size}x{image_size}")
    check_batch_size(len(images))  # again: corrupt images are skipped while decoding
    return torch.utils.data.DataLoader(FaceDataset(images, scale, device), batch_size=batch_size,
                                       sampler=EpochShuffle(len(images), seed), drop_last=True,
                                       collate_fn=_whole_batch)


# ----------------------------------------------------------------------------------------------
# 3. Display
# ----------------------------------------------------------------------------------------------

def image_grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """A (H, W, 3) uint8 picture of images (N, 3, h, w) in rows of nrow, on a white background."""
    return make_grid(to_uint8(images), nrow=nrow, padding=pad, pad_value=255).permute(1, 2, 0).numpy()


def show_images(images: torch.Tensor | Mapping[str, torch.Tensor], nrow: int = 8, title: str | None = None,
                scale_up: float = 1.5) -> None:
    """Show a grid of images (uint8, or floats in [-1, 1]) inline. A dict {name: images} shows one
    titled grid per entry, side by side in one figure; title then goes above them all."""
    import matplotlib.pyplot as plt

    several = isinstance(images, Mapping)
    if several and not images:
        raise FacegenError("show_images got an empty dict: nothing to show")
    grids = {name: image_grid(batch, nrow) for name, batch in (images if several else {title: images}).items()}
    width = sum(grid.shape[1] for grid in grids.values())
    height = max(grid.shape[0] for grid in grids.values())
    fig, axes = plt.subplots(1, len(grids), squeeze=False, figsize=(
        width / 100 * scale_up + 0.2 * len(grids), height / 100 * scale_up + (0.8 if several and title else 0.5)))
    for ax, (name, grid) in zip(axes[0], grids.items()):
        ax.imshow(grid, interpolation="nearest")
        ax.axis("off")
        if name:
            ax.set_title(name)
    if several and title:
        fig.suptitle(title)
    plt.show()


def save_images(images: torch.Tensor, path: Path, nrow: int = 8, upscale: int = 2) -> Path:
    """Save a grid of images as a PNG, upscaled with nearest neighbour so small faces stay crisp."""
    grid = make_grid(to_uint8(images), nrow=nrow, padding=2, pad_value=255)
    grid = grid.repeat_interleave(upscale, dim=1).repeat_interleave(upscale, dim=2)
    write_atomically(Path(path), lambda f: save_image(grid.float() / 255, f, format="PNG"))
    return Path(path)


def plot_losses(history: dict, path: Path | None = None, show: bool = True) -> None:
    """Plot the discriminator's and generator's losses (and D(x), D(G(z))) against the step."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_prob) = plt.subplots(1, 2, figsize=(12, 4))
    steps = history["step"]
    style = {"marker": "o"} if len(steps) < 20 else {}  # a run with one logged point still shows it
    ax_loss.plot(steps, history["d_loss"], label="Discriminator", **style)
    ax_loss.plot(steps, history["g_loss"], label="Generator", **style)
    ax_loss.set(xlabel="training step", ylabel="loss", title="Training losses")
    ax_loss.legend()
    ax_prob.plot(steps, history["d_real"], label="D(x): real judged real", **style)
    ax_prob.plot(steps, history["d_fake"], label="D(G(z)): fake judged real", **style)
    ax_prob.set(xlabel="training step", ylabel="mean probability", ylim=(0, 1), title="What D believes")
    ax_prob.legend()
    fig.tight_layout()
    if path is not None:
        write_atomically(Path(path), lambda f: fig.savefig(f, format="png", dpi=100))
    plt.show() if show else plt.close(fig)


def save_progress_gif(samples_per_epoch: Sequence[torch.Tensor], path: Path, n_faces: int = 32, nrow: int = 8,
                      max_frames: int = 20, ms_per_frame: int = 400) -> Path:
    """An animated GIF of the first n_faces fixed-z samples, one frame per epoch (at most max_frames,
    evenly spread, the last epoch always included), each labelled with its epoch."""
    if not samples_per_epoch:
        raise FacegenError("No samples yet: train for at least one epoch first.")
    count = len(samples_per_epoch)
    epochs = sorted({round(i * (count - 1) / max(1, max_frames - 1)) for i in range(min(count, max_frames))})
    frames = []
    for epoch in epochs:
        picture = Image.fromarray(image_grid(samples_per_epoch[epoch][:n_faces], nrow))
        canvas = Image.new("RGB", (picture.width, picture.height + 12), "white")
        canvas.paste(picture, (0, 12))
        ImageDraw.Draw(canvas).text((3, 0), f"epoch {epoch + 1}", fill="black")
        frames.append(canvas)
    write_atomically(Path(path), lambda f: frames[0].save(
        f, format="GIF", save_all=True, append_images=frames[1:], duration=ms_per_frame, loop=0))
    return Path(path)


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters of a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------------------------
# 4. Training
# ----------------------------------------------------------------------------------------------

class GeneratorAverage:
    """An exponential moving average (EMA) of G's weights, updated after every training step.

    GAN weights oscillate as D and G chase each other; the average sits in the middle of that
    oscillation and draws cleaner faces (Yazici et al., 2019). The decay warms up as
    min(decay, (1 + n) / (10 + n)) after n updates, so a short run is not dominated by the random
    initial weights.
    """

    def __init__(self, G: nn.Module, decay: float = 0.999):
        self.G, self.decay = G, decay
        self.model = copy.deepcopy(G).requires_grad_(False)
        self.params, self.averages = list(G.parameters()), list(self.model.parameters())
        self.updates = torch.zeros((), device=self.params[0].device)

    def update(self) -> None:
        """averages = d * averages + (1 - d) * weights, on the device (safe inside a CUDA graph)."""
        with torch.no_grad():
            self.updates += 1
            d = torch.clamp((1 + self.updates) / (10 + self.updates), max=self.decay)
            torch._foreach_mul_(self.averages, d)
            torch._foreach_add_(self.averages, torch._foreach_mul(self.params, 1 - d))

    def generator(self) -> nn.Module:
        """The averaged generator, with G's current batch norm statistics."""
        with torch.no_grad():
            for average, live in zip(self.model.buffers(), self.G.buffers()):
                average.copy_(live)
        return self.model


def train(D: nn.Module, G: nn.Module, d_optimizer: torch.optim.Optimizer, g_optimizer: torch.optim.Optimizer,
          train_step: Callable, train_loader, epochs: int, z_size: int = 100, *, smooth: bool = True,
          ema_decay: float | None = 0.999, seed: int = 0, max_minutes: float | None = None,
          out_dir: Path = Path("outputs"), resume: bool = True, eager: bool | None = None,
          precision: str = "auto", device: torch.device | None = None, dataset: DataSource | None = None,
          on_epoch_end: Callable | None = None, sample_size: int = 64, log_every: int | None = None,
          checkpoint_minutes: float = 2.0) -> runs.TrainResult:
    """Train D and G: train_step on every batch of train_loader (a DataLoader, or any iterable with a
    length, of image batches (B, 3, S, S) in [-1, 1], or of (images, labels)), for `epochs` epochs or
    `max_minutes`.

    It logs the losses, draws the fixed z after each epoch (from the EMA of G when ema_decay is
    set), and checkpoints every epoch, every checkpoint_minutes and on Stop, so running it again
    resumes the same run (see facegen/runs.py for what "the same" means). on_epoch_end(epoch, G)
    runs after each epoch (e.g. FID); its time is not counted as training.
    """
    device = device or next(D.parameters()).device
    precision = pick_precision(device) if precision == "auto" else precision
    memory_format = fast_step.memory_format(device)
    D.to(memory_format=memory_format).train()
    G.to(memory_format=memory_format).train()
    average = GeneratorAverage(G, ema_decay) if ema_decay else None
    out_dir, sampler = Path(out_dir), average.generator if average else (lambda: G)
    key = runs.run_key(D, G, d_optimizer, g_optimizer, train_step, train_loader, z_size=z_size, smooth=smooth,
                       ema_decay=ema_decay, seed=seed)
    torch.manual_seed(seed)
    run = runs.resume(out_dir / "checkpoint.pt", key, D, G, d_optimizer, g_optimizer, average, device) \
        if resume else None
    if run is not None and run.epoch >= epochs:
        return runs.already_complete(run, out_dir, sampler())
    run = run or runs.RunState.fresh(D, G, sample_size, z_size, seed, device)
    step = fast_step.StepRunner(train_step, D, G, d_optimizer, g_optimizer, z_size, device, precision,
                                fast_step.eager_requested() if eager is None else eager,
                                after_step=average.update if average else None, smooth=smooth)
    steps_per_epoch, clock, images_at_start = _steps_per_epoch(train_loader), Clock(max_minutes), run.images_seen
    saver = runs.RunSaver(out_dir / "checkpoint.pt", key, D, G, d_optimizer, g_optimizer, average, clock, device,
                          checkpoint_minutes)
    bar = ProgressBar(clock, run.epoch * steps_per_epoch + run.batch, epochs * steps_per_epoch)
    log = LossLog(run, log_every or max(1, min(50, steps_per_epoch // 4)), steps_per_epoch, bar, saver.path)
    with bar, StopRequest() as stop, saver:
        while run.epoch < epochs and not clock.out_of_time() and not stop.requested:
            for real in _epoch_batches(train_loader, run, device, memory_format):
                losses = step(real)
                run.batch, run.images_seen = run.batch + 1, run.images_seen + len(real)
                log.add(losses)
                bar.advance()
                if clock.out_of_time() or stop.requested:
                    break
                if saver.due() and log.count == 0:  # right after a log line: the saved history is whole
                    saver.save(run)
            log.flush()
            if run.batch == steps_per_epoch:  # the epoch is complete (also when stopped on its last step)
                _end_epoch(run, epochs, sampler(), bar, clock, on_epoch_end)
            saver.save(run)
    why = "epochs" if run.epoch >= epochs else "stop" if stop.requested else "time limit"
    summary = runs.summary(run, why, precision, step, clock, images_at_start, train_loader, dataset, ema_decay, device)
    return _finish(run, why, summary, sampler(), out_dir, clock)


def _steps_per_epoch(loader) -> int:
    """The number of batches in an epoch (len(loader)); refuses a loader with none."""
    try:
        steps = len(loader)
    except TypeError:
        raise FacegenError(f"train_loader must know its length (a DataLoader, or a list of batches), got a "
                           f"{type(loader).__name__}") from None
    if steps == 0:
        raise FacegenError("The DataLoader yields no batches: use a batch size no larger than the dataset.")
    return steps


def _epoch_batches(loader, run: runs.RunState, device: torch.device, memory_format):
    """This epoch's batches on the device, skipping those a resumed run has already done.
    Batches of (images, labels), as an ImageFolder gives, are reduced to the images."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(run.epoch)
    for batch in itertools.islice(loader, run.batch, None):
        images = batch[0] if isinstance(batch, (list, tuple)) else batch
        if not (torch.is_tensor(images) and images.ndim == 4 and images.shape[1] == 3):
            raise FacegenError(f"train_loader must yield image batches of shape (B, 3, S, S), got "
                               f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
        yield images.to(device, non_blocking=True, memory_format=memory_format)


def _end_epoch(run: runs.RunState, epochs: int, generator: nn.Module, bar: ProgressBar, clock: Clock,
               on_epoch_end: Callable | None) -> None:
    """Draw the fixed z, print the epoch's losses, run on_epoch_end (not timed) and count the epoch."""
    run.samples_per_epoch.append(sample_images(generator, run.fixed_z))
    h = run.history
    bar.write(f"Epoch {run.epoch + 1:3d}/{epochs} | d_loss {h['d_loss'][-1]:.4f} | g_loss {h['g_loss'][-1]:.4f} | "
              f"D(x) {h['d_real'][-1]:.3f} | D(G(z)) {h['d_fake'][-1]:.3f}")
    run.epoch, run.batch = run.epoch + 1, 0
    if on_epoch_end is not None:
        with clock.pause():
            on_epoch_end(run.epoch, generator)


def _finish(run: runs.RunState, why: str, summary: dict, generator: nn.Module, out_dir: Path,
            clock: Clock) -> runs.TrainResult:
    """Say how training ended, write samples.png, losses.png and summary.json, and return the result."""
    where = f"epoch {run.epoch + 1}, step {run.batch}" if run.batch else f"the end of epoch {run.epoch}"
    if why == "stop":
        print(f"Stopped at {where}; saved {out_dir / 'checkpoint.pt'}. Run this cell again to resume.")
    elif why == "time limit":
        print(f"Stopped after the time limit of {clock.limit / 60:g} minutes, at {where}: "
              f"{runs.what_to_expect(run.epoch)} For better faces: more minutes (FACEGEN_MINUTES=30; running again "
              "resumes), a GPU (40 epochs in about a minute), or the pretrained generator (FACEGEN_PRETRAINED=1).")
    if not run.samples_per_epoch:  # a run that ended inside its first epoch
        run.samples_per_epoch.append(sample_images(generator, run.fixed_z))
    save_images(run.samples_per_epoch[-1], out_dir / "samples.png")
    if run.history["step"]:
        plot_losses(run.history, out_dir / "losses.png", show=False)
    write_json(out_dir / "summary.json", summary)
    return runs.TrainResult(run.history, run.samples_per_epoch, run.fixed_z.cpu(), summary, generator)


def use_pretrained(G: nn.Module, out_dir: Path, z_size: int = 100, sample_size: int = 64, seed: int = 0,
                   path: Path = HERE / "assets" / "generator.pt") -> runs.TrainResult:
    """Instead of training: load the generator trained for the README, draw the fixed z with it, and
    write samples.png and a summary.json that says nothing was trained here."""
    load_generator(G, path)
    device = next(G.parameters()).device
    fixed_z = torch.randn(sample_size, z_size, generator=torch.Generator().manual_seed(seed)).to(device)
    samples = sample_images(G, fixed_z)
    out_dir = Path(out_dir)
    save_images(samples, out_dir / "samples.png")
    summary = {"trained_here": False, "generator": str(path), "epochs_completed": 0, "images_seen": 0,
               "note": "pretrained generator (40 epochs on the 32,600 real faces, trained for the README)"}
    write_json(out_dir / "summary.json", summary)
    print(f"Loaded the pretrained generator {path.name} (40 epochs on the 32,600 real faces); nothing was trained "
          f"here. Wrote samples.png and summary.json to {out_dir}/.")
    return runs.TrainResult({k: [] for k in runs.HISTORY_KEYS}, [samples], fixed_z.cpu(), summary, G)


# ----------------------------------------------------------------------------------------------
# 5. Results: the trained generator, and a walk through its latent space
# ----------------------------------------------------------------------------------------------

def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latent vectors: stays where Gaussian samples live."""
    omega = torch.arccos(((z0 / z0.norm()) * (z1 / z1.norm())).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def interpolate(G: nn.Module, rows: int = 4, steps: int = 8, z_size: int = 100, seed: int = 7) -> torch.Tensor:
    """rows x steps faces along spherical paths between random pairs of z (uint8, row by row)."""
    device = next(G.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    zs = []
    for _ in range(rows):
        z0, z1 = torch.randn(2, z_size, generator=generator)
        zs += [slerp(z0, z1, t) for t in np.linspace(0, 1, steps)]
    return sample_images(G, torch.stack(zs).to(device))
