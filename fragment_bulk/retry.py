"""The retry policy: which failures are transient, and how long to wait before trying again.

Built from tenacity's parts. The policy is a value (:class:`RetryPolicy`) handed to the
client, not a loop sprinkled through the code; this module is the only place that decides
what is transient:

- 429 is always retried, after the server's ``Retry-After`` (seconds or an HTTP date), clamped
  to ``[floor, cap]`` so ``Retry-After: 0`` cannot start a retry storm; the wait is also
  imposed on every other thread through the shared throttle.
- 5xx and transport failures are retried when the request is idempotent (GET, PUT, PATCH,
  DELETE), or when the failure proves nothing was written (503, connection refused). A POST
  that may have been applied is never re-sent blindly: the caller decides (see TransportError).
- The total budget (default 300 s and 12 attempts) outlasts a minute-long rate-limit penalty.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from fragment_bulk.errors import RateLimited, ServerError, TransportError
from fragment_bulk.ratelimit import Throttle

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How persistent to be. ``floor``/``cap`` bound every wait; ``budget`` bounds them all."""

    max_attempts: int = 12
    budget: float = 300.0
    floor: float = 0.5
    cap: float = 60.0
    # None: sleep through the throttle when there is one, so Ctrl-C cuts retry waits short.
    sleep: Callable[[float], None] | None = None

    def is_transient(self, error: BaseException, *, idempotent: bool) -> bool:
        if isinstance(error, RateLimited):
            return True
        if isinstance(error, (ServerError, TransportError)):
            return idempotent or not error.may_have_committed
        return False

    def delay(self, error: BaseException | None, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        if isinstance(error, (RateLimited, ServerError)) and error.retry_after:
            return min(max(error.retry_after, self.floor), self.cap)
        # Exponential backoff with full jitter above the floor, so threads that failed together
        # do not come back together.
        ceiling = min(self.cap, self.floor * 2 ** (attempt - 1))
        return self.floor + random.uniform(0, max(ceiling - self.floor, 0.0))

    def call(self, action: Callable[[], T], *, idempotent: bool, throttle: Throttle | None = None) -> T:
        """Run ``action`` until it succeeds, fails for good, or the budget runs out."""
        started = time.monotonic()

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            seconds = self.delay(error, state.attempt_number)
            if isinstance(error, RateLimited) and throttle is not None:
                throttle.penalize(seconds)
            return seconds

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda exc: self.is_transient(exc, idempotent=idempotent)),
            wait=wait,
            stop=tenacity.stop_after_attempt(self.max_attempts) | tenacity.stop_after_delay(self.budget),
            sleep=self.sleep or (throttle.sleep if throttle is not None else time.sleep),
            reraise=False,
        )
        try:
            return retrying(action)
        except tenacity.RetryError as gave_up:
            error = gave_up.last_attempt.exception()
            elapsed = time.monotonic() - started
            note = f" (gave up after {gave_up.last_attempt.attempt_number} attempts in {elapsed:.0f}s)"
            error.args = (f"{error.args[0] if error.args else error}{note}",) + tuple(error.args[1:])
            raise error from None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date; ``None`` when absent or garbled."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "nan" would make every wait none at all; "inf" is no time either
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)
