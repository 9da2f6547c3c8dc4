"""The input of a push as prepared chunks: in-memory frames whole, streamed ones per chunk.

An in-memory frame (polars or pandas) is mapped and validated whole before anything is
sent — so "validated before anything is sent" holds for the whole frame, and a mapping
expression failing at row 55,000 of 60,000 fails before the first request — and then cut
into parts of :data:`CHUNK_SIZE` input rows (each part's results and journal are flushed
on their own). A streamed input (a file, a LazyFrame) is read and prepared chunk by chunk,
with bounded memory; a chunk that fails to prepare after earlier chunks were handed on
is reported as ``not_sent`` rows before its error goes on (docs/architecture.md,
"Interrupts and partial failures").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from qxframe import _partial
from qxframe._inputs import DEFAULT_CHUNK_SIZE, iter_chunks
from qxframe._prepare import Prepared

CHUNK_SIZE = DEFAULT_CHUNK_SIZE  # input rows per chunk (journal flush, results part)
PrepareChunk = Callable[[pl.DataFrame, int], Prepared]  # (chunk, offset of its first row)


def prepared_chunks(
    source: Any, prepare: PrepareChunk, out: Callable[[pl.DataFrame], object]
) -> Iterator[Prepared]:
    """The input, prepared: an in-memory frame whole (then cut), a streamed one per chunk.

    A chunk of a streamed input that fails to prepare (after earlier chunks were sent) is
    handed to ``out`` as ``not_sent`` rows before the error goes on.
    """
    if _in_memory(source):
        whole = pl.concat(list(iter_chunks(source, chunk_size=CHUNK_SIZE)), rechunk=False)
        yield from _cut(prepare(whole, 0), whole.height, CHUNK_SIZE)
        return
    offset = 0
    for chunk in iter_chunks(source, chunk_size=CHUNK_SIZE):
        try:
            prepared = prepare(chunk, offset)
        except BaseException:
            if offset:
                out(_partial.not_sent(offset, chunk.height))
            raise
        yield prepared
        offset += chunk.height


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
