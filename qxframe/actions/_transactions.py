"""The ``upsert_transactions`` action: find or create each contact, then batch transactions.

1. Rows without ``contact_id`` are resolved by lookup key first: by search
   (:mod:`qxframe.actions._lookups`) or, where the directory deduplicates on an identity's
   fields, by import jobs (:mod:`qxframe.actions._import_lookups`), a chunk's last job
   filled with the next chunks' new people (the action looks ahead: ``ctx.ahead``).
2. Resolved rows go out many per request, under keys ``r<row>`` that map back to rows, in
   input order: :data:`FIRST_SIZE` per request at first, doubling while every key of an
   answer is accounted for, up to ``batch_size`` (:class:`Growth`; the limit is
   undocumented, so a 500 or a timeout costs a few rows' certainty, not a hundred: it also
   halves the size and caps it there for the rest of the push). A batch waits for the
   earlier batches that hold one of its contacts, so one contact's transactions land in
   input order. A 413, or a 400 refusing
   a many-row batch whole, splits the batch in halves down to single rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import polars as pl

from qxframe import _results
from qxframe._payloads import lookup_key, transaction_entries, transaction_entry
from qxframe._results import Status
from qxframe.actions import _import_lookups
from qxframe.actions._action import Action, Answer, Context, member_id, rows_of, run_groups
from qxframe.actions._dedup import Directories
from qxframe.actions._imports import Imports
from qxframe.actions._lookups import Lookups, lookup_failed, overlapping, resolve, resolve_in_turn
from qxframe.delivery._config import positive
from qxframe.exceptions import (
    BadRequestError,
    OutcomeUnknownError,
    PayloadTooLargeError,
    QxError,
)

FIRST_SIZE = 10  # transactions in the first requests of a push (then doubling)


@dataclass
class Growth:
    """How many transactions a request carries now: doubled after each fully answered
    request of that size, up to ``ceiling`` (``batch_size``, lowered to half a size whose
    outcome was unknown)."""

    size: int
    ceiling: int

    @classmethod
    def up_to(cls, batch_size: int) -> Growth:
        return cls(min(FIRST_SIZE, batch_size), batch_size)

    def answered(self, sent: int) -> None:
        if sent >= self.size:
            self.size = min(self.ceiling, self.size * 2)

    def unknown(self, sent: int) -> None:
        self.ceiling = max(1, min(self.ceiling, sent // 2))
        self.size = min(self.size, self.ceiling)


@dataclass
class Transactions:
    """One transactions push's options and what it learns once."""

    imports: Imports  # method, import_jobs, the directories' settings
    lookups: Lookups  # each identity's contact
    batch_size: int = 100
    growth: Growth = field(default_factory=lambda: Growth.up_to(100))  # size per request now
    refused_size: int | None = None  # the batch size that worked after a larger was refused
    dry_run_via_import: pl.Series | None = None  # a dry run's rows an import would resolve

    @property
    def directories(self) -> Directories:
        """The directories' settings, read once per push (shared with the destination check)."""
        return self.imports.directories

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Transactions:
        imports = Imports.from_options(options)
        batch_size = positive("batch_size", options["batch_size"])
        return cls(imports, Lookups(imports.directories), batch_size, Growth.up_to(batch_size))


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


async def send_batch(
    ctx: Context, batch: Batch, default_date: str, spent: int = 0
) -> list[_results.Outcome]:
    """Send one batch; split it in halves on 413, or on a 400 refusing it whole. Its
    outcomes are returned, but those of a head sent first while batches are still growing
    are reported at once (a push stopped before the rest goes keeps them).

    A 400 means nothing was processed, so the halves cannot duplicate (docs/architecture.md,
    "What is sent"). When both halves of a refused batch go through, its size is remembered
    for the push and later batches that large are split before they are sent. ``spent``:
    attempts already spent on these rows.

    Each request's outcomes are reported as soon as it is answered (``ctx.report``), not
    when the whole batch is done: a push stopped while the rest of a batch (its tail, or a
    second half) is still to go reports the rows that landed, so a resumed push skips them
    instead of sending them twice. The outcomes are also returned, for the caller's split
    bookkeeping.
    """
    state: Transactions = ctx.state
    refused = state.refused_size
    if refused is not None and len(batch.items) >= refused > 1:
        return await _halves(ctx, batch, default_date, spent)
    if len(batch.items) > state.growth.size:  # not that large yet: its head first, in order
        head = Batch(batch.directory_id, batch.items[: state.growth.size])
        first = await send_batch(ctx, head, default_date, spent)  # reported as answered
        rest = Batch(batch.directory_id, batch.items[len(head.items) :])
        return first + await send_batch(ctx, rest, default_date, spent)
    body = {
        f"r{row['row']}": transaction_entry(row, contact_id=contact_id, default_date=default_date)
        for row, contact_id, _ in batch.items
    }
    rows = [row["row"] for row, _, _ in batch.items]
    post = partial(ctx.api.acreate_transactions, batch.directory_id, body)
    answer = await ctx.call(post, risky_rows=rows)
    _grow(state.growth, answer, body)
    if isinstance(answer, PayloadTooLargeError | BadRequestError) and len(batch.items) > 1:
        outcomes = await _halves(ctx, batch, default_date, spent + answer.attempts)
        if isinstance(answer, BadRequestError) and all(o.http_status != 400 for o in outcomes):
            state.refused_size = min(refused or len(rows), len(rows))
        return outcomes
    outcomes = [
        _outcome(row, contact_id, attempts + spent, answer)
        for row, contact_id, attempts in batch.items
    ]
    ctx.report(outcomes)
    return outcomes


def _grow(growth: Growth, answer: Answer, body: Mapping[str, Any]) -> None:
    """Double the size after an answer accounting for every key; halve it after a request
    whose outcome is unknown (a 500, a timeout: perhaps a limit on the size)."""
    if isinstance(answer, QxError):
        if isinstance(answer, OutcomeUnknownError):
            growth.unknown(len(body))
        return
    result = answer.result
    if not isinstance(result, dict):  # an answer that cannot be read: its rows are unknown
        growth.unknown(len(body))
        return
    keys: set[str] = set()
    for part in ("createdTransactions", "unprocessedTransactions"):
        members = result.get(part)
        if isinstance(members, dict):
            keys |= set(members)
    if keys >= set(body):
        growth.answered(len(body))


async def _halves(
    ctx: Context, batch: Batch, default_date: str, spent: int
) -> list[_results.Outcome]:
    half = len(batch.items) // 2
    parts = (batch.items[:half], batch.items[half:])
    first = await send_batch(ctx, Batch(batch.directory_id, parts[0]), default_date, spent)
    return first + await send_batch(ctx, Batch(batch.directory_id, parts[1]), default_date, spent)


def _outcome(
    row: dict[str, Any], contact_id: str, attempts: int, answer: Answer
) -> _results.Outcome:
    if isinstance(answer, QxError):
        return _results.failed(
            row["row"], answer, contact_id=contact_id, attempts=attempts + answer.attempts
        )
    key = f"r{row['row']}"
    result = answer.result if isinstance(answer.result, dict) else {}
    common: dict[str, Any] = {
        "http_status": answer.status,
        "contact_id": contact_id,
        "request_id": answer.request_id,
        "attempts": attempts + answer.attempts,
    }
    created = _member(result, "createdTransactions", key)
    transaction_id = member_id(created, "id")
    if transaction_id is not None:
        return _results.Outcome(row["row"], Status.SUCCESS, qualtrics_id=transaction_id, **common)
    refused = _member(result, "unprocessedTransactions", key)
    if created is None and isinstance(refused, dict):
        code, text = member_id(refused, "error"), member_id(refused, "errorMessage")
        reason = text or code or "no reason given"
        return _results.Outcome(
            row["row"],
            Status.FAILED,
            error_code=code or "unprocessed_transaction",
            error_message=f"Qualtrics did not add this transaction: {reason}",
            **common,
        )
    unknown = OutcomeUnknownError(
        "Qualtrics' answer does not say whether this transaction was added (it is not "
        "among the answer's created or unprocessed transactions, or the answer cannot be "
        "read); check the contact's transactions in Qualtrics before sending it again."
    )
    return _results.Outcome(
        row["row"],
        Status.FAILED,
        error_code=unknown.error_code,
        error_message=unknown.message,
        **common,
    )


def _member(result: dict[str, Any], part: str, key: str) -> Any:
    """``result[part][key]``, or None when either is missing or ``result[part]`` is not an
    object (an answer of the wrong shape is read as not mentioning the row)."""
    within = result.get(part)
    return within.get(key) if isinstance(within, dict) else None


# -- the action ------------------------------------------------------------------------


async def send(valid: pl.DataFrame, ctx: Context) -> None:
    state: Transactions = ctx.state
    via_import = await _import_lookups.by_import(ctx, state.imports, valid)
    # fills the lookup cache
    await _import_lookups.resolve_by_import(ctx, state.imports, state.lookups, valid, via_import)
    rows = list(rows_of(valid))
    to_resolve: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if row.get("contact_id") is None:
            to_resolve.setdefault((row["directory_id"], lookup_key(row)), row)
    groups = overlapping(list(to_resolve.values()))  # keys that may be one person: in turn
    await run_groups(groups, partial(resolve_in_turn, ctx, state.lookups), ctx.concurrency)

    ready: list[tuple[dict[str, Any], str, int]] = []
    for row in rows:
        if row.get("contact_id") is not None:
            ready.append((row, row["contact_id"], 0))
            continue
        resolution = await resolve(ctx, state.lookups, row)  # cached: no second request
        if resolution.error is not None or resolution.contact_id is None:
            ctx.report([lookup_failed(row["row"], resolution)])
        else:
            ready.append((row, resolution.contact_id, resolution.attempts))
    await _send_all(ctx, plan(ready, state.batch_size), _date(ctx))


def _date(ctx: Context) -> str:
    """The push's start time, the date of transactions that give none."""
    return ctx.started.strftime("%Y-%m-%d %H:%M:%S")


async def _send_all(ctx: Context, batches: list[Batch], default_date: str) -> None:
    answered = [asyncio.Event() for _ in batches]

    async def run(index: int) -> None:
        try:
            for earlier in batches[index].after:
                await answered[earlier].wait()
            await send_batch(ctx, batches[index], default_date)  # reports as answered
        finally:
            answered[index].set()

    results = await asyncio.gather(*(run(i) for i in range(len(batches))), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def before_dry_run(valid: pl.DataFrame, ctx: Context) -> None:
    """Decide (reading the directory's settings) which lookups an import would make."""
    state: Transactions = ctx.state
    state.dry_run_via_import = await _import_lookups.by_import(ctx, state.imports, valid)


def dry_run(valid: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Each row's transaction entry. Where its contact would come from a lookup and the
    path is known (a push with a client), the entry names it first —
    ``"contactLookup": "import" | "search"`` — in place of ``contactId``."""
    contact_ids = valid["contact_id"] if "contact_id" in valid.columns else None
    state: Transactions = ctx.state
    payloads = transaction_entries(valid, default_date=_date(ctx))
    via, state.dry_run_via_import = state.dry_run_via_import, None
    if via is not None and via.len() == valid.height:
        needs = pl.repeat(True, valid.height, eager=True)
        if contact_ids is not None:
            needs = contact_ids.is_null()
        payloads = _import_lookups.mark_payloads(payloads, needs, via)
    return _results.from_dry_run(valid["row"], payloads, contact_ids)


def _not_sent(outcome: _results.Outcome) -> bool:
    """A row whose contact could not be found or created: its transaction never left."""
    return outcome.contact_id is None


TRANSACTIONS = Action(
    name="transactions",
    send=send,
    dry_run=dry_run,
    before_dry_run=before_dry_run,
    start=Transactions.from_options,
    not_journaled=_not_sent,
    looks_ahead=True,  # a chunk's last import job is filled with the next chunks' people
)
