"""Writing a checkpoint in one go, for tests that need one on disk (training uses CheckpointWriter)."""
from __future__ import annotations

import io
from pathlib import Path

import torch

from facegen.checkpoints import _write_checkpoint_bytes


def save_checkpoint(path: Path, state: dict) -> None:
    """Save a checkpoint atomically; the previous one is kept as <name>.prev.pt until the new one lands."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    _write_checkpoint_bytes(Path(path), buffer)
