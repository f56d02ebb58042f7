"""Bulk comments: one ``POST /tasks/{uid}/comments`` per row, exactly once even across crashes.

A POST is not idempotent, and the API has no batch endpoint for comments, so each row is one
request (the engine runs ``concurrency`` of them at a time under the shared throttle).

Exactly once: the engine journals each row as ``pending`` before sending it. A comment whose
outcome is unknown (a lost answer now, or a row left pending by a crashed run) is never posted
blindly: the task's comments are listed first, and a comment with the same text, created since
the job started and not already claimed by another row of the job, is taken as this row's.
Only when none is found is the comment posted again.

Limit: the server's clock and ours are compared with a tolerance (``CLOCK_SKEW``); an identical
comment posted by someone else (or by another job) on the same task during the job, or in the
``CLOCK_SKEW`` before it began, would be taken for ours, and ours not posted.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from fragment_bulk.checkpoint import Checkpoint, Outcome
from fragment_bulk.client import FragmentClient
from fragment_bulk.errors import (ApiError, AuthError, NotFoundError, ProtocolError, RateLimited, RequestRejected,
                                  ServerError, TransportError)
from fragment_bulk.claims import Claims
from fragment_bulk.importer import MAX_POSTS, UNKNOWN, parse_time

COMMENT_KEY = "comment"  # where the mapping puts the comment's text in a row's payload
CLOCK_SKEW = timedelta(minutes=2)


class CommentWriter:
    """Posts one comment per row; checks the task's comments before any re-send."""

    name = "comment"
    journals_intent = True

    def __init__(self) -> None:
        self.since = datetime.min.replace(tzinfo=timezone.utc)
        self.maybe_posted: set[int] = set()
        self._claimed = Claims()

    def prepare(self, client: FragmentClient, checkpoint: Checkpoint, targets: frozenset[str]) -> None:
        job = checkpoint.job()
        started = parse_time(job.get("started"))
        if started is not None:
            self.since = started - CLOCK_SKEW
        self.maybe_posted = checkpoint.pending() | checkpoint.ordinals("failed", error_prefix=UNKNOWN)
        self._claimed = Claims(checkpoint.acknowledged_uids())

    def send(self, client: FragmentClient, rows: list[Any]) -> list[Outcome]:
        return [self._post(client, row) for row in rows]

    def _post(self, client: FragmentClient, row: Any) -> Outcome:
        text = row.payload[COMMENT_KEY]
        try:
            if row.ordinal in self.maybe_posted:
                found = self._check(client, row, text)
                if found:
                    return found
            for _ in range(MAX_POSTS):
                try:
                    comment = client.add_comment(row.uid, text)
                except (TransportError, ServerError) as exc:
                    if not exc.may_have_committed:
                        raise
                    found = self._check(client, row, text, timed_out=getattr(exc, "timed_out", False))
                    if found:
                        return found
                    continue
                if not (isinstance(comment, dict) and isinstance(comment.get("uid"), str)):
                    # Written, most likely, but unsaid: looked up, never posted again blindly.
                    return self._check(client, row, text) or Outcome(
                        row.ordinal, "failed", None, f"{UNKNOWN}: the server answered without the comment's uid,"
                        " and it is not listed")
                self._claimed.take(comment["uid"])
                return Outcome(row.ordinal, "created", comment["uid"])
        except NotFoundError:
            return Outcome(row.ordinal, "failed", None, f"task {row.uid} not found")
        except RequestRejected as rejected:
            return Outcome(row.ordinal, "failed", None, f"rejected by the server: {rejected}")
        return Outcome(row.ordinal, "failed", None, f"{UNKNOWN}: no answer after {MAX_POSTS} posts and the comment is not listed")

    def _check(self, client: FragmentClient, row: Any, text: str, *, timed_out: bool = False) -> Outcome | None:
        """The row's outcome if its comment may be on the server: "created" when it is listed, an
        unknown outcome (never posted again) when the list cannot be read; None to post again.

        After a timeout the server may still be writing the comment: it is given as long again
        as the client waited before the comments are listed a second time.
        """
        try:
            found = self._find(client, row.uid, text)
            if found is None and timed_out:
                client.throttle.sleep(client.settings.timeout)
                found = self._find(client, row.uid, text)
        # (A 401 stops the run, a 404 for a task that is not there means no comment either, and
        # a 429 past the retry budget stops the run: those go on up as they are. A 405, or a 404
        # for a task that is there: a server that cannot list comments.)
        except (ApiError, TransportError, ProtocolError) as exc:
            if isinstance(exc, (AuthError, RateLimited)) or isinstance(exc, NotFoundError) and not _exists(client, row.uid):
                raise
            return Outcome(row.ordinal, "failed", None, f"{UNKNOWN}: it may have been posted, and the task's comments"
                                                       f" could not be listed to tell ({exc}); check before re-sending")
        return Outcome(row.ordinal, "created", found) if found else None

    def _find(self, client: FragmentClient, task_uid: str, text: str) -> str | None:
        """The uid of an unclaimed comment with ``text`` on the task since the job began."""
        for comment in client.iter_comments(task_uid):
            created = parse_time(comment.get("created_at"))
            if comment.get("text") != text or (created is not None and created < self.since):
                continue
            if self._claimed.take(comment["uid"]):
                return comment["uid"]
        return None


def _exists(client: FragmentClient, task_uid: str) -> bool:
    try:
        client.get_task(task_uid)
    except NotFoundError:
        return False
    return True
