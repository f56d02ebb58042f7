"""Every fragment-bulk benchmark in one run, side by side, as one table of ratios and targets.

    python benchmarks/run.py            # full: B1 at 60 requests/min (~60 s), B3/B4 with 1M rows
    python benchmarks/run.py --quick    # B1 at 600/min (~6 s), B3 with 200k rows

- **B1** rate-limited import: rows/min as a share of the physical limit (rate x batch size),
  and the share of requests the server answered 429.
- **B2** limit lifted, 10k rows: ``import_file`` against the quickstart's naive loop (one POST
  per row) and against a bare ``PUT /tasks/batch`` script on a thread pool.
- **B3** client overhead: a dry-run import against a bare ``pandas.read_csv`` of the same file.
- **B4** memory: peak RSS of a 100k-row and a 1M-row dry run, each in its own process.
- **B5** export: ``benchmarks/export_speed.py``.

Every server is a sandbox in its own process (``common.sandbox_process``), reset between
measurements. Generated files live in ``benchmarks/.work/`` and are reused when present.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import TOKEN, Row, admin, print_table, sandbox_process  # noqa: E402

WORK = Path(__file__).parent / ".work"
BATCH = 100
COLUMNS = ["ref", "title", "url", "country", "priority", "status", "due date", "notes", "owner", "estimate"]
KEYS = ["ref"]
TYPES = {"priority": "int", "estimate": "float"}
COUNTRIES = np.array(["FR", "DE", "ES", "IT", "GB", "US", "JP", "BR"], dtype=object)
STATUSES = np.array(["TODO", "STARTED", "DONE"], dtype=object)
OWNERS = np.array(["ana", "bruno", "chloé", "dmitri", "eve", "", "  "], dtype=object)
NOTES = np.array(["", "", "call back, then close", 'said "urgent"', "see ticket 00123", "ok"], dtype=object)
GENERATED_IN = 50_000  # rows generated and written at a time: never the whole file in memory


# -- data ----------------------------------------------------------------------------------------


def write_csv(path: Path, rows: int, *, seed: int = 0) -> Path:
    """A seeded CSV of ``rows`` tasks in the 10 columns of ``COLUMNS``, written chunk by chunk.

    ``ref`` is a zero-padded key ("0000042": text that must stay text); some cells are empty or
    blank; notes hold commas and quotes. The same (rows, seed) always gives the same bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    temporary = path.with_name(path.name + ".partial")
    with open(temporary, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for start in range(0, rows, GENERATED_IN):
            writer.writerows(_task_rows(rng, start, min(start + GENERATED_IN, rows)))
    temporary.replace(path)
    return path


def _task_rows(rng: np.random.Generator, start: int, stop: int) -> Iterator[list[str]]:
    size = stop - start
    numbers = np.arange(start, stop)
    days = rng.integers(0, 365, size)
    priority = rng.integers(1, 6, size)
    with_url = rng.random(size) < 0.9
    country = COUNTRIES[rng.integers(0, len(COUNTRIES), size)]
    status = STATUSES[rng.integers(0, len(STATUSES), size)]
    owner = OWNERS[rng.integers(0, len(OWNERS), size)]
    notes = NOTES[rng.integers(0, len(NOTES), size)]
    estimate = np.round(rng.random(size) * 40, 2)
    due = (np.datetime64("2026-01-01") + days).astype(str)
    for i in range(size):
        n = numbers[i]
        yield [
            f"{n:07d}", f"Task {n}: check the order", f"https://example.com/t/{n}" if with_url[i] else "",
            country[i], str(priority[i]), status[i], due[i], notes[i], owner[i], str(estimate[i]),
        ]


def task_fields(row: dict[str, str]) -> dict[str, object]:
    """The payload the hand-written scripts send for one CSV row (what fragment-bulk sends)."""
    fields: dict[str, object] = {"title": row["title"], "ref": row["ref"], "country": row["country"],
                                 "priority": int(row["priority"]), "estimate": float(row["estimate"])}
    for name in ("url", "notes", "owner"):
        if row[name].strip():
            fields[name] = row[name]
    return fields


def csv_file(rows: int) -> Path:
    path = WORK / f"tasks-{rows}.csv"
    return path if path.exists() else write_csv(path, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="B1 at 600/min, B3 with 200k rows")
    args = parser.parse_args()


if __name__ == "__main__":
    main()
