"""Read a CSV file in byte blocks cut at record boundaries, so memory stays bounded.

polars' streaming CSV source (``scan_csv(...).collect_batches``) decodes ahead of its
consumer with nothing holding it back (pola-rs/polars#26432, #26952), so the memory of a
push grew with the file. Here the file is read :data:`BLOCK_BYTES` at a time instead. A
block is cut after its last newline outside quotes, the rest carried to the next block,
and ``header + block`` parsed by ``pl.read_csv`` in a worker thread, one block ahead of the
caller — so only a few blocks and their parsed rows are in memory, whatever the size of
the file.

Where a record ends: every run handed on starts at a record boundary, so the number of
``"`` bytes between its start and a newline is even exactly when that newline is outside
quotes (an escaped ``""`` keeps the parity). A record longer than a block (a quoted field
full of newlines, say) makes the block grow until the record fits.

No row of a run that is not UTF-8 is ever yielded: the run holding the header is decoded
strictly before anything is parsed, and polars checks every field of the others strictly
as it parses them (without holding the GIL, where a ``bytes.decode`` of each block would
hold it, and slow the push, for some 15 ms per block). When polars refuses a run, a strict
decode of it tells whether a bad byte is why and at which offset: :class:`NotUtf8`.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import polars as pl

BLOCK_BYTES = 8 << 20
_BOM = b"\xef\xbb\xbf"
_QUOTE = b'"'
_NEWLINE = b"\n"


class NotUtf8(ValueError):
    """A byte that is not UTF-8, at ``offset`` bytes from the start of the file."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"not UTF-8 at offset {offset}")
        self.offset = offset


def read_chunks(
    path: Path, chunk_size: int, block_bytes: int | None = None
) -> Iterator[pl.DataFrame]:
    """The rows of the CSV at ``path`` as frames of ``chunk_size`` rows (the last fewer).

    Every column is ``String`` and empty cells are null, as with
    ``pl.read_csv(path, infer_schema=False)``; a file with a header only gives one empty
    frame with its columns. ``block_bytes`` defaults to :data:`BLOCK_BYTES` (read at
    call time, so tests can make it tiny).
    """
    with path.open("rb") as handle:
        runs = _runs(handle, block_bytes or BLOCK_BYTES)
        header, body = b"", b""
        for offset, run in runs:
            _check_utf8(run, offset)  # the header's run, before anything is parsed
            header, body = _split_header(run)
            if header:
                break
        empty = _parse(header, b"")  # polars' NoDataError for a file of blank lines only
        yielded = False
        with contextlib.closing(_ahead(_parsed(header, body, runs))) as frames:
            for chunk in _resliced(frames, chunk_size):
                yielded = True
                yield chunk
    if not yielded:
        yield empty


def count_records(path: Path, block_bytes: int | None = None) -> int:
    """The number of rows :func:`read_chunks` yields, counted without parsing a field."""
    rows, header_seen = 0, False
    with path.open("rb") as handle:
        for _, run in _runs(handle, block_bytes or BLOCK_BYTES):
            if not header_seen:
                header, run = _split_header(run)
                if not header:
                    continue
                header_seen = True
            rows += _record_ends(run)
            if run and not run.endswith(_NEWLINE):  # the last line, without its newline
                rows += 1
    return rows


def _runs(handle: BinaryIO, block_bytes: int) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` runs of whole records, in order, that together are the file.

    Every run but the last ends with a record-ending newline.
    """
    offset, carry, want = 0, b"", block_bytes
    while block := handle.read(want):
        buf = carry + block if carry else block
        cut = _last_record_end(buf)
        if cut < 0:  # no record ends in it: read as much again (amortised linear)
            carry, want = buf, max(block_bytes, len(buf))
            continue
        yield offset, buf[: cut + 1]
        offset += cut + 1
        carry, want = buf[cut + 1 :], block_bytes
    if carry:
        yield offset, carry


def _check_utf8(run: bytes, offset: int) -> None:
    try:
        run.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(offset + exc.start) from exc


def _last_record_end(buf: bytes) -> int:
    """The index of the last newline of ``buf`` outside quotes, or -1."""
    if _QUOTE not in buf:  # the usual case; ``in`` is much faster than ``count``
        return buf.rfind(_NEWLINE)
    end = len(buf)
    outside = buf.count(_QUOTE) % 2 == 0  # whether buf[:end] ends outside quotes
    while (newline := buf.rfind(_NEWLINE, 0, end)) >= 0:
        outside ^= buf.count(_QUOTE, newline, end) % 2 == 1
        if outside:
            return newline
        end = newline
    return -1


def _first_record_end(buf: bytes) -> int:
    """The index of the first newline of ``buf`` outside quotes, or -1."""
    start, outside = 0, True
    while (newline := buf.find(_NEWLINE, start)) >= 0:
        outside ^= buf.count(_QUOTE, start, newline) % 2 == 1
        if outside:
            return newline
        start = newline + 1
    return -1


def _record_ends(run: bytes) -> int:
    """How many newlines of ``run`` (which starts outside quotes) end a record."""
    if _QUOTE not in run:
        return run.count(_NEWLINE)
    return sum(outside.count(_NEWLINE) for outside in run.split(_QUOTE)[::2])


def _split_header(run: bytes) -> tuple[bytes, bytes]:
    """``(header record, rest)`` of the first run; polars skips a BOM and blank lines."""
    body = run.removeprefix(_BOM).lstrip(b"\r\n")
    end = _first_record_end(body)
    if end < 0:
        return body, b""
    return body[: end + 1], body[end + 1 :]


def _parsed(
    header: bytes, body: bytes, runs: Iterator[tuple[int, bytes]]
) -> Iterator[pl.DataFrame]:
    if body:
        yield _parse(header, body)
    for offset, run in runs:
        try:
            yield _parse(header, run)
        except pl.exceptions.PolarsError:
            _check_utf8(run, offset)  # where, if polars refused a byte that is not UTF-8
            raise


def _ahead(frames: Iterator[pl.DataFrame]) -> Generator[pl.DataFrame, None, None]:
    """``frames``, the next one read and parsed in a thread while the caller uses this one.

    polars parses without holding the GIL, so reading overlaps the caller's work as with
    polars' own streaming reader — but only one block ahead, not the whole file.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qxframe-csv") as pool:
        ahead = pool.submit(next, frames, None)
        while (frame := ahead.result()) is not None:
            ahead = pool.submit(next, frames, None)
            yield frame


def _parse(header: bytes, body: bytes) -> pl.DataFrame:
    return pl.read_csv(io.BytesIO(header + body), infer_schema=False)


def _resliced(frames: Iterator[pl.DataFrame], chunk_size: int) -> Iterator[pl.DataFrame]:
    """The rows of ``frames`` again, cut into frames of exactly ``chunk_size`` rows."""
    pending: pl.DataFrame | None = None
    for parsed in frames:
        frame = parsed if pending is None else pl.concat([pending, parsed], rechunk=False)
        whole = frame.height - frame.height % chunk_size
        for start in range(0, whole, chunk_size):
            yield frame.slice(start, chunk_size)
        pending = frame.slice(whole) if whole < frame.height else None
    if pending is not None:
        yield pending
