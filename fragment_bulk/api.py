"""The Python API: what ``fragment_bulk.import_dataframe(df)`` and friends do.

Each function reads its input, builds the mapping, opens a client (or an embedded sandbox) and
runs the bulk engine with one of the writers. The CLI calls these same functions, so the shell
and a notebook behave alike.

Nothing here uses asyncio: the engine runs on threads, so these functions work unchanged inside
Jupyter's running event loop.

Defaults for a file input ``tasks.csv``: the checkpoint is ``tasks.csv.fragment-checkpoint``
and the results ``tasks.fragment-results.csv``, both beside the input. For a DataFrame the
checkpoint lives in memory (pass ``checkpoint=`` to make it resumable) and the results stay in
the report (``report.results``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping as MappingType
from pathlib import Path
from typing import Any

import pandas as pd

from fragment_bulk.client import FragmentClient
from fragment_bulk.config import Settings, parse_rate
from fragment_bulk.connection import SandboxChoice, connect
from fragment_bulk.engine import RunOptions, RunReport, run_bulk
from fragment_bulk.errors import ConfigError
from fragment_bulk.importer import CreateWriter, UpsertWriter
from fragment_bulk.mapping import Mapping
from fragment_bulk.readers import open_table

CHECKPOINT_SUFFIX = ".fragment-checkpoint"
RESULTS_SUFFIX = ".fragment-results.csv"
SIDECAR_SUFFIX = ".mapping.yml"
IMPORT_MODES = ("upsert", "create")

_DEFAULT = "default"  # "put the file in its usual place"; None means "no file"


def import_file(
    path: str | Path,
    *,
    mapping: str | Path | Mapping | None = None,
    maps: MappingType[str, str] | None = None,
    ignore: Iterable[str] = (),
    types: MappingType[str, str] | None = None,
    keys: Iterable[str] = (),
    empty: str | None = None,
    mode: str = "upsert",
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | int | None = None,
    skip_invalid: bool = False,
    dry_run: bool = False,
    checkpoint: str | Path | None = _DEFAULT,
    restart: bool = False,
    results: str | Path | None = _DEFAULT,
    batch_size: int | None = None,
    concurrency: int | None = None,
    rate: str | float | None = None,
    progress: bool | None = None,
    client: FragmentClient | None = None,
    settings: Settings | None = None,
    sandbox: SandboxChoice = None,
    log: Callable[[str], None] = lambda message: None,
) -> RunReport:
    """Import a CSV, Excel or JSON Lines file into Fragment; see the README for every option.

    Rows are upserted with deterministic uids (``PUT /tasks/batch``), so running the same file
    again creates nothing new. Raises :class:`~fragment_bulk.errors.ValidationError` when rows
    are invalid (and nothing was sent), unless ``skip_invalid``.
    """
    path = Path(path)
    table = open_table(path, encoding=encoding, delimiter=delimiter, sheet=sheet)
    chosen = _mapping(table.columns, mapping, maps, ignore, types, keys, empty, sidecar=_sidecar(path, mapping, log))
    options = _options(
        batch_size=batch_size, concurrency=concurrency, skip_invalid=skip_invalid, dry_run=dry_run,
        checkpoint=path.with_name(path.name + CHECKPOINT_SUFFIX) if checkpoint == _DEFAULT else checkpoint,
        restart=restart,
        results=path.with_name(path.stem + RESULTS_SUFFIX) if results == _DEFAULT else results,
        keep_results_in_memory=False, progress=progress, log=log,
    )
    return _run("import", table, chosen, _import_writer(mode), options, client, settings, sandbox, rate, log)


def import_dataframe(
    frame: pd.DataFrame,
    *,
    mapping: str | Path | Mapping | None = None,
    maps: MappingType[str, str] | None = None,
    ignore: Iterable[str] = (),
    types: MappingType[str, str] | None = None,
    keys: Iterable[str] = (),
    empty: str | None = None,
    mode: str = "upsert",
    skip_invalid: bool = False,
    dry_run: bool = False,
    checkpoint: str | Path | None = None,
    restart: bool = False,
    results: str | Path | None = None,
    batch_size: int | None = None,
    concurrency: int | None = None,
    rate: str | float | None = None,
    progress: bool | None = None,
    client: FragmentClient | None = None,
    settings: Settings | None = None,
    sandbox: SandboxChoice = None,
    log: Callable[[str], None] = lambda message: None,
) -> RunReport:
    """Import a pandas DataFrame; rows are named by the frame's index in errors and results.

    >>> report = import_dataframe(df, sandbox=True)    # doctest: +SKIP
    >>> report.summary, report.failed                  # doctest: +SKIP
    """
    table = open_table(frame)
    chosen = _mapping(table.columns, mapping, maps, ignore, types, keys, empty)
    options = _options(
        batch_size=batch_size, concurrency=concurrency, skip_invalid=skip_invalid, dry_run=dry_run,
        checkpoint=checkpoint, restart=restart, results=results, keep_results_in_memory=True,
        progress=progress, log=log,
    )
    return _run("import", table, chosen, _import_writer(mode), options, client, settings, sandbox, rate, log)


def _import_writer(mode: str) -> Any:
    if mode not in IMPORT_MODES:
        raise ConfigError(f"mode {mode!r} is not one of {', '.join(IMPORT_MODES)}")
    return UpsertWriter() if mode == "upsert" else CreateWriter()


def _mapping(
    columns: list[str],
    given: str | Path | Mapping | None,
    maps: MappingType[str, str] | None,
    ignore: Iterable[str],
    types: MappingType[str, str] | None,
    keys: Iterable[str],
    empty: str | None,
    *,
    sidecar: Path | None = None,
) -> Mapping:
    """The mapping file (or the sidecar an export wrote), else inferred; then the overrides."""
    if isinstance(given, Mapping):
        base = given
    elif given is not None:
        base = Mapping.load(given)
    elif sidecar is not None:
        base = Mapping.load(sidecar)
    else:
        base = Mapping.infer(columns)
    return base.with_overrides(maps=dict(maps or {}), ignore=list(ignore), types=dict(types or {}),
                               keys=list(keys), empty=empty)


def _sidecar(path: Path, mapping: Any, log: Callable[[str], None]) -> Path | None:
    """``tasks.mapping.yml`` beside ``tasks.csv`` (what ``export`` writes), when no mapping is given."""
    candidate = path.with_name(path.stem + SIDECAR_SUFFIX)
    if mapping is not None or not candidate.exists():
        return None
    log(f"using the mapping {candidate} found beside the input")
    return candidate


def _options(*, batch_size: int | None, concurrency: int | None, checkpoint: Any, results: Any, **rest: Any) -> RunOptions:
    defaults = RunOptions()
    return RunOptions(
        batch_size=batch_size or defaults.batch_size,
        concurrency=concurrency or defaults.concurrency,
        checkpoint=Path(checkpoint) if checkpoint is not None else None,
        results=Path(results) if results is not None else None,
        **rest,
    )


def _run(
    command: str,
    table: Any,
    mapping: Mapping,
    writer: Any,
    options: RunOptions,
    client: FragmentClient | None,
    settings: Settings | None,
    sandbox: SandboxChoice,
    rate: str | float | None,
    log: Callable[[str], None],
) -> RunReport:
    if options.dry_run:
        options.planned_rate = parse_rate(rate) if rate is not None else (settings or Settings()).rate_per_min
        return run_bulk(command, table, mapping, None, writer, options)
    with connect(client=client, settings=settings, sandbox=sandbox, rate=rate, log=log,
                 concurrency=options.concurrency, batch_size=options.batch_size) as connected:
        return run_bulk(command, table, mapping, connected, writer, options)
