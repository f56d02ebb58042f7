"""Bulk status updates and bulk comments against the sandbox."""

from __future__ import annotations

import csv
import json
import random
import threading
import time
import uuid
from collections import Counter

import httpx
import pandas as pd
import pytest

import fragment_bulk
from fragment_bulk.errors import CheckpointError, ProtocolError
from fragment_bulk.mapping import Mapping
from fragment_bulk.retry import RetryPolicy
from fragment_bulk.sandbox import Sandbox, SandboxConfig

from conftest import make_client
from helpers import SAMPLES, error_line, kill_then_finish, run_cli


def _seed(client, count: int) -> list[str]:
    uids = [str(uuid.UUID(int=n + 1)) for n in range(count)]
    for start in range(0, count, 100):
        client.upsert_tasks([{"uid": uid, "fields": {"title": f"task {uid[-4:]}", "n": n}}
                             for n, uid in enumerate(uids[start:start + 100], start)])
    return uids


def _write_csv(path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_a_thousand_status_updates_and_an_unknown_uid(tmp_path, sandbox, client):
    uids = _seed(client, 1_100)
    before = {task["uid"]: task for task in sandbox.tasks()}
    rng = random.Random(3)
    wanted = {uid: rng.choice(["Done", "Started", "Todo"]) for uid in uids[:1_000]}
    unknown = str(uuid.uuid4())
    rows = [[uid, status, "FR"] for uid, status in wanted.items()]
    rows.insert(500, [unknown, "Done", "FR"])
    source = tmp_path / "changes.csv"
    _write_csv(source, ["uid", "status", "country"], rows)

    report = fragment_bulk.update_file(source, client=client)

    assert report.exit_code == 1 and report.counts["failed"] == 1
    assert report.counts["updated"] + report.counts.get("unchanged", 0) == 1_000
    failed = report.failed
    assert list(failed["uid"]) == [unknown] and "not found" in failed["_error"].iloc[0]
    after = {task["uid"]: task for task in sandbox.tasks()}
    assert len(after) == 1_100
    for uid, status in wanted.items():
        task = after[uid]
        assert task["status"] == status.upper()
        assert (task["done_at"] is not None) == (status == "Done")
        assert task["fields"]["country"] == "FR" and task["fields"]["n"] == before[uid]["fields"]["n"]  # merged
    for uid in uids[1_000:]:
        assert after[uid] == before[uid]  # not in the file: untouched, updated_at included


def test_a_run_killed_while_its_merge_probe_strips_a_task_puts_the_task_back_on_resume(tmp_path):
    # On a server whose PATCH replaces fields, the probe's PATCH strips its task until it is put
    # back: a run dying in between left it stripped for good.
    class DiesAfterTheProbe(httpx.BaseTransport):
        def __init__(self, inner: httpx.BaseTransport):
            self.inner = inner

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            answer = self.inner.handle_request(request)
            if request.method == "PATCH" and not request.url.path.endswith("/batch"):
                raise RuntimeError("the process dies here")
            return answer

    source = tmp_path / "changes.csv"
    with Sandbox(SandboxConfig(rate_per_min=None, patch_fields="replace")) as sb:
        with make_client(sb) as client:
            fragment_bulk.import_dataframe(pd.DataFrame({"ref": ["a", "b"], "title": ["A", "B"], "n": ["1", "2"]}),
                                           keys=["ref"], client=client)
        before = sb.tasks()
        pd.DataFrame({"ref": ["a"], "n": ["9"]}).to_csv(source, index=False)
        update = lambda client: fragment_bulk.update_file(source, keys=["ref"], client=client,  # noqa: E731
                                                          checkpoint=tmp_path / "ck")
        with make_client(sb, transport=DiesAfterTheProbe(sb.transport())) as client, pytest.raises(RuntimeError):
            update(client)
        assert sb.tasks() != before  # stripped by the probe
        with make_client(sb) as client, pytest.raises(ProtocolError, match="replaces a task's fields"):
            update(client)
        assert [task["fields"] for task in sb.tasks()] == [task["fields"] for task in before]
        # Stopped mid-probe, then run with restart (a new job on the same checkpoint): put back too.
        with make_client(sb, transport=DiesAfterTheProbe(sb.transport())) as client, pytest.raises(RuntimeError):
            update(client)
        with make_client(sb) as client, pytest.raises(ProtocolError, match="replaces a task's fields"):
            fragment_bulk.update_file(source, keys=["ref"], client=client, checkpoint=tmp_path / "ck", restart=True)
        assert [task["fields"] for task in sb.tasks()] == [task["fields"] for task in before]
        # Stopped again mid-probe: an edit made since is kept, and a task deleted since is no error.
        for change in ("edit", "delete"):
            with make_client(sb, transport=DiesAfterTheProbe(sb.transport())) as client, pytest.raises(RuntimeError):
                update(client)
            probed = next(task for task in sb.tasks() if len(task["fields"]) == 1)
            with make_client(sb) as client:
                if change == "edit":
                    client.patch_task(probed["uid"], {"fields": {"title": "edited"}})  # replaces: the colleague's whole edit
                else:
                    client.delete_task(probed["uid"])
                with pytest.raises(ProtocolError, match="replaces a task's fields"):
                    update(client)
            if change == "edit":
                assert sb.task(probed["uid"])["fields"] == {"title": "edited"}
            else:
                assert sb.task(probed["uid"]) is None


def test_update_by_key_hits_the_tasks_the_import_created(tmp_path, sandbox, client):
    source = tmp_path / "tickets.csv"
    _write_csv(source, ["Ticket", "title"], [[f"{n:05d}", f"T{n}"] for n in range(30)])
    fragment_bulk.import_file(source, keys=["Ticket"], client=client)
    changes = tmp_path / "changes.csv"
    _write_csv(changes, ["Ticket", "status", "priority"], [[f"{n:05d}", "DONE", ""] for n in range(0, 30, 3)])
    report = fragment_bulk.update_file(changes, keys=["Ticket"], types={"priority": "int"}, client=client)
    assert report.exit_code == 0 and report.counts["updated"] == 10
    done = {task["fields"]["title"] for task in sandbox.tasks() if task["status"] == "DONE"}
    assert done == {f"T{n}" for n in range(0, 30, 3)}
    assert all("priority" not in task["fields"] for task in sandbox.tasks())  # empty: untouched


def test_update_cli_on_a_real_port(tmp_path):
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb, sb.serve(port=0) as server:
        with make_client(sb) as client:
            uids = _seed(client, 5)
        source = tmp_path / "u.csv"
        _write_csv(source, ["uid", "status"], [[uid, "DONE"] for uid in uids])
        result = run_cli("update", str(source), "--rate", "off", "--json", server_url=server.url)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["counts"]["updated"] == 5
        assert {task["status"] for task in sb.tasks()} == {"DONE"}
        missing_key = run_cli("update", str(source), "--key", "nope", "--rate", "off", server_url=server.url)
        assert missing_key.returncode == 2 and "nope" in error_line(missing_key.stderr)


def _comment_rows(uids: list[str], per_task: int) -> list[list[str]]:
    return [[uid, f"note {k} for {uid[-6:]}"] for uid in uids for k in range(per_task)]


def _assert_each_comment_once(sb: Sandbox, rows: list[list[str]]) -> None:
    expected = Counter((uid, text) for uid, text in rows)
    seen = Counter()
    for uid in {uid for uid, _ in rows}:
        seen.update((uid, comment["text"]) for comment in sb.comments(uid))
    assert seen == expected, f"missing {expected - seen}, extra {seen - expected}"


@pytest.mark.filterwarnings("ignore:comment_dataframe without checkpoint")  # one run each: no re-run to guard
def test_comments_with_lost_answers_are_posted_exactly_once(tmp_path):
    with Sandbox(SandboxConfig(rate_per_min=None, fault_lost=0.1, fault_5xx=0.05, seed=9)) as sb:
        with make_client(sb, retry=RetryPolicy(floor=0.001, cap=0.01, max_attempts=40)) as client:
            sb.configure(fault_lost=0.0, fault_5xx=0.0)
            uids = _seed(client, 50)
            sb.configure(fault_lost=0.1, fault_5xx=0.05)
            rows = _comment_rows(uids, 4)
            frame = pd.DataFrame(rows, columns=["uid", "text"])
            report = fragment_bulk.comment_dataframe(frame, client=client, concurrency=8)
        assert sb.stats()["faults"]["lost"] > 0
        assert report.exit_code == 0 and report.counts["created"] == 200
        _assert_each_comment_once(sb, rows)


@pytest.mark.filterwarnings("ignore:comment_dataframe without checkpoint")  # one run each: no re-run to guard
def test_the_comments_of_one_task_land_in_file_order(tmp_path):
    with Sandbox(SandboxConfig(rate_per_min=None, latency_ms=(0, 8), seed=5)) as sb, make_client(sb) as client:
        uids = _seed(client, 3)
        rows = [[uid, f"step {k}"] for k in range(8) for uid in uids]  # interleaved, as a thread export would be
        report = fragment_bulk.comment_dataframe(pd.DataFrame(rows, columns=["uid", "text"]), client=client, concurrency=8)
        assert report.counts["created"] == 24
        assert all([comment["text"] for comment in sb.comments(uid)] == [f"step {k}" for k in range(8)] for uid in uids)


def test_comments_survive_kill_dash_nine_with_lost_answers(tmp_path):
    config = SandboxConfig(rate_per_min=None, fault_lost=0.05, latency_ms=(2, 6), seed=4)
    with Sandbox(config) as sb, sb.serve(port=0) as server:
        sb.configure(fault_lost=0.0)
        with make_client(sb) as client:
            uids = _seed(client, 250)
        sb.configure(fault_lost=0.05)
        rows = _comment_rows(uids, 4)
        source = tmp_path / "comments.csv"
        _write_csv(source, ["uid", "text"], rows)
        rng = random.Random(8)
        kills, _ = kill_then_finish(
            ["comment", str(source), "--rate", "off", "--concurrency", "8", "--json"],
            server_url=server.url, progress=lambda: sb.stats()["writes"],  # comments committed, lost ones included
            next_target=lambda done: done + rng.randint(20, 300), kills=3,
        )
        assert kills == 3
        assert sb.stats()["faults"]["lost"] > 0
        _assert_each_comment_once(sb, rows)


class _SlowComments(httpx.BaseTransport):
    """The sandbox, but a comment POST answers nothing in time (the write lands ``late`` seconds
    after the client gave up), and comment listings can be made to fail."""

    def __init__(self, inner: httpx.BaseTransport, *, late: float = 0.0):
        self.inner, self.late, self.listings_fail, self.writers = inner, late, False, []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        listing = request.method == "GET" and request.url.path.endswith("/comments")
        if listing and self.listings_fail:
            return httpx.Response(503, json={"detail": "unavailable"})
        if request.method == "POST" and request.url.path.endswith("/comments") and self.late:
            body = request.read()

            def write_late() -> None:
                time.sleep(self.late)
                self.inner.handle_request(httpx.Request("POST", request.url, headers=request.headers, content=body))

            self.writers.append(threading.Thread(target=write_late))
            self.writers[-1].start()
            raise httpx.ReadTimeout("timed out", request=request)
        return self.inner.handle_request(request)


@pytest.mark.filterwarnings("ignore:comment_dataframe without checkpoint")  # one run each: no re-run to guard
def test_a_comment_still_being_written_after_a_timeout_is_not_posted_twice():
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        with make_client(sb) as seeding:
            uids = _seed(seeding, 2)
        slow = _SlowComments(sb.transport(), late=0.3)
        with make_client(sb, transport=slow, timeout=0.6, retry=RetryPolicy(floor=0.001, cap=0.01)) as client:
            report = fragment_bulk.comment_dataframe(pd.DataFrame({"uid": uids, "text": ["a", "b"]}), client=client)
        for writer in slow.writers:
            writer.join()
        assert report.counts["created"] == 2
        assert [len(sb.comments(uid)) for uid in uids] == [1, 1]  # listed again after a wait, found: not re-posted


@pytest.mark.parametrize("listing", ["unavailable", "missing", "not_found"])  # a 503; no listing (405 or 404)
def test_a_comment_whose_check_cannot_be_made_is_unknown_and_never_posted_twice(tmp_path, listing):
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        with make_client(sb) as seeding:
            uids = _seed(seeding, 3)
        frame = pd.DataFrame({"uid": uids, "text": ["a", "b", "c"]})
        flaky = _SlowComments(sb.transport())
        flaky.listings_fail = listing == "unavailable"
        sb.configure(fault_lost=1.0, comment_listing="paged" if listing == "unavailable" else listing)
        # Each comment is written, its answer lost; and it cannot be looked up.
        with make_client(sb, transport=flaky, retry=RetryPolicy(floor=0.001, cap=0.01, max_attempts=2)) as client:
            first = fragment_bulk.comment_dataframe(frame, client=client, checkpoint=tmp_path / "c.ckpt")
            assert first.counts["failed"] == 3
            assert all(error.startswith("outcome unknown: it may have been posted") for error in first.failed["_error"])
            sb.configure(fault_lost=0.0, comment_listing="paged")
            flaky.listings_fail = False
            again = fragment_bulk.comment_dataframe(frame, client=client, checkpoint=tmp_path / "c.ckpt")
        assert again.counts["created"] == 3
        assert [len(sb.comments(uid)) for uid in uids] == [1, 1, 1]  # found on the re-run, not posted again


def test_exported_comments_post_elsewhere_as_they_were_written(tmp_path, sandbox, client):
    texts = ["=SUM(A1) is wrong", "-5 EUR refunded", "'quoted", "plain"]
    [uid] = _seed(client, 1)
    fragment_bulk.comment_dataframe(pd.DataFrame({"uid": [uid] * 4, "text": texts}), client=client,
                                    checkpoint=tmp_path / "first.checkpoint")
    fragment_bulk.export_file(tmp_path / "comments.csv", comments=True, client=client)  # guarded: '=SUM...
    with Sandbox(SandboxConfig(rate_per_min=None)) as other, make_client(other) as elsewhere:
        _seed(elsewhere, 1)
        report = fragment_bulk.comment_file(tmp_path / "comments.csv", client=elsewhere)  # its mapping beside it
        assert report.counts["created"] == 4
        assert [comment["text"] for comment in other.comments(uid)] == texts  # the guard undone


def test_comment_on_an_unknown_task_fails_alone(sandbox, client):
    uids = _seed(client, 3)
    frame = pd.DataFrame({"uid": [uids[0], str(uuid.uuid4()), uids[2]], "body": ["a", "b", "c"]})
    with pytest.warns(UserWarning, match="without checkpoint= posts every comment again"):
        report = fragment_bulk.comment_dataframe(frame, text_column="body", client=client)
    assert report.counts["created"] == 2 and report.counts["failed"] == 1
    assert "not found" in report.failed["_error"].iloc[0]


def test_an_unfinished_comment_job_is_not_replaced_by_an_edited_file(tmp_path, sandbox, client):
    uids = _seed(client, 2)
    source = tmp_path / "c.csv"
    _write_csv(source, ["uid", "text"], [[uids[0], "a"], [str(uuid.uuid4()), "b"]])  # one fails: unfinished
    assert fragment_bulk.comment_file(source, client=client).counts["failed"] == 1
    _write_csv(source, ["uid", "text"], [[uids[0], "a"], [uids[1], "b"]])
    with pytest.raises(CheckpointError, match="a finished job with failed rows of a different input; run with --restart to"
                                              " send every row again \\(rows cannot be un-posted"):
        fragment_bulk.comment_file(source, client=client)  # a new job would post "a" twice
    assert len(sandbox.comments(uids[0])) == 1


def test_a_finished_comment_job_goes_to_another_sandbox_but_not_through_another_url(tmp_path):
    source = tmp_path / "c.csv"
    for name in ("a.sqlite", "b.sqlite"):
        with Sandbox(SandboxConfig(db_path=tmp_path / name)) as sb, make_client(sb) as client:
            _write_csv(source, ["uid", "text"], _comment_rows(_seed(client, 2), 1))
    # a rehearsal on one sandbox, then the other: another server, so the comments go there too
    assert fragment_bulk.comment_file(source, sandbox=tmp_path / "a.sqlite").counts["created"] == 2
    assert fragment_bulk.comment_file(source, sandbox=tmp_path / "b.sqlite").counts["created"] == 2


class _WordsForComments(httpx.BaseTransport):
    """Writes each comment, then answers ``{"ok": true}``: no uid to record it by."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/comments"):
            return httpx.Response(200, json={"ok": True})
        return response


@pytest.mark.filterwarnings("ignore:comment_dataframe without checkpoint")
def test_a_comment_answered_without_its_uid_is_looked_up_not_a_crash():
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb:
        with make_client(sb) as seeding:
            uids = _seed(seeding, 3)
        with make_client(sb, transport=_WordsForComments(sb.transport())) as client:
            report = fragment_bulk.comment_dataframe(pd.DataFrame({"uid": uids, "text": ["a", "b", "c"]}), client=client)
        assert report.counts["created"] == 3
        assert [[c["text"] for c in sb.comments(uid)] for uid in uids] == [["a"], ["b"], ["c"]]
        assert list(report.results["_uid"]) == [sb.comments(uid)[0]["uid"] for uid in uids]


@pytest.mark.filterwarnings("ignore:comment_dataframe without checkpoint")  # one run each: no re-run to guard
def test_comments_by_key(tmp_path, sandbox, client):
    frame = pd.DataFrame({"Ticket": ["001", "002"], "title": ["one", "two"]})
    fragment_bulk.import_dataframe(frame, keys=["Ticket"], client=client)
    comments = pd.DataFrame({"Ticket": ["002"], "text": ["hello"]})
    report = fragment_bulk.comment_dataframe(comments, keys=["Ticket"], client=client)
    assert report.exit_code == 0
    uid = report.results["_uid"].iloc[0]
    task = next(task for task in sandbox.tasks() if task["fields"]["title"] == "two")
    assert [c["uid"] for c in sandbox.comments(task["uid"])] == [uid]


def test_a_finished_comment_job_is_not_posted_again_through_another_url(tmp_path):
    source = tmp_path / "c.csv"
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb, sb.serve(port=0) as server, make_client(sb) as client:
        uids = _seed(client, 2)
        _write_csv(source, ["uid", "text"], _comment_rows(uids, 1))
        first = run_cli("comment", str(source), server_url=server.url)
        again = run_cli("comment", str(source), server_url=server.url.replace("http://", "HTTP://") + "/")
        other = run_cli("comment", str(source), server_url=server.url.replace("127.0.0.1", "localhost"))
        assert first.returncode == again.returncode == 0 and "nothing is sent again" in again.stderr
        assert other.returncode == 2 and "If that is another server, run with --restart" in error_line(other.stderr)
        assert sum(len(sb.comments(uid)) for uid in uids) == 2


def test_the_same_comment_file_run_again_posts_nothing_until_restart(tmp_path, sandbox, client):
    uids = _seed(client, 2)
    source = tmp_path / "c.csv"
    pd.DataFrame({"uid": uids, "text": ["call back", "done?"]}).to_csv(source, index=False)
    for _ in range(2):
        report = fragment_bulk.comment_file(source, client=client)
        assert report.exit_code == 0
    assert [len(sandbox.comments(uid)) for uid in uids] == [1, 1]  # a finished job is not a fresh one
    fragment_bulk.comment_file(source, client=client, restart=True)
    assert [len(sandbox.comments(uid)) for uid in uids] == [2, 2]
    # A row added to the finished file: posting the file would post the first two again.
    with open(source, "a", encoding="utf-8") as handle:
        handle.write(f"{uids[0]},one more\n")
    with pytest.raises(CheckpointError, match="finished comment job of a different input, whose rows were posted"):
        fragment_bulk.comment_file(source, client=client)
    assert [len(sandbox.comments(uid)) for uid in uids] == [2, 2]


def test_a_finished_run_with_failed_rows_says_it_sends_those_again(tmp_path, sandbox, client):
    uids = _seed(client, 1)
    source = tmp_path / "u.csv"
    pd.DataFrame({"uid": [uids[0], str(uuid.UUID(int=99))], "status": ["DONE", "DONE"]}).to_csv(source, index=False)
    assert fragment_bulk.update_file(source, client=client).counts["failed"] == 1  # no task 99 yet
    client.upsert_tasks([{"uid": str(uuid.UUID(int=99)), "fields": {"title": "late"}}])
    said = []
    again = fragment_bulk.update_file(source, client=client, log=said.append)
    assert again.counts == {"updated": 2, "skipped": 0}
    assert any("finished: its 1 rows not applied are tried again" in line for line in said)


def test_updating_an_edited_export_changes_only_the_edited_cell(tmp_path, sandbox, client):
    uid = _seed(client, 1)[0]
    client.update_tasks([{"uid": uid, "fields": {"score": 1.5, "flag": True, "tags": ["a"], "formula": "=1+1"}}])
    before = sandbox.task(uid)
    fragment_bulk.export_file(tmp_path / "tasks.csv", client=client, progress=False)
    frame = pd.read_csv(tmp_path / "tasks.csv", dtype=str, keep_default_na=False)
    frame.loc[0, "status"] = "DONE"
    frame.to_csv(tmp_path / "tasks.csv", index=False)
    report = fragment_bulk.update_file(tmp_path / "tasks.csv", client=client)  # uses tasks.csv.mapping.yml
    after = sandbox.task(uid)
    assert report.counts.get("updated") == 1 and after["status"] == "DONE"
    assert after["fields"] == before["fields"]  # n, score, flag, tags still typed; no "'" kept on =1+1


def test_update_with_empty_null_sets_the_field_to_null_and_without_leaves_it(tmp_path, sandbox, client):
    uid = _seed(client, 1)[0]
    source = tmp_path / "u.csv"
    _write_csv(source, ["uid", "n"], [[uid, ""]])
    fragment_bulk.update_file(source, client=client, checkpoint=None)
    assert sandbox.task(uid)["fields"]["n"] == 0
    fragment_bulk.update_file(source, client=client, checkpoint=None, empty="null")
    assert sandbox.task(uid)["fields"]["n"] is None


def test_an_update_by_key_that_finds_nothing_says_which_namespace_it_used(sandbox, client):
    imported = Mapping.from_dict({"key": ["Ticket"], "namespace": "ticket", "columns": {"Ticket": "fields.ticket", "title": "title"}})
    fragment_bulk.import_dataframe(pd.DataFrame({"Ticket": ["001"], "title": ["one"]}), mapping=imported, client=client)
    said: list[str] = []
    report = fragment_bulk.update_dataframe(pd.DataFrame({"Ticket": ["001"], "status": ["DONE"]}), keys=["Ticket"],
                                            client=client, log=said.append)
    assert report.counts.get("failed") == 1 and "not found" in report.failed["_error"].iloc[0]
    assert any("namespace 'key'" in line and "--mapping" in line for line in said)


def test_update_leaves_a_hand_written_import_mapping_beside_it_alone(tmp_path, sandbox, client):
    uids = _seed(client, 2)
    (tmp_path / "tasks.mapping.yml").write_text(
        (SAMPLES / "tasks.mapping.yml").read_text(encoding="utf-8"), encoding="utf-8")  # key: Ticket ID, for the import
    source = tmp_path / "tasks.csv"
    _write_csv(source, ["uid", "status"], [[uids[0], "DONE"], [uids[1], ""]])
    report = fragment_bulk.update_file(source, client=client, checkpoint=None)
    assert report.exit_code == 0 and sandbox.task(uids[0])["status"] == "DONE"


def test_an_update_is_refused_before_any_row_on_a_server_whose_patch_replaces_fields(tmp_path):
    # The first task holds one field only (nothing to tell merge from replace by): the probe takes the next.
    with Sandbox(SandboxConfig(rate_per_min=None, patch_fields="replace")) as sb, make_client(sb) as client:
        client.put_task(str(uuid.UUID(int=1)), {"fields": {"title": "only a title"}})
        client.put_task(str(uuid.UUID(int=2)), {"fields": {"title": "t", "country": "FR", "n": 1}})
        before = sb.tasks()
        changes = pd.DataFrame({"uid": [str(uuid.UUID(int=2))], "country": ["DE"]})
        with pytest.raises(ProtocolError, match="replaces a task's fields"):
            fragment_bulk.update_dataframe(changes, client=client, checkpoint=tmp_path / "ck")
        assert [task["fields"] for task in sb.tasks()] == [task["fields"] for task in before]


@pytest.mark.parametrize("patch_fields", ["replace", "merge"])
def test_where_every_task_holds_only_a_title_the_probe_still_tells_a_replacing_patch(tmp_path, patch_fields):
    """(The probe sent a task one of two fields it held: with none such, it told nothing, and an
    update deleted the title of every row it changed, saying "updated".) It sends one no field."""
    with Sandbox(SandboxConfig(rate_per_min=None, patch_fields=patch_fields)) as sb, make_client(sb) as client:
        for n in (1, 2):
            client.put_task(str(uuid.UUID(int=n)), {"fields": {"title": f"t{n}"}})
        before = sb.tasks()
        changes = pd.DataFrame({"uid": [str(uuid.UUID(int=2))], "country": ["DE"]})  # (the probe takes the first)
        if patch_fields == "replace":
            with pytest.raises(ProtocolError, match="replaces a task's fields"):
                fragment_bulk.update_dataframe(changes, client=client, checkpoint=tmp_path / "ck")
            assert [task["fields"] for task in sb.tasks()] == [task["fields"] for task in before]
        else:
            assert fragment_bulk.update_dataframe(changes, client=client, checkpoint=tmp_path / "ck").counts["updated"] == 1
            assert sb.task(str(uuid.UUID(int=2)))["fields"] == {"title": "t2", "country": "DE"}
            assert sb.task(str(uuid.UUID(int=1))) == before[0]  # the probe changed nothing, not even updated_at


def test_a_probe_of_a_title_only_task_stopped_midway_is_put_back_on_resume():
    from fragment_bulk.updater import _put_back

    with Sandbox(SandboxConfig(rate_per_min=None, patch_fields="replace")) as sb, make_client(sb) as client:
        uid = str(uuid.UUID(int=1))
        client.put_task(uid, {"fields": {"title": "only"}})
        client.patch_task(uid, {"fields": {}})  # what the probe sent, on a replacing server
        assert sb.task(uid)["fields"] == {}
        _put_back(client, {"uid": uid, "fields": {"title": "only"}, "kept": None})
        assert sb.task(uid)["fields"] == {"title": "only"}
