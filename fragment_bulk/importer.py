"""Import writers: how mapped rows become tasks (``PUT /tasks/batch`` or ``POST /tasks/batch``).

**upsert** (the default) sends every row with its deterministic uid through the idempotent
``PUT /tasks/batch``: re-sending after a crash, a retry or a lost response changes nothing, so
no task is ever duplicated.

**create** (``creator.CreateWriter``) sends ``POST /tasks/batch`` and lets the server make the
uids; it looks up a batch that may have been applied before sending it again.

Whether an upserted row was created, updated or left unchanged is not in the API's answer. It
is derived from the timestamps against an *anchor*: the newest ``updated_at`` on the server
when the job began, saved in the checkpoint so a resumed job keeps the same anchor. A task
created after the anchor was created by this job; one updated after it was updated by it;
anything else was already as the row says (an identical PUT keeps ``updated_at``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from fragment_bulk.checkpoint import Checkpoint, Outcome
from fragment_bulk.client import FragmentClient, redacted_json
from fragment_bulk.errors import describe_detail
from fragment_bulk.formats import parse_moment, utc_text
from fragment_bulk.identity import normalize_uid

ANCHOR_KEY = "anchor_updated_at"
_UTC_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")  # one shape of UTC timestamp text
UNKNOWN = "outcome unknown"
MAX_POSTS = 3  # a comment or a create batch is posted at most this often while its answers are lost and it is not found


class UpsertWriter:
    """``PUT /tasks/batch`` with the row's deterministic uid: idempotent, safe to resend."""

    name = "upsert"
    journals_intent = False  # a PUT is safe to send again

    def __init__(self) -> None:
        self.anchor: Anchor | None = None

    def prepare(self, client: FragmentClient, checkpoint: Checkpoint, targets: frozenset[str]) -> None:
        self.anchor = load_anchor(client, checkpoint)

    def send(self, client: FragmentClient, rows: list[Any]) -> list[Outcome]:
        return send_keyed(client.upsert_tasks, rows, lambda task: classify(task, self.anchor),
                          secret=client.settings.require_token())


LEFT_OUT = "the server acknowledged the row twice without returning its task; run again to check it"


def send_keyed(send: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], rows: list[Any],
               status: Callable[[dict[str, Any]], str], *, secret: str = "") -> list[Outcome]:
    """Send rows that carry their uid (PUT, PATCH: sending twice is harmless) and tell each row's
    outcome from the task answered with its uid, wherever it is in the answer. Rows the answer
    leaves out are sent once more; still left out, they are failed, to be checked by a re-run."""
    outcomes = []
    for _ in range(2):
        answered = _by_uid(send([{**row.payload, "uid": row.uid} for row in rows]), {row.uid for row in rows})
        outcomes += [Outcome(row.ordinal, status(answered[row.uid]), row.uid) if _is_task(answered[row.uid])
                     else Outcome(row.ordinal, "failed", row.uid, _not_a_task(redacted_json(answered[row.uid], secret)))
                     for row in rows if row.uid in answered]
        rows = [row for row in rows if row.uid not in answered]
        if not rows:
            break
    return outcomes + [Outcome(row.ordinal, "failed", row.uid, LEFT_OUT) for row in rows]


def _is_task(item: dict[str, Any]) -> bool:
    """Whether an answered item is the task written (every task has ``fields``), not a word about
    the item: a server that answers a batch item by item (207) may refuse some so."""
    return isinstance(item.get("fields"), dict)


def _not_a_task(item: dict[str, Any]) -> str:
    said = describe_detail(item.get("error") or item.get("detail") or item.get("message") or item)
    return f"the server answered for the row without its task, so it may not be written: {said[:200]}"


def _by_uid(tasks: list[Any], sent: set[str]) -> dict[str, dict[str, Any]]:
    """The answered tasks by uid, in the form the rows hold it (a server may write it otherwise)."""
    found = {task["uid"]: task for task in tasks if isinstance(task, dict) and isinstance(task.get("uid"), str)}
    if not sent.issubset(found):
        for uid, task in list(found.items()):
            try:
                found[normalize_uid(uid)] = task
            except ValueError:
                continue
    return found


def load_anchor(client: FragmentClient, checkpoint: Checkpoint) -> Anchor | None:
    """The job's anchor: measured when the job starts, then read back from the checkpoint."""
    saved = checkpoint.job().get(ANCHOR_KEY)
    if saved is None:
        saved = newest_update(client)
        checkpoint.set(ANCHOR_KEY, saved)
    moment = parse_time(saved) if saved else None
    return Anchor(saved, moment) if moment else None


@dataclass(frozen=True)
class Anchor:
    """The newest ``updated_at`` on the server when the job began, as text and as a time."""

    text: str
    moment: datetime

    @cached_property
    def _text_shaped(self) -> bool:
        return _UTC_TEXT.fullmatch(self.text) is not None

    def is_before(self, stamp: Any) -> bool | None:
        """Whether the timestamp ``stamp`` is later than the anchor (None: it is no timestamp).

        Timestamps of one server share one shape ("...:56.123456Z"), and UTC text of one shape
        sorts as the times do: compared as text, a batch's hundreds of stamps are not parsed.
        """
        if self._text_shaped and isinstance(stamp, str) and len(stamp) == len(self.text) and _UTC_TEXT.fullmatch(stamp):
            return stamp > self.text
        moment = parse_time(stamp)
        return None if moment is None else moment > self.moment


def newest_update(client: FragmentClient) -> str:
    """The newest ``updated_at`` on the server ("" when it holds no task): the job's anchor.

    A server that does not know ``order_by`` (it takes it for a custom field, and lists nothing
    though it holds tasks) cannot say: the anchor is then its clock, read from its ``Date`` header to the second, and the job waits
    until that clock has passed the next second, so that every earlier change is before the
    anchor and every change of the job after it.
    """
    if not client.search_tasks({}, limit=1).items:
        return ""  # no task at all (asked first: a migration into an empty account pays one request)
    # Two tasks: a server that ignores order_by lists them oldest first, which tells it.
    page = client.search_tasks({"order_by": "-updated_at"}, limit=2)
    stamps = [parse_time(task.get("updated_at")) for task in page.items if isinstance(task, dict)]
    if stamps and None not in stamps and stamps == sorted(stamps, reverse=True):
        return next(task["updated_at"] for task in page.items)
    return _next_server_second(client)  # it lists none by order_by (or not in that order): it does not know it


def _next_server_second(client: FragmentClient) -> str:
    now = client.server_time
    if now is None:
        return ""  # no clock to read: every row is reported created (as against an empty server)
    try:
        anchor = now.replace(microsecond=0) + timedelta(seconds=1)
    except OverflowError:  # a Date header at the end of year 9999: no clock to go by
        return ""
    for _ in range(5):  # a Date header that does not move (a cache) must not hold the job for ever
        if now is None or now >= anchor:
            break
        client.throttle.sleep(min(1.0, (anchor - now).total_seconds() + 0.05))
        client.whoami()
        now = client.server_time
    return utc_text(anchor)


def classify(task: dict[str, Any], anchor: Anchor | None) -> str:
    """created / updated / unchanged, from the task's timestamps against the job's anchor."""
    if anchor is None or anchor.is_before(task.get("created_at")):
        return "created"
    if anchor.is_before(task.get("updated_at")) is not False:  # later, or no timestamp to tell
        return "updated"
    return "unchanged"


def parse_time(value: Any) -> datetime | None:
    """``parse_moment`` for what a server answered: None for anything that is not such a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_moment(value)
    except ValueError:
        return None
