"""Excel workbooks (.xlsx, .xlsm): one sheet read as a :class:`~fragment_bulk.tables.Table`, with
openpyxl in read-only mode (the workbook loaded by :mod:`fragment_bulk.workbooks`).

Rows are labelled by the sheet's row numbers. The header is the row given, else the first
non-empty one unless a title or notes above the table are to be skipped (see
:func:`_header_index`). What read-only openpyxl does not tell is found out here: from the
sheet's XML, a formula whose result was never saved (refused), the merged ranges whose top-left
cell holds a value (a warning) and the cells stored as ISO 8601 text (read whole, see
:class:`_IsoDatesAsText`); from the workbook's styles, the dates in a locale's own formats and
the numbers whose format pads their digits (a ZIP code 01234). A number past 2^53, which no
sheet holds to the digit, fails its row.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from collections.abc import Collection, Iterator
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from fragment_bulk.errors import FlawedCell, InputError, ShownDigits
from fragment_bulk.formats import EXACT_IN_A_DOUBLE, column_name, excel_unescape
from fragment_bulk.tables import Chunk, Table, chunk_rows, chunked, clean_header, file_fingerprint
from fragment_bulk.workbooks import SharedStrings, load_workbook


class ExcelTable(Table):
    """One sheet of an .xlsx workbook, streamed with openpyxl in read-only mode."""

    def __init__(self, path: Path, *, sheet: str | int | None, header_row: int | None = None, chunk_size: int,
                 blank_text_is_empty: bool = True):
        self.path = path
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
            self.chunk_size = chunk_rows(chunk_size, len(self.columns))
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
        return chunked(self._rows(), self.columns, self.chunk_size)

    def _rows(self) -> Iterator[tuple[int, list[Any], int]]:
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
                kept = (cells[first:] + [None] * width)[:width]
                yield number, kept, sum(len(cell) for cell in kept if type(cell) is str)
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
    if type(value) not in (int, float) or not 0 <= value < EXACT_IN_A_DOUBLE or value != int(value):
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
