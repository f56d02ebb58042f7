"""SandboxConfig: every switch of the sandbox in one frozen value.

The contract marks several behaviours of Fragment as *assumed* (rate-limit headers, batch size,
what an oversize batch answers). The sandbox makes each of them a field here so a client can be
tested against every variant; ``Sandbox.configure`` swaps the whole value atomically, so a
request never sees half of a change.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

RETRY_AFTER_MODES = ("header", "none", "zero")
OVERSIZE_STATUSES = (413, 422)


@dataclass(frozen=True)
class SandboxConfig:
    """How the sandbox behaves; see the field comments for what each switch reproduces."""

    token: str = "sandbox-token"  # the only accepted Bearer token
    db_path: str | Path | None = None  # None: in memory; a path: survives restarts
    rate_per_min: float | None = 60.0  # None: no rate limit
    burst: int = 10  # token bucket capacity
    retry_after: str = "header"  # "header" | "none" | "zero"
    max_batch: int = 100
    oversize_status: int = 422  # 422 whose message names the size, or 413
    page_default: int = 50
    page_max: int = 100
    fault_5xx: float = 0.0  # fraction answered 500/503 before any write
    fault_lost: float = 0.0  # fraction of writes committed, then answered with nothing
    latency_ms: tuple[float, float] = (0, 0)  # uniform random added latency (min, max)
    seed: int = 0  # faults and latency are drawn from RNGs seeded with this

    def __post_init__(self) -> None:
        # Values may come from JSON (PATCH /_sandbox/config), where a tuple arrives as a list.
        object.__setattr__(self, "latency_ms", tuple(self.latency_ms))
        _check(isinstance(self.token, str) and self.token != "", "token must be a non-empty string")
        _check(
            self.rate_per_min is None or (_is_number(self.rate_per_min) and self.rate_per_min > 0),
            "rate_per_min must be a positive number or None",
        )
        _check(_is_int(self.burst) and self.burst >= 1, "burst must be an integer >= 1")
        _check(self.retry_after in RETRY_AFTER_MODES, f"retry_after must be one of {RETRY_AFTER_MODES}")
        _check(_is_int(self.max_batch) and self.max_batch >= 1, "max_batch must be an integer >= 1")
        _check(self.oversize_status in OVERSIZE_STATUSES, f"oversize_status must be one of {OVERSIZE_STATUSES}")
        _check(
            _is_int(self.page_max) and _is_int(self.page_default) and 1 <= self.page_default <= self.page_max,
            "page_default and page_max must be integers with 1 <= page_default <= page_max",
        )
        for name in ("fault_5xx", "fault_lost"):
            value = getattr(self, name)
            _check(_is_number(value) and 0.0 <= value <= 1.0, f"{name} must be a fraction between 0 and 1")
        low_high = self.latency_ms
        _check(
            len(low_high) == 2 and all(_is_number(v) for v in low_high) and 0 <= low_high[0] <= low_high[1],
            "latency_ms must be (min, max) with 0 <= min <= max",
        )
        _check(_is_int(self.seed), "seed must be an integer")

    def with_changes(self, changes: dict[str, Any]) -> "SandboxConfig":
        """A copy with ``changes`` applied; unknown names raise ``ValueError`` naming them.

        ``db_path`` cannot change on a live sandbox: the store is open on it. Make a new
        ``Sandbox`` instead.
        """
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown sandbox setting(s): {', '.join(unknown)}")
        if "db_path" in changes and changes["db_path"] != self.db_path:
            raise ValueError("db_path cannot change on a running sandbox; create a new Sandbox")
        return replace(self, **changes)

    def public_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values, without the token (never echo a credential)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "token"}
        values["db_path"] = None if self.db_path is None else str(self.db_path)
        values["latency_ms"] = list(self.latency_ms)
        return values


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
