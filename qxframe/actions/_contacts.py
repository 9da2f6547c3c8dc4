"""The ``upsert_contacts`` action: one ``POST /directories/{id}/contacts`` per row.

Rows of one identity (the same lookup key) are sent one after the other in input order;
different identities go out concurrently. A create is marked repeatable — retried after
a 500 or a timeout — only when the directory deduplicates and the row carries a value for
every deduplication field, so that Qualtrics would merge a second copy
(docs/architecture.md, "Delivery"; the directory's settings: :mod:`qxframe.actions._dedup`).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import polars as pl

from qxframe import _results
from qxframe._payloads import contact_bodies, contact_body, lookup_key
from qxframe.actions import _import_job, _imports
from qxframe.actions._action import (
    JOB_COLUMN,
    Action,
    Answer,
    Context,
    all_of,
    outcome_of,
    rows_of,
    run_groups,
)
from qxframe.actions._dedup import Directories, merges
from qxframe.actions._imports import Imports
from qxframe.exceptions import ConfigError, OutcomeUnknownError, QxError


def group_by_identity(rows: list[dict[str, Any]], key: Any) -> list[list[dict[str, Any]]]:
    """Rows grouped by ``key(row)``, groups in order of first appearance, rows in input order."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        identity = key(row)
        groups.setdefault(("row", row["row"]) if identity is None else identity, []).append(row)
    return list(groups.values())


def _identity(row: dict[str, Any]) -> Any:
    key = lookup_key(row)
    return None if key is None else (row.get("directory_id"), key)


async def create_contact(
    ctx: Context, known: Directories, row: dict[str, Any], *, lands_row: bool
) -> Answer:
    """Create (or, in a deduplicating directory, merge) the contact described by ``row``,
    in the row's mailing list when it names one (a member of the list and the directory).

    The row's own create (``lands_row``) first asks whether a second copy would merge, so
    a 500 can be retried and the journal hears of a create that must not be repeated. A
    transaction's lookup create asks only when a 500 or a timeout left its outcome unknown
    (no directory read otherwise), and then sends it again if a second copy would merge.
    """
    body = contact_body(row)
    where = (row["directory_id"], row["mailing_list_id"]) if row.get("mailing_list_id") else None

    async def attempt(repeatable: bool) -> Answer:
        if where is not None:  # created in the list too (docs/qualtrics-api.md §7)
            create = partial(ctx.api.acreate_list_contact, *where, body, repeatable=repeatable)
        else:
            create = partial(
                ctx.api.acreate_contact, row["directory_id"], body, repeatable=repeatable
            )
        risky = [row["row"]] if lands_row and not repeatable else []
        return await ctx.call(create, risky_rows=risky)

    if lands_row:
        return await attempt(await merges(ctx, known, row))
    first = await attempt(False)
    if isinstance(first, OutcomeUnknownError) and await merges(ctx, known, row):
        again = await attempt(True)
        spent = first.attempts + again.attempts
        if isinstance(again, QxError):
            again.attempts = spent
            return again
        return replace(again, attempts=spent)
    return first


async def send(valid: pl.DataFrame, ctx: Context) -> None:
    """Send each row through the per-row endpoint, or import jobs (``method=``, see
    :mod:`qxframe.actions._imports`); rows an import cannot carry go per row in the same
    push. Rows an earlier push left in a recorded import job: that job is followed."""
    imports: Imports = ctx.state
    if imports.method == "import" and "mailing_list_id" not in valid.columns:
        raise ConfigError(
            'method="import" needs a mailing list: pass mailing_list_id="CG_…" or map a '
            'mailing_list_id column (import jobs add contacts to a list), or use method="api".'
        )
    if JOB_COLUMN in valid.columns:
        earlier = pl.col(JOB_COLUMN).is_not_null()
        await _import_job.resume(ctx, valid.filter(earlier), timeout=imports.import_timeout)
        valid = valid.filter(~earlier).drop(JOB_COLUMN)
    if ctx.client is None or not _imports.use_import(ctx, imports, valid):
        return await send_rows(valid, ctx)
    framed = _imports.with_bodies(valid)
    to_import = framed.select(_imports.importable(valid) & ~_imports.oversized(framed))
    if to_import.to_series().all():  # the usual case: nothing to filter, no copy made
        imported, by_row = framed, valid.clear()
    else:
        imported = framed.filter(to_import.to_series())
        by_row = valid.filter(~to_import.to_series())
    sending = _imports.send_imports(ctx, imports, imported)
    del framed, imported  # held by the jobs alone: each job's bodies go once it is created
    await all_of(sending, send_rows(by_row, ctx))


async def send_rows(valid: pl.DataFrame, ctx: Context) -> None:
    """One create per row; rows of one identity one after the other, in input order."""
    imports: Imports = ctx.state

    async def upsert(group: list[dict[str, Any]]) -> None:
        for row in group:
            answer = await create_contact(ctx, imports.directories, row, lands_row=True)
            ctx.report([outcome_of(row["row"], answer, id_member="id")])

    groups = group_by_identity(list(rows_of(valid)), _identity)
    await run_groups(groups, upsert, ctx.concurrency)


def identities(valid: pl.DataFrame) -> pl.Series:
    """Who each row is, as one hash (``ext_ref`` and ``email``, as import waves tell people
    apart; the per-row path's key, which adds ``phone``, is finer): rows of one person in
    chunks sent side by side keep their order (:mod:`qxframe.actions._flight`)."""
    keys = _imports.identity(valid)
    if not keys:
        return pl.Series("identity", [0] * valid.height, pl.UInt64)  # one person to order
    return valid.select(pl.struct(keys).hash().alias("identity")).to_series()


def dry_run(valid: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Each row's body: the same contact object whether it goes alone or in an import job."""
    return _results.from_dry_run(valid["row"], contact_bodies(valid))


CONTACTS = Action(
    name="contacts",
    send=send,
    dry_run=dry_run,
    start=Imports.from_options,
    identities=identities,
)
