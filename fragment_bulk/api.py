"""The Python API: what ``fragment_bulk.import_dataframe(df)`` and friends do.

Each function reads its input, builds the mapping, opens a client (or an embedded sandbox) and
runs the bulk engine with one of the writers. The CLI calls these same functions, so the shell
and a notebook behave alike.

Nothing here uses asyncio: the engine runs on threads, so these functions work unchanged inside
Jupyter's running event loop.

Defaults for a file input ``tasks.csv``: the checkpoint is ``tasks.csv.fragment-checkpoint``
and the results ``tasks.fragment-results.csv`` (for ``tasks.xlsx``, ``tasks.xlsx.fragment-results.csv``),
both beside the input. For a DataFrame the
checkpoint lives in memory (pass ``checkpoint=`` to make it resumable) and the results stay in
the report (``report.results``).
"""

from __future__ import annotations

import difflib
import inspect
import numbers
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping as MappingType
from pathlib import Path
from typing import Any

import pandas as pd

from fragment_bulk import exporter
from fragment_bulk.client import FragmentClient
from fragment_bulk.commenter import CommentWriter
from fragment_bulk.config import Settings, parse_rate
from fragment_bulk.connection import SandboxChoice, connect
from fragment_bulk.engine import RunOptions, RunReport, run_bulk
from fragment_bulk.errors import ConfigError, InputError
from fragment_bulk.exporter import ExportReport, Search
from fragment_bulk.creator import CreateWriter
from fragment_bulk.importer import UpsertWriter
from fragment_bulk.mapping import DEFAULT_NAMESPACE, IGNORE, Mapping
from fragment_bulk.readers import open_table
from fragment_bulk.updater import UpdateWriter

CHECKPOINT_SUFFIX = ".fragment-checkpoint"
RESULTS_SUFFIX = ".fragment-results.csv"
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
    header_row: int | None = None,
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
    return _run_file("import", path, _import_writer(mode), **_arguments(locals(), "path", "mode"))


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
    return _run_frame("import", frame, _import_writer(mode), **_arguments(locals(), "frame", "mode"))


def update_file(path: str | Path, **options: Any) -> RunReport:
    """Change existing tasks: each row names a task (``uid`` column or ``keys``) and the values
    to change (``PATCH /tasks/batch``). Takes the options of :func:`import_file` but ``mode``."""
    _check_options("update_file", options, import_file)
    return _run_file("update", path, UpdateWriter(), purpose="update", **options)


def update_dataframe(frame: pd.DataFrame, **options: Any) -> RunReport:
    """:func:`update_file` for a DataFrame (options of :func:`import_dataframe`)."""
    _check_options("update_dataframe", options, import_dataframe)
    return _run_frame("update", frame, UpdateWriter(), purpose="update", **options)


def comment_file(path: str | Path, *, text_column: str = "text", **options: Any) -> RunReport:
    """Add one comment per row: the task by ``uid`` column or ``keys``, the text from
    ``text_column``. Exactly once, even when resumed after a crash (see ``commenter``)."""
    _check_options("comment_file", options, import_file, "text_column")
    options.setdefault("batch_size", 1)
    return _run_file("comment", path, CommentWriter(), purpose="comment", text_column=text_column, **options)


def comment_dataframe(frame: pd.DataFrame, *, text_column: str = "text", **options: Any) -> RunReport:
    """:func:`comment_file` for a DataFrame. A comment is not idempotent: only a ``checkpoint=``
    file lets the same call, run again, post just the comments still missing."""
    _check_options("comment_dataframe", options, import_dataframe, "text_column")
    if options.get("checkpoint") is None and not options.get("dry_run"):
        warnings.warn("comment_dataframe without checkpoint= posts every comment again if it is run again;"
                      " pass checkpoint='comments.checkpoint' to post only what is missing", UserWarning, stacklevel=2)
    options.setdefault("batch_size", 1)
    return _run_frame("comment", frame, CommentWriter(), purpose="comment", text_column=text_column, **options)


def _check_options(function: str, options: dict[str, Any], like: Callable[..., Any], *also: str) -> None:
    """TypeError naming ``function`` for an option ``like`` does not take (not a dataclass's
    complaint from deep inside), with the closest one it (or ``also``) does."""
    known = set(inspect.signature(like).parameters) - {"path", "frame", "mode"} | set(also)
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}{hint}")


def _arguments(values: dict[str, Any], *consumed: str) -> dict[str, Any]:
    return {name: value for name, value in values.items() if name not in consumed}


def _run_file(
    command: str, path: str | Path, writer: Any, *, encoding: str | None = None, delimiter: str | None = None,
    sheet: str | int | None = None, header_row: int | None = None, checkpoint: Any = _DEFAULT, results: Any = _DEFAULT,
    **options: Any,
) -> RunReport:
    if isinstance(path, pd.DataFrame):
        raise ConfigError(f"{command}_file takes a file path: for a DataFrame, {command}_dataframe")
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"{command}_file takes a file path, not {type(path).__name__}")
    path = Path(path)
    log = options.get("log") or (lambda message: None)
    # An update of an exported file reads it with the types its export recorded; a hand-written
    # <stem>.mapping.yml beside it was written for the import, and its key is not the update's.
    sidecar = _sidecar(path, options.get("mapping"), log, exported_only=command != "import")
    # An export without the formula guard wrote a field of white space only as it is: its value.
    unguarded = sidecar is not None and _is_exports(sidecar) and not Mapping.load(sidecar).formula_escape
    table = open_table(path, encoding=encoding, delimiter=delimiter, sheet=sheet, header_row=header_row,
                       blank_text_is_empty=not unguarded)
    suffix = "" if command == "import" else f".{command}"
    if checkpoint == _DEFAULT:
        checkpoint = path.with_name(f"{path.name}{suffix}{CHECKPOINT_SUFFIX}")
    if results == _DEFAULT:  # a dry run's own, so that it never overwrites the last real run's
        results = path.with_name(f"{results_base(path)}{suffix}{'.dry-run' if options.get('dry_run') else ''}{RESULTS_SUFFIX}")
    _check_outputs(checkpoint, results, inputs=[path, _mapping_file(options.get("mapping")) or sidecar])
    if sidecar is None and options.get("mapping") is None and path.suffix.lower() == ".csv" and _looks_exported(table.columns):
        log(f"note: {path.name} looks like an export, but no {exporter.sidecar_of(path).name} is beside it:"
            " its numbers and other typed fields are read as text (give the export's mapping with --mapping)")
    return _run(command, table, writer, checkpoint=checkpoint, results=results, keep_results_in_memory=False,
                sidecar=sidecar, **options)


def _attached_mapping(frame: pd.DataFrame, command: str, log: Callable[[str], None]) -> Mapping | None:
    """The mapping ``export_dataframe`` attached to ``frame`` (what a sidecar is to a file), for the
    columns the frame still has; columns added since are inferred. A field column taken out in
    pandas cuts the frame as ``--columns`` cuts an export: then it may only update."""
    attached = frame.attrs.get(exporter.FRAME_MAPPING)
    if not (isinstance(attached, dict) and isinstance(attached.get("columns"), dict)):
        if _looks_exported(frame.columns):
            warnings.warn(f"{command}_dataframe: the frame looks like an export but carries no mapping (pd.concat and"
                          " merge drop frame.attrs): its field names are inferred again (ticketId becomes ticketid, Status"
                          " the native status). Pass mapping=exported.attrs['fragment_bulk.mapping'] to keep them",
                          UserWarning, stacklevel=4)
        return None
    present = set(map(str, frame.columns))
    kept = {name: spec for name, spec in attached["columns"].items() if name in present}
    cut = any(name not in present and exporter.is_field_spec(spec) for name, spec in attached["columns"].items())
    mapping = Mapping.from_dict({**attached, "columns": kept, "partial": attached.get("partial") or cut})
    mapping.exported = True
    log("using the mapping export_dataframe attached to the frame (frame.attrs)")
    return mapping


def _looks_exported(columns: Iterable[Any]) -> bool:
    """Whether the columns are an export's (its uid, the server's updated_at): its mapping matters."""
    return {"uid", "updated_at"} <= set(map(str, columns))


def results_base(path: Path) -> str:
    """What a results file beside ``path`` is named after: the stem of a CSV (``tasks.csv`` gives
    ``tasks.fragment-results.csv``), the whole name of any other file, so that ``tasks.xlsx``
    beside it keeps results of its own (``tasks.xlsx.fragment-results.csv``)."""
    return path.stem if path.suffix.lower() == ".csv" else path.name


def _run_frame(command: str, frame: pd.DataFrame, writer: Any, *, checkpoint: Any = None, results: Any = None,
               **options: Any) -> RunReport:
    if not isinstance(frame, pd.DataFrame):
        hint = " (series.to_frame() makes one)" if isinstance(frame, pd.Series) else ""
        raise ConfigError(f"{command}_dataframe takes a pandas DataFrame, not a {type(frame).__name__}{hint}")
    _check_outputs(checkpoint, results, inputs=[_mapping_file(options.get("mapping"))])
    if options.get("mapping") is None:
        options["mapping"] = _attached_mapping(frame, command, options.get("log") or (lambda message: None))
    # An export's frame holds what the server holds: a field of white space only is its value.
    exported = getattr(options.get("mapping"), "exported", False)
    return _run(command, open_table(frame, blank_text_is_empty=not exported), writer, checkpoint=checkpoint,
                results=results, keep_results_in_memory=True, **options)


def export_file(
    path: str | Path,
    *,
    filters: MappingType[str, Any] | None = None,
    status: str | None = None,
    updated_after: str | None = None,
    created_after: str | None = None,
    order_by: str | None = None,
    limit: int | None = None,
    columns: list[str] | None = None,
    format: str | None = None,  # noqa: A002 - the user's word for it
    excel_csv: bool = False,
    escape_formulas: bool = True,
    comments: bool = False,
    progress: bool | None = None,
    rate: str | float | None = None,
    client: FragmentClient | None = None,
    settings: Settings | None = None,
    sandbox: SandboxChoice = None,
    log: Callable[[str], None] = lambda message: None,
) -> ExportReport:
    """Export the tasks matching the filters (or, with ``comments``, their comments) to a file.

    The format comes from the extension (csv, xlsx, jsonl, parquet) or ``format``. Beside a task
    export, ``<file>.mapping.yml`` records each column's type, so the file imports back as
    updates keyed by ``uid`` with its types intact.
    """
    columns = _column_list(columns)
    search = Search(filters=_filter_dict(filters), status=status, updated_after=updated_after, created_after=created_after,
                    order_by=order_by, limit=limit)
    written = dict(columns=columns, format=format, excel_csv=excel_csv, escape_formulas=escape_formulas, progress=progress)
    _check_writable(Path(path), "output")  # before paging through every task, not after
    repeated = sorted(name for name, times in Counter(columns or []).items() if times > 1)
    if repeated:
        raise ConfigError(f"column {repeated[0]!r} is asked for twice: a file with two columns of one name"
                          " does not import back")
    with connect(client=client, settings=settings, sandbox=sandbox, rate=rate, log=log) as connected:
        export = exporter.export_comments if comments else exporter.export_tasks
        return export(connected, Path(path), search, **written)


def export_dataframe(
    *,
    columns: list[str] | None = None,
    progress: bool | None = None,
    rate: str | float | None = None,
    client: FragmentClient | None = None,
    settings: Settings | None = None,
    sandbox: SandboxChoice = None,
    **search: Any,
) -> pd.DataFrame:
    """The tasks matching the filters as a DataFrame, one column per field. ``search`` takes the
    filters of :func:`export_file`: ``filters``, ``status``, ``updated_after``, ``created_after``,
    ``order_by``, ``limit``."""
    _check_options("export_dataframe", search, Search)
    search["filters"] = _filter_dict(search.get("filters"))
    with connect(client=client, settings=settings, sandbox=sandbox, rate=rate) as connected:
        return exporter.export_frame(connected, Search(**search), columns=_column_list(columns), progress=progress)


def _column_list(columns: Any) -> list[str] | None:
    """``columns=`` as a list; a text is the CLI's ``--columns A,B,C``, names split on commas."""
    if isinstance(columns, str):
        return [name.strip() for name in columns.split(",")]
    return None if columns is None else list(columns)


def _filter_dict(filters: Any) -> dict[str, Any] | None:
    """``filters=`` as a dict; texts like ``"country=FR"`` (the CLI's ``--filter``s) are split at
    their first ``=`` (a URL value has more), the value as typed, each key given once."""
    if filters is None or isinstance(filters, MappingType):
        return filters
    pairs: dict[str, Any] = {}
    for text in [filters] if isinstance(filters, str) else filters:
        key, equals, value = text.partition("=") if isinstance(text, str) else ("", "", "")
        if not equals or not key.strip():
            raise ConfigError(f"a filter is KEY=VALUE (e.g. country=FR; in Python also a dict), not {text!r}")
        if key.strip() in pairs:
            raise ConfigError(f"the filter {key.strip()!r} is given twice; the API takes one value a key")
        pairs[key.strip()] = value
    return pairs


MAX_BATCH_SIZE, MAX_CONCURRENCY = 1000, 64  # as the command line takes them


def _within(name: str, value: Any, most: int, default: int) -> int:
    """``value`` of the option ``name`` (None: ``default``), a whole number from 1 to ``most``."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= most:
        raise ConfigError(f"{name}={value!r}: give a whole number from 1 to {most}")
    return int(value)  # a numpy int too


def _import_writer(mode: str) -> Any:
    if mode not in IMPORT_MODES:
        raise ConfigError(f"mode {mode!r} is not one of {', '.join(IMPORT_MODES)}")
    return UpsertWriter() if mode == "upsert" else CreateWriter()


def _mapping(
    columns: list[str],
    *,
    mapping: str | Path | Mapping | None,
    maps: MappingType[str, str] | None,
    ignore: Iterable[str],
    types: MappingType[str, str] | None,
    keys: Iterable[str],
    empty: str | None,
    sidecar: Path | None,
    purpose: str,
    text_column: str | None,
) -> Mapping:
    """The mapping file (or the sidecar an export wrote), else inferred; then the overrides."""
    if isinstance(mapping, Mapping):
        base = mapping
    elif isinstance(mapping, dict):
        base = Mapping.from_dict(mapping)
    elif mapping is not None:
        base = Mapping.load(mapping)
    elif sidecar is not None:
        base = Mapping.load(sidecar)
        base.exported = _is_exports(sidecar)
    else:
        base = Mapping.infer(columns)
    maps, types = _by_name(maps, "maps"), _by_name(types, "types")
    ignore, keys = _names(ignore), _names(keys)
    if purpose == "import" and base.exported and not keys and "uid" not in base.targets(columns):
        raise ConfigError("this export has no uid column (cut with columns): importing it would create each of its"
                          " tasks again, as a new one. Export it with uid; or, to copy the tasks as new ones, give the"
                          " mapping yourself (--mapping, or mapping=)")
    if purpose == "import" and (base.partial or _leaves_out_a_field(base, ignore, maps)):
        raise ConfigError("this export holds only some of each task's fields (cut with columns, or a field column"
                          " ignored): importing it would delete the others, since an import replaces a task's fields."
                          " Send it as an update, which changes only the columns it has (fragment-bulk update, or"
                          " update_file / update_dataframe)")
    for verb, names in (("map", maps), ("ignore", ignore), ("type", types)):
        missing = next((name for name in names if name not in columns), None)
        if missing is not None:  # a typo in --ignore would send the very column meant to stay out
            raise InputError(f"the column {missing!r} to {verb} is not in the input; its columns are: {', '.join(columns)}",
                             column=missing)
    chosen = base.with_overrides(maps=maps, ignore=ignore, types=types, keys=keys, empty=empty, input_columns=columns)
    if purpose == "update":
        return chosen.for_update(empty)
    if purpose == "comment":
        return chosen.for_comments(text_column)
    return chosen


def _leaves_out_a_field(base: Mapping, ignore: list[str], maps: dict[str, str]) -> bool:
    """Whether ``ignore`` or ``maps`` leave out a column that ``base`` sends as a field of tasks
    it names by uid (an export's mapping): an import, which replaces fields whole, would delete it."""
    if not base.exported or not any(column.target == "uid" for column in base.columns.values()):
        return False
    dropped = set(ignore) | {name for name, target in maps.items() if str(target).strip() == "ignore"}
    return any(name in base.columns and exporter.is_field_target(base.columns[name].target) for name in dropped)


def _names(given: Any) -> list[str]:
    """Column names given as one name or several (a DataFrame's names are compared as text, as
    its header is read): ``"Notes"`` is one column, not five."""
    if given is None:
        return []
    if isinstance(given, (str, int)):
        given = [given]
    return [str(name) for name in given]


def _by_name(given: Any, argument: str) -> dict[str, str]:
    if given is None:
        return {}
    if not isinstance(given, MappingType):
        raise ConfigError(f"{argument}= takes a dict of column name to value, not a {type(given).__name__}")
    return {str(name): value for name, value in given.items()}


def _mapping_file(mapping: Any) -> Path | None:
    return Path(mapping) if isinstance(mapping, (str, os.PathLike)) else None


def _check_outputs(checkpoint: Any, results: Any, *, inputs: Iterable[Path | None] = ()) -> None:
    """The checkpoint and results files can be written, and neither is the other or one of the
    ``inputs`` (the file read, its mapping file), checked before anything is sent or written."""
    if checkpoint is not None and results is not None and Path(checkpoint).resolve() == Path(results).resolve():
        raise ConfigError("the results file would overwrite the checkpoint; choose another --results")
    read = [path for path in inputs if path is not None]
    for name, written in (("results", results), ("checkpoint", checkpoint)):
        if written is None:
            continue
        if not isinstance(written, (str, os.PathLike)):
            raise ConfigError(f"{name}= takes a file path, or None for no {name} file; not {written!r}")
        clobbered = next((path for path in read if Path(written).resolve() == path.resolve()), None)
        if clobbered is not None:
            raise ConfigError(f"the {name} file would overwrite the input {clobbered.name}; choose another --{name}")
        _check_writable(Path(written), name)


def _check_writable(path: Path, name: str) -> None:
    """ConfigError unless ``path`` can be written as a regular file (its folder made if need be)."""
    if path.exists() and not path.is_file():
        raise ConfigError(f"the {name} {path} exists and is not a regular file; choose another --{name}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot make the folder of the {name} {path}: {exc.strerror}") from None
    if not os.access(path.parent, os.W_OK):
        raise ConfigError(f"cannot write the {name} {path}: its folder is read-only")


def _sidecar(path: Path, mapping: Any, log: Callable[[str], None] | None, *, exported_only: bool = False) -> Path | None:
    if mapping is not None:
        return None
    found = mapping_beside(path, exported_only=exported_only)
    if found is not None:
        (log or (lambda message: None))(f"using the mapping {found} found beside the input")
    return found


def _is_exports(sidecar: Path) -> bool:
    """Whether a mapping found beside a file is its export's: tasks.csv.mapping.yml is, and
    tasks.mapping.yml was written by hand for the file."""
    return Path(sidecar.name.removesuffix(exporter.SIDECAR_SUFFIX)).suffix != ""


def mapping_beside(path: str | Path, *, exported_only: bool = False) -> Path | None:
    """The mapping an import of ``path`` uses when none is given: ``tasks.csv.mapping.yml`` (what
    ``export`` writes), else ``tasks.mapping.yml`` (one written by hand for the file, whatever its
    format); an update uses only the first."""
    path = Path(path)
    hand_written = [] if exported_only else [path.with_name(path.stem + exporter.SIDECAR_SUFFIX)]
    return next((candidate for candidate in (exporter.sidecar_of(path), *hand_written) if candidate.exists()), None)


def _run(
    command: str,
    table: Any,
    writer: Any,
    *,
    mapping: str | Path | Mapping | None = None,
    maps: MappingType[str, str] | None = None,
    ignore: Iterable[str] = (),
    types: MappingType[str, str] | None = None,
    keys: Iterable[str] = (),
    empty: str | None = None,
    sidecar: Path | None = None,
    purpose: str = "import",
    text_column: str | None = None,
    checkpoint: str | Path | None,
    results: str | Path | None,
    batch_size: int | None = None,
    concurrency: int | None = None,
    rate: str | float | None = None,
    client: FragmentClient | None = None,
    settings: Settings | None = None,
    sandbox: SandboxChoice = None,
    log: Callable[[str], None] = lambda message: None,
    **run_options: Any,
) -> RunReport:
    try:
        chosen = _mapping(table.columns, mapping=mapping, maps=maps, ignore=ignore, types=types, keys=keys,
                          empty=empty, sidecar=sidecar, purpose=purpose, text_column=text_column)
    except (ConfigError, InputError):
        for note in table.notes:  # how the table was read (its header row, say) may be why
            log(note)
        raise
    # Once the columns read are known: a merge in a column the job ignores is no matter.
    read = [column.name for column in chosen.resolve(table.columns) if column.target != IGNORE]
    for note in table.notes_for([*read, *chosen.keys]):
        log(note)
    if writer.name == "create" and any(column.target == "uid" for column in chosen.resolve(table.columns)):
        raise ConfigError("--mode create makes new tasks, with uids the server picks: the uid column would be left"
                          " out and every row copied as a new task. Import without --mode create to update the tasks"
                          " by their uid, or ignore the uid column to copy them on purpose")
    if settings is not None and not isinstance(settings, Settings):
        raise ConfigError(f"settings= takes a fragment_bulk.Settings (Settings(token=..., base_url=...)), not a"
                          f" {type(settings).__name__}")
    defaults = RunOptions()
    options = RunOptions(
        batch_size=_within("batch_size", batch_size, MAX_BATCH_SIZE, defaults.batch_size),
        concurrency=_within("concurrency", concurrency, MAX_CONCURRENCY, defaults.concurrency),
        checkpoint=Path(checkpoint) if checkpoint is not None else None,
        results=Path(results) if results is not None else None,
        log=log,
        **run_options,
    )
    if options.dry_run:
        options.planned_rate = parse_rate(rate) if rate is not None else (settings or Settings()).rate_per_min
        return run_bulk(command, table, chosen, None, writer, options)
    with connect(client=client, settings=settings, sandbox=sandbox, rate=rate, log=log,
                 concurrency=options.concurrency, batch_size=options.batch_size) as connected:
        report = run_bulk(command, table, chosen, connected, writer, options)
    unknown = command in ("update", "comment") and chosen.keys and report.counts.get("failed") and (
        report.failed["_error"].str.contains("not found").any())
    if unknown:
        log(f"note: the uids were made from {', '.join(chosen.keys)} in the namespace {chosen.namespace or DEFAULT_NAMESPACE!r};"
            " if the tasks were imported with a mapping that sets another namespace, pass that --mapping too")
    return report
