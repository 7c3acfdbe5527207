"""Learner aids drawn by code: the game at a glance, one training step, the two networks as stacks of shapes,
and why G uses the non-saturating loss."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from facegen.checkpoints import write_atomically

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
    _finish(fig, path, show)


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
    _finish(fig, path, show)


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
    _finish(fig, path, show)


def draw_training_step(show: bool = True, path: Path | None = None) -> None:
    """One training step, as train_step writes it: D's update on real faces and detached fakes, then G's through D."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 3.4))
    for ax, (title, (boxes, arrows, caption)) in zip(axes, _STEPS.items()):
        _flow(ax, boxes, arrows, title, caption)
    fig.tight_layout()
    _finish(fig, path, show)


def _finish(fig, path: Path | None, show: bool) -> None:
    """Save fig as a PNG when there is a path, then show it inline or close it."""
    import matplotlib.pyplot as plt

    if path is not None:
        write_atomically(Path(path), lambda f: fig.savefig(f, format="png", dpi=100))
    plt.show() if show else plt.close(fig)

