"""Pictures of faces and of training: grids shown inline or saved as PNG, the loss plot (with the game's
equilibrium), the progress GIF, and the nearest real faces to generated ones."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw
from torchvision.utils import make_grid, save_image

from facegen import FacegenError
from facegen.checkpoints import write_atomically
from facegen.sampling import to_uint8


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


SMOOTH_LABEL = 0.9  # the label real_loss uses for real images with one-sided label smoothing


def equilibrium(smooth: bool) -> dict[str, float]:
    """The losses and D's outputs when G has won (fakes indistinguishable from faces), to read the loss plot against.

    D's best answer is then label / 2 for every image (the label of real images: 1, or SMOOTH_LABEL with
    smoothing), so d_loss = BCE(label / 2, label) + BCE(label / 2, 0) and g_loss = BCE(label / 2, 1).
    """
    label = SMOOTH_LABEL if smooth else 1.0
    d = label / 2

    def bce(p: float, target: float) -> float:
        return -(target * math.log(p) + (1 - target) * math.log(1 - p))

    return {"d_loss": bce(d, label) + bce(d, 0.0), "g_loss": bce(d, 1.0), "d_real": d, "d_fake": d}


def plot_losses(history: dict, path: Path | None = None, show: bool = True, smooth: bool | None = None) -> None:
    """Plot D's and G's losses (and D(x), D(G(z))) against the step, to see how training goes.

    With smooth=True or False (the run's label smoothing), the game's equilibrium (equilibrium(smooth)) is drawn
    as dashed lines: where the curves would settle if G's fakes were indistinguishable from real faces.
    """
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_prob) = plt.subplots(1, 2, figsize=(12, 4))
    steps = history["step"]
    style = {"marker": "o"} if len(steps) < 20 else {}  # a run with one logged point still shows it
    series = {"d_loss": (ax_loss, "Discriminator"), "g_loss": (ax_loss, "Generator"),
              "d_real": (ax_prob, "D(x): real judged real"), "d_fake": (ax_prob, "D(G(z)): fake judged real")}
    colours = {key: ax.plot(steps, history[key], label=label, **style)[0].get_color()
               for key, (ax, label) in series.items()}
    if smooth is not None:
        target = equilibrium(smooth)
        where = "with label smoothing" if smooth else "without label smoothing"
        for key, name in (("d_loss", "D's loss"), ("g_loss", "G's loss"), ("d_real", "D(x) = D(G(z))")):
            colour = "0.4" if key == "d_real" else colours[key]  # grey: the line is both D(x)'s and D(G(z))'s
            series[key][0].axhline(target[key], linestyle="--", linewidth=1, color=colour,
                                   label=f"{name} at equilibrium {where}: {target[key]:.3f}")
    ax_loss.set(xlabel="training step", ylabel="loss", title="Training losses")
    ax_prob.set(xlabel="training step", ylabel="mean probability", ylim=(0, 1), title="What D believes")
    for ax in (ax_loss, ax_prob):
        ax.legend(fontsize=9 if smooth is not None else None)
    fig.tight_layout()
    if path is not None:
        write_atomically(Path(path), lambda f: fig.savefig(f, format="png", dpi=100))
    plt.show() if show else plt.close(fig)


def nearest_faces(samples: torch.Tensor, images: torch.Tensor, n: int = 8, chunk: int = 2048) -> torch.Tensor:
    """The first n generated faces above the real face nearest to each (L2 in pixel space), to see whether G copies.

    samples and images: uint8, or floats in [-1, 1], (N, 3, H, W). The distances are computed chunk images at
    a time, so all 32,600 faces fit in memory. Returns 2n uint8 images: show_images(pairs, nrow=n).
    """
    queries = to_uint8(samples[:n]).flatten(1).double()
    if len(images) == 0 or to_uint8(images[:1]).shape[1:] != to_uint8(samples[:1]).shape[1:]:
        raise FacegenError(f"nearest_faces needs real images shaped like the samples {tuple(samples.shape[1:])}, "
                           f"got {tuple(images.shape)}")
    best = torch.full((len(queries),), math.inf, dtype=torch.float64)
    index = torch.zeros(len(queries), dtype=torch.long)
    for start in range(0, len(images), chunk):
        real = to_uint8(images[start:start + chunk]).flatten(1).double()
        distances = (queries ** 2).sum(1, keepdim=True) - 2 * queries @ real.T + (real ** 2).sum(1)
        nearest, where = distances.min(1)
        closer = nearest < best
        best[closer], index[closer] = nearest[closer], where[closer] + start
    return torch.cat([to_uint8(samples[:n]), to_uint8(images[index.to(images.device)])])


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
