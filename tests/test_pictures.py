"""facegen/pictures.py: image grids, the loss plot, nearest faces, the progress GIF, and the diagrams
drawn by code."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn as nn

import helpers
from facegen import pictures
from tests import other_generators

# === Pictures =====================================================================================
# facegen/pictures.py, the learner aids: the game's equilibrium (checked against the notebook's own losses), the
# loss plot's dashed equilibrium lines, and nearest_faces, the test of memorisation.

HISTORY = {"step": [1, 2, 3], "epoch": [1, 1, 1], "d_loss": [1.2, 1.3, 1.4], "g_loss": [0.9, 0.8, 0.7],
           "d_real": [0.6, 0.55, 0.5], "d_fake": [0.3, 0.4, 0.45]}


def logit(p: float) -> torch.Tensor:
    return torch.full((4, 1), math.log(p / (1 - p)), dtype=torch.float64)


# --- The equilibrium -------------------------------------------------------------------------------

@pytest.mark.parametrize("smooth, d_star, d_loss, g_loss", [(False, 0.5, 1.386, 0.693), (True, 0.45, 1.376, 0.799)])
def test_equilibrium_is_the_notebooks_losses_at_ds_best_answer(nb, smooth, d_star, d_loss, g_loss):
    target = pictures.equilibrium(smooth)
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
    target = pictures.equilibrium(smooth)
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

# === Diagrams =====================================================================================
# facegen/pictures.py: the network diagram lists the shapes the learner's D and G really produce (and leaves them,
# and the random state, as they were); the generator-loss plot's curves are the autograd gradients.

D_SHAPES = ["(3, 32, 32)", "(64, 16, 16)", "(128, 8, 8)", "(256, 4, 4)", "(512, 2, 2)", "(2048,)", "(1,)"]
G_SHAPES = ["(100,)", "(2048,)", "(512, 2, 2)", "(256, 4, 4)", "(128, 8, 8)", "(64, 16, 16)", "(3, 32, 32)"]


def boxes(figure) -> list[list[tuple[str, str]]]:
    """Each panel's boxes, top to bottom, as (layer, shape) from their 'layer -> shape' text."""
    return [[tuple(text.get_text().split(" -> ")) for text in ax.texts if " -> " in text.get_text()]
            for ax in figure.axes]


# --- draw_networks ------------------------------------------------------------------------------------

def test_draw_networks_lists_the_shapes_the_notebooks_networks_produce(nb, shown, tmp_path):
    helpers.draw_networks(nb["Discriminator"](), nb["Generator"](), path=tmp_path / "networks.png")
    (figure,) = shown
    d_boxes, g_boxes = boxes(figure)
    assert [shape for _, shape in d_boxes] == D_SHAPES
    assert [shape for _, shape in g_boxes] == G_SHAPES
    assert [layer for layer, _ in d_boxes] == ["input"] + ["Conv2d 4x4 s2 p1"] * 4 + ["Flatten", "Linear"]
    assert [layer for layer, _ in g_boxes] == ["input", "Linear", "reshape (view)"] + ["ConvTranspose2d 4x4 s2 p1"] * 4
    formulas = " ".join(text.get_text() for text in figure.texts)
    assert "out = floor((in + 2p - k) / s) + 1" in formulas and "out = (in - 1) s - 2p + k" in formulas
    assert "floor((32 + 2 - 4) / 2) + 1 = 16" in formulas and "(16 - 1) 2 - 2 + 4 = 32" in formulas
    assert (tmp_path / "networks.png").read_bytes().startswith(b"\x89PNG")


class ViewDiscriminator(nn.Module):
    """The notebook's D (conv_dim 8) written with attribute names, a view instead of nn.Flatten, and a squeeze."""

    def __init__(self, conv_dim=8):
        super().__init__()
        self.first = nn.Conv2d(3, conv_dim, 4, 2, 1)
        self.rest = nn.ModuleList(nn.Conv2d(conv_dim * 2 ** i, conv_dim * 2 ** (i + 1), 4, 2, 1) for i in range(3))
        self.norms = nn.ModuleList(nn.BatchNorm2d(conv_dim * 2 ** (i + 1)) for i in range(3))
        self.classify = nn.Linear(conv_dim * 8 * 4, 1)

    def forward(self, x):
        x = nn.functional.leaky_relu(self.first(x), 0.2)
        for conv, norm in zip(self.rest, self.norms):
            x = nn.functional.leaky_relu(norm(conv(x)), 0.2)
        return self.classify(x.view(x.size(0), -1)).squeeze(1)


def test_draw_networks_traces_networks_written_any_way(shown):
    helpers.draw_networks(ViewDiscriminator(), other_generators.GeneratorNested(z_size=16, conv_dim=8), z_size=16)
    (figure,) = shown
    d_boxes, g_boxes = boxes(figure)
    assert d_boxes == [("input", "(3, 32, 32)"), ("Conv2d 4x4 s2 p1", "(8, 16, 16)"),
                       ("Conv2d 4x4 s2 p1", "(16, 8, 8)"),
                       ("Conv2d 4x4 s2 p1", "(32, 4, 4)"), ("Conv2d 4x4 s2 p1", "(64, 2, 2)"),
                       ("flatten (view)", "(256,)"), ("Linear", "(1,)"), ("reshape (view)", "()")]
    assert [shape for _, shape in g_boxes] == ["(16,)", "(256,)", "(64, 2, 2)", "(32, 4, 4)", "(16, 8, 8)",
                                               "(8, 16, 16)", "(3, 32, 32)"]


def test_draw_networks_leaves_modes_gradients_statistics_and_random_state_as_they_were(nb, shown):
    D, G = nb["Discriminator"](conv_dim=8), other_generators.GeneratorByAttributes(conv_dim=8)
    D.train(), G.eval()
    G.bn1.train()  # a learner's odd mix of modes stays as it was too
    modes = {m: m.training for net in (D, G) for m in net.modules()}
    statistics = [b.clone() for net in (D, G) for b in net.buffers()]
    rng = torch.get_rng_state()
    helpers.draw_networks(D, G)
    assert torch.equal(torch.get_rng_state(), rng), "the global random state moved"
    assert {m: m.training for m in modes} == modes
    assert all(torch.equal(a, b) for a, b in zip(statistics, (b for net in (D, G) for b in net.buffers()))), \
        "batch norm's running statistics changed"
    assert all(p.grad is None for net in (D, G) for p in net.parameters()), "gradients were computed"
    assert all(p.device.type == "cpu" for net in (D, G) for p in net.parameters())
    assert len(shown) == 1


def test_conv_size_formulas_match_torch():
    for size, k, s, p in [(32, 4, 2, 1), (33, 3, 2, 0), (7, 5, 1, 2), (16, 4, 2, 1)]:
        x = torch.zeros(1, 1, size, size)
        assert pictures.conv_out(size, k, s, p) == nn.Conv2d(1, 1, k, s, p)(x).shape[-1]
        assert pictures.conv_transpose_out(size, k, s, p) == nn.ConvTranspose2d(1, 1, k, s, p)(x).shape[-1]


# --- plot_generator_losses --------------------------------------------------------------------------

@pytest.mark.parametrize("d_fake", [0.001, 0.1, 0.5, 0.9])
def test_generator_loss_curves_are_the_losses_and_their_autograd_gradients(d_fake):
    curves = pictures.generator_loss_curves(np.array([d_fake]))
    for name, loss in (("saturating", lambda l: torch.log(1 - torch.sigmoid(l))),
                       ("non_saturating", lambda l: -torch.log(torch.sigmoid(l)))):
        l = torch.tensor(math.log(d_fake / (1 - d_fake)), dtype=torch.float64, requires_grad=True)
        value = loss(l)
        value.backward()
        assert curves[name][0] == pytest.approx(value.item(), rel=1e-9)
        assert curves[f"{name}_grad"][0] == pytest.approx(l.grad.item(), rel=1e-9, abs=1e-12)
    if d_fake == 0.001:  # early in training: the saturating gradient vanishes, the other does not
        assert abs(curves["saturating_grad"][0]) < 0.01 and curves["non_saturating_grad"][0] < -0.99


def test_plot_generator_losses_draws_both_losses_and_gradients_and_says_where_one_vanishes(shown, tmp_path):
    helpers.plot_generator_losses(path=tmp_path / "losses.png")
    (figure,) = shown
    ax_loss, ax_grad = figure.axes
    (sat_x, sat), (non_x, non) = ((line.get_xdata(), line.get_ydata()) for line in ax_grad.get_lines())
    assert 0 < sat_x.min() < 0.01 and 0.99 < sat_x.max() < 1
    assert np.allclose(sat, -sat_x) and np.allclose(non, -(1 - non_x))
    (loss_x, loss_sat), (_, loss_non) = ((line.get_xdata(), line.get_ydata()) for line in ax_loss.get_lines())
    assert np.allclose(loss_sat, np.log(1 - loss_x)) and np.allclose(loss_non, -np.log(loss_x))
    labels = " ".join(line.get_label() for ax in figure.axes for line in ax.get_lines())
    assert "log(1 - D(G(z)))" in labels and "-log D(G(z))" in labels
    assert any(re.search(r"near 0.*vanishes", text.get_text(), re.S) for text in ax_grad.texts)
    assert (tmp_path / "losses.png").read_bytes().startswith(b"\x89PNG")


# --- The game at a glance, and one training step --------------------------------------------------------

def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_the_game_at_a_glance_draws_both_players_and_what_each_sees(shown, tmp_path):
    helpers.draw_game(path=tmp_path / "game.png")
    (figure,) = shown
    (ax,) = figure.axes
    drawn = texts(ax)
    assert {"G\ngenerator", "real photo\n3 x 32 x 32", "fake image\n3 x 32 x 32"} <= set(drawn), drawn
    assert any(t.startswith("D\ndiscriminator") for t in drawn)
    assert len([c for c in ax.get_children() if type(c).__name__ == "Annotation"]) == 4, "z->G->fake->D, real->D"
    assert (tmp_path / "game.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_training_step_shows_the_detach_in_ds_update_and_g_learning_through_d(shown):
    helpers.draw_training_step()
    (figure,) = shown
    d_panel, g_panel = figure.axes
    assert d_panel.get_title().startswith("1. D's update") and g_panel.get_title().startswith("2. G's update")
    assert "fakes.detach()" in texts(d_panel) and "fakes.detach()" not in texts(g_panel)
    dashed = [a for a in d_panel.get_children() if type(a).__name__ == "Annotation"
              and a.arrow_patch.get_linestyle() != "-"]
    assert len(dashed) == 1, "the one detached path: G's fakes into D's update"
    assert any("real_loss\nlabel 1" == t for t in texts(g_panel)), "G's loss: its fakes against the real label"


@pytest.mark.parametrize("count, epochs", [(1, [1]), (3, [1, 2, 3]), (8, list(range(1, 9))),
                                           (9, [1, 2, 3, 4, 6, 7, 8, 9]), (40, [1, 7, 12, 18, 23, 29, 34, 40])])
def test_the_progress_rows_title_names_the_epochs_it_shows(count, epochs):
    """One row per epoch shown, at most 8, evenly spread with the first and the last; the title says which."""
    samples = [torch.full((16, 3, 4, 4), float(epoch)) for epoch in range(count)]
    rows, title = helpers.progress_rows(samples)
    assert title == "Rows: epochs " + ", ".join(map(str, epochs))
    assert rows.shape == (8 * len(epochs), 3, 4, 4)
    assert [int(rows[8 * i, 0, 0, 0]) + 1 for i in range(len(epochs))] == epochs


@pytest.mark.parametrize("count, frames", [(1, 1), (5, 5), (20, 20), (45, 20)])
def test_the_progress_gif_has_a_frame_per_epoch_up_to_twenty(tmp_path, count, frames):
    from PIL import Image

    samples = [torch.rand(32, 3, 8, 8) * 2 - 1 for _ in range(count)]
    with Image.open(helpers.save_progress_gif(samples, tmp_path / "progress.gif")) as gif:
        assert gif.n_frames == frames
