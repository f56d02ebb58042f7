"""``Claims``: a compact, thread-safe set of task uids (what a job made or took, what an export
has listed), 16 bytes a UUID where a set of text takes about 120.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Iterable
from typing import Any

import numpy as np


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
