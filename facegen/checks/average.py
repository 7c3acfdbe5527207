"""How check_weight_average (problem_unittests.py) judges step 8's update_average(average, G, decay).

update_average moves the average toward G, average <- decay * average + (1 - decay) * G, parameter
by parameter and in place: the average is a copy of G (requires_grad False) that helpers keeps and
samples from, so only its own tensors, changed in place, carry the update out of the function.
The check runs it on a small network (Linear, BatchNorm1d, Linear) with known weights, for decays
0.9, 0.5, 0 and 1, and compares every parameter with the formula; a wrong tensor is matched against
the usual slips (decay and 1 - decay swapped, .add_ forgotten, ...) to name the mistake. It also
requires G untouched, the average's tensors the same objects, and no autograd graph.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from facegen.checks import common
from facegen.checks.common import CheckFailed

_DECAYS = (0.9, 0.5, 0.0, 1.0)  # 0.9 first: there every slip below gives a different result
_FIX = "a.mul_(decay).add_(p, alpha=1 - decay) for each a, p in zip(average.parameters(), G.parameters())"
_IN_PLACE = "update the average's tensors in place (a.mul_(...)), assigning a = ... changes nothing outside the function"
_SLIPS = {  # what the average became instead, and why
    "swapped": ("decay and 1 - decay are swapped: the average moves almost all the way to G each step: the old "
                "average should keep the weight `decay`"),
    "scaled": "the average was scaled by decay, but G's share was not added (a .add_ forgotten?)",
    "unscaled": "G's share was added, but the old average was not scaled by decay first",
    "copy": "the average became a copy of G: it should move only the share 1 - decay of the way toward G",
}


def _networks(seed: int) -> tuple[nn.Module, nn.Module]:
    """G and its average, a copy with other weights (as after some training), every value known."""
    gen = torch.Generator().manual_seed(seed)
    G = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.LeakyReLU(0.2), nn.Linear(4, 2))
    average = copy.deepcopy(G).requires_grad_(False)
    with torch.no_grad():
        for net in (G, average):
            for t in net.state_dict().values():
                if t.is_floating_point():
                    t.copy_(torch.randn(t.shape, generator=gen).abs() + 0.1)  # positive: also fine for running_var
    return G, average


def _kind(a: torch.Tensor, p: torch.Tensor, got: torch.Tensor, decay: float) -> str:
    """What got is, given the average a and G's p before the call: "right", "unchanged", a slip, or "other"."""
    candidates = {"right": decay * a + (1 - decay) * p, "unchanged": a, "swapped": (1 - decay) * a + decay * p,
                  "scaled": decay * a, "unscaled": a + (1 - decay) * p, "copy": p}
    return next((k for k, c in candidates.items() if torch.allclose(got.double(), c, rtol=1e-5, atol=1e-6)), "other")


def _error_hint(e: Exception) -> str:
    text = str(e)
    if "can't be cast" in text and "Long" in text:
        return (". Batch norm's num_batches_tracked, an integer buffer, cannot be averaged: average the parameters "
                "only, zip(average.parameters(), G.parameters()), not the state_dict()")
    if "must match the size" in text or "size of tensor" in text:
        return (". The average's tensors and G's were paired out of step: zip(average.parameters(), "
                "G.parameters()) (G.state_dict() and G.buffers() also hold batch norm's running statistics)")
    return ""


def _check_values(before: dict, G_before: dict, average: nn.Module, decay: float, returned) -> None:
    """Each of the average's parameters is decay * before + (1 - decay) * G's; else name the slip."""
    kinds = {name: _kind(before[name], G_before[name], a.detach(), decay) for name, a in average.named_parameters()}
    wrong = [name for name, k in kinds.items() if k != "right"]
    if not wrong:
        return
    found = set(kinds[name] for name in wrong)
    if found == {"unchanged"} and len(wrong) < len(kinds):
        raise CheckFailed(f"only some of the average's parameters were updated: {', '.join(wrong)} kept their values "
                          f"(decay={decay}). Update every one: {_FIX}")
    if found == {"unchanged"}:
        did = f"returned a {type(returned).__name__} and left" if returned is not None else "left"
        raise CheckFailed(f"update_average {did} the average unchanged (decay={decay}): {_IN_PLACE}")
    slip = next((kinds[name] for name in wrong if kinds[name] in _SLIPS), None)
    if slip is not None:
        raise CheckFailed(f"{_SLIPS[slip]} (decay={decay}, average.{wrong[0]}): use {_FIX}")
    name = wrong[0]
    expected = decay * before[name] + (1 - decay) * G_before[name]
    got = dict(average.named_parameters())[name].detach()
    paired = " The parameters before it are right: is each paired with G's parameter of the same name? " \
             "G.state_dict() and G.buffers() also hold batch norm's running statistics." if len(wrong) < len(kinds) else ""
    raise CheckFailed(f"average.{name} is not decay * average + (1 - decay) * G with decay={decay}: expected "
                      f"{expected.flatten()[0].item():.4f}, got {got.flatten()[0].item():.4f} for its first value. "
                      f"Use {_FIX}.{paired}")


def _check_one(update_average, decay: float, seed: int) -> None:
    G, average = _networks(seed)
    tensors = dict(average.named_parameters())
    before = {k: v.detach().double().clone() for k, v in tensors.items()}
    G_before = {k: v.detach().double().clone() for k, v in G.named_parameters()}
    G_state = {k: v.clone() for k, v in G.state_dict().items()}
    with torch.enable_grad():  # as in the training loop: the update itself must not build a graph
        returned = common.run(f"update_average(average, G, decay={decay})", update_average, average, G, decay,
                                hint=_error_hint)
    changed = [k for k, v in G.state_dict().items() if not torch.equal(v, G_state[k])]
    if changed:
        raise CheckFailed(f"update_average changed G ({changed[0]}): G is only read, the average is what moves "
                          "(are average and G swapped?)")
    replaced = [k for k, v in average.named_parameters() if v is not tensors.get(k)]
    if replaced:
        raise CheckFailed(f"update_average replaced average.{replaced[0]} with a new tensor: {_IN_PLACE}")
    graph = [k for k, v in average.named_parameters() if v.requires_grad or v.grad_fn is not None]
    if graph:
        raise CheckFailed(f"update_average built an autograd graph: average.{graph[0]} now requires grad. Do the "
                          "update under `with torch.no_grad():` (the average is never trained)")
    _check_values(before, G_before, average, decay, returned)


def check(update_average) -> None:
    """Raise a CheckFailed naming the first thing update_average does differently; see the top."""
    for seed, decay in enumerate(_DECAYS):
        _check_one(update_average, decay, seed)
