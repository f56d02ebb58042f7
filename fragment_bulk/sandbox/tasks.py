"""What a write does to a task: defaults, PUT and PATCH semantics, server-set timestamps.

Pure functions over plain dicts ("records"), so the rules read in one place and the store only
persists their results. The rules the contract leaves open are decided here:

- PUT is a full upsert of ``fields`` (replaced wholly); native keys it does not give keep their
  current value (or the default for a new task).
- PATCH merges ``fields`` key by key; a key set to null is stored as null (not deleted), the
  same as a PUT that sends null. (Switchable: ``WriteRules.merge_patch_fields``.)
- ``done_at`` is set when the status becomes DONE and cleared when it leaves DONE;
  ``started_at`` is set when the status becomes STARTED, kept through DONE, cleared on TODO.
  (Switchable: ``WriteRules.stamp_started``.)
- A write whose result equals the stored content changes nothing, not even ``updated_at``.
- ``assignee_email`` is stored (write-only) but never returned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]
Clock = Callable[[], str]

# Column order of the task table and of the object the API returns.
API_KEYS = (
    "uid", "status", "due_at", "done_at", "started_at", "created_at", "updated_at",
    "archived", "assignee_uid", "queue_uid", "parent_uid", "fields",
)
RECORD_KEYS = (*API_KEYS[:-1], "assignee_email", "fields")
# What the caller controls; comparing these decides whether a write is a no-op.
CONTENT_KEYS = ("status", "due_at", "archived", "assignee_uid", "assignee_email", "queue_uid", "parent_uid", "fields")


def canonical_json(value: Any) -> str:
    """Key-order-independent JSON text, so ``{"a":1,"b":2}`` equals ``{"b":2,"a":1}``.

    Compared as text, not as Python values, because Python says ``1 == 1.0 == True``.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class WriteRules:
    """What a write does to a task, for the two rules the contract only assumes.

    ``merge_patch_fields``: a PATCH's ``fields`` merge key by key into the stored ones (else they
    replace the whole object, as PUT's do). ``stamp_started``: ``started_at`` is set when the
    status becomes STARTED (else it stays null).
    """

    merge_patch_fields: bool = True
    stamp_started: bool = True

    def new_task(self, uid: str, values: dict[str, Any], clock: Clock) -> Record:
        """A task created from validated ``values`` with the contract's defaults."""
        now = clock()
        record: Record = {
            "uid": uid, "status": "TODO", "due_at": now, "done_at": None, "started_at": None,
            "created_at": now, "updated_at": now, "archived": False, "assignee_uid": None,
            "queue_uid": None, "parent_uid": None, "assignee_email": None, "fields": {},
        }
        record.update(values)
        self._stamp_status_change(record, previous_status=None, now=now)
        return record

    def put_task(self, existing: Record, values: dict[str, Any], clock: Clock) -> tuple[Record, bool]:
        """The task after a PUT onto ``existing``, and whether anything changed."""
        return self._update(existing, values, clock)

    def patch_task(self, existing: Record, values: dict[str, Any], clock: Clock) -> tuple[Record, bool]:
        """The task after a PATCH: like PUT, but ``fields`` merge into the stored ones (by default)."""
        if "fields" in values and self.merge_patch_fields:
            values = {**values, "fields": {**existing["fields"], **values["fields"]}}
        return self._update(existing, values, clock)

    def _update(self, existing: Record, values: dict[str, Any], clock: Clock) -> tuple[Record, bool]:
        candidate = {**existing, **values}
        if content_key(candidate) == content_key(existing):
            return existing, False
        now = clock()
        candidate["updated_at"] = now
        self._stamp_status_change(candidate, previous_status=existing["status"], now=now)
        return candidate, True

    def _stamp_status_change(self, record: Record, *, previous_status: str | None, now: str) -> None:
        status = record["status"]
        if status == previous_status:
            return
        record["done_at"] = now if status == "DONE" else None
        if status == "STARTED" and self.stamp_started:
            record["started_at"] = now
        elif status == "TODO":
            record["started_at"] = None


def content_key(record: Record) -> tuple[Any, ...]:
    return tuple(canonical_json(record[key]) if key == "fields" else record[key] for key in CONTENT_KEYS)


def api_view(record: Record) -> dict[str, Any]:
    """The task as the API shows it (write-only keys dropped)."""
    return {key: record[key] for key in API_KEYS}
