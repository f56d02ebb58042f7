"""Progress bars: the only module that imports tqdm.

``tqdm.auto`` gives a widget in Jupyter and a text bar in a terminal. The bar goes to stderr
so that stdout stays clean for ``--json``; it is off when stderr is not a terminal (CI logs,
pipes) unless asked for, and always off with ``quiet``.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol


class Progress(Protocol):
    def update(self, count: int) -> None: ...
    def close(self) -> None: ...


class _Silent:
    def update(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass


def in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = getattr(shell, "get_ipython", lambda: None)()
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


def progress_bar(total: int | None, *, unit: str = "row", description: str = "", enabled: bool | None = None, **options: Any) -> Progress:
    """A bar over ``total`` units. ``enabled=None`` decides from the terminal / notebook."""
    if enabled is None:
        enabled = in_notebook() or sys.stderr.isatty()
    if not enabled:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, desc=description, file=sys.stderr, dynamic_ncols=True, **options)
