"""Turn any accepted input into polars chunks, streaming files so memory stays bounded.

Accepted: a polars ``DataFrame`` or ``LazyFrame``, a pandas ``DataFrame`` (pandas is
imported only if the caller already did), a ``str``/``Path`` to a ``.csv``, ``.tsv``,
``.jsonl`` or ``.ndjson`` (each maybe gzipped: ``.csv.gz``) or ``.parquet`` file, a
:class:`CsvSource` (the command line's ``-`` for standard input, or a file with a
``--delimiter``), or JSON records: a dict (one row: a workflow's one event) or a list of
dicts (:mod:`qxframe._jsonrows`, which keeps nested values as JSON text that the workflow
body sends as JSON: :func:`json_columns_of`). Parquet
files and LazyFrames are scanned lazily and collected in batches; delimited text is read
in blocks of a few MiB cut at record boundaries (:mod:`qxframe._csvblocks`: polars'
streaming CSV reader reads ahead of its consumer without bound), so an input larger than
memory is never loaded whole, and standard input is read once, as it comes.

Delimited text is read with every column as ``String`` (``infer_schema=False``): an id
such as ``ext_ref`` or ``phone`` keeps its leading zeros, and normalisation casts each
field to its canonical type (``unsubscribed`` from ``"true"``/``"0"``, epoch-millisecond
strings to dates, and so on). Empty cells are null; a row with fewer fields than the
header has nulls for the rest. Line endings may be ``\\n``, ``\\r\\n`` or a lone ``\\r``,
mixed. It must be UTF-8 (a BOM is fine); the first MiB is checked when the input is
opened and the rest block by block as it is parsed, so a bad byte further on raises
``ConfigError`` (naming its line) before any row of its block is yielded. Any problem of
the text (too many fields, a stray quote, two columns of one name) is a ``ConfigError``
naming the line; an input that cannot be read at all is a ``ConfigError`` too.

Every source yields at least one chunk (an empty one, with the columns, for an empty
input), so callers can always resolve a mapping against the columns.
"""

from __future__ import annotations

import contextlib
import gzip
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from qxframe import _csvblocks
from qxframe._jsonrows import JsonRows, is_json_lines
from qxframe.delivery._config import positive
from qxframe.exceptions import ConfigError, first_line

DEFAULT_CHUNK_SIZE = 50_000
_UTF8_PROBE_BYTES = 1 << 20
_BIG_CSV_BYTES = 1 << 30  # count_rows gives None above: counting is a pass over the file
_GZIP_RATIO = 8  # a gzipped file counts as this many times its size
SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
PARQUET = (".parquet", ".pq")


class CsvSource:
    """Delimited text to read rows from: a file (maybe gzipped) or a binary stream.

    ``CsvSource(path)`` takes the separator from the extension (``.csv``, ``.tsv``,
    either with ``.gz``) unless ``separator`` is given; ``CsvSource(stream=…)`` reads a
    stream once (``name`` says what it is in messages).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        stream: BinaryIO | None = None,
        separator: str | None = None,
        name: str | None = None,
    ) -> None:
        if (path is None) == (stream is None):
            raise TypeError("give a path or a stream")
        self.path = Path(path) if path is not None else None
        self.stream = stream
        self.gzipped = self.path is not None and self.path.suffix.lower() == ".gz"
        self.separator = _separator(separator, self.path)
        self.name = name or str(self.path)
        self._prefix = b""  # bytes of the stream already read (for its header)

    def open(self) -> contextlib.AbstractContextManager[Any]:
        """The bytes (decompressed): a context manager giving a binary reader."""
        if self.stream is not None:
            prefix, self._prefix = self._prefix, b""
            return contextlib.nullcontext(_Prefixed(prefix, self.stream))
        assert self.path is not None
        try:
            if self.gzipped:
                return gzip.open(self.path, "rb")
            return self.path.open("rb")
        except OSError as exc:
            raise _unreadable(self.name, exc) from exc

    def columns(self) -> list[str]:
        """The header's column names (a stream keeps what it read for :meth:`open`)."""
        with self.open() as handle:
            names, read = self._guarded(lambda: _csvblocks.read_header(handle, self.separator))
        if self.stream is not None:
            self._prefix = read
        return names

    def check(self) -> None:
        """``ConfigError`` now for a file that is missing, empty or not UTF-8 at its start."""
        if self.path is None:
            return
        _check_file(self.path)
        with self.open() as handle:
            head = self._guarded(lambda: handle.read(_UTF8_PROBE_BYTES))
        if not head:
            raise ConfigError(f"{self.name} is empty; a CSV needs at least a header line")
        self._guarded(lambda: _csvblocks.check_head(head))

    def chunks(self, chunk_size: int) -> Iterator[pl.DataFrame]:
        with self.open() as handle:
            yield from self._guarded(
                lambda: _csvblocks.read_chunks(handle, chunk_size, separator=self.separator)
            )

    def count(self) -> int | None:
        """The number of rows (a pass over the file); ``None`` for a stream or a big file."""
        if self.path is None:
            return None
        self.check()
        size = self.path.stat().st_size * (_GZIP_RATIO if self.gzipped else 1)
        if size > _BIG_CSV_BYTES:
            return None
        with self.open() as handle:
            return self._guarded(lambda: _csvblocks.count_records(handle))

    def _guarded(self, work: Any) -> Any:
        """``work()``, its errors (also while iterating a generator it returns) translated."""
        try:
            result = work()
            if isinstance(result, Iterator):
                return _translated(result, self)
            return result
        except (_csvblocks.CsvError, OSError, EOFError, pl.exceptions.PolarsError) as exc:
            raise _text_error(self, exc) from exc


def _translated(items: Iterator[Any], source: CsvSource) -> Iterator[Any]:
    try:
        yield from items
    except (_csvblocks.CsvError, OSError, EOFError, pl.exceptions.PolarsError) as exc:
        raise _text_error(source, exc) from exc


class _Prefixed:
    """A reader giving ``prefix`` first, then the rest of ``stream``."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix, self._stream = prefix, stream

    def read(self, size: int = -1) -> bytes:
        if not self._prefix:
            return self._stream.read(size)
        if size < 0:
            data, self._prefix = self._prefix + self._stream.read(), b""
            return data
        data, self._prefix = self._prefix[:size], self._prefix[size:]
        return data


def iter_chunks(source: Any, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[pl.DataFrame]:
    """Yield ``source`` as polars DataFrames of at most ``chunk_size`` rows, in order."""
    positive("chunk_size", chunk_size)
    if isinstance(source, pl.DataFrame):
        return _slices(source, chunk_size)
    if isinstance(source, pl.LazyFrame):
        return _batches(source, chunk_size, "the LazyFrame")
    if _is_pandas(source):
        return _pandas_slices(source, chunk_size)
    source = _opened(source)
    if isinstance(source, CsvSource):
        source.check()
        return source.chunks(chunk_size)
    if isinstance(source, JsonRows):
        return source.chunks(chunk_size)
    if isinstance(source, Path):
        return _batches(_scan_parquet(source), chunk_size, str(source))
    raise ConfigError(
        f"cannot read rows from a {type(source).__name__}; pass a polars DataFrame or "
        "LazyFrame, a pandas DataFrame, a dict (one row) or a list of dicts, or the path of "
        "a .csv, .jsonl or .parquet file"
    )


def _opened(source: Any) -> Any:
    """A path as its reader (:func:`file_source`); JSON records as :class:`JsonRows`."""
    if isinstance(source, str | Path):
        return file_source(source)
    if isinstance(source, dict | list | tuple):
        return JsonRows(source)
    return source


def json_columns_of(source: Any) -> frozenset[str]:
    """The columns of ``source`` that hold JSON text to send as JSON (JSON records' nested
    and mixed values); none for other inputs.

    >>> sorted(json_columns_of({"event": "a", "props": {"score": 5}, "tags": ["x"]}))
    ['props', 'tags']
    """
    source = _opened(source)
    return source.json_columns if isinstance(source, JsonRows) else frozenset()


def file_source(path: str | Path, separator: str | None = None) -> CsvSource | JsonRows | Path:
    """A :class:`CsvSource` for delimited text, :class:`JsonRows` for JSON Lines, or the
    ``Path`` of a Parquet file."""
    path = Path(path)
    if path.suffix.lower() in PARQUET or (is_json_lines(path) and separator is None):
        if separator is not None:
            raise ConfigError(f"{path} is a Parquet file: it has no delimiter to give")
        return JsonRows(path) if is_json_lines(path) else path
    return CsvSource(path, separator=separator)


def count_rows(source: Any) -> int | None:
    """The number of rows when it is cheap to know; ``None`` otherwise.

    ``None`` for a LazyFrame, a stream, and a CSV file over 1 GiB (gzipped: 128 MiB): a
    CSV's rows are counted by a pass over the file (block by block, quotes respected,
    memory bounded), which is about two seconds per GiB.
    """
    if isinstance(source, pl.DataFrame):
        return source.height
    if _is_pandas(source):
        return len(source)
    source = _opened(source)
    if isinstance(source, CsvSource | JsonRows):
        return source.count()  # ConfigError for a missing, empty or unreadable file
    if isinstance(source, Path):
        try:
            return int(_scan_parquet(source).select(pl.len()).collect().item())
        except pl.exceptions.PolarsError:
            return None
    return None


def _separator(given: str | None, path: Path | None) -> str:
    if given is not None:
        if given in ("\\t", "tab"):
            return "\t"
        if len(given) != 1 or given in '"\r\n':
            raise ConfigError(
                f"the delimiter must be one character (not a quote or newline), not {given!r}"
            )
        return given
    if path is None:
        return ","
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".gz"]:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in SEPARATORS:
        raise ConfigError(
            f"{path} has an unknown extension {''.join(path.suffixes)!r}; give a .csv, .tsv "
            "(either maybe .gz) or .parquet file, or load it yourself and pass the frame "
            "(the command line also takes --delimiter for other delimited text)"
        )
    return SEPARATORS[suffix]


def _is_pandas(source: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(source, pandas.DataFrame)


def _slices(frame: pl.DataFrame, chunk_size: int) -> Iterator[pl.DataFrame]:
    if frame.height == 0:
        yield frame
        return
    yield from frame.iter_slices(chunk_size)


def _pandas_slices(frame: Any, chunk_size: int) -> Iterator[pl.DataFrame]:
    starts = range(0, len(frame), chunk_size) if len(frame) else [0]
    for start in starts:
        part = frame.iloc[start : start + chunk_size]
        try:
            yield pl.from_pandas(part)
        except UnicodeEncodeError as exc:  # text that is not Unicode: no type change helps
            raise _not_unicode(part, start, exc) from None
        except Exception as exc:  # pyarrow raises several types for mixed object columns
            raise ConfigError(
                f"could not convert the pandas frame to polars ({exc}); give each column "
                "one type, e.g. df[col] = df[col].astype('string')"
            ) from exc


def _not_unicode(part: Any, start: int, exc: UnicodeEncodeError) -> ConfigError:
    """The error for a pandas frame holding text that cannot be UTF-8: a lone surrogate
    (``\\ud800``), which a file decoded with ``errors="surrogateescape"`` or a broken
    UTF-16 source leaves behind. It names the column and row, never the value."""
    where = "a column"
    for column in part.columns:
        for offset, value in enumerate(part[column].tolist()):
            if isinstance(value, str) and not _encodable(value):
                where = f"column {str(column)!r}, row {start + offset}"
                break
        else:
            continue
        break
    char = exc.object[exc.start : exc.start + 1] if isinstance(exc.object, str) else ""
    return ConfigError(
        f"the pandas frame holds text that is not valid Unicode in {where} (a lone surrogate, "
        f"{char.encode('unicode_escape').decode()}): the data was decoded wrongly, not typed "
        "wrongly. Read the file again with its real encoding (e.g. encoding='utf-16' or "
        "'cp1252', not errors='surrogateescape'), or replace such characters: "
        "df[col] = df[col].str.encode('utf-8', 'replace').str.decode('utf-8')"
    )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _scan_parquet(path: Path) -> pl.LazyFrame:
    _check_file(path)
    return pl.scan_parquet(path)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist or is not a file; check the path")


def _unreadable(name: str, exc: Exception) -> ConfigError:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return ConfigError(f"cannot read {name}: {reason}; check the file and its permissions")


def _text_error(source: CsvSource, exc: Exception) -> ConfigError:
    name = source.name
    if isinstance(exc, _csvblocks.NotUtf8):
        return ConfigError(
            f"{name} is not UTF-8 text (first bad byte on line {exc.line}, at offset "
            f"{exc.offset}); re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8), or read it "
            "with pandas.read_csv(..., encoding=...) and pass the frame"
        )
    if isinstance(exc, _csvblocks.CsvError):
        return ConfigError(f"{name}, line {exc.line}: {exc.problem}")
    if isinstance(exc, OSError | EOFError):  # gzip's BadGzipFile is an OSError
        return _unreadable(name, exc)
    return ConfigError(f"reading {name} failed: {first_line(exc)}; check that it reads as CSV")


def _batches(lazy: pl.LazyFrame, chunk_size: int, what: str) -> Iterator[pl.DataFrame]:
    try:
        batches = iter(lazy.collect_batches(chunk_size=chunk_size))
        first = next(batches, None)
        if first is None:
            yield pl.DataFrame(schema=lazy.collect_schema())
            return
        yield first
        while (batch := next(batches, None)) is not None:
            yield batch
    except pl.exceptions.PolarsError as exc:
        raise _read_error(exc, what) from exc
    except OSError as exc:
        raise _unreadable(what, exc) from exc


def _read_error(exc: Exception, what: str) -> ConfigError:
    return ConfigError(f"reading {what} failed: {first_line(exc)}; check that it reads with polars")
