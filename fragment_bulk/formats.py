"""File formats of exports, and the spreadsheet formula guard shared by export and import.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula
by spreadsheet software (CSV injection). Such text is written with a leading apostrophe, the
OWASP recommendation; text that already starts with an apostrophe gets one more, so that
:func:`unescape_formula` undoes :func:`escape_formula` exactly, for every string.
"""

from __future__ import annotations

from pathlib import Path

from fragment_bulk.errors import ConfigError

FORMATS = ("csv", "xlsx", "jsonl", "parquet")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = (*FORMULA_TRIGGERS, "'")


def escape_formula(text: str) -> str:
    """``text`` made inert for spreadsheets (``=1+1`` -> ``'=1+1``)."""
    return "'" + text if text.startswith(_ESCAPED) else text


def unescape_formula(text: str) -> str:
    """The inverse of :func:`escape_formula`."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_ESCAPED) else text


def format_of(path: Path, given: str | None) -> str:
    """The export format: ``given``, else from the extension."""
    chosen = (given or path.suffix.lstrip(".")).lower()
    if chosen == "ndjson":
        chosen = "jsonl"
    if chosen not in FORMATS:
        raise ConfigError(f"cannot tell the format of {path.name}: use one of .{', .'.join(FORMATS)} or --format")
    return chosen


def require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError("parquet export needs pyarrow: pip install 'fragment-bulk[parquet]'") from None
