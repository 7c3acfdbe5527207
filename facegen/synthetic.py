"""The synthetic stand-in: cartoon faces in the published zip's layout, for a machine with no data.

The zip it writes looks like processed-celeba-small.zip, macOS junk (.DS_Store, __MACOSX/) included, so
exactly the same loading code (facegen/dataset.py) runs on it as on the real faces."""
from __future__ import annotations

import contextlib
import io
import os
import zipfile
from pathlib import Path
from typing import Sequence, TypeVar

import numpy as np
from PIL import Image, ImageDraw

from facegen import DATASET_FOLDER, process_pool

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


def _draw_mouth(d: ImageDraw.ImageDraw, mouth: str, cx: float, my: float, mw: float, fh: float, lip: Colour,
                lw: int) -> None:
    """Draw a smile, a grin, a neutral line or an open mouth centred at (cx, my), mw wide."""
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


def _draw_eyes(d: ImageDraw.ImageDraw, rng: np.random.Generator, cx: float, cy: float, fw: float, fh: float,
               hair: Colour, shade: Colour, style: str) -> tuple[float, float, float, int]:
    """Draw both eyes and eyebrows; returns their height, spacing, radius and the line width used."""
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
    return ey, dx, er, lw


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

    ey, dx, er, lw = _draw_eyes(d, rng, cx, cy, fw, fh, hair, shade, style)

    # Nose: a shaded wedge with a nostril line.
    ny, nl, nw = cy + fh * 0.22, fh * rng.uniform(0.18, 0.3), fw * rng.uniform(0.1, 0.16)
    d.polygon([(cx, ny - nl), (cx - nw, ny), (cx + nw, ny)], fill=_mix(skin, (0, 0, 0), 0.12))
    d.line([(cx - nw * 0.6, ny), (cx + nw * 0.6, ny)], fill=_mix(skin, (0, 0, 0), 0.45), width=max(1, lw // 2))

    # Mouth.
    lip = _mix(skin, (130, 30, 45), 0.6)
    my, mw = cy + fh * rng.uniform(0.48, 0.56), fw * rng.uniform(0.3, 0.45)
    _draw_mouth(d, _pick(rng, MOUTHS), cx, my, mw, fh, lip, lw)

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
            pool = process_pool(workers)
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
