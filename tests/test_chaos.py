"""The crash and fault harness (benchmarks/chaos.py), small: kill -9 the CLI import mid-run,
resume it, and find every row on the server exactly once with the values of its CSV row."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from chaos import run_chaos  # noqa: E402


@pytest.mark.timeout(120)
@pytest.mark.parametrize("storm", [False, True], ids=["kills", "kills-in-a-fault-storm"])
def test_kill_and_resume_loses_and_duplicates_nothing(tmp_path, storm):
    result = run_chaos(rows=1500, kills=3, storm=storm, seed=7, work=tmp_path)
    assert (result.lost, result.duplicated, result.mismatched) == (0, 0, 0), result.line()
    assert result.exit_code == 0, result.line()
    assert result.tasks == result.rows == 1500
    assert result.kills >= 1, "no run was killed: the harness proved nothing"


@pytest.mark.timeout(180)
def test_create_mode_kill_and_resume_creates_each_row_once(tmp_path):
    # Server-made uids: rows in doubt are looked up; those never written wait until the killed
    # run's requests can no longer land (the harness then runs the command once more).
    result = run_chaos(rows=600, kills=2, seed=3, mode="create", work=tmp_path)
    assert (result.lost, result.duplicated, result.mismatched, result.silent) == (0, 0, 0, 0), result.line()
    assert result.exit_code == 0 and result.tasks == result.rows == 600, result.line()
    assert result.kills >= 1, "no run was killed: the harness proved nothing"
