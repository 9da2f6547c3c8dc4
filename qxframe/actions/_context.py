"""The context of one push: what its action is given, and the bookkeeping behind it.

The runner (:mod:`qxframe.actions._runner`) makes one :class:`PushContext` a push: what
its chunks share (client, limits, stop, journal, bar, the count of rows sent). Each
chunk's send is given its own :class:`ChunkContext`, which implements
:class:`~qxframe.actions._action.Context`. Everything an action reports comes to one place,
:meth:`ChunkContext.report`, and from there alone to the journal
(:mod:`qxframe.actions._resume`), the progress bar, the count of rows sent and the
chunk's results; :meth:`ChunkContext.results` then checks that every row handed to the
action was reported exactly once (else :class:`~qxframe.actions._action.LostRows`), and
:meth:`ChunkContext.unreported` accounts for the rest when a push stops part-way
(docs/architecture.md, "The path of a row"). Chunks sent side by side each keep their own
(docs/architecture.md, "Chunks in flight").
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe import _partial, _results
from qxframe._journal import ImportRow
from qxframe._results import Status
from qxframe.actions import _preflight
from qxframe.actions._action import JOB_COLUMN, Answer, LostRows, Outcomes
from qxframe.actions._resume import Resume, Sending
from qxframe.delivery._inflight import MAX_IN_FLIGHT
from qxframe.delivery._stop import Stop, Stopped, watch_wire
from qxframe.exceptions import AuthError, QxError

if TYPE_CHECKING:
    from qxframe._prepare import Prepared
    from qxframe.delivery._client import Client
    from qxframe.delivery._envelope import Reply

#: Without ``concurrency=``, this many groups of rows may be in progress at once; how many
#: requests are really in flight is then decided per endpoint family by the delivery
#: layer, from its rate limit and the latency it observes (qxframe.delivery._inflight).
DEFAULT_CONCURRENCY = MAX_IN_FLIGHT


class Aborted(Exception):
    """Internal: the push was stopped by a fatal error (see ``PushContext.fatal``)."""


class PushContext:
    """What one push shares across its chunks: the client, the action's state, the limits,
    the stop, the journal, the bar, the count of rows sent. The :class:`Context` an action
    is given is a chunk's (:meth:`chunk`); the work outside any chunk (the destination
    check, the journal's start, members who leave) is given one of no chunk."""

    def __init__(
        self,
        client: Client | None,
        state: Any = None,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        input_rows: int | None = None,
        stop: Stop | None = None,
        progress: Any = None,
        journal: Resume | None = None,
    ) -> None:
        self.client, self.state = client, state
        self.concurrency, self.input_rows = concurrency, input_rows
        self.started = datetime.now(UTC)
        self.stop = stop or Stop()
        self.progress = progress
        self.journal = journal  # written by the chunks' contexts alone
        self.fatal: QxError | None = None  # a token refused before the first success
        self.any_success = False
        self.sent = 0  # rows whose request went out (reported with attempts, or unanswered)
        self.tasks: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()  # see end()
        self.checked = _preflight.Checked()  # what was checked before the first write
        self._slots = asyncio.Semaphore(concurrency)
        self._rate_note = ""
        #: the next chunks, read early (set by the runner for an action that looks ahead)
        self.peek: Callable[[int], Sequence[Prepared] | None] | None = None

    def chunk(self, sending: Sending | None = None) -> ChunkContext:
        """The context of one chunk's send; ``sending``: what the journal's split of the
        chunk made (None without a journal)."""
        return ChunkContext(self, sending)

    @property
    def api(self) -> Client:
        assert self.client is not None, "a push that sends needs a client"
        return self.client

    async def call(
        self,
        make: Callable[[], Awaitable[Reply]],
        *,
        risky_rows: Sequence[int] = (),
        chunk: ChunkContext | None = None,
    ) -> Answer:
        """One request under the concurrency limit; a refusal comes back as its error.

        This is the one place a request's ``QxError`` is caught. A 401/403 before any
        success in this push stops the whole push (it raises ``AuthError`` to the caller);
        after a success it only fails its rows. Once the push is told to stop, no request
        starts (``Stopped``); a risky write (rows of ``chunk``) cancelled on the wire is
        remembered as unanswered (its ``pending`` mark stays in the journal).
        """
        assert chunk is not None or not risky_rows, "a risky write's rows are a chunk's"
        async with self._slots:
            if self.fatal is not None:
                raise Aborted
            if self.stop.requested:
                raise Stopped
            if risky_rows and chunk is not None:
                chunk.mark(risky_rows)
            with watch_wire() as wire:
                try:
                    reply = await make()
                except AuthError as error:
                    if not self.any_success:
                        self.fatal = error
                        if chunk is not None:
                            chunk.forget(risky_rows)
                        raise Aborted from error
                    return error
                except QxError as error:
                    return error
                except Stopped:  # gated before the wire: nothing of it landed
                    if chunk is not None:
                        chunk.forget(risky_rows)
                    raise
                except asyncio.CancelledError:
                    if chunk is not None:
                        if wire.reached:
                            chunk.unanswered.extend(risky_rows)
                        else:
                            chunk.forget(risky_rows)
                    raise
            self.any_success = True
            return reply

    def keep(self, task: asyncio.Future[Any]) -> None:
        self.tasks.add(task)  # while the action's state holds it (a cache may drop it)

    def ahead(self, chunks: int) -> pl.DataFrame | None:
        if self.peek is None:
            return None
        following = self.peek(chunks)
        if following is None:
            return None
        rows = pl.concat([p.valid for p in following], how="diagonal_relaxed")
        return self.journal.new_rows(rows) if self.journal is not None else rows

    def advance(self, rows: int) -> None:
        if self.progress is not None and rows:
            self.progress.update(rows)

    def show_rate_limit(self) -> None:
        """Say on the bar which rate limit holds the push back, while one does."""
        if self.client is None or self.progress is None:
            return
        held = self.client.limiter.holding()  # the family that waited last: short on the bar
        text = next((f"held to {rate:.0f}/min ({f})" for f, rate in held.items()), "")
        show = getattr(self.progress, "set_postfix_str", None)  # tqdm's; a bar may lack it
        if text != self._rate_note and show is not None:
            self._rate_note = text
            show(text, refresh=False)

    def end(self) -> None:
        """Cancel the shared tasks still pending (a stopped push's lookups); read the rest."""
        drop_pending(list(self.tasks))


class ChunkContext:
    """The :class:`~qxframe.actions._action.Context` of one chunk's send, and its
    bookkeeping: what its rows' outcomes were, as reported; everything shared is the
    push's (:class:`PushContext`). Chunks sent side by side each have their own
    (docs/architecture.md, "Chunks in flight")."""

    def __init__(self, push: PushContext, sending: Sending | None) -> None:
        self.push = push
        self.sending = sending  # the journal's view of this chunk's rows being sent
        self.outcomes: list[_results.Outcome] = []  # reported, as objects
        self.frames: list[pl.DataFrame] = []  # reported, as frames
        self.unanswered: list[int] = []  # rows of a write cancelled on the wire (stopping)
        self._shown: dict[object, int] = {}  # rows the bar counts ahead of their report

    # -- the context an action is given ---------------------------------------------

    @property
    def client(self) -> Client | None:
        return self.push.client

    @property
    def state(self) -> Any:
        return self.push.state

    @property
    def input_rows(self) -> int | None:
        return self.push.input_rows

    @property
    def concurrency(self) -> int:
        return self.push.concurrency

    @property
    def started(self) -> datetime:
        return self.push.started

    @property
    def api(self) -> Client:
        return self.push.api

    async def call(
        self, make: Callable[[], Awaitable[Reply]], *, risky_rows: Sequence[int] = ()
    ) -> Answer:
        return await self.push.call(make, risky_rows=risky_rows, chunk=self)

    def report(self, outcomes: Outcomes, *, shown: object = None) -> None:
        """Rows whose outcome is known: the journal, the bar, the count sent, the results."""
        push = self.push
        if isinstance(outcomes, pl.DataFrame):
            count = outcomes.height
            self.frames.append(outcomes)
            push.sent += int((outcomes["attempts"].fill_null(0) > 0).sum())
        else:
            count = len(outcomes)
            self.outcomes.extend(outcomes)
            push.sent += sum(1 for outcome in outcomes if outcome.attempts)
        if push.journal is not None and count:
            assert self.sending is not None, "a chunk sent with a journal was split by it"
            push.journal.record(outcomes, self.sending)
        push.advance(count - self._shown.pop(shown, 0))
        push.show_rate_limit()

    def show(self, key: object, rows: int) -> None:
        before = self._shown.get(key, 0)
        if rows > before:
            self._shown[key] = rows
            self.push.advance(rows - before)

    def mark(self, rows: Sequence[int]) -> None:
        """``pending`` committed for ``rows`` before their write leaves (with a journal)."""
        if self.push.journal is not None and self.sending is not None:
            self.push.journal.sending(rows, self.sending)

    def remember(self, rows: Sequence[int], job: ImportRow, unprocessed: Collection[int]) -> None:
        if self.push.journal is not None and self.sending is not None:
            self.push.journal.remember(rows, job, unprocessed, self.sending)

    def forget(self, rows: Sequence[int]) -> None:
        if rows and self.push.journal is not None and self.sending is not None:
            self.push.journal.forget(rows, self.sending)

    def keep(self, task: asyncio.Future[Any]) -> None:
        self.push.keep(task)

    def ahead(self, chunks: int) -> pl.DataFrame | None:
        return self.push.ahead(chunks)

    # -- the runner's bookkeeping ---------------------------------------------------

    def results(self, handed: pl.DataFrame) -> pl.DataFrame:
        """The chunk's results from what was reported; every row of ``handed`` exactly once."""
        reported = self._reported()
        rows = reported["row"]
        if rows.len() != handed.height or not rows.equals(handed["row"].sort()):
            raise LostRows(_lost(handed["row"], rows))
        return _landed_earlier(reported, handed)

    def unreported(self, handed: pl.DataFrame) -> pl.DataFrame:
        """Results of ``handed`` (rows being sent) when sending stopped part-way: what was
        reported, and the rest unanswered (on the wire, or in a recorded job) or not sent."""
        self.push.sent += len(self.unanswered)
        out = list(self.unanswered)
        if JOB_COLUMN in handed.columns:  # still pending in their jobs: followed next time
            out += handed.filter(pl.col(JOB_COLUMN).is_not_null())["row"].to_list()
        reported = self._reported()
        rest = _partial.unsettled(handed.select("row"), reported["row"].to_list(), out)
        self.push.advance(int(rest["attempts"].sum()))  # the bar never counts a row not sent
        return _results.assemble([_landed_earlier(reported, handed), rest])

    def _reported(self) -> pl.DataFrame:
        return _results.assemble([_results.from_outcomes(self.outcomes), *self.frames])


def drop_pending(tasks: Iterable[asyncio.Future[Any]]) -> None:
    for task in tasks:
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" log


def _landed_earlier(reported: pl.DataFrame, handed: pl.DataFrame) -> pl.DataFrame:
    """``reported`` with a row handed back in its recorded job (``JOB_COLUMN``) that
    succeeded shown ``skipped``: it landed in the earlier run."""
    if JOB_COLUMN not in handed.columns:
        return reported
    earlier = handed.filter(pl.col(JOB_COLUMN).is_not_null())["row"].implode()
    landed = pl.col("row").is_in(earlier) & (pl.col("status") == Status.SUCCESS)
    return reported.with_columns(
        status=pl.when(landed).then(pl.lit(Status.SKIPPED)).otherwise(pl.col("status")),
        http_status=pl.when(landed).then(None).otherwise(pl.col("http_status")),
    )


def _lost(handed: pl.Series, reported: pl.Series) -> str:
    missing = handed.filter(~handed.is_in(reported.implode())).head(5).to_list()
    extra = reported.filter(~reported.is_in(handed.implode())).head(5).to_list()
    twice = reported.filter(reported.is_duplicated()).unique().head(5).to_list()
    return (
        f"the action's send returned with rows it was handed not reported {missing}, rows "
        f"reported twice {twice}, or rows reported it was not handed {extra} (at most five of "
        "each): an action reports each row's outcome once, through ctx.report."
    )
