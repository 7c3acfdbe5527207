"""Robustness: bad inputs and faults a learner will meet, each built here, each answered in one clear line.

Every test builds its own bad input or fault (tiny zips in tmp_path, a SIGKILLed subprocess, a
monkeypatched write that fails) and checks two things: the message (helpers.FacegenError, one line,
naming the file and what to do) and that nothing was lost (the previous checkpoint still loads,
nothing was written where it should not be, training goes on or resumes).

Models are the notebook's own (the `nb` fixture), at conv_dim=8, on a few dozen random images.
"""
from __future__ import annotations

import errno
import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
from benchmarks import extract
from facegen import checkpoints, progress
from facegen import decode
from tests import checkpoint_files
from helpers import FacegenError

ROOT = Path(helpers.__file__).resolve().parent
CPU = torch.device("cpu")


# --- Builders --------------------------------------------------------------------------------------

def image_bytes(colour=(200, 30, 30), size=(40, 40), mode="RGB", fmt="JPEG", **save_kw) -> bytes:
    """One plain image encoded as fmt."""
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, fmt, **save_kw)
    return buf.getvalue()


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    """A zip holding exactly these entries (names are stored as given, even '../x' or '/abs')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return path


def good_zip(path: Path, n: int = 4) -> Path:
    return write_zip(path, {f"celeba/{i:06d}.jpg": image_bytes((20 * i, 100, 50)) for i in range(n)})


def files_under(root: Path, exclude: Path | None = None) -> set[str]:
    """Every file and folder below root (relative names), except those inside exclude."""
    out = set()
    for p in root.rglob("*"):
        if exclude is not None and (p == exclude or exclude in p.parents):
            continue
        out.add(p.relative_to(root).as_posix())
    return out


def one_line(excinfo, *needles: str) -> str:
    """The FacegenError's message: one line that contains every needle (case-insensitive)."""
    message = str(excinfo.value)
    assert "\n" not in message.strip(), f"not one line: {message!r}"
    for needle in needles:
        assert needle.lower() in message.lower(), f"{needle!r} not in {message!r}"
    return message


def tiny(nb: dict, n_images: int = 64, batch_size: int = 16, conv_dim: int = 8):
    """The notebook's D and G at conv_dim, Adam as in the notebook, and a loader of random images."""
    D, G = nb["Discriminator"](conv_dim=conv_dim), nb["Generator"](conv_dim=conv_dim)
    D.apply(nb["weights_init_normal"])
    G.apply(nb["weights_init_normal"])
    d_opt = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    g_opt = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    images = torch.randint(0, 256, (n_images, 3, 32, 32), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(1))
    return D, G, d_opt, g_opt, helpers.get_dataloader(batch_size, images=images)


def run_train(nb, out_dir: Path, epochs: int, train_step=None, conv_dim: int = 8, **kw) -> helpers.TrainResult:
    """Train tiny networks as the notebook run from the top would: seeded, so a second call is the same run."""
    torch.manual_seed(0)
    D, G, d_opt, g_opt, loader = tiny(nb, conv_dim=conv_dim)
    kw = {"device": CPU, "precision": "fp32", "eager": True, "sample_size": 8, "log_every": 2,
          "checkpoint_minutes": 60.0, **kw}
    return helpers.train(D, G, d_opt, g_opt, train_step or nb["train_step"], loader, epochs=epochs,
                         out_dir=out_dir, **kw)


def state(epoch: int) -> dict:
    """A small checkpoint-like state whose tensor says which one it is."""
    return {"epoch": epoch, "w": torch.full((8,), float(epoch))}


def assert_is(loaded: dict | None, epoch: int) -> None:
    assert loaded is not None, "no checkpoint could be loaded"
    assert loaded["epoch"] == epoch and torch.equal(loaded["w"], torch.full((8,), float(epoch)))


class Killed(BaseException):
    """Stands in for the process dying at this point: no except-clause of helpers may catch it."""


# ================================================================================================
# Data
# ================================================================================================

# --- 1. FACEGEN_DATA points nowhere ---------------------------------------------------------------

def test_data_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "nowhere" / "processed-celeba-small.zip"
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(missing), search_dir=tmp_path, out_dir=tmp_path / "out", download=False)
    one_line(e, str(missing), "does not exist", "FACEGEN_DATA")
    assert not (tmp_path / "out").exists(), "nothing (no synthetic data) should be made for a bad path"


# --- 2. A file that is not a zip --------------------------------------------------------------------

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


# --- 3. A truncated zip -------------------------------------------------------------------------------

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


# --- 4. No images -----------------------------------------------------------------------------------

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


# --- 5. Corrupt images among good ones ---------------------------------------------------------------

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
    loader = helpers.get_dataloader(2, images=images)
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


# --- 6. Other sizes and modes -------------------------------------------------------------------------

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


# --- 7. Zip-slip ----------------------------------------------------------------------------------------

def slip_zip(tmp_path: Path, evil: str) -> Path:
    return write_zip(tmp_path / "box" / "faces.zip", {"faces/000001.jpg": image_bytes(), evil: image_bytes((1, 2, 3)),
                                                      "faces/000002.jpg": image_bytes()})


def slip_names(tmp_path: Path) -> dict[str, str]:
    return {"dotdot": "../evil.jpg", "deep-dotdot": "faces/../../../evil.jpg",
            "absolute": str(tmp_path / "abs-evil.jpg"), "dotdot-into-sibling": "../sibling/evil.jpg"}


@pytest.mark.parametrize("which", ["dotdot", "deep-dotdot", "absolute", "dotdot-into-sibling"])
def test_safe_extract_refuses_zip_slip(tmp_path, which):
    evil = slip_names(tmp_path)[which]
    z = slip_zip(tmp_path, evil)
    target = tmp_path / "box" / "target"
    (tmp_path / "box" / "sibling").mkdir()
    before = files_under(tmp_path, exclude=target)
    with pytest.raises(FacegenError) as e:
        extract.safe_extract(z, target)
    one_line(e, z.name, evil, "unsafe")
    assert files_under(tmp_path, exclude=target) == before, "something was written outside the target"
    assert not Path(tmp_path / "abs-evil.jpg").exists() and not (tmp_path / "evil.jpg").exists()


def test_safe_extract_of_a_good_zip(tmp_path):
    z = write_zip(tmp_path / "ok.zip", {"faces/": b"", "faces/a/000001.jpg": image_bytes(),
                                       "faces/a/../b.jpg": image_bytes(),
                                       "__MACOSX/faces/._b.jpg": b"\0\5\26\7", "faces/.DS_Store": b"\0"})
    written = extract.safe_extract(z, tmp_path / "t")
    assert sorted(p.relative_to((tmp_path / "t").resolve()).as_posix() for p in written) == \
        ["faces/a/000001.jpg", "faces/b.jpg"]


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


# --- 8. macOS junk ---------------------------------------------------------------------------------------

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


# --- 9. Bad parameters ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value, variable", [
    ("epochs", "-1", "FACEGEN_EPOCHS"), ("epochs", "0", "FACEGEN_EPOCHS"), ("epochs", "ten", "FACEGEN_EPOCHS"),
    ("epochs", "2.5", "FACEGEN_EPOCHS"), ("epochs", -3, "FACEGEN_EPOCHS"),
    ("batch_size", "0", "FACEGEN_BATCH_SIZE"), ("batch_size", "-64", "FACEGEN_BATCH_SIZE"),
    ("batch_size", "lots", "FACEGEN_BATCH_SIZE"), ("batch_size", "", "FACEGEN_BATCH_SIZE"),
    ("minutes", "nan", "FACEGEN_MINUTES"), ("minutes", "inf", "FACEGEN_MINUTES"), ("minutes", "-5", "FACEGEN_MINUTES"),
    ("max_images", "-5", "FACEGEN_MAX_IMAGES"), ("seed", "x", "FACEGEN_SEED"),
    ("fid_samples", "-1", "FACEGEN_FID_SAMPLES"),
])
def test_bad_numbers_are_refused(name, value, variable):
    with pytest.raises(FacegenError) as e:
        helpers.read_parameters(**{name: value})
    message = one_line(e, variable)
    if str(value):
        assert repr(value) in message or str(value) in message, message


@pytest.mark.parametrize("device", ["tpu", "gpu", "xla", "meta", "cuda:abc"])
def test_unknown_device_is_refused(device):
    with pytest.raises(FacegenError) as e:
        helpers.read_parameters(device=device)
    one_line(e, "FACEGEN_DEVICE", device, "cpu")


def test_cuda_without_a_gpu_is_refused():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(FacegenError) as e:
        helpers.read_parameters(device="cuda")
    one_line(e, "FACEGEN_DEVICE", "no CUDA GPU", "cpu")


def test_cuda_index_that_does_not_exist_is_refused():
    """cuda:99 is no device on any machine: refused up front, not at the first tensor moved there."""
    with pytest.raises(FacegenError) as e:
        helpers.read_parameters(device="cuda:99")
    one_line(e, "FACEGEN_DEVICE", "cuda:99")


def test_good_parameters_pass():
    config = helpers.read_parameters(epochs="3", batch_size="64", device="cpu", minutes="1.5", seed="7")
    assert (config.epochs, config.batch_size, config.minutes, config.seed) == (3, 64, 1.5, 7)


def test_batch_larger_than_dataset(tmp_path):
    images = torch.zeros(64, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(FacegenError) as e:
        helpers.get_dataloader(100, images=images)
    one_line(e, "FACEGEN_BATCH_SIZE=100", "64", "smaller batch")
    z = good_zip(tmp_path / "faces.zip", n=3)
    with pytest.raises(FacegenError) as e:
        helpers.get_dataloader(4, source=helpers.DataSource("zip", z))
    one_line(e, "FACEGEN_BATCH_SIZE=4", "3")


def test_batch_larger_than_dataset_is_refused_before_decoding(tmp_path, monkeypatch):
    z = helpers.DataSource("zip", good_zip(tmp_path / "faces.zip", n=5))
    monkeypatch.setattr(helpers, "load_images", lambda *a, **k: pytest.fail("decoded before checking the batch"))
    for batch_size, max_images in ((6, None), (4, 3), (0, None)):
        with pytest.raises(FacegenError) as e:
            helpers.get_dataloader(batch_size, source=z, max_images=max_images)
        one_line(e, f"FACEGEN_BATCH_SIZE={batch_size}")


def test_load_generator_with_another_z_size(nb, tmp_path):
    path = tmp_path / "generator.pt"
    torch.save(nb["Generator"](z_size=50, conv_dim=8).state_dict(), path)
    G = nb["Generator"](z_size=100, conv_dim=8)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    with pytest.raises(FacegenError) as e:
        helpers.load_generator(G, path)
    one_line(e, path.name, "z_size")
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items()), "G was changed by a failed load"
    with pytest.raises(FacegenError) as e:
        helpers.load_generator(G, tmp_path / "missing.pt")
    one_line(e, "missing.pt", "does not exist")


def test_load_generator_with_a_training_checkpoint(nb, tmp_path):
    """A learner points load_generator at checkpoint.pt (a dict of everything), not a generator state dict."""
    G = nb["Generator"](conv_dim=8)
    path = tmp_path / "checkpoint.pt"
    checkpoint_files.save_checkpoint(path, {"G": G.state_dict(), "D": {}, "epoch": 1})
    with pytest.raises(FacegenError) as e:
        helpers.load_generator(G, path)
    one_line(e, path.name)


# --- 10. A corrupt or truncated checkpoint -------------------------------------------------------------------

def test_truncated_checkpoint_falls_back_to_previous(tmp_path, capsys):
    path = tmp_path / "checkpoint.pt"
    checkpoint_files.save_checkpoint(path, state(1))
    checkpoint_files.save_checkpoint(path, state(2))
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    assert_is(checkpoints.load_checkpoint(path), 1)
    out = capsys.readouterr().out
    assert "checkpoint.pt" in out and "unreadable" in out, out


@pytest.mark.parametrize("previous", ["none", "also-corrupt"])
def test_unreadable_checkpoint_means_start_fresh_and_says_so(tmp_path, capsys, previous):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"PK\x03\x04 this was a checkpoint once")
    if previous == "also-corrupt":
        path.with_suffix(".prev.pt").write_bytes(b"\x80\x02garbage")
    assert checkpoints.load_checkpoint(path) is None
    out = capsys.readouterr().out
    assert "checkpoint.pt" in out and "unreadable" in out, out
    assert "fresh" in out.lower(), f"the learner should be told training starts from scratch: {out!r}"


def test_train_resumes_from_previous_when_checkpoint_is_truncated(nb, tmp_path, capsys):
    run_train(nb, tmp_path, epochs=2)
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[:1000])
    capsys.readouterr()
    result = run_train(nb, tmp_path, epochs=3)
    out = capsys.readouterr().out
    assert "unreadable" in out and "Resumed from " + str(path.with_suffix(".prev.pt")) in out, out
    assert result.summary["resumed"] and result.summary["epochs_completed"] == 3
    assert result.history["step"] == [2, 4, 6, 8, 10, 12], "history must be the full 3 epochs, once each"
    assert len(result.samples_per_epoch) == 3
    assert_resumable(path, epoch=3)


def test_previous_checkpoint_from_another_setup_is_the_one_set_aside(nb, tmp_path, capsys):
    run_train(nb, tmp_path, epochs=2)
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[:1000])  # unreadable: the state comes from checkpoint.prev.pt
    capsys.readouterr()
    result = run_train(nb, tmp_path, epochs=1, conv_dim=16)
    out = capsys.readouterr().out
    assert f"Starting fresh: {path.with_suffix('.prev.pt')} is from a different setup" in out, out
    assert not result.summary["resumed"]
    assert checkpoints.load_checkpoint(path.with_suffix(".replaced.pt"))["epoch"] == 1, "the set-aside file is the one read"


def test_train_starts_fresh_when_checkpoint_is_garbage(nb, tmp_path, capsys):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(os.urandom(4096))
    result = run_train(nb, tmp_path, epochs=1)
    out = capsys.readouterr().out
    assert "checkpoint.pt" in out and "unreadable" in out, out
    assert not result.summary["resumed"] and result.summary["epochs_completed"] == 1
    assert result.history["step"] == [2, 4]
    assert_resumable(path, epoch=1)


def assert_resumable(path: Path, epoch: int) -> None:
    loaded = checkpoints.load_checkpoint(path)
    assert loaded is not None and loaded["epoch"] == epoch


@pytest.mark.parametrize("content", ["tensor", "list"])
def test_checkpoint_that_holds_something_else_means_start_fresh(nb, tmp_path, capsys, content):
    """A readable file that is no training checkpoint (e.g. a tensor saved over it): start fresh, say so."""
    path = tmp_path / "checkpoint.pt"
    torch.save(torch.zeros(3) if content == "tensor" else [1, 2, 3], path)
    result = run_train(nb, tmp_path, epochs=1)
    assert not result.summary["resumed"] and result.summary["epochs_completed"] == 1
    assert "checkpoint.pt" in capsys.readouterr().out
    assert_resumable(path, epoch=1)


def test_only_previous_checkpoint_from_another_setup(nb, tmp_path, capsys):
    """A kill between save_checkpoint's two renames leaves only checkpoint.prev.pt; then conv_dim changes."""
    run_train(nb, tmp_path, epochs=1, conv_dim=8)
    os.replace(tmp_path / "checkpoint.pt", tmp_path / "checkpoint.prev.pt")
    capsys.readouterr()
    result = run_train(nb, tmp_path, epochs=1, conv_dim=4)
    out = capsys.readouterr().out
    assert "Starting fresh" in out and "architecture" in out, out
    assert not result.summary["resumed"] and result.summary["epochs_completed"] == 1


# ================================================================================================
# Faults
# ================================================================================================

# --- Kill -9 during training, then run again ---------------------------------------------------------

DRIVER = """
import json, sys, time
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
import helpers
from benchmarks.notebook import load_notebook_code

out_dir, epochs, conv_dim, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
nb = load_notebook_code()
torch.manual_seed(0)
images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
loader = helpers.get_dataloader(32, images=images)
D, G = nb["Discriminator"](conv_dim=conv_dim), nb["Generator"](conv_dim=conv_dim)
D.apply(nb["weights_init_normal"]); G.apply(nb["weights_init_normal"])
d_opt = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
g_opt = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))

def step(*args, **options):
    print("STEP", flush=True)
    time.sleep(delay)
    return nb["train_step"](*args, **options)

result = helpers.train(D, G, d_opt, g_opt, step, loader, epochs=epochs, z_size=100, device=torch.device("cpu"),
                       out_dir=out_dir, precision="fp32", eager=True, sample_size=16,
                       checkpoint_minutes=0.001)
print("HISTORY", json.dumps(result.history), flush=True)
"""
EPOCHS = 4
STEPS_PER_EPOCH = 256 // 32


def start_driver(tmp_path: Path, out_dir: Path, log: Path, conv_dim: int = 8, delay: float = 0.0):
    script = tmp_path / "driver.py"
    if not script.exists():
        script.write_text(DRIVER.format(root=str(ROOT)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    with open(log, "w") as f:
        return subprocess.Popen([sys.executable, str(script), str(out_dir), str(EPOCHS), str(conv_dim), str(delay)],
                                stdout=f, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)


def finish(proc: subprocess.Popen, log: Path, timeout: float = 60) -> str:
    try:
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, f"driver failed (rc {proc.returncode}):\n{text[-3000:]}"
    return text


def epochs_printed(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"Epoch\s+(\d+)/\d+", text)]


def history_of(text: str) -> dict:
    return json.loads(re.search(r"^HISTORY (.*)$", text, re.M).group(1))


def test_kill9_during_training_then_resume(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    procs = []
    try:
        # An uninterrupted run to compare with, and the run we kill, side by side.
        procs.append(ref := start_driver(tmp_path, whole, tmp_path / "whole.log"))
        procs.append(victim := start_driver(tmp_path, killed, tmp_path / "run1.log", delay=0.04))
        deadline = time.monotonic() + 45
        while not ((killed / "checkpoint.pt").exists() and "Epoch   2/" in (tmp_path / "run1.log").read_text()):
            log1 = (tmp_path / "run1.log").read_text()
            assert victim.poll() is None, "the run ended before it could be killed:\n" + log1
            assert time.monotonic() < deadline, "no checkpoint appeared:\n" + log1
            time.sleep(0.01)
        time.sleep(0.1)  # a few steps into epoch 3, between checkpoints
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        assert victim.returncode == -signal.SIGKILL
        run1 = (tmp_path / "run1.log").read_text()
        assert not (killed / "summary.json").exists(), "the killed run must not have finished"
        reference = history_of(finish(ref, tmp_path / "whole.log"))

        # Run again: it resumes; meanwhile the finished reference run is re-run with another conv_dim.
        procs.append(again := start_driver(tmp_path, killed, tmp_path / "run2.log"))
        procs.append(other := start_driver(tmp_path, whole, tmp_path / "run3.log", conv_dim=4))
        run2 = finish(again, tmp_path / "run2.log")
        run3 = finish(other, tmp_path / "run3.log")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    assert "Resumed" in run2, run2[-2000:]
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["epochs_completed"] == EPOCHS and summary["resumed"] is True
    assert summary["images_seen"] == EPOCHS * 256
    history = history_of(run2)
    log_every = max(1, min(50, STEPS_PER_EPOCH // 4))
    assert history["step"] == list(range(log_every, EPOCHS * STEPS_PER_EPOCH + 1, log_every)), \
        "the history must hold every logged step exactly once"
    assert history["epoch"] == [1 + (s - 1) // STEPS_PER_EPOCH for s in history["step"]]
    # At most one epoch redone: the steps of both sessions together exceed the run's by < one epoch,
    # and the resumed session prints no epoch that the killed one had already finished and saved.
    steps1, steps2 = run1.count("STEP"), run2.count("STEP")
    redone = steps1 + steps2 - EPOCHS * STEPS_PER_EPOCH
    assert 0 <= redone <= STEPS_PER_EPOCH, f"{redone} steps redone ({steps1} + {steps2})"
    assert min(epochs_printed(run2)) >= max(epochs_printed(run1)), (epochs_printed(run1), epochs_printed(run2))
    # Nothing was lost or changed: the resumed run's losses are the uninterrupted run's.
    for key in progress.HISTORY_KEYS[2:]:
        np.testing.assert_allclose(history[key], reference[key], rtol=1e-4, atol=1e-5, err_msg=key)

    # Changing the model (conv_dim 8 -> 4) between runs starts fresh, says why and keeps the old checkpoint.
    assert "Starting fresh" in run3 and "architecture" in run3, run3[-2000:]
    assert "Resumed" not in run3
    summary3 = json.loads((whole / "summary.json").read_text())
    assert summary3["epochs_completed"] == EPOCHS and summary3["resumed"] is False
    assert (whole / "checkpoint.replaced.pt").exists()
    assert checkpoints.load_checkpoint(whole / "checkpoint.replaced.pt")["epoch"] == EPOCHS


# --- A kill while a checkpoint is being written ----------------------------------------------------------

def _fail_on(monkeypatch, point: str, exc: BaseException) -> None:
    """Make the checkpoint write die at `point`: mid-write, at fsync, or at the k-th os.replace."""
    if point == "write":
        import builtins

        class HalfWrite(io.FileIO):
            def write(self, data):
                view = memoryview(data).cast("B")
                super().write(view[:len(view) // 2])
                raise exc

        def fake_open(file, mode="r", *args, **kwargs):
            return HalfWrite(file, "w") if "w" in mode else builtins.open(file, mode, *args, **kwargs)

        monkeypatch.setattr(checkpoints, "open", fake_open, raising=False)
    elif point == "fsync":
        def fake_fsync(fd):
            raise exc
        monkeypatch.setattr(os, "fsync", fake_fsync)
    else:
        k, real_replace, calls = int(point.split("-")[1]), os.replace, []

        def fake_replace(src, dst, *args, **kwargs):
            calls.append(src)
            if len(calls) == k:
                raise exc
            return real_replace(src, dst, *args, **kwargs)
        monkeypatch.setattr(os, "replace", fake_replace)


@pytest.mark.parametrize("point", ["write", "fsync", "replace-1", "replace-2", "replace-3"])
@pytest.mark.parametrize("had_previous", [False, True], ids=["first-save", "later-save"])
def test_kill_during_checkpoint_write_keeps_a_good_checkpoint(tmp_path, monkeypatch, point, had_previous):
    path = tmp_path / "checkpoint.pt"
    if had_previous:
        checkpoint_files.save_checkpoint(path, state(0))
    checkpoint_files.save_checkpoint(path, state(1))
    with monkeypatch.context() as m:
        _fail_on(m, point, Killed())
        with pytest.raises(Killed):
            checkpoint_files.save_checkpoint(path, state(2))
    loaded = checkpoints.load_checkpoint(path)
    assert loaded is not None and loaded["epoch"] in (1, 2), "the previous checkpoint was lost"
    assert_is(loaded, loaded["epoch"])
    # The next save works and wins.
    checkpoint_files.save_checkpoint(path, state(3))
    assert_is(checkpoints.load_checkpoint(path), 3)


WRITER = """
import os, sys, time
sys.path.insert(0, {root!r})
import torch, helpers
from tests import checkpoint_files
real_fsync = os.fsync
def slow_fsync(fd):
    real_fsync(fd)
    print("WRITTEN-NOT-RENAMED", flush=True)
    time.sleep(60)
os.fsync = slow_fsync
checkpoint_files.save_checkpoint(sys.argv[1], {{"epoch": 2, "w": torch.full((8,), 2.0), "big": torch.randn(4_000_000)}})
"""


def test_sigkill_during_checkpoint_write_keeps_previous(tmp_path):
    path = tmp_path / "checkpoint.pt"
    checkpoint_files.save_checkpoint(path, state(1))
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline().decode() if ready else ""
        assert "WRITTEN-NOT-RENAMED" in line, f"the writer did not reach its write: {line!r}"
        partial = [p for p in tmp_path.iterdir() if ".tmp" in p.name]
        assert partial and partial[0].stat().st_size > 16_000_000, "the kill should land with the new file written"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_is(checkpoints.load_checkpoint(path), 1)
    checkpoint_files.save_checkpoint(path, state(3))
    assert_is(checkpoints.load_checkpoint(path), 3)


# --- A NaN loss -------------------------------------------------------------------------------------------

def nan_after(nb, good_steps: int):
    calls = []

    def step(D, G, d_opt, g_opt, real, z_size, smooth=True):
        calls.append(1)
        out = nb["train_step"](D, G, d_opt, g_opt, real, z_size, smooth)
        if len(calls) > good_steps:  # diverged for real: the weights and the losses are NaN
            with torch.no_grad():
                for p in G.parameters():
                    p.fill_(float("nan"))
            return tuple(torch.full_like(v, float("nan")) for v in out)
        return out
    return step


def test_nan_loss_stops_training_and_keeps_last_good_checkpoint(nb, tmp_path):
    # 64 images, batch 16: 4 steps an epoch, logged every 2; the 6th step diverges.
    with pytest.raises(FacegenError) as e:
        run_train(nb, tmp_path, epochs=3, train_step=nan_after(nb, 5), checkpoint_minutes=0.0)
    one_line(e, "diverged", "checkpoint.pt", "learning rate")
    saved = checkpoints.load_checkpoint(tmp_path / "checkpoint.pt")
    assert saved is not None and saved["epoch"] == 1 and saved["images_seen"] == 4 * 16
    assert all(torch.isfinite(v).all() for v in saved["G"].values() if v.is_floating_point()), "NaN weights saved"
    assert all(np.isfinite(saved["history"][k]).all() for k in progress.HISTORY_KEYS[2:])
    assert not (tmp_path / "summary.json").exists()


def test_nan_loss_before_any_checkpoint(nb, tmp_path):
    """Diverging in the first steps: the message must not point at a checkpoint that does not exist."""
    with pytest.raises(FacegenError) as e:
        run_train(nb, tmp_path, epochs=1, train_step=nan_after(nb, 0))
    message = one_line(e, "diverged")
    assert not (tmp_path / "checkpoint.pt").exists()
    assert "is kept" not in message, f"no checkpoint exists, yet the message says one is kept: {message!r}"


# --- A full disk, a read-only folder ---------------------------------------------------------------------

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("point", ["write", "fsync"])
def test_full_disk_while_saving_checkpoint(tmp_path, monkeypatch, point):
    path = tmp_path / "checkpoint.pt"
    checkpoint_files.save_checkpoint(path, state(0))
    checkpoint_files.save_checkpoint(path, state(1))
    before = files_under(tmp_path)
    with monkeypatch.context() as m:
        _fail_on(m, point, ENOSPC)
        with pytest.raises(FacegenError) as e:
            checkpoint_files.save_checkpoint(path, state(2))
    one_line(e, "checkpoint", "No space left", "disk space")
    assert_is(checkpoints.load_checkpoint(path), 1)
    assert files_under(tmp_path) == before, "a failed save must leave no partial files behind"


def test_full_disk_during_training(nb, tmp_path, monkeypatch):
    run_train(nb, tmp_path, epochs=1)
    with monkeypatch.context() as m:
        _fail_on(m, "fsync", ENOSPC)
        with pytest.raises(FacegenError) as e:
            run_train(nb, tmp_path, epochs=2)
    one_line(e, "checkpoint", "No space left")
    saved = checkpoints.load_checkpoint(tmp_path / "checkpoint.pt")
    assert saved is not None and saved["epoch"] == 1, "the checkpoint of epoch 1 must survive"
    result = run_train(nb, tmp_path, epochs=2)  # space again: it resumes and finishes
    assert result.summary["resumed"] and result.summary["epochs_completed"] == 2


def test_read_only_output_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    path = out / "checkpoint.pt"
    checkpoint_files.save_checkpoint(path, state(1))
    out.chmod(0o500)
    try:
        try:
            (out / "probe").write_bytes(b"x")
        except PermissionError:
            pass
        else:
            (out / "probe").unlink()
            pytest.skip("chmod does not stop this user (root) from writing")
        with pytest.raises(FacegenError) as e:
            checkpoint_files.save_checkpoint(path, state(2))
        one_line(e, "checkpoint", "Permission denied")
        assert_is(checkpoints.load_checkpoint(path), 1)
    finally:
        out.chmod(0o700)


def test_permission_denied_while_saving(tmp_path, monkeypatch):
    """What a read-only folder does to a non-root user, simulated (tests may run as root)."""
    path = tmp_path / "checkpoint.pt"
    checkpoint_files.save_checkpoint(path, state(1))
    import builtins

    def fake_open(file, mode="r", *args, **kwargs):
        if "w" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return builtins.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(checkpoints, "open", fake_open, raising=False)
    with pytest.raises(FacegenError) as e:
        checkpoint_files.save_checkpoint(path, state(2))
    one_line(e, "checkpoint", "Permission denied", "FACEGEN_OUT")
    with pytest.raises(FacegenError) as e:
        helpers.write_json(tmp_path / "summary.json", {"a": 1})
    one_line(e, "summary.json", "Permission denied")
    monkeypatch.undo()
    assert_is(checkpoints.load_checkpoint(path), 1)


# --- Untrusted files ----------------------------------------------------------------------------------------

class Evil:
    """Unpickling this runs os.mkdir(marker): code execution, as a hostile checkpoint would do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def evil_file(path: Path, marker: Path, what: str = "checkpoint") -> Path:
    payload = {"D": {"w": torch.ones(2)}, "G": Evil(str(marker)), "epoch": 9} if what == "checkpoint" \
        else {"fc.weight": Evil(str(marker))}
    torch.save(payload, path)
    return path


def test_the_malicious_pickle_really_runs_code(tmp_path):
    """Sanity check of the payload: an unsafe load would run it."""
    marker = tmp_path / "pwned-unsafe"
    torch.load(evil_file(tmp_path / "x.pt", marker), weights_only=False)
    assert marker.exists()


def test_malicious_checkpoint_is_refused(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = evil_file(tmp_path / "checkpoint.pt", marker)
    assert checkpoints.load_checkpoint(path) is None
    assert not marker.exists(), "loading the checkpoint ran its code"
    assert "checkpoint.pt" in capsys.readouterr().out
    # With a good previous checkpoint, that one is used instead.
    torch.save(state(1), path.with_suffix(".prev.pt"))
    assert_is(checkpoints.load_checkpoint(path), 1)
    assert not marker.exists()


def test_train_with_a_malicious_checkpoint_starts_fresh(nb, tmp_path):
    marker = tmp_path / "pwned"
    evil_file(tmp_path / "checkpoint.pt", marker)
    result = run_train(nb, tmp_path, epochs=1)
    assert not marker.exists() and not result.summary["resumed"]
    assert_resumable(tmp_path / "checkpoint.pt", epoch=1)


def test_malicious_generator_file_is_refused(nb, tmp_path):
    marker = tmp_path / "pwned"
    path = evil_file(tmp_path / "generator.pt", marker, what="generator")
    with pytest.raises(FacegenError) as e:
        helpers.load_generator(nb["Generator"](conv_dim=8), path)
    one_line(e, path.name)
    assert not marker.exists(), "loading the generator ran its code"
