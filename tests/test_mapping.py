"""Mapping and identity: inference, the YAML file, overrides, types, uids, row problems."""

from __future__ import annotations

import hashlib
import json
import tempfile
import unicodedata
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import fragment_bulk
from fragment_bulk.errors import InputError
from fragment_bulk.formats import column_name
from fragment_bulk.identity import normalize_uid, uuid_from_key, uuid_from_payload
from fragment_bulk.mapping import Mapping, _MappingLoader, parse_assignment
from fragment_bulk.readers import Chunk, open_table
from fragment_bulk.sandbox import Sandbox, SandboxConfig

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"


def chunk_of(data: dict, index=None, start: int = 0) -> Chunk:
    frame = pd.DataFrame(data, index=index, dtype=object)
    if index is None:
        frame.index = pd.RangeIndex(start + 2, start + 2 + len(frame))
    return Chunk(start, frame)


def mapped(mapping: Mapping, data: dict, **kwargs):
    chunk = chunk_of(data, **kwargs)
    mapping.check_columns(list(chunk.frame.columns))
    return mapping.validate(chunk), mapping.map_chunk(chunk)


# -- identity ---------------------------------------------------------------------------------


def test_uid_from_key_is_the_docs_recipe():
    expected = str(uuid.UUID(hex=hashlib.md5(b"ticket#123").hexdigest()))
    assert uuid_from_key("ticket", ["123"]) == expected == "cbc0ccd6-fbc9-07b3-f9f9-b8a8eeb7ff2c"
    assert uuid_from_key("ticket", ["a", "b"]) == str(uuid.UUID(hex=hashlib.md5(b"ticket#a#b").hexdigest()))


def test_two_key_columns_that_join_to_the_same_text_are_two_uids():
    assert uuid_from_key("key", ["x#y", "z"]) != uuid_from_key("key", ["x", "y#z"])
    assert uuid_from_key("key", ["x\\", "#z"]) != uuid_from_key("key", ["x\\#", "z"])
    assert uuid_from_key("key", ["x#y"]) == str(uuid.UUID(hex=hashlib.md5(b"key#x#y").hexdigest()))  # one key: as is
    mapping = Mapping.infer(["A", "B", "title"]).with_overrides(keys=["A", "B"])
    problems, rows = mapped(mapping, {"A": ["x#y", "x"], "B": ["z", "y#z"], "title": ["first", "second"]})
    assert problems == [] and rows[0].uid != rows[1].uid


@pytest.mark.parametrize("text", ["CBC0CCD6FBC907B3F9F9B8A8EEB7FF2C", "{cbc0ccd6-fbc9-07b3-f9f9-b8a8eeb7ff2c}",
                                  " cbc0ccd6-FBC9-07b3-f9f9-b8a8eeb7ff2c "])
def test_normalize_uid_accepts_any_32_hex_form(text):
    assert normalize_uid(text) == "cbc0ccd6-fbc9-07b3-f9f9-b8a8eeb7ff2c"


@pytest.mark.parametrize("text", ["", "cbc0ccd6", "zbc0ccd6fbc907b3f9f9b8a8eeb7ff2c", "cbc0ccd6fbc907b3f9f9b8a8eeb7ff2c0"])
def test_normalize_uid_refuses_the_rest(text):
    with pytest.raises(ValueError, match="uid"):
        normalize_uid(text)


def test_uid_from_payload_ignores_key_order_only():
    assert uuid_from_payload({"a": 1, "b": "é"}) == uuid_from_payload({"b": "é", "a": 1})
    assert uuid_from_payload({"a": 1}) != uuid_from_payload({"a": 2})


# -- inference, file, overrides ---------------------------------------------------------------


def test_infer_maps_by_name_and_never_guesses_a_title():
    mapping = Mapping.infer(["Title", "URL", "Due Date", "Assignee", "Status", "uid", "Pays réel", "fields.tier", "created_at",
                             "Created At", "Done at"])
    targets = {name: column.target for name, column in mapping.columns.items()}
    assert targets == {
        "Title": "title", "URL": "url", "Due Date": "due_at", "Assignee": "assignee_email", "Status": "status",
        "uid": "uid", "Pays réel": "fields.pays_reel", "fields.tier": "fields.tier", "created_at": "ignore",
        # an export's server-set column is left out; the user's own dates of the old system are data
        "Created At": "fields.created_at", "Done at": "fields.done_at",
    }
    untitled = Mapping.infer(["Subject", "name"])
    assert "no column is mapped to title" in untitled.to_yaml()
    with pytest.raises(InputError, match='no column is mapped to title; map one with --map "COLUMN=title"'):
        untitled.check_columns(["Subject", "name"])


def test_a_second_title_or_url_column_gets_a_field_of_its_own():
    names = ["Title", "title", "URL", " url ", "fields.title"]
    mapping = Mapping.infer(names)
    targets = {name: column.target for name, column in mapping.columns.items()}
    assert targets == {"Title": "title", "title": "fields.title_2", "URL": "url", " url ": "fields.url_2",
                       "fields.title": "fields.title_3"}
    mapping.check_columns(names)  # and the mapping holds together: no two columns on one target
    _, rows = mapped(mapping, {name: [name.strip() + " value"] for name in names})
    assert rows[0].payload["fields"]["title"] == "Title value" and rows[0].payload["fields"]["title_2"] == "title value"


def test_title_and_url_go_as_text_whatever_the_cell_holds():
    mapping = Mapping.infer(["title", "url"])
    _, rows = mapped(mapping, {"title": [2024, True, 12.5], "url": [12345, "http://x", None]})
    assert [row.payload["fields"] for row in rows] == [
        {"title": "2024", "url": "12345"}, {"title": "true", "url": "http://x"}, {"title": "12.5"}]


def test_nan_and_infinity_anywhere_in_a_cell_are_invalid_rows_not_a_crash_while_sending():
    mapping = Mapping.infer(["title", "x", "meta", "data"]).with_overrides(types={"data": "json"})
    problems, rows = mapped(mapping, {
        "title": ["a", "b", "c", "d"],
        "x": [1.5, float("inf"), float("nan"), 2.0],  # the DataFrame reader makes a DataFrame's NaN None first
        "meta": [{"k": [1]}, None, {"k": [float("nan")]}, None],
        "data": ["[1]", "1e400", None, "[1, NaN]"],  # 1e400 is valid JSON, and reads as Infinity
    })
    assert sorted((p.row, p.column, p.reason.split(" (")[0]) for p in problems) == [
        (3, "data", "not valid JSON"), (3, "x", "not a finite number"), (4, "meta", "not a finite number"),
        (4, "x", "not a finite number"), (5, "data", "not valid JSON")]
    assert rows[0].payload["fields"] == {"title": "a", "x": 1.5, "meta": {"k": [1]}, "data": [1]}
    # a tuple inside a cell, and a huge integer beside a float (no float can hold it): no crash
    problems, rows = mapped(Mapping.infer(["title", "m", "n"]), {
        "title": ["a", "b"], "m": [{"k": (float("nan"),)}, {"k": (1,)}], "n": [1.5, 10**400]})
    assert [(p.row, p.column) for p in problems] == [(2, "m")] and rows[1].payload["fields"]["n"] == 10**400


def test_cells_json_has_no_value_for_are_invalid_rows_not_their_repr():
    stamp = np.datetime64("2024-05-01T12:30:00.000000000")
    problems, rows = mapped(Mapping.infer(["title", "x"]), {
        "title": ["a", "b", "c", "d", "e", "f", "g", "h", "i"],
        "x": [b"raw", {1, 2}, object(), Decimal("12345678901234567890.123"), Decimal("1.10"),
              Decimal("12345678901234567890"), uuid.UUID(int=1), [stamp],
              datetime(9999, 12, 31, 23, tzinfo=ZoneInfo("America/New_York"))],  # the year 10000 in UTC
    })
    reasons = {p.row: p.reason for p in problems}
    assert sorted(reasons) == [2, 3, 4, 5, 10]
    assert reasons[2].startswith("bytes cannot be sent as JSON") and reasons[3].startswith("a set cannot")
    assert "more digits than a JSON number keeps" in reasons[5] and reasons[10].startswith("out of range")
    assert [row.payload["fields"].get("x") for row in rows[4:8]] == [
        1.1, 12345678901234567890, "00000000-0000-0000-0000-000000000001", ["2024-05-01T12:30:00"]]
    problems, _ = mapped(Mapping.infer(["title", "d"]), {"title": ["a"], "d": [{(1, 2): 3}]})
    assert [p.reason for p in problems] == ["the key (1, 2) cannot be a JSON key (keys are text)"]
    # the same inside a json column, at any depth
    problems, _ = mapped(Mapping.infer(["title", "j"]).with_overrides(types={"j": "json"}),
                         {"title": ["a", "b"], "j": [{"k": [b"x"]}, {"k": [1]}]})
    assert [(p.row, p.column, p.reason.split(" (")[0]) for p in problems] == [(2, "j", "bytes cannot be sent as JSON")]


def test_a_str_cell_without_a_text_of_its_own_is_found_by_the_check_pass():
    problems = Mapping.infer(["title", "tags"]).with_overrides(types={"tags": "str"}).validate(
        chunk_of({"title": ["a", "b"], "tags": [["x"], "ok"]}))
    assert [(p.row, p.column, p.reason.split(" (")[0]) for p in problems] == [(2, "tags", "a list is not text")]


def test_int_reasons_say_what_is_wrong():
    mapping = Mapping.from_dict({"columns": {"t": "title", "n": {"target": "fields.n", "type": "int"}}})
    problems, rows = mapped(mapping, {"t": list("abcd"), "n": [Decimal("1.5"), 1e30, "000000000000000000000042", True]})
    assert [p.reason.split(" (")[0] for p in problems] == ["not a whole number", "a whole number beyond 64 bits",
                                                           "not a whole number"]
    assert rows[2].payload["fields"]["n"] == 42  # zeros in front are no digits too many
    problems, rows = mapped(mapping, {"t": list("ab"), "n": [Decimal("2.9999999999999999"), Decimal("3")]})
    assert [p.reason for p in problems] == ["not a whole number"] and rows[1].payload["fields"]["n"] == 3  # not through a float


def test_text_columns_refuse_cells_without_a_text_of_their_own():
    cells = [b"Invoice 42", {"x"}, object(), [1, 2], 12.0, np.int64(5), Decimal("1.5"), date(2024, 1, 2), True, "ok"]
    problems, rows = mapped(Mapping.infer(["title", "n"]), {"title": cells, "n": list(range(len(cells)))})
    reasons = {p.row: p.reason.split(" (")[0] for p in problems}
    assert reasons == {2: "bytes cannot be sent as JSON", 3: "a set cannot be sent as JSON",
                       4: "an object cannot be sent as JSON", 5: "a list is not text"}  # not their Python repr
    assert [row.payload["fields"]["title"] for row in rows[4:]] == ["12", "5", "1.5", "2024-01-02", "true", "ok"]


def test_the_number_type_keeps_an_int_an_int_and_a_float_a_float():
    mapping = Mapping.infer(["title", "n"]).with_overrides(types={"n": "number"})
    problems, rows = mapped(mapping, {"title": list("abcdefgh"),
                                      "n": ["2", " 2.0 ", "-1e3", "1.5", np.int64(7), Decimal("0.5"), "two", True]})
    sent = [row.payload["fields"].get("n") for row in rows[:6]]
    assert sent == [2, 2.0, -1000.0, 1.5, 7, 0.5] and [type(n) for n in sent[:3]] == [int, float, float]
    assert [(p.row, p.reason) for p in problems] == [(8, "not a number"), (9, "not a number")]


def test_headers_in_other_scripts_keep_their_letters():
    mapping = Mapping.infer(["title", "Страна", "Край", "城市", "Pays réel"])
    assert [column.target for column in mapping.columns.values()] == [
        "title", "fields.страна", "fields.край", "fields.城市", "fields.pays_reel"]


def test_empty_null_written_unquoted_in_yaml_is_the_null_policy():
    assert Mapping.from_dict(yaml.safe_load("empty: null\ncolumns: {A: title}\n")).empty == "null"


def test_yaml_round_trip_keeps_the_fingerprint(tmp_path):
    mapping = Mapping.load(SAMPLES / "tasks.mapping.yml").with_overrides(types={"Notes": "json"}, empty="null")
    mapping.dump(tmp_path / "m.yml")
    again = Mapping.load(tmp_path / "m.yml")
    assert again == mapping and again.fingerprint() == mapping.fingerprint()
    assert Mapping.infer(["a", "b"]).fingerprint() != Mapping.infer(["a", "c"]).fingerprint()
    assert "  Subject: title\n" in mapping.to_yaml()  # the short form


ODD_HEADERS = ["Due\ndate", "Due\r\ndate", "a\x85b\u2028c\u2029", "trailing\n", "tab\there", "\t", "q'\"", "'", '"', "\\",
               "a: b", "x:", "#c", "Notes #1", " x ", "", " ", "Pays réel", "Страна", "東京", "😀", "\x00\x7f\x9f",
               "\ufeffbom", "yes", "No", "on", "null", "~", "true", "1", "1.5", "0x1F", ".inf", "2024-01-01", "<<", "=",
               "a,b", "[x]", "{y}", "- z", "? q", "@t", "`u", "%v", "&w", "*x", "!y", "|z", ">a",
               "Please rate, on a scale from 1 to 10, how likely you are to recommend us " * 3, "y" * 1500]


def _round_trip(written: list[str], folder: Path) -> None:
    names = list(dict.fromkeys(name for name in map(column_name, written) if name))  # the readers' headers
    mapping = Mapping.infer(names)
    mapping.dump(folder / "m.yml")
    again = Mapping.load(folder / "m.yml")
    assert list(again.columns) == names and again == mapping
    lines = (folder / "m.yml").read_text(encoding="utf-8").partition("\ncolumns:\n")[2].splitlines()
    assert len([line for line in lines if not line.startswith("  : ")]) == len(names)  # one a line (a very long one: two)


def test_every_header_round_trips_through_the_mapping_file(tmp_path):
    _round_trip(ODD_HEADERS, tmp_path)
    assert '  "Due\\ndate": due_at\n' in Mapping.infer(["Due\ndate"]).to_yaml()  # an Excel header typed with Alt+Enter


@given(st.lists(st.text(alphabet=st.sampled_from(list("\n\r\t :#'\"?-~,[]{}&*!|>%@`a\x85\u2028")), max_size=8)
                | st.text() | st.sampled_from(ODD_HEADERS), unique=True, max_size=6))
def test_any_header_round_trips_through_the_mapping_file(names):
    with tempfile.TemporaryDirectory() as folder:
        _round_trip(names, Path(folder))


def test_a_date_cell_is_read_alike_whatever_other_cells_its_column_holds():
    # A column mixing offsets is parsed cell by cell: that path must take what the vectorised one does.
    mapping = Mapping.infer(["title", "d"]).with_overrides(types={"d": "datetime"})
    odd = ["2024/06/01", "2024-06", " 2024-06-01 "]
    for neighbours in ([], ["2024-06-01T12:00:00+02:00", "2024-06-01T12:00:00-05:00"]):
        cells = odd + neighbours
        rows = mapping.map_chunk(chunk_of({"title": [f"t{n}" for n in range(len(cells))], "d": cells}))
        assert [row.problems for row in rows] == [[]] * len(cells)
        assert [row.payload["fields"]["d"] for row in rows][:3] == ["2024-06-01T00:00:00Z"] * 3


def test_typing_a_column_the_mapping_does_not_list_keeps_every_target_where_it_was():
    # Inferred among the listed columns alone, "Due Date" took due_at from "Due", the input's first.
    base = Mapping.from_dict({"columns": {"Subject": "title"}})
    columns = ["Subject", "Due", "Due Date", "Status", "STATUS"]
    typed = base.with_overrides(types={"Due Date": "date", "STATUS": "str"}, input_columns=columns)
    targets = {column.name: (column.target, column.type) for column in typed.resolve(columns)}
    assert targets == {"Subject": ("title", None), "Due": ("due_at", None), "Due Date": ("fields.due_date", "date"),
                       "Status": ("status", None), "STATUS": ("fields.status", "str")}
    assert {c.name: c.target for c in base.resolve(columns)} == {name: target for name, (target, _) in targets.items()}
    ignoring = Mapping.from_dict({"others": "ignore", "columns": {"Subject": "title"}})
    typed_out = ignoring.with_overrides(types={"Prio": "int"}, input_columns=["Subject", "Prio"]).resolve(["Subject", "Prio"])
    assert (typed_out[1].target, typed_out[1].type) == ("fields.prio", "int")  # typed to be sent, as before
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:  # the Python API and the CLI hand the input's columns over
        frame = pd.DataFrame({"Subject": ["x"], "Due": ["2024-01-01"], "Due Date": ["2024-12-31"]})
        fragment_bulk.import_dataframe(frame, mapping={"columns": {"Subject": "title"}}, types={"Due Date": "date"}, sandbox=sb)
        (task,) = sb.tasks()
        assert task["due_at"].startswith("2024-01-01") and task["fields"]["due_date"] == "2024-12-31"


def test_a_mapping_file_means_its_keys_as_written_and_has_no_yaml_1_1_numbers(tmp_path):
    # YAML 1.1 makes NULL null, 01 the int 1, 1.50 the float 1.5, 0123 the octal 83 and 1:20 the
    # base-60 80: no cell would match such keys, and a str column would get "83".
    (tmp_path / "m.yml").write_text(
        "namespace: 007\ncolumns:\n"
        "  owner: {target: fields.owner, values: {NULL: '', 1.50: high, .5: half, 01: low, Yes: y, null: none}}\n"
        "  code: {target: fields.code, type: str, values: {A: 0123, B: 1:20, C: 1_000}, default: 0123}\n"
        "  n: {target: fields.n, type: float, values: {x: 12, y: -1.5e3, z: null}}\n")
    mapping = Mapping.load(tmp_path / "m.yml")
    assert mapping.namespace == "007"
    assert mapping.columns["owner"].values == {"NULL": "", "1.50": "high", ".5": "half", "01": "low", "Yes": "y", "null": "none"}
    assert mapping.columns["code"].values == {"A": "0123", "B": "1:20", "C": "1_000"} and mapping.columns["code"].default == "0123"
    assert mapping.columns["n"].values == {"x": 12, "y": -1500.0, "z": None}
    assert Mapping.from_dict(yaml.load("columns: {c: {target: fields.c, type: str, default: 1e3}}", Loader=_MappingLoader)
                             ).columns["c"].default == "1e3"  # text in YAML 1.1 too
    # A number cell (Excel, a DataFrame) matches a key that reads as that number.
    numbers = Mapping.from_dict(yaml.load("columns: {r: {target: fields.r, values: {1.50: standard, 2.0: double}}}",
                                          Loader=_MappingLoader))
    mapped = numbers.with_overrides(maps={"t": "title"}).map_chunk(chunk_of({"t": ["a", "b", "c"], "r": [1.5, 2, "1.50"]}))
    assert [row.payload["fields"]["r"] for row in mapped] == ["standard", "double", "standard"]
    chunk = chunk_of({"owner": ["NULL", "1.50", ".5", "01", "yes"], "code": ["A", "B", "C", None, "D"], "n": ["x", "y", "z", "2", None]})
    rows = mapping.with_overrides(maps={"owner": "title"}).map_chunk(chunk)
    assert [row.payload["fields"].get("code") for row in rows] == ["0123", "1:20", "1_000", "0123", "D"]
    assert [row.payload["fields"].get("title") for row in rows] == [None, "high", "half", "low", "y"]
    assert [row.payload["fields"].get("n") for row in rows] == [12.0, -1500.0, None, 2.0, None]


def test_a_mapping_names_a_column_as_the_readers_trim_its_header_and_keeps_a_field_key_exactly(tmp_path):
    # An export writes the field " Notes " as the header " Notes "; every reader trims it to "Notes".
    (tmp_path / "m.yml").write_text("key: ' Ref '\ncolumns:\n  ' Notes ': {target: 'fields. Notes ', type: str}\n"
                                    "  '\ufeffTitle ': ' title '\n")
    mapping = Mapping.load(tmp_path / "m.yml")
    assert list(mapping.columns) == ["Notes", "Title"] and mapping.keys == ("Ref",)
    assert mapping.columns["Notes"].target == "fields. Notes " and mapping.columns["Title"].target == "title"
    with pytest.raises(InputError, match="columns 'Notes' and ' Notes' name the same column"):
        Mapping.from_dict({"columns": {"Notes": "title", " Notes": "fields.notes"}})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("version: 1\ncolums: {}\n", "unknown key 'colums'"),
        ("columns: {A: {target: title, typ: str}}\n", "column 'A': unknown key 'typ'"),
        ("columns: {A: titel}\n", "unknown target 'titel'"),
        ("columns: {A: {target: due_at, type: date, format: '%Q'}}\n", "column 'A': format '%Q': 'Q' is a bad directive"),
        ("columns: {A: {target: due_at, type: date, format: '%d/%'}}\n", "column 'A': format '%d/%': stray %"),
        ("columns: {A: {target: fields.n, type: integer}}\n", "unknown type 'integer'"),
        ("columns: {A: {target: due_at, type: int}}\n", "due_at, which takes date, datetime"),
        ("columns: {A: {target: url, type: int}}\n", "url, which takes str, not int"),
        ("columns: {A: {target: fields.p, type: int, default: abc}}\n", "column 'A': default 'abc': not a whole number"),
        ("columns: {A: {target: due_at, timezone: Mars/Olympus}}\n", "unknown time zone"),
        # strptime reads %Z and drops it, pandas honours it: one cell, two instants (an hour apart in Paris).
        ("columns: {A: {target: due_at, type: datetime, format: '%d/%m/%Y %H:%M %Z'}}\n", r"reads a time zone's name \(%Z\)"),
        ("columns: {A: {target: due_at, type: date, format: '%Y-%W'}}\n", "names no single day"),  # 2024-33: January 1st
        ("columns: {A: {target: fields.t, type: datetime, format: '%H:%M'}}\n", "names no single day"),  # 1900-01-01
        ("columns: {A: {target: fields.d, type: date, format: '%d/%m'}}\n", "names no single day"),
        ("columns: {A: {target: fields.d, format: '%d/%m/%Y'}}\n", "a format is for dates, and this column is not one"),
        ("columns: {A: {target: fields.n, type: int, timezone: Europe/Paris}}\n", "a timezone is for dates"),
        ("columns: {A: {target: status, values: {Closed: DONNE}}}\n",
         "column 'A': value map 'Closed': 'DONNE': status 'DONNE' is not one of TODO, STARTED, DONE$"),
        ("columns: {A: {target: fields.n, type: int, values: {High: 3, Low: lo}}}\n", "value map 'Low': 'lo': not a whole"),
        ("empty: nothing\n", "empty must be one of omit, null"),
        ("columns: [A]\n", "'columns' must map"),
        ("columns: {A: [\n", "not a valid YAML"),
        ("columns:\n  Status: status\n  Status: fields.s\n", r"line 3: the key 'Status' is given twice"),
        ("columns:\n  A: {target: status, values: {Closed: DONE, Closed: TODO}}\n", "the key 'Closed' is given twice"),
    ],
)
def test_bad_mapping_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.yml"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        Mapping.load(path)


def test_a_mapping_file_saved_as_utf_16_is_read_and_one_in_latin_1_is_named(tmp_path):
    (tmp_path / "notepad.yml").write_bytes("columns:\n  Catégorie: fields.c\n  Sujet: title\n".encode("utf-16"))
    assert list(Mapping.load(tmp_path / "notepad.yml").columns) == ["Catégorie", "Sujet"]
    (tmp_path / "latin.yml").write_bytes("columns:\n  Catégorie: fields.c\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin\.yml: the mapping is not UTF-8 text \(byte 0xe9 on line 2\): save it as UTF-8"):
        Mapping.load(tmp_path / "latin.yml")


def test_overrides_map_ignore_type_key_and_empty():
    mapping = Mapping.infer(["title", "Ticket Title", "Pays", "Priority", "Ref"]).with_overrides(
        maps={"Ticket Title": "title", "Pays": "fields.country"}, ignore=["Ref"], types={"Priority": "int"},
        keys=["Ref"], empty="null",
    )
    targets = {name: column.target for name, column in mapping.columns.items()}
    assert targets == {"title": "fields.title_2", "Ticket Title": "title", "Pays": "fields.country",
                       "Priority": "fields.priority", "Ref": "ignore"}
    assert mapping.columns["Priority"].type == "int" and mapping.keys == ("Ref",) and mapping.empty == "null"
    problems, rows = mapped(mapping, {"title": ["x"], "Ticket Title": ["T"], "Pays": ["FR"], "Priority": ["2"], "Ref": ["9"]})
    assert problems == [] and rows[0].payload == {"fields": {"title": "T", "title_2": "x", "country": "FR", "priority": 2}}
    assert rows[0].uid == uuid_from_key("key", ["9"])


@pytest.mark.parametrize("text", ["Ticket Title", "=title", "Col=", "  =  "])
def test_parse_assignment_refuses_malformed_text(text):
    with pytest.raises(InputError, match="--map expects COLUMN=VALUE"):
        parse_assignment(text, "--map")


def test_parse_assignment():
    assert parse_assignment(" Ticket Title = title ", "--map") == ("Ticket Title", "title")
    assert parse_assignment("a=b=int", "--type") == ("a=b", "int")


def test_missing_columns_are_listed():
    mapping = Mapping.infer(["title"]).with_overrides(maps={"Pays": "fields.country"})
    with pytest.raises(InputError, match="column 'Pays' is not in the input; its columns are: title, a"):
        mapping.check_columns(["title", "a"])
    with pytest.raises(InputError, match="column 'Ref' is not in the input"):
        Mapping.infer(["title"]).with_overrides(keys=["Ref"]).check_columns(["title"])


def test_two_columns_on_one_target_are_refused():
    mapping = Mapping.from_dict({"columns": {"a": "title", "b": "fields.x", "c": "fields.x"}})
    with pytest.raises(InputError, match="columns 'b' and 'c' are both mapped to fields.x"):
        mapping.check_columns(["a", "b", "c"])


def test_others_infer_or_ignore():
    listed = {"columns": {"Subject": "title"}}
    assert [c.target for c in Mapping.from_dict(listed).resolve(["Subject", "Pays"])] == ["title", "fields.pays"]
    ignoring = Mapping.from_dict({**listed, "others": "ignore"})
    assert [c.target for c in ignoring.resolve(["Subject", "Pays"])] == ["title", "ignore"]


# -- types ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "cells", "expected", "reason"),
    [
        ({"target": "fields.n", "type": "int"}, [" 12 ", "-3", 4.0, 7], [12, -3, 4, 7], None),
        ({"target": "fields.n", "type": "int"}, ["1,234", "1.5", True], None, "not a whole number"),
        ({"target": "fields.n", "type": "float"}, ["1.5", " 2 ", 3], [1.5, 2.0, 3.0], None),
        ({"target": "fields.n", "type": "float"}, ["nan", "inf", "x"], None, "not a number"),
        ({"target": "fields.n", "type": "float"}, ["1_000", "2.5_0"], None, "not a number"),
        ({"target": "fields.n", "type": "int"}, ["9223372036854775807", "-9223372036854775808"],
         [2**63 - 1, -2**63], None),
        ({"target": "fields.n", "type": "int"}, ["9223372036854775808", "1" * 5000, 2**64], None, "beyond 64 bits"),
        ({"target": "fields.n", "type": "number"}, [Decimal("1e400"), "-9223372036854775809"], None, "beyond 64 bits"),
        ({"target": "fields.n", "type": "number"}, ["1_000", "2_5.5"], None, "not a number"),
        ({"target": "fields.b", "type": "bool"}, ["Yes", "n", "TRUE", "0", 1, False], [True, False, True, False, True, False], None),
        ({"target": "fields.b", "type": "bool"}, ["maybe", "2"], None, "not a yes/no value"),
        ({"target": "fields.d", "type": "date", "format": "%d/%m/%Y"}, ["01/03/2026", datetime(2026, 3, 2, 15), date(2026, 3, 3)],
         ["2026-03-01", "2026-03-02", "2026-03-03"], None),
        ({"target": "fields.d", "type": "date", "format": "%d/%m/%Y"}, ["2026-03-01", "31/02/2026"], None,
         "not a date in the format %d/%m/%Y"),
        ({"target": "fields.d", "type": "date"}, ["2026-03-01"], ["2026-03-01"], None),
        ({"target": "fields.t", "type": "datetime", "timezone": "Europe/Paris"},
         ["2026-07-01T12:00", "2026-07-01T12:00:00+00:00", "2026-07-01 12:00:00.250Z",
          datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("America/New_York"))],
         ["2026-07-01T10:00:00Z", "2026-07-01T12:00:00Z", "2026-07-01T12:00:00.250000Z",
          "2026-01-01T11:00:00Z", "2026-01-01T17:00:00Z"], None),
        ({"target": "fields.t", "type": "datetime", "format": "%d/%m/%Y %H:%M"}, ["01/03/2026 10:30"], ["2026-03-01T10:30:00Z"], None),
        ({"target": "fields.t", "type": "datetime"}, ["yesterday"], None, "not an ISO 8601 date-time"),
        ({"target": "fields.t", "type": "datetime"}, [time(12, 30), time(0, 0)], None, "a time of day, not a date-time"),
        ({"target": "fields.d", "type": "date"}, [45356, 45356.5], None, "a number, not a date"),
        ({"target": "fields.j", "type": "json"}, ['{"a": [1, 2]}', "3", '"x"', {"k": 1}], [{"a": [1, 2]}, 3, "x", {"k": 1}], None),
        ({"target": "fields.j", "type": "json"}, ["{a: 1}", "NaN"], None, "not valid JSON"),
        ({"target": "fields.s", "type": "str"}, ["00123", 12, 1.0], ["00123", "12", "1"], None),
        ("fields.auto", ["00123", 12, 1.5, datetime(2026, 3, 1), datetime(2026, 3, 1, 9, 30)],
         ["00123", 12, 1.5, "2026-03-01", "2026-03-01T09:30:00"], None),
        ("status", ["todo", " Started ", "DONE"], ["TODO", "STARTED", "DONE"], None),
        ("status", ["Pending"], None, "status 'Pending' is not one of TODO, STARTED, DONE (add a value map?)"),
        ("assignee_uid", ["CBC0CCD6FBC907B3F9F9B8A8EEB7FF2C"], ["cbc0ccd6-fbc9-07b3-f9f9-b8a8eeb7ff2c"], None),
        ("assignee_uid", ["nope"], None, "not a uid"),
        ("assignee_email", ["ann@example.com"], ["ann@example.com"], None),
        ("archived", ["yes", "no"], [True, False], None),
    ],
)
def test_types(spec, cells, expected, reason):
    mapping = Mapping.from_dict({"columns": {"t": "title", "c": spec}})
    problems, rows = mapped(mapping, {"t": [f"x{n}" for n in range(len(cells))], "c": cells})  # rows told apart
    target = spec if isinstance(spec, str) else spec["target"]
    if reason is None:
        assert problems == [] and all(not row.problems for row in rows)
        where = [row.payload["fields"].get(target[7:]) if target.startswith("fields.") else row.payload.get(target) for row in rows]
        assert where == expected
        for row in rows:
            json.dumps(row.payload, allow_nan=False)
    else:
        assert [(p.row, p.column) for p in problems] == [(n + 2, "c") for n in range(len(cells))]
        assert all(reason in p.reason for p in problems) and all(row.problems for row in rows)
        assert str(problems[0]).startswith("row 2, column 'c'")


def test_due_date_is_midnight_in_the_time_zone_sent_in_utc():
    mapping = Mapping.from_dict({"columns": {"t": "title", "Due": {"target": "due_at", "type": "date", "format": "%d/%m/%Y",
                                                                    "timezone": "Europe/Paris"}}})
    problems, rows = mapped(mapping, {"t": ["a", "b", "c"], "Due": ["01/03/2026", "01/07/2026", datetime(2026, 3, 1)]})
    assert problems == []
    dues = [row.payload["due_at"] for row in rows]
    assert dues == ["2026-02-28T23:00:00Z", "2026-06-30T22:00:00Z", "2026-02-28T23:00:00Z"]
    assert datetime.fromisoformat(dues[0]) == datetime(2026, 3, 1, tzinfo=ZoneInfo("Europe/Paris"))


def test_value_maps_apply_before_the_type_exact_then_loose():
    spec = {"target": "status", "values": {"Open": "TODO", "In progress": "STARTED", "closed": "DONE"}}
    mapping = Mapping.from_dict({"columns": {"t": "title", "s": spec}})
    problems, rows = mapped(mapping, {"t": ["a"] * 4, "s": ["Open", " in PROGRESS ", "CLOSED", "done"]})
    assert problems == [] and [row.payload["status"] for row in rows] == ["TODO", "STARTED", "DONE", "DONE"]


def test_a_whole_number_under_a_date_format_is_read_as_its_digits_and_a_long_double_as_text():
    """An Excel cell 20240305 is a number; under format %Y%m%d it is that date, as the CSV of the
    sheet's is. A long double in a str column is the text it prints as, as a float's is."""
    mapping = Mapping.from_dict({"columns": {"t": "title", "d": {"target": "fields.d", "type": "date", "format": "%Y%m%d"},
                                             "x": {"target": "fields.x", "type": "str"}}})
    problems, rows = mapped(mapping, {"t": ["a", "b", "c"], "d": [20240305, "20240306", np.int64(20240307)],
                                      "x": [np.longdouble(0.5), 1.5, "y"]})
    assert problems == [] and [row.payload["fields"]["d"] for row in rows] == ["2024-03-05", "2024-03-06", "2024-03-07"]
    assert [row.payload["fields"]["x"] for row in rows] == ["0.5", "1.5", "y"]


def test_a_value_map_matches_a_cell_written_in_another_unicode_form():
    """A Mac's "Terminé" is e and a combining accent: it looks like the key, and must match it."""
    spec = {"target": "status", "values": {"Terminé": "DONE", "À faire": "TODO"}}
    mapping = Mapping.from_dict({"columns": {"t": "title", "s": spec}})
    decomposed = [unicodedata.normalize("NFD", text) for text in ("Terminé", "à FAIRE ")]
    problems, rows = mapped(mapping, {"t": ["a", "b"], "s": decomposed})
    assert problems == [] and [row.payload["status"] for row in rows] == ["DONE", "TODO"]


def test_a_value_map_file_keeps_yes_no_on_off_as_the_words_written(tmp_path):
    path = tmp_path / "m.yml"
    path.write_text("columns:\n  t: title\n  paid: {target: fields.paid, type: int, values: {Yes: 1, No: 0}}\n"
                    "  s: {target: status, values: {On: STARTED, off: TODO}}\n  flag: {target: fields.flag, default: true}\n")
    problems, rows = mapped(Mapping.load(path), {"t": ["a", "b"], "paid": ["Yes", "no"], "s": ["On", "Off"], "flag": [None, None]})
    assert problems == [] and [row.payload["fields"]["paid"] for row in rows] == [1, 0]
    assert [row.payload["status"] for row in rows] == ["STARTED", "TODO"] and rows[0].payload["fields"]["flag"] is True


def test_a_cell_a_value_map_sends_to_nothing_is_an_empty_cell():
    spec = {"target": "fields.due", "type": "date", "values": {"n/a": "", "TBD": None}}
    mapping = Mapping.from_dict({"columns": {"t": "title", "d": spec, "p": {
        "target": "fields.p", "type": "int", "values": {"-": ""}, "default": 3}}})
    problems, rows = mapped(mapping, {"t": ["a", "b", "c"], "d": ["n/a", "TBD", "2026-01-02"], "p": ["-", "5", None]})
    titled = Mapping.from_dict({"columns": {"t": {"target": "title", "values": {"n/a": ""}}}})
    assert [(p.row, p.reason) for p in mapped(titled, {"t": ["x", "n/a"]})[0]] == [(3, "title is required")]
    assert problems == [] and [row.payload["fields"] for row in rows] == [
        {"title": "a", "p": 3}, {"title": "b", "p": 5}, {"title": "c", "due": "2026-01-02", "p": 3}]


def test_defaults_fill_empty_cells():
    mapping = Mapping.from_dict({"columns": {"t": "title", "p": {"target": "fields.priority", "type": "int", "default": 3}}})
    _, rows = mapped(mapping, {"t": ["a", "b"], "p": [None, "5"]})
    assert [row.payload["fields"]["priority"] for row in rows] == [3, 5]


def test_empty_cells_omitted_or_null_never_nan():
    data = {"t": ["a"], "url": [None], "n": [pd.NA], "s": [None], "d": [None]}  # (a DataFrame NaN is None by now)
    base = Mapping.infer(["t", "url", "n", "s", "d"]).with_overrides(maps={"t": "title", "s": "status", "d": "due_at"})
    _, rows = mapped(base, data)
    assert rows[0].payload == {"fields": {"title": "a"}}
    _, rows = mapped(base.with_overrides(empty="null"), data)
    assert rows[0].payload == {"fields": {"title": "a", "url": None, "n": None}, "due_at": None}
    json.dumps(rows[0].payload, allow_nan=False)


def test_a_long_bad_cell_is_shown_cut_in_its_one_line_error():
    _, rows = mapped(Mapping.from_dict({"columns": {"t": "title", "n": {"target": "fields.n", "type": "int"}}}),
                     {"t": ["a"], "n": ["1" * 5000]})
    [problem] = rows[0].problems
    assert str(problem).startswith("row 2, column 'n': '1111") and "(5,002 characters): a whole number beyond" in str(problem)
    assert len(str(problem)) < 200


def test_payloads_keep_the_column_order_and_each_row_its_own_cells():
    mapping = Mapping.from_dict({"key": ["a", "b"], "namespace": "t", "columns": {
        "t": "title", "a": "fields.a", "b": "fields.b", "n": {"target": "fields.n", "type": "int"}, "s": "status"}})
    data = {"t": ["x", "y", "z"], "a": ["1", "2", "3#"], "b": ["p", "q", "r"], "n": ["7", None, "oops"],
            "s": ["todo", "DONE", "started"]}
    _, rows = mapped(mapping, data)
    assert [list(row.payload["fields"]) for row in rows] == [["title", "a", "b", "n"], ["title", "a", "b"], ["title", "a", "b"]]
    assert rows[0].payload == {"status": "TODO", "fields": {"title": "x", "a": "1", "b": "p", "n": 7}}
    assert rows[1].payload == {"status": "DONE", "fields": {"title": "y", "a": "2", "b": "q"}} and not rows[1].problems
    assert [p.column for p in rows[2].problems] == ["n"] and rows[2].payload["status"] == "STARTED"
    assert [row.uid for row in rows] == [uuid_from_key("t", [a, b]) for a, b in zip(data["a"], data["b"])]
    assert [row.ordinal for row in rows] == [0, 1, 2] and [row.label for row in rows] == [2, 3, 4]


def test_title_is_required():
    mapping = Mapping.infer(["title", "x"])
    [chunk] = open_table(pd.DataFrame({"title": ["a", None, "  "], "x": ["1", "2", "3"]}, index=[2, 3, 4])).chunks()
    problems, rows = mapping.validate(chunk), mapping.map_chunk(chunk)
    assert [(p.row, p.column, p.reason) for p in problems] == [(3, "title", "title is required"), (4, "title", "title is required")]
    assert [bool(row.problems) for row in rows] == [False, True, True]


# -- uids -------------------------------------------------------------------------------------


def test_uid_from_the_uid_column():
    uid = "CBC0CCD6FBC907B3F9F9B8A8EEB7FF2C"
    problems, rows = mapped(Mapping.infer(["title", "uid"]), {"title": ["a", "b"], "uid": [uid, "bad"]})
    assert rows[0].uid == "cbc0ccd6-fbc9-07b3-f9f9-b8a8eeb7ff2c" and "uid" not in rows[0].payload
    assert [(p.row, p.column, p.reason) for p in problems] == [(3, "uid", "not a uid (32 hexadecimal digits)")]


def test_an_empty_uid_cell_is_a_new_row_to_import_and_invalid_to_update():
    uid = "cbc0ccd6-fbc9-07b3-f9f9-b8a8eeb7ff2c"
    data = {"title": ["a", "b", "c", "b"], "uid": [uid, None, None, None]}
    problems, rows = mapped(Mapping.infer(["title", "uid"]), data)
    assert rows[0].uid == uid
    assert rows[1].uid == uuid_from_payload(rows[1].payload) and rows[2].uid not in (rows[1].uid, None)
    # One new task, once: found by the check pass (before anything is sent), as identical keyless rows are.
    assert [(p.row, p.reason) for p in problems] == [(5, "same uid as row 3 (the rows are identical; use --key to tell them apart)")]
    assert rows[3].problems == problems
    problems, _ = mapped(Mapping.infer(["title", "uid"]).for_update(), data)
    assert [(p.row, p.column, p.reason) for p in problems] == [(r, "uid", "the uid is empty: which task is it?") for r in (3, 4, 5)]


def test_uid_from_key_matches_the_contract_example():
    mapping = Mapping.from_dict({"key": ["Ticket"], "namespace": "ticket", "columns": {"Subject": "title"}})
    problems, rows = mapped(mapping, {"Ticket": ["123", 123, None], "Subject": ["a", "b", "c"]})
    assert rows[0].uid == uuid_from_key("ticket", ["123"]) == "cbc0ccd6-fbc9-07b3-f9f9-b8a8eeb7ff2c"
    assert [(p.row, p.column) for p in problems] == [(4, "Ticket"), (3, None)]  # empty key; 123 repeats "123"
    assert rows[2].problems and rows[2].uid is None


def test_uid_from_the_payload():
    problems, rows = mapped(Mapping.infer(["title", "n"]), {"title": ["a", "a", "b"], "n": ["1", "1", "1"]})
    assert rows[0].uid == uuid_from_payload(rows[0].payload) and rows[2].uid != rows[0].uid
    assert [(p.row, p.reason.split(" (")[0]) for p in problems] == [(3, "same uid as row 2")]


def test_rows_whose_cells_differ_only_in_type_are_two_rows_not_duplicates():
    problems, rows = mapped(Mapping.infer(["title", "code"]), {"title": ["a", "a", "a", "a"], "code": ["1", 1, True, "True"]})
    assert problems == [] and all(not row.problems for row in rows)
    assert len({row.uid for row in rows}) == 4  # four payloads, four tasks
    problems, _ = mapped(Mapping.infer(["title", "code"]), {"title": ["a", "a"], "code": [1, 1]})
    assert [p.reason.split(" (")[0] for p in problems] == ["same uid as row 2"]


def test_duplicate_uids_are_found_across_chunks_and_reset_per_run():
    mapping = Mapping.from_dict({"key": ["Ticket ID"], "columns": {"Subject": "title"}})
    first = chunk_of({"Ticket ID": ["00123", "00124"], "Subject": ["a", "b"]})
    second = chunk_of({"Ticket ID": ["00125", "00123"], "Subject": ["c", "d"]}, start=2)
    assert mapping.validate(first) == []
    [problem] = mapping.validate(second)
    assert problem.row == 5 and str(problem) == "row 5: same uid as row 2 (key 'Ticket ID'='00123')"
    assert mapping.map_chunk(second)[1].problems == [problem]  # so a skip-invalid run never sends it
    assert mapping.validate(first) == [] and mapping.validate(second) == [problem]  # a new pass starts over


# -- update and comment mappings --------------------------------------------------------------


def test_update_needs_a_uid_and_no_title():
    update = Mapping.infer(["uid", "status", "country"]).for_update()
    update.check_columns(["uid", "status", "country"])
    _, rows = mapped(update, {"uid": ["cbc0ccd6fbc907b3f9f9b8a8eeb7ff2c"], "status": ["Done"], "country": [None]})
    assert rows[0].payload == {"status": "DONE"} and not rows[0].problems
    with pytest.raises(InputError, match="a uid column, or --key"):
        Mapping.infer(["status"]).for_update().check_columns(["status"])
    loaded = Mapping.load(SAMPLES / "tasks.mapping.yml").for_update()
    for_import = Mapping.from_dict({"empty": "null", "columns": {"uid": "uid", "P": {"target": "fields.p", "type": "int", "default": 3}}})
    _, rows = mapped(for_import.for_update(), {"uid": ["cbc0ccd6fbc907b3f9f9b8a8eeb7ff2c"], "P": [None]})
    assert rows[0].payload == {}  # neither the import's default 3 nor its null lands on the task
    loaded.check_columns(["Ticket ID", "Status"])  # other mapped columns may be absent


def test_comment_mapping_takes_the_text_column():
    comments = Mapping.infer(["Ticket", "body"]).with_overrides(keys=["Ticket"]).for_comments("body")
    _, rows = mapped(comments, {"Ticket": ["002"], "body": ["hello"]})
    assert rows[0].payload == {"comment": "hello"} and rows[0].uid == uuid_from_key("key", ["002"])
    problems, rows = mapped(comments, {"Ticket": ["002", "002"], "body": ["one", "two"]})
    assert problems == [] and rows[0].uid == rows[1].uid  # many comments on one task are fine
    with pytest.raises(InputError, match="column 'text' is not in the input .*--text-column"):
        Mapping.infer(["uid"]).for_comments("text").check_columns(["uid", "body"])


# -- the samples ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "sheet"), [("tasks.csv", None), ("tasks.xlsx", "Tasks")])
def test_the_sample_mapping_validates_every_sample_row(name, sheet):
    table = open_table(SAMPLES / name, sheet=sheet)
    mapping = Mapping.load(SAMPLES / "tasks.mapping.yml")
    mapping.check_columns(table.columns)
    rows, problems = [], []
    for chunk in table.chunks():
        problems += mapping.validate(chunk)
        rows += mapping.map_chunk(chunk)
    assert problems == [] and len(rows) == 50 and len({row.uid for row in rows}) == 50
    assert rows[0].uid == uuid_from_key("ticket", ["00123"]) and rows[0].payload["fields"]["ticket_id"] == "00123"
    assert [row.label for row in rows[:6]] == [2, 3, 4, 5, 6, 7]  # row 5 holds a note over three lines
    for row in rows:
        json.dumps(row.payload, allow_nan=False)


# -- the check pass reads the same whichever CSV reader read the file ----------------------------


def _messy_csv(path: Path) -> Path:
    """45 rows in chunks of 7: few and many distinct values, blank and whitespace cells, a
    literal "None", bad cells of each type, repeated keys, and a repeated whole row."""
    lines = ["ref,title,status,priority,due,notes"]
    for n in range(45):
        ref = "" if n == 30 else f"{n % 40:05d}"  # rows 40-44 repeat the keys of rows 0-4
        title = {12: "", 13: "   "}.get(n, f"Task {n}")
        status = {5: "DOING"}.get(n, ["TODO", "DONE", "todo"][n % 3])
        priority = {8: "x", 9: " 7 "}.get(n, str(n % 4))
        due = {10: "31/02/2026", 11: ""}.get(n, f"{n % 28 + 1:02d}/03/2026")
        notes = ["", "None", "  ", "call back"][n % 4]
        lines.append(",".join([ref, title, status, priority, due, notes]))
    lines.append(lines[1])  # the first row again, whole
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _checked(path: Path, mapping: Mapping) -> tuple[list, list]:
    table = open_table(path, chunk_size=7)
    mapping.check_columns(table.columns)
    problems, rows = [], []
    for chunk in table.chunks():
        problems += [(p.row, p.column, p.value, p.reason) for p in mapping.validate(chunk)]
        rows += [(row.label, row.uid, row.payload) for row in mapping.map_chunk(chunk)]
    return problems, rows


@pytest.mark.parametrize("keys", [["ref"], []], ids=["keyed", "unkeyed"])
def test_the_check_pass_is_the_same_with_either_csv_reader(tmp_path, monkeypatch, keys):
    from fragment_bulk import readers

    path = _messy_csv(tmp_path / "messy.csv")
    mapping = Mapping.infer(["ref", "title", "status", "priority", "due", "notes"]).with_overrides(
        maps={"due": "due_at"}, types={"priority": "int", "due": "date"}, keys=keys)
    assert readers._arrow() is not None, "pyarrow is a test dependency"
    with_arrow = _checked(path, mapping)
    monkeypatch.setattr(readers, "_arrow", lambda: None)  # pandas' C parser, cells as objects
    with_pandas = _checked(path, mapping)

    assert with_arrow == with_pandas
    problems = {(row, column): reason for row, column, _, reason in with_arrow[0]}
    assert "title is required" in problems[(14, "title")] and "title is required" in problems[(15, "title")]
    assert {(7, "status"), (10, "priority"), (12, "due")} <= set(problems)
    assert (11, "priority") not in problems  # " 7 " is an int
    repeated = [(row, reason) for (row, column), reason in problems.items() if "same uid" in reason]
    if keys:
        assert (32, "ref") in problems  # the empty key
        assert sorted(row for row, _ in repeated) == [42, 43, 44, 45, 46, 47]
    else:
        assert repeated == [(47, repeated[0][1])] and "same uid as row 2" in repeated[0][1]


def test_the_check_pass_leaves_unchecked_columns_as_arrow_text(tmp_path):
    table = open_table(_messy_csv(tmp_path / "messy.csv"), chunk_size=100)
    mapping = Mapping.infer(table.columns).with_overrides(keys=["ref"])
    mapping.check_columns(table.columns)
    chunk = next(table.chunks())
    mapping.validate(chunk)
    assert chunk._built is None  # notes, status (str here) were never made Python strings
    assert list(chunk.frame["notes"][:4]) == [None, "None", None, "call back"]


def test_a_key_repeated_across_the_switch_from_pyarrow_to_pandas_is_found(tmp_path):
    """pyarrow reads the first blocks and stops at a short row; pandas reads the rest. A key
    seen before the switch and again after it is still one uid repeated."""
    from fragment_bulk import readers

    lines = ["ref,title,notes"] + [f"{n:06d},Task {n},{'x' * 40}" for n in range(20_000)]
    lines[19_001] = "019000,Task 19000"  # one cell short: pyarrow stops, pandas reads it as empty
    lines[19_501] = "000010,again"  # the key of data row 11, spreadsheet row 12
    path = tmp_path / "switch.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = open_table(path)
    mapping = Mapping.infer(table.columns).with_overrides(keys=["ref"])
    mapping.check_columns(table.columns)
    kinds, problems = set(), []
    for chunk in table.chunks():
        kinds.add(type(chunk) is readers.Chunk)
        problems += mapping.validate(chunk)
    assert kinds == {True, False}  # both readers gave chunks
    assert [(p.row, p.reason.split(" (")[0]) for p in problems] == [(19_502, "same uid as row 12")]


def test_a_list_cell_in_a_row_without_key_is_hashed_as_text():
    mapping = Mapping.infer(["title", "tags"])
    problems, rows = mapped(mapping, {"title": ["a", "a", "b"], "tags": [[1, 2], [1, 2], [3]]})
    assert [(p.row, p.reason.split(" (")[0]) for p in problems] == [(3, "same uid as row 2")]
    assert rows[2].payload["fields"]["tags"] == [3]


def test_an_empty_cell_is_no_duplicate_of_one_that_says_none():
    mapping = Mapping.infer(["title", "owner"])
    problems, rows = mapped(mapping, {"title": ["a", "a", "a", "a"], "owner": [None, "None", pd.NA, "nan"]})
    assert [(p.row, p.reason.split(" (")[0]) for p in problems] == [(4, "same uid as row 2")]  # two empty cells
    assert len({row.uid for row in rows}) == 3


@pytest.mark.parametrize(("zone", "row"), [("America/New_York", 2), ("Asia/Tokyo", 4)])
def test_a_moment_that_leaves_the_calendar_in_utc_is_invalid(zone, row):
    mapping = Mapping.from_dict({"columns": {"title": "title", "ends": {"target": "fields.ends", "type": "datetime",
                                                                         "timezone": zone}}})
    cells = ["9999-12-31 23:59:59", "2026-01-01 10:00", "0001-01-01 00:30"]
    problems, rows = mapped(mapping, {"title": ["x", "y", "z"], "ends": cells})
    assert [(p.row, p.reason) for p in problems] == [(row, "out of range: in UTC it falls outside the years 1 to 9999")]
    assert rows[1].payload["fields"]["ends"].startswith("2026-01-01T")
    assert rows[row - 2].problems  # the map pass agrees: never sent, never a crash
    problems, _ = mapped(mapping, {"title": ["a"], "ends": [5]})  # a number is no date, not one out of range
    assert [p.reason.split(" (")[0] for p in problems] == ["a number, not a date-time"]


@pytest.mark.parametrize("kind", ["text", "datetime"])  # text parsed in bulk; datetime as Excel and DataFrames give it
def test_a_clock_time_the_zone_skips_or_repeats_is_invalid_not_shifted(kind):
    mapping = Mapping.from_dict({"columns": {"title": "title", "at": {
        "target": "fields.at", "type": "datetime", "format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"}}})
    cells = ["29/03/2026 02:30", "25/10/2026 02:30", "25/10/2026 03:30", "29/03/2026 03:30"]
    if kind == "datetime":
        cells = [datetime.strptime(cell, "%d/%m/%Y %H:%M") for cell in cells]
    problems, rows = mapped(mapping, {"title": list("abcd"), "at": cells})
    assert [(p.row, p.reason.split(": the clocks")[0]) for p in problems] == [
        (2, "2026-03-29 02:30 does not exist in Europe/Paris"), (3, "2026-10-25 02:30 happens twice in Europe/Paris")]
    assert [row.payload["fields"].get("at") for row in rows] == [None, None, "2026-10-25T02:30:00Z", "2026-03-29T01:30:00Z"]


@pytest.mark.parametrize("beside", ["2024-06-01T12:00:00+02:00",  # mixed time zones: pandas gives up, parsed one by one
                                    "soon",  # an unreadable cell: the others are parsed again one by one
                                    " 2024-06-01 12:00 "])  # white space: that one parsed again
def test_validation_finds_a_skipped_or_repeated_clock_time_whatever_else_the_column_holds(beside):
    data = {"key": ["id"], "columns": {"id": "title", "when": {
        "target": "fields.when", "type": "datetime", "timezone": "Europe/Paris"}}}
    cells = ["2024-03-31 02:30", beside, "2024-10-27 02:30", "2024-10-27T02:30:00+01:00"]
    problems = Mapping.from_dict(data).validate(chunk_of({"id": ["1", "2", "3", "4"], "when": cells}))
    clock = [(p.row, p.reason) for p in problems if p.value != "soon"]
    assert clock == [(2, "2024-03-31 02:30 does not exist in Europe/Paris: the clocks skip it"),
                     (4, "2024-10-27 02:30 happens twice in Europe/Paris: the clocks go back (write it with its UTC offset)")]
    alone = Mapping.from_dict(data).validate(chunk_of({"id": ["1", "3"], "when": [cells[0], cells[2]]}))  # vectorised
    assert [(p.row, p.reason) for p in alone] == [(2, clock[0][1]), (3, clock[1][1])]  # the same reasons


def test_a_due_date_whose_midnight_is_skipped_is_the_first_instant_of_the_day():
    mapping = Mapping.from_dict({"columns": {"title": "title", "due": {
        "target": "due_at", "type": "date", "timezone": "America/Santiago"}}})  # 2024-09-08 starts at 01:00
    problems, rows = mapped(mapping, {"title": ["a", "b"], "due": ["2024-09-08", "2024-09-09"]})
    assert problems == [] and [row.payload["due_at"] for row in rows] == ["2024-09-08T04:00:00Z", "2024-09-09T03:00:00Z"]


def test_a_date_text_pandas_reads_as_a_year_before_1_is_invalid():
    mapping = Mapping.infer(["title", "due"]).with_overrides(maps={"due": "due_at"}, types={"due": "date"})
    problems, rows = mapped(mapping, {"title": ["a", "b"], "due": ["-3", "2026-03-01"]})
    assert [(p.row, p.column) for p in problems] == [(2, "due")]
    assert rows[1].payload["due_at"].startswith("2026-03-01")


@given(st.lists(st.lists(st.integers(0, 40), max_size=30), max_size=40), st.sampled_from([64, 1]), st.booleans())
def test_the_hash_index_finds_every_earlier_hash_and_its_first_label_as_a_dict_would(chunks, spread, text_labels):
    """Runs merged tier by tier, the bitmap grown and rebuilt as hashes come: whatever the
    sizes, each hash seen before is found with the label of its first row, and a hash repeated
    in its own chunk is one (hashes few and close, or far apart in the top bits the bitmap reads)."""
    from fragment_bulk.mapping import _HashIndex

    index, first_label, row = _HashIndex(), {}, 0
    index.MERGED = 2  # a small file through every tier
    for chunk in chunks:
        hashes = np.array([value * (0x9E3779B97F4A7C15 if spread == 64 else 1) % 2**64 for value in chunk], dtype=np.uint64)
        numbers = list(range(row, row + len(chunk)))
        labels = pd.Index([f"r{n}" for n in numbers] if text_labels else numbers)
        earlier, earlier_labels, repeated = index.record(hashes, labels)
        in_chunk: set[int] = set()
        for position, value in enumerate(hashes.tolist()):
            assert earlier[position] == (value in first_label)
            if earlier[position]:
                assert earlier_labels[position] == first_label[value]
            assert repeated[position] == (value in in_chunk)
            in_chunk.add(value)
        for value, label in zip(hashes.tolist(), labels):
            first_label.setdefault(value, label)
        row += len(chunk)


def test_the_hash_index_bitmap_at_its_largest_is_not_rebuilt_for_every_chunk(monkeypatch):
    """(Rebuilt, it marks every hash seen so far again: a check quadratic past 16M rows.)"""
    from fragment_bulk.mapping import _HashIndex

    index, marked = _HashIndex(), []
    index.MOST_BITMAP_BITS = 1 << 12  # reached after 256 hashes
    mark = index._mark
    monkeypatch.setattr(index, "_mark", lambda hashes: (marked.append(len(hashes)), mark(hashes)))
    rng = np.random.default_rng(0)
    for chunk in range(40):
        index.record(rng.integers(0, 2**63, 100, dtype=np.uint64), pd.RangeIndex(chunk * 100, chunk * 100 + 100))
    assert len(index._bitmap) * 8 == 1 << 12
    assert sum(marked) < 2 * 4000  # each hash marked about once, not once a chunk


@pytest.mark.parametrize("format", ["%d/%m/%Y %H:%M %z", "%Y-%W-%w", "%G-W%V-%u", "%Y%j", "%d %B %Y", "%x", "%Y%m%d"])
def test_date_formats_that_name_one_day_are_taken(format):
    mapping = Mapping.from_dict({"columns": {"A": {"target": "due_at", "type": "datetime", "format": format}}})
    assert mapping.columns["A"].format == format
