"""Checks that face_generation.ipynb calls after each step, in the notebook's order.

Each check prints "Tests Passed" or raises AssertionError saying what was expected and what was
found. They run on the CPU or a GPU: pass device=, and models and inputs go there. The names start with
`check_`, not `test_`, so pytest does not collect them; tests/ checks the checks themselves.
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn as nn

PASSED = "Tests Passed"


def _quiet(check):
    """Run a check with warnings silenced, so its cell shows only its verdict."""
    def run(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check(*args, **kwargs)
        print(PASSED)
    run.__name__, run.__doc__ = check.__name__, check.__doc__
    return run


def _run(what: str, fn, *args):
    """Call the learner's code; an exception it raises becomes an AssertionError that says where."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - any error in the learner's code is a failed check
        raise AssertionError(f"{what} raised {e.__class__.__name__}: {e}") from e


# --- Step 4: the data --------------------------------------------------------------------------

@_quiet
def check_scale(scale) -> None:
    """scale(x) maps [0, 1] to [-1, 1] by default, and to any feature_range asked for."""
    x = torch.tensor([0.0, 0.25, 0.5, 1.0])
    for feature_range, expected in (((-1, 1), [-1.0, -0.5, 0.0, 1.0]), ((0, 1), [0.0, 0.25, 0.5, 1.0]),
                                    ((-2, 2), [-2.0, -1.0, 0.0, 2.0])):
        got = scale(x, feature_range) if feature_range != (-1, 1) else scale(x)
        assert torch.is_tensor(got), f"scale should return a tensor, got {type(got).__name__}"
        assert torch.allclose(got.float(), torch.tensor(expected), atol=1e-6), \
            f"scale({x.tolist()}, feature_range={feature_range}): expected {expected}, got {got.tolist()}"


@_quiet
def check_dataloader(loader, image_size: int = 32) -> None:
    """A batch is a float tensor (B, 3, S, S) with values in [-1, 1] that use most of that range."""
    assert len(loader) > 0, "the DataLoader is empty: expected at least one batch of images"
    batch = next(iter(loader))
    if isinstance(batch, (list, tuple)):
        batch = batch[0]
    b = loader.batch_size
    assert tuple(batch.shape) == (b, 3, image_size, image_size), \
        f"expected batches of shape {(b, 3, image_size, image_size)}, got {tuple(batch.shape)}"
    assert batch.dtype == torch.float32, f"expected dtype torch.float32, got {batch.dtype}"
    low, high = batch.min().item(), batch.max().item()
    assert -1.0 <= low and high <= 1.0, f"expected values in [-1, 1], got [{low:.3f}, {high:.3f}]"
    assert low < -0.5 and high > 0.5, \
        f"expected values spread over [-1, 1] (did you apply scale?), got [{low:.3f}, {high:.3f}]"


# --- Step 5: the networks ----------------------------------------------------------------------

def _last_layer(model: nn.Module) -> nn.Module:
    """The last linear or convolution layer of a model (the one that produces the logit)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert layers, "expected the discriminator to end in a linear (or convolution) layer that outputs one logit"
    return layers[-1]


@_quiet
def check_discriminator(Discriminator, device="cpu") -> None:
    """D maps (B, 3, 32, 32) to (B, 1) logits, for several batch sizes (2 included) and conv_dims."""
    for conv_dim in (64, 32):
        D = _run(f"Discriminator(conv_dim={conv_dim})", Discriminator, conv_dim).to(device)
        for batch_size in (2, 16, 64):
            x = torch.rand(batch_size, 3, 32, 32, device=device) * 2 - 1
            out = _run(f"Discriminator(conv_dim={conv_dim}) on a batch of {batch_size}", D, x)
            assert tuple(out.shape) == (batch_size, 1), \
                f"Discriminator(conv_dim={conv_dim}): expected output shape {(batch_size, 1)}, got {tuple(out.shape)}"
    # Logits, not probabilities: with a large last layer, outputs must leave [0, 1].
    D = Discriminator(conv_dim=32).to(device).eval()
    with torch.no_grad():
        _last_layer(D).weight.mul_(1000)
        out = D(torch.rand(16, 3, 32, 32, device=device) * 2 - 1)
    assert (out < 0).any() or (out > 1).any(), \
        "expected raw logits, but every output is in [0, 1]: remove the final sigmoid (the loss applies it)"


@_quiet
def check_generator(Generator, device="cpu") -> None:
    """G maps z (B, z_size) to images (B, 3, 32, 32) in [-1, 1], for other z_size and conv_dim too."""
    for z_size, conv_dim in ((100, 64), (64, 32)):
        G = _run(f"Generator(z_size={z_size}, conv_dim={conv_dim})", lambda: Generator(z_size=z_size, conv_dim=conv_dim))
        G = G.to(device)
        for batch_size in (2, 16):
            z = torch.randn(batch_size, z_size, device=device) * 3
            out = _run(f"Generator(z_size={z_size}, conv_dim={conv_dim}) on z of shape {tuple(z.shape)}", G, z)
            assert tuple(out.shape) == (batch_size, 3, 32, 32), \
                f"Generator(z_size={z_size}, conv_dim={conv_dim}): expected {(batch_size, 3, 32, 32)}, " \
                f"got {tuple(out.shape)}"
            low, high = out.min().item(), out.max().item()
            assert -1 <= low < 0 < high <= 1, \
                f"expected outputs spanning [-1, 1] (a tanh at the end), got [{low:.3f}, {high:.3f}]"
            spread = out.std(dim=0).mean().item()  # across the batch: does the image depend on z?
            assert spread > 1e-4, "expected images that vary with z, got the same image for every z"


# --- Step 6: initialisation --------------------------------------------------------------------

@_quiet
def check_weights_init(weights_init_normal, Discriminator, Generator) -> None:
    """Conv and linear weights ~ N(0, 0.02), biases 0; batch norm weights ~ N(1, 0.02), biases 0."""
    torch.manual_seed(0)
    for model in (Discriminator(), Generator()):
        model.apply(weights_init_normal)
        for name, m in model.named_modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                mean, std = m.weight.mean().item(), m.weight.std().item()
                assert abs(mean) < 0.005 and 0.015 < std < 0.025, \
                    f"{type(model).__name__}.{name}: expected weights with mean 0 and std 0.02, " \
                    f"got mean {mean:.4f} and std {std:.4f}"
                if m.bias is not None:
                    assert torch.all(m.bias == 0), f"{type(model).__name__}.{name}: expected biases of 0"
            elif isinstance(m, nn.BatchNorm2d):
                mean, std = m.weight.mean().item(), m.weight.std().item()
                assert abs(mean - 1) < 0.01 and 0.01 < std < 0.03, \
                    f"{type(model).__name__}.{name} (batch norm): expected weights with mean 1 and std 0.02, " \
                    f"got mean {mean:.4f} and std {std:.4f}"
                assert torch.all(m.bias == 0), f"{type(model).__name__}.{name} (batch norm): expected biases of 0"


# --- Step 7: the losses ------------------------------------------------------------------------

@_quiet
def check_losses(real_loss, fake_loss) -> None:
    """real_loss/fake_loss are BCE on logits (labels 1 and 0), with label smoothing (0.9) as an option."""
    logits = torch.tensor([[2.0], [-1.0], [0.5], [0.0]], requires_grad=True)
    softplus = nn.functional.softplus
    cases = (("real_loss(d_out)", _run("real_loss(d_out)", real_loss, logits), softplus(-logits).mean()),
             ("fake_loss(d_out)", _run("fake_loss(d_out)", fake_loss, logits), softplus(logits).mean()),
             ("real_loss(d_out, smooth=True)", _run("real_loss(d_out, smooth=True)", real_loss, logits, True),
              (0.9 * softplus(-logits) + 0.1 * softplus(logits)).mean()))
    for name, got, expected in cases:
        assert torch.is_tensor(got) and got.dim() == 0, f"{name}: expected a scalar tensor, got {got!r}"
        assert abs(got.item() - expected.item()) < 1e-4, \
            f"{name} on logits {logits.flatten().tolist()}: expected {expected.item():.4f} " \
            f"(binary cross-entropy with logits), got {got.item():.4f}"
        assert got.requires_grad, f"{name}: expected a loss that gradients flow through"
    big = _run("real_loss on large logits", real_loss, torch.tensor([[200.0], [-200.0]]))
    assert abs(big.item() - 100.0) < 1e-3, \
        f"real_loss on logits [200, -200]: expected 100.0 (BCE computed from logits stays exact), got {big.item():.4f}"


# --- Step 8: one training step -----------------------------------------------------------------

@_quiet
def check_train_step(train_step, Discriminator, Generator, device="cpu", steps: int = 5) -> None:
    """One call updates both networks and returns finite losses; D learns a fixed real batch."""
    torch.manual_seed(0)
    D, G = Discriminator(conv_dim=16).to(device), Generator(z_size=100, conv_dim=16).to(device)
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.linspace(-1, 1, 3 * 32 * 32, device=device).reshape(1, 3, 32, 32).repeat(16, 1, 1, 1)
    real = (real + 0.2 * torch.randn_like(real)).clamp(-1, 1)
    before_d = [p.detach().clone() for p in D.parameters()]
    before_g = [p.detach().clone() for p in G.parameters()]

    def real_batch_loss() -> float:
        with torch.no_grad():
            return nn.functional.softplus(-D(real)).mean().item()

    first = real_batch_loss()
    with torch.no_grad():
        expected_d_real = torch.sigmoid(D(real)).mean().item()  # D in train mode, as train_step sees it
    out = _run("train_step(D, G, d_optimizer, g_optimizer, real_images, 100)", train_step, D, G, d_opt, g_opt, real, 100)
    assert isinstance(out, (tuple, list)) and len(out) == 4, \
        f"expected train_step to return (d_loss, g_loss, D(x), D(G(z))), got {type(out).__name__}"
    values = [float(v) for v in out]
    assert all(torch.isfinite(torch.tensor(values))), f"expected finite losses, got {values}"
    d_loss, _, d_real, d_fake = values
    assert 0 <= d_real <= 1 and 0 <= d_fake <= 1, \
        f"expected D(x) and D(G(z)) to be mean probabilities in [0, 1], got {d_real:.3f} and {d_fake:.3f}"
    assert abs(d_real - expected_d_real) < 0.02, \
        f"expected D(x) = mean(sigmoid(D(real_images))) = {expected_d_real:.3f} before the update, got {d_real:.3f}"
    # By Jensen's inequality the mean BCE is at least the BCE of the mean probabilities; with label
    # smoothing (real target 0.9) the real term's bound is 0.9 * -log D(x) + 0.1 * -log(1 - D(x)).
    nll_real, nll_fake = -math.log(max(d_real, 1e-7)), -math.log(max(1 - d_real, 1e-7))
    bound = min(nll_real, 0.9 * nll_real + 0.1 * nll_fake) - math.log(max(1 - d_fake, 1e-7))
    assert d_loss >= bound - 1e-3, \
        f"expected d_loss (BCE, real -> 1 or 0.9, fake -> 0) >= {bound:.3f} given D(x) = {d_real:.3f} and " \
        f"D(G(z)) = {d_fake:.3f}, got {d_loss:.3f}: are the losses and probabilities returned in order?"
    assert any(not torch.equal(a, b) for a, b in zip(before_d, D.parameters())), \
        "expected the discriminator's parameters to change (d_optimizer.step())"
    assert any(not torch.equal(a, b) for a, b in zip(before_g, G.parameters())), \
        "expected the generator's parameters to change (g_optimizer.step())"
    for _ in range(steps - 1):
        _run("train_step", train_step, D, G, d_opt, g_opt, real, 100)
    last = real_batch_loss()
    assert last < first, \
        f"expected D's loss on a fixed real batch to fall over {steps} steps, got {first:.4f} -> {last:.4f}"
