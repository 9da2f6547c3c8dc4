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
"""

from __future__ import annotations

import asyncio
from typing import Any

import polars as pl

from qxframe._payloads import lookup_key
from qxframe._results import Status
from qxframe.actions import _imports
from qxframe.actions._action import Context
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
    needs = pl.col("contact_id").is_null() if "contact_id" in valid.columns else pl.lit(True)
    key = pl.struct(_key_exprs(valid))
    if imports.method == "auto":  # too few identities: decided without reading the directory
        wanted = valid.lazy().filter(needs).select(key.n_unique()).collect().item()
        if wanted < _imports.AUTO_MIN_ROWS:
            return none
    framed = await _imports.with_merges(ctx, imports.directories, valid)
    decided = framed.with_columns(
        (needs & pl.col("_merges") & _imports.importable(valid)).first().over(key).alias("_via"),
        key.alias("_key"),
    ).with_columns(pl.col("_via") & needs)
    identities = decided.filter(pl.col("_via"))["_key"].n_unique()
    if identities == 0 or (imports.method == "auto" and identities < _imports.AUTO_MIN_ROWS):
        return none
    return decided["_via"].alias("via_import")


async def resolve_by_import(
    ctx: Context, imports: Imports, known: Lookups, valid: pl.DataFrame, via: pl.Series
) -> None:
    """Import the first row of each identity ``via`` marks; put the contact ids (or the
    reasons) in the push's lookup cache, where the search path would have put them."""
    chosen = valid.filter(via)
    if chosen.height == 0:
        return
    key = pl.struct(_key_exprs(chosen)).alias("_key")
    firsts = chosen.with_columns(key).unique("_key", keep="first", maintain_order=True)
    cache = known.cache
    rows = {  # identities an earlier chunk resolved are not imported again
        row["row"]: row
        for row in firsts.drop("_key").iter_rows(named=True)
        if (row["directory_id"], lookup_key(row)) not in cache
    }
    firsts = firsts.drop("_key").filter(pl.col("row").is_in(list(rows)))
    if firsts.height == 0:
        return
    results = await _imports.send_imports(ctx, imports, _imports.with_bodies(firsts), report=False)
    for result in results.iter_rows(named=True):
        row = rows[result["row"]]
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(_resolution(result))
        cache[(row["directory_id"], lookup_key(row))] = done


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
