"""The ``upsert_transactions`` action: find or create each contact, then batch transactions.

1. Rows without ``contact_id`` are resolved by lookup key first: by search
   (:mod:`qxframe.actions._lookups`) or, where the directory deduplicates on an identity's
   fields, by import jobs (:mod:`qxframe.actions._import_lookups`).
2. Resolved rows go out ``batch_size`` per request, under keys ``r<row>`` that map back to
   rows, in input order. A batch waits for the earlier batches that hold one of its
   contacts, so one contact's transactions land in input order. A 413, or a 400 refusing
   a many-row batch whole, splits the batch in halves down to single rows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import polars as pl

from qxframe import _results
from qxframe._payloads import lookup_key, transaction_entries, transaction_entry
from qxframe._results import Status
from qxframe.actions import _import_lookups
from qxframe.actions._lookups import lookup_failed, overlapping, resolve, resolve_in_turn
from qxframe.actions._pipeline import Action, Push, rows_of, run_groups
from qxframe.delivery._envelope import Reply
from qxframe.exceptions import (
    BadRequestError,
    OutcomeUnknownError,
    PayloadTooLargeError,
    QxError,
)


@dataclass
class Batch:
    directory_id: str
    items: list[tuple[dict[str, Any], str, int]] = field(
        default_factory=list
    )  # row, contact, attempts
    after: set[int] = field(default_factory=set)  # batches that must be answered first


# -- batches ---------------------------------------------------------------------------


def plan(ready: list[tuple[dict[str, Any], str, int]], batch_size: int) -> list[Batch]:
    """Batches per directory in input order, each knowing which earlier batches share a contact."""
    batches: list[Batch] = []
    open_batch: dict[str, int] = {}
    last_holding: dict[str, int] = {}
    for item in ready:
        directory_id, contact_id = item[0]["directory_id"], item[1]
        index = open_batch.get(directory_id)
        if index is None or len(batches[index].items) >= batch_size:
            index = open_batch[directory_id] = len(batches)
            batches.append(Batch(directory_id))
        batch = batches[index]
        batch.items.append(item)
        previous = last_holding.get(contact_id)
        if previous is not None and previous != index:
            batch.after.add(previous)
        last_holding[contact_id] = index
    return batches


async def send_batch(push: Push, batch: Batch, spent: int = 0) -> list[_results.Outcome]:
    """Send one batch; split it in halves on 413, or on a 400 refusing it whole.

    A 400 means nothing was processed, so the halves cannot duplicate (docs/architecture.md,
    "What is sent"). When both halves of a refused batch go through, its size is remembered
    for the push and later batches that large are split before they are sent. ``spent``:
    attempts already spent on these rows.
    """
    refused = push.caches.transactions_refused_size
    if refused is not None and len(batch.items) >= refused > 1:
        return await _halves(push, batch, spent)
    body = {
        f"r{row['row']}": transaction_entry(
            row, contact_id=contact_id, default_date=push.default_date
        )
        for row, contact_id, _ in batch.items
    }
    rows = [row["row"] for row, _, _ in batch.items]
    post = partial(push.api.acreate_transactions, batch.directory_id, body)
    answer = await push.call(post, risky_rows=rows)
    if isinstance(answer, PayloadTooLargeError | BadRequestError) and len(batch.items) > 1:
        outcomes = await _halves(push, batch, spent + answer.attempts)
        if isinstance(answer, BadRequestError) and all(o.http_status != 400 for o in outcomes):
            push.caches.transactions_refused_size = min(refused or len(rows), len(rows))
        return outcomes
    return [
        _outcome(row, contact_id, attempts + spent, answer)
        for row, contact_id, attempts in batch.items
    ]


async def _halves(push: Push, batch: Batch, spent: int) -> list[_results.Outcome]:
    half = len(batch.items) // 2
    first = await send_batch(push, Batch(batch.directory_id, batch.items[:half]), spent)
    return first + await send_batch(push, Batch(batch.directory_id, batch.items[half:]), spent)


def _outcome(
    row: dict[str, Any], contact_id: str, attempts: int, answer: Reply | QxError
) -> _results.Outcome:
    if isinstance(answer, QxError):
        return _results.failed(
            row["row"], answer, contact_id=contact_id, attempts=attempts + answer.attempts
        )
    key = f"r{row['row']}"
    result = answer.result or {}
    common: dict[str, Any] = {
        "http_status": answer.status,
        "contact_id": contact_id,
        "request_id": answer.request_id,
        "attempts": attempts + answer.attempts,
    }
    created = (result.get("createdTransactions") or {}).get(key)
    if created is not None:
        return _results.Outcome(
            row["row"], Status.SUCCESS, qualtrics_id=created.get("id"), **common
        )
    refused = (result.get("unprocessedTransactions") or {}).get(key)
    if refused is not None:
        reason = refused.get("errorMessage") or refused.get("error") or "no reason given"
        return _results.Outcome(
            row["row"],
            Status.FAILED,
            error_code=refused.get("error") or "unprocessed_transaction",
            error_message=f"Qualtrics did not add this transaction: {reason}",
            **common,
        )
    unknown = OutcomeUnknownError(
        "Qualtrics' answer does not mention this transaction, so it may or may not have been "
        "added; check the contact's transactions in Qualtrics before sending it again."
    )
    return _results.Outcome(
        row["row"],
        Status.FAILED,
        error_code=unknown.error_code,
        error_message=unknown.message,
        **common,
    )


# -- the action ------------------------------------------------------------------------


async def send(valid: pl.DataFrame, push: Push) -> list[_results.Outcome]:
    via_import = await _import_lookups.by_import(push, valid)
    await _import_lookups.resolve_by_import(push, valid, via_import)  # fills the lookup cache
    rows = list(rows_of(valid))
    to_resolve: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if row.get("contact_id") is None:
            to_resolve.setdefault((row["directory_id"], lookup_key(row)), row)
    groups = overlapping(list(to_resolve.values()))  # keys that may be one person: in turn
    await run_groups(groups, partial(resolve_in_turn, push), push.concurrency)

    outcomes: list[_results.Outcome] = []
    ready: list[tuple[dict[str, Any], str, int]] = []
    for row in rows:
        if row.get("contact_id") is not None:
            ready.append((row, row["contact_id"], 0))
            continue
        resolution = await resolve(push, row)  # cached: no second request
        if resolution.error is not None or resolution.contact_id is None:
            outcome = lookup_failed(row["row"], resolution)
            outcomes.append(outcome)
            push.settle([outcome])
        else:
            ready.append((row, resolution.contact_id, resolution.attempts))

    outcomes.extend(await _send_all(push, plan(ready, push.batch_size)))
    return outcomes


async def _send_all(push: Push, batches: list[Batch]) -> list[_results.Outcome]:
    answered = [asyncio.Event() for _ in batches]
    outcomes: list[_results.Outcome] = []

    async def run(index: int) -> None:
        try:
            for earlier in batches[index].after:
                await answered[earlier].wait()
            part = await send_batch(push, batches[index])
            outcomes.extend(part)
            push.settle(part)
        finally:
            answered[index].set()

    results = await asyncio.gather(*(run(i) for i in range(len(batches))), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return outcomes


async def before_dry_run(valid: pl.DataFrame, push: Push) -> None:
    """Decide (reading the directory's settings) which lookups an import would make."""
    push.caches.dry_run_via_import = await _import_lookups.by_import(push, valid)


def dry_run(valid: pl.DataFrame, push: Push) -> pl.DataFrame:
    """Each row's transaction entry. Where its contact would come from a lookup and the
    path is known (a push with a client), the entry names it first —
    ``"contactLookup": "import" | "search"`` — in place of ``contactId``."""
    contact_ids = valid["contact_id"] if "contact_id" in valid.columns else None
    payloads = transaction_entries(valid, default_date=push.default_date)
    via, push.caches.dry_run_via_import = push.caches.dry_run_via_import, None
    if via is not None and via.len() == valid.height:
        needs = pl.repeat(True, valid.height, eager=True)
        if contact_ids is not None:
            needs = contact_ids.is_null()
        payloads = _import_lookups.mark_payloads(payloads, needs, via)
    return _results.from_dry_run(valid["row"], payloads, contact_ids)


TRANSACTIONS = Action(
    name="transactions",
    send=send,
    dry_run=dry_run,
    before_dry_run=before_dry_run,
)
