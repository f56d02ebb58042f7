"""The command line as a user runs it: a subprocess, a sandbox on a real loopback port."""

from __future__ import annotations

import builtins
import json
import subprocess
import sys

import openpyxl
import pandas as pd
import pytest
import yaml

import fragment_bulk
from fragment_bulk.sandbox import Sandbox, SandboxConfig

from helpers import SAMPLES, cli_env, error_line, run_cli


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and fragment_bulk.__version__ in result.stdout


def test_whoami_and_a_refused_token(tmp_path):
    with Sandbox(SandboxConfig(rate_per_min=None)) as sb, sb.serve(port=0) as server:
        ok = run_cli("whoami", server_url=server.url)
        assert ok.returncode == 0 and "email:" in ok.stdout
        env = cli_env(server.url, token="wrong-token-value")
        refused = [subprocess.run([sys.executable, "-m", "fragment_bulk", *args], env=env, capture_output=True, text=True)
                   for args in (["whoami"], ["export", str(tmp_path / "out.csv")])]
    for run in refused:  # the same words from any command
        assert run.returncode == 2
        assert error_line(run.stderr).endswith("answered 401: Invalid token: the token was refused (check $FRAGMENT_TOKEN,"
                                               " or the variable --token-env names)")
        assert "wrong-token-value" not in run.stderr + run.stdout


def test_no_token_is_a_config_error():
    result = run_cli("whoami")
    assert result.returncode == 2 and "FRAGMENT_TOKEN" in error_line(result.stderr)


def test_a_token_variable_named_but_unset_never_falls_back_to_fragment_token():
    env = cli_env("http://127.0.0.1:9/api/v1")  # FRAGMENT_TOKEN is set
    result = subprocess.run([sys.executable, "-m", "fragment_bulk", "whoami", "--token-env", "STAGING_TOKEN"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 2 and error_line(result.stderr) == "error: no API token: $STAGING_TOKEN is not set"
    # The token itself given by mistake is not printed back.
    for token in ("sk_live_abc123XYZ", "A3F9C2E7B1D04F6A8C2E9B7D", "AKIA0QX7TZ4K2MJ9", "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE"):
        result = subprocess.run([sys.executable, "-m", "fragment_bulk", "whoami", "--token-env", token],
                                env=env, capture_output=True, text=True)
        assert result.returncode == 2 and token not in result.stderr + result.stdout
        assert "not shown" in error_line(result.stderr)


def test_a_filter_value_keeps_its_equals_signs_and_spaces(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,title,link,pad\n1,T1,https://x.test/?id=7, x \n2,T2,other,y\n", encoding="utf-8")
    db = str(tmp_path / "sb.sqlite")
    assert run_cli("import", str(source), "--key", "id", "--sandbox-db", db, "--rate", "off", "-q").returncode == 0
    for flag in ("link=https://x.test/?id=7", "pad= x "):
        out = tmp_path / "f.csv"
        result = run_cli("export", str(out), "--filter", flag, "--sandbox-db", db, "--rate", "off", "-q")
        assert result.returncode == 0, result.stderr
        assert list(pd.read_csv(out, dtype=str)["title"]) == ["T1"], flag
    twice = run_cli("export", str(tmp_path / "g.csv"), "--filter", "a=1", "--filter", "a=2", "--sandbox-db", db)
    assert twice.returncode == 2 and "given twice" in error_line(twice.stderr)


def test_a_dry_run_needs_no_token():
    result = run_cli("import", str(SAMPLES / "tasks.csv"), "--dry-run")  # no FRAGMENT_* variable at all
    assert result.returncode == 0 and "nothing was sent" in result.stdout, result.stderr



def test_a_dry_run_lists_the_rows_a_run_would_fail(tmp_path):
    (tmp_path / "rows.csv").write_text("title,n\nA,05\nA,5\n")
    planned = run_cli("import", str(tmp_path / "rows.csv"), "--type", "n=int", "--dry-run")
    assert planned.returncode == 1 and "1 to send" in planned.stdout, planned.stderr
    assert ("  row 3: same uid as row 2 (the same task once its cells are converted; use --key to tell them apart)"
            in planned.stderr.splitlines())


def test_merged_cells_are_one_warning_line_and_named_in_the_problem_of_an_emptied_key(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["title", "region"])
    for number in range(2, 7):
        book.active.append([f"t{number}", "EU" if number == 3 else None])
    book.save(tmp_path / "plain.xlsx")
    book.active.merge_cells("B3:B5")
    book.save(tmp_path / "merged.xlsx")
    plain = run_cli("import", str(tmp_path / "plain.xlsx"), "--dry-run")
    assert plain.returncode == 0 and "merged" not in plain.stderr, plain.stderr
    merged = run_cli("import", str(tmp_path / "merged.xlsx"), "--dry-run")
    assert merged.returncode == 0, merged.stderr
    warnings = [line for line in merged.stderr.splitlines() if "merged" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: merged.xlsx (sheet 'Sheet'): merged cells (B3:B5): only"
                                                         " the top-left cell of a merged range holds its value")
    assert merged.stdout == plain.stdout  # the same rows, read the same: a warning, not a change
    keyed = run_cli("import", str(tmp_path / "merged.xlsx"), "--dry-run", "--key", "region")
    assert keyed.returncode == 2
    assert ("  row 4, column 'region': the key column is empty, or holds an Excel error (the uid is made from it);"
            " the cell is in the merged range B3:B5, whose value only its top-left cell holds") in keyed.stderr.splitlines()
    assert "merged" not in run_cli("import", str(tmp_path / "merged.xlsx"), "--dry-run", "-q").stderr


def _sheet_of(path, rows: dict[int, list]) -> None:
    book = openpyxl.Workbook()
    for number, cells in rows.items():
        for column, value in enumerate(cells, 1):
            book.active.cell(number, column, value)
    if 1 in rows and len(rows[1]) == 1:
        book.active.merge_cells("A1:C1")  # a title, as Excel keeps it: its value in A1 alone
    book.save(path)


def test_a_title_above_a_sheets_table_is_skipped_with_one_note_or_named_by_header_row(tmp_path):
    table = [["title", "status", "n"], ["a", "TODO", 1], ["b", "DONE", 2]]
    _sheet_of(tmp_path / "plain.xlsx", dict(enumerate(table, 1)))
    _sheet_of(tmp_path / "banner.xlsx", {1: ["Q3 tickets \u2014 exported 2026-10-01"], **dict(enumerate(table, 3))})
    plain = run_cli("import", str(tmp_path / "plain.xlsx"), "--dry-run")
    assert plain.returncode == 0 and "note:" not in plain.stderr, plain.stderr
    banner = run_cli("import", str(tmp_path / "banner.xlsx"), "--dry-run")
    assert banner.returncode == 0, banner.stderr
    assert [line for line in banner.stderr.splitlines() if line.startswith("note:")] == [
        "note: banner.xlsx (sheet 'Sheet'): the table's header is row 3; rows 1-2 above it are skipped ('Q3 tickets"
        " \u2014 exported 2026-10-01'); give another header row with --header-row"]
    assert banner.stdout == plain.stdout  # the same rows, sent the same
    mapped = yaml.safe_load(run_cli("map", str(tmp_path / "banner.xlsx")).stdout)
    assert mapped["columns"] == {"title": "title", "status": "status", "n": "fields.n"}
    given = run_cli("import", str(tmp_path / "banner.xlsx"), "--dry-run", "--header-row", "3")
    assert given.returncode == 0 and "note:" not in given.stderr and given.stdout == plain.stdout, given.stderr
    first = run_cli("import", str(tmp_path / "banner.xlsx"), "--dry-run", "--header-row", "1",
                    "--map", "Q3 tickets \u2014 exported 2026-10-01=title")
    assert first.returncode == 2
    assert error_line(first.stderr) == ("error: banner.xlsx (sheet 'Sheet'): row 3 has a value ('status') in column 2,"
                                        " outside the header's columns 1 to 1 (row 1; is the header another row? give it"
                                        " with --header-row)")
    for row in ("0", "9"):
        refused = run_cli("import", str(tmp_path / "banner.xlsx"), "--dry-run", "--header-row", row)
        assert refused.returncode == 2 and ("must be 1 or more" if row == "0" else "past the end") in error_line(refused.stderr)


def test_header_row_and_excels_sep_line_in_a_csv_keep_the_files_row_numbers(tmp_path):
    source = tmp_path / "q3.csv"
    source.write_text("Q3 tickets, exported 2026-10-01\n\ntitle;n\na;1\n;2\n", encoding="utf-8")
    invalid = run_cli("import", str(source), "--dry-run", "--header-row", "3")
    assert invalid.returncode == 2 and "  row 5, column 'title': title is required" in invalid.stderr.splitlines()
    results = pd.read_csv(tmp_path / "q3.dry-run.fragment-results.csv", dtype=str, keep_default_na=False)
    assert list(results["_row"]) == ["4", "5"] and list(results.columns[-2:]) == ["title", "n"]
    excel = tmp_path / "excel.csv"
    excel.write_bytes(b"sep=;\r\ntitle;n\r\na;1,5\r\nb;2\r\n")
    sep = run_cli("import", str(excel), "--dry-run")
    assert sep.returncode == 0, sep.stderr
    assert "note: excel.csv: line 1 ('sep=;') names the delimiter for Excel and is skipped: the header is row 2" in sep.stderr
    assert "2 rows" in sep.stdout
    assert yaml.safe_load(run_cli("map", str(excel)).stdout)["columns"] == {"title": "title", "n": "fields.n"}


def test_plain_http_to_a_remote_host_is_refused():
    env = cli_env("http://example.com/api/v1")
    result = subprocess.run([sys.executable, "-m", "fragment_bulk", "whoami"], env=env, capture_output=True, text=True)
    assert result.returncode == 2 and "unencrypted" in error_line(result.stderr)


def test_the_sandbox_command_serves_the_api(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "fragment_bulk", "sandbox", "--port", "0", "--rate", "off", "--db", str(tmp_path / "db.sqlite")],
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = process.stdout.readline().rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v1")
        imported = run_cli("import", str(SAMPLES / "tasks.csv"), "--rate", "off", "--checkpoint", str(tmp_path / "ck"),
                           "--results", str(tmp_path / "r.csv"), server_url=url)
        assert imported.returncode == 0, imported.stderr
    finally:
        process.terminate()
        process.wait(10)
    with Sandbox(SandboxConfig(db_path=tmp_path / "db.sqlite")) as reopened:
        assert reopened.task_count() == 50  # the --db file survived the restart


def test_map_prints_an_editable_mapping(tmp_path):
    result = run_cli("map", str(SAMPLES / "tasks.csv"), "--map", "Subject=title", "--key", "Ticket ID")
    assert result.returncode == 0, result.stderr
    mapping = yaml.safe_load(result.stdout)
    assert mapping["key"] == ["Ticket ID"]
    assert mapping["columns"]["Subject"] in ("title", {"target": "title"})
    out = tmp_path / "m.yml"
    written = run_cli("map", str(SAMPLES / "tasks.csv"), "--map", "Subject=title", "-o", str(out))
    assert written.returncode == 0 and yaml.safe_load(out.read_text())["columns"]
    out.write_text("# edited by hand\n")
    again = run_cli("map", str(SAMPLES / "tasks.csv"), "-o", str(out))
    assert again.returncode == 2 and "exists" in again.stderr and "--force" in again.stderr
    assert out.read_text() == "# edited by hand\n"
    assert run_cli("map", str(SAMPLES / "tasks.csv"), "-o", str(out), "--force").returncode == 0
    assert yaml.safe_load(out.read_text())["columns"]
    source = tmp_path / "tasks.csv"
    source.write_bytes((SAMPLES / "tasks.csv").read_bytes())
    itself = run_cli("map", str(source), "-o", str(source), "--force")
    assert itself.returncode == 2 and "is the input itself" in itself.stderr
    assert source.read_bytes() == (SAMPLES / "tasks.csv").read_bytes()

    untitled = run_cli("map", str(SAMPLES / "tasks.csv"))  # the README tour's first step: no title yet
    assert untitled.returncode == 0 and "no column is mapped to title" in untitled.stderr
    assert f"note: import uses {SAMPLES / 'tasks.mapping.yml'}, found beside the input" in untitled.stderr
    assert "Subject: title" in untitled.stdout and yaml.safe_load(untitled.stdout)["columns"]


def test_failed_rows_mean_exit_1_and_json_summary(tmp_path):
    source = tmp_path / "rows.csv"
    source.write_text("title,status\nfine,TODO\nbroken,Pending\n", encoding="utf-8")
    result = run_cli("import", str(source), "--skip-invalid", "--json", "--sandbox-db", str(tmp_path / "sb.sqlite"),
                     "--rate", "off", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["counts"]["created"] == 1 and summary["counts"]["failed"] == 1 and summary["exit_code"] == 1
    assert "Traceback" not in result.stderr

    refused = run_cli("import", str(source), "--json", "--sandbox-db", str(tmp_path / "sb.sqlite"), "--restart", cwd=tmp_path)
    assert refused.returncode == 2 and json.loads(refused.stdout) == {"error": error_line(refused.stderr)[len("error: "):],
                                                                      "exit_code": 2}


def test_usage_errors_exit_2(tmp_path):
    result = run_cli("import", str(tmp_path / "missing.csv"))
    assert result.returncode == 2
    bad_rate = run_cli("import", str(SAMPLES / "tasks.csv"), "--rate", "fast", "--sandbox-db", str(tmp_path / "x"))
    assert bad_rate.returncode == 2 and "fast" in error_line(bad_rate.stderr)


@pytest.mark.parametrize("error, acknowledged, code", [
    ("unreadable", None, 2), ("unreadable", 0, 1), ("unreadable", 3, 1),  # sent, answered with a page not JSON
    ("refused", 0, 2), ("refused", 3, 1),  # a 403: the batch provably not written
    ("unreachable", 0, 2),  # never connected
])
def test_exit_2_means_nothing_was_sent_and_only_that(monkeypatch, capsys, error, acknowledged, code):
    from types import SimpleNamespace

    from fragment_bulk import api, cli
    from fragment_bulk.errors import AuthError, ConnectionFailed, ProtocolError

    def failing(*args, **kwargs):
        failure = {"unreadable": ProtocolError("PUT /tasks/batch answered 200 with a body that is not JSON"),
                   "refused": AuthError(status=403, method="PUT", path="/tasks/batch"),
                   "unreachable": ConnectionFailed("cannot connect")}[error]
        if acknowledged is not None:
            failure.report = SimpleNamespace(succeeded=acknowledged)  # what the engine attaches once it sends
        raise failure

    monkeypatch.setattr(api, "import_file", failing)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["import", str(SAMPLES / "tasks.csv"), "--sandbox"], standalone_mode=False)
    assert stopped.value.code == code and capsys.readouterr().err.startswith("error: ")


def test_ctrl_c_while_the_command_line_loads_is_one_line_and_exit_130(monkeypatch, capsys):
    from fragment_bulk.__main__ import main

    loading = builtins.__import__

    def interrupted(name, *args, **kwargs):  # a Ctrl-C while pandas loads, under fragment_bulk.cli
        if name == "fragment_bulk.cli":
            raise KeyboardInterrupt
        return loading(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "error: interrupted while starting; nothing was sent\n"


def test_importing_the_package_loads_nothing_heavy_yet_reaches_every_name_and_submodule():
    code = ("import sys, fragment_bulk; print(sorted(m for m in ('pandas', 'httpx', 'numpy') if m in sys.modules));"
            " print(fragment_bulk.readers.__name__, fragment_bulk.Mapping.__name__, 'import_file' in dir(fragment_bulk))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:2] == ["[]", "fragment_bulk.readers Mapping True"]
    with pytest.raises(AttributeError):
        fragment_bulk.no_such_thing  # noqa: B018


def test_the_cli_run_in_process_gives_the_host_its_sigterm_handler_back(tmp_path):
    import signal as signals

    from fragment_bulk import cli

    source = tmp_path / "t.csv"
    source.write_text("title\na\n")
    mine = lambda signum, frame: None  # noqa: E731
    previous = signals.signal(signals.SIGTERM, mine)
    try:
        cli.main(["map", str(source)], standalone_mode=False)
        assert signals.getsignal(signals.SIGTERM) is mine
    finally:
        signals.signal(signals.SIGTERM, previous)
