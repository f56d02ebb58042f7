"""The sandbox's HTTP semantics as a plain function: ``SandboxApp.handle(Request)``.

No sockets here, so the same code answers the real loopback server (server.py) and the
in-process httpx transport (transport.py), and the two cannot drift apart. The pipeline of an
API request is fixed and is the order the contract implies:

    auth (401) -> rate limit (429) -> latency -> 5xx fault -> route + handler -> lost response

so a rate-limited request never reaches a fault or a write, a 5xx fault never writes, and a
lost response always follows a committed write. ``/_sandbox/`` paths (inspection and control
for tests) need the token but skip the limiter and the faults, and their errors keep FastAPI's
shape whatever ``error_body`` says: they are the sandbox's own, not Fragment's, and the tools
that drive them read one shape.

Each handler reads the config once, so one request sees one set of switches even while
``configure`` swaps them.
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
from typing import Any

from .config import SandboxConfig
from .limits import FaultInjector, RateLimiter, retry_after_header
from .responses import Response, error_response, json_response
from .search import page_body, parse_page_request, parse_task_filters
from .stats import Stats
from .store import MissingTasks, TaskStore
from .tasks import Record, WriteRules, api_view
from .validation import Invalid, Problems, TaskInput, check_comment, check_object, check_task, check_uid, parse_json_body

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
ADMIN_PREFIX = "/_sandbox"
ADMIN_ERROR_STYLE = "fastapi"
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
        config = self._config
        if path.startswith(ADMIN_PREFIX + "/"):
            denied = self._refuse_token(request, config, ADMIN_ERROR_STYLE)
            return denied or self._dispatch(self._admin_routes, request, path[len(ADMIN_PREFIX):], ADMIN_ERROR_STYLE)
        if path.startswith(API_PREFIX + "/"):
            return self._handle_api(request, path[len(API_PREFIX):], config)
        return error_response(404, style=config.error_body)

    def _handle_api(self, request: Request, route: str, config: SandboxConfig) -> Response | LostResponse:
        style = config.error_body
        denied = self._refuse_token(request, config, style)
        if denied is not None:
            self.stats.record(status=denied.status)
            return denied
        refused = _refuse_headers(request) if config.headers == "strict" else None
        if refused is not None:
            self.stats.record(status=refused[0])
            return error_response(*refused, style=style)
        wait = self._limiter.wait_for(config.token, _rate_cost(request, route, config.rate_cost))
        if wait > 0:
            self.stats.record(status=429)
            return error_response(429, "Too Many Requests", retry_after_header(wait, config.retry_after), style=style)
        delay = self._faults.latency(*config.latency_ms)
        if delay:
            time.sleep(delay)
        fault_status = self._faults.server_error(config.fault_5xx)
        if fault_status is not None:
            self.stats.record(status=fault_status, fault="5xx")
            return error_response(fault_status, style=style)
        response = self._dispatch(self._api_routes, request, route, style)
        wrote = request.method in WRITE_METHODS and 200 <= response.status < 300
        if wrote and self._faults.lose_response(config.fault_lost):
            self.stats.record(status=None, fault="lost", wrote=True)
            return LOST
        self.stats.record(status=response.status, wrote=wrote)
        return response

    @staticmethod
    def _refuse_token(request: Request, config: SandboxConfig, style: str) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), config.token.encode()):
            return None
        detail = "Not authenticated" if not token else "Invalid token"
        return error_response(401, detail, [("WWW-Authenticate", "Bearer")], style=style)

    def _dispatch(self, routes: Routes, request: Request, route: str, style: str) -> Response:
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
            return error_response(422, exc.problems.errors, style=style)
        except HTTPError as exc:
            return error_response(exc.status, exc.detail, exc.headers, style=style)
        except Exception:  # a bug in the sandbox: answer like a server would, keep serving
            logger.exception("sandbox error on %s %s", request.method, request.path)
            return error_response(500, style=style)

    # -- API handlers ----------------------------------------------------------------------

    def _me(self, request: Request) -> Response:
        return json_response(200, ACCOUNT)

    def _create_task(self, request: Request) -> Response:
        config = self._config
        task = _one_task(request, config, partial=False)
        return _task_response(self.store.create_tasks([task.values], _write_rules(config))[0])

    def _get_task(self, request: Request, raw_uid: str) -> Response:
        record = self.store.get_task(_path_uid(raw_uid))
        if record is None:
            raise HTTPError(404, "Task not found")
        return _task_response(record)

    def _put_task(self, request: Request, raw_uid: str) -> Response:
        config = self._config
        uid = _path_uid(raw_uid)
        task = _one_task(request, config, partial=False, path_uid=uid)
        return _task_response(self.store.put_tasks([(uid, task.values)], _write_rules(config))[0])

    def _patch_task(self, request: Request, raw_uid: str) -> Response:
        config = self._config
        uid = _path_uid(raw_uid)
        task = _one_task(request, config, partial=True, path_uid=uid)
        try:
            return _task_response(self.store.patch_tasks([(uid, task.values)], _write_rules(config))[0])
        except MissingTasks as exc:
            raise HTTPError(404, "Task not found") from exc

    def _delete_task(self, request: Request, raw_uid: str) -> Response:
        record = self.store.delete_task(_path_uid(raw_uid))
        if record is not None:
            return _task_response(record)
        if self._config.second_delete == 200:
            return json_response(200, {})  # a server for which "gone" is done, not an error
        raise HTTPError(404, "Task not found")

    def _list_tasks(self, request: Request) -> Response:
        config = self._config
        filters = parse_task_filters(request.query, time_filters=config.time_filters)
        page = parse_page_request(request.query, config, orderable=True)
        records, meta = self.store.search_tasks(filters, page)
        return json_response(200, page_body([api_view(r) for r in records], meta, config.page_envelope))

    def _create_batch(self, request: Request) -> Response:
        config = self._config
        batch = _read_batch(request, config, partial=False, uid_required=False)
        return batch.answer(self.store.create_tasks([task.values for task in batch.tasks], _write_rules(config)), config)

    def _put_batch(self, request: Request) -> Response:
        config = self._config
        batch = _read_batch(request, config, partial=False, uid_required=True)
        return batch.answer(self.store.put_tasks(batch.keyed(), _write_rules(config)), config)

    def _patch_batch(self, request: Request) -> Response:
        config = self._config
        batch = _read_batch(request, config, partial=True, uid_required=True)
        try:
            records = self.store.patch_tasks(batch.keyed(), _write_rules(config),
                                             write_found=config.batch_failure == "write_valid")
        except MissingTasks as exc:
            # A 422 naming each unknown item (not a 404) so a client can isolate them like
            # any other bad item.
            for index in exc.indexes:
                batch.problems.add(("body", "items", batch.positions[index], "uid"), "task not found", "not_found")
            raise Invalid(batch.problems) from exc
        return batch.answer(records, config, reorder=False)  # PATCH's answer order is known: the request's

    def _add_comment(self, request: Request, raw_uid: str) -> Response:
        uid = _path_uid(raw_uid)
        comment = self.store.add_comment(uid, check_comment(parse_json_body(request.body)))
        if comment is None:
            raise HTTPError(404, "Task not found")
        return json_response(200, comment)

    def _list_comments(self, request: Request, raw_uid: str) -> Response:
        config = self._config
        if config.comment_listing == "missing":
            raise HTTPError(405, "Method Not Allowed", [("Allow", "POST")])
        if config.comment_listing == "not_found":
            raise HTTPError(404, "Not Found")
        uid = _path_uid(raw_uid)
        page = parse_page_request(request.query, config, orderable=False)
        result = self.store.list_comments(uid, page)
        if result is None:
            raise HTTPError(404, "Task not found")
        comments, meta = result
        return json_response(200, page_body(comments, meta, config.page_envelope))

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


_LIBRARY_AGENTS = ("python-requests/", "python-httpx/", "python-urllib", "curl/", "wget/", "go-http-client/", "java/")


def _refuse_headers(request: Request) -> tuple[int, str] | None:
    """(status, detail) for a request a server enforcing the contract's headers would block."""
    agent = request.headers.get("user-agent", "").strip()
    if not agent or agent.lower().startswith(_LIBRARY_AGENTS):
        return 403, "Forbidden: send a User-Agent naming your client (e.g. my-tool/1.0)"
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.body and media != "application/json":
        return 415, f"Unsupported Media Type: send JSON as application/json, not {media or 'no Content-Type'}"
    return None


def _rate_cost(request: Request, route: str, mode: str) -> int:
    """What a request counts for against the limit: one, or (``rate_cost="item"``) a batch's items."""
    if mode != "item" or route.rstrip("/") != "/tasks/batch" or request.method not in WRITE_METHODS:
        return 1
    try:
        items = json.loads(request.body).get("items")
    except (ValueError, AttributeError, RecursionError):  # the handler refuses such a body, for one
        return 1
    return max(1, len(items)) if isinstance(items, list) else 1


def _compile(routes: list[tuple[str, dict[str, Handler]]]) -> Routes:
    return [(re.compile(pattern), handlers) for pattern, handlers in routes]


def _path_uid(raw: str) -> str:
    problems = Problems()
    uid = check_uid(raw, ("path", "uid"), problems)
    if uid is None:
        raise Invalid(problems)
    return uid


def _one_task(request: Request, config: SandboxConfig, *, partial: bool, path_uid: str | None = None) -> TaskInput:
    """The validated body of a single-task write; a body ``uid`` must agree with the path's."""
    problems = Problems()
    task = check_task(parse_json_body(request.body), ("body",), problems, partial=partial, uid_required=False,
                      reject_unknown=config.unknown_keys == "reject")
    if task is None:
        raise Invalid(problems)
    if task.uid is not None and path_uid is not None and task.uid != path_uid:
        raise Invalid.one(("body", "uid"), "uid in the body does not match the uid in the path", "value_error")
    return task


@dataclass
class _Batch:
    """The valid items of a batch body, and the problems of the others (none unless the config's
    ``batch_failure`` is ``write_valid``: then the valid items are written before the 422)."""

    tasks: list[TaskInput]
    positions: list[int]  # the index of each valid item in the request
    problems: Problems

    def keyed(self) -> list[tuple[str, dict[str, Any]]]:
        """(uid, values) pairs of items validated with ``uid_required``."""
        return [(task.uid, task.values) for task in self.tasks if task.uid is not None]

    def answer(self, records: list[Record], config: SandboxConfig, *, reorder: bool = True) -> Response:
        """Once the valid items are written: the 422 naming the bad ones, if any, else the tasks."""
        if self.problems:
            raise Invalid(self.problems)
        if reorder and config.batch_order == "reversed":
            records = records[::-1]
        return json_response(200, {"items": [api_view(r) for r in records]})


def _read_batch(request: Request, config: SandboxConfig, *, partial: bool, uid_required: bool) -> _Batch:
    """Every item validated before anything is written: one bad item rejects the batch, unless
    ``batch_failure="write_valid"``, where it rejects only itself (``_Batch.answer``)."""
    body = parse_json_body(request.body)
    problems = Problems()
    if not check_object(body, ("body",), problems):
        raise Invalid(problems)
    items = body.get("items")
    if not isinstance(items, list):
        raise Invalid.one(("body", "items"), "Input should be a valid list", "list_type")
    if len(items) > config.max_batch:
        message = f"at most {config.max_batch} items per batch, got {len(items)}"
        if config.oversize_status == 413:
            raise HTTPError(413, f"Request Entity Too Large: {message}")
        raise Invalid.one(("body", "items"), message, "too_long")
    batch = _Batch([], [], problems)
    for index, item in enumerate(items):
        task = check_task(item, ("body", "items", index), problems, partial=partial, uid_required=uid_required,
                          reject_unknown=config.unknown_keys == "reject")
        if task is not None:
            batch.tasks.append(task)
            batch.positions.append(index)
    if problems and config.batch_failure == "all_or_nothing":
        raise Invalid(problems)
    return batch


def _write_rules(config: SandboxConfig) -> WriteRules:
    return WriteRules(merge_patch_fields=config.patch_fields == "merge", stamp_started=config.stamp_started)


def _task_response(record: dict[str, Any]) -> Response:
    return json_response(200, api_view(record))
