"""Fragment's quickstart, every step, against the sandbox on a real loopback port.

Plain httpx (not our client), so this checks the sandbox against the docs and nothing of ours
can paper over a difference; then the docs' own script, run as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from fragment_bulk.sandbox import Sandbox, SandboxConfig, SandboxServer

TOKEN = "quickstart-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "User-Agent": "quickstart/1.0"}
SCRIPT = Path(__file__).parent / "data" / "quickstart.py"


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, SandboxServer]]:
    # The docs' default rate limit stays on: six calls fit in the burst, as for a real user.
    with Sandbox(SandboxConfig(token=TOKEN)) as sandbox, sandbox.serve(port=0) as server:
        yield sandbox, server


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def test_quickstart_steps(served: tuple[Sandbox, SandboxServer]) -> None:
    sandbox, server = served
    with httpx.Client(base_url=server.url, headers=HEADERS) as http:
        # 1. Verify authentication
        assert http.get("/accounts/me").status_code == 200

        # 2. Create the first task: uid, default status TODO, due_at defaults to now
        before = datetime.now(timezone.utc)
        response = http.post("/tasks", json={"fields": {"title": "My first task", "url": "https://google.com", "country": "FR"}})
        assert response.status_code == 200
        task = response.json()
        uid = task["uid"]
        assert task["status"] == "TODO"
        assert task["fields"] == {"title": "My first task", "url": "https://google.com", "country": "FR"}
        assert before <= _parse(task["due_at"]) <= datetime.now(timezone.utc)

        # 3. Get the task by its uid
        response = http.get(f"/tasks/{uid}")
        assert response.status_code == 200
        assert response.json() == task

        # 4. Search tasks by country: the task is under "items"
        response = http.get("/tasks", params={"country": "FR"})
        assert response.status_code == 200
        assert [item["uid"] for item in response.json()["items"]] == [uid]

        # 5. Update the status: DONE, and done_at set automatically
        response = http.patch(f"/tasks/{uid}", json={"status": "DONE"})
        assert response.status_code == 200
        done = response.json()
        assert done["status"] == "DONE"
        assert done["done_at"] is not None
        assert done["fields"] == task["fields"]

        # 6. Add a comment: it has a uid
        response = http.post(f"/tasks/{uid}/comments", json={"text": "This is a comment"})
        assert response.status_code == 200
        comment = response.json()
        assert comment["uid"]
        assert comment["text"] == "This is a comment"

    assert sandbox.task_count() == 1
    assert [c["uid"] for c in sandbox.comments(uid)] == [comment["uid"]]


def test_quickstart_script_runs_unchanged(served: tuple[Sandbox, SandboxServer]) -> None:
    sandbox, server = served
    env = {**os.environ, "FRAGMENT_BASE_URL": server.url, "FRAGMENT_TOKEN": TOKEN}
    result = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Authentication successful" in result.stdout
    assert "Task updated with status: DONE" in result.stdout
    assert "Comment added with uid:" in result.stdout
    [task] = sandbox.tasks()
    assert task["status"] == "DONE"
    assert len(sandbox.comments(task["uid"])) == 1
