"""fragment-bulk: move thousands of rows between spreadsheets and Fragment.

>>> import fragment_bulk
>>> report = fragment_bulk.import_dataframe(df, sandbox=True)   # doctest: +SKIP
>>> report.summary                                             # doctest: +SKIP

The same jobs run from the shell as ``fragment-bulk import FILE``; see the README.

The names below are loaded on first use (PEP 562): importing the package itself is instant, so
the command line can catch a Ctrl-C pressed while pandas and httpx are still loading.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from fragment_bulk._version import __version__

if TYPE_CHECKING:
    from fragment_bulk.api import (
        comment_dataframe,
        comment_file,
        export_dataframe,
        export_file,
        import_dataframe,
        import_file,
        update_dataframe,
        update_file,
    )
    from fragment_bulk.client import FragmentClient
    from fragment_bulk.config import Settings
    from fragment_bulk.engine import RunReport
    from fragment_bulk.errors import ApiError, CheckpointError, ConfigError, FragmentBulkError, InputError, ValidationError
    from fragment_bulk.mapping import Mapping
    from fragment_bulk.sandbox import Sandbox, SandboxConfig

_HOME = {
    **dict.fromkeys(["comment_dataframe", "comment_file", "export_dataframe", "export_file", "import_dataframe",
                     "import_file", "update_dataframe", "update_file"], "fragment_bulk.api"),
    "FragmentClient": "fragment_bulk.client",
    "Settings": "fragment_bulk.config",
    "RunReport": "fragment_bulk.engine",
    **dict.fromkeys(["ApiError", "CheckpointError", "ConfigError", "FragmentBulkError", "InputError", "ValidationError"],
                    "fragment_bulk.errors"),
    "Mapping": "fragment_bulk.mapping",
    **dict.fromkeys(["Sandbox", "SandboxConfig"], "fragment_bulk.sandbox"),
}

__all__ = sorted([*_HOME, "__version__"])


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:  # a submodule (fragment_bulk.readers), as an eager package would have it loaded
        try:
            return import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise  # the submodule is there, but something it needs (pandas) is not
            raise AttributeError(f"module 'fragment_bulk' has no attribute {name!r}") from None
    value = getattr(import_module(home), name)
    globals()[name] = value  # loaded once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
