"""Read CSV bytes in blocks cut at record boundaries, so memory stays bounded.

polars' streaming CSV source (``scan_csv(...).collect_batches``) decodes ahead of its
consumer with nothing holding it back (pola-rs/polars#26432, #26952), so the memory of a
push grew with the file. Here the input (any binary stream: a file, a gzip stream,
standard input) is read :data:`BLOCK_BYTES` at a time instead. A block is cut after its
last newline outside quotes, the rest carried to the next block, and ``header + block``
parsed by ``pl.read_csv`` in a worker thread, one block ahead of the caller — so only a
few blocks and their parsed rows are in memory, whatever the size of the input.

Where a record ends: every run handed on starts at a record boundary, so the number of
``"`` bytes between its start and a newline is even exactly when that newline is outside
quotes (an escaped ``""`` keeps the parity). A record longer than a block (a quoted field
full of newlines, say) makes the block grow until the record fits, up to
:data:`MAX_RECORD_BYTES` (beyond that a quote is taken to be never closed).

Line endings: ``\\n`` and ``\\r\\n`` as polars reads them; a lone ``\\r`` outside quotes (a
"CSV (Macintosh)" file from Excel, or lines of several origins mixed) is read as ``\\n``
— same length, so byte offsets stay those of the file.

Errors name the line (1-based, counting every line of the input): :class:`CsvError` for a
row with more fields than the header, a stray quote, a quote never closed, two columns
of one name (polars would rename one silently); :class:`NotUtf8` for a byte that is not
UTF-8. No row of a run that is not UTF-8 is ever yielded: the run holding the header is
decoded strictly before anything is parsed, and polars checks every field of the others
as it parses them (without holding the GIL, where a ``bytes.decode`` of each block would
hold it for some 15 ms per block). When polars refuses a run, :mod:`qxframe._csvlines`
examines it again in Python (only then) to say which line is wrong and why.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Protocol

import polars as pl

from qxframe._csvlines import CsvError, diagnose
from qxframe.exceptions import first_line

BLOCK_BYTES = 1 << 20
MAX_RECORD_BYTES = 64 << 20
_BOM = b"\xef\xbb\xbf"
_QUOTE = b'"'
_NEWLINE = b"\n"
_CR = b"\r"
_LONE_CR = re.compile(rb"\r(?!\n)")


class Reader(Protocol):
    """Anything with a binary ``read``: a file, a gzip file, standard input."""

    def read(self, size: int = -1, /) -> bytes: ...


class NotUtf8(CsvError):
    """A byte that is not UTF-8, on ``line``, ``offset`` bytes from the input's start."""

    def __init__(self, line: int, offset: int) -> None:
        super().__init__(line, f"not UTF-8 (offset {offset})")
        self.offset = offset


class Run(NamedTuple):
    """Whole records of the input: ``data`` starts at byte ``offset``, on ``line``."""

    offset: int
    line: int
    data: bytes


def read_chunks(
    handle: Reader, chunk_size: int, *, separator: str = ",", block_bytes: int | None = None
) -> Iterator[pl.DataFrame]:
    """The rows read from ``handle`` as frames of ``chunk_size`` rows (the last fewer).

    Every column is ``String`` and empty cells are null, as with
    ``pl.read_csv(path, infer_schema=False)``; a header only gives one empty frame with
    its columns. ``block_bytes`` defaults to :data:`BLOCK_BYTES` (read at call time, so
    tests can make it tiny).
    """
    runs = _runs(handle, block_bytes or BLOCK_BYTES)
    header, body = _header(runs)
    if not header.data:
        raise CsvError(header.line, "there is no header line: the input is empty")
    names = header_names(header.data, separator, header.line)
    empty = _parse(header.data, b"", separator)  # NoDataError for a file of blank lines
    parsed = _parsed(header, body, runs, separator, len(names))
    with contextlib.closing(_ahead(parsed)) as frames:
        yielded = yield from _resliced(frames, chunk_size)
    if not yielded:
        yield empty


def read_header(handle: Reader, separator: str = ",") -> tuple[list[str], bytes]:
    """``(column names, bytes read)`` for the header at the start of ``handle``.

    Reads no further than the block holding the header's end: for a stream that cannot
    seek back, give the bytes read back to the reader first.
    """
    read = bytearray()
    runs = _runs(_Recording(handle, read), BLOCK_BYTES)
    header, _ = _header(runs)
    return header_names(header.data, separator, header.line), bytes(read)


def header_names(header: bytes, separator: str, line: int = 1) -> list[str]:
    """The column names of a header record; :class:`CsvError` when two are the same."""
    _check_utf8(Run(0, line, header))
    text = header.decode("utf-8").removesuffix("\n").removesuffix("\r")
    names = next(csv.reader(io.StringIO(text, newline=""), delimiter=separator), [])
    first: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in first:
            raise CsvError(
                line,
                f"columns {first[name]} and {position} of the header are both named "
                f"{name!r}; rename one of them (qxframe does not guess which to use)",
            )
        first[name] = position
    return names


def count_records(handle: Reader, block_bytes: int | None = None) -> int:
    """The number of rows :func:`read_chunks` yields, counted without parsing a field."""
    rows, header_seen = 0, False
    for run in _runs(handle, block_bytes or BLOCK_BYTES):
        data = run.data
        if not header_seen:
            header, data = _split_header(data)
            if not header:
                continue
            header_seen = True
        rows += _record_ends(data)
        if data and not data.endswith(_NEWLINE):  # the last line, without its newline
            rows += 1
    return rows


def check_head(head: bytes) -> None:
    """:class:`NotUtf8` if the first bytes of an input (``head``) are not UTF-8.

    A character cut at the end of ``head`` is not an error.
    """
    data = _normalized(head)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 4:
            raise NotUtf8(data.count(_NEWLINE, 0, exc.start) + 1, exc.start) from exc


# -- cutting runs ------------------------------------------------------------------------


def _runs(handle: Reader, block_bytes: int) -> Iterator[Run]:
    """Runs of whole records, in order, that together are the input (lone CRs made LF).

    Every run but the last ends with a record-ending newline.
    """
    offset, line, carry, want = 0, 1, b"", block_bytes
    while block := _read(handle, want):
        buf = _normalized(carry + block if carry else block)
        cut = _last_record_end(buf)
        if cut < 0:  # no record ends in it: read as much again (amortised linear)
            if len(buf) > MAX_RECORD_BYTES:
                raise _too_long(line)
            carry, want = buf, max(block_bytes, len(buf))
            continue
        yield Run(offset, line, buf[: cut + 1])
        offset, line = offset + cut + 1, line + buf.count(_NEWLINE, 0, cut + 1)
        carry, want = buf[cut + 1 :], block_bytes
    if carry:
        yield Run(offset, line, carry)


def _read(handle: Reader, size: int) -> bytes:
    """``size`` bytes, or one more when they end with ``\\r`` (it may start a CRLF)."""
    block = handle.read(size)
    if block.endswith(_CR):
        block += handle.read(1)
    return block


def _normalized(buf: bytes) -> bytes:
    """``buf`` (starting outside quotes) with each lone ``\\r`` outside quotes as ``\\n``."""
    if _CR not in buf or buf.count(_CR) == buf.count(b"\r\n"):
        return buf
    parts = buf.split(_QUOTE)
    parts[::2] = [_LONE_CR.sub(_NEWLINE, part) for part in parts[::2]]
    return _QUOTE.join(parts)


def _too_long(line: int) -> CsvError:
    return CsvError(
        line,
        f"a record longer than {MAX_RECORD_BYTES >> 20} MiB starts here: a quote opened on "
        "this line is probably never closed; fix the quoting (a quote inside a field is "
        'written "")',
    )


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


def _header(runs: Iterator[Run]) -> tuple[Run, Run]:
    """``(header record, the rest of its run)``, skipping a BOM and blank lines as polars."""
    for run in runs:
        _check_utf8(run)  # the header's run, before anything is parsed
        data = run.data.removeprefix(_BOM)
        body = data.lstrip(b"\r\n")
        line = run.line + data.count(_NEWLINE, 0, len(data) - len(body))
        header, rest = _split_header(body)
        if header:
            skipped = run.offset + len(run.data) - len(rest)
            return Run(run.offset, line, header), Run(skipped, line + header.count(b"\n"), rest)
    return Run(0, 1, b""), Run(0, 1, b"")


def _split_header(run: bytes) -> tuple[bytes, bytes]:
    """``(header record, rest)`` of the first run; polars skips a BOM and blank lines."""
    body = run.removeprefix(_BOM).lstrip(b"\r\n")
    end = _first_record_end(body)
    if end < 0:
        return body, b""
    return body[: end + 1], body[end + 1 :]


class _Recording:
    """A reader that keeps a copy of every byte read (for :func:`read_header`)."""

    def __init__(self, handle: Reader, into: bytearray) -> None:
        self._handle, self._into = handle, into

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._into += data
        return data


# -- parsing -----------------------------------------------------------------------------


def _check_utf8(run: Run) -> None:
    try:
        run.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = run.line + run.data.count(_NEWLINE, 0, exc.start)
        raise NotUtf8(line, run.offset + exc.start) from exc


def _parsed(
    header: Run, body: Run, runs: Iterator[Run], separator: str, width: int
) -> Iterator[pl.DataFrame]:
    for run in _chain(body, runs):
        try:
            yield _parse(header.data, run.data, separator)
        except pl.exceptions.PolarsError as exc:
            _check_utf8(run)  # where, if polars refused a byte that is not UTF-8
            found = diagnose(run.data, run.line, width, separator.encode())
            if found is not None:
                raise found from exc
            last = run.line + run.data.count(_NEWLINE)
            raise CsvError(run.line, f"(to line {last}) {first_line(exc)}") from exc


def _chain(first: Run, rest: Iterator[Run]) -> Iterator[Run]:
    if first.data:
        yield first
    yield from rest


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


def _parse(header: bytes, body: bytes, separator: str) -> pl.DataFrame:
    return pl.read_csv(io.BytesIO(header + body), infer_schema=False, separator=separator)


def _resliced(
    frames: Iterator[pl.DataFrame], chunk_size: int
) -> Generator[pl.DataFrame, None, bool]:
    """The rows of ``frames`` again, cut into frames of exactly ``chunk_size`` rows; returns
    whether it yielded any. A chunk handed over is not held here while the caller uses it
    (only the rows after it are)."""
    pending: pl.DataFrame | None = None
    cut: deque[pl.DataFrame] = deque()  # what is yielded is taken out of it first
    yielded = False
    for parsed in frames:
        frame = parsed if pending is None else pl.concat([pending, parsed], rechunk=False)
        whole = frame.height - frame.height % chunk_size
        cut.extend(frame.slice(start, chunk_size) for start in range(0, whole, chunk_size))
        pending = frame.slice(whole) if whole < frame.height else None
        del frame, parsed
        while cut:
            yielded = True
            yield cut.popleft()
    if pending is not None:
        cut.append(pending)
        del pending
        yield cut.popleft()
        return True
    return yielded
