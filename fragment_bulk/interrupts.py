"""What further Ctrl-Cs do while a run that was interrupted winds down.

The first Ctrl-C stops a run: the requests in flight finish, their rows are journalled and the
results file is written. A second one landing in the middle of that would break it off (no
results file, and a KeyboardInterrupt inside a thread pool's callback prints a trace that no
``except`` can catch). So while a run winds down, the second Ctrl-C only says what is
happening, and the third quits at once: every acknowledged batch is already committed to the
checkpoint, so only the results file of this run is lost.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

EXIT_INTERRUPTED = 130


class WindDown:
    """Ctrl-C while a run sends: the first stops it (KeyboardInterrupt, as usual), the second
    is only noted, the third quits. Watching from the start of sending, not from the first
    Ctrl-C on: a second one pressed before the first was handled would otherwise break the save."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._previous: Any = None
        self._presses = 0

    def watch(self) -> None:
        # Only the main thread may set a signal handler (a run started from a worker thread,
        # as in some notebook tools, keeps the default behaviour).
        if self._previous is None and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_interrupt)

    def release(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        self._presses += 1
        if self._presses == 1:
            raise KeyboardInterrupt
        if self._presses == 2:
            self._log("stopping: saving what the server acknowledged (Ctrl-C again to quit at once)")
            return
        self._log("quit: every acknowledged row is in the checkpoint; run the same command again to resume")
        os._exit(EXIT_INTERRUPTED)
