"""Stop (Jupyter's stop button, or Ctrl-C) ends training between two steps, not in the middle of one.

Inside `with StopRequest() as stop:` the first interrupt only sets stop.requested; the training loop
looks at it after each step, saves a checkpoint and returns. A second interrupt stops at once, the
usual way (KeyboardInterrupt). Outside the main thread, where signal handlers cannot be set, the
usual KeyboardInterrupt applies.
"""
from __future__ import annotations

import signal
import threading


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
