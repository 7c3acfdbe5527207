"""facegen/progress.py, the run as it trains: the progress bar, the loss log (a NaN stops training), and
Stop (Ctrl-C) ending a step cleanly."""
from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import torch

from facegen import checkpoints, progress, runs
from facegen.progress import StopRequest
from helpers import FacegenError
from tests.builders import one_line, run_train

# === The progress bar and the loss log ============================================================
# facegen/progress.py: Progress, the clock, the bar (honest about what this call will do) and the loss log
# (a NaN or infinite loss stops training in one line, keeping the last good checkpoint).

# --- The progress bar ------------------------------------------------------------------------------

def progress_at(step: int, max_minutes: float | None, tmp_path) -> progress.Progress:
    """A Progress for a run 3 steps into its second epoch of 1,000 steps (40 epochs), logging every 50."""
    state = runs.TrainState(torch.zeros(2, 100), epoch=step // 1000, batch=step % 1000, step=step)
    return progress.Progress(state, max_minutes, 1000, 40, 50, tmp_path / "checkpoint.pt")


def test_a_time_bounded_bar_counts_seconds_up_to_the_limit(tmp_path):
    with progress_at(0, 0.5, tmp_path) as shown:
        assert shown.bar.total == 30 and shown.bar.unit == "s", "the total is the time limit, not the run's steps"
        shown.log(0.7, 0.7, 0.5, 0.5)
        assert 0 <= shown.bar.n <= 30


def test_an_epoch_bounded_bar_counts_steps_from_where_the_run_stands(tmp_path):
    with progress_at(1003, None, tmp_path) as shown:
        assert (shown.bar.total, shown.bar.n, shown.bar.unit) == (40_000, 1003, "step")
        shown.log(0.7, 0.7, 0.5, 0.5)
        assert shown.bar.n == 1004


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
    run_train(nb, tmp_path, epochs=2, minutes=0.5)  # 2 x 4 steps, bounded by 30 s (the epochs end first)
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
    # 64 images, batch 16: 4 steps an epoch, logged every 2; the 6th step diverges.
    with pytest.raises(FacegenError) as e:
        run_train(nb, tmp_path, epochs=3, train_step=nan_after(nb, 5), checkpoint_minutes=0.0)
    one_line(e, "diverged at epoch 2, step 2", "checkpoint.pt", "learning rate")
    saved = checkpoints.load_checkpoint(tmp_path / "runs" / "batch16-lr0.0002-seed0" / "checkpoint.pt")
    assert saved is not None and saved["state"]["epoch"] == 1 and saved["state"]["images_seen"] == 4 * 16
    assert all(torch.isfinite(v).all() for v in saved["G"].values() if v.is_floating_point()), "NaN weights saved"
    assert all(np.isfinite(saved["state"]["history"][k]).all() for k in progress.HISTORY_KEYS[2:])
    assert not (tmp_path / "runs" / "batch16-lr0.0002-seed0" / "summary.json").exists()


def test_nan_loss_before_any_checkpoint(nb, tmp_path):
    """Diverging in the first steps: the message must not point at a checkpoint that does not exist."""
    with pytest.raises(FacegenError) as e:
        run_train(nb, tmp_path, epochs=1, train_step=nan_after(nb, 0))
    message = one_line(e, "diverged")
    assert not (tmp_path / "runs" / "batch16-lr0.0002-seed0" / "checkpoint.pt").exists()
    assert "is kept" not in message, f"no checkpoint exists, yet the message says one is kept: {message!r}"

# === Stop =========================================================================================
# Stop (Jupyter's stop button, or Ctrl-C: SIGINT) ends training cleanly between
# two steps. The first SIGINT only sets a flag; train() saves a checkpoint, says how to resume and
# returns normally; a second SIGINT raises KeyboardInterrupt at once. Running train() again resumes.
#
# Every test here runs under the `sigint_guard` fixture, so a SIGINT that StopRequest fails to take
# is recorded (and fails the test) instead of interrupting the whole pytest session.

def press_stop() -> None:
    """SIGINT to this process, as Jupyter's stop button sends; its handler runs before this returns."""
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.01)


def test_the_first_sigint_only_sets_a_flag_and_the_second_raises(sigint_guard):
    guard = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        assert signal.getsignal(signal.SIGINT) is not guard, "StopRequest must take SIGINT"
        assert not stop.requested
        try:
            press_stop()
        except KeyboardInterrupt:
            pytest.fail("the first SIGINT raised KeyboardInterrupt: it should only set stop.requested")
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            press_stop()
    assert signal.getsignal(signal.SIGINT) is guard, "the previous SIGINT handler must be restored"
    assert sigint_guard == [], "a SIGINT inside the with block reached the previous handler"
    press_stop()
    assert sigint_guard == [signal.SIGINT], "after the with block SIGINT goes to the previous handler again"


def test_the_previous_handler_is_restored_after_an_exception_too(sigint_guard):
    guard = signal.getsignal(signal.SIGINT)
    with pytest.raises(ValueError), StopRequest():
        raise ValueError("training failed")
    assert signal.getsignal(signal.SIGINT) is guard


def test_outside_the_main_thread_it_changes_nothing(sigint_guard):
    guard, seen = signal.getsignal(signal.SIGINT), []

    def in_a_thread():
        with StopRequest() as stop:
            seen.append((stop.requested, signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [(False, guard)] and signal.getsignal(signal.SIGINT) is guard


def slow_steps(nb: dict, delay: list, done: list, pressed: list | None = None, stop_after: float = 0.0):
    """The notebook's train_step, delay[0] seconds slower; appends 1 to `done` as each step starts. With
    `pressed`, the first step starts a timer that presses Stop (SIGINT) stop_after seconds later and
    appends to `pressed` the number of steps started by then (1: during the first step). The code is
    the same whatever the arguments, so calls with other arguments are the same run."""
    notebook_step = nb["train_step"]

    def press_stop_later():
        pressed.append(len(done))
        os.kill(os.getpid(), signal.SIGINT)

    def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
        if not done and pressed is not None:
            timer = threading.Timer(stop_after, press_stop_later)
            timer.daemon = True
            timer.start()
        done.append(1)
        time.sleep(delay[0])
        return notebook_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth)
    return train_step


def test_train_stopped_by_sigint_saves_says_how_to_resume_and_resumes(nb, tmp_path, capsys, sigint_guard,
                                                                     no_loss_plot):
    # 2 epochs of 8 steps of at least 0.1 s: the Stop, 0.3 s after the first step starts, comes mid-epoch.
    epochs, steps_per_epoch, n_images = 2, 8, 128
    done, pressed = [], []
    try:
        result = run_train(nb, tmp_path, epochs=epochs, n_images=n_images,
                           train_step=slow_steps(nb, [0.1], done, pressed, stop_after=0.3))
    except KeyboardInterrupt:
        pytest.fail("train() let the first SIGINT through as KeyboardInterrupt instead of stopping cleanly")
    out = capsys.readouterr().out
    assert sigint_guard == [], "the SIGINT reached the test's guard, not train()"
    assert len(pressed) == 1, "the Stop was never pressed: training ended first"
    started_at_stop, steps = pressed[0], len(done)
    stopped = [line for line in out.splitlines() if line.startswith("Stopped at")]
    assert len(stopped) == 1, f"expected one 'Stopped at' line: {out!r}"
    assert "again to resume" in stopped[0] and "checkpoint.pt" in stopped[0], stopped[0]
    assert result.summary["stopped_by"] == "stop"
    assert started_at_stop <= steps <= started_at_stop + 1, \
        f"Stop came during step {started_at_stop}, yet {steps} steps ran: it should stop after the step under way"
    saved = checkpoints.load_checkpoint(result.folder / "checkpoint.pt")
    assert saved["state"]["step"] == steps, "the checkpoint must hold the steps done"
    assert saved["state"]["epoch"] * steps_per_epoch + saved["state"]["batch"] == steps
    assert saved["state"]["images_seen"] == steps * 16

    # Run again (no Stop, no delay: the same train_step code): it resumes and does only the rest.
    rest = []
    result = run_train(nb, tmp_path, epochs=epochs, n_images=n_images, train_step=slow_steps(nb, [0.0], rest))
    out = capsys.readouterr().out
    assert "Resumed" in out and "New run" not in out, out
    assert len(rest) == epochs * steps_per_epoch - steps, f"{len(rest)} steps after {steps} of {epochs * 8}"
    assert result.summary["epochs_completed"] == epochs and result.summary["stopped_by"] == "epochs"
    assert result.summary["images_seen"] == epochs * steps_per_epoch * 16


def test_the_progress_bar_shows_the_logged_losses_and_a_resumed_run_counts_all_its_training_time(
        nb, tmp_path, monkeypatch, no_loss_plot):
    shown = []
    real_tqdm = progress.tqdm

    class RecordingTqdm(real_tqdm):
        def set_postfix(self, ordered_dict=None, refresh=True, **values):
            shown.append(values)
            super().set_postfix(ordered_dict, refresh, **values)
    monkeypatch.setattr(progress, "tqdm", RecordingTqdm)
    # Steps of at least 0.05 s: an epoch (4 steps) takes 0.2 s or more, so the times tell apart on any machine.
    first = run_train(nb, tmp_path, epochs=1, train_step=slow_steps(nb, [0.05], []))
    h = first.history
    assert shown[-1] == {"d_loss": f"{h['d_loss'][-1]:.3f}", "g_loss": f"{h['g_loss'][-1]:.3f}"}
    assert first.summary["seconds_training"] == first.summary["seconds_this_session"] >= 0.2
    resumed = run_train(nb, tmp_path, epochs=2, train_step=slow_steps(nb, [0.05], []))
    assert resumed.summary["seconds_training"] > first.summary["seconds_training"]
    assert resumed.summary["seconds_training"] == pytest.approx(
        first.summary["seconds_training"] + resumed.summary["seconds_this_session"], abs=0.15)


def test_the_history_and_the_epoch_lines_hold_each_epochs_losses(nb, tmp_path, capsys, no_loss_plot):
    """64 faces in batches of 16, logged every 2 steps: 2 log lines an epoch, numbered by step and epoch;
    the line printed after each epoch shows that epoch's last logged losses."""
    result = run_train(nb, tmp_path, epochs=2)
    h = result.history
    assert h["step"] == [2, 4, 6, 8] and h["epoch"] == [1, 1, 2, 2]
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("Epoch")]
    assert lines == [f"Epoch {e:3d}/2 | d_loss {h['d_loss'][i]:.4f} | g_loss {h['g_loss'][i]:.4f} | "
                     f"D(x) {h['d_real'][i]:.3f} | D(G(z)) {h['d_fake'][i]:.3f}" for e, i in ((1, 1), (2, 3))]
