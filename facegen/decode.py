"""Decoding the faces once into a uint8 tensor, cached on disk and keyed by the data's contents."""
from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facegen import FacegenError, short_digest
from facegen.checkpoints import write_atomically
from facegen.zipdata import DATASET_ZIP, DataSource, list_image_names, open_zip

CACHE_VERSION = 1  # bump when decoding changes, so old caches are never trusted


def process_pool(workers: int):
    """A process pool of `workers`, or None for 1 (no processes at all)."""
    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn").Pool(workers) \
        if workers > 1 else None


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
    lines = [f"v{CACHE_VERSION}"]
    if source.kind == "folder":
        for p in sorted(source.path.rglob("*")):
            if p.is_file():
                st = p.stat()
                lines.append(f"{p.relative_to(source.path)}|{st.st_size}|{st.st_mtime_ns}")
    else:
        with open_zip(source.path) as zf:
            lines += [f"{info.filename}|{info.CRC}|{info.file_size}" for info in zf.infolist()]
    return short_digest("\n".join(lines).encode())


def load_images(source: DataSource, image_size: int = 32, max_images: int | None = None,
                cache_dir: Path | None = Path("outputs/cache"), workers: int | None = None,
                verbose: bool = True) -> torch.Tensor:
    """All faces of a source as one uint8 tensor (N, 3, S, S), decoded once and cached on disk.

    The cache is keyed by the source's contents (see _fingerprint), so a changed zip or folder is
    decoded again rather than trusted. Corrupt images are skipped with a count.
    """
    start = time.perf_counter()
    names = list_image_names(source)[:max_images]
    key = short_digest(f"{_fingerprint(source)}|{image_size}|{len(names)}".encode())
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
    pool = process_pool(workers)
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
            write_atomically(cache, lambda f: np.save(f, images.numpy(), allow_pickle=False))
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

