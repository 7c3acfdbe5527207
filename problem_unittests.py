"""Checks that face_generation.ipynb calls after each step, in the notebook's order.

Each check prints "Tests Passed" or raises AssertionError whose message names the mistake it found
and how to fix it. They run on the CPU or a GPU: pass device=, and models and inputs go there. The
names start with `check_`, not `test_`, so pytest does not collect them; tests/ checks the checks.

The checks stand alone: they hold their own reference arithmetic (binary cross-entropy on logits,
the DCGAN initialisation, one training step) and never import the notebook's solutions.
"""
from __future__ import annotations

import copy
import inspect
import itertools
import math
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from facegen import step_recorder as sr

PASSED = "Tests Passed"


def _quiet(check):
    """Run a check with warnings silenced, so its cell shows only its verdict."""
    def run(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check(*args, **kwargs)
        print(PASSED)
    run.__name__, run.__doc__ = check.__name__, check.__doc__
    run.__signature__ = inspect.signature(check)
    return run


def _run(what: str, fn, *args, hint=None):
    """Call the learner's code; an exception it raises becomes an AssertionError that says where.

    hint: a string, or a function of the exception returning one (or ""), added to the message.
    """
    try:
        return fn(*args)
    except NotImplementedError:  # a stub of the exercise: it says which step, in one line (helpers.explain_stubs)
        raise
    except Exception as e:  # noqa: BLE001 - any error in the learner's code is a failed check
        extra = hint(e) if callable(hint) else hint
        text = str(e).rstrip(".") if extra else str(e)
        raise AssertionError(f"{what} raised {e.__class__.__name__}: {text}{extra or ''}") from e


def _close(a, b, atol: float = 1e-4) -> bool:
    return torch.is_tensor(a) and a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol)


# --- Step 3: the data ---------------------------------------------------------------------------

def _scale_hint(x: torch.Tensor, got, low: float, high: float) -> str:
    """The usual slip that turns x into `got`, as '. <what to do>', or ''."""
    span = high - low
    expected = x * span + low
    guesses = (
        (x * span, "the shift is missing: add the low end of the range, x * (max - min) + min"),
        (x * 2 - 1, "feature_range is ignored: use min, max = feature_range instead of a fixed (-1, 1)"),
        (x / 255 * span + low, "scale divides by 255, but its input is already in [0, 1]"),
        (x * span - low, "the low end is subtracted: x * (max - min) + min adds it"),
        (x * span + high, "the shift uses max: x * (max - min) + min"),
        ((x - low) / span, "that is the inverse mapping: x * (max - min) + min"),
    )
    for guess, hint in guesses:
        if not _close(guess, expected) and _close(got, guess):
            return f". {hint}"
    return ""


@_quiet
def check_scale(scale) -> None:
    """scale(x) maps [0, 1] to [-1, 1] by default, and to any feature_range asked for."""
    x = torch.tensor([0.0, 0.25, 0.5, 1.0])
    for feature_range, expected in (((-1, 1), [-1.0, -0.5, 0.0, 1.0]), ((0, 1), [0.0, 0.25, 0.5, 1.0]),
                                    ((-2, 2), [-2.0, -1.0, 0.0, 2.0])):
        args = (x.clone(),) if feature_range == (-1, 1) else (x.clone(), feature_range)  # in-place scale is fine
        got = _run(f"scale({x.tolist()}, feature_range={feature_range})", scale, *args)
        assert torch.is_tensor(got), f"scale should return a tensor, got {type(got).__name__}"
        assert torch.allclose(got.float(), torch.tensor(expected), atol=1e-6), \
            f"scale({x.tolist()}, feature_range={feature_range}): expected {expected}, got {got.tolist()}" \
            f"{_scale_hint(x, got, *feature_range)}"


@_quiet
def check_dataloader(loader, image_size: int = 32) -> None:
    """A batch is a float tensor (B, 3, S, S) with values in [-1, 1] that use most of that range; batches are shuffled."""
    assert len(loader) > 0, \
        "the DataLoader is empty: expected at least one batch of images (is batch_size larger than the dataset?)"
    batch = _run("next(iter(loader))", lambda: next(iter(loader)))
    if isinstance(batch, (list, tuple)):
        batch = batch[0]
    b, s = loader.batch_size, image_size
    shape = tuple(batch.shape)
    if shape != (b, 3, s, s):
        hint = ""
        if len(shape) == 4 and shape[-1] in (1, 3) and shape[1] != 3:
            hint = ". The channels come last (B, H, W, C); PyTorch wants (B, C, H, W): use transforms.ToTensor() " \
                   "or .permute(2, 0, 1) on each image"
        elif len(shape) == 4 and shape[1] == 1:
            hint = ". One channel: convert the images to RGB (Image.convert('RGB'))"
        elif len(shape) == 4 and shape[1] == 3 and shape[2:] != (s, s):
            hint = f". The images are {shape[2]}x{shape[3]}: resize them to {s}x{s} (transforms.Resize({s}))"
        raise AssertionError(f"expected batches of shape {(b, 3, s, s)}, got {shape}{hint}")
    hints = {torch.uint8: ". Convert the pixels to floats in [0, 1] (transforms.ToTensor()), then scale them",
             torch.float64: ". Convert with .float() (NumPy arrays become float64)"}
    assert batch.dtype == torch.float32, f"expected dtype torch.float32, got {batch.dtype}{hints.get(batch.dtype, '')}"
    low, high = batch.min().item(), batch.max().item()
    if not (-1.0 <= low and high <= 1.0):
        hint = ""
        if high > 2:
            hint = ". The pixels were scaled from [0, 255]: scale expects [0, 1], so divide by 255 first " \
                   "(transforms.ToTensor() does)"
        elif low < -1.5:
            hint = ". scale() was applied twice (to images already in [-1, 1]): apply it once"
        raise AssertionError(f"expected values in [-1, 1], got [{low:.3f}, {high:.3f}]{hint}")
    assert low < -0.5 and high > 0.5, \
        f"expected values spread over [-1, 1] (did you apply scale?), got [{low:.3f}, {high:.3f}]"
    assert not isinstance(getattr(loader, "sampler", None), torch.utils.data.SequentialSampler), \
        "the DataLoader does not shuffle: pass shuffle=True, so each epoch mixes the faces differently"


# --- Step 4: the networks -----------------------------------------------------------------------

def _last_layer(model: nn.Module) -> nn.Module:
    """The last linear or convolution layer of a model (the one that produces the logit)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert layers, "expected the discriminator to end in a linear (or convolution) layer that outputs one logit"
    return layers[-1]


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _shape_hint(x: torch.Tensor, size: int):
    return lambda e: f". Its input had shape {tuple(x.shape)}: expected the network to take {size}x{size} images"


@_quiet
def check_discriminator(Discriminator, device="cpu", image_size: int = 32) -> None:
    """D maps (B, 3, S, S) to (B, 1) logits (S = image_size), for several batch sizes (2 included) and conv_dims."""
    sizes = {}
    for conv_dim in (64, 32):
        D = _run(f"Discriminator(conv_dim={conv_dim})", Discriminator, conv_dim).to(device)
        sizes[conv_dim] = _n_params(D)
        for batch_size in (2, 16, 64):
            x = torch.rand(batch_size, 3, image_size, image_size, device=device) * 2 - 1
            out = _run(f"Discriminator(conv_dim={conv_dim}) on a batch of {batch_size}", D, x,
                       hint=_shape_hint(x, image_size))
            shape = tuple(out.shape)
            if shape != (batch_size, 1):
                hint = ""
                if len(shape) >= 1 and shape[0] != batch_size:
                    hint = ": the batch dimension was mixed into the features; flatten with x.view(x.size(0), -1) " \
                           "or nn.Flatten(), not a fixed size"
                elif shape == (batch_size,):
                    hint = ": keep the last layer's (batch, 1) output (no .squeeze() or .view(-1))"
                elif len(shape) > 2:
                    hint = ": flatten the last layer's output to (batch, 1)"
                raise AssertionError(f"Discriminator(conv_dim={conv_dim}): expected output shape {(batch_size, 1)}, "
                                     f"got {shape}{hint}")
    assert sizes[64] != sizes[32], \
        "Discriminator ignores conv_dim: conv_dim=64 and conv_dim=32 give the same layers; use conv_dim for the " \
        "number of channels (conv_dim, conv_dim * 2, ...)"
    # Logits, not probabilities: with a large last layer, outputs must leave [0, 1].
    D = Discriminator(conv_dim=32).to(device).eval()
    with torch.no_grad():
        _last_layer(D).weight.mul_(1000)
        out = D(torch.rand(16, 3, image_size, image_size, device=device) * 2 - 1)
    assert (out < 0).any() or (out > 1).any(), \
        "expected raw logits, but every output is in [0, 1]: remove the final sigmoid (the loss applies it)"


@_quiet
def check_generator(Generator, device="cpu", image_size: int = 32) -> None:
    """G maps z (B, z_size) to images (B, 3, S, S) in [-1, 1] (S = image_size), for other z_size and conv_dim too."""
    for z_size, conv_dim in ((100, 64), (64, 32)):
        G = _run(f"Generator(z_size={z_size}, conv_dim={conv_dim})", lambda: Generator(z_size=z_size, conv_dim=conv_dim))
        G = G.to(device)
        for batch_size in (2, 16):
            z = torch.randn(batch_size, z_size, device=device) * 3
            out = _run(f"Generator(z_size={z_size}, conv_dim={conv_dim}) on z of shape {tuple(z.shape)}", G, z,
                       hint=lambda e: ". Is z_size hard-coded?" if z_size != 100 else "")
            want = (batch_size, 3, image_size, image_size)
            assert tuple(out.shape) == want, \
                f"Generator(z_size={z_size}, conv_dim={conv_dim}): expected {want}, got {tuple(out.shape)}" + \
                (f": add or remove a stride-2 layer to reach {image_size}x{image_size}"
                 if out.dim() == 4 and out.shape[1] == 3 else "")
            low, high = out.min().item(), out.max().item()
            assert -1 <= low < 0 < high <= 1, \
                f"expected outputs spanning [-1, 1] (a tanh at the end), got [{low:.3f}, {high:.3f}]"
            spread = out.std(dim=0).mean().item()  # across the batch: does the image depend on z?
            assert spread > 1e-4, "expected images that vary with z, got the same image for every z"
    assert _n_params(Generator(z_size=100, conv_dim=64)) != _n_params(Generator(z_size=100, conv_dim=32)), \
        "Generator ignores conv_dim: conv_dim=64 and conv_dim=32 give the same layers; use conv_dim for the " \
        "number of channels (conv_dim * 8, conv_dim * 4, ...)"


# --- Step 5: initialisation ---------------------------------------------------------------------

_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def _init_error_hint(e: Exception) -> str:
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


@_quiet
def check_weights_init(weights_init_normal, Discriminator, Generator) -> None:
    """Conv and linear weights ~ N(0, 0.02) (as in the DCGAN paper), biases 0 or left at PyTorch's default;
    batch norm weights ~ N(1, 0.02) or left at 1, batch norm biases 0."""
    torch.manual_seed(0)
    for model in (Discriminator(), Generator()):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        _run(f"{type(model).__name__}().apply(weights_init_normal)", model.apply, weights_init_normal,
             hint=_init_error_hint)
        for name, m in model.named_modules():
            where, kind = f"{type(model).__name__}.{name}", type(m).__name__
            if isinstance(m, _WEIGHTED):
                w = m.weight.detach().float()
                mean, std = w.mean().item(), w.std().item()
                got = f"{where}: expected weights with mean 0 and std 0.02, got mean {mean:.4f} and std {std:.4f}"
                assert not torch.equal(m.weight.detach(), before[f"{name}.weight"]), \
                    f"{kind} weights were not initialised: {got} (PyTorch's default). " \
                    f"Make weights_init_normal handle nn.{kind} too"
                if w.numel() >= 500 and _kurtosis(w) < 2.3:  # a normal's kurtosis is 3, a uniform's 1.8
                    raise AssertionError(f"{kind} weights are uniform, not normal: {got}. "
                                         "Use nn.init.normal_(m.weight, 0.0, 0.02), not uniform_")
                if not (abs(mean) < 0.005 and 0.015 < std < 0.025):
                    what, fix = _weight_diagnosis(mean, std)
                    raise AssertionError(f"{kind} weights {what}: {got}. {fix}")
                if m.bias is not None:
                    b = m.bias.detach().float()
                    default_bound = 1 / math.sqrt(max(1, nn.init._calculate_fan_in_and_fan_out(m.weight)[0]))
                    biggest = b.abs().max().item()
                    assert biggest <= max(default_bound, 0.1) + 1e-6, \
                        f"{kind} biases are too large: {where}: expected biases of 0 (or PyTorch's default, within " \
                        f"+-{default_bound:.3f}), got values up to {biggest:.3f}. Use nn.init.zeros_(m.bias)"
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                w, b = m.weight.detach().float(), m.bias.detach().float()
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


# --- Step 6: the losses -------------------------------------------------------------------------

def _loss_hint(got: float, logits: torch.Tensor, label: float, which: str) -> str:
    """Name the usual slip that gives `got` instead of the BCE of `logits` against `label`, or ''."""
    def bce(x, y):
        return F.binary_cross_entropy_with_logits(x, torch.full_like(x, y)).item()

    expected = bce(logits, label)
    guesses = [(bce(torch.sigmoid(logits), label), "the sigmoid is applied twice: "
                "binary_cross_entropy_with_logits (BCEWithLogitsLoss) takes D's raw logits"),
               (expected * len(logits), "the loss is summed over the batch: take the mean (the default reduction)"),
               (-expected, "the loss is negated: BCE is already the quantity to minimise")]
    labels = {"real": {0.0: "real_loss uses the fake label 0: real images are labelled 1",
                       0.9: "real_loss smooths with smooth=False: use 0.9 only when smooth=True"},
              "fake": {1.0: "fake_loss uses the real label 1: fakes are labelled 0",
                       0.1: "label smoothing was applied to the fake labels (0.1): only the real labels are "
                            "smoothed (0.9); fakes stay 0"},
              "smooth": {1.0: "smooth=True was ignored: with smoothing the real labels are 0.9",
                         0.1: "the smoothed real label is 0.9, not 0.1",
                         0.0: "real_loss uses the fake label 0: real images are labelled 0.9 with smoothing"}}[which]
    guesses += [(bce(logits, y), hint) for y, hint in labels.items()]
    for value, hint in guesses:
        if abs(value - expected) > 1e-3 and abs(got - value) < 1e-4:
            return f". {hint}"
    return ""


@_quiet
def check_losses(real_loss, fake_loss) -> None:
    """real_loss/fake_loss are BCE on logits (labels 1 and 0), with label smoothing (0.9) as an option."""
    logits = torch.tensor([[2.0], [-1.0], [0.5], [0.0]], requires_grad=True)
    softplus = nn.functional.softplus
    cases = (("real_loss(d_out)", _run("real_loss(d_out)", real_loss, logits), softplus(-logits).mean(), 1.0, "real"),
             ("fake_loss(d_out)", _run("fake_loss(d_out)", fake_loss, logits), softplus(logits).mean(), 0.0, "fake"),
             ("real_loss(d_out, smooth=True)", _run("real_loss(d_out, smooth=True)", real_loss, logits, True),
              (0.9 * softplus(-logits) + 0.1 * softplus(logits)).mean(), 0.9, "smooth"))
    for name, got, expected, label, which in cases:
        assert torch.is_tensor(got) and got.dim() == 0, f"{name}: expected a scalar tensor, got {got!r}" + \
            (". Return the loss tensor itself, not .item() (the optimizer needs its gradient)"
             if isinstance(got, float) else ". Average over the batch (the default reduction='mean')"
             if torch.is_tensor(got) else "")
        assert abs(got.item() - expected.item()) < 1e-4, \
            f"{name} on logits {logits.flatten().tolist()}: expected {expected.item():.4f} " \
            f"(binary cross-entropy with logits), got {got.item():.4f}" \
            f"{_loss_hint(got.item(), logits.detach(), label, which)}"
        assert got.requires_grad, f"{name}: expected a loss that gradients flow through (no .detach())"
    big = _run("real_loss on large logits", real_loss, torch.tensor([[200.0], [-200.0]]))
    assert abs(big.item() - 100.0) < 1e-3, \
        f"real_loss on logits [200, -200]: expected 100.0 (BCE computed from logits stays exact), got {big.item():.4f}" \
        ". Use F.binary_cross_entropy_with_logits (nn.BCEWithLogitsLoss) on the logits, not log(sigmoid(...))"


# --- Step 7: one training step ------------------------------------------------------------------
#
# How check_train_step judges a step: see facegen/step_recorder.py, which records and replays it.

# z_size 20 (not 100) exposes a hard-coded z_size, batch 12 a global batch_size. The learning rate is
# small so that D, after its update, still gives G the spread of logits that the fit needs.
_Z, _B, _DIM, _LR = 20, 12, 8, 1e-4
_TOL = 0.03  # labels and weights are read to about 1e-4; 0.03 only absorbs float32 rounding


def _num(x: float) -> str:
    return f"{round(x, 2) + 0.0:.2f}"  # no "-0.00"


def _near(x: float, y: float, tol: float = _TOL) -> bool:
    return abs(x - y) <= tol


def _empty_gradient(rec: sr.Recording, net: str, opt: str, loss: str, step) -> str:
    """Why the gradients that `opt`.step() found for `net` were all zero."""
    at = sr.position(rec, step)
    earlier = rec.events[:at]
    last_backward = max((i for i, e in enumerate(earlier) if e[:2] == ("backward", net)), default=None)
    if last_backward is not None and any(e == ("zero_grad", opt[0]) for e in earlier[last_backward:]):
        return f"{net}'s gradients were erased before {opt}.step(): {opt}.zero_grad() came after " \
               f"{loss}.backward(). Call zero_grad() first, then backward(), then step()"
    later = list(itertools.takewhile(lambda e: not (e[0] == "call" and e[1].net == net), rec.events[at + 1:]))
    if last_backward is None and ("backward", net) in [e[:2] for e in later]:
        return f"{opt}.step() ran before {loss}.backward(): {net}'s update used no gradient. " \
               "Call backward() first, then step()"
    if net == "G":
        return "G received no gradient: G's loss must reach G through D. Compute g_loss = real_loss(D(fake_images)) " \
               "on fakes that are not detached (and not made under torch.no_grad())"
    return "D received no gradient: compute d_loss from D's outputs (not detached, not under torch.no_grad()) " \
           "and call d_loss.backward() before d_optimizer.step()"


def _check_step_calls(rec: sr.Recording, real: torch.Tensor, z_size: int) -> None:
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
        assert z.shape[0] == n, \
            f"z has the wrong batch size: {z.shape[0]} fakes for a batch of {n} real images. Use " \
            "real_images.size(0), not a global batch_size (the last batch of an epoch can be smaller)"
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
    g = sr.flat(step[2][net], rec.params[net])
    if sr.stale_share(g, rec.stale[net]) > 0.5:
        raise AssertionError(
            f"Missing {opt}.zero_grad(): {net}'s update included the gradients left over from the previous step "
            f"(backward() adds to .grad). Call {opt}.zero_grad() before {loss}.backward()")
    if g.norm() == 0:
        raise AssertionError(_empty_gradient(rec, net, opt, loss, step))
    return step, g


def _check_d_update(rec, D_copy, smooth, device) -> None:
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
    if (_near(r, 0) or _near(r, 0.1)) and (_near(f, 1) or _near(f, 0.9)):
        raise AssertionError(
            f"D's labels are swapped: its update trains real images toward {_num(r)} and fakes toward {_num(f)}. "
            "Use d_loss = real_loss(D(real_images), smooth) + fake_loss(D(fake_images)): real -> 1 (0.9 with "
            "smoothing), fake -> 0")
    if _near(f, 0.1):
        raise AssertionError("Label smoothing was applied to the fake labels: D trains fakes toward 0.1. Only the real "
                             "labels are smoothed (0.9); use fake_loss, label 0, for the fakes")
    assert _near(f, 0), f"D's update trains the fakes toward {_num(f)}: expected the fake label 0 (fake_loss)"
    wanted = {True: (0.9,), False: (1.0,), None: (1.0, 0.9)}[smooth]
    if not any(_near(r, y) for y in wanted):
        if smooth is True and _near(r, 1):
            raise AssertionError("smooth=True was ignored: D's real labels were 1. Pass it on: "
                                 "real_loss(D(real_images), smooth), which uses 0.9")
        if smooth is False and _near(r, 0.9):
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


def _check_detach(rec: sr.Recording) -> None:
    """D's update must not reach into G: the fakes it scores are detached (or made under torch.no_grad())."""
    at = sr.position(rec, sr.steps(rec, "d")[0])
    fake = sr.last(rec.calls, lambda c: c.net == "D" and c.position < at and c.grad_enabled and c.kind == "fake")
    if fake is not None and fake.attached:
        g_at = sr.position(rec, sr.steps(rec, "g")[0])
        # The first backward pass into G after D's update is G's own: did it find D's gradients still in .grad?
        g_backward = next((e for e in rec.events[at:g_at] if e[:2] == ("backward", "G")), None)
        if g_at > at and g_backward is not None and g_backward[2]:
            consequence = ("also wrote gradients into G's .grad, and G's update used them: g_optimizer.zero_grad() "
                           "came before d_loss.backward()")
        else:
            consequence = ("also goes back through G and writes gradients into G's .grad (retain_graph=True lets that "
                           "run, but it costs a backward pass through G, and G's update uses those gradients whenever "
                           "g_optimizer.zero_grad() comes first)")
        raise AssertionError(f"Missing detach(): D's loss scored fake_images without .detach(), so d_loss.backward() "
                             f"{consequence}. Use D(fake_images.detach()) in D's loss")


def _check_g_update(rec, D_copy, G_copy, device) -> None:
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
    if _near(y, 0.9):
        raise AssertionError("Label smoothing was applied to G's loss (label 0.9): smoothing is for D's real labels "
                             "only. Use g_loss = real_loss(D(fake_images)) without smooth")
    assert _near(y, 1), f"G's update trains its fakes toward the label {_num(y)}: expected 1, g_loss = real_loss(D(fake_images))"
    if w < 0:
        raise AssertionError("G's update climbs its loss: g_loss is negated (maximised). G minimises "
                             "real_loss(D(fake_images))")
    assert _near(w, 1, 0.03) or _near(w, 0.5, 0.015), \
        f"G's gradient is {w:.2f} times that of real_loss(D(fake_images)): use g_loss = real_loss(D(fake_images))"


def _explain_error(e: Exception, rec: sr.Recording) -> str:
    """A learner-level reason for an exception train_step raised, as a whole message."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    short = text.split(" (or directly")[0].split(". ")[0][:160]
    raised = f"train_step raised {e.__class__.__name__} ({short})"
    d_steps = sr.steps(rec, "d")
    d_at = sr.position(rec, d_steps[0]) if d_steps else len(rec.events)
    fakes = [c for c in rec.calls if c.net == "D" and c.kind == "fake" and c.grad_enabled]
    rescored = any(c.position > d_at for c in fakes)
    if "backward through the graph a second time" in text:
        if rescored and any(c.attached and c.position < d_at for c in fakes):
            return (f"Missing detach(): {raised}. D's loss scored fake_images without .detach(), so d_loss.backward() "
                    "went through G and freed its graph; g_loss.backward() then needs it again. Use "
                    "D(fake_images.detach()) in D's loss (not retain_graph=True: D's update would then put "
                    "gradients into G)")
        if d_steps and not rescored:
            return (f"G's loss reuses D's output from before D's update: {raised}. d_loss.backward() freed that "
                    "graph. After d_optimizer.step(), score the fakes again: g_loss = real_loss(D(fake_images))")
        return f"{raised}: each backward() needs its own forward pass (call D again for G's loss)"
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


def _spread_logits(D: nn.Module, G: nn.Module, real: torch.Tensor, z_size: int) -> None:
    """Scale D's last layer so that its logits on the real batch and on fakes spread with std 2.5 around 0."""
    head = _last_layer(D)
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


def _diagnose_step(train_step, Discriminator, Generator, device, smooth, seed: int, image_size: int):
    """Run train_step once under watch, and raise naming the first thing it does differently."""
    torch.manual_seed(seed)
    D = _run(f"Discriminator(conv_dim={_DIM})", lambda: Discriminator(conv_dim=_DIM)).to(device)
    G = _run(f"Generator(z_size={_Z}, conv_dim={_DIM})", lambda: Generator(z_size=_Z, conv_dim=_DIM)).to(device)
    real = _real_batch(_B, image_size, device, seed)
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
        except Exception as e:  # noqa: BLE001
            error = e
    sr.classify_d_calls(rec, real)
    if error is not None:
        raise AssertionError(f"{_explain_error(error, rec)} [in {call}]") from error
    try:
        _check_step_calls(rec, real, _Z)
        _check_d_update(rec, D_copy, smooth, device)
        _check_detach(rec)
        _check_g_update(rec, D_copy, G_copy, device)
        for name, net in (("G", G), ("D", D)):
            assert net.training, f"train_step left {name} in eval mode: call {name}.train() after {name}.eval() " \
                                 "(batch norm would use running statistics in the next steps)"
    except AssertionError as e:
        raise AssertionError(f"{e} [in {call}]") from None
    return [c.input for c in rec.calls if c.net == "G"][:1]


def _returned_order(values: list, rec: sr.Recording, real: torch.Tensor) -> str:
    """If the four values are (d_loss, g_loss, D(x), D(G(z))) in another order, say which; else ''."""
    def bce(l, y):
        return F.binary_cross_entropy_with_logits(l, torch.full_like(l, y)).item()

    d_at = sr.position(rec, sr.steps(rec, "d")[0]) if sr.steps(rec, "d") else len(rec.events)
    g_at = sr.position(rec, sr.steps(rec, "g")[0]) if sr.steps(rec, "g") else len(rec.events)
    d_calls = [c for c in rec.calls if c.net == "D" and c.output is not None]
    r = sr.last([c for c in d_calls if c.position < d_at], lambda c: c.kind == "real")
    f = sr.last([c for c in d_calls if c.position < d_at], lambda c: c.kind == "fake")
    gl = sr.last([c for c in d_calls if c.position < g_at], lambda c: c.kind == "fake" and c.attached)
    if r is None or f is None or gl is None:
        return ""
    d_losses = [k * (bce(r.output, y) + bce(f.output, 0.0)) for k in (1, 0.5) for y in (1.0, 0.9)]
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
    bound = (min(nll_real, 0.9 * nll_real + 0.1 * nll_fake) - math.log(max(1 - d_fake, 1e-7))) / 2
    assert d_loss >= bound - 1e-3, \
        f"expected d_loss (BCE, real -> 1 or 0.9, fake -> 0) >= {bound:.3f} given D(x) = {d_real:.3f} and " \
        f"D(G(z)) = {d_fake:.3f}, got {d_loss:.3f}: are the losses and probabilities returned in order?"


@_quiet
def check_train_step(train_step, Discriminator, Generator, device="cpu", steps: int = 5,
                     image_size: int = 32) -> None:
    """One call updates D with BCE (real -> 1, or 0.9 with smooth; fake -> 0) on detached fakes and G with the
    non-saturating BCE (fake -> 1), each after zero_grad() and with one step(); returns (d_loss, g_loss, D(x),
    D(G(z))); D learns a fixed real batch."""
    # 1. What one step does to D's and G's gradients, compared exactly with the lesson's step.
    smooths = (True, False) if _smooth_arg(train_step) else (None, None)
    zs = [_diagnose_step(train_step, Discriminator, Generator, device, s, seed, image_size)
          for seed, s in enumerate(smooths)]
    if zs[0] and zs[1] and zs[0][0].shape == zs[1][0].shape:
        assert not torch.equal(zs[0][0], zs[1][0]), \
            "z is the same in every step: sample fresh noise inside train_step (torch.randn(...)), not a fixed z " \
            "made once (and do not reseed the random generator there)"

    # 2. What it returns, and that D learns over a few steps with Adam, as in training.
    torch.manual_seed(0)
    D, G = Discriminator(conv_dim=16).to(device), Generator(z_size=100, conv_dim=16).to(device)
    rec = sr.Recording({"D": list(D.parameters()), "G": list(G.parameters())})
    d_opt = sr.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999)).watch(rec, "d")
    g_opt = sr.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999)).watch(rec, "g")
    real = torch.linspace(-1, 1, 3 * image_size * image_size, device=device).reshape(1, 3, image_size, image_size)
    real = (real.repeat(16, 1, 1, 1) + 0.2 * torch.randn(16, 3, image_size, image_size, device=device)).clamp(-1, 1)
    before_d = [p.detach().clone() for p in D.parameters()]
    before_g = [p.detach().clone() for p in G.parameters()]

    def real_batch_loss() -> float:
        with torch.no_grad():
            return nn.functional.softplus(-D(real)).mean().item()

    first = real_batch_loss()
    with torch.no_grad():
        expected_d_real = torch.sigmoid(D(real)).mean().item()  # D in train mode, as train_step sees it
    with sr.watch(rec, D, G, device):
        out = _run("train_step(D, G, d_optimizer, g_optimizer, real_images, 100)", train_step,
                   D, G, d_opt, g_opt, real, 100)
    sr.classify_d_calls(rec, real)
    assert isinstance(out, (tuple, list)) and len(out) == 4, \
        f"expected train_step to return (d_loss, g_loss, D(x), D(G(z))), got {type(out).__name__}" + \
        (f" of {len(out)} values" if isinstance(out, (tuple, list)) else "")
    _check_returned([float(v) for v in out], rec, real, expected_d_real)
    assert any(not torch.equal(a, b) for a, b in zip(before_d, D.parameters())), \
        "expected the discriminator's parameters to change (d_optimizer.step())"
    assert any(not torch.equal(a, b) for a, b in zip(before_g, G.parameters())), \
        "expected the generator's parameters to change (g_optimizer.step())"
    for _ in range(steps - 1):
        _run("train_step", train_step, D, G, d_opt, g_opt, real, 100)
    last = real_batch_loss()
    assert last < first, \
        f"expected D's loss on a fixed real batch to fall over {steps} steps, got {first:.4f} -> {last:.4f}"
