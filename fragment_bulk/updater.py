"""Bulk updates: each row names an existing task and the values to change (``PATCH /tasks/batch``).

Only the columns present and non-empty change (``fields`` merge key by key on the server). A row
whose task does not exist is rejected by the server with its index; the engine marks that row
failed ("task not found") and sends the rest of the batch again. A PATCH with the same values is
idempotent, so resuming after a crash simply sends unacknowledged rows again.
"""

from __future__ import annotations

from typing import Any

from fragment_bulk.checkpoint import Checkpoint, Outcome
from fragment_bulk.client import FragmentClient
from fragment_bulk.importer import Anchor, load_anchor, send_keyed


class UpdateWriter:
    """``PATCH /tasks/batch``; classifies each row as updated or unchanged against the anchor."""

    name = "update"
    journals_intent = False  # a PATCH with the same values is safe to send again

    def __init__(self) -> None:
        self.anchor: Anchor | None = None

    def prepare(self, client: FragmentClient, checkpoint: Checkpoint) -> None:
        self.anchor = load_anchor(client, checkpoint)

    def send(self, client: FragmentClient, rows: list[Any]) -> list[Outcome]:
        return send_keyed(client.update_tasks, rows, self._status)

    def _status(self, task: dict[str, Any]) -> str:
        if self.anchor is None or self.anchor.is_before(task.get("updated_at")) is not False:
            return "updated"
        return "unchanged"
