"""What an action is: the contract between an action module and the runner that pushes it.

This module is the whole contract (docs/architecture.md, "The path of a row"), in the
manner of httpx's ``_transports/base.py``: the runner implements :class:`Context`
(:mod:`qxframe.actions._context`, used by :mod:`qxframe.actions._runner`), the action
modules implement :class:`Action`, and neither imports the other.

An action is given the valid rows of one chunk and a :class:`Context`. It sends them and
**reports each row's outcome once** through :meth:`Context.report`, as soon as it is
known; ``send`` itself returns nothing. The runner alone turns what is reported into the
journal, the progress bar, the bookkeeping of a push that stops and the results frame,
and when ``send`` returns it checks that every row it handed over was reported exactly
once: a row lost or reported twice is an error (:class:`LostRows`), never a silent
``outcome_unknown``.

A request goes out through :meth:`Context.call`, which answers with an :data:`Answer`:
the ``Reply``, or the ``QxError`` Qualtrics (or the wire) answered with — a value, turned
into a row's outcome by :func:`outcome_of`. A write that must not be sent twice names its
rows (``risky_rows``) so the journal can mark them before it leaves.

An action that names who its rows are (``Action.identities``) may be given a chunk while
earlier chunks are still being sent: a chunk none of whose people is in those
(docs/architecture.md, "Chunks in flight"). Each chunk's send has its own :class:`Context`.

An action that asks for it (``Action.looks_ahead``) may read the valid rows of the next
chunks before they are handed over (:meth:`Context.ahead`, at most :data:`LOOK_AHEAD`
chunks, so a push holds a bounded number of rows): to prepare work for them — transactions
fill a chunk's last import job with the new people of the next chunks — never to report
them; they are handed over, and reported, with their own chunk.

What an action keeps for one push (its options, what it learns once: a directory's
deduplication fields, resolved contacts) is the value ``Action.start(options)`` returns,
handed back as :attr:`Context.state`; the push itself shares nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

import polars as pl

from qxframe import _results
from qxframe._fields import destinations
from qxframe._journal import ImportRow
from qxframe.delivery._envelope import unreadable
from qxframe.exceptions import QxError

if TYPE_CHECKING:
    from qxframe.delivery._client import Client
    from qxframe.delivery._envelope import Reply

T = TypeVar("T")
#: What :meth:`Context.call` answers: the reply, or the error the request ended in.
Answer: TypeAlias = "Reply | QxError"
Outcomes: TypeAlias = "Sequence[_results.Outcome] | pl.DataFrame"
#: A column of the rows handed to ``send``: for a row an earlier push left pending inside
#: a remote job it recorded (:meth:`Context.remember`), what it recorded (a struct);
#: absent when no row is in that case. Such a row is not sent again: its job is followed.
JOB_COLUMN = "_job"
#: Chunks after the one being sent that :meth:`Context.ahead` reads, at most.
LOOK_AHEAD = 2


class Context(Protocol):
    """What an action is given for one push (made by the runner)."""

    @property
    def client(self) -> Client | None:
        """The push's client; None only in a dry run or preview given none."""
        ...

    @property
    def state(self) -> Any:
        """What ``Action.start`` returned for this push."""
        ...

    @property
    def input_rows(self) -> int | None:
        """Rows of an in-memory input (None when the input is streamed)."""
        ...

    @property
    def concurrency(self) -> int:
        """Groups of rows in progress at once, at most (``concurrency=``)."""
        ...

    @property
    def started(self) -> datetime:
        """When the push started (UTC)."""
        ...

    @property
    def api(self) -> Client:
        """The client (a push that sends has one)."""
        ...

    async def call(
        self, make: Callable[[], Awaitable[Reply]], *, risky_rows: Sequence[int] = ()
    ) -> Answer:
        """One request under the push's limits; a refusal comes back as its ``QxError``.

        ``risky_rows``: rows this write lands that must not be sent twice (marked
        ``pending`` in the journal just before it leaves).
        """
        ...

    def report(self, outcomes: Outcomes, *, shown: object = None) -> None:
        """The outcomes of rows, each reported once (``Outcome`` objects, or a frame of
        the results schema). ``shown``: the key given to :meth:`show` for these rows."""
        ...

    def show(self, key: object, rows: int) -> None:
        """Move the progress bar to ``rows`` done of a group not yet reported (``key``)."""
        ...

    def remember(self, rows: Sequence[int], job: ImportRow, unprocessed: Collection[int]) -> None:
        """``rows`` (risky, in this order: ``source_index`` 0, 1, …) went out in the
        remote job ``job``: the journal records it, so that a resumed push hands them back
        with it (:data:`JOB_COLUMN`) instead of sending them again. ``unprocessed``: the
        indexes Qualtrics said at once it will not process."""
        ...

    def forget(self, rows: Sequence[int]) -> None:
        """Nothing of ``rows``' risky write landed (refused whole): drop their marks."""
        ...

    def keep(self, task: asyncio.Future[Any]) -> None:
        """A task shared across rows (a lookup): cancelled, or its error read, at the end."""
        ...

    def ahead(self, chunks: int) -> pl.DataFrame | None:
        """The valid rows of the next ``chunks`` chunks (at most :data:`LOOK_AHEAD`), read
        now, in input order, less those the journal already holds (they would not be sent);
        None when fewer chunks follow, or the action does not look ahead. Not this send's
        rows: they are never reported here."""
        ...


@dataclass(frozen=True)
class Action:
    """One Qualtrics action: its name (a key of the catalogue, ``_fields``) and how rows
    are sent (see the module docstring)."""

    name: str
    #: sends the rows and reports each one's outcome through ``ctx.report``
    send: Callable[[pl.DataFrame, Context], Awaitable[None]]
    #: the results of a dry run of the rows (``dry_run`` status, bodies in ``payload``)
    dry_run: Callable[[pl.DataFrame, Context], pl.DataFrame]
    #: awaited before ``dry_run`` in a push (not in a preview): reads what it needs to know
    before_dry_run: Callable[[pl.DataFrame, Context], Awaitable[None]] | None = None
    #: the push's state from its options (the catalogue's, defaults filled in)
    start: Callable[[Mapping[str, Any]], Any] = lambda options: None
    #: an outcome the journal does not keep: a row whose own write never left, which may
    #: be sent again as if never tried (a transaction whose contact could not be found)
    not_journaled: Callable[[_results.Outcome], bool] | None = None
    #: ``send`` may read the next chunks' rows (:meth:`Context.ahead`) in a push that sends
    looks_ahead: bool = False
    #: who each valid row is, as one hash a row, for an action whose chunks may be sent
    #: side by side: a chunk starts while earlier ones are still being sent unless one of
    #: its rows' identities is among theirs (rows of one person keep their input order
    #: across chunks); None: a chunk is sent once the one before it is done
    identities: Callable[[pl.DataFrame], pl.Series] | None = None

    @property
    def constants(self) -> tuple[str, ...]:
        """The destination fields, which may be given as constants (from the catalogue)."""
        return tuple(f.name for f in destinations(self.name))


class LostRows(RuntimeError):
    """An action's ``send`` returned without reporting some rows it was handed, or
    reported a row twice or one it was not handed: a bug in the action."""


def outcome_of(row: int, answer: Answer, *, id_member: str | None = None) -> _results.Outcome:
    """The outcome of a row whose own request was answered with ``answer``; ``id_member``:
    the member of a success's ``result`` that is the row's ``qualtrics_id``."""
    if isinstance(answer, QxError):
        return _results.failed(row, answer)
    if id_member is None:
        return _results.succeeded(row, answer)
    found = member_id(answer.result, id_member)
    if found is None:  # a 2xx without the id it promises: the write may have landed
        return _results.failed(row, unreadable(answer, f"the {id_member!r}", may_have_landed=True))
    return _results.succeeded(row, answer, qualtrics_id=found)


def member_id(result: object, member: str) -> str | None:
    """``result[member]`` when ``result`` is an object and that member a non-empty string
    (an id as Qualtrics gives it); None for anything else (HTML, a list, a number).

    >>> member_id({"id": "CID_1"}, "id"), member_id(["CID_1"], "id"), member_id({"id": 7}, "id")
    ('CID_1', None, None)
    """
    found = result.get(member) if isinstance(result, dict) else None
    return found if isinstance(found, str) and found else None


def rows_of(frame: pl.DataFrame) -> Iterable[dict[str, Any]]:
    """The rows of a prepared frame as dicts (field name → value)."""
    return frame.iter_rows(named=True)


async def run_groups(
    groups: Sequence[T], work: Callable[[T], Awaitable[object]], concurrency: int
) -> None:
    """Run ``work`` over ``groups`` with at most ``concurrency`` groups in progress.

    Each group is handled by one worker from start to end, so work inside a group keeps
    its order; an error stops the workers after their current group, then is raised.
    """
    items = iter(groups)
    failed = False

    async def worker() -> None:
        nonlocal failed
        for group in items:
            if failed:
                return
            try:
                await work(group)
            except BaseException:
                failed = True
                raise

    await all_of(*(worker() for _ in range(max(1, min(concurrency, len(groups))))))


async def all_of(*work: Awaitable[T]) -> list[T]:
    """Await ``work`` side by side, every one to its end; then raise the first error.

    ``asyncio.gather`` alone raises a child's error at once and leaves the others running,
    unawaited: a push stopped while two import jobs were being created ended, and closed
    its journal, before the second job was recorded in it. Nothing outlives this call.
    """
    results = await asyncio.gather(*work, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]  # no exception left among them
