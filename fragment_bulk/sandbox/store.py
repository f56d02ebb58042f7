"""The SQLite store of tasks and comments.

One connection (``check_same_thread=False``) guarded by one lock: SQLite serialises writers
anyway, and a single lock also makes read-modify-write (PUT's "identical body changes
nothing") atomic without retry loops on ``SQLITE_BUSY``. A batch is one transaction of multi-row
upserts, which is what makes tens of thousands of tasks per second possible.

Timestamps come from a clock that never repeats or goes back (each tick is at least one
microsecond after the last, even across a restart of a file database), so ``updated_at``
strictly increases on every real change and timestamps are unique sort keys.
"""

from __future__ import annotations

import functools
import json
import operator
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .search import PageRequest, TaskFilters, page_meta
from .tasks import RECORD_KEYS, Record, WriteRules
from .validation import format_timestamp

_TASK_COLUMNS = ", ".join(RECORD_KEYS)
_COMMENT_KEYS = ("uid", "task_uid", "text", "created_at")
_COMMENT_COLUMNS = ", ".join(_COMMENT_KEYS)
_COUNT_CACHE_SIZE = 256  # distinct filter sets whose total_count is kept between writes
_IN_CHUNK = 500  # uids per "IN (...)" lookup, far below SQLite's variable limit

# Only the order indexes: a single-column index on a filter (status...) would tempt the planner
# into "fetch every match, then sort" on each page, which makes paging to the end quadratic.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    due_at TEXT,
    done_at TEXT,
    started_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    archived INTEGER NOT NULL,
    assignee_uid TEXT,
    queue_uid TEXT,
    parent_uid TEXT,
    assignee_email TEXT,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_created ON tasks (created_at, seq);
CREATE INDEX IF NOT EXISTS tasks_by_updated ON tasks (updated_at, seq);
CREATE TABLE IF NOT EXISTS comments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE,
    task_uid TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_by_task ON comments (task_uid, created_at, seq);
"""

_ROWS_A_STATEMENT = 999 // len(RECORD_KEYS)  # the parameters older SQLite builds allow a statement


@functools.lru_cache(maxsize=None)
def _upsert(count: int) -> str:
    """The statement that creates or updates ``count`` tasks."""
    row = f"({', '.join('?' for _ in RECORD_KEYS)})"
    return (
        f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES {', '.join([row] * count)} "
        "ON CONFLICT (uid) DO UPDATE SET "
        + ", ".join(f"{key} = excluded.{key}" for key in RECORD_KEYS if key not in ("uid", "created_at"))
    )


class MissingTasks(LookupError):
    """PATCH named tasks that do not exist; ``indexes`` are their positions in the items given."""

    def __init__(self, indexes: list[int]) -> None:
        super().__init__(f"unknown tasks at positions {indexes}")
        self.indexes = indexes


class _Clock:
    """UTC timestamps that strictly increase, one microsecond apart at least."""

    def __init__(self, last: str | None) -> None:
        self._last = datetime.fromisoformat(last) if last else datetime.min.replace(tzinfo=timezone.utc)

    def __call__(self) -> str:
        now = datetime.now(timezone.utc)
        if now <= self._last:
            now = self._last + timedelta(microseconds=1)
        self._last = now
        return format_timestamp(now)


class TaskStore:
    """Tasks and comments in SQLite: in memory (``db_path=None``) or in a file."""

    def __init__(self, db_path: str | Path | None = None) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(":memory:" if db_path is None else str(db_path), check_same_thread=False)
        if db_path is not None:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        last = self._conn.execute(
            "SELECT max(stamp) FROM (SELECT max(updated_at) AS stamp FROM tasks"
            " UNION ALL SELECT max(created_at) FROM comments)"
        ).fetchone()[0]
        self._clock = _Clock(last)
        # total_count would make every page O(n); it is cached until the next write.
        self._generation = 0
        self._counts: dict[tuple[Any, ...], int] = {}
        self._counts_generation = 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def reset(self) -> None:
        """Delete every task and comment."""
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM tasks")
            self._conn.execute("DELETE FROM comments")
            self._generation += 1

    # -- tasks: writes ---------------------------------------------------------------------

    def create_tasks(self, inputs: list[dict[str, Any]], rules: WriteRules) -> list[Record]:
        """New tasks with server-made uids (POST is not idempotent)."""
        return self._write([(str(uuid.uuid4()), values) for values in inputs], rules)

    def put_tasks(self, items: list[tuple[str, dict[str, Any]]], rules: WriteRules) -> list[Record]:
        """Create-or-update each (uid, values); an unchanged task is not written."""
        return self._write(items, rules)

    def patch_tasks(self, items: list[tuple[str, dict[str, Any]]], rules: WriteRules, *,
                    write_found: bool = False) -> list[Record]:
        """Update existing tasks; raises ``MissingTasks`` if any is unknown, having written nothing
        or, with ``write_found``, the tasks that do exist (a server that writes a batch's valid items)."""
        return self._write(items, rules, patch=True, write_found=write_found)

    def _write(self, items: list[tuple[str, dict[str, Any]]], rules: WriteRules, *, patch: bool = False,
               write_found: bool = False) -> list[Record]:
        # Items apply in order, so a uid repeated in one batch sees its earlier version.
        update = rules.patch_task if patch else rules.put_task
        with self._lock:
            current = self._fetch_tasks(uid for uid, _ in items)
            missing = [index for index, (uid, _) in enumerate(items) if uid not in current] if patch else []
            if missing and not write_found:
                raise MissingTasks(missing)
            results: list[Record] = []
            changed: dict[str, Record] = {}
            for uid, values in items:
                existing = current.get(uid)
                if existing is None:
                    if patch:  # only with write_found: the others were refused above
                        continue
                    record, did_change = rules.new_task(uid, values, self._clock), True
                else:
                    record, did_change = update(existing, values, self._clock)
                current[uid] = record
                if did_change:
                    changed[uid] = record
                results.append(record)
            if changed:
                rows = [_task_row(record) for record in changed.values()]
                with self._conn:
                    # Many rows a statement, not executemany: sqlite3 gives up the GIL for each
                    # row it steps, then waits for it while other requests are parsed.
                    for start in range(0, len(rows), _ROWS_A_STATEMENT):
                        some = rows[start:start + _ROWS_A_STATEMENT]
                        self._conn.execute(_upsert(len(some)), [value for row in some for value in row])
                self._generation += 1
            if missing:
                raise MissingTasks(missing)
            return results

    def delete_task(self, uid: str) -> Record | None:
        """Delete a task and its comments; the deleted task, or None if it did not exist."""
        with self._lock:
            record = self._fetch_tasks([uid]).get(uid)
            if record is not None:
                with self._conn:
                    self._conn.execute("DELETE FROM tasks WHERE uid = ?", (uid,))
                    self._conn.execute("DELETE FROM comments WHERE task_uid = ?", (uid,))
                self._generation += 1
            return record

    # -- tasks: reads ----------------------------------------------------------------------

    def get_task(self, uid: str) -> Record | None:
        with self._lock:
            return self._fetch_tasks([uid]).get(uid)

    def all_tasks(self) -> list[Record]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks ORDER BY seq").fetchall()
        return [_task_record(row) for row in rows]

    def count_tasks(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM tasks").fetchone()[0]

    def search_tasks(self, filters: TaskFilters, page: PageRequest) -> tuple[list[Record], dict[str, Any]]:
        """One page of the tasks matching every filter, and its ``meta``."""
        conditions: list[str] = []
        params: list[Any] = []
        for column, comparison, value in filters.native:
            conditions.append(f"{column} {comparison} ?")  # column and comparison come from search.py's fixed lists
            params.append(value)
        for name, text in filters.custom:
            # A JSON string compares as itself, anything else by its JSON text (123, true, null).
            path = f'$."{name}"'
            conditions.append("(CASE json_type(fields, ?) WHEN 'text' THEN fields ->> ? ELSE fields -> ? END) = ?")
            params.extend((path, path, path, text))
        with self._lock:
            rows, meta = self._page("tasks", _TASK_COLUMNS, conditions, params, page, self._count_tasks)
        return [_task_record(row) for row in rows], meta

    def _count_tasks(self, where: str, params: list[Any]) -> int:
        if self._counts_generation != self._generation or len(self._counts) > _COUNT_CACHE_SIZE:
            self._counts.clear()
            self._counts_generation = self._generation
        key = (where, *params)
        if key not in self._counts:
            self._counts[key] = self._conn.execute(f"SELECT count(*) FROM tasks WHERE {where}", params).fetchone()[0]
        return self._counts[key]

    # -- comments --------------------------------------------------------------------------

    def add_comment(self, task_uid: str, text: str) -> dict[str, Any] | None:
        """The new comment, or None if the task does not exist."""
        with self._lock:
            if not self._fetch_tasks([task_uid]):
                return None
            comment = {"uid": str(uuid.uuid4()), "task_uid": task_uid, "text": text, "created_at": self._clock()}
            with self._conn:
                self._conn.execute(
                    f"INSERT INTO comments ({_COMMENT_COLUMNS}) VALUES (?, ?, ?, ?)",
                    [comment[key] for key in _COMMENT_KEYS],
                )
            return comment

    def list_comments(self, task_uid: str, page: PageRequest) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
        """One page of a task's comments in creation order, or None if the task does not exist."""
        with self._lock:
            if not self._fetch_tasks([task_uid]):
                return None
            rows, meta = self._page("comments", _COMMENT_COLUMNS, ["task_uid = ?"], [task_uid], page, self._count_comments)
        return [_comment_record(row) for row in rows], meta

    def all_comments(self, task_uid: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COMMENT_COLUMNS} FROM comments WHERE task_uid = ? ORDER BY created_at, seq", (task_uid,)
            ).fetchall()
        return [_comment_record(row) for row in rows]

    def _count_comments(self, where: str, params: list[Any]) -> int:
        return self._conn.execute(f"SELECT count(*) FROM comments WHERE {where}", params).fetchone()[0]

    # -- shared ----------------------------------------------------------------------------

    def _page(self, table: str, columns: str, conditions: list[str], params: list[Any], page: PageRequest,
              count: Callable[[str, list[Any]], int]) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
        """A keyset page: an index range scan from the cursor, ``limit + 1`` rows to see if more exist.

        Returns the rows (columns as given) in the requested order, and the page's meta.
        Must be called with the lock held.
        """
        column = page.column
        forwards = page.cursor.direction != "before"
        ascending = forwards != page.descending
        where = " AND ".join(conditions) or "1"
        scan_conditions, scan_params = list(conditions), list(params)
        if page.cursor.direction != "start":
            scan_conditions.append(f"({column}, seq) {'>' if ascending else '<'} (?, ?)")
            scan_params.extend((page.cursor.value, page.cursor.seq))
        direction = "ASC" if ascending else "DESC"
        rows = self._conn.execute(
            f"SELECT {column}, seq, {columns} FROM {table} WHERE {' AND '.join(scan_conditions) or '1'}"
            f" ORDER BY {column} {direction}, seq {direction} LIMIT ?",
            [*scan_params, page.limit + 1],
        ).fetchall()
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        if not forwards:
            rows.reverse()
        meta = page_meta(
            page,
            first=(rows[0][0], rows[0][1]) if rows else None,
            last=(rows[-1][0], rows[-1][1]) if rows else None,
            more=more,
            total_count=count(where, params),
        )
        return [row[2:] for row in rows], meta

    def _fetch_tasks(self, uids: Iterable[str]) -> dict[str, Record]:
        wanted = list(dict.fromkeys(uids))
        found: dict[str, Record] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            rows = self._conn.execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks WHERE uid IN ({', '.join('?' for _ in chunk)})", chunk
            ).fetchall()
            found.update((row[0], _task_record(row)) for row in rows)
        return found


_record_values = operator.itemgetter(*RECORD_KEYS)
_ARCHIVED_AT, _FIELDS_AT = RECORD_KEYS.index("archived"), RECORD_KEYS.index("fields")
_fields_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # one encoder, not one a row


def _task_row(record: Record) -> list[Any]:
    row = list(_record_values(record))
    row[_ARCHIVED_AT] = int(row[_ARCHIVED_AT])
    row[_FIELDS_AT] = _fields_text(row[_FIELDS_AT])
    return row


def _task_record(row: tuple[Any, ...]) -> Record:
    record = dict(zip(RECORD_KEYS, row))
    record["archived"] = bool(record["archived"])
    record["fields"] = json.loads(record["fields"])
    return record


def _comment_record(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_COMMENT_KEYS, row))
