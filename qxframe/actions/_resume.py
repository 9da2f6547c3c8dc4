"""Resumable pushes: skip what the journal says is done, and keep the journal current.

The runner uses a :class:`Resume` when a push has a journal (:mod:`qxframe._journal`):

- :meth:`Resume.claim` first: a journal belongs to one push (action, destination,
  input: docs/architecture.md, "Journal and resume"); another push's journal is refused
  with a ``ConfigError`` naming both, never used to skip rows of another input.
- :meth:`Resume.split` looks each valid row up. A row that succeeded before comes back
  ``skipped`` with its earlier ids; a row whose outcome is unknown (it ended
  ``outcome_unknown``, or an earlier push was stopped while sending it) comes back
  ``failed``/``outcome_unknown`` again and is not sent; every other row is sent.
- The runner tells it of each write that must not be sent twice just before
  it goes out (:meth:`Resume.sending`: a transaction batch, a workflow trigger, a contact
  create into a directory that would not merge a second copy) and commits ``pending`` for
  its rows, so a push killed mid-request leaves them ``pending``, which a resumed push
  reports as ``outcome_unknown`` instead of sending twice, and of every outcome as it is
  reported (:meth:`Resume.record`, committed in batches).

Which rows are sent again follows :func:`qxframe._results.worth_sending_again`, the rule
``qx.rows_to_retry`` and ``qxframe retry`` use too: a transaction row that failed while
its contact was being looked up or created is ``failed`` with that step's reason (never
``outcome_unknown``), so it is sent again (the lookup then finds the contact); such a
row is not even journaled, as if never tried.

A row left ``pending`` inside a remote job whose creation the journal recorded
(:meth:`Resume.remember`) is not reported ``outcome_unknown``: :meth:`Resume.split` hands
it to be sent with that job in :data:`~qxframe.actions._action.JOB_COLUMN`, and the action
follows the job instead of sending the row again (for import jobs:
:mod:`qxframe.actions._import_job`), so a push killed while jobs run neither creates a job
twice for the same rows nor loses their outcomes. Such a row that ends ``outcome_unknown``
(its job stalled, or answered a status qxframe does not know) keeps its ``pending`` mark
and its job: the next push with the journal follows the job again.

Which outcomes are kept is the journal's rule and the action's: an action may name
outcomes not to keep (``Action.not_journaled``: a row whose own write never left).
"""

from __future__ import annotations

import operator
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

import polars as pl

from qxframe import _inputs, _results
from qxframe._journal import (
    OUTCOME_COLUMNS,
    PENDING,
    Entry,
    Identity,
    ImportRow,
    Journal,
    Key,
    row_digests,
)
from qxframe._results import OUTCOME_UNKNOWN, Status
from qxframe.actions._action import JOB_COLUMN, Action

_VALUES = operator.attrgetter(*OUTCOME_COLUMNS)


class Resume:
    """One push's use of a journal (see the module docstring)."""

    def __init__(self, journal: Journal, action: Action) -> None:
        self.journal = journal
        self.action = action.name
        self.destination_fields = action.constants
        self.not_journaled = action.not_journaled
        self.keys: dict[int, Key] = {}  # row → key, for the rows of this chunk being sent
        self.in_jobs: set[int] = set()  # rows of this chunk pending in a recorded job
        self.changed = False  # the input file changed since the last push (see claim)

    def claim(self, source: Any, constants: Mapping[str, Any]) -> None:
        """Refuse the journal of another push (``ConfigError``); else tie it to this one."""
        identity = Identity.of(self.action, dict(constants), _inputs.identity(source))
        self.changed = self.journal.claim(identity, _inputs.stamp(source))

    def split(self, valid: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(results of rows already done, rows to send)`` for one chunk's valid rows; a
        row left pending in a recorded job is sent with it in ``JOB_COLUMN``."""
        keys = self.journal.keys(row_digests(valid, self.destination_fields))
        found = self.journal.lookup(self.action, keys)
        pending = [k for k in keys if k in found and found[k].status == PENDING]
        jobs = self.journal.import_rows(self.action, pending) if self.journal.writable else {}
        self.keys, self.in_jobs = {}, set()
        done: list[_results.Outcome] = []
        send: list[bool] = []
        recorded: list[dict[str, Any] | None] = []
        for row, key in zip(valid["row"].to_list(), keys, strict=True):
            entry = found.get(key)
            job = jobs.get(key) if entry is not None and entry.status == PENDING else None
            if entry is None or job is not None or _worth_sending(entry):
                self.keys[row] = key
                if job is not None:
                    self.in_jobs.add(row)
                send.append(True)
                recorded.append(None if job is None else asdict(job))
            else:
                done.append(_from_entry(row, entry))
                send.append(False)
        to_send = valid.filter(pl.Series(send, dtype=pl.Boolean))
        if any(job is not None for job in recorded):
            to_send = to_send.with_columns(pl.Series(JOB_COLUMN, recorded))
        return _results.from_outcomes(done), to_send

    def sending(self, rows: Sequence[int]) -> None:
        """Commit ``pending`` for ``rows`` before a write that must not be repeated."""
        self.journal.mark_pending(self.action, [(self.keys[r], r) for r in rows])

    def remember(self, rows: Sequence[int], job: ImportRow, unprocessed: Collection[int]) -> None:
        """Record (and commit) the remote job ``rows`` went out in, in their order."""
        items = [
            (self.keys[r], replace(job, source_index=i, unprocessed=i in unprocessed))
            for i, r in enumerate(rows)
        ]
        self.journal.record_jobs(self.action, items)
        self.in_jobs.update(rows)

    def forget(self, rows: Sequence[int]) -> None:
        """Nothing of ``rows``' write landed: forget their ``pending`` marks."""
        self.journal.forget(self.action, [self.keys[r] for r in rows])

    def record(self, outcomes: Sequence[_results.Outcome] | pl.DataFrame) -> None:
        """Record outcomes (committed in batches; :meth:`flush` commits the rest); an
        ``outcome_unknown`` of a row pending in a recorded job is not: it stays pending."""
        outcomes = self._still_in_jobs(outcomes)
        if isinstance(outcomes, pl.DataFrame):
            if self.not_journaled is None:
                values = outcomes.select(OUTCOME_COLUMNS).iter_rows()
                self.journal.record(self.action, ((self.keys[v[-1]], v) for v in values))
                return
            outcomes = [_results.Outcome(**r) for r in outcomes.iter_rows(named=True)]
        skip = self.not_journaled
        keep = [o for o in outcomes if skip is None or not skip(o)]
        self.journal.record(self.action, [(self.keys[o.row], _VALUES(o)) for o in keep])
        if len(keep) < len(outcomes):
            drop = [self.keys[o.row] for o in outcomes if skip is not None and skip(o)]
            self.journal.forget(self.action, drop)

    def _still_in_jobs(
        self, outcomes: Sequence[_results.Outcome] | pl.DataFrame
    ) -> Sequence[_results.Outcome] | pl.DataFrame:
        """``outcomes`` less the ``outcome_unknown`` ones of rows pending in a recorded job."""
        if not self.in_jobs:
            return outcomes
        if isinstance(outcomes, pl.DataFrame):
            waiting = pl.col("row").is_in(list(self.in_jobs)) & (
                pl.col("error_code") == OUTCOME_UNKNOWN
            )
            return outcomes.filter(~waiting.fill_null(False))
        return [
            o for o in outcomes if not (o.row in self.in_jobs and o.error_code == OUTCOME_UNKNOWN)
        ]

    def flush(self) -> None:
        """Commit what is recorded (end of a chunk, or the push stopping)."""
        self.journal.commit()


def _worth_sending(entry: Entry) -> bool:
    return _results.worth_sending_again(entry.status, entry.error_code)


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
