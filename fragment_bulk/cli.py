"""The ``fragment-bulk`` command line (click): thin wrappers over :mod:`fragment_bulk.api`.

Errors are one line on stderr and an exit code, never a traceback (``--debug`` shows it):

    0    every row succeeded
    1    some rows failed, or the run stopped after sending some rows
    2    nothing was sent: usage, configuration, input or validation error
    130  interrupted (Ctrl-C); run the same command again to resume

stdout carries the result (a summary line, or JSON with ``--json``); progress and log lines
go to stderr.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fragment_bulk import api
from fragment_bulk._version import __version__
from fragment_bulk.config import Settings, parse_rate
from fragment_bulk.connection import DEFAULT_SANDBOX_DB, connect
from fragment_bulk.errors import (
    ApiError,
    ConfigError,
    ConnectionFailed,
    FragmentBulkError,
    InterruptedImport,
    ValidationError,
)
from fragment_bulk.interrupts import EXIT_INTERRUPTED
from fragment_bulk.mapping import STATUSES, TYPES, Mapping, parse_assignment
from fragment_bulk.readers import open_table

EXIT_OK, EXIT_FAILED_ROWS, EXIT_NOTHING_SENT = 0, 1, 2


def _say(message: str) -> None:
    click.echo(message, err=True)


def _fail(message: str, code: int, *, as_json: bool = False, now: bool = False) -> None:
    if code == EXIT_INTERRUPTED and threading.current_thread() is threading.main_thread():
        # Everything is saved: a Ctrl-C pressed again as the process exits has nothing left to
        # stop, and Python, shutting down, would let it kill the process (no exit code 130).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _say(f"error: {message}")
    if as_json:  # a script reading stdout gets an answer whatever happened
        click.echo(json.dumps({"error": message, "exit_code": code}))
    if now:  # without waiting at exit for the threads still sending
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our exceptions into one line and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        fail = functools.partial(_fail, as_json=bool(kwargs.get("as_json")))
        try:
            return command(*args, **kwargs)
        except InterruptedImport as exc:
            fail(str(exc), EXIT_INTERRUPTED)
        except KeyboardInterrupt:
            # Ctrl-C pressed again while stopping: this process is ours, so quit now rather than
            # wait at exit for the requests in flight (the checkpoint holds every acknowledged row).
            if click.get_current_context().command.name == "export":  # it writes through a .partial file
                fail("interrupted; nothing was written (run the export again)", EXIT_INTERRUPTED, now=True)
            fail("interrupted; run the same command again to resume from the checkpoint", EXIT_INTERRUPTED, now=True)
        except ValidationError as exc:
            for problem in exc.problems:
                _say(f"  {problem}")
            where = getattr(exc, "results_path", None)
            more = f"; every row's status is in {where}" if where else ""
            fail(f"{exc.invalid_rows:,} invalid row(s), nothing was sent (fix them, or use --skip-invalid){more}", EXIT_NOTHING_SENT)
        except FragmentBulkError as exc:
            if debug:
                raise
            fail(str(exc), EXIT_FAILED_ROWS if _may_have_sent(exc) else EXIT_NOTHING_SENT)
        except (ValueError, OSError) as exc:
            if debug:
                raise
            fail(str(exc), EXIT_NOTHING_SENT)

    return wrapper


# -- shared options ---------------------------------------------------------------------------


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--sandbox", "sandbox", is_flag=True, help=f"Run against an embedded sandbox (data kept in {DEFAULT_SANDBOX_DB})."),
        click.option("--sandbox-db", type=click.Path(dir_okay=False, path_type=Path), help="The embedded sandbox's database file (implies --sandbox)."),
        click.option("--base-url", help="API base URL (default: $FRAGMENT_BASE_URL, else the real Fragment API)."),
        click.option("--token-env", default="FRAGMENT_TOKEN", show_default=True, help="Environment variable holding the API token."),
        click.option("--insecure-http", is_flag=True, help="Allow plain http to a non-loopback host (the token travels unencrypted)."),
        click.option("--rate", help="Requests per minute for the whole run: 60/min (default), 2/s, or off."),
        click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds one request may take, from sending to the last byte of its answer (default 60)."),
    ]):
        command = option(command)
    return command


def _connection(params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`connect` from the connection options."""
    sandbox_db, sandbox_flag = params.pop("sandbox_db"), params.pop("sandbox")
    sandbox = sandbox_db or sandbox_flag  # a database file implies --sandbox
    token_env = params.pop("token_env")
    base_url = params.pop("base_url")
    insecure = params.pop("insecure_http")
    rate = params.pop("rate")
    timeout = params.pop("timeout")
    if rate is not None:
        parse_rate(rate)  # fail on a malformed rate before reading any input
    settings = Settings(timeout=timeout) if timeout else None  # the embedded sandbox's address is filled in
    if not sandbox:
        token = os.environ.get(token_env) or None
        if token is None and token_env != "FRAGMENT_TOKEN":
            # Never fall back to $FRAGMENT_TOKEN when another variable was named: a typo in its
            # name must not write with another account's token. (No token at all is refused
            # when a request is made: a dry run needs none.)
            raise ConfigError(f"no API token: {_variable_named(token_env)} is not set")
        settings = Settings.from_env(token=token, base_url=base_url, allow_insecure_http=insecure or None, timeout=timeout)
    return {"sandbox": sandbox or None, "settings": settings, "rate": rate}


def _may_have_sent(error: FragmentBulkError) -> bool:
    """Whether a run that stopped on ``error`` may have written something: rows acknowledged, or
    a request whose answer was lost or unreadable (none acknowledged, yet it may have been
    applied). A refusal (4xx), or no connection at all, proves nothing was: "nothing was sent"."""
    report = getattr(error, "report", None)
    if report is None:
        return False  # it stopped before sending
    if report.succeeded > 0:
        return True
    if isinstance(error, ConnectionFailed):
        return False
    if isinstance(error, ApiError):
        return bool(getattr(error, "may_have_committed", False))
    return True  # a lost, timed-out or unreadable answer


def _variable_named(name: str) -> str:
    """How an error names the variable --token-env gave: ``$FRAGMENT_TOKEN``; but not a name that
    does not look like one, which may be the token itself, given by mistake. A name is upper case
    words joined by ``_``; an upper-case token (hex, base32) is one long run, or full of digits."""
    words = name.split("_")
    if (re.fullmatch(r"[A-Z_][A-Z0-9_]{0,63}", name) and all(len(word) <= 16 for word in words)
            and sum(character.isdigit() for character in name) <= 4):
        return f"${name}"
    return "the variable --token-env names (not shown: it looks more like a token than a variable's name)"


def mapping_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Mapping file (YAML); see `fragment-bulk map`."),
        click.option("--map", "maps", multiple=True, metavar="COL=TARGET", help='Map a column: "Ticket Title=title", "Pays=fields.country".'),
        click.option("--ignore", multiple=True, metavar="COL", help="Leave a column out."),
        click.option("--type", "types", multiple=True, metavar="COL=TYPE", help=f"Declare a type: {', '.join(TYPES)}."),
        click.option("--key", "keys", multiple=True, metavar="COL", help="Key column(s) the uid is derived from (repeatable)."),
        click.option("--empty", type=click.Choice(["omit", "null"]), help="Empty cells: leave the field out (omit, default) or send null."),
    ]):
        command = option(command)
    return command


def _mapping_args(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "mapping": params.pop("mapping"),
        "maps": dict(parse_assignment(text, "--map") for text in params.pop("maps")),
        "ignore": list(params.pop("ignore")),
        "types": dict(parse_assignment(text, "--type") for text in params.pop("types")),
        "keys": list(params.pop("keys")),
        "empty": params.pop("empty"),
    }


def reader_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--encoding", help="Input encoding (default: detected)."),
        click.option("--delimiter", help="CSV delimiter (default: tab for .tsv, else sniffed among , ; tab |)."),
        click.option("--sheet", help="Excel sheet, by name or 0-based index in the workbook's order, hidden sheets counted (default: the first visible one)."),
        # An int, not IntRange: the reader refuses 0 in one line, as it refuses a row past the end.
        click.option("--header-row", type=int, metavar="N", help="The header's row (from 1, as the sheet or the CSV's lines number it); the rows above are skipped. Default: the first row, but for a title or notes above a wider table in a sheet, and Excel's sep= line in a CSV (skipped with a note)."),
    ]):
        command = option(command)
    return command


def _reader_args(params: dict[str, Any]) -> dict[str, Any]:
    sheet = params.pop("sheet")
    return {
        "encoding": params.pop("encoding"),
        "delimiter": params.pop("delimiter"),
        "sheet": int(sheet) if sheet is not None and sheet.isdigit() else sheet,
        "header_row": params.pop("header_row"),
    }


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--skip-invalid", is_flag=True, help="Send the valid rows; report the invalid ones as failed."),
        click.option("--dry-run", is_flag=True, help="Validate and print the plan; send nothing."),
        click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), help="Checkpoint file (default: beside the input)."),
        click.option("--restart", is_flag=True, help="Ignore an existing checkpoint and start over."),
        click.option("--results", type=click.Path(dir_okay=False, path_type=Path), help="Results file (default: beside the input, <stem>.fragment-results.csv, or <stem>.update. / .comment. / .dry-run.fragment-results.csv; the stem of a file that is not a CSV is its whole name)."),
        click.option("--batch-size", type=click.IntRange(1, api.MAX_BATCH_SIZE), help="Rows per request (default 100; shrunk if the server says too large)."),
        click.option("--concurrency", type=click.IntRange(1, api.MAX_CONCURRENCY), help="Requests in flight (default 4)."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar and no log lines."),
        click.option("--progress/--no-progress", default=None, help="Force the progress bar on or off (default: on a terminal)."),
        click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout."),
    ]):
        command = option(command)
    return command


def _run_args(params: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    quiet = params.pop("quiet")
    as_json = params.pop("as_json")
    progress = params.pop("progress")
    args = {
        key: params.pop(key)
        for key in ("skip_invalid", "dry_run", "restart", "batch_size", "concurrency")
    }
    for key in ("checkpoint", "results"):
        value = params.pop(key)
        if value is not None:
            args[key] = value
    args["progress"] = False if quiet else progress
    args["log"] = (lambda message: None) if quiet else _say
    return args, as_json


def _job_args(params: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Every option of a bulk command as keyword arguments of its :mod:`api` function."""
    args, as_json = _run_args(params)
    args.update(_mapping_args(params))
    args.update(_reader_args(params))
    args.update(_connection(params))
    return args, as_json


def _report(report: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(report.summary_line())
        for line in _failed_lines(report):
            _say(line)
    sys.exit(report.exit_code)


def _failed_lines(report: Any, shown: int = 5) -> list[str]:
    failed = report.counts.get("failed", 0)  # (in a dry run, the rows a run would fail)
    if not failed or report.results_path is None:
        return []
    rows = report.failed.head(shown)
    # A row found invalid here has an error that names its row already; the server's do not.
    lines = [f"  {row['_error']}" if row["_error"].startswith(f"row {row['_row']}") else f"  row {row['_row']}: {row['_error']}"
             for _, row in rows.iterrows()]
    if failed > shown:
        lines.append(f"  ... and {failed - shown:,} more failed row(s) in {report.results_path}")
    return lines


# -- commands ---------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="fragment-bulk")
@click.option("--debug", is_flag=True, help="Show tracebacks (for bug reports).")
def main(debug: bool) -> None:
    """Move thousands of rows between spreadsheets and Fragment: import, export, update, comment.

    The API token is read from $FRAGMENT_TOKEN (never from the command line); --sandbox runs
    any command against a local sandbox instead.
    """
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _stop_as_ctrl_c)
        # Run in-process (main([...], standalone_mode=False)), the host gets its own handler back.
        click.get_current_context().call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


def _stop_as_ctrl_c(signum: int, frame: Any) -> None:
    """SIGTERM (``kill``, a service manager, a CI timeout) stops a run as Ctrl-C does: what the
    server acknowledged is saved, the results file written, the exit code 130; an export leaves
    no temporary file behind."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):  # Python's, or the one a run installs while it winds down
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored (nohup): SIGTERM still stops
        raise KeyboardInterrupt


@main.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@mapping_options
@click.option("--mode", type=click.Choice(api.IMPORT_MODES), default="upsert", show_default=True,
              help="upsert: PUT with deterministic uids (re-runs create nothing). create: POST, server-made uids (a batch that may have been applied is looked up before it is sent again; see the README).")
@reader_options
@run_options
@connection_options
@handle_errors
def import_command(source: Path, **params: Any) -> None:
    """Import a CSV, Excel (.xlsx) or JSON Lines file as tasks.

    Every row gets a deterministic uid (from a uid column, the --key columns, or the row
    itself), so running the same command again creates nothing new and an interrupted run
    resumes from its checkpoint.
    """
    mode = params.pop("mode")
    args, as_json = _job_args(params)
    _report(api.import_file(source, mode=mode, **args), as_json)


@main.command("update")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@mapping_options
@reader_options
@run_options
@connection_options
@handle_errors
def update_command(source: Path, **params: Any) -> None:
    """Change existing tasks: status, due date, assignee, custom fields (PATCH /tasks/batch).

    Each row names its task by a uid column or by the --key columns the import used; only the
    columns present and non-empty change (with --empty null, an empty cell clears its field). A row
    whose task does not exist fails alone.
    """
    args, as_json = _job_args(params)
    _report(api.update_file(source, **args), as_json)


@main.command("comment")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--text-column", default="text", show_default=True, help="The column holding each comment's text.")
@mapping_options
@reader_options
@run_options
@connection_options
@handle_errors
def comment_command(source: Path, text_column: str, **params: Any) -> None:
    """Add one comment per row to the task it names (uid column or --key columns).

    Comments are posted concurrently under the shared throttle. A POST is not idempotent, so a
    comment whose answer was lost is looked up on the task before being sent again: resuming
    after a crash never posts a comment twice.
    """
    args, as_json = _job_args(params)
    if args["batch_size"] is None:
        del args["batch_size"]  # comments default to one per request
    _report(api.comment_file(source, text_column=text_column, **args), as_json)


@main.command("export")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="Custom-field filter, as the API's ?country=FR (repeatable).")
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False), help="Only tasks in this status.")
@click.option("--updated-after", metavar="ISO-DATE", help="Only tasks updated after this moment.")
@click.option("--created-after", metavar="ISO-DATE", help="Only tasks created after this moment.")
@click.option("--order-by", type=click.Choice(["created_at", "-created_at", "updated_at", "-updated_at"]), help="Order of the rows.")
@click.option("--limit", type=click.IntRange(1), help="Stop after this many tasks.")
@click.option("--columns", metavar="A,B,C", help="Choose and order the columns.")
@click.option("--format", "file_format", type=click.Choice(["csv", "xlsx", "jsonl", "parquet"]), help="Output format (default: from the extension).")
@click.option("--excel-csv", is_flag=True, help="Add a BOM so that Excel opens the CSV as UTF-8.")
@click.option("--no-escape-formulas", is_flag=True, help="Write text starting with = + - @ as it is, without the guard's apostrophe (a spreadsheet opening the CSV may run it; in .xlsx it is a text cell).")
@click.option("--comments", is_flag=True, help="Export the comments of the matching tasks instead (task_uid, comment_uid, text, created_at): one request per task, so filter the tasks first.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no log lines.")
@click.option("--progress/--no-progress", default=None, help="Force the progress bar on or off (default: on a terminal).")
@connection_options
@handle_errors
def export_command(output: Path, filters: tuple[str, ...], columns: str | None, file_format: str | None,
                   no_escape_formulas: bool, quiet: bool, progress: bool | None, **params: Any) -> None:
    """Export the tasks matching the filters to OUTPUT (.csv, .xlsx, .jsonl or .parquet).

    Beside a task export, OUTPUT + .mapping.yml (out.csv.mapping.yml) records the columns' types,
    so that the file imports back (edited or not) as updates keyed by uid.
    """
    connection = _connection(params)
    status = params.pop("status")
    report = api.export_file(
        output, filters=list(filters),  # KEY=VALUE texts, and A,B,C: the API reads both as given here
        status=status.upper() if status else None,
        columns=columns or None,
        format=file_format, escape_formulas=not no_escape_formulas, progress=False if quiet else progress,
        log=(lambda message: None) if quiet else _say, **params, **connection,
    )
    click.echo(report.summary_line())


@main.command("map")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@mapping_options
@reader_options
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the mapping here instead of stdout.")
@click.option("--force", is_flag=True, help="Let --output replace a file that exists (a mapping edited by hand, say).")
@handle_errors
def map_command(source: Path, output: Path | None, force: bool, **params: Any) -> None:
    """Print the mapping inferred for a file (edit it, then pass it with --mapping)."""
    if output is not None and output.exists():
        if output.resolve() == source.resolve():
            raise ConfigError(f"--output {output} is the input itself; choose another file")
        if not force:
            raise ConfigError(f"{output} exists: choose another --output, or add --force to replace it")
    table = open_table(source, **_reader_args(params))
    for note in table.notes:
        _say(note)
    args = _mapping_args(params)
    given = args.pop("mapping")
    beside = None if given else api.mapping_beside(source)
    if beside is not None:
        _say(f"note: import uses {beside}, found beside the input; this is the mapping inferred without it"
             f" (fragment-bulk map {source} --mapping {beside} shows that one)")
    base = Mapping.load(given) if given else Mapping.infer(table.columns)
    mapping = base.with_overrides(**args, input_columns=table.columns)
    mapping.check_columns(table.columns, require_title=False)  # the mapping printed says what is missing
    if not any(column.target == "title" for column in mapping.resolve(table.columns)):
        _say('note: no column is mapped to title yet: edit the mapping, or add --map "COLUMN=title"')
    if output is None:
        click.echo(mapping.to_yaml(), nl=False)
    else:
        mapping.dump(output)
        _say(f"wrote {output}; edit it, then: fragment-bulk import {source} --mapping {output}")


@main.command()
@connection_options
@handle_errors
def whoami(**params: Any) -> None:
    """Show the account the token belongs to."""
    with connect(**_connection(params)) as client:
        account = client.whoami()
    for key, value in account.items():
        click.echo(f"{key}: {value}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (keep it on loopback).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port).")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="SQLite file to keep the data in (default: in memory).")
@click.option("--token", default="sandbox-token", show_default=True, help="The Bearer token the sandbox accepts (not a secret).")
@click.option("--rate", default="60/min", show_default=True, help="Rate limit per token: 60/min, 2/s, or off.")
@click.option("--burst", default=10, show_default=True, type=click.IntRange(1), help="Token bucket size.")
@click.option("--retry-after", type=click.Choice(["header", "none", "zero"]), default="header", show_default=True, help="How 429s say when to retry.")
@click.option("--max-batch", default=100, show_default=True, type=click.IntRange(1), help="Largest batch accepted.")
@click.option("--oversize-status", type=click.Choice(["422", "413"]), default="422", show_default=True, help="Status for a batch above --max-batch.")
@click.option("--page-max", default=100, show_default=True, type=click.IntRange(1), help="Largest page size.")
@click.option("--fault-5xx", default=0.0, show_default=True, type=click.FloatRange(0, 1), help="Fraction of requests answered 500/503 before any write.")
@click.option("--fault-lost", default=0.0, show_default=True, type=click.FloatRange(0, 1), help="Fraction of writes committed, then answered with nothing.")
@click.option("--latency", default="0,0", show_default=True, metavar="MIN,MAX", help="Added latency per request, in ms.")
@click.option("--seed", default=0, show_default=True, help="Seed of the fault and latency draws.")
# The contract's assumed behaviours, each switchable so a client can be rehearsed against every variant.
@click.option("--batch-order", type=click.Choice(["request", "reversed"]), default="request", show_default=True,
              help="Order of the tasks in the answers of POST and PUT /tasks/batch.")
@click.option("--page-envelope", type=click.Choice(["meta", "flat", "no_total"]), default="meta", show_default=True,
              help="Pages: cursors and total_count under meta, beside items (flat), or meta without total_count.")
@click.option("--error-body", type=click.Choice(["fastapi", "message", "text"]), default="fastapi", show_default=True,
              help='Error bodies: {"detail": ...} (a 422 locates each problem), {"message": "..."}, or plain text.')
@click.option("--patch-fields", type=click.Choice(["merge", "replace"]), default="merge", show_default=True,
              help="A PATCH's fields merge key by key, or replace the task's fields.")
@click.option("--unknown-keys", type=click.Choice(["ignore", "reject"]), default="ignore", show_default=True,
              help="Unknown top-level keys of a task: ignored, or refused with a 422.")
@click.option("--batch-failure", type=click.Choice(["all_or_nothing", "write_valid"]), default="all_or_nothing",
              show_default=True, help="A batch with bad items: nothing written, or the valid items written (a 422 either way).")
@click.option("--stamp-started/--no-stamp-started", default=True, show_default=True,
              help="Set started_at when a task's status becomes STARTED.")
@click.option("--second-delete", type=click.Choice(["404", "200"]), default="404", show_default=True,
              help="Status of a DELETE of a task that does not exist (200 answers {}).")
@click.option("--time-filters", type=click.Choice(["known", "as_fields", "ignored"]), default="known", show_default=True,
              help="created_at_after, updated_at_after and order_by: known, taken for custom fields (finding nothing), or ignored.")
@click.option("--rate-cost", type=click.Choice(["request", "item"]), default="request", show_default=True,
              help="What counts against the rate limit: a request, or each item of a batch.")
@click.option("--comment-listing", type=click.Choice(["paged", "missing", "not_found"]), default="paged", show_default=True,
              help="GET /tasks/{uid}/comments: paginated like GET /tasks, or missing (a 405, or a 404).")
@click.option("--headers", type=click.Choice(["lax", "strict"]), default="lax", show_default=True,
              help="strict: a 403 without a real User-Agent (none, or a library's default), a 415 for a body not sent as application/json.")
@handle_errors
def sandbox(host: str, port: int, db: Path | None, rate: str, oversize_status: str, page_max: int, latency: str,
            second_delete: str, **switches: Any) -> None:
    """Run a local Fragment API server to rehearse against (Ctrl-C stops it).

    The options from --batch-order on switch the behaviours the API does not document, one
    variant at a time: a client that works against each of them does not depend on a guess.
    """
    from fragment_bulk.sandbox import SandboxConfig, run_server

    try:
        low, high = (float(part) for part in latency.split(","))
    except ValueError:
        raise click.BadParameter("expected MIN,MAX in milliseconds, like 5,20", param_hint="--latency") from None
    # The other options are named as SandboxConfig's fields, and pass through as they are.
    config = SandboxConfig(
        db_path=db, rate_per_min=parse_rate(rate), oversize_status=int(oversize_status), page_max=page_max,
        page_default=min(50, page_max), latency_ms=(low, high), second_delete=int(second_delete), **switches,
    )
    run_server(config, host, port, announce=lambda line: click.echo(line))


if __name__ == "__main__":
    main()
