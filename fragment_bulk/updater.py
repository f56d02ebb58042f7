"""Bulk updates: each row names an existing task and the values to change (``PATCH /tasks/batch``).

Only the columns present and non-empty change (``fields`` merge key by key on the server, as the
contract assumes; a server whose PATCH replaces ``fields`` is found before any row is sent, see
:func:`check_patch_merges`, since there an update would delete every field it does not name). A row
whose task does not exist is rejected by the server with its index; the engine marks that row
failed ("task not found") and sends the rest of the batch again. A PATCH with the same values is
idempotent, so resuming after a crash simply sends unacknowledged rows again.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from fragment_bulk.checkpoint import Checkpoint, Outcome
from fragment_bulk.client import MAX_PAGE_SIZE, FragmentClient
from fragment_bulk.errors import FragmentBulkError, NotFoundError, ProtocolError, RequestRejected
from fragment_bulk.importer import Anchor, load_anchor, send_keyed

MERGES_KEY = "patch_merges_fields"  # in the checkpoint's job: the server was seen to merge a PATCH's fields
PROBE_KEY = "patch_probe"  # in the checkpoint's job while the probe runs: the task it sends, as it was


class UpdateWriter:
    """``PATCH /tasks/batch``; classifies each row as updated or unchanged against the anchor."""

    name = "update"
    journals_intent = False  # a PATCH with the same values is safe to send again
    carried_over_restart = (PROBE_KEY,)  # a task a stopped probe stripped is put back by any later run

    def __init__(self) -> None:
        self.anchor: Anchor | None = None

    def prepare(self, client: FragmentClient, checkpoint: Checkpoint, targets: frozenset[str]) -> None:
        # A probe that a run stopped in the middle (a kill, Ctrl-C) may have stripped its task: put it back.
        interrupted = checkpoint.job().get(PROBE_KEY)
        if interrupted:
            _put_back(client, json.loads(interrupted))
            checkpoint.set(PROBE_KEY, "")
        # The probe first: a server that stamps even a no-op PATCH must not count it as this job's.
        # An update of natives alone (a status) sends no fields: how PATCH treats them is moot.
        if writes_fields(targets) and not checkpoint.job().get(MERGES_KEY):
            journal = lambda task: checkpoint.set(PROBE_KEY, json.dumps(task) if task else "")  # noqa: E731
            if check_patch_merges(client, journal):
                checkpoint.set(MERGES_KEY, "yes")
        self.anchor = load_anchor(client, checkpoint)

    def send(self, client: FragmentClient, rows: list[Any]) -> list[Outcome]:
        return send_keyed(client.update_tasks, rows, self._status, secret=client.settings.require_token())

    def _status(self, task: dict[str, Any]) -> str:
        if self.anchor is None or self.anchor.is_before(task.get("updated_at")) is not False:
            return "updated"
        return "unchanged"


def _put_back(client: FragmentClient, probe: dict[str, Any]) -> None:
    """The task a stopped run's probe sent, as it was: only if the probe left it stripped (its
    fields are the one field sent); not if it is gone, nor if it changed since (an edit is kept)."""
    try:
        current = client.get_task(probe["uid"])
    except NotFoundError:
        return
    kept = probe.get("kept")
    stripped = {kept: probe["fields"][kept]} if kept in probe["fields"] else {} if kept is None else None
    if isinstance(current, dict) and stripped is not None and current.get("fields") == stripped:
        client.patch_task(probe["uid"], {"fields": probe["fields"]})


def writes_fields(targets: frozenset[str]) -> bool:
    """Whether rows mapped to ``targets`` send ``fields`` (title and url are fields too)."""
    return any(target in ("title", "url") or target.startswith("fields.") for target in targets)


def check_patch_merges(client: FragmentClient,
                       journal: Callable[[dict[str, Any] | None], None] = lambda task: None) -> bool:
    """Whether the server's PATCH merges ``fields`` (False: nothing to tell it by); raises
    ``ProtocolError`` if it replaces them.

    A task holding two fields or more is sent one of them, as it is: merged, that changes nothing;
    replacing, it deletes the others, which are then put back at once (the task keeps a new
    ``updated_at``). Where every task holds one field (a title), one is sent no field at all
    (``{}``), which a merge leaves as it is and a replace empties. A server that refuses the probe,
    or holds no task with fields among its first hundred, tells nothing. ``journal`` is given the
    task (uid, fields, and the field kept, None for none) before it is sent, and None once it is
    as it was, so that a run stopped in between can put it back.
    """
    first = [task for task in itertools.islice(client.iter_tasks({}), MAX_PAGE_SIZE) if isinstance(task, dict)
             and isinstance(task.get("uid"), str) and isinstance(task.get("fields"), dict) and task["fields"]]
    task = next((task for task in first if len(task["fields"]) >= 2), first[0] if first else None)
    if task is None:
        return False
    kept_key = next(iter(task["fields"])) if len(task["fields"]) >= 2 else None
    journal({"uid": task["uid"], "fields": task["fields"], "kept": kept_key})
    try:
        answered = client.patch_task(task["uid"], {"fields": {} if kept_key is None else {kept_key: task["fields"][kept_key]}})
    except RequestRejected:
        journal(None)
        return False
    kept = answered.get("fields") if isinstance(answered, dict) else None
    if not isinstance(kept, dict) or not set(task["fields"]) - set(kept):
        journal(None)
        return isinstance(kept, dict)
    try:
        client.patch_task(task["uid"], {"fields": task["fields"]})
        journal(None)
    except FragmentBulkError as exc:
        raise ProtocolError(
            f"this server's PATCH replaces a task's fields instead of merging them, and task {task['uid']} could not be"
            f" put back as it was ({exc}): its fields were {json.dumps(task['fields'], ensure_ascii=False)}") from exc
    raise ProtocolError(
        f"this server's PATCH replaces a task's fields instead of merging them (seen on task {task['uid']}, put"
        " back as it was): an update would delete every field its rows do not name. Send whole tasks instead:"
        " export them, edit the file, and import it (an upsert)")
