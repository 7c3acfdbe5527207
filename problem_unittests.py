"""Checks that face_generation.ipynb calls after each step, in the notebook's order.

    step  check                what it checks
    3     check_scale          scale maps [0, 1] to [-1, 1], or to any feature_range, whatever x's own range
    3     check_dataloader     batches: float (B, 3, S, S), values spread over [-1, 1], shuffled
    4     check_discriminator  D: images (B, 3, S, S) -> logits (B, 1), any batch size, uses conv_dim; probed
                               inside: registered layers, halving convolutions, leaky ReLU ~0.2, raw logit
    4     check_generator      G: z (B, z_size) -> images (B, 3, S, S) in [-1, 1] (tanh), uses z_size, conv_dim
    5     check_weights_init   conv/linear weights ~ N(0, 0.02), batch norm weights ~ N(1, 0.02), biases 0
    6     check_losses         real_loss/fake_loss: BCE on logits, labels 1 and 0 (0.9 with smoothing)
    7     check_optimizers     d_optimizer, g_optimizer: Adam over exactly D's (G's) parameters, lr and betas as asked
    7     check_train_step     one D update and one G update, as the lesson's (graded in facegen/checks/training_step.py)
    8     check_weight_average update_average: average <- decay * average + (1 - decay) * G, in place, no graph

Each check prints "Tests Passed" (then the learner's own warnings, if any, on stdout) or raises
CheckFailed (an AssertionError) whose message names the mistake it found and how to fix it
(helpers.explain_stubs shows it in one line; any other error inside a check becomes such a line), and leaves the
world as it found it (facegen/checks/common.py): the random state (so
the learner's seed still decides their weights), the warnings filters, the objects passed in. Pass
device= to run on a GPU. The names start with `check_`, not `test_`, so pytest does not collect
them; tests/ checks the checks. The checks hold their own reference arithmetic (BCE on logits, the
DCGAN initialisation, one training step) and never import the notebook's solutions; what a check
needs beyond a few lines lives in facegen/ (the checks/ package: networks, weights, training_step, ...).
Above each check, its @exercise: the solution cell it grades, its points, its hidden test and its three
hints, which .ci/nbgrader_metadata.py writes into the notebook. tests/test_learners.py judges the checks
on learners' code (docs/checks.md).
"""
from __future__ import annotations

import inspect

import torch
import torch.nn as nn
import torch.nn.functional as F

from facegen import count_parameters
from facegen.checks import average, networks, optimizers, training_step, weights
from facegen.checks.common import PASSED, CheckFailed  # noqa: F401 - re-exported for the notebook and the tests
from facegen.checks.common import SMOOTH, bce, checked, exercise, last_layer as _last_layer, run as _run


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
        ((x - x.min()) / (x.max() - x.min()) * span + low,
         "scale stretches each input's own x.min()..x.max() over the range, so a dark face comes out as bright as a "
         "light one: map the fixed interval [0, 1] instead, x * (max - min) + min with min, max = feature_range"),
    )
    for guess, hint in guesses:
        if not _close(guess, expected) and _close(got, guess):
            return f". {hint}"
    return ""


@exercise("scale", points=1, hidden="tests.check_scale(scale, batch=True, seed=1, quiet=True)", hints=(
    "One straight line, the same for every image: 0 goes to the low end of `feature_range`, 1 to the high end.",
    "The two ends of `feature_range` (a tuple: unpack it into `low` and `high`); the width of the new range, "
    "`high - low`; multiply by it, then shift by `low`. "
    "Arithmetic on a tensor acts on every value, whatever x's shape.",
    "```python\nlow, high = feature_range\nreturn x * (___ - ___) + ___\n```"))
@checked
def check_scale(scale, batch: bool = False) -> None:
    """scale(x) maps [0, 1] to [-1, 1] by default, and to any feature_range asked for, whatever x's own range;
    batch=True (the hidden test) also tries a random batch of images (B, 3, H, W) with a random feature_range."""
    x = torch.tensor([0.0, 0.25, 0.5, 1.0])
    dark = torch.tensor([0.1, 0.2, 0.3, 0.6])  # a dark image's pixels do not span [0, 1]
    cases = [(x, (-1, 1)), (x, (0, 1)), (x, (-2, 2)), (dark, (-1, 1))]
    if batch:
        low = -torch.rand(()).item()
        cases.append((torch.rand(2, 3, 4, 4) * 0.8 + 0.1, (round(low, 2), round(1 + torch.rand(()).item(), 2))))
    for x, feature_range in cases:
        low, high = feature_range
        expected = x * (high - low) + low
        shown = x.tolist() if x.dim() == 1 else f"a batch of shape {tuple(x.shape)} with values in [0.1, 0.9]"
        args = (x.clone(),) if feature_range == (-1, 1) else (x.clone(), feature_range)  # in-place scale is fine
        got = _run(f"scale({shown}, feature_range={feature_range})", scale, *args)
        assert torch.is_tensor(got), f"scale should return a tensor, got {type(got).__name__}"
        assert got.shape == x.shape, \
            f"scale({shown}, feature_range={feature_range}) returned shape {tuple(got.shape)}: keep x's shape " \
            "(scale works on each value, so x * (max - min) + min needs no reshaping)"
        assert torch.allclose(got.float(), expected, atol=1e-6), \
            f"scale({shown}, feature_range={feature_range}): expected " \
            f"{[round(v, 6) for v in expected.tolist()] if x.dim() == 1 else 'x * (max - min) + min'}, got " \
            f"{got.tolist() if x.dim() == 1 else 'other values'}{_scale_hint(x, got, *feature_range)}"


def _first_batch(loader):
    """next(iter(loader)), with the generators the loader and its sampler own (if any) put back as found,
    so that the learner's first epoch is not shifted. (@checked forks the global one.)"""
    owned = {getattr(loader, "generator", None), getattr(getattr(loader, "sampler", None), "generator", None)}
    states = [(g, g.get_state()) for g in owned if isinstance(g, torch.Generator)]
    try:
        return _run("next(iter(loader))", lambda: next(iter(loader)))
    finally:
        for generator, state in states:
            generator.set_state(state)


@exercise(None, points=1)
@checked
def check_dataloader(loader, image_size: int = 32) -> None:
    """A batch is a float tensor (B, 3, S, S) with values in [-1, 1] that use most of that range; batches are shuffled."""
    assert len(loader) > 0, \
        "the DataLoader is empty: expected at least one batch of images (is batch_size larger than the dataset?)"
    batch = _first_batch(loader)
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

@exercise("discriminator", points=2,
          hidden="tests.check_discriminator(Discriminator, image_size=image_size, seed=1, quiet=True)", hints=(
    "A classifier with one raw score out, the logit (the loss applies the sigmoid); each layer halves the image and "
    "doubles the channels.",
    "`nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1)` (halves the size), `nn.BatchNorm2d`, "
    "`nn.LeakyReLU(0.2)`, `nn.Flatten()`, `nn.Linear(..., 1)`, kept in `nn.Sequential` so PyTorch registers them. "
    "A convolution before a batch norm may drop its bias (`bias=False`).",
    "```python\nself.net = nn.Sequential(\n"
    "    nn.Conv2d(3, conv_dim, 4, stride=2, padding=1), nn.LeakyReLU(___),        # 16x16\n"
    "    nn.Conv2d(conv_dim, conv_dim * 2, 4, stride=2, padding=1), nn.BatchNorm2d(___), nn.LeakyReLU(0.2),  # 8x8\n"
    "    ___,                                                                    # 4x4, then 2x2\n"
    "    nn.Flatten(), nn.Linear(___, 1),\n)\n# in forward: return self.net(x)\n```"))
@checked
def check_discriminator(Discriminator, device="cpu", image_size: int = 32) -> None:
    """D maps (B, 3, S, S) to (B, 1) logits (S = image_size), for two batch sizes (2 included) and conv_dims."""
    sizes = {}
    for conv_dim in (64, 32):
        D = _run(f"Discriminator(conv_dim={conv_dim})", Discriminator, conv_dim).to(device)
        for batch_size in (2, 16):  # a hard-coded batch size fails one of them
            x = torch.rand(batch_size, 3, image_size, image_size, device=device) * 2 - 1
            with networks.watch_linears(D) as wrong_sizes:  # names the nn.Linear that gets the wrong size
                out = _run(f"Discriminator(conv_dim={conv_dim}) on a batch of {batch_size}", D, x,
                           hint=networks.input_hint(wrong_sizes, x, image_size, conv_dim))
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
        sizes[conv_dim] = count_parameters(D)  # after a forward pass, which sizes lazy layers (nn.LazyLinear)
    assert sizes[64] != sizes[32], \
        "Discriminator ignores conv_dim: conv_dim=64 and conv_dim=32 give the same layers; use conv_dim for the " \
        "number of channels (conv_dim, conv_dim * 2, ...)"
    D = _run("Discriminator(conv_dim=32)", Discriminator, 32).to(device)
    networks.check_d_layers(D, torch.rand(16, 3, image_size, image_size, device=device) * 2 - 1)
    # Logits, not probabilities: with a large last layer, outputs must leave [-1, 1].
    D.eval()
    with torch.no_grad():
        _last_layer(D).weight.mul_(1000)
        out = D(torch.rand(16, 3, image_size, image_size, device=device) * 2 - 1)
    assert out.abs().max() > 1, \
        "expected raw logits, but every output is in [" + ("0" if out.min() >= 0 else "-1") + ", 1]: remove the " \
        "final " + ("sigmoid" if out.min() >= 0 else "tanh") + " (the loss takes the logits and applies the sigmoid)"


@exercise("generator", points=2, hidden="tests.check_generator(Generator, image_size=image_size, seed=1, quiet=True)",
          hints=(
    "D's path backwards: z becomes a 2x2 map of conv_dim * 8 channels, doubled in size up to 32x32, ending in tanh.",
    "`nn.Linear(z_size, conv_dim * 8 * 2 * 2)`; `.view(-1, conv_dim * 8, 2, 2)` (or `.reshape`) in `forward`, as "
    "the linear layer's output is flat; `nn.BatchNorm2d(channels)`, `nn.ReLU()`, `nn.ConvTranspose2d(in_channels, "
    "out_channels, 4, stride=2, padding=1)` (it doubles: (n - 1) * 2 - 2 * 1 + 4 = 2n), `nn.Tanh()`. G takes z of "
    "shape (batch, z_size).",
    "```python\nself.fc = nn.Linear(z_size, ___)\nself.net = nn.Sequential(\n"
    "    nn.BatchNorm2d(conv_dim * 8), nn.ReLU(),\n"
    "    nn.ConvTranspose2d(conv_dim * 8, conv_dim * 4, 4, stride=2, padding=1),  # 4x4\n"
    "    ___,                                                                  # 8x8, 16x16\n"
    "    nn.ConvTranspose2d(conv_dim, ___, 4, stride=2, padding=1), nn.___(),   # 32x32, in [-1, 1]\n)\n"
    "# in forward: x = self.fc(z).view(___, self.conv_dim * 8, 2, 2); return self.net(x)\n```"))
@checked
def check_generator(Generator, device="cpu", image_size: int = 32) -> None:
    """G maps z (B, z_size) to images (B, 3, S, S) in [-1, 1] (S = image_size), for other z_size and conv_dim too."""
    for z_size, conv_dim in ((100, 64), (64, 32)):
        G = _run(f"Generator(z_size={z_size}, conv_dim={conv_dim})", lambda: Generator(z_size=z_size, conv_dim=conv_dim))
        G = G.to(device)
        for batch_size in (2, 16):
            z = torch.randn(batch_size, z_size, device=device) * 3
            out = _run(f"Generator(z_size={z_size}, conv_dim={conv_dim}) on z of shape {tuple(z.shape)}", G, z,
                       hint=lambda e: networks.z_shape_hint(G, z) or _generator_error_hint(e, z_size))
            want = (batch_size, 3, image_size, image_size)
            assert tuple(out.shape) == want, \
                f"Generator(z_size={z_size}, conv_dim={conv_dim}): expected {want}, got {tuple(out.shape)}" + \
                (networks.g_size_problem(G, z) or f": add or remove a stride-2 layer to reach {image_size}x{image_size}"
                 if out.dim() == 4 and out.shape[1] == 3 else "")
            low, high = out.min().item(), out.max().item()
            assert -1 <= low < 0 < high <= 1, \
                f"expected outputs spanning [-1, 1] (a tanh at the end), got [{low:.3f}, {high:.3f}]"
            spread = out.std(dim=0).mean().item()  # across the batch: does the image depend on z?
            assert spread > 1e-4, "expected images that vary with z, got the same image for every z"
    networks.check_g_layers(G, z)
    assert count_parameters(Generator(z_size=100, conv_dim=64)) != count_parameters(Generator(z_size=100, conv_dim=32)), \
        "Generator ignores conv_dim: conv_dim=64 and conv_dim=32 give the same layers; use conv_dim for the " \
        "number of channels (conv_dim * 8, conv_dim * 4, ...)"


def _generator_error_hint(e: Exception, z_size: int) -> str:
    """The fix for an error G raised on z (for _run's hint=)."""
    if "running_mean should contain" in str(e) or "expected input with shape" in str(e):
        return (". A batch norm got a tensor with another number of channels than it was built for: reshape the "
                "linear layer's output to (batch, conv_dim * 8, 2, 2), and give each batch norm the channels of the "
                "layer before it")
    return ". Is z_size hard-coded?" if z_size != 100 else ""


# --- Step 5: initialisation ---------------------------------------------------------------------

@exercise("weights_init", points=1,
          hidden="tests.check_weights_init(weights_init_normal, Discriminator, Generator, seed=1, quiet=True)", hints=(
    "`D.apply(f)` calls f on every module, ReLUs and containers too: act only on the layers that hold weights.",
    "`isinstance(m, ...)` tells which layer m is: which three layer types hold the weights the paper means? "
    "`nn.init.normal_(tensor, mean, std)` and `nn.init.zeros_(tensor)` set a tensor in place. A layer made with "
    "`bias=False` has `m.bias` None; `nn.BatchNorm2d` has its own weight (a scale: 1, or N(1, 0.02)) and bias (0).",
    "```python\nif isinstance(m, (___, ___, ___)):\n    nn.init.normal_(m.weight, ___, ___)\n"
    "    if m.bias is not None:\n        nn.init.zeros_(m.bias)\nelif isinstance(m, nn.BatchNorm2d):\n"
    "    nn.init.normal_(m.weight, ___, 0.02)\n    nn.init.zeros_(___)\n```"))
@checked
def check_weights_init(weights_init_normal, Discriminator, Generator) -> None:
    """Conv and linear weights ~ N(0, 0.02) (as in the DCGAN paper), biases 0 or left at PyTorch's default;
    batch norm weights ~ N(1, 0.02) or left at 1, batch norm biases 0."""
    # The learner's own networks, and one layer of each kind the step names, so that an init that skips, say,
    # nn.Linear is found even when these networks have none.
    layers = nn.ModuleDict({"conv": nn.Conv2d(64, 64, 4), "transpose_conv": nn.ConvTranspose2d(64, 64, 4),
                            "linear": nn.Linear(256, 256), "batch_norm": nn.BatchNorm2d(64)})
    for model in (_run("Discriminator(conv_dim=32)", Discriminator, 32),
                  _run("Generator(z_size=100, conv_dim=32)", lambda: Generator(z_size=100, conv_dim=32)), layers):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        _run(f"{type(model).__name__ if model is not layers else 'a layer'}.apply(weights_init_normal)", model.apply,
             weights_init_normal,
             hint=weights.init_error_hint)
        for name, m in model.named_modules():
            where = f"{type(model).__name__}.{name}" if model is not layers else f"an {type(m).__name__} layer"
            if isinstance(m, weights.WEIGHTED):
                weights.check_weighted(m, where, before[f"{name}.weight"])
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                weights.check_batch_norm(m, where)


# --- Step 6: the losses -------------------------------------------------------------------------

def _loss_hint(got: float, logits: torch.Tensor, label: float, which: str) -> str:
    """Name the usual slip that gives `got` instead of the BCE of `logits` against `label`, or ''."""
    expected = bce(logits, label)
    guesses = [(bce(torch.sigmoid(logits), label), "the sigmoid is applied twice: "
                "binary_cross_entropy_with_logits (BCEWithLogitsLoss) takes D's raw logits"),
               (expected * len(logits), "the loss is summed over the batch: take the mean (the default reduction)"),
               (-expected, "the loss is negated: BCE is already the quantity to minimise")]
    labels = {"real": {0.0: "real_loss uses the fake label 0: real images are labelled 1",
                       SMOOTH: "real_loss smooths with smooth=False: use 0.9 only when smooth=True"},
              "fake": {1.0: "fake_loss uses the real label 1: fakes are labelled 0",
                       SMOOTH: "fake_loss uses the smoothed real label 0.9: fakes are labelled 0 (smoothing is for the "
                            "real labels only)",
                       1 - SMOOTH: "label smoothing was applied to the fake labels (0.1): only the real labels are "
                            "smoothed (0.9); fakes stay 0"},
              "smooth": {1.0: "smooth=True was ignored: with smoothing the real labels are 0.9",
                         1 - SMOOTH: "the smoothed real label is 0.9, not 0.1",
                         0.0: "real_loss uses the fake label 0: real images are labelled 0.9 with smoothing"}}[which]
    guesses += [(bce(logits, y), hint) for y, hint in labels.items()]
    target = {"real": 1.0, "fake": 0.0, "smooth": SMOOTH}[which]
    swapped = F.binary_cross_entropy_with_logits(torch.full_like(logits, target), torch.sigmoid(logits)).item()
    guesses += [(swapped, "the arguments are swapped: binary_cross_entropy_with_logits(input, target) takes D's "
                          "logits first, then the labels"),
                (F.binary_cross_entropy_with_logits(torch.full_like(logits, target), logits).item(),
                 "the arguments are swapped: binary_cross_entropy_with_logits(input, target) takes D's logits first, "
                 "then the labels")]
    guesses.append((((logits - target) ** 2).mean().item(), "that is a least-squares loss, mean((d_out - label)**2), "
                    "as in LSGAN: the lesson's loss is binary cross-entropy on the logits, "
                    "F.binary_cross_entropy_with_logits(d_out, labels)"))
    if which == "fake":
        guesses.append((1 - bce(logits, 1.0), "fake_loss is 1 - real_loss, which is not a loss against the label 0: "
                        "compute BCE against zeros, binary_cross_entropy_with_logits(d_out, torch.zeros_like(d_out))"))
    for value, hint in guesses:
        if abs(value - expected) > 1e-3 and abs(got - value) < 1e-4:
            return f". {hint}"
    return ""


def _loss_error_hint(e: Exception) -> str:
    """The fix for the errors PyTorch raises on the usual slips in a loss (for _run's hint=)."""
    text = str(e).lower()
    if _raised_in_loss_init(e):
        return (". The loss module was given the tensors when it was made: nn.BCEWithLogitsLoss(d_out, labels) builds "
                "a module (taking d_out as its weight). Make it, then call it: nn.BCEWithLogitsLoss()(d_out, labels), "
                "or use F.binary_cross_entropy_with_logits(d_out, labels)")
    if "between 0 and 1" in text:
        return (". That is nn.BCELoss (F.binary_cross_entropy), which takes probabilities, given D's raw logits: "
                "use F.binary_cross_entropy_with_logits (nn.BCEWithLogitsLoss), which takes the logits")
    if "target size" in text and "input size" in text:
        return (". The labels must have the shape of d_out, (batch, 1): make them with torch.full_like(d_out, value) "
                "(or torch.ones_like(d_out), torch.zeros_like(d_out))")
    return ""


def _takes(fn, name: str):
    """Whether fn takes a second argument called `name` (or any, with *args / **kwargs); None when unknown."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    kinds = {p.kind for p in params}
    if inspect.Parameter.VAR_POSITIONAL in kinds or inspect.Parameter.VAR_KEYWORD in kinds:
        return True
    return len(params) >= 2 and (params[1].name == name or any(p.name == name for p in params))


def _raised_in_loss_init(e: Exception) -> bool:
    """Whether e came from building one of torch's loss modules (nn.BCEWithLogitsLoss(...) given tensors)."""
    tb = e.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "__init__" and code.co_filename.replace("\\", "/").endswith("nn/modules/loss.py"):
            return True
        tb = tb.tb_next
    return False


@exercise("losses", points=2, hints=(
    "BCE of D's logits against 1 (real) or 0 (fake); `smooth` labels real faces 0.9 instead of 1.",
    "`F.binary_cross_entropy_with_logits(logits, labels)` takes D's logits (it applies the sigmoid itself, exactly) "
    "and averages over the batch; `torch.full_like(d_out, value)` and `torch.zeros_like(d_out)` make labels of "
    "d_out's shape, dtype and device.",
    "```python\ndef real_loss(d_out, smooth=False):\n    labels = torch.full_like(d_out, ___ if smooth else ___)\n"
    "    return F.binary_cross_entropy_with_logits(___, ___)\n\n\ndef fake_loss(d_out):\n"
    "    return F.binary_cross_entropy_with_logits(d_out, ___)\n```"))
@checked
def check_losses(real_loss, fake_loss) -> None:
    """real_loss/fake_loss are BCE on logits (labels 1 and 0), with label smoothing (0.9) as an option."""
    logits = torch.tensor([[2.0], [-1.0], [0.5], [0.0]], requires_grad=True)
    softplus = nn.functional.softplus
    takes_smooth = _takes(real_loss, "smooth")
    assert takes_smooth is not False, \
        "real_loss has no smooth parameter: train_step calls real_loss(d_out, smooth), so write " \
        "def real_loss(d_out, smooth=False), with the labels 0.9 instead of 1 when smooth is True"
    cases = (("real_loss(d_out)", real_loss, (logits,), softplus(-logits).mean(), 1.0, "real"),
             ("fake_loss(d_out)", fake_loss, (logits,), softplus(logits).mean(), 0.0, "fake"),
             ("real_loss(d_out, smooth=True)", real_loss, (logits, True),
              (SMOOTH * softplus(-logits) + (1 - SMOOTH) * softplus(logits)).mean(), SMOOTH, "smooth"))
    for name, loss, args, expected, label, which in cases:
        got = _run(name, loss, *args, hint=_loss_error_hint)
        assert not isinstance(got, nn.Module), \
            f"{name} returned a loss module, {type(got).__name__}, not a loss: call the module on the logits and " \
            f"labels, nn.BCEWithLogitsLoss()(d_out, labels), or use F.binary_cross_entropy_with_logits(d_out, labels)"
        assert torch.is_tensor(got) and got.dim() == 0, f"{name}: expected a scalar tensor, got {got!r}" + \
            (". Return the loss tensor itself, not .item() (the optimizer needs its gradient)"
             if isinstance(got, float) else ". Average over the batch (the default reduction='mean')"
             if torch.is_tensor(got) else "")
        again = _run(name, loss, *args, hint=_loss_error_hint).item()
        assert abs(again - got.item()) < 1e-6, \
            f"{name} gives another value at each call on the same logits ({got.item():.4f}, then {again:.4f}): its " \
            "targets are random. Random targets (such as uniform in [0.8, 1]) are another technique, \"noisy labels\"; " \
            "the lesson's label smoothing is the fixed 0.9: torch.full_like(d_out, 0.9 if smooth else 1.0)"
        assert abs(got.item() - expected.item()) < 1e-4, \
            f"{name} on logits {logits.flatten().tolist()}: expected {expected.item():.4f} " \
            f"(binary cross-entropy with logits), got {got.item():.4f}" \
            f"{_loss_hint(got.item(), logits.detach(), label, which)}"
        assert got.requires_grad, f"{name}: expected a loss that gradients flow through (no .detach())"
    big = _run("real_loss on large logits", real_loss, torch.tensor([[200.0], [-200.0]]), hint=_loss_error_hint)
    assert abs(big.item() - 100.0) < 1e-3, \
        f"real_loss on logits [200, -200]: expected 100.0 (BCE computed from logits stays exact), got {big.item():.4f}" \
        ". Use F.binary_cross_entropy_with_logits (nn.BCEWithLogitsLoss) on the logits, not log(sigmoid(...))"


# --- Step 7: the optimizers and one training step -----------------------------------------------

@exercise("optimizers", points=1, hints=(
    "One optimizer per network, so that each update changes only its own network's weights.",
    "`torch.optim.Adam(parameters, lr=..., betas=..., fused=fused)`; `D.parameters()` and `G.parameters()`.",
    "```python\nd_optimizer = torch.optim.Adam(___.parameters(), lr=lr, betas=___, fused=fused)\n"
    "g_optimizer = torch.optim.Adam(___, lr=___, betas=betas, fused=fused)\n```"))
@checked
def check_optimizers(d_optimizer, g_optimizer, D, G, lr: float = 2e-4, betas=(0.5, 0.999)) -> None:
    """d_optimizer is torch.optim.Adam over exactly D's current parameters, g_optimizer over G's, both with
    the given lr and betas (fused, foreach and capturable are free)."""
    optimizers.check(d_optimizer, g_optimizer, D, G, lr, betas)


@exercise("train_step", points=3,
          hidden="tests.check_train_step(train_step, Discriminator, Generator, steps=3, seed=1, quiet=True)", hints=(
    "First D learns real from fresh fakes without changing G; then G learns to make the updated D call its fakes real. "
    "Each update: zero the gradients, the loss, backward, step.",
    "`torch.randn(real_images.size(0), z_size, device=real_images.device)`; `fake_images.detach()` for D's loss (D's "
    "backward stops before G); `real_loss` for G's loss, not detached, no smoothing; return `.detach()`ed losses and "
    "`torch.sigmoid(logits).mean()`.",
    "```python\nz = torch.randn(___, z_size, device=real_images.device)\nfake_images = G(z)\n\n"
    "d_optimizer.zero_grad()\nd_real = D(real_images)\nd_fake = D(___)\nd_loss = real_loss(d_real, smooth) + ___\n"
    "d_loss.backward()\nd_optimizer.step()\n\ng_optimizer.___()\ng_loss = ___(D(fake_images))\n"
    "g_loss.backward()\n___.step()\n\nreturn d_loss.detach(), g_loss.detach(), ___, ___\n```"))
@checked
def check_train_step(train_step, Discriminator, Generator, device="cpu", steps: int = 5,
                     image_size: int = 32) -> None:
    """One call updates D with BCE (real -> 1, or 0.9 with smooth; fake -> 0) on detached fakes and G with the
    non-saturating BCE (fake -> 1), each after zero_grad() and with one step(); returns (d_loss, g_loss, D(x),
    D(G(z))); D learns a fixed real batch."""
    training_step.grade(train_step, Discriminator, Generator, device, steps, image_size)


# --- Step 8: the average of G's weights ---------------------------------------------------------

@exercise("update_average", points=2, hints=(
    "In place (helpers.train keeps these very tensors) and without gradients: bookkeeping, not learning.",
    "`zip(average.parameters(), G.parameters())` pairs them; `torch.no_grad()`; PyTorch's in-place methods end in "
    "`_` (`mul_`, `add_(x, alpha=...)`, `lerp_(x, weight)`). Assigning `kept = ...` inside the loop changes nothing "
    "outside it.",
    "```python\nwith torch.no_grad():\n    for kept, live in zip(___, ___):\n"
    "        kept.mul_(___).add_(live, alpha=___)\n```"))
@checked
def check_weight_average(update_average) -> None:
    """update_average(average, G, decay) sets average <- decay * average + (1 - decay) * G, parameter by parameter,
    in place (the same tensors), leaving G as it is and building no autograd graph, for decays 0, 0.5, 0.9, 1."""
    average.check(update_average)
