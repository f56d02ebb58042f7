"""File formats of exports: the writers, and the spreadsheet formula guard shared by export and import.

Every writer takes the column ``names``, their ``types`` (``str``, ``int``, ``float``, ``number``,
``bool``, ``json``, ``datetime``; ``timestamp`` is a read-only moment, which no import reads back)
and an iterator of rows (lists of JSON values in column order, ``None`` for an empty cell), and
streams: memory holds one row (CSV, JSON Lines, Excel) or one row group (Parquet: 10,000 rows
at most, as Arrow data of 64 MB at most), never the whole export. :func:`write_rows` writes to a temporary file beside the
target and renames it, so a failed export never leaves half a file.

How values land in each format:

- **csv**: text. Numbers as JSON writes them, booleans ``true``/``false``, nested values as
  JSON text, a ``json`` column (mixed types) as JSON text for every value (``5`` and ``"x"``),
  dates as the server's ISO 8601 text.
- **xlsx**: numbers and booleans as such, a float written in full (its ``repr``: ``2.0``,
  ``-0.0``, all 17 digits) where openpyxl would round it to 16 digits and write ``2`` for
  ``2.0``; in a ``number`` column (ints and floats), a whole float as the text ``2.0``: a sheet
  reads a whole number as an int; a float past 2**53 as its text, which a sheet's reader refuses
  as a number; text always as a text cell, never a formula (openpyxl takes
  a ``str`` starting with ``=`` for one), with the control characters XML cannot hold, and the
  carriage return it reads as a line feed, written as Excel writes them (``_x000B_``: see
  :func:`excel_escape`); a text longer than a cell holds (32,767 characters) stops the export
  rather than be cut; dates as real date cells in **naive UTC** (Excel has
  no time zones) and to the millisecond (Excel's precision). A ``datetime`` finer than that, or
  before 1900 (Excel's calendar starts then; its day 0, 1899-12-30, reads back as a time of day),
  stays ISO text, so that importing the file back leaves it exactly as it was; a ``timestamp``
  (``created_at`` and the like, never imported) is rounded down to the millisecond instead.
- **jsonl**: one object a row with the JSON values as they are; an empty cell is null, so that
  every line has every column (an import of the file finds the columns its mapping names).
- **parquet**: a schema fixed from the types: int64, float64 (``number`` too: a Parquet column
  cannot hold ints and floats), bool, timestamp[us, UTC], and strings (``json`` columns as JSON
  text).

The formula guard: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is run as a formula by spreadsheet software (CSV injection). Such text is written with a
leading apostrophe, the OWASP recommendation; text that already starts with an apostrophe gets
one more, so that :func:`unescape_formula` undoes :func:`escape_formula` exactly, for every
string. Text of white space only gets the apostrophe too: a reader takes such a cell for an
empty one, which an import would leave out (deleting the field). Only ``str`` columns (and the
header) are guarded: numbers (``-5``) and JSON text never are. In xlsx
a text cell is never run, but the guard stays on by default there too: a sheet saved from Excel
as CSV runs it once opened again; without the guard, xlsx text is written exactly as it is.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any

from fragment_bulk.errors import ConfigError

FORMATS = ("csv", "xlsx", "jsonl", "parquet")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = (*FORMULA_TRIGGERS, "'")
_ESCAPED_FIRST = frozenset(_ESCAPED)
CHUNK_ROWS = 10_000  # rows a Parquet row group holds
CHUNK_CELLS = 1_000_000  # cells held as Python values at once (a wide export's rows are turned into Arrow fewer at a time)
SLICE_ROWS = 500  # but at least this many rows at a time: each slice costs an Arrow array per column
ROW_GROUP_BYTES = 64 << 20  # the Arrow data a Parquet row group holds at most, in memory until it is written


def column_name(header: Any) -> str:
    """The name a header cell gives its column: without the space around it (and a BOM). A mapping
    names its columns so too, so that the field `` Notes `` an export wrote as a header finds its
    column again once the reader has trimmed it."""
    return "" if header is None else str(header).replace("\ufeff", "").strip()


EXACT_IN_A_DOUBLE = 2**53  # past it, a double (an Excel number) holds only some whole numbers
EXCEL_CELL_CHARACTERS = 32_767  # the most an .xlsx cell holds (openpyxl cuts the rest off silently)
EXCEL_ROWS, EXCEL_COLUMNS = 1_048_576, 16_384  # the most a sheet holds (openpyxl writes past them, Excel cuts)
_EXCEL_CODE = re.compile(r"_x([0-9A-Fa-f]{4})_")
# XML 1.0 holds none of these (nor the non-characters U+FFFE and U+FFFF, nor half a character),
# and reads \r as \n: written as Excel does, _x000D_ (tab and \n are kept).
_CONTROL = "\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff"
_EXCEL_CONTROL = re.compile(f"[{_CONTROL}]")
# The "_" of a look-alike; a lookahead, so that the "_" ending one look-alike can begin the next;
# "_x0041" before a control character is one too, since that character's code begins with "_".
_EXCEL_LOOKS_CODED = re.compile(f"_(?=x[0-9A-Fa-f]{{4}}(?:_|[{_CONTROL}]))")


def excel_escape(text: str) -> str:
    """Text as an .xlsx cell holds it (OOXML's ``_xHHHH_`` escapes, as Excel writes them): a
    control character as its code, and text that looks like a code with its ``_`` escaped
    (``_x005F_``), so that :func:`excel_unescape` gives ``text`` back exactly."""
    if "_x" in text:
        text = _EXCEL_LOOKS_CODED.sub("_x005F_", text)
    return _EXCEL_CONTROL.sub(lambda found: f"_x{ord(found.group()):04X}_", text)


def excel_unescape(text: str) -> str:
    """The text an .xlsx cell means: each ``_xHHHH_`` is the character it codes (Excel writes a
    carriage return or a control character so; openpyxl leaves them coded)."""
    return _EXCEL_CODE.sub(lambda found: chr(int(found.group(1), 16)), text) if "_x" in text else text


def escape_formula(text: str) -> str:
    """``text`` made inert for spreadsheets (``=1+1`` -> ``'=1+1``); a text of white space only
    too (``"  "`` -> ``"'  "``), which every reader takes for an empty cell."""
    return "'" + text if text.startswith(_ESCAPED) or text.isspace() else text


def guard_may_change(firsts: Iterable[str]) -> bool:
    """Whether :func:`escape_formula` may change a text that starts with one of ``firsts``."""
    return any(first in _ESCAPED_FIRST or first.isspace() for first in firsts)


def unescape_formula(text: str) -> str:
    """The inverse of :func:`escape_formula`."""
    rest = text[1:]
    return rest if text.startswith("'") and (rest.startswith(_ESCAPED) or rest.isspace()) else text


def format_of(path: Path, given: str | None) -> str:
    """The export format: ``given``, else from the extension; checked before any request is sent."""
    chosen = (given or path.suffix.lstrip(".")).lower()
    if chosen == "ndjson":
        chosen = "jsonl"
    named = path.suffix.lstrip(".").lower()
    if given and named in FORMATS and named != chosen:  # a workbook named .csv reads back as garbage
        raise ConfigError(f"{path.name} is named as {named} but --format is {given}: name the file .{chosen}")
    if chosen not in FORMATS:
        raise ConfigError(f"cannot tell the format of {path.name}: use one of .{', .'.join(FORMATS)} or --format")
    if chosen == "parquet":
        require_pyarrow()
    return chosen


def check_fits_a_sheet(name: str, *, rows: int = 0, columns: int = 0) -> None:
    """Refuse an .xlsx export of more data ``rows`` or ``columns`` than a sheet holds (openpyxl
    would write them, and Excel cut them off); an export checks as it pages, not hours later."""
    beyond = "more than an Excel sheet holds: export to .csv, .jsonl or .parquet"
    if columns > EXCEL_COLUMNS:
        raise ConfigError(f"{name}: {columns:,} columns, {beyond} ({EXCEL_COLUMNS:,} columns)")
    if rows > EXCEL_ROWS - 1:
        raise ConfigError(f"{name}: more than {EXCEL_ROWS - 1:,} rows, {beyond} ({EXCEL_ROWS:,} rows with the header)")


def require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError("parquet export needs pyarrow: pip install 'fragment-bulk[parquet]'") from None


def write_rows(kind: str, path: Path, names: Sequence[str], types: Sequence[str], rows: Iterable[list[Any]], *,
               excel_csv: bool = False, guard: bool = True, unguarded: Collection[int] = ()) -> None:
    """Write ``rows`` to ``path`` in format ``kind`` (from :func:`format_of`), through a temporary file and a rename.

    ``unguarded``: the positions of columns known to hold no text the guard would change, which
    need no look at each cell (see :func:`guard_may_change`).
    """
    writer = {"csv": _write_csv, "xlsx": _write_xlsx, "jsonl": _write_jsonl, "parquet": _write_parquet}[kind]
    guards = [guard and kind in ("csv", "xlsx") and index not in unguarded for index in range(len(names))]
    partial = path.with_name(path.name + ".partial")
    try:
        writer(partial, list(names), list(types), iter(rows), excel_csv=excel_csv, guards=guards)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment from the API (``...Z`` or ``...+00:00``) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)


def utc_text(moment: datetime) -> str:
    """``moment`` as the API's UTC text (``...Z``); a time without a zone is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


# -- cell rendering -----------------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _text_renderer(kind: str, guard: bool) -> Callable[[Any], Any] | None:
    """How a text format writes one non-empty cell of a column; ``None``: as the csv module does.

    The csv module already writes ``str``, ``int`` and ``float`` (``repr``, as JSON does) right,
    so most columns need no Python call per cell.
    """
    if kind == "str":
        return escape_formula if guard else None
    if kind == "bool":
        return lambda value: "true" if value else "false"
    if kind == "json":
        return _json_text
    return None


def _excel_renderer(kind: str, guard: bool) -> Callable[[Any], Any] | None:
    if kind == "datetime":
        return _excel_moment
    if kind == "timestamp":
        return _excel_moment_rounded
    if kind == "json":
        return _json_text
    if kind == "str" and guard:
        return escape_formula
    return None


_EXCEL_FIRST_DAY = datetime(1900, 1, 1)  # Excel's day 1; the days before its epoch read back as times of day


def _excel_moment(text: str) -> Any:
    # Excel has no time zones (a UTC moment becomes its naive UTC date-time) and keeps only
    # milliseconds: a finer moment, or one before Excel's calendar, stays ISO text, so that the
    # round trip stays exact.
    moment = parse_moment(text).astimezone(timezone.utc).replace(tzinfo=None)
    return moment if moment.microsecond % 1000 == 0 and moment >= _EXCEL_FIRST_DAY else text


def _excel_moment_rounded(text: str) -> Any:
    moment = parse_moment(text).astimezone(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000) if moment >= _EXCEL_FIRST_DAY else text


def _rendered(rows: Iterator[list[Any]], renderers: list[Callable[[Any], Any] | None]) -> Iterator[list[Any]]:
    """Rows with each non-empty cell passed through its column's renderer (if it has one).

    The formula guard is inlined (a set lookup on the first character), as it runs on most
    cells of most exports: a function call per cell would cost more than writing the cell.
    """
    guarded = [index for index, render in enumerate(renderers) if render is escape_formula]
    special = [(index, render) for index, render in enumerate(renderers) if render not in (None, escape_formula)]
    if not guarded and not special:
        yield from rows
        return
    for row in rows:
        for index in guarded:
            value = row[index]
            if value is not None and (value[:1] in _ESCAPED_FIRST or value[:1].isspace() and value.isspace()):
                row[index] = "'" + value
        for index, render in special:
            value = row[index]
            if value is not None:
                row[index] = render(value)
        yield row


# -- the writers ----------------------------------------------------------------------------------------


def _write_csv(path: Path, names: list[str], types: list[str], rows: Iterator[list[Any]], *, excel_csv: bool, guards: list[bool]) -> None:
    # "utf-8-sig" writes the BOM Excel needs to read UTF-8; "\r\n" (RFC 4180) also makes the
    # writer quote a cell holding a lone "\r".
    with open(path, "w", encoding="utf-8-sig" if excel_csv else "utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(names)
        writer.writerows(_rendered(rows, [_text_renderer(kind, guard) for kind, guard in zip(types, guards)]))


def _write_jsonl(path: Path, names: list[str], types: list[str], rows: Iterator[list[Any]], *, excel_csv: bool, guards: list[bool]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            record = dict(zip(names, row))
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _write_xlsx(path: Path, names: list[str], types: list[str], rows: Iterator[list[Any]], *, excel_csv: bool, guards: list[bool]) -> None:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    shown = path.name.removesuffix(".partial")
    check_fits_a_sheet(shown, columns=len(names))
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Tasks")

    def within_sheet(rows: Iterator[list[Any]]) -> Iterator[list[Any]]:
        for number, row in enumerate(rows, 2):
            if number > EXCEL_ROWS:
                check_fits_a_sheet(shown, rows=number - 1)
            yield row

    def typed(value: str, data_type: str) -> Any:
        # openpyxl types a cell by its value: a str starting with "=" would be a formula with no
        # saved result (read back empty), and a float would be written to 16 digits ("2" for 2.0).
        cell = WriteOnlyCell(sheet, value)
        cell.data_type = data_type
        return cell

    def text(value: str, row: int, column: int) -> Any:
        value = excel_escape(value)
        if len(value) > EXCEL_CELL_CHARACTERS:
            raise ConfigError(
                f"{shown}: row {row}, column {names[column]!r} holds {len(value):,}"
                f" characters, more than an .xlsx cell holds ({EXCEL_CELL_CHARACTERS:,}): export to .csv or .jsonl,"
                " which keep it whole")
        return typed(value, "s") if value[:1] == "=" else value

    try:
        _append_rows(sheet, names, types, within_sheet(rows), text, typed, guards)
    except BaseException:
        with contextlib.suppress(Exception):  # its rows writer finished and its temporary file gone, not left to GC
            sheet.close()
            sheet._writer.cleanup()
        raise
    workbook.save(path)


def _append_rows(sheet: Any, names: list[str], types: list[str], rows: Iterator[list[Any]], text: Callable[..., Any],
                 typed: Callable[[str, str], Any], guards: list[bool]) -> None:
    texts = [index for index, kind in enumerate(types) if kind in ("str", "json")]
    floats = [index for index, kind in enumerate(types) if kind in ("float", "number")]
    mixed = {index for index, kind in enumerate(types) if kind == "number"}
    sheet.append([text(name, 1, index) for index, name in enumerate(names)])
    for number, row in enumerate(_rendered(rows, [_excel_renderer(kind, guard) for kind, guard in zip(types, guards)]), 2):
        for index in texts:
            if row[index] is not None:
                row[index] = text(row[index], number, index)
        for index in floats:
            value = row[index]
            if type(value) is float:
                # A sheet reads a whole number as an int (Excel has no other), so in a column
                # holding ints and floats, 2.0 is written as the text "2.0", which reads back as
                # the float it is; so is a float past 2**53, which a sheet's reader refuses as a
                # number (an ID whose digits Excel lost, most often); any other float as a
                # number, read back by float() exactly.
                as_text = value.is_integer() and (index in mixed or abs(value) > EXACT_IN_A_DOUBLE)
                row[index] = typed(repr(value), "s" if as_text else "n")
        sheet.append(row)


def _write_parquet(path: Path, names: list[str], types: list[str], rows: Iterator[list[Any]], *, excel_csv: bool, guards: list[bool]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    moment = pa.timestamp("us", tz="UTC")
    arrow_types = {"int": pa.int64(), "float": pa.float64(), "number": pa.float64(), "bool": pa.bool_(), "datetime": moment, "timestamp": moment}
    schema = pa.schema([(name, arrow_types.get(kind, pa.string())) for name, kind in zip(names, types)])
    convert = {"datetime": parse_moment, "timestamp": parse_moment, "json": _json_text}
    renderers = [convert.get(kind) for kind in types]
    # Rows become Arrow a slice at a time (a slice of a wide export holds as many cells as one of a
    # narrow one), gathered into row groups of CHUNK_ROWS rows, or fewer of a wide export: 10,000
    # rows of 2,000 columns as Python values took 1.7 GB.
    step = min(CHUNK_ROWS, max(SLICE_ROWS, CHUNK_CELLS // max(1, len(names))))
    group: list[Any] = []
    with pq.ParquetWriter(path, schema) as writer:
        while chunk := list(islice(rows, step)):
            columns = zip(*_rendered(iter(chunk), renderers)) if names else ()
            arrays = [pa.array(list(values), type=field.type) for values, field in zip(columns, schema)]
            group.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
            if sum(map(len, group)) >= CHUNK_ROWS or sum(batch.nbytes for batch in group) >= ROW_GROUP_BYTES:
                writer.write_table(pa.Table.from_batches(group, schema=schema), row_group_size=CHUNK_ROWS)
                group = []
        if group:
            writer.write_table(pa.Table.from_batches(group, schema=schema), row_group_size=CHUNK_ROWS)
