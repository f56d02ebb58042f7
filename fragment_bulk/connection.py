"""Where a command's requests go: a real Fragment, or a sandbox embedded in this process.

``--sandbox`` (CLI) and ``sandbox=`` (Python) run the command against a local
:class:`~fragment_bulk.sandbox.Sandbox` through an in-process transport: no port, no token to
set up, and the tasks persist in a SQLite file (``.fragment-sandbox.sqlite`` in the current
directory by default) so that an import, an export and a resume all see the same data.

The embedded sandbox enforces the same request rate the client is set to, so a rehearsal takes
the time the real migration will take; ``--rate off`` lifts both.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from fragment_bulk.client import FragmentClient
from fragment_bulk.config import Settings, parse_rate
from fragment_bulk.errors import ConfigError
from fragment_bulk.sandbox import Sandbox, SandboxConfig

DEFAULT_SANDBOX_DB = Path(".fragment-sandbox.sqlite")

SandboxChoice = bool | str | Path | Sandbox | None


@contextmanager
def connect(
    *,
    client: FragmentClient | None = None,
    settings: Settings | None = None,
    sandbox: SandboxChoice = None,
    rate: str | float | None = None,
    log: Callable[[str], None] = lambda message: None,
    **setting_changes: Any,
) -> Iterator[FragmentClient]:
    """A client for one command, closed (with any sandbox it opened) at the end.

    ``client`` is used as given (the caller owns it). Otherwise ``settings`` (default: from the
    environment) with ``setting_changes`` applied (``None`` values are ignored), pointed at the
    sandbox when one is asked for: ``True`` or a path for an embedded, persisted sandbox, or a
    running :class:`Sandbox` object. ``rate`` is ``"60/min"``, ``"2/s"`` or ``"off"``; ``None``
    keeps the settings' rate.
    """
    if client is not None:
        yield client
        return
    changes = {key: value for key, value in setting_changes.items() if value is not None}
    if rate is not None:
        changes["rate_per_min"] = parse_rate(rate)
    with ExitStack() as stack:
        transport = None
        if sandbox is None or sandbox is False:
            base = settings or Settings.from_env()
        else:
            base = settings or Settings()
            running = _sandbox(sandbox, changes.get("rate_per_min", base.rate_per_min), log, stack)
            base = base.with_changes(token=running.config.token, base_url=running.base_url)
            transport = running.transport()
        chosen = base.with_changes(**changes) if changes else base
        client = stack.enter_context(FragmentClient(chosen, transport=transport))
        if transport is not None:  # every embedded sandbox has the same URL: its data file tells them apart
            path = running.config.db_path
            client.destination = f"the sandbox in {Path(path).resolve()}" if path else f"the in-memory sandbox {id(running)}"
        yield client


def _sandbox(choice: SandboxChoice, rate_per_min: float | None, log: Callable[[str], None], stack: ExitStack) -> Sandbox:
    if isinstance(choice, Sandbox):
        return choice
    if choice is not True and not isinstance(choice, (str, os.PathLike)):
        raise ConfigError(f"sandbox= takes True, the path of its data file, or a Sandbox; not {choice!r}")
    path = DEFAULT_SANDBOX_DB if choice is True else Path(choice)
    log(f"using the embedded sandbox, data in {path}")
    try:
        return stack.enter_context(Sandbox(SandboxConfig(db_path=path, rate_per_min=rate_per_min)))
    except (sqlite3.Error, OSError) as exc:
        raise ConfigError(f"cannot keep the sandbox's data in {path}: {exc}") from None
