"""Turn any accepted input into polars chunks, streaming files so memory stays bounded.

Accepted: a polars ``DataFrame`` or ``LazyFrame``, a pandas ``DataFrame`` (pandas is
imported only if the caller already did), or a ``str``/``Path`` to a ``.csv`` or
``.parquet`` file. Parquet files and LazyFrames are scanned lazily and collected in
batches; a CSV file is read in blocks of a few MiB cut at record boundaries
(:mod:`qxframe._csvblocks`: polars' streaming CSV reader reads ahead of its consumer
without bound), so a file larger than memory is never loaded whole.

CSV files are read with every column as ``String`` (``infer_schema=False``): an id such
as ``ext_ref`` or ``phone`` keeps its leading zeros, and normalisation casts each field
to its canonical type (``unsubscribed`` from ``"true"``/``"0"``, epoch-millisecond
strings to dates, and so on). Empty CSV cells are null. A CSV must be UTF-8 (a BOM is
fine); the first MiB is checked when the file is opened and the rest block by block as
it is parsed, so a bad byte further on raises ``ConfigError`` (with its offset) before
any row of its block is yielded.

Every source yields at least one chunk (an empty one, with the columns, for an empty
input), so callers can always resolve a mapping against the columns.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from qxframe import _csvblocks
from qxframe.exceptions import ConfigError

DEFAULT_CHUNK_SIZE = 50_000
_UTF8_PROBE_BYTES = 1 << 20
_BIG_CSV_BYTES = 1 << 30  # count_rows gives None above: counting is a pass over the file


def iter_chunks(source: Any, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[pl.DataFrame]:
    """Yield ``source`` as polars DataFrames of at most ``chunk_size`` rows, in order."""
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    if isinstance(source, pl.DataFrame):
        return _slices(source, chunk_size)
    if isinstance(source, pl.LazyFrame):
        return _batches(source, chunk_size, "the LazyFrame")
    if _is_pandas(source):
        return _pandas_slices(source, chunk_size)
    if isinstance(source, str | Path):
        path = Path(source)
        if _kind(path) == "csv":
            _check_csv(path)
            return _csv_chunks(path, chunk_size)
        return _batches(_scan_parquet(path), chunk_size, str(path))
    raise ConfigError(
        f"cannot read rows from a {type(source).__name__}; pass a polars DataFrame or "
        "LazyFrame, a pandas DataFrame, or the path of a .csv or .parquet file"
    )


def count_rows(source: Any) -> int | None:
    """The number of rows when it is cheap to know; ``None`` otherwise.

    ``None`` for a LazyFrame, and for a CSV file over 1 GiB: a CSV's rows are counted by a
    pass over the file (block by block, quotes respected, memory bounded), which is about
    two seconds per GiB.
    """
    if isinstance(source, pl.DataFrame):
        return source.height
    if _is_pandas(source):
        return len(source)
    if isinstance(source, str | Path):
        path = Path(source)
        if _kind(path) == "csv":
            _check_csv(path)  # ConfigError for a missing, empty or non-UTF-8 file
            if path.stat().st_size > _BIG_CSV_BYTES:
                return None
            return _csvblocks.count_records(path)
        lazy = _scan_parquet(path)
        try:
            return int(lazy.select(pl.len()).collect().item())
        except pl.exceptions.PolarsError:
            return None
    return None


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
        except Exception as exc:  # pyarrow raises several types for mixed object columns
            raise ConfigError(
                f"could not convert the pandas frame to polars ({exc}); give each column "
                "one type, e.g. df[col] = df[col].astype('string')"
            ) from exc


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise ConfigError(
        f"{path} has an unknown extension {path.suffix!r}; give a .csv or .parquet file, "
        "or load it yourself and pass the frame"
    )


def _scan_parquet(path: Path) -> pl.LazyFrame:
    _check_file(path)
    return pl.scan_parquet(path)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist or is not a file; check the path")


def _check_csv(path: Path) -> None:
    _check_file(path)
    _check_utf8(path)
    if path.stat().st_size == 0:
        raise ConfigError(f"{path} is empty; a CSV needs at least a header line")


def _csv_chunks(path: Path, chunk_size: int) -> Iterator[pl.DataFrame]:
    try:
        yield from _csvblocks.read_chunks(path, chunk_size)
    except _csvblocks.NotUtf8 as exc:
        raise _not_utf8(path, exc.offset) from exc
    except pl.exceptions.PolarsError as exc:
        raise _read_error(exc, str(path)) from exc


def _check_utf8(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(_UTF8_PROBE_BYTES)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the probe's end
            raise _not_utf8(path, exc.start) from exc


def _not_utf8(path: Path | str, where: int | None = None) -> ConfigError:
    at = f" (first bad byte at offset {where})" if where is not None else ""
    return ConfigError(
        f"{path} is not UTF-8 text{at}; re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8), "
        "or read it with pandas.read_csv(..., encoding=...) and pass the frame"
    )


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


def _read_error(exc: Exception, what: str) -> ConfigError:
    text = str(exc)
    if "utf-8" in text.lower() or "utf8" in text.lower():
        return _not_utf8(what)
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ConfigError(f"reading {what} failed: {first_line}; check that it reads with polars")
