"""Pictures of faces and of training: grids shown inline or saved as PNG, the loss plot, the progress GIF."""
from __future__ import annotations

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
