"""The action registry, and one push run to its end with its results kept or written out.

:data:`ACTIONS` maps an action's name (``contacts``, ``transactions``, ``workflow``) to
its :class:`~qxframe.actions._pipeline.Action`, read by the public functions and the push handle
(docs/architecture.md, "Where each change goes").
:func:`push_to` runs :func:`~qxframe.actions._pipeline.apush` with the results kept in memory, or
written to ``out=`` as they come and scanned from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from qxframe import _results
from qxframe._sinks import ResultsWriter, scan_results
from qxframe.actions._contacts import CONTACTS
from qxframe.actions._pipeline import Action, apush
from qxframe.actions._transactions import TRANSACTIONS
from qxframe.actions._workflows import WORKFLOW
from qxframe.exceptions import PushInterrupted

Results = pl.DataFrame | pl.LazyFrame

ACTIONS: dict[str, Action] = {a.name: a for a in (CONTACTS, TRANSACTIONS, WORKFLOW)}


async def push_to(action: Action, frame: Any, out: str | Path | None, **options: Any) -> Results:
    """``apush``, its results kept in memory, or written to ``out`` and scanned from there.

    With ``out``, an exception carrying results carries the file's (rows settled so far).
    """
    if out is None:
        return await apush(action, frame, **options)
    try:
        with ResultsWriter(out, keep=(frame, options.get("journal"))) as writer:
            await apush(action, frame, sink=writer, **options)
    except BaseException as exc:
        if isinstance(exc, PushInterrupted) or "sent" in getattr(exc, "__dict__", {}):
            exc.results = _scan_or_empty(out)  # type: ignore[attr-defined]
        raise
    return scan_results(out)


def _scan_or_empty(out: str | Path) -> pl.LazyFrame:
    """The results written to ``out`` so far (none yet: no file, an empty frame)."""
    return scan_results(out) if Path(out).exists() else _results.empty().lazy()
