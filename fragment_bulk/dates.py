"""Date and date-time cells: parsed, checked against a time zone's clock, rendered as ISO text.

A text is parsed with the column's ``format``, else as ISO 8601 (pandas, vectorised, each
distinct text once; one by one where pandas does not take it); a date or datetime cell is taken
as it is. A naive time is read in the column's ``timezone`` (default UTC), and refused when that
zone's clocks skip it or go through it twice. Out goes ISO text: a ``date`` as its day, a
``datetime`` as its instant in UTC, a ``due_date`` (a date for ``due_at``) as its day's first
instant in the zone. Used by :mod:`fragment_bulk.mapping` for the kinds in ``DATE_KINDS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from fragment_bulk.formats import utc_text

_UNRENDERABLE = object()  # _render_moment's "this cell is not valid": no date, off the calendar in UTC, or a clock time the zone skips or repeats


class DateColumn(Protocol):
    """What a conversion reads of a mapped column (a :class:`fragment_bulk.mapping.Column`)."""

    @property
    def format(self) -> str | None: ...  # noqa: A003 - strptime's word

    @property
    def timezone(self) -> str | None: ...

    @property
    def kind(self) -> str: ...  # one of DATE_KINDS


DATE_KINDS = ("date", "datetime", "due_date")


def format_lacks(format: str) -> str | None:  # noqa: A002 - strptime's word
    """What a date ``format`` lacks to name one day and one instant, if anything: strptime fills in
    what it is not given (1900, January, the 1st), and a week number without its weekday is
    ignored, so "2024-33" would be sent as 2024-01-01. A zone name (%Z) is refused: strptime reads
    it and drops it, pandas honours it, so the same cell would be two instants; %z (an offset) is
    kept by both."""
    directives = set(re.findall(r"%([A-Za-z%])", format)) - {"%"}
    if "Z" in directives:
        return ("reads a time zone's name (%Z), which the date parsers read in two ways: write the offset with %z"
                " (+0100), or the zone's name as text in the format and the zone in 'timezone'")
    if directives & {"c", "x"}:  # the locale's whole date
        return None
    year = directives & {"Y", "y", "G"}
    day = {"d", "m"} <= directives or {"d", "b"} <= directives or {"d", "B"} <= directives or "j" in directives or (
        directives & {"U", "W", "V"} and directives & {"a", "A", "w", "u"})
    if not (year and day):
        return "names no single day: give it the year, the month and the day (%Y-%m-%d), or the day of the year (%j)"
    return None


def to_moments(cells: np.ndarray, column: DateColumn, render: bool) -> tuple[np.ndarray, np.ndarray]:
    """Dates and date-times: text parsed vectorised (format or ISO 8601), objects as they are."""
    # Every cell a text: each distinct one parsed and rendered once (a date column repeats them).
    if pd.api.types.infer_dtype(cells, skipna=False) == "string":
        codes, uniques = pd.factorize(cells)
        values, failed = _moments(np.asarray(uniques, dtype=object), np.ones(len(uniques), dtype=bool), column, render)
        return values[codes], failed[codes]
    if column.format is not None:  # 20240305 under "%Y%m%d": an Excel number, or a DataFrame's int, is its digits
        cells = np.array([str(cell) if isinstance(cell, (int, np.integer)) and not isinstance(cell, (bool, np.bool_))
                          else cell for cell in cells], dtype=object)
    texts = np.fromiter((isinstance(cell, str) for cell in cells), dtype=bool, count=len(cells))
    return _moments(cells, texts, column, render)


def _moments(cells: np.ndarray, texts: np.ndarray, column: DateColumn, render: bool) -> tuple[np.ndarray, np.ndarray]:
    """``cells`` converted: the ``texts`` ones parsed, then each rendered (or checked) as ISO text."""
    out = cells.copy()
    failed = np.zeros(len(cells), dtype=bool)
    at_edge = False
    if texts.any():
        out[texts], failed[texts], at_edge = _parse_texts(cells[texts], column, keep=render)
    # Checking only, parsed text is rendered when it is at the edge of the calendar (see _parse_texts).
    if render or not texts.all() or at_edge:
        zone = ZoneInfo(column.timezone or "UTC")
        out[~failed] = [_render_moment(value, column.kind, zone) for value in out[~failed]]
        failed |= np.fromiter((value is _UNRENDERABLE for value in out), dtype=bool, count=len(out))
    out[failed] = None
    return out, failed


def _parse_texts(texts: np.ndarray, column: DateColumn, *, keep: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    """Python datetimes (or just True when not ``keep``), which texts did not parse (or name a
    clock time the column's time zone skips or repeats), and whether any is in the year 1 or
    9999, where the move to UTC may leave the calendar (then those are datetimes even when not
    ``keep``, to be tried)."""
    format = column.format  # noqa: A001
    try:
        parsed = pd.to_datetime(pd.Series(texts, dtype=object), format=format or "ISO8601", errors="coerce")
    except (ValueError, TypeError):  # mixed time zones: one by one
        parsed = pd.Series([_parse_one(text, format) for text in texts], dtype=object)
    failed = pd.isna(parsed).to_numpy()
    # The naive times pandas parsed are checked against the clock vectorised; those parsed one
    # by one (all of them, or the ones retried below), one by one.
    vectorised = parsed if isinstance(parsed.dtype, np.dtype) and parsed.dtype.kind == "M" else None
    one_by_one = failed.copy() if pd.api.types.is_datetime64_any_dtype(parsed.dtype) else np.ones(len(texts), dtype=bool)
    if failed.any():  # white space around the text, or a form pandas did not take
        retried = [_parse_one(text, format) for text in texts[failed]]
        parsed = parsed.astype(object)
        parsed[failed] = retried
        failed = pd.isna(parsed).to_numpy()
    failed = failed.copy()  # pandas may hand out a read-only view
    if pd.api.types.is_datetime64_any_dtype(parsed.dtype):
        years = parsed.dt.year.to_numpy(dtype=float, na_value=0.0)
    else:
        years = np.fromiter((0 if gone else value.year for value, gone in zip(parsed, failed)), dtype=float, count=len(texts))
    # pandas reads "-3" as the year -3, which no Python date (nor the API) can hold.
    failed |= ~failed & ((years < 1) | (years > 9999))
    if column.kind == "datetime" and column.timezone:
        # Naive times read in a zone with daylight saving: 02:30 on the night the clocks go
        # forward does not exist, and on the night they go back it happens twice.
        # (Not in the years 1 and 9999: pandas cannot localize what UTC moves off the calendar,
        # and _render_moment tries those one by one anyway.)
        inner = ~failed & (years > 1) & (years < 9999)
        if vectorised is not None:
            pandas_parsed = inner & ~one_by_one
            local = vectorised[pandas_parsed].dt.tz_localize(column.timezone, ambiguous="NaT", nonexistent="NaT")
            failed[np.flatnonzero(pandas_parsed)[local.isna().to_numpy()]] = True
        zone = ZoneInfo(column.timezone)
        for position in np.flatnonzero(inner & one_by_one):
            moment = _python_moment(parsed.iloc[position])
            failed[position] = moment.tzinfo is None and _clock_problem(moment, zone) is not None
    edge = ~failed & ((years == 1) | (years == 9999))
    out = np.empty(len(texts), dtype=object)
    if keep:
        out[:] = [None if gone else _python_moment(value) for value, gone in zip(parsed, failed)]
    else:
        out[:] = True
        out[edge] = [_python_moment(value) for value in parsed[edge]]
    return out, failed, bool(edge.any())


def _parse_one(text: str, format: str | None) -> Any:
    """One text as a datetime (None when it is not one): what the vectorised parse of a column
    (pandas) takes, so that a cell's fate never depends on its neighbours (a column mixing
    offsets is parsed one cell at a time)."""
    text = text.strip()
    try:
        return datetime.strptime(text, format) if format else datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    if format:
        return None
    try:  # the ISO 8601 forms pandas reads and Python does not (2024-06, 2024/06/01); not pandas' year -3
        moment = pd.to_datetime(text, format="ISO8601")
        return None if pd.isna(moment) else _python_moment(moment)
    except (ValueError, TypeError, OverflowError):
        return None


def _python_moment(value: Any) -> datetime:
    """A pandas Timestamp as a Python datetime, nanoseconds cut (the API keeps microseconds)."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime(warn=False)
    return value


def _render_moment(value: Any, kind: str, zone: ZoneInfo) -> Any:
    """The ISO text of a date (``date``) or an instant in UTC (``datetime``, ``due_date``)."""
    if value is True:
        return value  # validation only: parsed, nothing to render
    value = _python_moment(value)
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day, value = value, datetime.combine(value, time())
    else:
        return _UNRENDERABLE
    if kind == "date":
        return day.isoformat()
    if kind == "due_date":
        value = datetime.combine(day, time())
    if value.tzinfo is None or value.utcoffset() is None:
        # A due date is its day's first instant: a skipped midnight (fold 0 reads it with the
        # offset before the change) is the moment the day starts, a repeated one the first.
        if kind == "datetime" and _clock_problem(value, zone):
            return _UNRENDERABLE
        value = value.replace(tzinfo=zone)
    try:
        return utc_text(value)
    except OverflowError:  # 9999-12-31 23:00 in New York is in the year 10000 in UTC
        return _UNRENDERABLE


def _clock_problem(naive: datetime, zone: ZoneInfo) -> str | None:
    """Why the wall-clock time ``naive`` names no single moment in ``zone``, if it does not."""
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    if first.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) != naive:
        return f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks skip it"
    return f"{naive:%Y-%m-%d %H:%M} happens twice in {zone.key}: the clocks go back (write it with its UTC offset)"


OUT_OF_RANGE = "out of range: in UTC it falls outside the years 1 to 9999"


def date_reason(column: DateColumn) -> Callable[[Any], str]:
    """Why a cell of ``column`` was refused: not a date, not in its format, a clock time its zone skips or repeats..."""
    noun = "date" if column.kind in ("date", "due_date") else "date-time"
    if column.format:
        unreadable = f"not a {noun} in the format {column.format}"
    else:
        unreadable = f"not an ISO 8601 {noun} (give a format in the mapping?)"
    zone = ZoneInfo(column.timezone or "UTC")

    def reason(value: Any) -> str:
        if isinstance(value, time):
            return f"a time of day, not a {noun}"
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            return f"a number, not a {noun} (a date cell of Excel is a date: format the column as dates?)"
        moment = _parse_one(value, column.format) if isinstance(value, str) else value
        if not isinstance(moment, date):
            return unreadable
        if isinstance(moment, datetime) and moment.tzinfo is None and column.kind == "datetime":
            return _clock_problem(moment, zone) or OUT_OF_RANGE
        return OUT_OF_RANGE

    return reason
