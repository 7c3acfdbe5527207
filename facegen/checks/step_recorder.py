"""Watching a train_step: what the verdicts of step_verdicts.py (for check_train_step) are built on.

How check_train_step judges a step. It runs the learner's train_step once while watching it:
every call of D and G is recorded with its input, the network's state and the random state at
that moment (so each call can be replayed exactly, dropout included), and so is every
zero_grad() and step() of the two optimizers, with the gradients that step() found. Before the
call, every parameter's .grad is filled with random "leftover" gradients, as a previous step
would leave them: a missing zero_grad() shows as that leftover inside the update.

Comparing gradients, not parameters, makes the optimizer irrelevant (SGD is used). Replaying
the learner's own calls, with the very z it sampled, makes every valid way of sampling
(fresh noise for G or the same fakes, one G call or two) compare exactly. The
gradient of any BCE of D's logits l against a label y is a combination of two gradients,
    d/dθ mean(softplus(l)) and d/dθ mean(l)   (BCE(l, y) = softplus(l) - y * l),
so a least-squares fit of the gradient step() found onto these (for D's real and fake calls,
or for G's call through D) reads off, exactly, the label and the weight of every term the
learner used: 1 and 0 for D (0.9 for real with smoothing), 1 for G. Whatever differs is named.
The last layer of D is scaled first so that D's logits spread over about [-5, 5]: then the
per-image weights sigmoid(l) differ and the two gradients are far from parallel, which is what
tells, say, the saturating loss -log(1 - D(G(z))) from the non-saturating -log D(G(z)).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(eq=False)  # compared by identity: its fields hold tensors
class Call:
    """One forward call of D or G inside train_step, with what it takes to replay it."""
    net: str
    position: int
    input: torch.Tensor
    attached: bool  # the input carries a graph back into G (not detached)
    grad_enabled: bool
    training: bool
    state: dict
    rng: tuple
    output: torch.Tensor | None = None
    kind: str = ""  # for D: "real", "fake", "both" (real and fake concatenated), "rescaled" or "other"
    source: "Call | None" = None  # for D's fakes: the G call that made them


@dataclass(frozen=True)
class ZeroGrad:
    """opt.zero_grad() of d_optimizer ("d") or g_optimizer ("g")."""
    opt: str


@dataclass(eq=False)  # compared by identity: grads holds tensors
class Step:
    """opt.step() of "d" or "g", with the .grad of every parameter of D and G at that moment."""
    opt: str
    grads: dict  # "D", "G": one gradient (or None) per parameter


@dataclass(frozen=True)
class Backward:
    """A backward pass reaching net's parameters ("D" or "G"), noted when the first of them gets its gradient."""
    net: str
    had_grad: bool  # whether that parameter's .grad already held a nonzero gradient (no zero_grad() since)


Event = Call | ZeroGrad | Step | Backward


@dataclass
class Recording:
    params: dict  # "D", "G": their parameters
    stale: dict = field(default_factory=dict)  # "D", "G": the leftover gradients put in .grad before the call
    z_size: int | None = None
    batch: int | None = None
    events: list = field(default_factory=list)  # Events, in the order they happened
    calls: list = field(default_factory=list)  # the Call events alone


def rng_state(device) -> tuple:
    cuda = torch.cuda.get_rng_state(device) if torch.device(device).type == "cuda" else None
    return torch.get_rng_state(), cuda


def set_rng_state(state: tuple, device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


@contextmanager
def watch(rec: Recording, D: nn.Module, G: nn.Module, device):
    """Record D's and G's calls and the backward passes that reach them, while inside."""
    def before(name, module, args):
        x = args[0] if args and torch.is_tensor(args[0]) else torch.empty(0)
        call = Call(name, len(rec.events), x.detach().clone(), x.requires_grad, torch.is_grad_enabled(),
                     module.training, {k: v.clone() for k, v in module.state_dict().items()}, rng_state(device))
        rec.calls.append(call)
        rec.events.append(call)

    def after(name, module, args, out):
        call = next(c for c in reversed(rec.calls) if c.net == name)
        call.output = out.detach().clone() if torch.is_tensor(out) else None

    def backward(name, param, grad):  # runs before grad is added to param.grad
        latest = rec.events[-1] if rec.events else None
        if not (isinstance(latest, Backward) and latest.net == name):
            rec.events.append(Backward(name, param.grad is not None and bool(param.grad.any())))

    handles = []
    for name, net in (("D", D), ("G", G)):
        handles += [net.register_forward_pre_hook(partial(before, name)), net.register_forward_hook(partial(after, name))]
        handles += [p.register_hook(partial(backward, name, p)) for p in net.parameters() if p.requires_grad]
    try:
        yield rec
    finally:
        for h in handles:
            h.remove()


class Recorded:
    """An optimizer that notes each zero_grad() and step() (with the gradients step() sees)."""

    def watch(self, rec: Recording, name: str):
        self._rec, self._name = rec, name
        return self

    def zero_grad(self, set_to_none: bool = True):
        if getattr(self, "_rec", None) is not None:
            self._rec.events.append(ZeroGrad(self._name))
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        if getattr(self, "_rec", None) is not None:
            grads = {n: [None if p.grad is None else p.grad.detach().clone() for p in ps]
                     for n, ps in self._rec.params.items()}
            self._rec.events.append(Step(self._name, grads))
        return super().step(closure)


class SGD(Recorded, torch.optim.SGD):
    pass


class Adam(Recorded, torch.optim.Adam):
    pass


def flat(tensors, params) -> torch.Tensor:
    return torch.cat([(torch.zeros_like(p) if t is None else t).detach().reshape(-1).double().cpu()
                      for t, p in zip(tensors, params)])


def replay(copy_: nn.Module, call: Call, x: torch.Tensor, device) -> torch.Tensor:
    """Run a copy of D or G as it was at `call` (state, train/eval mode, random state) on x."""
    copy_.load_state_dict(call.state)
    copy_.train(call.training)
    saved = rng_state(device)
    set_rng_state(call.rng, device)
    try:
        with torch.enable_grad():
            return copy_(x)
    finally:
        set_rng_state(saved, device)


def bce_basis(logits: torch.Tensor, params: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of mean(softplus(l)) and of mean(l): BCE(l, y) = softplus(l) - y * l."""
    a = torch.autograd.grad(F.softplus(logits).mean(), params, retain_graph=True, allow_unused=True)
    b = torch.autograd.grad(logits.mean(), params, allow_unused=True)
    return flat(a, params), flat(b, params)


def fit(g: torch.Tensor, columns: list) -> tuple[list, float] | None:
    """Least-squares coefficients of g on the columns, and the relative residual; None if the columns
    are too close to parallel (or zero) for the coefficients to mean anything."""
    m = torch.stack(columns, dim=1)
    scale = m.norm(dim=0)
    if scale.min() <= 1e-6 * scale.max() or torch.linalg.cond(m / scale) > 1e3:
        return None
    coef = torch.linalg.lstsq(m / scale, g.unsqueeze(1)).solution.squeeze(1) / scale
    residual = ((m @ coef - g).norm() / g.norm().clamp_min(1e-30)).item()
    return coef.tolist(), residual


def stale_share(g: torch.Tensor, stale: torch.Tensor) -> float:
    """How much of the leftover gradient (random, so nearly orthogonal to any real one) is in g."""
    return (g @ stale / (stale @ stale)).item()


def last(items, pred):
    return next((x for x in reversed(items) if pred(x)), None)


def classify_d_calls(rec: Recording, real: torch.Tensor) -> None:
    """Mark each D call: real images, fakes (and which G call made them), both concatenated, or other."""
    for c in rec.calls:
        if c.net != "D":
            continue
        x = c.input
        makers = [g for g in rec.calls if g.net == "G" and g.position < c.position and g.output is not None]
        c.source = last(makers, lambda g: g.output.shape == x.shape and torch.allclose(g.output, x, atol=1e-6, rtol=0))
        if x.shape == real.shape and torch.equal(x, real):
            c.kind = "real"
        elif c.source is not None:
            c.kind = "fake"
        elif x.shape[:1] == (2 * len(real),) and (torch.equal(x[:len(real)], real) or torch.equal(x[len(real):], real)):
            c.kind = "both"
        elif x.shape == real.shape and torch.allclose(x, real * 2 - 1, atol=1e-5):
            c.kind = "rescaled"
        else:
            c.kind = "other"


def steps(rec: Recording, opt: str) -> list[Step]:
    return [e for e in rec.events if isinstance(e, Step) and e.opt == opt]


def position(rec: Recording, event: Event) -> int:
    return next(i for i, e in enumerate(rec.events) if e is event)
