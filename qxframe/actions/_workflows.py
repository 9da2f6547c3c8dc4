"""The ``trigger_workflow`` action: one ``POST <workflow url>`` per row, concurrently.

The URL is checked twice before the token goes out: by validation (an invalid row) and by
the client itself (:meth:`Client.check_workflow_url`). A trigger is never re-sent after a
500 or a timeout: a second event would start the workflow twice. With ``correlate=True``
each event carries the push's ``qx_run`` and its ``qx_row`` (:func:`workflow_body`), added
when the body is built, after the journal's fingerprint of the row.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import polars as pl

from qxframe import _results
from qxframe._payloads import workflow_bodies, workflow_body
from qxframe.actions._action import Action, Context, outcome_of, rows_of, run_groups


@dataclass(frozen=True)
class Workflows:
    """What one push of events keeps: its run id when ``correlate=True``, else ``None``."""

    run_id: str | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Workflows:
        return cls(run_id(datetime.now(UTC)) if options.get("correlate") else None)


def run_id(started: datetime) -> str:
    """The id of one push (``correlate=True``): its start, UTC, then six random hex digits,
    so a person can tell runs apart and find one by its time.

    >>> run_id(datetime(2026, 12, 7, 4, 58, 12, tzinfo=UTC))[:17]
    '20261207T045812Z-'
    """
    return f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _run_id(ctx: Context) -> str | None:
    return ctx.state.run_id if isinstance(ctx.state, Workflows) else None


async def send(valid: pl.DataFrame, ctx: Context) -> None:
    run = _run_id(ctx)

    async def trigger(row: dict[str, Any]) -> None:
        body = workflow_body(row, run)
        post = partial(ctx.api.atrigger_workflow, row["workflow_url"], body)
        answer = await ctx.call(post, risky_rows=[row["row"]])
        ctx.report([outcome_of(row["row"], answer)])

    await run_groups(list(rows_of(valid)), trigger, ctx.concurrency)


def dry_run(valid: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    return _results.from_dry_run(valid["row"], workflow_bodies(valid, _run_id(ctx)))


WORKFLOW = Action(name="workflow", send=send, dry_run=dry_run, start=Workflows.from_options)
