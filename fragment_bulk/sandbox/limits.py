"""What the sandbox does to a request besides answering it: rate limiting and injected faults.

Both exist so clients can be tested against the failures the real service produces. Faults are
drawn from ``random.Random(seed)`` under a lock, so a sequential client sees the same faults on
every run with the same seed (concurrent clients see the same *rates*, in whatever order their
requests arrive).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rate_per_min`` tokens a minute, at most ``burst`` saved up; starts full."""

    def __init__(self, rate_per_min: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate_per_min / 60.0
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._stamp = clock()

    def take(self, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens: 0.0 if there was one at least (the rest is owed, and waited
        for by the next request), else the seconds until one will be."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= cost
            return 0.0
        return (1.0 - self._tokens) / self._rate


class RateLimiter:
    """One token bucket per API token; ``rate_per_min=None`` turns limiting off."""

    def __init__(self, rate_per_min: float | None, burst: int) -> None:
        self._rate = rate_per_min
        self._burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def wait_for(self, token: str, cost: float = 1.0) -> float:
        """0.0 when the request (worth ``cost`` requests) may go ahead, else the seconds the
        client should wait."""
        if self._rate is None:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(token)
            if bucket is None:
                bucket = self._buckets[token] = TokenBucket(self._rate, self._burst)
            return bucket.take(cost)


def retry_after_header(wait: float, mode: str) -> list[tuple[str, str]]:
    """The ``Retry-After`` header of a 429 in the configured mode: whole seconds, at least 1."""
    if mode == "none":
        return []
    if mode == "zero":
        return [("Retry-After", "0")]
    return [("Retry-After", str(max(1, math.ceil(wait))))]


class FaultInjector:
    """Seeded draws of added latency, 5xx answers and lost responses."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._faults = random.Random(seed)
        # Latency has its own generator so switching it on does not shift the fault sequence.
        self._latency = random.Random(f"latency-{seed}")

    def latency(self, low_ms: float, high_ms: float) -> float:
        """Seconds to sleep before handling a request."""
        if high_ms <= 0:
            return 0.0
        with self._lock:
            return self._latency.uniform(low_ms, high_ms) / 1000.0

    def server_error(self, probability: float) -> int | None:
        """500 or 503 (even odds) with ``probability``, else None."""
        if probability <= 0:
            return None
        with self._lock:
            if self._faults.random() >= probability:
                return None
            return 500 if self._faults.random() < 0.5 else 503

    def lose_response(self, probability: float) -> bool:
        """Whether to drop the response of a committed write."""
        if probability <= 0:
            return False
        with self._lock:
            return self._faults.random() < probability
