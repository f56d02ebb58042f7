"""Import writers: how mapped rows become tasks (``PUT /tasks/batch`` or ``POST /tasks/batch``).

**upsert** (the default) sends every row with its deterministic uid through the idempotent
``PUT /tasks/batch``: re-sending after a crash, a retry or a lost response changes nothing, so
no task is ever duplicated.

**create** sends ``POST /tasks/batch`` and lets the server make the uids. It gives up that
guarantee: a batch whose answer was lost may or may not have been created, so such rows are
reported failed ("outcome unknown") and are *not* re-sent automatically.

Whether an upserted row was created, updated or left unchanged is not in the API's answer. It
is derived from the timestamps against an *anchor*: the newest ``updated_at`` on the server
when the job began, saved in the checkpoint so a resumed job keeps the same anchor. A task
created after the anchor was created by this job; one updated after it was updated by it;
anything else was already as the row says (an identical PUT keeps ``updated_at``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from fragment_bulk.checkpoint import Checkpoint, Outcome
from fragment_bulk.client import FragmentClient
from fragment_bulk.errors import (ApiError, ConnectionFailed, InterruptedImport, ProtocolError, RequestRejected, ServerError,
                                  TransportError)
from fragment_bulk.identity import normalize_uid

ANCHOR_KEY = "anchor_updated_at"
_UTC_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")  # one shape of UTC timestamp text
UNKNOWN = "outcome unknown"
CLOCK_SKEW = timedelta(seconds=5)  # how far a server's clocks may disagree: a look-up lists this much earlier
MAX_POSTS = 3  # a create sent at most this often when its answers are lost and its task is not found
CRASHED = "it was sent before the previous run stopped and the task may exist; check before re-sending"


class UpsertWriter:
    """``PUT /tasks/batch`` with the row's deterministic uid: idempotent, safe to resend."""

    name = "upsert"
    journals_intent = False  # a PUT is safe to send again

    def __init__(self) -> None:
        self.anchor: Anchor | None = None

    def prepare(self, client: FragmentClient, checkpoint: Checkpoint) -> None:
        self.anchor = load_anchor(client, checkpoint)

    def send(self, client: FragmentClient, rows: list[Any]) -> list[Outcome]:
        return send_keyed(client.upsert_tasks, rows, lambda task: classify(task, self.anchor))


class CreateWriter:
    """``POST /tasks/batch``: server-made uids, so a row whose POST may have been applied is looked
    up among the tasks created since just before it was sent, never posted again blindly.

    A POST that may have been applied (its answer lost, a 5xx, a 422 from a server that writes a
    batch's valid items anyway) leaves its rows "maybe written". Before any of them is sent again,
    the tasks created since the newest server timestamp seen before that POST (less ``CLOCK_SKEW``)
    are listed, and a task with the row's content not yet taken by another row is that row's.
    After a timeout the server may still be writing: it is given as long again before a second
    look. Rows a crashed run left pending are looked up from the floor journalled with them:
    found, they are "created"; not found, reported unknown (the server may not have written
    them yet), never sent again.

    Limit: a task with the same content created by someone else in that short window would be
    taken for the row's (as comments are matched, see ``commenter``).
    """

    name = "create"
    journals_intent = True  # so that a resumed job knows which rows may already exist

    def __init__(self) -> None:
        self.maybe_created: set[int] = set()
        self._newest = ""  # the newest server timestamp answered: what a POST sent now is created after
        self._maybe_written: dict[int, str] = {}  # row ordinal -> the floor of the POST that may have written it
        self._crash_floors: dict[int, str] = {}  # the same, for the rows a crashed run left pending
        self._claimed = Claims()  # tasks this job created: never taken for another row
        self._lock = threading.Lock()

    def prepare(self, client: FragmentClient, checkpoint: Checkpoint) -> None:
        client.whoami()  # fail on a bad token before anything is written
        # Never re-sent: rows in flight when a run crashed, and rows already reported unknown.
        crashed = checkpoint.pending_notes()
        self.maybe_created = set(crashed) | checkpoint.ordinals("failed", error_prefix=UNKNOWN)
        self._crash_floors = {ordinal: floor for ordinal, floor in crashed.items() if floor}
        self._claimed = Claims(checkpoint.acknowledged_uids())
        self._newest = newest_update(client)

    def intent_note(self) -> str:
        """Journalled with the rows of a batch about to be sent: the floor to look them up from
        should the run crash before their answer."""
        return self._floor()

    def send(self, client: FragmentClient, rows: list[Any]) -> list[Outcome]:
        outcomes = self._crashed(client, [row for row in rows if row.ordinal in self.maybe_created])
        fresh = [row for row in rows if row.ordinal not in self.maybe_created]
        if fresh:
            outcomes += self._create(client, fresh)
        return sorted(outcomes, key=lambda outcome: outcome.ordinal)

    def _crashed(self, client: FragmentClient, rows: list[Any]) -> list[Outcome]:
        """Rows a crashed run left pending: "created" when their task is found, else unknown. Not
        found is no proof: the server may not have written them yet, so they are never sent."""
        floors = [self._crash_floors[row.ordinal] for row in rows if row.ordinal in self._crash_floors]
        outcomes: list[Outcome] = []
        if floors:
            outcomes, rows = self._look_up(client, rows, min(floors), cause="the run stopped while they were sent")
        return outcomes + [Outcome(row.ordinal, "failed", None, f"{UNKNOWN}: {CRASHED}") for row in rows]

    def _create(self, client: FragmentClient, rows: list[Any]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with self._lock:
            floors = {self._maybe_written.pop(row.ordinal) for row in rows if row.ordinal in self._maybe_written}
        if floors:
            found, rows = self._look_up(client, rows, min(floors))
            outcomes += found
        for _ in range(MAX_POSTS):
            if not rows:
                return outcomes
            floor = self._floor()
            items = [{key: value for key, value in row.payload.items() if key != "uid"} for row in rows]
            try:
                answered = in_request_order(items, client.create_tasks(items))
            except RequestRejected:
                with self._lock:  # the engine sends the rows it does not blame again: looked up first
                    self._maybe_written.update((row.ordinal, floor) for row in rows)
                raise
            except (TransportError, ServerError) as exc:
                if not exc.may_have_committed:
                    raise
                found, rows = self._look_up(client, rows, floor, timed_out=getattr(exc, "timed_out", False), cause=exc)
                outcomes += found
                continue
            self._saw(answered)
            return outcomes + [Outcome(row.ordinal, "created", task.get("uid")) for row, task in zip(rows, answered)]
        reason = f"{UNKNOWN}: no answer after {MAX_POSTS} posts, and the tasks created meanwhile hold no task like it"
        return outcomes + [Outcome(row.ordinal, "failed", None, reason) for row in rows]

    def _look_up(self, client: FragmentClient, rows: list[Any], floor: str, *, timed_out: bool = False,
                 cause: object = "the server refused the batch") -> tuple[list[Outcome], list[Any]]:
        """(outcomes of the rows whose task is found, the rows to send again)."""
        try:
            found = self._find(client, rows, floor)
            if timed_out and len(found) < len(rows):
                client.throttle.sleep(client.settings.timeout)
                found.update(self._find(client, [row for row in rows if row.ordinal not in found], floor))
        except (RequestRejected, ServerError, TransportError, ProtocolError) as exc:
            reason = (f"{UNKNOWN}: the tasks may have been created ({cause}), and the"
                      f" tasks created since could not be listed to tell ({exc}); check before re-sending")
            return [Outcome(row.ordinal, "failed", None, reason) for row in rows], []
        return ([Outcome(row.ordinal, "created", found[row.ordinal]) for row in rows if row.ordinal in found],
                [row for row in rows if row.ordinal not in found])

    def _find(self, client: FragmentClient, rows: list[Any], floor: str) -> dict[int, str]:
        """Row ordinal -> uid of an untaken task created since ``floor`` with the row's content."""
        wanted = {row.ordinal: {key: value for key, value in row.payload.items() if key != "uid"} for row in rows}
        found: dict[int, str] = {}
        filters = {"created_at_after": floor, "order_by": "created_at"} if floor else {"order_by": "created_at"}
        for task in client.iter_tasks(filters):
            match = next((ordinal for ordinal, item in wanted.items() if same_task(item, task)), None)
            if match is not None and isinstance(task.get("uid"), str) and self._claimed.take(task["uid"]):
                found[match] = task["uid"]
                del wanted[match]
                if not wanted:
                    break
        return found

    def _floor(self) -> str:
        """What a task created by a POST sent now is created after, with room for the server's clocks."""
        with self._lock:
            newest = parse_time(self._newest)
        return "" if newest is None else format_utc(newest - CLOCK_SKEW)

    def _saw(self, tasks: list[Any]) -> None:
        stamps = [parse_time(task.get("created_at")) for task in tasks if isinstance(task, dict)]
        latest = max((stamp for stamp in stamps if stamp is not None), default=None)
        self._claimed.add(task["uid"] for task in tasks if isinstance(task, dict) and isinstance(task.get("uid"), str))
        with self._lock:
            current = parse_time(self._newest)
            if latest is not None and (current is None or latest > current):
                self._newest = format_utc(latest)

    def wrote_nothing(self, error: BaseException) -> bool:
        """Whether a :meth:`send` that raised ``error`` created nothing, so its rows may be sent again.

        Stopped at the throttle (or in a retry wait, which only follows an attempt that wrote
        nothing), refused with a 4xx (a 422 never stops a run: its rows are isolated and looked
        up), or failed in a way that proves the request was not applied: nothing. A 5xx that may
        have been applied, a lost answer, or an answer we cannot read: maybe.
        """
        if isinstance(error, (InterruptedImport, ConnectionFailed)):
            return True
        if isinstance(error, (TransportError, ServerError)):
            return not error.may_have_committed
        return isinstance(error, ApiError) and 400 <= error.status < 500


class Claims:
    """The uids of what a job made on the server, or took as a row's: one row's each, across threads."""

    def __init__(self, uids: Iterable[str] = ()) -> None:
        self._uids = set(uids)
        self._lock = threading.Lock()

    def add(self, uids: Iterable[str]) -> None:
        with self._lock:
            self._uids.update(uids)

    def take(self, uid: str) -> bool:
        """Claim ``uid``; False when it was already claimed."""
        with self._lock:
            if uid in self._uids:
                return False
            self._uids.add(uid)
            return True


def same_task(item: dict[str, Any], task: Any) -> bool:
    """Whether ``task`` holds what ``item`` sent: the same fields, and the same native values
    (timestamps compared as times: a server may write them another way)."""
    if not isinstance(task, dict) or task.get("fields") != item.get("fields"):
        return False
    for key, value in item.items():
        if key == "fields" or task.get(key) == value:
            continue
        if not (key.endswith("_at") and parse_time(value) is not None and parse_time(value) == parse_time(task.get(key))):
            return False
    return True


def in_request_order(items: list[dict[str, Any]], tasks: list[Any]) -> list[Any]:
    """The tasks a ``POST /tasks/batch`` answered, in the order of the items sent.

    The answer's uids are the server's own, so only the order (assumed to be the request's) or
    the content can tell which task is which row's: a server answering in another order has its
    tasks matched by their content (the rows of a job never share a whole payload).
    """
    if all(same_task(item, task) for item, task in zip(items, tasks)):
        return tasks
    left = list(tasks)
    ordered = []
    for item in items:
        found = next((task for task in left if same_task(item, task)), None)
        if found is None:
            raise ProtocolError("POST /tasks/batch answered tasks that are not in the order sent and do not match"
                                " the rows sent; their rows are reported \"outcome unknown\"")
        left.remove(found)
        ordered.append(found)
    return ordered


LEFT_OUT = "the server acknowledged the row twice without returning its task; run again to check it"


def send_keyed(send: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], rows: list[Any],
               status: Callable[[dict[str, Any]], str]) -> list[Outcome]:
    """Send rows that carry their uid (PUT, PATCH: sending twice is harmless) and tell each row's
    outcome from the task answered with its uid, wherever it is in the answer. Rows the answer
    leaves out are sent once more; still left out, they are failed, to be checked by a re-run."""
    outcomes = []
    for _ in range(2):
        answered = _by_uid(send([{**row.payload, "uid": row.uid} for row in rows]), {row.uid for row in rows})
        outcomes += [Outcome(row.ordinal, status(answered[row.uid]), row.uid) for row in rows if row.uid in answered]
        rows = [row for row in rows if row.uid not in answered]
        if not rows:
            break
    return outcomes + [Outcome(row.ordinal, "failed", row.uid, LEFT_OUT) for row in rows]


def _by_uid(tasks: list[Any], sent: set[str]) -> dict[str, dict[str, Any]]:
    """The answered tasks by uid, in the form the rows hold it (a server may write it otherwise)."""
    found = {task.get("uid"): task for task in tasks if isinstance(task, dict)}
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
    """The newest ``updated_at`` on the server ("" when it holds no task): the job's anchor."""
    page = client.search_tasks({"order_by": "-updated_at"}, limit=1)
    stamps = [task.get("updated_at") for task in page.items if task.get("updated_at")]
    if not stamps:
        return ""
    return max(stamps, key=parse_time)


def classify(task: dict[str, Any], anchor: Anchor | None) -> str:
    """created / updated / unchanged, from the task's timestamps against the job's anchor."""
    if anchor is None or anchor.is_before(task.get("created_at")):
        return "created"
    if anchor.is_before(task.get("updated_at")) is not False:  # later, or no timestamp to tell
        return "updated"
    return "unchanged"


def format_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
