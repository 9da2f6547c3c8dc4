"""Finding the contact of a transaction row that has no ``contact_id``: the lookup step.

A row is resolved by its lookup key (docs/architecture.md, "What is sent"): one search
per key per push (the task is shared, so ten rows of one new person create one contact);
0 matches → create the contact from the row, in the row's mailing list (the first row's,
for an identity), 1 → use it, more → the rows of that key fail with
``directory_lookup_error``. A :class:`Resolution` says which contact a key resolved to,
or why it could not be; :mod:`qxframe.actions._import_lookups` makes them from import jobs too.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from qxframe import _results
from qxframe._payloads import lookup_key, search_body
from qxframe.actions._action import Context, member_id
from qxframe.actions._contacts import create_contact
from qxframe.actions._dedup import Directories
from qxframe.delivery._envelope import unreadable
from qxframe.exceptions import OutcomeUnknownError, QxError

if TYPE_CHECKING:
    from qxframe.delivery._envelope import Reply

LOOKUP_CACHE_SIZE = 200_000  # lookup keys remembered per push (streamed inputs stay bounded)


@dataclass(frozen=True)
class Resolution:
    """Which contact a lookup key resolved to, or why it could not be.

    A row whose lookup or contact create failed was never sent itself, so it ends
    ``failed`` with that step's reason (:func:`lookup_failed`) — never ``outcome_unknown``,
    which is kept for rows whose own transaction may have landed. Sending it again is safe:
    the lookup then finds a contact the create may have made.
    """

    contact_id: str | None
    attempts: int
    error: QxError | None = None
    step: str = "search"  # the step that failed: "search" or "create"


@dataclass
class Lookups:
    """A push's resolved lookup keys (a task each, shared by the rows of one key), and the
    directories' settings a lookup's create reads."""

    directories: Directories
    cache: OrderedDict[Any, asyncio.Future[Resolution]] = field(default_factory=OrderedDict)


def overlapping(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """First rows of distinct lookup keys, grouped where keys share a value.

    Keys that share an ``ext_ref``, ``phone`` or e-mail value in one directory may be one
    person (``(u1, None, a@x)`` and ``(u1, None, None)``): resolved at once, both searches
    can find nothing and create two contacts, and every later search for ``u1`` is then
    ambiguous. So such keys are resolved one after another, the most specific first (its
    create carries every value, so the less specific search finds it); groups that share
    nothing still go concurrently. Groups come in order of first appearance.

    >>> rows = [{"directory_id": "P", "ext_ref": "u1"}, {"directory_id": "P", "email": "b@x"},
    ...         {"directory_id": "P", "ext_ref": "u1", "email": "a@x"}]
    >>> [[r.get("email") for r in group] for group in overlapping(rows)]
    [['a@x', None], ['b@x']]
    """
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[Any, int, str], int] = {}
    keys = [lookup_key(row) or () for row in rows]
    for i, (row, key) in enumerate(zip(rows, keys, strict=True)):
        for part, value in enumerate(key):
            if value is not None:
                j = owner.setdefault((row["directory_id"], part, value), i)
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(rows)):
        groups.setdefault(root(i), []).append(i)
    specific = [sum(v is not None for v in key) for key in keys]
    return [
        [rows[i] for i in sorted(members, key=lambda i: (-specific[i], i))]
        for members in groups.values()
    ]


async def resolve_in_turn(ctx: Context, known: Lookups, group: list[dict[str, Any]]) -> None:
    """Resolve the rows of one :func:`overlapping` group, one after another."""
    for row in group:
        await resolve(ctx, known, row)


# -- searches --------------------------------------------------------------------------


async def resolve(ctx: Context, known: Lookups, row: dict[str, Any]) -> Resolution:
    """The contact for ``row``'s lookup key, looked up at most once per push."""
    cache = known.cache
    cache_key = (row["directory_id"], lookup_key(row))
    task = cache.get(cache_key)
    if task is None:
        task = asyncio.ensure_future(_lookup(ctx, known, row))
        ctx.keep(task)
        cache[cache_key] = task
        if len(cache) > LOOKUP_CACHE_SIZE:
            cache.popitem(last=False)
    return await task


async def _lookup(ctx: Context, known: Lookups, row: dict[str, Any]) -> Resolution:
    directory_id, key = row["directory_id"], lookup_key(row)
    assert key is not None, "validation guarantees an identity on rows without contact_id"
    found = await ctx.call(partial(ctx.api.asearch_contacts, directory_id, search_body(key)))
    if isinstance(found, QxError):
        return Resolution(None, found.attempts, found)
    elements = found.result.get("elements") if isinstance(found.result, dict) else None
    if not isinstance(elements, list) or any(member_id(e, "id") is None for e in elements):
        # an answer that cannot be read is never "no match": that would create the contact again
        unread = unreadable(found, "the search's matches", may_have_landed=False)
        return Resolution(None, found.attempts, unread)
    if len(elements) == 1:
        return Resolution(member_id(elements[0], "id"), found.attempts)
    if len(elements) > 1:
        return Resolution(None, found.attempts, _ambiguous(found, len(elements)))
    created = await create_contact(ctx, known.directories, row, lands_row=False)
    spent = found.attempts + created.attempts
    if isinstance(created, QxError):
        return Resolution(None, spent, created, step="create")
    contact_id = member_id(created.result, "id")
    if contact_id is None:  # the create may have made it: its outcome is unknown
        unread = unreadable(created, "the contact id", may_have_landed=True)
        return Resolution(None, spent, unread, step="create")
    return Resolution(contact_id, spent)


def lookup_failed(row: int, resolution: Resolution) -> _results.Outcome:
    """A row whose transaction was not sent because finding or creating its contact failed.

    It is ``failed`` with the failed step's reason; a create whose own outcome is unknown
    becomes ``contact_create_unknown`` (the row's transaction never left, so the row is
    safe to send again: the lookup then finds the contact if the create made one).
    """
    error = resolution.error
    if error is None:  # an answer without an id
        error = QxError(
            "Qualtrics answered the contact create without a contact id, so the transaction "
            "was not sent; send the row again.",
            error_code="contact_create_failed",
        )
    elif error.error_code != "directory_lookup_error":
        error = _step_error(error, resolution.step)
    return _results.failed(row, error, attempts=resolution.attempts)


def _step_error(error: QxError, step: str) -> QxError:
    reason = error.error_message.rstrip(" .")
    if error.http_status is not None and str(error.http_status) not in reason:
        reason = f"{error.http_status}: {reason}"
    code, what = error.error_code, f"{'Looking up' if step == 'search' else 'Creating'} this"
    if isinstance(error, OutcomeUnknownError):
        code, what = "contact_create_unknown", "The create of this"
        reason += "; it may or may not have made the contact"
    return QxError(
        f"{what} row's contact failed ({reason}), so its transaction was not sent. Sending "
        "the row again is safe: its contact is looked up first.",
        http_status=error.http_status,
        error_code=code,
        request_id=error.request_id,
        attempts=error.attempts,
    )


def _ambiguous(found: Reply, matches: int) -> QxError:
    more = "100 or more" if matches >= 100 else str(matches)
    return QxError(
        f"The directory holds {more} contacts matching this row's ext_ref/phone/email, so "
        "the transaction was not added. Give the row a contact_id, or merge the duplicates "
        "in Qualtrics.",
        http_status=found.status,
        error_code="directory_lookup_error",
        request_id=found.request_id,
        attempts=found.attempts,
    )
