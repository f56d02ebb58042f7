"""Counters of what the sandbox saw, so tests can assert how a client behaved.

For example: that an importer stayed under the rate limit (no 429 in ``by_status``), or that
after a lost response it did not write twice (``writes``).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    """Thread-safe counts of API requests (``/_sandbox/`` calls are not counted).

    ``requests``: every API request, lost ones included. ``by_status``: answered requests by
    status. ``faults``: injected 5xx answers and lost responses. ``writes``: write requests
    that committed (a batch is one), lost ones included; counted from the 2xx answers, so a 422
    that wrote a batch's valid items (``batch_failure="write_valid"``) is not among them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._by_status: Counter[int] = Counter()
            self._faults: Counter[str] = Counter({"5xx": 0, "lost": 0})
            self._writes = 0

    def record(self, *, status: int | None, fault: str | None = None, wrote: bool = False) -> None:
        """One API request: its status (None when the response was lost), fault and write."""
        with self._lock:
            self._requests += 1
            if status is not None:
                self._by_status[status] += 1
            if fault is not None:
                self._faults[fault] += 1
            if wrote:
                self._writes += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._requests,
                "by_status": dict(sorted(self._by_status.items())),
                "faults": dict(self._faults),
                "writes": self._writes,
            }
