"""Chunks in flight: a chunk is sent while the ones before it still are; results in order.

A chunk's send ends when its slowest request or import job does. Waiting for that before
the next chunk starts would leave the push running ever fewer requests towards each chunk's
end — by import, a 10,000-row chunk is one job, and nothing else would run until it is
done. So for an action that names who its rows are (``Action.identities``: contacts),
the runner starts the next chunk while up to :data:`CHUNKS_IN_FLIGHT` chunks are being
sent, and chunk size (``_chunks.FLIGHT_CHUNK_SIZE``, 10,000 rows) bounds the memory a push
holds, not how much of it is in flight (docs/architecture.md, "Chunks in flight").

What stays as it was with one chunk at a time:

- **Order of a person's rows.** A chunk starts only once no chunk in flight holds a row of
  one of its identities (:meth:`Flight.clear_of` lands those first): a person's rows are
  written in input order, and the journal decides a chunk's rows after the outcomes of
  that person's earlier rows are recorded.
- **Results in input order.** A chunk's results go to the sink when every chunk before it
  has handed over its own (:meth:`Flight.hand` queues parts behind the chunks in flight).
- **Stopping and failing.** A chunk that fails stops the others (the push's stop: nothing
  new starts, requests on the wire answer); every chunk's rows are handed over, and the
  first error in input order is raised (:meth:`Flight.settle`).

Every other action, and a dry run, keeps one chunk in flight: its next chunk is read only
once the last one is done.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import polars as pl

from qxframe import _partial
from qxframe.delivery._stop import Stop

#: Chunks of an action that names its rows' identities being sent at once, at most: with
#: 10,000-row chunks (``_chunks.FLIGHT_CHUNK_SIZE``), up to 40,000 rows and, by import,
#: four jobs (docs/architecture.md, "Memory", for what other sizes measured).
CHUNKS_IN_FLIGHT = 4
Sent = tuple[pl.DataFrame, BaseException | None]  # a chunk's results, and what ended it


@dataclass
class _Entry:
    """A chunk being sent (``task``), or results with nothing left to send (``part``)."""

    task: asyncio.Future[Sent] | None = None
    part: pl.DataFrame | None = None
    identities: pl.Series | None = None


class Flight:
    """The chunks of one push being sent, in input order (see the module docstring)."""

    def __init__(self, out: Callable[[pl.DataFrame], object], stop: Stop, limit: int) -> None:
        self._out, self._stop, self.limit = out, stop, limit
        self._queue: deque[_Entry] = deque()
        self.failed = False  # a chunk's send raised: the others are stopped

    def hand(self, part: pl.DataFrame) -> None:
        """Results of rows not being sent: out now, or after the chunks in flight."""
        if self._queue:
            self._queue.append(_Entry(part=part))
        else:
            self._out(part)

    def launch(self, sending: Coroutine[Any, Any, Sent], identities: pl.Series | None) -> None:
        """Send a chunk: ``sending`` gives its results and the error that ended it, if any."""
        self._queue.append(_Entry(asyncio.ensure_future(sending), identities=identities))

    async def room(self) -> None:
        """Return once fewer than ``limit`` chunks are in flight (land the oldest)."""
        while sum(e.task is not None for e in self._queue) >= self.limit:
            await self._land()

    async def clear_of(self, identities: pl.Series | None) -> None:
        """Return once no chunk in flight holds one of ``identities`` (land up to the last
        that does, in order)."""
        if identities is None or identities.len() == 0:
            return
        wanted = identities.implode()
        last = -1
        for i, entry in enumerate(self._queue):
            if entry.identities is not None and entry.identities.is_in(wanted).any():
                last = i
        for _ in range(last + 1):
            await self._land()

    async def drain(self) -> None:
        """Land every chunk, in order; a chunk's error is raised once its results are out."""
        while self._queue:
            await self._land()

    async def settle(self) -> BaseException | None:
        """After an error: land every chunk still in flight, in order, stopping them first
        when a chunk failed (else they finish); the first error one of them ends in."""
        first: BaseException | None = None
        while self._queue:
            if self.failed:
                self._stop.request()
            try:
                await self._land()
            except BaseException as error:  # handed back to the runner
                first = first or error
        return first

    async def _land(self) -> None:
        entry = self._queue.popleft()
        if entry.task is None:
            assert entry.part is not None
            self._out(entry.part)
            return
        part, error = await _ended(entry.task, self._stop)
        if error is None:
            self._out(part)
            return
        self.failed = True
        _partial.also(error, self._out, part)
        raise error


async def _ended(task: asyncio.Future[Sent], stop: Stop) -> Sent:
    """``task``'s result; a cancellation of the waiting task counts as a request to stop
    (the chunk then ends as a stopped one does), a second one as a hard stop."""
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            stop.request(hard=stop.requested)
    return task.result()
