"""The synthetic stand-in, the loader and its cache, and the DataLoader."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

import helpers
from facegen import sampling
from facegen import synthetic


@pytest.fixture(scope="module")
def synthetic_zip(tmp_path_factory):
    return synthetic.write_synthetic_zip(tmp_path_factory.mktemp("synthetic") / "faces.zip", n_images=40, seed=3)


def test_synthetic_zip_has_the_published_layout_with_its_junk(synthetic_zip):
    names = zipfile.ZipFile(synthetic_zip).namelist()
    assert "processed_celeba_small/celeba/000001.jpg" in names
    assert "processed_celeba_small/.DS_Store" in names
    assert any(n.startswith("__MACOSX/") for n in names)
    images = helpers.list_image_names(helpers.DataSource("zip", synthetic_zip))
    assert len(images) == 40 and all(n.startswith("processed_celeba_small/celeba/") for n in images)


def test_synthetic_zip_is_deterministic_from_its_seed_whatever_the_workers(tmp_path, synthetic_zip):
    again = synthetic.write_synthetic_zip(tmp_path / "again.zip", n_images=40, seed=3, workers=1)
    other = synthetic.write_synthetic_zip(tmp_path / "other.zip", n_images=40, seed=4, workers=1)
    assert again.read_bytes() == synthetic_zip.read_bytes()
    assert other.read_bytes() != synthetic_zip.read_bytes()


def test_synthetic_faces_vary_in_skin_tone_from_dark_to_light(synthetic_zip):
    images = helpers.load_images(helpers.DataSource("zip", synthetic_zip), cache_dir=None, verbose=False)
    centre = images[:, :, 14:18, 14:18].float().mean(dim=(1, 2, 3))  # the middle of the face
    assert centre.min() < 90 and centre.max() > 180, f"face centres span only {centre.min():.0f}..{centre.max():.0f}"


def test_load_images_decodes_once_then_uses_the_cache_and_rebuilds_it_when_the_zip_changes(tmp_path, capsys):
    source = helpers.DataSource("zip", synthetic.write_synthetic_zip(tmp_path / "a.zip", n_images=20, seed=0, workers=1))
    first = helpers.load_images(source, cache_dir=tmp_path / "cache")
    assert "decoded 20" in capsys.readouterr().out
    again = helpers.load_images(source, cache_dir=tmp_path / "cache")
    assert "from the cache" in capsys.readouterr().out and torch.equal(first, again)
    synthetic.write_synthetic_zip(source.path, n_images=20, seed=1, workers=1)  # same name, new contents
    changed = helpers.load_images(source, cache_dir=tmp_path / "cache")
    assert "decoded 20" in capsys.readouterr().out and not torch.equal(first, changed)


def test_max_images_takes_the_first_images_by_name(synthetic_zip):
    source = helpers.DataSource("zip", synthetic_zip)
    all_images = helpers.load_images(source, cache_dir=None, verbose=False)
    first = helpers.load_images(source, max_images=7, cache_dir=None, verbose=False)
    assert torch.equal(first, all_images[:7])


def test_dataloader_batches_are_scaled_and_complete():
    images = torch.randint(0, 256, (70, 3, 32, 32), dtype=torch.uint8)
    loader = helpers.get_dataloader(32, images=images)
    batches = list(loader)
    assert len(batches) == 2 and all(b.shape == (32, 3, 32, 32) for b in batches)  # the last 6 are dropped
    assert torch.equal(sampling.to_uint8(loader.dataset[0]), images[0])  # scale, then back, is lossless


def test_image_grid_puts_images_in_rows_on_white():
    images = torch.zeros(5, 3, 4, 4, dtype=torch.uint8)
    grid = helpers.image_grid(images, nrow=3, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3) and grid[0, 0].tolist() == [255, 255, 255]
    assert np.all(grid[1:5, 1:5] == 0)


def test_show_images_puts_a_dict_of_grids_side_by_side_in_one_figure(monkeypatch):
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    black = torch.zeros(6, 3, 32, 32, dtype=torch.uint8)
    white = torch.full((6, 3, 32, 32), 255, dtype=torch.uint8)
    try:
        helpers.show_images({"Real": black, "Generated": white}, nrow=3, title="After 40 epochs")
        helpers.show_images(black, nrow=3, title="Alone")
        together, alone = shown
        assert [ax.get_title() for ax in together.axes] == ["Real", "Generated"]
        assert together.get_suptitle() == "After 40 epochs"
        left, right = (ax.images[0].get_array() for ax in together.axes)
        assert left[2:34, 2:34].max() == 0 and right[2:34, 2:34].min() == 255, "each panel shows its own images"
        assert [ax.get_title() for ax in alone.axes] == ["Alone"] and alone.get_suptitle() == ""
        with pytest.raises(helpers.FacegenError, match="empty"):
            helpers.show_images({})
    finally:
        plt.close("all")
