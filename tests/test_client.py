"""FragmentClient against the sandbox: every endpoint, the error tree, and the fault modes."""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from fragment_bulk.client import FragmentClient
from fragment_bulk.config import Settings, parse_rate
from fragment_bulk.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ConnectionFailed,
    NotFoundError,
    ProtocolError,
    RateLimited,
    RequestRejected,
    ServerError,
    TransportError,
)
from fragment_bulk.retry import RetryPolicy, parse_retry_after
from fragment_bulk.sandbox import Sandbox, SandboxConfig

from conftest import make_client


def test_every_endpoint_round_trip(client, sandbox):
    assert client.whoami()["email"]
    task = client.create_task({"fields": {"title": "One", "country": "FR"}})
    assert task["status"] == "TODO"
    assert client.get_task(task["uid"])["fields"]["title"] == "One"
    uid = str(uuid.uuid4())
    client.put_task(uid, {"fields": {"title": "Two"}})
    patched = client.patch_task(uid, {"status": "DONE", "fields": {"country": "DE"}})
    assert patched["done_at"] and patched["fields"] == {"title": "Two", "country": "DE"}
    comment = client.add_comment(uid, "hello")
    assert [c["uid"] for c in client.iter_comments(uid)] == [comment["uid"]]
    client.delete_task(task["uid"])
    with pytest.raises(NotFoundError) as missing:
        client.get_task(task["uid"])
    assert missing.value.status == 404
    assert sandbox.task_count() == 1


def test_batches_and_search_pages_yield_each_match_once(client):
    items = [{"uid": str(uuid.UUID(int=i + 1)), "fields": {"title": f"t{i}", "country": "FR" if i % 3 else "DE"}}
             for i in range(1_050)]
    for start in range(0, len(items), 100):
        assert len(client.upsert_tasks(items[start:start + 100])) == len(items[start:start + 100])
    found = [task["uid"] for task in client.iter_tasks({"country": "FR"}, page_size=100)]
    expected = {item["uid"] for item in items if item["fields"]["country"] == "FR"}
    assert len(found) == len(set(found)) == len(expected) and set(found) == expected


def test_batch_rejection_names_the_item(client):
    items = [{"uid": str(uuid.uuid4()), "fields": {"title": "ok"}}, {"uid": str(uuid.uuid4()), "fields": {}}]
    with pytest.raises(RequestRejected) as rejected:
        client.upsert_tasks(items)
    assert [problem.index for problem in rejected.value.item_problems] == [1]
    assert rejected.value.status == 422


def test_oversize_batch_is_flagged_too_large(sandbox, client):
    items = [{"uid": str(uuid.uuid4()), "fields": {"title": "x"}} for _ in range(101)]
    with pytest.raises(RequestRejected) as rejected:
        client.upsert_tasks(items)
    assert rejected.value.too_large
    # pydantic's words for one item's field are not the batch's size: that row is isolated instead
    item = RequestRejected(status=422, method="PUT", path="/tasks/batch", detail=[
        {"loc": ["body", "items", 3, "fields", "title"], "msg": "String should have at most 40 characters"}])
    assert not item.too_large and [problem.index for problem in item.item_problems] == [3]


def test_wrong_token_is_an_auth_error_without_the_token(sandbox, caplog):
    secret = "s3cr3t-token-value-123"
    caplog.set_level(logging.DEBUG)
    with FragmentClient(Settings(token=secret, base_url=sandbox.base_url, rate_per_min=None), transport=sandbox.transport()) as c:
        with pytest.raises(AuthError) as refused:
            c.whoami()
        assert secret not in repr(c) and secret not in repr(c.settings)
    assert refused.value.status == 401
    assert secret not in str(refused.value) and secret not in repr(refused.value)
    assert all(secret not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("status", [200, 400, 401])
def test_a_server_that_repeats_the_request_headers_never_shows_the_token(status):
    # A gateway or an echo service (httpbin) answers with the headers it was sent, the token's included.
    secret = "s3cr3t-token-value-123"

    def echo(request: httpx.Request) -> httpx.Response:
        headers = dict(request.headers)
        body = {"headers": headers} if status == 200 else {"detail": f"refused: {headers['authorization']}"}
        return httpx.Response(status, json=body) if status != 400 else httpx.Response(400, text=str(headers))

    with FragmentClient(Settings(token=secret, base_url="https://gateway.test/api/v1", rate_per_min=None),
                        transport=httpx.MockTransport(echo)) as c:
        if status == 200:
            shown = str(c.whoami())
            assert "Bearer ***" in shown
        else:
            with pytest.raises(ApiError) as refused:
                c.whoami()
            shown = str(refused.value)
            assert "Bearer ***" in shown
    assert secret not in shown


@pytest.mark.parametrize("escape", ["slash", "unicode"])
@pytest.mark.parametrize("status", [200, 422])
def test_a_server_that_repeats_the_token_escaped_in_its_json_never_shows_it(status, escape):
    # PHP's json_encode writes / as \/, and a JSON writer may write any character as \u00XX: the
    # token then is not in the answer's text, but it is in what the text decodes to.
    secret = 'base64/token+with/slashes"and\\=='

    def echo(request: httpx.Request) -> httpx.Response:
        said = request.headers["authorization"]
        body = json.dumps({"uid": "u", "name": said} if status == 200 else {"detail": [{"loc": ["header", said], "msg": said}]})
        body = body.replace("/", "\\/") if escape == "slash" else re.sub(r"[a-z]", lambda m: f"\\u{ord(m[0]):04x}", body)
        return httpx.Response(status, text=body, headers={"Content-Type": "application/json"})

    with FragmentClient(Settings(token=secret, base_url="https://gateway.test/api/v1", rate_per_min=None),
                        transport=httpx.MockTransport(echo)) as c:
        if status == 200:
            shown = json.dumps(c.whoami())
        else:
            with pytest.raises(ApiError) as refused:
                c.whoami()
            shown = f"{refused.value} {refused.value.detail}"
    assert "Bearer ***" in shown and "base64/token" not in shown


def test_plain_http_on_loopback_never_goes_through_a_proxy_from_the_environment(monkeypatch):
    # Plain http is allowed there because the token stays on the machine: a proxy would carry it off.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens: a proxied request would fail
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb, sb.serve(port=0) as server:
        settings = Settings(token=sb.config.token, base_url=server.url, rate_per_min=None)
        with FragmentClient(settings) as c:
            assert c.whoami()["email"]


def test_token_never_in_logs_even_at_debug(sandbox, caplog):
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at DEBUG
    with make_client(sandbox) as c:
        c.whoami()
        with pytest.raises(NotFoundError) as missing:
            c.get_task(str(uuid.uuid4()))
    text = "\n".join(record.getMessage() for record in caplog.records) + str(missing.value)
    assert sandbox.config.token not in text


def test_a_token_copied_with_its_line_break_works_and_a_broken_one_is_refused_unseen(sandbox):
    token = sandbox.config.token
    with FragmentClient(Settings(token=f"{token}\r\n", base_url=sandbox.base_url, rate_per_min=None),
                        transport=sandbox.transport()) as c:
        assert c.whoami()  # the line break of a token read from a file is not part of it
    with pytest.raises(ConfigError, match="never shown") as refused:
        Settings(token="tok-SECRET\r123", base_url=sandbox.base_url).checked()
    assert "SECRET" not in str(refused.value)


def test_an_unreachable_server_fails_at_once_naming_the_url():
    attempts = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("[Errno 111] Connection refused")

    settings = Settings(token="t", base_url="http://127.0.0.1:9/api/v1", rate_per_min=None)
    with FragmentClient(settings, transport=httpx.MockTransport(refuse)) as c:
        with pytest.raises(ConnectionFailed, match="127.0.0.1:9/api/v1: cannot connect.*is the server up"):
            c.whoami()
    assert len(attempts) == 1  # not two minutes of retries before saying so


@pytest.mark.parametrize("url", [
    "http://ann:s3cret@127.0.0.1:9/api/v1", "ftp://ann:s3cret@host/api", "https://s3cret@host/api/v1",
    "https://host/api/v1?api_key=s3cret", "https://host/api/v1?token=s3cret", "https://host/api/v1#access_token=s3cret",
    "eyJhbGciOiJIUzI1NiJ9.s3cret.SflKxwRJSMeKKF2QT4fw",  # a token in the base URL's variable
])
def test_credentials_in_the_base_url_are_refused_unseen(url, caplog):
    # httpx would send a user:password instead of the token, put the path after a query string,
    # and log the whole URL (at INFO) with every request: none of them can work, all would leak.
    with pytest.raises(ConfigError, match="base URL") as refused:
        Settings(token="t0ken-long-enough", base_url=url).checked()
    assert "s3cret" not in str(refused.value)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError):
        FragmentClient(Settings(token="t0ken-long-enough", base_url=url), transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize("url", ["http://127.0.0.1:abc/api/v1", "http://127.0.0.1:99999/api/v1", "http://[::1/api/v1",
                                 "http://127.0.0.1/api\x00/v1", "https://\u2100.example/api/v1"])
def test_a_base_url_httpx_cannot_read_is_a_config_error_not_a_traceback(url):
    with pytest.raises(ConfigError, match="base URL"):
        FragmentClient(Settings(token="t0ken-long-enough", base_url=url))
    assert Settings(token="t", base_url=" http://127.0.0.1:9/api/v1\r\n").checked().base_url == "http://127.0.0.1:9/api/v1"


@pytest.mark.parametrize("proxy", ["http://proxy.test:abc", "socks5://ann:s3cret@proxy.test:1080", "ftp://ann:s3cret@proxy.test"])
def test_a_base_url_or_a_proxy_httpx_refuses_is_a_config_error_not_a_traceback(proxy, monkeypatch):
    with pytest.raises(ConfigError, match="base URL 'https://\u00fc-.example/api/v1' cannot be used: Invalid IDNA"):
        FragmentClient(Settings(token="t0ken-long-enough", base_url="https://\u00fc-.example/api/v1"))
    if proxy.startswith("socks5") and importlib.util.find_spec("socksio"):
        pytest.skip("httpx takes a SOCKS proxy where socksio is installed")
    monkeypatch.setenv("HTTPS_PROXY", proxy)  # (a SOCKS proxy needs a package httpx does not install)
    with pytest.raises(ConfigError, match="the proxy the environment sets") as refused:
        FragmentClient(Settings(token="t0ken-long-enough", base_url="https://fragment.test/api/v1"))
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize("fault", [httpx.ConnectTimeout, httpx.ReadTimeout], ids=["host-drops-it", "never-answers"])
def test_a_first_get_without_an_answer_is_a_wrong_url_said_after_a_timeout_or_two(fault):
    # A host that drops the connection, or a port that takes it and says nothing: minutes of
    # retries would only delay the same verdict.
    attempts = []

    def silent(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise fault("timed out", request=request)

    settings = Settings(token="t", base_url="https://10.255.255.1/api/v1", rate_per_min=None, timeout=2)
    with FragmentClient(settings, transport=httpx.MockTransport(silent)) as c:
        with pytest.raises(ConnectionFailed, match=r"timed out .*base URL right \(or slower than --timeout 2s\)\?"):
            c.whoami()
        assert len(attempts) == (1 if fault is httpx.ConnectTimeout else 2)  # a slow server gets a second chance
        attempts.clear()
        # A write whose answer timed out may have landed: never "nothing sent" (one never connected was not).
        with pytest.raises(ConnectionFailed if fault is httpx.ConnectTimeout else TransportError):
            c.create_task({"fields": {"title": "t"}})


@contextmanager
def _dripping_server(dripped: str, *, prompt: int = 0) -> Iterator[tuple[str, list[bytes]]]:
    """A loopback server whose answers come a byte every 0.2 s: the body, after the status line and
    headers (``dripped="body"``), or the whole answer (``"headers"``); the first ``prompt`` at once.
    Yields its base URL and the first line of each request it read."""
    body = json.dumps({"uid": "u", "name": "n", "email": "e"}).encode()
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    stop, requests = threading.Event(), []

    def answer_slowly(connection: socket.socket) -> None:
        with connection:
            try:
                while True:
                    head = b""
                    while b"\r\n\r\n" not in head:
                        chunk = connection.recv(65536)
                        if not chunk:
                            return
                        head += chunk
                    requests.append(head.split(b"\r\n", 1)[0])
                    length = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                                   if line.startswith(b"content-length:")), 0)
                    while len(head.split(b"\r\n\r\n", 1)[1]) < length:  # the body, read so keep-alive stays in step
                        head += connection.recv(65536)
                    at_once = len(answer) if len(requests) <= prompt else len(answer) - len(body) if dripped == "body" else 0
                    connection.sendall(answer[:at_once])
                    for end in range(at_once + 1, len(answer) + 1):
                        if stop.wait(0.2):
                            return
                        connection.sendall(answer[end - 1:end])
            except OSError:
                return  # the client gave up and closed the connection

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer_slowly, args=(connection,), daemon=True).start()

    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.05)  # a blocked accept() is not woken by close() on Linux: poll for stop
        accepting = threading.Thread(target=accept, daemon=True)
        accepting.start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1", requests
        finally:
            stop.set()
            accepting.join(5)


@pytest.mark.parametrize("dripped", ["body", "headers"])
def test_an_answer_dripped_a_byte_at_a_time_times_out_as_a_whole(dripped):
    # httpx's timeout bounds each read, not the answer: a server (or a broken proxy) sending a byte a
    # second held a whoami for 96 s with --timeout 5, and could hold an import for ever.
    settings = Settings(token="t", rate_per_min=None, timeout=1)
    with _dripping_server(dripped) as (url, requests), \
            FragmentClient(settings.with_changes(base_url=url), retry=RetryPolicy(floor=0.01, cap=0.02)) as c:
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match=r"timed out \(ReadTimeout\); is the server up.*slower than --timeout 1s"):
            c.whoami()  # never answered in time, twice: said then, as for a server that says nothing
        assert len(requests) == 2 and time.monotonic() - started < 3
        started = time.monotonic()
        with pytest.raises(TransportError) as lost:
            c.create_task({"fields": {"title": "t"}})  # may have been written: never sent again
        assert lost.value.may_have_committed and lost.value.timed_out
        assert len(requests) == 3 and time.monotonic() - started < 2


def test_a_dripped_answer_after_the_server_has_answered_is_a_timeout_retried_within_the_attempts():
    settings = Settings(token="t", rate_per_min=None, timeout=1)
    with _dripping_server("headers", prompt=1) as (url, requests), \
            FragmentClient(settings.with_changes(base_url=url), retry=RetryPolicy(max_attempts=2, floor=0.01, cap=0.02)) as c:
        assert c.whoami()["uid"] == "u"
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"GET /accounts/me: timed out \(ReadTimeout\) \(gave up after 2 attempts") as failed:
            c.whoami()
        assert failed.value.timed_out and len(requests) == 3 and time.monotonic() - started < 3


def test_a_requests_deadline_binds_no_later_request_nor_another_client_on_a_shared_transport():
    with Sandbox(SandboxConfig(token="t", rate_per_min=None)) as sandbox, sandbox.serve(port=0) as server:
        shared = httpx.HTTPTransport()  # the caller's: two clients on it, one after the other
        settings = Settings(token="t", base_url=server.url, rate_per_min=None, timeout=0.5)
        first, second = (FragmentClient(settings, transport=shared, retry=RetryPolicy(max_attempts=1)) for _ in range(2))
        own = FragmentClient(settings, retry=RetryPolicy(max_attempts=1))
        assert first.whoami()["uid"] and own.whoami()["uid"]
        time.sleep(0.7)  # past the deadlines of those requests
        assert second.whoami()["uid"] and own.whoami()["uid"]
        untimed = FragmentClient(settings.with_changes(timeout=None))  # no deadline: as httpx takes it
        assert untimed.whoami()["uid"]
        for client in (first, second, own, untimed):
            client.close()


def test_once_the_server_has_answered_a_failed_connection_is_retried():
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 2:  # a blip (a DNS hiccup, a restart) after the first answer
            raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution")
        return httpx.Response(200, json={"uid": "u", "name": "n", "email": "e"})

    settings = Settings(token="t", base_url="http://127.0.0.1:9/api/v1", rate_per_min=None)
    with FragmentClient(settings, transport=httpx.MockTransport(flaky),
                        retry=RetryPolicy(max_attempts=3, budget=5, floor=0.01, sleep=lambda seconds: None)) as c:
        c.whoami()
        assert c.whoami()["uid"] == "u"
    assert len(calls) == 3


def test_user_agent_names_the_tool():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(200, json={"uid": "u", "name": "n", "email": "e"})

    settings = Settings(token="t", base_url="http://127.0.0.1:1/api/v1", rate_per_min=None)
    with FragmentClient(settings, transport=httpx.MockTransport(handler)) as c:
        c.whoami()
    assert seen["user-agent"].startswith("fragment-bulk/")
    assert seen["authorization"] == "Bearer t"


def test_plain_http_to_a_remote_host_is_refused_unless_insisted():
    with pytest.raises(ConfigError, match="unencrypted"):
        Settings(token="t", base_url="http://api.example.com/api/v1").checked()
    assert Settings(token="t", base_url="http://api.example.com/api/v1", allow_insecure_http=True).checked()
    assert Settings(token="t", base_url="http://127.0.0.1:8765/api/v1").checked()


@pytest.mark.parametrize("mode", ["header", "none", "zero"])
def test_waits_out_429_in_every_retry_after_variant(mode):
    # The sandbox allows 1 request at 240/min; the client sends 6 back to back, unthrottled.
    with Sandbox(SandboxConfig(rate_per_min=240, burst=1, retry_after=mode)) as sb:
        with make_client(sb, retry=RetryPolicy(floor=0.05, cap=1.0)) as c:
            answers = [c.whoami() for _ in range(6)]
        stats = sb.stats()
    assert len(answers) == 6
    assert stats["by_status"].get(429, 0) >= 1


def test_a_429_without_retries_left_is_a_clean_error():
    with Sandbox(SandboxConfig(rate_per_min=1, burst=1)) as sb:
        with make_client(sb, retry=RetryPolicy(max_attempts=2, floor=0.01, cap=0.02)) as c:
            c.whoami()
            with pytest.raises(RateLimited) as limited:
                c.whoami()
    assert "gave up after 2 attempts" in str(limited.value)
    assert limited.value.retry_after and limited.value.retry_after > 1


def test_survives_5xx_storms():
    with Sandbox(SandboxConfig(rate_per_min=None, fault_5xx=0.5, seed=7)) as sb:
        with make_client(sb, retry=RetryPolicy(floor=0.001, cap=0.01, max_attempts=30)) as c:
            uids = [str(uuid.UUID(int=i + 1)) for i in range(40)]
            for uid in uids:
                c.put_task(uid, {"fields": {"title": uid}})
        assert sb.task_count() == 40


def test_budget_exhaustion_reports_attempts():
    with Sandbox(SandboxConfig(rate_per_min=None, fault_5xx=1.0)) as sb:
        with make_client(sb, retry=RetryPolicy(floor=0.001, cap=0.01, max_attempts=4)) as c:
            with pytest.raises(ServerError) as failed:
                c.whoami()
    assert "gave up after 4 attempts" in str(failed.value)
    assert failed.value.status in (500, 503)


def test_lost_response_on_put_is_retried_and_applied_once():
    with Sandbox(SandboxConfig(rate_per_min=None, fault_lost=0.5, seed=3)) as sb:
        with make_client(sb, retry=RetryPolicy(floor=0.001, cap=0.01, max_attempts=30)) as c:
            items = [{"uid": str(uuid.UUID(int=i + 1)), "fields": {"title": str(i)}} for i in range(300)]
            for start in range(0, 300, 50):
                c.upsert_tasks(items[start:start + 50])
        assert sb.task_count() == 300


def test_lost_response_on_post_is_not_resent():
    with Sandbox(SandboxConfig(rate_per_min=None, fault_lost=1.0)) as sb:
        with make_client(sb, retry=RetryPolicy(floor=0.001, cap=0.01)) as c:
            with pytest.raises(TransportError) as lost:
                c.create_task({"fields": {"title": "once"}})
        assert lost.value.may_have_committed
        assert sb.task_count() == 1  # committed once, never re-sent


def test_a_repeated_cursor_is_an_error_not_a_loop():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": [{"uid": "a"}], "meta": {"next_cursor": "same"}})

    settings = Settings(token="t", base_url="http://127.0.0.1:1/api/v1", rate_per_min=None)
    with FragmentClient(settings, transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(ProtocolError, match="twice"):
            list(c.iter_tasks())


def test_a_server_ignoring_the_cursor_or_hiding_it_is_an_error_not_a_loop_or_a_cut():
    calls = []

    def new_cursor_same_page(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"items": [{"uid": "a"}, {"uid": "b"}], "meta": {"next_cursor": f"c{len(calls)}"}})

    def cursor_elsewhere(request: httpx.Request) -> httpx.Response:
        items = [{"uid": f"u{n}"} for n in range(int(request.url.params["limit"]))]
        return httpx.Response(200, json={"items": items, "meta": {"next": "somewhere", "total_count": 250}})

    settings = Settings(token="t", base_url="http://127.0.0.1:1/api/v1", rate_per_min=None)
    with FragmentClient(settings, transport=httpx.MockTransport(new_cursor_same_page)) as c:
        with pytest.raises(ProtocolError, match="the same page twice"):
            list(c.iter_tasks())
    assert len(calls) == 2
    with FragmentClient(settings, transport=httpx.MockTransport(cursor_elsewhere)) as c:
        with pytest.raises(ProtocolError, match="no cursor after 100 of the 250 items"):
            list(c.iter_tasks())


def _offset_pages(total: int, *, overlap: int = 0, cycle_after: int | None = None):
    """A server paging by offset, each page repeating the ``overlap`` last items of the one before
    (tasks inserted meanwhile shift the offsets so), or sending its first two pages in turn under
    new cursors once ``cycle_after`` pages were sent."""
    uids = [str(uuid.UUID(int=n)) for n in range(total)]  # made from a counter: their high bits all alike
    served = []

    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("cursor", "0").split("-")[0])
        if cycle_after is not None and len(served) >= cycle_after:
            start = 100 * (len(served) % 2)  # the first two pages again, in turn: A, B, A, B...
        served.append(start)
        page = uids[start:start + 100]
        after = start + 100 - overlap
        return httpx.Response(200, json={"items": [{"uid": uid} for uid in page],
                                         "meta": {"next_cursor": f"{after}-{len(served)}" if after < total else None}})

    return handler, uids


def test_pages_that_repeat_items_hand_each_out_once_and_a_circle_of_pages_is_an_error():
    settings = Settings(token="t", base_url="http://127.0.0.1:1/api/v1", rate_per_min=None)
    overlapping, uids = _offset_pages(450, overlap=3)
    with FragmentClient(settings, transport=httpx.MockTransport(overlapping)) as c:
        assert [task["uid"] for task in c.iter_tasks()] == uids
    # One page of nothing but repeats (tasks added ahead of the cursor meanwhile), then new ones again.
    starts = iter([0, 100, 50, 150, 250, 350])

    def shifted(request: httpx.Request) -> httpx.Response:
        start = next(starts)
        return httpx.Response(200, json={"items": [{"uid": uid} for uid in uids[start:start + 100]],
                                         "meta": {"next_cursor": None if start == 350 else f"after-{start}"}})

    with FragmentClient(settings, transport=httpx.MockTransport(shifted)) as c:
        assert [task["uid"] for task in c.iter_tasks()] == uids
    circling, _ = _offset_pages(450, cycle_after=3)
    with FragmentClient(settings, transport=httpx.MockTransport(circling)) as c:
        with pytest.raises(ProtocolError, match="3 pages in a row of items it had listed already"):
            list(c.iter_tasks())


@pytest.mark.parametrize("body", [{"items": [None]}, {"items": [{"title": "no uid"}]}, {"items": [{"uid": ["a"]}]},
                                  {"items": [{"uid": "a"}], "meta": {"next_cursor": {"page": 2}}}])
def test_a_page_that_breaks_the_contract_is_one_clear_error(body):
    settings = Settings(token="t", base_url="http://127.0.0.1:1/api/v1", rate_per_min=None)
    with FragmentClient(settings, transport=httpx.MockTransport(lambda request: httpx.Response(200, json=body))) as c:
        with pytest.raises(ProtocolError, match="GET /tasks answered an? .*; stopping"):
            list(c.iter_tasks())


def test_a_redirect_is_an_error_naming_where_and_an_html_error_page_one_line():
    def moved(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/accounts/me"):
            return httpx.Response(307, headers={"Location": "https://elsewhere.test/api/v1/accounts/me"},
                                  json={"detail": "moved"})
        return httpx.Response(403, text="<html>\n  <body>\n    Forbidden by WAF\n  </body>\n</html>\n")

    settings = Settings(token="t", base_url="https://api.test/api/v1", rate_per_min=None)
    with FragmentClient(settings, transport=httpx.MockTransport(moved)) as c:
        with pytest.raises(ProtocolError, match=r"answered 307, a redirect to https://elsewhere\.test/api/v1/accounts/me"):
            c.whoami()
        with pytest.raises(AuthError) as refused:
            c.get_task(str(uuid.uuid4()))
    assert "\n" not in str(refused.value) and "<html> <body> Forbidden by WAF </body> </html>" in str(refused.value)


def test_comments_are_listed_from_a_server_with_smaller_pages():
    with Sandbox(SandboxConfig(rate_per_min=None, page_max=50, page_default=50)) as sb, make_client(sb) as c:
        uids = [c.create_task({"fields": {"title": "t"}})["uid"] for _ in range(2)]
        for n in range(60):
            c.add_comment(uids[0], f"note {n}")
        assert [comment["text"] for comment in c.iter_comments(uids[0])] == [f"note {n}" for n in range(60)]
        refused = sb.stats()["by_status"][422]
        assert list(c.iter_comments(uids[1])) == [] and sb.stats()["by_status"][422] == refused  # learned once


def test_retry_after_parses_seconds_and_http_dates():
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now=1767225600.0) == pytest.approx(10)
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None and parse_retry_after("inf") is None  # no wait at all, else
    busy = ServerError(status=503, method="GET", path="/", retry_after=7)
    assert RetryPolicy(floor=0.5).delay(busy, 1) == 7  # a 503 saying when to come back is heard too
    assert RetryPolicy(floor=0.5).delay(RateLimited(status=429, method="GET", path="/", retry_after=0), 1) >= 0.5


def test_rates_parse():
    assert parse_rate("60/min") == 60 and parse_rate("2/s") == 120 and parse_rate("off") is None
    with pytest.raises(ConfigError):
        parse_rate("fast")


@pytest.mark.parametrize("status", [200, 400])
def test_json_nested_too_deep_is_a_protocol_error_not_a_traceback(status):
    deep = b"[" * 100_000 + b"]" * 100_000  # json.loads gives up with a RecursionError
    settings = Settings(token="t0ken-long-enough", base_url="http://127.0.0.1:9/api/v1", rate_per_min=None)
    with FragmentClient(settings, transport=httpx.MockTransport(lambda request: httpx.Response(status, content=deep))) as c:
        with pytest.raises(ProtocolError if status == 200 else ApiError, match="nested too deep" if status == 200 else "400"):
            c.whoami()
