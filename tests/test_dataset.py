"""facegen/dataset.py: the published zip (bad files explained, downloads checked), where the faces
come from, their decoding and cache, and the synthetic stand-in."""
from __future__ import annotations

import io
import os
import shutil
import re
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
from facegen import dataset
from helpers import FacegenError
from tests.builders import files_under, good_zip, image_bytes, one_line, scale, slip_names, slip_zip, write_zip

# === The zip as published =========================================================================
# the dataset zip or folder as published. A file that is not a zip, a truncated
# zip, a zip or folder without images, and macOS junk, each answered in one clear line (FacegenError,
# naming the file and what to do), the bad file left as it was.

# --- A file that is not a zip -----------------------------------------------------------------------

@pytest.mark.parametrize("content, needles", [
    (b"these are my faces, honest\n", ["not a zip", "FACEGEN_DATA"]),
    (b"", ["empty", "again"]),
    (b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n",
     ["web page", "download", "again"]),
    (b"  <html><body>Access denied</body></html>", ["web page", "download", "again"]),
    (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code></Error>',
     ["web page", "download", "again"]),
], ids=["text", "empty", "html-404", "html", "s3-xml-error"])
def test_file_that_is_not_a_zip(tmp_path, content, needles):
    fake = tmp_path / "processed-celeba-small.zip"
    fake.write_bytes(content)
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(fake), download=False)
    one_line(e, fake.name, *needles)
    assert fake.read_bytes() == content, "the bad file must be left as it was"


# --- A truncated zip -----------------------------------------------------------------------------------

@pytest.mark.parametrize("keep", [0.5, 0.98], ids=["half", "last-bytes-missing"])
def test_truncated_zip(tmp_path, keep):
    whole = good_zip(tmp_path / "whole.zip", n=8).read_bytes()
    cut = tmp_path / "processed-celeba-small.zip"
    cut.write_bytes(whole[:int(len(whole) * keep)])
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(cut), download=False)
    one_line(e, cut.name, "truncated", "download", "again")
    with pytest.raises(FacegenError, match="truncated"):  # the same answer from the loader itself
        helpers.load_images(helpers.DataSource("zip", cut), cache_dir=None)


# --- No images -----------------------------------------------------------------------------------------

def test_zip_without_images(tmp_path):
    z = write_zip(tmp_path / "faces.zip", {"faces/": b"", "faces/README.txt": b"hi", "faces/.DS_Store": b"\0" * 8,
                                           "__MACOSX/faces/._a.jpg": b"\0\5\26\7", "faces/labels.csv": b"a,b\n"})
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(z), download=False)
    one_line(e, z.name, "no images", "FACEGEN_DATA")


def test_folder_without_images(tmp_path):
    folder = tmp_path / "faces"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("no faces here")
    (folder / "sub" / ".DS_Store").write_bytes(b"\0" * 8)
    (folder / "sub" / "._000001.jpg").write_bytes(b"\0\5\26\7")
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(folder), download=False)
    one_line(e, folder.name, "no images", "FACEGEN_DATA")
    with pytest.raises(FacegenError, match="No images"):
        helpers.load_images(helpers.DataSource("folder", folder), cache_dir=None)


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(tmp_path / "empty"), download=False)
    one_line(e, "empty", "no images")


# --- macOS junk -----------------------------------------------------------------------------------------

APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(40)


def junk_entries() -> dict[str, bytes]:
    return {"faces/": b"", "faces/000001.jpg": image_bytes(), "faces/000002.jpg": image_bytes((1, 200, 1)),
            "faces/.DS_Store": b"\x00\x00\x00\x01Bud1" + bytes(40), "faces/._000001.jpg": APPLE_DOUBLE,
            "__MACOSX/faces/._000001.jpg": APPLE_DOUBLE, "__MACOSX/faces/000002.jpg": APPLE_DOUBLE,
            ".DS_Store": b"\x00\x00\x00\x01Bud1"}


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_macos_junk_is_ignored(tmp_path, capsys, kind):
    if kind == "zip":
        source = helpers.DataSource("zip", write_zip(tmp_path / "faces.zip", junk_entries()))
    else:
        for name, data in junk_entries().items():
            p = tmp_path / "src" / name
            if name.endswith("/"):
                p.mkdir(parents=True, exist_ok=True)
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
        source = helpers.DataSource("folder", tmp_path / "src")
    assert helpers.list_image_names(source) == ["faces/000001.jpg", "faces/000002.jpg"]
    images = helpers.load_images(source, cache_dir=None, workers=1)
    assert len(images) == 2
    assert "Skipped" not in capsys.readouterr().out, "junk must be ignored, not decoded and reported as corrupt"

# === Where the faces come from ====================================================================
# facegen/dataset.py: find_dataset looks at FACEGEN_DATA, then beside the notebook, then downloads,
# then draws the synthetic stand-in.

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

    monkeypatch.setattr(dataset, "write_synthetic_zip", small_zip)
    source = helpers.find_dataset(search_dir=tmp_path, out_dir=tmp_path / "out", seed=4, download=False)
    assert source.kind == "synthetic"
    assert source.path == (tmp_path / "out/data/synthetic-faces-seed4-10000.zip").resolve()
    assert "SYNTHETIC" in capsys.readouterr().out
    again = helpers.find_dataset(search_dir=tmp_path, out_dir=tmp_path / "out", seed=4, download=False)
    assert again == source and drawn == [(10_000, 4)], "the stand-in is drawn once, then reused"


def test_the_synthetic_stand_in_draws_only_the_faces_that_will_be_used(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(dataset, "write_synthetic_zip", lambda path, n, seed=0: drawn.append(n) or good_zip(path))
    source = helpers.find_dataset(search_dir=tmp_path, out_dir=tmp_path, download=False, max_images=1024)
    assert drawn == [1024] and source.path.name == "synthetic-faces-seed0-1024.zip"

def test_data_synthetic_goes_straight_to_the_stand_in(tmp_path, monkeypatch, capsys):
    """FACEGEN_DATA=synthetic (what a grading machine sets): no search, no download, even with a zip beside."""
    good_zip(tmp_path / "processed-celeba-small.zip")
    monkeypatch.setattr(dataset, "download_dataset", lambda *a, **k: pytest.fail("FACEGEN_DATA=synthetic downloaded"))
    monkeypatch.setattr(dataset, "write_synthetic_zip", lambda path, n, seed=0: good_zip(path))
    source = helpers.find_dataset("synthetic", search_dir=tmp_path, out_dir=tmp_path / "out", max_images=64)
    assert source.kind == "synthetic" and source.path.name == "synthetic-faces-seed0-64.zip"
    assert "FACEGEN_DATA=synthetic" in capsys.readouterr().out

# === Decoding and its cache =======================================================================
# facegen/dataset.py: decoding the faces once into a uint8 tensor, cached and keyed by the data's
# contents. Corrupt images are skipped with a count, any mode or size becomes RGB 32x32, and a zip
# with zip-slip entries is read from memory without writing anything outside the cache.

# --- The cache, and max_images ------------------------------------------------------------------------

def test_load_images_decodes_once_then_uses_the_cache_and_rebuilds_it_when_the_zip_changes(tmp_path, capsys):
    source = helpers.DataSource("zip", dataset.write_synthetic_zip(tmp_path / "a.zip", n_images=20, seed=0, workers=1))
    first = helpers.load_images(source, cache_dir=tmp_path / "cache")
    assert "decoded 20" in capsys.readouterr().out
    again = helpers.load_images(source, cache_dir=tmp_path / "cache")
    assert "from the cache" in capsys.readouterr().out and torch.equal(first, again)
    dataset.write_synthetic_zip(source.path, n_images=20, seed=1, workers=1)  # same name, new contents
    changed = helpers.load_images(source, cache_dir=tmp_path / "cache")
    assert "decoded 20" in capsys.readouterr().out and not torch.equal(first, changed)


def test_max_images_takes_the_first_images_by_name(synthetic_zip):
    source = helpers.DataSource("zip", synthetic_zip)
    all_images = helpers.load_images(source, cache_dir=None, verbose=False)
    first = helpers.load_images(source, max_images=7, cache_dir=None, verbose=False)
    assert torch.equal(first, all_images[:7])


# --- Corrupt images among good ones ---------------------------------------------------------------

GOOD_COLOURS = {"celeba/000001.jpg": (220, 40, 40), "celeba/000003.jpg": (40, 220, 40),
                "celeba/000005.jpg": (40, 40, 220), "celeba/000006.png": (200, 200, 40)}


def corrupt_entries() -> dict[str, bytes]:
    big = image_bytes((10, 10, 10), size=(200, 200))
    return {"celeba/000002.jpg": b"this is not a jpeg at all",
            "celeba/000004.jpg": big[:len(big) // 3],                        # a truncated JPEG
            "celeba/000007.jpg": b"\xff\xd8\xff\xe0" + os.urandom(300),      # a JPEG header, then noise
            "celeba/000008.jpg": b""}                                        # an empty file


def check_good_faces(images: torch.Tensor) -> None:
    """Exactly the good images, in name order, with their colours."""
    assert images.shape == (len(GOOD_COLOURS), 3, 32, 32) and images.dtype == torch.uint8
    for got, want in zip(images, GOOD_COLOURS.values()):
        assert np.abs(got.float().mean(dim=(1, 2)).numpy() - want).max() < 12


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_corrupt_images_are_skipped_and_training_goes_on(nb, tmp_path, capsys, kind):
    entries = {name: image_bytes(c, fmt="PNG" if name.endswith(".png") else "JPEG")
               for name, c in GOOD_COLOURS.items()}
    entries.update(corrupt_entries())
    if kind == "zip":
        source = helpers.DataSource("zip", write_zip(tmp_path / "faces.zip", entries))
    else:
        for name, data in entries.items():
            (tmp_path / "faces" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "faces" / name).write_bytes(data)
        source = helpers.DataSource("folder", tmp_path / "faces")
    images = helpers.load_images(source, cache_dir=tmp_path / "cache", workers=1)
    out = capsys.readouterr().out
    assert re.search(r"Skipped 4 corrupt image", out), out
    assert "000002.jpg" in out and "000004.jpg" in out, "the message should name the first bad files"
    check_good_faces(images)
    # Training would go on: a loader and one step of the notebook's train_step on these faces.
    loader = helpers.get_dataloader(2, images=images, scale=scale)
    D, G = nb["Discriminator"](conv_dim=8), nb["Generator"](conv_dim=8)
    d_opt, g_opt = torch.optim.Adam(D.parameters()), torch.optim.Adam(G.parameters())
    losses = nb["train_step"](D, G, d_opt, g_opt, next(iter(loader)), 100)
    assert all(torch.isfinite(v).all() for v in losses)
    # The second time the cache answers, with the same faces.
    check_good_faces(helpers.load_images(source, cache_dir=tmp_path / "cache", workers=1))


def test_corrupt_image_first_in_name_order(tmp_path, capsys):
    """The summary line reports the first image's original size: it must not trip over a corrupt one."""
    z = write_zip(tmp_path / "faces.zip", {"celeba/000000.jpg": b"<html>not an image</html>",
                                           **{n: image_bytes(c) for n, c in GOOD_COLOURS.items() if n.endswith("jpg")}})
    images = helpers.load_images(helpers.DataSource("zip", z), cache_dir=None, workers=1)
    out = capsys.readouterr().out
    assert "Skipped 1 corrupt image" in out and "000000.jpg" in out, out
    assert len(images) == 3


def test_a_corrupt_image_in_a_later_chunk_is_named_and_left_out(tmp_path, capsys):
    """Images are decoded in chunks of DECODE_CHUNK: a corrupt one past the first chunk must be named by its own
    file and left out, not a good image named and a black one kept."""
    from facegen.dataset import DECODE_CHUNK

    n, broken = DECODE_CHUNK + 8, DECODE_CHUNK + 5
    good = image_bytes((200, 120, 40), size=(4, 4))
    entries = {f"celeba/{i:06d}.jpg": good for i in range(n)} | {f"celeba/{broken:06d}.jpg": b"not a jpeg"}
    images = helpers.load_images(helpers.DataSource("zip", write_zip(tmp_path / "faces.zip", entries)),
                                 image_size=8, cache_dir=None, workers=0)
    out = capsys.readouterr().out
    assert f"Skipped 1 corrupt image(s), e.g. celeba/{broken:06d}.jpg." in out, out
    assert len(images) == n - 1 and images.float().mean(dim=(1, 2, 3)).min() > 50, "a black image was kept"


def test_only_corrupt_images(tmp_path):
    z = write_zip(tmp_path / "faces.zip", corrupt_entries())
    with pytest.raises(FacegenError) as e:
        helpers.load_images(helpers.DataSource("zip", z), cache_dir=tmp_path / "cache", workers=1)
    one_line(e, z.name, "could be decoded", "FACEGEN_DATA")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir()), "no cache of nothing"


# --- Other sizes and modes ---------------------------------------------------------------------------

def _palette_png() -> bytes:
    img = Image.new("P", (40, 40), 0)
    img.putpalette([230, 20, 20, 0, 0, 255] + [0] * (254 * 3))
    img.paste(1, (0, 0, 8, 8))  # a transparent corner
    buf = io.BytesIO()
    img.save(buf, "PNG", transparency=1)
    return buf.getvalue()


def _banded(size: tuple[int, int], background, box, colour, fmt: str) -> bytes:
    """An image of one colour with a box of another, encoded as fmt."""
    img = Image.new("RGB", size, background)
    img.paste(colour, box)
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _square_photo() -> bytes:  # 200x200: top half red, bottom half blue
    return _banded((200, 200), (220, 20, 20), (0, 100, 200, 200), (20, 20, 220), "JPEG")


def _wide_photo() -> bytes:  # 200x120: a green centre square with magenta bands left and right
    return _banded((200, 120), (230, 20, 230), (40, 0, 160, 120), (20, 200, 20), "JPEG")


def _tall_png() -> bytes:  # 60x150: a yellow centre square with black bands top and bottom
    return _banded((60, 150), (0, 0, 0), (0, 45, 60, 105), (230, 230, 20), "PNG")


def _gray16_png() -> bytes:  # a 16-bit greyscale PNG at mid-grey (32768 of 65535)
    buf = io.BytesIO()
    Image.fromarray(np.full((40, 40), 32768, np.uint16)).save(buf, "PNG")
    return buf.getvalue()


def _check_grey(px, level, tol):
    assert (px[..., 0] == px[..., 1]).all() and (px[..., 1] == px[..., 2]).all(), "grey must give equal channels"
    assert abs(float(px.mean()) - level) <= tol, f"mean {px.mean():.1f}, expected about {level}"


def _check_colour(px, rgb, tol):
    assert np.abs(px.reshape(-1, 3).astype(int) - rgb).max() <= tol, f"{px.reshape(-1, 3)[:3]} is not {rgb}"


MODE_CASES = {
    "grayscale-L-jpeg": (lambda: image_bytes(120, mode="L"), lambda px: _check_grey(px, 120, 2)),
    "grayscale-L-png-64x64": (lambda: image_bytes(77, size=(64, 64), mode="L", fmt="PNG"),
                              lambda px: _check_grey(px, 77, 0)),
    "rgba-png": (lambda: image_bytes((10, 200, 30, 255), mode="RGBA", fmt="PNG"),
                 lambda px: _check_colour(px, (10, 200, 30), 0)),
    "palette-png-transparency": (_palette_png, lambda px: _check_colour(px[12:, 12:], (230, 20, 20), 0)),
    "la-png": (lambda: image_bytes((90, 255), mode="LA", fmt="PNG"), lambda px: _check_grey(px, 90, 0)),
    "cmyk-jpeg": (lambda: image_bytes((0, 255, 255, 0), mode="CMYK"), lambda px: _check_colour(px, (255, 0, 0), 25)),
    "photo-200x200": (_square_photo, lambda px: (_check_colour(px[:12], (220, 20, 20), 30),
                                                 _check_colour(px[-12:], (20, 20, 220), 30))),
    "photo-200x120-centre-crop": (_wide_photo, lambda px: _check_colour(px, (20, 200, 20), 45)),
    "png-60x150-centre-crop": (_tall_png, lambda px: _check_colour(px, (230, 230, 20), 0)),
    "gray16-png": (_gray16_png, lambda px: _check_grey(px, 128, 2)),
}


@pytest.mark.parametrize("case", MODE_CASES)
def test_other_modes_and_sizes_become_rgb_32x32(case):
    make, check = MODE_CASES[case]
    px = dataset.decode_image(make(), 32)
    assert px is not None, f"{case} was not decoded"
    assert px.shape == (32, 32, 3) and px.dtype == np.uint8
    check(px)


def test_mixed_folder_loads_as_one_rgb_tensor(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, (case, (make, _)) in enumerate(MODE_CASES.items()):
        suffix = ".jpg" if "jpeg" in case or "photo" in case else ".png"
        (folder / f"{i:02d}-{case}{suffix}").write_bytes(make())
    images = helpers.load_images(helpers.DataSource("folder", folder), cache_dir=None, workers=1)
    assert images.shape == (len(MODE_CASES), 3, 32, 32) and images.dtype == torch.uint8
    assert "Skipped" not in capsys.readouterr().out


# --- A zip with zip-slip entries is read, never extracted ---------------------------------------------

@pytest.mark.parametrize("which", ["dotdot", "deep-dotdot", "absolute"])
def test_load_images_reads_a_slip_zip_without_extracting(tmp_path, monkeypatch, which):
    evil = slip_names(tmp_path)[which]
    z = slip_zip(tmp_path, evil)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    cache = tmp_path / "cache"
    before = files_under(tmp_path, exclude=cache)
    images = helpers.load_images(helpers.DataSource("zip", z), cache_dir=cache, workers=1)
    assert len(images) == 3, "every entry is read (from memory) and none is lost"
    assert files_under(tmp_path, exclude=cache) == before, "load_images wrote files outside its cache"
    assert all(p.name.startswith("faces-") and p.suffix == ".npy" for p in cache.iterdir())

# === The synthetic stand-in =======================================================================
# facegen/dataset.py: the cartoon-face stand-in, in the published zip's layout, reproducible from its seed.

def test_synthetic_zip_has_the_published_layout_with_its_junk(synthetic_zip):
    names = zipfile.ZipFile(synthetic_zip).namelist()
    assert "processed_celeba_small/celeba/000001.jpg" in names
    assert "processed_celeba_small/.DS_Store" in names
    assert any(n.startswith("__MACOSX/") for n in names)
    images = helpers.list_image_names(helpers.DataSource("zip", synthetic_zip))
    assert len(images) == 40 and all(n.startswith("processed_celeba_small/celeba/") for n in images)


def test_synthetic_zip_is_deterministic_from_its_seed_whatever_the_workers(tmp_path, synthetic_zip):
    again = dataset.write_synthetic_zip(tmp_path / "again.zip", n_images=40, seed=3, workers=1)
    other = dataset.write_synthetic_zip(tmp_path / "other.zip", n_images=40, seed=4, workers=1)
    assert again.read_bytes() == synthetic_zip.read_bytes()
    assert other.read_bytes() != synthetic_zip.read_bytes()


def test_synthetic_faces_vary_in_skin_tone_from_dark_to_light(synthetic_zip):
    images = helpers.load_images(helpers.DataSource("zip", synthetic_zip), cache_dir=None, verbose=False)
    centre = images[:, :, 14:18, 14:18].float().mean(dim=(1, 2, 3))  # the middle of the face
    assert centre.min() < 90 and centre.max() > 180, f"face centres span only {centre.min():.0f}..{centre.max():.0f}"


def test_a_class_shares_one_decoded_cache_read_only(tmp_path, capsys, synthetic_zip):
    """A teacher decodes the faces once (python -m facegen.dataset DATA DIR); a student's run reads them from
    that folder, which it cannot write, and decodes nothing; faces the shared cache lacks go to the student's."""
    shared, mine = tmp_path / "shared", tmp_path / "mine"
    dataset.main([str(synthetic_zip), str(shared)])
    assert "FACEGEN_SHARED_CACHE=" in capsys.readouterr().out
    made = sorted(shared.glob("faces-*.npy"))
    assert len(made) == 1
    shared.chmod(0o555)
    try:
        source = helpers.find_dataset(str(synthetic_zip), out_dir=tmp_path / "out")
        images = helpers.load_images(source, cache_dir=mine, shared_cache=shared)
        assert f"from the cache {made[0]}" in capsys.readouterr().out and not mine.exists()
        assert torch.equal(images, torch.from_numpy(np.load(made[0])))
        helpers.load_images(source, image_size=16, cache_dir=mine, shared_cache=shared)  # not in the shared cache
        assert "decoded 40 to 16x16" in capsys.readouterr().out
        assert len(list(mine.glob("faces-*.npy"))) == 1 and sorted(shared.glob("faces-*.npy")) == made
    finally:
        shared.chmod(0o755)


# --- The download ---------------------------------------------------------------------------------

@pytest.fixture
def served(tmp_path):
    """A local web server serving tmp_path/www; yields its address."""
    import functools
    import http.server
    import threading

    (tmp_path / "www").mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_download_is_checked_before_it_lands_and_changes_no_process_setting(synthetic_zip, served, tmp_path,
                                                                             monkeypatch, capsys):
    import socket

    shutil.copyfile(synthetic_zip, tmp_path / "www" / "faces.zip")
    dest = tmp_path / "desk" / dataset.DATASET_ZIP
    dest.parent.mkdir()
    assert dataset.download_dataset(dest, f"{served}/faces.zip") is None  # 40 images: no published release
    assert "holds 40 images, not one of the published releases" in capsys.readouterr().out
    assert not dest.exists() and list(dest.parent.iterdir()) == [], "a refused download left a file"
    monkeypatch.setitem(dataset.KNOWN_RELEASES, 40, "a test release")
    assert dataset.download_dataset(dest, f"{served}/faces.zip") == dest
    assert dest.read_bytes() == synthetic_zip.read_bytes()
    assert dataset.download_dataset(dest, f"{served}/missing.zip") is None and dest.exists()
    assert "Could not download" in capsys.readouterr().out
    assert socket.getdefaulttimeout() is None


def test_a_cache_file_of_the_wrong_shape_is_decoded_again_and_an_unwritable_cache_is_said(tmp_path, capsys):
    source = helpers.DataSource("zip", dataset.write_synthetic_zip(tmp_path / "a.zip", n_images=12, seed=0, workers=1))
    good = helpers.load_images(source, cache_dir=tmp_path / "cache")
    (cached,) = (tmp_path / "cache").glob("faces-*.npy")
    np.save(cached, np.zeros((12, 3, 16, 16), np.uint8))  # a foreign or damaged file under the right name
    capsys.readouterr()
    again = helpers.load_images(source, cache_dir=tmp_path / "cache")
    assert "decoded 12" in capsys.readouterr().out and torch.equal(again, good)
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    assert torch.equal(helpers.load_images(source, cache_dir=tmp_path / "blocked"), good)
    assert "(Not cached: Could not write" in capsys.readouterr().out
