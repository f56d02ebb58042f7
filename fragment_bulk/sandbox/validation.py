"""Request validation: JSON bodies and values in, normalised values or FastAPI-style errors out.

Every check appends to a ``Problems`` list instead of raising at the first error, because the
contract wants a rejected batch to name *every* bad item in ``loc`` so a client can isolate
them in one round trip. Nothing here touches the database: an item is judged on its own.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeGuard

Loc = tuple[str | int, ...]

STATUSES = ("TODO", "STARTED", "DONE")
UUID_KEYS = ("assignee_uid", "queue_uid", "parent_uid")
# Every top-level key of a task the contract names: the writable ones and the read-only ones
# (a task read back and sent again carries those; they are ignored, never an unknown key).
TASK_KEYS = frozenset({
    "uid", "status", "due_at", "archived", *UUID_KEYS, "assignee_email", "fields",
    "done_at", "started_at", "created_at", "updated_at",
})

_CANONICAL_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# 32 hex digits, either bare or dashed 8-4-4-4-12 (the backreference forbids mixing).
_UUID_RE = re.compile(
    r"^([0-9a-f]{8})(-?)([0-9a-f]{4})\2([0-9a-f]{4})\2([0-9a-f]{4})\2([0-9a-f]{12})$", re.IGNORECASE
)


@dataclass
class Problems:
    """The ``detail`` list of a 422, in FastAPI's shape."""

    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, loc: Loc, msg: str, type_: str) -> None:
        self.errors.append({"loc": list(loc), "msg": msg, "type": type_})

    def __bool__(self) -> bool:
        return bool(self.errors)


class Invalid(Exception):
    """Raised with the collected problems when a request cannot be processed at all."""

    def __init__(self, problems: Problems) -> None:
        super().__init__(problems.errors)
        self.problems = problems

    @classmethod
    def one(cls, loc: Loc, msg: str, type_: str) -> "Invalid":
        problems = Problems()
        problems.add(loc, msg, type_)
        return cls(problems)


@dataclass(frozen=True)
class TaskInput:
    """A validated task body: the writable keys the caller gave, normalised.

    ``values`` holds only the keys present in the body, so PUT can keep the native fields it
    was not given and PATCH can tell "absent" from "set to null".
    """

    uid: str | None
    values: dict[str, Any]


def format_timestamp(moment: datetime) -> str:
    """The one date format the sandbox stores and returns: UTC, microseconds, ``Z``.

    Fixed width, so timestamps sort as strings in SQLite and compare as cursor values.
    """
    # isoformat, not strftime: a third faster, and its year always has four digits.
    if moment.tzinfo is not timezone.utc:  # (the clock's are: one conversion a task spared)
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def normalise_uid(value: object) -> str | None:
    """The canonical lowercase dashed form of a 32-hex-digit UUID, or None if malformed.

    Version bits are not checked: the docs derive uids from md5 hashes, which have none.
    """
    if not isinstance(value, str):
        return None
    if _CANONICAL_UUID_RE.fullmatch(value):  # as clients send them: nothing to rebuild
        return value
    match = _UUID_RE.match(value.strip())
    if match is None:
        return None
    a, _, b, c, d, e = match.groups()
    return f"{a}-{b}-{c}-{d}-{e}".lower()


def check_uid(value: object, loc: Loc, problems: Problems) -> str | None:
    uid = normalise_uid(value)
    if uid is None:
        problems.add(loc, "Input should be a valid UUID (32 hexadecimal digits)", "uuid_parsing")
    return uid


def check_timestamp(value: object, loc: Loc, problems: Problems) -> str | None:
    """An ISO 8601 date-time with a time zone, as the sandbox's UTC string."""
    if not isinstance(value, str):
        problems.add(loc, "Input should be a valid datetime string", "datetime_type")
        return None
    utc, problem = _utc_text(value)
    if problem is not None:
        problems.add(loc, *problem)
    return utc


@functools.lru_cache(maxsize=4096)  # a batch's dates repeat (a due date a day, say): each is parsed once
def _utc_text(value: str) -> tuple[str | None, tuple[str, str] | None]:
    """``value`` as the sandbox's UTC string, or the problem (message, type) it has."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None, (f"Input should be a valid ISO 8601 datetime, got {value!r}", "datetime_parsing")
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None, ("Datetime must carry a time zone (e.g. 'Z' or '+00:00')", "timezone_aware")
    try:
        return format_timestamp(moment), None
    except OverflowError:  # 0001-01-01T00:00+01:00 is in the year 0 in UTC
        return None, (f"Datetime out of range in UTC, got {value!r}", "datetime_parsing")


MAX_DEPTH = 200  # lists and objects inside one another: far beyond any task, well within what JSON encoders recurse


def parse_json_body(body: bytes) -> Any:
    """The decoded JSON body; raises ``Invalid`` for an empty or malformed one.

    Refused, since each would poison every later response that holds it: NaN and Infinity (not
    JSON), a number too big for a double (1e400 reads as Infinity), half a character (an
    escaped lone surrogate, which no UTF-8 answer can carry), and values nested deeper than
    ``MAX_DEPTH`` (the answers' encoder recurses).
    """
    if not body.strip():
        raise Invalid.one(("body",), "Field required", "missing")
    try:
        value = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
        # The text's brackets bound the depth cheaply (brackets inside strings count too); only
        # past that bound are the values themselves measured.
        if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _depth(body) > MAX_DEPTH and _value_depth(value) > MAX_DEPTH:
            raise ValueError(f"values nest more than {MAX_DEPTH} levels deep")
        if _SURROGATE_ESCAPE.search(body):
            json.dumps(value, ensure_ascii=False).encode("utf-8")  # a pair is fine; half of one is not
    except UnicodeEncodeError as exc:
        raise Invalid.one(("body",), "JSON decode error: a string holds half of a character (a lone surrogate)",
                          "json_invalid") from exc
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Invalid.one(("body",), f"JSON decode error: {exc}", "json_invalid") from exc
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


def _depth(body: bytes) -> int:
    """How deep brackets nest in a JSON text (those inside strings counted too: an upper bound)."""
    depth = deepest = 0
    for byte in body.translate(None, _NOT_BRACKETS):  # the brackets alone: few, even in a big body
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _value_depth(value: Any) -> int:
    """How deep lists and objects nest in a decoded value (counted without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((inner, depth + 1) for inner in (item.values() if isinstance(item, dict) else item))
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text} is too large for a double")
    return number


def check_object(value: object, loc: Loc, problems: Problems) -> TypeGuard[dict[str, Any]]:
    if isinstance(value, dict):
        return True
    problems.add(loc, "Input should be a valid dictionary or object", "dict_type")
    return False


def check_task(body: object, loc: Loc, problems: Problems, *, partial: bool, uid_required: bool,
               reject_unknown: bool = False) -> TaskInput | None:
    """Validate one task body; None (and problems added) when it is not acceptable.

    ``partial`` is PATCH: nothing is required, but a given ``fields.title`` must still be a
    non-empty string. Read-only keys (``done_at``, ``created_at``...) are ignored; so are unknown
    keys, as the contract assumes, unless ``reject_unknown`` (pydantic's ``extra="forbid"``).
    """
    if not check_object(body, loc, problems):
        return None
    before = len(problems.errors)
    values: dict[str, Any] = {}
    if reject_unknown:
        for key in body:
            if key not in TASK_KEYS:
                problems.add((*loc, key), "Extra inputs are not permitted", "extra_forbidden")

    uid = None
    if "uid" in body:
        uid = check_uid(body["uid"], (*loc, "uid"), problems)
    elif uid_required:
        problems.add((*loc, "uid"), "Field required", "missing")

    if "status" in body:
        if body["status"] in STATUSES:
            values["status"] = body["status"]
        else:
            problems.add((*loc, "status"), "Input should be 'TODO', 'STARTED' or 'DONE'", "enum")
    if "due_at" in body:
        values["due_at"] = None if body["due_at"] is None else check_timestamp(body["due_at"], (*loc, "due_at"), problems)
    if "archived" in body:
        if isinstance(body["archived"], bool):
            values["archived"] = body["archived"]
        else:
            problems.add((*loc, "archived"), "Input should be a valid boolean", "bool_type")
    for key in UUID_KEYS:
        if key in body:
            values[key] = None if body[key] is None else check_uid(body[key], (*loc, key), problems)
    if "assignee_email" in body:
        if body["assignee_email"] is None or isinstance(body["assignee_email"], str):
            values["assignee_email"] = body["assignee_email"]
        else:
            problems.add((*loc, "assignee_email"), "Input should be a valid string", "string_type")

    if "fields" in body:
        if check_object(body["fields"], (*loc, "fields"), problems):
            _check_fields(body["fields"], (*loc, "fields"), problems, title_required=not partial)
            values["fields"] = body["fields"]
    elif not partial:
        problems.add((*loc, "fields"), "Field required", "missing")

    if len(problems.errors) > before:
        return None
    return TaskInput(uid=uid, values=values)


def _check_fields(fields: dict[str, Any], loc: Loc, problems: Problems, *, title_required: bool) -> None:
    if "title" not in fields:
        if title_required:
            problems.add((*loc, "title"), "Field required", "missing")
    elif not isinstance(fields["title"], str) or not fields["title"].strip():
        problems.add((*loc, "title"), "title must be a non-empty string", "string_type")
    url = fields.get("url")
    if url is not None and not isinstance(url, str):
        problems.add((*loc, "url"), "Input should be a valid string", "string_type")


def check_comment(body: object) -> str:
    """The text of a comment body; raises ``Invalid`` unless it is a non-empty string."""
    problems = Problems()
    if check_object(body, ("body",), problems):
        text = body.get("text")
        if isinstance(text, str) and text.strip():
            return text
        problems.add(("body", "text"), "text is required and must be a non-empty string", "string_type")
    raise Invalid(problems)
