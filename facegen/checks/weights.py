"""How check_weights_init (problem_unittests.py) judges each layer after weights_init_normal: the DCGAN
initialisation, conv and linear weights ~ N(0, 0.02), batch norm weights ~ N(1, 0.02), biases 0, with the
usual slip behind a wrong mean or std named (the variance for the std, normal_'s default std 1, ...).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def init_error_hint(e: Exception) -> str:
    text = str(e)
    if "'NoneType'" in text:
        return (". A layer built with bias=False has m.bias = None: initialise the bias only "
                "`if m.bias is not None`")
    if "has no attribute 'weight'" in text or "has no attribute 'bias'" in text:
        return (". weights_init_normal is applied to every module (ReLU, Sequential, ...): act only on the layer "
                "types that have weights, e.g. isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)); "
                "note that classname.find('Conv') is -1, which is true, when it is not found")
    if "leaf Variable that requires grad" in text:
        return ". Change parameters with nn.init.normal_(m.weight, 0.0, 0.02) (or inside torch.no_grad())"
    return ""


def _weight_diagnosis(mean: float, std: float) -> tuple[str, str]:
    """(what is wrong, how to fix it) for conv/linear weights that are not ~ N(0, 0.02)."""
    normal = "nn.init.normal_(m.weight, 0.0, 0.02)"
    if abs(mean - 1) < 0.05:
        return "are centred at 1 (the batch norm init)", f"Conv and linear weights are centred at 0: {normal}"
    if abs(std - 1) < 0.1:
        return "have std 1, normal_'s default", \
            f"Pass the std as the third argument (nn.init.normal_(w, 0.02) sets the mean): {normal}"
    if abs(std - 0.2) < 0.02:
        return "have std 0.2, ten times too large", f"Use {normal}"
    if abs(std - 0.02 ** 2) < 1e-4:
        return "have std 0.0004 = 0.02 squared", f"normal_ takes the standard deviation, not the variance: {normal}"
    if abs(std - math.sqrt(0.02)) < 0.015:
        return "have std 0.14 = sqrt(0.02)", f"normal_ takes the standard deviation, 0.02: {normal}"
    if abs(mean) < 0.005:
        return f"have std {std:.4f} instead of 0.02", f"Use {normal}"
    return f"have mean {mean:.4f} instead of 0", f"Use {normal}"


def _kurtosis(w: torch.Tensor) -> float:
    w = w.double().flatten()
    c = w - w.mean()
    return ((c ** 4).mean() / (c ** 2).mean() ** 2).item()


def check_weighted(m: nn.Module, where: str, before: torch.Tensor) -> None:
    """A conv or linear layer: weights ~ N(0, 0.02), bias 0 or PyTorch's default."""
    kind, w = type(m).__name__, m.weight.detach().float()
    mean, std = w.mean().item(), w.std().item()
    got = f"{where}: expected weights with mean 0 and std 0.02, got mean {mean:.4f} and std {std:.4f}"
    assert not torch.equal(m.weight.detach(), before), \
        f"{kind} weights were not initialised: {got} (PyTorch's default). Make weights_init_normal handle nn.{kind} too"
    if w.numel() >= 500 and _kurtosis(w) < 2.3:  # a normal's kurtosis is 3, a uniform's 1.8
        raise AssertionError(f"{kind} weights are uniform, not normal: {got}. "
                             "Use nn.init.normal_(m.weight, 0.0, 0.02), not uniform_")
    if not (abs(mean) < 0.005 and 0.015 < std < 0.025):
        what, fix = _weight_diagnosis(mean, std)
        raise AssertionError(f"{kind} weights {what}: {got}. {fix}")
    if m.bias is not None:
        default_bound = 1 / math.sqrt(max(1, nn.init._calculate_fan_in_and_fan_out(m.weight)[0]))
        biggest = m.bias.detach().float().abs().max().item()
        assert biggest <= max(default_bound, 0.1) + 1e-6, \
            f"{kind} biases are too large: {where}: expected biases of 0 (or PyTorch's default, within " \
            f"+-{default_bound:.3f}), got values up to {biggest:.3f}. Use nn.init.zeros_(m.bias)"


def check_batch_norm(m: nn.Module, where: str) -> None:
    """A batch norm layer: weights ~ N(1, 0.02) or 1, biases 0."""
    kind, w, b = type(m).__name__, m.weight.detach().float(), m.bias.detach().float()
    mean, std = w.mean().item(), w.std().item()
    if not (abs(mean - 1) < 0.01 and std < 0.03):
        what = ("are 0, which blocks the signal" if w.abs().max() < 1e-6 else
                "got the conv init (centred at 0)" if abs(mean) < 0.1 else
                f"have std {std:.2f} instead of 0.02" if abs(mean - 1) < 0.1 else
                f"are centred at {mean:.2f} instead of 1")
        raise AssertionError(
            f"{kind} weights {what}: {where} (batch norm): expected weights with mean 1 and std 0.02, "
            f"got mean {mean:.4f} and std {std:.4f}. Use nn.init.normal_(m.weight, 1.0, 0.02) "
            "(or leave them at PyTorch's default of 1)")
    assert b.abs().max() < 1e-6, \
        f"{kind} biases are not 0: {where} (batch norm): expected biases of 0, got values up to " \
        f"{b.abs().max().item():.4f}. Use nn.init.zeros_(m.bias) (or leave them at PyTorch's default)"
