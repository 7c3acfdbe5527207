"""facegen/synthetic.py: the cartoon-face stand-in, in the published zip's layout, reproducible from its seed."""
from __future__ import annotations

import zipfile

import helpers
from facegen import synthetic


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
