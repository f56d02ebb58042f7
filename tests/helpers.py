"""Test helpers: run the CLI as a user would, and serve a sandbox on a real loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_data"


def cli_env(server_url: str | None = None, token: str = "sandbox-token") -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FRAGMENT_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if server_url:
        env["FRAGMENT_BASE_URL"] = server_url
        env["FRAGMENT_TOKEN"] = token
    return env


def run_cli(*args: str, server_url: str | None = None, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``fragment-bulk ARGS`` in a subprocess (``python -m fragment_bulk``), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "fragment_bulk", *args],
        env=cli_env(server_url), cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def start_cli(*args: str, server_url: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fragment_bulk", *args],
        env=cli_env(server_url), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def error_line(stderr: str) -> str:
    """The one error line of a failed command (asserting there is no traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def signal_when(process: subprocess.Popen, ready, *, sig: int = 9, timeout: float = 60) -> bool:
    """Send ``sig`` to ``process`` as soon as ``ready()`` holds (polling); False if it ended first.

    Tests trigger on the server's progress, not on a clock, so a kill lands mid-run on any machine.
    """
    import time

    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            process.send_signal(sig)
            process.wait()
            return True
        time.sleep(0.002)
    return False


def kill_then_finish(args: list[str], *, server_url: str, progress, next_target, kills: int) -> tuple[int, str]:
    """Run ``fragment-bulk ARGS``, ``kill -9`` it ``kills`` times, then let the same command finish.

    Each kill lands when ``progress()`` (a count on the server) reaches ``next_target(progress())``.
    Returns how many kills landed and the final run's stdout; the final run must exit 0.
    """
    landed = 0
    while True:
        process = start_cli(*args, server_url=server_url)
        if landed < kills:
            target = next_target(progress())
            if signal_when(process, lambda: progress() >= target):
                landed += 1
                continue
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        return landed, out


def with_shared_strings(path: Path) -> Path:
    """Rewrite an openpyxl workbook as Excel writes one: its text in a shared strings table
    (``xl/sharedStrings.xml``), each cell holding the index of its text, where openpyxl writes
    the text into the cell (an inline string)."""
    import re
    import zipfile

    strings: dict[str, int] = {}

    def shared(found: re.Match) -> str:
        index = strings.setdefault(found.group(3), len(strings))
        return f'<c {found.group(1)}t="s"{found.group(2)}><v>{index}</v></c>'

    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    for name, data in parts.items():
        if name.startswith("xl/worksheets/"):
            parts[name] = re.sub(r'<c ([^>]*?)t="inlineStr"([^>]*)><is>(.*?)</is></c>', shared, data.decode(), flags=re.S).encode()
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                     b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rIdStrings" Type="http://schemas.openxmlformats.org/officeDocument/'
                             b'2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    table = "".join(f"<si>{text}</si>" for text in strings)
    parts["xl/sharedStrings.xml"] = (f'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                                     f"{table}</sst>").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path
