"""The throttle shared by every request of a process.

Fragment allows 60 requests per minute per token. Rather than sending as fast as possible and
letting 429s push back (a "429 storm"), every request first takes a slot from this throttle,
which spaces requests at the configured rate. It is a GCRA token bucket (the "virtual
scheduling" form): a slot is a reservation of a point in time, taken under a lock and slept
outside it, so any number of threads share it fairly and the rate is never exceeded.

When the server still answers 429 (another client shares the token, or the limit is lower than
configured), :meth:`Throttle.penalize` stops *every* thread until the server's ``Retry-After``
has passed, and slows the rate down; it recovers gradually as requests succeed again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fragment_bulk.errors import InterruptedImport

# After a 429 the interval between requests grows by this factor (up to MAX_SLOWDOWN) and
# shrinks back by RECOVERY per successful request: a gentle AIMD that never exceeds the rate.
SLOWDOWN = 1.25
MAX_SLOWDOWN = 4.0
RECOVERY = 0.98


class Throttle:
    """Spaces requests at ``rate_per_min`` (``None``: unlimited) allowing ``burst`` at once."""

    def __init__(
        self,
        rate_per_min: float | None,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ):
        if rate_per_min is not None and rate_per_min <= 0:
            raise ValueError("rate_per_min must be positive or None")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate_per_min = rate_per_min
        self.burst = burst
        self._clock = clock
        self._cancelled = threading.Event()
        self._sleep = sleep or self._cancellable_sleep
        self._lock = threading.Lock()
        self._slowdown = 1.0
        self._next_at = clock()  # the theoretical arrival time of the next request
        self._paused_until = 0.0
        self.requests = 0
        self.penalties = 0
        self.waited = 0.0

    @property
    def interval(self) -> float:
        """Seconds between requests at the current (possibly slowed) rate."""
        if self.rate_per_min is None:
            return 0.0
        return 60.0 / self.rate_per_min * self._slowdown

    def cancel(self) -> None:
        """Ctrl-C: every waiting and future :meth:`acquire` / :meth:`sleep` raises at once."""
        self._cancelled.set()

    def reset_cancel(self) -> None:
        self._cancelled.clear()

    def sleep(self, seconds: float) -> None:
        """Sleep that a :meth:`cancel` cuts short (used for retry waits too)."""
        self._sleep(seconds)
        if self._cancelled.is_set():
            raise InterruptedImport("interrupted")

    def _cancellable_sleep(self, seconds: float) -> None:
        self._cancelled.wait(seconds)

    def acquire(self) -> float:
        """Block until this request may be sent; returns the seconds waited."""
        waited = 0.0
        while True:
            if self._cancelled.is_set():
                raise InterruptedImport("interrupted")
            with self._lock:
                now = self._clock()
                start = max(self._next_at, now, self._paused_until)
                allowed_at = max(start - (self.burst - 1) * self.interval, self._paused_until)
                if allowed_at <= now:
                    self._next_at = start + self.interval
                    self.requests += 1
                    self.waited += waited
                    return waited
                delay = allowed_at - now
            # Sleep outside the lock, then look again: a penalty may have arrived meanwhile.
            self.sleep(delay)
            waited += delay

    def penalize(self, seconds: float) -> None:
        """The server answered 429: nobody sends for ``seconds``, and the rate slows down."""
        with self._lock:
            now = self._clock()
            self.penalties += 1
            self._paused_until = max(self._paused_until, now + max(seconds, 0.0))
            self._slowdown = min(self._slowdown * SLOWDOWN, MAX_SLOWDOWN)
            # Drain the bucket: after a pause requests resume one interval apart, not in a burst.
            self._next_at = max(self._next_at, self._paused_until)

    def succeeded(self) -> None:
        """A request went through: let a slowed-down rate recover towards the configured one."""
        if self._slowdown > 1.0:
            with self._lock:
                self._slowdown = max(1.0, self._slowdown * RECOVERY)
