"""The context of one push: what its action is given, and the bookkeeping behind it.

:class:`PushContext` implements :class:`~qxframe.actions._action.Context` for the runner
(:mod:`qxframe.actions._runner`), which makes one per push. Everything an action reports
comes to one place, :meth:`PushContext.report`, and from there alone to the journal
(:mod:`qxframe.actions._resume`), the progress bar, the count of rows sent and the
chunk's results; :meth:`PushContext.results` then checks that every row handed to the
action was reported exactly once (else :class:`~qxframe.actions._action.LostRows`), and
:meth:`PushContext.unreported` accounts for the rest when a push stops part-way
(docs/architecture.md, "The path of a row").
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
from qxframe.actions._resume import Resume
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
    """The :class:`~qxframe.actions._action.Context` of one push, and its bookkeeping."""

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
        self.journal = journal  # written here alone: call, report, remember, forget
        self.fatal: QxError | None = None  # a token refused before the first success
        self.any_success = False
        self.sent = 0  # rows whose request went out (reported with attempts, or unanswered)
        self.tasks: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()  # see end()
        self.checked = _preflight.Checked()  # what was checked before the first write
        self._slots = asyncio.Semaphore(concurrency)
        self._rate_note = ""
        #: the next chunks, read early (set by the runner for an action that looks ahead)
        self.peek: Callable[[int], Sequence[Prepared] | None] | None = None
        self.begin_chunk()

    # -- the context an action is given ---------------------------------------------

    @property
    def api(self) -> Client:
        assert self.client is not None, "a push that sends needs a client"
        return self.client

    async def call(
        self, make: Callable[[], Awaitable[Reply]], *, risky_rows: Sequence[int] = ()
    ) -> Answer:
        """One request under the concurrency limit; a refusal comes back as its error.

        This is the one place a request's ``QxError`` is caught. A 401/403 before any
        success in this push stops the whole push (it raises ``AuthError`` to the caller);
        after a success it only fails its rows. Once the push is told to stop, no request
        starts (``Stopped``); a risky write cancelled on the wire is remembered as
        unanswered (its ``pending`` mark stays in the journal).
        """
        async with self._slots:
            if self.fatal is not None:
                raise Aborted
            if self.stop.requested:
                raise Stopped
            if risky_rows and self.journal is not None:
                self.journal.sending(risky_rows)
            with watch_wire() as wire:
                try:
                    reply = await make()
                except AuthError as error:
                    if not self.any_success:
                        self.fatal = error
                        self.forget(risky_rows)
                        raise Aborted from error
                    return error
                except QxError as error:
                    return error
                except Stopped:  # gated before the wire: nothing of it landed
                    self.forget(risky_rows)
                    raise
                except asyncio.CancelledError:
                    if wire.reached:
                        self.unanswered.extend(risky_rows)
                    else:
                        self.forget(risky_rows)
                    raise
            self.any_success = True
            return reply

    def report(self, outcomes: Outcomes, *, shown: object = None) -> None:
        """Rows whose outcome is known: the journal, the bar, the count sent, the results."""
        if isinstance(outcomes, pl.DataFrame):
            count = outcomes.height
            self.frames.append(outcomes)
            self.sent += int((outcomes["attempts"].fill_null(0) > 0).sum())
        else:
            count = len(outcomes)
            self.outcomes.extend(outcomes)
            self.sent += sum(1 for outcome in outcomes if outcome.attempts)
        if self.journal is not None and count:
            self.journal.record(outcomes)
        self.advance(count - self._shown.pop(shown, 0))
        self._show_rate_limit()

    def show(self, key: object, rows: int) -> None:
        before = self._shown.get(key, 0)
        if rows > before:
            self._shown[key] = rows
            self.advance(rows - before)

    def remember(self, rows: Sequence[int], job: ImportRow, unprocessed: Collection[int]) -> None:
        if self.journal is not None:
            self.journal.remember(rows, job, unprocessed)

    def forget(self, rows: Sequence[int]) -> None:
        if rows and self.journal is not None:
            self.journal.forget(rows)

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

    # -- the runner's bookkeeping ---------------------------------------------------

    def begin_chunk(self) -> None:
        self.outcomes: list[_results.Outcome] = []  # reported, as objects
        self.frames: list[pl.DataFrame] = []  # reported, as frames
        self.unanswered: list[int] = []  # rows of a write cancelled on the wire (stopping)
        self._shown: dict[object, int] = {}  # rows the bar counts ahead of their report

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
        self.sent += len(self.unanswered)
        out = list(self.unanswered)
        if JOB_COLUMN in handed.columns:  # still pending in their jobs: followed next time
            out += handed.filter(pl.col(JOB_COLUMN).is_not_null())["row"].to_list()
        reported = self._reported()
        rest = _partial.unsettled(handed.select("row"), reported["row"].to_list(), out)
        self.advance(int(rest["attempts"].sum()))  # the bar never counts a row not sent
        return _results.assemble([_landed_earlier(reported, handed), rest])

    def _reported(self) -> pl.DataFrame:
        return _results.assemble([_results.from_outcomes(self.outcomes), *self.frames])

    def advance(self, rows: int) -> None:
        if self.progress is not None and rows:
            self.progress.update(rows)

    def _show_rate_limit(self) -> None:
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
