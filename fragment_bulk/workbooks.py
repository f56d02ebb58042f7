"""An .xlsx workbook opened to stream its rows (openpyxl's read-only mode), without the two costs
that mode pays at every load in proportion to the sheets:

- **Shared strings.** Excel keeps a sheet's text in one table of distinct strings, which openpyxl
  reads whole into a list of ``str``: for a million rows of text, half a gigabyte, read again at
  each load (an import loads a workbook four times: header, check, send, results). Here the
  table is read once and kept in a temporary file (:class:`SharedStrings`), with only the offset
  of each string in memory (8 bytes).
- **Sheet size.** openpyxl sizes each sheet when the workbook loads, and a sheet that does not
  record its size (an openpyxl write-only file, which every ``.xlsx`` export is) is parsed whole to
  find it: every sheet, at every load. The reader resets the size anyway (some writers record a
  wrong one), so here it is never looked for.

What openpyxl reads is otherwise unchanged; an openpyxl whose loading is made otherwise than
this module expects loads as ``openpyxl.load_workbook`` does.
"""

from __future__ import annotations

import functools
import os
import tempfile
import threading
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

_WRITTEN_AT_ONCE = 1 << 20  # bytes of strings gathered before they are written to the file


class SharedStrings(Sequence[str]):
    """A workbook's shared strings by index, as openpyxl's list of them holds them, kept in a
    temporary file (removed when this is closed or collected) rather than in memory."""

    def __init__(self, texts: Iterator[str]):
        self._file = tempfile.TemporaryFile(prefix="fragment-bulk-strings-")
        self._ends = array("q")  # where each string ends in the file
        self._lock = threading.Lock()  # (without os.pread: a seek and a read are one step)
        end, pending, size = 0, [], 0
        for text in texts:
            encoded = text.encode("utf-8", "surrogatepass")
            end += len(encoded)
            self._ends.append(end)
            pending.append(encoded)
            size += len(encoded)
            if size >= _WRITTEN_AT_ONCE:
                self._file.write(b"".join(pending))
                pending, size = [], 0
        self._file.write(b"".join(pending))
        self._file.flush()

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[at] for at in range(*index.indices(len(self)))]
        index = range(len(self))[index]  # an IndexError as a list's, and a negative index counted from the end
        start = self._ends[index - 1] if index else 0
        return _read_at(self._file, self._lock, self._ends[index] - start, start).decode("utf-8", "surrogatepass")

    def close(self) -> None:
        self._file.close()


def _read_at(handle: BinaryIO, lock: threading.Lock, size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(handle.fileno(), size, offset)
    with lock:  # Windows
        handle.seek(offset)
        return handle.read(size)


def load_workbook(path: Path, strings: SharedStrings | None = None) -> tuple[Any, SharedStrings | None]:
    """``openpyxl.load_workbook(path, read_only=True, data_only=True)``, its sheets unsized, and
    its shared strings ``strings`` when given (the same file's, from an earlier load), else read
    once into a :class:`SharedStrings`. Returns the workbook and its strings (None for an
    openpyxl this module does not know: then loaded as openpyxl does)."""
    reader_class = _reader_class()
    if reader_class is None:
        import openpyxl

        return openpyxl.load_workbook(path, read_only=True, data_only=True), None
    reader = reader_class(path, read_only=True, data_only=True)
    reader.strings = strings
    reader.read()
    return reader.wb, reader.strings


@functools.cache
def _reader_class() -> type | None:
    try:
        from openpyxl.cell.text import Text
        from openpyxl.reader.excel import ExcelReader
        from openpyxl.worksheet._read_only import ReadOnlyWorksheet
        from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS
        from openpyxl.xml.functions import iterparse
    except ImportError:
        return None
    if not all(hasattr(ExcelReader, name) for name in ("read", "read_strings", "read_worksheets", "read_chartsheet")) \
            or not hasattr(ReadOnlyWorksheet, "_get_size"):
        return None
    string_tag, text_tag = f"{{{SHEET_MAIN_NS}}}si", f"{{{SHEET_MAIN_NS}}}t"

    def texts(source: BinaryIO) -> Iterator[str]:
        """The table's strings, as ``read_string_table`` reads them (the text of each, runs joined,
        phonetic guides left out), but for its removal of every ``x005F_``: that is the escape of
        a ``_`` (``_x005F_x0041_`` is the text ``_x0041_``), which the readers decode with the
        other escapes (:func:`~fragment_bulk.formats.excel_unescape`); removed, the text read
        ``A`` (and ``ax005F_b`` read ``ab``). Each string is dropped from the tree once read."""
        root = None
        for event, node in iterparse(source, events=("start", "end")):
            if root is None:
                root = node
            if event == "end" and node.tag == string_tag:
                children = list(node)
                if len(children) == 1 and children[0].tag == text_tag and not len(children[0]):
                    yield children[0].text or ""  # plain text, the common case
                else:
                    yield Text.from_tree(node).content
                root.clear()

    class UnsizedSheet(ReadOnlyWorksheet):  # type: ignore[misc,valid-type]
        def _get_size(self) -> None:
            """Not looked for (see the module docstring)."""

    class Reader(ExcelReader):  # type: ignore[misc,valid-type]
        strings: SharedStrings | None = None

        def read_strings(self) -> None:
            found = self.package.find(SHARED_STRINGS)
            if self.strings is None and found is not None:
                with self.archive.open(found.PartName[1:]) as source:
                    self.strings = SharedStrings(texts(source))
            self.shared_strings = self.strings if found is not None else []

        def read_worksheets(self) -> None:  # ExcelReader's, read-only
            for sheet, rel in self.parser.find_sheets():
                if rel.target not in self.valid_files:
                    continue
                if "chartsheet" in rel.Type:
                    self.read_chartsheet(sheet, rel)
                    continue
                worksheet = UnsizedSheet(self.wb, sheet.name, rel.target, self.shared_strings)
                worksheet.sheet_state = sheet.state
                self.wb._sheets.append(worksheet)

    return Reader
