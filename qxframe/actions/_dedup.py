"""What a directory does with a second copy of a contact: its deduplication settings.

Qualtrics merges a new contact into an existing one only when the directory deduplicates
and *all* its selected fields match (case-insensitively). Whether a create may be sent
twice (after a 500, a timeout, or a resumed push) depends on it: :func:`merges` says, for
one row. The settings are read once per push, from the directory list.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from qxframe.exceptions import AuthError, QxError

if TYPE_CHECKING:
    from qxframe.actions._pipeline import Push


async def dedup_fields(push: Push, directory_id: str) -> tuple[str, ...]:
    """The directory's deduplication fields (qxframe names), read once per push.

    Concurrent callers share the one request. A directory the token may not list counts
    as not deduplicating: nothing is retried that could duplicate. A refused token raises
    (before the push's first success).
    """
    known = push.caches.dedup
    if known is None:
        known = push.caches.dedup = asyncio.ensure_future(_read_dedup_fields(push))
    fields = await known
    return fields.get(directory_id, ())


async def _read_dedup_fields(push: Push) -> dict[str, tuple[str, ...]]:
    try:
        frame = await push.api.adirectories()
    except QxError as error:
        if isinstance(error, AuthError) and error.http_status == 401:
            raise
        return {}
    return {
        row["directory_id"]: tuple(row["deduplication_criteria"] or ())
        for row in frame.iter_rows(named=True)
    }


async def merges(push: Push, row: dict[str, Any]) -> bool:
    """Whether Qualtrics would merge a second copy of ``row``'s contact into the first:
    the directory deduplicates and the row has a value for every deduplication field."""
    fields = await dedup_fields(push, row["directory_id"])
    return bool(fields) and all(row.get(name) is not None for name in fields)
