"""Task uids: derived deterministically from the input, so that a re-run upserts, never duplicates;
and ``Claims``, a compact set of uids (what a job made, what an export listed).

The recipe is the one the Fragment docs recommend: the md5 of ``"namespace#key"`` read as a
UUID. Such UUIDs have no valid version bits, which the API accepts (any 32 hex digits).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

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


class Claims:
    """A set of uids, safe across threads: what a job made on the server or took as a row's (one
    row's each), what an export has listed.

    A job of a million rows claims a million uids: a UUID is kept as its 128 bits in sorted numpy
    arrays (16 bytes, where a set of str took about 120), the newest in a set until there are
    ``PACK_EVERY`` of them. A uid that is not a UUID stays in the set as it is.
    """

    PACK_EVERY = 1 << 16

    def __init__(self, uids: Iterable[str] = ()) -> None:
        self._recent: set[int] = set()
        self._others: set[object] = set()  # uids that are not UUIDs: never packed
        self._high = np.empty(0, dtype=np.uint64)  # sorted by (high, low)
        self._low = np.empty(0, dtype=np.uint64)
        self._lock = threading.Lock()
        self.add(uids)

    def add(self, uids: Iterable[str]) -> None:
        with self._lock:
            for uid in uids:
                self._keep(_claim_key(uid))

    def holds(self, uid: object) -> bool:
        with self._lock:
            return self._holds(_claim_key(uid))

    def take(self, uid: str) -> bool:
        """Claim ``uid``; False when it was already claimed."""
        key = _claim_key(uid)
        with self._lock:
            if self._holds(key):
                return False
            self._keep(key)
            return True

    def take_each(self, uids: Iterable[str]) -> list[bool]:
        """:meth:`take` of each of ``uids`` in turn, the packed ones looked up together: a page of
        an export costs one numpy search, not one bisection a uid."""
        keys = _claim_keys(list(uids))
        with self._lock:
            packed = self._packed_among([key for key in keys if isinstance(key, int)])
            taken = []
            recent, others = self._recent, self._others  # (a repeat later in uids finds the first in them)
            for key in keys:
                known = key in packed or key in recent or key in others
                if not known:
                    (recent if isinstance(key, int) else others).add(key)
                taken.append(not known)
            if len(recent) >= self.PACK_EVERY:
                self._pack()
        return taken

    def _packed_among(self, keys: list[int]) -> set[int]:
        if not keys or not len(self._high):
            return set()
        high = np.fromiter((key >> 64 for key in keys), np.uint64, len(keys))
        at = np.minimum(np.searchsorted(self._high, high), len(self._high) - 1)
        maybe = np.flatnonzero(self._high[at] == high)  # their high bits are packed: their low ones may be too
        return {keys[index] for index in maybe if self._holds(keys[index])}

    def _keep(self, key: object) -> None:
        if not isinstance(key, int):
            self._others.add(key)
            return
        self._recent.add(key)
        if len(self._recent) >= self.PACK_EVERY:
            self._pack()

    def _holds(self, key: object) -> bool:
        if not isinstance(key, int):
            return key in self._others
        if key in self._recent:
            return True
        high, low = key >> 64, key & _LOW_BITS
        # The keys sharing these high bits (uids made from a counter share them all), then among
        # them, sorted by their low bits, this one: two bisections, however many share them.
        first, last = bisect.bisect_left(self._high, high), bisect.bisect_right(self._high, high)
        at = bisect.bisect_left(self._low, low, first, last)
        return at < last and self._low[at] == low

    def _pack(self) -> None:
        numbers = list(self._recent)
        self._recent.clear()
        high = np.concatenate([self._high, np.fromiter((key >> 64 for key in numbers), np.uint64, len(numbers))])
        low = np.concatenate([self._low, np.fromiter((key & _LOW_BITS for key in numbers), np.uint64, len(numbers))])
        order = np.lexsort((low, high))
        self._high, self._low = high[order], low[order]


_LOW_BITS = (1 << 64) - 1


def _claim_keys(uids: list[Any]) -> list[object]:
    """``_claim_key`` of each uid: in one go when all are UUIDs spelled with 4 dashes, as servers
    answer them (a third of the cost, one page of an export at a time), else one by one."""
    if all(isinstance(uid, str) and len(uid) == 36 and uid.count("-") == 4 for uid in uids):
        try:
            packed = bytes.fromhex("".join(uids).replace("-", ""))
        except ValueError:
            packed = b""
        if len(packed) == 16 * len(uids):
            return [int.from_bytes(packed[at:at + 16], "big") for at in range(0, len(packed), 16)]
    return [_claim_key(uid) for uid in uids]


def _claim_key(uid: object) -> object:
    """A UUID as its 128-bit int (any spelling of it: the same claim); anything else as it is,
    in a tuple (an int uid is not the UUID of that number)."""
    if isinstance(uid, str) and len(uid) >= 32:
        try:
            return uuid.UUID(uid).int
        except ValueError:
            pass
    return ("as is", uid)
