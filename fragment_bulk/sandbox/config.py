"""SandboxConfig: every switch of the sandbox in one frozen value.

The contract marks several behaviours of Fragment as *assumed* (rate-limit headers, batch size,
what an oversize batch answers, the order of a batch's answer, the page envelope, the error body,
how PATCH treats ``fields``, unknown keys, partial batch failure, ``started_at``, a second
DELETE). The sandbox makes each of them a field here so a client can be tested against every
variant; the default of each is the contract's reading. ``Sandbox.configure`` swaps the whole
value atomically, so a request never sees half of a change.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

RETRY_AFTER_MODES = ("header", "none", "zero")
OVERSIZE_STATUSES = (413, 422)
BATCH_ORDERS = ("request", "reversed")
PAGE_ENVELOPES = ("meta", "flat", "no_total")
ERROR_BODIES = ("fastapi", "message", "text")
PATCH_FIELDS_MODES = ("merge", "replace")
UNKNOWN_KEYS_MODES = ("ignore", "reject")
BATCH_FAILURES = ("all_or_nothing", "write_valid")
SECOND_DELETE_STATUSES = (404, 200)
TIME_FILTERS_MODES = ("known", "as_fields", "ignored")
RATE_COSTS = ("request", "item")
COMMENT_LISTINGS = ("paged", "missing", "not_found")
HEADER_CHECKS = ("lax", "strict")

# The switches that take one of a few values, and those values.
CHOICES: dict[str, tuple[Any, ...]] = {
    "retry_after": RETRY_AFTER_MODES,
    "oversize_status": OVERSIZE_STATUSES,
    "batch_order": BATCH_ORDERS,
    "page_envelope": PAGE_ENVELOPES,
    "error_body": ERROR_BODIES,
    "patch_fields": PATCH_FIELDS_MODES,
    "unknown_keys": UNKNOWN_KEYS_MODES,
    "batch_failure": BATCH_FAILURES,
    "second_delete": SECOND_DELETE_STATUSES,
    "time_filters": TIME_FILTERS_MODES,
    "rate_cost": RATE_COSTS,
    "comment_listing": COMMENT_LISTINGS,
    "headers": HEADER_CHECKS,
}


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
    # The contract's other assumed points; each default is the contract's reading.
    batch_order: str = "request"  # "reversed": POST and PUT /tasks/batch answer in reverse order
    page_envelope: str = "meta"  # "flat": next_cursor, total_count beside items; "no_total": no total_count
    error_body: str = "fastapi"  # {"detail": ...}; "message": {"message": text}; "text": text/plain
    patch_fields: str = "merge"  # "replace": a PATCH's fields replace the whole fields object
    unknown_keys: str = "ignore"  # "reject": a 422 naming an unknown top-level key of a task
    batch_failure: str = "all_or_nothing"  # "write_valid": the valid items are written, then the 422
    stamp_started: bool = True  # False: started_at is never set
    second_delete: int = 404  # 200: deleting a missing task answers 200 with {}
    # created_at_after, updated_at_after and order_by unknown: "as_fields" takes them (as any
    # unknown parameter) for custom-field filters, so a listing with one finds nothing; "ignored"
    # drops them, so it lists everything, oldest first.
    time_filters: str = "known"
    # "item": each item of a batch counts as a request against the limit (taken when the batch
    # is, as a debt the next requests wait for), not the batch as one.
    rate_cost: str = "request"
    comment_listing: str = "paged"  # "missing": no GET /tasks/{uid}/comments (405); "not_found": the same, a 404
    # The contract: send application/json and a real User-Agent ("requests without one may be
    # blocked"). "strict" blocks them: a 403 without a User-Agent (or with a library's default,
    # python-requests/...), a 415 for a body not sent as application/json.
    headers: str = "lax"

    def __post_init__(self) -> None:
        # Values may come from JSON (PATCH /_sandbox/config), where a tuple arrives as a list.
        object.__setattr__(self, "latency_ms", tuple(self.latency_ms))
        _check(isinstance(self.token, str) and self.token != "", "token must be a non-empty string")
        _check(
            self.rate_per_min is None or (_is_number(self.rate_per_min) and self.rate_per_min > 0),
            "rate_per_min must be a positive number or None",
        )
        _check(_is_int(self.burst) and self.burst >= 1, "burst must be an integer >= 1")
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            # type() too: True == 1 and 404.0 == 404, but neither is what a caller meant.
            _check(any(type(value) is type(a) and value == a for a in allowed), f"{name} must be one of {allowed}")
        _check(_is_int(self.max_batch) and self.max_batch >= 1, "max_batch must be an integer >= 1")
        _check(isinstance(self.stamp_started, bool), "stamp_started must be true or false")
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
