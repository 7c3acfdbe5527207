"""Pictures: image grids, the loss plot, nearest faces, the progress GIF, and the lesson's diagrams
(the game, one training step, the two networks, G's two losses)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw
from torchvision.utils import make_grid, save_image

from facegen import FacegenError, write_atomically
from facegen.runs import to_uint8


# --- pictures -------------------------------------------------------------------------------------
# Pictures of faces and of training: grids shown inline or saved as PNG, the loss plot (with the game's
# equilibrium), the progress GIF, and the nearest real faces to generated ones.

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


def spread_epochs(count: int, at_most: int) -> list[int]:
    """At most `at_most` epoch indices out of `count`, evenly spread, the first and the last included."""
    shown = min(count, at_most)
    return sorted({round(i * (count - 1) / max(1, shown - 1)) for i in range(shown)})


def progress_rows(samples_per_epoch: Sequence[torch.Tensor], rows: int = 8, n_faces: int = 8) -> tuple[torch.Tensor, str]:
    """The first n_faces fixed-z samples of at most `rows` epochs, evenly spread (the last included), one row each,
    and a title that names those epochs (counted from 1)."""
    if not samples_per_epoch:
        raise FacegenError("No samples yet: train for at least one epoch first.")
    epochs = spread_epochs(len(samples_per_epoch), rows)
    title = "Rows: epochs " + ", ".join(str(epoch + 1) for epoch in epochs)
    return torch.cat([samples_per_epoch[epoch][:n_faces] for epoch in epochs]), title


def save_progress_gif(samples_per_epoch: Sequence[torch.Tensor], path: Path, n_faces: int = 32, nrow: int = 8,
                      max_frames: int = 20, ms_per_frame: int = 400) -> Path:
    """An animated GIF of the first n_faces fixed-z samples, one frame per epoch (at most max_frames,
    evenly spread, the last epoch always included), each labelled with its epoch."""
    if not samples_per_epoch:
        raise FacegenError("No samples yet: train for at least one epoch first.")
    epochs = spread_epochs(len(samples_per_epoch), max_frames)
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


# --- diagrams -------------------------------------------------------------------------------------
# Learner aids drawn by code: the game at a glance, one training step, the two networks as stacks of shapes,
# and why G uses the non-saturating loss.

_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Flatten, nn.Unflatten)  # always listed, shape kept or not


def conv_out(size: int, k: int, s: int, p: int) -> int:
    """The side of a convolution's output, to check a layer by hand: floor((in + 2p - k) / s) + 1."""
    return (size + 2 * p - k) // s + 1


def conv_transpose_out(size: int, k: int, s: int, p: int) -> int:
    """The side of a transpose convolution's output, to check a layer by hand: (in - 1) s - 2p + k."""
    return (size - 1) * s - 2 * p + k


def _layer_name(module: nn.Module) -> str:
    """'Conv2d 4x4 s2 p1' for a (transpose) convolution, the class name for any other layer."""
    name = type(module).__name__
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        (k, _), (s, _), (p, _) = module.kernel_size, module.stride, module.padding
        return f"{name} {k}x{k} s{s} p{p}"
    return name


def _reshape_name(shape: tuple) -> str:
    """What to call a change of shape done in forward() (x.view, x.reshape, torch.flatten), not by a layer."""
    return "flatten (view)" if len(shape) == 1 else "reshape (view)"


def trace_layers(net: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple]]:
    """(layer, shape after it, batch left out) for every step of net(x) that changes the shape, to draw the network.

    Forward hooks on the leaf modules see each layer's input and output; a shape that changes between two
    layers was changed in forward() (a view), and is listed as one. net runs in eval mode without gradients
    (batch norm's running statistics stay as they are) and is left in the mode it was in.
    """
    rows: list[tuple[str, tuple]] = [("input", tuple(x.shape[1:]))]

    def hook(module, inputs, output):
        if not (inputs and isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor)):
            return  # a layer called without a tensor, or returning several: not a step of the stack
        before, after = tuple(inputs[0].shape[1:]), tuple(output.shape[1:])
        if before != rows[-1][1]:
            rows.append((_reshape_name(before), before))
        if after != before or isinstance(module, _LAYERS):
            rows.append((_layer_name(module), after))

    modes = {module: module.training for module in net.modules()}
    handles = [m.register_forward_hook(hook) for m in net.modules() if not any(True for _ in m.children())]
    try:
        net.eval()
        with torch.no_grad():
            out = net(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    if tuple(out.shape[1:]) != rows[-1][1]:
        rows.append((_reshape_name(tuple(out.shape[1:])), tuple(out.shape[1:])))
    return rows


def _draw_stack(ax, title: str, rows: list[tuple[str, tuple]]) -> None:
    """One network as boxes from top to bottom, an arrow between each, each box 'layer -> shape'."""
    ax.set(xlim=(0, 1), ylim=(len(rows) - 0.4, -0.9), title=title)
    ax.axis("off")
    for i, (name, shape) in enumerate(rows):
        shape_text = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
        ax.text(0.5, i, f"{name} -> {shape_text}", ha="center", va="center", family="monospace", fontsize=10,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "#dbe9f6" if i else "#eeeeee", "edgecolor": "#4a6fa5"})
        if i:
            ax.annotate("", xy=(0.5, i - 0.28), xytext=(0.5, i - 0.72), arrowprops={"arrowstyle": "->"})


def _parameter_place(net: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where and in what precision net's weights are (the CPU in float32 for a net without any)."""
    first = next(net.parameters(), None)
    return (first.device, first.dtype) if first is not None else (torch.device("cpu"), torch.float32)


def draw_networks(D: nn.Module, G: nn.Module, z_size: int = 100, image_size: int = 32, show: bool = True,
                  path: Path | None = None) -> None:
    """Draw D and G side by side as the shapes a batch really takes through them, to check the sizes at a glance.

    Traced with forward hooks on a batch of 2 (trace_layers), so any correct architecture draws, whatever its
    attribute names. D and G stay in their mode and on their device; the random state is left untouched.
    """
    import matplotlib.pyplot as plt

    (d_device, d_dtype), (g_device, g_dtype) = _parameter_place(D), _parameter_place(G)
    cuda = sorted({d.index or 0 for d in (d_device, g_device) if d.type == "cuda"})
    with torch.random.fork_rng(devices=cuda):
        images = torch.rand(2, 3, image_size, image_size, device=d_device, dtype=d_dtype) * 2 - 1
        z = torch.randn(2, z_size, device=g_device, dtype=g_dtype)
        stacks = {"Discriminator: image -> logit": trace_layers(D, images),
                  "Generator: z -> image": trace_layers(G, z)}
    height = max(len(rows) for rows in stacks.values())
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.62 * height + 2.2))
    for ax, (title, rows) in zip(axes, stacks.items()):
        _draw_stack(ax, title, rows)
    half = conv_out(image_size, 4, 2, 1)
    fig.text(0.5, 0.02, "Output size of a convolution:  out = floor((in + 2p - k) / s) + 1"
             f"    e.g. k=4, s=2, p=1: floor(({image_size} + 2 - 4) / 2) + 1 = {half}\n"
             "Output size of a transpose convolution:  out = (in - 1) s - 2p + k"
             f"    e.g. k=4, s=2, p=1: ({half} - 1) 2 - 2 + 4 = {conv_transpose_out(half, 4, 2, 1)}",
             ha="center", va="bottom", family="monospace", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    _save_or_show(fig, path, show)


def generator_loss_curves(d_fake: np.ndarray) -> dict[str, np.ndarray]:
    """Both generator losses and their gradients with respect to D's logit l (D = sigmoid(l)), at D(G(z)) = d_fake."""
    d_fake = np.asarray(d_fake, dtype=float)
    return {"saturating": np.log1p(-d_fake),  # log(1 - D(G(z))), which G minimises (the original minimax)
            "non_saturating": -np.log(d_fake),  # -log D(G(z)), what train_step uses
            "saturating_grad": -d_fake,  # d/dl log(1 - sigmoid(l)) = -sigmoid(l)
            "non_saturating_grad": -(1 - d_fake)}  # d/dl -log sigmoid(l) = -(1 - sigmoid(l))


def plot_generator_losses(show: bool = True, path: Path | None = None) -> None:
    """Plot the saturating and non-saturating generator losses and their gradients, to show why G uses -log D(G(z))."""
    import matplotlib.pyplot as plt

    d = np.linspace(0.001, 0.999, 999)
    curves = generator_loss_curves(d)
    fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(12, 4.2))
    ax_loss.plot(d, curves["saturating"], label="saturating: log(1 - D(G(z))), minimised")
    ax_loss.plot(d, curves["non_saturating"], label="non-saturating: -log D(G(z))")
    ax_loss.set(xlabel="D(G(z)): how real D finds the fakes", ylabel="generator loss", ylim=(-5, 5),
                title="The two generator losses")
    ax_grad.plot(d, curves["saturating_grad"], label="saturating: -D(G(z))")
    ax_grad.plot(d, curves["non_saturating_grad"], label="non-saturating: -(1 - D(G(z)))")
    ax_grad.set(xlabel="D(G(z)): how real D finds the fakes", ylabel="gradient with respect to D's logit",
                ylim=(-1.15, 0.2), title="Their gradients (what G learns from)")
    for ax in (ax_loss, ax_grad):
        ax.axvspan(0, 0.1, color="0.9")
        ax.legend(loc="lower right" if ax is ax_loss else "upper center", fontsize=9)
    ax_grad.annotate("early in training D(G(z)) is near 0:\nthe saturating gradient vanishes,\n"
                     "the non-saturating one is near -1", xy=(0.03, -0.03), xytext=(0.33, -0.92), va="center",
                     arrowprops={"arrowstyle": "->"}, fontsize=9)
    fig.tight_layout()
    _save_or_show(fig, path, show)


# Boxes and arrows: a box is (x, y, text, colour); an arrow (from, to, label, style) joins two boxes by name.
_GAME = {"z": (0.08, 0.25, "noise z\n100 numbers ~ N(0, 1)", "#dde6f7"),
         "G": (0.36, 0.25, "G\ngenerator", "#b8cdf0"),
         "fake": (0.62, 0.25, "fake image\n3 x 32 x 32", "#eeeeee"),
         "real": (0.62, 0.78, "real photo\n3 x 32 x 32", "#eeeeee"),
         "D": (0.88, 0.52, "D\ndiscriminator\n-> logit: real?", "#f6cfc4")}
_GAME_ARROWS = [("z", "G", "", "-"), ("G", "fake", "", "-"), ("fake", "D", "", "-"), ("real", "D", "", "-")]
_STEPS = {
    "1. D's update (d_optimizer.step())": (
        {"real": (0.12, 0.8, "real faces", "#eeeeee"), "z": (0.12, 0.35, "fresh z", "#dde6f7"),
         "G": (0.36, 0.35, "G", "#b8cdf0"), "Dr": (0.62, 0.8, "D", "#f6cfc4"),
         "Df": (0.62, 0.35, "D", "#f6cfc4"),
         "lr": (0.88, 0.8, "real_loss\nlabel 1 (0.9)", "#fff3c4"), "lf": (0.88, 0.35, "fake_loss\nlabel 0", "#fff3c4")},
        [("real", "Dr", "", "-"), ("z", "G", "", "-"), ("G", "Df", "fakes.detach()", "--"), ("Dr", "lr", "", "-"),
         ("Df", "lf", "", "-")],
        "d_loss = the two added; its gradients reach D only:\ndetach() cuts the path back into G"),
    "2. G's update (g_optimizer.step())": (
        {"z": (0.12, 0.55, "the z of step 1", "#dde6f7"), "G": (0.36, 0.55, "G", "#b8cdf0"),
         "D": (0.62, 0.55, "D (just updated,\nnot stepped here)", "#f6cfc4"),
         "l": (0.88, 0.55, "real_loss\nlabel 1", "#fff3c4")},
        [("z", "G", "", "-"), ("G", "D", "fakes", "-"), ("D", "l", "", "-")],
        "g_loss: G wants its fakes called real; its gradients pass\nback through D into G, and only G is stepped"),
}


def _flow(ax, boxes: dict, arrows: list, title: str = "", caption: str = "") -> None:
    """Draw named boxes and the arrows between them on ax (axes coordinates, no frame)."""
    ax.set(xlim=(0, 1), ylim=(0, 1), xticks=[], yticks=[])
    ax.axis("off")
    drawn = {name: ax.text(x, y, text, ha="center", va="center", fontsize=9,
                           bbox={"boxstyle": "round,pad=0.5", "facecolor": colour, "edgecolor": "0.4"})
             for name, (x, y, text, colour) in boxes.items()}
    for start, end, label, style in arrows:  # from the right edge of one box to the left edge of the next
        ax.annotate("", xy=(0, 0.5), xycoords=drawn[end], xytext=(1, 0.5), textcoords=drawn[start],
                    arrowprops={"arrowstyle": "->", "linestyle": style, "color": "0.2", "shrinkA": 4, "shrinkB": 4})
        if label:
            (x0, y0, *_), (x1, y1, *_) = boxes[start], boxes[end]
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.07, label, ha="center", fontsize=8, family="monospace")
    if title:
        ax.set_title(title, fontsize=10)
    if caption:
        ax.text(0.5, 0.02, caption, ha="center", va="bottom", fontsize=8.5, style="italic")


def draw_game(show: bool = True, path: Path | None = None) -> None:
    """The game at a glance: G turns noise into an image; D scores real photos and G's fakes."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3))
    _flow(ax, _GAME, _GAME_ARROWS, caption="D learns to tell real photos from fakes;  G learns to make D call its "
                                           "fakes real.  G never sees a real photo: it learns only through D.")
    _save_or_show(fig, path, show)


def draw_training_step(show: bool = True, path: Path | None = None) -> None:
    """One training step, as train_step writes it: D's update on real faces and detached fakes, then G's through D."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 3.4))
    for ax, (title, (boxes, arrows, caption)) in zip(axes, _STEPS.items()):
        _flow(ax, boxes, arrows, title, caption)
    fig.tight_layout()
    _save_or_show(fig, path, show)


def _save_or_show(fig, path: Path | None, show: bool) -> None:
    """Save fig as a PNG when there is a path, then show it inline or close it."""
    import matplotlib.pyplot as plt

    if path is not None:
        write_atomically(Path(path), lambda f: fig.savefig(f, format="png", dpi=100))
    plt.show() if show else plt.close(fig)
