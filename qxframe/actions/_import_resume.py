"""Resuming import jobs: rows a killed push left pending inside a job it had created.

This module owns reading such jobs back (docs/architecture.md, "Journal and resume"): the
journal knows, for each pending row, the job it went out in and its index there
(:class:`qxframe._journal.ImportRow`). The job is followed to completion and its report
read, exactly as for a job this push created, and mapped back to the rows (the caller
reports a row that was imported as ``skipped``: it landed in the earlier run). A job that
can no longer be read leaves its rows ``outcome_unknown``. Nothing is ever created again
for these rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

import polars as pl

from qxframe import _results
from qxframe._journal import ImportRow
from qxframe.actions import _imports
from qxframe.delivery._envelope import Reply
from qxframe.exceptions import QxError

if TYPE_CHECKING:
    from qxframe.actions._pipeline import Push

_EARLIER = Reply(202, {}, None, 0)  # the create was answered in the earlier run


async def follow_recorded(push: Push, rows: Mapping[int, ImportRow]) -> pl.DataFrame:
    """The outcomes of ``rows`` (input position → its job), read from their jobs' reports."""
    by_job: dict[str, list[tuple[int, ImportRow]]] = {}
    for row, where in rows.items():
        by_job.setdefault(where.import_id, []).append((row, where))
    parts = await asyncio.gather(*(_one_job(push, members) for members in by_job.values()))
    return _results.assemble(parts)


async def _one_job(push: Push, members: list[tuple[int, ImportRow]]) -> pl.DataFrame:
    members.sort(key=lambda item: item[1].source_index)
    first = members[0][1]
    job = _imports.Job(
        first.directory_id,
        first.mailing_list_id,
        pl.Series([row for row, _ in members], dtype=pl.Int64),
        pl.Series([""] * len(members), dtype=pl.String),
        merges=False,
        settle=False,
        indexes=pl.Series([w.source_index for _, w in members], dtype=pl.Int64),
    )
    unprocessed: list[object] = [w.source_index for _, w in members if w.unprocessed]
    try:
        await _imports.wait_complete(push, job, first.import_id)
        entries = await _imports.read_report(push, job.directory_id, first.import_id)
    except QxError as error:
        return _imports.lost(job, _EARLIER, first.import_id, error, 0)
    return _imports.map_report(job, _EARLIER, entries, unprocessed, 0)
