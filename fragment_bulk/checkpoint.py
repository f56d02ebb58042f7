"""The resumable checkpoint: which rows of which input the server has acknowledged.

A checkpoint is a small SQLite file. SQLite is the journal because its commit is atomic and
durable (a rollback journal, so that the file alone holds every commit; ``synchronous=FULL`` for
jobs that cannot resend safely): after a ``kill -9`` at any instant the file opens with every
batch whose commit returned, and none half-written. Rows are recorded only after the
server acknowledged them (state is written after the data it describes, as dlt does), so a
crash can only leave rows *unrecorded*, and those are sent again on resume. Sending again is
safe because imports use the idempotent ``PUT`` with a deterministic uid: at-least-once
delivery plus an idempotent upsert applies each row exactly once.

The file also holds the fingerprints of the input and of the mapping, and the server: resuming
with a changed file or mapping would skip rows that are no longer the rows that were sent, and
against another server rows that server never got, so it is refused.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from fragment_bulk.config import canonical_url, shown_url
from fragment_bulk.errors import CheckpointError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

SCHEMA_VERSION = "1"
IN_MEMORY = ":memory:"  # a job journalled in memory only (no checkpoint file)
ALIVE_SUFFIX = ".alive"  # beside the checkpoint: touched while a run has requests in flight
SUCCESS_STATUSES = ("created", "updated", "unchanged")
# Written before a non-idempotent request is sent, replaced by its outcome when it answers: after a
# crash, "pending" marks exactly the rows that may or may not have reached the server.
PENDING = "pending"


class Outcome(NamedTuple):
    """What became of one input row. (A tuple: one is made per row.)"""

    ordinal: int
    status: str  # created | updated | unchanged | failed | skipped | pending
    uid: str | None = None
    error: str | None = None


class Checkpoint:
    """The journal of one import job. Use :meth:`open`; write only from one thread."""

    def __init__(self, path: Path | str, connection: sqlite3.Connection, *, resumed: bool, lock: "_Lock | None" = None):
        self.path = path
        self._db = connection
        self.resumed = resumed
        self._lock = lock

    @classmethod
    def open(
        cls,
        path: Path | str | None,
        *,
        job: dict[str, str],
        restart: bool = False,
        power_safe: bool = True,
        rerun_when_complete: bool = True,
        carried: tuple[str, ...] = (),
    ) -> "Checkpoint":
        """Open the checkpoint for ``job`` (fingerprints and options), resuming when it matches.

        Every commit survives a killed process. ``power_safe`` also makes it survive a power cut
        (an fsync per commit); a job whose requests are idempotent can do without, since losing
        the last acknowledgements to a power cut only means sending those rows again.

        - no file, or ``restart``: a new job;
        - a finished job with nothing left to retry: a new job (running the same import again
          is a fresh, idempotent run, not a no-op), unless not ``rerun_when_complete`` (comments:
          running the same file again would post every comment twice): then the same job is
          resumed (nothing to send), and another input or mapping is refused (a file with a row
          added would post the others again), but for another embedded sandbox;
        - an unfinished job (or one with failed rows) for the same input and mapping: resume;
        - an unfinished job for another input or mapping: :class:`CheckpointError`.

        A checkpoint in use by another run is refused: two runs would send the same rows.
        ``carried``: job keys a new job keeps from the file's (a write still to undo, say).
        """
        if path is None:
            return cls(IN_MEMORY, _connect(IN_MEMORY, power_safe), resumed=False)._start(job)
        path = Path(path)
        lock = _Lock.take(path)
        try:
            if path.exists() and not restart:
                existing = cls(path, _connect(path, power_safe), resumed=True, lock=lock)
                previous = existing.job()
                mismatch = [key for key in ("input", "mapping", "mode") if previous.get(key) != job.get(key)]
                if _server(previous.get("server", job.get("server"))) != _server(job.get("server")):  # (older ones have none)
                    mismatch.append("server")
                finished = previous.get("state") == "complete" and existing.count("failed") == 0
                if not previous.get("input"):
                    existing._db.close()  # killed before its job was recorded: nothing to resume
                elif mismatch == ["server"] and not rerun_when_complete and _is_url(previous["server"]) and _is_url(job["server"]):
                    # Posts cannot be sent twice safely, and one server may be reached by two URLs
                    # (an embedded sandbox's data file, though, is another server).
                    existing._db.close()
                    raise CheckpointError(
                        f"the checkpoint {path} records this job as sent to {_shown_server(previous['server'])}; this"
                        f" run goes to {_shown_server(job['server'])}. If that is another server, run with --restart (every row is posted"
                        " again there); if it is the same one, use the first URL"
                    )
                elif finished and (rerun_when_complete or mismatch == ["server"]):  # (another embedded sandbox)
                    existing._db.close()
                elif finished and mismatch:
                    existing._db.close()
                    raise CheckpointError(
                        f"the checkpoint {path} records a finished {previous.get('mode', 'earlier')} job of a different"
                        f" {' and '.join(mismatch)}, whose rows were posted: this file would post them again. Put"
                        " only the new rows in a file of their own, or run with --restart to post every row again,"
                        " or choose another file with --checkpoint"
                    )
                elif mismatch:
                    existing._db.close()
                    where = (f" (it sent to {_shown_server(previous['server'])}, this run goes to {_shown_server(job['server'])})"
                             if "server" in mismatch else "")
                    again = ("a row whose uid changed with the file or mapping becomes a new task" if rerun_when_complete
                             else "rows cannot be un-posted: every row is posted again")
                    state = "a finished job with failed rows" if previous.get("state") == "complete" else "an unfinished job"
                    raise CheckpointError(
                        f"the checkpoint {path} belongs to {state} of a different "
                        f"{' and '.join(mismatch)}{where}; run with --restart to send every row again ({again}),"
                        " or choose another file with --checkpoint"
                    )
                else:
                    return existing
            kept = _carried(path, carried) if carried else {}
            lock.clear()
            return cls(path, _connect(path, power_safe), resumed=False, lock=lock)._start({**job, **kept})
        except BaseException:
            lock.release()
            raise

    def _start(self, job: dict[str, str]) -> "Checkpoint":
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO job(key, value) VALUES (?, ?)",
                [*job.items(), ("schema", SCHEMA_VERSION), ("state", "running"), ("started", _now())],
            )
        return self

    def job(self) -> dict[str, str]:
        try:
            return dict(self._db.execute("SELECT key, value FROM job"))
        except sqlite3.DatabaseError as exc:
            raise CheckpointError(f"the checkpoint {self.path} is not readable ({exc}); use --restart") from exc

    def set(self, key: str, value: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO job(key, value) VALUES (?, ?)", (key, value))

    def record(self, outcomes: Iterable[Outcome]) -> None:
        """Durably record outcomes (one transaction: all of them or, after a crash, none).

        A statement of many rows, not ``executemany``: sqlite3 lets go of the GIL for each row
        it steps, and each time waits to get it back from the threads sending and mapping (about
        four times slower under that load, holding up the next batches).
        """
        outcomes = list(outcomes)
        with self._db:
            for start in range(0, len(outcomes), _ROWS_A_STATEMENT):
                some = outcomes[start:start + _ROWS_A_STATEMENT]
                # An Outcome is the tuple of the four columns, in that order.
                self._db.execute(_insert_rows(len(some)), [value for outcome in some for value in outcome])

    def unpend(self, ordinals: Iterable[int], previous: Iterable[Outcome] = ()) -> None:
        """Take back the ``pending`` mark of rows whose request never went out, or was refused with
        nothing written: each goes back to its ``previous`` outcome when it had one, else to no
        record, so that a resumed run sends it. A row no longer pending keeps its outcome."""
        with self._db:
            self._db.executemany("DELETE FROM rows WHERE ordinal = ? AND status = ?", ((o, PENDING) for o in ordinals))
            self._db.executemany("INSERT OR IGNORE INTO rows(ordinal, status, uid, error) VALUES (?, ?, ?, ?)", previous)

    def done_between(self, start: int, stop: int) -> set[int]:
        """Ordinals in ``[start, stop)`` already acknowledged by the server: skip them."""
        rows = self._db.execute(
            "SELECT ordinal FROM rows WHERE ordinal >= ? AND ordinal < ? AND status IN (?, ?, ?)",
            (start, stop, *SUCCESS_STATUSES),
        )
        return {ordinal for (ordinal,) in rows}

    def outcomes_between(self, start: int, stop: int) -> dict[int, Outcome]:
        rows = self._db.execute(
            "SELECT ordinal, status, uid, error FROM rows WHERE ordinal >= ? AND ordinal < ?",
            (start, stop),
        )
        return {row[0]: Outcome(*row) for row in rows}

    def count(self, status: str | None = None) -> int:
        if status is None:
            return self._db.execute("SELECT count(*) FROM rows").fetchone()[0]
        return self._db.execute("SELECT count(*) FROM rows WHERE status = ?", (status,)).fetchone()[0]

    def counts(self) -> dict[str, int]:
        """Final outcomes by status (``pending`` rows have none yet)."""
        return dict(self._db.execute("SELECT status, count(*) FROM rows WHERE status != ? GROUP BY status", (PENDING,)))

    def pending(self) -> set[int]:
        """Rows sent by an earlier run whose answer never came: they may have been applied."""
        return self.ordinals(PENDING)

    def last_alive(self) -> float | None:
        """When a run on this checkpoint was last seen alive (:meth:`keep_alive`), this machine's
        clock; None when none was."""
        if self.path == IN_MEMORY:
            return None
        try:
            return os.stat(f"{self.path}{ALIVE_SUFFIX}").st_mtime
        except OSError:
            return None

    @contextlib.contextmanager
    def keep_alive(self, every: float) -> Iterator[None]:
        """Touch ``<checkpoint>.alive`` every ``every`` seconds meanwhile: a run killed later sent
        nothing after its last touch and ``every`` more, which a resumed run can count on. A run
        that ends with no row pending removes the file."""
        if self.path == IN_MEMORY:  # no file, and no later run to tell
            yield
            return
        alive, stop = Path(f"{self.path}{ALIVE_SUFFIX}"), threading.Event()

        def touch() -> None:
            while True:
                with contextlib.suppress(OSError):
                    alive.touch()
                if stop.wait(every):
                    return

        beat = threading.Thread(target=touch, name="fragment-bulk-alive", daemon=True)
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join()
            with contextlib.suppress(OSError, sqlite3.Error):  # (a failing journal's own error is the one to see)
                if self._db.execute("SELECT 1 FROM rows WHERE status = ? LIMIT 1", (PENDING,)).fetchone():
                    alive.touch()
                else:  # every request answered: no later run needs to know when this one ended
                    alive.unlink(missing_ok=True)

    def pending_notes(self) -> dict[int, str | None]:
        """:meth:`pending` rows, each with the note its writer journalled with it."""
        return dict(self._db.execute("SELECT ordinal, error FROM rows WHERE status = ?", (PENDING,)))

    def ordinals(self, status: str, *, error_prefix: str = "") -> set[int]:
        """Rows with ``status`` (and an error starting with ``error_prefix``)."""
        rows = self._db.execute(
            "SELECT ordinal FROM rows WHERE status = ? AND coalesce(error, '') LIKE ? || '%'", (status, error_prefix)
        )
        return {ordinal for (ordinal,) in rows}

    def acknowledged_uids(self) -> Iterator[str]:
        """The uids the server gave for acknowledged rows (for comments: the comments' uids), one
        at a time: a million-row job's would take a hundred megabytes as a set."""
        rows = self._db.execute(
            "SELECT uid FROM rows WHERE uid IS NOT NULL AND status IN (?, ?, ?)", SUCCESS_STATUSES
        )
        while batch := rows.fetchmany(10_000):
            yield from (uid for (uid,) in batch)

    def mark_complete(self) -> None:
        self.set("state", "complete")
        self.set("finished", _now())

    def discard(self) -> None:
        """Close and delete a checkpoint a run started and recorded nothing in (its first request
        failed): left behind, it would bind the next run to this run's server, a mistyped one say."""
        self._db.close()
        if self.path != IN_MEMORY:
            for leftover in (self.path, Path(f"{self.path}-journal")):
                with contextlib.suppress(OSError):
                    os.remove(leftover)
        if self._lock is not None:
            self._lock.release()

    def close(self) -> None:
        self._db.close()
        if self.path != IN_MEMORY:
            with contextlib.suppress(OSError):  # the journal TRUNCATE mode keeps, empty: nothing in it once closed
                if os.path.getsize(f"{self.path}-journal") == 0:
                    os.remove(f"{self.path}-journal")
        if self._lock is not None:
            self._lock.release()


class _Lock:
    """An exclusive lock on the checkpoint file itself, held while a run uses it: whatever name
    reaches the file (a symlink, a copy of the command run elsewhere), a second run is refused,
    and there is no lock file beside it that a clean-up could delete. (SQLite locks with fcntl;
    this is flock, which Linux keeps apart.)"""

    def __init__(self, path: Path, handle: int | None):
        self.path = path
        self._handle = handle

    @classmethod
    def take(cls, checkpoint: Path) -> "_Lock":
        if fcntl is None:  # Windows: no advisory locks here; runs are not guarded
            return cls(checkpoint, None)
        while True:
            try:
                handle = os.open(checkpoint, os.O_RDWR | os.O_CREAT, 0o600)  # an empty file is an empty database
            except OSError as exc:
                raise CheckpointError(f"cannot use {checkpoint} as a checkpoint: {exc.strerror}") from None
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                raise CheckpointError(f"the checkpoint {checkpoint} is in use by another run; wait for it to end,"
                                      " or choose another file with --checkpoint") from None
            try:
                if os.fstat(handle).st_ino == os.stat(checkpoint).st_ino:
                    return cls(checkpoint, handle)
            except FileNotFoundError:
                pass
            os.close(handle)  # locked a file removed meanwhile: take the one now there

    def clear(self) -> None:
        """Empty the locked file for a new job: in place, so that the lock stays on it."""
        if self._handle is not None:
            os.ftruncate(self._handle, 0)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
        for suffix in ("-journal", "-wal", "-shm", ALIVE_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{self.path}{suffix}")

    def release(self) -> None:
        if self._handle is not None:
            os.close(self._handle)  # (closing drops the flock)
            self._handle = None


def _connect(path: Path | str, power_safe: bool = True) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(str(path))
        # A rollback journal, not WAL: between commits the file holds every commit itself, so
        # that it may be moved or copied alone, even after a kill -9 (in WAL, the commits since
        # the last checkpoint would stay behind in the -wal file, and the job start over). A
        # commit survives a killed process once written; FULL also fsyncs it, so that it survives
        # a power cut (OFF: a power cut may cost the file, which an idempotent job can --restart).
        connection.execute("PRAGMA journal_mode=TRUNCATE")
        connection.execute(f"PRAGMA synchronous={'FULL' if power_safe else 'OFF'}")
        connection.execute("CREATE TABLE IF NOT EXISTS job (key TEXT PRIMARY KEY, value TEXT)")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS rows (ordinal INTEGER PRIMARY KEY, status TEXT NOT NULL, uid TEXT, error TEXT)"
        )
    except sqlite3.DatabaseError as exc:
        raise CheckpointError(f"cannot use {path} as a checkpoint ({exc}); use --restart or another --checkpoint") from exc
    return connection


_ROWS_A_STATEMENT = 200  # 800 parameters: within the 999 older SQLite builds allow


@functools.lru_cache(maxsize=None)
def _insert_rows(count: int) -> str:
    return "INSERT OR REPLACE INTO rows(ordinal, status, uid, error) VALUES " + ", ".join(["(?, ?, ?, ?)"] * count)


def _carried(path: Path, keys: tuple[str, ...]) -> dict[str, str]:
    """The values of job ``keys`` a checkpoint file holds (none when it holds none, or is no database)."""
    if not path.exists() or not path.stat().st_size:
        return {}
    connection = sqlite3.connect(str(path))
    try:
        rows = connection.execute(
            f"SELECT key, value FROM job WHERE key IN ({', '.join('?' for _ in keys)}) AND value != ''", keys)
        return dict(rows)
    except sqlite3.DatabaseError:
        return {}
    finally:
        connection.close()


def _is_url(server: str) -> bool:
    return server.startswith(("http://", "https://"))


def _server(recorded: str | None) -> str | None:
    """A recorded server in the spelling compared (checkpoints from before it was one spelling)."""
    return canonical_url(recorded) if recorded and _is_url(recorded) else recorded


def _shown_server(recorded: str) -> str:
    """A recorded server as a message may show it: a checkpoint written before the URL was
    recorded in one spelling holds it as given, with any ``user:password@`` or ``?api_key=``."""
    return shown_url(_server(recorded)) if _is_url(recorded) else recorded


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
