"""Export against the sandbox: paging, columns, formats, the formula guard and the round trip."""

from __future__ import annotations

import csv
import json
import signal
import time
import uuid
from datetime import datetime

import httpx
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import fragment_bulk
from fragment_bulk import exporter, formats, readers
from fragment_bulk.errors import ConfigError, ProtocolError, RequestRejected
from fragment_bulk.exporter import Search, export_comments, export_frame, export_tasks, flatten, sidecar_mapping
from fragment_bulk.formats import escape_formula, unescape_formula
from fragment_bulk.sandbox import Sandbox, SandboxConfig

from conftest import make_client
from helpers import error_line, run_cli, start_cli

FORMULAS = ["=1+1", "+x", "-x", "@x", "\tx", "\rx", "'quoted", "'=already"]


def _custom(n: int) -> dict:
    fields = {"title": f"Task {n}", "country": ["FR", "DE", "ES"][n % 3], "priority": n % 5, "ticket": f"{n:05d}"}
    if n % 2:
        fields["score"] = n / 4
    if n % 7 == 0:
        fields["flag"] = n % 14 == 0
    if n % 11 == 0:
        fields["meta"] = {"tags": ["a", str(n)], "depth": {"x": n}}
    if n % 13 == 0:
        fields["url"] = f"https://example.com/{n}"
    return fields


def _seed(client, count: int, *, fields=_custom) -> list[str]:
    uids = [str(uuid.UUID(int=n + 1)) for n in range(count)]
    for start in range(0, count, 100):
        client.upsert_tasks([_task(uids[n], n, fields) for n in range(start, min(start + 100, count))])
    return uids


def _task(uid: str, n: int, fields) -> dict:
    task = {"uid": uid, "fields": fields(n), "status": ["TODO", "STARTED", "DONE"][n % 3]}
    if n % 4:  # the others keep the server's default, "now" to the microsecond
        task["due_at"] = f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}T10:{n % 60:02d}:00Z"
    return task


def test_a_filtered_export_has_every_match_once_and_equal(tmp_path, sandbox, client):
    _seed(client, 2_500)
    report = export_tasks(client, tmp_path / "fr.jsonl", Search(filters={"country": "FR"}))
    exported = [json.loads(line) for line in (tmp_path / "fr.jsonl").read_text(encoding="utf-8").splitlines()]
    expected = {task["uid"]: flatten(task) for task in sandbox.tasks() if task["fields"]["country"] == "FR"}
    assert report.rows == len(exported) == len(expected) == 834
    assert len({row["uid"] for row in exported}) == len(exported)
    columns = set(exported[0])
    for row in exported:
        assert set(row) == columns  # every line has every column, an empty one as null
        assert {key: value for key, value in row.items() if value is not None} == {
            key: value for key, value in expected[row["uid"]].items() if value is not None}


@pytest.mark.parametrize("count,page_max", [(0, 100), (7, 100), (100, 100), (100, 50), (101, 25)])
def test_pagination_edges(tmp_path, count, page_max):
    with Sandbox(SandboxConfig(rate_per_min=None, page_max=page_max, page_default=min(50, page_max))) as sb:
        with make_client(sb) as client:
            _seed(client, count)
            report = export_tasks(client, tmp_path / "all.csv")
            frame = pd.read_csv(tmp_path / "all.csv", dtype=str, keep_default_na=False)
    assert report.rows == len(frame) == count
    assert frame["uid"].is_unique
    assert list(frame.columns[:9]) == ["uid", "status", "title", "url", "due_at", "done_at", "started_at", "created_at", "updated_at"]


def test_limit_stops_early_and_columns_choose_and_order(tmp_path, sandbox, client):
    _seed(client, 300)
    report = export_tasks(client, tmp_path / "some.csv", Search(limit=120), columns=["title", "priority", "uid"])
    frame = pd.read_csv(tmp_path / "some.csv", dtype=str)
    assert report.rows == len(frame) == 120 and list(frame.columns) == ["title", "priority", "uid"]
    assert report.dropped == 0 and "filter" not in report.summary_line()  # cut by the limit, not dropped
    export_tasks(client, tmp_path / "first.csv", columns=["uid", "status"])  # the first columns, in order
    with open(tmp_path / "first.csv", newline="", encoding="utf-8") as handle:
        assert {len(row) for row in csv.reader(handle)} == {2}
    with pytest.raises(fragment_bulk.ConfigError, match="nope"):
        export_tasks(client, tmp_path / "x.csv", columns=["nope"])


def test_every_format_reads_back_the_same_values(tmp_path, sandbox, client):
    _seed(client, 60)
    expected = export_frame(client)
    for name in ("t.csv", "t.xlsx", "t.jsonl", "t.parquet"):
        export_tasks(client, tmp_path / name)
    csv_frame = pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False)
    jsonl = pd.read_json(tmp_path / "t.jsonl", lines=True, dtype=False)
    parquet = pq.read_table(tmp_path / "t.parquet").to_pandas()
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx").active
    rows = list(sheet.iter_rows(values_only=True))
    header, body = list(rows[0]), rows[1:]
    assert list(csv_frame.columns) == header == list(parquet.columns) == list(expected.columns)
    assert list(csv_frame["uid"]) == list(jsonl["uid"]) == list(parquet["uid"]) == [row[0] for row in body]
    priority = header.index("priority")
    assert [row[priority] for row in body] == list(parquet["priority"]) == [int(v) for v in csv_frame["priority"]]
    due = header.index("due_at")
    kinds = {type(row[due]).__name__ for row in body}
    assert kinds == {"datetime", "str"}  # real date cells; microseconds (Excel keeps ms) stay ISO text
    created = header.index("created_at")  # read-only: always a date cell, rounded to the millisecond
    assert all(isinstance(row[created], datetime) for row in body)
    assert [pd.Timestamp(row[due]).tz_localize("UTC") if not isinstance(row[due], str) else pd.Timestamp(row[due])
            for row in body] == list(parquet["due_at"]) == list(expected["due_at"])
    assert list(jsonl["ticket"]) == list(csv_frame["ticket"]) == list(parquet["ticket"])  # "00005" stays text
    assert csv_frame["ticket"].iloc[5] == "00005"


def test_the_sidecar_records_each_columns_type(tmp_path, sandbox, client):
    _seed(client, 40)
    export_tasks(client, tmp_path / "t.csv")
    mapping = yaml.safe_load((tmp_path / "t.csv.mapping.yml").read_text())
    columns = mapping["columns"]
    assert columns["uid"] == "uid" and columns["created_at"] == "ignore"
    assert columns["priority"] == {"target": "fields.priority", "type": "int"}
    assert columns["score"] == {"target": "fields.score", "type": "float"}
    assert columns["ticket"] == {"target": "fields.ticket", "type": "str"}
    assert columns["flag"] == {"target": "fields.flag", "type": "bool"}
    assert columns["meta"] == {"target": "fields.meta", "type": "json"}
    assert mapping["formula_escape"] is True


def test_round_trip_untouched_changes_nothing(tmp_path, sandbox, client):
    _seed(client, 250)
    before = sandbox.tasks()
    names = ("rt.csv", "rt.xlsx", "rt.jsonl")
    for name in names:
        export_tasks(client, tmp_path / name)
    for name in names:  # each export of the one name "rt" keeps its own mapping
        report = fragment_bulk.import_file(tmp_path / name, client=client, checkpoint=None, results=None)
        assert report.counts.get("unchanged") == 250, name
        assert report.counts.get("created", 0) == report.counts.get("updated", 0) == 0, name
    assert sandbox.tasks() == before


def test_a_json_lines_round_trip_with_a_column_empty_in_every_task(tmp_path, sandbox, client):
    _seed(client, 5, fields=lambda n: {"title": f"t{n}"})  # no task has a url
    export_tasks(client, tmp_path / "rt.jsonl")
    mapped = yaml.safe_load((tmp_path / "rt.jsonl.mapping.yml").read_text())["columns"]
    assert "url" in mapped and all('"url": null' in line for line in (tmp_path / "rt.jsonl").open())
    report = fragment_bulk.import_file(tmp_path / "rt.jsonl", client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == 5 and report.counts.get("updated", 0) == 0


def test_a_field_named_like_the_prefix_keeps_a_column_of_its_own(tmp_path, sandbox, client):
    _seed(client, 2, fields=lambda n: {"title": f"t{n}", "status": "custom", "fields.status": "dotted"})
    before = sandbox.tasks()
    export_tasks(client, tmp_path / "p.csv")
    header = pd.read_csv(tmp_path / "p.csv", dtype=str).columns
    assert {"status", "fields.status", "fields.fields.status"} <= set(header)
    report = fragment_bulk.import_file(tmp_path / "p.csv", client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == 2 and sandbox.tasks() == before


def test_round_trip_with_one_edit_changes_exactly_that(tmp_path, sandbox, client):
    _seed(client, 50)
    before = {task["uid"]: task for task in sandbox.tasks()}
    export_tasks(client, tmp_path / "rt.csv")
    frame = pd.read_csv(tmp_path / "rt.csv", dtype=str, keep_default_na=False)
    target = frame["uid"].iloc[7]
    frame.loc[7, "priority"] = "42"
    frame.to_csv(tmp_path / "rt.csv", index=False)
    report = fragment_bulk.import_file(tmp_path / "rt.csv", client=client, checkpoint=None, results=None)
    assert report.counts.get("updated") == 1 and report.counts.get("unchanged") == 49
    after = {task["uid"]: task for task in sandbox.tasks()}
    assert after[target]["fields"]["priority"] == 42  # an integer again, not "42"
    changed = {key for key in after[target]["fields"] if after[target]["fields"][key] != before[target]["fields"].get(key)}
    assert changed == {"priority"}
    assert all(after[uid] == before[uid] for uid in before if uid != target)


@pytest.mark.parametrize("name", ["f.csv", "f.xlsx"])
def test_formulas_are_guarded_and_round_trip_cleanly(tmp_path, sandbox, client, name):
    # An xlsx file is XML, which turns a carriage return into a line feed: no "\r" there.
    texts = [text for text in FORMULAS if name.endswith(".csv") or "\r" not in text]
    _seed(client, len(texts), fields=lambda n: {"title": texts[n], "note": texts[(n + 3) % len(texts)], "delta": -n})
    before = sandbox.tasks()
    export_tasks(client, tmp_path / name)
    frame = _read_cells(tmp_path / name)
    assert sorted(frame["title"]) == sorted(escape_formula(text) for text in texts)  # all inert in a spreadsheet
    assert all(cell.startswith("'") for cell in frame["note"])
    assert sorted(frame["delta"], key=int) == [str(-n) for n in reversed(range(len(texts)))]  # numbers untouched
    report = fragment_bulk.import_file(tmp_path / name, client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == len(texts)
    assert sandbox.tasks() == before
    export_tasks(client, tmp_path / f"raw-{name}", escape_formulas=False)
    unguarded = set(_read_cells(tmp_path / f"raw-{name}")["title"])
    assert "=1+1" in unguarded and "'=1+1" not in unguarded


def _read_cells(path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    return pd.DataFrame([[None if cell is None else str(cell) for cell in row] for row in rows[1:]], columns=rows[0])


@pytest.mark.parametrize("text", ["", "'", "''", "=", "'=", "a=b", "-5", "'-5", "plain", "\t", "'\r'"])
def test_escape_is_undone_exactly(text):
    assert unescape_formula(escape_formula(text)) == text


@given(st.text(alphabet=st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'", "a", " ", "5"]), max_size=6) | st.text())
def test_escape_round_trips_every_string(text):
    escaped = escape_formula(text)
    assert unescape_formula(escaped) == text
    assert escaped == text or (escaped[0] == "'" and (escaped[1] in "=+-@\t\r'" or escaped[1:].isspace()))


def test_comments_export(tmp_path, sandbox, client):
    uids = _seed(client, 3)
    posted = [client.add_comment(uids[0], "first"), client.add_comment(uids[2], "=second")]
    report = export_comments(client, tmp_path / "c.csv")
    frame = pd.read_csv(tmp_path / "c.csv", dtype=str, keep_default_na=False)
    assert report.rows == 2 and list(frame.columns) == ["task_uid", "comment_uid", "text", "created_at"]
    assert set(frame["comment_uid"]) == {comment["uid"] for comment in posted}
    assert set(frame["text"]) == {"first", "'=second"}


def test_export_cli_on_a_real_port(tmp_path):
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb, sb.serve(port=0) as server:
        with make_client(sb) as client:
            _seed(client, 30)
        result = run_cli("export", str(tmp_path / "out.csv"), "--filter", "country=DE", "--status", "started",
                         "--rate", "off", server_url=server.url)
        assert result.returncode == 0, result.stderr
        frame = pd.read_csv(tmp_path / "out.csv", dtype=str)
        expected = [t for t in sb.tasks() if t["fields"]["country"] == "DE" and t["status"] == "STARTED"]
        assert sorted(frame["uid"]) == sorted(task["uid"] for task in expected) and len(expected) > 0
        bad = run_cli("export", str(tmp_path / "out.txt"), "--rate", "off", server_url=server.url)
        assert bad.returncode == 2 and "--format" in bad.stderr


def test_export_dataframe_from_python(sandbox, client):
    _seed(client, 20)
    frame = fragment_bulk.export_dataframe(client=client, status="DONE")
    assert len(frame) == 6 and set(frame["status"]) == {"DONE"}
    assert str(frame["due_at"].dt.tz) == "UTC"


@pytest.mark.parametrize("name", ["late.csv", "late.xlsx"])
def test_a_formula_on_a_later_page_is_guarded_though_the_first_pages_held_none(tmp_path, sandbox, client, name):
    """(Each page notes which columns hold a text the guard changes; the others are written with
    no look at each cell.)"""
    _seed(client, 250, fields=lambda n: {"title": f"t{n}", "note": "=SUM(A1:A9)" if n == 230 else " " * (n == 240) or f"n{n}",
                                         "plain": f"p{n}"})
    export_tasks(client, tmp_path / name, page_size=100)
    frame = _read_cells(tmp_path / name)
    assert sorted(cell for cell in frame["note"] if cell[:1] in "'=") == ["' ", "'=SUM(A1:A9)"]  # white space
    # only is guarded as a formula is: a reader would take it for an empty cell
    assert all(cell.startswith("p") for cell in frame["plain"])


def test_a_guarded_key_column_makes_the_same_uids_again(sandbox, client, tmp_path):
    fragment_bulk.import_dataframe(pd.DataFrame({"phone": ["+33612345678", "=1"], "title": ["Ann", "Bob"]}),
                                   keys=["phone"], client=client)
    fragment_bulk.export_file(tmp_path / "o.csv", client=client)  # '+33612345678 in the file
    report = fragment_bulk.import_file(tmp_path / "o.csv", ignore=["uid"], keys=["phone"], client=client)
    assert report.counts["unchanged"] == 2 and sandbox.task_count() == 2  # not two copies


def test_dates_before_excels_calendar_round_trip_through_xlsx(sandbox, client, tmp_path):
    frame = pd.DataFrame({"title": ["a", "b", "c", "d"], "due": ["1899-12-30", "1899-12-31", "1800-01-01", "1900-01-01"]})
    fragment_bulk.import_dataframe(frame, maps={"due": "due_at"}, types={"due": "date"}, client=client)
    fragment_bulk.export_file(tmp_path / "o.xlsx", client=client)  # 1899-12-30 was Excel's day 0: read back as a time
    assert fragment_bulk.import_file(tmp_path / "o.xlsx", client=client).counts["unchanged"] == 4


def test_an_export_cut_to_some_fields_goes_back_as_an_update_never_an_import(sandbox, client, tmp_path):
    fragment_bulk.import_dataframe(pd.DataFrame({"id": ["1"], "title": ["t"], "country": ["FR"], "n": [5]}),
                                   keys=["id"], client=client)
    before = sandbox.tasks()
    fragment_bulk.export_file(tmp_path / "part.csv", columns=["uid", "title"], client=client)
    with pytest.raises(ConfigError, match="holds only some of each task's fields"):
        fragment_bulk.import_file(tmp_path / "part.csv", client=client)  # it would delete country, id and n
    assert fragment_bulk.update_file(tmp_path / "part.csv", client=client).counts["unchanged"] == 1
    frame = fragment_bulk.export_dataframe(columns=["uid", "title"], client=client)
    with pytest.raises(ConfigError, match="holds only some of each task's fields"):
        fragment_bulk.import_dataframe(frame, client=client)
    whole = fragment_bulk.export_dataframe(client=client)
    with pytest.raises(ConfigError, match="holds only some of each task's fields"):
        fragment_bulk.import_dataframe(whole[["uid", "title", "status"]], client=client)  # cut in pandas
    assert fragment_bulk.import_dataframe(whole, client=client).counts["unchanged"] == 1
    with pytest.raises(ConfigError, match="holds only some of each task's fields"):
        fragment_bulk.import_dataframe(whole, ignore=["country"], client=client)  # ignored: deleted as well
    assert sandbox.tasks() == before
    # Natives left out do not cut it: an import keeps the natives it is not given.
    fragment_bulk.export_file(tmp_path / "fields.csv", columns=["uid", "title", "id", "country", "n"], client=client)
    assert fragment_bulk.import_file(tmp_path / "fields.csv", client=client).counts["unchanged"] == 1
    with pytest.raises(ConfigError, match="holds only some of each task's fields"):
        fragment_bulk.import_file(tmp_path / "fields.csv", maps={"n": "ignore"}, client=client)
    # A file of the user's own with a uid column may leave a column out: it is no export.
    pd.DataFrame({"uid": whole["uid"], "title": whole["title"], "scratch": ["x"]}).to_csv(tmp_path / "mine.csv", index=False)
    assert fragment_bulk.import_file(tmp_path / "mine.csv", ignore=["scratch"], client=client).exit_code == 0
    with pytest.warns(UserWarning, match="looks like an export but carries no mapping"):
        fragment_bulk.import_dataframe(pd.concat([whole, pd.DataFrame({"title": ["new"]})]), client=client)  # attrs dropped


def test_an_exported_frame_imports_back_to_the_same_field_keys(sandbox, client):
    # Keys inference would rename (ticketId -> ticketid), send as natives (Status) or leave out (Created At).
    fragment_bulk.import_dataframe(
        pd.DataFrame({"title": ["a", "b"], "a": ["T1", "T2"], "b": ["2020-01-01", None], "c": ["DONE", "x"], "n": [1, None]}),
        maps={"a": "fields.ticketId", "b": "fields.Created At", "c": "fields.Status"}, types={"n": "int"}, client=client)
    before = sorted(sandbox.tasks(), key=lambda task: task["fields"]["title"])
    frame = fragment_bulk.export_dataframe(client=client)
    assert fragment_bulk.import_dataframe(frame, client=client).counts["unchanged"] == 2
    assert fragment_bulk.update_dataframe(frame, client=client).counts["unchanged"] == 2
    assert sorted(sandbox.tasks(), key=lambda task: task["fields"]["title"]) == before
    # Cut to a few columns, the frame updates those (its mapping kept for the columns it still has).
    changed = frame[["uid", "Status"]].assign(Status=["NEW", "NEW"])
    assert fragment_bulk.update_dataframe(changed, client=client).counts["updated"] == 2
    assert {task["fields"]["Status"] for task in sandbox.tasks()} == {"NEW"}
    assert all(set(task["fields"]) == set(old["fields"]) for task, old in
               zip(sorted(sandbox.tasks(), key=lambda task: task["fields"]["title"]), before))


# -- paging against misbehaving or stricter servers -----------------------------------------------------


class Rewriting(httpx.BaseTransport):
    """Records each request's query, and drops the ``dropped`` parameters before the sandbox sees them."""

    def __init__(self, inner: httpx.BaseTransport, dropped: tuple[str, ...] = ()):
        self.inner, self.dropped, self.queries = inner, dropped, []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(dict(request.url.params))
        url = request.url
        for name in self.dropped:
            url = url.copy_remove_param(name)
        return self.inner.handle_request(httpx.Request(request.method, url, headers=request.headers, content=request.content))


def test_a_repeated_cursor_is_a_protocol_error(tmp_path):
    task = {"uid": str(uuid.UUID(int=1)), "status": "TODO", "fields": {"title": "t"}}
    loop = httpx.MockTransport(lambda request: httpx.Response(200, json={"items": [task], "meta": {"next_cursor": "again"}}))
    settings = fragment_bulk.Settings(token="t", base_url="http://127.0.0.1/api/v1", rate_per_min=None)
    with fragment_bulk.FragmentClient(settings, transport=loop) as client, pytest.raises(ProtocolError, match="twice"):
        export_tasks(client, tmp_path / "loop.csv")
    assert not (tmp_path / "loop.csv").exists() and list(tmp_path.iterdir()) == []  # no partial file, no spool


def test_a_smaller_page_maximum_is_found_by_halving(tmp_path):
    with Sandbox(SandboxConfig(rate_per_min=None, page_max=30, page_default=30)) as sb:
        with make_client(sb) as seeding:
            _seed(seeding, 70)
        recorder = Rewriting(sb.transport())
        with make_client(sb, transport=recorder) as client:
            report = export_tasks(client, tmp_path / "all.jsonl")
    assert report.rows == 70 and report.pages == 3
    assert [query["limit"] for query in recorder.queries] == ["100", "50", "25", "25", "25"]


def test_a_422_about_something_else_is_not_retried_with_smaller_pages(tmp_path, sandbox):
    recorder = Rewriting(sandbox.transport())
    with make_client(sandbox, transport=recorder) as client, pytest.raises(RequestRejected, match="cannot be used"):
        export_tasks(client, tmp_path / "x.csv", Search(filters={'say "hi"': "x"}))
    assert len(recorder.queries) == 1


def test_a_server_that_ignores_a_native_filter_still_gives_only_matches(tmp_path, sandbox):
    with make_client(sandbox) as seeding:
        _seed(seeding, 90)
    with make_client(sandbox, transport=Rewriting(sandbox.transport(), dropped=("status",))) as client:
        report = export_tasks(client, tmp_path / "done.csv", Search(status="done"))
    frame = pd.read_csv(tmp_path / "done.csv", dtype=str)
    assert set(frame["status"]) == {"DONE"} and report.rows == len(frame) == 30
    assert report.dropped == 60 and "ignored a filter" in report.summary_line()


def test_date_filters_are_sent_as_utc_iso_and_checked(tmp_path, sandbox, client):
    _seed(client, 10)
    cut = datetime.fromisoformat(sandbox.tasks()[-1]["created_at"].replace("Z", "+00:00"))
    time.sleep(0.01)
    later = _seed(client, 5, fields=lambda n: {"title": f"late {n}"})  # same uids: updated, not created
    report = export_tasks(client, tmp_path / "new.csv", Search(updated_after=cut.isoformat()))
    assert report.rows == 5 and set(pd.read_csv(tmp_path / "new.csv", dtype=str)["uid"]) == set(later)
    assert Search(created_after="2026-01-02").query() == {"created_at_after": "2026-01-02T00:00:00+00:00"}
    with pytest.raises(ConfigError, match="updated after 'yesterday'"):
        export_tasks(client, tmp_path / "bad.csv", Search(updated_after="yesterday"))


@pytest.mark.parametrize("name", ["none.csv", "none.jsonl", "none.xlsx", "none.parquet"])
def test_an_empty_result_is_a_valid_empty_file(tmp_path, sandbox, client, name):
    report = export_tasks(client, tmp_path / name, Search(filters={"country": "nowhere"}))
    path = tmp_path / name
    assert report.rows == 0 and report.pages == 0
    if name.endswith(".csv"):
        assert list(pd.read_csv(path).columns[:3]) == ["uid", "status", "title"]
    elif name.endswith(".jsonl"):
        assert path.read_text() == ""
    elif name.endswith(".xlsx"):
        assert list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))[0][:2] == ("uid", "status")
    else:
        assert pq.read_table(path).num_rows == 0


def test_limit_zero_sends_nothing_and_limit_caps_the_page_size(tmp_path, sandbox):
    with make_client(sandbox) as seeding:
        _seed(seeding, 30)
    recorder = Rewriting(sandbox.transport())
    with make_client(sandbox, transport=recorder) as client:
        assert export_tasks(client, tmp_path / "zero.csv", Search(limit=0)).rows == 0
        assert recorder.queries == []
        assert export_tasks(client, tmp_path / "seven.csv", Search(limit=7)).rows == 7
    assert [query["limit"] for query in recorder.queries] == ["7"]


def test_a_column_first_seen_on_a_late_page_pads_the_earlier_rows(tmp_path, sandbox, client):
    _seed(client, 250, fields=lambda n: {"title": f"t{n}", **({"late": [n]} if n == 249 else {})})
    for name in ("late.csv", "late.xlsx", "late.parquet", "late.jsonl"):
        report = export_tasks(client, tmp_path / name)
        assert report.columns[-1] == "late" and report.rows == 250
    frame = pd.read_csv(tmp_path / "late.csv", dtype=str)
    assert frame["late"].isna().sum() == 249 and frame["late"].iloc[-1] == "[249]"
    assert pq.read_table(tmp_path / "late.parquet").column("late").to_pylist()[-2:] == [None, "[249]"]


@pytest.mark.parametrize("group_bytes, groups", [(64 << 20, 1), (1, 50)])
def test_a_wide_parquet_export_holds_few_rows_as_python_values(tmp_path, monkeypatch, group_bytes, groups):
    """10,000 rows of 2,000 columns as Python values took 1.7 GB: rows become Arrow a slice of
    CHUNK_CELLS cells (and SLICE_ROWS rows at least) at a time, gathered into row groups of 10,000 rows
    or ROW_GROUP_BYTES."""
    monkeypatch.setattr(formats, "CHUNK_CELLS", 1_000)
    monkeypatch.setattr(formats, "SLICE_ROWS", 1)
    monkeypatch.setattr(formats, "ROW_GROUP_BYTES", group_bytes)
    live = most = 0

    class Row(list):
        def __init__(self, values):
            nonlocal live, most
            super().__init__(values)
            live += 1
            most = max(most, live)

        def __del__(self):
            nonlocal live
            live -= 1

    names = [f"f{column}" for column in range(100)]
    rows = (Row([f"{row}:{column}" for column in range(100)]) for row in range(500))
    formats.write_rows("parquet", tmp_path / "wide.parquet", names, ["str"] * 100, rows)
    written = pq.ParquetFile(tmp_path / "wide.parquet")
    assert written.metadata.num_rows == 500 and written.metadata.num_row_groups == groups
    assert written.read().column("f99").to_pylist()[-1] == "499:99"
    assert most <= 20  # slices of 10 rows (1,000 cells), not 10,000 rows


# No null: an empty cell means "leave out" on import, so a field stored as null comes back absent.
@pytest.mark.parametrize("name", ["big.csv", "big.xlsx", "big.jsonl", "big.parquet"])
def test_integers_beyond_a_double_or_int64_round_trip_exactly(tmp_path, sandbox, client, name):
    numbers = [10_000_000_000_000_001, 18_446_744_073_709_551_615, -(2**70), 7]
    _seed(client, len(numbers), fields=lambda n: {"title": f"t{n}", "order_id": numbers[n]})
    before = sandbox.tasks()
    export_tasks(client, tmp_path / name)  # no rounding to a double, no overflow of int64
    if name.endswith(".parquet"):
        assert sorted(pq.read_table(tmp_path / name).column("order_id").to_pylist()) == sorted(map(str, numbers))
        return  # no Parquet import
    report = fragment_bulk.import_file(tmp_path / name, client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == len(numbers) and sandbox.tasks() == before


@pytest.mark.parametrize("name", ["n.csv", "n.xlsx", "n.jsonl"])
def test_a_field_of_ints_and_floats_round_trips_each_number_as_it_was(tmp_path, sandbox, client, name):
    # A sheet reads a whole number as an int: in xlsx, 2.0 is written as the text "2.0" to stay a float.
    numbers = [2, 1.5, -3, 10, 0.25, 2.0, -0.0, 1e20, -2.5e17]
    _seed(client, len(numbers), fields=lambda n: {"title": f"t{n}", "amount": numbers[n]})
    before = sandbox.tasks()
    export_tasks(client, tmp_path / name)
    if not name.endswith(".jsonl"):  # JSON Lines keeps JSON's own kinds and needs no type
        mapping = yaml.safe_load((tmp_path / f"{name}.mapping.yml").read_text())
        assert mapping["columns"]["amount"] == {"target": "fields.amount", "type": "number"}
    report = fragment_bulk.import_file(tmp_path / name, client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == len(numbers) and sandbox.tasks() == before


@pytest.mark.parametrize("name", ["w.csv", "w.xlsx", "w.jsonl"])
@pytest.mark.parametrize("escape", [True, False])
def test_a_field_of_white_space_only_round_trips_instead_of_being_deleted(tmp_path, sandbox, client, name, escape, monkeypatch):
    # Every reader takes a blank cell for an empty one: an export guards such text ("'   "), and
    # an import of an export without the guard, beside its mapping, takes such a cell for its text.
    spaces = ["   ", " ", "\n", "\u00a0", "\u3000", "\t", "' "]
    _seed(client, len(spaces), fields=lambda n: {"title": f"t{n}", "blank": spaces[n], "n": n})
    before = sandbox.tasks()
    export_tasks(client, tmp_path / name, escape_formulas=escape)
    report = fragment_bulk.import_file(tmp_path / name, client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == len(spaces) and sandbox.tasks() == before
    if name == "w.csv" and not escape:  # as pandas reads it (no pyarrow); and an int cell of white space is empty
        monkeypatch.setattr(readers, "_arrow", lambda: None)
        report = fragment_bulk.import_file(tmp_path / name, client=client, checkpoint=None, results=None)
        assert report.counts.get("unchanged") == len(spaces) and sandbox.tasks() == before
        with open(tmp_path / name, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        rows[1][rows[0].index("n")] = " "
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
        report = fragment_bulk.import_file(tmp_path / name, client=client, checkpoint=None, results=None)
        assert (report.counts.get("updated"), report.counts.get("failed")) == (1, None)
        fields = {task["uid"]: task["fields"] for task in sandbox.tasks()}[rows[1][0]]
        assert "n" not in fields and fields["blank"] == spaces[int(fields["title"][1:])]


@pytest.mark.parametrize("name", ["k.csv", "k.xlsx", "k.jsonl"])
def test_field_keys_with_space_around_them_round_trip(tmp_path, sandbox, client, name):
    # The header " Notes " reads back as "Notes": the sidecar names the column so, and keeps the key.
    _seed(client, 3, fields=lambda n: {"title": f"t{n}", " Notes ": f"n{n}", "Score ": n / 2})
    before = sandbox.tasks()
    export_tasks(client, tmp_path / name)
    report = fragment_bulk.import_file(tmp_path / name, client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == 3 and sandbox.tasks() == before


@pytest.mark.parametrize("name", ["c.csv", "c.xlsx", "c.jsonl", "frame"])
def test_field_keys_that_meet_another_column_once_trimmed_keep_a_column_each(tmp_path, sandbox, client, name):
    # " status" would meet the native status, and " x" the field "x", once a reader trims the header.
    _seed(client, 2, fields=lambda n: {"title": f"t{n}", " status": "s", "x": n, " x": -n, "x ": "y"})
    before = sandbox.tasks()
    if name == "frame":
        report = fragment_bulk.import_dataframe(fragment_bulk.export_dataframe(client=client), client=client)
    else:
        export_tasks(client, tmp_path / name)
        report = fragment_bulk.import_file(tmp_path / name, client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == 2 and sandbox.tasks() == before


@pytest.mark.parametrize("name", ["e.csv", "e.xlsx", "e.jsonl", "frame"])
def test_field_keys_of_nothing_or_white_space_only_round_trip_through_import_and_update(tmp_path, sandbox, client, name):
    # A header of no name cannot be read, and trimmed, "fields. " and "fields.  " would be one:
    # such keys are quoted as JSON (fields."", fields." "), and the sidecar names the key.
    _seed(client, 2, fields=lambda n: {"title": f"t{n}", "": n, " ": "a", "  ": "b", "\t": "c", "k": "d"})
    before = sandbox.tasks()
    for send in (fragment_bulk.import_file, fragment_bulk.update_file):
        if name == "frame":
            frame = fragment_bulk.export_dataframe(client=client)
            assert list(frame.columns[-5:]) == ['fields.""', 'fields." "', 'fields."  "', 'fields."\\t"', "k"]
            send = fragment_bulk.import_dataframe if send is fragment_bulk.import_file else fragment_bulk.update_dataframe
            report = send(frame, client=client)
        else:
            export_tasks(client, tmp_path / name)
            report = send(tmp_path / name, client=client, checkpoint=None, results=None)
        assert report.counts.get("unchanged") == 2 and sandbox.tasks() == before


def test_a_csv_export_guards_its_header_cells_too(tmp_path, sandbox, client):
    keys = ['=HYPERLINK("http://evil.example","click")', "+1+2", "@SUM(1)"]
    _seed(client, 2, fields=lambda n: {"title": f"t{n}", **{key: n for key in keys}})
    before = sandbox.tasks()
    export_tasks(client, tmp_path / "h.csv")
    header = next(csv.reader(open(tmp_path / "h.csv", encoding="utf-8")))
    assert all(name[:1] not in "=+-@" for name in header) and "'+1+2" in header
    report = fragment_bulk.import_file(tmp_path / "h.csv", client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == 2 and sandbox.tasks() == before


def test_an_export_without_its_uid_column_is_refused_as_an_import_not_copied(tmp_path, sandbox, client):
    _seed(client, 2)
    export_tasks(client, tmp_path / "n.csv", columns=["title", "status"])
    with pytest.raises(ConfigError, match="this export has no uid column"):
        fragment_bulk.import_file(tmp_path / "n.csv", client=client, checkpoint=None)
    frame = fragment_bulk.export_dataframe(client=client).drop(columns="uid")
    with pytest.raises(ConfigError, match="this export has no uid column"):
        fragment_bulk.import_dataframe(frame, client=client)
    assert sandbox.task_count() == 2
    copied = fragment_bulk.import_file(tmp_path / "n.csv", client=client, checkpoint=None, mapping={"columns": {}})
    assert copied.counts["created"] == 2 and sandbox.task_count() == 4  # asked for: a mapping of one's own


MIXED = [5, "x", 2.5, {"a": 1}, True, "-5", -5, "", [1, "=2"]]


def test_a_column_of_mixed_types_is_json_text_and_round_trips(tmp_path, sandbox, client):
    _seed(client, len(MIXED), fields=lambda n: {"title": f"t{n}", "mixed": MIXED[n], "negative": -n})
    before = sandbox.tasks()
    export_tasks(client, tmp_path / "m.csv")
    cells = pd.read_csv(tmp_path / "m.csv", dtype=str, keep_default_na=False)
    assert list(cells["mixed"]) == ["5", '"x"', "2.5", '{"a": 1}', "true", '"-5"', "-5", '""', '[1, "=2"]']
    assert list(cells["negative"]) == [str(-n) for n in range(len(MIXED))]  # numbers are never escaped
    mapping = yaml.safe_load((tmp_path / "m.csv.mapping.yml").read_text())
    assert mapping["columns"]["mixed"] == {"target": "fields.mixed", "type": "json"}
    assert mapping["columns"]["negative"] == {"target": "fields.negative", "type": "int"}
    report = fragment_bulk.import_file(tmp_path / "m.csv", client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == len(MIXED) and sandbox.tasks() == before
    export_tasks(client, tmp_path / "m.parquet")
    assert pq.read_table(tmp_path / "m.parquet").column("mixed").to_pylist()[:2] == ["5", '"x"']
    export_tasks(client, tmp_path / "m.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [line.get("mixed") for line in lines] == MIXED


def test_sidecar_mapping_is_a_pure_function_of_columns_and_types():
    mapping = sidecar_mapping(["uid", "title", "due_at", "done_at", "n", "fields.uid"], {"n": "int", "fields.uid": "str"},
                              escaped=False)
    assert mapping == {"version": 1, "empty": "omit", "columns": {
        "uid": "uid", "title": "title", "due_at": {"target": "due_at", "type": "datetime"}, "done_at": "ignore",
        "n": {"target": "fields.n", "type": "int"}, "fields.uid": {"target": "fields.uid", "type": "str"}}}
    assert sidecar_mapping(["n"], {"n": "int"}, escaped=True, format="jsonl") == {
        "version": 1, "empty": "omit", "formula_escape": True, "columns": {"n": {"target": "fields.n"}}}


def test_comments_of_given_tasks_to_excel_with_date_cells(tmp_path, sandbox, client):
    uids = _seed(client, 4)
    for uid in (uids[1], uids[3], uids[3]):
        client.add_comment(uid, f"on {uid[-2:]}")
    report = export_comments(client, tmp_path / "c.xlsx", task_uids=iter([uids[3], uids[0]]))
    rows = list(openpyxl.load_workbook(tmp_path / "c.xlsx").active.iter_rows(values_only=True))
    assert report.rows == 2 and rows[0] == ("task_uid", "comment_uid", "text", "created_at")
    assert {row[0] for row in rows[1:]} == {uids[3]} and all(isinstance(row[3], datetime) for row in rows[1:])
    limited = export_comments(client, tmp_path / "c.jsonl", Search(limit=2, order_by="created_at"))
    assert limited.rows == 1  # the first two tasks: no comment on uids[0], one on uids[1]


def test_the_comments_bar_moves_per_comment_and_the_limit_stops_the_requests(tmp_path, sandbox, client, monkeypatch):
    uids = _seed(client, 3)
    for uid in uids:
        client.add_comment(uid, "a")
        client.add_comment(uid, "b")
    steps: list[int] = []
    bar = type("Bar", (), {"update": lambda self, n: steps.append(n), "close": lambda self: None})()
    monkeypatch.setattr(exporter, "progress_bar", lambda *args, **kwargs: bar)
    recorder = Rewriting(sandbox.transport())
    with make_client(sandbox, transport=recorder) as counting:
        report = export_comments(counting, tmp_path / "c.csv", task_uids=iter(uids), search=Search(limit=2))
    assert report.rows == 4 and steps == [1, 1, 1, 1]  # at 60 requests/min, a page of comments takes minutes
    assert len(recorder.queries) == 2  # the third task's comments are never asked for


def test_the_comments_limit_counts_tasks_and_keeps_every_comment_of_each(tmp_path, sandbox, client):
    uids = _seed(client, 2)
    first = [client.add_comment(uids[0], "c1")["uid"], client.add_comment(uids[0], "c2")["uid"]]
    client.add_comment(uids[1], "c3")
    report = export_comments(client, tmp_path / "lim.csv", Search(limit=1, order_by="created_at"))
    frame = pd.read_csv(tmp_path / "lim.csv", dtype=str)
    assert report.rows == 2 and list(frame["comment_uid"]) == first and set(frame["task_uid"]) == {uids[0]}
    given = export_comments(client, tmp_path / "given.csv", Search(limit=1), task_uids=iter(uids))
    assert given.rows == 2


@pytest.mark.parametrize("name", ["raw.csv", "raw.xlsx"])
def test_without_the_guard_text_is_written_exactly_and_round_trips(tmp_path, sandbox, client, name):
    texts = [text for text in FORMULAS if name.endswith(".csv") or "\r" not in text]
    _seed(client, len(texts), fields=lambda n: {"title": texts[n], "note": texts[(n + 3) % len(texts)]})
    before = sandbox.tasks()
    export_tasks(client, tmp_path / name, escape_formulas=False)
    assert "formula_escape" not in yaml.safe_load((tmp_path / f"{name}.mapping.yml").read_text())
    if name.endswith(".xlsx"):  # read as an import reads it: a formula cell never computed is empty
        rows = list(openpyxl.load_workbook(tmp_path / name, data_only=True).active.iter_rows(values_only=True))
        title = rows[0].index("title")
        assert sorted(str(row[title]) for row in rows[1:]) == sorted(texts)
    report = fragment_bulk.import_file(tmp_path / name, client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == len(texts) and sandbox.tasks() == before


def test_xlsx_keeps_control_characters_and_carriage_returns_as_excel_codes_them(tmp_path, sandbox, client):
    # XML holds no control character and reads \r as \n: the cell holds _x000B_, as Excel writes it.
    texts = ["Word\u000bline", "bell\u0007 and\u0000null", "\rhello", "\r\nhello", "literal _x000D_ and _x005F_",
             "tab\tand\nline feed", "=\u000b1+1", "no\uffffn\ufffe-characters", "a_x0020_x0020_b _x0041_x0042_", "ab_x0041\u0001"]
    uids = _seed(client, len(texts), fields=lambda n: {"title": f"t{n}", "note": texts[n], "key\u000bwith": n,
                                                         "Cost_x0020_x0020_EUR": n})
    before = sandbox.tasks()
    export_tasks(client, tmp_path / "cc.xlsx")
    rows = list(openpyxl.load_workbook(tmp_path / "cc.xlsx").active.iter_rows(values_only=True))
    note = rows[0].index("note")
    assert rows[1][note] == "Word_x000B_line" and rows[7][note] == "'=_x000B_1+1"  # coded, and guarded: inert
    assert "key_x000B_with" in rows[0]
    report = fragment_bulk.import_file(tmp_path / "cc.xlsx", client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == len(texts) and sandbox.tasks() == before
    # A sheet made by Excel codes a carriage return so too: it reads back as one.
    book = openpyxl.Workbook()
    book.active.append(["title", "notes"])
    book.active.append(["A", "line1_x000D_\nline2 _x005F_x000D_"])
    book.save(tmp_path / "excel.xlsx")
    assert fragment_bulk.import_file(tmp_path / "excel.xlsx", client=client, checkpoint=None).counts["created"] == 1
    assert sandbox.tasks()[-1]["fields"]["notes"] == "line1\r\nline2 _x000D_"
    client.add_comment(uids[0], "\rfrom\u000bWord")
    export_comments(client, tmp_path / "c.xlsx")
    listed = list(openpyxl.load_workbook(tmp_path / "c.xlsx").active.iter_rows(values_only=True))
    assert fragment_bulk.readers.excel_unescape(listed[1][listed[0].index("text")]) == "'\rfrom\u000bWord"


@pytest.mark.parametrize("value", ["x" * 32_768, list(range(9_000))], ids=["text", "json"])
def test_an_xlsx_export_refuses_a_cell_longer_than_excel_holds_instead_of_cutting_it(tmp_path, sandbox, client, value):
    _seed(client, 2, fields=lambda n: {"title": f"t{n}", "long": value if n else "short"})
    with pytest.raises(ConfigError, match=r"l\.xlsx: row 3, column 'long' holds .* characters, more than an \.xlsx cell holds"
                                          r" \(32,767\): export to \.csv or \.jsonl"):
        export_tasks(client, tmp_path / "l.xlsx")
    assert not (tmp_path / "l.xlsx").exists()
    assert fragment_bulk.import_file(export_tasks(client, tmp_path / "l.csv").path, client=client,
                                     checkpoint=None).counts["unchanged"] == 2


def test_an_xlsx_export_refuses_more_rows_or_columns_than_a_sheet_holds(tmp_path, sandbox, client, monkeypatch):
    _seed(client, 3, fields=lambda n: {"title": f"t{n}"})
    monkeypatch.setattr(fragment_bulk.formats, "EXCEL_ROWS", 3)  # a header and 2 rows, as 1,048,576 would be
    with pytest.raises(ConfigError, match=r"big\.xlsx: more than 2 rows, more than an Excel sheet holds: export to \.csv"):
        export_tasks(client, tmp_path / "big.xlsx")
    assert not (tmp_path / "big.xlsx").exists()
    monkeypatch.setattr(fragment_bulk.formats, "EXCEL_ROWS", 4)
    assert len(list(openpyxl.load_workbook(export_tasks(client, tmp_path / "fits.xlsx").path).active.rows)) == 4
    monkeypatch.setattr(fragment_bulk.formats, "EXCEL_COLUMNS", 3)
    with pytest.raises(ConfigError, match=r"wide\.xlsx: \d+ columns, more than an Excel sheet holds"):
        export_tasks(client, tmp_path / "wide.xlsx")



def test_an_xlsx_export_too_big_for_a_sheet_is_refused_as_it_pages_not_once_fetched(tmp_path, sandbox, monkeypatch):
    """A million tasks are 10,000 requests, hours at the API's rate: the 1,048,576th row stopped
    the export only once every page was fetched and the rows before it written."""
    with make_client(sandbox) as seeding:
        _seed(seeding, 1_500, fields=lambda n: {"title": f"t{n}"})
    monkeypatch.setattr(fragment_bulk.formats, "EXCEL_ROWS", 101)
    recorder = Rewriting(sandbox.transport())
    with make_client(sandbox, transport=recorder) as client:
        with pytest.raises(ConfigError, match=r"big\.xlsx: more than 100 rows, more than an Excel sheet holds"):
            export_tasks(client, tmp_path / "big.xlsx")
        assert len(recorder.queries) <= 2 + exporter.PREFETCH_PAGES + 1  # of 15 pages
        monkeypatch.setattr(fragment_bulk.formats, "EXCEL_COLUMNS", 2)
        recorder.queries.clear()
        with pytest.raises(ConfigError, match=r"wide\.xlsx: 3 columns, more than an Excel sheet holds"):
            export_tasks(client, tmp_path / "wide.xlsx", columns=["uid", "title", "status"])
        assert recorder.queries == []
    assert list(tmp_path.iterdir()) == []

FLOATS = [0.12345678901234568, 0.1 + 0.2, 2**0.5, 123456789.12345679, 1e-300 / 3, 5e-324, 1.7976931348623157e308]


def test_xlsx_floats_keep_every_digit(tmp_path, sandbox, client):
    # openpyxl writes "%.16g": 0.12345678901234568 would come back 0.1234567890123457. (The
    # largest double is whole: in a column of ints and floats it would come back an int, too big.)
    mixed = lambda n: FLOATS[n] if n % 2 == 0 and FLOATS[n] < 1e300 else n  # noqa: E731
    _seed(client, len(FLOATS), fields=lambda n: {"title": f"t{n}", "x": FLOATS[n], "mixed": mixed(n)})
    before = json.dumps(sandbox.tasks())
    export_tasks(client, tmp_path / "f.xlsx")
    rows = list(openpyxl.load_workbook(tmp_path / "f.xlsx", read_only=True).active.iter_rows(values_only=True))
    x = rows[0].index("x")
    # (Past 2**53 as text: a sheet's reader refuses such a number, an ID whose digits Excel lost most often.)
    assert [row[x] for row in rows[1:]] == FLOATS[:-1] + [repr(FLOATS[-1])]
    report = fragment_bulk.import_file(tmp_path / "f.xlsx", client=client, checkpoint=None, results=None)
    assert report.counts.get("unchanged") == len(FLOATS) and json.dumps(sandbox.tasks()) == before


def test_the_output_folder_is_made_or_refused_before_any_request(tmp_path, sandbox, client):
    _seed(client, 3)
    report = fragment_bulk.export_file(tmp_path / "new" / "sub" / "x.csv", client=client, progress=False)
    assert report.rows == 3 and (tmp_path / "new" / "sub" / "x.csv.mapping.yml").exists()
    before = sandbox.stats()["requests"]
    with pytest.raises(ConfigError, match="cannot make the folder of the output"):
        fragment_bulk.export_file("/proc/none/x.csv", client=client, progress=False)
    with pytest.raises(ConfigError, match=r"cannot write /proc/x\.csv \(.*\): choose another folder"):
        fragment_bulk.export_file("/proc/x.csv", client=client, progress=False)
    with pytest.raises(ConfigError, match="'uid' is asked for twice"):
        fragment_bulk.export_file(tmp_path / "y.csv", columns=["uid", "status", "uid"], client=client, progress=False)
    assert sandbox.stats()["requests"] == before


def test_a_bad_search_or_format_fails_before_any_request(tmp_path, sandbox):
    recorder = Rewriting(sandbox.transport())
    with make_client(sandbox, transport=recorder) as client:
        with pytest.raises(ConfigError, match="csv, .xlsx"):
            export_tasks(client, tmp_path / "x.txt")
        with pytest.raises(ConfigError, match="limit"):
            export_tasks(client, tmp_path / "x.csv", Search(limit=-1))
        with pytest.raises(ConfigError, match="use --status"):
            export_tasks(client, tmp_path / "x.csv", Search(filters={"status": "mine"}))
        with pytest.raises(ConfigError, match="x.csv is named as csv but --format is xlsx: name the file .xlsx"):
            export_tasks(client, tmp_path / "x.csv", format="xlsx")  # a workbook named .csv reads back as garbage
        assert recorder.queries == []
        export_tasks(client, tmp_path / "x.txt", format="csv")  # a name no format claims is fine


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_during_an_export_leaves_the_previous_file_and_says_so(tmp_path, stop):
    out = tmp_path / "out.csv"
    out.write_text("the previous export\n")
    with Sandbox(SandboxConfig(rate_per_min=None, latency_ms=(200, 200))) as sb, sb.serve(port=0) as server:
        with make_client(sb) as client:
            _seed(client, 2000)
        process = start_cli("export", str(out), "--rate", "off", server_url=server.url)
        asked = sb.stats()["requests"]
        deadline = time.monotonic() + 60
        while sb.stats()["requests"] < asked + 3 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)  # some pages in (of 20, at 200 ms each)
        process.send_signal(stop)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert error_line(err) == "error: interrupted; nothing was written (run the export again)"
    assert out.read_text() == "the previous export\n" and sorted(path.name for path in tmp_path.iterdir()) == ["out.csv"]


def test_an_export_with_a_time_filter_the_server_does_not_know_is_an_error_not_an_empty_file(tmp_path):
    # Such a server takes updated_at_after for a custom field and lists nothing: a silent empty export.
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb, sb.serve(port=0) as server:
        with make_client(sb) as client:
            _seed(client, 3)
        sb.configure(time_filters="as_fields")
        done = run_cli("export", str(tmp_path / "recent.csv"), "--updated-after", "2020-01-01", server_url=server.url)
        assert done.returncode != 0 and "does not know them" in error_line(done.stderr)
        assert not (tmp_path / "recent.csv").exists()
        assert run_cli("export", str(tmp_path / "all.csv"), server_url=server.url).returncode == 0
        assert len(pd.read_csv(tmp_path / "all.csv")) == 3


_FIELD_KEYS = st.sampled_from(["title", "url", "status", "uid", "archived", "fields.x", " x", "x", "n", "meta"])
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**60, 2**60), st.floats(allow_nan=False),
                    st.text(max_size=3), st.lists(st.integers(), max_size=2))


@given(st.lists(st.fixed_dictionaries(
    {"uid": st.uuids().map(str), "status": st.sampled_from(["TODO", "DONE"]), "fields": st.dictionaries(_FIELD_KEYS, _VALUES)},
    optional={"archived": st.booleans(), "queue_uid": st.none() | st.text(max_size=2), "due_at": st.none()},
), max_size=12), st.integers(1, 5))
def test_export_rows_hold_what_flatten_says_in_first_seen_column_order_with_each_columns_kinds(tasks, page):
    """Pages are encoded without flattening each task to a dict first: the rows, the column
    order and the kinds must be what flattening, then registering names as they come, gives."""
    names, kinds = list(exporter.NATIVE_COLUMNS), {}
    for task in tasks:
        for name, value in flatten(task).items():
            if name not in names:
                names.append(name)
            if value is not None:
                kind = {str: "str", int: "int", float: "float", bool: "bool"}.get(type(value), "json")
                kinds.setdefault(name, set()).add("json" if kind == "int" and abs(value) > 2**53 else kind)
    seen = exporter._Seen()
    rows = [row for start in range(0, len(tasks), page) for row in seen.encode(tasks[start:start + page])]
    assert seen.names == names
    assert [seen.kinds[seen.index[name]] for name in names] == [kinds.get(name, set()) for name in names]
    for task, row in zip(tasks, rows):
        assert {name: value for name, value in zip(seen.names, row) if value is not None} == \
               {name: value for name, value in flatten(task).items() if value is not None}


def test_an_exported_frame_keeps_a_field_of_white_space_only_and_blank_texts_inside_values(sandbox, client):
    client.upsert_tasks([{"uid": str(uuid.UUID(int=1)), "fields": {"title": "t", "pad": "  ", "tags": ["a", " "]}}])
    before = sandbox.tasks()
    frame = fragment_bulk.export_dataframe(client=client)
    report = fragment_bulk.import_dataframe(frame, client=client, checkpoint=None)
    assert report.counts.get("unchanged") == 1 and sandbox.tasks() == before  # the field not deleted
    # A frame of one's own: a blank cell is empty, as in a file; but a text inside a list is data.
    fragment_bulk.import_dataframe(pd.DataFrame({"title": ["x"], "pad": ["  "], "tags": [["a", " "]]}), client=client,
                                   checkpoint=None)
    made = next(task for task in sandbox.tasks() if task["fields"]["title"] == "x")
    assert made["fields"] == {"title": "x", "tags": ["a", " "]}
