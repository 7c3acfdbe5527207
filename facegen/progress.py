"""One sitting of training, seen from outside: the clock and its time limit, the progress bar and the loss
log (Progress), and Stop (Jupyter's stop button, or Ctrl-C) ending training between two steps."""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from pathlib import Path

import torch
from tqdm import tqdm

from facegen import FacegenError

HISTORY_KEYS = ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake")


class Progress:
    """One sitting of training, seen from outside: the clock (out of time after max_minutes), the progress
    bar and the loss log.

    The bar counts steps against the steps still to do or, for a time-bounded run, seconds against the
    limit (the steps that fit are not known in advance), so the remaining time it shows is true. The log
    sums train_step's (d_loss, g_loss, D(x), D(G(z))) on the device and appends their means to the run's
    history every `every` steps: reading a number from a GPU makes the CPU wait, so it is done once per
    log line, not once per step. A NaN or infinite mean stops training in one line."""

    def __init__(self, state, max_minutes: float | None, steps_per_epoch: int, epochs: int, every: int,
                 checkpoint: Path):
        self.state, self.steps_per_epoch, self.epochs, self.every = state, steps_per_epoch, epochs, every
        self.checkpoint = checkpoint  # named when training diverges
        self.start, self.limit = time.perf_counter(), None if max_minutes is None else max_minutes * 60
        self.images_at_start, self.last_save = state.images_seen, 0.0
        self.sums, self.count = torch.zeros(4, device=state.fixed_z.device), 0
        if self.limit is not None:
            self.bar = tqdm(total=round(self.limit), unit="s", desc="Training (time limit)", file=sys.stderr,
                            mininterval=2.0, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total} s{postfix}")
        else:
            total = epochs * steps_per_epoch
            self.bar = tqdm(total=total, initial=min(state.step, total), unit="step", desc="Training",
                            file=sys.stderr, mininterval=2.0)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def out_of_time(self) -> bool:
        return self.limit is not None and self.elapsed() > self.limit

    def checkpoint_due(self, minutes: float) -> bool:
        """Whether the last checkpoint is older than `minutes`, right after a log line (so the saved history
        is whole)."""
        return self.elapsed() - self.last_save > 60 * minutes and self.count == 0

    def log(self, *values) -> None:
        """Add one step's (d_loss, g_loss, D(x), D(G(z))); a log line every `every` steps; advance the bar."""
        self.sums += torch.stack([torch.as_tensor(v, device=self.sums.device).detach().float().reshape(())
                                  for v in values])
        self.count += 1
        if self.count == self.every:
            self.flush()
        if self.limit is None:
            self.bar.update(1)
        else:
            self.bar.update(max(0.0, min(self.elapsed(), self.limit) - self.bar.n))

    def flush(self) -> None:
        """Append the means of the steps since the last log line to the history (or stop on a NaN)."""
        if self.count == 0:
            return
        means, state = (self.sums / self.count).tolist(), self.state
        self.sums.zero_()
        self.count = 0
        if not all(math.isfinite(v) for v in means):
            kept = f"The last good checkpoint ({self.checkpoint}) is kept" if self.checkpoint.exists() else \
                "No checkpoint was saved before that"
            raise FacegenError(f"Training diverged at epoch {state.epoch + 1}, step {state.batch}: the losses became "
                               f"{dict(zip(HISTORY_KEYS[2:], means))}. {kept}; try a lower learning rate or "
                               "check the losses.")
        for key, value in zip(HISTORY_KEYS, [state.step, state.epoch + 1, *means]):
            state.history[key].append(value)
        self.bar.set_postfix(d_loss=f"{means[0]:.3f}", g_loss=f"{means[1]:.3f}", refresh=False)

    def epoch_done(self) -> None:
        """Print the epoch's last losses (above the bar)."""
        h = self.state.history
        self.bar.write(f"Epoch {self.state.epoch:3d}/{self.epochs} | d_loss {h['d_loss'][-1]:.4f} | g_loss "
                       f"{h['g_loss'][-1]:.4f} | D(x) {h['d_real'][-1]:.3f} | D(G(z)) {h['d_fake'][-1]:.3f}",
                       file=sys.stdout)


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
