"""The client's main flows against every variant of what the API contract only assumes.

fragment-api.md marks some of Fragment's behaviours *assumed*; the sandbox switches each of them
(``SandboxConfig``: answer order, page envelope, error body, PATCH of ``fields``, unknown keys,
partial batch failure, ``started_at``, a second DELETE). Every flow here runs once per variant,
in-process, with one row the server refuses: each row must land exactly once, with the right
outcome and the right ``_uid``, and the server must hold what was sent.

Where a variant makes a flow unsafe (an update on a server whose PATCH replaces ``fields``), the
client must refuse it before it changes anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

import fragment_bulk
from fragment_bulk.errors import NotFoundError, ProtocolError
from fragment_bulk.sandbox import Sandbox, SandboxConfig

from conftest import make_client

VARIANTS: dict[str, dict[str, Any]] = {
    "contract": {},  # the contract's own reading, for comparison
    "batch_order=reversed": {"batch_order": "reversed"},
    "page_envelope=flat": {"page_envelope": "flat"},
    "page_envelope=no_total": {"page_envelope": "no_total"},
    "error_body=message": {"error_body": "message"},
    "error_body=text": {"error_body": "text"},
    "patch_fields=replace": {"patch_fields": "replace"},
    "unknown_keys=reject": {"unknown_keys": "reject"},
    "batch_failure=write_valid": {"batch_failure": "write_valid"},
    "stamp_started=false": {"stamp_started": False},
    "second_delete=200": {"second_delete": 200},
    "time_filters=as_fields": {"time_filters": "as_fields"},
    "time_filters=ignored": {"time_filters": "ignored"},
    "headers=strict": {"headers": "strict"},  # the client names itself and sends JSON as such
}
PAGE_MAX = 3  # every listing takes several pages
ROWS, BAD = 7, 3  # row BAD is refused by the server
BATCH = 4  # the bad row shares its batch with good rows
REFUSED = "the server refuses this one"
COUNTRIES = ("FR", "DE", "ES")


class _Refusing(httpx.BaseTransport):
    """Sends the title ``REFUSED`` as the number 123, which the sandbox refuses with a 422: a row
    valid to the client that the server will not take, in any batch (POST, PUT or PATCH)."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = re.sub(rb'"title":\s*"' + re.escape(REFUSED.encode()) + rb'"', b'"title":123', request.read())
        if content != request.content:
            headers = [(name, value) for name, value in request.headers.multi_items() if name.lower() != "content-length"]
            request = httpx.Request(request.method, request.url, headers=headers, content=content)
        return self.inner.handle_request(request)


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The sandbox in the variant the test is parametrized with (``variant``)."""
    switches = VARIANTS[request.node.callspec.params["variant"]]
    with Sandbox(SandboxConfig(rate_per_min=None, page_max=PAGE_MAX, page_default=PAGE_MAX, **switches)) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox):
    with make_client(sandbox, transport=_Refusing(sandbox.transport())) as c:
        yield c


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "ref": [f"r{n}" for n in range(ROWS)],
        "title": [REFUSED if n == BAD else f"Task {n}" for n in range(ROWS)],
        "country": [COUNTRIES[n % 3] for n in range(ROWS)],
        "priority": list(range(ROWS)),
    })


def _sent_fields(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """ref -> the fields each row sends, the refused row left out."""
    return {row["ref"]: {key: row[key] for key in frame.columns} for row in frame.to_dict("records") if row["title"] != REFUSED}


def _tasks_by_ref(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    tasks = sandbox.tasks()
    refs = [task["fields"].get("ref") for task in tasks]
    assert len(refs) == len(set(refs)), f"a row landed twice: {sorted(refs)}"
    return dict(zip(refs, tasks))


def _assert_outcomes(report: Any, expected: list[str], uids: dict[str, str], refs: list[str]) -> None:
    """Each row's status; each succeeded row's ``_uid`` is its own task's; a failed row says why."""
    results = report.results
    assert list(results["_status"]) == expected
    assert {status: count for status, count in report.counts.items() if count} == {
        status: expected.count(status) for status in set(expected)}
    for ref, status, uid, error in zip(refs, results["_status"], results["_uid"], results["_error"]):
        if status == "failed":
            assert uid not in uids.values() and error
        else:
            assert uid == uids[ref], f"row {ref} reported another task's uid"


def _imported(sandbox: Sandbox, report: Any, frame: pd.DataFrame, status: str = "created") -> dict[str, dict[str, Any]]:
    """Asserts an import of ``frame``: the server holds each sent row once, as sent; returns them by ref."""
    tasks = _tasks_by_ref(sandbox)
    assert {ref: task["fields"] for ref, task in tasks.items()} == _sent_fields(frame)
    expected = ["failed" if n == BAD else status for n in range(ROWS)]
    _assert_outcomes(report, expected, {ref: task["uid"] for ref, task in tasks.items()}, list(frame["ref"]))
    assert "rejected by the server" in report.failed["_error"].iloc[0]
    return tasks


# -- import --------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_upsert_without_keys_lands_each_row_once_and_again_changes_nothing(sandbox, client, variant):
    frame = _frame()
    report = fragment_bulk.import_dataframe(frame, client=client, batch_size=BATCH)
    _imported(sandbox, report, frame)
    again = fragment_bulk.import_dataframe(frame, client=client, batch_size=BATCH)
    _imported(sandbox, again, frame, status="unchanged")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_create_mode_lands_each_row_once_with_its_own_uid(sandbox, client, variant):
    frame = _frame()
    report = fragment_bulk.import_dataframe(frame, mode="create", client=client, batch_size=BATCH)
    _imported(sandbox, report, frame)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_batch_too_large_for_the_server_is_split_and_each_row_lands_once(sandbox, client, variant):
    sandbox.configure(max_batch=BATCH - 1)  # refused naming the size, in whatever error body
    frame = _frame()
    report = fragment_bulk.import_dataframe(frame, keys=["ref"], client=client, batch_size=BATCH, concurrency=1)
    _imported(sandbox, report, frame)


# -- import with keys, update, export, comments --------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_keyed_upsert_update_export_and_comments(sandbox, client, variant, tmp_path):
    frame = _frame()
    report = fragment_bulk.import_dataframe(frame, keys=["ref"], client=client, batch_size=BATCH)
    tasks = _imported(sandbox, report, frame)
    uids = {ref: task["uid"] for ref, task in tasks.items()}
    refs = list(frame["ref"])

    # Update: new status and country; the refused row has no task, so it fails alone. A server
    # whose PATCH replaces fields would delete title and priority: the update is refused first.
    statuses = ["STARTED" if n % 2 else "DONE" for n in range(ROWS)]
    changes = pd.DataFrame({"ref": refs, "status": statuses, "country": ["IT"] * ROWS})
    if variant == "patch_fields=replace":
        with pytest.raises(ProtocolError, match="replaces a task's fields"):
            fragment_bulk.update_dataframe(changes, keys=["ref"], client=client, batch_size=BATCH)
        assert {ref: task["fields"] for ref, task in _tasks_by_ref(sandbox).items()} == _sent_fields(frame)
        # An update of the status alone sends no fields: there it goes through, and deletes nothing.
        status_only = fragment_bulk.update_dataframe(changes.drop(columns="country"), keys=["ref"], ignore=["ref"],
                                                     client=client, batch_size=BATCH)
        _assert_outcomes(status_only, ["failed" if n == BAD else "updated" for n in range(ROWS)], uids, refs)
        after = _tasks_by_ref(sandbox)
        assert {ref: task["fields"] for ref, task in after.items()} == _sent_fields(frame)
        assert {ref: task["status"] for ref, task in after.items()} == {ref: statuses[refs.index(ref)] for ref in after}
        return
    updated = fragment_bulk.update_dataframe(changes, keys=["ref"], client=client, batch_size=BATCH)
    _assert_outcomes(updated, ["failed" if n == BAD else "updated" for n in range(ROWS)], uids, refs)
    after = _tasks_by_ref(sandbox)
    expected_fields = {ref: {**fields, "country": "IT"} for ref, fields in _sent_fields(frame).items()}
    assert {ref: task["fields"] for ref, task in after.items()} == expected_fields
    assert {ref: task["status"] for ref, task in after.items()} == {ref: statuses[refs.index(ref)] for ref in after}

    # Export, several pages: each task once, as the server holds it.
    export = fragment_bulk.export_file(tmp_path / "tasks.csv", client=client)
    exported = pd.read_csv(tmp_path / "tasks.csv", dtype=str, keep_default_na=False)
    assert export.rows == len(after) and export.pages >= 2
    assert sorted(exported["uid"]) == sorted(uids.values())
    frame_export = fragment_bulk.export_dataframe(client=client)
    assert sorted(zip(frame_export["uid"], frame_export["title"], frame_export["country"], frame_export["status"])) == sorted(
        (task["uid"], task["fields"]["title"], task["fields"]["country"], task["status"]) for task in after.values())

    # Comments: four on one task (two pages of them), one on another, one on the task that does not exist.
    comments = pd.DataFrame({"ref": ["r0"] * 4 + ["r1", f"r{BAD}"], "text": [f"note {n}" for n in range(6)]})
    posted = fragment_bulk.comment_dataframe(comments, keys=["ref"], client=client, checkpoint=tmp_path / "comments.ck")
    assert list(posted.results["_status"]) == ["created"] * 5 + ["failed"]
    on_server = {ref: sandbox.comments(uids[ref]) for ref in ("r0", "r1")}
    assert [[c["text"] for c in on_server[ref]] for ref in ("r0", "r1")] == [[f"note {n}" for n in range(4)], ["note 4"]]
    assert list(posted.results["_uid"])[:5] == [c["uid"] for ref in ("r0", "r1") for c in on_server[ref]]
    fragment_bulk.export_file(tmp_path / "comments.csv", comments=True, client=client)
    listed = pd.read_csv(tmp_path / "comments.csv", dtype=str, keep_default_na=False)
    assert sorted(zip(listed["task_uid"], listed["comment_uid"], listed["text"])) == sorted(
        (uids[ref], c["uid"], c["text"]) for ref in ("r0", "r1") for c in on_server[ref])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_an_exported_frame_goes_back_unchanged(sandbox, client, variant):
    frame = _frame().drop(index=BAD).assign(status=["TODO", "STARTED", "DONE"] * 2)
    fragment_bulk.import_dataframe(frame, keys=["ref"], client=client)
    before = sandbox.tasks()
    exported = fragment_bulk.export_dataframe(client=client)
    assert fragment_bulk.import_dataframe(exported, client=client).counts["unchanged"] == len(frame)
    if variant != "patch_fields=replace":  # there an update is refused (see above); the import is the way back
        assert fragment_bulk.update_dataframe(exported, client=client).counts["unchanged"] == len(frame)
    assert sandbox.tasks() == before


# -- single-task endpoints -------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_single_task_endpoints_and_a_second_delete(sandbox, client, variant):
    task = client.create_task({"fields": {"title": "one", "country": "FR"}})
    uid = task["uid"]
    assert client.get_task(uid)["fields"] == {"title": "one", "country": "FR"}
    assert client.put_task(uid, {"fields": {"title": "two", "country": "FR"}})["fields"]["title"] == "two"
    assert client.patch_task(uid, {"status": "DONE"})["status"] == "DONE"
    assert [found["uid"] for found in client.iter_tasks({"country": "FR"})] == [uid]
    client.delete_task(uid)
    try:
        client.delete_task(uid)  # gone either way: a 404, or a 200 that deletes nothing
    except NotFoundError:
        assert sandbox.config.second_delete == 404
    assert sandbox.tasks() == []
