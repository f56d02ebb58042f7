"""The sandbox's HTTP semantics as a plain function: ``SandboxApp.handle(Request)``.

No sockets here, so the same code answers the real loopback server (server.py) and the
in-process httpx transport (transport.py), and the two cannot drift apart. The pipeline of an
API request is fixed and is the order the contract implies:

    auth (401) -> rate limit (429) -> latency -> 5xx fault -> route + handler -> lost response

so a rate-limited request never reaches a fault or a write, a 5xx fault never writes, and a
lost response always follows a committed write. ``/_sandbox/`` paths (inspection and control
for tests) need the token but skip the limiter and the faults.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from .config import SandboxConfig
from .limits import FaultInjector, RateLimiter, retry_after_header
from .search import parse_page_request, parse_task_filters
from .stats import Stats
from .store import MissingTasks, TaskStore
from .tasks import api_view
from .validation import Invalid, Problems, TaskInput, check_comment, check_object, check_task, check_uid, parse_json_body

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
ADMIN_PREFIX = "/_sandbox"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ACCOUNT = {
    "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, "fragment-sandbox")),
    "name": "Sandbox",
    "email": "sandbox@fragment.local",
}


@dataclass(frozen=True)
class Request:
    """What the app needs of an HTTP request; ``headers`` keys are lower-case."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class LostResponse:
    """Marker: the write committed; the adapter must close the connection and answer nothing."""


LOST = LostResponse()


class HTTPError(Exception):
    """An error answer other than a 422 (which ``validation.Invalid`` carries)."""

    def __init__(self, status: int, detail: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or []


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Date", formatdate(usegmt=True)),
            *(headers or []),
        ],
        body,
    )


def error_response(status: int, detail: Any = None, headers: list[tuple[str, str]] | None = None) -> Response:
    return json_response(status, {"detail": HTTPStatus(status).phrase if detail is None else detail}, headers)


Handler = Callable[..., Response]
Routes = list[tuple[re.Pattern[str], dict[str, Handler]]]


class SandboxApp:
    """Fragment's API over a ``TaskStore``, with the limiter, faults and stats around it."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._config_lock = threading.Lock()
        self.store = TaskStore(config.db_path)
        self.stats = Stats()
        self._limiter = RateLimiter(config.rate_per_min, config.burst)
        self._faults = FaultInjector(config.seed)
        self._api_routes: Routes = _compile([
            (r"/accounts/me", {"GET": self._me}),
            (r"/tasks", {"GET": self._list_tasks, "POST": self._create_task}),
            # Before the {uid} route, so "batch" is never taken for a uid.
            (r"/tasks/batch", {"POST": self._create_batch, "PUT": self._put_batch, "PATCH": self._patch_batch}),
            (r"/tasks/([^/]+)", {"GET": self._get_task, "PUT": self._put_task, "PATCH": self._patch_task,
                                 "DELETE": self._delete_task}),
            (r"/tasks/([^/]+)/comments", {"GET": self._list_comments, "POST": self._add_comment}),
        ])
        self._admin_routes: Routes = _compile([
            (r"/stats", {"GET": self._admin_stats}),
            (r"/reset", {"POST": self._admin_reset}),
            (r"/config", {"GET": self._admin_config, "PATCH": self._admin_configure}),
            (r"/tasks", {"GET": self._admin_tasks}),
        ])

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def configure(self, **changes: Any) -> SandboxConfig:
        """Swap in a changed config; a new rate or burst refills the bucket, a new seed reseeds."""
        with self._config_lock:
            old = self._config
            new = old.with_changes(changes)
            if (new.rate_per_min, new.burst) != (old.rate_per_min, old.burst):
                self._limiter = RateLimiter(new.rate_per_min, new.burst)
            if new.seed != old.seed:
                self._faults = FaultInjector(new.seed)
            self._config = new
            return new

    def reset(self) -> None:
        """Drop every task, comment and count; refill the bucket; restart the fault sequence."""
        with self._config_lock:
            self.store.reset()
            self.stats.reset()
            self._limiter = RateLimiter(self._config.rate_per_min, self._config.burst)
            self._faults = FaultInjector(self._config.seed)

    def close(self) -> None:
        self.store.close()

    # -- the pipeline ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response | LostResponse:
        path = request.path.rstrip("/") or "/"
        if path.startswith(ADMIN_PREFIX + "/"):
            denied = self._refuse_token(request, self._config)
            return denied or self._dispatch(self._admin_routes, request, path[len(ADMIN_PREFIX):])
        if path.startswith(API_PREFIX + "/"):
            return self._handle_api(request, path[len(API_PREFIX):])
        return error_response(404)

    def _handle_api(self, request: Request, route: str) -> Response | LostResponse:
        config = self._config
        denied = self._refuse_token(request, config)
        if denied is not None:
            self.stats.record(status=denied.status)
            return denied
        wait = self._limiter.wait_for(config.token)
        if wait > 0:
            self.stats.record(status=429)
            return error_response(429, "Too Many Requests", retry_after_header(wait, config.retry_after))
        delay = self._faults.latency(*config.latency_ms)
        if delay:
            time.sleep(delay)
        fault_status = self._faults.server_error(config.fault_5xx)
        if fault_status is not None:
            self.stats.record(status=fault_status, fault="5xx")
            return error_response(fault_status)
        response = self._dispatch(self._api_routes, request, route)
        wrote = request.method in WRITE_METHODS and 200 <= response.status < 300
        if wrote and self._faults.lose_response(config.fault_lost):
            self.stats.record(status=None, fault="lost", wrote=True)
            return LOST
        self.stats.record(status=response.status, wrote=wrote)
        return response

    @staticmethod
    def _refuse_token(request: Request, config: SandboxConfig) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), config.token.encode()):
            return None
        detail = "Not authenticated" if not token else "Invalid token"
        return error_response(401, detail, [("WWW-Authenticate", "Bearer")])

    def _dispatch(self, routes: Routes, request: Request, route: str) -> Response:
        try:
            for pattern, handlers in routes:
                match = pattern.fullmatch(route)
                if match is None:
                    continue
                handler = handlers.get(request.method)
                if handler is None:
                    raise HTTPError(405, "Method Not Allowed", [("Allow", ", ".join(handlers))])
                return handler(request, *match.groups())
            raise HTTPError(404, "Not Found")
        except Invalid as exc:
            return error_response(422, exc.problems.errors)
        except HTTPError as exc:
            return error_response(exc.status, exc.detail, exc.headers)
        except Exception:  # a bug in the sandbox: answer like a server would, keep serving
            logger.exception("sandbox error on %s %s", request.method, request.path)
            return error_response(500)

    # -- API handlers ----------------------------------------------------------------------

    def _me(self, request: Request) -> Response:
        return json_response(200, ACCOUNT)

    def _create_task(self, request: Request) -> Response:
        task = _one_task(request, partial=False)
        return _task_response(self.store.create_tasks([task.values])[0])

    def _get_task(self, request: Request, raw_uid: str) -> Response:
        record = self.store.get_task(_path_uid(raw_uid))
        if record is None:
            raise HTTPError(404, "Task not found")
        return _task_response(record)

    def _put_task(self, request: Request, raw_uid: str) -> Response:
        uid = _path_uid(raw_uid)
        task = _one_task(request, partial=False, path_uid=uid)
        return _task_response(self.store.put_tasks([(uid, task.values)])[0])

    def _patch_task(self, request: Request, raw_uid: str) -> Response:
        uid = _path_uid(raw_uid)
        task = _one_task(request, partial=True, path_uid=uid)
        try:
            return _task_response(self.store.patch_tasks([(uid, task.values)])[0])
        except MissingTasks as exc:
            raise HTTPError(404, "Task not found") from exc

    def _delete_task(self, request: Request, raw_uid: str) -> Response:
        record = self.store.delete_task(_path_uid(raw_uid))
        if record is None:
            raise HTTPError(404, "Task not found")
        return _task_response(record)

    def _list_tasks(self, request: Request) -> Response:
        filters = parse_task_filters(request.query)
        page = parse_page_request(request.query, self._config, orderable=True)
        records, meta = self.store.search_tasks(filters, page)
        return json_response(200, {"items": [api_view(r) for r in records], "meta": meta})

    def _create_batch(self, request: Request) -> Response:
        tasks = self._batch(request, partial=False, uid_required=False)
        return _batch_response(self.store.create_tasks([task.values for task in tasks]))

    def _put_batch(self, request: Request) -> Response:
        tasks = self._batch(request, partial=False, uid_required=True)
        return _batch_response(self.store.put_tasks(_keyed(tasks)))

    def _patch_batch(self, request: Request) -> Response:
        tasks = self._batch(request, partial=True, uid_required=True)
        try:
            return _batch_response(self.store.patch_tasks(_keyed(tasks)))
        except MissingTasks as exc:
            # A 422 naming each unknown item (not a 404) so a client can isolate them like
            # any other bad item; nothing of the batch was written.
            problems = Problems()
            for index in exc.indexes:
                problems.add(("body", "items", index, "uid"), "task not found", "not_found")
            raise Invalid(problems) from exc

    def _batch(self, request: Request, *, partial: bool, uid_required: bool) -> list[TaskInput]:
        """Every item validated before anything is written: one bad item rejects the batch."""
        body = parse_json_body(request.body)
        problems = Problems()
        if not check_object(body, ("body",), problems):
            raise Invalid(problems)
        items = body.get("items")
        if not isinstance(items, list):
            raise Invalid.one(("body", "items"), "Input should be a valid list", "list_type")
        limit = self._config.max_batch
        if len(items) > limit:
            message = f"at most {limit} items per batch, got {len(items)}"
            if self._config.oversize_status == 413:
                raise HTTPError(413, f"Request Entity Too Large: {message}")
            raise Invalid.one(("body", "items"), message, "too_long")
        tasks = [
            check_task(item, ("body", "items", index), problems, partial=partial, uid_required=uid_required)
            for index, item in enumerate(items)
        ]
        if problems:
            raise Invalid(problems)
        return [task for task in tasks if task is not None]

    def _add_comment(self, request: Request, raw_uid: str) -> Response:
        uid = _path_uid(raw_uid)
        comment = self.store.add_comment(uid, check_comment(parse_json_body(request.body)))
        if comment is None:
            raise HTTPError(404, "Task not found")
        return json_response(200, comment)

    def _list_comments(self, request: Request, raw_uid: str) -> Response:
        uid = _path_uid(raw_uid)
        page = parse_page_request(request.query, self._config, orderable=False)
        result = self.store.list_comments(uid, page)
        if result is None:
            raise HTTPError(404, "Task not found")
        comments, meta = result
        return json_response(200, {"items": comments, "meta": meta})

    # -- /_sandbox/ handlers ---------------------------------------------------------------

    def _admin_stats(self, request: Request) -> Response:
        return json_response(200, self.stats.snapshot())

    def _admin_tasks(self, request: Request) -> Response:
        return json_response(200, {"items": [api_view(record) for record in self.store.all_tasks()]})

    def _admin_reset(self, request: Request) -> Response:
        self.reset()
        return json_response(200, {"reset": True})

    def _admin_config(self, request: Request) -> Response:
        return json_response(200, self._config.public_dict())

    def _admin_configure(self, request: Request) -> Response:
        changes = parse_json_body(request.body)
        if not isinstance(changes, dict):
            raise HTTPError(422, "body must be a JSON object of settings to change")
        try:
            return json_response(200, self.configure(**changes).public_dict())
        except (TypeError, ValueError) as exc:
            raise HTTPError(422, str(exc)) from exc


def _compile(routes: list[tuple[str, dict[str, Handler]]]) -> Routes:
    return [(re.compile(pattern), handlers) for pattern, handlers in routes]


def _path_uid(raw: str) -> str:
    problems = Problems()
    uid = check_uid(raw, ("path", "uid"), problems)
    if uid is None:
        raise Invalid(problems)
    return uid


def _one_task(request: Request, *, partial: bool, path_uid: str | None = None) -> TaskInput:
    """The validated body of a single-task write; a body ``uid`` must agree with the path's."""
    problems = Problems()
    task = check_task(parse_json_body(request.body), ("body",), problems, partial=partial, uid_required=False)
    if task is None:
        raise Invalid(problems)
    if task.uid is not None and path_uid is not None and task.uid != path_uid:
        raise Invalid.one(("body", "uid"), "uid in the body does not match the uid in the path", "value_error")
    return task


def _keyed(tasks: list[TaskInput]) -> list[tuple[str, dict[str, Any]]]:
    """(uid, values) pairs of batch items validated with ``uid_required``."""
    return [(task.uid, task.values) for task in tasks if task.uid is not None]


def _task_response(record: dict[str, Any]) -> Response:
    return json_response(200, api_view(record))


def _batch_response(records: list[dict[str, Any]]) -> Response:
    return json_response(200, {"items": [api_view(r) for r in records]})
