"""The machinery behind helpers.py that a learner never needs to read: a few rooms, one job each.

For the notebook (through helpers.py), lowest first (each imports only those above it):
    settings       the FACEGEN_* settings, validated; the device and its precision
    synthetic      the synthetic stand-in: cartoon faces in the published zip's layout
    dataset        the published zip (open, list, download), decoding to one cached uint8 tensor,
                   and find_dataset: FACEGEN_DATA, beside the notebook, a download, or the stand-in
    checkpoints    files a kill cannot break: save_checkpoint and load_checkpoint (atomic, loaded safely),
                   generator.pt
    progress       one sitting seen from outside: Progress (clock, bar, loss log) and Stop (Ctrl-C)
    runs           a training run: its folder and settings, where it stands (TrainState), its batches and
                   summary, the fixed z's samples
    fast_step      FastStep: bf16 autocast, channels-last, a CUDA graph; the CPU's threads by measurement
    pictures       image grids, the loss plot, nearest faces, the progress GIF, the lesson's diagrams
    fid            the Frechet Inception Distance against the held-out faces
    pretrained     the shipped generator: its weights, and its layers as data (no class of the lesson's)
    notebook_errors  one line for a stub, a failed check, or a cell run ahead of its step
On its own: install, the student's installer (python -m facegen.install; the standard library only).
For the checks (through problem_unittests.py): the checks/ package, one module per step (its index).
This file: what every room shares (FacegenError, atomic writes, a content digest, count_parameters, a
process pool, the published zip's folder name).

No module here imports helpers.py; helpers.py imports from here.
"""
from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import multiprocessing
import os
import sys
from pathlib import Path
from typing import Callable


DATASET_FOLDER = "processed_celeba_small"  # the published zip's top folder (the stand-in's too)


def process_pool(workers: int):
    """A process pool of `workers`, or None for 1 (no processes at all): decoding and drawing faces."""
    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn").Pool(workers) \
        if workers > 1 else None


class FacegenError(Exception):
    """A problem the learner can fix; the message says what is wrong and what to do."""


def short_digest(data: bytes) -> str:
    """The first 20 hex digits of data's SHA-256: a cache key for content (decoded faces, FID statistics)."""
    return hashlib.sha256(data).hexdigest()[:20]


def write_atomically(path: Path, write: Callable) -> None:
    """Write a file via a temporary file, fsync and rename: a kill leaves the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # a file in the folder's place fails here, said below
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise FacegenError(f"Could not write {path} ({e.strerror or e}); the previous file, if any, is "
                           "unchanged. Free some disk space or set FACEGEN_OUT to another folder.") from None
    finally:
        with contextlib.suppress(OSError):  # no temporary file, or no folder to hold one
            tmp.unlink(missing_ok=True)


def write_json(path: Path, data: dict) -> None:
    """Write a dict as pretty JSON, atomically."""
    write_atomically(Path(path), lambda f: f.write(json.dumps(data, indent=2).encode()))


def did_you_mean(name: str, known, show: Callable = str) -> str:
    """': did you mean X?' for the known name nearest to a misspelt one (shown by `show`), or '' when none is near."""
    nearest = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f": did you mean {show(nearest[0])}?" if nearest else ""


def count_parameters(model) -> int:
    """The number of trainable parameters of a model (step 4 shows it; the checks compare sizes with it)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
