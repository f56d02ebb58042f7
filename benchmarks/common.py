"""What every benchmark shares: a sandbox in its own process, and a results table.

The sandbox runs in a separate process (as ``fragment-bulk sandbox`` would) so that it never
shares a GIL with the client being measured.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

TOKEN = "bench-token"


@contextmanager
def sandbox_process(**config: object) -> Iterator[str]:
    """A sandbox (``SandboxConfig(**config)``, token ``TOKEN``) on a free loopback port; yields its URL."""
    settings = {"token": TOKEN, "rate_per_min": None, **config}
    code = (
        "import json, sys; from fragment_bulk.sandbox import SandboxConfig, run_server; "
        "run_server(SandboxConfig(**json.loads(sys.argv[1])), port=0)"
    )
    process = subprocess.Popen([sys.executable, "-u", "-c", code, json.dumps(settings)], stdout=subprocess.PIPE, text=True)
    try:
        first_line = process.stdout.readline() if process.stdout else ""
        yield first_line.rsplit(" ", 1)[-1].strip()  # "Fragment sandbox listening on <url>"
    finally:
        process.terminate()
        process.wait(10)


def admin(url: str, method: str, path: str, **kwargs: object) -> object:
    """Call the sandbox's ``/_sandbox/`` control paths (stats, reset, config)."""
    root = url.split("/api/")[0]
    headers = {"Authorization": f"Bearer {TOKEN}"}  # /_sandbox/ wants the token too
    response = httpx.request(method, f"{root}/_sandbox/{path}", headers=headers, timeout=60, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


@dataclass
class Row:
    name: str
    measured: str
    target: str
    met: bool | None

    def cells(self) -> list[str]:
        verdict = {True: "yes", False: "NO", None: "-"}[self.met]
        return [self.name, self.measured, self.target, verdict]


def print_table(rows: list[Row]) -> None:
    header = ["benchmark", "measured", "target", "met"]
    table = [header] + [row.cells() for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for index, line in enumerate(table):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))
