"""Export speed and memory: ``export_tasks`` to CSV against a bare httpx paging script.

Seeds N tasks into a sandbox running in its own process (rate limit off), then runs each
exporter in a fresh child process, so that its peak RSS (``ru_maxrss``) is its own:

- **ours**: ``fragment_bulk.exporter.export_tasks`` (throttle, retry, spool, column union,
  formula guard, type sidecar, atomic rename);
- **bare**: ``GET /tasks?limit=100`` page after page with httpx, each task written at once with
  the ``csv`` module (native columns plus ``fields`` as one JSON cell: no column union).

    python benchmarks/export_speed.py                    # 100,000 tasks
    python benchmarks/export_speed.py --tasks 20000

Target: ours runs at >= 0.9x the bare script's tasks/s, and its peak RSS does not grow with N
(compare two runs with different --tasks).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import TOKEN, Row, print_table, sandbox_process  # noqa: E402

BATCH = 100
SEED_THREADS = 8
NATIVE = ("uid", "status", "due_at", "done_at", "started_at", "created_at", "updated_at")


def seed(url: str, tasks: int) -> None:
    """``tasks`` tasks with a mix of custom fields, in batches of 100 from a few threads."""

    def fields(n: int) -> dict:
        custom = {"title": f"Task {n}", "country": ["FR", "DE", "ES"][n % 3], "priority": n % 5, "ticket": f"{n:06d}"}
        if n % 2:
            custom["score"] = n / 4
        if n % 11 == 0:
            custom["meta"] = {"tags": ["a", str(n)]}
        return custom

    def send(start: int) -> None:
        items = [{"uid": str(uuid.UUID(int=n + 1)), "fields": fields(n)} for n in range(start, min(start + BATCH, tasks))]
        client.put("/tasks/batch", json={"items": items}).raise_for_status()

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120,
                      limits=httpx.Limits(max_connections=SEED_THREADS)) as client:
        with ThreadPoolExecutor(SEED_THREADS) as pool:
            list(pool.map(send, range(0, tasks, BATCH)))


# -- the two exporters, each run in a child process ------------------------------------------------


def export_ours(url: str, out: Path) -> int:
    from fragment_bulk.client import FragmentClient
    from fragment_bulk.config import Settings
    from fragment_bulk.exporter import export_tasks

    with FragmentClient(Settings(token=TOKEN, base_url=url, rate_per_min=None)) as client:
        return export_tasks(client, out, progress=False).rows


def export_bare(url: str, out: Path) -> int:
    import csv

    rows = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as client, \
            open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*NATIVE, "fields"])
        cursor = None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            body = client.get("/tasks", params=params).raise_for_status().json()
            for task in body["items"]:
                writer.writerow([*(task.get(name) for name in NATIVE), json.dumps(task["fields"])])
            rows += len(body["items"])
            cursor = body["meta"].get("next_cursor")
            if not body["items"] or not cursor:
                return rows


def child(kind: str, url: str, out: str) -> None:
    """Run one exporter; print rows, seconds, and peak RSS in MiB as JSON.

    The exporter's imports (pandas, for ours) are loaded before the clock starts: the figure is
    throughput, not interpreter start-up. ``import_seconds`` reports that cost apart.
    """
    import resource

    started = time.perf_counter()
    if kind == "ours":
        import fragment_bulk.exporter  # noqa: F401
    imported = time.perf_counter() - started
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.perf_counter()
    rows = {"ours": export_ours, "bare": export_bare}[kind](url, Path(out))
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": rows, "seconds": elapsed, "import_seconds": imported, "peak_mib": peak_kib / 1024,
                      "growth_mib": (peak_kib - baseline_kib) / 1024}))


def measure(kind: str, url: str, out: Path) -> dict:
    answer = subprocess.run([sys.executable, __file__, "--child", kind, url, str(out)],
                            capture_output=True, text=True, check=True)
    return json.loads(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each exporter; the best counts")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "URL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with sandbox_process() as url, tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        seed(url, args.tasks)
        print(f"seeded {args.tasks:,} tasks in {time.perf_counter() - started:.1f}s", flush=True)
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for kind in ("bare", "ours"):
                result = measure(kind, url, Path(folder) / f"{kind}.csv")
                if result["rows"] != args.tasks:
                    raise SystemExit(f"{kind} exported {result['rows']} of {args.tasks} tasks")
                if kind not in best or result["seconds"] < best[kind]["seconds"]:
                    best[kind] = result
    rate = {kind: result["rows"] / result["seconds"] for kind, result in best.items()}
    ratio = rate["ours"] / rate["bare"]

    def measured(kind: str) -> str:
        result = best[kind]
        return f"{rate[kind]:,.0f} tasks/s, peak RSS {result['peak_mib']:.0f} MiB (+{result['growth_mib']:.0f} after imports)"

    print_table([
        Row(f"bare httpx + csv, {args.tasks:,} tasks", measured("bare"), "-", None),
        Row(f"export_tasks -> csv, {args.tasks:,} tasks", measured("ours"), "-", None),
        Row("ours: import time (not in tasks/s)", f"{best['ours']['import_seconds']:.2f}s", "-", None),
        Row("ours / bare", f"{ratio:.2f}x", ">= 0.9x", ratio >= 0.9),
    ])


if __name__ == "__main__":
    main()
