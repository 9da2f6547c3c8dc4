"""The runner: one push, chunks in, validated, sent (or dry-run), results out chunk by chunk.

:func:`apush` is the one runner behind every action (docs/architecture.md, "The path of a
row"): it reads the input in chunks, prepares each chunk (mapping + validation), reports
invalid rows, skips what the journal says is done (:mod:`qxframe.actions._resume`), and
checks before the first write that the push can succeed as set up (the credentials, the
destination: :mod:`qxframe.actions._preflight`), and
hands the valid rows to the action's ``send`` (or ``dry_run``) with this push's
:class:`~qxframe.actions._context.PushContext`. What the action reports reaches the
journal, the progress bar and the results through that context alone; when ``send``
returns, the chunk's results are taken from it, every row handed over checked reported
once. Each chunk's results go to a ``sink`` when one is given (memory stays bounded),
else into the one results frame returned, in input order. A contacts chunk is sent while
the one before it still is (:mod:`qxframe.actions._flight`): each chunk's send has its own
:class:`~qxframe.actions._context.ChunkContext`.

An in-memory frame (polars or pandas) is mapped and validated whole before its first
request; a streamed input (a file, a LazyFrame) chunk by chunk (:mod:`qxframe.actions._chunks`).
An action that looks ahead (``Action.looks_ahead``) may read the next chunks' valid rows
while its chunk is sent (``PushContext.ahead``): at most ``LOOK_AHEAD`` prepared chunks
are then held beyond the one being sent.
A push that stops early — told to (:mod:`qxframe.delivery._stop`), or by an error once rows were
read — still hands every row it read to the sink, reported or not (:mod:`qxframe._partial`),
and raises an exception carrying them: ``PushCancelled`` when told to stop, else the error
itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe import _fields, _partial, _results
from qxframe._inputs import count_rows, json_columns_of
from qxframe._journal import Journal
from qxframe._prepare import Prepared, check_constants, prepare
from qxframe._results import Status
from qxframe.actions import _chunks, _leavers, _preflight
from qxframe.actions._action import Action
from qxframe.actions._chunks import Ahead, prepared_chunks
from qxframe.actions._context import DEFAULT_CONCURRENCY, Aborted, ChunkContext, PushContext
from qxframe.actions._flight import CHUNKS_IN_FLIGHT, Flight, Sent
from qxframe.actions._resume import Resume, Sending, default_operation
from qxframe.delivery._config import positive
from qxframe.delivery._stop import Stop, Stopped, current, current_stop, finish
from qxframe.exceptions import ConfigError

if TYPE_CHECKING:
    from qxframe.delivery._client import Client

PROGRESS_THRESHOLD = 300  # rows: smaller pushes show no progress bar unless asked
Sink = Callable[[pl.DataFrame], object]


@dataclass(frozen=True)
class _Plan:
    """What every chunk of one push is prepared and sent with."""

    action: Action
    mapping: Mapping[str, Any] | None
    constants: Mapping[str, Any]
    allowed_origin: str | None
    dry_run: bool
    #: columns whose JSON text a workflow's event sends as JSON (``json_columns=`` and
    #: JSON records' nested values)
    json_columns: frozenset[str] = frozenset()


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
    journal: str | Path | None = None,
    sink: Sink | None = None,
    stop: Stop | None = None,
    full_resync: bool = False,
    **options: Any,
) -> pl.DataFrame:
    """Push ``source`` with ``action``; return the results frame.

    ``journal``: a journal file: what Qualtrics already holds is not sent again (DESIGN
    §7; ``full_resync`` sends every row); the contacts options ``on_leave``/``max_leave``:
    members who left a synced segment leave its list (:mod:`qxframe.actions._leavers`).
    ``sink``: called with each chunk's results (in input order) instead of keeping them;
    the frame returned is then empty. ``stop``: set from elsewhere to stop the push
    (default: the stop of a handle running it, else a new one); cancelling the task running
    the push does the same. A stopped push raises ``PushCancelled``. ``options``: the
    action's own (the catalogue's, e.g. ``batch_size``), given to ``action.start``.
    """
    client = _client_for(client, dry_run)
    concurrency = positive(
        "concurrency", DEFAULT_CONCURRENCY if concurrency is None else concurrency
    )
    allowed_origin = client.allowed_origin if client is not None else None
    check_constants(action.name, constants, allowed_origin)
    given = _options(action, options)
    on_leave, max_leave = given.get("on_leave"), given.get("max_leave", 0.2)
    _leavers.check(action.name, on_leave, max_leave, journal, constants)
    json_columns = _json_columns(given.get("json_columns"), source)
    plan = _Plan(action, mapping, constants, allowed_origin, dry_run, json_columns)
    in_memory = not isinstance(source, str | Path | pl.LazyFrame)
    push = PushContext(
        client,
        action.start(given),
        concurrency=concurrency,
        input_rows=count_rows(source) if in_memory else None,
        stop=stop or current_stop() or Stop(),
    )
    push.stop.bind()
    kept: list[pl.DataFrame] = []
    out = _Out(sink if sink is not None else kept.append)
    side_by_side = action.identities is not None and not dry_run
    flight = Flight(out, push.stop, CHUNKS_IN_FLIGHT if side_by_side else 1)
    with ExitStack() as stack:
        push.progress = stack.enter_context(progress_bar(source, progress, action.name))
        resume = push.journal = _journal_for(journal, plan, stack, full_resync)
        stack.callback(push.end)
        try:
            with current(push.stop):
                if resume is not None:
                    if resume.reads_members(constants):  # else: no request before the guard
                        await _destination_first(plan, push, constants)
                    await resume.start(push.chunk(), constants)
                reader = Ahead(flight.hand)
                size = _chunks.FLIGHT_CHUNK_SIZE if side_by_side else _chunks.CHUNK_SIZE
                chunks = prepared_chunks(source, partial(_prepare, plan), reader.later, size)
                if on_leave is not None and resume is not None:
                    chunks = _read_ahead(plan, source, chunks, resume, max_leave, size)
                if action.looks_ahead and not dry_run:
                    push.peek = reader.peek
                valid_rows = 0
                ordered = reader.over(chunks)
                while True:
                    await flight.room()  # fewer chunks being sent than the flight allows
                    if push.stop.requested:  # no chunk read once told to stop
                        raise Stopped
                    prepared = next(ordered, None)
                    if prepared is None:
                        break
                    valid_rows += prepared.valid.height
                    await _launch(plan, prepared, push, flight)
                await flight.drain()
                if on_leave is not None and resume is not None:
                    out(await _leavers.leave(
                        push.chunk(), resume, on_leave, constants, valid_rows, max_leave, dry_run
                    ))  # fmt: skip
        except BaseException as raised:
            from_chunk = flight.failed
            earlier = await flight.settle()  # every chunk's rows handed over, in order
            # a chunk before the error's own that ended in one: what a push sending one
            # chunk at a time would have raised
            exc = earlier if earlier is not None and not from_chunk else raised
            results = None if sink is not None else _results.assemble(kept)
            if push.stop.requested and isinstance(exc, Stopped | asyncio.CancelledError):
                raise _partial.interrupted(results, push.sent, out.rows, journal) from None
            if out.rows or push.sent:
                _partial.attach(exc, results, push.sent, journal)
            if exc is raised:
                raise
            exc.add_note(f"Then, also: {raised!r}")
            raise exc from None
    return _results.assemble(kept)


async def _destination_first(plan: _Plan, push: PushContext, constants: Mapping[str, Any]) -> None:
    """The destination check, before a journal's first write into a list reads the list's
    members: a wrong id is the check's ``ConfigError``, not Qualtrics' 404 on that read."""
    if plan.dry_run or push.client is None or constants.get("directory_id") is None:
        return
    given = {k: [v] for k, v in constants.items() if k in ("directory_id", "mailing_list_id")}
    await _preflight.check(plan.action.name, pl.DataFrame(given), push.chunk(), push.checked)


def _read_ahead(
    plan: _Plan,
    source: Any,
    chunks: Iterator[Prepared],
    resume: Resume,
    max_leave: float,
    size: int,
) -> Iterator[Prepared]:
    """The guard of ``on_leave`` before any request, when the input can be read twice (an
    in-memory frame's prepared chunks are kept for the push itself)."""
    if not _leavers.readable_ahead(source):
        return chunks
    if isinstance(source, pl.DataFrame) or type(source).__module__.startswith("pandas"):
        kept = list(chunks)
        _leavers.read_ahead(resume, kept, max_leave)
        return iter(kept)
    again = prepared_chunks(source, partial(_prepare, plan), _ignore, size)
    _leavers.read_ahead(resume, again, max_leave)
    return chunks


def _ignore(part: pl.DataFrame) -> None:
    """Results of the guard's read-ahead: none are kept (the push itself reports them)."""


def _options(action: Action, given: Mapping[str, Any]) -> dict[str, Any]:
    """The action's options (the catalogue's), defaults filled in; TypeError for others."""
    known = {o.name: o.default for o in _fields.options_for(action.name)}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r} for {action.name}")
    return known | dict(given)


def _json_columns(given: Sequence[str] | None, source: Any) -> frozenset[str]:
    """The columns given as ``json_columns``, checked, and those of JSON records."""
    if given is None:
        given = ()
    if isinstance(given, str) or not all(isinstance(c, str) for c in given):
        raise ConfigError(
            f"json_columns must be a list of column names, not {given!r}; "
            "e.g. json_columns=['properties']"
        )
    return frozenset(given) | json_columns_of(source)


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
    json_columns: Sequence[str] = (),
) -> pl.DataFrame:
    """The results a dry run of ``head`` gives, with no client: each row prepared as a push
    prepares it, the invalid with their reasons, the valid with their exact bodies in
    ``payload`` (the widgets' live preview). ``before_dry_run`` is not awaited: it reads
    from Qualtrics. Bad settings raise ``ConfigError`` as a push would."""
    check_constants(action.name, constants, allowed_origin)
    plan = _Plan(action, mapping, constants, allowed_origin, True, frozenset(json_columns))
    prepared = _prepare(plan, head, 0)
    parts = [_results.from_invalid(prepared.invalid)]
    if prepared.valid.height:
        push = PushContext(None, action.start(_options(action, {})))
        parts.append(action.dry_run(prepared.valid, push.chunk()))
    return _results.assemble(parts)


def _prepare(plan: _Plan, chunk: pl.DataFrame, offset: int) -> Prepared:
    return prepare(
        chunk,
        plan.action.name,
        mapping=plan.mapping,
        constants=plan.constants,
        allowed_origin=plan.allowed_origin,
        row_offset=offset,
        json_columns=plan.json_columns,
    )


async def _launch(plan: _Plan, prepared: Prepared, push: PushContext, flight: Flight) -> None:
    """Decide one prepared chunk and start sending it, once no chunk in flight holds one of
    its people (:mod:`qxframe.actions._flight`); its results (sorted by input position)
    go out in their turn. Stopped or failing part-way, the chunk's unreported rows are
    handed over too."""
    resume, valid = push.journal, prepared.valid
    keys = identities = None
    if flight.limit > 1 and plan.action.identities is not None and valid.height:
        if resume is not None and resume.people:
            keys = resume.key_column(valid)  # the journal's person: kept in order too
        identities = _identities(plan.action.identities(valid), keys)
    await flight.clear_of(identities)
    parts = [_results.from_invalid(prepared.invalid)]
    push.advance(prepared.invalid.height)
    sending = None
    if resume is not None:
        resume.carry_invalid(prepared.invalid)
    if resume is not None and valid.height:
        done, valid, sending = resume.split(valid, keys)
        parts.append(done)
        push.advance(done.height)
    flight.launch(_sent(plan, valid, push.chunk(sending), parts), identities)


def _identities(own: pl.Series, keys: pl.Series | None) -> pl.Series:
    if keys is None:
        return own
    return pl.concat([own.cast(pl.UInt64), keys.hash().cast(pl.UInt64)], rechunk=True)


async def _sent(
    plan: _Plan, valid: pl.DataFrame, ctx: ChunkContext, parts: list[pl.DataFrame]
) -> Sent:
    """One chunk's send: its results (``parts`` so far, and those of ``valid``), and the
    error that ended it, if any (raised by the flight once the results are out)."""
    error: BaseException | None = None
    try:
        parts.append(await _send(plan, valid, ctx))
    except BaseException as exc:  # handed to the flight, raised in order
        parts.append(ctx.unreported(valid))
        error = exc
    part = _results.assemble(parts)
    try:
        part = _operations(part, plan.action.name, ctx.push.journal, ctx.sending)
    except Exception as exc:
        if error is None:
            raise
        error.add_note(f"Then, also: {exc}")
    return part, error


def _operations(
    part: pl.DataFrame, action: str, resume: Resume | None, sending: Sending | None
) -> pl.DataFrame:
    """``operation`` (and ``changes``) for every row that was sent, dry-run or skipped: the
    journal's verdicts when there is one, else an upsert (contacts) or a create (events);
    null for an invalid or a not-sent row."""
    if resume is not None and sending is not None:
        part = resume.annotate(part, sending)
    unsent = pl.col("status").is_in([Status.INVALID, Status.NOT_SENT])
    default = pl.coalesce("operation", pl.lit(default_operation(action)))
    return part.with_columns(
        operation=pl.when(unsent).then(None).otherwise(default),
        changes=pl.when(unsent).then(None).otherwise(pl.col("changes")),
    )


async def _send(plan: _Plan, valid: pl.DataFrame, ctx: ChunkContext) -> pl.DataFrame:
    """The results of ``valid``: dry-run, or sent by the action and checked."""
    action, push = plan.action, ctx.push
    if valid.height == 0:
        return _results.empty()
    if plan.dry_run:
        if action.before_dry_run is not None:  # may read settings (transactions' paths)
            await action.before_dry_run(valid, ctx)
        part = action.dry_run(valid, ctx)
        push.advance(valid.height)
        return part
    if push.stop.requested:
        raise Stopped
    await _preflight.check(action.name, valid, ctx, push.checked)
    work = asyncio.ensure_future(action.send(valid, ctx))
    try:
        await finish(work, push.stop)
        work.result()
    except BaseException as exc:
        if push.journal is not None:
            _partial.also(exc, push.journal.flush)
        if isinstance(exc, Aborted):
            assert push.fatal is not None
            raise push.fatal from None
        raise
    if push.journal is not None:
        push.journal.flush()
    return ctx.results(valid)


def _journal_for(
    journal: str | Path | None, plan: _Plan, stack: ExitStack, full_resync: bool
) -> Resume | None:
    """The push's journal, opened (for lookups only in a dry run: an empty one when there is
    no file yet, so the dry run shows what a first push would do)."""
    if journal is None:
        return None
    if not isinstance(journal, str | Path) or not str(journal):
        raise ConfigError(f"journal must be the path of a file, not {journal!r}")
    opened = Journal.for_lookups(journal) if plan.dry_run else Journal(journal)
    stack.push(opened)  # closed at the end; a failing close does not hide an earlier error
    resume = Resume(opened, plan.action, full_resync=full_resync)
    resume.claim(plan.constants)  # ConfigError for another destination's journal
    return resume


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

    total = count_rows(source) if progress is not False else None  # no pass over a file
    show = progress if progress is not None else (total is None or total > PROGRESS_THRESHOLD)
    return tqdm(total=total, disable=not show, unit="row", desc=f"qxframe {label}", leave=True)
