"""What a second Ctrl-C does while a run that was interrupted winds down.

The first Ctrl-C stops a run: the requests in flight finish, their rows are journalled and the
results file is written. A second one landing in the middle of that would break it off (no
results file, and a KeyboardInterrupt inside a thread pool's callback prints a trace that no
``except`` can catch). So while a run sends and winds down, the second Ctrl-C only says what is
happening; a third breaks off as Python would (every acknowledged batch is already committed
to the checkpoint, so only this run's results file is lost).

Only Python's own SIGINT handler is replaced: one that ignores SIGINT (``nohup``, ``trap ''
INT``) or that a host installed (a notebook kernel's) is left alone.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

EXIT_INTERRUPTED = 130


class WindDown:
    """Watches SIGINT from the start of sending (a second Ctrl-C pressed before the first was
    handled must not break the save either) until :meth:`release`."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._installed = False
        self._presses = 0

    def watch(self) -> None:
        if (not self._installed and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._on_interrupt)
            self._installed = True

    def release(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._installed = False

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        self._presses += 1
        if self._presses == 2:
            self._log("stopping: saving what the server acknowledged (Ctrl-C again to break off)")
            return
        raise KeyboardInterrupt
