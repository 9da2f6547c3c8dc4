"""The action registry, and one push run to its end with its results kept or written out.

:data:`ACTIONS` maps an action's name (``contacts``, ``transactions``, ``workflow``) to
its :class:`~qxframe.actions._pipeline.Action`, read by the public functions and the push handle
(docs/architecture.md, "Where each change goes").
:func:`keywords` and :func:`bind` are the keyword arguments of every public call, declared
once: the shared ones, then the action's destinations and options from the catalogue.
:func:`push_to` runs :func:`~qxframe.actions._pipeline.apush` with the results kept in memory, or
written to ``out=`` as they come and scanned from there.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from qxframe import _fields, _results
from qxframe._sinks import ResultsWriter, scan_results
from qxframe.actions._contacts import CONTACTS
from qxframe.actions._pipeline import Action, apush
from qxframe.actions._transactions import TRANSACTIONS
from qxframe.actions._workflows import WORKFLOW
from qxframe.exceptions import PushInterrupted

Results = pl.DataFrame | pl.LazyFrame

#: The shared keyword arguments and their defaults, in the order signatures show them.
SHARED: dict[str, Any] = {
    "client": None,
    "mapping": None,
    "dry_run": False,
    "concurrency": None,
    "progress": None,
    "journal": None,
    "full_resync": False,
}


def keywords(action: str) -> dict[str, Any]:
    """Every keyword argument of ``action``'s functions but ``out``, with its default.

    >>> list(keywords("workflow"))  # doctest: +NORMALIZE_WHITESPACE
    ['client', 'workflow_url', 'mapping', 'dry_run', 'concurrency', 'progress', 'journal',
     'full_resync']
    """
    destinations = {f.name: None for f in _fields.destinations(action)}
    options = {o.name: o.default for o in _fields.options_for(action)}
    return {"client": None} | destinations | SHARED | options


def bind(action: Action, options: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`push_to` for a public call with ``options``: the
    defaults filled in, the destinations as ``constants``; ``TypeError`` for a keyword the
    action does not take."""
    known = keywords(action.name)
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, [*known, "out"], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(
                f"unexpected keyword argument {name!r} for the {action.name} action{hint}"
            )
    given = known | dict(options)
    given["constants"] = {f.name: given.pop(f.name) for f in _fields.destinations(action.name)}
    return given


#: One line per action; its name is a key of the catalogue (``_fields``).
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
