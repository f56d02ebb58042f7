"""Mapping: which column becomes which part of a task, with what type; row validation.

A :class:`Mapping` maps each input column to a *target*:

- ``title``, ``url``: the standard fields (``fields.title``, ``fields.url``); title is required;
- a native field, at the top of the task: ``status`` (TODO | STARTED | DONE), ``due_at``,
  ``archived``, ``assignee_email``, ``assignee_uid``, ``queue_uid``, ``parent_uid``;
- ``uid``: the task's uid (not sent in the payload; the engine adds it);
- ``fields.<key>``: a custom field; ``ignore``: left out.

The mapping file (YAML) is what ``fragment-bulk map`` writes and ``--mapping`` reads::

    version: 1
    key: [Ticket ID]            # optional: the uid is made from these columns
    namespace: ticket           # optional: the uid namespace (default "key")
    empty: omit                 # omit | null: an empty cell leaves the field out, or sends null
    others: infer               # infer | ignore: columns not listed below
    columns:
      Ticket ID: {target: fields.ticket_id, type: str}
      Subject: title
      Status: {target: status, values: {Open: TODO, In progress: STARTED, Closed: DONE}}
      Due: {target: due_at, type: date, format: "%d/%m/%Y", timezone: Europe/Paris}
      Priority: {target: fields.priority, type: int, default: 3}
      Notes: ignore

Types: ``str``, ``int``, ``float``, ``number`` (an int when written as one, ``2``, else a float,
``2.0``), ``bool``, ``date``, ``datetime``, ``json``; a column with no type keeps its value as
read (text stays text, a DataFrame's numbers stay numbers). Value maps apply before the type
(exact match, then trimmed and case-insensitive); ``default`` fills an empty cell. Dates and date-times are sent as ISO 8601 in UTC (``2026-02-28T23:00:00Z``), as the
API contract asks; a naive value is read in the column's ``timezone`` (default UTC), and a
``date`` for ``due_at`` is midnight there.

Uids: from the column mapped to ``uid``; else ``uuid_from_key(namespace, key cells)``; else
from the row's payload (identical rows share a uid).

:meth:`Mapping.validate` checks a chunk vectorised where pandas allows, and also finds rows
whose uid repeats an earlier row's: it keeps the uids seen (as 64-bit hashes, with the first
row's label) on the instance, from the chunk whose ``start`` is 0 onwards, so the chunks must
be validated in order, as the engine's first pass does. :meth:`Mapping.map_chunk` is otherwise
stateless: it only adds the duplicate problems that validation found.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
import operator
import pickle
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import repeat
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import yaml

from fragment_bulk.dates import DATE_KINDS, OUT_OF_RANGE, date_reason, format_lacks, to_moments
from fragment_bulk.errors import FlawedCell, InputError, RowProblem, ShownDigits
from fragment_bulk.formats import column_name, unescape_formula, utc_text
from fragment_bulk.identity import canonical_text, normalize_uid, uuid_from_payload, uuids_from_keys

TYPES = ("str", "int", "float", "number", "bool", "date", "datetime", "json")
STATUSES = ("TODO", "STARTED", "DONE")
IGNORE = "ignore"
COMMENT = "comment"  # the comment's text, for fragment_bulk.commenter (payload {"comment": text})
STANDARD = ("title", "url")
UID_NATIVES = ("assignee_uid", "queue_uid", "parent_uid")
NATIVES = ("status", "due_at", "archived", "assignee_email", *UID_NATIVES)
READ_ONLY = ("done_at", "started_at", "created_at", "updated_at")  # set by the server
UNIQUE_TARGETS = (*STANDARD, "uid", *NATIVES, COMMENT)
NULLABLE = ("url", "due_at", "assignee_email", *UID_NATIVES)  # and every custom field
EMPTY_POLICIES = ("omit", "null")
OTHERS = ("infer", "ignore")
DEFAULT_NAMESPACE = "key"
FILE_KEYS = ("version", "key", "namespace", "empty", "others", "formula_escape", "partial", "columns")
SPEC_KEYS = ("target", "type", "values", "format", "timezone", "default")
ALIASES = {
    **{name: name for name in (*STANDARD, "uid", *NATIVES)},
    "due": "due_at", "due_date": "due_at", "assignee": "assignee_email",
    **{name: IGNORE for name in READ_ONLY},
}
TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "0"})
_INT_TEXT = re.compile(r"[+-]?\d+")
_INT_LIMIT = 2**63
_HUGE_INT = 10**4000  # below Python's default limit of 4,300 digits written in decimal
_TARGET_HINT = "title, url, uid, " + ", ".join(NATIVES) + ", fields.<name> or ignore"


@dataclass(frozen=True)
class Column:
    """How one input column is mapped (see the module docstring for each key)."""

    name: str
    target: str
    type: str | None = None
    values: dict[Any, Any] | None = None
    format: str | None = None
    timezone: str | None = None
    default: Any = None

    @property
    def kind(self) -> str:
        """The conversion this column goes through: a type, or the rule of its native target."""
        if self.target == "uid" or self.target in UID_NATIVES:
            return "uid"
        if self.target == "due_at":
            return "due_date" if self.type == "date" else "datetime"
        if self.target == "archived":
            return "bool"
        if self.target in ("status", "assignee_email"):
            return self.target
        if self.target in (COMMENT, *STANDARD):
            return "str"  # the API takes only text there: an Excel number 2024 goes as "2024"
        return self.type or "auto"

    def to_yaml_value(self) -> Any:
        spec = {key: getattr(self, key) for key in SPEC_KEYS if getattr(self, key) is not None}
        return spec["target"] if len(spec) == 1 else spec


class MappedRow(NamedTuple):
    """One input row, ready to send (``problems`` empty) or not. (A tuple: one is made per row.)"""

    ordinal: int
    label: Any
    uid: str | None
    payload: dict[str, Any]
    problems: list[RowProblem]


@dataclass
class _Converted:
    """One column of one chunk: values (None where empty or bad), the bad cells and why."""

    column: Column
    raw: np.ndarray
    values: np.ndarray
    bad: np.ndarray
    reason: Callable[[Any], str]


# Where a converted column goes: (column, True for ``fields`` / False for the top of the task /
# None for nowhere, the key there, its values as a list, whether an empty cell is sent as null).
_Slot = tuple[_Converted, "bool | None", str, list[Any], bool]


@dataclass
class Mapping:
    """Columns to task fields; see the module docstring."""

    columns: dict[str, Column] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    namespace: str | None = None
    empty: str = "omit"
    others: str = "infer"
    purpose: str = "import"  # import | update | comment
    formula_escape: bool = False  # text cells carry the export's formula guard: undo it on read
    partial: bool = False  # an export cut to some of the fields: updates may take it, imports not
    exported: bool = field(default=False, compare=False)  # an export's own (sidecar, frame.attrs): not written
    _seen: _HashIndex = field(default_factory=lambda: _HashIndex(), init=False, repr=False, compare=False)
    _duplicates: dict[int, RowProblem] = field(default_factory=dict, init=False, repr=False, compare=False)
    _mapped_uids: _HashIndex = field(default_factory=lambda: _HashIndex(), init=False, repr=False, compare=False)
    # Rows alike as text (see _note_alike): their index, and their ordinals (None: any row may be).
    _alike: _HashIndex | None = field(default=None, init=False, repr=False, compare=False)
    _alike_rows: list[np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def infer(cls, columns: Iterable[str]) -> Mapping:
        """Each column by its name: title, url, uid and the natives by name, the rest custom.

        Never guesses a title: with no ``title`` column, :meth:`check_columns` says to map one.
        """
        inferred: dict[str, Column] = {}
        for name in columns:
            inferred[name] = Column(name, _infer_target(name, _taken(inferred.values())))
        return cls(inferred)

    @classmethod
    def load(cls, path: str | Path) -> Mapping:
        path = Path(path)
        try:
            data = yaml.load(_mapping_text(path), Loader=_MappingLoader)  # noqa: S506 (a SafeLoader)
        except OSError as exc:
            raise InputError(f"{path}: cannot read the mapping: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            said = f": {exc.problem}" if isinstance(exc, yaml.constructor.ConstructorError) and exc.problem else ""
            line = f" (line {where.line + 1}{said})" if where is not None else ""
            raise InputError(f"{path}: not a valid YAML mapping file{line}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "the mapping") -> Mapping:
        if not isinstance(data, dict):
            raise InputError(f"{source}: expected keys {', '.join(FILE_KEYS)} at the top")
        unknown = [str(key) for key in data if key not in FILE_KEYS]
        if unknown:
            raise InputError(f"{source}: unknown key {unknown[0]!r} (known: {', '.join(FILE_KEYS)})")
        if data.get("version", 1) != 1:
            raise InputError(f"{source}: version {data.get('version')!r} is not supported (expected 1)")
        columns = data.get("columns") or {}
        if not isinstance(columns, dict):
            raise InputError(f"{source}: 'columns' must map each column name to a target")
        keys = data.get("key") or []
        keys = [keys] if isinstance(keys, str) else keys
        if not isinstance(keys, list):
            raise InputError(f"{source}: 'key' must be a column name or a list of them")
        namespace = data.get("namespace")
        named: dict[str, Column] = {}
        for written, spec in columns.items():
            name = column_name(written)  # as the readers trim the header it names
            if name in named:
                raise InputError(f"{source}: columns {named[name].name!r} and {str(written)!r} name the same column"
                                 " (the space around a header is not part of its name)", column=name)
            named[name] = _column_from_yaml(name, spec, source)
        mapping = cls(
            named,
            keys=tuple(column_name(key) for key in keys),
            namespace=None if namespace is None else str(namespace),
            empty=_choice("null" if "empty" in data and data["empty"] is None else data.get("empty", "omit"),  # YAML reads null as None
                          EMPTY_POLICIES, "empty", source),
            others=_choice(data.get("others", "infer"), OTHERS, "others", source),
            formula_escape=_flag(data.get("formula_escape", False), "formula_escape", source),
            partial=_flag(data.get("partial", False), "partial", source),
        )
        return mapping

    def with_overrides(
        self,
        maps: dict[str, str] | None = None,
        ignore: Iterable[str] = (),
        types: dict[str, str] | None = None,
        keys: Iterable[str] = (),
        empty: str | None = None,
        input_columns: Iterable[str] | None = None,
    ) -> Mapping:
        """A copy with the command line's --map, --ignore, --type, --key and --empty applied.
        ``input_columns``: the input's, so that typing a column the mapping does not list keeps
        the target it would be inferred for among them (not one inferred among the listed alone)."""
        columns = dict(self.columns)
        for name, target in (maps or {}).items():
            target = _check_target(target.strip(), name)
            if target in UNIQUE_TARGETS:
                for other, column in list(columns.items()):
                    if other != name and column.target == target:  # the new holder wins
                        columns[other] = replace(column, target=_custom_target(other, _taken(columns.values())))
            old = columns.get(name) or Column(name, target)
            kept_type = old.type if old.type in _allowed_types(target) else None
            columns[name] = replace(old, target=target, type=kept_type)
        for name in ignore:
            columns[name] = Column(name, IGNORE)
        # (a column "others: ignore" leaves out is typed to be sent: its target is inferred, as before)
        inferred = {column.name: column for column in replace(self, columns=columns).resolve(input_columns or [])
                    if column.target != IGNORE}
        for name, type_name in (types or {}).items():
            old = columns.get(name) or inferred.get(name) or Column(name, _infer_target(name, _taken(columns.values())))
            columns[name] = _checked(replace(old, type=_check_type(type_name.strip(), name)), "--type (types=)")
        changed = replace(self, columns=columns)
        if keys:
            changed.keys = tuple(keys)
        if empty is not None:
            changed.empty = _choice(empty, EMPTY_POLICIES, "--empty (empty=)", "the options")
        return changed

    def for_update(self, empty: str | None = None) -> Mapping:
        """For ``update``: no title needed, the uid must be given, and empty cells change nothing
        unless ``empty="null"`` is asked for here. A mapping file's ``empty`` and its defaults,
        written for imports, do not carry over: they would null, or set to the default, every
        field that an update file leaves empty."""
        columns = {name: replace(column, default=None) for name, column in self.columns.items()}
        return replace(self, columns=columns, purpose="update", empty=empty or "omit")

    def for_comments(self, text_column: str | None) -> Mapping:
        """For ``comment``: the text column and the uid (column or keys); the rest ignored."""
        text = text_column or "text"
        columns = {name: column for name, column in self.columns.items() if column.target == "uid"}
        columns[text] = Column(text, COMMENT)
        return replace(self, columns=columns, others=IGNORE, purpose="comment", empty="omit")

    # -- the file ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"version": 1}
        if self.keys:
            data["key"] = list(self.keys)
        if self.namespace is not None:
            data["namespace"] = self.namespace
        data["empty"] = self.empty
        data["others"] = self.others
        if self.formula_escape:
            data["formula_escape"] = True
        if self.partial:
            data["partial"] = True
        data["columns"] = {name: column.to_yaml_value() for name, column in self.columns.items()}
        return data

    def to_yaml(self) -> str:
        header = [
            "# fragment-bulk mapping: edit it, then pass it with --mapping.",
            f"# targets: {_TARGET_HINT}",
            f"# types: {', '.join(TYPES)}; also values: {{From: To}}, format, timezone, default",
        ]
        if self.purpose == "import" and not any(column.target == "title" for column in self.columns.values()):
            header.append("# no column is mapped to title: map one, e.g.  Subject: title")
        data = self.to_dict()
        columns = data.pop("columns")
        lines = [*header, *(_yaml_line(key, value) for key, value in data.items())]
        lines.append("columns:" if columns else "columns: {}")
        lines += ["  " + _yaml_line(name, value).replace("\n", "\n  ") for name, value in columns.items()]  # one column a line
        return "\n".join(lines) + "\n"

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml(), encoding="utf-8")

    def fingerprint(self) -> str:
        canonical = {**self.to_dict(), "purpose": self.purpose}
        text = json.dumps(canonical, ensure_ascii=False, default=str)  # in file order: keys may mix types
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    # -- checks --------------------------------------------------------------------------------

    def resolve(self, columns: Iterable[str]) -> list[Column]:
        """The mapping of each input column, in input order (unlisted ones inferred or ignored)."""
        names = list(columns)
        listed = [self.columns[name] for name in names if name in self.columns]
        resolved = {column.name: column for column in listed}
        for name in names:
            if name not in resolved:
                target = IGNORE if self.others == IGNORE else _infer_target(name, _taken(resolved.values()))
                resolved[name] = Column(name, target)
        return [resolved[name] for name in names]

    def targets(self, columns: Iterable[str]) -> frozenset[str]:
        """What the rows of an input with ``columns`` are mapped to (``status``, ``fields.notes``...)."""
        return frozenset(column.target for column in self.resolve(columns) if column.target != IGNORE)

    def needed_columns(self) -> list[str]:
        """The input columns this mapping reads: the keys, and the mapped columns it must have."""
        needed = list(self.keys)
        if self.purpose == "import":
            needed += [name for name, column in self.columns.items() if column.target != IGNORE]
        else:
            needed += [name for name, column in self.columns.items() if column.target in ("uid", COMMENT)]
        return needed

    def check_columns(self, columns: Iterable[str], *, require_title: bool = True) -> None:
        """InputError unless the input has every column the mapping needs, and (for an import,
        unless not ``require_title``: a mapping still being written) a title."""
        columns = list(columns)
        listing = ", ".join(columns)
        for name in self.needed_columns():
            if name not in columns:
                hint = " (choose it with --text-column, or text_column= in Python)" if name in self.columns and self.columns[name].target == COMMENT else ""
                raise InputError(f"column {name!r} is not in the input{hint}; its columns are: {listing}", column=name)
        resolved = [column for column in self.resolve(columns) if column.target != IGNORE]
        holders: dict[str, str] = {}
        for column in resolved:
            if column.target in holders:
                raise InputError(
                    f"columns {holders[column.target]!r} and {column.name!r} are both mapped to {column.target}",
                    column=column.name,
                )
            holders[column.target] = column.name
        if self.purpose == "import" and "title" not in holders and require_title:
            raise InputError(
                f'no column is mapped to title; map one with --map "COLUMN=title", or maps={{"COLUMN": "title"}}'
                f" in Python (columns: {listing})"
            )
        if "uid" in holders and self.keys:
            raise InputError(
                f"the uid comes from column {holders['uid']!r} and from the key {', '.join(self.keys)}; keep one"
                f" (--ignore {holders['uid']!r}, or no --key)"
            )
        if self.purpose != "import" and "uid" not in holders and not self.keys:
            raise InputError(
                f"to {self.purpose}, each row must name its task: a uid column, or --key with the column(s)"
                f" the import used (columns: {listing})"
            )

    # -- rows ----------------------------------------------------------------------------------

    def validate(self, chunk: Any, *, note_alike: bool = False) -> list[RowProblem]:
        """Every problem of the chunk's rows, including uids repeated from earlier rows.
        ``note_alike`` (from the first chunk on): note the rows ``converted_duplicates`` maps."""
        if chunk.start == 0:
            self._seen.clear()
            self._duplicates.clear()
            self._alike = _HashIndex() if note_alike else None
            self._alike_rows = []
        converted, key_texts, key_bad = self._convert(chunk, render=False)
        labels = chunk.labels
        problems = []
        for item in converted:
            for position in np.flatnonzero(item.bad):
                value = item.raw[position]
                problems.append(RowProblem(labels[position], item.column.name, value, item.reason(value)))
        problems += self._key_problems(labels, key_texts)
        if self.purpose != "comment":  # many comments may go to one task
            problems += self._find_duplicates(chunk, converted, key_texts, key_bad)
        return problems

    def finds_duplicates_once_mapped(self, columns: Iterable[str]) -> bool:
        """Whether ``map_chunk`` may find rows that ``validate`` passed to be duplicates: rows
        whose uid is made from their payload, which may be one though their cells differ."""
        if any(column.target == "uid" for column in self.resolve(columns)):
            return self.purpose == "import"  # (the rows given no uid)
        return not self.keys and self.purpose != "comment"

    def converted_duplicates(self, chunks: Callable[[], Iterable[Any]], failed: np.ndarray) -> Iterator[MappedRow]:
        """The rows ``map_chunk`` finds to repeat an earlier row's uid once converted, though
        ``validate`` passed them (their cells differ): what a run fails as it maps the rows to
        send them, for a dry run to report. ``failed``: the sorted ordinals of the rows found
        invalid already. Only after ``validate(..., note_alike=True)`` of every chunk.

        Mapping a row costs many times what checking it does, so only the chunks holding rows
        that ``validate`` found alike as text are mapped (see ``_note_alike``).
        """
        suspects = None if self._alike_rows is None else (
            np.unique(np.concatenate(self._alike_rows)) if self._alike_rows else np.zeros(0, dtype=np.int64))
        if suspects is not None and not len(suspects):
            return
        self._mapped_uids.clear()
        for chunk in chunks():
            if suspects is not None:
                at = np.searchsorted(suspects, chunk.start)
                if at == len(suspects) or suspects[at] >= chunk.start + len(chunk):
                    continue  # no row of it is alike another: none repeats a uid, nor has its uid repeated
            for row in self.map_chunk(chunk):
                if row.problems and not _holds(failed, row.ordinal):
                    yield row

    def map_chunk(self, chunk: Any) -> list[MappedRow]:
        """Each row's payload (the task body without ``uid``), uid and problems."""
        labels = chunk.labels
        if chunk.start == 0:
            self._mapped_uids.clear()
        converted, key_texts, key_bad = self._convert(chunk, render=True)
        problems_at: dict[int, list[RowProblem]] = {}
        for position, problem in self._key_problems(labels, key_texts, positions=True):
            problems_at.setdefault(position, []).append(problem)
        slots = self._slots(converted)
        bad_rows = np.zeros(len(chunk), dtype=bool)
        for item in converted:
            bad_rows |= item.bad
        # Built a column at a time for every row (a row is then a few dict operations, not one
        # per cell); a row with a bad cell is built again below, its problems named.
        payloads = self._payloads(slots, len(chunk))
        for position in np.flatnonzero(bad_rows).tolist():
            problems = problems_at.setdefault(position, [])
            payloads[position] = self._payload(slots, position, labels[position], problems, row_bad=True)
        if self._duplicates:  # one look-up a row: the duplicates of the whole file may be many
            for position in range(len(chunk)):
                duplicate = self._duplicates.get(chunk.start + position)
                if duplicate is not None:
                    problems_at.setdefault(position, []).append(duplicate)
        uids = self._uids(converted, key_texts, key_bad, payloads)
        rows = [MappedRow(ordinal, label, uid, payload, [])
                for ordinal, label, uid, payload in zip(range(chunk.start, chunk.start + len(chunk)), labels, uids, payloads)]
        for position, problems in problems_at.items():
            rows[position] = rows[position]._replace(problems=problems)
        uid_column = next((item for item in converted if item.column.target == "uid"), None)
        if uid_column is None and not self.keys and self.purpose != "comment":
            self._find_converted_duplicates(rows)
        elif uid_column is not None and self.purpose == "import":  # the rows given no uid
            self._find_converted_duplicates([row for row, uid in zip(rows, uid_column.values) if uid is None])
        return rows

    def _uids(self, converted: list[_Converted], key_texts: list[np.ndarray], key_bad: np.ndarray,
              payloads: list[dict[str, Any]]) -> list[str | None]:
        """Each row's uid: its uid cell, else made from its key cells (None when one is empty),
        else from its payload."""
        uid_values = next((item.values for item in converted if item.column.target == "uid"), None)
        if uid_values is not None:
            # A row added to an exported file has no uid yet: made from its cells, as without a key.
            return [uuid_from_payload(payload) if uid is None and self.purpose == "import" else uid
                    for uid, payload in zip(uid_values.tolist(), payloads)]
        if self.keys:
            uids = uuids_from_keys(self.namespace or DEFAULT_NAMESPACE, [texts.tolist() for texts in key_texts])
            for position in np.flatnonzero(key_bad).tolist():
                uids[position] = None
            return uids
        return [uuid_from_payload(payload) for payload in payloads]

    def _payloads(self, slots: list[_Slot], count: int) -> list[dict[str, Any]]:
        """Every row's payload, as ``_payload`` makes it for a row without a bad cell."""
        placed = [(where, key, values, keep_null) for _, where, key, values, keep_null in slots if where is not None]
        fields = _dicts([(key, values, keep_null) for where, key, values, keep_null in placed if where], count)
        natives = _dicts([(key, values, keep_null) for where, key, values, keep_null in placed if not where], count)
        if self.purpose == "import":
            for payload, row_fields in zip(natives, fields):
                payload["fields"] = row_fields
        else:
            for payload, row_fields in zip(natives, fields):
                if row_fields:
                    payload["fields"] = row_fields
        return natives

    def _find_converted_duplicates(self, rows: list[MappedRow]) -> None:
        """Rows without a key whose cells differ but whose payloads do not ("05" and "5" typed
        int): one uid, so one task. The check pass compares cells; this pass compares payloads."""
        sendable = [row for row in rows if not row.problems]
        if not sendable:
            return
        hashes = _cell_hashes(np.array([row.uid for row in sendable], dtype=object))
        earlier, earlier_labels, repeated = self._mapped_uids.record(hashes, pd.Index([row.label for row in sendable]))
        if not (repeated.any() or earlier.any()):
            return
        first_of = dict(zip(reversed(hashes.tolist()), reversed([row.label for row in sendable])))
        for index in np.flatnonzero(repeated | earlier).tolist():
            row = sendable[index]
            first = earlier_labels[index] if earlier[index] else first_of[hashes[index]]
            row.problems.append(RowProblem(row.label, None, None, f"same uid as row {first} (the same task once its"
                                                                  " cells are converted; use --key to tell them apart)"))

    def _slots(self, converted: list[_Converted]) -> list[_Slot]:
        """Where each converted column goes (see ``_Slot``), worked out once a chunk, not once a cell."""
        send_null = self.empty == "null" and self.purpose in ("import", "update")
        slots = []
        for item in converted:
            target = item.column.target
            custom = target.startswith("fields.")
            if target in STANDARD or custom:
                where, key = True, target[len("fields."):] if custom else target
            else:
                where, key = (False if target in (*NATIVES, COMMENT) else None), target
            keep_null = send_null and (target in NULLABLE or custom)
            slots.append((item, where, key, item.values.tolist(), keep_null))
        return slots

    def _payload(self, slots: list[_Slot], position: int, label: Any, problems: list[RowProblem], *,
                 row_bad: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        payload: dict[str, Any] = {}
        for item, where, key, values, keep_null in slots:
            if row_bad and item.bad[position]:
                value = item.raw[position]
                problems.append(RowProblem(label, item.column.name, value, item.reason(value)))
                continue
            value = values[position]
            if where is None or value is None and not keep_null:
                continue
            (fields if where else payload)[key] = value
        if fields or self.purpose == "import":
            payload["fields"] = fields
        return payload

    def _convert(self, chunk: Any, *, render: bool) -> tuple[list[_Converted], list[np.ndarray], np.ndarray]:
        """Each mapped column converted, plus the key columns' text and which rows lack a key.

        A column of few distinct cells is converted once per distinct cell, as ``chunk.column``
        hands them over (a cell's conversion depends on it alone). Only checking (not
        ``render``), a column with nothing to check is not even read.
        """
        converted = []
        for column in self.resolve(chunk.columns):
            if column.target == IGNORE:
                continue
            # Text cannot be NaN or Infinity: only other cells (DataFrames, Excel) need a look.
            if not render and _nothing_to_check(column, self.purpose) and chunk.text_only:
                converted.append(_Converted(column, None, None, np.zeros(len(chunk), dtype=bool), str))
                continue
            # Text-only cells: an empty one is None (a NaN from JSON Lines is "invalid", not empty).
            if not render and _only_required(column, self.purpose) and chunk.text_only and not self.formula_escape:
                reason = _missing_reason(column)
                empty = np.full(len(chunk), None, dtype=object)
                converted.append(_Converted(column, empty, None, chunk.missing(column.name), lambda value: reason))
                continue
            codes, cells = chunk.column(column.name)
            item = self._convert_cells(column, cells, render, text_only=chunk.text_only)
            if codes is not None:
                bad = item.bad[codes]
                if render or bad.any() or column.target == "uid":
                    item = _Converted(column, item.raw[codes], item.values[codes], bad, item.reason)
                else:  # checking, all good: nothing will read a cell (a million references spared)
                    item = _Converted(column, None, None, bad, item.reason)
            converted.append(item)
        key_texts = []
        for name in self.keys:
            if name in chunk.columns:
                codes, cells = chunk.column(name)
                texts = _key_texts(self._unescaped(cells), text_only=chunk.text_only)  # (not the guard's apostrophe)
                key_texts.append(texts if codes is None else texts[codes])
        return converted, key_texts, _lacking_key(key_texts, len(chunk))

    def _convert_cells(self, column: Column, cells: np.ndarray, render: bool, *, text_only: bool = False) -> _Converted:
        return _convert_column(column, self._unescaped(cells), render, self.purpose, text_only=text_only)

    def _unescaped(self, cells: np.ndarray) -> np.ndarray:
        """``cells`` without the formula guard an export of this mapping put on them."""
        if not self.formula_escape:
            return cells
        return np.array([unescape_formula(cell) if isinstance(cell, str) else cell for cell in cells], dtype=object)

    def _key_problems(self, labels: pd.Index, key_texts: list[np.ndarray], *, positions: bool = False) -> list[Any]:
        found = []
        for name, texts in zip(self.keys, key_texts):
            for position in np.flatnonzero(texts == ""):
                problem = RowProblem(labels[position], name, None, "the key column is empty, or holds an Excel error"
                                                                   " (the uid is made from it)")
                found.append((position, problem) if positions else problem)
        return found

    def _find_duplicates(self, chunk: Any, converted: list[_Converted], key_texts: list[np.ndarray], key_bad: np.ndarray) -> list[RowProblem]:
        """Rows whose uid an earlier row already has (by 64-bit hash of what the uid is made from)."""
        uid_column = next((item for item in converted if item.column.target == "uid"), None)
        identical = " (the rows are identical; use --key to tell them apart)"
        from_payload, alike = None, None  # the rows whose uid is made from their payload
        if uid_column is not None:
            usable = ~uid_column.bad & pd.notna(uid_column.values)
            hashes = _cell_hashes(uid_column.values)
            # A new row (no uid yet, to import) gets its uid from its cells, as without a key.
            new_rows = ~uid_column.bad & pd.isna(uid_column.values) if self.purpose == "import" else np.zeros(len(chunk), bool)
            if new_rows.any():
                cells, alike = self._row_hashes(chunk, converted)
                hashes[new_rows], usable, from_payload = cells[new_rows], usable | new_rows, new_rows
            describe = lambda position: identical if new_rows[position] else ""  # noqa: E731 - else the uid is shown
        elif self.keys:
            usable = ~key_bad
            hashes = _combined([_cell_hashes(texts) for texts in key_texts], len(chunk))
            describe = lambda position: " (key " + ", ".join(  # noqa: E731
                f"{name!r}={texts[position]!r}" for name, texts in zip(self.keys, key_texts)) + ")"
        else:
            usable = from_payload = np.ones(len(chunk), dtype=bool)
            hashes, alike = self._row_hashes(chunk, converted)
            describe = lambda position: identical  # noqa: E731
        labels = chunk.labels
        positions = np.flatnonzero(usable)
        hashes = hashes[positions]
        earlier, earlier_labels, repeated = self._seen.record(hashes, labels[positions])
        if alike is not None:
            sendable = from_payload.copy()
            sendable[positions[repeated | earlier]] = False
            for item in converted:
                sendable &= ~item.bad
            self._note_alike(chunk, alike, sendable)
        if not (repeated.any() or earlier.any()):
            return []  # the usual case: no uid seen before
        first_in_chunk = dict(zip(reversed(hashes.tolist()), reversed(labels[positions].tolist())))
        problems = []
        for index in np.flatnonzero(repeated | earlier).tolist():
            position = positions[index]
            first = earlier_labels[index] if earlier[index] else first_in_chunk[hashes[index]]
            value = uid_column.values[position] if uid_column is not None else None
            problem = RowProblem(labels[position], uid_column.column.name if uid_column else None, value,
                                 f"same uid as row {first}{describe(position)}")
            self._duplicates[chunk.start + position] = problem
            problems.append(problem)
        return problems


    def _row_hashes(self, chunk: Any, converted: list[_Converted]) -> tuple[np.ndarray, np.ndarray | None]:
        """A hash of each row's cells, and, when noting rows alike (``validate``'s ``note_alike``),
        one of its cells in the columns sent as written (see ``_note_alike``)."""
        noting = self._alike is not None and self._alike_rows is not None
        every, written = [], []
        for item in converted:
            codes, cells = chunk.column(item.column.name)
            hashes = _column_hashes(codes, cells)
            every.append(hashes)
            if not noting or not _sent_as_written(item.column):
                continue
            if chunk.text_only and not self.formula_escape:
                written.append(hashes)  # text as it is sent (a blank cell is None)
            elif pd.api.types.infer_dtype(cells, skipna=True) in ("string", "empty"):
                cells = self._unescaped(cells).copy()
                cells[_empty_cells(cells)] = None  # "" is left out, as None is
                written.append(_column_hashes(codes, cells))
            elif item.values is not None and codes is None:  # numbers, dates: each as it is sent
                written.append(_sent_hashes(item.values))
            else:  # (no values kept to look at) any row may be like another
                noting, self._alike_rows = False, None
        return _combined(every, len(chunk)), _combined(written, len(chunk)) if noting else None

    def _note_alike(self, chunk: Any, alike: np.ndarray, rows: np.ndarray) -> None:
        """Note the ``rows`` (their uids made from their payloads, not found invalid) alike as text
        to another: the same text in every column sent as written (no type, value map or default).
        Rows whose payloads are one are alike so; a row alike to none has a uid of its own."""
        ordinals = np.arange(chunk.start, chunk.start + len(chunk))[rows]
        hashes = alike[rows]
        earlier, earlier_ordinals, repeated = self._alike.record(hashes, pd.Index(ordinals))
        found = earlier | repeated
        if found.any():
            self._alike_rows += [ordinals[np.isin(hashes, hashes[found])], earlier_ordinals[earlier].astype(np.int64)]


class _HashIndex:
    """The 64-bit hashes of the uids seen so far, each with the label of its first row.

    Each chunk's hashes are added as a sorted run; runs merge eight at a time into one of the
    next tier (the digits of a base-8 counter), so that adding n hashes moves each about
    log8(n / chunk) times. A bitmap says which hashes cannot have been seen: only the few it
    cannot rule out are searched for in the runs. 16 bytes a hash and 2 to 4 of bitmap: a
    million-row file is checked in about 20 MB.
    """

    MERGED = 8  # runs of a tier merged into one of the next
    BITMAP_BITS = 16  # bitmap bits a hash, at least: about 6 % of new hashes are searched for
    MOST_BITMAP_BITS = 1 << 28  # 32 MB: past 16M hashes, more of them are searched for

    def __init__(self) -> None:
        self.runs: list[tuple[int, np.ndarray, np.ndarray]] = []  # (tier, sorted hashes, their labels)
        self.count = 0
        self._bitmap = np.zeros(0, dtype=np.uint8)
        self._shift = np.uint64(64)  # a hash's bit in the bitmap: its top bits

    def clear(self) -> None:
        self.__init__()

    def record(self, hashes: np.ndarray, labels: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Look up a chunk's hashes, then add the new ones. Returns which were added before (and
        with what label), and which repeat an earlier hash of the same chunk."""
        order = np.argsort(hashes)
        ordered = hashes[order]  # sorted: the runs are searched in order, the bitmap marked in order
        again = ordered[1:] == ordered[:-1]
        if again.any():  # (rare) of equal hashes, the first row must come first
            order = np.argsort(hashes, kind="stable")
            ordered = hashes[order]
            again = ordered[1:] == ordered[:-1]
        found = np.zeros(len(hashes), dtype=bool)
        found_labels = np.empty(len(hashes), dtype=object)
        if self.count:
            byte, bit = self._bits_of(ordered)
            maybe = np.flatnonzero(self._bitmap[byte] & bit)
            needles, hit = ordered[maybe], np.zeros(len(maybe), dtype=bool)
            for _, known, known_labels in self.runs:
                at = np.minimum(np.searchsorted(known, needles), len(known) - 1)
                new_hit = (known[at] == needles) & ~hit
                found_labels[order[maybe[new_hit]]] = known_labels[at[new_hit]]
                hit |= new_hit
            found[order[maybe]] = hit
        repeated = np.zeros(len(hashes), dtype=bool)
        repeated[order[1:]] = again
        # Integer labels (spreadsheet rows, a RangeIndex) as int64: a Python int each would cost 32 bytes.
        kept = labels.to_numpy() if labels.dtype.kind in "iu" else labels.to_numpy(dtype=object)
        fresh = ~(found | repeated)[order]
        self._add(ordered[fresh], kept[order][fresh])
        return found, found_labels, repeated

    def _add(self, hashes: np.ndarray, labels: np.ndarray) -> None:
        """Add sorted, distinct hashes, none of them added before."""
        if not len(hashes):
            return
        self.count += len(hashes)
        if self.count * self.BITMAP_BITS > 8 * len(self._bitmap):
            self._grow_bitmap()
        self._mark(hashes)
        self.runs.append((0, hashes, labels))
        while len(self.runs) >= self.MERGED and len({tier for tier, _, _ in self.runs[-self.MERGED:]}) == 1:
            tier = self.runs[-1][0]
            merged, self.runs[-self.MERGED:] = self.runs[-self.MERGED:], []
            hashes, labels = np.concatenate([run[1] for run in merged]), np.concatenate([run[2] for run in merged])
            order = np.argsort(hashes, kind="stable")  # (sorted runs: a merge of them)
            self.runs.append((tier + 1, hashes[order], labels[order]))

    def _grow_bitmap(self) -> None:
        bits = min(1 << (self.count * self.BITMAP_BITS - 1).bit_length(), self.MOST_BITMAP_BITS)
        if bits <= 8 * len(self._bitmap):
            return  # at its largest already: rebuilt for every chunk, it would make the check quadratic
        self._bitmap = np.zeros(bits // 8, dtype=np.uint8)
        self._shift = np.uint64(64 - bits.bit_length() + 1)
        for _, known, _ in self.runs:
            self._mark(known)

    def _bits_of(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = hashes >> self._shift
        return at >> np.uint64(3), np.left_shift(np.uint8(1), (at & np.uint64(7)).astype(np.uint8))

    def _mark(self, hashes: np.ndarray) -> None:
        """Set the bits of sorted ``hashes``: their bytes come in order, so that the bits of one
        byte are or-ed together first (an or-assignment would keep one of them)."""
        byte, bit = self._bits_of(hashes)
        starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
        self._bitmap[byte[starts]] |= np.bitwise_or.reduceat(bit, starts)


def _yaml_line(key: str, value: Any) -> str:
    """``key: value`` on one line, both quoted as YAML needs. A key of over 1,000 characters
    (YAML allows an implicit key up to 1,024) is written explicitly: ``? key``, then ``: value``."""
    key_text, value_text = _yaml_flow(key), _yaml_flow(value)
    return f"? {key_text}\n: {value_text}" if len(key_text) > 1000 else f"{key_text}: {value_text}"


def _yaml_flow(value: Any) -> str:
    """``value`` as YAML on one line: a flow sequence of one item, unwrapped. (Each on its own:
    in ``{key: value}`` PyYAML writes a key of 128 characters or more as ``? key :``, which only
    a flow mapping can hold.)"""
    text = yaml.dump([value], Dumper=_OneLineDumper, sort_keys=False, allow_unicode=True, default_flow_style=True,
                     width=float("inf"))
    return text.strip()[1:-1]


class _OneLineDumper(yaml.SafeDumper):
    """Writes text holding a line break double-quoted, the break escaped (``"Due\\ndate"``):
    PyYAML would single-quote it over several lines (an Excel header typed with Alt+Enter)."""


_LINE_BREAKS = ("\n", "\r", "\x85", "\u2028", "\u2029")  # what YAML reads as a line break
_OneLineDumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style='"' if any(mark in text for mark in _LINE_BREAKS) else None))


# -- targets and types ------------------------------------------------------------------------


def parse_assignment(text: str, what: str) -> tuple[str, str]:
    """``"Ticket Title=title"`` -> ``("Ticket Title", "title")``; InputError when malformed."""
    name, sep, value = text.rpartition("=")
    if not sep or not name.strip() or not value.strip():
        raise InputError(f"{what} expects COLUMN=VALUE (e.g. \"Ticket Title=title\"), got {text!r}")
    return name.strip(), value.strip()


def normalise_name(header: str) -> str:
    """``"Due Date "`` -> ``"due_date"``; ``"Pays réel"`` -> ``"pays_reel"``; ``"Страна"`` -> ``"страна"``.

    Accents come off Latin letters only: in other scripts they make other letters (й is not и).
    """
    kept: list[str] = []
    for char in unicodedata.normalize("NFKD", str(header).strip().casefold()):
        if not (unicodedata.combining(char) and kept and kept[-1].isascii()):
            kept.append(char)
    text = unicodedata.normalize("NFC", "".join(kept))
    text = re.sub(r"[\s\-.]+", "_", text)
    text = re.sub(r"\W", "", text)
    return re.sub(r"_+", "_", text).strip("_")


def _infer_target(name: str, taken: set[str]) -> str:
    normal = normalise_name(name)
    if normal.startswith("fields_") and normal != "fields_":
        normal = normal[len("fields_"):]  # "fields.country", as an export writes it
        if normal in STANDARD and normal not in taken:
            return normal
        return _custom_target(normal, taken)
    target = ALIASES.get(normal)
    # The server sets created_at and the like: an export's column of that exact name is left
    # out; a "Created At" of the user's own (the old system's date) is data, kept as a field.
    if target == IGNORE and name in READ_ONLY or target not in (None, IGNORE) and target not in taken:
        return target
    return _custom_target(name, taken)


def _custom_target(name: str, taken: set[str]) -> str:
    base = "fields." + (normalise_name(name) or "column")
    target, number = base, 2
    # fields.title *is* the title: a second "Title" column must not take the first one's place.
    while target in taken or target.removeprefix("fields.") in STANDARD:
        target, number = f"{base}_{number}", number + 1
    return target


def _taken(columns: Iterable[Column]) -> set[str]:
    return {column.target for column in columns if column.target != IGNORE}


def _check_target(target: str, name: str) -> str:
    if target in (*STANDARD, "uid", *NATIVES, IGNORE):
        return target
    if target.startswith("fields."):  # ("fields." alone: the field whose key is "", which an export may hold)
        key = target[len("fields."):]
        return "title" if key == "title" else "url" if key == "url" else target
    if target in READ_ONLY:
        raise InputError(f"column {name!r}: {target} is set by the server and cannot be written", column=name)
    raise InputError(f"column {name!r}: unknown target {target!r}; use {_TARGET_HINT}", column=name)


def _check_type(type_name: str, name: str) -> str | None:
    if type_name == "auto":
        return None
    if type_name not in TYPES:
        raise InputError(f"column {name!r}: unknown type {type_name!r}; types: {', '.join(TYPES)}", column=name)
    return type_name


def _allowed_types(target: str) -> tuple[str | None, ...]:
    if target == "due_at":
        return (None, "date", "datetime")
    if target == "archived":
        return (None, "bool")
    if target in ("uid", "status", "assignee_email", *UID_NATIVES, *STANDARD):
        return (None, "str")
    return (None, *TYPES)


def _checked(column: Column, where: str) -> Column:
    if column.type not in _allowed_types(column.target):
        allowed = ", ".join(name for name in _allowed_types(column.target) if name)
        raise InputError(
            f"{where}: column {column.name!r} goes to {column.target}, which takes {allowed}, not {column.type}",
            column=column.name,
        )
    if (column.format is not None or column.timezone is not None) and column.kind not in DATE_KINDS:
        given = "format" if column.format is not None else "timezone"
        raise InputError(f"{where}: column {column.name!r}: a {given} is for dates, and this column is not one (give it"
                         f" type: date or datetime, or leave the {given} out)", column=column.name)
    if column.format is not None:
        try:
            datetime.strptime("", column.format)
        except ValueError as exc:
            if "directive" in str(exc) or "stray %" in str(exc):  # the mapping's fault, not every cell's
                raise InputError(f"{where}: column {column.name!r}: format {column.format!r}: {exc}", column=column.name) from None
        lacking = format_lacks(column.format)
        if lacking:
            raise InputError(f"{where}: column {column.name!r}: format {column.format!r} {lacking}", column=column.name)
    if column.timezone is not None:
        try:
            ZoneInfo(column.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError(f"{where}: column {column.name!r}: unknown time zone {column.timezone!r}", column=column.name) from None
    if column.values is not None and not isinstance(column.values, dict):
        raise InputError(f"{where}: column {column.name!r}: 'values' must map cell values to values", column=column.name)
    # A bad default or value-map target would otherwise show up as a bad cell on every row that
    # has it, blamed on the cell ("'Closed' is not a status") rather than on the mapping.
    if column.default is not None:
        _check_value(column, column.default, f"default {column.default!r}", where,
                     _apply_values(np.array([column.default], dtype=object), column.values) if column.values else None)
    for cell, value in (column.values or {}).items():
        if value is not None and value != "":  # (those make the cell an empty one)
            _check_value(column, value, f"value map {cell!r}: {value!r}", where)
    return column


def _check_value(column: Column, value: Any, what: str, where: str, cells: np.ndarray | None = None) -> None:
    """Refuse ``value`` (a default, or what a value map gives) if the column's type would."""
    _, failed = _CONVERTERS[column.kind](np.array([value], dtype=object) if cells is None else cells, column, True)
    if failed[0]:
        reason = date_reason(column) if column.kind in DATE_KINDS else _REASONS.get(column.kind)
        refused = reason(value).removesuffix(_VALUE_MAP_HINT) if reason else "invalid"  # the hint is for cells
        raise InputError(f"{where}: column {column.name!r}: {what}: {refused}", column=column.name)


def _column_from_yaml(name: str, spec: Any, source: str) -> Column:
    if isinstance(spec, str):
        return Column(name, _check_target(_target_text(spec), name))
    if not isinstance(spec, dict):
        raise InputError(f"{source}: column {name!r}: expected a target or {{target: ..., type: ...}}", column=name)
    unknown = [str(key) for key in spec if key not in SPEC_KEYS]
    if unknown:
        raise InputError(f"{source}: column {name!r}: unknown key {unknown[0]!r} (known: {', '.join(SPEC_KEYS)})", column=name)
    if "target" not in spec:
        raise InputError(f"{source}: column {name!r} has no target", column=name)
    column = Column(
        name,
        _check_target(_target_text(str(spec["target"])), name),
        type=None if spec.get("type") is None else _check_type(str(spec["type"]), name),
        values=spec.get("values"),
        format=None if spec.get("format") is None else str(spec["format"]),
        timezone=None if spec.get("timezone") is None else str(spec["timezone"]),
        default=spec.get("default"),
    )
    return _checked(column, source)


def _target_text(written: str) -> str:
    """A target without the space around it, but a field's key exactly as written: the target
    ``fields. Notes `` is the field `` Notes `` (a key an export found on the server)."""
    target = written.lstrip()
    return target if target.startswith("fields.") else target.strip()


def _flag(value: Any, what: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{source}: {what} must be true or false, not {value!r}")
    return value


def _choice(value: Any, allowed: tuple[str, ...], what: str, source: str) -> str:
    if value not in allowed:
        raise InputError(f"{source}: {what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _mapping_text(path: Path) -> str:
    """A mapping file's text: UTF-8, or UTF-16 with its BOM (what Notepad may save), as YAML allows."""
    raw = path.read_bytes()
    encoding = "utf-16" if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}: the mapping is not {encoding.upper().removesuffix('-SIG')} text (byte"
                         f" 0x{raw[exc.start]:02x} on line {line}): save it as UTF-8") from None


class _MappingLoader(yaml.SafeLoader):
    """YAML read as a mapping file means it. A key is the text written (a column name, a cell a
    value map matches: ``NULL``, ``01`` and ``1.50`` stay those texts, where YAML would make them
    null, 1 and 1.5, which no cell would match). Values have the scalars of YAML 1.2: true and
    false only (PyYAML follows YAML 1.1, where yes, no, on and off are booleans too), decimal
    ints without leading zeros (``0123`` is not the octal 83, ``1:20`` not the base-60 80, and
    ``007`` stays text), and floats without YAML 1.1's underscores and base 60."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        written: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.style is None and key_node.tag != "tag:yaml.org,2002:merge":
                key_node.tag = "tag:yaml.org,2002:str"
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in written:  # YAML keeps the last silently: which one was meant?
                    raise yaml.constructor.ConstructorError(None, None, f"the key {key_node.value!r} is given twice",
                                                            key_node.start_mark)
                written.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_YAML_1_1_ONLY = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_MappingLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in _YAML_1_1_ONLY]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_MappingLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_MappingLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_MappingLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+.0123456789"))


# -- cell conversion --------------------------------------------------------------------------

_BAD = object()  # a converter's "this cell is not valid"


def _convert_column(column: Column, raw: np.ndarray, render: bool, purpose: str, *, text_only: bool = False) -> _Converted:
    """Value map, default, then the column's kind; None for empty cells, ``bad`` for invalid ones.
    ``text_only``: the cells are text or None (a CSV's), so none is a float NaN."""
    if not render and _nothing_to_check(column, purpose) and column.kind == "str" and text_only:
        return _Converted(column, raw, raw, np.zeros(len(raw), dtype=bool), str)
    required = _required(column, purpose)
    cells = raw
    if column.values:  # first: a cell the map sends to None or "" is an empty one ({"n/a": ""})
        filled = np.flatnonzero(~_empty_cells(raw, text_only))
        cells = raw.copy()
        cells[filled] = _apply_values(raw[filled], column.values)
    empty = _empty_cells(cells, text_only and not column.values)
    # JSON Lines keeps a text of white space: a value of a text, but nothing for a number, a date or a title.
    spaces = np.zeros(len(cells), dtype=bool) if text_only else np.fromiter(
        (isinstance(cell, str) and cell.isspace() for cell in cells), dtype=bool, count=len(cells))
    if column.kind not in ("auto", "str"):
        empty |= spaces
    if column.default is not None and empty.any():
        cells = cells.copy()
        default = column.default
        cells[empty] = _apply_values(np.array([default], dtype=object), column.values)[0] if column.values else default
        empty = np.zeros(len(cells), dtype=bool)
    values = np.full(len(cells), None, dtype=object)
    bad = np.zeros(len(cells), dtype=bool)
    reason = _REASONS.get(column.kind, lambda value: "invalid")
    if column.kind in DATE_KINDS:
        reason = date_reason(column)
    if required:
        bad[empty | spaces] = True  # the readers made blank cells None
        reason = _either(_missing_reason(column), reason, column.values)
    present = np.flatnonzero(~empty)
    given = cells[present]
    broken = np.zeros(len(given), dtype=bool) if text_only else _broken_text(given)  # (a file's text decoded whole)
    if broken.any():
        bad[present[broken]] = True
        reason = _or_broken(reason)
        present, given = present[~broken], given[~broken]
    if not len(present) or not render and column.kind == "str" and not column.values and _all_text(given):
        return _Converted(column, raw, values, bad, reason)  # nothing else can be wrong with it
    converted, failed = _CONVERTERS[column.kind](given, column, render)
    bad[present[failed]] = True
    converted[failed] = None
    values[present] = converted
    return _Converted(column, raw, values, bad, reason)


def _empty_cells(cells: np.ndarray, text_only: bool = False) -> np.ndarray:
    """None, pd.NA, NaT and "". A float NaN is a value, and an invalid one: only JSON Lines
    can hold one here (the DataFrame reader has made a DataFrame's NaN None)."""
    if text_only:
        return pd.isna(cells) | (cells == "")
    empty = pd.isna(cells)
    if empty.any():
        where = np.flatnonzero(empty)
        empty[where[[isinstance(cell, float) for cell in cells[where]]]] = False
    empty[~empty] = cells[~empty] == ""  # pd.NA == "" would be NA, not False
    return empty


def _required(column: Column, purpose: str) -> bool:
    """Whether an empty cell makes the row invalid: a title, a comment's text, and the uid of a
    row that must name an existing task (an import makes a new row's uid from its cells)."""
    if purpose == "import":
        return column.target == "title"
    return column.target in (COMMENT, "uid")


def _missing_reason(column: Column) -> str:
    return {"title": "title is required", "uid": "the uid is empty: which task is it?"}.get(
        column.target, "the comment text is empty")


def _nothing_to_check(column: Column, purpose: str) -> bool:
    """Whether every cell of the column is valid, whatever it holds: text taken as it is."""
    return column.kind in ("auto", "str") and not (_required(column, purpose) or column.values or column.default is not None)


def _only_required(column: Column, purpose: str) -> bool:
    """Whether the only thing to check is that every cell holds something (a title)."""
    return column.kind in ("auto", "str") and _required(column, purpose) and not (column.values or column.default is not None)


_BROKEN_TEXT = "holds half of a character (a lone surrogate, such as an emoji cut in two): not valid text"


class _Flawed(Exception):
    """A ``FlawedCell`` met while writing cells as JSON."""


def _text_unless_flawed(value: Any) -> str:
    if isinstance(value, FlawedCell):
        raise _Flawed
    return str(value)


def _broken_text(cells: np.ndarray) -> np.ndarray:
    """Which cells hold text that is not valid Unicode (a lone surrogate, which JSON Lines and
    DataFrames can carry), which no UTF-8 request can send, or a reader's ``FlawedCell`` (an
    Excel error). Checked once for all the cells, then cell by cell only when that fails."""
    try:
        json.dumps(cells.tolist(), ensure_ascii=False, default=_text_unless_flawed).encode("utf-8")
    except (UnicodeEncodeError, _Flawed):
        return np.fromiter((_holds_broken(cell) for cell in cells), dtype=bool, count=len(cells))
    except (TypeError, ValueError):  # what JSON cannot hold at all: the type says so, later
        pass
    return np.zeros(len(cells), dtype=bool)


def _holds_broken(value: Any) -> bool:
    if isinstance(value, FlawedCell):
        return True
    try:
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (TypeError, ValueError):
        return False
    return False


def _or_broken(reason: Callable[[Any], str]) -> Callable[[Any], str]:
    def broken_reason(value: Any) -> str:
        if isinstance(value, FlawedCell):
            return value.reason
        return _BROKEN_TEXT if _holds_broken(value) else reason(value)
    return broken_reason


def _either(when_empty: str, otherwise: Callable[[Any], str], values: dict[Any, Any] | None = None) -> Callable[[Any], str]:
    """``when_empty`` for a cell that is empty, or that the value map ``values`` empties."""

    def reason(value: Any) -> str:
        if values and value is not None:
            value = _apply_values(np.array([value], dtype=object), values)[0]
        return when_empty if value is None or (isinstance(value, str) and not value.strip()) else otherwise(value)

    return reason


def _apply_values(cells: np.ndarray, values: dict[Any, Any]) -> np.ndarray:
    loose = {_loose(key): value for key, value in values.items()}
    # A number cell (Excel, a DataFrame) matches a key that reads as the same number: 1.5 the key "1.50".
    by_number = {number: value for key, value in values.items() if (number := _number_of(key)) is not None}
    out = np.empty(len(cells), dtype=object)
    for position, cell in enumerate(cells):
        try:
            if cell in values:
                out[position] = values[cell]
                continue
        except TypeError:  # an unhashable cell (a dict from JSON Lines) matches nothing
            out[position] = cell
            continue
        if by_number and isinstance(cell, (int, float, np.integer, np.floating)) and not isinstance(cell, (bool, np.bool_)):
            found = by_number.get(float(cell), _BAD)
            if found is not _BAD:
                out[position] = found
                continue
        out[position] = loose.get(_loose(cell), cell)
    return out


def _loose(cell: Any) -> str:
    """A value map's key or cell as they are matched: their text, trimmed, in any case, and in one
    Unicode form (a Mac writes "é" as e and its accent, two characters that look like the one)."""
    return unicodedata.normalize("NFC", _key_text(cell).strip().casefold())


def _number_of(key: Any) -> float | None:
    """The number a value map's key reads as (``"1.50"``, ``2``), or None."""
    number = _to_float(key, None)
    return None if number is _BAD else number


def _all_text(cells: np.ndarray) -> bool:
    return pd.api.types.infer_dtype(cells, skipna=False) == "string"


Converted = tuple[np.ndarray, np.ndarray]  # values, and which cells failed


def _each(function: Callable[[Any, Column], Any]) -> Callable[[np.ndarray, Column, bool], Converted]:
    """A per-cell converter applied to each distinct text once (a status column has three)."""

    def convert(cells: np.ndarray, column: Column, render: bool) -> Converted:
        if _all_text(cells):
            codes, uniques = pd.factorize(cells)
            values, failed = _apply(function, np.asarray(uniques, dtype=object), column)
            return values[codes], failed[codes]
        return _apply(function, cells, column)

    return convert


def _apply(function: Callable[[Any, Column], Any], cells: np.ndarray, column: Column) -> Converted:
    values = np.empty(len(cells), dtype=object)
    values[:] = [function(cell, column) for cell in cells]
    failed = np.fromiter((value is _BAD for value in values), dtype=bool, count=len(values))
    values[failed] = None
    return values, failed


def _fine(values: np.ndarray) -> Converted:
    return values, np.zeros(len(values), dtype=bool)


def _as_is(cells: np.ndarray, column: Column, render: bool) -> Converted:
    """Cells sent as they are; NaN, Infinity and what JSON has no value for are invalid."""
    kind = pd.api.types.infer_dtype(cells, skipna=False)
    if kind in ("string", "boolean") or kind == "integer" and _fit_64_bits(cells):
        return _fine(cells.copy())
    if kind == "floating":  # Python floats: a numpy long double has no JSON of its own
        numbers = cells.astype(float)
        return numbers.astype(object), ~np.isfinite(numbers)
    # Dates, mixed cells, cells JSON has no kind for: each is made ready, or found invalid (NaN
    # deep in a list, bytes, a date-time that is beyond the year 9999 once in UTC).
    return _apply(lambda cell, _: _json_ready(cell), cells, column)


def _to_str(cells: np.ndarray, column: Column, render: bool) -> Converted:
    if _all_text(cells):
        return _fine(cells.copy())
    return _apply(lambda cell, _: _text_of(cell), cells, column)


_TEXT_LIKE = (str, bool, int, float, Decimal, datetime, date, time, timedelta, UUID)


def _text_of(cell: Any) -> Any:
    """A cell as text, as a spreadsheet shows it (``12.0`` is ``"12"``, a date its ISO text);
    ``_BAD`` for NaN, Infinity and what has no text of its own (bytes, sets, lists, objects: their
    Python repr would be sent, and an object's changes on every run)."""
    if isinstance(cell, np.generic) and not isinstance(cell, (np.bytes_, np.void)):
        cell = cell.item()
        if isinstance(cell, np.floating):  # a long double stays one: as the float it prints as
            cell = float(cell)
    if not isinstance(cell, _TEXT_LIKE) or isinstance(cell, float) and not math.isfinite(cell):
        return _BAD
    if isinstance(cell, datetime) and cell.tzinfo is None:
        return _naive_text(cell)  # a midnight as its date, as untyped
    if isinstance(cell, ShownDigits):
        return str.__str__(cell)  # the text shown
    return _key_text(cell)


def _not_text(value: Any) -> str:
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} is not text (a title, url or str column takes text; a custom field takes it as JSON)"
    return _unsendable(value)


def _to_int(cell: Any, column: Column) -> Any:
    if isinstance(cell, str):
        text = cell.strip()
        return _int_text(text) if _INT_TEXT.fullmatch(text) else _BAD
    if isinstance(cell, bool):
        return _BAD
    if isinstance(cell, (int, np.integer)):
        return _in_range(int(cell))
    if isinstance(cell, Decimal):  # exactly, not through a float (2.9999999999999999 is not 3)
        return _in_range(int(cell)) if cell.is_finite() and cell == cell.to_integral_value() else _BAD
    if isinstance(cell, (float, np.floating)) and math.isfinite(cell) and float(cell).is_integer():
        return _in_range(int(cell))
    return _BAD


def _int_text(text: str) -> Any:
    """Digits as an int (zeros in front as they may be), or ``_BAD`` beyond 64 bits; past 4,000
    digits not even read (Python refuses 4,300)."""
    return _in_range(int(text)) if len(text) <= 4000 else _BAD


def _in_range(number: int) -> Any:
    """An int a 64-bit integer holds, as the API's integers are assumed to be; else ``_BAD``."""
    return number if -_INT_LIMIT <= number < _INT_LIMIT else _BAD


def _too_big_reason(noun: str, *, decimals: bool = False) -> Callable[[Any], str]:
    """``noun``'s reason, or for a whole number beyond 64 bits, that; with ``decimals``, for a
    Decimal a float cannot hold exactly, that."""
    def reason(value: Any) -> str:
        if isinstance(value, timedelta):
            return _DURATION_NOT_NUMBER
        if isinstance(value, str):
            digits = value.strip().lstrip("+-")
            whole = digits.isdigit() and digits.isascii()
        elif isinstance(value, (bool, np.bool_)):
            whole = False
        elif isinstance(value, (int, np.integer)):
            whole = True
        elif isinstance(value, Decimal):
            whole = value.is_finite() and value == value.to_integral_value()
        else:  # a float: whole when it has no fraction
            whole = isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer()
        if whole and not -_INT_LIMIT <= (int(value) if not isinstance(value, str) or len(value) <= 4000 else _INT_LIMIT) < _INT_LIMIT:
            return "a whole number beyond 64 bits (type the column str to keep its digits as text)"
        if decimals and isinstance(value, Decimal) and value.is_finite():  # a number, but a float would change it
            return _unsendable(value)
        return noun
    return reason


def _to_floats(cells: np.ndarray, column: Column, render: bool) -> Converted:
    """Text parsed by numpy in one go (it calls ``float`` on each, as :func:`_to_float` does);
    cell by cell when any cell is not text or does not parse."""
    if _all_text(cells) and "_" not in "".join(cells):
        try:
            numbers = cells.astype(float)
        except (TypeError, ValueError):
            pass
        else:
            failed = ~np.isfinite(numbers)
            values = numbers.astype(object)
            values[failed] = None
            return values, failed
    return _each(_to_float)(cells, column, render)


def _to_float(cell: Any, column: Column | None) -> Any:
    # Python's float reads "1_000"; no spreadsheet writes a number so (and int refuses it).
    if isinstance(cell, bool) or isinstance(cell, str) and "_" in cell:
        return _BAD
    try:
        number = float(cell.strip() if isinstance(cell, str) else cell)
    except (TypeError, ValueError):
        return _BAD
    return number if math.isfinite(number) else _BAD


def _to_number(cell: Any, column: Column) -> Any:
    """The number as written: ``"2"`` the int 2, ``"2.0"`` and ``"1.5"`` floats. A field that
    holds both kinds (an export writes such a column this type) then comes back exactly."""
    if isinstance(cell, str):
        text = cell.strip()
        return _int_text(text) if _INT_TEXT.fullmatch(text) else _to_float(text, column)
    if isinstance(cell, (int, np.integer)) and not isinstance(cell, (bool, np.bool_)):
        return _in_range(int(cell))
    if isinstance(cell, Decimal):
        number = _decimal_number(cell)
        return _in_range(number) if isinstance(number, int) else number
    return _to_float(cell, column)


def _to_bool(cell: Any, column: Column) -> Any:
    if isinstance(cell, (bool, np.bool_)):
        return bool(cell)
    word = cell.strip().casefold() if isinstance(cell, str) else _key_text(cell) if isinstance(cell, (int, float)) else None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return _BAD


def _to_json(cell: Any, column: Column) -> Any:
    if not isinstance(cell, str):
        return _json_ready(cell)
    try:
        return _json_ready(json.loads(cell, parse_constant=_refuse_constant))  # 1e400 reads as Infinity
    except ValueError:
        return _BAD


def _dicts(columns: list[tuple[str, list[Any], bool]], count: int) -> list[dict[str, Any]]:
    """``count`` dicts, the i-th of each column's i-th value under its key, in column order: an
    empty value (None) left out, unless its column keeps empty values (as null)."""
    if not columns:
        return [{} for _ in range(count)]
    keys = [key for key, _, _ in columns]
    cells = zip(*(values for _, values, _ in columns))
    # ``is None`` (map, not ``in``): a value's own == may not answer a plain bool.
    if not any(not keep_null and any(map(operator.is_, values, repeat(None))) for _, values, keep_null in columns):
        return [dict(zip(keys, row)) for row in cells]
    if any(keep_null for _, _, keep_null in columns):
        keeps = [keep_null for _, _, keep_null in columns]
        return [{key: value for key, value, keep in zip(keys, row, keeps) if keep or value is not None} for row in cells]
    return [{key: value for key, value in zip(keys, row) if value is not None} for row in cells]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _to_status(cell: Any, column: Column) -> Any:
    if not isinstance(cell, str):
        return _BAD
    status = cell.strip().upper()
    return status if status in STATUSES else _BAD


def _to_email(cell: Any, column: Column) -> Any:
    return cell.strip() if isinstance(cell, str) and "@" in cell else _BAD


def _to_uid(cell: Any, column: Column) -> Any:
    try:
        return normalize_uid(cell)
    except ValueError:
        return _BAD


def _json_ready(value: Any) -> Any:
    """``value`` as the JSON encoder takes it as meant (dates as ISO text, numpy as Python), or
    ``_BAD`` when it is or holds something JSON has no value for: NaN, Infinity, bytes, a set...
    (``str(value)`` would send ``"b'...'"``, or an address that changes on every run)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.datetime64):
        value = None if np.isnat(value) else pd.Timestamp(value)  # .item() of nanoseconds is an int
    elif isinstance(value, np.timedelta64):
        value = None if np.isnat(value) else pd.Timedelta(value)
    elif isinstance(value, np.floating):
        value = float(value)  # .item() of a long double is a long double
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, int):
        return _BAD if _huge(value) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else _BAD
    if isinstance(value, dict):  # what is inside is made ready too: a date in a dict is its ISO text
        if not all(isinstance(key, _JSON_KEYS) for key in value):
            return _BAD  # a tuple key, say: JSON keys are text (numbers and booleans become text)
        items = {key: _json_ready(item) for key, item in value.items()}
        return _BAD if any(item is _BAD for item in items.values()) else items
    if isinstance(value, (list, tuple)):
        ready = [_json_ready(item) for item in value]
        return _BAD if any(item is _BAD for item in ready) else ready
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            try:
                return utc_text(value)
            except OverflowError:
                return _BAD
        # Naive, untyped: as written (a typed column is read in its time zone). Sent this way since
        # the first version: rows without a key take their uid from it.
        return _naive_text(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _duration_text(value)
    if isinstance(value, Decimal):
        return _decimal_number(value)
    if isinstance(value, UUID):
        return str(value)
    return _BAD


_JSON_KEYS = (str, int, float, bool, type(None))


def _decimal_number(value: Decimal) -> Any:
    """A Decimal as the JSON number it equals: ``5`` an int, ``1.10`` the float 1.1; ``_BAD`` if
    a float would change it (JSON readers hold numbers as floats; such a column is text)."""
    if not value.is_finite():
        return _BAD
    if value.as_tuple().exponent >= 0:  # type: ignore[operator]  (finite: an int exponent)
        number = int(value)
        return _BAD if _huge(number) else number  # (1E+5000: no JSON writer takes its 5,001 digits)
    number = float(value)
    return number if Decimal(repr(number)) == value else _BAD


def _unsendable(value: Any) -> str:
    """Why ``_json_ready`` refused ``value``: the first thing in it that JSON has no value for."""
    if isinstance(value, dict):
        odd = next((key for key in value if not isinstance(key, _JSON_KEYS)), None)
        if odd is not None:
            return f"the key {odd!r} cannot be a JSON key (keys are text)"
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return next(_unsendable(item) for item in value if _json_ready(item) is _BAD)
    if isinstance(value, (float, np.floating)):
        return "not a finite number (NaN and Infinity cannot be sent as JSON)"
    if isinstance(value, int) and _huge(value):
        return "a whole number of more than 4,000 digits cannot be written as JSON (Python's limit)"
    if isinstance(value, Decimal) and value.is_finite():
        return f"the Decimal {value} has more digits than a JSON number keeps (make the column str)"
    if isinstance(value, (bytes, bytearray)):
        return "bytes cannot be sent as JSON (decode the column to text first)"
    if isinstance(value, datetime):
        return OUT_OF_RANGE
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name} cannot be sent as JSON (convert the column to text or numbers first)"


def _key_text(value: Any) -> str:
    """A cell as the text a key is made of: ``"00123"`` stays as written, ``123.0`` is ``"123"``."""
    if value is None or isinstance(value, FlawedCell):
        return ""
    if isinstance(value, ShownDigits):
        return str(value.number)  # the uid it made before formats were read (01234 shown, 1234 keyed)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()  # a midnight too, 2024-03-05T00:00:00: the uid keyed on it stays as it was
    if isinstance(value, timedelta):
        return _duration_text(value)
    if isinstance(value, int) and _huge(value):
        return f"0x{value:x}"  # its decimal digits are past Python's limit; hex has none
    return str(value)


_DURATION_NOT_NUMBER = "a duration, not a number (untyped or typed str, it is sent as the text 32:30:00)"


def _duration_text(value: timedelta) -> str:
    """A duration as a sheet shows it in the format [h]:mm:ss, ``32:30:00`` (Python writes
    ``1 day, 8:30:00``); with its microseconds when it has any."""
    whole, micro = divmod(abs(value) // timedelta(microseconds=1), 1_000_000)
    hours, seconds = divmod(whole, 3600)
    text = f"{'-' if value < timedelta(0) else ''}{hours}:{seconds // 60:02d}:{seconds % 60:02d}"
    return f"{text}.{micro:06d}" if micro else text


def _naive_text(value: datetime) -> str:
    """A date-time without a zone as its ISO text; at midnight, as the date it is (what a date
    cell of Excel holds, and what a CSV of it says). Sent so; a key keeps the full ISO text."""
    return value.date().isoformat() if value.time() == time() else value.isoformat()


def _fit_64_bits(cells: np.ndarray) -> bool:
    """Whether every int of ``cells`` fits 64 bits (else each is looked at: one may be ``_huge``)."""
    try:
        cells.astype(np.int64)
    except OverflowError:
        return False
    return True


def _huge(number: int) -> bool:
    """Whether Python refuses to write ``number`` in decimal (more than 4,300 digits by default)."""
    return abs(number) >= _HUGE_INT


def _sent_as_written(column: Column) -> bool:
    """Whether a column's text cells are sent as the text they are (two cells alike only if equal)."""
    return column.kind in ("auto", "str") and not column.values and column.default is None


def _holds(ordered: np.ndarray, number: int) -> bool:
    at = np.searchsorted(ordered, number)
    return bool(at < len(ordered) and ordered[at] == number)


def _lacking_key(key_texts: list[np.ndarray], rows: int) -> np.ndarray:
    lacking = np.zeros(rows, dtype=bool)
    for texts in key_texts:
        lacking |= texts == ""
    return lacking


def _cell_hashes(cells: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each cell (of what a uid is made from)."""
    try:
        return pd.util.hash_array(cells, categorize=False)
    except (TypeError, ValueError):  # dicts or lists in cells: hash their text
        return pd.util.hash_array(np.array([_hashed_text(cell) for cell in cells], dtype=object), categorize=False)


def _hashed_text(cell: Any) -> str:
    try:
        text = str(cell)
    except ValueError:  # it holds an int past Python's 4,300 digits: pickle writes any int
        return pickle.dumps(cell).hex()
    if isinstance(cell, str) and _holds_broken(cell):
        return ascii(cell)  # half a character cannot be hashed as UTF-8 (the row is invalid, saying so)
    return text


_EMPTY_CELL_HASH = np.uint64(0x9E3779B97F4A7C15)  # any constant: no text hashes to it but by chance


def _column_hashes(codes: np.ndarray | None, cells: np.ndarray) -> np.ndarray:
    """``_cell_hashes`` of a column as ``Chunk.column`` gives it: each distinct cell hashed once.

    An empty cell gets a hash of its own: pandas hashes None as the text "None" (and NaN as
    "nan"), which would make a row with an empty cell the duplicate of one that says "None".
    """
    hashes = _cell_hashes(cells)
    if pd.api.types.infer_dtype(cells, skipna=True).startswith("mixed"):
        # Text hashes "1" and 1, or "True" and True, alike: their types tell such rows apart.
        kinds = np.array([type(cell).__name__ for cell in cells], dtype=object)
        hashes = _combined([hashes, pd.util.hash_array(kinds, categorize=True)], len(cells))
    hashes[pd.isna(cells)] = _EMPTY_CELL_HASH
    return hashes if codes is None else hashes[codes]


def _sent_hashes(values: np.ndarray) -> np.ndarray:
    """A hash of each converted cell, alike for cells a row's payload holds alike: a number as
    the double it is (a whole float is its int, and ints past 2**53 that one double holds are
    alike: more alike than sent, which only costs a look), anything else as the JSON it is sent as."""
    hashes = np.full(len(values), _EMPTY_CELL_HASH, dtype=np.uint64)
    present = np.flatnonzero(pd.notna(values))
    given = values[present]
    if pd.api.types.infer_dtype(given, skipna=False) in ("integer", "floating", "mixed-integer-float"):
        numbers = np.ones(len(given), dtype=bool)
    else:
        numbers = np.fromiter((type(value) in (int, float) for value in given.tolist()), dtype=bool, count=len(given))
    with np.errstate(over="ignore"):
        try:
            doubles = given[numbers].astype(np.float64)
        except OverflowError:  # an int past the largest double: as its JSON, with the rest
            numbers[:] = False
            doubles = np.zeros(0)
    hashes[present[numbers]] = pd.util.hash_array(doubles)
    others = given[~numbers]
    hashes[present[~numbers]] = _cell_hashes(np.array([canonical_text(value) for value in others.tolist()], dtype=object))
    return hashes


def _combined(hashes: list[np.ndarray], rows: int) -> np.ndarray:
    """One hash per row from its columns' hashes (order matters; uint64 arithmetic wraps); with
    no column at all, every row is the same (empty) row."""
    if not hashes:
        return np.zeros(rows, dtype=np.uint64)
    combined = hashes[0]
    for more in hashes[1:]:
        combined = combined * np.uint64(1_000_003) ^ more
    return combined


def _key_texts(cells: np.ndarray, *, text_only: bool = False) -> np.ndarray:
    """Each cell's key text ("" when empty, or an Excel error); text cells are taken as written, for
    speed (a file's, ``text_only``, at once: no ``ShownDigits`` among them)."""
    missing = pd.isna(cells)
    # (A FlawedCell is no text: such a column takes the path cell by cell below; a ShownDigits is.)
    if _all_text(cells[~missing]) and (text_only or ShownDigits not in set(map(type, cells))):
        texts = cells.copy()
        texts[missing] = ""
        return texts
    texts = np.empty(len(cells), dtype=object)
    texts[:] = [_key_text(None if gone else cell) for cell, gone in zip(cells, missing)]
    return texts


_CONVERTERS: dict[str, Callable[[np.ndarray, Column, bool], Converted]] = {
    "auto": _as_is,
    "str": _to_str,
    "int": _each(_to_int),
    "float": _to_floats,
    "number": _each(_to_number),
    "bool": _each(_to_bool),
    "json": _each(_to_json),
    "date": to_moments,
    "datetime": to_moments,
    "due_date": to_moments,
    "status": _each(_to_status),
    "assignee_email": _each(_to_email),
    "uid": _each(_to_uid),
}

_VALUE_MAP_HINT = " (add a value map?)"
_REASONS: dict[str, Callable[[Any], str]] = {
    "str": _not_text,
    "int": _too_big_reason("not a whole number"),
    "float": lambda value: _DURATION_NOT_NUMBER if isinstance(value, timedelta) else "not a number",
    "number": _too_big_reason("not a number", decimals=True),
    "bool": lambda value: "not a yes/no value (true/false, yes/no, y/n, 1/0)",
    "json": lambda value: "not valid JSON (NaN and Infinity are not JSON either)" if isinstance(value, str) else _unsendable(value),
    "auto": _unsendable,
    "status": lambda value: f"status {value!r} is not one of {', '.join(STATUSES)}{_VALUE_MAP_HINT}",
    "assignee_email": lambda value: "not an email address",
    "uid": lambda value: "not a uid (32 hexadecimal digits)",
}
