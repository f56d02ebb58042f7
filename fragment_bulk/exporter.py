"""Export: search results (``GET /tasks``, every page) to CSV, Excel, JSON Lines, Parquet or a DataFrame.

Two passes, so that memory stays flat whatever the number of tasks:

1. **Page** through ``GET /tasks`` with the largest page the API allows, the filters held fixed,
   under the client's shared throttle and retry policy. Each task is flattened (native fields,
   then each custom field as a column) and spooled to a temporary JSON Lines file, while the
   union of custom columns (in first-seen order) and the JSON types of their values are noted.
2. **Write** the output from the spool in chunks, now that the columns are known.

Beside a task export, ``<stem>.mapping.yml`` records how each column imports back: by ``uid``,
read-only dates ignored, each custom field with the type its values had (a field of integers
comes back as integers, ``"00123"`` stays text, a field of mixed values is written as JSON text
and read back as JSON). So an untouched export re-imports as "unchanged", and an edited cell
updates exactly that field.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fragment_bulk.client import MAX_PAGE_SIZE, FragmentClient, Page
from fragment_bulk.errors import ConfigError, RequestRejected
from fragment_bulk.formats import escape_formula, format_of, require_pyarrow
from fragment_bulk.progress import progress_bar

NATIVE_COLUMNS = ("uid", "status", "title", "url", "due_at", "done_at", "started_at", "created_at", "updated_at")
OPTIONAL_NATIVES = ("archived", "assignee_uid", "queue_uid", "parent_uid")  # columns only when some task has one
DATE_COLUMNS = ("due_at", "done_at", "started_at", "created_at", "updated_at")
READ_ONLY = ("done_at", "started_at", "created_at", "updated_at")
TEXT_COLUMNS = ("title", "url")  # natives whose text a user wrote (the formula guard applies)
COMMENT_COLUMNS = ("task_uid", "comment_uid", "text", "created_at")
CHUNK_ROWS = 10_000
SIDECAR_SUFFIX = ".mapping.yml"


@dataclass(frozen=True)
class Search:
    """Which tasks: custom-field ``filters`` (as the API's ``?country=FR``), native filters, a limit."""

    filters: Mapping[str, Any] | None = None
    status: str | None = None
    updated_after: str | None = None
    created_after: str | None = None
    order_by: str | None = None
    limit: int | None = None

    def query(self) -> dict[str, Any]:
        """``GET /tasks`` parameters: custom fields as plain parameters, then the native filters."""
        query = dict(self.filters or {})
        for name, value in (("status", self.status), ("updated_at_after", self.updated_after),
                            ("created_at_after", self.created_after), ("order_by", self.order_by)):
            if value is not None:
                query[name] = value
        return query


@dataclass
class ExportReport:
    path: Path
    rows: int
    columns: list[str]
    elapsed: float
    pages: int
    mapping_path: Path | None = None

    def summary_line(self) -> str:
        rate = self.rows / self.elapsed if self.elapsed > 0 else 0.0
        text = f"export: {self.rows:,} rows, {len(self.columns)} columns to {self.path} in {self.elapsed:.1f}s ({rate:,.0f} rows/s)"
        if self.mapping_path is not None:
            text += f"; types in {self.mapping_path}"
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
) -> ExportReport:
    """Export every task matching the filters to ``out``; see the module docstring."""
    started = time.monotonic()
    out = Path(out)
    kind = format_of(out, format)
    if kind == "parquet":
        require_pyarrow()
    with _spool(out) as spool:
        seen = _collect(_task_pages(client, search.query()), spool, limit=search.limit, progress=progress)
        chosen = _choose(seen.columns, columns)
        types = {name: seen.type_of(name) for name in chosen}
        guard = escape_formulas and kind in ("csv", "xlsx")
        _write(kind, out, _frames(spool, chosen), types, excel_csv=excel_csv, guard=guard)
    sidecar = out.with_name(out.stem + SIDECAR_SUFFIX)
    sidecar.write_text(yaml.safe_dump(sidecar_mapping(chosen, types, escaped=guard, format=kind), sort_keys=False),
                       encoding="utf-8")
    return ExportReport(out, seen.rows, chosen, time.monotonic() - started, seen.pages, sidecar)


def export_frame(
    client: FragmentClient, search: Search = Search(), *, columns: list[str] | None = None, progress: bool | None = None
) -> pd.DataFrame:
    """The matching tasks as a DataFrame (dates as UTC timestamps, custom fields as they are)."""
    with _spool(Path(tempfile.gettempdir()) / "export") as spool:
        seen = _collect(_task_pages(client, search.query()), spool, limit=search.limit, progress=progress)
        chosen = _choose(seen.columns, columns)
        frames = list(_frames(spool, chosen))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=chosen)
    for name in chosen:
        if name in DATE_COLUMNS:
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame


def export_comments(
    client: FragmentClient,
    out: Path,
    search: Search = Search(),
    *,
    task_uids: list[str] | None = None,
    columns: list[str] | None = None,
    format: str | None = None,  # noqa: A002
    excel_csv: bool = False,
    escape_formulas: bool = True,
    progress: bool | None = None,
) -> ExportReport:
    """The comments of the given tasks (or of the tasks matching the filters), one per row."""
    started = time.monotonic()
    out = Path(out)
    kind = format_of(out, format)
    if kind == "parquet":
        require_pyarrow()
    if task_uids is None:
        task_uids = (task["uid"] for page in _task_pages(client, search.query()) for task in page.items)
    rows = (
        {"task_uid": uid, "comment_uid": comment.get("uid"), "text": comment.get("text"), "created_at": comment.get("created_at")}
        for uid in task_uids
        for comment in client.iter_comments(uid)
    )
    chosen = _choose(list(COMMENT_COLUMNS), columns)
    types = {name: "str" for name in chosen}
    with _spool(out) as spool:
        count = 0
        with open(spool, "w", encoding="utf-8") as handle:
            for row in rows:
                if search.limit is not None and count >= search.limit:
                    break
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        guard = escape_formulas and kind in ("csv", "xlsx")
        _write(kind, out, _frames(spool, chosen), types, excel_csv=excel_csv, guard=guard)
    return ExportReport(out, count, chosen, time.monotonic() - started, 0)


def flatten(task: Mapping[str, Any]) -> dict[str, Any]:
    """One task as one row: natives first, then each custom field under its own name.

    A custom field whose name is a native column's is exported as ``fields.<name>``.
    """
    custom = dict(task.get("fields") or {})
    row = {name: task.get(name) for name in NATIVE_COLUMNS if name not in TEXT_COLUMNS}
    row["title"] = custom.pop("title", None)
    row["url"] = custom.pop("url", None)
    for name in OPTIONAL_NATIVES:
        if task.get(name) is not None:
            row[name] = task[name]
    for key, value in custom.items():
        row[f"fields.{key}" if key in NATIVE_COLUMNS or key in OPTIONAL_NATIVES else key] = value
    return row


def sidecar_mapping(columns: list[str], types: Mapping[str, str], *, escaped: bool, format: str = "csv") -> dict[str, Any]:  # noqa: A002
    """The mapping that imports the export back: by uid, with each custom field's type."""
    mapping: dict[str, Any] = {"version": 1, "empty": "omit"}
    if escaped:
        mapping["formula_escape"] = True
    specs: dict[str, Any] = {}
    for name in columns:
        if name in READ_ONLY:
            specs[name] = "ignore"
        elif name == "due_at":
            specs[name] = {"target": "due_at", "type": "datetime"}
        elif name in NATIVE_COLUMNS or name in OPTIONAL_NATIVES:
            specs[name] = name
        else:
            target = name if name.startswith("fields.") else f"fields.{name}"
            kind = types.get(name, "str")
            # Text formats lose JSON types, so declare them; JSON Lines keeps them as they are.
            specs[name] = {"target": target} if format == "jsonl" else {"target": target, "type": kind}
    mapping["columns"] = specs
    return mapping


# -- pass 1: page and spool -----------------------------------------------------------------------


class _Seen:
    """What pass 1 learned: the columns in first-seen order and the JSON types of their values."""

    def __init__(self) -> None:
        self.columns: dict[str, None] = {name: None for name in NATIVE_COLUMNS}
        self.kinds: dict[str, set[str]] = {}
        self.rows = 0
        self.pages = 0

    def note(self, row: dict[str, Any]) -> None:
        for name, value in row.items():
            if name not in self.columns:
                self.columns[name] = None
            if value is not None:
                self.kinds.setdefault(name, set()).add(_json_kind(value))

    def type_of(self, name: str) -> str:
        if name in DATE_COLUMNS:
            return "datetime"
        kinds = self.kinds.get(name, set())
        if kinds <= {"str"}:
            return "str"
        if len(kinds) == 1 and kinds <= {"int", "float", "bool"}:
            return next(iter(kinds))
        if kinds == {"int", "float"}:
            return "float"
        return "json"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "json"


def _task_pages(client: FragmentClient, query: dict[str, Any]) -> Iterator[Page]:
    """Every page of the search, asking for the largest page; smaller if the server refuses it."""
    page_size = MAX_PAGE_SIZE
    while True:
        yielded = False
        try:
            for page in client.iter_pages("/tasks", query, page_size=page_size):
                yielded = True
                yield page
            return
        except RequestRejected:
            if yielded or page_size == 1:
                raise
            page_size //= 2


def _collect(pages: Iterator[Page], spool: Path, *, limit: int | None, progress: bool | None) -> _Seen:
    seen = _Seen()
    bar = None
    try:
        with open(spool, "w", encoding="utf-8") as handle:
            for page in pages:
                if bar is None:
                    total = page.total_count if limit is None or page.total_count is None else min(limit, page.total_count)
                    bar = progress_bar(total, unit="task", description="export", enabled=progress)
                seen.pages += 1
                items = page.items if limit is None else page.items[: limit - seen.rows]
                for task in items:
                    row = flatten(task)
                    seen.note(row)
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                seen.rows += len(items)
                bar.update(len(items))
                if limit is not None and seen.rows >= limit:
                    break
    finally:
        if bar is not None:
            bar.close()
    return seen


def _choose(available: Any, wanted: list[str] | None) -> list[str]:
    names = list(available)
    if wanted is None:
        return names
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise ConfigError(f"no column {unknown[0]!r} in this export; its columns are: {', '.join(names)}")
    return list(wanted)


@contextmanager
def _spool(out: Path) -> Iterator[Path]:
    """A temporary file beside the output (same disk), removed whatever happens."""
    directory = out.parent if out.parent.exists() else Path(tempfile.gettempdir())
    handle = tempfile.NamedTemporaryFile(prefix=f".{out.name}.", suffix=".spool", dir=directory, delete=False)
    handle.close()
    path = Path(handle.name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _frames(spool: Path, columns: list[str]) -> Iterator[pd.DataFrame]:
    """The spooled rows, ``CHUNK_ROWS`` at a time, with exactly ``columns``."""
    with open(spool, encoding="utf-8") as handle:
        batch: list[dict[str, Any]] = []
        for line in handle:
            batch.append(json.loads(line))
            if len(batch) >= CHUNK_ROWS:
                yield _frame(batch, columns)
                batch = []
        if batch:
            yield _frame(batch, columns)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([row.get(name) for row in rows], dtype=object) for name in columns})


# -- pass 2: write ----------------------------------------------------------------------------------


def _write(kind: str, out: Path, frames: Iterator[pd.DataFrame], types: Mapping[str, str], *, excel_csv: bool, guard: bool) -> None:
    """Write to a temporary file, then rename: a failed export never leaves half a file."""
    partial = out.with_name(out.name + ".partial")
    try:
        {"csv": _write_csv, "xlsx": _write_xlsx, "jsonl": _write_jsonl, "parquet": _write_parquet}[kind](
            partial, frames, types, excel_csv=excel_csv, guard=guard
        )
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def _text_cells(frame: pd.DataFrame, types: Mapping[str, str], guard: bool) -> pd.DataFrame:
    """Each cell as the text that imports back to the same value under the sidecar's types."""
    rendered = {}
    for name in frame.columns:
        kind = types.get(name, "str")
        render = _RENDER.get(kind, _as_text)
        escape = guard and kind in ("str", "json") and name not in DATE_COLUMNS
        rendered[name] = [None if value is None else _guarded(render(value), escape) for value in frame[name]]
    return pd.DataFrame(rendered, columns=frame.columns)


def _guarded(text: str, escape: bool) -> str:
    return escape_formula(text) if escape else text


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_RENDER = {
    "json": lambda value: json.dumps(value, ensure_ascii=False),
    "bool": lambda value: "true" if value else "false",
    "int": str,
    "float": repr,
}


def _write_csv(path: Path, frames: Iterator[pd.DataFrame], types: Mapping[str, str], *, excel_csv: bool, guard: bool) -> None:
    encoding = "utf-8-sig" if excel_csv else "utf-8"
    first = True
    for frame in frames:
        # "\r\n" (RFC 4180) also makes the writer quote a cell holding a lone "\r".
        _text_cells(frame, types, guard).to_csv(path, mode="w" if first else "a", header=first, index=False,
                                                encoding=encoding if first else "utf-8", lineterminator="\r\n")
        first = False
    if first:  # no task matched: a header-only file is still a valid export
        pd.DataFrame(columns=list(types)).to_csv(path, index=False, encoding=encoding)


def _write_jsonl(path: Path, frames: Iterator[pd.DataFrame], types: Mapping[str, str], *, excel_csv: bool, guard: bool) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for frame in frames:
            for row in frame.itertuples(index=False, name=None):
                record = {name: value for name, value in zip(frame.columns, row) if value is not None}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _excel_value(value: Any, kind: str, escape: bool) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        # Excel has no time zones (a UTC moment becomes its naive UTC date-time) and keeps only
        # milliseconds: a finer moment stays ISO text, so that the round trip stays exact.
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
        return moment.replace(tzinfo=None) if moment.microsecond % 1000 == 0 else value
    if kind in ("int", "float", "bool"):
        return value
    text = _RENDER["json"](value) if kind == "json" else _as_text(value)
    return _guarded(text, escape)


def _write_xlsx(path: Path, frames: Iterator[pd.DataFrame], types: Mapping[str, str], *, excel_csv: bool, guard: bool) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Tasks")
    names = list(types)
    sheet.append(names)
    kinds = [types[name] for name in names]
    escapes = [guard and kind in ("str", "json") for kind in kinds]
    for frame in frames:
        for row in frame.itertuples(index=False, name=None):
            sheet.append([_excel_value(value, kind, escape) for value, kind, escape in zip(row, kinds, escapes)])
    workbook.save(path)


def _write_parquet(path: Path, frames: Iterator[pd.DataFrame], types: Mapping[str, str], *, excel_csv: bool, guard: bool) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_types = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "datetime": pa.timestamp("us", tz="UTC")}
    schema = pa.schema([(name, arrow_types.get(kind, pa.string())) for name, kind in types.items()])
    with pq.ParquetWriter(path, schema) as writer:
        for frame in frames:
            arrays = [_arrow_column(frame[name], types[name], field.type) for name, field in zip(types, schema)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def _arrow_column(values: pd.Series, kind: str, arrow_type: Any) -> Any:
    import pyarrow as pa

    if kind == "datetime":
        cells = [None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00")) for value in values]
    elif kind == "json":
        cells = [None if value is None else json.dumps(value, ensure_ascii=False) for value in values]
    elif kind == "str":
        cells = [None if value is None else _as_text(value) for value in values]
    else:
        cells = list(values)
    return pa.array(cells, type=arrow_type)
