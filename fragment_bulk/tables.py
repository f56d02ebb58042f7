"""What every reader gives: a :class:`Table` of rows, read as a stream of :class:`Chunk`.

A chunk's frame has object dtype, cells as Python values (``None`` for an empty cell) and the
row *labels* as its index: what users see in messages and results. How each kind of input is
read is in :mod:`fragment_bulk.readers` (CSV, JSON Lines, DataFrames) and
:mod:`fragment_bulk.excel` (workbooks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fragment_bulk.errors import InputError
from fragment_bulk.formats import column_name

_READ_BYTES = 1 << 20  # of a file hashed at a time


class Chunk:
    """Consecutive rows: ``start`` is the ordinal of the first, ``labels`` their labels, and
    ``frame`` their cells (object dtype; None for an empty cell)."""

    text_only = False  # whether every cell is a str or None (as read from CSV text)

    def __init__(self, start: int, frame: pd.DataFrame, *, row_bytes: np.ndarray | None = None):
        self.start = start
        self._frame = frame
        self._row_bytes = row_bytes

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

    def row_bytes(self) -> np.ndarray | None:
        """The size of each row's text, where the reader knows it at no cost (None: it does not)."""
        return self._row_bytes


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


def file_fingerprint(path: Path, *how_read: str) -> str:
    """sha256 of the file's bytes and of how they are read (encoding, delimiter, sheet)."""
    digest = hashlib.sha256("\0".join(how_read).encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_READ_BYTES), b""):
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


def object_frame(values: np.ndarray, columns: list[str], labels: Any) -> pd.DataFrame:
    """A chunk's frame of ``values`` (a 2-D object array, not copied)."""
    return pd.DataFrame(values, index=labels, columns=columns, dtype=object, copy=False)



CHUNK_CELLS = 1_000_000  # the most cells a chunk holds: 20,000 rows of 50 columns, 500 rows of 2,000
CHUNK_BYTES = 32 << 20  # the most text a chunk holds (cells of megabytes: a chunk of a few rows)


def chunk_rows(chunk_size: int, columns: int) -> int:
    """The rows a chunk holds: ``chunk_size``, fewer for a wide table. A chunk's rows are held as
    Python values several times over (read, mapped ahead, sent), so its cells, not its rows, are
    what memory holds: 20,000 rows of 2,000 columns took 4 GB."""
    return max(1, min(chunk_size, CHUNK_CELLS // max(1, columns)))


def chunked(rows: Iterator[tuple[Any, list[Any], int]], columns: list[str], size: int) -> Iterator[Chunk]:
    """(label, cells, size of their text) rows in chunks of ``size`` rows, or fewer as their text
    reaches ``CHUNK_BYTES``; fully empty rows left out."""
    ordinal = 0
    values: list[list[Any]] = []
    labels: list[Any] = []
    sizes: list[int] = []
    held = 0
    for label, cells, text_bytes in rows:
        if all(cell is None for cell in cells):
            continue
        values.append(cells)
        labels.append(label)
        sizes.append(text_bytes)
        held += text_bytes
        if len(values) >= size or held >= CHUNK_BYTES:
            yield Chunk(ordinal, _rows_frame(values, labels, columns), row_bytes=np.array(sizes, dtype=np.int64))
            ordinal += len(values)
            values, labels, sizes, held = [], [], [], 0
    if values:
        yield Chunk(ordinal, _rows_frame(values, labels, columns), row_bytes=np.array(sizes, dtype=np.int64))


def _rows_frame(values: list[list[Any]], labels: list[Any], columns: list[str]) -> pd.DataFrame:
    array = np.empty((len(values), len(columns)), dtype=object)
    for row, cells in enumerate(values):
        for column, cell in enumerate(cells):
            array[row, column] = cell  # one by one: numpy must not read list cells as a dimension
    return object_frame(array, columns, pd.Index(labels))
