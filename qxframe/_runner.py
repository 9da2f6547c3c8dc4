"""Running a push: chunks in, validated, sent (or dry-run), one results frame out.

:func:`apush` is the one pipeline behind every action: it reads the input in chunks,
prepares each chunk (mapping + validation), reports invalid rows, and hands the valid
rows to the action's ``send`` (or ``dry_run``). :class:`Push` is the state one push
shares between its requests: the client, the concurrency limit, the progress bar, and
the rule that a token refused before the first success stops the whole push.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from qxframe import _results
from qxframe._envelope import Reply
from qxframe._inputs import iter_chunks
from qxframe._prepare import check_constants, prepare
from qxframe.exceptions import AuthError, ConfigError, QxError

if TYPE_CHECKING:
    from qxframe._client import Client

T = TypeVar("T")
DEFAULT_CONCURRENCY = 4
PROGRESS_THRESHOLD = 300  # rows: smaller pushes show no progress bar unless asked


class _Aborted(Exception):
    """Internal: the push was stopped by a fatal error (see ``Push.fatal``)."""


@dataclass
class Push:
    """State shared by the requests of one push."""

    client: Client | None
    constants: Mapping[str, Any]
    concurrency: int = DEFAULT_CONCURRENCY
    batch_size: int = 100
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    progress: Any = None
    any_success: bool = False
    fatal: QxError | None = None
    memo: dict[str, Any] = field(default_factory=dict)  # per-push caches kept by actions

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    @property
    def default_date(self) -> str:
        """The push's start time, the date of transactions that give none."""
        return self.started.strftime("%Y-%m-%d %H:%M:%S")

    @property
    def api(self) -> Client:
        assert self.client is not None, "a push that sends needs a client"
        return self.client

    async def call(self, make: Callable[[], Awaitable[Reply]]) -> Reply | QxError:
        """One request under the concurrency limit; a failure comes back as its error.

        A 401/403 before any success in this push stops the whole push (it raises
        ``AuthError`` to the caller); after a success it only fails its rows.
        """
        async with self._slots:
            if self.fatal is not None:
                raise _Aborted
            try:
                reply = await make()
            except AuthError as error:
                if not self.any_success:
                    self.fatal = error
                    raise _Aborted from error
                return error
            except QxError as error:
                return error
            self.any_success = True
            return reply

    def advance(self, rows: int) -> None:
        if self.progress is not None and rows:
            self.progress.update(rows)


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
    """One Qualtrics action: its name, destination constants, and how rows are sent."""

    name: str
    constants: tuple[str, ...]
    send: Callable[[pl.DataFrame, Push], Awaitable[list[_results.Outcome]]]
    dry_run: Callable[[pl.DataFrame, Push], pl.DataFrame]


async def apush(
    action: Action,
    source: Any,
    *,
    client: Client | None,
    constants: Mapping[str, Any],
    mapping: Mapping[str, Any] | None,
    dry_run: bool,
    concurrency: int | None,
    progress: bool | None,
    batch_size: int = 100,
) -> pl.DataFrame:
    """Push ``source`` with ``action``; return the results frame."""
    client = _client_for(client, dry_run)
    concurrency = _positive(
        "concurrency", DEFAULT_CONCURRENCY if concurrency is None else concurrency
    )
    batch_size = _positive("batch_size", batch_size)
    allowed_origin = client.allowed_origin if client is not None else None
    check_constants(action.name, constants, allowed_origin)
    push = Push(client, constants, concurrency=concurrency, batch_size=batch_size)
    parts: list[pl.DataFrame] = []
    with _progress_bar(source, progress, action.name) as push.progress:
        offset = 0
        for chunk in iter_chunks(source):
            prepared = prepare(
                chunk,
                action.name,
                mapping=mapping,
                constants=constants,
                allowed_origin=allowed_origin,
                row_offset=offset,
            )
            offset += chunk.height
            parts.append(_results.from_invalid(prepared.invalid))
            push.advance(prepared.invalid.height)
            parts.append(await _handle(action, prepared.valid, push, dry_run))
    return _results.assemble(parts)


async def _handle(action: Action, valid: pl.DataFrame, push: Push, dry_run: bool) -> pl.DataFrame:
    if valid.height == 0:
        return _results.empty()
    if dry_run:
        part = action.dry_run(valid, push)
        push.advance(valid.height)
        return part
    try:
        outcomes = await action.send(valid, push)
    except _Aborted:
        assert push.fatal is not None
        raise push.fatal from None
    return _results.from_outcomes(outcomes)


def _client_for(client: Client | None, dry_run: bool) -> Client | None:
    if client is not None or dry_run:
        return client
    from qxframe._client import Client

    return Client.from_env()


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}.")
    return value


def _progress_bar(source: Any, progress: bool | None, label: str) -> Any:
    from tqdm.auto import tqdm

    total = source.height if isinstance(source, pl.DataFrame) else _length(source)
    show = progress if progress is not None else (total is None or total > PROGRESS_THRESHOLD)
    return tqdm(total=total, disable=not show, unit="row", desc=f"qxframe {label}", leave=True)


def _length(source: Any) -> int | None:
    height = getattr(source, "shape", None)
    if isinstance(height, tuple) and height and isinstance(height[0], int):
        return height[0]
    return None


def rows_of(frame: pl.DataFrame) -> Iterable[dict[str, Any]]:
    """The rows of a prepared frame as dicts (field name → value)."""
    return frame.iter_rows(named=True)
