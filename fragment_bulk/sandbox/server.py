"""The sandbox on a real socket, and the ``Sandbox`` facade that tests and the CLI use.

The standard library's ``ThreadingHTTPServer`` is enough (one thread per connection, HTTP/1.1
keep-alive) and, unlike an ASGI stack, gives direct control of the socket, which the "lost
response" fault needs: commit the write, then shut the connection without sending a byte.
"""

from __future__ import annotations

import signal
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .app import API_PREFIX, LostResponse, Request, SandboxApp
from .config import SandboxConfig
from .responses import Response, error_response
from .tasks import api_view
from .transport import SandboxTransport
from .validation import normalise_uid

IDLE_TIMEOUT = 120.0  # seconds an idle keep-alive connection is kept open
SERVER_NAME = "fragment-sandbox"


class _RequestHandler(BaseHTTPRequestHandler):
    """Adapts one HTTP/1.1 connection to ``SandboxApp.handle``; keep-alive, quiet."""

    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    timeout = IDLE_TIMEOUT
    server: "_HTTPServer"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in one write, but a small request/response ping-pong on a
        # kept-alive connection still meets Nagle + delayed ACK (40 ms stalls) without this.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's naming)
        self._serve()

    # HEAD and OPTIONS too: the API's own 405 (JSON, with Allow), not the stdlib's HTML 501.
    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True  # the request's end is unknown: the stream is unusable
            self._send(error_response(400, str(exc), style=self.server.app.config.error_body))
            return
        target = urlsplit(self.path)
        result = self.server.app.handle(
            Request(
                method=self.command,
                path=unquote(target.path),
                query=parse_qsl(target.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
            )
        )
        if isinstance(result, LostResponse):
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(result)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length", "0").strip() or "0")
        except ValueError:
            length = -1
        if length < 0:
            raise ValueError("invalid Content-Length")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError as exc:
                raise ValueError("invalid chunked body") from exc
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers, up to the blank line
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(3)  # the CRLF after each chunk

    def _send(self, response: Response) -> None:
        lines = [f"HTTP/1.1 {response.status} {HTTPStatus(response.status).phrase}", f"Server: {SERVER_NAME}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        if self.close_connection:
            lines.append("Connection: close")
        body = b"" if self.command == "HEAD" else response.body  # (its Content-Length says what GET would send)
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's signature)
        """Quiet: a benchmark's thousands of requests must not flood stderr."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Handlers of idle keep-alive connections block in recv(); joining them on close would hang.
    # They are shut down explicitly by close_connections() instead.
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can stall for
        # seconds on machines without network; the name is not used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hang up (normal for keep-alive and for fault tests)."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """A sandbox listening on a real socket, served by a background thread until ``stop()``."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._httpd = _HTTPServer((host, port), app)
        self.host = host
        self.port: int = self._httpd.server_address[1]
        url_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{url_host}:{self.port}{API_PREFIX}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name=f"sandbox-{self.port}", daemon=True
        )
        self._stopped = False
        self._thread.start()

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C still reaches the caller)."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        """Stop accepting, close open connections, release the port. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> "SandboxServer":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class Sandbox:
    """A local Fragment: the app and its store, reachable in-process or on a socket.

    >>> sb = Sandbox(SandboxConfig(rate_per_min=None))
    >>> client = httpx.Client(transport=sb.transport(), base_url=sb.base_url)   # in-process
    >>> with sb.serve(port=0) as server:                                        # real socket
    ...     httpx.get(server.url + "/accounts/me", headers={"Authorization": "Bearer sandbox-token"})
    """

    base_url = f"http://sandbox.localhost{API_PREFIX}"  # reserved for loopback (RFC 6761): never a network host
    base_path_url = base_url  # the name docs/design.md uses

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self._app = SandboxApp(config or SandboxConfig())
        self._servers: list[SandboxServer] = []

    @property
    def config(self) -> SandboxConfig:
        return self._app.config

    def transport(self) -> SandboxTransport:
        return SandboxTransport(self._app)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
        """Start serving on ``host:port`` (0: a free port) in a background thread."""
        server = SandboxServer(self._app, host, port)
        self._servers.append(server)
        return server

    def tasks(self) -> list[dict[str, Any]]:
        """Every task as the API shows it, in creation order."""
        return [api_view(record) for record in self._app.store.all_tasks()]

    def task(self, uid: str) -> dict[str, Any] | None:
        record = self._app.store.get_task(_checked_uid(uid))
        return None if record is None else api_view(record)

    def comments(self, uid: str) -> list[dict[str, Any]]:
        return self._app.store.all_comments(_checked_uid(uid))

    def task_count(self) -> int:
        return self._app.store.count_tasks()

    def stats(self) -> dict[str, Any]:
        return self._app.stats.snapshot()

    def reset(self) -> None:
        self._app.reset()

    def configure(self, **changes: Any) -> SandboxConfig:
        """Change settings at runtime, e.g. ``configure(fault_5xx=0.2)``; returns the new config."""
        return self._app.configure(**changes)

    def close(self) -> None:
        """Stop every server started by ``serve()`` and close the database."""
        for server in self._servers:
            server.stop()
        self._servers.clear()
        self._app.close()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _checked_uid(uid: str) -> str:
    canonical = normalise_uid(uid)
    if canonical is None:
        raise ValueError(f"not a UUID: {uid!r}")
    return canonical


def run_server(config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 8765,
               announce: Callable[[str], object] = print) -> None:
    """Serve until Ctrl-C (or SIGTERM), announcing where and how to connect; for the CLI."""
    config = config or SandboxConfig()
    with Sandbox(config) as sandbox:
        server = sandbox.serve(host, port)
        rate = "off" if config.rate_per_min is None else f"{config.rate_per_min:g}/min, burst {config.burst}"
        for line in (
            f"Fragment sandbox listening on {server.url}",
            f"  token:      {config.token}",
            f"  database:   {config.db_path if config.db_path is not None else 'in memory (lost on exit)'}",
            f"  rate limit: {rate}",
            f"  export FRAGMENT_BASE_URL={server.url} FRAGMENT_TOKEN={config.token}",
            "Press Ctrl-C to stop.",
        ):
            announce(line)
        previous = _raise_on_sigterm()
        try:
            server.wait()
        except KeyboardInterrupt:
            announce("Sandbox stopped.")
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _raise_on_sigterm() -> Any:
    """Make SIGTERM stop the server like Ctrl-C (so a file database closes cleanly).

    Only the main thread may set signal handlers; elsewhere, leave them alone.
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)
