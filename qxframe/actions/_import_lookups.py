"""Transactions' identities resolved through import jobs instead of one search each.

This module owns that choice and its use (docs/architecture.md, "Mailing lists and
import jobs"). A transaction row without ``contact_id`` is normally resolved by a
directory search (then a create when nothing matches). When the directory deduplicates
on fields the identity's first row carries — and the row has no ``phone``, which an
import cannot carry — importing that row's contact into the transaction's mailing list
gives the same contact (Qualtrics merges it into the one it matches, or creates it), and
the report's ``contactId`` replaces the search: tens of import calls for a million
transactions instead of one search per person. ``method="import"`` takes this path for
every identity that qualifies; ``"auto"`` only when a chunk holds at least 1,000 of
them; ``"api"`` never. A dry run shows the path in its ``payload`` (``contactLookup``).

Jobs are filled across chunks (:func:`_filled`): a chunk's last job, partial, takes the
new people of the next chunks (``ctx.ahead``: up to ``LOOK_AHEAD`` chunks, the second
only while the first's all fitted), whose contact ids then wait in the lookup cache for
their own chunk; a person of a later chunk never gets a job of their own here, so each
chunk makes at most the jobs its own people need, and 50,000 people take 5 jobs, not one
partial job per chunk. Their transactions, and so their rows' outcomes, stay with their
chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import polars as pl

from qxframe._payloads import lookup_key
from qxframe._results import Status
from qxframe.actions import _imports
from qxframe.actions._action import LOOK_AHEAD, Context
from qxframe.actions._import_job import ImportJob
from qxframe.actions._imports import Imports
from qxframe.actions._lookups import Lookups, Resolution
from qxframe.exceptions import QxError

#: The ``payload`` member a dry run adds to a transaction whose contact comes from a lookup.
LOOKUP_MEMBER = "contactLookup"


def _key_exprs(frame: pl.DataFrame) -> list[pl.Expr]:
    """The lookup key (ext_ref, phone, email) column-wise: trimmed, e-mail lower-cased,
    ``""`` as absent (as :func:`qxframe._payloads.lookup_key`)."""
    exprs = [pl.col("directory_id")]
    for name in ("ext_ref", "phone", "email"):
        if name in frame.columns:
            text = pl.col(name).cast(pl.String).str.strip_chars()
            text = text.str.to_lowercase() if name == "email" else text
            exprs.append(pl.when(text == "").then(None).otherwise(text).alias(name))
    return exprs


async def by_import(ctx: Context, imports: Imports, valid: pl.DataFrame) -> pl.Series:
    """For each row of ``valid``: whether its contact is resolved through an import job."""
    none = pl.Series("via_import", [False] * valid.height, dtype=pl.Boolean)
    if imports.method == "api" or ctx.client is None or valid.height == 0:
        return none
    if imports.method == "auto":  # too few identities: decided without reading the directory
        wanted = valid.lazy().filter(_needs(valid)).select(_key(valid).n_unique())
        if wanted.collect().item() < _imports.AUTO_MIN_ROWS:
            return none
    decided = await _decided(ctx, imports, valid)
    identities = decided.filter(pl.col("_via"))["_key"].n_unique()
    if identities == 0 or (imports.method == "auto" and identities < _imports.AUTO_MIN_ROWS):
        return none
    return decided["_via"].alias("via_import")


def _needs(frame: pl.DataFrame) -> pl.Expr:
    """Rows whose contact comes from a lookup (no ``contact_id``)."""
    return pl.col("contact_id").is_null() if "contact_id" in frame.columns else pl.lit(True)


def _key(frame: pl.DataFrame) -> pl.Expr:
    return pl.struct(_key_exprs(frame))


async def _decided(ctx: Context, imports: Imports, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``_via`` (its identity's first row qualifies: needs a lookup, its
    directory merges it, an import can carry it) and ``_key``, ``_merges``."""
    needs, key = _needs(frame), _key(frame)
    framed = await _imports.with_merges(ctx, imports.directories, frame)
    return framed.with_columns(
        (needs & pl.col("_merges") & _imports.importable(frame)).first().over(key).alias("_via"),
        key.alias("_key"),
    ).with_columns(pl.col("_via") & needs)


async def resolve_by_import(
    ctx: Context, imports: Imports, known: Lookups, valid: pl.DataFrame, via: pl.Series
) -> None:
    """Import the first row of each identity ``via`` marks; put the contact ids (or the
    reasons) in the push's lookup cache, where the search path would have put them.

    The last job of a chunk is filled with the new people of the next chunks (:func:`_filled`),
    whose contacts then come from the cache when their chunk is sent.
    """
    chosen = valid.filter(via)
    if chosen.height == 0:
        return
    own = _firsts(chosen, known)
    if own.height == 0:
        return
    own = await _imports.with_merges(ctx, imports.directories, _imports.with_bodies(own))
    planned, rows = await _filled(ctx, imports, known, valid, own)
    keys = {row["row"]: (row["directory_id"], lookup_key(row)) for row in _identities(rows)}
    results = await _imports.run_waves(ctx, imports, planned, report=False)
    cache = known.cache
    for result in results.iter_rows(named=True):
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(_resolution(result))
        cache[keys[result["row"]]] = done


def _firsts(chosen: pl.DataFrame, known: Lookups) -> pl.DataFrame:
    """The first row of each identity of ``chosen``, but those already in the lookup cache
    (an earlier chunk resolved them: they are not imported again)."""
    firsts = chosen.with_columns(_key(chosen).alias("_key")).unique(
        "_key", keep="first", maintain_order=True
    )
    firsts = firsts.drop("_key", *(c for c in ("_via", "_merges") if c in firsts.columns))
    cache = known.cache
    fresh = [(row["directory_id"], lookup_key(row)) not in cache for row in _identities(firsts)]
    return firsts.filter(pl.Series(fresh, dtype=pl.Boolean))


_IDENTITY = ("ext_ref", "phone", "email")


def _identities(frame: pl.DataFrame) -> Iterator[dict[str, Any]]:
    """Each row's ``row``, ``directory_id`` and identity values (for its cache key)."""
    names = ["row", "directory_id", *(c for c in _IDENTITY if c in frame.columns)]
    return frame.select(names).iter_rows(named=True)


async def _filled(
    ctx: Context, imports: Imports, known: Lookups, valid: pl.DataFrame, own: pl.DataFrame
) -> tuple[list[list[ImportJob]], pl.DataFrame]:
    """The jobs that import ``own`` (the identities of this chunk, ``valid``), their last
    ones filled with people of the next chunks (``ctx.ahead``).

    Jobs are cut per chunk; without this the last job of every chunk goes out partial (8
    jobs where 5 would do for 50,000 people in 4 chunks). A person of a later chunk only
    joins a job this chunk makes anyway, never one of their own, so no chunk makes more
    jobs than its own people need, and a person imported early is found in the cache
    when their chunk comes. The next chunk is read first; the one after it only while
    every new person of the first fitted (at most ``LOOK_AHEAD`` chunks are held).
    Returned with the rows they may hold.
    """
    last: int = valid.select(pl.col("row").max()).item()
    planned, rows = _imports.plan_waves(own), own
    if not any(job.rows.len() < _imports.MAX_CONTACTS for jobs in planned for job in jobs):
        return planned, rows  # every job is full: nothing to fill
    for count in range(1, LOOK_AHEAD + 1):
        following = ctx.ahead(count)
        if following is None:
            break
        more = await _newcomers(ctx, imports, known, valid, following)
        if more.height == 0:
            continue
        rows = pl.concat([own, more], how="diagonal_relaxed")
        planned = _imports.plan_waves(rows, last_own=last)
        taken = sum(int((job.rows > last).sum()) for jobs in planned for job in jobs)
        if taken < more.height:  # the jobs are full (or a newcomer fits none of them)
            break
    return planned, rows


async def _newcomers(
    ctx: Context, imports: Imports, known: Lookups, valid: pl.DataFrame, following: pl.DataFrame
) -> pl.DataFrame:
    """The first rows of the people of ``following`` (the next chunks' rows) an import
    would resolve there, with bodies and ``_merges``: not in the cache, and sharing no
    ``ext_ref``, ``phone`` or e-mail with a lookup of ``valid``. That person (or one who
    may be the same under another key: searched here for a phone, say) is resolved with
    this chunk, first; imported early, their later row's values would be written before
    the earlier row's."""
    if following.height == 0:
        return following
    decided = await _decided(ctx, imports, following)
    chosen = decided.filter(pl.col("_via")).drop("_via", "_merges", "_key")
    if chosen.height == 0:
        return chosen
    here = valid.filter(_needs(valid)).select(_key_exprs(valid))
    theirs = chosen.select("row", *_key_exprs(chosen))  # normalised as the lookup key
    for name in (c for c in _IDENTITY if c in here.columns and c in theirs.columns):
        taken = here.select("directory_id", name).drop_nulls().unique()
        theirs = theirs.join(taken, on=["directory_id", name], how="anti")
    chosen = chosen.filter(pl.col("row").is_in(theirs["row"].implode()))
    firsts = _firsts(chosen, known)
    if firsts.height == 0:
        return firsts
    return await _imports.with_merges(ctx, imports.directories, _imports.with_bodies(firsts))


def _resolution(result: dict[str, Any]) -> Resolution:
    if result["status"] == Status.SUCCESS:
        return Resolution(result["qualtrics_id"], result["attempts"])
    error = QxError(
        result["error_message"] or "The contact could not be imported.",
        http_status=result["http_status"],
        error_code=result["error_code"],
        request_id=result["request_id"],
        attempts=result["attempts"],
    )
    return Resolution(None, result["attempts"], error)


def mark_payloads(payloads: pl.Series, needs_lookup: pl.Series, via: pl.Series) -> pl.Series:
    """Dry-run payloads with ``"contactLookup": "import" | "search"`` first, where the
    contact would come from a lookup (the member is not sent: it stands for ``contactId``)."""
    frame = pl.DataFrame({"p": payloads, "n": needs_lookup, "v": via})
    how = pl.when(pl.col("v")).then(pl.lit("import")).otherwise(pl.lit("search"))
    marked = pl.concat_str(
        pl.lit('{"' + LOOKUP_MEMBER + '":"'), how, pl.lit('",'), pl.col("p").str.slice(1)
    )
    out = frame.select(pl.when(pl.col("n")).then(marked).otherwise(pl.col("p")).alias("payload"))
    return out["payload"]
