"""Files that a kill cannot break: atomic writes, and checkpoints written in the background."""
from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from facegen import FacegenError


def write_atomically(path: Path, write: Callable) -> None:
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
    write_atomically(Path(path), lambda f: f.write(json.dumps(data, indent=2).encode()))


def _write_checkpoint_bytes(path: Path, buffer: io.BytesIO) -> None:
    """Write a serialised checkpoint atomically; the previous one becomes <name>.prev.pt."""
    write_atomically(path.with_suffix(".new.pt"), lambda f: f.write(buffer.getbuffer()))
    if path.exists():
        os.replace(path, path.with_suffix(".prev.pt"))
    os.replace(path.with_suffix(".new.pt"), path)


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


def load_generator(G: nn.Module, path: Path) -> nn.Module:
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
