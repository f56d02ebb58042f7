"""``--mode create``: ``POST /tasks/batch`` with server-made uids, each row created once.

A POST is not idempotent and only its answer says which uids the server made, so a batch that
may have been applied without saying so (its answer lost or timed out, a 5xx, a 422 from a
server that writes a batch's valid items anyway) is never posted again blindly. The tasks created
since just before it was sent (the newest server timestamp seen then, less ``CLOCK_SKEW``) are
listed first, and a task with the row's content (:func:`same_task`) not yet taken by another row
is that row's. After a timeout the server may still be writing: it is given as long again before
a second look. Only rows not found are sent again.

After a crash, the rows then pending are looked up from the floor journalled with their mark
(:meth:`CreateWriter.intent_note`): found, they are created; not found, they are sent only once
the killed run's request can no longer land (:meth:`CreateWriter._settled`: a little over a
request's timeout after the run was last alive, ``Checkpoint.keep_alive``), and are left pending
until then: a later run looks again.

The look-up filters on ``created_at_after``, which the contract only assumes: a server found to
ignore it leaves a maybe-applied row "outcome unknown", never sent twice.

Limits: a task with the same content created by someone else in that window would be taken for
the row's (as comments are matched, see ``commenter``); the uids of the tasks a job created are
kept in memory to tell its own tasks apart (16 bytes each, see ``Claims``); a server that both writes a
refused batch's valid items and ignores ``created_at_after`` gets them twice (a refused batch
is then taken as all or nothing, as the contract says).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fragment_bulk.checkpoint import PENDING, Checkpoint, Outcome
from fragment_bulk.client import EPOCH, FragmentClient
from fragment_bulk.engine import alive_every
from fragment_bulk.errors import (ApiError, ConnectionFailed, InterruptedImport, ProtocolError, RequestRejected, ServerError,
                                  TransportError)
from fragment_bulk.formats import utc_text
from fragment_bulk.claims import Claims
from fragment_bulk.importer import MAX_POSTS, UNKNOWN, newest_update, parse_time

CLOCK_SKEW = timedelta(seconds=5)  # how far a server's clocks may disagree: a look-up lists this much earlier
CRASHED = "it was sent before the previous run stopped and the task may exist; check before re-sending"
# What the server answers for a native key a row leaves out (``due_at`` defaults to "now": not compared).
ECHOED_DEFAULTS = {"status": "TODO", "archived": False, "assignee_uid": None, "queue_uid": None, "parent_uid": None}


class CreateWriter:
    """``POST /tasks/batch``; a POST that may have been applied is looked up, never re-sent blindly."""

    name = "create"
    journals_intent = True  # so that a resumed job knows which rows may already exist
    server_uids = True  # a row's own uid names no task: results show the server's, or none

    def __init__(self) -> None:
        self.maybe_created: set[int] = set()
        self._newest = ""  # the newest server timestamp answered: what a POST sent now is created after
        self._maybe_written: dict[int, str] = {}  # row ordinal -> the floor of a refused POST that may have written it
        self._resolved: dict[int, Outcome] = {}  # found for rows whose send then failed: given at their next send
        self._unfound: set[int] = set()  # rows of a refused POST looked up and not found
        self._refusals_write: bool | None = None  # whether this server's 422s write the valid items (None: not seen)
        self._crash_notes: dict[int, _Intent] = {}  # the rows a crashed run left pending: when and from what floor
        self._last_alive: float | None = None  # when the last run on the checkpoint was last alive
        self._settle = 0.0  # seconds after then by which a killed run's request has landed or never will
        self._blind_settle = 0.0  # the same after a row's mark, for a run that left no sign of life
        self._filters: bool | None = None  # whether the server honours created_at_after (None: not checked yet)
        self._claimed = Claims()  # tasks this job created or took: never taken for another row
        self._gate = _Gate()
        self._lock = threading.Lock()

    def prepare(self, client: FragmentClient, checkpoint: Checkpoint, targets: frozenset[str]) -> None:
        client.whoami()  # fail on a bad token before anything is written
        crashed = checkpoint.pending_notes()
        # Never sent blindly: rows in flight when a run crashed, and rows already reported unknown.
        self.maybe_created = set(crashed) | checkpoint.ordinals("failed", error_prefix=UNKNOWN)
        self._crash_notes = {ordinal: intent for ordinal, note in crashed.items() if (intent := _Intent.read(note))}
        # A killed run sent nothing after its last sign of life and one interval more; what it
        # sent was answered or given up within the timeout. Without a sign (a run that never
        # sent), from the mark: a batch waits for a worker (one batch's whole retry budget at
        # most), is retried for the budget plus a last wait, each attempt within the timeout.
        self._last_alive = checkpoint.last_alive()
        self._settle = 2 * alive_every(client) + client.settings.timeout
        self._blind_settle = 2 * (client.retry.budget + client.retry.cap + client.settings.timeout) + client.settings.timeout
        self._claimed = Claims(checkpoint.acknowledged_uids())
        self._newest = newest_update(client)

    def intent_note(self, ordinal: int, previous: Outcome | None) -> str | None:
        """Journalled with a row about to be sent: the floor to look it up from should the run
        crash before its answer (the earliest, when an earlier crashed run left it pending), and
        when. A row already reported unknown gets none: it stays unknown."""
        if previous is not None and previous.status == "failed" and (previous.error or "").startswith(UNKNOWN):
            return None
        floor = self._floor()
        earlier = _Intent.read(previous.error) if previous is not None and previous.status == PENDING else None
        return _Intent(_earliest(floor, earlier.floor) if earlier else floor, time.time(), self._settle,
                       self._blind_settle).note()

    def send(self, client: FragmentClient, rows: list[Any]) -> list[Outcome]:
        positions = {row.ordinal: index for index, row in enumerate(rows)}
        with self._lock:
            doubtful = any(row.ordinal in self.maybe_created or row.ordinal in self._maybe_written
                           or row.ordinal in self._resolved or row.ordinal in self._unfound for row in rows)
        resolved: list[Outcome] = []
        try:
            resolved, to_post = self._resolve(client, rows)
            posted = self._create(client, sorted(to_post, key=lambda row: positions[row.ordinal]), positions)
        except RequestRejected:
            self._keep(resolved)  # the engine sends the rows the server did not blame again
            raise
        except BaseException as exc:
            if doubtful:
                exc.maybe_written = True  # type: ignore[attr-defined]  # rows that may exist stay pending
            raise
        return sorted(resolved + posted, key=lambda outcome: outcome.ordinal)

    def wrote_nothing(self, error: BaseException) -> bool:
        """Whether a :meth:`send` that raised ``error`` created nothing, so its rows may be sent again.

        Stopped at the throttle (or in a retry wait, which only follows an attempt that wrote
        nothing), refused with a 4xx, or failed in a way that proves the request was not applied:
        nothing, unless a POST of the same send may have been applied before (``maybe_written``).
        A 5xx that may have been applied, a lost answer, or an answer we cannot read: maybe.
        """
        if getattr(error, "maybe_written", False):
            return False
        if isinstance(error, (InterruptedImport, ConnectionFailed)):
            return True
        if isinstance(error, (TransportError, ServerError)):
            return not error.may_have_committed
        return isinstance(error, ApiError) and 400 <= error.status < 500

    # -- before posting: rows that may exist already --------------------------------------

    def _resolve(self, client: FragmentClient, rows: list[Any]) -> tuple[list[Outcome], list[Any]]:
        """(outcomes of the rows known or found, the rows to post)."""
        with self._lock:
            resolved = [self._resolved.pop(row.ordinal) for row in rows if row.ordinal in self._resolved]
            floors = {row.ordinal: self._maybe_written.pop(row.ordinal) for row in rows if row.ordinal in self._maybe_written}
        done = {outcome.ordinal for outcome in resolved}
        rows = [row for row in rows if row.ordinal not in done]
        refused = [row for row in rows if row.ordinal in floors]
        crashed, settled = self._crashed(client, [row for row in rows if row.ordinal in self.maybe_created
                                                  and row.ordinal not in floors])
        resolved += crashed
        with self._lock:  # posted now: from here on a row like any other
            self.maybe_created.difference_update(row.ordinal for row in settled)
            for row in settled:
                self._crash_notes.pop(row.ordinal, None)
        posting = {row.ordinal for row in settled}
        to_post = settled + [row for row in rows if row.ordinal not in self.maybe_created and row.ordinal not in floors
                             and row.ordinal not in posting]
        if refused:
            found, back = self._look_up(client, refused, _earliest(*floors.values()), refused=True)
            resolved += found
            with self._lock:
                if any(outcome.status == "created" for outcome in found):
                    self._refusals_write = True
                self._unfound.update(row.ordinal for row in back)
            to_post += back
        return resolved, to_post

    def _crashed(self, client: FragmentClient, rows: list[Any]) -> tuple[list[Outcome], list[Any]]:
        """Rows a crashed run left pending, or reported unknown: (outcomes, rows to post). Created
        when found; posted when not found once the request then can no longer land; else pending."""
        noted = [row for row in rows if row.ordinal in self._crash_notes]
        outcomes = [Outcome(row.ordinal, "failed", None, f"{UNKNOWN}: {CRASHED}") for row in rows if row not in noted]
        if not noted:
            return outcomes, []
        try:
            found, loose = self._find(client, noted, _earliest(*(self._crash_notes[row.ordinal].floor for row in noted)))
            looked = True
        except (RequestRejected, ServerError, TransportError, ProtocolError):
            found, loose, looked = {}, set(), False  # left pending: a later run looks again
        outcomes += [Outcome(row.ordinal, "created", found[row.ordinal]) for row in noted if row.ordinal in found]
        missing = [row for row in noted if row.ordinal not in found]
        if self._filters is False or loose:  # not found proves nothing there; or something like it is there
            unknown = [row for row in missing if self._filters is False or row.ordinal in loose]
            outcomes += [Outcome(row.ordinal, "failed", None, f"{UNKNOWN}: {CRASHED}") for row in unknown]
            missing = [row for row in missing if row not in unknown]
        settled = [row for row in missing if looked and self._settled(self._crash_notes[row.ordinal])]
        outcomes += [Outcome(row.ordinal, PENDING, None, self._crash_notes[row.ordinal].note())
                     for row in missing if row not in settled]
        return outcomes, settled

    def _settled(self, intent: _Intent) -> bool:
        if self._last_alive is None:
            return time.time() >= intent.at + max(self._blind_settle, intent.blind_settle)
        return time.time() >= max(intent.at, self._last_alive) + max(self._settle, intent.settle)

    # -- posting ----------------------------------------------------------------------------

    def _create(self, client: FragmentClient, rows: list[Any], positions: dict[int, int]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        applied = False  # whether a POST of these rows may have been applied
        try:
            for _ in range(MAX_POSTS):
                if not rows:
                    return outcomes
                floor = self._floor()
                items = [_item(row) for row in rows]
                try:
                    with self._gate.post():  # answered and claimed before any look-up lists its tasks
                        answered = in_request_order(items, client.create_tasks(items))
                        self._saw(answered)
                except RequestRejected as rejected:
                    self._keep(outcomes)
                    self._refused(rows, floor)
                    raise _renumbered(rejected, [positions[row.ordinal] for row in rows]) from None
                except (TransportError, ServerError) as exc:
                    if not exc.may_have_committed:
                        raise
                    applied = True
                    found, rows = self._look_up(client, rows, floor, timed_out=getattr(exc, "timed_out", False), cause=exc)
                    outcomes += found
                    continue
                with self._lock:
                    if self._refusals_write is None and any(row.ordinal in self._unfound for row in rows):
                        self._refusals_write = False  # looked up, not found, then created: that 422 wrote nothing
                    self._unfound.difference_update(row.ordinal for row in rows)
                return outcomes + [Outcome(row.ordinal, "created", task.get("uid")) for row, task in zip(rows, answered)]
        except RequestRejected:
            raise
        except BaseException as exc:
            if applied:
                exc.maybe_written = True  # type: ignore[attr-defined]
            raise
        reason = f"{UNKNOWN}: no answer after {MAX_POSTS} posts, and the tasks created meanwhile hold no task like it"
        return outcomes + [Outcome(row.ordinal, "failed", None, reason) for row in rows]

    def _refused(self, rows: list[Any], floor: str) -> None:
        """A POST of ``rows`` was refused (422): unless this server was seen not to, it may have
        written the valid ones, so they are looked up before they are posted again."""
        with self._lock:
            if self._refusals_write is False or self._filters is False:
                return  # all or nothing, as the contract assumes
            for row in rows:
                self._maybe_written[row.ordinal] = _earliest(self._maybe_written.get(row.ordinal, floor), floor)

    def _keep(self, outcomes: list[Outcome]) -> None:
        with self._lock:
            self._resolved.update((outcome.ordinal, outcome) for outcome in outcomes)

    # -- looking up --------------------------------------------------------------------------

    def _look_up(self, client: FragmentClient, rows: list[Any], floor: str, *, timed_out: bool = False,
                 refused: bool = False, cause: object = "the server refused the batch") -> tuple[list[Outcome], list[Any]]:
        """(outcomes of the rows whose task is found, the rows to send again). When the tasks
        created since cannot be listed, or the server ignores the filter, the rows are unknown;
        but those of a ``refused`` batch are sent again, taking it as all or nothing (the contract).
        A row whose fields are on a new task holding other native values is unknown too."""
        found: dict[int, str] = {}
        loose: set[int] = set()
        problem: object = None
        try:
            found, loose = self._find(client, rows, floor)
            if timed_out and len(found) < len(rows):
                client.throttle.sleep(client.settings.timeout)
                more, loose = self._find(client, [row for row in rows if row.ordinal not in found], floor)
                found.update(more)
        except (RequestRejected, ServerError, TransportError, ProtocolError) as exc:
            problem = exc
        outcomes = [Outcome(row.ordinal, "created", found[row.ordinal]) for row in rows if row.ordinal in found]
        missing = [row for row in rows if row.ordinal not in found]
        like = [row for row in missing if row.ordinal in loose]
        outcomes += [Outcome(row.ordinal, "failed", None, f"{UNKNOWN}: the tasks may have been created ({cause}), and a"
                             " task with its fields but other values was created since; check before re-sending")
                     for row in like]
        missing = [row for row in missing if row.ordinal not in loose]
        if problem is None or refused:
            return outcomes, missing
        reason = (f"{UNKNOWN}: the tasks may have been created ({cause}), and the tasks created since could not be"
                  f" listed to tell ({problem}); check before re-sending")
        return outcomes + [Outcome(row.ordinal, "failed", None, reason) for row in missing], []

    def _find(self, client: FragmentClient, rows: list[Any], floor: str) -> tuple[dict[int, str], set[int]]:
        """(row ordinal -> uid of an untaken task created since ``floor`` with the row's content,
        the rows not found whose fields an untaken task since ``floor`` holds with other values).

        Raises ``ProtocolError`` when the server is found not to filter on ``created_at_after``
        (``honours_time_filters``, or a task listed that was created before ``floor``). Runs
        alone: every POST answered meanwhile has had its tasks claimed (``_Gate``).
        """
        if self._filters is None:  # checked at the first look-up (until the server holds a task to tell by)
            self._filters = client.honours_time_filters()
        if self._filters is False:
            raise ProtocolError("the server ignores the created_at_after filter")
        wanted = {row.ordinal: _item(row) for row in rows}
        # The rows by their fields: a task listed is compared with the rows holding its fields only
        # (each task with each row, a look-up of a few hundred rows among the tens of thousands of
        # tasks a fast server creates in CLOCK_SKEW took minutes, every POST held back meanwhile).
        by_fields: dict[Any, list[int]] = {}
        for ordinal, item in wanted.items():
            by_fields.setdefault(_comparable(item.get("fields")), []).append(ordinal)
        found: dict[int, str] = {}
        loose: set[int] = set()
        bound = parse_time(floor)
        with self._gate.look():
            for task in client.iter_tasks({"created_at_after": floor or EPOCH}):
                created = parse_time(task.get("created_at"))
                if bound is not None and created is not None and created < bound - timedelta(milliseconds=1):
                    self._filters = False
                    raise ProtocolError("the server ignores the created_at_after filter")
                alike = [ordinal for ordinal in by_fields.get(_comparable(task.get("fields")), ()) if ordinal in wanted] \
                    if isinstance(task, dict) else []
                # Of the rows it matches, the one that said the most: a row leaving a native out matches any.
                match = max((ordinal for ordinal in alike if same_task(wanted[ordinal], task)),
                            key=lambda ordinal: len(wanted[ordinal]), default=None)
                if match is not None and isinstance(task.get("uid"), str) and self._claimed.take(task["uid"]):
                    found[match] = task["uid"]
                    del wanted[match]
                    if not wanted:
                        break
                elif not self._claimed.holds(task.get("uid")):
                    loose.update(alike)
        return found, loose - set(found)

    def _floor(self) -> str:
        """What a task created by a POST sent now is created after, with room for the server's clocks."""
        with self._lock:
            newest = parse_time(self._newest)
        return "" if newest is None else utc_text(newest - CLOCK_SKEW)

    def _saw(self, tasks: list[Any]) -> None:
        stamps = [parse_time(task.get("created_at")) for task in tasks if isinstance(task, dict)]
        latest = max((stamp for stamp in stamps if stamp is not None), default=None)
        self._claimed.add(task["uid"] for task in tasks if isinstance(task, dict) and isinstance(task.get("uid"), str))
        with self._lock:
            current = parse_time(self._newest)
            if latest is not None and (current is None or latest > current):
                self._newest = utc_text(latest)


class _Gate:
    """POSTs go side by side; a look-up goes alone, once every POST sent has been answered and
    its tasks claimed, so that it never takes the task of another row's POST still in flight.
    A look-up waiting holds back new POSTs (it would wait for ever behind a stream of them)."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._posting = 0
        self._looking = False
        self._waiting = 0

    @contextmanager
    def post(self) -> Iterator[None]:
        with self._turn:
            self._turn.wait_for(lambda: not self._looking and not self._waiting)
            self._posting += 1
        try:
            yield
        finally:
            with self._turn:
                self._posting -= 1
                self._turn.notify_all()

    @contextmanager
    def look(self) -> Iterator[None]:
        with self._turn:
            self._waiting += 1
            self._turn.wait_for(lambda: not self._looking and not self._posting)
            self._waiting -= 1
            self._looking = True
        try:
            yield
        finally:
            with self._turn:
                self._looking = False
                self._turn.notify_all()


@dataclass(frozen=True)
class _Intent:
    """What a create batch's pending mark holds: the floor to look its tasks up from, when (this
    machine's clock) it was marked, and the sending run's own settle windows (its timeout, not
    the one of the run that resumes it, bounds how late its request may land)."""

    floor: str
    at: float
    settle: float = 0.0
    blind_settle: float = 0.0

    def note(self) -> str:
        return json.dumps({"floor": self.floor, "at": self.at, "settle": self.settle, "blind_settle": self.blind_settle})

    @classmethod
    def read(cls, note: str | None) -> _Intent | None:
        try:
            found = json.loads(note or "")
            return cls(str(found["floor"]), float(found["at"]), float(found.get("settle", 0.0)),
                       float(found.get("blind_settle", 0.0)))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None  # no note (an older checkpoint's): unknown, as it was


def _earliest(*stamps: str) -> str:
    """The earliest of some floors ("" is the earliest of all: from the beginning)."""
    return min(stamps, key=lambda stamp: (stamp != "", parse_time(stamp) or stamp))


def _item(row: Any) -> dict[str, Any]:
    """What a row's POST sends: its payload without the uid (the server makes one)."""
    return {key: value for key, value in row.payload.items() if key != "uid"}


def _renumbered(rejected: RequestRejected, positions: list[int]) -> RequestRejected:
    """``rejected`` with the items it names numbered as in the rows given to ``send`` (the POST
    held only ``positions`` of them), for the engine to blame the right rows."""
    detail = rejected.detail
    if isinstance(detail, list):
        detail = [_renumbered_entry(entry, positions) for entry in detail]
    return type(rejected)(status=rejected.status, method=rejected.method, path=rejected.path, detail=detail,
                          request_id=rejected.request_id)


def _renumbered_entry(entry: Any, positions: list[int]) -> Any:
    loc = entry.get("loc") if isinstance(entry, dict) else None
    if not isinstance(loc, list) or "items" not in loc:
        return entry
    at = loc.index("items") + 1
    index = loc[at] if at < len(loc) else None
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(positions):
        return entry
    return {**entry, "loc": [*loc[:at], positions[index], *loc[at + 1:]]}


def same_task(item: dict[str, Any], task: Any) -> bool:
    """Whether ``task`` holds what ``item`` sent: the same fields (``True`` is not ``1``), and
    the same native values, a key left out meaning the server's default. ``due_at`` is compared
    as a time, to the millisecond; write-only keys (``assignee_email``) cannot be compared, and a
    server may turn one into ``assignee_uid``."""
    if not same_fields(item, task):
        return False
    for key, default in ECHOED_DEFAULTS.items():
        if key == "assignee_uid" and "assignee_email" in item and key not in item:
            continue
        if _comparable(item.get(key, default), key) != _comparable(task.get(key, default), key):
            return False
    due = item.get("due_at")
    if due is None:
        return True
    sent, kept = parse_time(due), parse_time(task.get("due_at"))
    return sent is not None and kept is not None and abs(sent - kept) < timedelta(milliseconds=1)


def same_fields(item: dict[str, Any], task: Any) -> bool:
    return isinstance(task, dict) and _comparable(task.get("fields")) == _comparable(item.get("fields"))


def _comparable(value: Any, key: str = "") -> Any:
    """``value`` as one hashable form per meaning: ``1`` and ``1.0`` alike, ``True`` apart,
    uids in any case."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return ("number", value)
    if isinstance(value, float):
        return ("number", int(value) if value.is_integer() else value if math.isfinite(value) else str(value))
    if isinstance(value, str):
        return value.lower() if key.endswith("_uid") else value
    if isinstance(value, dict):
        return ("object", tuple(sorted((str(name), _comparable(item)) for name, item in value.items())))
    if isinstance(value, list):
        return ("list", tuple(_comparable(item) for item in value))
    return ("other", repr(value))


def in_request_order(items: list[dict[str, Any]], tasks: list[Any]) -> list[Any]:
    """The tasks a ``POST /tasks/batch`` answered, in the order of the items sent.

    The answer's uids are the server's own, so only the order (assumed to be the request's) or
    the content can tell which task is which row's. Answered in another order, items and tasks
    of the same content are paired one to one (a row that left ``due_at`` out matches any due
    date, so it must not take the task of a row that gave one); when no pairing exists, the order
    stands (a server writing values another way cannot be matched; the contract says request order).
    """
    if all(same_task(item, task) for item, task in zip(items, tasks)):
        return tasks
    candidates = [[index for index, task in enumerate(tasks) if same_task(item, task)] for item in items]
    owner: dict[int, int] = {}  # task index -> item index: a one-to-one matching, by augmenting paths

    def place(item: int, seen: set[int]) -> bool:
        for task in candidates[item]:
            if task not in seen:
                seen.add(task)
                if task not in owner or place(owner[task], seen):
                    owner[task] = item
                    return True
        return False

    if not all(place(item, set()) for item in range(len(items))):
        return tasks
    by_item = {item: task for task, item in owner.items()}
    return [tasks[by_item[item]] for item in range(len(items))]
