"""facegen/decode.py: decoding the faces once into a uint8 tensor, cached and keyed by the data's
contents. Corrupt images are skipped with a count, any mode or size becomes RGB 32x32, and a zip
with zip-slip entries is read from memory without writing anything outside the cache."""
from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
from facegen import decode, synthetic
from helpers import FacegenError
from tests.builders import scale, files_under, image_bytes, one_line, slip_names, slip_zip, write_zip


# --- The cache, and max_images ------------------------------------------------------------------------

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
    px = decode.decode_image(make(), 32)
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
