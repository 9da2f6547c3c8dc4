"""What a directory does with a second copy of a contact: its deduplication settings.

Qualtrics merges a new contact into an existing one only when the directory deduplicates
and *all* its selected fields match (case-insensitively). Whether a create may be sent
twice (after a 500, a timeout, or a resumed push) depends on it: :func:`merges` says, for
one row. The settings are read once per push, from the directory list, and kept in a
:class:`Directories` the action's state holds (as its ``directories``); the same read tells
the destination check (:mod:`qxframe.actions._preflight`) which directories exist.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from qxframe.actions._action import Context
from qxframe.exceptions import AuthError, QxError


@dataclass
class Directories:
    """Each directory's deduplication fields, read once per push (one shared request)."""

    read: asyncio.Future[dict[str, tuple[str, ...]] | None] | None = None


async def listed(ctx: Context, known: Directories) -> dict[str, tuple[str, ...]] | None:
    """Every directory the token can list, with its deduplication fields (qxframe names),
    read once per push; ``None`` when the token may not list them.

    Concurrent callers share the one request. A refused token raises (before the push's
    first success).
    """
    if known.read is None:
        known.read = asyncio.ensure_future(_read_dedup_fields(ctx))
        ctx.keep(known.read)
    return await known.read


async def dedup_fields(ctx: Context, known: Directories, directory_id: str) -> tuple[str, ...]:
    """The directory's deduplication fields, read once per push. A directory the token may
    not list counts as not deduplicating: nothing is retried that could duplicate."""
    return (await listed(ctx, known) or {}).get(directory_id, ())


async def _read_dedup_fields(ctx: Context) -> dict[str, tuple[str, ...]] | None:
    try:
        frame = await ctx.api.adirectories()
    except QxError as error:
        if isinstance(error, AuthError) and error.http_status == 401:
            raise
        return None
    return {
        row["directory_id"]: tuple(row["deduplication_criteria"] or ())
        for row in frame.iter_rows(named=True)
    }


async def merges(ctx: Context, known: Directories, row: dict[str, Any]) -> bool:
    """Whether Qualtrics would merge a second copy of ``row``'s contact into the first:
    the directory deduplicates and the row has a value for every deduplication field."""
    fields = await dedup_fields(ctx, known, row["directory_id"])
    return bool(fields) and all(row.get(name) is not None for name in fields)
