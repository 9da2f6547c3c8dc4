"""The ``trigger_workflow`` action: one ``POST <workflow url>`` per row, concurrently.

The URL is checked twice before the token goes out: by validation (an invalid row) and by
the client itself (:meth:`Client.check_workflow_url`). A trigger is never re-sent after a
500 or a timeout: a second event would start the workflow twice. With ``correlate=True``
each event carries the push's ``qx_run`` and its ``qx_row`` (:func:`workflow_body`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import polars as pl

from qxframe import _results
from qxframe._payloads import workflow_bodies, workflow_body
from qxframe.actions._pipeline import Action, Push, rows_of, run_groups
from qxframe.exceptions import QxError


async def send(valid: pl.DataFrame, push: Push) -> list[_results.Outcome]:
    outcomes: list[_results.Outcome] = []

    async def trigger(row: dict[str, Any]) -> None:
        body = workflow_body(row, push.run_id)
        post = partial(push.api.atrigger_workflow, row["workflow_url"], body)
        answer = await push.call(post, risky_rows=[row["row"]])
        if isinstance(answer, QxError):
            outcome = _results.failed(row["row"], answer)
        else:
            outcome = _results.succeeded(row["row"], answer)
        outcomes.append(outcome)
        push.settle([outcome])

    await run_groups(list(rows_of(valid)), trigger, push.concurrency)
    return outcomes


def dry_run(valid: pl.DataFrame, push: Push) -> pl.DataFrame:
    return _results.from_dry_run(valid["row"], workflow_bodies(valid, push.run_id))


WORKFLOW = Action(name="workflow", send=send, dry_run=dry_run)
