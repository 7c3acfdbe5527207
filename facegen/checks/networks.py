"""What check_discriminator and check_generator (problem_unittests.py) see inside the networks.

An output of the right shape and range can still hide a network that will not train as the lesson's.
What each network does is probed, not how it is written (nn.Sequential or not, any attribute names,
F.leaky_relu in forward, dropout, an all-convolutional D):

- registration: a forward hook on every module (register_module_forward_hook) finds one that runs
  without being registered in the network (kept in a plain list), which the optimizer never sees;
- the layers that ran, in order, with their inputs and outputs (forward hooks on the leaf modules, in
  eval mode with batch norm as built, so that batch norm is an affine map that keeps the sign): batch
  norm on D's input layer or G's output layer; a stride-2 (transpose) convolution that does not halve
  (double) the size, named with the padding that would; D's channels; and the negative slope of what
  runs between two weighted layers, read off the second one's input against the first one's output;
- D's head: D's output must be its last weighted layer's output, in eval mode (no sigmoid or tanh) and
  in train mode (no dropout on the logit).

When D raises on its input, the nn.Linear that got the wrong number of features is named (watch_linears,
input_hint), or the convolution before it that did not halve the image.
"""
from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from facegen.checks.common import CheckFailed

_NORMS = nn.modules.batchnorm._BatchNorm
_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_PAPER = ("Directly applying batch norm to all layers resulted in sample oscillation and model instability, which "
          "the DCGAN paper avoided by leaving batch norm off G's output layer and D's input layer")


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if not any(True for _ in m.children())]


class _Found(list):
    """watch_linears' list, with .convs: (name, module, input, output) of the layers that made 4-d maps."""


@contextmanager
def watch_linears(model: nn.Module):
    """Inside: a list that gets (name, layer, features arriving, the last 4-d feature map (C, H, W) before it or
    None) for each nn.Linear of model whose input does not have its in_features."""
    found, last_map = _Found(), [None]

    def after(name, module, args, out):
        if torch.is_tensor(out) and out.dim() == 4:
            last_map[0] = tuple(out.shape[1:])
            if args and torch.is_tensor(args[0]):
                convs.append((name, module, args[0].detach().clone(), out.detach().clone()))

    def before(name, module, args):
        x = args[0] if args and torch.is_tensor(args[0]) else None
        if x is not None and x.dim() >= 1 and x.shape[-1] != module.in_features:
            found.append((name, module, x.shape[-1], last_map[0]))

    handles = []
    for name, m in _leaves(model) if isinstance(model, nn.Module) else ():
        handles.append(m.register_forward_hook(partial(after, name)))
        if isinstance(m, nn.Linear):
            handles.append(m.register_forward_pre_hook(partial(before, name)))
    convs = []
    found.convs = convs
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()


def input_hint(found: list, x: torch.Tensor, size: int, conv_dim: int):
    """A hint for common.run: the nn.Linear that got the wrong number of features (from watch_linears), or
    the shape of the input when none did."""
    def hint(e: Exception) -> str:
        problem = size_problem(getattr(found, "convs", []))
        if problem:
            return f". Its layer {problem}"
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


def unregistered(model: nn.Module, *inputs) -> list[nn.Module]:
    """The modules that ran inside model(*inputs) without being registered in it (kept in a plain list, dict or
    tuple): PyTorch's .parameters(), .to(), .apply() and so the optimizer and the weights init miss them."""
    mine, strangers = {id(t) for t in (*model.parameters(), *model.buffers())}, []

    def seen(module, args, out):  # a module whose own weights D does not hold (a container's slice is fine)
        own = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
        if any(id(t) not in mine for t in own) and module not in strangers:
            strangers.append(module)

    handle = nn.modules.module.register_module_forward_hook(seen)
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        handle.remove()
    return strangers


def check_registered(model: nn.Module, name: str, *inputs) -> None:
    """Every module model runs is registered in it (nn.ModuleList / nn.Sequential / an attribute)."""
    strangers = unregistered(model, *inputs)
    if not strangers:
        return
    holders = [f"self.{attr}" for attr, value in vars(model).items()
               if isinstance(value, (list, tuple, dict)) and any(
                   m is s for m in (value.values() if isinstance(value, dict) else value) for s in strangers)]
    where = f"{holders[0]} is a plain Python {type(vars(model)[holders[0][5:]]).__name__}" if holders else \
        f"{type(strangers[0]).__name__} layers are kept outside {name}'s attributes"
    raise CheckFailed(
        f"{name}'s layers are not registered: {where}, so {name}.parameters() misses their weights (the optimizer "
        f"never updates them, .to(device) and the weights init never reach them). Keep them in nn.ModuleList([...]) "
        f"or nn.Sequential(...), or assign each to an attribute (self.conv1 = nn.Conv2d(...))")


def _trace(model: nn.Module, *inputs, train: bool = False) -> list[tuple[str, nn.Module, torch.Tensor, torch.Tensor]]:
    """(name, module, input, output) of every leaf module that ran, in order, with the model in eval mode (batch norm
    an affine map, dropout off) unless train=True; the model's mode is put back."""
    records, was = [], model.training

    def hook(name, module, args, out):
        x = next((a for a in args if torch.is_tensor(a)), None)
        if x is not None and torch.is_tensor(out):
            records.append((name, module, x.detach().clone(), out.detach().clone()))  # before any in-place change

    if not train:  # batch norm as built: running mean 0 and variance 1, an affine map that keeps the sign
        model = copy.deepcopy(model)
        for m in model.modules():
            if isinstance(m, _NORMS) and m.track_running_stats:
                m.reset_running_stats()
    handles = [m.register_forward_hook(partial(hook, name)) for name, m in _leaves(model)]
    try:
        model.train(train)
        with torch.no_grad():
            model(*inputs)
    finally:
        model.train(was)
        for handle in handles:
            handle.remove()
    return records


def _layer(name: str, m: nn.Module) -> str:
    k, s, p = m.kernel_size[0], m.stride[0], m.padding[0]
    return f"{name}, {type(m).__name__}({m.in_channels}, {m.out_channels}, kernel_size={k}, stride={s}, padding={p})"


def size_problem(records) -> str:
    """For the first stride-2 (transpose) convolution that does not halve (double) its input: which, and the padding
    that would; '' when all do."""
    for name, m, x, out in records:
        if not isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) or m.stride[0] != 2 or x.dim() != 4:
            continue
        transposed = isinstance(m, nn.ConvTranspose2d)
        n, got = x.shape[-1], out.shape[-1]
        want = 2 * n if transposed else n // 2
        if got == want:
            continue
        k, p = m.kernel_size[0], m.padding[0]
        if transposed:
            formula = f"(in - 1) * stride - 2 * padding + kernel_size = ({n} - 1) * 2 - 2 * {p} + {k} = {got}"
            right = (k - 2) / 2
        else:
            formula = f"(in + 2 * padding - kernel_size) // stride + 1 = ({n} + 2 * {p} - {k}) // 2 + 1 = {got}"
            right = (k - 1) // 2
        fix = f"padding={int(right)}" if right == int(right) and right >= 0 else "kernel_size=4 with padding=1"
        verb = "doubles" if transposed else "halves"
        return (f"{_layer(name, m)}, turns {n}x{n} into {got}x{got} ({formula}): with kernel_size={k} and stride 2, "
                f"{fix} {verb} the size, {n}x{n} -> {want}x{want}")
    return ""


def _slope(x: torch.Tensor, y: torch.Tensor) -> float | None:
    """The negative slope of an elementwise y = f(x) that is the identity for x > 0 (up to a scale), or None when
    y is not elementwise in x."""
    if x.numel() != y.numel():
        return None
    x, y = x.flatten().double(), y.flatten().double()
    big = 0.05 * x.abs().max()
    neg, pos = x < -big, x > big
    if neg.sum() < 10 or pos.sum() < 10:
        return None
    gain = (y[pos] / x[pos]).median()
    if gain.abs() < 1e-6:
        return None
    return ((y[neg] / x[neg]).median() / gain).item()


def check_d_layers(D: nn.Module, x: torch.Tensor) -> None:
    """What D does inside, probed: registered layers; strided convolutions that halve the image; no batch norm on
    the input layer; channels that grow; a leaky ReLU of slope about 0.2 after every hidden layer; nothing after the
    head (the last weighted layer)."""
    check_registered(D, "D", x)
    records = _trace(D, x)
    order = [(name, m) for name, m, _, _ in records]
    weighted = [i for i, (_, m) in enumerate(order) if isinstance(m, _WEIGHTED)] + [len(order)] * 2
    for i, (name, m) in enumerate(order[:weighted[1]]):
        if isinstance(m, _NORMS):
            where = "directly on the images" if i < weighted[0] else \
                f"right after D's first convolution ({order[weighted[0]][0]})"
            raise CheckFailed(
                f"Batch norm on D's input layer: {name} ({type(m).__name__}) runs {where}. {_PAPER}: remove it, so "
                "that the first convolution goes straight into nn.LeakyReLU(0.2), and use batch norm from the second "
                "convolution on")
    problem = size_problem([r for r in records if getattr(r[1], "out_channels", 0) != 1])  # a conv head may shrink more
    if problem:
        raise CheckFailed(f"D's layer {problem}")
    channels = [out.shape[1] for _, m, _, out in records  # the hidden convolutions' (a conv head gives 1)
                if isinstance(m, nn.Conv2d) and out.dim() == 4 and out.shape[1] > 1]
    if len(channels) >= 2 and channels[-1] <= channels[0]:
        raise CheckFailed(
            f"D's channels do not grow: its convolutions give {' -> '.join(map(str, channels))} channels. Double them "
            "at each layer (conv_dim, conv_dim * 2, conv_dim * 4, ...), so D gains features as the image shrinks")
    layers = [r for r in records if isinstance(r[1], _WEIGHTED)]
    for (name, _, _, out), (next_name, _, x_next, _) in zip(layers, layers[1:]):
        slope = _slope(out, x_next)
        if slope is None or 0.08 <= slope <= 0.35:  # about 0.2 (0.1 and 0.3 are seen too)
            continue
        what = "no activation (slope 1)" if slope > 0.9 else "a ReLU (slope 0)" if abs(slope) < 0.005 else \
            "a leaky ReLU with PyTorch's default slope 0.01 (nn.LeakyReLU())" if abs(slope - 0.01) < 0.005 else \
            f"an activation of negative slope {slope:.2f}"
        raise CheckFailed(
            f"Between D's layers {name} and {next_name} there is {what}: use nn.LeakyReLU(0.2) (or F.leaky_relu(x, "
            "0.2)) after every hidden layer, the paper's slope, which lets gradient through for the images D scores "
            "low (a ReLU passes none for them, no activation makes D one linear map)")
    _check_head(D, x, layers[-1][0] if layers else None)


def _check_head(D: nn.Module, x: torch.Tensor, head_name: str | None) -> None:
    """D's output is its head's output: nothing (dropout, an activation) runs after the last weighted layer."""
    if head_name is None:
        return
    head = dict(D.named_modules())[head_name]
    with torch.no_grad():
        head.weight.mul_(100)  # logits of a few units, where a sigmoid or a tanh is far from the identity
    try:
        _compare_head(D, x, head, head_name)
    finally:
        with torch.no_grad():
            head.weight.div_(100)


def _compare_head(D: nn.Module, x: torch.Tensor, head: nn.Module, head_name: str) -> None:
    for train in (True, False):
        seen = []
        handle = head.register_forward_hook(lambda m, a, out: seen.append(out.detach()))
        try:
            was = D.training
            D.train(train)
            with torch.no_grad():
                out = D(x)
        finally:
            D.train(was)
            handle.remove()
        if not seen or not torch.is_tensor(out) or seen[-1].numel() != out.numel():
            return
        if not torch.allclose(seen[-1].flatten(), out.flatten(), atol=1e-6):
            if train:
                continue  # judged in eval mode; random layers are told apart below
            h, o = seen[-1].flatten(), out.flatten()
            what = "a sigmoid" if torch.allclose(torch.sigmoid(h), o, atol=1e-5) else \
                "a tanh" if torch.allclose(torch.tanh(h), o, atol=1e-5) else "something"
            raise CheckFailed(
                f"D changes its logit after its last layer ({head_name}): {what} runs after it. Remove it: D's output "
                "must be the raw logit, any real number, as binary_cross_entropy_with_logits (BCEWithLogitsLoss) "
                "takes it and applies the sigmoid itself")
        if train:
            return
    raise CheckFailed(
        f"Something random runs after D's last layer ({head_name}) in training: dropout on the logit. Remove it (or "
        "move it before the last layer): D's output must be the raw logit of its last layer")


def check_g_layers(G: nn.Module, z: torch.Tensor) -> None:
    """No batch norm on G's output layer: nothing normalises what G's last (transpose) convolution makes."""
    records = _trace(G, z, train=True)
    order = [(name, m) for name, m, _, _ in records]
    weighted = [i for i, (_, m) in enumerate(order) if isinstance(m, _WEIGHTED)]
    last = weighted[-1] if weighted else -1
    for name, m in order[last + 1:]:
        if isinstance(m, _NORMS):
            raise CheckFailed(
                f"Batch norm on G's output layer: {name} ({type(m).__name__}) runs after G's last layer "
                f"({order[last][0]}), right before the tanh. {_PAPER}: remove it, so that the last transpose "
                "convolution goes straight into the tanh")


def g_size_problem(G: nn.Module, z: torch.Tensor) -> str:
    """Which of G's layers does not double the size, as a message tail ('' if none)."""
    problem = size_problem(_trace(G, z))
    return f": its layer {problem}" if problem else ""


def z_shape_hint(G: nn.Module, z: torch.Tensor, z_size: int | None = None) -> str:
    """The fix for an error G raised on z of shape (batch, z_size) (for common.run's hint=), or ''."""
    try:
        with torch.no_grad():
            G(z.view(len(z), -1, 1, 1))
        takes_4d = True
    except Exception:  # noqa: BLE001 - any error: it does not take 4-d z either
        takes_4d = False
    if takes_4d:
        return (". G takes z only as (batch, z_size, 1, 1), the PyTorch tutorial's shape, but the lesson gives G z of "
                "shape (batch, z_size) (train_step, the samples, FID): reshape it at the start of forward, "
                "z = z.view(z.size(0), -1, 1, 1)")
    return ""
