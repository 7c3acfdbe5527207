"""How check_optimizers (problem_unittests.py) judges step 7's two optimizers.

Each must be torch.optim.Adam over exactly its own network's current parameters (compared by
identity: an optimizer made before the networks were rebuilt holds tensors that no longer train),
with the lesson's lr and betas. Adam's speed options (fused, foreach, capturable) are free.
Each mistake is named in one sentence with its fix.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from facegen.checks.common import CheckFailed

_ADAM_LR, _ADAM_BETAS = 1e-3, (0.9, 0.999)  # Adam's defaults


def _held(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _make(net: str, lr: float, betas: tuple) -> str:
    return f"torch.optim.Adam({net}.parameters(), lr={lr:g}, betas={tuple(betas)})"


def parameters_problem(optimizer, own: str, net: nn.Module, other: str, other_net: nn.Module) -> str | None:
    """What is wrong with the parameters `optimizer` holds, as the end of a sentence that starts with its
    name, or None when it holds exactly `net`'s current parameters. check_optimizers and helpers.train
    (which refuses to train with such optimizers) both say it this way."""
    held = {id(p) for p in _held(optimizer)}
    mine, theirs = {id(p) for p in net.parameters()}, {id(p) for p in other_net.parameters()}
    if held & theirs and not held & mine:
        return f"holds {other}'s parameters, not {own}'s (are the two optimizers swapped?)"
    if held & theirs:
        return f"holds {other}'s parameters as well as {own}'s: each optimizer updates its own network only"
    if not held & mine:
        return (f"holds none of {own}'s current parameters: it was made for a {own} built before this one. Run the "
                "optimizer cell again after building the networks")
    missing = [n for n, p in net.named_parameters() if id(p) not in held]
    if missing:
        return (f"misses {len(missing)} of {own}'s parameter tensors ({', '.join(missing[:3])}"
                + (", ...)" if len(missing) > 3 else ")") + f": give it all of {own}.parameters()")
    if held - mine:
        return (f"also holds {len(held - mine)} tensors that are not {own}'s current parameters: give it all of "
                f"{own}.parameters()")
    return None


def _check_settings(name: str, optimizer, own: str, lr: float, betas: tuple) -> None:
    """Adam (not AdamW, SGD, ...) with the lesson's lr and betas in every parameter group."""
    fix = f"{name} = {_make(own, lr, betas)}"
    kind = type(optimizer).__name__
    if isinstance(optimizer, torch.optim.AdamW) or not isinstance(optimizer, torch.optim.Adam):
        raise CheckFailed(f"{name} is {kind}, not Adam: the DCGAN paper trains both networks with Adam: {fix}")
    for group in optimizer.param_groups:
        got_lr, got_betas = float(group["lr"]), tuple(float(b) for b in group["betas"])
        if not math.isclose(got_lr, lr, rel_tol=1e-6):
            default = ", Adam's default" if math.isclose(got_lr, _ADAM_LR) else ""
            raise CheckFailed(f"{name}'s learning rate is {got_lr:g}{default}, not {lr:g}: pass lr=lr ({fix})")
        if not all(math.isclose(g, b, rel_tol=1e-6) for g, b in zip(got_betas, betas)):
            if math.isclose(got_betas[0], _ADAM_BETAS[0]) and not math.isclose(betas[0], _ADAM_BETAS[0]):
                raise CheckFailed(f"{name}'s beta1 is 0.9, Adam's default: the DCGAN paper's {betas[0]:g} keeps the "
                                  f"momentum short because the target moves. Pass betas=betas ({fix})")
            raise CheckFailed(f"{name}'s betas are {got_betas}, not {tuple(betas)}: pass betas=betas ({fix})")
        if float(group.get("weight_decay", 0)) != 0:
            raise CheckFailed(f"{name} has weight_decay={group['weight_decay']:g}: the lesson uses none ({fix})")


def check(d_optimizer, g_optimizer, D: nn.Module, G: nn.Module, lr: float, betas: tuple) -> None:
    """Raise a CheckFailed naming the first thing wrong with the two optimizers; see the top."""
    for name, optimizer, nets in (("d_optimizer", d_optimizer, {"D": D, "G": G}),
                                  ("g_optimizer", g_optimizer, {"G": G, "D": D})):
        own = next(iter(nets))
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise CheckFailed(f"{name} is a {type(optimizer).__name__}, not an optimizer: "
                              f"{name} = {_make(own, lr, betas)}")
        (_, net), (other, other_net) = nets.items()
        problem = parameters_problem(optimizer, own, net, other, other_net)
        if problem:
            raise CheckFailed(f"{name} {problem}: {name} = {_make(own, lr, betas)}")
        _check_settings(name, optimizer, own, lr, betas)
