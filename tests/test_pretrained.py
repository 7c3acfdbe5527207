"""facegen/pretrained.py: the shipped generator loads into the layers its file lists (an nn.Sequential of
torch's own layers), with the file's own sizes, whatever the learner's Generator looks like and whatever
conv_dim the notebook's Hyperparameters cell chose; the learner's networks are never touched; and nothing a
student receives holds a Python class of the lesson's Generator."""
from __future__ import annotations

import ast
import json
import sys

import pytest
import torch
import torch.nn as nn

import helpers
from facegen.pretrained import PRETRAINED, export_generator, layers_path
from helpers import FacegenError
from tests.builders import ASSET_CONV_DIM, ROOT, one_line


@pytest.mark.parametrize("z_size, conv_dim", [(100, ASSET_CONV_DIM), (100, 64), (50, 8)])
def test_an_exported_generator_draws_what_the_notebooks_generator_draws(nb, tmp_path, z_size, conv_dim):
    """The notebook's Generator, exported: the file's layers, rebuilt, give the same faces from the same weights,
    and the sizes are read from the file."""
    theirs = nb["Generator"](z_size=z_size, conv_dim=conv_dim)
    theirs.apply(lambda m: torch.nn.init.normal_(m.weight, 1.0, 0.5) if isinstance(m, nn.BatchNorm2d) else None)
    G = helpers.load_pretrained("cpu", export_generator(theirs, z_size, tmp_path / "generator.pt"))
    assert isinstance(G, nn.Sequential) and (G.z_size, G.conv_dim, G.training) == (z_size, conv_dim, False)
    z = torch.randn(4, z_size)
    assert torch.equal(helpers.sample_images(theirs, z), helpers.sample_images(G, z))


def test_the_shipped_generator_is_the_notebooks_generator_with_the_shipped_weights(nb):
    G = helpers.load_pretrained()
    assert (G.z_size, G.conv_dim, G.training) == (100, ASSET_CONV_DIM, False)
    theirs = helpers.load_generator(nb["Generator"](conv_dim=ASSET_CONV_DIM), PRETRAINED).eval()
    z = torch.randn(4, 100)
    assert torch.equal(helpers.sample_images(theirs, z), helpers.sample_images(G, z))


def test_a_generator_that_does_more_than_run_its_layers_is_not_exported(tmp_path):
    class Activated(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 3 * 4 * 4)

        def forward(self, z):
            return torch.tanh(self.fc(z)).view(-1, 3, 4, 4)

    with pytest.raises(FacegenError) as e:
        export_generator(Activated(), 10, tmp_path / "generator.pt")
    one_line(e, "the layers alone do not draw its images")
    assert not list(tmp_path.iterdir())


def test_no_file_a_student_receives_holds_a_class_of_the_lessons_generator():
    """The release (.ci/nbgrader_course.py's FILES) and the installed package hold no nn.Module subclass: the
    lesson's networks are the learner's to write (step 4), and the shipped generator is data."""
    sys.path.insert(0, str(ROOT / ".ci"))
    from nbgrader_course import FILES

    sources = [path for name in FILES for path in ([ROOT / name] if (ROOT / name).is_file() else
                                                     sorted((ROOT / name).rglob("*.py"))) if path.suffix == ".py"]
    assert len(sources) > 10
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(base) for base in node.bases}
                assert not bases & {"nn.Module", "torch.nn.Module", "Module"}, \
                    f"{path.relative_to(ROOT)} defines {node.name}({', '.join(bases)})"


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


@pytest.mark.parametrize("layers, content, words", [
    (None, None, "does not exist"), ("lesson", {"G": {}, "epoch": 1}, "not a generator state dict"),
    ("lesson", {"fc.weight": torch.zeros(64, 3)}, "does not fit"),
    ({"z_size": 100, "conv_dim": 32, "layers": [["Module", [], {}]]}, None, "not a generator's layers"),
    ("not json", None, "not a generator's layers")])
def test_a_file_that_is_not_the_lessons_generator_is_refused_in_one_line(tmp_path, layers, content, words):
    path = tmp_path / "generator.pt"
    if layers == "lesson":
        layers_path(path).write_text(layers_path(PRETRAINED).read_text())
    elif isinstance(layers, dict):
        layers_path(path).write_text(json.dumps(layers))
    elif layers is not None:
        layers_path(path).write_text(layers)
    if content is not None:
        torch.save(content, path)
    with pytest.raises(FacegenError) as e:
        helpers.load_pretrained("cpu", path)
    one_line(e, words)


def test_the_files_are_where_the_project_is():
    assert PRETRAINED.exists() and PRETRAINED.parent.name == "assets" and layers_path(PRETRAINED).exists()
