"""What the sandbox answers: JSON responses, and error bodies in the configured style.

The contract only assumes FastAPI's error bodies, and a client must work whatever the shape
(``SandboxConfig.error_body``), so every error answer is made here from one FastAPI-style
``detail`` (a string, or the list of ``{"loc", "msg", "type"}`` problems of a 422):

    fastapi   {"detail": detail}
    message   {"message": "items[3].fields.title: title must be a non-empty string"}
    text      the same text, as text/plain

In the last two, a 422 names a batch item only inside its text: a client that cannot read the
index there must isolate the bad item some other way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return _response(status, "application/json", body, headers)


def error_response(status: int, detail: Any = None, headers: list[tuple[str, str]] | None = None,
                   *, style: str = "fastapi") -> Response:
    """An error answer; ``detail`` None is the status's phrase ("Not Found")."""
    if detail is None:
        detail = HTTPStatus(status).phrase
    if style == "fastapi":
        return json_response(status, {"detail": detail}, headers)
    if style == "message":
        return json_response(status, {"message": describe(detail)}, headers)
    return _response(status, "text/plain; charset=utf-8", describe(detail).encode(), headers)


def describe(detail: Any) -> str:
    """A FastAPI ``detail`` as one line: each problem as ``items[3].fields.title: msg``."""
    if isinstance(detail, str):
        return detail
    return "; ".join(f"{_where(problem['loc'])}: {problem['msg']}" for problem in detail)


def _where(loc: list[str | int]) -> str:
    # "body" says nothing when something follows it: ["body", "items", 3] reads items[3].
    parts = loc[1:] if len(loc) > 1 and loc[0] == "body" else loc
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _response(status: int, content_type: str, body: bytes, headers: list[tuple[str, str]] | None) -> Response:
    return Response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Date", formatdate(usegmt=True)),
            *(headers or []),
        ],
        body,
    )
