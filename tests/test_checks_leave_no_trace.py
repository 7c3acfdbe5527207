"""The checks of problem_unittests.py leave the learner's world as they found it.

In the notebook the networks are built after torch.manual_seed(FACEGEN_SEED), the checks run, and
then D.apply(weights_init_normal) draws the starting weights: a check that reseeded (or drew from)
the global generator would make the seed meaningless. So each check, passing or failing, leaves the
random state byte for byte as found, and the warnings filters too; it still does the same thing
whatever that state was; and the learner's own warnings are not hidden.
"""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn

import helpers
import problem_unittests as pu


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is faster


def images(n=64, size=32):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)


def sigmoid_d(nb):
    class SigmoidD(nb["Discriminator"]):
        def forward(self, x):
            return torch.sigmoid(super().forward(x))
    return SigmoidD


def ignores_z_g(nb):
    class IgnoresZG(nb["Generator"]):
        def forward(self, z):
            return super().forward(torch.zeros_like(z))
    return IgnoresZG


def std_one_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 1.0)


def optimizers(nb, swapped=False):
    D, G = nb["Discriminator"](conv_dim=8), nb["Generator"](conv_dim=8)
    d_opt, g_opt = (torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999)) for net in ((G, D) if swapped else (D, G)))
    return d_opt, g_opt, D, G


def update_average(average, G, decay):
    with torch.no_grad():
        for a, p in zip(average.parameters(), G.parameters()):
            a.lerp_(p, 1 - decay)


def update_average_swapped(average, G, decay):
    update_average(average, G, 1 - decay)


# check -> (arguments it passes with, arguments it fails with), from the notebook's code. Each failure
# but check_optimizers' comes after the check has drawn random numbers (and, for all but check_scale and
# check_losses, late).
CASES = {
    "check_scale": (lambda nb: (nb["scale"],), lambda nb: (lambda x, feature_range=(-1, 1): x,)),
    "check_dataloader": (
        lambda nb: (helpers.get_dataloader(16, images=images(), scale=nb["scale"]),),
        lambda nb: (torch.utils.data.DataLoader(helpers.FaceDataset(images(), nb["scale"]), batch_size=16,
                                                drop_last=True, collate_fn=lambda batch: batch),)),  # no shuffle
    "check_discriminator": (lambda nb: (nb["Discriminator"],), lambda nb: (sigmoid_d(nb),)),
    "check_generator": (lambda nb: (nb["Generator"],), lambda nb: (ignores_z_g(nb),)),
    "check_weights_init": (lambda nb: (nb["weights_init_normal"], nb["Discriminator"], nb["Generator"]),
                           lambda nb: (std_one_init, nb["Discriminator"], nb["Generator"])),
    "check_losses": (lambda nb: (nb["real_loss"], nb["fake_loss"]), lambda nb: (nb["fake_loss"], nb["fake_loss"])),
    "check_train_step": (
        lambda nb: (nb["train_step"], nb["Discriminator"], nb["Generator"]),
        lambda nb: (lambda *args, **kwargs: tuple(reversed(nb["train_step"](*args, **kwargs))),  # wrong order
                    nb["Discriminator"], nb["Generator"])),
    "check_optimizers": (lambda nb: optimizers(nb), lambda nb: optimizers(nb, swapped=True)),
    "check_weight_average": (lambda nb: (update_average,), lambda nb: (update_average_swapped,)),
}


def test_every_check_has_cases_here():
    assert set(CASES) == {name for name in vars(pu) if name.startswith("check_")}


@pytest.mark.parametrize("outcome", ["passes", "fails"])
@pytest.mark.parametrize("name", CASES)
def test_a_check_leaves_the_random_state_and_warnings_filters_as_found(nb, name, outcome):
    args = CASES[name][outcome == "fails"](nb)
    torch.manual_seed(1234)
    torch.rand(3)  # somewhere in the learner's stream, not at a seed
    state, filters = torch.get_rng_state(), list(warnings.filters)
    if outcome == "passes":
        getattr(pu, name)(*args)
    else:
        with pytest.raises(AssertionError):
            getattr(pu, name)(*args)
    assert torch.equal(torch.get_rng_state(), state), f"{name} changed the global random state"
    assert warnings.filters == filters, f"{name} changed the warnings filters"


@pytest.mark.parametrize("name", CASES)
def test_a_failed_check_is_a_check_failed_naming_the_check(nb, name):
    """An AssertionError still (pytest, nbgrader), shown by helpers.explain_stubs as `name: message`."""
    with pytest.raises(pu.CheckFailed) as e:
        getattr(pu, name)(*CASES[name][1](nb))
    assert isinstance(e.value, AssertionError) and e.value.check == name and str(e.value)


def test_the_seed_decides_the_starting_weights_though_a_check_runs_in_between(nb):
    """The notebook's order: seed, build D and G, check_weights_init, then D.apply(weights_init_normal)."""
    def starting_weights(check: bool) -> list[torch.Tensor]:
        torch.manual_seed(7)
        D, G = nb["Discriminator"](), nb["Generator"]()
        if check:
            pu.check_weights_init(nb["weights_init_normal"], nb["Discriminator"], nb["Generator"])
        D.apply(nb["weights_init_normal"])
        G.apply(nb["weights_init_normal"])
        return [p.detach().clone() for p in (*D.parameters(), *G.parameters())]

    assert all(torch.equal(a, b) for a, b in zip(starting_weights(False), starting_weights(True)))


def test_a_check_does_the_same_whatever_the_random_state_it_finds(nb):
    """Seeded inside its fork: the same inputs for the learner's networks after any torch.manual_seed."""
    seen = []

    class WatchedD(nb["Discriminator"]):
        def forward(self, x):
            seen.append(x.clone())
            return super().forward(x)

    inputs = []
    for learner_seed in (1, 2):
        seen.clear()
        torch.manual_seed(learner_seed)
        pu.check_discriminator(WatchedD)
        inputs.append(list(seen))
    assert len(inputs[0]) == len(inputs[1]) > 0
    assert all(torch.equal(a, b) for a, b in zip(*inputs))


def test_check_dataloader_leaves_the_loader_as_found(nb):
    """Its own generator (DataLoader(generator=...)) is not advanced, so the learner's first epoch is the
    one it would have been; a sampler's epoch is not changed."""
    faces = helpers.FaceDataset(images(), nb["scale"])

    def loader():
        return torch.utils.data.DataLoader(faces, batch_size=16, shuffle=True,
                                           generator=torch.Generator().manual_seed(5), collate_fn=lambda b: b)

    checked, untouched = loader(), loader()
    pu.check_dataloader(checked)
    assert torch.equal(next(iter(checked)), next(iter(untouched)))
    epochs = helpers.get_dataloader(16, images=images(), scale=nb["scale"])
    epochs.sampler.set_epoch(3)
    pu.check_dataloader(epochs)
    assert epochs.sampler.epoch == 3


@pytest.mark.parametrize("name", ["check_scale", "check_discriminator", "check_train_step"])
def test_a_warning_of_the_learners_code_is_shown_on_stdout_once(nb, name, capsys):
    """Shown with the verdict on stdout, once, and nothing on stderr: nbgrader gives a cell with stderr no points."""
    def warn(what):
        warnings.warn(f"the learner's own warning, from {what}", UserWarning)

    def scale(x, feature_range=(-1, 1)):
        warn("scale")
        return nb["scale"](x, feature_range)

    class WarningD(nb["Discriminator"]):
        def forward(self, x):
            warn("D")
            return super().forward(x)

    args = {"check_scale": (scale,), "check_discriminator": (WarningD,),
            "check_train_step": (nb["train_step"], WarningD, nb["Generator"])}[name]
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        getattr(pu, name)(*args)
    assert escaped == []
    what = "scale" if name == "check_scale" else "D"
    out = capsys.readouterr().out
    assert out.startswith(f"{pu.PASSED}, with a warning: UserWarning: the learner's own warning, from {what} "
                          "(test_checks_leave_no_trace.py, line ") and out.count("with a warning") == 1, out


@pytest.mark.parametrize("name", CASES)
def test_with_the_notebooks_code_the_checks_warn_nothing(nb, name, capsys):
    """Nothing is filtered, so the checks' own calls must not warn: the notebook's cells show only the verdict."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(pu, name)(*CASES[name][0](nb))
    assert capsys.readouterr().out == pu.PASSED + "\n"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", ["check_discriminator", "check_generator", "check_train_step"])
def test_a_check_on_cuda_leaves_both_random_states_as_found(nb, name):
    args = CASES[name][0](nb)
    torch.manual_seed(1234)
    cpu, cuda = torch.get_rng_state(), torch.cuda.get_rng_state()
    getattr(pu, name)(*args, device="cuda")
    assert torch.equal(torch.get_rng_state(), cpu) and torch.equal(torch.cuda.get_rng_state(), cuda)
