"""What check_discriminator and check_generator (problem_unittests.py) see inside the networks.

An output of the right shape and range can still hide the DCGAN paper's rules broken inside: batch
norm on D's input layer or on G's output layer, a leaky ReLU with PyTorch's default slope. These
are read off one forward pass: the modules with no children, in the order they ran (forward hooks),
and every leaky ReLU's slope (a TorchFunctionMode sees nn.LeakyReLU and F.leaky_relu alike). So any
way of writing the network (nn.Sequential or not, any attribute names, F.leaky_relu in forward,
dropout, an all-convolutional D) is judged by what it does. When D raises on its input, the
nn.Linear that got the wrong number of features is named (watch_linears, input_hint).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from facegen.checks.common import CheckFailed

_NORMS = nn.modules.batchnorm._BatchNorm
_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_PAPER = ("Directly applying batch norm to all layers resulted in sample oscillation and model instability, which "
          "the DCGAN paper avoided by leaving batch norm off G's output layer and D's input layer")


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if not any(True for _ in m.children())]


@contextmanager
def watch_linears(model: nn.Module):
    """Inside: a list that gets (name, layer, features arriving, the last 4-d feature map (C, H, W) before it or
    None) for each nn.Linear of model whose input does not have its in_features."""
    found, last_map = [], [None]

    def after(module, args, out):
        if torch.is_tensor(out) and out.dim() == 4:
            last_map[0] = tuple(out.shape[1:])

    def before(name, module, args):
        x = args[0] if args and torch.is_tensor(args[0]) else None
        if x is not None and x.dim() >= 1 and x.shape[-1] != module.in_features:
            found.append((name, module, x.shape[-1], last_map[0]))

    handles = []
    for name, m in _leaves(model) if isinstance(model, nn.Module) else ():
        handles.append(m.register_forward_hook(after))
        if isinstance(m, nn.Linear):
            handles.append(m.register_forward_pre_hook(partial(before, name)))
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()


def input_hint(found: list, x: torch.Tensor, size: int, conv_dim: int):
    """A hint for common.run: the nn.Linear that got the wrong number of features (from watch_linears), or
    the shape of the input when none did."""
    def hint(e: Exception) -> str:
        if not found:
            return f". Its input had shape {tuple(x.shape)}: expected the network to take {size}x{size} images"
        name, layer, got, feature_map = found[0]
        text = f". Its layer {name}, nn.Linear({layer.in_features}, {layer.out_features}), expects " \
               f"in_features={layer.in_features} but gets {got} features per image"
        if feature_map and math.prod(feature_map) == got:
            c, h, w = feature_map
            channels = "conv_dim" if c == conv_dim else f"conv_dim * {c // conv_dim}" if c % conv_dim == 0 else str(c)
            text += f": the last feature map is {c}x{h}x{w} for {size}x{size} images, so use " \
                    f"nn.Linear({channels} * {h} * {w}, {layer.out_features})"
        return text
    return hint


class _Slopes(TorchFunctionMode):
    """Notes the slope of every leaky ReLU that runs inside (nn.LeakyReLU calls F.leaky_relu too)."""

    def __init__(self):
        super().__init__()
        self.slopes = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.leaky_relu:
            self.slopes.append(args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01))
        return func(*args, **kwargs)


def _run_order(model: nn.Module, *inputs) -> tuple[list[tuple[str, nn.Module]], list[float]]:
    """The leaf modules of model in the order they ran on inputs, and the slopes of the leaky ReLUs that ran."""
    order, slopes = [], _Slopes()
    handles = [m.register_forward_hook(lambda m, a, o, name=name: order.append((name, m)))
               for name, m in _leaves(model)]
    try:
        with torch.no_grad(), slopes:
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return order, slopes.slopes


def check_d_layers(D: nn.Module, x: torch.Tensor) -> None:
    """No batch norm on D's input layer (on the images, or right after the first convolution); leaky ReLUs with
    the paper's slope 0.2, not PyTorch's default 0.01."""
    order, slopes = _run_order(D, x)
    weighted = [i for i, (_, m) in enumerate(order) if isinstance(m, _WEIGHTED)] + [len(order)] * 2
    for i, (name, m) in enumerate(order[:weighted[1]]):
        if isinstance(m, _NORMS):
            where = "directly on the images" if i < weighted[0] else \
                f"right after D's first convolution ({order[weighted[0]][0]})"
            raise CheckFailed(
                f"Batch norm on D's input layer: {name} ({type(m).__name__}) runs {where}. {_PAPER}: remove it, so "
                "that the first convolution goes straight into nn.LeakyReLU(0.2), and use batch norm from the second "
                "convolution on")
    if any(math.isclose(s, 0.01) for s in slopes):
        names = [n for n, m in D.named_modules() if isinstance(m, nn.LeakyReLU) and math.isclose(m.negative_slope, 0.01)]
        what = f"{names[0]} is nn.LeakyReLU()" if names else "F.leaky_relu(x) is called"
        raise CheckFailed(
            f"D's leaky ReLU has PyTorch's default slope 0.01 ({what}): use nn.LeakyReLU(0.2) (or "
            "F.leaky_relu(x, 0.2)), the paper's slope, which lets more gradient through for the inputs D scores low")


def check_g_layers(G: nn.Module, z: torch.Tensor) -> None:
    """No batch norm on G's output layer: nothing normalises what G's last (transpose) convolution makes."""
    order, _ = _run_order(G, z)
    weighted = [i for i, (_, m) in enumerate(order) if isinstance(m, _WEIGHTED)]
    last = weighted[-1] if weighted else -1
    for name, m in order[last + 1:]:
        if isinstance(m, _NORMS):
            raise CheckFailed(
                f"Batch norm on G's output layer: {name} ({type(m).__name__}) runs after G's last layer "
                f"({order[last][0]}), right before the tanh. {_PAPER}: remove it, so that the last transpose "
                "convolution goes straight into the tanh")
