"""Readers: encodings, delimiters, row labels, text kept as text, Excel, JSON Lines, DataFrames."""

from __future__ import annotations

import codecs
import json
import re
import threading
import time
import tracemalloc
import zipfile
from datetime import date, datetime, time as time_of_day, timedelta, timezone
from zoneinfo import ZoneInfo

import openpyxl
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.chart import BarChart, Reference
from openpyxl.worksheet._reader import WorkSheetParser
import pandas as pd
import pytest

import fragment_bulk
from fragment_bulk import excel, readers, tables
from fragment_bulk.ahead import read_ahead
from fragment_bulk.errors import InputError
from fragment_bulk.readers import open_table
from helpers import with_shared_strings


def rows_of(table) -> list[tuple]:
    """(label, {column: value}) for every row of every chunk, checking the chunks' invariants."""
    found = []
    expected_start = 0
    for chunk in table.chunks():
        assert chunk.start == expected_start
        assert all(dtype == object for dtype in chunk.frame.dtypes)
        assert list(chunk.frame.columns) == table.columns
        expected_start += len(chunk.frame)
        found += [(label, row) for label, row in zip(chunk.frame.index, chunk.frame.to_dict("records"))]
    return found


def write(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_a_csv_streams_small_chunks_first_unless_asked_not_to(tmp_path):
    lines = b"".join(b"%d,t%d\n" % (n, n) for n in range(1500))
    table = open_table(write(tmp_path, "n.csv", b"id,title\n" + lines), chunk_size=1000)
    assert [len(chunk) for chunk in table.chunks()] == [200, 400, 800, 100]  # the first batch goes out sooner
    assert [len(chunk) for chunk in table.chunks(ramp=False)] == [1000, 500]  # a check pass reads it in large ones
    assert [chunk.start for chunk in table.chunks(ramp=False)] == [0, 1000]


@pytest.mark.parametrize("kind", ["csv", "xlsx", "jsonl", "frame"])
def test_a_wide_table_is_read_in_chunks_of_fewer_rows(tmp_path, monkeypatch, kind):
    """A chunk is held several times over (read, mapped ahead, sent): its cells, not its rows, are
    what memory holds. 20,000 rows of 2,000 columns took 4 GB; 500 rows of 2,000 columns do now."""
    monkeypatch.setattr(tables, "CHUNK_CELLS", 1_000)
    header = ["title"] + [f"f{column}" for column in range(99)]
    rows = [[f"t{row}"] + [str(column) for column in range(99)] for row in range(45)]
    source = tmp_path / f"wide.{kind}"
    if kind == "csv":
        source.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n")
    elif kind == "xlsx":
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet()
        for row in [header, *rows]:
            sheet.append(row)
        book.save(source)
    elif kind == "jsonl":
        source.write_text("".join(json.dumps(dict(zip(header, row))) + "\n" for row in rows))
    else:
        source = pd.DataFrame(rows, columns=header)
    table = open_table(source)
    assert [len(chunk) for chunk in table.chunks(ramp=False)] == [10, 10, 10, 10, 5]
    assert [len(chunk) for chunk in open_table(source, chunk_size=4).chunks(ramp=False)][:2] == [4, 4]  # narrower: as asked


@pytest.mark.parametrize("kind", ["csv", "csv past a block", "xlsx", "jsonl"])
def test_rows_of_long_cells_are_read_in_chunks_of_fewer_rows(tmp_path, monkeypatch, kind):
    """A chunk holds CHUNK_BYTES of text, whatever the rows: 100 rows of 5 MB cells were one chunk,
    the file in memory several times over (pyarrow does not stream a row longer than its block, so
    such a CSV is read by pandas, a block's rows counted from the size of those before it)."""
    monkeypatch.setattr(tables, "CHUNK_BYTES", 10_000)
    # (As 512 KB to rows of 100 KB; to rows of megabytes, which pyarrow does not stream.)
    monkeypatch.setattr(readers, "ARROW_BLOCK_BYTES", 1_000 if kind == "csv past a block" else 5_000)
    rows = [(f"t{row}", "x" * 2_000 + str(row)) for row in range(30)]
    source = tmp_path / f"long.{kind.split()[0]}"
    if kind.startswith("csv"):
        source.write_text("title,body\n" + "".join(f"{title},{body}\n" for title, body in rows))
    elif kind == "xlsx":
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet()
        for row in [("title", "body"), *rows]:
            sheet.append(row)
        book.save(source)
    else:
        source.write_text("".join(json.dumps({"title": title, "body": body}) + "\n" for title, body in rows))
    chunks = list(open_table(source).chunks(ramp=False))
    assert sum(map(len, chunks)) == 30 and [value for _, value in rows_of(open_table(source))][-1]["body"] == rows[-1][1]
    assert max(map(len, chunks)) <= 7  # 10,000 characters of text is 5 rows (and up to a block more)
    assert all(size >= 2_000 for chunk in chunks for size in chunk.row_bytes())  # what a batch counts, never less


def test_bom_header_text_kept_and_empty_cells_none(tmp_path):
    path = write(tmp_path, "a.csv", "\ufeffTicket ID , Name,Notes\n00123,NA,null\n00124,  ,\n".encode("utf-8"))
    table = open_table(path)
    assert table.columns == ["Ticket ID", "Name", "Notes"]
    assert rows_of(table) == [
        (2, {"Ticket ID": "00123", "Name": "NA", "Notes": "null"}),
        (3, {"Ticket ID": "00124", "Name": None, "Notes": None}),
    ]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-16-le no BOM", "utf-16-be no BOM", "cp1252", "utf-8", "utf-32"])
def test_encodings_are_detected(tmp_path, encoding):
    content = "title;note\ncafé;Orléans\n"
    raw = content.encode(encoding.removesuffix(" no BOM"))
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw
    table = open_table(write(tmp_path, "e.csv", raw))
    assert rows_of(table) == [(2, {"title": "café", "note": "Orléans"})]


def test_a_multibyte_character_cut_by_the_sample_is_still_utf8(tmp_path):
    padding = "x" * ((1 << 20) - 1)  # "é" straddles the 1 MiB sample boundary
    table = open_table(write(tmp_path, "big.csv", f"title\n{padding}é\n".encode()))
    assert table.encoding == "utf-8"
    assert rows_of(table)[0][1]["title"].endswith("é")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_sniffed(tmp_path, delimiter):
    lines = [["title", "country", "note"], ["a", "FR", "x, y; z"], ["b", "DE", ""]]
    text = "\n".join(delimiter.join(f'"{cell}"' if any(d in cell for d in ",;\t|") else cell for cell in line) for line in lines)
    table = open_table(write(tmp_path, "d.csv", text.encode()))
    assert table.columns == ["title", "country", "note"]
    assert rows_of(table)[0][1] == {"title": "a", "country": "FR", "note": "x, y; z"}


@pytest.mark.parametrize("ending", ["\n", "\r"])  # "\r" alone: Excel's old Mac CSV
@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_comma_in_a_header_does_not_win_over_the_real_delimiter(tmp_path, delimiter, ending):
    spaced = open_table(write(tmp_path, "s.csv", b"id, title, notes (a;b)\n1, Buy milk, x;y\n"))  # ", " files stay ","
    assert spaced.delimiter == "," and spaced.columns == ["id", "title", "notes (a;b)"]
    lines = ["Ticket", "City, Country"], ["1", "Paris, France"], ["2", "Lyon, France"]
    table = open_table(write(tmp_path, "c.csv", ending.join(delimiter.join(line) for line in lines).encode() + ending.encode()))
    assert table.delimiter == delimiter and table.columns == ["Ticket", "City, Country"]
    assert rows_of(table)[1][1] == {"Ticket": "2", "City, Country": "Lyon, France"}


@pytest.mark.parametrize("given", ["\t", "tab", "\\t"])
def test_a_given_tab_delimiter(tmp_path, given):
    table = open_table(write(tmp_path, "t.tsv", b"a\tb\n1\t2\n"), delimiter=given)
    assert rows_of(table) == [(2, {"a": "1", "b": "2"})]


def test_multiline_cell_is_one_row_and_blank_rows_keep_labels(tmp_path):
    content = b'title,note\nfirst,"line 1\nline 2\nline 3"\nsecond,x\n\n,\nthird,\n'
    table = open_table(write(tmp_path, "m.csv", content))
    assert [(label, row["title"]) for label, row in rows_of(table)] == [(2, "first"), (3, "second"), (6, "third")]
    assert rows_of(table)[0][1]["note"] == "line 1\nline 2\nline 3"


def test_chunks_give_the_same_rows_with_the_right_starts(tmp_path):
    content = "title\n" + "".join(f"t{n}\n" for n in range(10))
    path = write(tmp_path, "c.csv", content.encode())
    whole = rows_of(open_table(path))
    small = open_table(path, chunk_size=3)
    assert [chunk.start for chunk in small.chunks()] == [0, 3, 6, 9]
    assert rows_of(small) == whole and small.count_rows() == 10
    assert [label for label, _ in whole] == list(range(2, 12))


def test_fewer_cells_are_none_more_cells_name_the_row(tmp_path):
    short = open_table(write(tmp_path, "s.csv", b"a,b,c\n1,2\n"))
    assert rows_of(short) == [(2, {"a": "1", "b": "2", "c": None})]
    ragged = open_table(write(tmp_path, "r.csv", b'a,b,c,d\n1,2,3,4\n"x\ny",2,3,4\n1,2,3,4,5\n'), chunk_size=1)
    with pytest.raises(InputError, match=r"r\.csv: row 4 has 5 cells but the header has 4"):
        rows_of(ragged)
    # pandas would read a longer first data row as an index, then drop every row's extra cells
    for name, first in (("f.csv", b"first"), ("g.csv", b"x" * 200_000)):  # a cell beyond the csv module's limit too
        with pytest.raises(InputError, match=rf"{name[0]}\.csv: row 2 has 3 cells but the header has 2"):
            open_table(write(tmp_path, name, b"title,n\n" + first + b",1,EXTRA1\nsecond,2,EXTRA2\n"))


def test_a_quote_left_open_to_the_end_of_the_file_names_its_row_instead_of_swallowing_the_rest(tmp_path):
    rest = b"".join(b"r%d,1,2\n" % n for n in range(4, 2000))
    for size, content in (("small", b'title,a,b\nr2,1,2\nr3,1,"oops\n' + rest),
                          ("past a block", b'title,a,b\nr2,1,2\nr3,1,"oops\n' + rest * 400)):
        with pytest.raises(InputError, match=r"u\.csv: row 3: a quote opens in this row and is never closed"):
            rows_of(open_table(write(tmp_path, "u.csv", content)))
    with pytest.raises(InputError, match=r"u\.csv: row 3: a quote opens in this row"):  # on the last line
        rows_of(open_table(write(tmp_path, "u.csv", b'title,a\nx,1\ny,"open')))
    with pytest.raises(InputError, match=r"u\.csv: row 3: a quote opens in this row"):  # an inch mark evens the count
        rows_of(open_table(write(tmp_path, "u.csv", b'title,a\n27" monitor,1\nb,"unclosed\nc,d\ne,f\n')))
    for encoding in ("utf-16", "utf-32"):  # a quote is not one byte there: counted in the text
        with pytest.raises(InputError, match=r"u\.csv: row 3: a quote opens in this row"):
            rows_of(open_table(write(tmp_path, "u.csv", 'title,a\nx,1\ny,"x, y'.encode(encoding))))
    # a last row that really has a cell over two lines is read as it is
    closed = open_table(write(tmp_path, "c.csv", b'title,a\nx,1\ny,"two\nlines"\n'))
    assert rows_of(closed)[-1] == (3, {"title": "y", "a": "two\nlines"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"a,b,a\n1,2,3\n", r"column 'a' appears twice \(columns 1 and 3\)"),
        (b"a,,c\n1,2,3\n", "column 2 of the header"),
        (b",\n1,\n", r"the header \(row 1\) is empty"),
    ],
)
def test_bad_headers(tmp_path, content, message):
    with pytest.raises(InputError, match=message):
        open_table(write(tmp_path, "h.csv", content))


@pytest.mark.parametrize("reader", ["pyarrow", "pandas"])  # a short row hands the file to pandas
def test_trailing_unnamed_columns_are_left_out_unless_a_row_fills_them(tmp_path, reader):
    short = b"x,1\n" if reader == "pandas" else b"x,1,,\n"
    table = open_table(write(tmp_path, "t.csv", b"title,n,,\n" + short + b"y,2,,\n"))
    assert table.columns == ["title", "n"]
    assert rows_of(table) == [(2, {"title": "x", "n": "1"}), (3, {"title": "y", "n": "2"})]
    filled = open_table(write(tmp_path, "f.csv", b"title,n,,\n" + short + b"y,2,,oops\n"))
    with pytest.raises(InputError, match=r"f\.csv: row 3 has a value \('oops'\) in column 4, which the header does not name"):
        rows_of(filled)


def test_a_tsv_file_is_cut_on_tabs_whatever_commas_it_holds(tmp_path):
    table = open_table(write(tmp_path, "one.tsv", b"title\tcity,country\nHello, world\tParis, France\n"))
    assert table.columns == ["title", "city,country"]
    assert rows_of(table) == [(2, {"title": "Hello, world", "city,country": "Paris, France"})]


def test_header_only_gives_no_rows(tmp_path):
    table = open_table(write(tmp_path, "h.csv", b"title,country\n"))
    assert table.columns == ["title", "country"] and rows_of(table) == []


@pytest.mark.parametrize(("text", "encoding"), [("東京タワー点検,東京", "shift_jis"), ("テスト,ソフト", "shift_jis"),
                                              ("检查任务,北京市", "gb18030"),
                                              ("Задача,Москва", "cp1251"), ("Εργασία,Αθήνα", "cp1253")])
def test_a_file_neither_utf8_nor_western_is_refused_not_garbled(tmp_path, text, encoding):
    path = write(tmp_path, "x.csv", f"title,city\n{text}\n{text}\n".encode(encoding))
    with pytest.raises(InputError, match=r"x\.csv: is not UTF-8, and does not read as Western European text .*--encoding"):
        open_table(path)
    assert rows_of(open_table(path, encoding=encoding))[0][1] == dict(zip(["title", "city"], text.split(",")))


@pytest.mark.parametrize("text", ["テスト,東京", "Задача,Москва", "检查任务,北京市"])
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_found_by_its_ascii_characters_whatever_the_script(tmp_path, text, encoding):
    # The delimiters and line breaks leave a zero byte in every other place; cp1252 would have
    # garbled every cell and made a row of the last zero byte.
    path = write(tmp_path, "u.csv", f"title,city\n{text}\n{text}\n".encode(encoding))
    assert open_table(path).encoding == encoding
    assert [row for _, row in rows_of(open_table(path))] == [dict(zip(["title", "city"], text.split(",")))] * 2


def test_utf8_with_a_few_bytes_of_another_encoding_is_refused_naming_the_line(tmp_path):
    # Read as cp1252, every UTF-8 accent of the file would be garbled (Orléans as OrlÃ©ans).
    raw = "title,city\nA,Orléans\nB,Zürich\n".encode("utf-8") + "C,Besançon\n".encode("cp1252")
    with pytest.raises(InputError, match=r"m\.csv: is UTF-8 text but for some bytes, the first on line 4 \(byte b'\\xe7'\).*--encoding"):
        open_table(write(tmp_path, "m.csv", raw))
    assert rows_of(open_table(tmp_path / "m.csv", encoding="cp1252"))[2][1]["city"] == "Besançon"


def test_cp1252_text_with_a_pair_that_looks_like_utf8_is_still_cp1252(tmp_path):
    # É® is C9 AE, a valid UTF-8 sequence: one such pair is no sign of UTF-8.
    path = write(tmp_path, "n.csv", "title,brand\nNESTLÉ®,Müller\n".encode("cp1252"))
    assert open_table(path).encoding == "cp1252" and rows_of(open_table(path))[0][1]["title"] == "NESTLÉ®"


def test_western_text_with_a_few_accents_in_a_row_is_still_cp1252(tmp_path):
    path = write(tmp_path, "w.csv", "title\nÑúñez\nOrléans\nMüßiggang\nça\nSæþór Guðmundsson\n".encode("cp1252"))
    assert open_table(path).encoding == "cp1252"


@pytest.mark.parametrize(("encoding", "message"), [("rot13", "'rot13' is not a text encoding"),
                                                   ("utf-16", "cannot be read as utf-16: UTF-16 stream does not start")])
def test_an_encoding_that_cannot_read_the_file_is_one_line_naming_it(tmp_path, encoding, message):
    with pytest.raises(InputError, match=rf"e\.csv: {message}"):
        open_table(write(tmp_path, "e.csv", b"title\nx\n"), encoding=encoding)


def test_a_wrong_encoding_is_one_line_naming_it(tmp_path):
    with pytest.raises(InputError, match="utf-8"):
        rows_of(open_table(write(tmp_path, "w.csv", b"title\ncaf\xe9\n"), encoding="utf-8"))


@pytest.mark.parametrize("name", ["late.csv", "late.jsonl"])
def test_a_byte_that_does_not_decode_past_the_sample_names_its_line(tmp_path, name):
    rows = b"".join(b'{"title": "x%d"}\n' % n for n in range(80_000)) if name.endswith("jsonl") else b"title\n" + b"x\n" * 600_000
    path = write(tmp_path, name, rows + b"caf\xe9\n")
    line = 80_001 if name.endswith("jsonl") else 600_002
    with pytest.raises(InputError, match=rf"late\.\w+: cannot be read as utf-8 \(byte b'\\xe9' on line {line} is not valid"):
        rows_of(open_table(path))


def test_a_workbook_named_csv_is_named_as_such(tmp_path, workbook):
    with pytest.raises(InputError, match=r"w\.csv: is a zip file, not text \(an Excel workbook\? name it \.xlsx\)"):
        open_table(write(tmp_path, "w.csv", workbook.read_bytes()))


def test_unknown_extension(tmp_path):
    with pytest.raises(InputError, match="unknown file type"):
        open_table(write(tmp_path, "x.parquet", b"PAR1"))


def test_file_fingerprint_follows_the_bytes(tmp_path):
    path = write(tmp_path, "f.csv", b"a\n1\n")
    first = open_table(path).fingerprint()
    path.write_bytes(b"a\n2\n")
    assert open_table(path).fingerprint() != first and len(first) == 64


# -- Excel ------------------------------------------------------------------------------------


@pytest.fixture
def workbook(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Tasks"
    sheet.append([])  # the header is the first non-empty row
    sheet.append(["Ticket ID", "Due", "Priority", "Score", "Done"])
    sheet.append(["00123", datetime(2026, 3, 1), 3.0, 1.5, True])
    sheet.append([None, None, None, None, None])
    sheet.append(["00124", None, 4, None, False])
    sheet.append([None, None, None, None, None])
    other = book.create_sheet("Archive")
    other.append(["title"])
    other.append(["old"])
    path = tmp_path / "book.xlsx"
    book.save(path)
    return path


def test_excel_cells_and_labels(workbook):
    table = open_table(workbook, sheet="Tasks")
    assert table.columns == ["Ticket ID", "Due", "Priority", "Score", "Done"]
    rows = rows_of(table)
    assert [label for label, _ in rows] == [3, 5]
    first = rows[0][1]
    assert first == {"Ticket ID": "00123", "Due": datetime(2026, 3, 1), "Priority": 3, "Score": 1.5, "Done": True}
    assert type(first["Priority"]) is int and rows[1][1]["Due"] is None


def test_excel_text_from_a_shared_strings_table_reads_as_written(tmp_path):
    """Excel keeps a sheet's text in a table of shared strings (openpyxl writes each cell's own):
    runs of rich text are joined, and a text that looks like an Excel code keeps its coded "_"
    (openpyxl removed every "x005F_": "_x0041_" read "A", "ax005F_b" read "ab")."""
    book = openpyxl.Workbook()
    book.active.append(["title", "notes"])
    bold = CellRichText(["bold ", TextBlock(InlineFont(b=True), "part"), " end"])
    book.active.append(["_x005F_x0041_", bold])
    book.active.append([" spaced ", "ax005F_b"])
    book.active.append(["line\nbreak", "_x000D_ and é 😀"])
    path = tmp_path / "excel.xlsx"
    book.save(path)
    with_shared_strings(path)
    assert b"sharedStrings" in zipfile.ZipFile(path).read("[Content_Types].xml")
    assert [values for _, values in rows_of(open_table(path))] == [
        {"title": "_x0041_", "notes": "bold part end"},
        {"title": " spaced ", "notes": "ax005F_b"},
        {"title": "line\nbreak", "notes": "\r and é 😀"},
    ]


def test_excel_shared_strings_are_not_held_in_memory(tmp_path):
    """A million rows of text were half a gigabyte in openpyxl's list of the table, read again at
    each of an import's four loads; a chunk of rows is all that is held."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Tasks")
    sheet.append(["title"])
    for number in range(2_000):
        sheet.append([f"{number:05d}" + "x" * 2_000])  # 4 MB of distinct text
    path = tmp_path / "text.xlsx"
    book.save(path)
    with_shared_strings(path)
    table = open_table(path, chunk_size=100)
    tracemalloc.start()
    try:
        rows = sum(len(chunk) for chunk in table.chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 2_000 and peak < 2_000_000


def test_excel_sheet_without_a_recorded_size_is_not_parsed_whole_at_each_load(tmp_path, monkeypatch):
    """openpyxl sizes every sheet of a workbook it loads, parsing whole those that do not record a
    size (an openpyxl write-only file, every .xlsx export): at each of an import's loads."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Tasks")
    for row in (["title", "n"], ["a", 1], ["b", 2]):
        sheet.append(row)
    path = tmp_path / "unsized.xlsx"
    book.save(path)
    assert b"<dimension" not in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")

    def parsed_whole(self):
        raise AssertionError("the sheet was parsed to find its size")

    monkeypatch.setattr(WorkSheetParser, "parse_dimensions", parsed_whole)
    assert [values for _, values in rows_of(open_table(path))] == [{"title": "a", "n": 1}, {"title": "b", "n": 2}]


def test_excel_numbers_formatted_with_digit_places_read_as_the_text_excel_shows(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["title", "code", "plain"])
    cases = [(1234, "00000", "01234"), (501.0, "00000", "00501"), (123456, "00000", "123456"),
             (123456789, "00000-0000", "12345-6789"), (12345678, "000\\-00\\-0000", "012-34-5678"),
             (7, "0", 7), (12.5, "00000", 12.5), (-5, "00", -5), (0.25, "0%", 0.25), (3, "General", 3)]
    for value, layout, _ in cases:
        book.active.append(["t", value, value])
        book.active.cell(book.active.max_row, 2).number_format = layout
    book.save(tmp_path / "codes.xlsx")
    rows = [row for _, row in rows_of(open_table(tmp_path / "codes.xlsx"))]
    assert [row["code"] for row in rows] == [shown for _, _, shown in cases]
    assert [row["plain"] for row in rows] == [1234, 501, 123456, 123456789, 12345678, 7, 12.5, -5, 0.25, 3]


def _rewrite_part(path, part: str, change) -> None:
    """Rewrite the XML ``part`` of the workbook ``path`` as ``change(text)`` gives it."""
    with zipfile.ZipFile(path) as book:
        parts = {name: book.read(name) for name in book.namelist()}
    parts[part] = change(parts[part].decode()).encode()
    with zipfile.ZipFile(path, "w") as book:
        for name, data in parts.items():
            book.writestr(name, data)


def _with_builtin_format(path, code: str, builtin: int) -> None:
    """Rewrite ``path`` so that its cells in the number format ``code`` name it by the built-in
    ``builtin``, as a Japanese or Korean Excel writes its date formats (the file holds the id only)."""
    def change(styles: str) -> str:
        defined = {written.replace("&quot;", '"'): element for element, written
                   in re.findall(r'(<numFmt numFmtId="\d+" formatCode="([^"]*)" />)', styles)}
        number = re.search(r'numFmtId="(\d+)"', defined[code]).group(1)
        return styles.replace(defined[code], "").replace(f'numFmtId="{number}"', f'numFmtId="{builtin}"')
    _rewrite_part(path, "xl/styles.xml", change)


def test_excel_formulas_are_read_as_their_saved_results_and_refused_without_one(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["title", "qty", "total"])
    book.active.append(["a", 2, "=B2*1.5"])
    book.active.append(["b", 3, "=B3*1.5"])
    book.save(tmp_path / "script.xlsx")  # openpyxl saves formulas without results, as scripts do
    with pytest.raises(InputError, match=r"script\.xlsx \(sheet 'Sheet'\): cell C2 holds a formula with no saved result"
                                         r" .*: open it in Excel or LibreOffice and save it"):
        open_table(tmp_path / "script.xlsx")
    book.save(tmp_path / "excel.xlsx")  # as Excel saves them: each with its result
    _rewrite_part(tmp_path / "excel.xlsx", "xl/worksheets/sheet1.xml",
                  lambda sheet: sheet.replace("<f>B2*1.5</f><v />", "<f>B2*1.5</f><v>3</v>")
                                     .replace("<f>B3*1.5</f><v />", "<f>B3*1.5</f><v>4.5</v>"))
    assert [row["total"] for _, row in rows_of(open_table(tmp_path / "excel.xlsx"))] == [3, 4.5]
    # A formula whose result is "" (=IF(B2>2,"",B2)): Excel saves the empty text as its result.
    _rewrite_part(tmp_path / "excel.xlsx", "xl/worksheets/sheet1.xml",
                  lambda sheet: sheet.replace('<c r="C3"><f>B3*1.5</f><v>4.5</v></c>', '<c r="C3" t="str"><f>B3*1.5</f><v></v></c>'))
    assert [row["total"] for _, row in rows_of(open_table(tmp_path / "excel.xlsx"))] == [3, None]


def test_excel_merged_ranges_whose_top_left_cell_is_empty_hide_nothing_and_are_not_named(tmp_path):
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    book.active.append(["title", *"abcdefgh"])
    for number in range(2, 5):
        book.active.append([f"t{number}"])
    # B: a text; C: no cell; D: a cell with a style only; E: white space; F: a formula's empty
    # text; G: the number 0; H: a space, as Excel codes it; I: false.
    book.active["B2"], book.active["E2"], book.active["G2"], book.active["H2"], book.active["I2"] = "EU", "   ", 0, "_x0020_", False
    book.active["D2"].font = Font(bold=True)
    for column in "BCDEFGHI":
        book.active.merge_cells(f"{column}2:{column}3")
    book.save(tmp_path / "merged.xlsx")
    _rewrite_part(tmp_path / "merged.xlsx", "xl/worksheets/sheet1.xml", lambda sheet: sheet.replace(
        '<c r="G2"', '<c r="F2" t="str"><f>""</f><v></v></c><c r="G2"'))
    table = open_table(tmp_path / "merged.xlsx")
    assert [note for note in table.notes if "merged cells (B2:B3, G2:G3, I2:I3): only" in note]
    assert [table.merged_range_at(3, column) for column in "abcdefgh"] == ["B2:B3", None, None, None, None, "G2:G3", None, "I2:I3"]
    assert [row["a"] for _, row in rows_of(table)] == ["EU", None, None]
    # A shared string (t="s") is looked up: white space only is nothing there either.
    assert excel._holds_value(b' t="s"', b"<v>0</v>", ["x", " "]) and not excel._holds_value(b' t="s"', b"<v>1</v>", ["x", " "])


def test_excel_numbers_past_2_53_fail_their_row_rather_than_send_digits_the_sheet_does_not_hold(tmp_path):
    # A script may write 17 digits; Excel holds the nearest double and shows 15 (an ID typed into
    # it has lost the rest already), and a float's whole value past 2**53 has digits of binary noise.
    written = ["12345678901234567", "1.2345678901234568E+16", "12345678901234500", "-9007199254740993", "6.02E+23",
               "9007199254740992", "-9007199254740992", "123456789012345", "2.5"]
    book = openpyxl.Workbook()
    book.active.append(["title", "id"])
    for number in range(len(written)):
        book.active.append([f"t{number}", number + 1000])
    book.save(tmp_path / "ids.xlsx")
    _rewrite_part(tmp_path / "ids.xlsx", "xl/worksheets/sheet1.xml", lambda sheet: re.sub(
        r'<v>(10\d\d)</v>', lambda cell: f"<v>{written[int(cell[1]) - 1000]}</v>", sheet))
    read = [row["id"] for _, row in rows_of(open_table(tmp_path / "ids.xlsx"))]
    assert [str(value) for value in read[:5]] == ["12345678901234567", "1.2345678901234568e+16", "12345678901234500",
                                                  "-9007199254740993", "6.02e+23"]
    assert all("a number past 2^53" in value.reason and "store it as text" in value.reason for value in read[:5])
    assert read[5:] == [2**53, -2**53, 123456789012345, 2.5]


def test_excel_cells_stored_as_iso_text_keep_their_utc_offset_and_microseconds_or_fail_their_row(tmp_path):
    written = ["2024-03-05T10:00:00+02:00", "2024-03-05T10:00:00Z", "2024-03-05T10:00:00.123456-05:30",
               "2024-03-05 10:00", "2024-03-05T10:00:00", "2024-03-05", "10:00:00", "2024-03-05T10:00:00 or so",
               "10:00:00+02:00", "2024-02-30T10:00:00Z", "soon"]
    book = openpyxl.Workbook()
    book.active.append(["title", "when"])
    for number in range(3000):  # an XML of many blocks: a cell may be cut by a block's end
        book.active.append([f"t{number}", f"@{number % len(written)}"])
    book.save(tmp_path / "iso.xlsx")
    # As a program other than Excel may store a date: t="d", its ISO 8601 text in the cell.
    _rewrite_part(tmp_path / "iso.xlsx", "xl/worksheets/sheet1.xml", lambda sheet: re.sub(
        r'<c r="(B\d+)" t="inlineStr"><is><t>@(\d+)</t></is></c>',
        lambda cell: f'<c r="{cell[1]}" t="d"><v>{written[int(cell[2])]}</v></c>', sheet))
    read = [row["when"] for _, row in rows_of(open_table(tmp_path / "iso.xlsx"))]
    plus_two, minus_five_thirty = timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))
    assert read[:7] == [datetime(2024, 3, 5, 10, tzinfo=plus_two), datetime(2024, 3, 5, 10, tzinfo=timezone.utc),
                        datetime(2024, 3, 5, 10, 0, 0, 123456, tzinfo=minus_five_thirty), datetime(2024, 3, 5, 10),
                        datetime(2024, 3, 5, 10), date(2024, 3, 5), time_of_day(10)]
    assert [str(flawed) for flawed in read[7:11]] == written[7:]
    assert "no ISO 8601 date" in read[7].reason and "names no moment" in read[8].reason
    assert read[11:22] == read[:11] and len(read) == 3000
    report = fragment_bulk.import_file(tmp_path / "iso.xlsx", types={"when": "datetime"}, dry_run=True, skip_invalid=True)
    # The four texts refused, and the time of day alone, which is no date-time either.
    assert report.counts["failed"] == sum(1 for number in range(3000) if number % len(written) >= 6)


@pytest.mark.parametrize("builtin, code, value, read", [
    (31, 'yyyy"年"m"月"d"日"', datetime(2024, 3, 5), datetime(2024, 3, 5)),
    (57, "[$-411]ge.m.d", datetime(2024, 3, 5), datetime(2024, 3, 5)),
    (32, 'h"時"mm"分"', 0.5, time_of_day(12, 0)),
])
def test_excel_dates_in_the_built_in_formats_of_cjk_locales_are_dates_not_serial_numbers(tmp_path, builtin, code, value, read):
    book = openpyxl.Workbook()
    book.active.append(["title", "due"])
    book.active.append(["t", value])
    book.active["B2"].number_format = code
    book.save(tmp_path / "ja.xlsx")
    _with_builtin_format(tmp_path / "ja.xlsx", code, builtin)
    assert rows_of(open_table(tmp_path / "ja.xlsx")) == [(2, {"title": "t", "due": read})]


@pytest.mark.parametrize("sheet", ["Archive", 1, "1"])
def test_excel_sheet_by_name_or_index(workbook, sheet):
    assert rows_of(open_table(workbook, sheet=sheet)) == [(2, {"title": "old"})]


def test_a_password_protected_workbook_is_named_so(tmp_path):
    # Excel seals such a workbook in an OLE container: no zip, so openpyxl says only "not a zip file".
    path = write(tmp_path, "secret.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    with pytest.raises(InputError, match=r"secret\.xlsx: cannot be read as an Excel workbook: it is password-protected"):
        open_table(path)


def test_a_sheet_asked_of_a_csv_is_refused(tmp_path):
    with pytest.raises(InputError, match="--sheet is for Excel workbooks"):
        open_table(write(tmp_path, "c.csv", b"title\na\n"), sheet="Tasks")


def test_unknown_sheet_lists_the_sheets(workbook):
    with pytest.raises(InputError, match=r"sheet 'Nope' is not in the workbook; its sheets of rows are: Tasks, Archive"):
        open_table(workbook, sheet="Nope")


def test_a_table_that_starts_at_c3_is_read_and_a_cell_beside_it_is_named(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["C3"], sheet["D3"] = "title", "n"
    sheet["C4"], sheet["D4"] = "a", 1
    sheet["D5"] = 2
    book.save(tmp_path / "c3.xlsx")
    table = open_table(tmp_path / "c3.xlsx")
    assert table.columns == ["title", "n"] and rows_of(table) == [(4, {"title": "a", "n": 1}), (5, {"title": None, "n": 2})]
    sheet["A5"] = "stray"
    book.save(tmp_path / "c3.xlsx")
    with pytest.raises(InputError, match=r"row 5 has a value \('stray'\) in column 1, outside the header's columns 3 to 4"):
        rows_of(open_table(tmp_path / "c3.xlsx"))
    sheet["E3"], sheet["G3"] = "x", "y"  # a gap in the header: named by its place in the sheet
    book.save(tmp_path / "c3.xlsx")
    with pytest.raises(InputError, match=r"column 6 of the header \(row 3\) has no name"):
        open_table(tmp_path / "c3.xlsx")


def test_a_hidden_first_sheet_is_passed_over_unless_asked_for(workbook):
    book = openpyxl.load_workbook(workbook)
    book["Tasks"].sheet_state = "hidden"
    book.save(workbook)
    assert rows_of(open_table(workbook)) == [(2, {"title": "old"})]
    assert len(rows_of(open_table(workbook, sheet="Tasks"))) == 2


def test_a_wrong_sheet_size_recorded_in_the_file_loses_no_row_or_column(tmp_path):
    book = openpyxl.Workbook()
    for row in [["title", "a", "b"], *([f"t{n}", n, f"b{n}"] for n in range(2, 8))]:
        book.active.append(row)
    book.save(tmp_path / "ok.xlsx")
    # what some writers do: a <dimension> that says A1:B3 over a sheet of A1:C7
    with zipfile.ZipFile(tmp_path / "ok.xlsx") as source, zipfile.ZipFile(tmp_path / "stale.xlsx", "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:B3"/>', data)
            target.writestr(item, data)
    table = open_table(tmp_path / "stale.xlsx")
    assert table.columns == ["title", "a", "b"]
    assert rows_of(table)[-1] == (7, {"title": "t7", "a": 7, "b": "b7"}) and len(rows_of(table)) == 6


def test_a_chart_sheet_is_passed_over_or_refused_by_name(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Data"
    book.active.append(["title"])
    book.active.append(["a"])
    chart = BarChart()
    chart.add_data(Reference(book.active, min_col=1, min_row=1, max_row=2))
    book.create_chartsheet("Chart", 0).add_chart(chart)  # first in the workbook
    book.save(tmp_path / "c.xlsx")
    assert rows_of(open_table(tmp_path / "c.xlsx")) == [(2, {"title": "a"})]
    for sheet in ("Chart", 0):
        with pytest.raises(InputError, match=r"sheet 'Chart' is a chart, not a sheet of rows; its sheets of rows are: Data"):
            open_table(tmp_path / "c.xlsx", sheet=sheet)



def _merged_workbook(path, *merges: str) -> None:
    """A sheet of 12 data rows (title, region, n) with ``merges`` merged, as Excel keeps them:
    the value in the top-left cell only."""
    book = openpyxl.Workbook()
    book.active.append(["title", "region", "n"])
    for number in range(2, 14):
        book.active.append([f"t{number}", f"r{number}", number])
    for merged in merges:
        book.active.merge_cells(merged)
    book.save(path)


def test_merged_cells_over_data_rows_are_named_in_one_warning_and_read_as_excel_keeps_them(tmp_path):
    _merged_workbook(tmp_path / "merged.xlsx", "B3:B5", "A12:A13", "B7:C8", "B10:B11", "C2:C3")
    table = open_table(tmp_path / "merged.xlsx")
    assert table.notes == (
        "warning: merged.xlsx (sheet 'Sheet'): merged cells (C2:C3, B3:B5, B7:C8 and 2 more): only the top-left cell"
        " of a merged range holds its value, so its other rows read as empty. To give every row the value, unmerge"
        " them before importing (in Excel: select the range, turn Merge & Center off, then fill down with Ctrl+D)",)
    rows = dict(rows_of(table))
    assert [rows[number]["region"] for number in (3, 4, 5, 6)] == ["r3", None, None, "r6"]  # nothing filled in
    assert (rows[7]["n"], rows[8]["region"]) == (None, None)
    assert [table.merged_range_at(13, "title"), table.merged_range_at(12, "title"), table.merged_range_at(8, "n")] == [
        "A12:A13", None, "B7:C8"]
    assert table.merged_range_at(6, "region") is None and table.merged_range_at(5, None) is None


def test_merged_cells_that_empty_no_cell_of_a_data_row_in_the_tables_columns_say_nothing(tmp_path):
    # A header cell merged over a column with no name, a row's last cell merged past the table,
    # and a merge beside it: the header's row is not data, the columns outside it are not read.
    _merged_workbook(tmp_path / "aside.xlsx", "C1:D1", "C4:E4", "F6:F9")
    assert open_table(tmp_path / "aside.xlsx").notes == ()
    _merged_workbook(tmp_path / "plain.xlsx")
    assert open_table(tmp_path / "plain.xlsx").notes == ()
    # A table from C3: its own columns and rows, whatever lies above and beside it.
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["C3"], sheet["D3"], sheet["C4"], sheet["D4"], sheet["D5"] = "title", "n", "a", 1, 2
    sheet.merge_cells("C4:C5")
    book.save(tmp_path / "c3.xlsx")
    table = open_table(tmp_path / "c3.xlsx")
    assert "merged cells (C4:C5)" in table.notes[0] and table.merged_range_at(5, "title") == "C4:C5"


def _banner_workbook(path, *, notes=()) -> None:
    """A title merged over A1:C1 (its value in A1 alone, as Excel keeps it), ``notes`` rows, a
    blank row, then a table of three columns."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A1"] = "Q3 tickets \u2014 exported 2026-10-01 from the helpdesk"
    sheet.merge_cells("A1:C1")
    for number, note in enumerate(notes, 2):
        for column, text in enumerate(note, 1):
            sheet.cell(number, column, text)
    top = len(notes) + 3
    for number, row in enumerate([["title", "status", "n"], ["a", "TODO", 1], ["b", "DONE", 2]], top):
        for column, value in enumerate(row, 1):
            sheet.cell(number, column, value)
    book.save(path)


def test_a_title_and_notes_above_a_sheets_table_are_skipped_with_one_note(tmp_path):
    _banner_workbook(tmp_path / "banner.xlsx")
    table = open_table(tmp_path / "banner.xlsx")
    assert table.columns == ["title", "status", "n"]
    assert rows_of(table) == [(4, {"title": "a", "status": "TODO", "n": 1}), (5, {"title": "b", "status": "DONE", "n": 2})]
    assert table.notes == ("note: banner.xlsx (sheet 'Sheet'): the table's header is row 3; rows 1-2 above it are"
                           " skipped ('Q3 tickets \u2014 exported 2026-10-01 from\u2026'); give another header row with"
                           " --header-row",)
    _banner_workbook(tmp_path / "notes.xlsx", notes=[["Exported by:", "ops"], ["Filter: open tickets"]])
    table = open_table(tmp_path / "notes.xlsx")
    assert (table.columns, table.header_row) == (["title", "status", "n"], 5)
    assert table.notes[0].startswith("note: notes.xlsx (sheet 'Sheet'): the table's header is row 5; rows 1-4 above")


def test_a_header_short_of_a_name_right_above_its_rows_is_not_skipped_for_notes(tmp_path):
    """Its first row of data would be taken for the header, and never read: refused, as before,
    naming the value outside the header."""
    book = openpyxl.Workbook()
    for row in [["key", "title", "status"], ["k1", "Fix login", "TODO", "urgent"], ["k2", "Crash", "DONE", "low"],
                ["k3", "Slow", "TODO", "low"]]:
        book.active.append(row)
    book.save(tmp_path / "short.xlsx")
    table = open_table(tmp_path / "short.xlsx")
    assert (table.columns, table.header_row, table.notes) == (["key", "title", "status"], 1, ())
    with pytest.raises(InputError, match=r"row 2 has a value \('urgent'\) in column 4, outside the header's columns"):
        rows_of(table)


def test_a_sheet_read_from_another_header_row_is_another_input_for_a_checkpoint(tmp_path):
    _banner_workbook(tmp_path / "banner.xlsx")
    found, given = open_table(tmp_path / "banner.xlsx"), open_table(tmp_path / "banner.xlsx", header_row=3)
    assert found.fingerprint() == given.fingerprint()  # the same rows read
    assert open_table(tmp_path / "banner.xlsx", header_row=1).fingerprint() != found.fingerprint()
    book = openpyxl.Workbook()
    book.active.append(["title", "n"])
    book.active.append(["a", 1])
    book.save(tmp_path / "plain.xlsx")
    assert open_table(tmp_path / "plain.xlsx", header_row=1).fingerprint() == open_table(tmp_path / "plain.xlsx").fingerprint()


def test_a_sheet_whose_first_row_is_its_header_reads_as_it_always_did(tmp_path):
    book = openpyxl.Workbook()
    for row in [["title", "n"], ["a", 1, "stray"], ["b", 2], ["c", 3]]:  # a stray value does not make row 1 a title
        book.active.append(row)
    book.save(tmp_path / "stray.xlsx")
    table = open_table(tmp_path / "stray.xlsx")
    assert (table.columns, table.notes) == (["title", "n"], ())
    with pytest.raises(InputError, match=r"row 2 has a value \('stray'\) in column 3, outside the header's columns 1"
                                         r" to 2 \(row 1; is the header another row\? give it with --header-row\)"):
        rows_of(table)
    book = openpyxl.Workbook()
    for row in [["Q3"], ["title", "n"], ["a", 1]]:  # one column, then two: a header of one column has no room to be wider
        book.active.append(row)
    book.active.append(["b", 2])
    book.save(tmp_path / "plain.xlsx")
    assert open_table(tmp_path / "plain.xlsx").header_row == 2  # (the title above a wider table)
    book = openpyxl.Workbook()
    for row in [["title"], ["a", 1], ["b", 2]]:  # numbers: row 2 is data, not a header
        book.active.append(row)
    book.save(tmp_path / "data.xlsx")
    assert (open_table(tmp_path / "data.xlsx").header_row, open_table(tmp_path / "data.xlsx").notes) == (1, ())


def test_header_row_names_a_sheets_header_and_its_rows_keep_their_numbers(tmp_path):
    _banner_workbook(tmp_path / "banner.xlsx")
    table = open_table(tmp_path / "banner.xlsx", header_row=3)
    assert (table.columns, table.notes) == (["title", "status", "n"], ())
    assert [label for label, _ in rows_of(table)] == [4, 5]
    table = open_table(tmp_path / "banner.xlsx", header_row=4)  # the user's word, even for a row of data
    assert table.columns == ["a", "TODO", "1"] and rows_of(table) == [(5, {"a": "b", "TODO": "DONE", "1": 2})]
    with pytest.raises(InputError, match=r"row 3 has a value \('status'\) in column 2, outside the header's columns 1 to 1 \(row 1;"):
        rows_of(open_table(tmp_path / "banner.xlsx", header_row=1))
    with pytest.raises(InputError, match=r"^banner\.xlsx \(sheet 'Sheet'\): the header \(row 2\) is empty$"):
        open_table(tmp_path / "banner.xlsx", header_row=2)
    with pytest.raises(InputError, match=r"the header row 9 is past the end of the sheet \(its last row is 5\)$"):
        open_table(tmp_path / "banner.xlsx", header_row=9)


@pytest.mark.parametrize("reader", ["pyarrow", "pandas"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "cp1252"])
def test_header_row_skips_the_lines_above_a_csv_header(tmp_path, monkeypatch, reader, encoding):
    if reader == "pandas":
        monkeypatch.setattr(readers, "_arrow", lambda: None)
    # Above the header: a title with a comma and a quote left open, and a blank line; the delimiter
    # is sniffed, and the encoding guessed, from the header on (cp1252's é is not UTF-8).
    text = 'Q3 tickets, "exported\r\n\r\ntitle;city\r\nParis;Orléans\r\n\r\nLyon;"a\r\nb"\r\n'
    table = open_table(write(tmp_path, "t.csv", text.encode(encoding)), header_row=3)
    assert (table.columns, table.delimiter) == (["title", "city"], ";")
    assert rows_of(table) == [(4, {"title": "Paris", "city": "Orléans"}), (6, {"title": "Lyon", "city": "a\r\nb"})]
    assert table.fingerprint() != open_table(table.path, header_row=4).fingerprint()


@pytest.mark.parametrize("reader", ["pyarrow", "pandas"])
def test_csv_errors_after_skipped_lines_name_the_files_own_rows(tmp_path, monkeypatch, reader):
    if reader == "pandas":
        monkeypatch.setattr(readers, "_arrow", lambda: None)
    with pytest.raises(InputError, match=r"r\.csv: row 6 has 3 cells but the header has 2"):
        rows_of(open_table(write(tmp_path, "r.csv", b"Report\nof Q3\ntitle,n\na,1\nb,2\nc,3,x\n"), header_row=3))
    with pytest.raises(InputError, match=r"f\.csv: row 4 has 3 cells but the header has 2"):
        open_table(write(tmp_path, "f.csv", b"Report\nof Q3\ntitle,n\na,1,x\n"), header_row=3)
    with pytest.raises(InputError, match=r"q\.csv: row 5: a quote opens in this row and is never closed"):
        rows_of(open_table(write(tmp_path, "q.csv", b"Report\n\ntitle,n\na,1\nb,\"open\nc,3\n"), header_row=3))
    with pytest.raises(InputError, match=r"byte b'\\xff' on line 5 is not valid utf-8"):
        rows_of(open_table(write(tmp_path, "u.csv", b"Report\n\ntitle,n\na,1\nb,\xff\n"), header_row=3, encoding="utf-8"))


def test_a_header_row_past_the_end_or_not_a_row_number_is_one_error(tmp_path):
    path = write(tmp_path, "t.csv", b"Report\ntitle,n\na,1\n")
    with pytest.raises(InputError, match=r"^t\.csv: the header row 4 is past the end of the file$"):
        open_table(path, header_row=4)
    with pytest.raises(InputError, match=r"^t\.csv: the header row 3 is past the end of the file$"):
        open_table(write(tmp_path, "t.csv", b"Report\ntitle,n\n"), header_row=3)
    with pytest.raises(InputError, match=r"^the header row must be 1 or more \(rows are numbered from 1\), not 0$"):
        open_table(path, header_row=0)
    with pytest.raises(InputError, match="the header row is a row number"):
        open_table(path, header_row=True)
    with pytest.raises(InputError, match="JSON Lines has no header row"):
        open_table(write(tmp_path, "t.jsonl", b'{"title": "a"}\n'), header_row=2)
    with pytest.raises(InputError, match="a DataFrame's columns are its header"):
        open_table(pd.DataFrame({"title": ["a"]}), header_row=2)


@pytest.mark.parametrize("first_line", [b"sep=;", b'"sep=;"', b"\xef\xbb\xbfsep=;", b"SEP=;"])
def test_excels_sep_line_names_the_delimiter_and_is_skipped(tmp_path, first_line):
    table = open_table(write(tmp_path, "s.csv", first_line + b"\r\ntitle;city, country\r\na;Paris, France\r\n"))
    assert (table.columns, table.delimiter) == (["title", "city, country"], ";")
    assert rows_of(table) == [(3, {"title": "a", "city, country": "Paris, France"})]
    assert table.notes == ("note: s.csv: line 1 ('sep=;') names the delimiter for Excel and is skipped: the header is"
                           " row 2 (rows keep the file's line numbers; Excel, which hides that line, shows each one row"
                           " higher)",)


def test_a_sep_line_gives_way_to_a_given_delimiter_or_header_row(tmp_path):
    utf16 = open_table(write(tmp_path, "w.csv", "sep=\t\r\ntitle\tn\r\na\t1\r\n".encode("utf-16")))
    assert (utf16.columns, utf16.delimiter, rows_of(utf16)) == (["title", "n"], "\t", [(3, {"title": "a", "n": "1"})])
    path = write(tmp_path, "s.csv", b"sep=;\ntitle,n;x\na,1;2\n")
    given = open_table(path, delimiter=",")
    assert (given.columns, given.header_row) == (["title", "n;x"], 2)
    assert "(--delimiter ',' is used)" in given.notes[0]
    named = open_table(path, header_row=1)  # the user's word: line 1 is the header
    assert (named.columns, named.notes) == (["sep="], ())
    assert open_table(write(tmp_path, "p.csv", b"sep=x,y\na,b\n")).columns == ["sep=x", "y"]  # not Excel's line
    with pytest.raises(InputError, match=r"^e\.csv: the file is empty but for Excel's sep= line$"):
        open_table(write(tmp_path, "e.csv", b"sep=;\r\n"))


# -- JSON Lines -------------------------------------------------------------------------------


def test_jsonl_columns_are_the_union_and_values_stay_native(tmp_path):
    content = b'{"title": "a", "n": [1, 2]}\n\n{"title": "b", "tags": ["x"], "meta": {"k": 1}, "n": [3, 4]}\n'
    table = open_table(write(tmp_path, "t.jsonl", content))
    assert table.columns == ["title", "n", "tags", "meta"]
    assert rows_of(table) == [
        (1, {"title": "a", "n": [1, 2], "tags": None, "meta": None}),
        (3, {"title": "b", "n": [3, 4], "tags": ["x"], "meta": {"k": 1}}),
    ]


def test_jsonl_keys_name_columns_trimmed_as_headers_are(tmp_path):
    table = open_table(write(tmp_path, "t.jsonl", b'{" title ": "a", "n": 1}\n{"n": 2, " title ": "b"}\n'))
    assert table.columns == ["title", "n"]
    assert rows_of(table) == [(1, {"title": "a", "n": 1}), (2, {"title": "b", "n": 2})]
    with pytest.raises(InputError, match="the keys 'a' and ' a' name the same column"):
        open_table(write(tmp_path, "u.jsonl", b'{"a": 1, " a": 2}\n'))
    assert open_table(write(tmp_path, "v.jsonl", b'{"": 1, "title": "t"}\n')).columns == ["", "title"]  # as before


def test_jsonl_read_in_another_encoding_is_another_input(tmp_path):
    path = write(tmp_path, "t.jsonl", '{"title": "Café"}\n'.encode("utf-8"))
    assert open_table(path).fingerprint() != open_table(path, encoding="latin-1").fingerprint()
    assert open_table(path).fingerprint() == open_table(path).fingerprint()


def test_jsonl_bad_line_is_named(tmp_path):
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        open_table(write(tmp_path, "t.ndjson", b'{"a": 1}\n{"a": \n'))
    with pytest.raises(InputError, match="line 2 holds a number of more than 4,300 digits"):
        rows_of(open_table(write(tmp_path, "t.jsonl", b'{"a": 1}\n{"a": ' + b"1" * 5000 + b"}\n")))


JSONL_TEXT = '{"title": "Café à Orléans", "city": "Москва 東京 😀"}\r\n\r\n{"title": "b"}\r\n'  # as PowerShell writes
JSONL_ROWS = [(1, {"title": "Café à Orléans", "city": "Москва 東京 😀"}), (3, {"title": "b", "city": None})]
BOMS = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE, "utf-32-le": codecs.BOM_UTF32_LE,
        "utf-32-be": codecs.BOM_UTF32_BE, "utf-8": codecs.BOM_UTF8}


@pytest.mark.parametrize("encoding", list(BOMS))
def test_jsonl_with_a_bom_is_read_in_the_encoding_it_names(tmp_path, encoding):
    path = write(tmp_path, "w.jsonl", BOMS[encoding] + JSONL_TEXT.encode(encoding))
    assert rows_of(open_table(path)) == JSONL_ROWS
    assert rows_of(open_table(path, encoding=encoding)) == JSONL_ROWS  # a codec that keeps the BOM


def test_jsonl_that_does_not_decode_is_one_line_asking_for_its_encoding(tmp_path):
    path = write(tmp_path, "w.jsonl", '{"title": "Café à Orléans"}\n'.encode("cp1252"))
    with pytest.raises(InputError, match=r"^w\.jsonl: cannot be read as utf-8 \(byte b'\\xe9' on line 1 is not valid utf-8\);"
                                         r" give the right --encoding \(e\.g\. utf-16, cp1252\)$"):
        open_table(path)
    assert rows_of(open_table(path, encoding="cp1252")) == [(1, {"title": "Café à Orléans"})]
    with pytest.raises(InputError, match=r"^w\.jsonl: cannot be read as utf-16: .*BOM; give the right --encoding"):
        open_table(write(tmp_path, "w.jsonl", JSONL_TEXT.encode("utf-16-le")), encoding="utf-16")
    with pytest.raises(InputError, match=r"^w\.jsonl: unknown encoding 'nope'$"):
        open_table(path, encoding="nope")


# -- DataFrames -------------------------------------------------------------------------------


def test_dataframe_values_become_python_natives():
    frame = pd.DataFrame(
        {
            "score": [1.5, float("nan"), 3.0],
            "count": pd.array([1, None, 3], dtype="Int64"),
            "due": pd.to_datetime(["2026-01-02 10:00", None, "2026-03-04 12:30"]).tz_localize("Europe/Paris"),
            "note": ["x", pd.NA, None],
            "tier": pd.Categorical(["gold", "silver", None]),
            "level": pd.Categorical([1, 2, None]),
            7: [True, False, True],
        },
        index=["r1", "r2", "r3"],
    )
    table = open_table(frame, chunk_size=2)
    assert table.columns == ["score", "count", "due", "note", "tier", "level", "7"]
    rows = rows_of(table)
    assert [label for label, _ in rows] == ["r1", "r2", "r3"]
    first, second = rows[0][1], rows[1][1]
    assert first["due"] == datetime(2026, 1, 2, 10, tzinfo=ZoneInfo("Europe/Paris")) and type(first["due"]) is datetime
    assert type(first["count"]) is int and type(first["7"]) is bool and first["level"] == 1 and type(first["level"]) is int
    assert first["tier"] == "gold" and type(first["score"]) is float
    assert all(second[name] is None for name in ("score", "count", "due", "note"))
    assert rows[2][1]["tier"] is None and rows[2][1]["note"] is None
    assert table.fingerprint() == open_table(frame.copy()).fingerprint()
    assert table.fingerprint() != open_table(frame.assign(score=0.0)).fingerprint()
    flags = pd.Series([True, 1, "x"], index=frame.index, dtype=object)
    as_text = pd.Series(["True", "1", "x"], index=frame.index, dtype=object)  # pandas hashes these alike
    assert open_table(frame.assign(v=flags)).fingerprint() != open_table(frame.assign(v=as_text)).fingerprint()


def test_dataframe_duplicate_column_names_are_refused():
    with pytest.raises(InputError, match="appears twice"):
        open_table(pd.DataFrame([[1, 2]], columns=["a", "a"]))


# -- reading ahead ----------------------------------------------------------------------------


def test_read_ahead_keeps_order_and_does_not_wait_for_the_item_being_made():
    assert list(read_ahead(iter(range(50)), 3)) == list(range(50))
    started, release, seen_released = threading.Event(), threading.Event(), []

    def items():
        yield 1
        started.set()
        release.wait(10)  # the second item takes as long as the test lets it
        seen_released.append(release.is_set())
        yield 2

    ahead = read_ahead(items(), 1)
    assert next(ahead) == 1
    assert started.wait(10)
    ahead.close()  # Ctrl-C: returns while the second item is still being made...
    release.set()  # ...so the item is only let finish afterwards
    for _ in range(200):
        if seen_released:
            break
        time.sleep(0.05)
    assert seen_released == [True]
