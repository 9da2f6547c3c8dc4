"""The input of a push as prepared chunks: in-memory frames whole, streamed ones per chunk.

An in-memory frame (polars or pandas) is mapped and validated whole before anything is
sent — so "validated before anything is sent" holds for the whole frame, and a mapping
expression failing at row 55,000 of 60,000 fails before the first request — and then cut
into parts of :data:`CHUNK_SIZE` input rows (each part's results and journal are flushed
on their own). A streamed input (a file, a LazyFrame) is read and prepared chunk by chunk,
with bounded memory; a chunk that fails to prepare after earlier chunks were handed on
is reported as ``not_sent`` rows before its error goes on (docs/architecture.md,
"Interrupts and partial failures").

The runner reads them through an :class:`Ahead`, which lets an action that looks ahead
(``Action.looks_ahead``) read the next :data:`~qxframe.actions._action.LOOK_AHEAD` chunks
early: at most that many prepared chunks are held beyond the one being sent, and only
while an action asks for them. A chunk read early that fails to prepare fails the push
where it would have failed without the look-ahead: once the chunks before it were sent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

import polars as pl

from qxframe import _partial
from qxframe._inputs import DEFAULT_CHUNK_SIZE, iter_chunks
from qxframe._prepare import Prepared
from qxframe.actions._action import LOOK_AHEAD

CHUNK_SIZE = DEFAULT_CHUNK_SIZE  # input rows per chunk (journal flush, results part)
#: input rows per chunk of an action whose chunks are sent side by side (contacts;
#: ``actions._flight``): four of them in flight hold less than one of ``CHUNK_SIZE``, and
#: keep four import jobs running where one chunk of ``CHUNK_SIZE`` ran five, then waited
FLIGHT_CHUNK_SIZE = 10_000
PrepareChunk = Callable[[pl.DataFrame, int], Prepared]  # (chunk, offset of its first row)


def prepared_chunks(
    source: Any,
    prepare: PrepareChunk,
    out: Callable[[pl.DataFrame], object],
    size: int | None = None,
) -> Iterator[Prepared]:
    """The input, prepared: an in-memory frame whole (then cut), a streamed one per chunk
    of ``size`` rows (default :data:`CHUNK_SIZE`).

    A chunk of a streamed input that fails to prepare (after earlier chunks were sent) is
    handed to ``out`` as ``not_sent`` rows before the error goes on.
    """
    size = CHUNK_SIZE if size is None else size
    if _in_memory(source):
        whole = pl.concat(list(iter_chunks(source, chunk_size=size)), rechunk=False)
        yield from _cut(prepare(whole, 0), whole.height, size)
        return
    offset = 0
    for chunk in iter_chunks(source, chunk_size=size):
        try:
            prepared = prepare(chunk, offset)
        except BaseException:
            if offset:
                out(_partial.not_sent(offset, chunk.height))
            raise
        height = chunk.height
        del chunk  # the rows as read: not held while the chunk is sent
        yield prepared
        offset += height


def _in_memory(source: Any) -> bool:
    """A frame, or JSON records (a dict, a list of dicts), as opposed to a file or a lazy scan."""
    in_memory = (pl.DataFrame, dict, list, tuple)
    return isinstance(source, in_memory) or type(source).__module__.startswith("pandas")


def _cut(prepared: Prepared, height: int, size: int) -> Iterator[Prepared]:
    """``prepared`` in parts of ``size`` input rows (each part's journal and results flush)."""
    valid_rows, invalid_rows = prepared.valid["row"], prepared.invalid["row"]
    for start in range(0, max(height, 1), size):
        bounds = pl.Series([start, start + size], dtype=pl.Int64)
        v = valid_rows.search_sorted(bounds).to_list()
        i = invalid_rows.search_sorted(bounds).to_list()
        yield Prepared(
            valid=prepared.valid.slice(v[0], v[1] - v[0]),
            invalid=prepared.invalid.slice(i[0], i[1] - i[0]),
        )


class Ahead:
    """Prepared chunks in input order (iterate once with :meth:`over`), the next few
    readable before their turn (:meth:`peek`).

    A chunk that fails to prepare when read early is held back with its error: the chunks
    before it are handed over first, then its ``not_sent`` rows go to ``out`` (those
    :func:`prepared_chunks` reports through :meth:`later`) and its error is raised.
    """

    def __init__(self, out: Callable[[pl.DataFrame], object]) -> None:
        self._out = out
        self._later: list[pl.DataFrame] = []
        self._chunks: Iterator[Prepared] = iter(())
        self._buffer: deque[Prepared] = deque()
        self._ended = False
        self._error: Exception | None = None

    def later(self, part: pl.DataFrame) -> None:
        """Results :func:`prepared_chunks` hands over for a chunk that failed to prepare:
        given to ``out`` when that chunk's turn comes."""
        self._later.append(part)

    def over(self, chunks: Iterator[Prepared]) -> Iterator[Prepared]:
        """``chunks``, one by one (those :meth:`peek` read already come from memory)."""
        self._chunks = chunks
        while self._read(1):
            yield self._buffer.popleft()
        if self._error is not None:
            for part in self._later:
                self._out(part)
            raise self._error

    def peek(self, count: int) -> list[Prepared] | None:
        """The next ``count`` chunks after the one being sent (at most ``LOOK_AHEAD``),
        read now; None when fewer follow."""
        if not 1 <= count <= LOOK_AHEAD:
            raise ValueError(f"an action reads 1 to {LOOK_AHEAD} chunks ahead, not {count}")
        return list(islice(self._buffer, count)) if self._read(count) else None

    def _read(self, count: int) -> bool:
        while len(self._buffer) < count and not self._ended:
            try:
                self._buffer.append(next(self._chunks))
            except StopIteration:
                self._ended = True
            except Exception as error:  # raised in its turn, after the chunks before it
                self._ended, self._error = True, error
        return len(self._buffer) >= count
