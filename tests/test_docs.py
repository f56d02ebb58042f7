"""The documentation cannot drift: the CLI reference and the README's commands are checked."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("generate_cli_reference", ROOT / "docs" / "generate_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_in_sync_with_help():
    expected = _generator().render()
    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == expected, "run: python docs/generate_cli_reference.py"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest -q" in readme and re.search(r"^python -m pytest -q$", ci, re.M)
