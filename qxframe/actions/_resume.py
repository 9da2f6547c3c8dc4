"""Resumable pushes: skip what the journal says is done, and keep the journal current.

The runner uses a :class:`Resume` when a push has a journal (:mod:`qxframe._journal`):

- :meth:`Resume.claim` first: a journal belongs to one push (action, destination,
  input: docs/architecture.md, "Journal and resume"); another push's journal is refused
  with a ``ConfigError`` naming both, never used to skip rows of another input.
- :meth:`Resume.split` looks each valid row up. A row that succeeded before comes back
  ``skipped`` with its earlier ids; a row whose outcome is unknown (it ended
  ``outcome_unknown``, or an earlier push was stopped while sending it) comes back
  ``failed``/``outcome_unknown`` again and is not sent; every other row is sent.
- As the push's watcher, it hears of each write that must not be sent twice just before
  it goes out (:meth:`Resume.sending`: a transaction batch, a workflow trigger, a contact
  create into a directory that would not merge a second copy) and commits ``pending`` for
  its rows, so a push killed mid-request leaves them ``pending``, which a resumed push
  reports as ``outcome_unknown`` instead of sending twice. It hears of every outcome as it
  settles (:meth:`Resume.settled`) and records it (committed in batches).

Which rows are sent again follows :func:`qxframe._results.worth_sending_again`, the rule
``qx.rows_to_retry`` and ``qxframe retry`` use too: a transaction row that failed while
its contact was being looked up or created is ``failed`` with that step's reason (never
``outcome_unknown``), so it is sent again (the lookup then finds the contact); such a
row is not even journaled, as if never tried.

A row left ``pending`` inside an import job whose creation the journal recorded
(:meth:`Resume.job_created`) is not reported ``outcome_unknown``: a resumed push follows
that job and reads its report (:meth:`Resume.follow`), so a push killed while jobs run
neither creates a job twice for the same rows nor loses their outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe import _inputs, _results
from qxframe._journal import PENDING, Entry, Identity, ImportRow, Journal, Key, row_digests
from qxframe._results import OUTCOME_UNKNOWN, Status

if TYPE_CHECKING:
    from qxframe.actions._pipeline import Action, Push


class Resume:
    """One push's use of a journal (see the module docstring)."""

    def __init__(self, journal: Journal, action: Action) -> None:
        self.journal = journal
        self.action = action.name
        self.destination_fields = action.constants
        self.keys: dict[int, Key] = {}  # row → key, for the rows of this chunk being sent
        self.changed = False  # the input file changed since the last push (see claim)
        self.to_follow: dict[int, ImportRow] = {}  # row → the import job it went out in

    def claim(self, source: Any, constants: Mapping[str, Any]) -> None:
        """Refuse the journal of another push (``ConfigError``); else tie it to this one."""
        identity = Identity.of(self.action, dict(constants), _inputs.identity(source))
        self.changed = self.journal.claim(identity, _inputs.stamp(source))

    def split(self, valid: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(results of rows already done, rows to send)`` for one chunk's valid rows."""
        keys = self.journal.keys(row_digests(valid, self.destination_fields))
        found = self.journal.lookup(self.action, keys)
        pending = [k for k in keys if k in found and found[k].status == PENDING]
        jobs = self.journal.import_rows(self.action, pending) if self.journal.writable else {}
        self.keys, self.to_follow = {}, {}
        done: list[_results.Outcome] = []
        send: list[bool] = []
        for row, key in zip(valid["row"].to_list(), keys, strict=True):
            entry = found.get(key)
            if entry is None or _results.worth_sending_again(entry.status, entry.error_code):
                self.keys[row] = key
                send.append(True)
            elif entry.status == PENDING and key in jobs:
                self.keys[row], self.to_follow[row] = key, jobs[key]
                send.append(False)
            else:
                done.append(_from_entry(row, entry))
                send.append(False)
        return _results.from_outcomes(done), valid.filter(pl.Series(send, dtype=pl.Boolean))

    def sending(self, rows: Sequence[int]) -> None:
        """Commit ``pending`` for ``rows`` before a write that must not be repeated."""
        self.journal.mark_pending(self.action, [(self.keys[r], r) for r in rows])

    def job_created(self, rows: Sequence[int], job: ImportRow, unprocessed: set[int]) -> None:
        """Record (and commit) the import job ``rows`` went out in, in their order."""
        items = [
            (self.keys[r], replace(job, source_index=i, unprocessed=i in unprocessed))
            for i, r in enumerate(rows)
        ]
        self.journal.record_jobs(self.action, items)

    async def follow(self, push: Push) -> pl.DataFrame:
        """The outcomes of this chunk's rows left pending in recorded import jobs, read from
        the jobs' reports (rows that succeeded come back ``skipped`` with their ids)."""
        if not self.to_follow:
            return _results.empty()
        from qxframe.actions._import_resume import follow_recorded

        results = await follow_recorded(push, self.to_follow)
        self.to_follow = {}
        push.settle([_results.Outcome(**r) for r in results.iter_rows(named=True)])
        landed = pl.col("status") == Status.SUCCESS
        return results.with_columns(
            status=pl.when(landed).then(pl.lit(Status.SKIPPED)).otherwise(pl.col("status")),
            http_status=pl.when(landed).then(None).otherwise(pl.col("http_status")),
        )

    def refused(self, rows: Sequence[int]) -> None:
        """The token was refused: nothing landed, so forget the ``pending`` marks."""
        self.journal.forget(self.action, [self.keys[r] for r in rows])

    def settled(self, outcomes: Sequence[_results.Outcome]) -> None:
        self._record(outcomes)

    def flush(self) -> None:
        """Commit what is recorded (end of a chunk, or the push stopping)."""
        self.journal.commit()

    def _record(self, outcomes: Sequence[_results.Outcome]) -> None:
        keep: list[tuple[Key, Any]] = []
        drop: list[Key] = []
        for outcome in outcomes:
            key = self.keys[outcome.row]
            if self.action == "transactions" and outcome.contact_id is None:
                drop.append(key)  # failed before its transaction was sent: safe to redo
            else:
                keep.append((key, outcome))
        self.journal.record(self.action, keep)
        self.journal.forget(self.action, drop)


def _from_entry(row: int, entry: Entry) -> _results.Outcome:
    if entry.status == Status.SUCCESS:
        return _results.Outcome(
            row,
            Status.SKIPPED,
            qualtrics_id=entry.qualtrics_id,
            contact_id=entry.contact_id,
            request_id=entry.request_id,
        )
    if entry.status == PENDING:
        message = (
            "An earlier push with this journal was stopped while this row was being sent, so "
            "it may have landed; it was not sent again. Check in Qualtrics, and push it "
            "without this journal if it is missing."
        )
    else:
        message = (
            f"{entry.error_message or 'Its outcome is unknown.'} (Recorded by an earlier push "
            "with this journal; not sent again.)"
        )
    return _results.Outcome(
        row,
        Status.FAILED,
        http_status=entry.http_status,
        contact_id=entry.contact_id,
        error_code=OUTCOME_UNKNOWN,
        error_message=message,
        request_id=entry.request_id,
    )
