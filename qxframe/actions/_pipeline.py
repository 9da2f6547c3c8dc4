"""Running a push: chunks in, validated, sent (or dry-run), results out chunk by chunk.

:func:`apush` is the one pipeline behind every action: it reads the input in chunks,
prepares each chunk (mapping + validation), reports invalid rows, and hands the valid
rows to the action's ``send`` (or ``dry_run``). Each chunk's results go to a ``sink``
when one is given (memory stays bounded), else into the one results frame returned.
With a journal, rows done by an earlier run are skipped (:mod:`qxframe.actions._resume`).
:class:`Push` is the state one push shares between its requests: the client, the
concurrency limit, the progress bar, the rule that a token refused before the first
success stops the whole push, the watcher (the journal) told of risky writes and of
outcomes, and the push's :class:`~qxframe.delivery._stop.Stop`.

An in-memory frame (polars or pandas) is mapped and validated whole before its first
request; a streamed input (a file, a LazyFrame) chunk by chunk (:mod:`qxframe.actions._chunks`).
A push that stops early — told to (:mod:`qxframe.delivery._stop`), or by an error once rows were
read — still hands every row it read to the sink, settled or not (:mod:`qxframe._partial`),
and raises an exception carrying them: ``PushCancelled`` when told to stop, else the error
itself. An action's ``send`` must report every outcome through :meth:`Push.settle` as it
becomes known: what was settled when a push stopped is what it reports.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import polars as pl

from qxframe import _partial, _results
from qxframe._fields import METHODS, destinations
from qxframe._inputs import count_rows
from qxframe._prepare import Prepared, check_constants, prepare
from qxframe._results import Status
from qxframe.actions import _leavers
from qxframe.actions._chunks import prepared_chunks
from qxframe.delivery._config import positive
from qxframe.delivery._envelope import Reply
from qxframe.delivery._inflight import MAX_IN_FLIGHT
from qxframe.delivery._stop import Stop, Stopped, current, current_stop, finish, watch_wire
from qxframe.exceptions import AuthError, ConfigError, QxError

if TYPE_CHECKING:
    from qxframe.actions._resume import Resume
    from qxframe.delivery._client import Client

T = TypeVar("T")
#: Without ``concurrency=``, this many groups of rows may be in progress at once; how many
#: requests are really in flight is then decided per endpoint family by the delivery
#: layer, from its rate limit and the latency it observes (qxframe.delivery._inflight).
DEFAULT_CONCURRENCY = MAX_IN_FLIGHT
PROGRESS_THRESHOLD = 300  # rows: smaller pushes show no progress bar unless asked


class _Aborted(Exception):
    """Internal: the push was stopped by a fatal error (see ``Push.fatal``)."""


@dataclass
class Caches:
    """What the actions of one push learn once and reuse; each field names its owner.

    The futures here are cancelled (or their errors read) when the push ends
    (:meth:`pending`), so a stopped push leaves no lookup running.
    """

    #: ``_dedup``: each directory's deduplication fields, read once per push
    dedup: asyncio.Future[dict[str, tuple[str, ...]]] | None = None
    #: ``_lookups`` and ``_import_lookups``: one contact resolution per identity
    lookups: OrderedDict[Any, asyncio.Future[Any]] = field(default_factory=OrderedDict)
    #: ``_imports``: import jobs created and unfinished at once (``import_jobs``)
    import_slots: asyncio.Semaphore | None = None
    #: ``_transactions``: the batch size that worked after Qualtrics refused a larger one
    transactions_refused_size: int | None = None
    #: ``_transactions``: a dry run's rows whose contact an import job would resolve
    dry_run_via_import: pl.Series | None = None

    def pending(self) -> list[asyncio.Future[Any]]:
        """Every future these caches hold."""
        return [*([self.dedup] if self.dedup is not None else []), *self.lookups.values()]


@dataclass
class Push:
    """State shared by the requests of one push."""

    client: Client | None
    constants: Mapping[str, Any]
    concurrency: int = DEFAULT_CONCURRENCY
    batch_size: int = 100
    method: str = (
        "auto"  # api | import | auto (docs/architecture.md, "Mailing lists and import jobs")
    )
    import_jobs: int = 25  # import jobs created and unfinished at once, at most
    input_rows: int | None = None  # rows of an in-memory input (None when streamed)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    progress: Any = None
    any_success: bool = False
    fatal: QxError | None = None
    caches: Caches = field(default_factory=Caches)
    watcher: Watcher | None = None  # told of risky writes and of outcomes (the journal)
    stop: Stop = field(default_factory=Stop)
    sent: int = 0  # rows whose request went out (settled with attempts, or unanswered)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)
        self._rate_note = ""
        self.settled: list[_results.Outcome] = []  # the current chunk's, as they came
        self.unanswered: list[int] = []  # rows of a write cancelled on the wire (stopping)

    @functools.cached_property
    def default_date(self) -> str:
        """The push's start time, the date of transactions that give none (formatted once)."""
        return self.started.strftime("%Y-%m-%d %H:%M:%S")

    @property
    def api(self) -> Client:
        assert self.client is not None, "a push that sends needs a client"
        return self.client

    async def call(
        self, make: Callable[[], Awaitable[Reply]], *, risky_rows: Sequence[int] = ()
    ) -> Reply | QxError:
        """One request under the concurrency limit; a failure comes back as its error.

        ``risky_rows``: the rows a write lands that must not be sent twice; the watcher
        hears of them just before the request goes out. A 401/403 before any success in
        this push stops the whole push (it raises ``AuthError`` to the caller); after a
        success it only fails its rows. Once the push is told to stop, no request starts
        (``Stopped``); a risky write cancelled on the wire is remembered as unanswered (its
        ``pending`` mark stays in the journal).
        """
        async with self._slots:
            if self.fatal is not None:
                raise _Aborted
            if self.stop.requested:
                raise Stopped
            if risky_rows and self.watcher is not None:
                self.watcher.sending(risky_rows)
            with watch_wire() as wire:
                try:
                    reply = await make()
                except AuthError as error:
                    if not self.any_success:
                        self.fatal = error
                        self._never_sent(risky_rows)
                        raise _Aborted from error
                    return error
                except QxError as error:
                    return error
                except Stopped:  # gated before the wire: nothing of it landed
                    self._never_sent(risky_rows)
                    raise
                except asyncio.CancelledError:
                    if wire.reached:
                        self.unanswered.extend(risky_rows)
                    else:
                        self._never_sent(risky_rows)
                    raise
            self.any_success = True
            return reply

    def _never_sent(self, risky_rows: Sequence[int]) -> None:
        if risky_rows and self.watcher is not None:
            self.watcher.refused(risky_rows)

    def settle(self, outcomes: Sequence[_results.Outcome]) -> None:
        """Rows whose outcome is known: move the progress bar, tell the watcher."""
        if self.progress is not None and outcomes:
            self.progress.update(len(outcomes))
            self._show_rate_limit()
        self.settled.extend(outcomes)
        self.sent += sum(1 for outcome in outcomes if outcome.attempts)
        if self.watcher is not None:
            self.watcher.settled(outcomes)

    def _show_rate_limit(self) -> None:
        """Say on the bar which rate limit holds the push back, while one does."""
        if self.client is None:
            return
        held = self.client.limiter.holding()  # the family that waited last: short on the bar
        text = next((f"held to {rate:.0f}/min ({f})" for f, rate in held.items()), "")
        show = getattr(self.progress, "set_postfix_str", None)  # tqdm's; a bar may lack it
        if text != self._rate_note and show is not None:
            self._rate_note = text
            show(text, refresh=False)

    def stopped_part(self, valid: pl.DataFrame) -> pl.DataFrame:
        """Results of ``valid`` (rows being sent) when sending stopped part-way."""
        self.sent += len(self.unanswered)
        rest = _partial.unsettled(valid, {o.row for o in self.settled}, self.unanswered)
        self.advance(rest.height)
        return _results.assemble([_results.from_outcomes(self.settled), rest])

    def begin_chunk(self) -> None:
        self.settled, self.unanswered = [], []

    def advance(self, rows: int) -> None:
        if self.progress is not None and rows:
            self.progress.update(rows)


class Watcher(Protocol):
    """What a push tells its journal (:class:`qxframe.actions._resume.Resume`)."""

    def sending(self, rows: Sequence[int]) -> None: ...
    def job_created(self, rows: Sequence[int], job: Any, unprocessed: set[int]) -> None: ...
    def refused(self, rows: Sequence[int]) -> None: ...
    def settled(self, outcomes: Sequence[_results.Outcome]) -> None: ...


async def run_groups(
    groups: Sequence[T], work: Callable[[T], Awaitable[object]], concurrency: int
) -> None:
    """Run ``work`` over ``groups`` with at most ``concurrency`` groups in progress.

    Each group is handled by one worker from start to end, so work inside a group keeps
    its order; a fatal error stops the workers after their current group.
    """
    items = iter(groups)

    async def worker() -> None:
        for group in items:
            await work(group)

    results = await asyncio.gather(
        *(worker() for _ in range(max(1, min(concurrency, len(groups))))), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result


@dataclass(frozen=True)
class Action:
    """One Qualtrics action: its name (a key of the catalogue, ``_fields``) and how rows
    are sent."""

    name: str
    send: Callable[[pl.DataFrame, Push], Awaitable[list[_results.Outcome] | pl.DataFrame]]
    dry_run: Callable[[pl.DataFrame, Push], pl.DataFrame]
    #: awaited before ``dry_run`` in a push (not in a preview): reads what it needs to know
    before_dry_run: Callable[[pl.DataFrame, Push], Awaitable[None]] | None = None

    @property
    def constants(self) -> tuple[str, ...]:
        """The destination fields, which may be given as constants (from the catalogue)."""
        return tuple(f.name for f in destinations(self.name))


Sink = Callable[[pl.DataFrame], object]


@dataclass(frozen=True)
class _Plan:
    """What every chunk of one push is prepared and sent with."""

    action: Action
    mapping: Mapping[str, Any] | None
    constants: Mapping[str, Any]
    allowed_origin: str | None
    dry_run: bool


async def apush(
    action: Action,
    source: Any,
    *,
    client: Client | None,
    constants: Mapping[str, Any],
    mapping: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    concurrency: int | None = None,
    progress: Any = None,
    batch_size: int = 100,
    journal: str | Path | None = None,
    sink: Sink | None = None,
    method: str = "auto",
    import_jobs: int = 25,
    stop: Stop | None = None,
    full_resync: bool = False,
    on_leave: str | None = None,
    max_leave: float = 0.2,
) -> pl.DataFrame:
    """Push ``source`` with ``action``; return the results frame.

    ``journal``: a journal file: what Qualtrics already holds is not sent again (DESIGN
    §7; ``full_resync`` sends every row); ``on_leave``/``max_leave``: members who left a
    synced segment leave its list (:mod:`qxframe.actions._leavers`).
    ``sink``: called with each chunk's results (in input order) instead of keeping them;
    the frame returned is then empty. ``stop``: set from elsewhere to stop the push
    (default: the stop of a handle running it, else a new one); cancelling the task running
    the push does the same. A stopped push raises ``PushCancelled``.
    """
    client = _client_for(client, dry_run)
    concurrency = positive(
        "concurrency", DEFAULT_CONCURRENCY if concurrency is None else concurrency
    )
    batch_size = positive("batch_size", batch_size)
    allowed_origin = client.allowed_origin if client is not None else None
    check_constants(action.name, constants, allowed_origin)
    _leavers.check(action.name, on_leave, max_leave, journal, constants)
    plan = _Plan(action, mapping, constants, allowed_origin, dry_run)
    push = Push(client, constants, concurrency=concurrency, batch_size=batch_size)
    push.method, push.import_jobs = _method(method), positive("import_jobs", import_jobs)
    push.input_rows = (
        count_rows(source) if not isinstance(source, str | Path | pl.LazyFrame) else None
    )
    push.stop = stop or current_stop() or Stop()
    push.stop.bind()
    kept: list[pl.DataFrame] = []
    out = _Out(sink if sink is not None else kept.append)
    with ExitStack() as stack:
        push.progress = stack.enter_context(progress_bar(source, progress, action.name))
        resume = _resume_for(journal, plan, push, stack, full_resync)
        stack.callback(_drop_pending, push.caches)
        try:
            with current(push.stop):
                if resume is not None:
                    await resume.start(push, constants)
                chunks = prepared_chunks(source, partial(_prepare, plan), out)
                if on_leave is not None and resume is not None:
                    chunks = _read_ahead(plan, source, chunks, resume, max_leave)
                valid_rows = 0
                for prepared in chunks:
                    valid_rows += prepared.valid.height
                    await _push_chunk(plan, prepared, push, resume, out)
                    if push.stop.requested:
                        raise Stopped
                if on_leave is not None and resume is not None:
                    gone = await _leavers.leave(
                        push, resume, on_leave, valid_rows, max_leave, dry_run
                    )
                    out(gone)
        except BaseException as exc:
            results = None if sink is not None else _results.assemble(kept)
            if push.stop.requested and isinstance(exc, Stopped | asyncio.CancelledError):
                raise _partial.interrupted(results, push.sent, out.rows, journal) from None
            if out.rows:
                _partial.attach(exc, results, push.sent, journal)
            raise
    return _results.assemble(kept)


def _read_ahead(
    plan: _Plan, source: Any, chunks: Iterator[Prepared], resume: Resume, max_leave: float
) -> Iterator[Prepared]:
    """The guard of ``on_leave`` before any request, when the input can be read twice (an
    in-memory frame's prepared chunks are kept for the push itself)."""
    if not _leavers.readable_ahead(source):
        return chunks
    if isinstance(source, pl.DataFrame) or type(source).__module__.startswith("pandas"):
        kept = list(chunks)
        _leavers.read_ahead(resume, kept, max_leave)
        return iter(kept)
    _leavers.read_ahead(
        resume, prepared_chunks(source, partial(_prepare, plan), _ignore), max_leave
    )
    return chunks


def _ignore(part: pl.DataFrame) -> None:
    """Results of the guard's read-ahead: none are kept (the push itself reports them)."""


class _Out:
    """Where the results of each chunk go, counting the rows handed over."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.rows = 0

    def __call__(self, part: pl.DataFrame) -> None:
        self.sink(part)
        self.rows += part.height


def preview(
    action: Action,
    head: pl.DataFrame,
    *,
    mapping: Mapping[str, Any] | None,
    constants: Mapping[str, Any],
    allowed_origin: str | None,
) -> pl.DataFrame:
    """The results a dry run of ``head`` gives, with no client: each row prepared as a push
    prepares it, the invalid with their reasons, the valid with their exact bodies in
    ``payload`` (the widgets' live preview). ``before_dry_run`` is not awaited: it reads
    from Qualtrics. Bad settings raise ``ConfigError`` as a push would."""
    check_constants(action.name, constants, allowed_origin)
    plan = _Plan(action, mapping, constants, allowed_origin, dry_run=True)
    prepared = _prepare(plan, head, 0)
    parts = [_results.from_invalid(prepared.invalid)]
    if prepared.valid.height:
        parts.append(action.dry_run(prepared.valid, Push(None, constants)))
    return _results.assemble(parts)


def _prepare(plan: _Plan, chunk: pl.DataFrame, offset: int) -> Prepared:
    return prepare(
        chunk,
        plan.action.name,
        mapping=plan.mapping,
        constants=plan.constants,
        allowed_origin=plan.allowed_origin,
        row_offset=offset,
    )


async def _push_chunk(
    plan: _Plan, prepared: Prepared, push: Push, resume: Resume | None, out: _Out
) -> None:
    """Push one prepared chunk; hand its results (sorted by input position) to ``out``.

    Stopped or failing part-way, the chunk's unsettled rows are handed over too.
    """
    parts = [_results.from_invalid(prepared.invalid)]
    push.advance(prepared.invalid.height)
    valid = prepared.valid
    if resume is not None:
        resume.carry_invalid(prepared.invalid)
    if resume is not None and valid.height:
        done, valid = resume.split(valid)
        parts.append(done)
        push.advance(done.height)
    push.begin_chunk()
    following = sorted(resume.to_follow) if resume is not None and not plan.dry_run else []
    try:
        if following and resume is not None:  # left pending in import jobs: read their reports
            parts.append(await resume.follow(push))
            following = []
            push.begin_chunk()  # the followed rows are in parts already
        parts.append(await _handle(plan.action, valid, push, plan.dry_run, resume))
    except BaseException:
        if following:  # still pending in their jobs: the next resume follows them again
            rows = pl.DataFrame({"row": following}, schema={"row": pl.Int64})
            parts.append(_partial.unsettled(rows, (), following))
        parts.append(push.stopped_part(valid))
        raise
    finally:
        out(_operations(_results.assemble(parts), plan.action.name, resume))


def _operations(part: pl.DataFrame, action: str, resume: Resume | None) -> pl.DataFrame:
    """``operation`` (and ``changes``) for every row that was sent, dry-run or skipped: the
    journal's verdicts when there is one, else an upsert (contacts) or a create (events);
    null for an invalid or a not-sent row."""
    from qxframe.actions._resume import default_operation

    if resume is not None:
        part = resume.annotate(part)
    unsent = pl.col("status").is_in([Status.INVALID, Status.NOT_SENT])
    default = pl.coalesce("operation", pl.lit(default_operation(action)))
    return part.with_columns(
        operation=pl.when(unsent).then(None).otherwise(default),
        changes=pl.when(unsent).then(None).otherwise(pl.col("changes")),
    )


def _resume_for(
    journal: str | Path | None, plan: _Plan, push: Push, stack: ExitStack, full_resync: bool
) -> Resume | None:
    """The push's journal, opened (for lookups only in a dry run: an empty one when there is
    no file yet, so the dry run shows what a first push would do)."""
    if journal is None:
        return None
    from qxframe._journal import Journal
    from qxframe.actions._resume import Resume

    if not isinstance(journal, str | Path) or not str(journal):
        raise ConfigError(f"journal must be the path of a file, not {journal!r}")
    opened = Journal.for_lookups(journal) if plan.dry_run else Journal(journal)
    stack.callback(opened.close)
    resume = Resume(opened, plan.action, full_resync=full_resync)
    resume.claim(plan.constants)  # ConfigError for another destination's journal
    if not plan.dry_run:
        push.watcher = resume
    return resume


async def _handle(
    action: Action, valid: pl.DataFrame, push: Push, dry_run: bool, resume: Resume | None
) -> pl.DataFrame:
    if valid.height == 0:
        return _results.empty()
    if dry_run:
        if action.before_dry_run is not None:  # may read settings (transactions' paths)
            await action.before_dry_run(valid, push)
        part = action.dry_run(valid, push)
        push.advance(valid.height)
        return part
    if push.stop.requested:
        raise Stopped
    work = asyncio.ensure_future(action.send(valid, push))
    try:
        await finish(work, push.stop)
        outcomes = work.result()
    except _Aborted:
        assert push.fatal is not None
        raise push.fatal from None
    finally:
        if resume is not None:
            resume.flush()
    return outcomes if isinstance(outcomes, pl.DataFrame) else _results.from_outcomes(outcomes)


def _method(method: str) -> str:
    if method not in METHODS:
        *some, last = (f'"{m}"' for m in METHODS)
        raise ConfigError(f"method must be {', '.join(some)} or {last}, not {method!r}.")
    return method


def _drop_pending(caches: Caches) -> None:
    """Cancel the per-push tasks still pending (a stopped push's lookups); mark the rest read."""
    for task in caches.pending():
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" log


def _client_for(client: Client | None, dry_run: bool) -> Client | None:
    if client is not None or dry_run:
        return client
    from qxframe.delivery._client import Client

    return Client.from_env()


def progress_bar(source: Any, progress: Any, label: str) -> Any:
    """A tqdm bar for the push (tqdm.auto: a widget in a notebook, text in a terminal).

    ``progress``: True/False, None (on above a few hundred rows), or a bar already made —
    the sync functions make it in the caller's thread, so that in a notebook it shows
    under the cell that started the push.
    """
    if progress is not None and not isinstance(progress, bool):
        return progress
    from tqdm.auto import tqdm

    total = count_rows(source)
    show = progress if progress is not None else (total is None or total > PROGRESS_THRESHOLD)
    return tqdm(total=total, disable=not show, unit="row", desc=f"qxframe {label}", leave=True)


def rows_of(frame: pl.DataFrame) -> Iterable[dict[str, Any]]:
    """The rows of a prepared frame as dicts (field name → value)."""
    return frame.iter_rows(named=True)
