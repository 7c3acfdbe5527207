"""facegen/pretrained.py: the shipped generator loads into the project's own copy of the lesson's
Generator, with the file's own sizes, whatever the learner's Generator looks like and whatever conv_dim
the notebook's Hyperparameters cell chose; the learner's networks are never touched."""
from __future__ import annotations

import pytest
import torch

import helpers
from facegen.pretrained import PRETRAINED, LessonGenerator
from helpers import FacegenError
from tests.builders import ASSET_CONV_DIM, one_line


@pytest.mark.parametrize("conv_dim", [ASSET_CONV_DIM, 64])
def test_the_copy_is_the_notebooks_generator(nb, conv_dim):
    """The same tensors under the same names, and the same faces from the same weights."""
    theirs, ours = nb["Generator"](z_size=100, conv_dim=conv_dim), LessonGenerator(100, conv_dim)
    assert {k: v.shape for k, v in theirs.state_dict().items()} == {k: v.shape for k, v in ours.state_dict().items()}
    ours.load_state_dict(theirs.state_dict())
    z = torch.randn(4, 100)
    assert torch.equal(helpers.sample_images(theirs, z), helpers.sample_images(ours, z))


def test_the_shipped_generator_loads_with_its_own_sizes():
    G = helpers.load_pretrained()
    assert (G.z_size, G.conv_dim, G.training) == (100, ASSET_CONV_DIM, False)
    assert helpers.sample_images(G, torch.randn(2, 100)).shape == (2, 3, 32, 32)


def test_the_sizes_are_read_from_the_file(tmp_path):
    path = tmp_path / "generator.pt"
    torch.save(LessonGenerator(z_size=50, conv_dim=8).state_dict(), path)
    G = helpers.load_pretrained("cpu", path)
    assert (G.z_size, G.conv_dim) == (50, 8)


def test_the_pretrained_route_leaves_the_learners_networks_alone(nb, tmp_path, capsys):
    """The notebook's G as a GPU builds it (conv_dim 64) and a learner's G that keeps its transpose
    convolutions' biases: neither could hold the shipped weights, and neither is changed."""
    for G in (nb["Generator"](conv_dim=64), _biased_generator(nb)):
        before = {k: v.clone() for k, v in G.state_dict().items()}
        result = helpers.use_pretrained(tmp_path / "out", seed=3)
        assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert "nothing was trained here" in capsys.readouterr().out
    assert result.summary["trained_here"] is False and result.summary["conv_dim"] == ASSET_CONV_DIM
    assert (tmp_path / "out" / "runs" / "pretrained" / "samples.png").exists()
    shipped = helpers.load_pretrained()
    assert torch.equal(result.samples_per_epoch[-1], helpers.sample_images(shipped, result.fixed_z))


def _biased_generator(nb):
    """The notebook's Generator with every ConvTranspose2d keeping its bias (as hint 2 writes it): correct."""
    G = nb["Generator"](conv_dim=ASSET_CONV_DIM)
    for i, layer in enumerate(G.net):
        if isinstance(layer, torch.nn.ConvTranspose2d) and layer.bias is None:
            G.net[i] = torch.nn.ConvTranspose2d(layer.in_channels, layer.out_channels, 4, 2, 1)
    return G


@pytest.mark.parametrize("content, words", [(None, "does not exist"), ({"G": {}, "epoch": 1}, "not a generator"),
                                            ({"fc.weight": torch.zeros(64, 3)}, "not a generator")])
def test_a_file_that_is_not_the_lessons_generator_is_refused_in_one_line(tmp_path, content, words):
    path = tmp_path / "generator.pt"
    if content is not None:
        torch.save(content, path)
    with pytest.raises(FacegenError) as e:
        helpers.load_pretrained("cpu", path)
    one_line(e, words)


def test_the_file_is_where_the_project_is():
    assert PRETRAINED.exists() and PRETRAINED.parent.name == "assets"
