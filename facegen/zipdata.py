"""The dataset zip as published: find its images, explain a bad file, download it."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import tempfile
import zipfile
from pathlib import Path

from facegen import FacegenError

DATASET_ZIP = "processed-celeba-small.zip"
DATASET_FOLDER = "processed_celeba_small"
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
    """Download the published zip (torchvision's download_url, with its progress bar); None when
    offline. What arrives is checked before it replaces anything."""
    from torchvision.datasets.utils import download_url

    dest = Path(dest)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # download_url sets none: an unreachable host must not hang
    try:
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
            download_url(url, tmp, dest.name)
            part = Path(tmp) / dest.name
            check_download(part)
            os.replace(part, dest)  # a cut-off download never lands under the real name
        return dest
    except (OSError, ValueError, RuntimeError) as e:  # offline, DNS failure, timeout, refused
        print(f"Could not download {url} ({e.__class__.__name__}: {e}).")
        return None
    finally:
        socket.setdefaulttimeout(previous)


def check_download(path: Path) -> None:
    """Refuse a downloaded file that is not the published dataset (checksum where known, else count)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest in KNOWN_SHA256:
        return
    count = len(list_image_names(DataSource("zip", path)))
    if count not in KNOWN_RELEASES:
        raise FacegenError(f"The downloaded zip holds {count:,} images, not one of the published releases "
                           f"({', '.join(f'{n:,}' for n in KNOWN_RELEASES)}); refusing to use it.")

