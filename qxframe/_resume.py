"""Resumable pushes: skip what the journal says is done, and keep the journal current.

The runner uses a :class:`Resume` when a push has a journal (:mod:`qxframe._journal`):

- :meth:`Resume.split` looks each valid row up. A row that succeeded before comes back
  ``skipped`` with its earlier ids; a row whose outcome is unknown (it ended
  ``outcome_unknown``, or an earlier push was stopped while sending it) comes back
  ``failed``/``outcome_unknown`` again and is not sent; every other row is sent.
- :meth:`Resume.send` sends those rows in small units — one contact identity, one
  workflow event, one wave of ``concurrency`` transaction batches — and records each
  unit's outcomes as soon as it ends (committed in batches).
- :meth:`Resume.before_write` runs just before a write that cannot safely be repeated
  goes out (a transaction batch, a workflow trigger, a contact create into a directory
  that would not merge a second copy): it commits ``pending`` for the unit's rows, so a
  push killed mid-request leaves them ``pending``, which a resumed push reports as
  ``outcome_unknown`` instead of sending twice.

A transaction row is journaled only once its transaction outcome is known: a row that
failed while its contact was being looked up or created is sent again on resume (the
lookup then finds the contact).
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe import _results
from qxframe._journal import Entry, Journal, Key, row_digests
from qxframe._payloads import lookup_key

if TYPE_CHECKING:
    from qxframe._runner import Action, Push

#: the write that makes each action's rows land (``before_write`` kinds)
FINAL_WRITE = {"contacts": "contacts", "transactions": "transactions", "workflow": "workflows"}
UNKNOWN = "outcome_unknown"


@dataclass
class _Unit:
    rows: list[int]
    marked: bool = False


_UNIT: contextvars.ContextVar[_Unit | None] = contextvars.ContextVar("qxframe_unit", default=None)


class Resume:
    """One push's use of a journal (see the module docstring)."""

    def __init__(self, journal: Journal, action: Action) -> None:
        self.journal = journal
        self.action = action.name
        self.destination_fields = action.constants
        self.keys: dict[int, Key] = {}  # row → key, for the rows of this chunk being sent

    def split(self, valid: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(results of rows already done, rows to send)`` for one chunk's valid rows."""
        keys = self.journal.keys(row_digests(valid, self.destination_fields))
        found = self.journal.lookup(self.action, keys)
        self.keys = {}
        done: list[_results.Outcome] = []
        send: list[bool] = []
        for row, key in zip(valid["row"].to_list(), keys, strict=True):
            entry = found.get(key)
            if entry is None or (entry.status == "failed" and entry.error_code != UNKNOWN):
                self.keys[row] = key
                send.append(True)
            else:
                done.append(_from_entry(row, entry))
                send.append(False)
        return _results.from_outcomes(done), valid.filter(pl.Series(send, dtype=pl.Boolean))

    async def send(self, action: Action, valid: pl.DataFrame, push: Push) -> list[_results.Outcome]:
        """Send ``valid`` unit by unit, recording outcomes as units end."""
        from qxframe._runner import run_groups

        outcomes: list[_results.Outcome] = []

        async def run(indices: Sequence[int]) -> None:
            part = _rows(valid, indices)
            unit = _Unit(part["row"].to_list())
            token = _UNIT.set(unit)
            try:
                done = await action.send(part, push)
            except BaseException:
                if push.fatal is not None and unit.marked:  # refused token: nothing landed
                    self.journal.forget(self.action, [self.keys[r] for r in unit.rows])
                raise
            finally:
                _UNIT.reset(token)
            self._record(done)
            outcomes.extend(done)

        try:
            if self.action == "transactions":  # waves in order: one contact's rows stay in order
                for wave in _waves(valid.height, push.batch_size * push.concurrency):
                    await run(wave)
            else:  # the first unit alone, so that per-push lookups (directories) happen once
                units = _units(self.action, valid)
                await run(units[0])
                await run_groups(units[1:], run, push.concurrency)
        finally:
            self.journal.commit()
        return outcomes

    def before_write(self, kind: str, repeatable: bool) -> None:
        """Commit ``pending`` for the current unit before its first non-repeatable write."""
        unit = _UNIT.get()
        if kind != FINAL_WRITE[self.action] or repeatable or unit is None or unit.marked:
            return
        unit.marked = True
        self.journal.mark_pending(self.action, [(self.keys[r], r) for r in unit.rows])

    def _record(self, outcomes: list[_results.Outcome]) -> None:
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


def _rows(valid: pl.DataFrame, indices: Sequence[int]) -> pl.DataFrame:
    if isinstance(indices, range):
        return valid.slice(indices.start, len(indices))
    return valid.slice(indices[0], 1) if len(indices) == 1 else valid[list(indices)]


def _waves(height: int, size: int) -> list[range]:
    return [range(start, min(start + size, height)) for start in range(0, height, size)]


def _units(action: str, valid: pl.DataFrame) -> list[list[int]]:
    """Row positions per unit: contacts by identity (kept in order), workflows one by one."""
    if action != "contacts":
        return [[i] for i in range(valid.height)]
    columns = [c for c in ("directory_id", "ext_ref", "phone", "email") if c in valid.columns]
    groups: dict[Any, list[int]] = {}
    for i, row in enumerate(valid.select(columns).iter_rows(named=True)):
        key = lookup_key(row)
        groups.setdefault(("row", i) if key is None else (row.get("directory_id"), key), []).append(
            i
        )
    return list(groups.values())


def _from_entry(row: int, entry: Entry) -> _results.Outcome:
    if entry.status == "success":
        return _results.Outcome(
            row,
            "skipped",
            qualtrics_id=entry.qualtrics_id,
            contact_id=entry.contact_id,
            request_id=entry.request_id,
        )
    if entry.status == "pending":
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
        "failed",
        http_status=entry.http_status,
        contact_id=entry.contact_id,
        error_code=UNKNOWN,
        error_message=message,
        request_id=entry.request_id,
    )
