"""The sandbox against the contract (fragment-api.md): endpoints, errors, semantics, limits, faults.

Most tests go through ``Sandbox.transport()`` (in-process, fast); the socket-level behaviours
(lost response, keep-alive concurrency, /_sandbox/ over HTTP) use a real loopback port.
"""

from __future__ import annotations

import ast
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from fragment_bulk.sandbox import Sandbox, SandboxConfig

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TASK_KEYS = {
    "uid", "status", "due_at", "done_at", "started_at", "created_at", "updated_at",
    "archived", "assignee_uid", "queue_uid", "parent_uid", "fields",
}


def make_sandbox(**settings: Any) -> Sandbox:
    return Sandbox(SandboxConfig(**{"token": TOKEN, "rate_per_min": None, **settings}))


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with make_sandbox() as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=sandbox.transport(), base_url=sandbox.base_url, headers=AUTH) as http:
        yield http


def task_body(title: str = "A task", **fields: Any) -> dict[str, Any]:
    return {"fields": {"title": title, **fields}}


def new_uid() -> str:
    return str(uuid.uuid4())


def put_many(client: httpx.Client, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PUT items in batches of 100; the tasks the sandbox answered."""
    answered = []
    for start in range(0, len(items), 100):
        response = client.put("/tasks/batch", json={"items": items[start : start + 100]})
        assert response.status_code == 200, response.text
        answered += response.json()["items"]
    return answered


def locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


# -- auth, routing -------------------------------------------------------------------------


def test_accounts_me(client: httpx.Client) -> None:
    response = client.get("/accounts/me")
    assert response.status_code == 200
    assert set(response.json()) == {"uid", "name", "email"}
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}])
def test_bad_or_missing_token_is_401(sandbox: Sandbox, headers: dict[str, str]) -> None:
    with httpx.Client(transport=sandbox.transport(), base_url=sandbox.base_url, headers=headers) as http:
        for path in ("/accounts/me", "/tasks"):
            response = http.get(path)
            assert response.status_code == 401
            assert isinstance(response.json()["detail"], str)
        assert http.get("http://sandbox.localhost/_sandbox/stats").status_code == 401


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert client.get("/nothing/here").status_code == 404
    assert client.get("http://sandbox.localhost/other").status_code == 404
    # "batch" is a route of its own, never taken for a uid
    assert client.get("/tasks/batch").status_code == 405
    assert client.delete("/tasks/batch").status_code == 405


@pytest.mark.parametrize("body", [
    b'{"fields": {"title": "t", "big": 1e400}}',  # read as Infinity: no answer holding it would be JSON
    b'{"fields": {"title": "t\\ud800"}}',  # half a character: no UTF-8 answer can carry it
    b'{"fields": {"title": "t", "n": ' + b"[" * 977 + b"]" * 977 + b"}}",  # the answers' encoder recurses
    b"[" * 5000 + b"]" * 5000,
], ids=["overflow", "lone-surrogate", "nested-977", "nested-5000"])
def test_a_body_that_would_poison_every_answer_holding_it_is_a_422(client: httpx.Client, sandbox: Sandbox, body: bytes) -> None:
    for path in ("/tasks", "/tasks/batch"):
        answer = client.post(path, content=body if path == "/tasks" else b'{"items": [' + body + b"]}")
        assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "json_invalid"
    assert sandbox.task_count() == 0
    fine = client.post("/tasks", json={"fields": {"title": "[" * 500, "emoji": "\U0001F600", "n": [[[[1]]]], "x": 1e300}})
    assert fine.status_code == 200 and client.get("/tasks", params={"emoji": "\U0001F600"}).json()["items"]


def test_odd_queries_and_methods_get_the_apis_own_errors(sandbox: Sandbox, client: httpx.Client) -> None:
    import base64
    cursor = base64.urlsafe_b64encode(b'["created_at", "after", "2026-01-01T00:00:00.000000Z", 1000000000000000000000000000000]')
    assert client.get("/tasks", params={"cursor": cursor.decode()}).status_code == 422
    assert client.get("/tasks", params={"a\x00b": "1"}).status_code == 422
    with sandbox.serve() as server:
        for method in ("HEAD", "OPTIONS"):
            answer = httpx.request(method, f"{server.url}/tasks", headers=AUTH)
            assert answer.status_code == 405 and "GET" in answer.headers["allow"]
            assert answer.headers["content-type"] == "application/json"
        # Counting a batch's items for the limit must not break on a body the handler refuses.
        sandbox.configure(rate_per_min=600, rate_cost="item")
        deep = httpx.post(f"{server.url}/tasks/batch", content=b'{"items": ' + b"[" * 3000 + b"]" * 3000 + b"}",
                          headers=AUTH)
        assert deep.status_code == 422


def test_strict_headers_block_what_the_contract_says_may_be_blocked() -> None:
    with make_sandbox(headers="strict") as sb, httpx.Client(transport=sb.transport(), base_url=sb.base_url) as http:
        quickstart = {**AUTH, "Content-Type": "application/json", "User-Agent": "quickstart/1.0"}
        assert http.post("/tasks", json=task_body(), headers=quickstart).status_code == 200
        for agent in ("", "python-requests/2.32.3", "python-httpx/0.28.1"):
            assert http.get("/tasks", headers={**quickstart, "User-Agent": agent}).status_code == 403
        plain = http.post("/tasks", content=b'{"fields": {"title": "t"}}', headers={**quickstart, "Content-Type": "text/plain"})
        assert plain.status_code == 415 and sb.task_count() == 1
    with make_sandbox() as sb, httpx.Client(transport=sb.transport(), base_url=sb.base_url) as http:  # lax: the default
        assert http.post("/tasks", content=b'{"fields": {"title": "t"}}', headers={**AUTH, "User-Agent": ""}).status_code == 200


# -- single task endpoints -----------------------------------------------------------------


def test_create_defaults_and_shape(client: httpx.Client) -> None:
    before = datetime.now(timezone.utc)
    response = client.post("/tasks", json={**task_body(country="FR"), "assignee_email": "a@b.c", "surprise": 1})
    assert response.status_code == 200
    task = response.json()
    assert set(task) == TASK_KEYS  # assignee_email is write-only; unknown keys ignored
    assert uuid.UUID(task["uid"]).version == 4
    assert task["status"] == "TODO" and task["archived"] is False
    assert task["done_at"] is None and task["started_at"] is None
    assert before <= parse(task["due_at"]) <= datetime.now(timezone.utc)
    assert task["created_at"] == task["updated_at"]
    assert task["created_at"].endswith("Z")
    # POST is not idempotent: the same body twice makes two tasks
    assert client.post("/tasks", json=task_body(country="FR")).json()["uid"] != task["uid"]


def test_get_accepts_any_32_hex_uid_form(client: httpx.Client) -> None:
    raw = "0CC175B9C0F1B6A831C399E269772661"  # md5("a"): no valid version bits
    canonical = str(uuid.UUID(raw))
    assert client.put(f"/tasks/{raw}", json=task_body()).json()["uid"] == canonical
    assert client.get(f"/tasks/{canonical.upper()}").json()["uid"] == canonical
    assert client.get(f"/tasks/{raw.lower()}").status_code == 200


def test_unknown_and_malformed_uid(client: httpx.Client) -> None:
    unknown = new_uid()
    assert client.get(f"/tasks/{unknown}").status_code == 404
    assert client.patch(f"/tasks/{unknown}", json={"status": "DONE"}).status_code == 404
    assert client.delete(f"/tasks/{unknown}").status_code == 404
    assert client.post(f"/tasks/{unknown}/comments", json={"text": "x"}).status_code == 404
    for bad in ("123", "0cc175b9-c0f1b6a8-31c399e269772661", "g" * 32):
        assert locs(client.get(f"/tasks/{bad}")) == [["path", "uid"]]


def test_delete_then_second_delete_is_404(client: httpx.Client, sandbox: Sandbox) -> None:
    uid = client.post("/tasks", json=task_body()).json()["uid"]
    client.post(f"/tasks/{uid}/comments", json={"text": "bye"})
    response = client.delete(f"/tasks/{uid}")
    assert response.status_code == 200 and response.json()["uid"] == uid
    assert client.delete(f"/tasks/{uid}").status_code == 404
    assert client.get(f"/tasks/{uid}").status_code == 404
    assert sandbox.task_count() == 0 and sandbox.comments(uid) == []


def test_identical_put_changes_nothing(client: httpx.Client, sandbox: Sandbox) -> None:
    uid = new_uid()
    body = {**task_body(country="FR", n=1), "due_at": "2025-09-11T12:00:00.000Z"}
    first = client.put(f"/tasks/{uid}", json=body).json()
    writes = sandbox.stats()["writes"]
    # same content, keys in another order: still identical
    again = client.put(f"/tasks/{uid}", json={"due_at": "2025-09-11T12:00:00Z", "fields": {"n": 1, "country": "FR", "title": "A task"}})
    assert again.json() == first
    assert sandbox.task(uid) == first
    changed = client.put(f"/tasks/{uid}", json={**body, "fields": {"title": "A task", "country": "DE"}}).json()
    assert parse(changed["updated_at"]) > parse(first["updated_at"])
    assert changed["created_at"] == first["created_at"]
    assert changed["fields"] == {"title": "A task", "country": "DE"}  # PUT replaces fields wholly
    assert sandbox.stats()["writes"] == writes + 2  # identical PUTs still count as write requests
    assert sandbox.task_count() == 1


def test_put_keeps_native_fields_it_does_not_give(client: httpx.Client) -> None:
    uid = new_uid()
    client.put(f"/tasks/{uid}", json={**task_body(), "status": "STARTED", "archived": True})
    task = client.put(f"/tasks/{uid}", json=task_body("Renamed")).json()
    assert task["status"] == "STARTED" and task["archived"] is True
    assert task["fields"] == {"title": "Renamed"}


def test_put_body_uid_must_match_path(client: httpx.Client) -> None:
    assert locs(client.put(f"/tasks/{new_uid()}", json={**task_body(), "uid": new_uid()})) == [["body", "uid"]]


def test_patch_merges_fields(client: httpx.Client) -> None:
    uid = client.post("/tasks", json=task_body(country="FR", city="Paris", n=1)).json()["uid"]
    task = client.patch(f"/tasks/{uid}", json={"fields": {"city": "Lyon", "n": None, "new": [1, 2]}}).json()
    assert task["fields"] == {"title": "A task", "country": "FR", "city": "Lyon", "n": None, "new": [1, 2]}
    same = client.patch(f"/tasks/{uid}", json={"fields": {"city": "Lyon"}}).json()
    assert same["updated_at"] == task["updated_at"]  # a PATCH that changes nothing keeps updated_at
    assert locs(client.patch(f"/tasks/{uid}", json={"fields": {"title": ""}})) == [["body", "fields", "title"]]
    assert locs(client.patch(f"/tasks/{uid}", json={"fields": {"title": None}})) == [["body", "fields", "title"]]


def test_status_timestamps(client: httpx.Client) -> None:
    uid = client.post("/tasks", json=task_body()).json()["uid"]
    started = client.patch(f"/tasks/{uid}", json={"status": "STARTED"}).json()
    assert started["started_at"] == started["updated_at"] and started["done_at"] is None
    done = client.patch(f"/tasks/{uid}", json={"status": "DONE"}).json()
    assert done["done_at"] == done["updated_at"] and done["started_at"] == started["started_at"]
    reopened = client.patch(f"/tasks/{uid}", json={"status": "TODO"}).json()
    assert reopened["done_at"] is None and reopened["started_at"] is None
    created_done = client.post("/tasks", json={**task_body(), "status": "DONE"}).json()
    assert created_done["done_at"] == created_done["created_at"]


def test_dates_in_both_iso_forms_are_stored_as_utc(client: httpx.Client) -> None:
    a = client.post("/tasks", json={**task_body(), "due_at": "2025-09-11T12:00:00.000Z"}).json()
    b = client.post("/tasks", json={**task_body(), "due_at": "2023-07-28T05:39:51.140537+02:00"}).json()
    assert a["due_at"] == "2025-09-11T12:00:00.000000Z"
    assert b["due_at"] == "2023-07-28T03:39:51.140537Z"
    early = client.post("/tasks", json={**task_body(), "due_at": "0099-01-01T00:00:00Z"}).json()
    assert early["due_at"] == "0099-01-01T00:00:00.000000Z"  # fixed width, so it sorts as text


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"fields": {}}, ["body", "fields", "title"]),
        ({}, ["body", "fields"]),
        ({"fields": {"title": "   "}}, ["body", "fields", "title"]),
        ({"fields": {"title": 5}}, ["body", "fields", "title"]),
        ({"fields": {"title": "t", "url": 5}}, ["body", "fields", "url"]),
        ({"fields": "title"}, ["body", "fields"]),
        ({**task_body(), "status": "done"}, ["body", "status"]),
        ({**task_body(), "due_at": "2025-09-11T12:00:00"}, ["body", "due_at"]),
        ({**task_body(), "due_at": "next tuesday"}, ["body", "due_at"]),
        ({**task_body(), "due_at": 1757592000}, ["body", "due_at"]),
        ({**task_body(), "due_at": "0001-01-01T00:00:00+01:00"}, ["body", "due_at"]),  # year 0 in UTC
        ({**task_body(), "archived": "yes"}, ["body", "archived"]),
        ({**task_body(), "queue_uid": "q-1"}, ["body", "queue_uid"]),
        ([task_body()], ["body"]),
    ],
)
def test_invalid_task_bodies_are_422_with_loc(client: httpx.Client, sandbox: Sandbox, body: Any, loc: list[Any]) -> None:
    assert locs(client.post("/tasks", json=body)) == [loc]
    assert sandbox.task_count() == 0


def test_a_date_repeated_in_a_batch_is_judged_at_each_item(client: httpx.Client, sandbox: Sandbox) -> None:
    """(Each distinct date text is parsed once a batch and more: its verdict must still land on
    every item that holds it.)"""
    bad = [{**task_body(f"t{i}"), "uid": new_uid(), "due_at": "2025-09-11T12:00:00"} for i in range(3)]
    assert locs(client.put("/tasks/batch", json={"items": bad})) == [["body", "items", i, "due_at"] for i in range(3)]
    good = [{**task_body(f"t{i}"), "uid": new_uid(), "due_at": "2025-09-11T14:00:00+02:00"} for i in range(3)]
    answered = client.put("/tasks/batch", json={"items": good}).json()["items"]
    assert [task["due_at"] for task in answered] == ["2025-09-11T12:00:00.000000Z"] * 3
    assert sandbox.task_count() == 3


def test_invalid_json_is_422(client: httpx.Client) -> None:
    for content in (b"{not json", b"", b'{"fields": {"title": NaN}}'):
        assert locs(client.post("/tasks", content=content)) == [["body"]]


# -- batches -------------------------------------------------------------------------------


def test_batches_answer_in_request_order(client: httpx.Client, sandbox: Sandbox) -> None:
    created = client.post("/tasks/batch", json={"items": [task_body(f"t{i}") for i in range(5)]}).json()["items"]
    assert [t["fields"]["title"] for t in created] == [f"t{i}" for i in range(5)]
    uids = [new_uid() for _ in range(3)]
    put = put_many(client, [{"uid": u, **task_body(f"p{i}")} for i, u in enumerate(uids)])
    assert [t["uid"] for t in put] == uids
    patched = client.patch("/tasks/batch", json={"items": [{"uid": u, "status": "DONE"} for u in reversed(uids)]})
    assert [t["uid"] for t in patched.json()["items"]] == list(reversed(uids))
    assert all(t["status"] == "DONE" for t in patched.json()["items"])
    assert sandbox.task_count() == 8


def test_batch_repeating_a_uid_applies_items_in_order(client: httpx.Client, sandbox: Sandbox) -> None:
    uid = new_uid()
    answered = put_many(client, [{"uid": uid, **task_body("first")}, {"uid": uid, **task_body("second")}])
    assert [t["fields"]["title"] for t in answered] == ["first", "second"]
    assert sandbox.task(uid)["fields"]["title"] == "second"


def test_batch_is_all_or_nothing(client: httpx.Client, sandbox: Sandbox) -> None:
    items = [{"uid": new_uid(), **task_body(f"t{i}")} for i in range(100)]
    items[37]["fields"]["title"] = ""
    items[80]["status"] = "FINISHED"
    items[91]["uid"] = "not-a-uid"
    response = client.put("/tasks/batch", json={"items": items})
    assert locs(response) == [["body", "items", 37, "fields", "title"], ["body", "items", 80, "status"], ["body", "items", 91, "uid"]]
    assert sandbox.task_count() == 0
    assert sandbox.stats()["writes"] == 0


def test_put_and_patch_batch_items_need_a_uid(client: httpx.Client) -> None:
    assert locs(client.put("/tasks/batch", json={"items": [task_body()]})) == [["body", "items", 0, "uid"]]
    assert locs(client.patch("/tasks/batch", json={"items": [{"status": "DONE"}]})) == [["body", "items", 0, "uid"]]


def test_patch_batch_with_unknown_uid_names_the_item_and_writes_nothing(client: httpx.Client, sandbox: Sandbox) -> None:
    known = put_many(client, [{"uid": new_uid(), **task_body()} for _ in range(3)])
    items = [{"uid": t["uid"], "status": "DONE"} for t in known]
    items.insert(1, {"uid": new_uid(), "status": "DONE"})
    response = client.patch("/tasks/batch", json={"items": items})
    assert locs(response) == [["body", "items", 1, "uid"]]
    assert response.json()["detail"][0]["msg"] == "task not found"
    assert all(t["status"] == "TODO" for t in sandbox.tasks())


def test_batch_body_shape(client: httpx.Client) -> None:
    assert locs(client.post("/tasks/batch", json={"tasks": []})) == [["body", "items"]]
    assert locs(client.post("/tasks/batch", json={"items": ["x"]})) == [["body", "items", 0]]
    assert client.post("/tasks/batch", json={"items": []}).json() == {"items": []}


def test_oversize_batch_is_422_naming_the_size(client: httpx.Client, sandbox: Sandbox) -> None:
    response = client.post("/tasks/batch", json={"items": [task_body() for _ in range(101)]})
    assert locs(response) == [["body", "items"]]
    assert "at most 100 items per batch" in response.json()["detail"][0]["msg"]
    sandbox.configure(oversize_status=413, max_batch=10)
    response = client.post("/tasks/batch", json={"items": [task_body() for _ in range(11)]})
    assert response.status_code == 413
    assert "at most 10 items" in response.json()["detail"]
    assert sandbox.task_count() == 0


# -- search and pagination -----------------------------------------------------------------


def collect(client: httpx.Client, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Every item of a search by following next_cursor; and the number of pages."""
    items: list[dict[str, Any]] = []
    pages, cursor = 0, None
    while True:
        response = client.get("/tasks", params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        pages += 1
        cursor = page["meta"]["next_cursor"]
        if cursor is None or not page["items"]:
            return items, pages


@pytest.fixture
def many(client: httpx.Client) -> list[dict[str, Any]]:
    countries = ["FR", "DE", "US"]
    return put_many(client, [{"uid": new_uid(), **task_body(f"t{i}", country=countries[i % 3], i=i)} for i in range(1200)])


def test_pagination_yields_each_match_exactly_once(client: httpx.Client, many: list[dict[str, Any]]) -> None:
    expected = [t["uid"] for t in many if t["fields"]["country"] == "FR"]
    items, pages = collect(client, {"country": "FR", "limit": 100})
    assert [t["uid"] for t in items] == expected  # creation order, no duplicates, none missing
    assert pages == 4
    descending, _ = collect(client, {"country": "FR", "limit": 100, "order_by": "-created_at"})
    assert [t["uid"] for t in descending] == expected[::-1]
    everything, pages = collect(client, {})
    assert len({t["uid"] for t in everything}) == 1200 and pages == 24  # default limit 50


def test_page_meta_and_prev_cursor(client: httpx.Client, many: list[dict[str, Any]]) -> None:
    first = client.get("/tasks", params={"country": "DE", "limit": 100}).json()
    meta = first["meta"]
    assert meta["limit"] == 100 and meta["total_count"] == 400 and meta["prev_cursor"] is None
    second = client.get("/tasks", params={"country": "DE", "limit": 100, "cursor": meta["next_cursor"]}).json()
    back = client.get("/tasks", params={"country": "DE", "limit": 100, "cursor": second["meta"]["prev_cursor"]}).json()
    assert back["items"] == first["items"]
    again = client.get("/tasks", params={"country": "DE", "limit": 100, "cursor": second["meta"]["self_cursor"]}).json()
    assert again["items"] == second["items"]


def test_pagination_with_inserts_between_pages(client: httpx.Client, many: list[dict[str, Any]]) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = client.get("/tasks", params={"country": "US", "limit": 100, **({"cursor": cursor} if cursor else {})}).json()
        seen += [t["uid"] for t in page["items"]]
        client.post("/tasks", json=task_body(country="US"))  # lands after every cursor
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 400


def test_empty_and_single_page(client: httpx.Client, many: list[dict[str, Any]]) -> None:
    empty = client.get("/tasks", params={"country": "XX"}).json()
    assert empty["items"] == [] and empty["meta"]["next_cursor"] is None and empty["meta"]["total_count"] == 0
    single = client.get("/tasks", params={"i": "7", "limit": 100}).json()
    assert [t["fields"]["i"] for t in single["items"]] == [7]
    assert single["meta"]["next_cursor"] is None


def test_bad_paging_params_are_422(client: httpx.Client) -> None:
    assert locs(client.get("/tasks", params={"limit": 101})) == [["query", "limit"]]
    assert locs(client.get("/tasks", params={"limit": 0})) == [["query", "limit"]]
    assert locs(client.get("/tasks", params={"limit": "ten"})) == [["query", "limit"]]
    assert locs(client.get("/tasks", params={"cursor": "garbage!"})) == [["query", "cursor"]]
    assert locs(client.get("/tasks", params={"order_by": "title"})) == [["query", "order_by"]]
    client.post("/tasks/batch", json={"items": [task_body()] * 3})
    cursor = client.get("/tasks", params={"limit": 1}).json()["meta"]["next_cursor"]
    assert locs(client.get("/tasks", params={"cursor": cursor, "order_by": "-created_at"})) == [["query", "cursor"]]


def test_custom_filters_compare_json_text(client: httpx.Client) -> None:
    values = ["123", 123, True, None, 1.5, "FR", {"a": 1}]
    uids = [client.post("/tasks", json=task_body(v=value, other="x")).json()["uid"] for value in values]

    def found(**params: str) -> list[str]:
        return [t["uid"] for t in client.get("/tasks", params=params).json()["items"]]

    assert found(v="123") == uids[:2]  # the string "123" and the number 123
    assert found(v="true") == [uids[2]]
    assert found(v="null") == [uids[3]]
    assert found(v="1.5") == [uids[4]]
    assert found(v='{"a":1}') == [uids[6]]
    assert found(v="FR", other="x") == [uids[5]]  # AND-combined
    assert found(v="FR", other="y") == []
    assert found(missing="x") == []


def test_native_filters_and_ordering(client: httpx.Client) -> None:
    queue = new_uid()
    a = client.post("/tasks", json={**task_body("a"), "queue_uid": queue, "archived": True}).json()
    b = client.post("/tasks", json={**task_body("b"), "status": "DONE"}).json()
    c = client.post("/tasks", json=task_body("c")).json()
    touched = client.patch(f"/tasks/{a['uid']}", json={"fields": {"touched": True}}).json()

    def titles(**params: str) -> list[str]:
        response = client.get("/tasks", params=params)
        assert response.status_code == 200, response.text
        return [t["fields"]["title"] for t in response.json()["items"]]

    assert titles(status="DONE") == ["b"]
    assert titles(queue_uid=queue.upper()) == ["a"]
    assert titles(archived="true") == ["a"] and titles(archived="false") == ["b", "c"]
    assert titles(created_at_after=b["created_at"]) == ["c"]
    assert titles(updated_at_after=c["updated_at"]) == ["a"]
    assert titles(updated_at_after=touched["updated_at"]) == []
    assert titles(order_by="updated_at") == ["b", "c", "a"]
    assert titles(order_by="-updated_at") == ["a", "c", "b"]
    assert locs(client.get("/tasks", params={"status": "OPEN"})) == [["query", "status"]]
    assert locs(client.get("/tasks", params={"created_at_after": "2025-01-01"})) == [["query", "created_at_after"]]


# -- comments ------------------------------------------------------------------------------


def test_comments(client: httpx.Client, sandbox: Sandbox) -> None:
    uid = client.post("/tasks", json=task_body()).json()["uid"]
    posted = [client.post(f"/tasks/{uid}/comments", json={"text": f"c{i}"}).json() for i in range(7)]
    assert set(posted[0]) == {"uid", "task_uid", "text", "created_at"} and posted[0]["task_uid"] == uid
    first = client.get(f"/tasks/{uid}/comments", params={"limit": 5}).json()
    rest = client.get(f"/tasks/{uid}/comments", params={"limit": 5, "cursor": first["meta"]["next_cursor"]}).json()
    assert first["items"] + rest["items"] == posted
    assert rest["meta"]["next_cursor"] is None and first["meta"]["total_count"] == 7
    assert sandbox.comments(uid) == posted
    assert locs(client.post(f"/tasks/{uid}/comments", json={"text": ""})) == [["body", "text"]]
    assert client.get(f"/tasks/{new_uid()}/comments").status_code == 404


# -- the contract's assumed points, one switch each ------------------------------------------
# Each test turns one switch with configure() (as PATCH /_sandbox/config does) and asserts what only
# the switched sandbox does, so it fails if the switch is ignored.

SWITCHED = {
    "batch_order": "reversed", "page_envelope": "flat", "error_body": "text", "patch_fields": "replace",
    "unknown_keys": "reject", "batch_failure": "write_valid", "stamp_started": False, "second_delete": 200,
}
CONTRACT_READING = {
    "batch_order": "request", "page_envelope": "meta", "error_body": "fastapi", "patch_fields": "merge",
    "unknown_keys": "ignore", "batch_failure": "all_or_nothing", "stamp_started": True, "second_delete": 404,
}


def test_batch_order_reversed_answers_post_and_put_backwards_and_patch_in_order(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure(batch_order="reversed")
    created = client.post("/tasks/batch", json={"items": [task_body(f"t{i}") for i in range(3)]}).json()["items"]
    assert [t["fields"]["title"] for t in created] == ["t2", "t1", "t0"]
    assert [t["fields"]["title"] for t in sandbox.tasks()] == ["t0", "t1", "t2"]  # still written in request order
    uids = [new_uid() for _ in range(3)]
    put = client.put("/tasks/batch", json={"items": [{"uid": u, **task_body()} for u in uids]}).json()["items"]
    assert [t["uid"] for t in put] == uids[::-1]
    patched = client.patch("/tasks/batch", json={"items": [{"uid": u, "status": "DONE"} for u in uids]}).json()["items"]
    assert [t["uid"] for t in patched] == uids  # PATCH's order is known: the request's


@pytest.mark.parametrize("envelope", ["flat", "no_total"])
def test_page_envelope_of_tasks_and_comments(client: httpx.Client, sandbox: Sandbox, envelope: str) -> None:
    uid = client.post("/tasks", json=task_body()).json()["uid"]
    client.post("/tasks/batch", json={"items": [task_body("b"), task_body("c")]})
    for n in range(3):
        client.post(f"/tasks/{uid}/comments", json={"text": f"c{n}"})
    sandbox.configure(page_envelope=envelope)
    for path in ("/tasks", f"/tasks/{uid}/comments"):
        first = client.get(path, params={"limit": 2}).json()
        if envelope == "flat":
            assert set(first) == {"items", "next_cursor", "total_count"} and first["total_count"] == 3
            cursor = first["next_cursor"]
        else:
            assert set(first) == {"items", "meta"} and set(first["meta"]) == {"limit", "self_cursor", "prev_cursor", "next_cursor"}
            cursor = first["meta"]["next_cursor"]
        rest = client.get(path, params={"limit": 2, "cursor": cursor}).json()
        assert len(first["items"]) == 2 and len(rest["items"]) == 1
        assert (rest["next_cursor"] if envelope == "flat" else rest["meta"]["next_cursor"]) is None


@pytest.mark.parametrize("style", ["message", "text"])
def test_error_body_styles_name_a_bad_item_only_in_their_text(client: httpx.Client, sandbox: Sandbox, style: str) -> None:
    sandbox.configure(error_body=style)
    items = [{"uid": new_uid(), **task_body()} for _ in range(5)]
    items[3]["fields"]["title"] = ""
    answers = {
        "items[3].fields.title: title must be a non-empty string": client.put("/tasks/batch", json={"items": items}),
        "query.limit: limit must be an integer from 1 to 100": client.get("/tasks", params={"limit": 0}),
        "Task not found": client.get(f"/tasks/{new_uid()}"),
        "Invalid token": client.get("/accounts/me", headers={"Authorization": "Bearer wrong"}),
    }
    assert [response.status_code for response in answers.values()] == [422, 422, 404, 401]
    for text, response in answers.items():
        if style == "message":
            assert response.headers["content-type"] == "application/json" and response.json() == {"message": text}
        else:
            assert response.headers["content-type"] == "text/plain; charset=utf-8" and response.text == text
    assert sandbox.task_count() == 0
    # The sandbox's own paths keep FastAPI's shape, for the tools that drive them.
    assert isinstance(client.patch("http://sandbox.localhost/_sandbox/config", json={"burst": 0}).json()["detail"], str)


def test_patch_fields_replace_drops_the_fields_a_patch_does_not_send(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure(patch_fields="replace")
    uid = client.post("/tasks", json=task_body(country="FR", n=1)).json()["uid"]
    task = client.patch(f"/tasks/{uid}", json={"fields": {"title": "B", "city": "Lyon"}}).json()
    assert task["fields"] == {"title": "B", "city": "Lyon"}
    [batch] = client.patch("/tasks/batch", json={"items": [{"uid": uid, "fields": {"city": "Nice"}}]}).json()["items"]
    assert batch["fields"] == {"city": "Nice"}  # the title too: only what was sent is left
    assert client.patch(f"/tasks/{uid}", json={"status": "DONE"}).json()["fields"] == {"city": "Nice"}  # no fields: kept


def test_unknown_keys_reject_names_the_key(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure(unknown_keys="reject")
    assert locs(client.post("/tasks", json={**task_body(), "surprise": 1})) == [["body", "surprise"]]
    items = [{"uid": new_uid(), **task_body()}, {"uid": new_uid(), **task_body(), "colour": "red"}]
    assert locs(client.put("/tasks/batch", json={"items": items})) == [["body", "items", 1, "colour"]]
    assert sandbox.task_count() == 0
    # Every key the contract names is known, the read-only ones too: a task read back goes back as it is.
    task = client.post("/tasks", json={**task_body(custom_key=1), "assignee_email": "a@b.c"}).json()
    assert client.put(f"/tasks/{task['uid']}", json=task).status_code == 200
    assert client.patch(f"/tasks/{task['uid']}", json={"status": "DONE", "extra": True}).status_code == 422


def test_batch_failure_write_valid_writes_the_good_items_then_names_the_bad(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure(batch_failure="write_valid")
    items = [{"uid": new_uid(), **task_body(f"t{i}")} for i in range(4)]
    items[1]["fields"]["title"] = ""
    assert locs(client.put("/tasks/batch", json={"items": items})) == [["body", "items", 1, "fields", "title"]]
    assert [t["uid"] for t in sandbox.tasks()] == [items[i]["uid"] for i in (0, 2, 3)]
    assert locs(client.post("/tasks/batch", json={"items": [task_body("new"), {"fields": {}}]})) == [["body", "items", 1, "fields", "title"]]
    assert sandbox.task_count() == 4
    # PATCH: an unknown task is a bad item like an invalid one, named by its index in the request.
    patch = [{"uid": items[2]["uid"], "status": "BAD"}, {"uid": items[0]["uid"], "status": "DONE"},
             {"uid": new_uid(), "status": "DONE"}, {"uid": items[3]["uid"], "status": "DONE"}]
    assert locs(client.patch("/tasks/batch", json={"items": patch})) == [["body", "items", 0, "status"], ["body", "items", 2, "uid"]]
    status = {t["uid"]: t["status"] for t in sandbox.tasks()}
    assert [status[items[i]["uid"]] for i in (0, 2, 3)] == ["DONE", "TODO", "DONE"]


def test_stamp_started_off_never_sets_started_at(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure(stamp_started=False)
    created = client.post("/tasks", json={**task_body(), "status": "STARTED"}).json()
    assert created["status"] == "STARTED" and created["started_at"] is None
    uid = client.post("/tasks", json=task_body()).json()["uid"]
    assert client.patch(f"/tasks/{uid}", json={"status": "STARTED"}).json()["started_at"] is None
    done = client.patch(f"/tasks/{uid}", json={"status": "DONE"}).json()
    assert done["started_at"] is None and done["done_at"] == done["updated_at"]  # done_at is known, not switched


def test_second_delete_200_answers_an_empty_object(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.configure(second_delete=200)
    uid = client.post("/tasks", json=task_body()).json()["uid"]
    assert client.delete(f"/tasks/{uid}").json()["uid"] == uid
    for missing in (uid, new_uid()):
        response = client.delete(f"/tasks/{missing}")
        assert response.status_code == 200 and response.json() == {}
    assert client.get(f"/tasks/{uid}").status_code == 404  # only DELETE changes
    assert sandbox.task_count() == 0


def test_the_switches_default_to_the_contracts_reading_and_change_over_http(sandbox: Sandbox, client: httpx.Client) -> None:
    assert {name: getattr(SandboxConfig(), name) for name in SWITCHED} == CONTRACT_READING
    response = client.patch("http://sandbox.localhost/_sandbox/config", json=SWITCHED)
    assert response.status_code == 200 and {name: response.json()[name] for name in SWITCHED} == SWITCHED
    assert {name: getattr(sandbox.config, name) for name in SWITCHED} == SWITCHED


@pytest.mark.parametrize(("name", "value"), [
    ("batch_order", "random"), ("page_envelope", "hal"), ("error_body", "xml"), ("patch_fields", "deep"),
    ("unknown_keys", "warn"), ("batch_failure", "partial"), ("stamp_started", "yes"), ("stamp_started", 1),
    ("second_delete", "200"), ("second_delete", 204), ("second_delete", 404.0), ("oversize_status", True),
])
def test_a_switch_refuses_a_value_it_does_not_know(sandbox: Sandbox, name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        sandbox.configure(**{name: value})
    with pytest.raises(ValueError, match=name):
        SandboxConfig(**{name: value})


def test_the_sandbox_command_passes_every_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import fragment_bulk.sandbox
    from fragment_bulk.cli import main

    configs: list[SandboxConfig] = []
    monkeypatch.setattr(fragment_bulk.sandbox, "run_server", lambda config, host, port, announce: configs.append(config))
    flags = ["--batch-order", "reversed", "--page-envelope", "flat", "--error-body", "text", "--patch-fields", "replace",
             "--unknown-keys", "reject", "--batch-failure", "write_valid", "--no-stamp-started", "--second-delete", "200"]
    for args in ([], flags):
        result = CliRunner().invoke(main, ["sandbox", *args])
        assert result.exit_code == 0, result.output
    default, switched = ({name: getattr(config, name) for name in SWITCHED} for config in configs)
    assert default == CONTRACT_READING and switched == SWITCHED


# -- storage -------------------------------------------------------------------------------


def test_file_database_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite"
    with make_sandbox(db_path=db) as first:
        with httpx.Client(transport=first.transport(), base_url=first.base_url, headers=AUTH) as http:
            task = http.post("/tasks", json=task_body(country="FR")).json()
            http.post(f"/tasks/{task['uid']}/comments", json={"text": "kept"})
    with make_sandbox(db_path=db) as second:
        assert second.tasks() == [task]
        assert [c["text"] for c in second.comments(task["uid"])] == ["kept"]
        with httpx.Client(transport=second.transport(), base_url=second.base_url, headers=AUTH) as http:
            later = http.patch(f"/tasks/{task['uid']}", json={"status": "DONE"}).json()
        assert parse(later["updated_at"]) > parse(task["updated_at"])


def test_reset_and_configure(sandbox: Sandbox, client: httpx.Client) -> None:
    client.post("/tasks", json=task_body())
    sandbox.reset()
    assert sandbox.tasks() == [] and sandbox.stats()["requests"] == 0
    with pytest.raises(ValueError, match="unknown"):
        sandbox.configure(fault_everything=1.0)
    with pytest.raises(ValueError, match="db_path"):
        sandbox.configure(db_path="/tmp/elsewhere.sqlite")
    with pytest.raises(ValueError, match="fault_5xx"):
        sandbox.configure(fault_5xx=2)
    with pytest.raises(ValueError):
        SandboxConfig(retry_after="sometimes")


# -- rate limit ----------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "header"), [("header", "1"), ("none", None), ("zero", "0")])
def test_rate_limit_429_and_retry_after_modes(mode: str, header: str | None) -> None:
    with make_sandbox(rate_per_min=60.0, burst=10, retry_after=mode) as sb, httpx.Client(
        transport=sb.transport(), base_url=sb.base_url, headers=AUTH
    ) as http:
        statuses = [http.get("/accounts/me").status_code for _ in range(10)]
        assert statuses == [200] * 10
        limited = http.post("/tasks", json=task_body())
        assert limited.status_code == 429
        assert limited.json() == {"detail": "Too Many Requests"}
        assert limited.headers.get("Retry-After") == header
        if mode == "header":
            assert int(limited.headers["Retry-After"]) >= 1
        assert sb.task_count() == 0  # a limited request never writes
        assert sb.stats()["by_status"] == {200: 10, 429: 1}
        # inspection paths are never limited
        assert http.get("http://sandbox.localhost/_sandbox/stats").status_code == 200


def test_rate_limit_refills_and_batches_cost_one() -> None:
    # 2 tokens a second: the first three requests fit well within the half second a token takes
    # to come back, however loaded the machine (at 100 a second, a slow batch let one back in).
    with make_sandbox(rate_per_min=120.0, burst=2) as sb, httpx.Client(
        transport=sb.transport(), base_url=sb.base_url, headers=AUTH
    ) as http:
        batch = {"items": [{"uid": new_uid(), **task_body()} for _ in range(100)]}
        assert http.put("/tasks/batch", json=batch).status_code == 200
        assert http.get("/accounts/me").status_code == 200
        assert http.get("/accounts/me").status_code == 429
        time.sleep(0.6)
        assert http.get("/accounts/me").status_code == 200


# -- faults --------------------------------------------------------------------------------


def fault_run(seed: int) -> tuple[list[int], int]:
    with make_sandbox(fault_5xx=0.3, seed=seed) as sb, httpx.Client(
        transport=sb.transport(), base_url=sb.base_url, headers=AUTH
    ) as http:
        statuses = [http.post("/tasks", json=task_body()).status_code for _ in range(60)]
        return statuses, sb.task_count()


def test_5xx_faults_are_reproducible_and_never_write() -> None:
    statuses, count = fault_run(seed=7)
    assert fault_run(seed=7) == (statuses, count)
    assert fault_run(seed=8)[0] != statuses
    assert {500, 503} <= set(statuses) and 200 in statuses
    assert count == statuses.count(200)


def test_lost_response_in_process_commits_then_raises(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.configure(fault_lost=1.0)
    uid = new_uid()
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        client.put(f"/tasks/{uid}", json=task_body())
    assert sandbox.task(uid) is not None
    assert client.get(f"/tasks/{uid}").status_code == 200  # reads are never lost
    assert sandbox.stats()["faults"] == {"5xx": 0, "lost": 1}


def test_lost_response_on_a_real_socket(sandbox: Sandbox) -> None:
    sandbox.configure(fault_lost=1.0)
    uid = new_uid()
    with sandbox.serve(port=0) as server, httpx.Client(base_url=server.url, headers=AUTH) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.put(f"/tasks/{uid}", json=task_body())
        assert sandbox.task(uid) is not None
        # raw socket: the connection closes without a single byte of response
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            body = b'{"fields": {"title": "raw"}}'
            raw.sendall(
                b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            assert raw.recv(1024) == b""
        sandbox.configure(fault_lost=0.0)
        assert http.get(f"/tasks/{uid}").status_code == 200  # the server keeps serving
    assert sandbox.task_count() == 2


def test_added_latency(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.configure(latency_ms=(30, 30))
    started = time.perf_counter()
    client.get("/accounts/me")
    assert time.perf_counter() - started >= 0.03


# -- real socket ---------------------------------------------------------------------------


def test_sixteen_concurrent_connections(sandbox: Sandbox) -> None:
    errors: list[BaseException] = []
    per_thread = 5

    def work(server_url: str, worker: int) -> None:
        try:
            with httpx.Client(base_url=server_url, headers=AUTH) as http:
                for batch in range(per_thread):
                    items = [{"uid": new_uid(), **task_body(f"w{worker}-{batch}-{i}")} for i in range(100)]
                    response = http.put("/tasks/batch", json={"items": items})
                    response.raise_for_status()
        except BaseException as exc:  # collected and re-raised on the test thread
            errors.append(exc)

    with sandbox.serve(port=0) as server:
        threads = [threading.Thread(target=work, args=(server.url, n)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
    assert sandbox.task_count() == 16 * per_thread * 100
    assert sandbox.stats()["by_status"] == {200: 16 * per_thread}


def test_sandbox_paths_over_http(sandbox: Sandbox) -> None:
    with sandbox.serve(port=0) as server, httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers=AUTH) as http:
        assert server.url == f"http://127.0.0.1:{server.port}/api/v1"
        created = http.post("/api/v1/tasks", json=task_body()).json()
        response = http.get("/api/v1/accounts/me")
        assert response.headers["date"] and response.headers["content-length"]
        assert http.get("/_sandbox/tasks").json()["items"] == [created]
        assert http.get("/_sandbox/stats").json()["by_status"] == {"200": 2}
        config = http.patch("/_sandbox/config", json={"fault_5xx": 1.0, "latency_ms": [0, 0]}).json()
        assert config["fault_5xx"] == 1.0 and "token" not in config
        assert http.get("/api/v1/accounts/me").status_code in (500, 503)
        assert http.patch("/_sandbox/config", json={"burst": 0}).status_code == 422
        assert http.post("/_sandbox/reset").status_code == 200
        assert http.get("/_sandbox/tasks").json()["items"] == []
        assert sandbox.config.fault_5xx == 1.0  # reset keeps the settings


def test_serve_releases_the_port(sandbox: Sandbox) -> None:
    with sandbox.serve(port=0) as server, httpx.Client(base_url=server.url, headers=AUTH) as http:
        http.get("/accounts/me")  # leaves a kept-alive connection open
        port = server.port
    with sandbox.serve(port=port) as again:
        assert again.port == port


def test_sandbox_imports_nothing_from_the_client_side() -> None:
    package = Path(__file__).resolve().parents[1] / "fragment_bulk" / "sandbox"
    allowed = {"httpx"}
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in sys.stdlib_module_names, f"{path.name} imports {name}"


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_run_server_announces_serves_and_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    db = tmp_path / "cli.sqlite"
    code = (
        "from fragment_bulk.sandbox import SandboxConfig, run_server; "
        f"run_server(SandboxConfig(token={TOKEN!r}, db_path={str(db)!r}, rate_per_min=None), port=0)"
    )
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([sys.executable, "-u", "-c", code], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().rsplit(" ", 1)[-1].strip()
        announced = [process.stdout.readline() for _ in range(5)]
        assert any(TOKEN in line for line in announced) and any(str(db) in line for line in announced)
        with httpx.Client(base_url=url, headers=AUTH) as http:
            uid = http.post("/tasks", json=task_body()).json()["uid"]
        process.send_signal(stop_signal)
        assert process.wait(10) == 0
        assert "Sandbox stopped." in process.stdout.read()
    finally:
        process.kill()
    with make_sandbox(db_path=db) as reopened:
        assert reopened.task(uid) is not None


def test_time_filters_as_fields_takes_the_time_filters_and_order_by_for_custom_fields(client: httpx.Client,
                                                                                       sandbox: Sandbox) -> None:
    client.post("/tasks", json=task_body())
    sandbox.configure(time_filters="as_fields")
    assert len(client.get("/tasks").json()["items"]) == 1
    for query in ({"order_by": "-updated_at"}, {"created_at_after": "1970-01-01T00:00:00Z"},
                  {"updated_at_after": "1970-01-01T00:00:00Z"}):
        assert client.get("/tasks", params=query).json()["items"] == [], query
    tagged = client.post("/tasks", json=task_body(order_by="x")).json()
    assert [task["uid"] for task in client.get("/tasks", params={"order_by": "x"}).json()["items"]] == [tagged["uid"]]


def test_time_filters_ignored_lists_everything_oldest_first(client: httpx.Client, sandbox: Sandbox) -> None:
    first = client.post("/tasks", json=task_body("first")).json()
    second = client.post("/tasks", json=task_body("second")).json()
    client.patch(f"/tasks/{first['uid']}", json={"status": "DONE"})  # the first is now the newest update
    sandbox.configure(time_filters="ignored")
    for query in ({"order_by": "-updated_at"}, {"created_at_after": "9999-01-01T00:00:00Z"}):
        assert [task["uid"] for task in client.get("/tasks", params=query).json()["items"]] == [first["uid"], second["uid"]]


@pytest.mark.parametrize("cost", ["request", "item"])
def test_rate_cost_item_counts_each_item_of_a_batch_against_the_limit(client: httpx.Client, sandbox: Sandbox,
                                                                      cost: str) -> None:
    sandbox.configure(rate_per_min=600, burst=10, rate_cost=cost)
    items = [{"uid": new_uid(), **task_body(f"t{n}")} for n in range(30)]
    assert client.put("/tasks/batch", json={"items": items}).status_code == 200
    after = client.get("/tasks")
    if cost == "request":
        assert after.status_code == 200
    else:  # 29 tokens owed at 10 a second: about 3 seconds to wait
        assert after.status_code == 429 and int(after.headers["Retry-After"]) >= 2


def test_comment_listing_missing_answers_405_and_posting_still_works(client: httpx.Client, sandbox: Sandbox) -> None:
    uid = client.post("/tasks", json=task_body()).json()["uid"]
    sandbox.configure(comment_listing="missing")
    assert client.post(f"/tasks/{uid}/comments", json={"text": "hi"}).status_code == 200
    listed = client.get(f"/tasks/{uid}/comments")
    assert listed.status_code == 405 and listed.headers["Allow"] == "POST"
