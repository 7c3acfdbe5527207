"""facegen/progress.py: the Clock, the ProgressBar (honest about what this call will do) and the LossLog
(a NaN or infinite loss stops training in one line, keeping the last good checkpoint)."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from facegen import checkpoints, progress
from helpers import FacegenError
from tests.builders import one_line, run_train


# --- The progress bar ------------------------------------------------------------------------------

def test_a_time_bounded_bar_counts_seconds_up_to_the_limit():
    clock = progress.Clock(max_minutes=0.5)
    with progress.ProgressBar(clock, steps_done=0, total_steps=40 * 1000) as bar:
        assert bar.bar.total == 30 and bar.bar.unit == "s", "the total is the time limit, not the run's steps"
        bar.advance()
        assert 0 <= bar.bar.n <= 30


def test_an_epoch_bounded_bar_counts_steps_from_where_the_run_stands():
    with progress.ProgressBar(progress.Clock(None), steps_done=5, total_steps=12) as bar:
        assert (bar.bar.total, bar.bar.n, bar.bar.unit) == (12, 5, "step")
        bar.advance()
        assert bar.bar.n == 6


@pytest.fixture
def bars(monkeypatch):
    """The (total, unit) of every progress bar train() opens."""
    opened = []
    real_tqdm = progress.tqdm

    def recording_tqdm(*args, **kwargs):
        bar = real_tqdm(*args, **kwargs)
        opened.append((bar.total, bar.unit))
        return bar

    monkeypatch.setattr(progress, "tqdm", recording_tqdm)
    return opened


def test_train_with_a_time_limit_shows_seconds_against_the_limit(nb, tmp_path, bars, no_loss_plot):
    run_train(nb, tmp_path, epochs=2, max_minutes=0.5)  # 2 x 4 steps, bounded by 30 s (the epochs end first)
    assert bars == [(30, "s")], "the bar's total must be the limit in seconds, not the run's 8 steps"


def test_train_without_a_time_limit_counts_steps(nb, tmp_path, bars, no_loss_plot):
    run_train(nb, tmp_path, epochs=2)
    assert bars == [(2 * 4, "step")]


# --- A NaN loss ----------------------------------------------------------------------------------------

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


def test_nan_loss_stops_training_and_keeps_last_good_checkpoint(nb, tmp_path, monkeypatch):
    # 64 images, batch 16: 4 steps an epoch, logged every 2; the 6th step diverges. Checkpoints are
    # written in the background: caught between moving checkpoint.pt to .prev.pt and the new one
    # landing, the message must still find the checkpoint.
    write = checkpoints._write_checkpoint_bytes

    def slow_write(path, buffer):
        if path.exists():
            os.replace(path, path.with_suffix(".prev.pt"))
        time.sleep(0.5)
        write(path, buffer)
    monkeypatch.setattr(checkpoints, "_write_checkpoint_bytes", slow_write)
    with pytest.raises(FacegenError) as e:
        run_train(nb, tmp_path, epochs=3, train_step=nan_after(nb, 5), checkpoint_minutes=0.0)
    one_line(e, "diverged", "checkpoint.pt", "learning rate")
    saved = checkpoints.load_checkpoint(tmp_path / "runs" / "batch16-lr0.0002-seed0" / "checkpoint.pt")
    assert saved is not None and saved["epoch"] == 1 and saved["images_seen"] == 4 * 16
    assert all(torch.isfinite(v).all() for v in saved["G"].values() if v.is_floating_point()), "NaN weights saved"
    assert all(np.isfinite(saved["history"][k]).all() for k in progress.HISTORY_KEYS[2:])
    assert not (tmp_path / "runs" / "batch16-lr0.0002-seed0" / "summary.json").exists()


def test_nan_loss_before_any_checkpoint(nb, tmp_path):
    """Diverging in the first steps: the message must not point at a checkpoint that does not exist."""
    with pytest.raises(FacegenError) as e:
        run_train(nb, tmp_path, epochs=1, train_step=nan_after(nb, 0))
    message = one_line(e, "diverged")
    assert not (tmp_path / "runs" / "batch16-lr0.0002-seed0" / "checkpoint.pt").exists()
    assert "is kept" not in message, f"no checkpoint exists, yet the message says one is kept: {message!r}"
