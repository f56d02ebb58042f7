"""The exception tree of fragment-bulk.

Every error the library raises on purpose derives from :class:`FragmentBulkError`, grouped by
cause so that callers (and the CLI's exit codes) can tell "your input is wrong" from "the
server said no" from "the network failed"::

    FragmentBulkError
    ├── ConfigError                      missing token, bad base URL, conflicting options
    ├── InputError (ValueError)          unreadable file, missing column, bad cell
    │   └── ValidationError              one or more rows failed validation before sending
    ├── CheckpointError                  checkpoint unreadable, or belongs to other input
    ├── InterruptedImport                Ctrl-C: progress was saved, resume later
    ├── TransportError                   no HTTP response (connect, read, protocol)
    ├── ConnectionFailed                 the server cannot be reached at all (a wrong URL, or it is down)
    ├── ProtocolError                    the answer breaks the API contract (bad JSON, cursor loop)
    └── ApiError                         the server answered with an error status
        ├── AuthError                    401, 403
        ├── NotFoundError                404
        ├── RequestRejected (ValueError) 400, 409, 413, 422: the request itself is wrong
        ├── RateLimited                  429
        └── ServerError                  5xx

Only the retry policy (``retry.py``) decides which of these are transient. Messages never
contain the API token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class FragmentBulkError(Exception):
    """Base of every error raised by fragment-bulk on purpose."""


class ConfigError(FragmentBulkError):
    """The settings are missing or contradictory (token, base URL, options)."""


@dataclass(frozen=True)
class RowProblem:
    """One reason one input row cannot be sent, located by row label and column."""

    row: Any
    column: str | None
    value: Any
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        if self.value is None or isinstance(self.value, str) and not self.value:
            return f"{where}: {self.reason}"
        return f"{where}: {_shown(self.value)}: {self.reason}"


@dataclass(frozen=True)
class FlawedCell:
    """What a reader gives for a cell that holds no value to send, such as an Excel error
    (``#N/A``): its row is invalid, for ``reason``. Shown as the cell shows it."""

    shown: str
    reason: str

    def __str__(self) -> str:
        return self.shown

    __repr__ = __str__


class ShownDigits(str):
    """The text an Excel cell shows for a whole number whose format sets out its digits (``01234``
    for 1234 in ``00000``), carrying the ``number``: a key is made of the number, as it was before
    such formats were read, so that the tasks a sheet made keep their uids."""

    number: int

    def __new__(cls, shown: str, number: int) -> "ShownDigits":
        text = super().__new__(cls, shown)
        text.number = number
        return text


def _shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, its middle cut when long: an error stays one readable line."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300 digits
        return f"({type(value).__name__} too long to show)"
    if len(text) <= limit:
        return text
    return f"{text[:limit - 20]}...{text[-10:]} ({len(text):,} characters)"


class InputError(FragmentBulkError, ValueError):
    """The input cannot be read or mapped. ``str()`` is one line naming row and column."""

    def __init__(self, message: str, *, row: Any = None, column: str | None = None):
        self.row = row
        self.column = column
        super().__init__(message)


class ValidationError(InputError):
    """Rows failed validation before anything was sent; ``problems`` lists the first ones, and
    ``results`` (a DataFrame's run) or the file at ``results_path`` every row with its error."""

    results: Any = None
    results_path: Any = None

    def __init__(self, problems: list[RowProblem], *, invalid_rows: int | None = None):
        self.problems = problems
        self.invalid_rows = invalid_rows if invalid_rows is not None else len(
            {problem.row for problem in problems}
        )
        first = problems[0] if problems else "no detail"
        super().__init__(f"{self.invalid_rows} invalid row(s); first: {first}")


class CheckpointError(FragmentBulkError):
    """The checkpoint file is unusable, or describes a different input or mapping."""


class InterruptedImport(FragmentBulkError):
    """The run was interrupted (Ctrl-C); everything acknowledged so far is saved."""


class TransportError(FragmentBulkError):
    """No HTTP response was received.

    ``may_have_committed`` is true when the request was fully sent before the failure, so the
    server may have applied it: a non-idempotent request must not be re-sent blindly.
    ``timed_out``: no answer came in time, so the server may still be working on it.
    """

    def __init__(self, message: str, *, may_have_committed: bool, timed_out: bool = False):
        self.may_have_committed = may_have_committed
        self.timed_out = timed_out
        super().__init__(message)


class ConnectionFailed(FragmentBulkError):
    """The server cannot be reached at all (its name does not resolve, TLS fails): not retried."""


class ProtocolError(FragmentBulkError):
    """The server's answer does not follow the API contract (not JSON, a cursor that loops), or
    the request cannot be formed."""


class ApiError(FragmentBulkError):
    """The server answered with an error status.

    Carries what a user needs to act on it: the method and path (never the token), the status,
    the request id when the server sent one, and the server's own ``detail``.
    """

    def __init__(
        self,
        *,
        status: int,
        method: str,
        path: str,
        detail: Any = None,
        request_id: str | None = None,
    ):
        self.status = status
        self.method = method
        self.path = path
        self.detail = detail
        self.request_id = request_id
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"{self.method} {self.path} answered {self.status}"
        reason = describe_detail(self.detail)
        if reason:
            text += f": {reason}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class AuthError(ApiError):
    """401 or 403: the token is missing, wrong, or lacks the right."""

    def _message(self) -> str:
        if self.status == 401:
            return f"{super()._message()}: the token was refused (check $FRAGMENT_TOKEN, or the variable --token-env names)"
        return f"{super()._message()}: the token lacks the right to do this"


class NotFoundError(ApiError):
    """404: no such task (or endpoint)."""


@dataclass(frozen=True)
class ItemProblem:
    """A problem the server located in one item of a batch (from a 422 ``loc``)."""

    index: int
    field: str | None
    message: str


class RequestRejected(ApiError, ValueError):
    """400, 409, 413 or 422: the request is wrong as sent; sending it again will not help.

    ``item_problems`` lists the batch items the server named in ``loc`` (empty when it named
    none); ``too_large`` is true when the server said the batch is too big.
    """

    @property
    def item_problems(self) -> list[ItemProblem]:
        return parse_item_problems(self.detail)

    @property
    def too_large(self) -> bool:
        if self.status == 413:
            return True
        if self.item_problems:  # "String should have at most 40 characters" names an item: not the batch
            return False
        text = describe_detail(self.detail).lower()
        return any(word in text for word in ("too many", "too large", "maximum", "at most"))


class RateLimited(ApiError):
    """429: slow down. ``retry_after`` is the server's wait in seconds, when it gave one."""

    def __init__(self, *, retry_after: float | None = None, **kwargs: Any):
        self.retry_after = retry_after
        super().__init__(**kwargs)


class ServerError(ApiError):
    """5xx: the server failed. ``may_have_committed`` is false only for 503 and 429-like refusals.
    ``retry_after``: the wait a 503 (or any 5xx) asked for, in seconds, when it gave one."""

    def __init__(self, *, retry_after: float | None = None, **kwargs: Any):
        self.retry_after = retry_after
        super().__init__(**kwargs)

    @property
    def may_have_committed(self) -> bool:
        return self.status != 503


def describe_detail(detail: Any) -> str:
    """One readable line from a FastAPI-style ``detail`` (a string or a list of errors)."""
    if detail is None:
        return ""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for entry in detail:
            if isinstance(entry, dict):
                loc = ".".join(str(part) for part in entry.get("loc", []) if part != "body")
                message = entry.get("msg", "")
                parts.append(f"{loc}: {message}" if loc else str(message))
            else:
                parts.append(str(entry))
        return "; ".join(parts)
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("msg") or detail)
    return str(detail)


def parse_item_problems(detail: Any) -> list[ItemProblem]:
    """Batch items named by a 422's ``loc`` (``["body", "items", 3, "fields", "title"]``)."""
    if not isinstance(detail, list):
        return []
    problems = []
    for entry in detail:
        if not isinstance(entry, dict):
            continue
        loc = list(entry.get("loc") or [])
        if "items" not in loc:
            continue
        after = loc[loc.index("items") + 1 :]
        if not after or not isinstance(after[0], int) or isinstance(after[0], bool):
            continue
        field = ".".join(str(part) for part in after[1:]) or None
        problems.append(ItemProblem(after[0], field, str(entry.get("msg", "invalid"))))
    return problems
