"""Readers: CSV, Excel, JSON Lines and DataFrames as a stream of row chunks.

Every source becomes a :class:`Table`: its ``columns`` (the original headers, trimmed, unique)
and ``chunks()``, a fresh streaming iterator of :class:`Chunk` each call, so the engine can read
the input twice (validate, then send) without ever holding it whole.

A chunk's frame has object dtype, cells as Python values (``None`` for an empty cell) and the
row *labels* as its index: what users see in messages and results.

- CSV: the spreadsheet row number. The header is row 1 and the first record row 2; a quoted
  cell spanning several lines is still one record, so one row. Lines above the header (a
  ``header_row``, or Excel's ``sep=;`` line) are skipped and keep their numbers: with the header
  on line 3, the first record is row 4. Text stays text (``00123``,
  ``NA`` and ``null`` are kept as written). Empty and whitespace-only cells are ``None`` (only
  empty ones, when ``blank_text_is_empty`` is false: an export without the formula guard);
  rows with fewer cells than the header get ``None`` for the missing ones; rows with every
  cell empty (blank lines included) are skipped, without shifting the labels of later rows.
- Excel: the sheet's row number; the header is ``header_row``, else the first non-empty row
  unless a title or notes above the table are to be skipped (see :func:`_header_index`). Date
  cells are ``datetime``, whole numbers ``int``; fully empty rows are skipped.
- JSON Lines: the line number (there is no header). The columns are the union of the objects'
  keys in first-seen order, found by a first pass over the file when it is opened.
- DataFrame: the index label. NaN / NaT / ``pd.NA`` / ``None`` become ``None``; numpy scalars,
  Timestamps and nullable integers become Python ``int`` / ``float`` / ``bool`` / ``datetime``.
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import html
import io
import json
import numbers
import pickle
import re
import sys
from bisect import bisect_right
from collections.abc import Collection, Iterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from itertools import islice
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from fragment_bulk.ahead import read_ahead
from fragment_bulk.errors import FlawedCell, InputError, ShownDigits
from fragment_bulk.formats import EXACT_IN_A_DOUBLE, column_name, excel_unescape
from fragment_bulk.workbooks import SharedStrings, load_workbook

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
DELIMITERS = ",;\t|"
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
SAMPLE_BYTES = 1 << 20
FIRST_CHUNK_RECORDS = 200
ARROW_BLOCK_BYTES = 1 << 19  # pyarrow parses a few dozen blocks ahead: this bounds that memory
ARROW_READ_AHEAD = 4  # blocks parsed ahead, without the GIL, while the rows before are checked


class Chunk:
    """Consecutive rows: ``start`` is the ordinal of the first, ``labels`` their labels, and
    ``frame`` their cells (object dtype; None for an empty cell)."""

    text_only = False  # whether every cell is a str or None (as read from CSV text)

    def __init__(self, start: int, frame: pd.DataFrame):
        self.start = start
        self._frame = frame

    @property
    def frame(self) -> pd.DataFrame:
        return self._frame

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    @property
    def labels(self) -> pd.Index:
        return self.frame.index

    def __len__(self) -> int:
        return len(self.labels)

    def column(self, name: str) -> tuple[np.ndarray | None, np.ndarray]:
        """One column as (codes, values): cell i is ``values[codes[i]]``, or ``values[i]`` when
        ``codes`` is None. A reader that knows a column's distinct cells hands each over once."""
        return None, self.frame[name].to_numpy(dtype=object)

    def missing(self, name: str) -> np.ndarray:
        """Which cells of the column are empty (None, NaN or "")."""
        cells = self.frame[name].to_numpy(dtype=object)
        return pd.isna(cells) | (cells == "")


class Table:
    """A readable input: ``columns``, ``source_name``, ``fingerprint()``, ``chunks()``."""

    columns: list[str]
    source_name: str
    # What the user should know about how the input reads, though it is no reason to stop (one
    # line each, shown as the run's other notes are).
    notes: tuple[str, ...] = ()

    def chunks(self, *, ramp: bool = True) -> Iterator[Chunk]:
        """The rows in chunks; ``ramp``: small ones first where reading is streamed (the first
        batch goes out sooner), which a pass that only checks has no use for."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        raise NotImplementedError

    def count_rows(self) -> int:
        return sum(len(chunk) for chunk in self.chunks())

    def notes_for(self, columns: Collection[str]) -> tuple[str, ...]:
        """The notes that concern the ``columns`` a job reads (a merge in a column it ignores does not)."""
        return self.notes

    def merged_range_at(self, row: Any, column: str | None) -> str | None:
        """The merged range (``"B3:B5"``) that empties the cell of ``row`` (a label) in ``column``:
        a cell of it other than its top-left one, which alone holds the value. Only a sheet has any."""
        return None


def open_table(
    source: str | Path | pd.DataFrame,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | int | None = None,
    header_row: int | None = None,
    blank_text_is_empty: bool = True,
    chunk_size: int = 20_000,
) -> Table:
    """The :class:`Table` for a file (by its extension) or a DataFrame; InputError if unreadable.
    ``header_row``: the header's row (from 1, as the sheet's rows or the file's lines are
    numbered); the rows above it are not read. ``blank_text_is_empty=False``: text cells of white
    space only are values, not empty (an export's frame, or a file exported without the formula
    guard, holds the server's own)."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    if header_row is not None and (isinstance(header_row, bool) or not isinstance(header_row, numbers.Integral)):
        raise InputError(f"the header row is a row number (1 for the first row), not {header_row!r}")
    if header_row is not None and header_row < 1:
        raise InputError(f"the header row must be 1 or more (rows are numbered from 1), not {header_row}")
    if isinstance(source, pd.DataFrame):
        if header_row is not None:
            raise InputError("a DataFrame's columns are its header: the header row is for CSV and Excel files")
        return FrameTable(source, chunk_size=chunk_size, blank_text_is_empty=blank_text_is_empty)
    if not isinstance(source, (str, PathLike)):
        raise InputError(f"the input must be a file path or a DataFrame, not {type(source).__name__}")
    path = Path(source)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise InputError(f"{path}: a folder, not a file")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if sheet is not None and suffix not in EXCEL_SUFFIXES:
        raise InputError(f"{path.name}: --sheet is for Excel workbooks; this file has no sheets")
    header_row = None if header_row is None else int(header_row)
    if suffix in CSV_SUFFIXES:
        return CsvTable(path, encoding=encoding, delimiter=delimiter, header_row=header_row, chunk_size=chunk_size,
                        blank_text_is_empty=blank_text_is_empty)
    if suffix in EXCEL_SUFFIXES:
        return ExcelTable(path, sheet=sheet, header_row=header_row, chunk_size=chunk_size, blank_text_is_empty=blank_text_is_empty)
    if header_row is not None and suffix in JSONL_SUFFIXES:
        raise InputError(f"{path.name}: --header-row is for CSV and Excel files; JSON Lines has no header row")
    if suffix in JSONL_SUFFIXES:
        return JsonLinesTable(path, encoding=encoding, chunk_size=chunk_size)
    if suffix == ".xls":
        raise InputError(f"{path.name}: the old .xls format is not supported; save it as .xlsx")
    known = ", ".join(CSV_SUFFIXES + EXCEL_SUFFIXES + JSONL_SUFFIXES)
    raise InputError(f"{path.name}: unknown file type {suffix or '(no extension)'!r}; expected one of {known}")


# -- shared helpers ---------------------------------------------------------------------------


def file_fingerprint(path: Path, *how_read: str) -> str:
    """sha256 of the file's bytes and of how they are read (encoding, delimiter, sheet)."""
    digest = hashlib.sha256("\0".join(how_read).encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(SAMPLE_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def clean_header(names: list[Any], source: str, *, row: int = 1, first_column: int = 1) -> list[str]:
    """Headers trimmed (BOM too), each non-empty and unique; InputError naming the column (by its
    position in the sheet: the header may start at ``first_column`` of ``row``)."""
    cleaned = [column_name(name) for name in names]
    seen: dict[str, int] = {}
    for position, name in enumerate(cleaned, first_column):
        if not name:
            raise InputError(f"{source}: column {position} of the header (row {row}) has no name", column=None)
        if name in seen:
            raise InputError(
                f"{source}: column {name!r} appears twice (columns {seen[name]} and {position})", column=name
            )
        seen[name] = position
    if not cleaned:
        raise InputError(f"{source} has no columns" if source == "the DataFrame" else f"{source}: the header (row {row}) is empty")
    return cleaned


def _object_frame(values: np.ndarray, columns: list[str], labels: Any) -> pd.DataFrame:
    return pd.DataFrame(values, index=labels, columns=columns, dtype=object, copy=False)


def _blank_cells(values: np.ndarray) -> np.ndarray:
    """Mask of the empty or whitespace-only text cells of an object array of str (vectorised)."""
    blank = values == ""
    # Only a cell whose first character is white space can be all white space.
    candidates = np.char.isspace(values.astype("U1"))
    if candidates.any():
        rows, cols = np.nonzero(candidates)
        keep = np.fromiter((not text.strip() for text in values[rows, cols]), dtype=bool, count=len(rows))
        blank[rows[keep], cols[keep]] = True
    return blank


def _chunked(rows: Iterator[tuple[Any, list[Any]]], columns: list[str], size: int) -> Iterator[Chunk]:
    """(label, cells) rows in chunks of ``size``, fully empty rows left out."""
    ordinal = 0
    values: list[list[Any]] = []
    labels: list[Any] = []
    for label, cells in rows:
        if all(cell is None for cell in cells):
            continue
        values.append(cells)
        labels.append(label)
        if len(values) >= size:
            yield Chunk(ordinal, _rows_frame(values, labels, columns))
            ordinal += len(values)
            values, labels = [], []
    if values:
        yield Chunk(ordinal, _rows_frame(values, labels, columns))


def _rows_frame(values: list[list[Any]], labels: list[Any], columns: list[str]) -> pd.DataFrame:
    array = np.empty((len(values), len(columns)), dtype=object)
    for row, cells in enumerate(values):
        for column, cell in enumerate(cells):
            array[row, column] = cell  # one by one: numpy must not read list cells as a dimension
    return _object_frame(array, columns, pd.Index(labels))


def _chunk_sizes(largest: int, first: int = FIRST_CHUNK_RECORDS) -> Iterator[int]:
    """Records per chunk: ``first`` at first (small, so that the first batch is sent while the
    rest of the file is still being mapped), then doubling up to ``largest``."""
    size = min(largest, first)
    while True:
        yield size
        size = min(largest, size * 2)


# -- pyarrow, the optional fast CSV path ------------------------------------------------------


@functools.cache
def _arrow() -> tuple[Any, Any, Any] | None:
    """(pyarrow, pyarrow.compute, pyarrow.csv), or None: then every CSV goes through pandas."""
    try:
        import pyarrow
        import pyarrow.compute
        import pyarrow.csv
    except ImportError:
        return None
    return pyarrow, pyarrow.compute, pyarrow.csv


class _ArrowDisagrees(Exception):
    """pyarrow would read this file otherwise than pandas: let pandas read it."""


def _arrow_encoding(encoding: str) -> str:
    # pyarrow reads UTF-8 natively and skips its BOM; any other codec is a (slower) transcoding.
    return "utf8" if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") else encoding


def _arrow_values(compute: Any, table: Any, shared: list[bool], blank_is_empty: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A table of text columns as (object array of str, mask of the empty or blank cells: only
    the empty ones, when not ``blank_is_empty``).

    A column marked in ``shared`` (few distinct values: a status, a country) is dictionary-encoded
    first, so each distinct text becomes one Python string shared by its cells rather than one
    string per cell: faster to make, to free and to hash, and smaller. ``shared`` is updated from
    what this chunk held, for the next one.
    """
    # Column-major: each column is written in one contiguous run, and is what pandas keeps.
    values = np.empty((table.num_rows, table.num_columns), dtype=object, order="F")
    blank = np.empty((table.num_rows, table.num_columns), dtype=bool, order="F")
    for position, column in enumerate(table.columns):
        if shared[position]:
            encoded = compute.dictionary_encode(column.combine_chunks())
            codes = encoded.indices.to_numpy()
            values[:, position] = encoded.dictionary.to_numpy(zero_copy_only=False)[codes]
            blank[:, position] = _blank_texts(compute, encoded.dictionary, blank_is_empty)[codes]
            shared[position] = 2 * len(encoded.dictionary) <= len(column)
        else:
            values[:, position] = column.to_numpy()
            blank[:, position] = _blank_texts(compute, column, blank_is_empty)
    return values, blank


def _blank_texts(compute: Any, texts: Any, blank_is_empty: bool = True) -> np.ndarray:
    """Which texts are empty or white space only (only empty, when not ``blank_is_empty``)."""
    empty = compute.equal(compute.binary_length(texts), 0)
    if blank_is_empty:  # utf8_is_space agrees with str.isspace on every code point, and is false for ""
        empty = compute.or_(empty, compute.utf8_is_space(texts))
    return empty.to_numpy(zero_copy_only=False)


def _record_count(block: Any) -> int:
    return len(block[0]) if isinstance(block, tuple) else block.num_rows


def _object_chunk(start: int, values: np.ndarray, blank: np.ndarray, labels: pd.Index, columns: list[str], *,
                  blank_text_is_empty: bool = True) -> Chunk | None:
    """The chunk of a block of cells, blank cells None (or only empty ones, when not
    ``blank_text_is_empty``) and blank records left out (None when all are)."""
    kept = ~blank.all(axis=1)
    values[blank if blank_text_is_empty else values == ""] = None
    if not kept.all():
        values, labels = values[kept], labels[kept]
    return Chunk(start, _object_frame(values, columns, labels)) if len(values) else None


class _ArrowChunk(Chunk):
    """A chunk read by pyarrow, kept as Arrow text until its cells are asked for.

    Checking the rows needs only the columns with something to check (a type, a required
    value, a key), so the others never become Python strings in that pass; ``frame`` is built
    when the rows are mapped.
    """

    text_only = True

    def __init__(self, start: int, table: Any, labels: pd.Index, columns: list[str], shared: list[bool], *,
                 blank_text_is_empty: bool = True):
        self.start = start
        self._table = table
        self._labels = labels
        self._columns = columns
        self._shared = shared  # per column: few distinct values so far (see _arrow_values)
        self._built: pd.DataFrame | None = None
        self._blank_is_empty = blank_text_is_empty
        # Text or None, and never white space only: what text_only promises the mapping.
        self.text_only = blank_text_is_empty

    @classmethod
    def of(cls, start: int, table: Any, labels: pd.Index, columns: list[str], shared: list[bool], *,
           blank_text_is_empty: bool = True) -> "_ArrowChunk | None":
        """The chunk of ``table``'s records, blank records left out (None when all are blank)."""
        compute = _arrow()[1]
        blank = None
        for column in table.columns:  # a record is blank when all its cells are: usually settled by the first
            column_blank = _blank_texts(compute, column)
            blank = column_blank if blank is None else blank & column_blank
            if not blank.any():
                break
        if blank is not None and blank.any():
            table, labels = table.filter(_arrow()[0].array(~blank)), labels[~blank]
        return cls(start, table, labels, columns, shared, blank_text_is_empty=blank_text_is_empty) if table.num_rows else None

    @property
    def frame(self) -> pd.DataFrame:
        if self._built is None:
            values, blank = _arrow_values(_arrow()[1], self._table, self._shared, self._blank_is_empty)
            values[blank] = None
            self._built = _object_frame(values, self._columns, self._labels)
        return self._built

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @property
    def labels(self) -> pd.Index:
        return self._labels

    def __len__(self) -> int:
        return self._table.num_rows

    def missing(self, name: str) -> np.ndarray:
        if self._built is not None:
            return super().missing(name)
        return _blank_texts(_arrow()[1], self._table.column(self._columns.index(name)), self._blank_is_empty)

    def column(self, name: str) -> tuple[np.ndarray | None, np.ndarray]:
        if self._built is not None:
            return super().column(name)
        compute = _arrow()[1]
        position = self._columns.index(name)
        texts = self._table.column(position).combine_chunks()
        if self._shared[position]:
            encoded = compute.dictionary_encode(texts)
            distinct = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object, copy=False)
            distinct[_blank_texts(compute, encoded.dictionary, self._blank_is_empty)] = None
            self._shared[position] = 2 * len(distinct) <= len(texts)
            return encoded.indices.to_numpy(), distinct
        values = texts.to_numpy(zero_copy_only=False).astype(object, copy=False)
        values[_blank_texts(compute, texts, self._blank_is_empty)] = None
        return None, values


# -- CSV --------------------------------------------------------------------------------------


class CsvTable(Table):
    """A delimited text file, streamed with pyarrow's CSV reader when pyarrow is installed (about
    three times faster), else, or when pyarrow stops on the file, with pandas' C parser. Both give
    the same rows and labels (see the module docstring and :meth:`_blocks`)."""

    def __init__(self, path: Path, *, encoding: str | None, delimiter: str | None, header_row: int | None = None,
                 chunk_size: int, blank_text_is_empty: bool = True):
        self.path = path
        self.source_name = path.name
        self.chunk_size = chunk_size
        self.blank_text_is_empty = blank_text_is_empty
        with open(path, "rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
        if not sample.strip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n"):
            raise InputError(f"{self.source_name}: the file is empty")
        if sample.startswith(b"PK\x03\x04"):  # a zip: what an .xlsx is, whatever its name
            raise InputError(f"{self.source_name}: is a zip file, not text (an Excel workbook? name it .xlsx)")
        head = sample[:4]
        bom = bom_encoding(head)
        # Lines are found before the encoding is guessed (from the header on: the lines above may
        # be another's), by how wide a character is: UTF-16 writes a line break in two bytes.
        lines_in = _line_codec(encoding or bom or _utf16_without_bom(sample) or "latin-1", head)
        sep = _excel_sep_line(sample, lines_in) if header_row is None or header_row > 1 else None
        self.header_row = header_row or (2 if sep else 1)
        self._start = 0  # the byte where the header's line begins
        if self.header_row > 1:
            start = _line_offset(path, self.header_row - 1, lines_in)
            if start is None or start >= path.stat().st_size:
                if header_row is None:
                    raise InputError(f"{self.source_name}: the file is empty but for Excel's sep= line")
                raise InputError(f"{self.source_name}: the header row {self.header_row} is past the end of the file")
            self._start = start
            with open(path, "rb") as handle:
                handle.seek(start)
                sample = handle.read(SAMPLE_BYTES)
        try:
            # (A BOM is at the start of the file, before any line skipped.)
            detected = encoding or bom or detect_encoding(sample, complete=len(sample) < SAMPLE_BYTES)
        except MixedEncoding as exc:
            line = sample[:exc.offset].count(b"\n") + self.header_row
            raise InputError(
                f"{self.source_name}: is UTF-8 text but for some bytes, the first on line {line} (byte"
                f" {sample[exc.offset:exc.offset + 1]!r}): fix them (save the file as UTF-8 again), or give the"
                " encoding of the whole file with --encoding", row=line,
            ) from None
        if detected is None:
            raise InputError(
                f"{self.source_name}: is not UTF-8, and does not read as Western European text (cp1252) either:"
                " give its encoding with --encoding (for example shift_jis, gb18030, cp1251, cp1250)"
            )
        self.encoding = _text_encoding(detected, self.source_name)
        # Read from the header's line, past the BOM: UTF-16 and UTF-32 in the byte order it gave.
        self._codec = _byte_order(self.encoding, head) if self._start else self.encoding
        text = self._decode_sample(sample)
        if delimiter:
            self.delimiter = parse_delimiter(delimiter)
        elif sep:  # Excel's own word for it
            self.delimiter = sep
        else:  # a .tsv says its delimiter: a comma in a cell ("Hello, world") must not win
            self.delimiter = "\t" if path.suffix.lower() == ".tsv" else sniff_delimiter(text)
        if sep and header_row is None:
            given = f" (--delimiter {self.delimiter!r} is used)" if self.delimiter != sep else ""
            self.notes = (f"note: {self.source_name}: line 1 ({'sep=' + sep!r}) names the delimiter for Excel{given} and"
                          " is skipped: the header is row 2 (rows keep the file's line numbers; Excel, which hides that"
                          " line, shows each one row higher)",)
        self._odd_quotes: bool | None = None  # see _quotes_may_be_open
        self.columns = self._read_header()

    def _decode_sample(self, sample: bytes) -> str:
        decoder = codecs.getincrementaldecoder(self._codec)()
        try:
            return decoder.decode(sample, final=False)
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc) from None
        except UnicodeError as exc:  # "UTF-16 stream does not start with BOM"
            raise InputError(f"{self.source_name}: cannot be read as {self.encoding}: {exc}") from None

    def _decode_error(self, exc: UnicodeDecodeError) -> InputError:
        line = first_undecodable_line(self.path, self._codec, start=self._start, first_line=self.header_row)
        where = f" on line {line}" if line else ""
        return InputError(
            f"{self.source_name}: cannot be read as {self.encoding} (byte {exc.object[exc.start:exc.start + 1]!r}{where}"
            f" is not valid {exc.encoding}); give the right --encoding (e.g. cp1252, latin-1)", row=line,
        )

    def _open_text(self) -> io.TextIOWrapper:
        return io.TextIOWrapper(self._open_bytes(), encoding=self._codec, newline="")

    def _open_bytes(self) -> io.BufferedReader:
        """The file, from the header's line on."""
        handle = open(self.path, "rb")
        handle.seek(self._start)
        return handle

    def _read_header(self) -> list[str]:
        try:
            with self._open_text() as handle:
                records = csv.reader(handle, delimiter=self.delimiter)
                header = next(records, None)
                first = _next_record(records)
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc) from None
        except csv.Error as exc:
            raise InputError(f"{self.source_name}: row {self.header_row} (the header) cannot be read: {exc}") from None
        if not header or not any(cell.strip() for cell in header):
            raise InputError(f"{self.source_name}: the header (row {self.header_row}) is empty")
        if first is not None and len(first) > len(header):
            # Checked here because pandas would take the extra cells of the first data row for an
            # index, and then drop the extra cells of every row with a mere warning.
            raise self._ragged_row(self.header_row + 1, len(first), len(header))
        self._raw_header = [cell.lstrip("\ufeff") for cell in header]  # as pyarrow names the columns
        # Trailing delimiters on every line (a spreadsheet's formatted but empty columns) give
        # columns with no name: left out, as long as no row puts a value in them (see _cut_unnamed).
        named = len(header)
        while named > 1 and not header[named - 1].strip():
            named -= 1
        self._unnamed = len(header) - named
        return clean_header(header[:named], self.source_name, row=self.header_row)

    def fingerprint(self) -> str:
        # How the bytes are read is part of the input: another delimiter or header gives other rows.
        skipped = [f"header row {self.header_row}"] if self.header_row != 1 else []
        return file_fingerprint(self.path, self.encoding, self.delimiter, *skipped)

    def chunks(self, *, ramp: bool = True) -> Iterator[Chunk]:
        records = 0  # data records read so far: labels count them all, blank ones included
        ordinal = 0
        shared = [True] * len(self.columns)  # until a chunk shows a column has many distinct values
        try:
            for block in self._blocks(FIRST_CHUNK_RECORDS if ramp else self.chunk_size):
                count = _record_count(block)
                labels = pd.RangeIndex(self.header_row + 1 + records, self.header_row + 1 + records + count)
                records += count
                if self._unnamed:
                    block = self._cut_unnamed(block, labels)
                blank_is_empty = self.blank_text_is_empty
                chunk = (_object_chunk(ordinal, *block, labels, self.columns, blank_text_is_empty=blank_is_empty)
                         if isinstance(block, tuple) else
                         _ArrowChunk.of(ordinal, block, labels, self.columns, shared, blank_text_is_empty=blank_is_empty))
                if chunk is not None:
                    yield chunk
                    ordinal += len(chunk)
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc) from None
        except pd.errors.ParserError as exc:
            raise self._parser_error(exc) from None

    def _cut_unnamed(self, block: Any, labels: pd.Index) -> Any:
        """``block`` without the unnamed trailing columns; InputError if a row has a value there."""
        width = len(self.columns)
        if isinstance(block, tuple):
            values, blank = block
            filled = ~blank[:, width:]
            cells = values[:, width:]
        else:
            compute = _arrow()[1]
            filled = np.column_stack([~_blank_texts(compute, block.column(index)) for index in range(width, block.num_columns)])
            cells = None
        if filled.any():
            row, column = (int(position) for position in np.argwhere(filled)[0])
            value = cells[row, column] if cells is not None else block.column(width + column)[row].as_py()
            raise InputError(
                f"{self.source_name}: row {labels[row]} has a value ({value!r}) in column {width + column + 1},"
                f" which the header does not name", row=labels[row],
            )
        return (values[:, :width], blank[:, :width]) if isinstance(block, tuple) else block.select(range(width))

    def _blocks(self, first: int) -> Iterator[Any]:
        """Consecutive records: pyarrow tables when it can read them, else pandas' (cells, blank
        mask) blocks.

        Both count records alike (a quoted multi-line cell is one), so when pyarrow stops on
        something it does not read as pandas does (a short row, a blank line, bytes that do not
        decode), pandas takes over at the first record not handed out yet: it reads the rest,
        or raises the error the user should see.
        """
        delivered = 0
        arrow = _arrow()
        if arrow is not None:
            try:
                for table in self._arrow_blocks(first):
                    yield table
                    delivered += table.num_rows
                return
            # ArrowInvalid for a short row or bad UTF-8; a transcoding error is the codec's.
            except (_ArrowDisagrees, UnicodeError, arrow[0].ArrowException):
                pass
        yield from self._pandas_blocks(skip=delivered, first=first)

    def _arrow_blocks(self, first: int) -> Iterator[Any]:
        pa, compute, arrow_csv = _arrow()
        source = pa.OSFile(str(self.path))  # closed with the reader (a block read ahead may still need it)
        source.seek(self._start)
        reader = arrow_csv.open_csv(
            source,
            read_options=arrow_csv.ReadOptions(encoding=_arrow_encoding(self._codec), block_size=ARROW_BLOCK_BYTES),
            parse_options=arrow_csv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True, ignore_empty_lines=False),
            convert_options=arrow_csv.ConvertOptions(
                column_types={name: pa.string() for name in self._raw_header}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )
        schema = reader.schema
        if schema.names != self._raw_header or any(field.type != pa.string() for field in schema):
            raise _ArrowDisagrees  # it read the header otherwise than the csv module did
        pending: list[Any] = []
        held = 0
        sizes = _chunk_sizes(self.chunk_size, first)
        size = next(sizes)
        batch = None
        for batch in read_ahead(reader, ARROW_READ_AHEAD, name="fragment-bulk-csv"):
            pending.append(batch)
            held += batch.num_rows
            while held >= size:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, size)
                rest = table.slice(size)
                pending, held = rest.to_batches(), rest.num_rows
                size = next(sizes)
        if self._quotes_may_be_open(batch):
            self._check_quotes_close()
        if held:
            yield pa.Table.from_batches(pending)

    def _quotes_may_be_open(self, last_batch: Any) -> bool:
        """Whether the file may end inside a quote: always when the last record has a cell over
        several lines (what a quote left open swallows: whole rows). When the file does not end
        with a line break (a quote opened on the last line swallows the rest of that line only),
        only if it holds an odd number of ``"``, counted once (a quoted cell has two, an escaped
        quote two more; a stray inch mark can hide it; in UTF-16 or UTF-32, counted in the text)."""
        if last_batch is not None and _ends_in_a_multiline_cell(last_batch):
            return True
        if self._odd_quotes is None:
            with open(self.path, "rb") as handle:
                handle.seek(max(0, self.path.stat().st_size - 4))
                unfinished = not handle.read().rstrip(b"\x00").endswith((b"\n", b"\r"))
            if not unfinished:
                self._odd_quotes = False
                return False
            count = 0  # from the header's line: a quote in a title above it is not the table's
            if codecs.lookup(self._codec).name.startswith(("utf-16", "utf-32", "utf-7")):  # a " is not one byte there
                with io.TextIOWrapper(self._open_bytes(), encoding=self._codec, errors="replace", newline="") as text:
                    while block := text.read(1 << 22):
                        count += block.count('"')
            else:
                with self._open_bytes() as handle:
                    while block := handle.read(1 << 24):
                        count += block.count(b'"')
            self._odd_quotes = count % 2 == 1
        return self._odd_quotes

    def _check_quotes_close(self) -> None:
        """pyarrow takes a quote left open to the end of the file as a cell holding the rest of
        it, rows and all; pandas' C parser refuses it (the readers check every row before any is
        sent, so refusing at the end of the file is in time)."""
        for _ in self._pandas_blocks(skip=sys.maxsize):
            pass

    def _pandas_blocks(self, *, skip: int, first: int = FIRST_CHUNK_RECORDS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The C parser's blocks, leaving out the first ``skip`` records (already handed out)."""
        with self._open_bytes() as handle, pd.read_csv(
            handle,
            sep=self.delimiter,
            encoding=self._codec,
            header=0,
            names=list(range(len(self._raw_header))),
            index_col=False,
            dtype=object,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            chunksize=self.chunk_size,
            engine="c",
        ) as reader:
            for size in _chunk_sizes(self.chunk_size, first):
                try:
                    raw = reader.get_chunk(size)
                except StopIteration:
                    return
                values = raw.to_numpy(dtype=object)
                if skip:
                    left_out = min(skip, len(values))
                    values, skip = values[left_out:], skip - left_out
                    if not len(values):
                        continue
                if not values.flags.writeable:  # a one-column frame hands out a read-only view
                    values = values.copy()
                yield values, _blank_cells(values)

    def _ragged_row(self, row: int, cells: int, expected: int) -> InputError:
        return InputError(
            f"{self.source_name}: row {row} has {cells} cells but the header has {expected}"
            f" (is the delimiter {self.delimiter!r} right, or a quote unclosed?)",
            row=row,
        )

    def _parser_error(self, exc: Exception) -> InputError:
        # The C parser counts records from the header (its line 1), as the spreadsheet rows are
        # counted from the file's first line.
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if match:
            expected, row, saw = (int(group) for group in match.groups())
            return self._ragged_row(row + self.header_row - 1, saw, expected)
        match = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if match:  # counted from 0 at the header
            row = int(match.group(1)) + self.header_row
            return InputError(f"{self.source_name}: row {row}: a quote opens in this row and is never closed", row=row)
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return InputError(f"{self.source_name}: cannot be parsed as CSV: {detail}")


def first_undecodable_line(path: Path, encoding: str, *, start: int = 0, first_line: int = 1) -> int | None:
    """The line (1-based) of the file's first bytes that ``encoding`` cannot read; None if none.
    Only once a read has failed: it reads the file again from ``start`` (line ``first_line``)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = first_line
    with open(path, "rb") as handle:
        handle.seek(start)
        while block := handle.read(1 << 20):
            try:
                lines += decoder.decode(block).count("\n")
            except UnicodeDecodeError as exc:  # what decodes before it (the block, and bytes held from the last)
                before = codecs.getincrementaldecoder(encoding)().decode(exc.object[:exc.start], final=False)
                return lines + before.count("\n")
            except UnicodeError:  # a codec that cannot start (UTF-16 without a BOM): no line to name
                return None
    return None


def _ends_in_a_multiline_cell(batch: Any) -> bool:
    """Whether the last record of ``batch`` has a cell spanning lines: a quote left open to the
    end of the file reads as such a cell (and so, rarely, does a real one)."""
    _, compute, _ = _arrow()
    last = batch.slice(batch.num_rows - 1)
    return any(compute.any(compute.match_substring_regex(column, "[\r\n]")).as_py() for column in last.columns)


def _next_record(records: Iterator[list[str]]) -> list[str] | None:
    """The next record, whatever the size of its cells (the readers take any size; the csv
    module's limit is lifted while it reads this one), or None when it cannot be read."""
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # a C long everywhere
    try:
        return next(records, None)
    except csv.Error:
        return None
    finally:
        csv.field_size_limit(limit)


def _text_encoding(name: str, source: str) -> str:
    """``name`` if it is a codec of text; else a one-line InputError."""
    try:
        codec = codecs.lookup(name)
    except LookupError:
        raise InputError(f"{source}: unknown encoding {name!r}") from None
    if not codec._is_text_encoding:  # rot13, base64...: codecs, but not of text
        raise InputError(f"{source}: {name!r} is not a text encoding")
    return name


def bom_encoding(head: bytes) -> str | None:
    """The codec of the byte-order mark ``head`` starts with (a codec that drops it), or None."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: FF FE starts both
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def detect_encoding(sample: bytes, *, complete: bool) -> str | None:
    """BOM, else UTF-8 if the sample decodes (a character cut at its end is fine), else cp1252
    if the text it gives looks Western European; None when unsure: better to ask than garble."""
    if bom := bom_encoding(sample) or _utf16_without_bom(sample):
        return bom
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
        return "utf-8"
    except UnicodeDecodeError as exc:
        if _mostly_utf8(sample):
            raise MixedEncoding(exc.start) from None
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:
        return None  # bytes cp1252 leaves undefined: latin-1 would read them as control characters
    return "cp1252" if _looks_western(text) else None


def _utf16_without_bom(sample: bytes) -> str | None:
    """``utf-16-le`` or ``utf-16-be`` if ``sample`` looks like it, with no BOM: its ASCII characters
    (the delimiters and line breaks of a CSV, at least) have a zero byte in every other place, and
    other text none in the other places."""
    if 0 not in sample:  # (one quick scan: most files are no UTF-16, and their slices cost milliseconds)
        return None
    pairs = len(sample) // 2
    for encoding, zeros_at in (("utf-16-le", 1), ("utf-16-be", 0)):
        text, zeros = sample[1 - zeros_at:pairs * 2:2], sample[zeros_at:pairs * 2:2]
        if pairs >= 2 and 0 not in text and zeros.count(0) > pairs * 0.2 and _decodes(sample[:pairs * 2], encoding):
            return encoding
    return None


def _byte_order(encoding: str, head: bytes) -> str:
    """``encoding`` for reading past the file's start, where no BOM tells UTF-16 or UTF-32 their
    byte order: the codec of the order the BOM ``head`` starts with gave (else the one Python
    assumes); any other encoding as it is."""
    name = codecs.lookup(encoding).name
    if name not in ("utf-16", "utf-32"):
        return encoding
    if head.startswith(codecs.BOM_UTF16_BE if name == "utf-16" else codecs.BOM_UTF32_BE):
        return f"{name}-be"
    if head.startswith(codecs.BOM_UTF16_LE):  # (which begins UTF-32's little-endian BOM too)
        return f"{name}-le"
    return f"{name}-{'le' if sys.byteorder == 'little' else 'be'}"  # what Python reads without a BOM


def _line_codec(encoding: str, head: bytes) -> str:
    """A codec that finds the line breaks of text in ``encoding``, one byte for one byte of the
    file: UTF-16 and UTF-32 in their byte order, and latin-1 for the others, which write a line
    break as the ASCII byte (and, UTF-8, Shift-JIS, GB18030 or Big5 alike, never use that byte
    within another character)."""
    ordered = _byte_order(encoding, head)
    return ordered if codecs.lookup(ordered).name.startswith(("utf-16", "utf-32")) else "latin-1"


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as the CSV readers take them (a spreadsheet's are \r\n)


def _line_offset(path: Path, lines: int, codec: str) -> int | None:
    """The byte at which line ``lines + 1`` of the file begins, its characters read in ``codec``
    (see :func:`_line_codec`); None if the file has fewer line breaks. Physical lines: the lines
    above a header are a title or notes, not records with a quoted cell over several lines."""
    # A code unit that does not decode is one U+FFFD, which takes as many bytes in UTF-16 or
    # UTF-32 (latin-1 decodes any byte): the bytes are counted right, whatever they hold.
    decoder = codecs.getincrementaldecoder(codec)("replace")
    offset, held = 0, ""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(1 << 20)
            text = held + decoder.decode(block)
            held = "\r" if block and text.endswith("\r") else ""  # maybe half of a \r\n cut by the block
            text = text[:len(text) - len(held)]
            for found in _LINE_BREAK.finditer(text):
                lines -= 1
                if not lines:
                    return offset + len(text[:found.end()].encode(codec))
            offset += len(text.encode(codec))
            if not block:
                return None


# Excel's first line in a CSV it is to open with another delimiter than the locale's: sep=;
# (quoted by some writers). Excel hides the line; it is no header.
_SEP_LINE = re.compile(r'"?sep=([^\r\n"])"?', re.IGNORECASE)


def _excel_sep_line(sample: bytes, codec: str) -> str | None:
    """The delimiter a ``sep=X`` first line of the file names, or None when it has none."""
    if sample.startswith(codecs.BOM_UTF8):
        sample = sample[len(codecs.BOM_UTF8):]
    first = sample[:64].decode(codec, errors="replace").lstrip("\ufeff")
    found = _SEP_LINE.fullmatch(_LINE_BREAK.split(first, maxsplit=1)[0])
    return found.group(1) if found and _LINE_BREAK.search(first) else None


class MixedEncoding(ValueError):
    """UTF-8 text holding a few bytes of another encoding (a row pasted from elsewhere), at ``offset``."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _mostly_utf8(sample: bytes) -> bool:
    """Whether bytes that do not decode as UTF-8 still hold more UTF-8 characters (é as C3 A9)
    than stray bytes: read as cp1252, every one of those characters would be garbled (Ã©)."""
    characters = len(_UTF8_SEQUENCE.findall(sample))
    stray = sum(1 for byte in _UTF8_SEQUENCE.sub(b"", sample) if byte >= 0x80)
    return characters >= 2 and characters >= 2 * stray  # (cp1252 text can hold a pair that looks like one: É®)


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _looks_western(text: str) -> bool:
    """Whether non-ASCII letters mostly stand alone or in pairs, as accents in Western words do
    (Orléans, Müßiggang, Sæþór); Cyrillic, Greek or CJK bytes read as cp1252 come in longer runs
    (Москва is Ìîñêâà), and Shift-JIS katakana as ƒ before ASCII (テスト is ƒeƒXƒg). Short words
    in those scripts and Central European cp1250 can still pass: --encoding settles it."""
    if len(re.findall(r"ƒ[\x21-\x7e]", text)) >= 2:
        return False
    runs = [len(run) for run in re.findall(r"[^\x00-\x7f]+", text)]
    return sum(length for length in runs if length >= 4) <= sum(runs) / 2


def parse_delimiter(text: str) -> str:
    """``","``, ``";"``, ``"\\t"``, ``"tab"``, ``"pipe"``... as the one delimiter character."""
    chosen = DELIMITER_NAMES.get(text.lower(), text)
    if len(chosen) != 1:
        raise InputError(f"delimiter {text!r} must be one character (or tab, comma, semicolon, pipe)")
    return chosen


def sniff_delimiter(text: str) -> str:
    """The delimiter among , ; tab | : the only one in the header line; else the only one that
    cuts the first records (quotes respected) into one same number of cells; else csv.Sniffer's
    pick. (``Ticket;City, Country`` has a comma in a header, and lines may end in ``\r`` alone.)"""
    text = text.lstrip("\ufeff")[:65536]
    header = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    counts = {candidate: header.count(candidate) for candidate in DELIMITERS}
    present = [candidate for candidate, count in counts.items() if count]
    if len(present) <= 1:
        return present[0] if present else ","
    complete_lines = text[: max(text.rfind("\n"), text.rfind("\r")) + 1] or text
    records = {candidate: _first_records(complete_lines, candidate) for candidate in present}
    widths = {candidate: {len(record) for record in cut} for candidate, cut in records.items()}
    steady = [candidate for candidate in present if len(widths[candidate]) == 1 and min(widths[candidate]) > 1]
    if len(steady) > 1:  # the most cells; then "Paris, France": a delimiter is seldom followed by a space
        cells = {candidate: widths[candidate].pop() for candidate in steady}  # (steady: one width each)
        steady = [candidate for candidate in steady if cells[candidate] == max(cells.values())]
        spaced = {candidate: sum(cell.startswith(" ") for record in records[candidate] for cell in record[1:])
                  for candidate in steady}
        steady = [candidate for candidate in steady if spaced[candidate] == min(spaced.values())]
    if len(steady) == 1:
        return steady[0]
    try:
        return csv.Sniffer().sniff(complete_lines, delimiters="".join(steady or present)).delimiter
    except csv.Error:
        return max(steady or present, key=lambda candidate: counts[candidate])


def _first_records(lines: str, delimiter: str) -> list[list[str]]:
    """The first records of ``lines`` cut by ``delimiter`` (a blank line is no record); [] if unreadable."""
    try:
        return [record for record in islice(csv.reader(io.StringIO(lines, newline=""), delimiter=delimiter), 50) if record]
    except csv.Error:
        return []


# -- Excel ------------------------------------------------------------------------------------


class ExcelTable(Table):
    """One sheet of an .xlsx workbook, streamed with openpyxl in read-only mode."""

    def __init__(self, path: Path, *, sheet: str | int | None, header_row: int | None = None, chunk_size: int,
                 blank_text_is_empty: bool = True):
        self.path = path
        self.chunk_size = chunk_size
        self.blank_text_is_empty = blank_text_is_empty
        self._strings: SharedStrings | None = None  # read at the first load, kept for the next ones
        workbook = self._open()
        try:
            self.sheet_name = self._choose_sheet(workbook, sheet)
            self.source_name = f"{path.name} (sheet {self.sheet_name!r})"
            found = _scan_sheet(workbook, self.sheet_name)
            self._iso_dates = found.iso_dates
            if found.unsaved_formula:
                raise InputError(
                    f"{self.source_name}: cell {found.unsaved_formula} holds a formula with no saved result (the workbook"
                    " was last saved by a program that does not compute formulas, a script perhaps): open it in Excel or"
                    " LibreOffice and save it, then import again")
            rows = _sheet(workbook, self.sheet_name, iso_dates=self._iso_dates).iter_rows(values_only=True)
            self._rows_above = False  # whether rows with values above the header are left out
            self.header_row, row, skipped = self._given_header(rows, header_row) if header_row else self._found_header(rows)
            self._rows_above = self._rows_above or bool(skipped)
            self.first_column, self.columns = self._names(row)
            where = {"header_row": self.header_row, "first_column": self.first_column, "columns": self.columns}
            self._merged = _MergedRanges(found.merged_ranges, **where)
            if self._merged.ranges:  # a range whose top-left cell is empty hides no value: no matter
                blank = _blank_top_lefts(workbook, self.sheet_name, self._merged.ranges)
                self._merged = _MergedRanges([merged for merged in found.merged_ranges if merged not in blank], **where)
        finally:
            workbook.close()
        self._skipped_note = _skipped_rows_note(self.source_name, self.header_row, skipped) if skipped else None
        self.notes = self.notes_for(self.columns)

    def notes_for(self, columns: Collection[str]) -> tuple[str, ...]:
        ranges = self._merged.ranges_in(columns)
        merged = [_merged_cells_warning(self.source_name, ranges)] if ranges else []
        return (*([self._skipped_note] if self._skipped_note else []), *merged)

    def merged_range_at(self, row: Any, column: str | None) -> str | None:
        return self._merged.range_at(row, column)

    def _open(self) -> Any:
        try:
            workbook, self._strings = load_workbook(self.path, self._strings)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
            with open(self.path, "rb") as handle:
                sealed = handle.read(len(_OLE_MAGIC)) == _OLE_MAGIC
            if sealed:  # Excel keeps a password-protected workbook in an OLE container, as it kept .xls
                raise InputError(f"{self.path.name}: cannot be read as an Excel workbook: it is password-protected"
                                 " (or an old .xls file): save it from Excel as .xlsx without a password") from None
            raise InputError(f"{self.path.name}: cannot be read as an Excel workbook: {exc}") from None
        _know_locale_dates(workbook)
        return workbook

    def _choose_sheet(self, workbook: Any, sheet: str | int | None) -> str:
        names = workbook.sheetnames
        tables = [name for name in names if hasattr(workbook[name], "iter_rows")]  # not chart sheets
        if sheet is None:
            if not tables:
                raise InputError(f"{self.path.name}: the workbook has no sheet of rows, only charts")
            # The first sheet the user sees: a hidden one is often a lookup table or an old copy.
            return next((name for name in tables if workbook[name].sheet_state == "visible"), tables[0])
        if isinstance(sheet, str) and sheet.strip().isdigit() and sheet not in names:
            sheet = int(sheet)
        if isinstance(sheet, int) and 0 <= sheet < len(names):
            sheet = names[sheet]
        if isinstance(sheet, str) and sheet in tables:
            return sheet
        listed = ", ".join(tables) or "none"
        kind = "a chart, not a sheet of rows" if sheet in names else "not in the workbook"
        raise InputError(f"{self.path.name}: sheet {sheet!r} is {kind}; its sheets of rows are: {listed}")

    def _given_header(self, rows: Iterator[tuple], given: int) -> tuple[int, tuple, list[tuple[int, list[Any]]]]:
        last = 0
        for last, row in enumerate(rows, 1):
            if last == given:
                if all(_excel_value(cell) is None for cell in row):
                    raise InputError(f"{self.source_name}: the header (row {given}) is empty")
                return given, row, []
            if any(_excel_value(cell) is not None for cell in row):
                self._rows_above = True  # (the rows left out, unsaid: the user chose them)
        raise InputError(f"{self.source_name}: the header row {given} is past the end of the sheet (its last row is {last})")

    def _found_header(self, rows: Iterator[tuple]) -> tuple[int, tuple, list[tuple[int, list[Any]]]]:
        """The header's number and cells: the first non-empty row, unless rows above the table are
        to be skipped (see :func:`_header_index`); and the non-empty rows skipped, with their values."""
        filled: list[tuple[int, tuple, list[Any]]] = []  # (number, cells, values) of the first non-empty rows
        for number, row in enumerate(rows, 1):
            values = [_excel_value(cell) for cell in row]
            if any(value is not None for value in values):
                filled.append((number, row, values))
                if len(filled) == _HEADER_SEARCH_ROWS:
                    break
        if not filled:
            raise InputError(f"{self.source_name}: the sheet is empty")
        at = _header_index([values for _, _, values in filled], [number for number, _, _ in filled])
        number, row, _ = filled[at]
        return number, row, [(above, values) for above, _, values in filled[:at]]

    def _names(self, row: tuple) -> tuple[int, list[str]]:
        """The header's first column (0-based: a table may start at C3) and its names."""
        cells = list(row)
        while cells and _excel_value(cells[-1]) is None:
            cells.pop()  # formatted but empty trailing cells are not columns
        first = next(index for index, cell in enumerate(cells) if _excel_value(cell) is not None)
        names = [excel_unescape(cell) if isinstance(cell, str) else cell for cell in cells[first:]]
        return first, clean_header(names, self.source_name, row=self.header_row, first_column=first + 1)

    def fingerprint(self) -> str:
        # Each sheet is its own input; so is a sheet read from another header row.
        above = [f"header row {self.header_row}"] if self._rows_above else []
        return file_fingerprint(self.path, self.sheet_name, *above)

    def chunks(self, *, ramp: bool = True) -> Iterator[Chunk]:
        return _chunked(self._rows(), self.columns, self.chunk_size)

    def _rows(self) -> Iterator[tuple[int, list[Any]]]:
        width = len(self.columns)
        workbook = self._open()
        try:
            # Cells, not values: a number's format may pad it with zeros (a ZIP code 01234 is 1234 in "00000").
            rows = _sheet(workbook, self.sheet_name, iso_dates=self._iso_dates).iter_rows(min_row=self.header_row + 1)
            digit_places = _digit_place_styles(workbook)
            first = self.first_column
            for number, row in enumerate(rows, self.header_row + 1):
                cells = [_cell_value(cell, digit_places, self.blank_text_is_empty) for cell in row]
                outside = [(index, cell) for index, cell in enumerate(cells)
                           if cell is not None and not first <= index < first + width]
                if outside:
                    index, cell = outside[0]
                    raise InputError(
                        f"{self.source_name}: row {number} has a value ({cell!r}) in column {index + 1}, outside the"
                        f" header's columns {first + 1} to {first + width} (row {self.header_row}; is the header"
                        " another row? give it with --header-row)", row=number,
                    )
                yield number, (cells[first:] + [None] * width)[:width]
        finally:
            workbook.close()


_HEADER_SEARCH_ROWS = 20  # the non-empty rows at the top of a sheet in which its header is looked for
_ROWS_BELOW = 5  # the rows below a row that say how wide the table is
_QUOTED = 40  # characters of the rows skipped above the table, quoted in the note


def _header_index(rows: list[list[Any]], numbers: list[int]) -> int:
    """Which of the first non-empty rows of a sheet (their values) is the header of its table: a
    title or notes may stand above it, "Q3 tickets" in A1 (merged over A1:D1 perhaps, whose
    value is in A1 alone), the table's header in row 3.

    The header is the first row that reaches as far right (its last non-empty cell) as most of
    the rows just below it: a title or a note of one or two cells above a table of four columns
    does not. Most rather than all: a stray value right of a row of data, in an ordinary table,
    must not make its header look like a title (that value is then refused, naming its row).
    Rows are skipped only when the row found looks like a header (text in every cell of its
    span, each name once), every row above it ends left of its end, and those rows are set apart
    from it: by an empty row, or by holding one value each (a title). A header short of a name,
    right above its rows, would else be skipped as notes, and its first row of data taken for the
    header (and never read). Else the first row is the header, as it is in the common case, and
    anything wrong is refused as it always was. ``numbers``: the rows' numbers in the sheet.
    """
    lasts = [max(index for index, value in enumerate(values) if value is not None) for values in rows]
    for at, last in enumerate(lasts):
        below = lasts[at + 1:at + 1 + _ROWS_BELOW]
        if 2 * sum(other <= last for other in below) >= len(below):
            break
    else:
        return 0
    set_apart = at and (numbers[at] - numbers[at - 1] > 1
                        or all(sum(value is not None for value in values) == 1 for values in rows[:at]))
    if set_apart and _looks_like_a_header(rows[at]) and all(other < lasts[at] for other in lasts[:at]):
        return at
    return 0


def _looks_like_a_header(values: list[Any]) -> bool:
    spanned = values[next(index for index, value in enumerate(values) if value is not None):]
    while spanned[-1] is None:
        spanned.pop()
    names = [column_name(value) if isinstance(value, str) else None for value in spanned]
    return all(names) and len(set(names)) == len(names)


def _skipped_rows_note(source: str, header_row: int, skipped: list[tuple[int, list[Any]]]) -> str:
    first = skipped[0][0]
    rows = f"row {first} above it is" if first == header_row - 1 else f"rows {first}-{header_row - 1} above it are"
    text = " ".join(str(value) for _, values in skipped for value in values if value is not None)
    cut = text[:_QUOTED]
    quoted = text if len(text) <= _QUOTED else (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip() + "…"
    return (f"note: {source}: the table's header is row {header_row}; {rows} skipped ({quoted!r});"
            " give another header row with --header-row")


_FIRST_OWN_FORMAT = 164  # the number of the first format a file defines itself (ECMA-376 18.8.30)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# The built-in number formats that Chinese, Japanese, Korean (27-36, 50-58) and Thai (71-81) Excel
# give dates and times (ECMA-376 18.8.30). A file names them by number only, and openpyxl knows
# the numbers of the formats every locale shares (14-22, 45-47) only: it would read such a date
# as its serial number, 45356. 79 is a duration ([h]:mm:ss).
_LOCALE_DATE_FORMATS = frozenset([*range(27, 37), *range(50, 59), *range(71, 82)])
_LOCALE_DURATION_FORMATS = frozenset([79])


def _know_locale_dates(workbook: Any) -> None:
    """Have ``workbook`` read cells in the locale date formats as the dates they are."""
    styles = getattr(workbook, "_cell_styles", None)
    dates, durations = getattr(workbook, "_date_formats", None), getattr(workbook, "_timedelta_formats", None)
    if styles is None or not isinstance(dates, set) or not isinstance(durations, set):
        return  # another openpyxl: its own rules then
    for index, style in enumerate(styles):
        if getattr(style, "numFmtId", None) in _LOCALE_DATE_FORMATS:
            dates.add(index)
            if style.numFmtId in _LOCALE_DURATION_FORMATS:
                durations.add(index)


# A number format of zeros only, maybe in groups joined by hyphens: Excel's "Special" formats for
# ZIP codes (00000, 00000-0000) and social security numbers (000-00-0000), and product codes.
_DIGIT_PLACES = re.compile(r"0+(?:-0+)*")


def _digit_place_styles(workbook: Any) -> dict[int, list[int]]:
    """The workbook's cell styles whose number format sets out a number's digits, each with the
    widths of its groups (``00000-0000``: [5, 4]). Looked up once: most workbooks have none, and
    then no cell's format is read at all. (Only a format of the file's own can be one: the
    built-in ``0`` shows a number as it is.)"""
    styles, custom = getattr(workbook, "_cell_styles", None), getattr(workbook, "_number_formats", None)
    if styles is None or custom is None:
        return {}  # another openpyxl: numbers as they are
    found = {}
    for index, style in enumerate(styles):
        number = getattr(style, "numFmtId", 0) - _FIRST_OWN_FORMAT
        layout = custom[number].replace("\\-", "-") if 0 <= number < len(custom) else ""  # Excel may escape "-"
        if len(layout) >= 2 and _DIGIT_PLACES.fullmatch(layout):
            found[index] = [len(group) for group in layout.split("-")]
    return found


def _shown_digits(value: Any, widths: list[int]) -> Any:
    """A whole number in a format of digit places as the text the cell shows, the number alone
    would lose the zeros of a ZIP code 01234; anything else as it is."""
    if type(value) not in (int, float) or not 0 <= value < 2**53 or value != int(value):
        return value
    digits = str(int(value)).zfill(sum(widths))
    # Excel fills the places from the right; digits beyond them all go to the first group.
    at = len(digits) - sum(widths[1:])
    groups = [digits[:at]]
    for width in widths[1:]:
        groups.append(digits[at:at + width])
        at += width
    return ShownDigits("-".join(groups), int(value))


# A formula cell with no value after it, or an empty one (openpyxl writes <v></v>): read, it would be
# an empty cell, and an import would delete the field it fills. (Excel and openpyxl write r first.)
# An empty value of type str (t="str") is a result, though: a formula giving "" (=IF(A2="","",A2)).
_FORMULA_WITHOUT_RESULT = re.compile(rb'<c r="([A-Z]+[0-9]+)"([^>]*)>\s*<f[^>]*(?:/>|>[^<]*</f>)\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>')
_RESULT_TYPE = re.compile(rb'\bt="([a-zA-Z]+)"')
# <mergeCells><mergeCell ref="B5:B9"/>...</mergeCells>, after the rows (some writers prefix x:).
_MERGED_RANGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?\bref="([A-Z]+[0-9]+(?::[A-Z]+[0-9]+)?)"')


# A cell Excel stores as ISO 8601 text (t="d"), rather than as a serial number; see _IsoDatesAsText.
_ISO_DATE_TYPE = re.compile(rb'(<(?:\w+:)?c\s[^>]*?\bt=)(["\'])d\2')
_ISO_TEXT = "D"  # the type such a cell is given for openpyxl, which then hands over its text (one letter: as long)


class _SheetScan(NamedTuple):
    unsaved_formula: str | None  # the first cell ("E2") holding a formula whose result was never saved
    merged_ranges: list[str]  # "B5:B9"
    iso_dates: bool = False  # whether a cell is stored as ISO 8601 text (t="d")


def _scan_sheet(workbook: Any, sheet: str) -> _SheetScan:
    """What ``sheet``'s XML holds that openpyxl's read-only mode does not tell: a formula whose
    result was never saved, and the merged ranges. One scan of the XML, which costs little beside
    openpyxl's reading of it."""
    part, archive = getattr(workbook[sheet], "_worksheet_path", None), getattr(workbook, "_archive", None)
    if part is None or archive is None:
        return _SheetScan(None, [])  # another openpyxl: such cells read as empty, as they always did
    merged: dict[str, None] = {}  # (ordered, and a range in the carried tail is found twice)
    iso_dates = False
    carried = b""
    with archive.open(part) as xml:
        while block := xml.read(1 << 20):
            text = carried + block
            for found in _FORMULA_WITHOUT_RESULT.finditer(text) if b"<f" in text else ():
                typed = _RESULT_TYPE.search(found.group(2))
                if typed is None or typed.group(1) == b"n":  # a number, or nothing: no result saved
                    return _SheetScan(found.group(1).decode(), [])  # the sheet is refused: no need to read on
            if b"mergeCell" in text:
                merged.update(dict.fromkeys(ref.decode() for ref in _MERGED_RANGE.findall(text)))
            iso_dates = iso_dates or (b'"d"' in text or b"'d'" in text) and _ISO_DATE_TYPE.search(text) is not None
            carried = text[-65_536:]  # a cell cut by the block's end is whole in the next search
    return _SheetScan(None, list(merged), iso_dates)


# A row's start tag (its number, if it says it), and a cell: its attributes, and what it holds
# (none when it closes at once).
_ROW_START = re.compile(rb'<(?:\w+:)?row\b(?:[^>]*?\br="(\d+)")?[^>]*>')
_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)', re.S)
_CELL_REF = re.compile(rb'\br="([A-Z]+[0-9]+)"')
_CELL_TYPE = re.compile(rb'\bt="(\w+)"')
_CELL_TEXT = re.compile(rb'<(?:\w+:)?t\b[^>]*>(.*?)</(?:\w+:)?t>', re.S)
_CELL_VALUE = re.compile(rb'<(?:\w+:)?v\b[^>]*>(.*?)</(?:\w+:)?v>', re.S)


def _blank_top_lefts(workbook: Any, sheet: str, ranges: list[str]) -> set[str]:
    """Of the merged ``ranges``, those whose top-left cell holds nothing (no value, or text of
    white space only): such a merge hides no value. One pass over the sheet's XML, reading the
    cells of only the rows where such a cell is. A row or a cell there that the XML does not
    number (no writer known leaves it out) makes every range count as holding a value."""
    from openpyxl.utils.cell import coordinate_to_tuple

    part, archive = getattr(workbook[sheet], "_worksheet_path", None), getattr(workbook, "_archive", None)
    shared = getattr(workbook[sheet], "_shared_strings", None)
    if part is None or archive is None:
        return set()
    tops: dict[bytes, dict[bytes, str]] = {}  # row number -> {top-left cell: range}
    for merged in ranges:
        top_left = merged.split(":")[0]
        tops.setdefault(str(coordinate_to_tuple(top_left)[0]).encode(), {})[top_left.encode()] = merged
    holding: set[str] = set()
    carried = b""
    with archive.open(part) as xml:
        while True:
            block = xml.read(1 << 20)
            text = carried + block
            last = text.rfind(b"row>")  # the end of the last row: the rows before it are whole
            cut = len(text) if not block else last + 4 if last >= 0 else 0
            for row in _ROW_START.finditer(text, 0, cut):
                if row.group(1) is None:
                    return set()
                wanted = tops.get(row.group(1))
                if wanted is None or row.group(0).endswith(b"/>"):
                    continue
                for cell in _CELL.finditer(text, row.end(), text.find(b"row>", row.end())):
                    reference = _CELL_REF.search(cell.group(1))
                    if reference is None:
                        return set()
                    merged = wanted.get(reference.group(1))
                    if merged is not None and _holds_value(cell.group(1), cell.group(2), shared):
                        holding.add(merged)
            if not block:
                break
            carried = text[cut:]
    return set(ranges) - holding


def _holds_value(attributes: bytes, inner: bytes | None, shared: Any) -> bool:
    """Whether a cell of the XML (its attributes and content) holds a value, as the reader takes it."""
    if not inner:
        return False
    kind = _CELL_TYPE.search(attributes)
    if kind is not None and kind.group(1) == b"inlineStr":
        text = b"".join(_CELL_TEXT.findall(inner))
    else:
        value = _CELL_VALUE.search(inner)
        if value is None:
            return False
        text = value.group(1)
        if kind is not None and kind.group(1) == b"s":
            try:
                return _excel_value(shared[int(text)]) is not None
            except (TypeError, ValueError, IndexError):
                return True  # no shared string to look at: as if it held one
    return _excel_value(html.unescape(text.decode("utf-8", "replace"))) is not None


class _MergedRanges:
    """The merged ranges of a sheet that empty cells of the rows read. Excel keeps a merged range's
    value in its top-left cell only, and openpyxl reads the others as empty: a "Region" merged over
    five rows is the region of the first of them alone.

    Only a cell below the header row, in the header's columns, counts. Nothing above the header is
    read, and a merge in the header row itself costs no data: a header merged over two columns
    leaves the second without a name, which ``clean_header`` refuses already, naming the column; a
    title banner merged above the table is skipped with a note of its own (see ``_header_index``),
    or, taken for the header, leaves the table's rows outside its columns, which ``ExcelTable._rows``
    refuses. Either way the user hears of it, so only the data rows need a word.
    """

    def __init__(self, ranges: list[str], *, header_row: int, first_column: int, columns: list[str]):
        from openpyxl.utils.cell import range_boundaries

        self.ranges: list[str] = []  # those that empty a cell read, from the top of the sheet
        # For each column, the rows a range empties in it: (first, last, range), sorted. Excel's
        # ranges never overlap, so in one column the spans are apart, and bisect finds a row's.
        spans: dict[str, list[tuple[int, int, str]]] = {}
        bounds = {merged: range_boundaries(merged) for merged in ranges}  # (left, top, right, bottom)
        for merged in sorted(ranges, key=lambda merged: bounds[merged][1::-1]):  # by row, then column
            left, top, right, bottom = bounds[merged]
            emptied = False
            for sheet_column in range(max(left, first_column + 1), min(right, first_column + len(columns)) + 1):
                below_the_top_left = top + 1 if sheet_column == left else top
                first_row = max(below_the_top_left, header_row + 1)
                if first_row <= bottom:
                    spans.setdefault(columns[sheet_column - first_column - 1], []).append((first_row, bottom, merged))
                    emptied = True
            if emptied:
                self.ranges.append(merged)
        self._spans = {column: sorted(found) for column, found in spans.items()}
        self._firsts = {column: [first for first, _, _ in found] for column, found in self._spans.items()}

    def ranges_in(self, columns: Collection[str]) -> list[str]:
        """The ranges that empty a cell of one of ``columns``, from the top of the sheet."""
        wanted = {merged for column in columns for _, _, merged in self._spans.get(column, ())}
        return [merged for merged in self.ranges if merged in wanted]

    def range_at(self, row: Any, column: str | None) -> str | None:
        spans = self._spans.get(column)
        if not spans or not isinstance(row, (int, np.integer)):  # (a chunk's labels are numpy's)
            return None
        at = bisect_right(self._firsts[column], row) - 1
        return spans[at][2] if at >= 0 and row <= spans[at][1] else None


_RANGES_NAMED = 3  # in the warning; the others are counted


def _merged_cells_warning(source: str, ranges: list[str]) -> str:
    named = ", ".join(ranges[:_RANGES_NAMED])
    if len(ranges) > _RANGES_NAMED:
        named += f" and {len(ranges) - _RANGES_NAMED} more"
    return (f"warning: {source}: merged cells ({named}): only the top-left cell of a merged range holds its value,"
            " so its other rows read as empty. To give every row the value, unmerge them before importing (in Excel:"
            " select the range, turn Merge & Center off, then fill down with Ctrl+D)")


# Past 2**53 a double (a sheet's every number) holds only some whole numbers, and Excel shows and
# keeps 15 significant digits: 12345678901234567 in the file is 1.23457E+16 in the cell, and the
# 12345678901234500 that Excel saves; 1.2345678901234568E+16 would be sent with digits of binary noise.
_PAST_DOUBLES = ("is a number past 2^53, which a sheet does not hold to the digit (Excel keeps 15 significant digits:"
                 " an ID typed in has lost the others): store it as text (format the column as Text, then enter it)")


def _cell_value(cell: Any, digit_places: dict[int, list[int]], blank_text_is_empty: bool = True) -> Any:
    if cell.data_type == "e":  # #N/A, #DIV/0!, #REF!: a formula that failed, most often
        return FlawedCell(str(cell.value), "holds an Excel error, not a value: mend it in the sheet, or empty the cell")
    if cell.data_type == _ISO_TEXT:
        return _iso_cell_value(cell.value)
    if type(cell.value) in (int, float) and abs(cell.value) > EXACT_IN_A_DOUBLE:
        return FlawedCell(str(cell.value), _PAST_DOUBLES)
    widths = digit_places.get(getattr(cell, "_style_id", 0)) if digit_places else None
    return _excel_value(cell.value if widths is None else _shown_digits(cell.value, widths), blank_text_is_empty)


def _sheet(workbook: Any, name: str, *, iso_dates: bool = False) -> Any:
    """A read-only sheet that reads every row and cell the file holds: some writers record a
    wrong sheet size, and read-only mode would otherwise stop at it, silently. ``iso_dates``: its
    cells stored as ISO 8601 text are handed over as their text (see ``_IsoDatesAsText``)."""
    sheet = workbook[name]
    sheet.reset_dimensions()
    archive, part = getattr(workbook, "_archive", None), getattr(sheet, "_worksheet_path", None)
    if iso_dates and archive is not None and part is not None and hasattr(sheet, "_get_source"):
        sheet._get_source = lambda: _IsoDatesAsText(archive.open(part))  # this sheet object's alone
    return sheet


class _IsoDatesAsText:
    """A sheet's XML as openpyxl reads it, each cell stored as ISO 8601 text (t="d") typed
    ``_ISO_TEXT``, which openpyxl does not know and hands over as the text it is. Its own reading
    of such a cell keeps what it expects and drops the rest: the UTC offset
    (``2024-03-05T10:00:00+02:00`` is read as 10:00 in no zone, two hours off once taken as UTC),
    the digits past the milliseconds, the time after a space (``2024-03-05 10:00`` is the date);
    and text it cannot read at all fails the whole sheet. ``_iso_cell_value`` reads the text."""

    def __init__(self, raw: Any):
        self._raw = raw
        self._ready = b""  # marked, to hand over
        self._pending = b""  # after the last ">" read: a tag may go on in the next block
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or len(self._ready) < size):
            block = self._raw.read(1 << 16)
            text = self._pending + block
            cut = len(text) if not block else text.rfind(b">") + 1
            self._ready += _ISO_DATE_TYPE.sub(rb"\1\2" + _ISO_TEXT.encode() + rb"\2", text[:cut])
            self._pending, self._ended = text[cut:], not block
        size = len(self._ready) if size is None or size < 0 else size
        handed, self._ready = self._ready[:size], self._ready[size:]
        return handed

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _IsoDatesAsText:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# YYYY-MM-DD, hh:mm[:ss[.fraction]], or both joined by T (or a space), then maybe a UTC offset.
_ISO_CELL = re.compile(r"(?P<date>\d{4}-\d\d-\d\d)?(?:(?(date)[T ])(?P<time>\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?))?"
                       r"(?P<zone>Z|[+-]\d\d(?::?\d\d)?)?")
_NOT_ISO = "is stored as a date (t=\"d\") but is no ISO 8601 date, time or date-time (2024-03-05T10:00:00+02:00): mend it in the sheet"
_NO_MOMENT = ("is stored as a date (t=\"d\") with a UTC offset but no date or no time of day, so it names no moment:"
              " give both, or no offset")


def _iso_cell_value(text: Any) -> Any:
    """A cell stored as ISO 8601 text: a ``date``, a ``time`` or a ``datetime``, aware when the
    text gives a UTC offset (``Z``, ``+02:00``), its fraction of a second cut to microseconds (as
    pandas' nanoseconds are). A text that is none of them, or an offset on a date or a time of
    day alone (no moment), is a ``FlawedCell``: its row is invalid, saying so."""
    found = _ISO_CELL.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None or not (found["date"] or found["time"]):
        return FlawedCell(str(text), _NOT_ISO)
    if found["zone"] and not (found["date"] and found["time"]):
        return FlawedCell(str(text), _NO_MOMENT)
    try:
        day = date.fromisoformat(found["date"]) if found["date"] else None
        clock = None
        if found["time"]:
            whole, _, fraction = found["time"].replace(",", ".").partition(".")
            parts = [int(part) for part in whole.split(":")]
            clock = time(*parts, int(fraction[:6].ljust(6, "0")) if fraction else 0)
        zone = found["zone"]
        if zone:
            sign, digits = (-1 if zone[0] == "-" else 1), zone[1:].replace(":", "")
            zone = timezone.utc if zone == "Z" else timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0)))
    except ValueError:  # 2024-02-30, 25:00, an offset of a day or more
        return FlawedCell(str(text), _NOT_ISO)
    if day is None or clock is None:
        return day or clock
    return datetime.combine(day, clock, tzinfo=zone or None)


def _excel_value(cell: Any, blank_text_is_empty: bool = True) -> Any:
    if cell is None:
        return None
    if isinstance(cell, str):
        cell = excel_unescape(cell)  # a carriage return or control character, as Excel codes it
        return cell if cell.strip() or cell and not blank_text_is_empty else None
    if isinstance(cell, float):
        return int(cell) if cell.is_integer() else cell  # Excel has only doubles: 3.0 is the 3 typed in a cell
    return cell


# -- JSON Lines -------------------------------------------------------------------------------


class JsonLinesTable(Table):
    """One JSON object per line; the columns come from a first pass over the file."""

    def __init__(self, path: Path, *, encoding: str | None, chunk_size: int):
        self.path = path
        self.source_name = path.name
        with open(path, "rb") as handle:
            head = handle.read(4)
        # A BOM decides, as for CSV (PowerShell writes UTF-16 with one); else JSON's UTF-8.
        self.encoding = _text_encoding(encoding or bom_encoding(head) or "utf-8", self.source_name)
        self.chunk_size = chunk_size
        keys: dict[str, None] = {}
        for _, record in self._records():
            keys.update(dict.fromkeys(record))
        if not keys:
            raise InputError(f"{self.source_name}: the file has no JSON objects (or none with keys)")
        self._keys = list(keys)
        self.columns = self._names(self._keys)

    def _names(self, keys: list[str]) -> list[str]:
        """The column each key names, trimmed as a header is (a mapping names its columns so)."""
        names: dict[str, str] = {}
        for key in keys:
            name = column_name(key)
            if name in names:
                raise InputError(f"{self.source_name}: the keys {names[name]!r} and {key!r} name the same column"
                                 " (the space around a name is not part of it)", column=name)
            names[name] = key
        return list(names)

    def _records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            with open(self.path, encoding=self.encoding) as handle:
                for number, line in enumerate(handle, 1):
                    if number == 1:
                        line = line.lstrip("\ufeff")  # the BOM, when --encoding names a codec that keeps it
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{self.source_name}: line {number} is not valid JSON: {exc.msg}", row=number) from None
                    except ValueError:  # Python reads at most 4,300 digits of an int
                        raise InputError(f"{self.source_name}: line {number} holds a number of more than 4,300 digits,"
                                         " which Python cannot read (quote it, to read it as text)", row=number) from None
                    if not isinstance(record, dict):
                        raise InputError(f"{self.source_name}: line {number} is not a JSON object", row=number)
                    if line.count("[") + line.count("{") > MAX_DEPTH and _depth(record) > MAX_DEPTH:
                        raise InputError(f"{self.source_name}: line {number} nests values more than {MAX_DEPTH} levels"
                                         " deep, more than a task's field should hold", row=number)
                    yield number, record
        except UnicodeDecodeError as exc:
            line = first_undecodable_line(self.path, self.encoding)
            where = f" on line {line}" if line else ""
            raise InputError(
                f"{self.source_name}: cannot be read as {self.encoding} (byte {exc.object[exc.start:exc.start + 1]!r}"
                f"{where} is not valid {exc.encoding}); give the right --encoding (e.g. utf-16, cp1252)", row=line,
            ) from None
        except UnicodeError as exc:  # "UTF-16 stream does not start with BOM"
            raise InputError(f"{self.source_name}: cannot be read as {self.encoding}: {exc}; give the right --encoding"
                             " (e.g. utf-16-le, utf-16-be)") from None

    def fingerprint(self) -> str:
        # Read in another encoding the file is another input (UTF-8, JSON's own, as it always was).
        return file_fingerprint(self.path, *([] if self.encoding == "utf-8" else [self.encoding]))

    def chunks(self, *, ramp: bool = True) -> Iterator[Chunk]:
        rows = ((number, [_json_value(record.get(key)) for key in self._keys]) for number, record in self._records())
        return _chunked(rows, self.columns, self.chunk_size)


MAX_DEPTH = 64  # lists and objects inside one another: far beyond any field, well within recursion


def _depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (counted without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in item)
    return deepest


def _json_value(value: Any) -> Any:
    # "" is an empty cell; white space is a text JSON wrote as such (an export's "  ", say).
    return None if value == "" else value


# -- DataFrame --------------------------------------------------------------------------------


def _row_bytes(row: tuple) -> bytes:
    try:
        return repr(row).encode()
    except ValueError:  # an int past Python's 4,300 digits has no repr; pickle writes any int
        return pickle.dumps(tuple(row))


class FrameTable(Table):
    """An in-memory DataFrame; rows are labelled by its index, or by position (from 0) when the
    index repeats a label (after ``pd.concat``): a problem must name one row only."""

    def __init__(self, frame: pd.DataFrame, *, chunk_size: int, blank_text_is_empty: bool = True):
        self.frame = frame
        self.chunk_size = chunk_size
        self.blank_text_is_empty = blank_text_is_empty
        self.labels = frame.index if frame.index.is_unique else pd.RangeIndex(len(frame))
        self.source_name = "the DataFrame"
        self.columns = clean_header([str(column) for column in frame.columns], self.source_name)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(json.dumps(self.columns).encode())
        digest.update(str(list(self.frame.dtypes)).encode())
        try:
            hashed = pd.util.hash_pandas_object(self.frame, index=True).to_numpy()
            digest.update(hashed.tobytes())
            # pandas hashes True as "True" and 1 as "1" in an object column: the types tell them apart.
            for position, dtype in enumerate(self.frame.dtypes):
                if dtype == object:
                    kinds = np.fromiter((type(cell).__name__ for cell in self.frame.iloc[:, position]), dtype=object,
                                        count=len(self.frame))
                    digest.update(pd.util.hash_array(kinds, categorize=True).tobytes())
        except (TypeError, ValueError):  # unhashable cells (dicts, lists), ints of 4,300+ digits: their text
            for row in self.frame.itertuples():
                digest.update(_row_bytes(row))
        return digest.hexdigest()

    def chunks(self, *, ramp: bool = True) -> Iterator[Chunk]:
        for start in range(0, len(self.frame), self.chunk_size):
            part = self.frame.iloc[start:start + self.chunk_size]
            columns = {name: native_values(part.iloc[:, position], blank_text_is_empty=self.blank_text_is_empty)
                       for position, name in enumerate(self.columns)}
            labels = self.labels[start:start + self.chunk_size]
            yield Chunk(start, pd.DataFrame(columns, index=labels, dtype=object))

    def count_rows(self) -> int:
        return len(self.frame)


def native_values(series: pd.Series, *, blank_text_is_empty: bool = True) -> np.ndarray:
    """A column as an object array of Python values, every kind of missing value as None, and a
    text of white space only too (a blank cell), unless not ``blank_text_is_empty``."""
    try:
        missing = series.isna().to_numpy()
    except ArithmeticError:  # a signalling NaN Decimal: pandas compares it, and that raises
        missing = np.fromiter((_missing_cell(value) for value in series), dtype=bool, count=len(series))
    if isinstance(series.dtype, pd.DatetimeTZDtype) or isinstance(series.dtype, np.dtype) and series.dtype.kind == "M":
        # The API keeps microseconds (as Python does): nanoseconds are cut here, without pandas'
        # warning for each cell.
        return _cells([None if gone else stamp.to_pydatetime(warn=False) for stamp, gone in zip(series, missing)])
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        values = native_values(pd.Series(series.cat.categories), blank_text_is_empty=blank_text_is_empty)[codes]
        values[codes < 0] = None
        return values
    if _narrow_float(series.dtype):
        # float32: the number it prints as (0.1), not the float64 nearest its bits (0.10000000149...),
        # worked out once per distinct value
        numbers = series.to_numpy(dtype=np.float32 if series.dtype.itemsize == 4 else np.float16, na_value=np.nan)
        uniques, inverse = np.unique(numbers, return_inverse=True)
        values = np.fromiter((float(str(number)) for number in uniques), dtype=object, count=len(uniques))[inverse]
        values[missing] = None
        return values
    values = series.to_numpy(dtype=object)
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
        values[missing] = None  # numpy already made Python int / float / bool
        return values
    # Only a cell of white space is blank: inside a list or an object, such a text is data.
    return _cells([None if gone or blank_text_is_empty and isinstance(value, str) and not value.strip()
                   else _python_value(value) for value, gone in zip(values, missing)])


def _narrow_float(dtype: Any) -> bool:
    """Whether ``dtype`` holds floats of fewer than 64 bits: numpy's, pandas' masked ``Float32``
    (what ``convert_dtypes`` makes), or Arrow's."""
    if isinstance(dtype, pd.ArrowDtype):
        dtype = dtype.numpy_dtype
    elif isinstance(dtype, pd.Float32Dtype):
        return True
    return isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize < 8


def _missing_cell(value: Any) -> bool:
    if isinstance(value, Decimal):
        return value.is_nan()
    return value is None or np.ndim(value) == 0 and bool(pd.isna(value))


def _cells(values: list[Any]) -> np.ndarray:
    """One cell per value, even when every value is a list of one length (``np.array`` would
    make a 2-D array of them)."""
    return np.fromiter(values, dtype=object, count=len(values))


def _python_value(value: Any) -> Any:
    """A cell as plain Python: numpy scalars and arrays, Timestamps (a list read from Parquet is
    an array), at any depth; a float32 as the number it prints as (0.1, not 0.10000000149...)."""
    if isinstance(value, str):
        return value
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime(warn=False)  # nanoseconds cut: the API keeps microseconds
    if isinstance(value, np.floating) and value.dtype.itemsize < 8:
        return float(str(value))  # as float32 columns (see native_values)
    if isinstance(value, (np.datetime64, np.timedelta64)):  # .item() of nanoseconds is a bare int
        return None if np.isnat(value) else pd.Timestamp(value).to_pydatetime(warn=False) if isinstance(
            value, np.datetime64) else pd.Timedelta(value).to_pytimedelta()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and _narrow_float(value.dtype):
        return [_python_value(item) for item in value]  # each as the number it prints as
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufUS":
        return value.tolist()  # numbers or text: numpy makes them Python at once, at any depth
    if isinstance(value, (np.ndarray, list, tuple)):
        if type(value) is list and all(type(item) in _PLAIN for item in value):
            return value  # the usual list cell: nothing in it to convert
        return [None if _is_missing(item) else _python_value(item) for item in value]
    if isinstance(value, dict):
        return {key: None if _is_missing(item) else _python_value(item) for key, item in value.items()}
    return value


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _is_missing(value: Any) -> bool:
    """pd.NA, NaT, None (a NaN float stays: it is refused later, with its row and column)."""
    return value is None or value is pd.NA or value is pd.NaT
