"""A local Fragment API server with a real SQLite database, for tests, benchmarks and rehearsals.

It is an independent oracle of the contract (``fragment-api.md``): it imports only the standard
library and httpx, never the client side of ``fragment_bulk``.

Modules, one job each (imports flow downwards)::

    config      SandboxConfig: every switch (token, db, rate limit, batch size, faults, and
                the contract's assumed points: answer order, page envelope, error body...)
    validation  JSON bodies and values -> normalised values or FastAPI-style 422 details
    tasks       what a write does to a task (defaults, PUT/PATCH, server-set timestamps)
    search      list query strings -> filters + keyset page request; cursors; page meta, envelope
    store       SQLite persistence of tasks and comments
    limits      token-bucket rate limiter and seeded fault injector
    stats       counters of what the sandbox saw
    responses   JSON responses; error bodies in the configured style
    app         routing and the request pipeline, as a pure function of a request
    transport   httpx transport over the app (in-process)
    server      the app on a real socket; the Sandbox facade; run_server for the CLI
"""

from .config import SandboxConfig
from .server import Sandbox, SandboxServer, run_server

__all__ = ["Sandbox", "SandboxConfig", "SandboxServer", "run_server"]
