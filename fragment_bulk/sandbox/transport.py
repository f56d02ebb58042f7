"""An ``httpx.BaseTransport`` that answers from a ``SandboxApp`` in-process.

Tests run the whole client stack (headers, retries, error translation) through it without a
socket, which keeps edge-case tests fast. A lost response becomes the same exception httpx
raises when a real server closes the connection without answering, raised after the write
committed.
"""

from __future__ import annotations

import httpx

from .app import LostResponse, Request, SandboxApp


class SandboxTransport(httpx.BaseTransport):
    """Thread-safe: the app serialises what must be serialised."""

    def __init__(self, app: SandboxApp) -> None:
        self._app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        result = self._app.handle(
            Request(
                method=request.method,
                path=request.url.path,
                query=list(request.url.params.multi_items()),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=request.read(),
            )
        )
        if isinstance(result, LostResponse):
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return httpx.Response(result.status, headers=result.headers, content=result.body, request=request)
