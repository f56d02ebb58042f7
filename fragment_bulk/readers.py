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
  unless a title or notes above the table are to be skipped (see :mod:`fragment_bulk.excel`). Date
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
import io
import json
import numbers
import pickle
import re
import sys
from collections.abc import Iterator
from decimal import Decimal
from itertools import islice
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fragment_bulk import tables
from fragment_bulk.ahead import read_ahead
from fragment_bulk.encoding import (
    LINE_BREAK,
    MixedEncoding,
    bom_encoding,
    byte_order,
    detect_encoding,
    first_undecodable_line,
    line_codec,
    line_offset,
    text_encoding,
    utf16_without_bom,
)
from fragment_bulk.errors import InputError
from fragment_bulk.excel import ExcelTable
from fragment_bulk.formats import column_name, excel_unescape  # noqa: F401 - excel_unescape re-exported: readers had it before the Excel reader moved to excel.py
from fragment_bulk.tables import Chunk, Table, chunk_rows, chunked, clean_header, file_fingerprint, object_frame

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
DELIMITERS = ",;\t|"
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
SAMPLE_BYTES = 1 << 20
FIRST_CHUNK_RECORDS = 200
ARROW_BLOCK_BYTES = 1 << 19  # pyarrow parses a few dozen blocks ahead: this bounds that memory
ARROW_READ_AHEAD = 4  # blocks parsed ahead, without the GIL, while the rows before are checked


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


def _object_chunk(start: int, values: np.ndarray, blank: np.ndarray, sizes: np.ndarray, labels: pd.Index,
                  columns: list[str], *, blank_text_is_empty: bool = True) -> Chunk | None:
    """The chunk of a block of cells (and of the size of each row's text), blank cells None (or
    only empty ones, when not ``blank_text_is_empty``) and blank records left out (None when all are)."""
    kept = ~blank.all(axis=1)
    values[blank if blank_text_is_empty else values == ""] = None
    if not kept.all():
        values, labels, sizes = values[kept], labels[kept], sizes[kept]
    return Chunk(start, object_frame(values, columns, labels), row_bytes=sizes) if len(values) else None


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
            self._built = object_frame(values, self._columns, self._labels)
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

    def row_bytes(self) -> np.ndarray:
        compute = _arrow()[1]
        sizes = np.zeros(len(self), dtype=np.int64)
        for column in self._table.columns:
            sizes += compute.binary_length(column).to_numpy()
        return sizes

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
        lines_in = line_codec(encoding or bom or utf16_without_bom(sample) or "latin-1", head)
        sep = _excel_sep_line(sample, lines_in) if header_row is None or header_row > 1 else None
        self.header_row = header_row or (2 if sep else 1)
        self._start = 0  # the byte where the header's line begins
        if self.header_row > 1:
            start = line_offset(path, self.header_row - 1, lines_in)
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
        self.encoding = text_encoding(detected, self.source_name)
        # Read from the header's line, past the BOM: UTF-16 and UTF-32 in the byte order it gave.
        self._codec = byte_order(self.encoding, head) if self._start else self.encoding
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
        self.chunk_size = chunk_rows(chunk_size, len(self._raw_header))

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
        self._first_row_bytes = sum(map(len, first or ())) + len(first or ())  # (see _pandas_blocks)
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
            values, blank, sizes = block
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
        return (values[:, :width], blank[:, :width], sizes) if isinstance(block, tuple) else block.select(range(width))

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
            # ArrowInvalid for a short row, bad UTF-8, or a record longer than a block (cells of
            # megabytes: its streaming reader holds dozens of blocks, so they are not made larger);
            # a transcoding error is the codec's.
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
        held = held_bytes = 0
        sizes = _chunk_sizes(self.chunk_size, first)
        size = next(sizes)
        batch = None
        for batch in read_ahead(reader, ARROW_READ_AHEAD, name="fragment-bulk-csv"):
            pending.append(batch)
            held += batch.num_rows
            held_bytes += batch.nbytes
            while held >= size or held_bytes >= tables.CHUNK_BYTES:  # (cells of megabytes: a chunk of fewer rows)
                table = pa.Table.from_batches(pending)
                yield table.slice(0, min(size, held))
                rest = table.slice(min(size, held))
                pending, held, held_bytes = rest.to_batches(), rest.num_rows, rest.nbytes
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

    def _pandas_blocks(self, *, skip: int, first: int = FIRST_CHUNK_RECORDS) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The C parser's blocks (cells, blank mask, each row's size: the block's average), leaving
        out the first ``skip`` records (already handed out). A block holds about ``tables.CHUNK_BYTES``
        of the file at most, its rows counted from the size of the rows before (at first, of the
        first row): a file of cells of megabytes, which pyarrow does not stream, was read 20,000
        rows at a time, the whole file and more in memory."""
        row_bytes, rows = max(1, self._first_row_bytes), 0
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
                before = handle.tell()
                try:
                    raw = reader.get_chunk(max(1, min(size, tables.CHUNK_BYTES // row_bytes)))
                except StopIteration:
                    return
                # The parser reads the file ahead (256 KB at a time, more to begin): this block's
                # rows, or all those so far, whichever are longer, are exact enough where it matters.
                rows += len(raw)
                row_bytes = max(1, (handle.tell() - before) // max(1, len(raw)), handle.tell() // max(1, rows))
                values = raw.to_numpy(dtype=object)
                if skip:
                    left_out = min(skip, len(values))
                    values, skip = values[left_out:], skip - left_out
                    if not len(values):
                        continue
                if not values.flags.writeable:  # a one-column frame hands out a read-only view
                    values = values.copy()
                yield values, _blank_cells(values), np.full(len(values), row_bytes)

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


# Excel's first line in a CSV it is to open with another delimiter than the locale's: sep=;
# (quoted by some writers). Excel hides the line; it is no header.
_SEP_LINE = re.compile(r'"?sep=([^\r\n"])"?', re.IGNORECASE)


def _excel_sep_line(sample: bytes, codec: str) -> str | None:
    """The delimiter a ``sep=X`` first line of the file names, or None when it has none."""
    if sample.startswith(codecs.BOM_UTF8):
        sample = sample[len(codecs.BOM_UTF8):]
    first = sample[:64].decode(codec, errors="replace").lstrip("\ufeff")
    found = _SEP_LINE.fullmatch(LINE_BREAK.split(first, maxsplit=1)[0])
    return found.group(1) if found and LINE_BREAK.search(first) else None


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
    header = LINE_BREAK.split(text, maxsplit=1)[0]
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


# -- JSON Lines -------------------------------------------------------------------------------


class JsonLinesTable(Table):
    """One JSON object per line; the columns come from a first pass over the file."""

    def __init__(self, path: Path, *, encoding: str | None, chunk_size: int):
        self.path = path
        self.source_name = path.name
        with open(path, "rb") as handle:
            head = handle.read(4)
        # A BOM decides, as for CSV (PowerShell writes UTF-16 with one); else JSON's UTF-8.
        self.encoding = text_encoding(encoding or bom_encoding(head) or "utf-8", self.source_name)
        keys: dict[str, None] = {}
        for _, record, _ in self._records():
            keys.update(dict.fromkeys(record))
        if not keys:
            raise InputError(f"{self.source_name}: the file has no JSON objects (or none with keys)")
        self._keys = list(keys)
        self.columns = self._names(self._keys)
        self.chunk_size = chunk_rows(chunk_size, len(self.columns))

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

    def _records(self) -> Iterator[tuple[int, dict[str, Any], int]]:
        """(line number, object, the line's length) of each line that is not blank."""
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
                    yield number, record, len(line)
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
        rows = ((number, [_json_value(record.get(key)) for key in self._keys], size) for number, record, size in self._records())
        return chunked(rows, self.columns, self.chunk_size)


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
        self.blank_text_is_empty = blank_text_is_empty
        self.labels = frame.index if frame.index.is_unique else pd.RangeIndex(len(frame))
        self.source_name = "the DataFrame"
        self.columns = clean_header([str(column) for column in frame.columns], self.source_name)
        self.chunk_size = chunk_rows(chunk_size, len(self.columns))

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
