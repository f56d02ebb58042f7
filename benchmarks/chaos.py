"""Crash and fault harness: kill -9 the CLI import again and again, resume it, then count.

    python benchmarks/chaos.py                         # 20,000 rows, 20 kills
    python benchmarks/chaos.py --rows 5000 --kills 10 --storm
    python benchmarks/chaos.py --mode create [--storm]

Generates a seeded CSV, serves a sandbox in its own process (rate limit off, 2-10 ms of
latency so that kills land mid-run), and runs ``python -m fragment_bulk import FILE --key ref``
as a user would. Each run is SIGKILLed at a seeded moment: either a delay after its start (so
some land in start-up or validation) or once the server has committed a drawn number of
further batches; the same command then resumes. A run that ends before its kill does not
count: another is started, until ``--kills`` kills have landed. After the last kill the import runs to its
end. Then every task on the server is compared with the CSV:

    rows=N tasks=M lost=0 duplicated=0 mismatched=0 kills=K

and the exit code is non-zero unless all three are zero and the last run exited 0.

``--mode create`` imports with ``POST`` and server-made uids instead (and ``--timeout 5``): rows
are then matched to tasks by their ``ref`` field. A row a kill left in doubt that the resumed run
cannot find waits until the killed run's request can no longer land (15 s after it was last
alive, with that timeout) before it is sent; so after the last run the harness waits that long
and runs the same command once more. A row still without a task must be reported so
(``unknown``), never missing in silence (``silent``).

``--storm`` adds a fault storm: 10% of requests answered 5xx, 5% of writes committed with the
response lost, random latency, and a server rate limit (3000/min, burst 5) that the client,
run with ``--rate off``, keeps hitting; ``Retry-After`` switches between a header, none and
zero from one resume to the next.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import TOKEN, admin, sandbox_process  # noqa: E402
from run import BATCH, KEYS, TYPES, WORK, read_rows, task_item, write_csv  # noqa: E402

RETRY_AFTER_MODES = ("header", "none", "zero")
POLL_SECONDS = 0.005
RUN_TIMEOUT = 600.0
FINAL_ATTEMPTS = 3  # a run may stop on a fault it gave up on; the same command resumes it
MAX_RUNS_PER_KILL = 3
CREATE_TIMEOUT = 5.0  # --mode create: a killed run's requests settle 15 s after it was last alive


@dataclass
class Result:
    rows: int
    tasks: int
    lost: int
    duplicated: int
    mismatched: int
    kills: int
    exit_code: int  # of the last run, the one left to finish
    final_runs: int  # runs after the last kill until one exited 0 (a storm may stop a run early)
    unknown: int = 0  # --mode create: rows with no task yet, reported as such (waiting, or outcome unknown)
    silent: int = 0  # rows with no task and no such report: lost without a word

    @property
    def ok(self) -> bool:
        if self.unknown:  # a create run that left rows unknown exits 1; they must all be reported
            return self.lost == self.unknown and self.duplicated == self.mismatched == self.silent == 0
        return self.lost == self.duplicated == self.mismatched == self.silent == 0 and self.exit_code == 0

    def line(self) -> str:
        return (f"rows={self.rows} tasks={self.tasks} lost={self.lost} duplicated={self.duplicated}"
                f" mismatched={self.mismatched} unknown={self.unknown} silent={self.silent} kills={self.kills}"
                f" exit={self.exit_code} final_runs={self.final_runs}")


def sandbox_config(storm: bool, seed: int) -> dict[str, object]:
    if not storm:
        return {"rate_per_min": None, "latency_ms": (2, 10), "seed": seed}
    return {"rate_per_min": 3000, "burst": 5, "retry_after": "header", "fault_5xx": 0.10, "fault_lost": 0.05,
            "latency_ms": (0, 20), "seed": seed}


def import_command(path: Path, mode: str = "upsert") -> list[str]:
    command = [sys.executable, "-m", "fragment_bulk", "import", str(path), "--rate", "off", "--mode", mode,
               "--batch-size", str(BATCH), "--concurrency", "4", "--json", "--quiet"]
    if mode == "create":
        command += ["--timeout", str(CREATE_TIMEOUT)]
    for key in KEYS if mode == "upsert" else ():
        command += ["--key", key]
    for column, type_name in TYPES.items():
        command += ["--type", f"{column}={type_name}"]
    return command


def run_chaos(*, rows: int = 20_000, kills: int = 20, storm: bool = False, seed: int = 0, mode: str = "upsert",
              work: Path | None = None, log: Callable[[str], None] = lambda message: None) -> Result:
    """Import ``rows`` generated rows through ``kills`` SIGKILLs and resumes; count what arrived."""
    work = work or WORK / f"chaos-{rows}-{seed}{'-storm' if storm else ''}{'-create' if mode == 'create' else ''}"
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("tasks.*"):
        stale.unlink()
    path = write_csv(work / "tasks.csv", rows, seed=seed)
    rng = random.Random(seed)
    with sandbox_process(**sandbox_config(storm, seed)) as url:
        env = {**os.environ, "FRAGMENT_BASE_URL": url, "FRAGMENT_TOKEN": TOKEN}
        command = import_command(path, mode)
        batches = -(-rows // BATCH)
        delivered = attempt = 0
        # A run that ends before its kill (the clock drew a late moment) does not count: draw again.
        while delivered < kills and attempt < MAX_RUNS_PER_KILL * kills:
            attempt += 1
            if storm:
                admin(url, "PATCH", "config", json={"retry_after": rng.choice(RETRY_AFTER_MODES)})
            killed, code = run_and_kill(command, env, url, rng, step=max(1, batches // max(kills, 1)))
            delivered += killed
            log(f"run {attempt}: {'killed' if killed else f'ended before the kill, exit {code}'}"
                f" at {writes(url)} writes")
        exit_code, final_runs = -1, 0
        # (A create run that reports rows unknown exits 1 every time: the attempts run out, sending nothing.)
        while exit_code != 0 and final_runs < FINAL_ATTEMPTS:
            final_runs += 1
            if storm:
                admin(url, "PATCH", "config", json={"retry_after": rng.choice(RETRY_AFTER_MODES)})
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
            exit_code = done.returncode
            log(f"final run: exit {exit_code} {done.stdout.strip()[-300:]} {done.stderr.strip()[-300:]}")
        if mode == "create" and exit_code != 0:  # rows waiting for the killed runs' requests to settle
            time.sleep(3 * CREATE_TIMEOUT + 1)
            final_runs += 1
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
            exit_code = done.returncode
            log(f"settled run: exit {exit_code} {done.stdout.strip()[-300:]} {done.stderr.strip()[-300:]}")
        tasks = admin(url, "GET", "tasks")["items"]
    if mode == "create":
        return compare_created(path, tasks, work / "tasks.fragment-results.csv", kills=delivered, exit_code=exit_code,
                               final_runs=final_runs)
    return compare(path, tasks, kills=delivered, exit_code=exit_code, final_runs=final_runs)


def run_and_kill(command: list[str], env: dict[str, str], url: str, rng: random.Random, *,
                 step: int) -> tuple[bool, int | None]:
    """Start the import and SIGKILL it at a drawn moment: (killed, exit code when it ended first)."""
    by_clock = rng.random() < 0.25
    delay = rng.uniform(0.05, 1.0)  # start-up (imports, validation) takes most of a second
    target = writes(url) + rng.randint(1, step)
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while process.poll() is None:
            due = time.monotonic() - started >= delay if by_clock else writes(url) >= target
            if due:
                process.kill()  # SIGKILL: no handler, no clean-up, no checkpoint flush
                process.wait()
                return True, None
            if time.monotonic() - started > RUN_TIMEOUT:
                raise TimeoutError(f"the import ran for more than {RUN_TIMEOUT:.0f}s")
            time.sleep(POLL_SECONDS)
        return False, process.returncode
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def writes(url: str) -> int:
    return admin(url, "GET", "stats")["writes"]


def compare(path: Path, tasks: list[dict], *, kills: int, exit_code: int, final_runs: int) -> Result:
    """Every CSV row against the task with its uid: missing, extra, or with other values."""
    from fragment_bulk.identity import uuid_from_key

    by_uid = {task["uid"]: task for task in tasks}
    lost = mismatched = rows = 0
    expected: set[str] = set()
    for row in read_rows(path):
        rows += 1
        uid = uuid_from_key("key", [row[key] for key in KEYS])
        expected.add(uid)
        task = by_uid.get(uid)
        if task is None:
            lost += 1
        elif not matches(task, task_item(row)):
            mismatched += 1
    duplicated = len(tasks) - len(by_uid) + sum(1 for uid in by_uid if uid not in expected)
    return Result(rows, len(tasks), lost, duplicated, mismatched, kills, exit_code, final_runs)


def compare_created(path: Path, tasks: list[dict], results: Path, *, kills: int, exit_code: int,
                    final_runs: int) -> Result:
    """``compare`` for server-made uids: each CSV row against the tasks holding its ``ref``."""
    by_ref: dict[str, list[dict]] = {}
    for task in tasks:
        by_ref.setdefault(task["fields"].get("ref"), []).append(task)
    with open(results, encoding="utf-8", newline="") as handle:
        reported = {row["ref"]: row for row in csv.DictReader(handle)}
    unknown_refs = {ref for ref, row in reported.items() if row["_status"] != "created"}
    rows = lost = mismatched = silent = 0
    for row in read_rows(path):
        rows += 1
        found = by_ref.pop(row["ref"], [])
        if not found:
            lost += 1
            silent += row["ref"] not in unknown_refs
        elif not all(matches(task, task_item(row)) for task in found):
            mismatched += 1
        elif row["ref"] not in unknown_refs and reported[row["ref"]]["_uid"] not in {task["uid"] for task in found}:
            mismatched += 1  # reported created with another task's uid
    duplicated = len(tasks) - (rows - lost)  # every task past the first of its row
    return Result(rows, len(tasks), lost, duplicated, mismatched, kills, exit_code, final_runs,
                  unknown=len(unknown_refs), silent=silent)


def matches(task: dict, item: dict) -> bool:
    """The task holds exactly the row's fields, its status, and its due date (as an instant)."""
    return (task.get("fields") == item["fields"] and task.get("status") == item["status"]
            and instant(task.get("due_at")) == instant(item["due_at"]))


def instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--storm", action="store_true", help="5xx, lost responses, latency and 429 bursts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=["upsert", "create"], default="upsert", help="import mode (create: POST)")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per run on stderr")
    args = parser.parse_args()
    log = (lambda message: print(message, file=sys.stderr)) if args.verbose else (lambda message: None)
    started = time.monotonic()
    result = run_chaos(rows=args.rows, kills=args.kills, storm=args.storm, seed=args.seed, mode=args.mode, log=log)
    print(f"{result.line()} ({time.monotonic() - started:.0f}s)")
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
