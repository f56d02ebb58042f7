"""Import end to end against the sandbox: the CLI on a real port, and the Python API in-process."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import openpyxl
import pandas as pd
import pytest

import fragment_bulk
from fragment_bulk.checkpoint import Checkpoint, Outcome
from fragment_bulk.errors import ApiError, CheckpointError, ConfigError, InputError, ValidationError
from fragment_bulk.claims import Claims
from fragment_bulk.identity import uuid_from_key
from fragment_bulk.retry import RetryPolicy
from fragment_bulk.sandbox import Sandbox, SandboxConfig

from conftest import make_client
from helpers import SAMPLES, cli_env, error_line, kill_then_finish, run_cli, signal_when, start_cli

STATUS_OF = {"Open": "TODO", "In progress": "STARTED", "Closed": "DONE"}


def sample_rows() -> list[dict[str, str]]:
    with open(SAMPLES / "tasks.csv", encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def expected_due(text: str) -> datetime:
    day = datetime.strptime(text, "%d/%m/%Y").replace(tzinfo=ZoneInfo("Europe/Paris"))
    return day.astimezone(timezone.utc)


def assert_sample_tasks(tasks: list[dict]) -> None:
    """The server holds exactly one task per sample row, equal to it field by field, type by type."""
    rows = sample_rows()
    by_ticket = {task["fields"]["ticket_id"]: task for task in tasks}
    assert len(tasks) == len(rows) == len(by_ticket)
    for row in rows:
        task = by_ticket[row["Ticket ID"]]  # "00123" stayed text
        assert task["fields"]["title"] == row["Subject"]
        assert task["fields"]["country"] == row["Country"]
        assert task["fields"]["priority"] == int(row["Priority"]) and isinstance(task["fields"]["priority"], int)
        assert task["status"] == STATUS_OF[row["Status"]]
        if row["Link"]:
            assert task["fields"]["url"] == row["Link"]
        if row["Due"]:
            due = datetime.fromisoformat(task["due_at"].replace("Z", "+00:00"))
            assert due == expected_due(row["Due"])
        if row["Notes"]:
            assert task["fields"]["notes"] == row["Notes"]
        else:
            assert "notes" not in task["fields"]  # empty cells are left out, never null or NaN


@pytest.fixture
def served():
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb, sb.serve(port=0) as server:
        yield sb, server.url


# -- the CLI, as a user runs it -------------------------------------------------------------


def test_cli_imports_the_sample_csv_and_a_second_run_creates_nothing(served, tmp_path):
    sb, url = served
    source = tmp_path / "tasks.csv"
    source.write_bytes((SAMPLES / "tasks.csv").read_bytes())
    (tmp_path / "tasks.mapping.yml").write_bytes((SAMPLES / "tasks.mapping.yml").read_bytes())

    first = run_cli("import", str(source), "--rate", "off", "--json", server_url=url)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["counts"]["created"] == len(sample_rows())
    assert_sample_tasks(sb.tasks())

    second = run_cli("import", str(source), "--rate", "off", "--json", server_url=url)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)["counts"]
    assert again["created"] == 0 and again["unchanged"] == len(sample_rows())
    assert sb.task_count() == len(sample_rows())

    results = pd.read_csv(tmp_path / "tasks.fragment-results.csv", dtype=str, keep_default_na=False)
    assert list(results.columns[:4]) == ["_row", "_status", "_uid", "_error"]
    assert list(results["_row"]) == [str(n) for n in range(2, len(sample_rows()) + 2)]
    assert set(results["_status"]) == {"unchanged"}
    assert list(results["Ticket ID"]) == [row["Ticket ID"] for row in sample_rows()]


def test_excel_sheet_imports_the_same_tasks_as_the_csv_and_keeps_results_of_its_own(sandbox, client, tmp_path):
    mapping = SAMPLES / "tasks.mapping.yml"
    for name in ("tasks.csv", "tasks.xlsx"):
        (tmp_path / name).write_bytes((SAMPLES / name).read_bytes())
    first = fragment_bulk.import_file(tmp_path / "tasks.csv", mapping=mapping, client=client, checkpoint=None)
    assert first.counts["created"] == len(sample_rows())
    report = fragment_bulk.import_file(tmp_path / "tasks.xlsx", sheet="Tasks", mapping=mapping, client=client, checkpoint=None)
    assert report.counts.get("created", 0) == 0
    assert report.counts["unchanged"] == len(sample_rows())  # real date cells == the CSV's text dates
    assert_sample_tasks(sandbox.tasks())
    # Side by side, the workbook's results do not overwrite the CSV's.
    assert report.results_path == tmp_path / "tasks.xlsx.fragment-results.csv"
    for name, status in (("tasks.fragment-results.csv", "created"), ("tasks.xlsx.fragment-results.csv", "unchanged")):
        assert set(pd.read_csv(tmp_path / name, dtype=str)["_status"]) == {status}


def test_rows_of_long_cells_are_sent_a_few_at_a_time(sandbox, client, tmp_path, monkeypatch):
    """A batch of 100 rows of 5 MB cells was a 500 MB body (the batches in flight held the file, and a
    server refusing it as too large would shrink every later batch): a batch carries BATCH_BYTES."""
    monkeypatch.setattr(fragment_bulk.engine, "BATCH_BYTES", 10_000)
    path = tmp_path / "long.csv"
    path.write_text("title,body\n" + "".join(f"t{row},{'x' * 3_000}{row}\n" for row in range(20)) + "short,s\n")
    before = sandbox.stats()["requests"]
    report = fragment_bulk.import_file(path, client=client, checkpoint=None)
    assert report.counts["created"] == 21 and sandbox.stats()["requests"] - before <= 1 + 7 + 1  # look-ups, batches
    assert sorted(len(task["fields"]["body"]) for task in sandbox.tasks())[-1] == 3_002


def test_zip_codes_kept_as_numbers_with_a_zero_padded_format_arrive_as_shown_and_keep_their_uids(sandbox, client, tmp_path):
    """Excel stores the ZIP code 01234 as 1234 formatted "00000": the task gets what the cell shows,
    and a key of it still makes the uid the number made before formats were read."""
    book = openpyxl.Workbook()
    book.active.append(["zip", "title"])
    for code, title in ((1234, "Lyon"), (98765, "Paris")):
        book.active.append([code, title])
    book.save(tmp_path / "before.xlsx")  # as an earlier version read it: the number alone
    fragment_bulk.import_file(tmp_path / "before.xlsx", keys=["zip"], client=client, checkpoint=None)
    for row in (2, 3):
        book.active.cell(row, 1).number_format = "00000"
    book.save(tmp_path / "zips.xlsx")
    report = fragment_bulk.import_file(tmp_path / "zips.xlsx", keys=["zip"], client=client, checkpoint=None)
    assert report.counts.get("created", 0) == 0 and sandbox.task_count() == 2
    assert sorted(task["fields"]["zip"] for task in sandbox.tasks()) == ["01234", "98765"]


def test_an_excel_date_cell_is_sent_as_its_date_and_keys_the_uid_it_did(sandbox, client, tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["day", "title", "as_text", "untyped"])
    book.active.append([datetime(2024, 3, 5), datetime(2024, 3, 5), datetime(2024, 3, 5), datetime(2024, 3, 5)])
    book.save(tmp_path / "days.xlsx")
    first = fragment_bulk.import_file(tmp_path / "days.xlsx", keys=["day"], types={"as_text": "str"}, client=client,
                                      checkpoint=None)
    assert first.counts["created"] == 1
    assert sandbox.tasks()[0]["fields"] == {"day": "2024-03-05", "title": "2024-03-05", "as_text": "2024-03-05",
                                            "untyped": "2024-03-05"}
    # The key is made of the date-time, as before: the uid a sheet keyed on dates made stays its own.
    assert sandbox.tasks()[0]["uid"] == uuid_from_key("key", ["2024-03-05T00:00:00"])


def test_durations_are_sent_as_the_text_a_sheet_shows_and_refused_as_numbers(sandbox, client, tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["title", "spent"])
    for title, spent in (("a", timedelta(hours=32, minutes=30)), ("b", timedelta(minutes=-5, milliseconds=250))):
        book.active.append([title, spent])
        book.active.cell(book.active.max_row, 2).number_format = "[h]:mm:ss"  # a timesheet's format
    book.save(tmp_path / "hours.xlsx")
    fragment_bulk.import_file(tmp_path / "hours.xlsx", client=client, checkpoint=None)
    assert [task["fields"]["spent"] for task in sandbox.tasks()] == ["32:30:00", "-0:04:59.750000"]
    frame = pd.DataFrame({"title": ["c"], "spent": pd.to_timedelta(["1 days 02:03:04"])})
    fragment_bulk.import_dataframe(frame, types={"spent": "str"}, client=client, checkpoint=None)
    assert sandbox.tasks()[-1]["fields"]["spent"] == "26:03:04"
    with pytest.raises(ValidationError, match=r"row 0, column 'spent': .*a duration, not a number"):
        fragment_bulk.import_dataframe(frame, types={"spent": "float"}, client=client, checkpoint=None)


def _numbered_csv(path, count: int, *, bad_rows: dict[int, dict] | None = None) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["ref", "title", "country", "status"])
        writer.writeheader()
        for n in range(count):
            row = {"ref": f"{n:06d}", "title": f"Task {n}", "country": random.Random(n).choice(["FR", "DE", "ES"]), "status": "TODO"}
            row.update((bad_rows or {}).get(n, {}))
            writer.writerow(row)


def _assert_one_task_per_row(sb: Sandbox, count: int) -> None:
    tasks = sb.tasks()
    refs = [task["fields"]["ref"] for task in tasks]
    assert len(refs) == len(set(refs)) == count, f"{len(refs)} tasks, {len(set(refs))} distinct, {count} rows"
    for task in tasks:
        assert task["fields"]["title"] == f"Task {int(task['fields']['ref'])}"


def test_kill_dash_nine_and_resume_leaves_exactly_one_task_per_row(tmp_path):
    count = 3_000
    source = tmp_path / "big.csv"
    _numbered_csv(source, count)
    config = SandboxConfig(rate_per_min=None, latency_ms=(5, 15), seed=1)
    with Sandbox(config) as sb, sb.serve(port=0) as server:
        rng = random.Random(42)
        kills, out = kill_then_finish(
            ["import", str(source), "--key", "ref", "--rate", "off", "--batch-size", "50", "--concurrency", "4", "--json"],
            server_url=server.url, progress=sb.task_count, kills=4,
            # a random point of what is left, whatever the machine's speed
            next_target=lambda done: done + rng.randint(1, (count - done) // 2),
        )
        assert kills == 4
        _assert_one_task_per_row(sb, count)
        assert json.loads(out)["total"] == count


def test_create_mode_after_kill_dash_nine_finds_the_tasks_of_the_batches_in_flight(tmp_path):
    # A kill lands as a write commits, before its answer is journalled: the resumed run finds
    # those tasks (created, with their uids); rows whose task is not there wait (see below).
    count = 1_000
    source, results = tmp_path / "rows.csv", tmp_path / "r.csv"
    _numbered_csv(source, count)
    args = ["import", str(source), "--mode", "create", "--rate", "off", "--batch-size", "20", "--concurrency", "4",
            "--results", str(results)]
    with Sandbox(SandboxConfig(rate_per_min=None, latency_ms=(5, 15), seed=2)) as sb, sb.serve(port=0) as server:
        for target in (200, 500):
            assert signal_when(start_cli(*args, server_url=server.url), lambda: sb.task_count() >= target)
        run_cli(*args, server_url=server.url)
        tasks = sb.tasks()
    refs = [task["fields"]["ref"] for task in tasks]
    assert len(refs) == len(set(refs)), "a row was created twice"
    report = pd.read_csv(results, dtype=str, keep_default_na=False)
    created = report[report["_status"] == "created"]
    assert dict(zip(created["ref"], created["_uid"])) == {task["fields"]["ref"]: task["uid"] for task in tasks}
    waiting = report[report["_status"] != "created"]  # not found, and the killed run's request could still land
    assert (waiting["_status"] == "skipped").all() and waiting["_error"].str.contains("no longer land").all()
    assert len(waiting) <= 4 * 20


def test_create_mode_a_look_up_compares_each_task_with_the_rows_of_its_fields_only(sandbox, client, monkeypatch):
    """A look-up compared every task listed with every row looked for: a few hundred crashed rows
    among the tens of thousands of tasks a fast server creates in CLOCK_SKEW took minutes, every
    POST held back meanwhile."""
    from fragment_bulk import creator
    from fragment_bulk.mapping import MappedRow

    for batch in range(9):  # 900 tasks of other rows, then one of each row and a second t0
        client.create_tasks([{"fields": {"title": f"other {batch} {n}"}} for n in range(100)])
    client.create_tasks([{"fields": {"title": f"t{n}", "n": n}} for n in range(100)])
    client.create_tasks([{"fields": {"title": "t0", "n": 0}}])
    rows = [MappedRow(n, n + 2, None, {"fields": {"title": f"t{n}", "n": n}, "status": "TODO"}, []) for n in range(50)]
    rows.append(MappedRow(50, 52, None, {"fields": {"title": "t0", "n": 0}, "status": "DONE"}, []))  # its fields, other values
    compared, same_task = [], creator.same_task

    def counted(item, task):
        compared.append(1)
        return same_task(item, task)

    monkeypatch.setattr(creator, "same_task", counted)
    writer = creator.CreateWriter()
    found, loose = writer._find(client, rows, "")
    assert sorted(found) == list(range(50)) and loose == {50}
    assert len(found.values()) == len(set(found.values()))
    assert len(compared) <= 100  # a row with each task of its fields, not 51 rows with 1,001 tasks


class _CrashingPost(httpx.BaseTransport):
    """The ``nth`` ``POST /tasks/batch`` crashes the run (an error no writer expects), after the
    sandbox wrote it when ``written``, else before it was sent."""

    def __init__(self, inner: httpx.BaseTransport, *, nth: int, written: bool):
        self.inner, self.nth, self.written, self.posts = inner, nth, written, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/tasks/batch"):
            self.posts += 1
            if self.posts == self.nth:
                if self.written:
                    self.inner.handle_request(request)
                raise RuntimeError("the process dies here")
        return self.inner.handle_request(request)


def test_claims_of_uids_that_are_not_uuids_are_never_packed(monkeypatch):
    monkeypatch.setattr(Claims, "PACK_EVERY", 7)
    claims = Claims(f"id-{n}" for n in range(200))
    assert claims.holds("id-199") and not claims.holds("id-200") and claims._high.size == 0
    claims.add([str(uuid.UUID(int=n)) for n in range(20)])
    assert claims._high.size >= 14 and not claims.holds(7) and claims.take(7) and claims.holds(7)


def test_claims_of_uids_made_from_a_counter_are_found_among_their_many_alike(monkeypatch):
    monkeypatch.setattr(Claims, "PACK_EVERY", 7)  # uids sharing their high 64 bits, nearly all packed
    made = [str(uuid.UUID(int=n)) for n in range(0, 400, 2)]
    claims = Claims(made)
    assert all(claims.holds(uid) for uid in made) and not any(claims.holds(str(uuid.UUID(int=n))) for n in range(1, 400, 2))
    page = [made[5], str(uuid.UUID(int=401)), made[5].upper(), "not-a-uuid", str(uuid.UUID(int=401)), "not-a-uuid"]
    assert claims.take_each(page) == [False, True, False, True, False, False]
    assert claims.take_each([str(uuid.UUID(int=n)) for n in range(399, 404)]) == [True, True, False, True, True]


def test_claims_hold_each_uid_once_packed_or_not(monkeypatch):
    monkeypatch.setattr(Claims, "PACK_EVERY", 7)  # pack often: most uids below are packed
    made = [str(uuid.UUID(int=random.getrandbits(128))) for _ in range(60)]
    claims = Claims(made[:30])
    assert all(claims.holds(uid) for uid in made[:30]) and not any(claims.holds(uid) for uid in made[30:])
    assert not claims.take(made[3]) and not claims.take(made[3].upper().replace("-", ""))  # any spelling of it
    assert all(claims.take(uid) for uid in made[30:]) and not any(claims.take(uid) for uid in made)
    claims.add(["not-a-uuid", 7])
    assert claims.holds("not-a-uuid") and not claims.take("not-a-uuid") and claims.take("other") and not claims.holds(None)
    # Two uids sharing their first 64 bits are told apart by the rest.
    twins = [str(uuid.UUID(int=(5 << 64) | low)) for low in (1, 2, 3)]
    claims.add(twins[:2] * 4)
    assert claims.holds(twins[0]) and claims.holds(twins[1]) and claims.take(twins[2])


QUICK = {"timeout": 0.1, "retry": RetryPolicy(floor=0.001, cap=0.01, budget=0.2)}
SETTLED = 1.2  # QUICK's seconds after a killed run was last alive by which its requests have landed


def _create_run(source, checkpoint, results):
    """A --mode create import of ``source`` in batches of 5, one at a time, as a function of the client."""
    return lambda client: fragment_bulk.import_file(source, mode="create", client=client, checkpoint=checkpoint,
                                                    batch_size=5, concurrency=1, results=results)


@pytest.mark.parametrize("written", [True, False], ids=["written", "never-sent"])
def test_create_mode_resolves_a_crashed_runs_batch_once_its_request_can_no_longer_land(tmp_path, written):
    source, checkpoint = tmp_path / "rows.csv", tmp_path / "ck"
    _numbered_csv(source, 30)
    refs = {f"{n:06d}" for n in range(30)}
    run = _create_run(source, checkpoint, tmp_path / "r.csv")
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        with make_client(sb, transport=_CrashingPost(sb.transport(), nth=3, written=written), **QUICK) as client:
            with pytest.raises(RuntimeError):
                run(client)
        with make_client(sb, **QUICK) as client:
            resumed = run(client)  # at once: a batch that was written is found; one that was not must wait
            if written:
                _created_once(sb, resumed, refs)
                return
            assert sb.task_count() == 25 and resumed.counts["skipped"] == 5 and resumed.exit_code == 1
            assert resumed.results.loc[resumed.results["_status"] == "skipped", "_error"].str.contains("no longer land").all()
            alive = Path(f"{checkpoint}.alive")
            assert alive.exists()  # rows still pending: the next run waits from its time
            time.sleep(SETTLED)
            settled = run(client)  # not found, and the crashed request can no longer land: sent now
            assert not alive.exists()  # nothing pending: the run leaves no side file
        _created_once(sb, settled, refs)


def _titled_csv(path, titles: list[str]) -> set[str]:
    pd.DataFrame({"ref": [f"{n:03d}" for n in range(len(titles))], "title": titles}).to_csv(path, index=False)
    return {f"{n:03d}" for n, title in enumerate(titles) if not title.startswith("BAD")}


def _no_ref_twice(sb: Sandbox) -> None:
    refs = [task["fields"].get("ref") for task in sb.tasks() if "ref" in task["fields"]]
    assert len(refs) == len(set(refs)), f"a row was created twice: {sorted(refs)}"


def test_create_mode_a_crashed_row_posted_again_then_refused_is_posted_once(tmp_path):
    source, checkpoint = tmp_path / "rows.csv", tmp_path / "ck"
    refs = _titled_csv(source, ["BAD" if n == 6 else f"t{n}" for n in range(10)])
    run = _create_run(source, checkpoint, tmp_path / "r.csv")
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        crashing = _CrashingPost(_ServerSideChecks(sb.transport()), nth=2, written=False)
        with make_client(sb, transport=crashing, **QUICK) as client, pytest.raises(RuntimeError):
            run(client)
        time.sleep(SETTLED)  # the crashed request can no longer land: its rows are posted, and refused with BAD
        with make_client(sb, transport=_ServerSideChecks(sb.transport()), **QUICK) as client:
            report = run(client)
        _no_ref_twice(sb)
        assert {task["fields"]["ref"] for task in sb.tasks()} == refs and report.counts["created"] == len(refs)


def test_create_mode_a_row_pending_twice_waits_from_its_latest_request(tmp_path):
    # Run 1 crashes before a batch is sent; run 2 sends it (long after) and dies while the server
    # writes it: run 3 must wait for run 2's request, not settle at once by run 1's clock.
    source, checkpoint = tmp_path / "rows.csv", tmp_path / "ck"
    refs = _titled_csv(source, [f"t{n}" for n in range(10)])
    run = _create_run(source, checkpoint, tmp_path / "r.csv")
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        with make_client(sb, transport=_CrashingPost(sb.transport(), nth=2, written=False), **QUICK) as client:
            with pytest.raises(RuntimeError):
                run(client)
        time.sleep(SETTLED)
        late = _SlowPosts(sb.transport(), late=0.5, crash=True)
        with make_client(sb, transport=late, **QUICK) as client, pytest.raises(RuntimeError):
            run(client)
        with make_client(sb, **QUICK) as client:
            report = run(client)
        late.writer.join()
        _no_ref_twice(sb)
        assert report.counts["skipped"] == 5  # run 2's request could still land: looked up again later
        time.sleep(SETTLED)
        with make_client(sb, **QUICK) as client:
            assert run(client).counts["created"] == 10
        _no_ref_twice(sb)
        assert {task["fields"]["ref"] for task in sb.tasks()} == refs


def test_create_mode_a_refused_batch_whose_look_up_fails_stays_pending(tmp_path):
    # A server writing a batch's valid items: the look-up before sending them again is refused
    # (429 past the budget) and the run stops; those rows must stay pending, to be looked up.
    source, checkpoint = tmp_path / "rows.csv", tmp_path / "ck"
    refs = _titled_csv(source, ["BAD" if n == 2 else f"t{n}" for n in range(5)])
    run = _create_run(source, checkpoint, tmp_path / "r.csv")

    class LimitedLookUps(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "GET" and request.url.params.get("created_at_after", "").startswith("20"):
                return httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "slow down"})
            return inner.handle_request(request)

    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        with make_client(sb) as client:
            client.create_task({"fields": {"title": "earlier"}})
        sb.configure(batch_failure="write_valid")
        inner = _ServerSideChecks(sb.transport())
        budget = RetryPolicy(floor=0.001, cap=0.01, budget=0.05, max_attempts=2)
        with make_client(sb, transport=LimitedLookUps(), retry=budget) as client, pytest.raises(fragment_bulk.errors.ApiError):
            run(client)
        with make_client(sb, transport=inner, retry=RetryPolicy(floor=0.001, cap=0.01)) as client:
            report = run(client)
        _no_ref_twice(sb)
        assert {task["fields"].get("ref") for task in sb.tasks()} - {None} == refs
        assert report.counts["created"] == len(refs)


def test_create_mode_waits_by_the_killed_runs_timeout_not_the_resumed_runs(tmp_path):
    # Run 1 (a 1 s timeout) dies while the server writes its first POST, 2.5 s later. Run 2, with
    # QUICK's 0.1 s timeout, resumes 1.5 s after: by its own timeout that POST could no longer land.
    source, checkpoint = tmp_path / "rows.csv", tmp_path / "ck"
    refs = _titled_csv(source, [f"t{n}" for n in range(5)])
    run = _create_run(source, checkpoint, tmp_path / "r.csv")
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        late = _SlowPosts(sb.transport(), late=2.5, crash=True)
        with make_client(sb, transport=late, timeout=1.0, retry=QUICK["retry"]) as client, pytest.raises(RuntimeError):
            run(client)
        time.sleep(1.5)
        with make_client(sb, **QUICK) as client:
            report = run(client)
        late.writer.join()
        _no_ref_twice(sb)
        assert report.counts["skipped"] == 5 and sb.task_count() == 5
        with make_client(sb, **QUICK) as client:
            assert run(client).counts["created"] == 5  # found, now that it landed
        _no_ref_twice(sb)
        assert {task["fields"]["ref"] for task in sb.tasks()} == refs


def test_create_mode_waits_for_a_killed_runs_last_request_however_late_it_was_sent(tmp_path):
    # A batch kept busy (an answer lost, then a slow look-up) is posted again long after its
    # mark; the run dies then, and the server writes that POST a moment later. The next run,
    # started at once, must wait from when the killed run was last alive, not from the mark.
    class BusyThenDead(httpx.BaseTransport):
        def __init__(self, inner: httpx.BaseTransport):
            self.inner, self.posts, self.writer = inner, 0, None

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/tasks/batch"):
                self.posts += 1
                request.read()
                if self.posts == 1:
                    raise httpx.RemoteProtocolError("lost, nothing written", request=request)
                self.writer = threading.Thread(target=lambda: (time.sleep(0.5), self.inner.handle_request(request)))
                self.writer.start()
                raise RuntimeError("the process dies here")
            if request.method == "GET" and "created_at_after" in request.url.params:
                time.sleep(1.5)  # longer than SETTLED: the mark alone would settle too early
            return self.inner.handle_request(request)

    source, checkpoint = tmp_path / "rows.csv", tmp_path / "ck"
    refs = _titled_csv(source, [f"t{n}" for n in range(5)])
    run = _create_run(source, checkpoint, tmp_path / "r.csv")
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        busy = BusyThenDead(sb.transport())
        with make_client(sb, transport=busy, **QUICK) as client, pytest.raises(RuntimeError):
            run(client)
        with make_client(sb, **QUICK) as client:
            waiting = run(client)
            busy.writer.join()
            assert waiting.counts["skipped"] == 5 and sb.task_count() == 5  # written late, not posted again
            time.sleep(SETTLED)
            _created_once(sb, run(client), refs)


def test_create_mode_a_look_up_never_takes_the_task_of_a_post_still_unanswered(tmp_path):
    # Rows with the same content: A's answer is lost while B's POST, written first, is answered late.
    class Race(httpx.BaseTransport):
        def __init__(self, inner: httpx.BaseTransport):
            self.inner, self.posts, self.lock = inner, 0, threading.Lock()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/tasks/batch"):
                with self.lock:
                    self.posts += 1
                    number = self.posts
                if number == 1:  # B
                    response = self.inner.handle_request(request)
                    response.read()
                    time.sleep(1.0)
                    return response
                if number == 2:  # A
                    time.sleep(0.2)
                    self.inner.handle_request(request)
                    raise httpx.RemoteProtocolError("lost", request=request)
            return self.inner.handle_request(request)

    frame = pd.DataFrame({"ref": [str(n) for n in range(10)], "title": ["Call back"] * 10})
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        with make_client(sb, transport=Race(sb.transport()), retry=RetryPolicy(floor=0.001, cap=0.01)) as client:
            client.create_task({"fields": {"title": "earlier"}})
            report = fragment_bulk.import_dataframe(frame, mode="create", keys=["ref"], ignore=["ref"], client=client,
                                                    checkpoint=None, batch_size=5, concurrency=2)
        uids = list(report.results["_uid"])
        assert len(set(uids)) == 10 and set(uids) <= {task["uid"] for task in sb.tasks()}
        assert sb.task_count() == 11


@pytest.mark.parametrize("presses", [1, 2, "SIGTERM"])
def test_ctrl_c_stops_saves_and_says_how_to_resume(tmp_path, presses):
    # With 300 ms answers, a second Ctrl-C 100 ms after the first lands while the run winds down.
    # SIGTERM (kill, a service manager) stops it the same way.
    stop, presses = (signal.SIGTERM, 1) if presses == "SIGTERM" else (signal.SIGINT, presses)
    source = tmp_path / "slow.csv"
    _numbered_csv(source, 400)
    with Sandbox(SandboxConfig(rate_per_min=None, latency_ms=(300, 300))) as sb, sb.serve(port=0) as server:
        process = start_cli("import", str(source), "--key", "ref", "--rate", "off", "--batch-size", "10",
                            "--concurrency", "4", server_url=server.url)
        deadline = time.monotonic() + 60
        while sb.task_count() < 40 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        for _ in range(presses):
            process.send_signal(stop)
            time.sleep(0.1)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        assert "run the same command again to resume" in error_line(err)
        assert "Exception ignored" not in err and ("stopping: saving what the server acknowledged" in err) == (presses == 2)
        results = pd.read_csv(tmp_path / "slow.fragment-results.csv")  # written even after a second Ctrl-C
        # (a batch the server stored as the run stopped may not be journalled: the resume re-sends it)
        assert len(results) == 400 and 0 < (results["_status"] == "created").sum() <= sb.task_count() < 400
        resumed = run_cli("import", str(source), "--key", "ref", "--rate", "off", "--json", server_url=server.url)
        assert resumed.returncode == 0, resumed.stderr
        _assert_one_task_per_row(sb, 400)


def test_an_interrupted_run_exits_130_whatever_ctrl_c_comes_after():
    # A Ctrl-C landing while Python shuts down would kill the process (no 130): it is ignored then.
    code = ("import signal\nfrom fragment_bulk import cli\ntry:\n    cli._fail('interrupted', 130)\n"
            "except SystemExit as exit:\n    print(exit.code, signal.getsignal(signal.SIGINT) is signal.SIG_IGN)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["130", "True"], done.stderr


def test_a_run_started_with_sigint_ignored_keeps_ignoring_it(tmp_path):
    # nohup, or a background job of a script: the run must not take a Ctrl-C meant for others
    source = tmp_path / "slow.csv"
    _numbered_csv(source, 100)
    with Sandbox(SandboxConfig(rate_per_min=None, latency_ms=(100, 100))) as sb, sb.serve(port=0) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "fragment_bulk", "import", str(source), "--key", "ref", "--rate", "off",
             "--batch-size", "10", "--concurrency", "1"], env=cli_env(server.url), stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        deadline = time.monotonic() + 60
        while sb.task_count() < 20 and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        _assert_one_task_per_row(sb, 100)


@pytest.mark.parametrize("retry_after", ["header", "none", "zero"])
def test_fault_storm_loses_and_duplicates_nothing(tmp_path, retry_after):
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 1_200)
    config = SandboxConfig(rate_per_min=1_200, burst=5, retry_after=retry_after, fault_5xx=0.1, fault_lost=0.05, seed=5)
    with Sandbox(config) as sb:
        with make_client(sb, rate_per_min=None, retry=RetryPolicy(floor=0.02, cap=0.5, max_attempts=40)) as client:
            report = fragment_bulk.import_file(source, keys=["ref"], client=client, checkpoint=tmp_path / "ck",
                                               batch_size=25, concurrency=4, results=tmp_path / "results.csv")
        stats = sb.stats()
        _assert_one_task_per_row(sb, 1_200)
    assert report.exit_code == 0 and report.counts["created"] == 1_200
    assert stats["faults"]["lost"] > 0 and stats["faults"]["5xx"] > 0 and stats["by_status"].get(429, 0) > 0


REFUSED = "the server refuses this one"


def _titles(path, count: int, bad: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ref", "title"])
        for n in range(count):
            writer.writerow([f"{n:04d}", REFUSED if n == bad else f"Task {n}"])


@pytest.mark.parametrize("strip_index", [False, True], ids=["422 names the item", "422 names nothing"])
def test_a_bad_row_never_blocks_its_batch(tmp_path, strip_index):
    source = tmp_path / "rows.csv"
    _titles(source, 100, bad=37)  # valid to us; on the way, its title turns into 123, which the server refuses
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        transport = _Refusing(sb.transport(), strip_index=strip_index)
        with make_client(sb, transport=transport) as client:
            report = fragment_bulk.import_file(source, keys=["ref"], client=client,
                                               checkpoint=None, results=tmp_path / "r.csv")
        assert sb.task_count() == 99
    assert report.exit_code == 1
    assert (report.counts["created"], report.counts["failed"]) == (99, 1)
    failed = report.failed
    assert list(failed["_row"]) == ["39"]  # spreadsheet row: header is 1, record 37 is row 39
    reason = "invalid item" if strip_index else "title"  # the server's own words, whatever they are
    assert reason in failed["_error"].iloc[0] and "rejected by the server" in failed["_error"].iloc[0]


class _Refusing(httpx.BaseTransport):
    """Turns the ``REFUSED`` title into a number, which the sandbox refuses with a 422; with
    ``strip_index``, a server whose 422s do not say which item is bad (the client must bisect)."""

    def __init__(self, inner: httpx.BaseTransport, *, strip_index: bool):
        self.inner, self.strip_index = inner, strip_index

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            body = json.loads(request.content)
            for item in body["items"]:
                if item["fields"]["title"] == REFUSED:
                    item["fields"]["title"] = 123
            headers = {name: value for name, value in request.headers.items() if name != "content-length"}
            request = httpx.Request(request.method, request.url, headers=headers, json=body)
        response = self.inner.handle_request(request)
        if response.status_code != 422 or not self.strip_index:
            return response
        response.read()
        return httpx.Response(422, json={"detail": [{"loc": ["body"], "msg": "invalid item", "type": "value_error"}]})


# -- bad input: one line, the documented exit code, nothing sent -------------------------------


BAD_INPUTS = {
    "bad encoding": (b"title,country\ncaf\xe9,FR\n", ["--encoding", "utf-8"], "utf-8"),
    "ragged row": (b"title,country\na,FR\nb,DE,extra\n", [], "row 3"),
    "no title column": (b"name,country\na,FR\n", [], "title"),
    "unparseable date": (b"title,due_at\na,2026-13-45\n", ["--type", "due_at=date"], "row 2"),
    "bad status": (b"title,status\na,Pending\n", [], "Pending"),
    "empty file": (b"", [], "empty"),
    "header only": (b"title,country\n", [], "no data rows"),
    "duplicate headers": (b"title,country,country\na,FR,DE\n", [], "country"),
    "first row longer than the header": (b"title,n\na,1,x\nb,2,y\n", [], "row 2 has 3 cells but the header has 2"),
    "results over the input": (b"title\na\n", ["--results", "input.csv"], "would overwrite the input input.csv"),
    "results not a regular file": (b"title\na\n", ["--results", "/dev/null"], "is not a regular file"),
    "results in a folder that cannot be made": (b"title\na\n", ["--results", "/proc/none/r.csv"], "cannot make the folder"),
    "results over the checkpoint": (b"title\na\n", ["--results", "c.db", "--checkpoint", "c.db"], "would overwrite the checkpoint"),
    "checkpoint in a folder that cannot be made": (b"title\na\n", ["--checkpoint", "/proc/none/c.db"], "cannot make the folder"),
    "not a finite number": (b'title,data\na,"[1, NaN]"\n', ["--type", "data=json"], "row 2, column 'data'"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(tmp_path, case):
    content, flags, expected = BAD_INPUTS[case]
    source = tmp_path / "input.csv"
    source.write_bytes(content)
    result = run_cli("import", str(source), *flags, "--sandbox-db", str(tmp_path / "sb.sqlite"), "--rate", "off", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in error_line(result.stderr) or expected in result.stderr
    assert source.read_bytes() == content
    with Sandbox(SandboxConfig(db_path=tmp_path / "sb.sqlite")) as sb:
        assert sb.task_count() == 0


@pytest.mark.parametrize("flags", [["--results", "input.mapping.yml"], ["--checkpoint", "input.mapping.yml"],
                                   ["--mapping", "mine.yml", "--results", "mine.yml"]],
                         ids=["results-over-found", "checkpoint-over-found", "results-over-given"])
def test_no_output_file_overwrites_the_mapping_read(tmp_path, flags):
    (tmp_path / "input.csv").write_text("title\na\n", encoding="utf-8")
    for name in ("input.mapping.yml", "mine.yml"):
        (tmp_path / name).write_text("columns:\n  title: title\n", encoding="utf-8")
    result = run_cli("import", "input.csv", *flags, "--sandbox-db", "sb.sqlite", "--rate", "off", cwd=tmp_path)
    assert result.returncode == 2 and "would overwrite the input" in error_line(result.stderr), result.stderr
    for name in ("input.mapping.yml", "mine.yml"):
        assert (tmp_path / name).read_text(encoding="utf-8") == "columns:\n  title: title\n"


def test_a_run_to_a_mistyped_url_leaves_no_checkpoint_to_bind_the_next_run(tmp_path):
    (tmp_path / "input.csv").write_text("title\na\nb\n", encoding="utf-8")
    wrong = run_cli("import", "input.csv", server_url="http://127.0.0.1:9/api/v1", cwd=tmp_path)  # nothing listens
    assert wrong.returncode == 2 and "is the server up, and the base URL right?" in error_line(wrong.stderr)
    assert not (tmp_path / "input.csv.fragment-checkpoint").exists()
    # A comment run asks nothing before its first post: the same, found there.
    (tmp_path / "notes.csv").write_text(f"uid,text\n{uuid.uuid4()},hello\n", encoding="utf-8")
    wrong = run_cli("comment", "notes.csv", server_url="http://127.0.0.1:9/api/v1", cwd=tmp_path)
    assert wrong.returncode == 2 and "is the server up, and the base URL right?" in error_line(wrong.stderr)
    assert not (tmp_path / "notes.csv.comment.fragment-checkpoint").exists()
    right = run_cli("import", "input.csv", "--sandbox-db", "sb.sqlite", "--rate", "off", cwd=tmp_path)
    assert right.returncode == 0, right.stderr
    with Sandbox(SandboxConfig(db_path=tmp_path / "sb.sqlite")) as sb:
        assert sb.task_count() == 2


def test_an_excel_error_cell_makes_its_row_invalid_instead_of_being_sent_as_text(tmp_path, sandbox, client):
    book = openpyxl.Workbook()
    book.active.append(["ref", "title", "price"])
    for row in (["A", "first", "#N/A"], ["B", "#REF!", 2], ["C", "third", 3]):
        book.active.append(row)  # openpyxl writes "#N/A" as an error cell, as Excel saves a failed formula
    book.save(tmp_path / "errors.xlsx")
    with pytest.raises(ValidationError, match=r"2 invalid row.*row 3, column 'title': #REF!: holds an Excel error, not a value"):
        fragment_bulk.import_file(tmp_path / "errors.xlsx", keys=["ref"], client=client, checkpoint=None)
    report = fragment_bulk.import_file(tmp_path / "errors.xlsx", keys=["ref"], skip_invalid=True, client=client,
                                       checkpoint=None)
    assert report.counts["created"] == 1 and report.counts["failed"] == 2
    assert [task["fields"] for task in sandbox.tasks()] == [{"ref": "C", "title": "third", "price": 3}]
    failed = report.results[report.results["_status"] == "failed"]
    assert list(failed["_row"]) == ["2", "3"] and list(failed["price"]) == ["#N/A", "2"]
    assert failed["_error"].str.contains("Excel error").all()
    # In a key column left out of the task, an error makes no uid either.
    book.active["A4"] = "#N/A"
    book.save(tmp_path / "errors.xlsx")
    with pytest.raises(ValidationError) as refused:
        fragment_bulk.import_file(tmp_path / "errors.xlsx", keys=["ref"], ignore=["ref", "price"], client=client,
                                  checkpoint=None)
    assert any(str(problem).startswith("row 4, column 'ref': the key column is empty, or holds an Excel error")
               for problem in refused.value.problems)



def test_merged_cells_are_a_note_to_the_python_api_too(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["title", "region"])
    book.active.append(["a", "EU"])
    book.active.append(["b", None])
    book.active.merge_cells("B2:B3")
    book.save(tmp_path / "merged.xlsx")
    said = []
    report = fragment_bulk.import_file(tmp_path / "merged.xlsx", dry_run=True, log=said.append)
    assert report.counts == {"failed": 0, "skipped": 2}
    assert [line for line in said if "merged" in line] == [
        "warning: merged.xlsx (sheet 'Sheet'): merged cells (B2:B3): only the top-left cell of a merged range holds its"
        " value, so its other rows read as empty. To give every row the value, unmerge them before importing (in Excel:"
        " select the range, turn Merge & Center off, then fill down with Ctrl+D)"]


def test_merged_cells_only_in_columns_the_job_ignores_are_no_warning(tmp_path):
    book = openpyxl.Workbook()
    for row in [["title", "region", "team"], ["a", "EU", "x"], ["b", None, None], ["c", "US", "y"]]:
        book.active.append(row)
    book.active.merge_cells("B2:B3")
    book.active.merge_cells("C2:C3")
    book.save(tmp_path / "merged.xlsx")
    said = []
    fragment_bulk.import_file(tmp_path / "merged.xlsx", dry_run=True, ignore=["region"], log=said.append)
    assert [line.split(": only")[0] for line in said if "merged" in line] == [
        "warning: merged.xlsx (sheet 'Sheet'): merged cells (C2:C3)"]  # B2:B3 is in a column left out
    said.clear()
    fragment_bulk.import_file(tmp_path / "merged.xlsx", dry_run=True, ignore=["region", "team"], log=said.append)
    assert not [line for line in said if "merged" in line]
    said.clear()  # a mapping refused: the notes of how the sheet was read come first, as they may say why
    with pytest.raises(InputError, match="no column is mapped to title"):
        fragment_bulk.import_file(tmp_path / "merged.xlsx", dry_run=True, ignore=["title"], log=said.append)
    assert [line for line in said if "merged cells (B2:B3, C2:C3)" in line]


def test_header_row_and_the_note_of_a_skipped_title_reach_the_python_api(tmp_path):
    book = openpyxl.Workbook()
    for row in [["Q3 tickets"], [], ["title", "n"], ["a", 1], [None, 2]]:
        book.active.append(row)
    book.save(tmp_path / "q3.xlsx")
    said = []
    with pytest.raises(ValidationError) as refused:
        fragment_bulk.import_file(tmp_path / "q3.xlsx", dry_run=True, log=said.append)
    assert [str(problem) for problem in refused.value.problems] == ["row 5, column 'title': title is required"]
    assert "note: q3.xlsx (sheet 'Sheet'): the table's header is row 3; rows 1-2 above it are skipped ('Q3 tickets');" \
           " give another header row with --header-row" in said
    said.clear()
    report = fragment_bulk.update_file(tmp_path / "q3.xlsx", header_row=4, maps={"a": "title", "1": "fields.n"},
                                       keys=["a"], dry_run=True, skip_invalid=True, log=said.append)
    assert [problem.row for problem in report.problems] == [5] and not [line for line in said if line.startswith("note:")]


def test_missing_sheet_lists_the_sheets(tmp_path):
    result = run_cli("import", str(SAMPLES / "tasks.xlsx"), "--sheet", "Nope", "--sandbox-db", str(tmp_path / "sb.sqlite"))
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert "Nope" in line and "Tasks" in line and "Archive" in line


def test_a_changed_file_is_refused_on_resume_unless_restart(tmp_path, sandbox, client):
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 20, bad_rows={3: {"status": "Pending"}})
    report = fragment_bulk.import_file(source, keys=["ref"], skip_invalid=True, client=client)
    assert report.exit_code == 1  # one failed row keeps the checkpoint open for a resume
    _numbered_csv(source, 21)
    with pytest.raises(CheckpointError, match="--restart"):
        fragment_bulk.import_file(source, keys=["ref"], client=client)
    again = fragment_bulk.import_file(source, keys=["ref"], client=client, restart=True)
    assert again.exit_code == 0 and sandbox.task_count() == 21


def test_an_unfinished_job_is_not_resumed_against_another_server(tmp_path):
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 20, bad_rows={3: {"status": "Pending"}})
    rehearsal, production = tmp_path / "rehearsal.sqlite", tmp_path / "production.sqlite"
    report = fragment_bulk.import_file(source, keys=["ref"], skip_invalid=True, sandbox=rehearsal)
    assert report.exit_code == 1  # one failed row keeps the checkpoint open for a resume
    # resumed there, the 19 rows the rehearsal acknowledged would never reach production
    with pytest.raises(CheckpointError, match=r"different server \(it sent to the sandbox in .*rehearsal\.sqlite"):
        fragment_bulk.import_file(source, keys=["ref"], skip_invalid=True, sandbox=production)
    again = fragment_bulk.import_file(source, keys=["ref"], skip_invalid=True, sandbox=production, restart=True)
    assert again.counts["created"] == 19
    with Sandbox(SandboxConfig(db_path=production)) as server:
        assert server.task_count() == 19


@pytest.mark.parametrize("mode", ["create", "upsert"])
def test_a_checkpoint_written_with_credentials_in_its_server_url_never_shows_them(tmp_path, mode):
    # Checkpoints written before the server was recorded in one spelling hold the base URL as it
    # was given; a run against another server quoted it whole, user:password and query string too.
    job = {"input": "i", "mapping": "m", "mode": mode}
    old = Checkpoint.open(tmp_path / "ck", job={**job, "server": "https://ann:s3cret@api.example.com/api/v1?api_key=s3cret"})
    old.close()
    with pytest.raises(CheckpointError, match="api.example.com/api/v1") as refused:
        Checkpoint.open(tmp_path / "ck", job={**job, "server": "https://other.example.com/api/v1"})
    assert "s3cret" not in str(refused.value)


def test_a_checkpoint_in_use_is_refused_even_with_restart(tmp_path):
    path = tmp_path / "rows.csv.fragment-checkpoint"
    job = {"input": "i", "mapping": "m", "mode": "upsert"}
    first = Checkpoint.open(path, job=job)
    for restart in (False, True):  # two runs would send the same rows (twice, for comments)
        with pytest.raises(CheckpointError, match="in use by another run"):
            Checkpoint.open(path, job=job, restart=restart)
    first.record([Outcome(0, "created", "u")])
    first.close()
    again = Checkpoint.open(path, job=job)
    assert again.resumed and again.count("created") == 1
    again.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no side file left: the file is the checkpoint
    with pytest.raises(CheckpointError, match="cannot use .* as a checkpoint"):
        Checkpoint.open(tmp_path / "no such folder" / "c", job=job)


def test_a_checkpoint_records_outcomes_of_any_number_in_one_go_the_last_word_on_a_row_winning(tmp_path):
    checkpoint = Checkpoint.open(tmp_path / "c", job={"input": "i", "mapping": "m", "mode": "upsert"})
    first = [Outcome(n, "pending", f"u{n}", "sent") for n in range(450)]  # more than one statement holds
    checkpoint.record(iter(first))  # (a generator too)
    checkpoint.record([Outcome(n, "created" if n % 3 else "failed", None if n % 3 == 0 else f"u{n}",
                               "422: 'title' missing" if n % 3 == 0 else None) for n in range(0, 450, 2)])
    checkpoint.record([])
    assert checkpoint.outcomes_between(0, 450) == {
        n: Outcome(n, "pending", f"u{n}", "sent") if n % 2 else
        Outcome(n, "created" if n % 3 else "failed", None if n % 3 == 0 else f"u{n}", "422: 'title' missing" if n % 3 == 0 else None)
        for n in range(450)}
    checkpoint.close()


def test_a_checkpoint_is_one_file_that_can_be_moved_alone_even_after_kill_dash_nine(tmp_path):
    # Copied while its run still holds it open (as a kill -9 leaves it): every commit is in the
    # file itself, none in a side file left behind (as WAL's -wal was).
    job = {"input": "i", "mapping": "m", "mode": "comment"}
    running = Checkpoint.open(tmp_path / "ck", job=job)
    running.record([Outcome(n, "created", f"u{n}") for n in range(50)])
    (tmp_path / "moved").mkdir()
    (tmp_path / "moved" / "ck").write_bytes((tmp_path / "ck").read_bytes())
    moved = Checkpoint.open(tmp_path / "moved" / "ck", job=job)
    assert moved.resumed and moved.count("created") == 50
    moved.close()
    running.close()


def test_a_checkpoint_in_use_is_refused_by_any_name_that_reaches_it(tmp_path):
    job = {"input": "i", "mapping": "m", "mode": "comment"}
    first = Checkpoint.open(tmp_path / "ck", job=job)
    (tmp_path / "alias").symlink_to(tmp_path / "ck")
    os.link(tmp_path / "ck", tmp_path / "hard")
    for name in ("alias", "hard"):
        with pytest.raises(CheckpointError, match="in use by another run"):
            Checkpoint.open(tmp_path / name, job=job, restart=True)
    first.close()
    assert Checkpoint.open(tmp_path / "alias", job=job).resumed


def test_invalid_rows_stop_everything_unless_skipped(tmp_path, sandbox, client):
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 10, bad_rows={4: {"status": "Pending"}, 6: {"title": ""}})
    with pytest.raises(ValidationError) as invalid:
        fragment_bulk.import_file(source, keys=["ref"], client=client)
    assert invalid.value.invalid_rows == 2
    assert {problem.row for problem in invalid.value.problems} == {6, 8}
    assert sandbox.task_count() == 0
    report = fragment_bulk.import_file(source, keys=["ref"], client=client, skip_invalid=True, checkpoint=None)
    assert report.counts["created"] == 8 and report.counts["failed"] == 2 and report.exit_code == 1
    assert sandbox.task_count() == 8


@pytest.mark.parametrize("empty", ["omit", "null"])
def test_nan_written_in_json_lines_is_an_invalid_row_not_an_empty_cell(tmp_path, sandbox, client, empty):
    source = tmp_path / "n.jsonl"
    source.write_text('{"title": "a", "x": NaN}\n{"title": NaN, "x": 1}\n{"title": "c", "x": -Infinity}\n'
                      '{"title": "d", "x": null}\n')
    report = fragment_bulk.import_file(source, client=client, skip_invalid=True, empty=empty, checkpoint=None)
    assert report.counts["failed"] == 3 and report.counts["created"] == 1
    assert sorted(report.failed["_error"].str.split(":").str[0]) == [
        "row 1, column 'x'", "row 2, column 'title'", "row 3, column 'x'"]
    assert [task["fields"].get("x", "absent") for task in sandbox.tasks()] == ["absent" if empty == "omit" else None]


def test_json_lines_keeps_a_text_of_white_space_but_a_title_of_it_is_missing(tmp_path, sandbox, client):
    source = tmp_path / "w.jsonl"
    source.write_text('{"title": "a", "note": "  ", "n": " ", "status": " "}\n{"title": " \\t ", "note": "x"}\n'
                      '{"title": "c", "note": ""}\n')
    report = fragment_bulk.import_file(source, client=client, skip_invalid=True, checkpoint=None, types={"n": "int"})
    assert list(report.failed["_error"]) == ["row 2, column 'title': ' \\t ': title is required"]
    # White space is a text's value, but for a number or a status it is nothing, as in a CSV.
    assert [task["fields"] for task in sandbox.tasks()] == [{"title": "a", "note": "  "}, {"title": "c"}]


@pytest.mark.parametrize("keys", [["title"], []], ids=["keyed", "uid-from-the-row"])
def test_half_a_character_is_an_invalid_cell_named_in_a_dry_run_and_the_other_rows_go(tmp_path, sandbox, client, keys):
    # A lone surrogate (an emoji cut in two), in JSON Lines or a DataFrame: no UTF-8 request can carry it.
    source = tmp_path / "s.jsonl"
    source.write_text('{"title": "ok", "note": "cut \\ud83d"}\n{"title": "ok2", "meta": {"k": "\\udc00"}}\n'
                      '{"title": "ok3"}\n')
    with pytest.raises(ValidationError, match=r"row 1, column 'note': 'cut \\ud83d': holds half of a character"):
        fragment_bulk.import_file(source, client=client, keys=keys, dry_run=True)
    results = tmp_path / "r.csv"
    report = fragment_bulk.import_file(source, client=client, keys=keys, skip_invalid=True, checkpoint=None, results=results)
    assert report.counts == {"failed": 2, "created": 1, "skipped": 0}
    assert [task["fields"]["title"] for task in sandbox.tasks()] == ["ok3"]
    assert "cut \\ud83d" in results.read_text(encoding="utf-8")  # written escaped, not a crash
    frame = pd.DataFrame({"title": ["a\ud83d", "b"]}, dtype=object)
    assert fragment_bulk.import_dataframe(frame, client=client, keys=keys, skip_invalid=True).counts["failed"] == 1


def test_a_dataframe_of_uuid_objects_gives_them_as_uids_and_text(sandbox, client):
    uid = uuid.UUID("0123456789abcdef0123456789abcdef")
    frame = pd.DataFrame({"title": ["a"], "uid": [uid], "assignee_uid": [uid], "ref": [uid]})
    assert fragment_bulk.import_dataframe(frame, client=client).counts["created"] == 1
    (task,) = sandbox.tasks()
    assert task["uid"] == task["assignee_uid"] == task["fields"]["ref"] == str(uid)


def test_a_dry_run_exits_as_the_run_would_with_its_invalid_rows_skipped(tmp_path, sandbox, client):
    source = tmp_path / "rows.csv"
    source.write_text("title,n\na,1\nb,x\n")
    planned = fragment_bulk.import_file(source, client=client, types={"n": "int"}, skip_invalid=True, dry_run=True)
    real = fragment_bulk.import_file(source, client=client, types={"n": "int"}, skip_invalid=True, checkpoint=None)
    assert planned.exit_code == real.exit_code == 1
    assert fragment_bulk.import_file(source, client=client, ignore=["n"], dry_run=True).exit_code == 0


def test_dry_run_sends_nothing_and_plans(tmp_path, sandbox, client):
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 250)
    report = fragment_bulk.import_file(source, keys=["ref"], dry_run=True, client=client)
    assert report.dry_run and report.plan.batches == 3 and report.plan.estimated_seconds == pytest.approx(3.0)
    assert sandbox.stats()["requests"] == 0
    # a dry run that finds invalid rows lists them in a file of its own: the last real run's stays
    fragment_bulk.import_file(source, keys=["ref"], client=client)
    real = (tmp_path / "rows.fragment-results.csv").read_bytes()
    _numbered_csv(source, 250, bad_rows={3: {"status": "Pending"}})
    with pytest.raises(ValidationError) as invalid:
        fragment_bulk.import_file(source, keys=["ref"], dry_run=True, client=client)
    assert invalid.value.results_path == tmp_path / "rows.dry-run.fragment-results.csv"
    assert (tmp_path / "rows.fragment-results.csv").read_bytes() == real


# -- DataFrames and notebooks --------------------------------------------------------------------


def messy_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "title": ["a", "b", "c"],
            "score": [1.5, float("nan"), 3.0],
            "count": pd.array([1, None, 3], dtype="Int64"),
            "due_at": pd.to_datetime(["2026-01-02 10:00", None, "2026-03-04 12:30"]).tz_localize("Europe/Paris"),
            "note": ["x", pd.NA, None],
            "tier": pd.Categorical(["gold", "silver", "gold"]),
        },
        index=["r1", "r2", "r3"],
    )


def test_dataframe_with_every_kind_of_missing_value(sandbox, client):
    report = fragment_bulk.import_dataframe(messy_frame(), keys=["title"], client=client)
    assert report.exit_code == 0 and list(report.results["_row"]) == ["r1", "r2", "r3"]
    tasks = {task["fields"]["title"]: task for task in sandbox.tasks()}
    assert tasks["a"]["fields"]["count"] == 1 and tasks["a"]["fields"]["score"] == 1.5
    assert tasks["a"]["fields"]["tier"] == "gold"
    assert datetime.fromisoformat(tasks["a"]["due_at"].replace("Z", "+00:00")) == datetime(2026, 1, 2, 9, 0, tzinfo=timezone.utc)
    assert "score" not in tasks["b"]["fields"] and "count" not in tasks["b"]["fields"] and "note" not in tasks["b"]["fields"]
    assert "note" not in tasks["c"]["fields"]


def test_rows_without_key_that_differ_only_until_converted_are_one_task_and_say_so(tmp_path, sandbox, client):
    source = tmp_path / "rows.csv"
    source.write_text("title,n,status\na,5,TODO\na,05,todo\nb,1,DONE\na,5,todo\n")
    report = fragment_bulk.import_file(source, types={"n": "int"}, client=client, checkpoint=tmp_path / "c", results=tmp_path / "r.csv")
    assert sandbox.task_count() == 2 and report.exit_code == 1
    statuses = list(report.failed["_row"]), list(report.results["_status"])
    assert statuses == (["3", "5"], ["created", "failed", "created", "failed"])
    assert "same uid as row 2" in report.failed["_error"].iloc[0]
    again = fragment_bulk.import_file(source, types={"n": "int"}, client=client, checkpoint=tmp_path / "c2", results=None)
    assert (again.counts.get("unchanged"), again.counts.get("failed")) == (2, 2)


def test_a_dry_run_reports_the_rows_a_run_fails_once_their_cells_are_converted(tmp_path, sandbox, client):
    source = tmp_path / "rows.csv"
    source.write_text("title,n,status\na,5,TODO\na,05,todo\nb,1,DONE\na,5,todo\n")
    planned = fragment_bulk.import_file(source, types={"n": "int"}, client=client, dry_run=True)
    assert sandbox.stats()["requests"] == 0 and planned.results_path == tmp_path / "rows.dry-run.fragment-results.csv"
    real = fragment_bulk.import_file(source, types={"n": "int"}, client=client, checkpoint=None)
    assert planned.exit_code == real.exit_code == 1 and planned.plan.to_send == 2
    assert list(planned.failed["_row"]) == list(real.failed["_row"]) == ["3", "5"]
    assert list(planned.failed["_error"]) == list(real.failed["_error"])
    assert "same uid as row 2 (the same task once its cells are converted" in planned.failed["_error"].iloc[0]
    # A frame's numbers (1 and 1.0 are one uid): every row is mapped.
    frame = pd.DataFrame({"title": ["a", "a", "b"], "n": pd.Series([1, 1.0, 2], dtype=object)})
    assert list(fragment_bulk.import_dataframe(frame, dry_run=True, client=client).failed["_row"]) == [1]
    # Rows chunks apart: the chunks between, where no row is like another as text, are not mapped.
    titles, numbers = [f"t{n}" for n in range(50_000)], [str(n) for n in range(50_000)]
    titles[45_000], numbers[45_000] = "t3", "03"
    pd.DataFrame({"title": titles, "n": numbers}).to_csv(tmp_path / "long.csv", index=False)
    long = fragment_bulk.import_file(tmp_path / "long.csv", types={"n": "int"}, dry_run=True)
    assert long.failed[["_row", "_error"]].values.tolist() == [
        ["45002", "row 45002: same uid as row 5 (the same task once its cells are converted; use --key to tell them apart)"]]
    # Rows added to an export (no uid yet) get their uids from their payloads too; a key tells them apart.
    added = tmp_path / "added.csv"
    added.write_text(f"uid,title,n\n,a,5\n{uuid.UUID(int=1)},a,5\n,a,05\n")
    assert list(fragment_bulk.import_file(added, types={"n": "int"}, dry_run=True).failed["_row"]) == ["4"]
    assert fragment_bulk.import_file(source, types={"n": "int"}, keys=["title", "n", "status"], dry_run=True).exit_code == 0


def test_a_dry_run_maps_only_the_chunks_holding_rows_alike_in_a_frame_of_numbers_too(monkeypatch):
    mapped = []
    map_chunk = fragment_bulk.Mapping.map_chunk
    monkeypatch.setattr(fragment_bulk.Mapping, "map_chunk", lambda self, chunk: mapped.append(chunk.start) or map_chunk(self, chunk))
    frame = pd.DataFrame({"title": ["t"] * 50_000, "n": np.arange(50_000), "x": np.arange(50_000) / 2,
                          "when": pd.date_range("2024-01-01", periods=50_000, freq="min"), "ok": [True, False] * 25_000})
    assert fragment_bulk.import_dataframe(frame, dry_run=True).exit_code == 0 and mapped == []
    frame["n"] = frame["n"].astype(object)
    frame.loc[45_000, ["n", "x", "when", "ok"]] = [3.0, 1.5, frame.loc[3, "when"], False]  # 3.0 counts as the 3 of row 3
    report = fragment_bulk.import_dataframe(frame, dry_run=True)
    assert list(report.failed["_row"]) == [45_000] and mapped == [0, 40_000]


def test_a_dataframe_whose_index_repeats_labels_gets_each_error_on_its_own_row(sandbox, client):
    first = pd.DataFrame({"ID": ["1", "2"], "title": ["a", "b"], "n": ["5", "x"]})
    second = pd.DataFrame({"ID": ["3", "4"], "title": ["c", None], "n": ["7", "8"]})
    frame = pd.concat([first, second])  # index 0, 1, 0, 1
    report = fragment_bulk.import_dataframe(frame, keys=["ID"], types={"n": "int"}, skip_invalid=True, client=client)
    results = report.results.set_index("ID")
    assert list(report.results["_row"]) == [0, 1, 2, 3]  # positions, since the labels repeat
    assert list(results["_status"]) == ["created", "failed", "created", "failed"]
    assert "not a whole number" in results.loc["2", "_error"] and "title" not in results.loc["2", "_error"]
    assert "title is required" in results.loc["4", "_error"]


@pytest.mark.filterwarnings("error")
def test_nanoseconds_are_cut_to_the_apis_microseconds_without_a_warning_per_cell(sandbox, client, tmp_path):
    stamps = pd.to_datetime(["2024-01-01 10:00:00.123456789", None])
    frame = pd.DataFrame({"title": ["a", "b"], "at": stamps.tz_localize("UTC"), "naive": stamps,
                          "cell": pd.Series([stamps[0], np.datetime64("2024-01-01T10:00:00.123456789")], dtype=object)})
    fragment_bulk.import_dataframe(frame, client=client)
    source = tmp_path / "ns.csv"
    source.write_text("title,at\nc,2024-01-01T10:00:00.123456789Z\n", encoding="utf-8")
    fragment_bulk.import_file(source, types={"at": "datetime"}, client=client, checkpoint=None, results=None)
    fields = {task["fields"]["title"]: task["fields"] for task in sandbox.tasks()}
    assert fields["a"] == {"title": "a", "at": "2024-01-01T10:00:00.123456Z", "naive": "2024-01-01T10:00:00.123456",
                           "cell": "2024-01-01T10:00:00.123456"}
    assert fields["c"]["at"] == "2024-01-01T10:00:00.123456Z"


def test_a_dataframes_invalid_rows_are_all_in_the_error_and_in_a_dry_run_report(sandbox, client):
    frame = pd.DataFrame({"title": [None] * 15 + ["ok"]})
    with pytest.raises(ValidationError) as invalid:
        fragment_bulk.import_dataframe(frame, client=client)
    assert len(invalid.value.problems) == 10 and list(invalid.value.results["_status"]) == ["failed"] * 15 + ["skipped"]
    report = fragment_bulk.import_dataframe(frame, dry_run=True, skip_invalid=True, client=client)
    assert (report.counts["failed"], report.counts["skipped"]) == (15, 1) and len(report.failed) == 15
    assert sandbox.task_count() == 0


def test_a_keyless_frame_whose_int_column_gains_a_gap_keeps_its_tasks(sandbox, client):
    fragment_bulk.import_dataframe(pd.DataFrame({"title": ["a", "b"], "priority": [1, 2]}), client=client)
    again = pd.DataFrame({"title": ["a", "b", "c"], "priority": [1, 2, None]})  # pandas: 1.0, 2.0, NaN
    report = fragment_bulk.import_dataframe(again, client=client)
    assert report.counts["created"] == 1 and sandbox.task_count() == 3  # not a, b twice


def test_a_renamed_export_without_its_mapping_is_noted(sandbox, client, tmp_path):
    fragment_bulk.import_dataframe(pd.DataFrame({"title": ["a"], "n": [5]}), client=client)
    fragment_bulk.export_file(tmp_path / "ex.csv", client=client)
    (tmp_path / "ex.csv").rename(tmp_path / "edited.csv")
    said = []
    fragment_bulk.import_file(tmp_path / "edited.csv", client=client, log=said.append)
    assert any(line.startswith("note: edited.csv looks like an export, but no edited.csv.mapping.yml") for line in said)
    fragment_bulk.export_file(tmp_path / "ex.jsonl", client=client)  # JSON Lines keeps its types: no note
    (tmp_path / "ex.jsonl.mapping.yml").unlink()
    said.clear()
    fragment_bulk.import_file(tmp_path / "ex.jsonl", client=client, log=said.append)
    assert not any("looks like an export" in line for line in said)


def test_the_oldest_and_a_huge_cell_of_a_frame_do_not_crash_the_run(sandbox, client, tmp_path):
    frame = pd.DataFrame({"title": ["a", "b"], "d": [pd.Timestamp.min, pd.Timestamp("2024-01-01")],
                          "n": pd.Series([1, 10**5000], dtype=object)})
    report = fragment_bulk.import_dataframe(frame, skip_invalid=True, client=client, results=tmp_path / "r.csv")
    assert list(report.results["_status"]) == ["created", "failed"]
    assert sandbox.tasks()[0]["fields"]["d"] == "1677-09-21T00:12:43.145224"
    assert pd.read_csv(tmp_path / "r.csv", dtype=str)["n"].tolist() == ["1", "(a value too long to write)"]


def test_create_mode_refuses_a_uid_column_it_would_leave_out(sandbox, client):
    frame = pd.DataFrame({"uid": ["cbc0ccd6-fbc9-07b3-f9f9-b8a8eeb7ff2c"], "title": ["a"]})
    with pytest.raises(ConfigError, match="--mode create makes new tasks"):
        fragment_bulk.import_dataframe(frame, mode="create", client=client)  # an export copied, every task twice
    assert fragment_bulk.import_dataframe(frame, mode="create", ignore=["uid"], client=client).counts["created"] == 1


def test_cells_json_or_pandas_cannot_take_are_failed_rows_not_a_traceback(sandbox, client, tmp_path):
    frame = pd.DataFrame({"title": ["a", "b", "c", "d"], "x": pd.Series(
        [{(1, 2): 3}, np.longdouble(1.5), Decimal("sNaN"), 1], dtype=object)})
    report = fragment_bulk.import_dataframe(frame, skip_invalid=True, client=client, results=tmp_path / "r.csv")
    assert list(report.results["_status"]) == ["failed", "created", "created", "created"]
    assert {task["fields"]["title"]: task["fields"].get("x") for task in sandbox.tasks()} == {"b": 1.5, "c": None, "d": 1}
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"title": "a", "x": ' + "[" * 500 + "]" * 500 + "}\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1 nests values more than 64 levels deep"):
        fragment_bulk.import_file(deep, client=client, checkpoint=None, results=None)


def test_a_decimal_no_json_can_hold_is_a_failed_row_at_any_depth(sandbox, client):
    """1E+5000 has 5,001 digits (Python writes 4,300 at most: it crashed the run); a NaN inside a
    list was sent as null, where a float NaN there fails its row."""
    frame = pd.DataFrame({"title": ["a", "b", "c", "d"], "x": pd.Series(
        [Decimal("1E+5000"), [Decimal("NaN"), 1], Decimal("NaN"), [Decimal("1.5")]], dtype=object)})
    report = fragment_bulk.import_dataframe(frame, skip_invalid=True, client=client)
    assert list(report.results["_status"]) == ["failed", "failed", "created", "created"]
    assert {task["fields"]["title"]: task["fields"].get("x") for task in sandbox.tasks()} == {"c": None, "d": [1.5]}


def test_the_results_give_back_the_input_cells_as_they_were(sandbox, client):
    frame = pd.DataFrame({"id": pd.array([9007199254740993, 2, None], dtype="Int64"), "title": list("abc"),
                          "status": ["bogus", "DONE", "TODO"], "_error": ["mine", "mine", "mine"]})
    report = fragment_bulk.import_dataframe(frame, keys=["id"], ignore=["_error"], skip_invalid=True, client=client)
    assert report.failed["id"].tolist() == [9007199254740993, None]  # not rounded through a float column
    assert list(report.results.columns) == ["_row", "_status", "_uid", "_error", "id", "title", "status", "_error (input)"]
    assert report.failed["_error"].str.contains("status 'bogus'").tolist() == [True, False]  # the other lacks its key


def test_ints_past_pythons_digit_limit_are_failed_rows_not_a_crash(sandbox, client):
    huge = 2**20000  # 6,021 digits: Python refuses to write it in decimal
    frame = pd.DataFrame({"ID": [huge, 2, 3], "title": ["a", "b", "c"], "n": [5, huge, 7], "meta": [{}, {}, {"k": huge}]})
    for keys, statuses in ((["ID"], ["created", "failed", "failed"]), ([], ["failed"] * 3)):
        # Keyed, the huge ID is only a key (made into a uid); unkeyed, it is a field and cannot be sent.
        report = fragment_bulk.import_dataframe(frame, keys=keys, ignore=keys, skip_invalid=True, client=client)
        assert list(report.results["_status"]) == statuses
        errors = list(report.results["_error"])
        assert "column 'n': (int too long to show): a whole number of more than 4,000 digits" in errors[1]
        assert "column 'meta': (dict too long to show)" in errors[2]
    assert sandbox.task_count() == 1  # the keyed row 0 (its key is fine as a key, its n is 5)


def test_float32_cells_of_every_kind_are_sent_as_the_numbers_they_print_as(sandbox, client):
    """numpy's float32, pandas' masked Float32 (convert_dtypes), Arrow's, and a float32 array in a
    cell: 0.1, not 0.10000000149011612 (nor that text in a str column)."""
    import pyarrow as pa

    frame = pd.DataFrame({"title": ["a", "b"], "masked": pd.array([0.1, None], dtype="Float32"),
                          "arrow": pd.Series([0.1, 2.2], dtype=pd.ArrowDtype(pa.float32())),
                          "text": pd.Series([0.1, 2.2], dtype="Float32"),
                          "cell": pd.Series([np.array([0.1, 2.2], dtype=np.float32), None], dtype=object)})
    fragment_bulk.import_dataframe(frame, types={"text": "str"}, client=client)
    fields = {task["fields"]["title"]: task["fields"] for task in sandbox.tasks()}
    assert fields["a"] == {"title": "a", "masked": 0.1, "arrow": 0.1, "text": "0.1", "cell": [0.1, 2.2]}
    assert fields["b"] == {"title": "b", "arrow": 2.2, "text": "2.2"}


def test_a_dataframe_of_lists_arrays_nested_dates_and_float32_imports_and_round_trips(sandbox, client):
    frame = pd.DataFrame({
        "title": ["a", "b"],
        "tags": [["x", "y"], ["z", "w"]],  # lists of one length: np.array would make them a 2-D array
        "arr": [np.array([1, 2]), np.array([3, 4])],  # what read_parquet gives for a list column
        "meta": [{"when": pd.Timestamp("2024-01-01 10:00", tz="UTC"), "n": np.int64(3), "gone": pd.NA}, None],
        "f": np.array([0.1, 0.25], dtype=np.float32),
        "d": pd.array([date(2024, 1, 2), None], dtype="date32[pyarrow]"),
        # numpy date-times inside a cell: each one's ISO text, not its nanoseconds as an int
        "at": [np.array(["2024-05-01T12:30"], dtype="datetime64[ns]"), np.array([], dtype="datetime64[ns]")],
    })
    report = fragment_bulk.import_dataframe(frame, client=client)
    assert report.exit_code == 0 and report.counts["created"] == 2
    fields = {task["fields"]["title"]: task["fields"] for task in sandbox.tasks()}
    assert fields["a"] == {"title": "a", "tags": ["x", "y"], "arr": [1, 2], "f": 0.1, "d": "2024-01-02",
                           "at": ["2024-05-01T12:30:00"], "meta": {"when": "2024-01-01T10:00:00Z", "n": 3, "gone": None}}
    again = fragment_bulk.import_dataframe(fragment_bulk.export_dataframe(client=client), client=client)
    assert again.counts.get("unchanged") == 2 and again.exit_code == 0


def test_null_policy_sends_null_not_nan(sandbox, client):
    fragment_bulk.import_dataframe(messy_frame(), keys=["title"], empty="null", client=client)
    task = next(task for task in sandbox.tasks() if task["fields"]["title"] == "b")
    assert task["fields"]["score"] is None and task["fields"]["note"] is None


def test_works_inside_a_running_event_loop(sandbox, client):
    async def notebook_cell():
        return fragment_bulk.import_dataframe(messy_frame(), keys=["title"], client=client)

    report = asyncio.run(notebook_cell())
    assert report.counts["created"] == 3
    assert list(report.summary.loc[["created", "failed"], "rows"]) == [3, 0]
    assert report.failed.empty


def _created_once(sb: Sandbox, report, refs: set[str]) -> None:
    """Each ref is one task, and each row's ``_uid`` is its own task's."""
    by_ref = {task["fields"]["ref"]: task["uid"] for task in sb.tasks()}
    assert sb.task_count() == len(by_ref) == len(refs) and set(by_ref) == refs
    assert report.counts["created"] == len(refs) and report.counts.get("failed", 0) == 0
    assert list(report.results["_uid"]) == [by_ref[ref] for ref in report.results["ref"]]


def test_create_mode_finds_the_tasks_of_lost_answers_instead_of_posting_them_again(tmp_path):
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 200)
    with Sandbox(SandboxConfig(rate_per_min=None, fault_lost=0.2, seed=11)) as sb:
        with make_client(sb, retry=RetryPolicy(floor=0.001, cap=0.01)) as client:
            report = fragment_bulk.import_file(source, mode="create", client=client, checkpoint=tmp_path / "ck",
                                               batch_size=20, results=tmp_path / "r.csv")
            assert sb.stats()["faults"]["lost"] > 0, "no answer was lost: the test proves nothing"
            _created_once(sb, report, {f"{n:06d}" for n in range(200)})
            resumed = fragment_bulk.import_file(source, mode="create", client=client, checkpoint=tmp_path / "ck")
            assert sb.task_count() == 200 and resumed.counts["created"] == 200


class _ItemByItem(httpx.BaseTransport):
    """A server outside the contract's all-or-nothing batches: it writes the items it accepts and
    answers 207 with a task for each, and a word for each it refused (a title starting BAD)."""

    def __init__(self, inner: httpx.BaseTransport, *, said_before: str = ""):
        self.inner, self.said_before = inner, said_before

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "PUT" or not request.url.path.endswith("/tasks/batch"):
            return self.inner.handle_request(request)
        items = json.loads(request.content)["items"]
        refused = [item for item in items if item["fields"]["title"].startswith("BAD")]
        accepted = [item for item in items if item not in refused]
        headers = {name: value for name, value in request.headers.items() if name != "content-length"}
        written = self.inner.handle_request(httpx.Request("PUT", request.url, headers=headers, json={"items": accepted}))
        written.read()
        token = request.headers["authorization"].split()[-1]  # a server that quotes the request back
        answer = written.json()["items"] + [{"uid": item["uid"], "status": 422, "error": f"{self.said_before}title not allowed for {token}"}
                                            for item in refused]
        return httpx.Response(207, json={"items": answer})


def test_an_item_answered_without_its_task_is_failed_not_created(tmp_path):
    source = tmp_path / "rows.csv"
    refs = _titled_csv(source, ["BAD" if n in (2, 5) else f"t{n}" for n in range(8)])
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        with make_client(sb, transport=_ItemByItem(sb.transport())) as client:
            report = fragment_bulk.import_file(source, keys=["ref"], client=client, checkpoint=tmp_path / "ck",
                                               results=tmp_path / "r.csv")
        assert report.counts["created"] == 6 and report.counts["failed"] == 2 and report.exit_code == 1
        results = pd.read_csv(tmp_path / "r.csv", dtype=str)
        failed = results[results["_status"] == "failed"]
        assert list(failed["ref"]) == ["002", "005"] and failed["_error"].str.contains("title not allowed for \\*\\*\\*").all()
        assert sb.config.token not in (tmp_path / "r.csv").read_text()
        assert {task["fields"]["ref"] for task in sb.tasks()} == refs


def test_a_word_for_an_item_cut_short_never_keeps_the_head_of_the_token(tmp_path):
    # What the server says of an item is cut to 200 characters: where the cut fell inside the
    # token, the part before it was left in the results, the whole token being no longer there to blank out.
    source = tmp_path / "rows.csv"
    _titled_csv(source, ["BAD", "t1"])
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        cut_inside_the_token = "x" * (200 - len("title not allowed for ") - 6)
        with make_client(sb, transport=_ItemByItem(sb.transport(), said_before=cut_inside_the_token)) as client:
            report = fragment_bulk.import_file(source, keys=["ref"], client=client, checkpoint=None, results=tmp_path / "r.csv")
        assert report.counts["failed"] == 1
        written = (tmp_path / "r.csv").read_text()
        assert "title not allowed for ***" in written and sb.config.token[:6] not in written


class _ClockAtTheEndOfTime(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.headers["date"] = "Fri, 31 Dec 9999 23:59:59 GMT"
        return response


def test_a_server_clock_at_the_end_of_year_9999_is_no_clock_not_a_crash(tmp_path):
    source = tmp_path / "rows.csv"
    refs = _titled_csv(source, ["a", "b"])
    with Sandbox(SandboxConfig(rate_per_min=None, time_filters="as_fields")) as sb:  # the anchor comes from Date
        with make_client(sb) as seeding:
            seeding.create_task({"fields": {"title": "there before"}})
        with make_client(sb, transport=_ClockAtTheEndOfTime(sb.transport())) as client:
            report = fragment_bulk.import_file(source, keys=["ref"], client=client, checkpoint=None)
        assert report.counts["created"] == 2 and {task["fields"].get("ref") for task in sb.tasks()} == refs | {None}


class _ServerSideChecks(httpx.BaseTransport):
    """Stands for what only the server checks: a ``BAD`` title is sent empty. Counts look-ups."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner, self.listings = inner, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/tasks/batch"):
            body = json.loads(request.content)
            for item in body["items"]:
                item["fields"]["title"] = "" if item["fields"]["title"].startswith("BAD") else item["fields"]["title"]
            headers = {name: value for name, value in request.headers.items() if name != "content-length"}
            request = httpx.Request("POST", request.url, headers=headers, json=body)
        if request.method == "GET" and request.url.path.endswith("/tasks") and "created_at_after" in request.url.params:
            self.listings += 1
        return self.inner.handle_request(request)


CREATE_CASES = {
    # a lost answer's tasks are found though assignee_email (write-only) never comes back
    "lost answers, write-only key": ({"fault_lost": 0.3, "seed": 4}, {"assignee": "a@x.org"}),
    # a server writing a batch's valid items, then a 422 naming no item (bisected) or only the first bad one
    "partial writes, 422 naming nothing": ({"batch_failure": "write_valid", "error_body": "text"}, {}),
    "partial writes, 422 naming the first": ({"batch_failure": "write_valid"}, {}),
    # answers in another order, fields telling 1 from True
    "reversed answers": ({"batch_order": "reversed"}, {"flag": [1, True] * 10}),
    # a server not knowing created_at_after: what may have been applied is reported unknown, never
    # sent twice; the rows of a refused batch are sent again (all or nothing, as the contract says)
    "no creation filter": ({"fault_lost": 0.3, "seed": 3, "time_filters": "as_fields"}, {}),
}


@pytest.mark.parametrize("case", list(CREATE_CASES))
def test_create_mode_never_creates_a_row_twice_nor_gives_it_another_rows_uid(tmp_path, case):
    config, extra = CREATE_CASES[case]
    titles = [f"BAD{n}" if n in (6, 8) else f"t{n}" for n in range(20)]
    frame = pd.DataFrame({"title": titles, **{name: value if isinstance(value, list) else [value] * 20
                                              for name, value in extra.items()}})
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        transport = _ServerSideChecks(sb.transport())
        with make_client(sb, transport=transport, retry=RetryPolicy(floor=0.001, cap=0.01)) as client:
            earlier = client.create_task({"fields": {"title": "an earlier task"}})["uid"]  # so look-ups filter
            sb.configure(**config)
            report = fragment_bulk.import_dataframe(frame, mode="create", client=client, batch_size=5, concurrency=2,
                                                    checkpoint=tmp_path / "ck")
        tasks = {task["uid"]: task for task in sb.tasks() if task["uid"] != earlier}
    by_title = [task["fields"]["title"] for task in tasks.values()]
    assert len(by_title) == len(set(by_title)), f"a row was created twice: {sorted(by_title)}"
    results = report.results
    for title, status, uid, error in zip(titles, results["_status"], results["_uid"], results["_error"]):
        if title.startswith("BAD"):
            assert status == "failed" and "rejected by the server" in error
            assert not isinstance(uid, str), "a failed create row shows a uid that names no task"
        elif status == "created":
            assert tasks[uid]["fields"]["title"] == title and tasks[uid]["fields"] == {
                **{"title": title}, **{name: frame.loc[titles.index(title), name] for name in extra if name != "assignee"}}
        else:
            assert "time_filters" in config and error.startswith("outcome unknown")  # only where nothing can be looked up
    created = {title for title, status in zip(titles, results["_status"]) if status == "created"}
    assert created <= set(by_title) <= {title for title in titles if not title.startswith("BAD")}
    if case == "partial writes, 422 naming the first":
        assert transport.listings <= 3  # a look-up per refused batch, not per split


def test_a_create_import_without_a_checkpoint_leaves_no_file_behind(tmp_path, monkeypatch, sandbox, client):
    monkeypatch.chdir(tmp_path)
    report = fragment_bulk.import_dataframe(pd.DataFrame({"title": ["a", "b"]}), mode="create", client=client,
                                            checkpoint=None)
    assert report.counts["created"] == 2 and list(tmp_path.iterdir()) == []


def test_reordered_answers_give_rows_of_the_same_content_tasks_of_that_content():
    frame = pd.DataFrame({"ref": ["1", "2", "3"], "title": ["Call back", "Call back", "Unique"]})
    with Sandbox(SandboxConfig(rate_per_min=None, batch_order="reversed")) as sb, make_client(sb) as client:
        report = fragment_bulk.import_dataframe(frame, mode="create", keys=["ref"], ignore=["ref"], client=client,
                                                checkpoint=None)
        titles = {task["uid"]: task["fields"]["title"] for task in sb.tasks()}
    assert [titles[uid] for uid in report.results["_uid"]] == list(frame["title"])
    assert len(set(report.results["_uid"])) == 3


def test_reordered_post_answers_are_matched_by_content_telling_true_from_1_and_defaults():
    import uuid as uuid_module

    from fragment_bulk.creator import in_request_order, same_task

    items = [{"fields": {"title": "a", "flag": 1}}, {"fields": {"title": "a", "flag": True}},
             {"fields": {"title": "b"}, "status": "DONE"}, {"fields": {"title": "b"}, "assignee_email": "x@y.org"}]
    answered = [{"uid": "4", "fields": {"title": "b"}, "status": "TODO"}, {"uid": "3", "fields": {"title": "b"}, "status": "DONE"},
                {"uid": "2", "fields": {"title": "a", "flag": True}, "status": "TODO"},
                {"uid": "1", "fields": {"title": "a", "flag": 1.0}, "status": "TODO"}]
    assert [task["uid"] for task in in_request_order(items, answered)] == ["1", "2", "3", "4"]
    # A server may turn assignee_email into assignee_uid, and keep due_at to the millisecond.
    assert same_task({"fields": {"t": 1}, "assignee_email": "a@x.org"}, {"fields": {"t": 1}, "assignee_uid": str(uuid_module.UUID(int=5))})
    assert same_task({"fields": {}, "due_at": "2026-01-01T00:00:00.000400Z"}, {"fields": {}, "due_at": "2026-01-01T00:00:00.000Z"})
    assert not same_task({"fields": {}, "due_at": "2026-01-01T00:00:00Z"}, {"fields": {}, "due_at": "2026-01-01T00:00:01Z"})
    # A row that left due_at out must not take the task of the row that gave one.
    dated = [{"fields": {"title": "d"}}, {"fields": {"title": "d"}, "due_at": "2030-01-01T00:00:00Z"}]
    answered_dated = [{"uid": "y", "fields": {"title": "d"}, "due_at": "2030-01-01T00:00:00.000Z"},
                      {"uid": "x", "fields": {"title": "d"}, "due_at": "2026-11-29T16:00:00Z"}]
    assert [task["uid"] for task in in_request_order(dated, answered_dated)] == ["x", "y"]
    # Content that cannot be matched one to one: the request's order stands.
    assert in_request_order(items[:2], [{"uid": "x", "fields": {}}, {"uid": "y", "fields": {}}])[0]["uid"] == "x"


class _SlowPosts(httpx.BaseTransport):
    """The first ``POST /tasks/batch`` times out on the client (with ``crash``, the run dies) while
    the server writes it ``late`` seconds later; with ``status``, it is answered with that status
    instead, writing nothing."""

    def __init__(self, inner: httpx.BaseTransport, *, late: float = 0.0, status: int | None = None, crash: bool = False):
        self.inner, self.late, self.status, self.crash, self.posts = inner, late, status, crash, 0
        self.writer: threading.Thread | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/tasks/batch"):
            self.posts += 1
            if self.posts == 1 and self.status is not None:
                return httpx.Response(self.status, json={"detail": "injected"})
            if self.posts == 1:
                request.read()
                late = lambda: (time.sleep(self.late), self.inner.handle_request(request))  # noqa: E731
                self.writer = threading.Thread(target=late)
                self.writer.start()
                if self.crash:
                    raise RuntimeError("the process dies here")
                raise httpx.ReadTimeout("timed out", request=request)
        return self.inner.handle_request(request)


@pytest.mark.parametrize("late, status", [(0.3, None), (0.0, 500), (0.0, 502)])
def test_create_mode_looks_up_a_post_that_may_have_been_applied_before_posting_it_again(tmp_path, late, status):
    # A timeout: the server writes the batch after the client gave up, so the first look finds
    # nothing; the second, as long again later, finds it. A 500 or 502 wrote nothing: sent again.
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 12)
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        transport = _SlowPosts(sb.transport(), late=late, status=status)
        with make_client(sb, transport=transport, timeout=0.5, retry=RetryPolicy(floor=0.001, cap=0.01)) as client:
            report = fragment_bulk.import_file(source, mode="create", client=client, batch_size=5, concurrency=1,
                                               checkpoint=tmp_path / "ck", results=tmp_path / "r.csv")
        if transport.writer:
            transport.writer.join()
        _created_once(sb, report, {f"{n:06d}" for n in range(12)})
        assert transport.posts == 3 if status is None else 4  # the batch that timed out was not posted again


class _ShuffledAnswers(httpx.BaseTransport):
    """The sandbox, but a batch's answer lists its tasks sorted by uid, and leaves the first one
    out of the first ``short`` answers."""

    def __init__(self, inner: httpx.BaseTransport, short: int = 0):
        self.inner, self.short = inner, short

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not request.url.path.endswith("/tasks/batch") or request.method == "POST" or response.status_code != 200:
            return response
        items = sorted(json.loads(response.read())["items"], key=lambda task: task["uid"])
        if self.short:
            self.short -= 1
            items = items[1:]
        return httpx.Response(200, json={"items": items})


def test_a_batch_answer_is_matched_to_the_rows_by_uid_whatever_its_order_or_length(sandbox, tmp_path):
    frame = pd.DataFrame({"ref": [f"{n:03d}" for n in range(30)], "title": [f"t{n}" for n in range(30)]})
    with make_client(sandbox, transport=_ShuffledAnswers(sandbox.transport(), short=1)) as client:
        report = fragment_bulk.import_dataframe(frame, keys=["ref"], client=client, batch_size=10)
        assert report.counts["created"] == 30  # the row left out of an answer was sent again, and answered
        by_ref = {task["fields"]["ref"]: task["uid"] for task in sandbox.tasks()}
        assert list(report.results["_uid"]) == [by_ref[ref] for ref in frame["ref"]]  # each row its own task's uid
        frame["status"] = "DONE"
        updated = fragment_bulk.update_dataframe(frame, keys=["ref"], client=client, batch_size=10)
        assert updated.counts["updated"] == 30 and list(updated.results["_uid"]) == list(report.results["_uid"])
    assert sandbox.task_count() == 30


class _FailingOnePost(httpx.BaseTransport):
    """Answers the ``nth`` ``POST /tasks/batch`` with ``status``, writing nothing (a 401 comes from
    the sandbox itself, its token changed first), and keeps the refs of the rows that reached it."""

    def __init__(self, sb: Sandbox, *, nth: int, status: int):
        self.sb, self.inner, self.nth, self.status = sb, sb.transport(), nth, status
        self.lock = threading.Lock()
        self.posts = 0
        self.sent: set[str] = set()
        self.failed: set[str] = set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/tasks/batch"):
            refs = {item["fields"]["ref"] for item in json.loads(request.content)["items"]}
            with self.lock:
                self.posts += 1
                self.sent |= refs
                if self.posts == self.nth:
                    self.failed = refs
                    if self.status != 401:
                        return httpx.Response(self.status, json={"detail": "injected failure"})
                    self.sb.configure(token="another-token")
        return self.inner.handle_request(request)


@pytest.mark.parametrize("status", [401, 403])
def test_create_mode_resume_sends_the_rows_a_stopped_run_never_sent(tmp_path, status):
    # Batches wait at the throttle before their POST goes out. When one POST fails and the run
    # stops, those were never sent: the resume must create them (a 401 or 403 proves nothing was written).
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 60)
    refs = {f"{n:06d}" for n in range(60)}
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        token = sb.config.token
        transport = _FailingOnePost(sb, nth=3, status=status)
        with make_client(sb, rate_per_min=600, transport=transport) as client, pytest.raises(ApiError) as stopped:
            fragment_bulk.import_file(source, mode="create", client=client, checkpoint=tmp_path / "ck",
                                      batch_size=5, concurrency=3, results=None)
        assert stopped.value.status == status
        assert refs - transport.sent, "no batch was left waiting: the test proves nothing"
        sb.configure(token=token)
        with make_client(sb) as client:
            resumed = fragment_bulk.import_file(source, mode="create", client=client, checkpoint=tmp_path / "ck",
                                                results=tmp_path / "r.csv")
        created = [task["fields"]["ref"] for task in sb.tasks()]
    assert len(created) == len(set(created)) and set(created) == refs
    assert resumed.counts.get("failed", 0) == 0


def test_a_server_counting_each_batch_item_against_the_limit_still_gets_every_row_once(tmp_path):
    # The contract assumes a batch counts as one request; a server counting its items answers
    # 429 after each batch until the debt is paid: the client waits as told, and loses nothing.
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 100)
    with Sandbox(SandboxConfig(rate_per_min=6000, burst=10, rate_cost="item")) as sb:
        with make_client(sb, rate_per_min=6000, retry=RetryPolicy(floor=0.05, cap=1.0)) as client:
            report = fragment_bulk.import_file(source, keys=["ref"], client=client, batch_size=25, concurrency=2,
                                               checkpoint=tmp_path / "ck", results=None)
        assert sb.stats()["by_status"].get(429, 0) > 0, "no request was limited: the test proves nothing"
        _assert_one_task_per_row(sb, 100)
    assert report.counts["created"] == 100


def test_the_throttle_keeps_a_limited_server_from_answering_429(tmp_path):
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 400)
    with Sandbox(SandboxConfig(rate_per_min=600, burst=10)) as sb:
        with make_client(sb, rate_per_min=600) as client:
            started = time.monotonic()
            report = fragment_bulk.import_file(source, keys=["ref"], client=client, batch_size=10, concurrency=4,
                                               checkpoint=None, results=None)
            elapsed = time.monotonic() - started
        stats = sb.stats()
    assert report.counts["created"] == 400
    assert stats["by_status"].get(429, 0) == 0
    assert elapsed >= 40 / 600 * 60 * 0.9  # 41 requests at 10/s: never faster than the rate


@pytest.mark.parametrize("status", [422, 413])
def test_a_too_large_batch_shrinks_the_batch_size(tmp_path, status):
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 250)
    with Sandbox(SandboxConfig(rate_per_min=None, max_batch=30, oversize_status=status)) as sb:
        with make_client(sb) as client:
            report = fragment_bulk.import_file(source, keys=["ref"], client=client, checkpoint=None, results=None,
                                               batch_size=100, concurrency=1)
        stats = sb.stats()
        _assert_one_task_per_row(sb, 250)
    assert report.counts["created"] == 250
    # One refusal to learn the size (then halves: 100 -> 50 -> 25), not one per batch.
    assert stats["by_status"].get(status, 0) <= 3


def test_progress_bar_only_when_asked_or_on_a_terminal(tmp_path):
    source = tmp_path / "rows.csv"
    _numbered_csv(source, 30)
    db = str(tmp_path / "sb.sqlite")
    quiet = run_cli("import", str(source), "--key", "ref", "--rate", "off", "--sandbox-db", db, cwd=tmp_path)
    shown = run_cli("import", str(source), "--key", "ref", "--rate", "off", "--sandbox-db", db, "--restart", "--progress", cwd=tmp_path)
    assert quiet.returncode == shown.returncode == 0
    assert "row/s" not in quiet.stderr and "30/30" not in quiet.stderr  # stderr is a pipe here: no bar
    assert "30/30" in shown.stderr


def test_the_anchor_compares_text_only_for_one_shape_of_utc_stamp():
    from datetime import datetime, timezone

    from fragment_bulk.importer import Anchor

    anchor = Anchor("2024-01-01T10:00:00.123Z", datetime(2024, 1, 1, 10, 0, 0, 123000, tzinfo=timezone.utc))
    assert anchor.is_before("2024-01-01T10:00:00.124Z") is True
    assert anchor.is_before("2024-01-01T09:59:59.999Z") is False
    assert anchor.is_before("2024-01-01 11:00:00.000Z") is True  # another shape: parsed
    assert anchor.is_before("2024-01-01T10:00:00.5Z") is True
    assert anchor.is_before("not a timestamp, but 24Z") is None
    assert anchor.is_before(None) is None
