"""facegen/interrupt.py: Stop (Jupyter's stop button, or Ctrl-C: SIGINT) ends training cleanly between
two steps. The first SIGINT only sets a flag; train() saves a checkpoint, says how to resume and
returns normally; a second SIGINT raises KeyboardInterrupt at once. Running train() again resumes.

Every test here runs under the `sigint_guard` fixture, so a SIGINT that StopRequest fails to take
is recorded (and fails the test) instead of interrupting the whole pytest session.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from facegen import checkpoints
from facegen.interrupt import StopRequest
from tests.builders import run_train


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


def slow_steps(nb: dict, delay: list, done: list, stop_after: float | None = None):
    """The notebook's train_step, delay[0] seconds slower; appends 1 to `done` as each step starts. With
    stop_after, the first step starts a timer that presses Stop (SIGINT) stop_after seconds later and
    puts the number of steps started by then first in `done`. The code is the same whatever the
    arguments, so calls with other arguments are the same run."""
    notebook_step = nb["train_step"]

    def press_stop_later():
        done.insert(0, len(done))
        os.kill(os.getpid(), signal.SIGINT)

    def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
        if not done and stop_after is not None:
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
    done = []
    try:
        result = run_train(nb, tmp_path, epochs=epochs, n_images=n_images,
                           train_step=slow_steps(nb, [0.1], done, stop_after=0.3))
    except KeyboardInterrupt:
        pytest.fail("train() let the first SIGINT through as KeyboardInterrupt instead of stopping cleanly")
    out = capsys.readouterr().out
    assert sigint_guard == [], "the SIGINT reached the test's guard, not train()"
    assert done and done[0] != 1, "the Stop was never pressed: training ended first"
    started_at_stop, steps = done[0], len(done) - 1
    stopped = [line for line in out.splitlines() if line.startswith("Stopped at")]
    assert len(stopped) == 1, f"expected one 'Stopped at' line: {out!r}"
    assert "again to resume" in stopped[0] and "checkpoint.pt" in stopped[0], stopped[0]
    assert result.summary["stopped_by"] == "stop"
    assert started_at_stop <= steps <= started_at_stop + 1, \
        f"Stop came during step {started_at_stop}, yet {steps} steps ran: it should stop after the step under way"
    saved = checkpoints.load_checkpoint(result.folder / "checkpoint.pt")
    assert saved["epoch"] * steps_per_epoch + saved["batch"] == steps, "the checkpoint must hold the steps done"
    assert saved["images_seen"] == steps * 16

    # Run again (no Stop, no delay: the same train_step code): it resumes and does only the rest.
    rest = []
    result = run_train(nb, tmp_path, epochs=epochs, n_images=n_images, train_step=slow_steps(nb, [0.0], rest))
    out = capsys.readouterr().out
    assert "Resumed" in out and "New run" not in out, out
    assert len(rest) == epochs * steps_per_epoch - steps, f"{len(rest)} steps after {steps} of {epochs * 8}"
    assert result.summary["epochs_completed"] == epochs and result.summary["stopped_by"] == "epochs"
    assert result.summary["images_seen"] == epochs * steps_per_epoch * 16
