"""FragmentClient: one method per endpoint of the Fragment API, over a sync httpx client.

Every request goes through the same three steps: take a slot from the shared
:class:`~fragment_bulk.ratelimit.Throttle`, send, and translate the outcome into
:mod:`fragment_bulk.errors` (the one place where httpx's exceptions become ours). The
:class:`~fragment_bulk.retry.RetryPolicy` wraps those steps and alone decides what to retry.

The client is thread-safe (httpx.Client is), so the engine's workers share one.
``Settings.timeout`` is the longest one request may take from sending to the last byte of the
answer: httpx's own timeout bounds each read, so an answer dripped a byte at a time would never
time out; :class:`_DeadlineBackend` bounds the whole.
The token lives only in the ``Authorization`` header: it is not in the repr, in any URL, or in
any error message.
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import httpcore
import httpx

from fragment_bulk.config import USER_AGENT, Settings, canonical_url, is_loopback, shown_url
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
    describe_detail,
)
from fragment_bulk.claims import Claims
from fragment_bulk.ratelimit import Throttle
from fragment_bulk.retry import RetryPolicy, parse_retry_after

MAX_PAGE_SIZE = 100
EPOCH = "1970-01-01T00:00:00Z"  # a created_at_after every task passes
FAR_FUTURE = "9999-01-01T00:00:00Z"  # and one none does

# Failures where the request provably never reached the server: safe to resend even a POST.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_NEVER_CONNECTED = (httpx.ConnectError, httpx.ConnectTimeout)
_MOST_STALE_PAGES = 3  # pages in a row holding only items listed already: a paging loop


@dataclass(frozen=True)
class Page:
    """One page of a search: its items and the cursor of the next page (``None`` on the last)."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    total_count: int | None = None
    raw_meta: dict[str, Any] = field(default_factory=dict)


class FragmentClient:
    """A client of the Fragment REST API.

    >>> client = FragmentClient(Settings.from_env())       # doctest: +SKIP
    >>> client.whoami()["email"]                           # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        throttle: Throttle | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.settings = (settings or Settings.from_env()).checked()
        token = self.settings.require_token()
        self.throttle = throttle or Throttle(self.settings.rate_per_min, burst=self.settings.burst)
        self.retry = retry or RetryPolicy(
            max_attempts=self.settings.max_attempts, budget=self.settings.retry_budget
        )
        self._answered = False  # any response yet: until then a refused connection is a wrong URL, not a blip
        self.has_answered_well = False  # any success (2xx, JSON) yet: until then the server wrote nothing of ours
        self._unanswered_reads = 0  # GETs that timed out before any answer
        self._page_max: dict[str, int] = {}  # the largest page each kind of listing was found to take
        self._date: str | None = None  # the Date header of the last answer: the server's clock, to the second
        # Where the tasks go, as a checkpoint records it: a job resumed against another server
        # would skip the rows the first server acknowledged.
        self.destination = canonical_url(self.settings.base_url)
        try:
            httpx.URL(self.settings.base_url)
        except httpx.InvalidURL as exc:  # a host name IDNA refuses, say
            raise ConfigError(f"the base URL {shown_url(self.settings.base_url)!r} cannot be used: {exc}") from None
        try:
            self._http = httpx.Client(
                base_url=self.settings.base_url,
                transport=transport,
                timeout=self.settings.timeout,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "User-Agent": USER_AGENT,
                },
                limits=httpx.Limits(max_connections=max(self.settings.concurrency * 2, 10)),
                # Every request goes to base_url and redirects are not followed, so a plain-http
                # client never uses TLS: skip loading the CA bundle (~20 ms a client).
                verify=not self.settings.base_url.startswith("http://"),
                # Plain http is allowed on loopback only because the token never leaves the machine:
                # an HTTP_PROXY from the environment would carry it, unencrypted, to the proxy's host.
                trust_env=not _loopback_http(self.settings.base_url),
            )
        except (httpx.InvalidURL, ImportError, ValueError) as exc:  # the base URL was read above: only a proxy is left
            raise ConfigError(f"the proxy the environment sets (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) cannot be used: {exc}") from None
        self._deadlines = _DeadlineBackend.install(self._http, given=transport)

    def __repr__(self) -> str:
        return f"FragmentClient(base_url={shown_url(self.settings.base_url)!r})"

    def __enter__(self) -> "FragmentClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the one request path -------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one API request with throttle, retry and error translation; returns the JSON."""
        if idempotent is None:
            idempotent = method.upper() != "POST"
        return self.retry.call(
            lambda: self._send_once(method, path, json=json, params=params),
            idempotent=idempotent,
            throttle=self.throttle,
        )

    def _send_once(self, method: str, path: str, *, json: Any, params: Mapping[str, Any] | None) -> Any:
        self.throttle.acquire()
        self._deadlines.start(self.settings.timeout)
        try:
            response = self._http.request(method, path, json=json, params=params)  # (the whole answer read)
        except httpx.LocalProtocolError as exc:
            # Our own request is malformed: sending it again cannot help, and the message could
            # quote a header, the token's included.
            raise ProtocolError(f"{method} {path}: the request cannot be sent ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            if self._looks_like_a_wrong_url(exc, method):
                slow = f" (or slower than --timeout {self.settings.timeout:g}s)" if isinstance(exc, httpx.TimeoutException) else ""
                raise ConnectionFailed(f"{method} {path} to {shown_url(self.settings.base_url)}: {describe_transport_error(exc)};"
                                       f" is the server up, and the base URL right{slow}?") from exc
            raise TransportError(
                f"{method} {path}: {describe_transport_error(exc)}",
                may_have_committed=not isinstance(exc, _NOT_SENT),
                timed_out=isinstance(exc, httpx.TimeoutException) and not isinstance(exc, _NOT_SENT),
            ) from exc
        finally:
            self._deadlines.clear()  # this thread's later socket waits are another request's
        self._answered = True
        self._date = response.headers.get("date", self._date)
        if 300 <= response.status_code < 400:  # not followed: the token goes to base_url only
            where = response.headers.get("location")
            raise ProtocolError(f"{method} {path} answered {response.status_code}, a redirect"
                                f"{f' to {redacted(shown_url(where), self.settings.require_token())}' if where else ''}:"
                                " redirects are not followed, so that"
                                " the token goes nowhere else; give the URL it points to as the base URL")
        if response.status_code >= 400:
            raise translate_error(response, method, path, secret=self.settings.require_token())
        self.throttle.succeeded()
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProtocolError(f"{method} {path} answered {response.status_code} with a body that is not JSON") from exc
        except RecursionError:  # JSON nested thousands deep: no task looks like that
            raise ProtocolError(f"{method} {path} answered {response.status_code} with JSON nested too deep to read") from None
        self.has_answered_well = True
        return answer

    def _looks_like_a_wrong_url(self, exc: httpx.HTTPError, method: str) -> bool:
        """Before any answer, a failed connection (refused, unknown host, TLS, or no answer to it:
        a host that drops it) is a wrong URL or a server that is down, and so are two GETs never
        answered (not an API): said then, not after minutes of retries. A write that timed out
        may have been applied: never "nothing sent". Once the server has answered, it is a blip."""
        if self._answered:
            return False
        if isinstance(exc, httpx.ReadTimeout) and method.upper() == "GET":
            self._unanswered_reads += 1  # the second: a slow server would have answered one of them
            return self._unanswered_reads >= 2
        return isinstance(exc, _NEVER_CONNECTED)

    @property
    def server_time(self) -> datetime | None:
        """The server's clock at its last answer, from its ``Date`` header (whole seconds)."""
        try:
            moment = email.utils.parsedate_to_datetime(self._date) if self._date else None
        except (TypeError, ValueError):
            return None
        return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    def honours_time_filters(self) -> bool | None:
        """Whether the server knows ``created_at_after`` and ``order_by`` (assumed by the contract):
        one that does not takes them for custom fields and lists nothing, or ignores them and
        lists everything. None: it holds no task to tell by."""
        if not self.search_tasks({}, limit=1).items:
            return None
        if self.search_tasks({"created_at_after": FAR_FUTURE}, limit=1).items:
            return False
        return bool(self.search_tasks({"created_at_after": EPOCH, "order_by": "created_at"}, limit=1).items)

    # -- accounts ---------------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """The account the token belongs to (``GET /accounts/me``), the token itself blanked out
        should the server repeat it (a gateway that echoes the request does)."""
        account = self.request("GET", "/accounts/me")
        if not isinstance(account, dict):
            raise ProtocolError(f"GET /accounts/me answered {type(account).__name__}, not an account (is"
                                f" {shown_url(self.settings.base_url)} the Fragment API?)")
        return redacted_json(account, self.settings.require_token())

    # -- single tasks -----------------------------------------------------------------------

    def create_task(self, task: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /tasks``: the server picks the uid. Not idempotent, so not blindly retried."""
        return self.request("POST", "/tasks", json=dict(task))

    def get_task(self, uid: str) -> dict[str, Any]:
        return self.request("GET", f"/tasks/{quote(uid, safe='')}")

    def put_task(self, uid: str, task: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /tasks/{uid}``: create or replace, idempotent."""
        return self.request("PUT", f"/tasks/{quote(uid, safe='')}", json=dict(task))

    def patch_task(self, uid: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", f"/tasks/{quote(uid, safe='')}", json=dict(changes))

    def delete_task(self, uid: str) -> None:
        self.request("DELETE", f"/tasks/{quote(uid, safe='')}")

    # -- batches ----------------------------------------------------------------------------

    def create_tasks(self, items: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``POST /tasks/batch``: create many with server-made uids (not idempotent)."""
        return self._batch("POST", items)

    def upsert_tasks(self, items: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``PUT /tasks/batch``: create or replace many; every item carries its ``uid``."""
        return self._batch("PUT", items)

    def update_tasks(self, items: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``PATCH /tasks/batch``: partial update of many; every item carries its ``uid``."""
        return self._batch("PATCH", items)

    def _batch(self, method: str, items: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The tasks the server answered. Those of a POST (server-made uids) can only be matched
        by position, so there must be one per item; a PUT's or PATCH's carry the uids sent, which
        the caller matches them by."""
        body = self.request(method, "/tasks/batch", json={"items": [item if isinstance(item, dict) else dict(item) for item in items]})
        answered = body.get("items") if isinstance(body, dict) else None
        if not isinstance(answered, list) or method == "POST" and len(answered) != len(items):
            raise ProtocolError(
                f"{method} /tasks/batch sent {len(items)} items but the answer holds "
                f"{len(answered) if isinstance(answered, list) else 'no'} items"
            )
        return answered

    # -- search -----------------------------------------------------------------------------

    def search_tasks(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        limit: int = MAX_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page:
        """One page of ``GET /tasks``; custom fields filter as plain parameters (``country=FR``)."""
        return self._page("/tasks", filters, limit=limit, cursor=cursor)

    def iter_tasks(
        self, filters: Mapping[str, Any] | None = None, *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Every task matching ``filters``, following cursors with the filters held fixed."""
        for page in self.iter_pages("/tasks", filters, page_size=page_size):
            yield from page.items

    def iter_pages(
        self, path: str, filters: Mapping[str, Any] | None = None, *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[Page]:
        """Pages of a paginated endpoint until a null cursor or an empty page.

        The page is the largest the server takes: a first page refused naming ``limit`` is asked
        for again at half the size. ``total_count`` is never trusted to stop. What would loop
        forever or stop early without a word is an error: a cursor given twice, the same page
        twice (a server ignoring the cursor), a full page without a cursor when ``total_count``
        says more follow (a cursor somewhere this client does not look).
        """
        seen: set[str] = set()
        listed = Claims()  # every uid handed out: a page that repeats some (offset paging) gives only the new
        stale = 0  # pages in a row with nothing new
        cursor: str | None = None
        previous: list[Any] | None = None
        received = 0
        listing = "comments" if path.endswith("/comments") else path  # a task's comments: one kind for all tasks
        page_size = max(1, min(page_size, self._page_max.get(listing, page_size)))
        while True:
            try:
                page = self._page(path, filters, limit=page_size, cursor=cursor)
            except RequestRejected as exc:
                if cursor is not None or page_size == 1 or "limit" not in describe_detail(exc.detail).lower():
                    raise
                page_size //= 2  # a server whose maximum page is smaller than the API's: remembered
                self._page_max[listing] = page_size
                continue
            if not all(isinstance(item, dict) and isinstance(item.get("uid"), str) for item in page.items):
                raise ProtocolError(f"GET {path} answered an item that is not an object with a uid; stopping")
            identities = [item["uid"] for item in page.items]
            if page.items and identities == previous:
                raise ProtocolError(f"GET {path} answered the same page twice (does the server ignore the cursor?); stopping")
            previous = identities
            received += len(page.items)
            if not page.items:
                return
            new = [item for item, first in zip(page.items, listed.take_each(identities)) if first]
            # One page of repeats may be honest (offset paging, a page's worth of tasks added
            # before the cursor meanwhile); several in a row are a server going round in a circle.
            stale = 0 if new else stale + 1
            if stale == _MOST_STALE_PAGES:
                raise ProtocolError(f"GET {path} answered {stale} pages in a row of items it had listed already (does"
                                    " its paging go round in a circle?); stopping")
            if new:
                yield page if len(new) == len(page.items) else replace(page, items=new)
            if not page.next_cursor:
                if len(page.items) >= page_size and page.total_count is not None and page.total_count > received:
                    raise ProtocolError(f"GET {path} gave no cursor after {received:,} of the {page.total_count:,} items"
                                        " it counts; stopping rather than handing out part of them")
                return
            if page.next_cursor in seen:
                raise ProtocolError(f"GET {path} returned the cursor {page.next_cursor!r} twice; stopping")
            seen.add(page.next_cursor)
            cursor = page.next_cursor

    def _page(
        self, path: str, filters: Mapping[str, Any] | None, *, limit: int, cursor: str | None
    ) -> Page:
        params = {key: query_value(value) for key, value in (filters or {}).items()}
        params["limit"] = str(limit)
        if cursor:
            params["cursor"] = cursor
        body = self.request("GET", path, params=params)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise ProtocolError(f"GET {path} answered without an 'items' list")
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        total = meta.get("total_count")
        return Page(
            items=body["items"],
            next_cursor=_cursor(meta.get("next_cursor") or body.get("next_cursor"), path),
            total_count=total if isinstance(total, int) else None,
            raw_meta=meta,
        )

    # -- comments ---------------------------------------------------------------------------

    def add_comment(self, uid: str, text: str) -> dict[str, Any]:
        """``POST /tasks/{uid}/comments``. Not idempotent: a lost answer raises, never resends."""
        return self.request("POST", f"/tasks/{quote(uid, safe='')}/comments", json={"text": text})

    def iter_comments(self, uid: str, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        for page in self.iter_pages(f"/tasks/{quote(uid, safe='')}/comments", page_size=page_size):
            yield from page.items


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sockets, each wait cut short at the deadline of the request it serves.

    httpx's timeout bounds each read, write and connect, so a server (or a proxy) dripping its
    answer a byte at a time, headers or body, never times out. Every socket wait of a request is
    cut instead to the time left before that request's deadline, and once it has passed the wait
    fails as httpx's own timeout would (ReadTimeout, WriteTimeout, ConnectTimeout), so the retry
    policy and the error messages treat it as one. The deadline is per thread: httpx's sync client
    does all of a request's socket work in the thread that sends it. Chosen over a watchdog thread
    closing sockets: no thread, no race with a connection going back to the pool, a few hundred
    nanoseconds a wait.
    """

    def __init__(self, inner: httpcore.NetworkBackend):
        self._inner = inner
        self._deadline = threading.local()

    @classmethod
    def install(cls, http: httpx.Client, *, given: httpx.BaseTransport | None) -> "_DeadlineBackend":
        """A backend put under the connection pools of the transports ``http`` made itself, a
        proxy's included; not under a ``given`` one, which others may share. httpx has no public
        way to hand httpcore a backend, hence its private names; a transport without a pool (the
        in-process sandbox's, a test's) is left as it is."""
        deadlines = cls(httpcore.SyncBackend())
        for transport in (getattr(http, "_transport", None), *getattr(http, "_mounts", {}).values()):
            pool = getattr(transport, "_pool", None)
            if transport is not given and isinstance(pool, httpcore.ConnectionPool):
                pool._network_backend = deadlines
        return deadlines

    def start(self, seconds: float | None) -> None:
        """The calling thread's request must be over in ``seconds`` (None: no deadline)."""
        self._deadline.at = None if seconds is None else time.monotonic() + seconds

    def clear(self) -> None:
        self._deadline.at = None

    def bounded(self, timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
        """``timeout`` cut to the time left; ``expired`` raised once none is."""
        at = getattr(self._deadline, "at", None)
        if at is None:
            return timeout
        left = at - time.monotonic()
        if left <= 0:
            raise expired("the request's deadline passed")
        return left if timeout is None or left < timeout else timeout

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, self.bounded(timeout, httpcore.ConnectTimeout),
                                         local_address, socket_options)
        return _DeadlineStream(stream, self)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, self.bounded(timeout, httpcore.ConnectTimeout), socket_options)
        return _DeadlineStream(stream, self)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait ends by its request's deadline (see :class:`_DeadlineBackend`)."""

    def __init__(self, inner: httpcore.NetworkStream, deadlines: _DeadlineBackend):
        self._inner = inner
        self._deadlines = deadlines

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadlines.bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadlines.bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        bounded = self._deadlines.bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded), self._deadlines)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def query_value(value: Any) -> str:
    """A filter value as the API compares it: the string form of the stored value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and is_loopback(parts.hostname or "")


def _cursor(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # a position, sent back as the text it is
    raise ProtocolError(f"GET {path} answered a next_cursor that is a {type(value).__name__}, not text; stopping")


def redacted(text: str, secret: str) -> str:
    """``text`` with ``secret`` (the token) blanked out: what a server says is shown to the user.
    (A token of a few characters, a test's, would blank out pieces of words: no real one is.)"""
    return text.replace(secret, "***") if len(secret) >= 8 and secret in text else text


def redacted_json(value: Any, secret: str) -> Any:
    """Decoded JSON ``value`` with ``secret`` blanked out of every text in it, keys included. Looked
    for as JSON writes it: in the server's own text an escape (``\\/`` for ``/``, as PHP writes
    it, or ``\\u0041``) would hide it from :func:`redacted`. (Never inside an escape: an even run
    of backslashes before it.)"""
    if len(secret) < 8:
        return value
    text = json.dumps(value)
    blanked = re.sub(r"(?<!\\)((?:\\\\)*)" + re.escape(json.dumps(secret)[1:-1]), r"\1***", text)
    return value if blanked == text else json.loads(blanked)


def translate_error(response: httpx.Response, method: str, path: str, *, secret: str = "") -> ApiError:
    """The exception for an error response, carrying status, detail and request id; the token
    blanked out of what the server said, should it repeat the request's headers."""
    try:
        body = redacted_json(json.loads(response.text), secret)
        detail = body.get("detail", body) if isinstance(body, dict) else body
    except (ValueError, RecursionError):  # (JSON nested too deep to read is no detail either)
        text = redacted(response.text, secret)
        detail = " ".join(text.split())[:300] or None  # an HTML page's lines made one, as an error is
    kwargs = dict(
        status=response.status_code,
        method=method,
        path=path,
        detail=detail,
        request_id=response.headers.get("x-request-id") or response.headers.get("request-id"),
    )
    status = response.status_code
    if status == 429:
        return RateLimited(retry_after=parse_retry_after(response.headers.get("retry-after")), **kwargs)
    if status in (401, 403):
        return AuthError(**kwargs)
    if status == 404:
        return NotFoundError(**kwargs)
    if status in (400, 409, 413, 422):
        return RequestRejected(**kwargs)
    if status >= 500:  # a 503 may say when to come back, as a 429 does
        return ServerError(retry_after=parse_retry_after(response.headers.get("retry-after")), **kwargs)
    return ApiError(**kwargs)


def describe_transport_error(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection without an answer"
    return f"{type(exc).__name__}: {exc}"
