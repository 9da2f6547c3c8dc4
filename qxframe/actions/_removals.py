"""Removal as frame operations (DESIGN §7): ``remove``, ``unsubscribe``, ``delete``.

Three actions of the one registry, one row a contact: ``remove`` takes it out of a mailing
list (``DELETE …/mailinglists/{ml}/contacts/{id}``: it stays in the directory),
``unsubscribe`` unsubscribes it from the list (``PUT`` of the member with
``unsubscribed: true``) or, without a list, from the directory (``PUT`` of the contact),
``delete`` deletes it from the directory (``DELETE /directories/{d}/contacts/{id}``;
docs/qualtrics-api.md §5, §7).

A row carries ``contact_id``, or identity fields looked up as a transaction's are (``eq``
filters on ``ext_ref``, ``phone``, ``email``): no match → nothing to do, several → the row
fails with ``directory_lookup_error``. Each is idempotent: what is already done (not a
member, already unsubscribed, no such contact) comes back ``success`` with ``operation``
``unchanged``, never ``failed`` — an unsubscribe reads the member (or contact) first so
that it can say so. Every request here may be repeated without harm, so none is marked
pending.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import polars as pl

from qxframe import _results
from qxframe._payloads import lookup_key, search_body
from qxframe._results import Operation, Status
from qxframe.actions._action import Action, Context, rows_of, run_groups
from qxframe.delivery._envelope import Reply
from qxframe.exceptions import QxError

_UNSUBSCRIBE = {"unsubscribed": True}


async def _contact_id(ctx: Context, row: dict[str, Any]) -> tuple[str | None, int, QxError | None]:
    """``(contact id or None when there is none, attempts, error)`` of a row."""
    if row.get("contact_id"):
        return row["contact_id"], 0, None
    key = lookup_key(row)
    assert key is not None, "validation guarantees contact_id or an identity"
    found = await ctx.call(partial(ctx.api.asearch_contacts, row["directory_id"], search_body(key)))
    if isinstance(found, QxError):
        return None, found.attempts, found
    elements = (found.result or {}).get("elements") or []
    if len(elements) > 1:
        return (
            None,
            found.attempts,
            QxError(
                f"The directory holds {len(elements)} contacts matching this row's "
                "ext_ref/phone/email, so none was changed. Give the row a contact_id.",
                http_status=found.status,
                error_code="directory_lookup_error",
                request_id=found.request_id,
                attempts=found.attempts,
            ),
        )
    return (elements[0].get("id") if elements else None), found.attempts, None


def _done(row: int, operation: str, answer: Reply | QxError, spent: int) -> _results.Outcome:
    """The outcome of a row's change; a 404 (nothing there) is what was wanted."""
    if isinstance(answer, QxError):
        if answer.http_status == 404:
            return _results.Outcome(
                row, Status.SUCCESS, 404, request_id=answer.request_id,
                attempts=spent + answer.attempts, operation=Operation.UNCHANGED,
            )  # fmt: skip
        outcome = _results.failed(row, answer, attempts=spent + answer.attempts)
    else:
        outcome = _results.succeeded(row, answer)
        outcome.attempts += spent
    outcome.operation = operation
    return outcome


def _unchanged(row: int, cid: str | None, spent: int) -> _results.Outcome:
    return _results.Outcome(
        row, Status.SUCCESS, qualtrics_id=cid, attempts=spent, operation=Operation.UNCHANGED
    )


async def _remove(ctx: Context, row: dict[str, Any], cid: str) -> tuple[str, Reply | QxError]:
    d, ml = row["directory_id"], row["mailing_list_id"]
    return Operation.REMOVE, await ctx.call(partial(ctx.api.aremove_list_contact, d, ml, cid))


async def _delete(ctx: Context, row: dict[str, Any], cid: str) -> tuple[str, Reply | QxError]:
    d = row["directory_id"]
    return Operation.DELETE, await ctx.call(partial(ctx.api.adelete_contact, d, cid))


async def _unsubscribe(ctx: Context, row: dict[str, Any], cid: str) -> tuple[str, Reply | QxError]:
    """Read the member (or contact) first: one already unsubscribed is left as it is."""
    d, ml = row["directory_id"], row.get("mailing_list_id")
    held = await ctx.call(partial(ctx.api.aread_contact, d, cid, ml))
    flag = "mailingListUnsubscribed" if ml else "directoryUnsubscribed"
    if isinstance(held, QxError) or (held.result or {}).get(flag):
        return Operation.UNCHANGED, held
    if ml:
        put = partial(ctx.api.aupdate_list_contact, d, ml, cid, _UNSUBSCRIBE)
    else:
        put = partial(ctx.api.aupdate_contact, d, cid, _UNSUBSCRIBE)
    answer = await ctx.call(put)
    if not isinstance(answer, QxError):
        answer = Reply(answer.status, answer.result, answer.request_id,
                       answer.attempts + held.attempts)  # fmt: skip
    return Operation.UNSUBSCRIBE, answer


Change = Callable[[Context, dict[str, Any], str], Awaitable[tuple[str, Reply | QxError]]]


def _sender(change: Change) -> Callable[[pl.DataFrame, Context], Awaitable[None]]:
    async def send(valid: pl.DataFrame, ctx: Context) -> None:
        async def one(row: dict[str, Any]) -> None:
            cid, spent, error = await _contact_id(ctx, row)
            if error is not None:
                ctx.report([_results.failed(row["row"], error)])
            elif cid is None:  # no such contact: nothing to do
                ctx.report([_unchanged(row["row"], None, spent)])
            else:
                operation, answer = await change(ctx, row, cid)
                if operation == Operation.UNCHANGED and not isinstance(answer, QxError):
                    outcome = _unchanged(row["row"], cid, spent + answer.attempts)
                else:
                    outcome = _done(row["row"], operation, answer, spent)
                    outcome.qualtrics_id = cid
                ctx.report([outcome])

        await run_groups(list(rows_of(valid)), one, ctx.concurrency)

    return send


def _dry_run(operation: str, body: dict[str, Any] | None) -> Callable[..., pl.DataFrame]:
    def dry_run(valid: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        text = None if body is None else json.dumps(body, separators=(",", ":"))
        payloads = pl.Series("payload", [text] * valid.height, dtype=pl.String)
        results = _results.from_dry_run(valid["row"], payloads)
        return results.with_columns(operation=pl.lit(operation, pl.String))

    return dry_run


REMOVE = Action(name="remove", send=_sender(_remove), dry_run=_dry_run(Operation.REMOVE, None))
UNSUBSCRIBE = Action(
    name="unsubscribe",
    send=_sender(_unsubscribe),
    dry_run=_dry_run(Operation.UNSUBSCRIBE, _UNSUBSCRIBE),
)
DELETE = Action(name="delete", send=_sender(_delete), dry_run=_dry_run(Operation.DELETE, None))
