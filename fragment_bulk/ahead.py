"""Producing ahead: the next items of an iterator made on a background thread while the caller
works on the current one (pyarrow parsing the next CSV block; the next chunk of rows being
mapped while batches are sent)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
_END = object()


def read_ahead(items: Iterable[Item], depth: int, *, name: str = "fragment-bulk-ahead") -> Iterator[Item]:
    """``items`` in order, with up to ``depth`` of them produced ahead on one thread (one
    ``next`` at a time, so the iterator is never entered twice at once). The producer's error
    is raised where its item would have been."""
    iterator = iter(items)
    depth = max(1, depth)

    def produce() -> object:
        return next(iterator, _END)

    pool = ThreadPoolExecutor(1, thread_name_prefix=name)
    ahead = deque(pool.submit(produce) for _ in range(depth))
    try:
        while (item := ahead.popleft().result()) is not _END:
            ahead.append(pool.submit(produce))
            yield item  # type: ignore[misc]
    finally:
        # Not waiting for an item still being made: a caller that stops early (Ctrl-C) goes on
        # at once, and a second Ctrl-C cannot land in this wait. The item is dropped when done.
        pool.shutdown(wait=False, cancel_futures=True)
