"""The verdicts on one recorded train_step: what it called, and the gradients its two updates used.

Each function takes a step_recorder.Recording of the learner's train_step and raises an
AssertionError naming the first thing the step does differently from the lesson's, and how to fix
it. step_recorder.py says how the gradients are read: labels and weights of each BCE term, by a
least-squares fit onto the gradients of D's (or G's through D's) replayed calls. training_step.py
runs the step and calls these in order: calls, D's update, detach, G's update.
"""
from __future__ import annotations

import itertools
import math

import torch

from facegen.checks import step_recorder as sr
from facegen.checks.common import SMOOTH

_TOL = 0.03  # labels and weights are read to about 1e-4; 0.03 only absorbs float32 rounding


def _num(x: float) -> str:
    return f"{round(x, 2) + 0.0:.2f}"  # no "-0.00"


def _near(x: float, y: float, tol: float = _TOL) -> bool:
    return abs(x - y) <= tol


def _is_backward(event: sr.Event, net: str) -> bool:
    return isinstance(event, sr.Backward) and event.net == net


def _empty_gradient(rec: sr.Recording, net: str, opt: str, loss: str, step: sr.Step) -> str:
    """Why the gradients that `opt`.step() found for `net` were all zero."""
    at = sr.position(rec, step)
    earlier = rec.events[:at]
    last_backward = max((i for i, e in enumerate(earlier) if _is_backward(e, net)), default=None)
    if last_backward is not None and any(isinstance(e, sr.ZeroGrad) and e.opt == step.opt
                                         for e in earlier[last_backward:]):
        return f"{net}'s gradients were erased before {opt}.step(): {opt}.zero_grad() came after " \
               f"{loss}.backward(). Call zero_grad() first, then backward(), then step()"
    later = itertools.takewhile(lambda e: not (isinstance(e, sr.Call) and e.net == net), rec.events[at + 1:])
    if last_backward is None and any(_is_backward(e, net) for e in later):
        return f"{opt}.step() ran before {loss}.backward(): {net}'s update used no gradient. " \
               "Call backward() first, then step()"
    if net == "G":
        return "G received no gradient: G's loss must reach G through D. Compute g_loss = real_loss(D(fake_images)) " \
               "on fakes that are not detached (and not made under torch.no_grad())"
    return "D received no gradient: compute d_loss from D's outputs (not detached, not under torch.no_grad()) " \
           "and call d_loss.backward() before d_optimizer.step()"


def check_z(rec: sr.Recording) -> None:
    """The z G got: N(0, 1), as the lesson draws z to sample faces (fixed_z, FID, the interpolations)."""
    z = next((c.input for c in rec.calls if c.net == "G"), None)
    if z is None or z.numel() < 100:
        return
    mean, std, low, high = z.mean().item(), z.std().item(), z.min().item(), z.max().item()
    if abs(mean) < 0.25 and 0.75 < std < 1.3:
        return
    seen = "torch.rand draws from [0, 1]" if 0 <= low and high <= 1 else \
        "that is a uniform draw from [-1, 1] (np.random.uniform(-1, 1, ...))" if -1 <= low and high <= 1 else \
        "randn scaled or shifted?"
    raise AssertionError(
        f"z is not drawn from N(0, 1): its {z.numel()} numbers have mean {mean:.2f} and standard deviation {std:.2f} "
        f"({seen}). Draw it with torch.randn(real_images.size(0), z_size, device=real_images.device): the lesson "
        "samples faces from N(0, 1) (fixed_z, FID), so G must learn from the same noise")


def batch_note(rec: sr.Recording) -> str:
    """A right step whose z has another batch size than the real images (a global batch_size): a note, not a fault."""
    z = next((c.input for c in rec.calls if c.net == "G"), None)
    if z is None or z.dim() < 1 or z.shape[0] == rec.batch:
        return ""
    return (f"Note: z has {z.shape[0]} rows for a batch of {rec.batch} real images (a batch_size from outside "
            "train_step?). It trains, as the DataLoader's batches all have batch_size images, but z = "
            "torch.randn(real_images.size(0), z_size) keeps the fakes as many as the real images for any batch.")


def check_step_calls(rec: sr.Recording, real: torch.Tensor, z_size: int) -> None:
    """What train_step called: G on a proper z, D on the real batch and the fakes, in train mode, each step once."""
    g_calls = [c for c in rec.calls if c.net == "G"]
    d_calls = [c for c in rec.calls if c.net == "D"]
    assert g_calls, "train_step never called G: generate the fakes with fake_images = G(z)"
    assert d_calls, "train_step never called D: score the images with D(real_images) and D(fake_images)"
    n = len(real)
    for c in g_calls:
        z = c.input
        assert z.dim() >= 2 and z[0].numel() == z_size, \
            f"z has the wrong shape: G got z of shape {tuple(z.shape)}, but this G was built with z_size={z_size}: " \
            f"sample z = torch.randn(real_images.size(0), z_size) (is z_size hard-coded?)"
        assert (z - z[0]).abs().max() > 0, \
            "z is the same for every image: draw one random vector per image, torch.randn(batch_size, z_size)"
    for c in rec.calls:
        if c.grad_enabled and not c.training:
            net = c.net
            raise AssertionError(
                f"{net} ran in eval mode during train_step ({net}.eval() without {net}.train()): batch norm then "
                f"uses running statistics instead of the batch's. Keep D and G in train mode while training" +
                (" (call G.train() after drawing samples in eval mode)" if net == "G" else
                 " (eval() does not freeze D: G's update leaves D alone as long as d_optimizer.step() is not called)"))
    for c in d_calls:
        if c.grad_enabled and c.kind == "rescaled":
            raise AssertionError("real_images were scaled again inside train_step: they arrive already in [-1, 1] "
                                 "(the DataLoader applies scale), and scaling twice gives [-3, 1]. Pass them to D as they are")
        if c.grad_enabled and c.kind == "both":
            raise AssertionError(
                "D scored real and fake images in one concatenated batch: with batch norm their statistics mix, and "
                "D can tell the batches apart by them. Score them separately: D(real_images), D(fake_images.detach())")
    d_steps, g_steps = len(sr.steps(rec, "d")), len(sr.steps(rec, "g"))
    if d_steps == 0 and g_steps == 0:
        raise AssertionError("expected the discriminator's parameters to change (d_optimizer.step()): neither "
                             "d_optimizer.step() nor g_optimizer.step() was called")
    if d_steps == 0:
        raise AssertionError(
            "g_optimizer.step() was called where d_optimizer.step() belongs: D was never updated, and G twice. "
            "After d_loss.backward(), call d_optimizer.step()" if g_steps > 1 else
            "expected the discriminator's parameters to change (d_optimizer.step()): d_optimizer.step() was never "
            "called. After d_loss.backward(), call d_optimizer.step()")
    if g_steps == 0:
        raise AssertionError(
            "d_optimizer.step() was called where g_optimizer.step() belongs: G was never updated, and D twice. "
            "After g_loss.backward(), call g_optimizer.step()" if d_steps > 1 else
            "expected the generator's parameters to change (g_optimizer.step()): g_optimizer.step() was never "
            "called. After g_loss.backward(), call g_optimizer.step()")
    for name, count in (("d", d_steps), ("g", g_steps)):
        assert count == 1, f"{name}_optimizer.step() was called {count} times: one train_step updates each network once"


def _update_gradient(rec, net: str):
    """The gradient net's optimizer stepped with (its one step() call), refused when it holds the gradients
    left over from before (no zero_grad()) or is empty."""
    opt, loss = f"{net.lower()}_optimizer", f"{net.lower()}_loss"
    step = sr.steps(rec, net.lower())[0]
    g = sr.flat(step.grads[net], rec.params[net])
    if sr.stale_share(g, rec.stale[net]) > 0.5:
        raise AssertionError(
            f"Missing {opt}.zero_grad(): {net}'s update included the gradients left over from the previous step "
            f"(backward() adds to .grad). Call {opt}.zero_grad() before {loss}.backward()")
    if g.norm() == 0:
        raise AssertionError(_empty_gradient(rec, net, opt, loss, step))
    return step, g


def check_d_update(rec, D_copy, smooth, device) -> None:
    """D's gradient at d_optimizer.step() against BCE(D(real), 1 or 0.9) + BCE(D(fake), 0)."""
    step, g = _update_gradient(rec, "D")
    at = sr.position(rec, step)
    before = [c for c in rec.calls if c.net == "D" and c.position < at and c.grad_enabled]
    terms = {kind: sr.last(before, lambda c, kind=kind: c.kind == kind) for kind in ("real", "fake")}
    copy_params = list(D_copy.parameters())
    columns, names = [], []
    for kind, call in terms.items():
        if call is not None:
            logits = sr.replay(D_copy, call, call.input, device)
            if not torch.allclose(logits.detach(), call.output, atol=1e-4, rtol=1e-3):
                return  # D is not reproducible (its own random generator?): leave it to the other checks
            columns += list(sr.bce_basis(logits, copy_params))
            names.append(kind)
    generic = ("D's update does not match d_loss = real_loss(D(real_images), smooth) + fake_loss(D(fake_images.detach())): "
               "build D's loss from these two terms, the real images and the fakes scored separately")
    assert columns, generic
    fitted = sr.fit(g, columns)
    if fitted is None:
        return  # D's logits too uniform (saturated) to tell the terms apart: leave it to the other checks
    coef, residual = fitted
    assert residual < 1e-2, generic
    weight = {k: coef[2 * i] for i, k in enumerate(names)}
    label = {k: -coef[2 * i + 1] / coef[2 * i] if abs(coef[2 * i]) > 1e-12 else math.nan for i, k in enumerate(names)}
    biggest = max(abs(w) for w in weight.values())
    if "real" not in weight or abs(weight["real"]) < 0.02 * biggest:
        raise AssertionError("D's loss has no real-image term: add real_loss(D(real_images), smooth) to d_loss")
    if "fake" not in weight or abs(weight["fake"]) < 0.02 * biggest:
        raise AssertionError("D's loss has no gradient from the fakes: add fake_loss(D(fake_images.detach())) to "
                             "d_loss (detach the images, not D's output)")
    _check_d_labels(label["real"], label["fake"], smooth)
    _check_d_weights(weight["real"], weight["fake"], rec.batch)


def _check_d_labels(r: float, f: float, smooth) -> None:
    """The labels D's update trains toward: r for the real images, f for the fakes."""
    if (_near(r, 0) or _near(r, 1 - SMOOTH)) and (_near(f, 1) or _near(f, SMOOTH)):
        raise AssertionError(
            f"D's labels are swapped: its update trains real images toward {_num(r)} and fakes toward {_num(f)}. "
            "Use d_loss = real_loss(D(real_images), smooth) + fake_loss(D(fake_images)): real -> 1 (0.9 with "
            "smoothing), fake -> 0")
    if _near(f, 0.1):
        raise AssertionError("Label smoothing was applied to the fake labels: D trains fakes toward 0.1. Only the real "
                             "labels are smoothed (0.9); use fake_loss, label 0, for the fakes")
    assert _near(f, 0), f"D's update trains the fakes toward {_num(f)}: expected the fake label 0 (fake_loss)"
    wanted = {True: (SMOOTH,), False: (1.0,), None: (1.0, SMOOTH)}[smooth]
    if not any(_near(r, y) for y in wanted):
        if smooth is True and _near(r, 1):
            raise AssertionError("smooth=True was ignored: D's real labels were 1. Pass it on: "
                                 "real_loss(D(real_images), smooth), which uses 0.9")
        if smooth is False and _near(r, SMOOTH):
            raise AssertionError("smooth=False was ignored: D's real labels were 0.9 (smoothing is always on). "
                                 "Pass it on: real_loss(D(real_images), smooth)")
        raise AssertionError(f"D's update trains real images toward {_num(r)}: expected the label "
                             f"{' or '.join(map(str, wanted))} (real_loss with smooth={smooth})")


def _check_d_weights(wr: float, wf: float, batch: int) -> None:
    """The weights of D's real and fake terms: equal, and 1 (a sum) or 0.5 (a mean) each."""
    if wr < 0 and wf < 0:
        raise AssertionError("D's update climbs its loss: d_loss is negated (maximised). D minimises "
                             "real_loss(D(real_images), smooth) + fake_loss(D(fake_images))")
    assert abs(wr - wf) <= _TOL * max(abs(wr), abs(wf)), \
        f"D's real and fake terms are weighted {wr:.2f} and {wf:.2f}: weight them equally, " \
        "d_loss = real_loss(...) + fake_loss(...)"
    # (real + fake) / 2 halves D's gradient; Adam's update does not depend on the gradient's scale,
    # so it trains the same way: accepted. Other multiples are not what the lesson asks for.
    if not (_near(wr, 1, 0.03) or _near(wr, 0.5, 0.015)):
        if _near(wr, batch, 0.3):
            raise AssertionError("D's loss is summed over the batch, not averaged: use the mean (reduction='mean', "
                                 "the default)")
        raise AssertionError(f"D's gradient is {wr:.2f} times that of real_loss + fake_loss: use "
                             "d_loss = real_loss(...) + fake_loss(...) (their mean is fine too)")


def check_detach(rec: sr.Recording) -> str:
    """D's update must not reach into G: the fakes it scores are detached (or made under torch.no_grad()), or
    what d_loss.backward() wrote into G's .grad is cleared before G's own backward pass. Returns a note ('' if
    none): that second way is right but costs a backward pass through G."""
    at = sr.position(rec, sr.steps(rec, "d")[0])
    fake = sr.last(rec.calls, lambda c: c.net == "D" and c.position < at and c.grad_enabled and c.kind == "fake")
    if fake is None or not fake.attached:
        return ""
    g_at = sr.position(rec, sr.steps(rec, "g")[0])
    # The first backward pass into G after D's update is G's own: did it find D's gradients still in .grad?
    g_backward = next((e for e in rec.events[at:g_at] if _is_backward(e, "G")), None)
    if g_at > at and g_backward is not None and g_backward.had_grad:
        raise AssertionError("Missing detach(): D's loss scored fake_images without .detach(), so d_loss.backward() "
                             "also wrote gradients into G's .grad, and G's update used them: g_optimizer.zero_grad() "
                             "came before d_loss.backward(). Use D(fake_images.detach()) in D's loss")
    return ("Note: D's loss scores fake_images without .detach(), so d_loss.backward() also runs back through G "
            "(retain_graph=True) and writes gradients into G's .grad; your g_optimizer.zero_grad() before G's backward "
            "pass clears them, so the step is right, but that pass through G is wasted work. D(fake_images.detach()) "
            "in D's loss saves it.")


def check_g_update(rec, D_copy, G_copy, device) -> None:
    """G's gradient at g_optimizer.step() against the non-saturating BCE(D(G(z)), 1)."""
    step, g = _update_gradient(rec, "G")
    at = sr.position(rec, step)
    call = sr.last(rec.calls, lambda c: c.net == "D" and c.position < at and c.grad_enabled and c.kind == "fake"
                 and c.attached)
    generic = "G's update does not match g_loss = real_loss(D(fake_images)): G's loss is BCE of D's logits on " \
              "the fakes against the real label 1"
    assert call is not None, generic
    fake = sr.replay(G_copy, call.source, call.source.input, device)
    logits = sr.replay(D_copy, call, fake, device)
    if not (torch.allclose(fake.detach(), call.input, atol=1e-4, rtol=1e-3)
            and torch.allclose(logits.detach(), call.output, atol=1e-4, rtol=1e-3)):
        return  # not reproducible: leave it to the other checks
    fitted = sr.fit(g, list(sr.bce_basis(logits, list(G_copy.parameters()))))
    if fitted is None:
        return  # D's logits on the fakes too uniform (saturated) to tell the losses apart
    coef, residual = fitted
    assert residual < 1e-2, generic
    w, y = coef[0], -coef[1] / coef[0] if abs(coef[0]) > 1e-12 else math.nan
    if _near(y, 0) and w < 0:
        raise AssertionError(
            "G's loss is the saturating one: G minimises -fake_loss(D(G(z))), i.e. log(1 - D(G(z))), whose gradient "
            "vanishes while D easily rejects the fakes. Use the non-saturating loss g_loss = real_loss(D(fake_images))")
    if _near(y, 0):
        raise AssertionError(
            "G was trained toward the fake label: g_loss = fake_loss(D(G(z))) teaches G to make images D calls fake. "
            "G wants its images called real: g_loss = real_loss(D(fake_images))")
    if _near(y, SMOOTH):
        raise AssertionError("Label smoothing was applied to G's loss (label 0.9): smoothing is for D's real labels "
                             "only. Use g_loss = real_loss(D(fake_images)) without smooth")
    assert _near(y, 1), f"G's update trains its fakes toward the label {_num(y)}: expected 1, g_loss = real_loss(D(fake_images))"
    if w < 0:
        raise AssertionError("G's update climbs its loss: g_loss is negated (maximised). G minimises "
                             "real_loss(D(fake_images))")
    assert _near(w, 1, 0.03) or _near(w, 0.5, 0.015), \
        f"G's gradient is {w:.2f} times that of real_loss(D(fake_images)): use g_loss = real_loss(D(fake_images))"
