"""facegen/locate.py: find_dataset looks at FACEGEN_DATA, then beside the notebook, then downloads,
then draws the synthetic stand-in."""
from __future__ import annotations

import pytest

import helpers
from facegen import locate
from helpers import FacegenError
from tests.builders import good_zip, one_line


def test_data_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "nowhere" / "processed-celeba-small.zip"
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(missing), search_dir=tmp_path, out_dir=tmp_path / "out", download=False)
    one_line(e, str(missing), "does not exist", "FACEGEN_DATA")
    assert not (tmp_path / "out").exists(), "nothing (no synthetic data) should be made for a bad path"


def test_the_zip_beside_the_notebook_comes_before_the_folder(tmp_path):
    good_zip(tmp_path / "processed-celeba-small.zip")
    (tmp_path / "processed_celeba_small").mkdir()
    source = helpers.find_dataset(search_dir=tmp_path, out_dir=tmp_path / "out", download=False)
    assert (source.kind, source.path) == ("zip", (tmp_path / "processed-celeba-small.zip").resolve())
    (tmp_path / "processed-celeba-small.zip").unlink()
    source = helpers.find_dataset(search_dir=tmp_path, out_dir=tmp_path / "out", download=False)
    assert (source.kind, source.path) == ("folder", (tmp_path / "processed_celeba_small").resolve())


def test_no_data_and_no_download_draws_the_synthetic_stand_in_once(tmp_path, monkeypatch, capsys):
    drawn = []

    def small_zip(path, n_images, seed=0):  # the real one draws the faces
        drawn.append((n_images, seed))
        return good_zip(path)

    monkeypatch.setattr(locate, "write_synthetic_zip", small_zip)
    source = helpers.find_dataset(search_dir=tmp_path, out_dir=tmp_path / "out", seed=4, download=False)
    assert source.kind == "synthetic"
    assert source.path == (tmp_path / "out/data/synthetic-faces-seed4-10000.zip").resolve()
    assert "SYNTHETIC" in capsys.readouterr().out
    again = helpers.find_dataset(search_dir=tmp_path, out_dir=tmp_path / "out", seed=4, download=False)
    assert again == source and drawn == [(10_000, 4)], "the stand-in is drawn once, then reused"


def test_the_synthetic_stand_in_draws_only_the_faces_that_will_be_used(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(locate, "write_synthetic_zip", lambda path, n, seed=0: drawn.append(n) or good_zip(path))
    source = helpers.find_dataset(search_dir=tmp_path, out_dir=tmp_path, download=False, max_images=1024)
    assert drawn == [1024] and source.path.name == "synthetic-faces-seed0-1024.zip"

def test_data_synthetic_goes_straight_to_the_stand_in(tmp_path, monkeypatch, capsys):
    """FACEGEN_DATA=synthetic (what a grading machine sets): no search, no download, even with a zip beside."""
    good_zip(tmp_path / "processed-celeba-small.zip")
    monkeypatch.setattr(locate, "download_dataset", lambda *a, **k: pytest.fail("FACEGEN_DATA=synthetic downloaded"))
    monkeypatch.setattr(locate, "write_synthetic_zip", lambda path, n, seed=0: good_zip(path))
    source = helpers.find_dataset("synthetic", search_dir=tmp_path, out_dir=tmp_path / "out", max_images=64)
    assert source.kind == "synthetic" and source.path.name == "synthetic-faces-seed0-64.zip"
    assert "FACEGEN_DATA=synthetic" in capsys.readouterr().out
