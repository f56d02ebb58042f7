"""Query strings of the list endpoints -> filters and a keyset page request; page meta and envelope out.

Keyset (not offset) pagination: a cursor holds the order value and the creation sequence number
of the row it stands after (or before), so every page is an index range scan (paging to the
end of 100k tasks stays linear) and a row inserted while a client pages is never yielded twice.
Cursors are opaque base64 JSON and carry the ``order_by`` they were made for.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from .config import SandboxConfig
from .validation import STATUSES, Invalid, Problems, check_timestamp, check_uid

ORDER_COLUMNS = ("created_at", "updated_at")
PAGING_PARAMS = ("limit", "cursor", "order_by")
TIME_PARAMS = ("created_at_after", "updated_at_after", "order_by")  # what ``time_filters`` can make unknown


@dataclass(frozen=True)
class Cursor:
    """A position in one ordering: ``start``, or ``after``/``before`` the row (value, seq)."""

    order_by: str  # "created_at", "-updated_at", ...
    direction: str  # "start" | "after" | "before"
    value: str | None = None
    seq: int | None = None

    def encode(self) -> str:
        raw = json.dumps([self.order_by, self.direction, self.value, self.seq], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        """Raises ``ValueError`` for anything this sandbox did not make."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            order_by, direction, value, seq = json.loads(raw)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise ValueError("not a cursor from this server") from exc
        positioned = direction in ("after", "before") and isinstance(value, str) and isinstance(seq, int) and abs(seq) < 2**63
        valid = isinstance(order_by, str) and order_by.lstrip("-") in ORDER_COLUMNS and (direction == "start" or positioned)
        if not valid:
            raise ValueError("not a cursor from this server")
        return cls(order_by, direction, value, seq)


@dataclass(frozen=True)
class PageRequest:
    """Which slice of an ordered listing to return."""

    order_by: str
    limit: int
    cursor: Cursor

    @property
    def column(self) -> str:
        return self.order_by.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.order_by.startswith("-")


@dataclass(frozen=True)
class TaskFilters:
    """``native``: (column, operator, value) on task columns; ``custom``: (field, text)."""

    native: tuple[tuple[str, str, Any], ...]
    custom: tuple[tuple[str, str], ...]


def parse_page_request(params: list[tuple[str, str]], config: SandboxConfig, *, orderable: bool) -> PageRequest:
    """``limit``, ``cursor`` and (when ``orderable``) ``order_by``; raises ``Invalid``.

    A ``limit`` above ``page_max`` is a 422, as FastAPI's ``Query(le=...)`` answers, rather than
    a silent clamp that would hide a client's wrong page size.
    """
    problems = Problems()
    values = dict(params)
    limit = config.page_default
    if "limit" in values:
        limit = _int_or_zero(values["limit"])
        if not 1 <= limit <= config.page_max:
            problems.add(("query", "limit"), f"limit must be an integer from 1 to {config.page_max}", "less_than_equal")
    order_by = values.get("order_by", "created_at") if orderable and config.time_filters == "known" else "created_at"
    if order_by.lstrip("-") not in ORDER_COLUMNS:
        problems.add(("query", "order_by"), "order_by must be created_at or updated_at, optionally prefixed by '-'", "enum")
    cursor = Cursor(order_by, "start")
    if values.get("cursor"):
        try:
            cursor = Cursor.decode(values["cursor"])
        except ValueError as exc:
            problems.add(("query", "cursor"), str(exc), "value_error")
        else:
            if cursor.order_by != order_by:
                problems.add(("query", "cursor"), f"cursor was made for order_by={cursor.order_by}", "value_error")
    if problems:
        raise Invalid(problems)
    return PageRequest(order_by=order_by, limit=limit, cursor=cursor)


def _int_or_zero(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def parse_task_filters(params: list[tuple[str, str]], *, time_filters: str = "known") -> TaskFilters:
    """Native filters and custom-field filters (every parameter that is neither paging nor a native filter), AND-combined.
    With ``time_filters="as_fields"``, the time filters and ``order_by`` are custom fields too;
    with ``"ignored"``, they are dropped."""
    problems = Problems()
    native: list[tuple[str, str, Any]] = []
    custom: list[tuple[str, str]] = []
    for name, text in params:
        loc = ("query", name)
        if time_filters != "known" and name in TIME_PARAMS:
            if time_filters == "as_fields":
                custom.append((name, text))
            continue
        if name in PAGING_PARAMS:
            continue
        if name == "status":
            if text not in STATUSES:
                problems.add(loc, "Input should be 'TODO', 'STARTED' or 'DONE'", "enum")
            native.append(("status", "=", text))
        elif name in ("assignee_uid", "queue_uid"):
            native.append((name, "=", check_uid(text, loc, problems)))
        elif name == "archived":
            flag = text.strip().lower()
            if flag not in ("true", "false"):
                problems.add(loc, "Input should be true or false", "bool_parsing")
            native.append(("archived", "=", int(flag == "true")))
        elif name in ("created_at_after", "updated_at_after"):
            native.append((name.removesuffix("_after"), ">", check_timestamp(text, loc, problems)))
        elif '"' in name or "\\" in name or "\x00" in name:
            # SQLite's JSON paths cannot address such keys; say so rather than match nothing.
            problems.add(loc, "custom field names with '\"', '\\' or NUL cannot be used as filters", "value_error")
        else:
            custom.append((name, text))
    if problems:
        raise Invalid(problems)
    return TaskFilters(native=tuple(native), custom=tuple(custom))


def page_meta(request: PageRequest, *, first: tuple[str, int] | None, last: tuple[str, int] | None,
              more: bool, total_count: int) -> dict[str, Any]:
    """The envelope's ``meta``: cursors around the rows returned (keys of first and last row).

    ``more`` says whether rows exist beyond the page in the direction it was read.
    """
    if request.cursor.direction == "before":
        has_prev, has_next = more, True  # we came back from the page after this one
    else:
        has_prev, has_next = request.cursor.direction == "after", more
    return {
        "limit": request.limit,
        "self_cursor": request.cursor.encode(),
        "prev_cursor": Cursor(request.order_by, "before", *first).encode() if has_prev and first else None,
        "next_cursor": Cursor(request.order_by, "after", *last).encode() if has_next and last else None,
        "total_count": total_count,
    }


def page_body(items: list[dict[str, Any]], meta: dict[str, Any], envelope: str) -> dict[str, Any]:
    """A page of a list endpoint in the configured envelope (``SandboxConfig.page_envelope``).

    ``meta``: the published Page model, under ``meta``. ``no_total``: the same without
    ``total_count`` (a server that does not count). ``flat``: ``next_cursor`` and ``total_count``
    beside ``items``, no ``meta`` (the other common shape of a cursor page).
    """
    if envelope == "flat":
        return {"items": items, "next_cursor": meta["next_cursor"], "total_count": meta["total_count"]}
    if envelope == "no_total":
        meta = {key: value for key, value in meta.items() if key != "total_count"}
    return {"items": items, "meta": meta}
