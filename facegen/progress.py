"""One sitting of training, seen from outside: the clock and its time limit, the progress bar, the loss log,
and Stop (Jupyter's stop button, or Ctrl-C) ending training between two steps."""
from __future__ import annotations

import math
import signal
import sys
import threading
import time

import torch
from tqdm import tqdm

from facegen import FacegenError

# Training time and the progress bar: honest about what this call will actually do.

HISTORY_KEYS = ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake")


class Clock:
    """Training time; out of time after max_minutes."""

    def __init__(self, max_minutes: float | None):
        self.start = time.perf_counter()
        self.limit = None if max_minutes is None else max_minutes * 60

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def out_of_time(self) -> bool:
        return self.limit is not None and self.elapsed() > self.limit


class ProgressBar:
    """Steps against the steps still to do, or, for a time-bounded run, seconds against the limit
    (the steps that fit are not known in advance), so the remaining time it shows is true."""

    def __init__(self, clock: Clock, steps_done: int, total_steps: int | None):
        self.clock = clock
        if clock.limit is not None:
            self.bar = tqdm(total=round(clock.limit), unit="s", desc="Training (time limit)", file=sys.stderr,
                            mininterval=2.0, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total} s{postfix}")
        else:
            self.bar = tqdm(total=total_steps, initial=min(steps_done, total_steps or steps_done), unit="step",
                            desc="Training", file=sys.stderr, mininterval=2.0)

    def advance(self) -> None:
        if self.clock.limit is None:
            self.bar.update(1)
        else:
            self.bar.update(max(0.0, min(self.clock.elapsed(), self.clock.limit) - self.bar.n))

    def show(self, **values: str) -> None:
        self.bar.set_postfix(values, refresh=False)

    def write(self, line: str) -> None:
        self.bar.write(line, file=sys.stdout)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def close(self) -> None:
        self.bar.close()


class LossLog:
    """Sums train_step's (d_loss, g_loss, D(x), D(G(z))) on the device and appends their means to
    run.history every `every` steps: reading a number from a GPU makes the CPU wait, so it is done
    once per log interval, not once per step. A NaN or infinite mean stops training, clearly."""

    def __init__(self, run, every: int, steps_per_epoch: int, bar: ProgressBar, writer):
        self.run, self.every, self.steps_per_epoch, self.bar = run, every, steps_per_epoch, bar
        self.sums, self.count, self.writer = torch.zeros(4, device=run.fixed_z.device), 0, writer

    def add(self, values: torch.Tensor) -> None:
        self.sums += values
        self.count += 1
        if self.count == self.every:
            self.flush()

    def flush(self) -> None:
        if self.count == 0:
            return
        means = (self.sums / self.count).tolist()
        self.sums.zero_()
        self.count = 0
        run = self.run
        if not all(math.isfinite(v) for v in means):
            self.writer.wait()  # a checkpoint still being written in the background lands first
            kept = f"The last good checkpoint ({self.writer.path}) is kept" if self.writer.path.exists() else \
                "No checkpoint was saved before that"
            raise FacegenError(f"Training diverged at epoch {run.epoch + 1}, step {run.batch}: the losses became "
                               f"{dict(zip(HISTORY_KEYS[2:], means))}. {kept}; try a lower learning rate or "
                               "check the losses.")
        for key, value in zip(HISTORY_KEYS, [run.epoch * self.steps_per_epoch + run.batch, run.epoch + 1, *means]):
            run.history[key].append(value)
        self.bar.show(d_loss=f"{means[0]:.3f}", g_loss=f"{means[1]:.3f}")


# Stop (Jupyter's stop button, or Ctrl-C) ends training between two steps, not in the middle of one.
#
# Inside `with StopRequest() as stop:` the first interrupt only sets stop.requested; the training loop
# looks at it after each step, saves a checkpoint and returns. A second interrupt stops at once, the
# usual way (KeyboardInterrupt). Outside the main thread, where signal handlers cannot be set, the
# usual KeyboardInterrupt applies.

class StopRequest:
    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:  # pressed twice: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
