"""Where the faces come from and how they are read: the published zip (open, list, explain a bad
file, download), FACEGEN_DATA or a zip beside the notebook, the decoding of every face into one
cached uint8 tensor, and the synthetic stand-in (facegen/synthetic.py draws it) when there is no real data."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import sys
import tempfile
import time
import urllib.request
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from facegen import DATASET_FOLDER, FacegenError, process_pool, short_digest, write_atomically
from facegen.synthetic import SYNTHETIC_IMAGES, write_synthetic_zip


# --- zipdata --------------------------------------------------------------------------------------
# The dataset zip as published: find its images, explain a bad file, download it.

DATASET_ZIP = "processed-celeba-small.zip"
DATASET_URL = ("https://s3.amazonaws.com/video.udacity-data.com/topher/2018/November/"
               "5be7eb6f_processed-celeba-small/processed-celeba-small.zip")
# Releases we know: image count -> what it is. A download must hold one of these counts.
KNOWN_RELEASES = {89_931: "full release", 32_600: "newer release"}
KNOWN_SHA256 = {"3ee43c0ff28d8a665c3ff5ae4e731fd16a8eade914e2940e23a86db7d775099c": 32_600}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where the faces come from: kind is 'zip', 'folder' or 'synthetic' (a zip we drew)."""

    kind: str
    path: Path

    def __str__(self) -> str:
        """e.g. 'zip: processed-celeba-small.zip': relative to the working folder when inside it."""
        path = self.path.relative_to(Path.cwd()) if self.path.is_relative_to(Path.cwd()) else self.path
        return f"{self.kind}: {path}"

    def describe(self) -> str:
        """e.g. 'zip: processed-celeba-small.zip', the same wherever the notebook runs: a run's identity holds it."""
        return f"{self.kind}: {self.path.name}"


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
    """Download the published zip, with a progress bar; None when offline (timeout: seconds without an answer).
    What arrives is checked before it replaces anything."""
    dest = Path(dest)
    try:
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
            part = Path(tmp) / dest.name
            with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as f, \
                    tqdm(total=int(response.headers.get("Content-Length") or 0) or None, unit="B", unit_scale=True,
                         desc=f"Downloading {dest.name}", file=sys.stderr) as bar:
                while chunk := response.read(1 << 20):
                    bar.update(f.write(chunk))
            check_download(part)
            os.replace(part, dest)  # a cut-off download never lands under the real name
        return dest
    except (OSError, ValueError) as e:  # offline, DNS failure, timeout, refused, an HTTP error
        print(f"Could not download {url} ({e.__class__.__name__}: {e}).")
        return None
    except FacegenError as e:  # it arrived, but is not the published zip (a login page, say)
        print(f"Downloaded {url}, but {e}")
        return None


def check_download(path: Path) -> None:
    """Refuse a downloaded file that is not the published dataset (checksum where known, else count)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest in KNOWN_SHA256:
        return
    count = len(list_image_names(DataSource("zip", path)))
    if count not in KNOWN_RELEASES:
        raise FacegenError(f"The downloaded zip holds {count:,} images, not one of the published releases "
                           f"({', '.join(f'{n:,}' for n in KNOWN_RELEASES)}); refusing to use it.")


# --- decode ---------------------------------------------------------------------------------------
# Decoding the faces once into a uint8 tensor, cached on disk and keyed by the data's contents.

CACHE_VERSION = 1  # bump when decoding changes, so old caches are never trusted


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


def _read_cache(cached: Path, image_size: int) -> torch.Tensor | None:
    """The faces a cache file holds, or None when it is missing, damaged or of another size (then decoded)."""
    if not cached.exists():
        return None
    try:
        images = torch.from_numpy(np.load(cached, allow_pickle=False))
    except (OSError, ValueError):
        return None
    ok = images.dtype == torch.uint8 and images.ndim == 4 and images.shape[1:] == (3, image_size, image_size)
    return images if ok else None


DECODE_CHUNK = 1024  # images per decoding job


def decode_all(source: DataSource, names: list[str], image_size: int, workers: int | None = None
               ) -> tuple[np.ndarray, list[str]]:
    """The named images decoded (N, S, S, 3) in chunks over worker processes, and the names of those that
    could not be decoded (left out: a corrupt image's place is its chunk's start plus its place in the chunk)."""
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    chunks = [names[i:i + DECODE_CHUNK] for i in range(0, len(names), DECODE_CHUNK)]
    pool = process_pool(workers)
    with pool if pool is not None else contextlib.nullcontext():
        jobs = [(source, chunk, image_size) for chunk in chunks]
        results = pool.map(_decode_chunk, jobs) if pool else list(map(_decode_chunk, jobs))
    bad_positions = [c * DECODE_CHUNK + i for c, (_, idx) in enumerate(results) for i in idx]
    pixels = np.concatenate([a for a, _ in results]) if results else np.zeros((0, image_size, image_size, 3), np.uint8)
    keep = np.ones(len(pixels), bool)
    keep[bad_positions] = False
    return pixels[keep], [names[p] for p in bad_positions]


def load_images(source: DataSource, image_size: int = 32, max_images: int | None = None,
                cache_dir: Path | None = Path("outputs/cache"), workers: int | None = None,
                verbose: bool = True, shared_cache: Path | None = None) -> torch.Tensor:
    """All faces of a source as one uint8 tensor (N, 3, S, S), decoded once and cached on disk.

    The cache is keyed by the source's contents (see _fingerprint), so a changed zip or folder is
    decoded again rather than trusted. Corrupt images are skipped with a count. shared_cache: a folder a
    class shares (FACEGEN_SHARED_CACHE, which a teacher fills once: python -m facegen.dataset), read first and
    never written; what it lacks is decoded into cache_dir.
    """
    start = time.perf_counter()
    names = list_image_names(source)[:max_images]
    key = short_digest(f"{_fingerprint(source)}|{image_size}|{len(names)}".encode())
    cache = Path(cache_dir) / f"faces-{key}.npy" if cache_dir else None
    for cached in (Path(d) / f"faces-{key}.npy" for d in (shared_cache, cache_dir) if d):
        images = _read_cache(cached, image_size)
        if images is not None:
            if verbose:
                print(f"Loaded {len(images):,} faces at {image_size}x{image_size} from the cache "
                      f"{cached} in {time.perf_counter() - start:.2f} s ({source}).")
            return images
    pixels, bad = decode_all(source, names, image_size, workers)
    if bad:
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


# --- locate ---------------------------------------------------------------------------------------
# Where the faces come from: FACEGEN_DATA, beside the notebook, a download, or the synthetic stand-in
# (FACEGEN_DATA=synthetic: the stand-in at once, without searching or downloading).

SYNTHETIC = "synthetic"  # FACEGEN_DATA=synthetic: the stand-in, without searching or downloading


def find_dataset(data: str = "", search_dir: Path | None = None, out_dir: Path = Path("outputs"),
                 seed: int = 0, download: bool = True, max_images: int | None = None) -> DataSource:
    """FACEGEN_DATA -> a zip or folder beside the notebook (search_dir: the working folder, which Jupyter
    makes the notebook's) -> a download -> a synthetic stand-in (10,000 cartoon faces, or max_images
    when fewer will be used). data="synthetic" goes straight to the stand-in."""
    search_dir = Path.cwd() if search_dir is None else Path(search_dir)
    if data == SYNTHETIC:
        return synthetic_dataset(out_dir, seed, max_images, "FACEGEN_DATA=synthetic: using SYNTHETIC cartoon faces.")
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
    return synthetic_dataset(out_dir, seed, max_images, "NO REAL FACES FOUND: using SYNTHETIC cartoon faces instead.")


def synthetic_dataset(out_dir: Path, seed: int, max_images: int | None, headline: str) -> DataSource:
    """The synthetic stand-in (drawn once into out_dir/data), announced so nobody mistakes it for faces."""
    n_images = min(max_images or SYNTHETIC_IMAGES, SYNTHETIC_IMAGES)
    path = Path(out_dir) / "data" / f"synthetic-faces-seed{seed}-{n_images}.zip"
    print("=" * 78)
    print(headline)
    print(f"For real faces, put {DATASET_ZIP} beside the notebook or set FACEGEN_DATA (see README).")
    print("=" * 78)
    if not path.exists():
        start = time.perf_counter()
        write_synthetic_zip(path, n_images, seed=seed)
        print(f"Drew {n_images:,} synthetic faces into {path} in {time.perf_counter() - start:.1f} s.")
    return DataSource("synthetic", path.resolve())


def main(argv: list[str] | None = None) -> None:
    """python -m facegen.dataset DATA CACHE_DIR: decode DATA (the zip or a folder) once into CACHE_DIR, for a class
    to share (FACEGEN_SHARED_CACHE=CACHE_DIR for every student, FACEGEN_DATA=DATA)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m facegen.dataset", description=main.__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("cache_dir", type=Path)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args(argv)
    source = find_dataset(str(args.data), out_dir=args.cache_dir.parent, download=False)
    images = load_images(source, image_size=args.image_size, cache_dir=args.cache_dir)
    print(f"{len(images):,} faces cached in {args.cache_dir}/: set FACEGEN_SHARED_CACHE={args.cache_dir.resolve()} "
          f"and FACEGEN_DATA={args.data.resolve()} for the class (README, For teachers).")


if __name__ == "__main__":
    main()
