"""Export: search results (``GET /tasks``, every page) to CSV, Excel, JSON Lines, Parquet or a DataFrame.

Two passes, so that memory stays flat whatever the number of tasks:

1. **Page** through ``GET /tasks`` with the largest page the API allows, the filters held fixed,
   under the client's shared throttle and retry policy. A background thread fetches the next
   page while this one is spooled, so the wait for the server overlaps the work. Each task is
   flattened (native fields, then each custom field as a column) and spooled to a temporary
   file beside the output, a page of value lists at a time, in the order the columns were
   first seen; the union of columns and the JSON types of their values are noted.
2. **Write** the output from the spool, row by row (:mod:`fragment_bulk.formats`), now that the
   columns are known. A row spooled before a column first appeared is shorter: it is padded.

Native filters (``status``, ``updated_at_after``, ``created_at_after``) are named as the
contract *assumes*; a server that ignored one would answer with more tasks than asked, so every
task is checked against them here too, and the ones outside are dropped and counted.

Beside a task export, ``<name>.mapping.yml`` (``tasks.csv.mapping.yml``: one per file, so a CSV
and a JSON Lines export of one name keep their own) records how each column imports back: by ``uid``,
read-only dates ignored, each custom field with the type its values had (a field of integers
comes back as integers, ``"00123"`` stays text, a field of mixed values is written as JSON text
and read back as JSON). So an untouched export re-imports as "unchanged", and an edited cell
updates exactly that field.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import queue
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import yaml

from fragment_bulk.client import MAX_PAGE_SIZE, FragmentClient, Page
from fragment_bulk.errors import ConfigError, ProtocolError
from fragment_bulk.formats import (CHUNK_ROWS, EXACT_IN_A_DOUBLE, check_fits_a_sheet, column_name, escape_formula, format_of,
                                   guard_may_change, parse_moment, write_rows)
from fragment_bulk.progress import progress_bar

NATIVE_COLUMNS = ("uid", "status", "title", "url", "due_at", "done_at", "started_at", "created_at", "updated_at")
OPTIONAL_NATIVES = ("archived", "assignee_uid", "queue_uid", "parent_uid")  # columns only when some task has one
DATE_COLUMNS = ("due_at", "done_at", "started_at", "created_at", "updated_at")
READ_ONLY = ("done_at", "started_at", "created_at", "updated_at")
TEXT_COLUMNS = ("title", "url")  # natives that live under "fields"
COMMENT_COLUMNS = ("task_uid", "comment_uid", "text", "created_at")
COMMENT_TYPES = ("str", "str", "str", "timestamp")
SIDECAR_SUFFIX = ".mapping.yml"
SPOOL_ROWS = 100  # comments spooled at a time (tasks are spooled a page at a time)
_TOP_LEVEL_NATIVES = tuple(name for name in NATIVE_COLUMNS if name not in TEXT_COLUMNS)
_RESERVED = frozenset(NATIVE_COLUMNS + OPTIONAL_NATIVES)
_TEXT_AT = NATIVE_COLUMNS.index(TEXT_COLUMNS[0])  # where title and url sit among the natives
PREFETCH_PAGES = 4


# The query parameters of GET /tasks that are not custom fields (the contract's native filters and paging).
_QUERY_WORDS = frozenset({"status", "assignee_uid", "queue_uid", "archived", "created_at_after", "updated_at_after",
                          "order_by", "cursor", "limit"})


@dataclass(frozen=True)
class Search:
    """Which tasks: custom-field ``filters`` (as the API's ``?country=FR``), native filters, a limit.

    ``updated_after`` / ``created_after`` take ISO 8601 text or a datetime (naive means UTC).
    """

    filters: Mapping[str, Any] | None = None
    status: str | None = None
    updated_after: str | datetime | None = None
    created_after: str | datetime | None = None
    order_by: str | None = None
    limit: int | None = None

    def query(self) -> dict[str, Any]:
        """``GET /tasks`` parameters: custom fields as plain parameters, then the native filters."""
        query = dict(self.filters or {})
        for name, value in (("status", self.status and self.status.upper()),
                            ("updated_at_after", self._moment("updated_after")),
                            ("created_at_after", self._moment("created_after")), ("order_by", self.order_by)):
            if value is not None:
                query[name] = value.isoformat() if isinstance(value, datetime) else value
        return query

    def check(self) -> "Search":
        """Refuse a search that cannot work, before the first request."""
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 0):
            raise ConfigError(f"limit must be a whole number >= 0, not {self.limit!r}")
        for name in self.filters or {}:
            if name in _QUERY_WORDS:
                # The API reads ?status=... as its own filter: a custom field of that name
                # cannot be filtered on, and would be answered with a 422 or the wrong tasks.
                raise ConfigError(f"filter {name!r}: the API takes {name} as its own parameter, not a custom field"
                                  f"{' (use --status)' if name == 'status' else ''}")
        self._moment("updated_after")
        self._moment("created_after")
        return self

    def matches(self, task: Mapping[str, Any]) -> bool:
        """Whether ``task`` passes the native filters (lenient at the bound: ``>=``)."""
        if self.status is not None and str(task.get("status", "")).upper() != self.status.upper():
            return False
        for name, column in (("updated_after", "updated_at"), ("created_after", "created_at")):
            bound = self._moment(name)
            if bound is not None and task.get(column) and parse_moment(task[column]) < bound:
                return False
        return True

    def _moment(self, name: str) -> datetime | None:
        value = getattr(self, name)
        if value is None:
            return None
        try:
            moment = value if isinstance(value, datetime) else parse_moment(str(value).strip())
        except ValueError:
            raise ConfigError(f"{name.replace('_', ' ')} {value!r} is not an ISO 8601 date or date-time") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass
class ExportReport:
    path: Path
    rows: int
    columns: list[str]
    elapsed: float
    pages: int
    mapping_path: Path | None = None
    dropped: int = 0  # tasks the server returned outside the native filters (it ignored one)

    def summary_line(self) -> str:
        rate = self.rows / self.elapsed if self.elapsed > 0 else 0.0
        text = f"export: {self.rows:,} rows, {len(self.columns)} columns to {self.path} in {self.elapsed:.1f}s ({rate:,.0f} rows/s)"
        if self.mapping_path is not None:
            text += f"; types in {self.mapping_path}"
        if self.dropped:
            text += f"; {self.dropped:,} tasks outside the filters dropped (the server ignored a filter)"
        return text


# -- public functions ---------------------------------------------------------------------------


def export_tasks(
    client: FragmentClient,
    out: Path,
    search: Search = Search(),
    *,
    columns: list[str] | None = None,
    format: str | None = None,  # noqa: A002
    excel_csv: bool = False,
    escape_formulas: bool = True,
    progress: bool | None = None,
    page_size: int | None = None,
) -> ExportReport:
    """Export every task matching ``search`` to ``out``; see the module docstring.

    ``columns`` chooses and orders the columns (an unknown name is a :class:`ConfigError`
    listing the existing ones); ``page_size`` defaults to the API's maximum, 100.
    """
    started = time.monotonic()
    out = Path(out)
    kind = format_of(out, format)
    sheet = out.name if kind == "xlsx" else None  # refused as soon as it is more than a sheet holds, not once fetched
    if sheet and columns is not None:
        check_fits_a_sheet(sheet, columns=len(columns))
    with _spool(out) as spool:
        seen = _collect(client, search.check(), spool, progress=progress, page_size=page_size, sheet=sheet,
                        all_columns=columns is None)
        picks = _choose(seen.names, columns)
        names = [seen.names[index] for index in picks]
        types = [seen.type_of(index) for index in picks]
        guard = escape_formulas and kind in ("csv", "xlsx")
        headers = [escape_formula(name) for name in names] if guard else names  # a header is a cell too
        unguarded = {position for position, index in enumerate(picks) if index not in seen.guarded}
        write_rows(kind, out, headers, types, _spooled_rows(spool, picks), excel_csv=excel_csv, guard=guard,
                   unguarded=unguarded)
    sidecar = sidecar_of(out)
    mapping = sidecar_mapping(names, dict(zip(names, types)), escaped=guard, format=kind, partial=_cut(seen, names))
    sidecar.write_text(yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return ExportReport(out, seen.rows, names, time.monotonic() - started, seen.pages, sidecar, seen.dropped)


def export_frame(
    client: FragmentClient,
    search: Search = Search(),
    *,
    columns: list[str] | None = None,
    progress: bool | None = None,
    page_size: int | None = None,
) -> pd.DataFrame:
    """The matching tasks as a DataFrame (dates as UTC timestamps, custom fields as they are)."""
    with _spool(Path(tempfile.gettempdir()) / "export") as spool:
        seen = _collect(client, search.check(), spool, progress=progress, page_size=page_size)
        picks = _choose(seen.names, columns)
        names = [seen.names[index] for index in picks]
        rows = _spooled_rows(spool, picks)
        frames = [_frame(chunk, names) for chunk in iter(lambda: list(islice(rows, CHUNK_ROWS)), [])]
    frame = pd.concat(frames, ignore_index=True) if frames else _frame([], names)
    for name in names:
        if name in DATE_COLUMNS:
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    # What a file's sidecar is to it: so that the frame imports back to the same field keys
    # ("ticketId" is not re-inferred as fields.ticketid, nor "Status" as the native status).
    frame.attrs[FRAME_MAPPING] = sidecar_mapping(names, {}, escaped=False, format="frame", partial=_cut(seen, names))
    return frame


def export_comments(
    client: FragmentClient,
    out: Path,
    search: Search = Search(),
    *,
    task_uids: Iterable[str] | None = None,
    columns: list[str] | None = None,
    format: str | None = None,  # noqa: A002
    excel_csv: bool = False,
    escape_formulas: bool = True,
    progress: bool | None = None,
    page_size: int | None = None,
) -> ExportReport:
    """The comments of ``task_uids`` (or of the tasks matching ``search``), one per row.

    ``search.limit`` caps the tasks, as ``--limit`` says: every comment of each is written.
    Columns: task_uid, comment_uid, text, created_at. One ``GET /tasks/{uid}/comments`` per task, so the rate limit sets the pace.
    """
    started = time.monotonic()
    out = Path(out)
    kind = format_of(out, format)
    search.check()
    picks = _choose(list(COMMENT_COLUMNS), columns)
    sheet = out.name if kind == "xlsx" else None
    if task_uids is None:
        task_uids = (task["uid"] for _, kept, _ in _task_pages(client, search, page_size) for task in kept)
    elif search.limit is not None:
        task_uids = islice(task_uids, search.limit)
    rows = (
        [uid, comment.get("uid"), comment.get("text"), comment.get("created_at")]
        for uid in task_uids
        for comment in client.iter_comments(uid)
    )
    bar = progress_bar(None, unit="comment", description="export", enabled=progress)
    count = 0
    with _spool(out) as spool:
        try:
            with open(spool, "wb") as handle:
                page: list[list[Any]] = []
                # The bar moves per comment: at the rate limit, a page of them can take minutes.
                for row in rows:
                    page.append(row)
                    count += 1
                    bar.update(1)
                    if sheet:
                        check_fits_a_sheet(sheet, rows=count)
                    if len(page) == SPOOL_ROWS:
                        _spool_page(handle, page)
                        page = []
                if page:
                    _spool_page(handle, page)
        finally:
            bar.close()
        guard = escape_formulas and kind in ("csv", "xlsx")
        names = [COMMENT_COLUMNS[i] for i in picks]
        write_rows(kind, out, names, [COMMENT_TYPES[i] for i in picks], _spooled_rows(spool, picks), excel_csv=excel_csv,
                   guard=guard)
    # So that `comment` posts the file elsewhere as it was: to the task by uid, the guard undone.
    sidecar = sidecar_of(out)
    mapping = {"version": 1, **({"formula_escape": True} if guard else {}),
               "columns": {name: "uid" if name == "task_uid" else "ignore" for name in names}}
    sidecar.write_text(yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return ExportReport(out, count, names, time.monotonic() - started, 0, sidecar)


def flatten(task: Mapping[str, Any]) -> dict[str, Any]:
    """One task as one row: natives first, then each custom field under its own name.

    A custom field whose name is a native column's is exported as ``fields.<name>``.
    """
    custom = task.get("fields") or {}
    row = {name: task.get(name) for name in _TOP_LEVEL_NATIVES}
    row["title"] = custom.get("title")
    row["url"] = custom.get("url")
    for name in OPTIONAL_NATIVES:
        value = task.get(name)
        if value is not None:
            row[name] = value
    for key, value in custom.items():
        if key not in TEXT_COLUMNS:
            row[field_column(key)] = value
    return row


def field_column(key: str) -> str:
    """The column of the custom field ``key``: its name, but under the prefix for a field named
    like a native column, or like the prefix itself ("fields.status", which would meet the field
    "status" in one column), or with space around it, which a reader trims off a header
    (" status" would meet "status"). A key of nothing or white space only is quoted as JSON
    (``fields.""``, ``fields." "``): a header of none has no name, and trimmed, ``fields. `` and
    ``fields.  `` would be one."""
    if not key.strip():
        return f"fields.{json.dumps(key)}"
    if key in _RESERVED or key.startswith("fields.") or column_name(key) != key:
        return f"fields.{key}"
    return key


def field_target(column: str) -> str:
    """The mapping target of the custom field an export wrote in ``column`` (see ``field_column``)."""
    quoted = column[len("fields."):]
    if quoted.startswith('"'):
        with contextlib.suppress(ValueError):
            key = json.loads(quoted)
            if isinstance(key, str) and not key.strip() and json.dumps(key) == quoted:
                return f"fields.{key}"
    return column if column.startswith("fields.") else f"fields.{column}"


FRAME_MAPPING = "fragment_bulk.mapping"  # the key of an exported frame's mapping in ``frame.attrs``


def sidecar_of(path: Path) -> Path:
    """Where the mapping of an exported file goes, and where an import of it looks first."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def is_field_spec(spec: Any) -> bool:
    """Whether a column of a sidecar mapping (``sidecar_mapping``) holds a field of the task."""
    return is_field_target(spec.get("target") if isinstance(spec, dict) else spec)


def is_field_target(target: Any) -> bool:
    """Whether a mapping target is one of the task's ``fields`` (title, url or a custom one)."""
    return isinstance(target, str) and (target in ("title", "url") or target.startswith("fields."))


def _cut(seen: _Seen, kept: list[str]) -> bool:
    """Whether ``kept`` leaves out a field some task has (title, url or a custom one): an import
    of it would delete that field, as PUT replaces ``fields`` whole (left-out natives stay as they are)."""
    natives = set(NATIVE_COLUMNS + OPTIONAL_NATIVES) - {"title", "url"}
    return any(name not in kept and name not in natives and seen.kinds[position] for position, name in enumerate(seen.names))


def sidecar_mapping(columns: list[str], types: Mapping[str, str], *, escaped: bool, format: str = "csv",  # noqa: A002
                    partial: bool = False) -> dict[str, Any]:
    """The mapping that imports the export back: by uid, with each custom field's type.
    ``partial``: the export left out some field, so it may only be sent back as an update."""
    mapping: dict[str, Any] = {"version": 1, "empty": "omit"}
    if escaped:
        mapping["formula_escape"] = True
    if partial:
        mapping["partial"] = True
    specs: dict[str, Any] = {}
    for name in columns:
        header = escape_formula(name) if escaped else name  # as the file's header says it
        if name in READ_ONLY:
            specs[header] = "ignore"
        elif name == "due_at":
            specs[header] = {"target": "due_at", "type": "datetime"}
        elif name in NATIVE_COLUMNS or name in OPTIONAL_NATIVES:
            specs[header] = name
        else:
            target = field_target(name)
            kind = types.get(name, "str")
            # Text formats lose JSON types, so declare them; JSON Lines and a frame keep them as they are.
            specs[header] = {"target": target} if format in ("jsonl", "frame") else {"target": target, "type": kind}
    mapping["columns"] = specs
    return mapping


def infer_type(kinds: set[str]) -> str:
    """A column's type from the JSON kinds of its values: one kind is itself (``str`` when
    there are none); ints with floats are ``number`` (``2`` stays an int, ``1.5`` a float);
    anything else mixed is ``json``."""
    if not kinds:
        return "str"
    if len(kinds) == 1:
        return next(iter(kinds))
    return "number" if kinds == {"int", "float"} else "json"


# -- pass 1: page and spool -----------------------------------------------------------------------


_KIND_OF_TYPE = {str: "str", int: "int", float: "float", bool: "bool"}  # anything else: "json"
_EXACT_INT = EXACT_IN_A_DOUBLE  # beyond, an Excel cell (a double) is no longer exact, and beyond 2**63 a Parquet int64


class _Seen:
    """What pass 1 learned: the columns in first-seen order and the JSON kinds of their values."""

    def __init__(self) -> None:
        self.names: list[str] = list(NATIVE_COLUMNS)
        self.index: dict[str, int] = {name: position for position, name in enumerate(self.names)}
        self.kinds: list[set[str]] = [set() for _ in self.names]
        self._field_columns: dict[str, int] = {}  # a custom field's key -> the position of its column
        self.guarded: set[int] = set()  # the columns with a text the formula guard changes
        self.rows = 0
        self.pages = 0
        self.dropped = 0

    def encode(self, tasks: list[Mapping[str, Any]]) -> list[list[Any]]:
        """A page of tasks as rows of values in column order (:func:`flatten`'s columns, its work
        done in place: a page's worth of dicts spared), registering new columns and noting the
        kinds of their values, a column at a time."""
        rows = [self._values(task) for task in tasks]
        width = len(self.names)
        for row in rows:
            if len(row) < width:  # made before a later task of the page brought a new column
                row += [None] * (width - len(row))
        for position, column in enumerate(zip(*rows)):
            types = set(map(type, column))
            types.discard(type(None))
            if str in types and position not in self.guarded and guard_may_change({value[:1] for value in column if type(value) is str}):
                self.guarded.add(position)
            kinds = self.kinds[position]
            kinds.update(_KIND_OF_TYPE.get(kind_of, "json") for kind_of in types if kind_of is not int)
            if int in types:
                exact = [-_EXACT_INT <= value <= _EXACT_INT for value in column if type(value) is int]
                if any(exact):
                    kinds.add("int")
                if not all(exact):
                    kinds.add("json")  # written as its digits: an Excel or Parquet number would round it
        return rows

    def _values(self, task: Mapping[str, Any]) -> list[Any]:
        # (Inlined, in C where it can be: this runs once a task.)
        custom = task.get("fields") or {}
        values: list[Any] = list(map(task.get, _TOP_LEVEL_NATIVES))
        values[_TEXT_AT:_TEXT_AT] = map(custom.get, TEXT_COLUMNS)
        values += [None] * (len(self.names) - len(values))
        index, columns = self.index, self._field_columns
        for name in OPTIONAL_NATIVES:
            value = task.get(name)
            if value is not None:
                position = index.get(name)
                if position is None:
                    position = self._position(name)
                    values += [None] * (position + 1 - len(values))
                values[position] = value
        for key, value in custom.items():
            position = columns.get(key)
            if position is None:
                if key in TEXT_COLUMNS:
                    continue  # placed above
                position = columns[key] = self._position(field_column(key))
                values += [None] * (position + 1 - len(values))
            if value is not None:
                values[position] = value
        return values

    def _position(self, name: str) -> int:
        """The position of the column ``name``, registered if new."""
        position = self.index.get(name)
        if position is None:
            position = self.index[name] = len(self.names)
            self.names.append(name)
            self.kinds.append(set())
        return position

    def type_of(self, position: int) -> str:
        name = self.names[position]
        if name in DATE_COLUMNS:
            return "timestamp" if name in READ_ONLY else "datetime"  # see fragment_bulk.formats
        return infer_type(self.kinds[position])


def _collect(client: FragmentClient, search: Search, spool: Path, *, progress: bool | None, page_size: int | None,
             sheet: str | None = None, all_columns: bool = True) -> _Seen:
    """Pass 1. ``sheet``: the name of an .xlsx export, refused as soon as its rows (and, with
    ``all_columns``, its columns) are more than a sheet holds."""
    seen = _Seen()
    bar = None
    try:
        with open(spool, "wb") as handle:
            for page, kept, outside in _prefetched(_task_pages(client, search, page_size)):
                if bar is None:
                    total = page.total_count
                    if search.limit is not None and total is not None:
                        total = min(total, search.limit)
                    bar = progress_bar(total, unit="task", description="export", enabled=progress)
                seen.pages += 1
                seen.dropped += outside
                _spool_page(handle, seen.encode(kept))
                seen.rows += len(kept)
                if sheet:
                    check_fits_a_sheet(sheet, rows=seen.rows, columns=len(seen.names) if all_columns else 0)
                bar.update(len(kept))
    finally:
        if bar is not None:
            bar.close()
    return seen


def _task_pages(client: FragmentClient, search: Search, page_size: int | None) -> Iterator[tuple[Page, list[dict[str, Any]], int]]:
    """Every page of the search with the tasks in it that pass the native filters, until
    ``search.limit`` tasks passed, and how many of it did not pass (the server ignored a filter)."""
    size = page_size or MAX_PAGE_SIZE
    if search.limit is not None:
        if search.limit == 0:
            return
        size = min(size, search.limit)
    query = search.query()
    filtering = search.status is not None or search.updated_after is not None or search.created_after is not None
    kept_total = 0
    pages = 0
    for page in client.iter_pages("/tasks", query, page_size=size):
        pages += 1
        kept = [task for task in page.items if search.matches(task)] if filtering else page.items
        outside = len(page.items) - len(kept)
        if search.limit is not None:
            kept = kept[: search.limit - kept_total]
        kept_total += len(kept)
        yield page, kept, outside
        if search.limit is not None and kept_total >= search.limit:
            return
    timed = search.updated_after is not None or search.created_after is not None or search.order_by is not None
    if not pages and timed and client.honours_time_filters() is False:
        raise ProtocolError("the server lists nothing with created_at_after, updated_at_after or order_by though it"
                            " holds tasks: it does not know them (the API docs do not say it does). Export without"
                            " --updated-after, --created-after and --order-by, and filter the file instead")


def _prefetched(pages: Iterator[Any], depth: int = PREFETCH_PAGES) -> Iterator[Any]:
    """``pages``, fetched by a background thread up to ``depth`` pages ahead of the caller.

    One request is in flight at a time, as without it; an error in the thread is raised here.
    When the caller stops early, the thread stops at its next page.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not put(("page", page)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the caller, who raises it
            put(("error", exc))

    thread = threading.Thread(target=fetch, name="fragment-export-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = handoff.get()
            if kind == "page":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        thread.join(timeout=5)


def _choose(available: list[str], wanted: list[str] | None) -> list[int]:
    """Positions of the ``wanted`` columns (all of them when ``None``) among ``available``."""
    if wanted is None:
        return list(range(len(available)))
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise ConfigError(f"no column {unknown[0]!r} in this export; its columns are: {', '.join(available)}")
    return [available.index(name) for name in wanted]


@contextmanager
def _spool(out: Path) -> Iterator[Path]:
    """A temporary file beside the output (same disk), removed whatever happens."""
    directory = out.parent if out.parent.exists() else Path(tempfile.gettempdir())
    try:
        handle = tempfile.NamedTemporaryFile(prefix=f".{out.name}.", suffix=".spool", dir=directory, delete=False)
    except OSError as exc:  # before any request: the output's folder takes no file
        raise ConfigError(f"cannot write {out} ({exc.strerror}): choose another folder") from None
    handle.close()
    path = Path(handle.name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _spool_page(handle: BinaryIO, rows: list[list[Any]]) -> None:
    # Pickle, not JSON: ten times faster both ways for these lists of JSON values, and the file
    # is this process's own (created 0600 beside the output, removed when the export ends).
    pickle.dump(rows, handle, protocol=pickle.HIGHEST_PROTOCOL)


def _spooled_rows(spool: Path, picks: list[int]) -> Iterator[list[Any]]:
    """The spooled rows with exactly the ``picks`` columns; short (early) rows padded."""
    width = max(picks, default=-1) + 1
    everything = picks == list(range(width))
    with open(spool, "rb") as handle:
        while True:
            try:
                rows = pickle.load(handle)
            except EOFError:
                return
            for values in rows:
                if len(values) < width:
                    values.extend([None] * (width - len(values)))
                if not everything:
                    yield [values[index] for index in picks]
                else:  # the first columns: a row that also has later ones is cut to them
                    yield values if len(values) == width else values[:width]


def _frame(rows: list[list[Any]], names: list[str]) -> pd.DataFrame:
    columns = list(zip(*rows)) if rows else [() for _ in names]
    return pd.DataFrame({name: pd.Series(list(values), dtype=object) for name, values in zip(names, columns)})
