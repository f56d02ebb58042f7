"""How many tasks per second the sandbox takes through PUT /tasks/batch (rate limit off).

The sandbox must never be a benchmark's bottleneck; this measures its ceiling with plain httpx,
100 tasks per batch, N client threads each on its own keep-alive connection.

    python benchmarks/sandbox_throughput.py                  # 20,000 tasks, 8 then 16 threads
    python benchmarks/sandbox_throughput.py --server subprocess   # server in its own process

``--server thread`` (default) runs the server in this process, so client and server share one
GIL: a pessimistic figure. ``subprocess`` runs it as ``fragment-bulk sandbox`` would.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

from fragment_bulk.sandbox import Sandbox, SandboxConfig

sys.path.insert(0, str(Path(__file__).parent))
from common import TOKEN, sandbox_process  # noqa: E402

BATCH = 100


@contextmanager
def thread_server() -> Iterator[str]:
    with Sandbox(SandboxConfig(token=TOKEN, rate_per_min=None)) as sandbox, sandbox.serve(port=0) as server:
        yield server.url


def run(url: str, *, tasks: int, threads: int) -> float:
    """Send ``tasks`` new tasks in batches from ``threads`` threads; tasks per second."""
    batches = [
        [{"uid": str(uuid.uuid4()), "fields": {"title": f"task {n}-{i}", "country": "FR", "n": i}} for i in range(BATCH)]
        for n in range(tasks // BATCH)
    ]
    clients = [httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) for _ in range(threads)]

    def send(index: int) -> None:
        response = clients[index % threads].put("/tasks/batch", json={"items": batches[index]})
        response.raise_for_status()

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(send, range(len(batches))))
        elapsed = time.perf_counter() - started
    finally:
        for client in clients:
            client.close()
    return len(batches) * BATCH / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--threads", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--server", choices=["thread", "subprocess"], default="thread")
    args = parser.parse_args()
    for threads in args.threads:
        server = thread_server() if args.server == "thread" else sandbox_process()
        with server as url:
            rate = run(url, tasks=args.tasks, threads=threads)
        print(f"{args.tasks} tasks, {threads} threads, server in {args.server}: {rate:,.0f} tasks/s")


if __name__ == "__main__":
    main()
