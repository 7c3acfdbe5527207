"""How check_train_step (problem_unittests.py) grades a learner's train_step: grade() below.

1. What one step does. diagnose_step runs train_step once under watch (step_recorder.py) on
   small networks whose .grad hold leftover gradients, and step_verdicts.py compares what it
   called and the gradients of its two updates exactly with the lesson's step. It runs twice
   (smooth=True and False when train_step takes `smooth`), which also shows a z that never changes.
2. What it returns, and that D learns: a few steps with Adam, as in training, on a fixed real batch.
An exception train_step raises is explained in the learner's terms (explain_error).
"""
from __future__ import annotations

import copy
import inspect
import itertools
import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from facegen.checks import common, networks
from facegen.checks import step_recorder as sr
from facegen.checks import step_verdicts as verdicts


# z_size 20 (not 100) exposes a hard-coded z_size, batch 12 a global batch_size. The learning rate is
# small so that D, after its update, still gives G the spread of logits that the fit needs.
_Z, _B, _DIM, _LR = 20, 12, 8, 1e-4


# What autograd names when an optimizer's step changed a weight that a graph still needs (a weight's
# transpose or view, not a layer's output).
_PARAMETER_OPS = {"TBackward0", "AsStridedBackward0", "AsStridedBackward1", "ViewBackward0", "PermuteBackward0"}


def explain_error(e: Exception, rec: sr.Recording) -> str:
    """A learner-level reason for an exception train_step raised, as a whole message."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    short = text.split(" (or directly")[0].split(". ")[0]
    if len(short) > 160:  # cut at a clause, not mid-word
        short = short[:max(short.rfind(": ", 0, 160), short.rfind(", ", 0, 160), 40)].rstrip(" ,:")
    raised = f"train_step raised {e.__class__.__name__} ({short})"
    d_steps = sr.steps(rec, "d")
    d_at = sr.position(rec, d_steps[0]) if d_steps else len(rec.events)
    fakes = [c for c in rec.calls if c.net == "D" and c.kind == "fake" and c.grad_enabled]
    rescored = any(c.position > d_at for c in fakes)
    if "backward through the graph a second time" in text:
        if rescored and any(c.attached and c.position < d_at for c in fakes):
            return (f"Missing detach(): {raised}. D's loss scored fake_images without .detach(), so d_loss.backward() "
                    "went through G and freed its graph; g_loss.backward() then needs it again. Use "
                    "D(fake_images.detach()) in D's loss (retain_graph=True would run, but sends D's loss back "
                    "through G for nothing and leaves gradients in G's .grad)")
        if d_steps and not rescored:
            return (f"G's loss reuses D's output from before D's update: {raised}. d_loss.backward() freed that "
                    "graph. After d_optimizer.step(), score the fakes again: g_loss = real_loss(D(fake_images))")
        return f"{raised}: each backward() needs its own forward pass (call D again for G's loss)"
    if "NVIDIA driver" in text or "not compiled with CUDA" in text:
        return (f"train_step sends tensors to a CUDA GPU that this machine does not have: {raised}. Put new tensors "
                "where the real images are, device=real_images.device (or .to(real_images.device)), instead of .cuda()")
    inplace = re.search(r"\[torch\.\w+ \[([\d, ]*)\]\], which is output \d+ of (\w+)", text)
    shapes = {tuple(p.shape) for ps in rec.params.values() for p in ps} | \
        {tuple(reversed(p.shape)) for ps in rec.params.values() for p in ps}
    weight = inplace and (inplace.group(2) in _PARAMETER_OPS or
                          tuple(int(n) for n in inplace.group(1).split(",") if n.strip()) in shapes)
    if inplace and "modified by an inplace operation" in text and not weight:
        shape, op = inplace.group(1), inplace.group(2).removesuffix("Backward0")
        which = {"Tanh": "G's output (its tanh): fake_images", "Sigmoid": "a sigmoid's output (d_out.sigmoid_()?)"}
        return (f"An in-place operation changed a tensor that backward still needs: {raised}. It is "
                f"{which.get(op, f'the output of {op}')}, of shape ({shape}). Use the out-of-place form, "
                "x = x + noise instead of x.add_(noise) or x += noise, torch.sigmoid(x) instead of x.sigmoid_(), "
                "or change it only after the backward() that needs it")
    if "modified by an inplace operation" in text and d_steps and not rescored:
        return (f"G's loss reuses D's output from before D's update: {raised}. d_optimizer.step() has changed D since "
                "(retain_graph=True does not help). Score the fakes again: g_loss = real_loss(D(fake_images))")
    g_calls = [c for c in rec.calls if c.net == "G"]
    if g_calls:
        z, G_at = g_calls[-1].input, next(iter(g_calls[-1].state.values()), None)
        if G_at is not None and z.device != G_at.device:
            return (f"z is on the wrong device: {raised}. z is on {z.device}, G on {G_at.device}: create it with "
                    "torch.randn(real_images.size(0), z_size, device=real_images.device)")
        g_raised = g_calls[-1].output is None  # the forward hook never ran
        wanted = (rec.batch, rec.z_size)
        if rec.z_size and (z.dim() < 2 or z[0].numel() != rec.z_size or (g_raised and tuple(z.shape) != wanted)):
            return (f"z has the wrong shape: {raised}. G got z of shape {tuple(z.shape)}; this G was built with "
                    f"z_size={rec.z_size} and takes z of shape (batch, z_size) = {wanted}: sample "
                    "z = torch.randn(real_images.size(0), z_size)" +
                    (" (is z_size hard-coded?)" if z.dim() >= 2 and z[0].numel() != rec.z_size else ""))
    return f"{raised}"


def _real_batch(n: int, size: int, device, seed: int) -> torch.Tensor:
    """Images that differ from each other (D's logits must differ across the batch): smooth colour blobs."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=gen) * 2 - 1
    x = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    return (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(-1, 1).to(device)


def _networks_work(D: nn.Module, G: nn.Module, real: torch.Tensor, z_size: int) -> None:
    """D and G as the step needs them (what check_discriminator and check_generator judge in full): G takes z of
    shape (batch, z_size), D takes G's images, and every layer of both is registered (else the optimizers miss it)."""
    z = torch.randn(len(real), z_size, device=real.device)
    with torch.no_grad():
        fake = common.run(f"G(z) with z of shape {tuple(z.shape)}", G, z, hint=lambda e: networks.z_shape_hint(G, z))
        common.run("D(G(z))", D, fake, hint=". Does check_discriminator pass?")
    networks.check_registered(D, "D", real)
    networks.check_registered(G, "G", z)


def _spread_logits(D: nn.Module, G: nn.Module, real: torch.Tensor, z_size: int) -> None:
    """Scale D's last layer so that its logits on the real batch and on fakes spread with std 2.5 around 0."""
    head = common.last_layer(D)
    with torch.no_grad():
        fake = G(torch.randn(len(real), z_size, device=real.device))

        def logits():
            return torch.cat([D(real).flatten(), D(fake).flatten()])

        head.weight.mul_(2.5 / logits().std().clamp_min(1e-6))  # the logits are linear in the last weights
        if head.bias is not None:
            head.bias.sub_(logits().mean())


def _smooth_arg(train_step):
    """Whether train_step takes `smooth` (then both values are checked), or not (either labelling is fine)."""
    try:
        params = inspect.signature(train_step).parameters
    except (TypeError, ValueError):
        return False
    return "smooth" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def diagnose_step(train_step, Discriminator, Generator, device, smooth, seed: int, image_size: int):
    """Run train_step once under watch, and raise naming the first thing it does differently; return the z it
    gave G (a list of at most one) and a note ('' if none) on a right step that could be better."""
    common.seed(seed, device)
    D = common.run(f"Discriminator(conv_dim={_DIM})", lambda: Discriminator(conv_dim=_DIM)).to(device)
    G = common.run(f"Generator(z_size={_Z}, conv_dim={_DIM})", lambda: Generator(z_size=_Z, conv_dim=_DIM)).to(device)
    real = _real_batch(_B, image_size, device, seed)
    _networks_work(D, G, real, _Z)
    _spread_logits(D, G, real, _Z)
    D_copy, G_copy = copy.deepcopy(D), copy.deepcopy(G)
    gen = torch.Generator().manual_seed(seed + 1)
    stale = {}
    for name, net in (("D", D), ("G", G)):
        for p in net.parameters():
            p.grad = torch.randn(p.shape, generator=gen).to(device)  # what a previous step would leave
        stale[name] = sr.flat([p.grad for p in net.parameters()], list(net.parameters()))
    rec = sr.Recording({"D": list(D.parameters()), "G": list(G.parameters())}, stale, _Z, _B)
    d_opt = sr.SGD(D.parameters(), lr=_LR).watch(rec, "d")
    g_opt = sr.SGD(G.parameters(), lr=_LR).watch(rec, "g")
    kwargs = {} if smooth is None else {"smooth": smooth}
    call = f"train_step(D, G, d_optimizer, g_optimizer, real_images, z_size={_Z}" + \
        (f", smooth={smooth})" if kwargs else ")")
    with sr.watch(rec, D, G, device):
        try:
            train_step(D, G, d_opt, g_opt, real, _Z, **kwargs)
            error = None
        except NotImplementedError:  # a stub of the exercise: let it through, as common.run does
            raise
        except Exception as e:  # noqa: BLE001 - explained below, in the learner's terms
            error = e
    sr.classify_d_calls(rec, real)
    if error is not None:
        raise AssertionError(f"{explain_error(error, rec)} [in {call}]") from error
    try:
        verdicts.check_step_calls(rec, real, _Z)
        verdicts.check_z(rec)
        verdicts.check_d_update(rec, D_copy, smooth, device)
        note = " ".join(n for n in (verdicts.batch_note(rec), verdicts.check_detach(rec)) if n)
        verdicts.check_g_update(rec, D_copy, G_copy, device)
        for name, net in (("G", G), ("D", D)):
            assert net.training, f"train_step left {name} in eval mode: call {name}.train() after {name}.eval() " \
                                 "(batch norm would use running statistics in the next steps)"
    except AssertionError as e:
        raise AssertionError(f"{e} [in {call}]") from None
    return [c.input for c in rec.calls if c.net == "G"][:1], note


def _returned_order(values: list, rec: sr.Recording, real: torch.Tensor) -> str:
    """If the four values are (d_loss, g_loss, D(x), D(G(z))) in another order, say which; else ''."""
    d_at = sr.position(rec, sr.steps(rec, "d")[0]) if sr.steps(rec, "d") else len(rec.events)
    g_at = sr.position(rec, sr.steps(rec, "g")[0]) if sr.steps(rec, "g") else len(rec.events)
    d_calls = [c for c in rec.calls if c.net == "D" and c.output is not None]
    r = sr.last([c for c in d_calls if c.position < d_at], lambda c: c.kind == "real")
    f = sr.last([c for c in d_calls if c.position < d_at], lambda c: c.kind == "fake")
    gl = sr.last([c for c in d_calls if c.position < g_at], lambda c: c.kind == "fake" and c.attached)
    if r is None or f is None or gl is None:
        return ""
    bce = common.bce
    d_losses = [k * (bce(r.output, y) + bce(f.output, 0.0)) for k in (1, 0.5) for y in (1.0, common.SMOOTH)]
    expected = (d_losses, [bce(gl.output, 1.0)],
                [torch.sigmoid(c.output).mean().item() for c in d_calls if c.kind == "real"],
                [torch.sigmoid(c.output).mean().item() for c in d_calls if c.kind == "fake"])
    names = ("d_loss", "g_loss", "D(x)", "D(G(z))")

    def fits(order):
        return all(any(abs(values[i] - e) < 1e-4 for e in expected[slot]) for i, slot in enumerate(order))

    if fits(range(4)):
        return ""
    order = next((o for o in itertools.permutations(range(4)) if fits(o)), None)
    if order is None:
        return ""
    return "Values returned in the wrong order: train_step returned (" + ", ".join(names[s] for s in order) + \
        "); return (d_loss, g_loss, D(x), D(G(z)))"


def _check_returned(values: list[float], rec, real, expected_d_real: float) -> None:
    """train_step's four values: finite, in the lesson's order, D(x) and D(G(z)) mean probabilities."""
    assert all(torch.isfinite(torch.tensor(values))), f"expected finite losses, got {values}"
    order = _returned_order(values, rec, real)
    assert not order, order
    d_loss, _, d_real, d_fake = values
    assert 0 <= d_real <= 1 and 0 <= d_fake <= 1, \
        f"expected D(x) and D(G(z)) to be mean probabilities in [0, 1], got {d_real:.3f} and {d_fake:.3f}: " \
        "return torch.sigmoid(d_out).mean() of D's logits"
    # D(x) as train_step computed it: any of its calls of D on real_images (before or after D's update).
    seen = [torch.sigmoid(c.output).mean().item() for c in rec.calls if c.kind == "real" and c.output is not None]
    assert any(abs(d_real - v) < 1e-3 for v in seen) or abs(d_real - expected_d_real) < 0.02, \
        f"expected D(x) = mean(sigmoid(D(real_images))) = {(seen or [expected_d_real])[0]:.3f} before the update, " \
        f"got {d_real:.3f}"
    # By Jensen's inequality the mean BCE is at least the BCE of the mean probabilities; with label
    # smoothing (real target 0.9) the real term's bound is 0.9 * -log D(x) + 0.1 * -log(1 - D(x)).
    # (d_loss averaged over its two terms is accepted above, so its bound is halved.)
    nll_real, nll_fake = -math.log(max(d_real, 1e-7)), -math.log(max(1 - d_real, 1e-7))
    bound = (min(nll_real, common.SMOOTH * nll_real + (1 - common.SMOOTH) * nll_fake) - math.log(max(1 - d_fake, 1e-7))) / 2
    assert d_loss >= bound - 1e-3, \
        f"expected d_loss (BCE, real -> 1 or 0.9, fake -> 0) >= {bound:.3f} given D(x) = {d_real:.3f} and " \
        f"D(G(z)) = {d_fake:.3f}, got {d_loss:.3f}: are the losses and probabilities returned in order?"


def grade(train_step, Discriminator, Generator, device, steps: int, image_size: int) -> None:
    """Raise an AssertionError naming the first way train_step differs from the lesson's step; see the top."""
    smooths = (True, False) if _smooth_arg(train_step) else (None, None)
    zs, notes = zip(*(diagnose_step(train_step, Discriminator, Generator, device, s, seed, image_size)
                      for seed, s in enumerate(smooths)))
    if zs[0] and zs[1] and zs[0][0].shape == zs[1][0].shape:
        assert not torch.equal(zs[0][0], zs[1][0]), \
            "z is the same in every step: sample fresh noise inside train_step (torch.randn(...)), not a fixed z " \
            "made once (and do not reseed the random generator there)"
    _check_learning(train_step, Discriminator, Generator, device, steps, image_size)
    for note in dict.fromkeys(n for n in notes if n):  # right, but worth knowing: said once, before the verdict
        print(note)


def _check_learning(train_step, Discriminator, Generator, device, steps: int, image_size: int) -> None:
    """What train_step returns, and that D learns a fixed real batch over a few steps with Adam, as in training."""
    common.seed(0, device)
    D, G = Discriminator(conv_dim=16).to(device), Generator(z_size=100, conv_dim=16).to(device)
    rec = sr.Recording({"D": list(D.parameters()), "G": list(G.parameters())})
    d_opt = sr.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999)).watch(rec, "d")
    g_opt = sr.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999)).watch(rec, "g")
    real = torch.linspace(-1, 1, 3 * image_size * image_size, device=device).reshape(1, 3, image_size, image_size)
    real = (real.repeat(16, 1, 1, 1) + 0.2 * torch.randn(16, 3, image_size, image_size, device=device)).clamp(-1, 1)
    before_d = [p.detach().clone() for p in D.parameters()]
    before_g = [p.detach().clone() for p in G.parameters()]

    def real_batch_loss() -> float:
        """D's loss on the fixed batch, in training mode (batch norm as train_step sees it) but with any dropout
        of the learner's D off (nn.Dropout modules) or drawn the same each time (F.dropout): a new random mask
        would make the measurement move, not D."""
        dropouts = [m for m in D.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.training]
        try:
            for m in dropouts:
                m.eval()
            with torch.no_grad(), common.forked_rng(device):
                common.seed(1, device)
                return nn.functional.softplus(-D(real)).mean().item()
        finally:
            for m in dropouts:
                m.train()

    first = real_batch_loss()
    with torch.no_grad():
        expected_d_real = torch.sigmoid(D(real)).mean().item()  # D in train mode, as train_step sees it
    with sr.watch(rec, D, G, device):
        out = common.run("train_step(D, G, d_optimizer, g_optimizer, real_images, 100)", train_step,
                           D, G, d_opt, g_opt, real, 100)
    sr.classify_d_calls(rec, real)
    assert isinstance(out, (tuple, list)) and len(out) == 4, \
        f"expected train_step to return (d_loss, g_loss, D(x), D(G(z))), got {type(out).__name__}" + \
        (f" of {len(out)} values" if isinstance(out, (tuple, list)) else "")
    floats = [name for name, v in zip(("d_loss", "g_loss", "D(x)", "D(G(z))"), out) if not torch.is_tensor(v)]
    assert not floats, \
        f"train_step returned {', '.join(floats)} as Python numbers: return tensors without .item(): reading a " \
        "number makes the CPU wait for the GPU; helpers.train adds them up on the device"
    _check_returned([float(v) for v in out], rec, real, expected_d_real)
    assert any(not torch.equal(a, b) for a, b in zip(before_d, D.parameters())), \
        "expected the discriminator's parameters to change (d_optimizer.step())"
    assert any(not torch.equal(a, b) for a, b in zip(before_g, G.parameters())), \
        "expected the generator's parameters to change (g_optimizer.step())"
    for _ in range(steps - 1):
        common.run("train_step", train_step, D, G, d_opt, g_opt, real, 100)
    last = real_batch_loss()
    assert last < first, \
        f"expected D's loss on a fixed real batch to fall over {steps} steps, got {first:.4f} -> {last:.4f}"
