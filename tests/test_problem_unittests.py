"""Tests of the checks in problem_unittests.py: each passes the notebook's own code and rejects broken code.

The correct implementations are the notebook's (benchmarks.notebook.load_notebook_code, the `nb`
fixture) and helpers.get_dataloader; the broken ones below are small variations of them. A broken
implementation must be rejected with an AssertionError whose message names the mistake (and what was
expected); a valid variation of the lesson's code must pass. For check_train_step, `variant` below is
the notebook's step written out with knobs: each knob turns it into a valid variation or a typical mistake.
Where a check lets a broken implementation through, or rejects it some other way, the test is marked
xfail(strict=True) with the reason, so that fixing the check turns it into a failure to un-mark.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import math
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import helpers
from benchmarks.notebook import load_notebook_code
import problem_unittests as pu

CHECKS = ("check_scale", "check_dataloader", "check_discriminator", "check_generator", "check_weights_init",
          "check_losses", "check_optimizers", "check_train_step", "check_weight_average")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is faster


def passes(capsys, check, *args, **kwargs) -> None:
    """Run a check and assert that it printed its verdict."""
    check(*args, **kwargs)
    assert pu.PASSED in capsys.readouterr().out


def rejects(check, *args, match: str, **kwargs) -> None:
    """Run a check and assert that it raised a CheckFailed (an AssertionError) matching `match`, naming the check."""
    with pytest.raises(AssertionError, match=match) as e:
        check(*args, **kwargs)
    assert isinstance(e.value, pu.CheckFailed) and e.value.check == check.__name__, repr(e.value)


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


@pytest.mark.parametrize("name, positional, keywords", [
    ("check_scale", ["scale"], {}),
    ("check_dataloader", ["loader", "image_size"], {"image_size": 32}),
    ("check_discriminator", ["Discriminator", "device"], {"device": "cpu", "image_size": 32}),
    ("check_generator", ["Generator", "device"], {"device": "cpu", "image_size": 32}),
    ("check_weights_init", ["weights_init_normal", "Discriminator", "Generator"], {}),
    ("check_losses", ["real_loss", "fake_loss"], {}),
    ("check_train_step", ["train_step", "Discriminator", "Generator", "device", "steps"], {"device": "cpu", "steps": 5}),
    ("check_optimizers", ["d_optimizer", "g_optimizer", "D", "G", "lr", "betas"], {"lr": 2e-4, "betas": (0.5, 0.999)}),
    ("check_weight_average", ["update_average"], {}),
])
def test_checks_keep_their_signature(name, positional, keywords):
    """The notebook's calls keep working: the same positional parameters first, new ones only with defaults."""
    params = inspect.signature(getattr(pu, name)).parameters
    assert list(params)[:len(positional)] == positional
    assert {k: params[k].default for k in keywords} == keywords
    assert all(p.default is not inspect.Parameter.empty for p in list(params.values())[len(positional):])


def test_checks_stand_alone():
    """problem_unittests.py holds its own reference: it neither imports helpers nor reads the notebook."""
    source = inspect.getsource(pu)
    assert not re.search(r"^\s*(import|from)\s+helpers", source, re.M) and "load_notebook_code" not in source
    assert not re.search(r"json|read_text|open\(", source)


# --- check_scale -------------------------------------------------------------------------------

def test_scale_passes(capsys):
    passes(capsys, pu.check_scale, scale)


def test_scale_rejects_missing_shift():
    rejects(pu.check_scale, lambda x, feature_range=(-1, 1): x * 2, match=r"expected \[-1\.0, -0\.5, 0\.0, 1\.0\]")


def test_scale_rejects_ignored_feature_range():
    rejects(pu.check_scale, lambda x, feature_range=(-1, 1): x * 2 - 1,
            match=r"feature_range=\(0, 1\)\): expected \[0\.0, 0\.25, 0\.5, 1\.0\]")


@pytest.mark.parametrize("scale, match", [
    (lambda x, feature_range=(-1, 1): x * (feature_range[1] - feature_range[0]), "the shift is missing"),
    (lambda x, feature_range=(-1, 1): x * 2 - 1, r"feature_range is ignored: use min, max = feature_range"),
    (lambda x, feature_range=(-1, 1): scale(x / 255, feature_range), r"its input is already in \[0, 1\]"),
    (lambda x, feature_range=(-1, 1): x * (feature_range[1] - feature_range[0]) - feature_range[0],
     "the low end is subtracted"),
], ids=["no-shift", "range-ignored", "divides-by-255", "subtracts-min"])
def test_scale_names_the_mistake(scale, match):
    rejects(pu.check_scale, scale, match=match)


def test_scale_hidden_test_tries_a_batch(capsys):
    flat = lambda x, feature_range=(-1, 1): x.reshape(-1) * (feature_range[1] - feature_range[0]) + feature_range[0]  # noqa: E731
    passes(capsys, pu.check_scale, flat)  # the visible check's inputs are flat already
    rejects(pu.check_scale, flat, batch=True, match=r"^scale\(a batch of shape \(2, 3, 4, 4\) .* returned shape \(96,\): "
                                                    r"keep x's shape")
    pu.check_scale(scale, batch=True, seed=1, quiet=True)


def test_scale_rejects_stretching_its_inputs_own_range():
    def stretch(x, feature_range=(-1, 1)):
        low, high = feature_range
        return (x - x.min()) / (x.max() - x.min()) * (high - low) + low

    rejects(pu.check_scale, stretch,
            match=r"scale stretches each input's own x\.min\(\)\.\.x\.max\(\)")


def test_scale_passes_in_place(capsys):
    """Scaling the input tensor in place is fine: the check hands each call a fresh tensor."""
    def scale(x, feature_range=(-1, 1)):
        low, high = feature_range
        return x.mul_(high - low).add_(low)

    passes(capsys, pu.check_scale, scale)


def test_scale_rejects_a_non_tensor():
    rejects(pu.check_scale, lambda x, feature_range=(-1, 1): scale(x, feature_range).tolist(),
            match="scale should return a tensor")


# --- check_dataloader --------------------------------------------------------------------------

def images(n=64, size=32):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)


# helpers.FaceDataset passes pixels in [0, 1] through the notebook's scale; each broken dataset below
# is that with one typical mistake in the scale step (for one image (3, S, S) or a batch).
scale = load_notebook_code()["scale"]


BROKEN_SCALES = {
    "unscaled": lambda x: x,  # [0, 1]: forgot scale
    "channels-last": lambda x: scale(x).movedim(-3, -1),  # (32, 32, 3)
    "float64": lambda x: scale(x).double(),
    "uint8": lambda x: (x * 255).to(torch.uint8),
    "from-0-255": lambda x: scale(x * 255),  # scale() of 0..255 floats: [-1, 509]
    "scaled-twice": lambda x: scale(scale(x)),  # [-1, 1] scaled again: [-3, 1]
    "grey": lambda x: scale(x)[..., :1, :, :],
}


def dataset(mistake=None, n=64, size=32):
    return helpers.FaceDataset(images(n, size), BROKEN_SCALES[mistake] if mistake else scale)


def loader_of(dataset, batch_size=16):
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                                       collate_fn=lambda batch: batch)


def test_dataloader_passes(capsys):
    passes(capsys, pu.check_dataloader, helpers.get_dataloader(16, images=images(), scale=scale))


def test_dataloader_passes_other_sizes(capsys):
    passes(capsys, pu.check_dataloader, helpers.get_dataloader(8, image_size=64, images=images(16, 64), scale=scale), image_size=64)


def test_dataloader_rejects_unscaled_images():
    rejects(pu.check_dataloader, loader_of(dataset("unscaled")), match=r"spread over \[-1, 1\].*apply scale")


def test_dataloader_rejects_images_scaled_from_0_255():
    rejects(pu.check_dataloader, loader_of(dataset("from-0-255")), match=r"expected values in \[-1, 1\]")


def test_dataloader_rejects_64x64():
    rejects(pu.check_dataloader, helpers.get_dataloader(16, image_size=64, images=images(32, 64), scale=scale),
            match=r"expected batches of shape \(16, 3, 32, 32\), got \(16, 3, 64, 64\)")


def test_dataloader_rejects_channels_last():
    rejects(pu.check_dataloader, loader_of(dataset("channels-last")),
            match=r"expected batches of shape \(16, 3, 32, 32\), got \(16, 32, 32, 3\)")


@pytest.mark.parametrize("mistake", ["float64", "uint8"])
def test_dataloader_rejects_wrong_dtype(mistake):
    rejects(pu.check_dataloader, loader_of(dataset(mistake)), match="expected dtype torch.float32")


@pytest.mark.parametrize("loader, match", [
    (lambda: loader_of(dataset("scaled-twice")), r"expected values in \[-1, 1\], got \[-3.*applied twice"),
    (lambda: loader_of(dataset("from-0-255")), r"expected values in \[-1, 1\].*divide by 255 first"),
    (lambda: loader_of(dataset("channels-last")), r"channels come last.*permute\(2, 0, 1\)"),
    (lambda: loader_of(dataset("grey")), r"got \(16, 1, 32, 32\). One channel: convert the images to RGB"),
    (lambda: helpers.get_dataloader(16, image_size=64, images=images(32, 64), scale=scale), r"resize them to 32x32"),
    (lambda: loader_of(dataset("uint8")), r"torch.uint8. Convert the pixels to floats"),
    (lambda: torch.utils.data.DataLoader(dataset(), batch_size=16, drop_last=True,
                                                 collate_fn=lambda batch: batch), "the DataLoader does not shuffle: pass shuffle=True"),
], ids=["scaled-twice", "from-0-255", "channels-last", "grey", "64x64", "uint8", "no-shuffle"])
def test_dataloader_names_the_mistake(loader, match):
    rejects(pu.check_dataloader, loader(), match=match)


def test_dataloader_rejects_an_empty_loader():
    rejects(pu.check_dataloader, loader_of(dataset(n=8), batch_size=16),
            match="the DataLoader is empty")


def test_dataloader_accepts_image_label_batches(capsys):
    class Labelled(helpers.FaceDataset):  # (images, labels), as an ImageFolder gives
        def __getitems__(self, indices):
            return super().__getitems__(indices), torch.zeros(len(indices), dtype=torch.long)

    passes(capsys, pu.check_dataloader, loader_of(Labelled(images(), scale)))


# --- check_discriminator -----------------------------------------------------------------------

def test_discriminator_passes(capsys, nb):
    passes(capsys, pu.check_discriminator, nb["Discriminator"])


def test_discriminator_rejects_a_final_sigmoid(nb):
    class SigmoidD(nb["Discriminator"]):
        def forward(self, x):
            return torch.sigmoid(super().forward(x))

    rejects(pu.check_discriminator, SigmoidD, match=r"a sigmoid runs after it\. Remove it")


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
            match=r"a sigmoid runs after it\. Remove it")


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


class ForSixtyFour(nn.Module):
    """A network for 64x64 images: a stride-2 convolution (64 -> 32) in front of the notebook's D."""

    def __init__(self, inner):
        super().__init__()
        self.down, self.inner = nn.Conv2d(3, 3, 4, stride=2, padding=1), inner

    def forward(self, x):
        return self.inner(F.leaky_relu(self.down(x), 0.2))


def test_discriminator_checks_the_image_size_asked_for(capsys, nb):
    def D64(conv_dim=64):
        return ForSixtyFour(nb["Discriminator"](conv_dim))

    passes(capsys, pu.check_discriminator, D64, image_size=64)
    rejects(pu.check_discriminator, nb["Discriminator"], image_size=64,
            match=r"on a batch of 2 raised RuntimeError: .*Its layer net\.12, nn\.Linear\(2048, 1\), expects "
                  r"in_features=2048 but gets 8192 features per image: the last feature map is 512x4x4 for 64x64 images")
    rejects(pu.check_discriminator, D64, match=r"Its layer inner\.net\.12, nn\.Linear\(2048, 1\), expects in_features=2048 "
                                               r"but gets 512 features per image: the last feature map is 512x1x1 for 32x32")


@pytest.mark.parametrize("change, match", [
    (lambda x: x.view(-1, 1, 1, 1), r"got \(2, 1, 1, 1\): flatten the last layer's output to \(batch, 1\)"),
    (lambda x: x.squeeze(1), r"got \(2,\): keep the last layer's \(batch, 1\) output"),
    (lambda x: x.reshape(1, -1), r"got \(1, 2\): the batch dimension was mixed into the features"),
], ids=["4d", "squeezed", "batch-in-features"])
def test_discriminator_names_the_shape_mistake(nb, change, match):
    class WrongShapeD(nb["Discriminator"]):
        def forward(self, x):
            return change(super().forward(x))

    rejects(pu.check_discriminator, WrongShapeD, match=match)


def test_discriminator_rejects_ignoring_conv_dim(nb):
    class FixedD(nb["Discriminator"]):
        def __init__(self, conv_dim=64):
            super().__init__(64)

    rejects(pu.check_discriminator, FixedD, match="Discriminator ignores conv_dim")


# --- check_discriminator: what the paper asks inside D (facegen/checks/networks.py) ----------------

class WrittenOutD(nn.Module):
    """The notebook's D without nn.Sequential: layers under other names, activations and flatten in forward."""

    def __init__(self, conv_dim=64, slope=0.2, first_norm=False, dropout=0.0, grow=2):
        super().__init__()
        channels = [3] + [conv_dim * grow ** i for i in range(4)]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 4, 2, 1, bias=i == 0) for i, (a, b) in
                                   enumerate(zip(channels, channels[1:])))
        self.norms = nn.ModuleList([nn.BatchNorm2d(conv_dim) if first_norm else nn.Identity()] +
                                   [nn.BatchNorm2d(c) for c in channels[2:]])
        self.logit = nn.Linear(channels[-1] * 2 * 2, 1)
        self.slope, self.dropout = slope, dropout

    def forward(self, x):
        for conv, norm in zip(self.convs, self.norms):
            x = norm(conv(x))
            x = F.leaky_relu(x) if self.slope is None else F.leaky_relu(x, self.slope)
            x = F.dropout(x, self.dropout, self.training)
        return self.logit(x.flatten(1))


def changed_d(nb, change):
    """The notebook's D with its nn.Sequential changed by change(layers, conv_dim) -> layers."""
    class ChangedD(nb["Discriminator"]):
        def __init__(self, conv_dim=64):
            super().__init__(conv_dim)
            self.net = nn.Sequential(*change(list(self.net), conv_dim))

    return ChangedD


VALID_DS = {
    "written-out": lambda nb: WrittenOutD,
    "written-out-with-dropout": lambda nb: functools.partial(WrittenOutD, dropout=0.3),
    "leaky-relu-in-place": lambda nb: changed_d(nb, lambda layers, c: [nn.LeakyReLU(0.2, inplace=True)
                                                                        if isinstance(m, nn.LeakyReLU) else m
                                                                        for m in layers]),
    "dropout-modules": lambda nb: changed_d(nb, lambda layers, c: [x for m in layers for x in
                                                                    ((m, nn.Dropout2d(0.2)) if isinstance(m, nn.LeakyReLU)
                                                                     else (m,))]),
    "other-slope": lambda nb: functools.partial(WrittenOutD, slope=0.1),
    "all-convolutional": lambda nb: conv_head_discriminator(nb),
    "no-batch-norm": lambda nb: changed_d(nb, lambda layers, c: [m for m in layers
                                                                  if not isinstance(m, nn.BatchNorm2d)]),
}


@pytest.mark.parametrize("make", VALID_DS.values(), ids=VALID_DS.keys())
def test_discriminator_passes_other_ways_of_writing_it(capsys, nb, make):
    passes(capsys, pu.check_discriminator, make(nb))


PAPER = r"Directly applying batch norm to all layers resulted in sample oscillation and model instability, which " \
        r"the DCGAN paper avoided by leaving batch norm off G's output layer and D's input layer"
D_MISTAKES = {
    "batch-norm-on-the-images": (lambda nb: changed_d(nb, lambda layers, c: [nn.BatchNorm2d(3)] + layers),
                                 r"^Batch norm on D's input layer: net\.0 \(BatchNorm2d\) runs directly on the images\. "
                                 + PAPER + r": remove it"),
    "batch-norm-after-the-first-conv": (lambda nb: changed_d(nb, lambda layers, c: layers[:1] + [nn.BatchNorm2d(c)] +
                                                             layers[1:]),
                                        r"^Batch norm on D's input layer: net\.1 \(BatchNorm2d\) runs right after D's "
                                        r"first convolution \(net\.0\)\. " + PAPER),
    "written-out-batch-norm-after-the-first-conv": (lambda nb: functools.partial(WrittenOutD, first_norm=True),
                                                    r"^Batch norm on D's input layer: norms\.0 \(BatchNorm2d\) runs right "
                                                    r"after D's first convolution \(convs\.0\)"),
    "default-slope-module": (lambda nb: changed_d(nb, lambda layers, c: [nn.LeakyReLU() if isinstance(m, nn.LeakyReLU)
                                                                          else m for m in layers]),
                             r"^Between D's layers net\.0 and net\.2 there is a leaky ReLU with PyTorch's default slope "
                             r"0\.01 \(nn\.LeakyReLU\(\)\): use nn\.LeakyReLU\(0\.2\) .*the paper's slope"),
    "default-slope-functional": (lambda nb: functools.partial(WrittenOutD, slope=None),
                                 r"^Between D's layers convs\.0 and convs\.1 there is a leaky ReLU with PyTorch's "
                                 r"default slope 0\.01"),
    "relu": (lambda nb: changed_d(nb, lambda layers, c: [nn.ReLU() if isinstance(m, nn.LeakyReLU) else m for m in layers]),
             r"^Between D's layers net\.0 and net\.2 there is a ReLU \(slope 0\): use nn\.LeakyReLU\(0\.2\)"),
    "no-activation": (lambda nb: changed_d(nb, lambda layers, c: [m for m in layers if not isinstance(m, nn.LeakyReLU)]),
                      r"^Between D's layers net\.0 and net\.1 there is no activation \(slope 1\)"),
    "tanh-at-the-end": (lambda nb: changed_d(nb, lambda layers, c: layers + [nn.Tanh()]),
                        r"a tanh runs after it\. Remove it"),
    "dropout-on-the-logit": (lambda nb: changed_d(nb, lambda layers, c: layers + [nn.Dropout(0.3)]),
                             r"^Something random runs after D's last layer \(net\.12\) in training: dropout"),
    "channels-never-double": (lambda nb: functools.partial(WrittenOutD, grow=1),
                              r"^D's channels do not grow: its convolutions give 32 -> 32 -> 32 -> 32 channels"),
}


@pytest.mark.parametrize("make, match", D_MISTAKES.values(), ids=D_MISTAKES.keys())
def test_discriminator_names_what_the_paper_leaves_out(nb, make, match):
    rejects(pu.check_discriminator, make(nb), match=match)


def test_discriminator_names_a_linear_sized_for_a_4x4_feature_map(nb):
    """Four stride-2 convolutions leave 2x2, not 4x4: the message names the nn.Linear, not the input size."""
    def sized_for_4x4(layers, conv_dim):
        return layers[:-1] + [nn.Linear(conv_dim * 8 * 4 * 4, 1)]

    with pytest.raises(AssertionError) as e:
        pu.check_discriminator(changed_d(nb, sized_for_4x4))
    assert re.search(r"Its layer net\.12, nn\.Linear\(8192, 1\), expects in_features=8192 but gets 2048 features per "
                     r"image: the last feature map is 512x2x2 for 32x32 images, so use "
                     r"nn\.Linear\(conv_dim \* 8 \* 2 \* 2, 1\)", str(e.value)), str(e.value)
    assert "Its input had shape" not in str(e.value)


def test_discriminator_names_a_linear_hard_coded_for_conv_dim_64(nb):
    with pytest.raises(AssertionError, match=r"Discriminator\(conv_dim=32\) on a batch of 2 raised RuntimeError: .*"
                                             r"nn\.Linear\(2048, 1\), expects in_features=2048 but gets 1024 features per "
                                             r"image: the last feature map is 256x2x2 .* nn\.Linear\(conv_dim \* 8 \* 2 \* 2, 1\)"):
        pu.check_discriminator(changed_d(nb, lambda layers, c: layers[:-1] + [nn.Linear(64 * 8 * 2 * 2, 1)]))


def test_discriminator_names_the_input_size_when_no_linear_is_at_fault(nb):
    class HardCodedViewD(nb["Discriminator"]):
        def forward(self, x):
            return self.net[-1](self.net[:-2](x).view(x.size(0), self.conv_dim * 8 * 2 * 2))

    rejects(pu.check_discriminator, HardCodedViewD, image_size=64,
            match=r"raised RuntimeError: .*Its input had shape \(2, 3, 64, 64\): expected the network to take 64x64 images")


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


def test_generator_checks_the_image_size_asked_for(capsys, nb):
    class UpsampledG(nb["Generator"]):
        def forward(self, z):
            return F.interpolate(super().forward(z), scale_factor=2)  # 64x64, still in [-1, 1]

    passes(capsys, pu.check_generator, UpsampledG, image_size=64)
    rejects(pu.check_generator, nb["Generator"], image_size=64,
            match=re.escape("Generator(z_size=100, conv_dim=64): expected (2, 3, 64, 64), got (2, 3, 32, 32)") +
            ": add or remove a stride-2 layer")


def test_generator_rejects_ignoring_conv_dim(nb):
    class FixedG(nb["Generator"]):
        def __init__(self, z_size=100, conv_dim=64):
            super().__init__(z_size, 64)

    rejects(pu.check_generator, FixedG, match="Generator ignores conv_dim")


def test_generator_rejects_hard_coded_z_size_with_an_assertion(nb):
    class HardCodedZG(nb["Generator"]):
        def __init__(self, z_size=100, conv_dim=64):
            super().__init__(100, conv_dim)

    rejects(pu.check_generator, HardCodedZG,
            match=re.escape("Generator(z_size=64, conv_dim=32) on z of shape (2, 64) raised RuntimeError: ") + ".*shapes")


def test_generator_names_the_reshape_when_a_batch_norm_gets_other_channels(nb):
    class WrongReshapeG(nb["Generator"]):
        def forward(self, z):
            return self.net(self.fc(z).view(-1, self.conv_dim * 4, 4, 2))

    rejects(pu.check_generator, WrongReshapeG,
            match=re.escape("raised RuntimeError: running_mean should contain 256 elements not 512. A batch norm got a "
                            "tensor with another number of channels") + r".*\(batch, conv_dim \* 8, 2, 2\)")


class WrittenOutG(nn.Module):
    """The notebook's G without nn.Sequential, activations in forward; upsample-then-convolve if asked; with batch
    norm on the output layer if asked (the mistake)."""

    def __init__(self, z_size=100, conv_dim=64, norm_last=False, upsample=False):
        super().__init__()
        self.conv_dim = conv_dim
        self.project = nn.Linear(z_size, conv_dim * 8 * 2 * 2)
        channels = [conv_dim * 8, conv_dim * 4, conv_dim * 2, conv_dim]
        self.ups = nn.ModuleList(nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False) for a, b in zip(channels, channels[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in channels)
        self.to_rgb = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(conv_dim, 3, 3, padding=1)) if upsample \
            else nn.ConvTranspose2d(conv_dim, 3, 4, 2, 1)
        self.rgb_norm = nn.BatchNorm2d(3) if norm_last else nn.Identity()

    def forward(self, z):
        x = F.relu(self.norms[0](self.project(z).view(-1, self.conv_dim * 8, 2, 2)))
        for up, norm in zip(self.ups, self.norms[1:]):
            x = F.relu(norm(up(x)))
        return torch.tanh(self.rgb_norm(self.to_rgb(x)))


@pytest.mark.parametrize("make", [lambda nb: WrittenOutG, lambda nb: functools.partial(WrittenOutG, upsample=True)],
                         ids=["written-out", "upsample-and-convolve"])
def test_generator_passes_other_ways_of_writing_it(capsys, nb, make):
    passes(capsys, pu.check_generator, make(nb))


def test_generator_names_batch_norm_before_the_tanh(nb):
    class NormedOutputG(nb["Generator"]):
        def __init__(self, z_size=100, conv_dim=64):
            super().__init__(z_size, conv_dim)
            self.net = nn.Sequential(*self.net[:-1], nn.BatchNorm2d(3), nn.Tanh())

    rejects(pu.check_generator, NormedOutputG,
            match=r"^Batch norm on G's output layer: net\.12 \(BatchNorm2d\) runs after G's last layer \(net\.11\), right "
                  r"before the tanh\. " + PAPER + r": remove it, so that the last transpose convolution goes straight")
    rejects(pu.check_generator, functools.partial(WrittenOutG, norm_last=True),
            match=r"^Batch norm on G's output layer: rgb_norm \(BatchNorm2d\) runs after G's last layer \(to_rgb\)")


# --- check_weights_init ------------------------------------------------------------------------

def test_weights_init_passes(capsys, nb):
    passes(capsys, pu.check_weights_init, nb["weights_init_normal"], nb["Discriminator"], nb["Generator"])


def weights_init(conv_std=0.02, zero_bias=True, bn_weight=lambda w: nn.init.normal_(w, 1.0, 0.02),
                 conv_types=(nn.Conv2d, nn.ConvTranspose2d, nn.Linear), conv_init=None, bias_init=nn.init.zeros_):
    """A weights_init_normal with one thing changed."""
    def init(m):
        if isinstance(m, conv_types):
            (conv_init or (lambda w: nn.init.normal_(w, 0.0, conv_std)))(m.weight)
            if m.bias is not None and zero_bias:
                bias_init(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            bn_weight(m.weight)
            nn.init.zeros_(m.bias)
    return init


def udacity_weights_init(m):
    """The Udacity project's solution: conv and linear weights ~ N(0, 0.02), biases 0, batch norm untouched."""
    classname = m.__class__.__name__
    if hasattr(m, "weight") and (classname.find("Conv") != -1 or classname.find("Linear") != -1):
        m.weight.data.normal_(0.0, 0.02)
        if hasattr(m, "bias") and m.bias is not None:
            m.bias.data.fill_(0)


@pytest.mark.parametrize("init", [
    weights_init(zero_bias=False), weights_init(bn_weight=nn.init.ones_), weights_init(bn_weight=lambda w: None),
    udacity_weights_init, weights_init(bias_init=lambda b: nn.init.normal_(b, 0.0, 0.02)),
], ids=["biases-kept", "bn-ones", "bn-default", "udacity", "biases-small-normal"])
def test_weights_init_passes_what_the_paper_leaves_open(capsys, nb, init):
    """Only conv/linear weights ~ N(0, 0.02) are required; biases and batch norm may keep PyTorch's defaults."""
    passes(capsys, pu.check_weights_init, init, nb["Discriminator"], nb["Generator"])


@pytest.mark.parametrize("init, match", [
    (weights_init(conv_std=1.0), r"Discriminator\.net\.0: expected weights with mean 0 and std 0\.02, got .* std 1\.0"),
    (lambda m: None, r"^Conv2d weights were not initialised: Discriminator\.net\.0: expected weights with mean 0 and "
                     r"std 0\.02, got .*\(PyTorch's default\)"),
    (weights_init(conv_types=(nn.Conv2d,)),
     r"^Linear weights were not initialised: Discriminator\.net\.12: expected weights with mean 0 and std 0\.02"),
    (weights_init(conv_types=(nn.Conv2d, nn.Linear)), r"^ConvTranspose2d weights were not initialised: Generator\.net\.2: "
                                                      r".*Make weights_init_normal handle nn\.ConvTranspose2d too"),
    (weights_init(conv_std=0.2), r"^Conv2d weights have std 0\.2, ten times too large: .* got mean -?0\.0\d+ and std 0\.2"),
    (weights_init(conv_init=lambda w: nn.init.normal_(w, 0.02)),
     r"^Conv2d weights have std 1, normal_'s default: .*nn\.init\.normal_\(w, 0\.02\) sets the mean"),
    (weights_init(conv_std=0.02 ** 2), r"^Conv2d weights have std 0\.0004 = 0\.02 squared: .*not the variance"),
    (weights_init(conv_init=lambda w: nn.init.uniform_(w, -0.0346, 0.0346)), r"^Conv2d weights are uniform, not normal"),
    (weights_init(conv_init=lambda w: nn.init.normal_(w, 1.0, 0.02)), r"^Conv2d weights are centred at 1"),
    (weights_init(bias_init=nn.init.ones_), r"^Conv2d biases are too large: Discriminator\.net\.0: expected biases of 0 "
                                            r"\(or PyTorch's default, within \+-0\.144\), got values up to 1\.000"),
    (weights_init(bn_weight=nn.init.zeros_), r"\(batch norm\): expected weights with mean 1 and std 0\.02, got mean 0\.0"),
    (weights_init(bn_weight=lambda w: nn.init.normal_(w, 0.0, 0.02)), r"\(batch norm\): expected weights with mean 1"),
    (weights_init(bn_weight=lambda w: nn.init.normal_(w, 1.0, 0.2)),
     r"^BatchNorm2d weights have std 0\.[12]\d instead of 0\.02: Discriminator\.net\.3 \(batch norm\)"),
], ids=["std-1", "default-init", "conv2d-only", "no-conv-transpose", "std-0.2", "mean-for-std", "variance-for-std",
        "uniform", "mean-1", "biases-1", "bn-zeros", "bn-like-conv", "bn-std-0.2"])
def test_weights_init_rejects(nb, init, match):
    rejects(pu.check_weights_init, init, nb["Discriminator"], nb["Generator"], match=match)


def classname_find_bug(m):
    """`if classname.find('Conv') or ...`: find returns -1 (true) when absent, so every module is 'initialised'."""
    classname = m.__class__.__name__
    if classname.find("Conv") or classname.find("Linear"):
        m.weight.data.normal_(0.0, 0.02)


def bias_of_none(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        m.bias.data.fill_(0)  # the layers built with bias=False have no bias


def in_place_on_a_parameter(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        m.weight.normal_(0.0, 0.02)  # not .data, not nn.init, not under no_grad


@pytest.mark.parametrize("init, match", [
    (classname_find_bug, r"has no attribute 'weight'\. weights_init_normal is applied to every module .*find\('Conv'\) is -1"),
    (bias_of_none, r"'NoneType' object has no attribute 'data'\. A layer built with bias=False has m\.bias = None"),
    (in_place_on_a_parameter, r"in-place operation\. Change parameters with nn\.init\.normal_"),
], ids=["classname-find", "bias-none", "in-place-on-parameter"])
def test_weights_init_names_the_error(nb, init, match):
    rejects(pu.check_weights_init, init, nb["Discriminator"], nb["Generator"],
            match=r"^Discriminator\.apply\(weights_init_normal\) raised \w+Error: .*" + match)


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


@pytest.mark.parametrize("real_loss, fake_loss, match", [
    (lambda d, smooth=False: bce(d, 0.0), lambda d: bce(d, 1.0), "real_loss uses the fake label 0: real images are labelled 1"),
    (lambda d, smooth=False: bce(torch.sigmoid(d), 0.9 if smooth else 1.0), lambda d: bce(torch.sigmoid(d), 0.0),
     "the sigmoid is applied twice"),
    (lambda d, smooth=False: bce(d, 1.0), lambda d: bce(d, 0.0), "smooth=True was ignored: with smoothing the real labels are 0.9"),
    (lambda d, smooth=False: bce(d, 0.9), lambda d: bce(d, 0.0), "real_loss smooths with smooth=False"),
    (lambda d, smooth=False: bce(d, 0.9 if smooth else 1.0), lambda d: bce(d, 0.1),
     r"label smoothing was applied to the fake labels \(0\.1\): only the real labels are smoothed"),
    (lambda d, smooth=False: bce(d, 0.9 if smooth else 1.0), lambda d: bce(d, 1.0), "fake_loss uses the real label 1"),
    (lambda d, smooth=False: bce(d, 0.9 if smooth else 1.0), lambda d: bce(d, 0.9),
     r"fake_loss uses the smoothed real label 0\.9: fakes are labelled 0"),
    (lambda d, smooth=False: nn.BCELoss()(d, torch.full_like(d, 0.9 if smooth else 1.0)),
     lambda d: nn.BCELoss()(d, torch.zeros_like(d)),
     r"raised RuntimeError: all elements of input should be between 0 and 1\. That is nn\.BCELoss .*use "
     r"F\.binary_cross_entropy_with_logits"),
    (lambda d, smooth=False: F.binary_cross_entropy_with_logits(d, torch.full((len(d),), 0.9 if smooth else 1.0)),
     lambda d: F.binary_cross_entropy_with_logits(d, torch.zeros(len(d))),
     r"raised ValueError: .*\. The labels must have the shape of d_out, \(batch, 1\): make them with "
     r"torch\.full_like\(d_out, value\)"),
    (lambda d, smooth=False: bce(d, 0.9 if smooth else 1.0) * len(d), lambda d: bce(d, 0.0) * len(d),
     r"summed over the batch: take the mean"),
    (lambda d, smooth=False: -bce(d, 0.9 if smooth else 1.0), lambda d: -bce(d, 0.0), "the loss is negated"),
    (lambda d, smooth=False: bce(d, 0.9 if smooth else 1.0).item(), lambda d: bce(d, 0.0).item(),
     r"not \.item\(\)"),
], ids=["swapped-labels", "sigmoid-twice", "smoothing-ignored", "smoothing-always", "smoothing-on-fake", "fake-labelled-real",
        "fake-labelled-smoothed-real", "bce-loss-on-logits", "labels-without-the-batch-dimension", "sum-not-mean",
        "negated", "python-float"])
def test_losses_name_the_mistake(real_loss, fake_loss, match):
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


NOISY = r"gives another value at each call on the same logits \(.*\): its targets are random\. Random targets \(such as " \
        r"uniform in \[0\.8, 1\]\) are another technique, \"noisy labels\"; the lesson's label smoothing is the fixed 0\.9"


@pytest.mark.parametrize("real_loss, match", [
    (lambda d, smooth=False: bce(d, 1.0) if not smooth else
     F.binary_cross_entropy_with_logits(d, torch.empty_like(d).uniform_(0.8, 1)), r"^real_loss\(d_out, smooth=True\) " + NOISY),
    (lambda d, smooth=False: F.binary_cross_entropy_with_logits(d, torch.empty_like(d).uniform_(0.8, 1) if smooth else
                                                                torch.empty_like(d).uniform_(0.9, 1)),
     r"^real_loss\(d_out\) " + NOISY),
], ids=["noisy-when-smoothing", "noisy-always"])
def test_losses_name_random_targets(nb, real_loss, match):
    rejects(pu.check_losses, real_loss, nb["fake_loss"], match=match)


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
    """Real labelled 0 and fake 1: D's update is read off exactly, labels included, and named."""
    rejects(pu.check_train_step, explicit_train_step(nb, swap_d_labels=True), nb["Discriminator"], nb["Generator"],
            match=r"^D's labels are swapped: its update trains real images toward 0\.00 and fakes toward 1\.00")


class Uphill(NoStep):
    """An optimizer that steps up the gradient (a hand-written update with the sign flipped)."""

    def step(self, *args, **kwargs):
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.neg_()
        self.optimizer.step(*args, **kwargs)


def test_train_step_rejects_a_discriminator_that_does_not_learn(nb):
    """Everything returned is right, and D's parameters change, but the wrong way: D's gradient is read off
    at d_optimizer.step() as minus the gradient of its loss."""
    def train_step(D, G, d_opt, g_opt, real, z_size):
        return nb["train_step"](D, G, Uphill(d_opt), g_opt, real, z_size)

    rejects(pu.check_train_step, train_step, nb["Discriminator"], nb["Generator"], match=r"^D's update climbs its loss")


def test_train_step_rejects_a_discriminator_that_stops_learning(nb):
    """Right on the first call with each D, real and fake labels swapped afterwards: only the learning test
    over 5 steps sees it (the single-step comparison sees one good step with each D)."""
    swapped = explicit_train_step(nb, swap_d_labels=True)

    def train_step(D, G, d_opt, g_opt, real, z_size):
        D.calls_seen = getattr(D, "calls_seen", 0) + 1
        return (nb["train_step"] if D.calls_seen == 1 else swapped)(D, G, d_opt, g_opt, real, z_size)

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


# One train_step with knobs: each test below turns one knob away from the lesson's step (written out
# as in the notebook), to a valid variation that must pass or to a typical mistake that must be named.

class Variant:
    """The notebook's train_step written out, each knob a valid variation or a typical mistake."""

    KNOBS = dict(noise="randn", fakes_for_g="same", d_fakes="detach", d_backward="sum", d_labels="right",
                 g_loss="real", zero_grad="before", g_step="g", returns="tensors", order="d_first", extra="")

    def __init__(self, nb, **knobs):
        assert set(knobs) <= set(self.KNOBS), set(knobs) - set(self.KNOBS)
        self.real_loss, self.fake_loss = nb["real_loss"], nb["fake_loss"]
        self.__dict__.update({**self.KNOBS, **knobs})

    def __call__(self, D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
        self.D, self.G, self.d_optimizer, self.g_optimizer, self.smooth = D, G, d_optimizer, g_optimizer, smooth
        self.n, self.z_size, self.device = real_images.size(0), z_size, real_images.device
        if self.zero_grad == "start":
            d_optimizer.zero_grad(), g_optimizer.zero_grad()
        self.real_images = real_images * 2 - 1 if self.extra == "scale-again" else real_images
        if self.extra == "g-eval":
            G.eval()
        self.z = self.sample()
        with torch.no_grad() if self.d_fakes == "no-grad" else contextlib.nullcontext():
            self.fake_images = G(self.z)
        if self.order == "g_first":
            g_loss = self.update_g(None)
            d_loss, d_real, d_fake = self.update_d()
        else:
            d_loss, d_real, d_fake = self.update_d()
            g_loss = self.update_g(d_fake)
        if self.extra == "leave-g-eval":
            G.eval()
        return self.returned([d_loss.detach(), g_loss.detach(), torch.sigmoid(d_real).mean().detach(),
                              torch.sigmoid(d_fake).mean().detach()])

    def sample(self):
        n, z_size, device = self.n, self.z_size, self.device
        return {"randn": lambda: torch.randn(n, z_size, device=device),
                "uniform": lambda: torch.rand(n, z_size, device=device) * 2 - 1,  # the Udacity project's z
                "cpu": lambda: torch.randn(n, z_size),  # wrong on a GPU only
                "4d": lambda: torch.randn(n, z_size, 1, 1),  # the PyTorch tutorial's z, for a G that starts with a conv
                "z_size-100": lambda: torch.randn(n, 100, device=device),
                "transposed": lambda: torch.randn(z_size, n, device=device),
                "global-batch": lambda: torch.randn(64, z_size, device=device),
                "one-row": lambda: torch.randn(1, z_size, device=device).expand(n, -1),
                "rand": lambda: torch.rand(n, z_size, device=device),
                "fixed": lambda: torch.randn(n, z_size, generator=torch.Generator().manual_seed(0)).to(device),
                }[self.noise]()

    def zero(self, opt, net):
        {"keep-zeros": lambda: opt.zero_grad(set_to_none=False), "module": lambda: net.zero_grad(),
         "start": lambda: None, "after-backward": lambda: None}.get(self.zero_grad, opt.zero_grad)()

    def d_terms(self, d_real, d_fake):
        real_loss, fake_loss, smooth = self.real_loss, self.fake_loss, self.smooth
        return {"right": lambda: (real_loss(d_real, smooth), fake_loss(d_fake)),
                "swapped": lambda: (fake_loss(d_real), real_loss(d_fake, smooth)),
                "fake-smoothed": lambda: (real_loss(d_real, smooth), bce(d_fake, 0.1)),
                "always-smooth": lambda: (real_loss(d_real, True), fake_loss(d_fake)),
                "never-smooth": lambda: (real_loss(d_real), fake_loss(d_fake)),
                "no-fake-term": lambda: (real_loss(d_real, smooth), fake_loss(d_fake.detach())),
                "negated": lambda: (-real_loss(d_real, smooth), -fake_loss(d_fake))}[self.d_labels]()

    def update_d(self):
        D, n, real_images, fake_images = self.D, self.n, self.real_images, self.fake_images
        if self.zero_grad != "no-d":
            self.zero(self.d_optimizer, D)
        if self.extra == "concat":
            d_real, d_fake = D(torch.cat([real_images, fake_images.detach()])).split(n)
        else:
            d_real = D(real_images)
            d_fake = D(fake_images.detach() if self.d_fakes in ("detach", "no-grad") else fake_images)
        real_part, fake_part = self.d_terms(d_real, d_fake)
        d_loss, retain = real_part + fake_part, self.d_fakes == "retain-graph"
        if self.d_backward == "separate":
            real_part.backward(), fake_part.backward(retain_graph=retain)
        else:
            d_loss = {"sum": d_loss, "mean": d_loss / 2, "batch-sum": d_loss * n}[self.d_backward]
            d_loss.backward(retain_graph=retain)
        if self.zero_grad == "after-backward":
            self.d_optimizer.zero_grad()
        self.d_optimizer.step()
        return d_loss, d_real, d_fake

    def update_g(self, d_fake):
        D, G, real_loss, fake_loss = self.D, self.G, self.real_loss, self.fake_loss
        fakes = {"same": lambda: self.fake_images, "fresh-noise": lambda: G(self.sample()),
                 "new-call": lambda: G(self.z)}[self.fakes_for_g]()
        if self.zero_grad != "no-g":
            self.zero(self.g_optimizer, G)
        if self.extra == "d-eval":
            D.eval()
        d_out = d_fake if self.g_loss == "reuse-d-output" else D(fakes)
        D.train()
        loss = {"real": lambda: real_loss(d_out), "reuse-d-output": lambda: real_loss(d_out),
                "fake": lambda: fake_loss(d_out), "saturating": lambda: -fake_loss(d_out),
                "log-saturating": lambda: torch.log(1 - torch.sigmoid(d_out)).mean(),
                "log-non-saturating": lambda: -torch.log(torch.sigmoid(d_out)).mean(),
                "smoothed": lambda: real_loss(d_out, self.smooth), "negated": lambda: -real_loss(d_out),
                "detached": lambda: real_loss(D(fakes.detach()))}[self.g_loss]()
        loss.backward()
        {"g": self.g_optimizer, "d": self.d_optimizer}[self.g_step].step()
        return loss

    def returned(self, values):
        order = {"tensors": (0, 1, 2, 3), "floats": (0, 1, 2, 3), "g-loss-first": (1, 0, 2, 3),
                 "probs-swapped": (0, 1, 3, 2), "probs-first": (2, 3, 0, 1)}[self.returns]
        values = [values[i] for i in order]
        return tuple(v.item() for v in values) if self.returns == "floats" else tuple(values)


def variant(nb, **knobs) -> Variant:
    """A train_step: the notebook's, written out, with the knobs given changed (see Variant.KNOBS)."""
    return Variant(nb, **knobs)


VALID = {
    "notebook-written-out": {},
    "z-global-batch-size": dict(noise="global-batch"),
    "fresh-noise-for-g": dict(fakes_for_g="fresh-noise"),
    "new-g-call-for-g": dict(fakes_for_g="new-call"),
    "fakes-under-no-grad": dict(d_fakes="no-grad", fakes_for_g="new-call"),
    "separate-backward": dict(d_backward="separate"),
    "d-loss-averaged": dict(d_backward="mean"),
    "zero-grad-at-start": dict(zero_grad="start"),
    "zero-grad-set-to-none-false": dict(zero_grad="keep-zeros"),
    "module-zero-grad": dict(zero_grad="module"),
    "log-sigmoid-g-loss": dict(g_loss="log-non-saturating"),
    "g-updated-first": dict(order="g_first"),
}


@pytest.mark.parametrize("change", VALID.values(), ids=VALID.keys())
def test_train_step_accepts(capsys, nb, change):
    passes(capsys, pu.check_train_step, variant(nb, **change), nb["Discriminator"], nb["Generator"])


def test_train_step_accepts_a_missing_detach_cleared_before_gs_backward_and_says_what_it_costs(capsys, nb):
    """No detach() (retain_graph=True), but g_optimizer.zero_grad() right before G's backward pass: the same
    updates as the lesson's step, at the price of a backward pass through G. Passed, with a note said once."""
    pu.check_train_step(variant(nb, d_fakes="retain-graph"), nb["Discriminator"], nb["Generator"])
    said = capsys.readouterr().out.splitlines()
    assert said[-1] == pu.PASSED and len(said) == 2, said
    assert said[0].startswith("Note: D's loss scores fake_images without .detach()") and "D(fake_images.detach())" in said[0]


def test_train_step_accepts_either_labelling_without_a_smooth_argument(capsys, nb):
    """Without a `smooth` parameter there is nothing to pass on: real labels of 1 or of 0.9 are both fine."""
    for labels in ("always-smooth", "never-smooth"):
        step = variant(nb, d_labels=labels)
        passes(capsys, pu.check_train_step, lambda D, G, d_opt, g_opt, real, z_size: step(D, G, d_opt, g_opt, real, z_size),
               nb["Discriminator"], nb["Generator"])


MISTAKES = {
    "g-toward-fake-label": (dict(g_loss="fake"), r"^G was trained toward the fake label: g_loss = fake_loss\(D\(G\(z\)\)\)"),
    "saturating-g-loss": (dict(g_loss="saturating"), r"^G's loss is the saturating one: G minimises -fake_loss\(D\(G\(z\)\)\)"),
    "saturating-g-loss-as-log": (dict(g_loss="log-saturating"), r"^G's loss is the saturating one: .*non-saturating"),
    "smoothing-in-g-loss": (dict(g_loss="smoothed"), r"^Label smoothing was applied to G's loss \(label 0\.9\)"),
    "g-loss-negated": (dict(g_loss="negated"), r"^G's update climbs its loss"),
    "g-loss-on-detached-fakes": (dict(g_loss="detached"), r"^G received no gradient: .*not detached"),
    "d-labels-swapped": (dict(d_labels="swapped"), r"^D's labels are swapped: its update trains real images toward 0\.00 "
                                                  r"and fakes toward 0\.90"),
    "smoothing-on-fake-labels": (dict(d_labels="fake-smoothed"), r"^Label smoothing was applied to the fake labels: D trains "
                                                                r"fakes toward 0\.1"),
    "smooth-false-ignored": (dict(d_labels="always-smooth"), r"^smooth=False was ignored: D's real labels were 0\.9 .*"
                                                           r"\[in train_step\(.*smooth=False\)\]"),
    "smooth-true-ignored": (dict(d_labels="never-smooth"), r"^smooth=True was ignored: D's real labels were 1"),
    "no-fake-term": (dict(d_labels="no-fake-term"), r"^D's loss has no gradient from the fakes"),
    "d-loss-negated": (dict(d_labels="negated"), r"^D's update climbs its loss: d_loss is negated"),
    "d-loss-summed-over-batch": (dict(d_backward="batch-sum"), r"^D's loss is summed over the batch"),
    "missing-d-zero-grad": (dict(zero_grad="no-d"), r"^Missing d_optimizer\.zero_grad\(\): D's update included the "
                                                   r"gradients left over"),
    "missing-g-zero-grad": (dict(zero_grad="no-g"), r"^Missing g_optimizer\.zero_grad\(\): G's update included"),
    "zero-grad-after-backward": (dict(zero_grad="after-backward"), r"^D's gradients were erased before d_optimizer\.step\(\): "
                                                                   r"d_optimizer\.zero_grad\(\) came after d_loss\.backward\(\)"),
    "missing-detach": (dict(d_fakes="attached"), r"^Missing detach\(\): train_step raised RuntimeError \(Trying to backward "
                                                 r"through the graph a second time\)\. .*D\(fake_images\.detach\(\)\)"),
    "missing-detach-retain-graph-zero-grad-at-start": (dict(d_fakes="retain-graph", zero_grad="start"),
                                                       r"^Missing detach\(\): .*also wrote gradients into G's \.grad, and "
                                                       r"G's update used them: g_optimizer\.zero_grad\(\) came before"),
    "g-loss-reuses-d-output": (dict(g_loss="reuse-d-output"), r"^G's loss reuses D's output from before D's update: "
                                                              r"train_step raised RuntimeError \(Trying to backward"),
    "g-loss-reuses-d-output-retain-graph": (dict(g_loss="reuse-d-output", d_fakes="retain-graph"),
                                            r"^G's loss reuses D's output from before D's update: .*modified by an inplace"),
    "d-step-for-g-step": (dict(g_step="d"), r"^d_optimizer\.step\(\) was called where g_optimizer\.step\(\) belongs"),
    "returns-g-loss-first": (dict(returns="g-loss-first"), re.escape("Values returned in the wrong order: train_step returned "
                                                                      "(g_loss, d_loss, D(x), D(G(z)))")),
    "returns-probabilities-swapped": (dict(returns="probs-swapped"), re.escape("returned (d_loss, g_loss, D(G(z)), D(x))")),
    "returns-probabilities-first": (dict(returns="probs-first"), re.escape("returned (D(x), D(G(z)), d_loss, g_loss)")),
    "z-size-hard-coded": (dict(noise="z_size-100"), r"^z has the wrong shape: .*G got z of shape \(12, 100\); this G was "
                                                    r"built with z_size=20.*is z_size hard-coded"),
    "z-transposed": (dict(noise="transposed"), r"^z has the wrong shape: .*G got z of shape \(20, 12\)"),
    "z-4d-for-a-linear-g": (dict(noise="4d"), r"^z has the wrong shape: .*G got z of shape \(12, 20, 1, 1\); this G was "
                                              r"built with z_size=20 and takes z of shape \(batch, z_size\) = \(12, 20\)"),
    "uniform-z": (dict(noise="uniform"), r"^z is not drawn from N\(0, 1\): its 240 numbers have mean .* and standard "
                                         r"deviation 0\.5.* \(that is a uniform draw from \[-1, 1\]"),
    "z-from-rand": (dict(noise="rand"), r"^z is not drawn from N\(0, 1\).*\(torch\.rand draws from \[0, 1\]\)\. "
                                        r"Draw it with torch\.randn"),
    "python-floats": (dict(returns="floats"), re.escape("train_step returned d_loss, g_loss, D(x), D(G(z)) as Python "
                                                        "numbers: return tensors without .item(): reading a number makes "
                                                        "the CPU wait for the GPU; helpers.train adds them up on the device")),
    "z-one-row": (dict(noise="one-row"), r"^z is the same for every image"),
    "z-fixed": (dict(noise="fixed"), r"^z is the same in every step"),
    "g-in-eval-mode": (dict(extra="g-eval"), r"^G ran in eval mode during train_step \(G\.eval\(\) without G\.train\(\)\)"),
    "d-in-eval-mode-for-g": (dict(extra="d-eval"), r"^D ran in eval mode during train_step.*eval\(\) does not freeze D"),
    "g-left-in-eval-mode": (dict(extra="leave-g-eval"), r"^train_step left G in eval mode: call G\.train\(\)"),
    "real-images-scaled-again": (dict(extra="scale-again"), r"^real_images were scaled again inside train_step"),
    "real-and-fake-in-one-batch": (dict(extra="concat"), r"^D scored real and fake images in one concatenated batch"),
}


@pytest.mark.parametrize("change, match", MISTAKES.values(), ids=MISTAKES.keys())
def test_train_step_names_the_mistake(nb, change, match):
    rejects(pu.check_train_step, variant(nb, **change), nb["Discriminator"], nb["Generator"], match=match)


def test_train_step_names_a_step_before_backward(nb):
    def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
        fake_images = G(torch.randn(real_images.size(0), z_size))
        d_optimizer.zero_grad()
        d_loss = nb["real_loss"](D(real_images), smooth) + nb["fake_loss"](D(fake_images.detach()))
        d_optimizer.step()
        d_loss.backward()
        return nb["train_step"](D, G, NoStep(d_optimizer), g_optimizer, real_images, z_size, smooth)

    rejects(pu.check_train_step, train_step, nb["Discriminator"], nb["Generator"],
            match=r"^d_optimizer\.step\(\) ran before d_loss\.backward\(\): D's update used no gradient")


def test_train_step_names_d_stepped_twice(nb):
    def train_step(D, G, d_optimizer, g_optimizer, *args):
        out = nb["train_step"](D, G, d_optimizer, g_optimizer, *args)
        d_optimizer.step()
        return out

    rejects(pu.check_train_step, train_step, nb["Discriminator"], nb["Generator"],
            match=r"^d_optimizer\.step\(\) was called 2 times")


def test_train_step_accepts_other_architectures(capsys, nb):
    """Dropout in D (replayed with the same random state), no batch norm, an all-convolutional D."""
    class DropoutD(nb["Discriminator"]):
        def forward(self, x):
            return self.net[-1](F.dropout(self.net[:-1](x), 0.3, self.training))

    class NoBatchNormD(nn.Module):
        def __init__(self, conv_dim=64):
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.2),
                                     nn.Conv2d(conv_dim, conv_dim * 2, 4, 2, 1), nn.LeakyReLU(0.2),
                                     nn.Flatten(), nn.Linear(conv_dim * 2 * 8 * 8, 1))

        def forward(self, x):
            return self.net(x)

    for D in (DropoutD, NoBatchNormD, conv_head_discriminator(nb)):
        passes(capsys, pu.check_train_step, nb["train_step"], D, nb["Generator"])


@pytest.mark.parametrize("how", ["module", "functional"])
def test_train_step_accepts_a_discriminator_with_dropout_after_every_leaky_relu(capsys, nb, how):
    """The bug this replaces: D's loss on the fixed real batch was measured with a new dropout mask each time,
    so with Dropout2d(0.5) (or F.dropout) after every leaky ReLU it rose, and step 7 was blamed for it."""
    class DropoutEverywhereD(nb["Discriminator"]):
        def __init__(self, conv_dim=64):
            super().__init__(conv_dim)
            if how == "module":
                self.net = nn.Sequential(*(m for layer in self.net for m in (
                    [layer, nn.Dropout2d(0.5)] if isinstance(layer, nn.LeakyReLU) else [layer])))

        def forward(self, x):
            if how == "module":
                return self.net(x)
            for layer in self.net:
                x = layer(x)
                x = F.dropout(x, 0.5, self.training) if isinstance(layer, nn.LeakyReLU) else x
            return x

    for steps in (5, 3):  # the visible check's and the hidden test's
        passes(capsys, pu.check_train_step, nb["train_step"], DropoutEverywhereD, nb["Generator"], steps=steps)


def test_train_step_accepts_a_4d_z_for_a_generator_that_takes_it(capsys, nb):
    class FlatteningG(nb["Generator"]):
        def forward(self, z):
            return super().forward(z.flatten(1))

    passes(capsys, pu.check_train_step, variant(nb, noise="4d"), nb["Discriminator"], FlatteningG)


def test_train_step_still_names_mistakes_with_dropout(nb):
    class DropoutD(nb["Discriminator"]):
        def forward(self, x):
            return self.net[-1](F.dropout(self.net[:-1](x), 0.3, self.training))

    rejects(pu.check_train_step, variant(nb, g_loss="saturating"), DropoutD, nb["Generator"],
            match=r"^G's loss is the saturating one")


# --- On a GPU, where there is one --------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_device_checks_pass_on_cuda(capsys, nb):
    passes(capsys, pu.check_discriminator, nb["Discriminator"], device="cuda")
    passes(capsys, pu.check_generator, nb["Generator"], device="cuda")
    passes(capsys, pu.check_train_step, nb["train_step"], nb["Discriminator"], nb["Generator"], device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_train_step_names_z_on_the_wrong_device(nb):
    rejects(pu.check_train_step, variant(nb, noise="cpu"), nb["Discriminator"], nb["Generator"], device="cuda",
            match=r"^z is on the wrong device: .*device=real_images\.device")


# --- a stub of the exercise --------------------------------------------------------------------

def test_a_stub_is_not_turned_into_a_failed_check():
    """A step the student has not written yet raises NotImplementedError naming the step; the checks let
    it through as it is (helpers.explain_stubs shows it in one line), not as a failed check."""
    class Stub(torch.nn.Module):
        def __init__(self, conv_dim=64):
            raise NotImplementedError("not implemented yet: step 5, Discriminator.__init__")

    with pytest.raises(NotImplementedError, match="step 5"):
        pu.check_discriminator(Stub)


def test_a_train_step_stub_is_not_turned_into_a_failed_check(nb):
    """check_train_step runs train_step under its own watch, not through _run: a stub still gets through."""
    def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
        raise NotImplementedError("not implemented yet: step 7, train_step (see the hints above)")

    with pytest.raises(NotImplementedError, match="step 7"):
        pu.check_train_step(train_step, nb["Discriminator"], nb["Generator"])


def test_an_error_that_gets_past_a_check_is_one_line_naming_the_learners_line(nb):
    class FailsInEval(nb["Discriminator"]):
        def forward(self, x):
            if not self.training:
                raise ValueError("only in training")
            return super().forward(x)

    rejects(pu.check_discriminator, FailsInEval,
            match=r"^check_discriminator could not finish: ValueError in your forward \(test_problem_unittests\.py, "
                  r"line \d+\): only in training\. Fix that line")


def test_an_error_inside_a_check_itself_is_one_line_too():
    rejects(pu.check_dataloader, 42,
            match=r"^check_dataloader could not finish: TypeError: .*This came from inside the check")


def test_discriminator_passes_a_stride_2_conv_head_on_a_4x4_map(capsys, nb):
    """A head that turns the last 4x4 map into one logit with a stride-2 convolution does not halve, and need not."""
    class ConvHead(nn.Module):
        def __init__(self, conv_dim=64):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.2),
                nn.Conv2d(conv_dim, conv_dim * 2, 4, 2, 1), nn.BatchNorm2d(conv_dim * 2), nn.LeakyReLU(0.2),
                nn.Conv2d(conv_dim * 2, conv_dim * 4, 4, 2, 1), nn.BatchNorm2d(conv_dim * 4), nn.LeakyReLU(0.2),
                nn.Conv2d(conv_dim * 4, 1, 4, 2, 0), nn.Flatten())

        def forward(self, x):
            return self.net(x)

    passes(capsys, pu.check_discriminator, ConvHead)


@pytest.mark.parametrize("padding", [0, 2])
def test_discriminator_names_a_convolution_that_does_not_halve(nb, padding):
    class Padded(nn.Module):
        def __init__(self, conv_dim=64):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.2),
                nn.Conv2d(conv_dim, conv_dim * 2, 4, 2, padding), nn.BatchNorm2d(conv_dim * 2), nn.LeakyReLU(0.2),
                nn.Flatten(), nn.LazyLinear(1))

        def forward(self, x):
            return self.net(x)

    size = {0: 7, 2: 9}[padding]
    rejects(pu.check_discriminator, Padded,
            match=rf"^D's layer net\.2, Conv2d\(32, 64, kernel_size=4, stride=2, padding={padding}\), turns 16x16 into "
                  rf"{size}x{size} .*: with kernel_size=4 and stride 2, padding=1 halves the size, 16x16 -> 8x8")


def test_generator_names_a_transpose_convolution_that_does_not_double(nb):
    class Unpadded(nb["Generator"]):
        def __init__(self, z_size=100, conv_dim=64):
            super().__init__(z_size, conv_dim)
            self.net[2] = nn.ConvTranspose2d(conv_dim * 8, conv_dim * 4, 4, stride=2, padding=0, bias=False)

    rejects(pu.check_generator, Unpadded,
            match=r"Generator\(z_size=100, conv_dim=64\): expected \(2, 3, 32, 32\), got \(2, 3, 48, 48\): its layer "
                  r"net\.2, ConvTranspose2d\(512, 256, kernel_size=4, stride=2, padding=0\), turns 2x2 into 6x6 .*"
                  r"padding=1 doubles the size, 2x2 -> 4x4")
