"""The ``trigger_workflow`` action: one ``POST <workflow url>`` per row, concurrently.

The URL is checked twice before the token goes out: by validation (an invalid row) and by
the client itself (:meth:`Client.check_workflow_url`). A trigger is never re-sent after a
500 or a timeout: a second event would start the workflow twice.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import polars as pl

from qxframe import _results
from qxframe._payloads import workflow_bodies, workflow_body
from qxframe.actions._action import Action, Context, outcome_of, rows_of, run_groups


async def send(valid: pl.DataFrame, ctx: Context) -> None:
    async def trigger(row: dict[str, Any]) -> None:
        post = partial(ctx.api.atrigger_workflow, row["workflow_url"], workflow_body(row))
        answer = await ctx.call(post, risky_rows=[row["row"]])
        ctx.report([outcome_of(row["row"], answer)])

    await run_groups(list(rows_of(valid)), trigger, ctx.concurrency)


def dry_run(valid: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    return _results.from_dry_run(valid["row"], workflow_bodies(valid))


WORKFLOW = Action(name="workflow", send=send, dry_run=dry_run)
