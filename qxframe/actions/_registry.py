"""The action registry, and the one way into a push.

:data:`ACTIONS` maps an action's name (``contacts``, ``transactions``, ``workflow``) to
its :class:`~qxframe.actions._action.Action`, read by the public functions and the push
handle (docs/architecture.md, "Where each change goes").
:func:`keywords` and :func:`bind` are the keyword arguments of every public call, declared
once: the shared ones, then the action's destinations and options from the catalogue.
:func:`push` is the one way into a push — the public functions, their async twins,
:func:`~qxframe.actions._handle.start_push` (the CLI, the widgets) all take it: the
keywords checked, then :func:`~qxframe.actions._runner.apush` with the results kept in
memory, written to ``out=`` as they come and scanned from there, or handed to ``sink=``.
"""

from __future__ import annotations

import difflib
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from qxframe import _fields
from qxframe._sinks import ResultsWriter, scan_results
from qxframe.actions._action import Action
from qxframe.actions._contacts import CONTACTS
from qxframe.actions._removals import DELETE, REMOVE, UNSUBSCRIBE
from qxframe.actions._runner import Sink, apush
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
     'full_resync', 'json_columns', 'correlate']
    """
    destinations = {f.name: None for f in _fields.destinations(action)}
    options = {o.name: o.default for o in _fields.options_for(action)}
    return {"client": None} | destinations | SHARED | options


def bind(action: Action, options: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`apush` for a public call with ``options``: the
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
ACTIONS: dict[str, Action] = {
    a.name: a for a in (CONTACTS, TRANSACTIONS, WORKFLOW, REMOVE, UNSUBSCRIBE, DELETE)
}


def push(
    action: Action,
    frame: Any,
    *,
    out: str | Path | None = None,
    sink: Sink | None = None,
    **options: Any,
) -> Coroutine[Any, Any, Results]:
    """The push of ``frame`` with ``action`` and a public call's keyword arguments, to be
    awaited; a keyword the action does not take raises ``TypeError`` here, at once.

    Its results are kept in memory, or written to ``out`` and scanned from there (an
    exception carrying results then carries the file's: rows settled so far), or handed
    to ``sink`` chunk by chunk (the frame returned is then empty).
    """
    given = bind(action, options)
    if out is not None and sink is not None:
        raise TypeError("give out= or sink=, not both")
    return _run(action, frame, out, sink, given)


async def _run(
    action: Action, frame: Any, out: str | Path | None, sink: Sink | None, given: dict[str, Any]
) -> Results:
    if out is None:
        return await apush(action, frame, sink=sink, **given)
    identity = given.get("on_leave") is not None  # removal rows say who left
    writer = ResultsWriter(out, keep=(frame, given.get("journal")), identity=identity)
    try:
        with writer:
            await apush(action, frame, sink=writer, **given)
    except BaseException as exc:
        if isinstance(exc, PushInterrupted) or "sent" in getattr(exc, "__dict__", {}):
            # the file's rows, and any a storage error kept out of it
            exc.results = writer.so_far()  # type: ignore[attr-defined]
        raise
    return scan_results(out)
