"""Task uids: derived deterministically from the input, so that a re-run upserts, never duplicates.

The recipe is the one the Fragment docs recommend: the md5 of ``"namespace#key"`` read as a
UUID. Such UUIDs have no valid version bits, which the API accepts (any 32 hex digits).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

_HEX32 = re.compile(r"[0-9a-f]{32}")


def uuid_from_key(namespace: str, values: Sequence[str]) -> str:
    """The uid of the row whose key columns hold ``values``.

    >>> uuid_from_key("ticket", ["123"])  # md5("ticket#123"), the docs' example
    'cbc0ccd6-fbc9-07b3-f9f9-b8a8eeb7ff2c'

    With several key columns, a ``#`` or ``\\`` inside a value is escaped with ``\\`` first.
    """
    if len(values) > 1:  # escaped, so that ("x#y", "z") and ("x", "y#z") stay two keys
        values = [value.replace("\\", "\\\\").replace("#", "\\#") for value in values]
    text = f"{namespace}#{'#'.join(values)}"
    digest = hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest()  # (half a character: an invalid row's)
    # The canonical 8-4-4-4-12 form, formatted directly: uuid.UUID costs a third of a row's mapping.
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def uuids_from_keys(namespace: str, columns: list[list[str]]) -> list[str]:
    """``uuid_from_key`` of each row of the key ``columns`` (a list of cells each), in one pass."""
    md5 = hashlib.md5
    if len(columns) == 1:
        prefix = f"{namespace}#"
        digests = [md5((prefix + value).encode("utf-8", "surrogatepass")).hexdigest() for value in columns[0]]
        return [f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:]}" for d in digests]
    return [uuid_from_key(namespace, list(values)) for values in zip(*columns)]


def uuid_from_payload(payload: dict[str, Any]) -> str:
    """The uid of a row with no key: identical rows get the same uid, any difference another.

    A whole-number float counts as its int (``1.0`` as ``1``): pandas makes an int column with
    one empty cell a float column, and that must not make every other row a new task.
    """
    canonical = _canonical(payload)
    if ".0" in canonical:  # a whole float is written "1.0" (text may hold ".0" too): the slow way
        canonical = _canonical(_whole_floats_as_ints(payload))
    return uuid_from_key("row", [canonical])


def canonical_text(value: Any) -> str:
    """A value as ``uuid_from_payload`` writes it in a row's payload (a whole float as its int)."""
    return _canonical(_whole_floats_as_ints(value))


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _whole_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dict):
        return {key: _whole_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_floats_as_ints(item) for item in value]
    return value


def normalize_uid(text: str) -> str:
    """The canonical (lowercase, dashed) form of any 32-hex-digit uid; ValueError otherwise.

    >>> normalize_uid("{CBC0CCD6FBC907B3F9F9B8A8EEB7FF2C}")
    'cbc0ccd6-fbc9-07b3-f9f9-b8a8eeb7ff2c'
    """
    if isinstance(text, uuid.UUID):  # a DataFrame's column of uuid.UUID objects
        return str(text)
    if not isinstance(text, str):
        raise ValueError(f"a uid is text, not {type(text).__name__}")
    digits = text.strip().removeprefix("{").removesuffix("}").replace("-", "").lower()
    if not _HEX32.fullmatch(digits):
        raise ValueError(f"{text!r} is not a uid (32 hexadecimal digits)")
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
