"""Tests of the checks in problem_unittests.py: each passes the notebook's own code and rejects broken code.

The correct implementations are the notebook's (helpers.load_notebook_code, the `nb` fixture) and
helpers.scale / helpers.get_dataloader; the broken ones below are small variations of them. A broken
implementation must be rejected with an AssertionError whose message names what was expected.
Where a check lets a broken implementation through, or rejects it some other way, the test is marked
xfail(strict=True) with the reason, so that fixing the check turns it into a failure to un-mark.
"""
from __future__ import annotations

import inspect
import math
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import helpers
import problem_unittests as pu

CHECKS = ("check_scale", "check_dataloader", "check_discriminator", "check_generator", "check_weights_init",
          "check_losses", "check_train_step")


def passes(capsys, check, *args, **kwargs) -> None:
    """Run a check and assert that it printed its verdict."""
    check(*args, **kwargs)
    assert pu.PASSED in capsys.readouterr().out


def rejects(check, *args, match: str, **kwargs) -> None:
    """Run a check and assert that it raised an AssertionError matching `match` (and printed no verdict)."""
    with pytest.raises(AssertionError, match=match):
        check(*args, **kwargs)


# --- The module itself ---------------------------------------------------------------------------

def test_checks_are_not_collected_by_pytest():
    collectable = [name for name in vars(pu) if name.lower().startswith("test")]
    assert collectable == [], f"pytest would collect {collectable} from problem_unittests.py"


def test_every_check_is_covered_here():
    checks = {name for name, f in vars(pu).items() if name.startswith("check_") and callable(f)}
    assert checks == set(CHECKS), "a check was added or removed: add or remove its tests here"


@pytest.mark.parametrize("name", CHECKS)
def test_checks_keep_their_name_and_doc(name):
    check = getattr(pu, name)
    assert check.__name__ == name and inspect.getdoc(check)


# --- check_scale -------------------------------------------------------------------------------

def test_scale_passes(capsys):
    passes(capsys, pu.check_scale, helpers.scale)


def test_scale_rejects_missing_shift():
    rejects(pu.check_scale, lambda x, feature_range=(-1, 1): x * 2, match=r"expected \[-1\.0, -0\.5, 0\.0, 1\.0\]")


def test_scale_rejects_ignored_feature_range():
    rejects(pu.check_scale, lambda x, feature_range=(-1, 1): x * 2 - 1,
            match=r"feature_range=\(0, 1\)\): expected \[0\.0, 0\.25, 0\.5, 1\.0\]")


def test_scale_rejects_a_non_tensor():
    rejects(pu.check_scale, lambda x, feature_range=(-1, 1): helpers.scale(x, feature_range).tolist(),
            match="scale should return a tensor")


# --- check_dataloader --------------------------------------------------------------------------

def images(n=64, size=32):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)


class UnscaledDataset(helpers.FaceDataset):
    def __getitem__(self, index):
        return self.images[index].float() / 255  # [0, 1]: forgot scale


class ChannelsLastDataset(helpers.FaceDataset):
    def __getitem__(self, index):
        return super().__getitem__(index).permute(1, 2, 0)  # (32, 32, 3)


class Float64Dataset(helpers.FaceDataset):
    def __getitem__(self, index):
        return super().__getitem__(index).double()


class Uint8Dataset(helpers.FaceDataset):
    def __getitem__(self, index):
        return self.images[index]


class ScaledFrom255Dataset(helpers.FaceDataset):
    def __getitem__(self, index):
        return helpers.scale(self.images[index].float())  # scale() of 0..255 floats: [-1, 509]


def loader_of(dataset, batch_size=16):
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)


def test_dataloader_passes(capsys):
    passes(capsys, pu.check_dataloader, helpers.get_dataloader(16, images=images()))


def test_dataloader_passes_other_sizes(capsys):
    passes(capsys, pu.check_dataloader, helpers.get_dataloader(8, image_size=64, images=images(16, 64)), image_size=64)


def test_dataloader_rejects_unscaled_images():
    rejects(pu.check_dataloader, loader_of(UnscaledDataset(images())), match=r"spread over \[-1, 1\].*apply scale")


def test_dataloader_rejects_images_scaled_from_0_255():
    rejects(pu.check_dataloader, loader_of(ScaledFrom255Dataset(images())), match=r"expected values in \[-1, 1\]")


def test_dataloader_rejects_64x64():
    rejects(pu.check_dataloader, helpers.get_dataloader(16, image_size=64, images=images(32, 64)),
            match=r"expected batches of shape \(16, 3, 32, 32\), got \(16, 3, 64, 64\)")


def test_dataloader_rejects_channels_last():
    rejects(pu.check_dataloader, loader_of(ChannelsLastDataset(images())),
            match=r"expected batches of shape \(16, 3, 32, 32\), got \(16, 32, 32, 3\)")


@pytest.mark.parametrize("dataset", [Float64Dataset, Uint8Dataset])
def test_dataloader_rejects_wrong_dtype(dataset):
    rejects(pu.check_dataloader, loader_of(dataset(images())), match="expected dtype torch.float32")


def test_dataloader_rejects_an_empty_loader():
    rejects(pu.check_dataloader, loader_of(helpers.FaceDataset(images(8)), batch_size=16),
            match="the DataLoader is empty")


def test_dataloader_accepts_image_label_batches(capsys):
    class Labelled(helpers.FaceDataset):
        def __getitem__(self, index):
            return super().__getitem__(index), 0

    passes(capsys, pu.check_dataloader, loader_of(Labelled(images())))


# --- check_discriminator -----------------------------------------------------------------------

def test_discriminator_passes(capsys, nb):
    passes(capsys, pu.check_discriminator, nb["Discriminator"])


def test_discriminator_rejects_a_final_sigmoid(nb):
    class SigmoidD(nb["Discriminator"]):
        def forward(self, x):
            return torch.sigmoid(super().forward(x))

    rejects(pu.check_discriminator, SigmoidD, match="expected raw logits.*remove the final sigmoid")


def test_discriminator_rejects_4d_output(nb):
    class FourD(nb["Discriminator"]):
        def forward(self, x):
            return super().forward(x).view(-1, 1, 1, 1)

    rejects(pu.check_discriminator, FourD, match=r"expected output shape \(2, 1\), got \(2, 1, 1, 1\)")


def test_discriminator_rejects_1d_output(nb):
    class OneD(nb["Discriminator"]):
        def forward(self, x):
            return super().forward(x).squeeze(1)

    rejects(pu.check_discriminator, OneD, match=r"expected output shape \(2, 1\), got \(2,\)")


def test_discriminator_rejects_hard_coded_flatten(nb):
    class HardCodedFlattenD(nb["Discriminator"]):
        """x.view(-1, 2048) and nn.Linear(2048, 1), written for conv_dim=64 only."""

        def __init__(self, conv_dim=64):
            super().__init__(conv_dim)
            self.net[-1] = nn.Linear(64 * 8 * 2 * 2, 1)

        def forward(self, x):
            return self.net[-1](self.net[:-2](x).view(-1, 64 * 8 * 2 * 2))

    rejects(pu.check_discriminator, HardCodedFlattenD,
            match=re.escape("Discriminator(conv_dim=32): expected output shape (2, 1), got (1, 1)"))


def conv_head_discriminator(nb, sigmoid=False):
    """The notebook's D made all-convolutional: a 2x2 conv to one channel gives the logit (and, if asked, a sigmoid)."""
    class ConvHeadD(nb["Discriminator"]):
        def __init__(self, conv_dim=64):
            super().__init__(conv_dim)
            self.net[-2] = nn.Conv2d(conv_dim * 8, 1, 2)  # (B, 1, 1, 1)
            self.net[-1] = nn.Flatten()  # (B, 1)

        def forward(self, x):
            out = super().forward(x)
            return torch.sigmoid(out) if sigmoid else out

    return ConvHeadD


def test_discriminator_passes_all_convolutional(capsys, nb):
    """A last nn.Conv2d is a logit layer too: an all-convolutional D passes."""
    assert not any(isinstance(m, nn.Linear) for m in conv_head_discriminator(nb)().modules())
    passes(capsys, pu.check_discriminator, conv_head_discriminator(nb))


def test_discriminator_rejects_a_final_sigmoid_after_a_conv_head(nb):
    """The logit test scales the last nn.Conv2d when there is no nn.Linear, and still finds the sigmoid."""
    rejects(pu.check_discriminator, conv_head_discriminator(nb, sigmoid=True),
            match="expected raw logits.*remove the final sigmoid")


def test_discriminator_rejects_hard_coded_linear_with_an_assertion(nb):
    class HardCodedLinearD(nb["Discriminator"]):
        def __init__(self, conv_dim=64):
            super().__init__(conv_dim)
            self.net[-1] = nn.Linear(64 * 8 * 2 * 2, 1)  # conv_dim=32 gives 1024 features, not 2048

    rejects(pu.check_discriminator, HardCodedLinearD,
            match=re.escape("Discriminator(conv_dim=32) on a batch of 2 raised RuntimeError: ") + ".*shapes")


def test_discriminator_rejects_breaking_at_batch_size_2_with_an_assertion(nb):
    class GroupsOfFourD(nb["Discriminator"]):
        """Centres the batch in groups of 4 images (minibatch statistics): a batch of 2 has no group."""

        def forward(self, x):
            groups = x.view(4, -1, *x.shape[1:])
            return super().forward((groups - groups.mean(0)).reshape(x.shape))

    rejects(pu.check_discriminator, GroupsOfFourD,
            match=re.escape("Discriminator(conv_dim=64) on a batch of 2 raised RuntimeError: "))


# --- check_generator ---------------------------------------------------------------------------

def test_generator_passes(capsys, nb):
    passes(capsys, pu.check_generator, nb["Generator"])


def test_generator_rejects_no_tanh(nb):
    class NoTanhG(nb["Generator"]):
        def __init__(self, z_size=100, conv_dim=64):
            super().__init__(z_size, conv_dim)
            self.net[-1] = nn.Identity()

    rejects(pu.check_generator, NoTanhG, match=r"expected outputs spanning \[-1, 1\] \(a tanh at the end\), got \[-\d")


def test_generator_rejects_sigmoid_instead_of_tanh(nb):
    """A sigmoid's outputs lie inside [-1, 1] but never below 0: the dark half of the data's range is missing."""
    class SigmoidG(nb["Generator"]):
        def __init__(self, z_size=100, conv_dim=64):
            super().__init__(z_size, conv_dim)
            self.net[-1] = nn.Sigmoid()

    rejects(pu.check_generator, SigmoidG,
            match=r"expected outputs spanning \[-1, 1\] \(a tanh at the end\), got \[0\.\d+, 0\.\d+\]")


@pytest.mark.parametrize("size, resize", [(16, lambda x: F.avg_pool2d(x, 2)),
                                          (64, lambda x: F.interpolate(x, scale_factor=2))])
def test_generator_rejects_wrong_size(nb, size, resize):
    class WrongSizeG(nb["Generator"]):
        def forward(self, z):
            return resize(super().forward(z))

    rejects(pu.check_generator, WrongSizeG,
            match=re.escape(f"Generator(z_size=100, conv_dim=64): expected (2, 3, 32, 32), got (2, 3, {size}, {size})"))


def test_generator_rejects_constant_output(nb):
    """All zeros: caught by the range check first, whose message shows the single value [0, 0]."""
    class ConstantG(nb["Generator"]):
        def forward(self, z):
            return super().forward(z) * 0

    rejects(pu.check_generator, ConstantG,
            match=r"expected outputs spanning \[-1, 1\] \(a tanh at the end\), got \[-?0\.000, -?0\.000\]")


def test_generator_rejects_ignoring_z(nb):
    """The same image for every z, with a full range of pixel values: only the spread across z shows it."""
    class IgnoresZG(nb["Generator"]):
        def forward(self, z):
            return super().forward(torch.zeros_like(z))

    rejects(pu.check_generator, IgnoresZG, match="expected images that vary with z, got the same image for every z")


def test_generator_rejects_hard_coded_z_size_with_an_assertion(nb):
    class HardCodedZG(nb["Generator"]):
        def __init__(self, z_size=100, conv_dim=64):
            super().__init__(100, conv_dim)

    rejects(pu.check_generator, HardCodedZG,
            match=re.escape("Generator(z_size=64, conv_dim=32) on z of shape (2, 64) raised RuntimeError: ") + ".*shapes")


# --- check_weights_init ------------------------------------------------------------------------

def test_weights_init_passes(capsys, nb):
    passes(capsys, pu.check_weights_init, nb["weights_init_normal"], nb["Discriminator"], nb["Generator"])


def weights_init(conv_std=0.02, zero_bias=True, bn_weight=lambda w: nn.init.normal_(w, 1.0, 0.02),
                 conv_types=(nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
    """A weights_init_normal with one thing changed."""
    def init(m):
        if isinstance(m, conv_types):
            nn.init.normal_(m.weight, 0.0, conv_std)
            if m.bias is not None and zero_bias:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            bn_weight(m.weight)
            nn.init.zeros_(m.bias)
    return init


@pytest.mark.parametrize("init, match", [
    (weights_init(conv_std=1.0), r"Discriminator\.net\.0: expected weights with mean 0 and std 0\.02, got .* std 1\.0"),
    (lambda m: None, r"Discriminator\.net\.0: expected weights with mean 0 and std 0\.02"),
    (weights_init(conv_types=(nn.Conv2d,)), r"Discriminator\.net\.12: expected weights with mean 0 and std 0\.02"),
    (weights_init(zero_bias=False), r"Discriminator\.net\.0: expected biases of 0"),
    (weights_init(bn_weight=nn.init.zeros_), r"\(batch norm\): expected weights with mean 1 and std 0\.02, got mean 0\.0"),
    (weights_init(bn_weight=nn.init.ones_), r"\(batch norm\): expected weights with mean 1 and std 0\.02, got .* std 0\.0000"),
    (weights_init(bn_weight=lambda w: nn.init.normal_(w, 0.0, 0.02)), r"\(batch norm\): expected weights with mean 1"),
], ids=["std-1", "default-init", "conv2d-only", "biases-kept", "bn-zeros", "bn-ones", "bn-like-conv"])
def test_weights_init_rejects(nb, init, match):
    rejects(pu.check_weights_init, init, nb["Discriminator"], nb["Generator"], match=match)


def test_weights_init_rejects_nonzero_batch_norm_biases(nb):
    def init(m):
        nb["weights_init_normal"](m)
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.bias, 0.0, 0.02)

    rejects(pu.check_weights_init, init, nb["Discriminator"], nb["Generator"], match=r"\(batch norm\): expected biases of 0")


# --- check_losses ------------------------------------------------------------------------------

def bce(d_out, label):
    return F.binary_cross_entropy_with_logits(d_out, torch.full_like(d_out, label))


def test_losses_pass(capsys, nb):
    passes(capsys, pu.check_losses, nb["real_loss"], nb["fake_loss"])


def test_losses_pass_written_with_modules(capsys):
    criterion = nn.BCEWithLogitsLoss()
    passes(capsys, pu.check_losses,
           lambda d, smooth=False: criterion(d, torch.full_like(d, 0.9 if smooth else 1.0)),
           lambda d: criterion(d, torch.zeros_like(d)))


EXPECTED_REAL = r"real_loss\(d_out\) on logits \[2\.0, -1\.0, 0\.5, 0\.0\]: expected 0\.6519"
EXPECTED_FAKE = r"fake_loss\(d_out\) on logits .*: expected 1\.0269"
EXPECTED_SMOOTH = r"real_loss\(d_out, smooth=True\) on logits .*: expected 0\.6894"
LARGE_LOGITS = r"real_loss on logits \[200, -200\]: expected 100\.0 \(BCE computed from logits stays exact\)"


@pytest.mark.parametrize("real_loss, fake_loss, match", [
    (lambda d, smooth=False: bce(d, 0.0), lambda d: bce(d, 1.0), EXPECTED_REAL),
    (lambda d, smooth=False: bce(torch.sigmoid(d), 0.9 if smooth else 1.0),
     lambda d: bce(torch.sigmoid(d), 0.0), EXPECTED_REAL),
    (lambda d, smooth=False: bce(d, 1.0), lambda d: bce(d, 0.0), EXPECTED_SMOOTH),
    (lambda d, smooth=False: bce(d, 0.9 if smooth else 1.0), lambda d: bce(d, 0.1), EXPECTED_FAKE),
    (lambda d, smooth=False: bce(d, 0.9 if smooth else 1.0) * len(d), lambda d: bce(d, 0.0) * len(d), EXPECTED_REAL),
    (lambda d, smooth=False: F.binary_cross_entropy_with_logits(d, torch.full_like(d, 0.9 if smooth else 1.0),
                                                                reduction="none"),
     lambda d: F.binary_cross_entropy_with_logits(d, torch.zeros_like(d), reduction="none"),
     r"real_loss\(d_out\): expected a scalar tensor"),
    (lambda d, smooth=False: bce(d, 0.9 if smooth else 1.0).item(), lambda d: bce(d, 0.0).item(),
     r"real_loss\(d_out\): expected a scalar tensor"),
    (lambda d, smooth=False: bce(d, 0.9 if smooth else 1.0).detach(), lambda d: bce(d, 0.0).detach(),
     r"real_loss\(d_out\): expected a loss that gradients flow through"),
    (lambda d, smooth=False: -(0.9 if smooth else 1.0) * torch.log(torch.sigmoid(d)).mean()
     - (0.1 if smooth else 0.0) * torch.log(1 - torch.sigmoid(d)).mean(),
     lambda d: -torch.log(1 - torch.sigmoid(d)).mean(), LARGE_LOGITS + r", got nan"),
], ids=["swapped-labels", "sigmoid-twice", "smoothing-ignored", "smoothing-on-fake", "sum-not-mean",
        "reduction-none", "python-float", "detached", "unstable-log-sigmoid"])
def test_losses_reject(real_loss, fake_loss, match):
    rejects(pu.check_losses, real_loss, fake_loss, match=match)


def test_losses_reject_bce_on_raw_logits_with_an_assertion():
    """BCELoss on logits: its own RuntimeError becomes an AssertionError naming the call that raised it."""
    real = lambda d, smooth=False: F.binary_cross_entropy(d, torch.full_like(d, 0.9 if smooth else 1.0))  # noqa: E731
    fake = lambda d: F.binary_cross_entropy(d, torch.zeros_like(d))  # noqa: E731
    rejects(pu.check_losses, real, fake,
            match=re.escape("real_loss(d_out) raised RuntimeError: ") + ".*between 0 and 1")


def test_losses_reject_sigmoid_then_bce_loss():
    """Sigmoid then BCELoss (which clamps log to -100) is exact up to |logit| ~ 88-100, then float32 sigmoid underflows."""
    real = lambda d, smooth=False: F.binary_cross_entropy(torch.sigmoid(d), torch.full_like(d, 0.9 if smooth else 1.0))  # noqa: E731
    fake = lambda d: F.binary_cross_entropy(torch.sigmoid(d), torch.zeros_like(d))  # noqa: E731
    assert real(torch.tensor([[200.0], [-200.0]])).item() == pytest.approx(50.0)  # 100 expected: it is unstable
    rejects(pu.check_losses, real, fake, match=LARGE_LOGITS + r", got 50\.0000")


# --- check_train_step --------------------------------------------------------------------------

class NoStep:
    """An optimizer whose step() does nothing (train_step forgot to call it)."""

    def __init__(self, optimizer):
        self.optimizer = optimizer

    def zero_grad(self, *args, **kwargs):
        self.optimizer.zero_grad(*args, **kwargs)

    def step(self, *args, **kwargs):
        pass


def explicit_train_step(nb, swap_d_labels=False, report="probabilities"):
    """The notebook's train_step written out, with its D labels swapped or its D(x), D(G(z)) reported otherwise."""
    real_loss, fake_loss = nb["real_loss"], nb["fake_loss"]

    def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size):
        fake_images = G(torch.randn(real_images.size(0), z_size, device=real_images.device))
        d_optimizer.zero_grad()
        d_real, d_fake = D(real_images), D(fake_images.detach())
        if swap_d_labels:
            d_loss = fake_loss(d_real) + real_loss(d_fake)
        else:
            d_loss = real_loss(d_real) + fake_loss(d_fake)
        d_loss.backward()
        d_optimizer.step()
        g_optimizer.zero_grad()
        g_loss = real_loss(D(fake_images))
        g_loss.backward()
        g_optimizer.step()
        reported = {"probabilities": (torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean()),
                    "logits": (d_real.mean(), d_fake.mean()),
                    "losses": (real_loss(d_real), fake_loss(d_fake))}[report]
        return d_loss.detach(), g_loss.detach(), *(r.detach() for r in reported)

    return train_step


def test_train_step_passes(capsys, nb):
    passes(capsys, pu.check_train_step, nb["train_step"], nb["Discriminator"], nb["Generator"])


def test_train_step_passes_written_out(capsys, nb):
    passes(capsys, pu.check_train_step, explicit_train_step(nb), nb["Discriminator"], nb["Generator"])


@pytest.mark.parametrize("frozen, message", [
    ("d", r"expected the discriminator's parameters to change \(d_optimizer\.step\(\)\)"),
    ("g", r"expected the generator's parameters to change \(g_optimizer\.step\(\)\)"),
])
def test_train_step_rejects_a_missing_optimizer_step(nb, frozen, message):
    def train_step(D, G, d_opt, g_opt, real, z_size):
        d_opt, g_opt = (NoStep(d_opt), g_opt) if frozen == "d" else (d_opt, NoStep(g_opt))
        return nb["train_step"](D, G, d_opt, g_opt, real, z_size)

    rejects(pu.check_train_step, train_step, nb["Discriminator"], nb["Generator"], match=message)


def test_train_step_rejects_three_values(nb):
    def train_step(*args):
        return nb["train_step"](*args)[:3]

    rejects(pu.check_train_step, train_step, nb["Discriminator"], nb["Generator"],
            match=re.escape("expected train_step to return (d_loss, g_loss, D(x), D(G(z))), got tuple"))


def test_train_step_rejects_nan(nb):
    def train_step(*args):
        d_loss, g_loss, d_x, d_g_z = nb["train_step"](*args)
        return d_loss * math.nan, g_loss, d_x, d_g_z

    rejects(pu.check_train_step, train_step, nb["Discriminator"], nb["Generator"], match=r"expected finite losses, got \[nan")


def test_train_step_rejects_swapped_d_labels(nb):
    """Real labelled 0 and fake 1: the d_loss returned is below what BCE with real -> 1, fake -> 0 allows."""
    rejects(pu.check_train_step, explicit_train_step(nb, swap_d_labels=True), nb["Discriminator"], nb["Generator"],
            match=re.escape("expected d_loss (BCE, real -> 1 or 0.9, fake -> 0) >= "))


class Uphill(NoStep):
    """An optimizer that steps up the gradient (a hand-written update with the sign flipped)."""

    def step(self, *args, **kwargs):
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.neg_()
        self.optimizer.step(*args, **kwargs)


def test_train_step_rejects_a_discriminator_that_does_not_learn(nb):
    """Everything returned is right, and D's parameters change, but the wrong way: only the learning test sees it."""
    def train_step(D, G, d_opt, g_opt, real, z_size):
        return nb["train_step"](D, G, Uphill(d_opt), g_opt, real, z_size)

    rejects(pu.check_train_step, train_step, nb["Discriminator"], nb["Generator"],
            match=r"expected D's loss on a fixed real batch to fall over 5 steps")


def test_train_step_rejects_losses_for_probabilities_when_out_of_range(nb):
    def train_step(*args):
        d_loss, g_loss, _, _ = nb["train_step"](*args)
        return d_loss, g_loss, d_loss, g_loss  # d_loss ~ 1.4: outside [0, 1]

    rejects(pu.check_train_step, train_step, nb["Discriminator"], nb["Generator"],
            match=r"expected D\(x\) and D\(G\(z\)\) to be mean probabilities in \[0, 1\]")


def test_train_step_rejects_losses_for_probabilities(nb):
    """The BCE losses on real and fake (each ~0.69 at the start) lie in [0, 1], but are not mean(sigmoid(D(x)))."""
    rejects(pu.check_train_step, explicit_train_step(nb, report="losses"), nb["Discriminator"], nb["Generator"],
            match=re.escape("expected D(x) = mean(sigmoid(D(real_images))) = "))


def test_train_step_rejects_logits_for_probabilities(nb):
    """Mean logits instead of probabilities: with the check's seed they are -0.35 and -0.19, out of range.

    The range test catches this first; the D(x) = mean(sigmoid(D(real_images))) test stands behind it.
    """
    with pytest.raises(AssertionError, match=r"mean probabilities in \[0, 1\]"):
        pu.check_train_step(explicit_train_step(nb, report="logits"), nb["Discriminator"], nb["Generator"])


# --- On a GPU, where there is one --------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_device_checks_pass_on_cuda(capsys, nb):
    passes(capsys, pu.check_discriminator, nb["Discriminator"], device="cuda")
    passes(capsys, pu.check_generator, nb["Generator"], device="cuda")
    passes(capsys, pu.check_train_step, nb["train_step"], nb["Discriminator"], nb["Generator"], device="cuda")
