"""facegen/pictures.py, the learner aids: the game's equilibrium (checked against the notebook's own losses), the
loss plot's dashed equilibrium lines, and nearest_faces, the test of memorisation."""
from __future__ import annotations

import math

import pytest
import torch

import helpers
from facegen import pictures

HISTORY = {"step": [1, 2, 3], "epoch": [1, 1, 1], "d_loss": [1.2, 1.3, 1.4], "g_loss": [0.9, 0.8, 0.7],
           "d_real": [0.6, 0.55, 0.5], "d_fake": [0.3, 0.4, 0.45]}



def logit(p: float) -> torch.Tensor:
    return torch.full((4, 1), math.log(p / (1 - p)), dtype=torch.float64)


# --- The equilibrium -------------------------------------------------------------------------------

@pytest.mark.parametrize("smooth, d_star, d_loss, g_loss", [(False, 0.5, 1.386, 0.693), (True, 0.45, 1.376, 0.799)])
def test_equilibrium_is_the_notebooks_losses_at_ds_best_answer(nb, smooth, d_star, d_loss, g_loss):
    target = helpers.equilibrium(smooth)
    assert target["d_real"] == target["d_fake"] == pytest.approx(d_star)
    direct = nb["real_loss"](logit(d_star), smooth) + nb["fake_loss"](logit(d_star))  # the notebook's own BCE
    assert target["d_loss"] == pytest.approx(direct.item(), abs=1e-9) == pytest.approx(d_loss, abs=5e-4)
    assert target["g_loss"] == pytest.approx(nb["real_loss"](logit(d_star)).item(), abs=1e-9)
    assert target["g_loss"] == pytest.approx(g_loss, abs=5e-4)
    for nearby in (d_star - 0.02, d_star + 0.02):  # d_star is D's best answer when fakes look real
        worse = nb["real_loss"](logit(nearby), smooth) + nb["fake_loss"](logit(nearby))
        assert worse.item() > target["d_loss"] + 1e-5


# --- The loss plot ----------------------------------------------------------------------------------

def dashed(figure) -> dict[str, list[float]]:
    """{axes title: the heights of its dashed horizontal lines}."""
    return {ax.get_title(): sorted(line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == "--")
            for ax in figure.axes}


@pytest.mark.parametrize("smooth", [True, False])
def test_plot_losses_marks_the_equilibrium_as_labelled_dashed_lines(shown, smooth):
    helpers.plot_losses(HISTORY, smooth=smooth)
    (figure,) = shown
    target = helpers.equilibrium(smooth)
    lines = dashed(figure)
    assert lines["Training losses"] == pytest.approx(sorted([target["d_loss"], target["g_loss"]]))
    assert lines["What D believes"] == pytest.approx([target["d_real"]])
    labels = [line.get_label() for ax in figure.axes for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert all(f"{value:.3f}" in " ".join(labels) for value in (target["d_loss"], target["g_loss"], target["d_real"]))
    legend = [text.get_text() for ax in figure.axes for text in ax.get_legend().get_texts()]
    assert set(labels) <= set(legend), "each dashed line is named in its legend"


def test_plot_losses_without_smooth_draws_no_equilibrium(shown, tmp_path):
    helpers.plot_losses(HISTORY, path=tmp_path / "losses.png")
    (figure,) = shown
    assert dashed(figure) == {"Training losses": [], "What D believes": []}
    assert len([line for ax in figure.axes for line in ax.get_lines()]) == 4
    helpers.plot_losses(HISTORY, smooth=True, show=False)  # shown=False closes the figure instead
    assert len(shown) == 1


# --- nearest_faces ----------------------------------------------------------------------------------

def test_nearest_faces_finds_a_planted_copy_across_chunks_and_the_true_nearest_for_the_others():
    generator = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (700, 3, 8, 8), dtype=torch.uint8, generator=generator)
    samples = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8, generator=generator)
    samples[2] = images[613]  # a memorised face, in the last chunk of 128
    floats = samples.float() / 127.5 - 1  # as G draws it: floats in [-1, 1]
    pairs = helpers.nearest_faces(floats, images, n=4, chunk=128)
    assert pairs.dtype == torch.uint8 and pairs.shape == (8, 3, 8, 8)
    assert torch.equal(pairs[:4], samples[:4]), "generated faces above"
    assert torch.equal(pairs[4 + 2], images[613]), "the planted copy is found"
    brute = torch.cdist(samples[:4].flatten(1).double(), images.flatten(1).double()).argmin(1)
    assert torch.equal(pairs[4:], images[brute]), "each generated face above its nearest real face"
    assert torch.equal(helpers.nearest_faces(samples, images.float() / 127.5 - 1, n=4), pairs)


def test_nearest_faces_refuses_real_images_of_another_size():
    with pytest.raises(helpers.FacegenError, match="shaped like the samples"):
        pictures.nearest_faces(torch.zeros(2, 3, 32, 32), torch.zeros(5, 3, 64, 64, dtype=torch.uint8))
