"""The bulk engine: read -> map -> validate -> batch -> send -> journal -> report.

One engine serves every bulk command (import, update, comment); what differs is the
:class:`Writer`, which turns a list of mapped rows into one API call and classifies the answer.

The run has two passes over the input, both streaming:

1. **Validate** every row before the first request (vectorised, fast). By default any invalid
   row means nothing is sent; with ``skip_invalid`` the invalid rows are reported as failed.
2. **Send** the valid rows not yet acknowledged in the checkpoint, in batches, with at most
   ``concurrency`` batches in flight on a thread pool. Outcomes are journalled on this thread
   as batches complete, so the checkpoint only ever holds what the server acknowledged.

A batch the server rejects (422) is never lost whole: the rows the server names are marked
failed with its message and the rest are sent again; when it names none, the batch is split in
halves until the bad rows are isolated. A batch "too large" shrinks the batch size for the rest
of the run.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from fragment_bulk.ahead import read_ahead
from fragment_bulk.checkpoint import PENDING, SUCCESS_STATUSES, Checkpoint, Outcome
from fragment_bulk.client import FragmentClient
from fragment_bulk.errors import (
    ConnectionFailed,
    FragmentBulkError,
    InputError,
    InterruptedImport,
    RequestRejected,
    RowProblem,
    ValidationError,
)
from fragment_bulk.interrupts import WindDown
from fragment_bulk.progress import progress_bar

PROBLEMS_SHOWN = 10
MAPPED_AHEAD = 1  # chunks mapped ahead of the one being sent
# The text a batch carries at most: rows of megabytes go a few at a time (a batch of 100 was a body
# of 500 MB, and the batches in flight held the file), rather than be refused by a server as too
# large, which would shrink the batch size for the rest of the run.
BATCH_BYTES = 8 << 20
STATUSES = ("created", "updated", "unchanged", "failed", "skipped")
UNACKNOWLEDGED = ("sent, but no answer came before the run stopped; run again to resume (a comment or a --mode create"
                  " row is looked up before it is sent again; a create row not found is sent only once the stopped"
                  " run's request can no longer land, a little over a request's timeout after it stopped)")


class Writer(Protocol):
    """Sends one batch of mapped rows; returns one Outcome per row, in order.

    A writer whose requests are not idempotent sets ``journals_intent``: the engine then records
    each batch as ``pending`` before sending it, so that after a crash the writer knows which
    rows to check on the server before sending them again. Such a writer may also define
    ``wrote_nothing(error) -> bool``: true when a ``send`` that raised ``error`` provably wrote
    nothing. The pending marks of those rows are then taken back, so that a resumed run sends
    them; without it, only batches that never started are taken back. And ``intent_note(ordinal,
    previous outcome) -> str | None``: a note journalled with a row's pending mark
    (``Checkpoint.pending_notes``). A writer whose tasks get their uids from the server sets
    ``server_uids``: a row's own uid then names no task, and is never shown for it.
    """

    name: str
    journals_intent: bool

    def prepare(self, client: FragmentClient, checkpoint: Checkpoint, targets: frozenset[str]) -> None: ...

    def send(self, client: FragmentClient, rows: list[Any]) -> list[Outcome]: ...


@dataclass
class RunOptions:
    """How a bulk run behaves (the CLI's flags, grouped)."""

    batch_size: int = 100
    concurrency: int = 4
    skip_invalid: bool = False
    dry_run: bool = False
    checkpoint: Path | None = None
    restart: bool = False
    results: Path | None = None
    keep_results_in_memory: bool = False
    progress: bool | None = None
    planned_rate: float | None = None  # requests/min for the plan's estimate when no client is given
    log: Callable[[str], None] = lambda message: None


@dataclass
class Plan:
    rows: int
    invalid: int
    already_done: int
    to_send: int
    batches: int
    rate_per_min: float | None

    @property
    def estimated_seconds(self) -> float | None:
        if self.rate_per_min is None:
            return None
        return self.batches / self.rate_per_min * 60

    def describe(self) -> str:
        text = f"{self.rows:,} rows: {self.to_send:,} to send in {self.batches:,} batch(es)"
        if self.already_done:
            text += f", {self.already_done:,} already done"
        if self.invalid:
            text += f", {self.invalid:,} invalid"
        if self.estimated_seconds is not None:
            text += f"; at {self.rate_per_min:g} requests/min about {format_duration(self.estimated_seconds)}"
        return text


@dataclass
class RunReport:
    """What a run did. ``summary``, ``results`` and ``failed`` are DataFrames for notebooks."""

    command: str
    counts: dict[str, int]
    total: int
    elapsed: float
    plan: Plan | None = None
    dry_run: bool = False
    results_path: Path | None = None
    checkpoint_path: Path | None = None
    problems: list[RowProblem] = field(default_factory=list)
    stopped_by: str | None = None
    _results: pd.DataFrame | None = None

    @property
    def succeeded(self) -> int:
        return sum(self.counts.get(status, 0) for status in SUCCESS_STATUSES)

    @property
    def rows_per_min(self) -> float:
        """Rows acknowledged by this run (not by the runs it resumed) per minute."""
        this_run = self.succeeded - (self.plan.already_done if self.plan else 0)
        return this_run / self.elapsed * 60 if self.elapsed > 0 else 0.0

    @property
    def exit_code(self) -> int:
        if self.dry_run:  # what the run would give were every valid row accepted
            return 1 if self.counts.get("failed") else 0
        return 0 if self.succeeded == self.total else 1

    @property
    def summary(self) -> pd.DataFrame:
        rows = [{"status": status, "rows": self.counts.get(status, 0)} for status in STATUSES]
        return pd.DataFrame(rows).set_index("status")

    @property
    def results(self) -> pd.DataFrame:
        if self._results is not None:
            return self._results
        if self.results_path is not None and self.results_path.exists():
            return pd.read_csv(self.results_path, dtype=str, keep_default_na=False)
        raise FragmentBulkError("this run kept no results (no results file was written)")

    @property
    def failed(self) -> pd.DataFrame:
        """The rows not applied: failed, and skipped (not sent) but in a dry run, where every valid row is."""
        results = self.results
        return results[results["_status"].isin(["failed"] if self.dry_run else ["failed", "skipped"])]

    def summary_line(self) -> str:
        if self.dry_run:
            return f"dry run: {self.plan.describe() if self.plan else ''}; nothing was sent"
        parts = [f"{self.counts.get(status, 0):,} {status}" for status in STATUSES if self.counts.get(status)]
        text = f"{self.command}: {self.total:,} rows: {', '.join(parts) or 'nothing to do'}"
        text += f" in {format_duration(self.elapsed)} ({self.rows_per_min:,.0f} rows/min)"
        if self.results_path:
            text += f"; results in {self.results_path}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "total": self.total,
            "counts": {status: self.counts.get(status, 0) for status in STATUSES},
            "elapsed_seconds": round(self.elapsed, 3),
            "rows_per_min": round(self.rows_per_min, 1),
            "dry_run": self.dry_run,
            "results": str(self.results_path) if self.results_path else None,
            "checkpoint": str(self.checkpoint_path) if self.checkpoint_path else None,
            "stopped_by": self.stopped_by,
            "exit_code": self.exit_code,
        }


@dataclass
class _Batch:
    """A batch handed to the pool. ``answered`` is filled by its worker as requests answer (read
    only once the batch is done); ``before`` is what the checkpoint held for its rows before they
    were marked pending."""

    rows: list[Any]
    uids: set[str]
    answered: list[Outcome] = field(default_factory=list)
    before: dict[int, Outcome] = field(default_factory=dict)


class _BatchSize:
    """The batch size for the rest of the run; halves when the server says "too large"."""

    def __init__(self, size: int):
        self.size = size
        self._lock = threading.Lock()

    def shrink_below(self, rejected: int) -> None:
        with self._lock:
            self.size = max(1, min(self.size, rejected // 2))


def run_bulk(
    command: str,
    table: Any,
    mapping: Any,
    client: FragmentClient | None,
    writer: Writer,
    options: RunOptions,
) -> RunReport:
    """Run one bulk job end to end (see the module docstring)."""
    started = time.monotonic()
    mapping.check_columns(table.columns)
    # A dry run also maps the rows a run would find to repeat a uid only once mapped: it notes them while checking.
    find_late = options.dry_run and mapping.finds_duplicates_once_mapped(table.columns)
    invalid, problems, total = _validate(table, mapping, note_alike=find_late)
    if total == 0:
        raise InputError(f"{table.source_name}: the input has no data rows, only a header")
    invalid_between = lambda start, stop: {o: invalid[o] for o in range(start, stop) if o in invalid}  # noqa: E731
    if invalid and not options.skip_invalid:
        not_sent = "not sent: the input has invalid rows (fix them, or use --skip-invalid)"
        error = ValidationError(problems, invalid_rows=len(invalid))
        error.results_path = _write_results(table, options.results, invalid_between, default=not_sent)
        if options.keep_results_in_memory:  # a DataFrame's every invalid row, not the first few problems
            error.results = _results_frame(table, invalid_between, default=not_sent)
        raise error

    if find_late:
        # A run fails a row whose payload, once converted, repeats an earlier row's (no key: one
        # uid) as it maps the rows to send them: a dry run maps them too, to report what a run would.
        failed = np.array(sorted(invalid), dtype=np.int64)
        for row in mapping.converted_duplicates(lambda: table.chunks(ramp=False), failed):
            problems += row.problems[:max(0, PROBLEMS_SHOWN - len(problems))]
            invalid[row.ordinal] = _failed_once_mapped(row)

    batch_size = _BatchSize(options.batch_size)
    wind_down = WindDown(options.log)  # what a second Ctrl-C does
    checkpoint = None
    if not options.dry_run:
        job = {"input": table.fingerprint(), "mapping": mapping.fingerprint(), "mode": writer.name}
        if client is not None:
            job["server"] = client.destination
        # Re-sending an idempotent write is harmless, so only non-idempotent jobs pay for an
        # fsync per commit (see Checkpoint.open).
        checkpoint = Checkpoint.open(options.checkpoint, job=job, restart=options.restart, power_safe=writer.journals_intent,
                                     rerun_when_complete=not writer.journals_intent,
                                     carried=getattr(writer, "carried_over_restart", ()))
    try:
        already_done = sum(map(checkpoint.count, SUCCESS_STATUSES)) if checkpoint else 0
        to_send = total - len(invalid) - already_done
        rate = client.settings.rate_per_min if client is not None else options.planned_rate
        plan = Plan(total, len(invalid), already_done, to_send, math.ceil(to_send / batch_size.size), rate)
        if checkpoint is not None and checkpoint.resumed and checkpoint.job().get("state") == "complete":
            left = (f"its {to_send:,} rows not applied are tried again (one whose outcome is unknown is looked up"
                    " or left as it is, never sent blindly)" if to_send else "nothing is sent again")
            options.log(f"{options.checkpoint} records this job as finished: {left} (--restart sends every row again)")
        elif checkpoint is not None and checkpoint.resumed and already_done:
            options.log(f"resuming from {options.checkpoint}: {already_done:,} rows already acknowledged")
        options.log(f"plan: {plan.describe()}")
        if options.dry_run:
            counts = {"failed": len(invalid), "skipped": total - len(invalid)}  # skipped: valid, not sent
            valid = "dry run: valid, not sent"
            kept = _results_frame(table, invalid_between, default=valid) if options.keep_results_in_memory else None
            # The rows a run would fail are listed in the dry run's own results file, as when it refuses them.
            written = _write_results(table, options.results, invalid_between, default=valid) if invalid else None
            return RunReport(command, counts, total, time.monotonic() - started, plan=plan, dry_run=True, problems=problems,
                             results_path=written, _results=kept)
        if client is None:
            raise FragmentBulkError("a client is needed to send")
        client.throttle.reset_cancel()
        try:
            writer.prepare(client, checkpoint, mapping.targets(table.columns))
        except BaseException:
            if not checkpoint.resumed and not client.has_answered_well:  # a wrong URL: nothing could be written
                checkpoint.discard()
            raise
        if invalid:
            checkpoint.record(invalid.values())
        failure = _send_all(table, mapping, client, writer, checkpoint, options, batch_size, plan, wind_down)
        if isinstance(failure, ConnectionFailed) and not checkpoint.resumed and not client.has_answered_well:
            checkpoint.discard()  # never connected (a writer that asks nothing first): as above
            raise failure
        stopped_by = None if failure is None else "interrupted" if isinstance(failure, InterruptedImport) else str(failure)
        if stopped_by is None:
            checkpoint.mark_complete()
        counts = checkpoint.counts()
        results_frame = None
        results_path = _write_results(
            table, options.results, checkpoint.outcomes_between,
            default=f"not sent: the run stopped ({stopped_by}); run the same command again to resume",
        )
        if options.keep_results_in_memory:
            results_frame = _results_frame(table, checkpoint.outcomes_between, default="not sent")
        counts["skipped"] = counts.get("skipped", 0) + total - sum(counts.values())
        report = RunReport(
            command, counts, total, time.monotonic() - started, plan=plan,
            results_path=results_path,
            checkpoint_path=options.checkpoint, problems=problems, stopped_by=stopped_by,
            _results=results_frame,
        )
        if failure is not None:
            resume = f" in {options.checkpoint}; run the same command again to resume" if options.checkpoint else ""
            if isinstance(failure, InterruptedImport):
                raise InterruptedImport(f"interrupted: {report.succeeded:,} of {total:,} rows are saved{resume}") from None
            failure.report = report
            failure.args = (f"{failure}; {report.succeeded:,} of {total:,} rows were saved{resume}",)
            raise failure
        return report
    finally:
        wind_down.release()
        if checkpoint is not None:
            checkpoint.close()


def _validate(table: Any, mapping: Any, *, note_alike: bool = False) -> tuple[dict[int, Outcome], list[RowProblem], int]:
    """Pass 1: every row checked before anything is sent. Returns invalid rows by ordinal."""
    invalid: dict[int, Outcome] = {}
    shown: list[RowProblem] = []
    total = 0
    for chunk in table.chunks(ramp=False):  # nothing is sent meanwhile: large chunks from the start
        total += len(chunk)
        problems = mapping.validate(chunk, note_alike=note_alike)
        if not problems:
            continue
        ordinal_of = {}
        for position, label in enumerate(chunk.labels):
            ordinal_of.setdefault(label, chunk.start + position)
        for problem in problems:
            ordinal = ordinal_of.get(problem.row)
            if ordinal is None:
                continue
            merged = table.merged_range_at(problem.row, problem.column)
            if merged:  # the sheet shows a value there: "the key column is empty" alone would puzzle
                problem = replace(problem, reason=f"{problem.reason}; the cell is in the merged range {merged},"
                                                  " whose value only its top-left cell holds")
            if len(shown) < PROBLEMS_SHOWN:
                shown.append(problem)
            previous = invalid.get(ordinal)
            reason = str(problem) if previous is None else f"{previous.error}; {problem}"
            invalid[ordinal] = Outcome(ordinal, "failed", None, reason)
    return invalid, shown, total


def _send_all(
    table: Any,
    mapping: Any,
    client: FragmentClient,
    writer: Writer,
    checkpoint: Checkpoint,
    options: RunOptions,
    batch_size: _BatchSize,
    plan: Plan,
    wind_down: WindDown,
) -> BaseException | None:
    """Pass 2. Returns None when every batch was handled, else the failure that stopped it."""
    bar = progress_bar(plan.rows, description=writer.name, enabled=options.progress)
    bar.update(plan.already_done + plan.invalid)
    pool = futures.ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="fragment-bulk")
    in_flight: dict[futures.Future, _Batch] = {}
    failure: BaseException | None = None
    wrote_nothing = getattr(writer, "wrote_nothing", lambda error: False)
    intent_note = getattr(writer, "intent_note", lambda ordinal, previous: None)

    def collect(done: set[futures.Future]) -> None:
        nonlocal failure
        acknowledged: list[Outcome] = []
        unsent: list[int] = []  # rows marked pending whose batch provably wrote nothing
        previous: list[Outcome] = []
        for future in done:
            batch = in_flight.pop(future)
            if future.cancelled():  # it never started
                taken_back = batch.rows
            else:
                try:
                    acknowledged.extend(future.result())
                    continue
                except BaseException as exc:  # noqa: BLE001 - the first failure stops the run
                    failure = failure or exc
                    acknowledged.extend(batch.answered)  # what the server answered before it failed
                    answered = {outcome.ordinal for outcome in batch.answered}
                    taken_back = [row for row in batch.rows if row.ordinal not in answered] if wrote_nothing(exc) else []
            unsent.extend(row.ordinal for row in taken_back)
            previous.extend(batch.before[row.ordinal] for row in taken_back if row.ordinal in batch.before)
        # Batches that finished together share one durable commit.
        if acknowledged:
            checkpoint.record(acknowledged)
            bar.update(len(acknowledged))
        # Left pending, a row would be reported "outcome unknown" and never sent by a resumed run.
        if unsent and writer.journals_intent:
            checkpoint.unpend(unsent, previous)

    # Batches queued beyond the workers let a worker that finishes start its next request at
    # once, instead of waiting for this thread to journal and hand it one. Not for a writer
    # that journals its intent: a queued batch is marked pending, and a crash would leave it so.
    queued = options.concurrency if writer.journals_intent else 2 * options.concurrency
    wind_down.watch()
    alive = contextlib.ExitStack()
    if writer.journals_intent:  # it tells a resumed run when this one was last alive
        alive.enter_context(checkpoint.keep_alive(alive_every(client)))
    try:
        for rows in _batches(table, mapping, checkpoint, batch_size):
            batch = _Batch(rows, {row.uid for row in rows})
            # Rows of one task land in file order (two comments on it; imports and updates refuse
            # a repeated uid up front): a batch waits while an earlier one holding its tasks is in flight.
            while len(in_flight) >= queued or any(not batch.uids.isdisjoint(held.uids) for held in in_flight.values()):
                done, _ = futures.wait(in_flight, return_when=futures.FIRST_COMPLETED)
                collect(done)
            if failure is not None:
                break
            if writer.journals_intent:
                # What its rows held before, put back if it is never sent (a batch's rows are in file order).
                batch.before = checkpoint.outcomes_between(rows[0].ordinal, rows[-1].ordinal + 1)
                checkpoint.record(Outcome(row.ordinal, PENDING, _shown_uid(writer, row),
                                          intent_note(row.ordinal, batch.before.get(row.ordinal))) for row in rows)
            in_flight[pool.submit(_deliver, writer, client, rows, batch_size, batch.answered)] = batch
        while in_flight and failure is None:
            done, _ = futures.wait(in_flight, return_when=futures.FIRST_COMPLETED)
            collect(done)
    except KeyboardInterrupt:
        failure = InterruptedImport("interrupted")
    finally:
        if failure is not None:
            client.throttle.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        try:
            # Batches that finished while stopping were acknowledged: journal them too. Those
            # cancelled before they started, or stopped at the throttle, wrote nothing: take them back.
            collect(set(in_flight))
        finally:
            alive.close()  # after the journal, which tells it whether any request's fate is still open
            bar.close()
    return failure


def alive_every(client: FragmentClient) -> float:
    """How often a run with requests in flight says it is alive: often enough that a resumed run
    waits little longer than a request's timeout for what a killed run sent."""
    return min(5.0, max(client.settings.timeout, 0.5))


def _mapped_chunks(table: Any, mapping: Any) -> Iterator[tuple[int, int, list[Any], np.ndarray | None]]:
    """(first ordinal, row count, mapped rows, the size of each row's text if known) of each chunk of the input."""
    for chunk in table.chunks():
        yield chunk.start, len(chunk), mapping.map_chunk(chunk), chunk.row_bytes()


def _batches(table: Any, mapping: Any, checkpoint: Checkpoint, batch_size: _BatchSize) -> Iterator[list[Any]]:
    """Valid, unacknowledged mapped rows in batches of the current batch size, or fewer rows when
    their text passes ``BATCH_BYTES``.

    The next chunk is read and mapped on a thread while this one's batches are sent: mapped on
    the sending thread, a chunk would hold up new requests until it was done, and the requests
    in flight would drain (the server idle) meanwhile.
    """
    batch: list[Any] = []
    held = 0
    for start, count, rows, sizes in read_ahead(_mapped_chunks(table, mapping), MAPPED_AHEAD, name="fragment-bulk-map"):
        done = checkpoint.done_between(start, start + count)
        _record_late_problems(checkpoint, start, count, [row for row in rows if row.problems])
        for row, size in zip(rows, itertools.repeat(0) if sizes is None else sizes.tolist()):
            if row.problems or row.ordinal in done:
                continue
            batch.append(row)
            held += size
            if len(batch) >= batch_size.size or held >= BATCH_BYTES:
                yield batch
                batch, held = [], 0
    if batch:
        yield batch


def _record_late_problems(checkpoint: Checkpoint, start: int, count: int, rows: list[Any]) -> None:
    """Rows found invalid only once mapped (the check pass recorded the others as failed): a row
    whose payload repeats an earlier row's when no key tells them apart."""
    if not rows:
        return
    known = checkpoint.outcomes_between(start, start + count)
    checkpoint.record(_failed_once_mapped(row) for row in rows if row.ordinal not in known)


def _failed_once_mapped(row: Any) -> Outcome:
    return Outcome(row.ordinal, "failed", None, "; ".join(map(str, row.problems)))


def _deliver(writer: Writer, client: FragmentClient, rows: list[Any], batch_size: _BatchSize,
             answered: list[Outcome]) -> list[Outcome]:
    """Send ``rows``, isolating the rows a 422 names so that the others still go through.

    Outcomes are added to ``answered`` as requests answer, so that a batch stopped midway by an
    error still tells which of its rows the server answered. Returns ``answered``.
    """
    size = batch_size.size
    if len(rows) > size:  # formed before the server said "too large": no need to hear it again
        for start in range(0, len(rows), size):
            _deliver(writer, client, rows[start:start + size], batch_size, answered)
        return answered
    try:
        answered.extend(writer.send(client, rows))
    except RequestRejected as rejected:
        if rejected.too_large and len(rows) > 1:
            batch_size.shrink_below(len(rows))
            return _split(writer, client, rows, batch_size, answered)
        named = {p.index: p for p in rejected.item_problems if 0 <= p.index < len(rows)}
        if named:
            answered.extend(
                Outcome(rows[i].ordinal, "failed", _shown_uid(writer, rows[i]), _server_reason(named[i].field, named[i].message))
                for i in sorted(named)
            )
            rest = [row for i, row in enumerate(rows) if i not in named]
            return _deliver(writer, client, rest, batch_size, answered) if rest else answered
        if len(rows) == 1:
            answered.append(Outcome(rows[0].ordinal, "failed", _shown_uid(writer, rows[0]), f"rejected by the server: {rejected}"))
            return answered
        return _split(writer, client, rows, batch_size, answered)
    return answered


def _shown_uid(writer: Writer, row: Any) -> str | None:
    return None if getattr(writer, "server_uids", False) else row.uid


def _split(writer: Writer, client: FragmentClient, rows: list[Any], batch_size: _BatchSize,
           answered: list[Outcome]) -> list[Outcome]:
    half = len(rows) // 2
    _deliver(writer, client, rows[:half], batch_size, answered)
    return _deliver(writer, client, rows[half:], batch_size, answered)


def _server_reason(field: str | None, message: str) -> str:
    return f"rejected by the server: {field}: {message}" if field else f"rejected by the server: {message}"


def _results_chunks(table: Any, outcomes_between: Callable[[int, int], dict[int, Outcome]], default: str) -> Iterator[pd.DataFrame]:
    """The input rows in input order, each with ``_row``, ``_status``, ``_uid`` and ``_error``
    (an input column of one of those names is renamed ``<name> (input)``). The input's cells
    stay as they were: not made floats by pandas (an id with a gap in its column is not rounded)."""
    for chunk in table.chunks():
        frame = chunk.frame
        outcomes = outcomes_between(chunk.start, chunk.start + len(frame))
        status, uid, error = [], [], []
        for position in range(len(frame)):
            outcome = outcomes.get(chunk.start + position)
            if outcome is not None and outcome.status == PENDING:
                outcome = Outcome(outcome.ordinal, "skipped", outcome.uid, UNACKNOWLEDGED)
            status.append(outcome.status if outcome else "skipped")
            uid.append(outcome.uid if outcome else None)
            error.append(outcome.error if outcome else default)
        meta = pd.DataFrame(
            {"_row": list(frame.index), "_status": status, "_uid": uid, "_error": error}
        )
        names, taken = [], set(meta.columns) | set(frame.columns)
        for name in frame.columns:
            if name in meta.columns:  # renamed so that each column of the results has a name of its own
                while name in taken:
                    name = f"{name} (input)"
                taken.add(name)
            names.append(name)
        body = pd.DataFrame(_cell_texts(frame.to_numpy(dtype=object)), columns=names, dtype=object)
        yield pd.concat([meta, body], axis=1)


def _write_results(
    table: Any, path: Path | None, outcomes_between: Callable[[int, int], dict[int, Outcome]], *, default: str
) -> Path | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    try:
        first = True
        for frame in _results_chunks(table, outcomes_between, default):
            # A cell holding half a character (a lone surrogate: the row failed, saying so) is written escaped.
            frame.to_csv(temporary, mode="w" if first else "a", header=first, index=False, lineterminator="\r\n",
                         errors="backslashreplace")
            first = False
        temporary.replace(path)
    finally:  # a second Ctrl-C while writing: no half file left behind (the checkpoint has it all)
        temporary.unlink(missing_ok=True)
    return path


def _results_frame(table: Any, outcomes_between: Callable[[int, int], dict[int, Outcome]], *, default: str) -> pd.DataFrame:
    return pd.concat(list(_results_chunks(table, outcomes_between, default)), ignore_index=True)


def _cell_texts(cells: np.ndarray) -> np.ndarray:
    return np.frompyfunc(_cell_text, 1, 1)(cells) if cells.size else cells


def _cell_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, int) and value.bit_length() > 13_000:  # past Python's 4,300 digits (the row failed, saying so)
        return "(a value too long to write)"
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)  # a date inside a dict cell
        except (TypeError, ValueError):  # a tuple key, an int past Python's 4,300 digits (the row failed, saying so)
            try:
                return str(value)  # as Python writes it
            except ValueError:
                return "(a value too long to write)"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds:.2f}s"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
