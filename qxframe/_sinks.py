"""Results files written chunk by chunk as a push goes, so memory stays bounded.

This module owns the sinks a push hands its results to, one part (one input chunk, by
default 50,000 rows) at a time, in input order: :class:`ResultsWriter` appends them to a
``.csv`` or ``.parquet`` file, :class:`Tally` keeps only counts (what a summary needs);
:func:`read_results` / :func:`scan_results` read a results file back with the results
schema.

- Nothing is created or truncated until the first part comes (by then the push holds its
  journal's lock, so a second push refused by the lock leaves the first one's file
  alone); opening only checks that the file could be written, and refuses a path that
  names the push's input or journal (any spelling, symlinks resolved). A push that
  ends with no rows writes the header only; one that fails before its first part
  leaves no file.
- CSV: the header and each part are appended as they come, so an interrupted push
  leaves the parts done so far. A part is written whole or not at all: when the disk
  fills (or the file system turns read-only) part-way, the file is cut back to its last
  whole row and :class:`~qxframe.exceptions.StorageError` names the file; the part that
  could not be written is kept (:meth:`ResultsWriter.so_far` reads the file and it), so
  the push's exception still carries every row's outcome.
- Parquet cannot be appended to: each part goes to its own file in a hidden folder next
  to the output, and :meth:`ResultsWriter.close` streams the parts into the output with
  ``sink_parquet`` reading one part at a time (:func:`part_by_part`: never all in
  memory), then removes them.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import polars as pl

from qxframe import _results
from qxframe._results import OUTCOME_UNKNOWN, Status
from qxframe.exceptions import ConfigError, StorageError, first_line

KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def results_kind(path: str | Path) -> str:
    """``"csv"`` or ``"parquet"`` from the file's extension; ``ConfigError`` otherwise."""
    kind = KINDS.get(Path(path).suffix.lower())
    if kind is None:
        raise ConfigError(
            f"cannot write results to {str(path)!r}: give a file ending in .csv or .parquet"
        )
    return kind


class ResultsWriter:
    """Append results parts to ``path`` (.csv or .parquet); use as a context manager.

    Call the writer with each part (a results frame); parts must come in input order.
    ``close`` finishes the file (always called by ``with``, also after an error, so the
    rows done so far are kept). ``keep``: files the output must not be (the push's
    input and journal; anything that is not a path is ignored). ``schema``: the columns of
    the file when it holds something other than results (contacts read back, ``_read``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        keep: Iterable[Any] = (),
        schema: Mapping[str, pl.DataType] | None = None,
        identity: bool = False,
    ) -> None:
        self.path = Path(path)
        self._schema = schema
        self._identity = identity  # a sync's removal rows: identity columns kept
        self.kind = results_kind(self.path)
        self.rows = 0
        self._keep = [k for k in keep if isinstance(k, str | Path)]
        self._handle: IO[bytes] | None = None  # unbuffered: a failed write leaves no tail
        self.unwritten: list[pl.DataFrame] = []  # parts a storage error kept out of the file
        self._parts: Path | None = None
        self._count = 0
        self._started = False

    def open(self) -> ResultsWriter:
        """Check that the file may be written; nothing is created yet (see the module)."""
        for other in self._keep:
            if same_file(self.path, other):
                raise ConfigError(
                    f"the results file {str(self.path)!r} is {str(other)!r}, which this push "
                    "reads or keeps: writing it would destroy it; give another file name"
                )
        _check_writable(self.path)
        return self

    def _start(self) -> None:
        self._started = True
        try:
            if self.kind == "csv":
                self._handle = self.path.open("wb", buffering=0)
                self._append(_csv_text(self._empty()))
            else:
                self._parts = Path(
                    tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent)
                )
        except OSError as exc:
            raise ConfigError(f"cannot write results to {str(self.path)!r}: {exc}") from exc

    def __call__(self, part: pl.DataFrame) -> None:
        if not part.height:
            return
        if not self._started:
            self._start()
        if self._schema is None:
            part = _results.conform(part, identity=self._identity)
        else:
            part = part.select(pl.col(n).cast(t) for n, t in self._schema.items())
        if self.unwritten:  # the file stopped at an earlier part: keep order, keep these
            self.unwritten.append(part)
            return
        try:
            if self._handle is not None:
                self._append(_csv_text(part, header=False))
            elif self._parts is not None:
                target = self._parts / f"part-{self._count:08d}.parquet"
                try:
                    part.write_parquet(target)
                except BaseException:
                    target.unlink(missing_ok=True)
                    raise
                self._count += 1
        except (OSError, pl.exceptions.PolarsError) as exc:
            self.unwritten.append(part)
            raise storage_error(self.path, "the results file", exc) from None
        self.rows += part.height

    def _append(self, data: bytes) -> None:
        """Append ``data`` whole, or cut the file back to where it was and raise."""
        assert self._handle is not None
        start = self._handle.tell()
        try:
            view = memoryview(data)
            while view:
                written = self._handle.write(view)
                view = view[written or 0 :]
        except OSError:
            with contextlib.suppress(OSError):
                self._handle.truncate(start)
                self._handle.seek(start)
            raise

    def so_far(self) -> pl.LazyFrame:
        """Every result handed over so far: the file's rows, then those a storage error
        kept out of it (parquet: the parts written, as the file is made on close)."""
        written: list[pl.LazyFrame] = []
        if self.kind == "csv" and self.path.exists():
            written.append(scan_results(self.path))
        elif self._parts is not None and self._count:
            written.append(pl.scan_parquet(sorted(self._parts.glob("part-*.parquet"))))
        elif self.path.exists():
            written.append(scan_results(self.path))
        rest = [part.lazy() for part in self.unwritten]
        frames = [*written, *rest]
        return pl.concat(frames) if frames else _results.empty().lazy()

    def close(self, *, failed: bool = False) -> None:
        """Finish the file (idempotent); ``failed`` with no part written: leave no file."""
        if not self._started and not failed:
            self._start()  # a push of no rows: the header only
        self._started = True
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._parts is not None:
            parts, self._parts = self._parts, None
            try:
                self._combine(parts)
            finally:
                shutil.rmtree(parts, ignore_errors=True)

    def _combine(self, parts: Path) -> None:
        files = sorted(parts.glob("part-*.parquet"))
        staged = parts / "combined.parquet"
        if files:
            part_by_part(files).sink_parquet(staged, row_group_size=PART_ROWS)
        else:
            self._empty().write_parquet(staged)
        os.replace(staged, self.path)

    def _empty(self) -> pl.DataFrame:
        if self._schema is not None:
            return pl.DataFrame(schema=self._schema)
        return _results.conform(_results.empty(), identity=self._identity)

    def __enter__(self) -> ResultsWriter:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: Any, tb: Any) -> None:
        if exc is None:
            try:
                self.close()
            except (OSError, pl.exceptions.PolarsError) as error:
                raise storage_error(self.path, "the results file", error) from None
            return
        try:  # already failing: a close that fails too must not hide that error
            self.close(failed=True)
        except (OSError, pl.exceptions.PolarsError) as error:
            exc.add_note(f"Finishing the results file {str(self.path)!r} failed too: {error}")


#: Rows of a row group of a combined results file (a part is one input chunk's results).
PART_ROWS = 50_000


def part_by_part(files: list[Path]) -> pl.LazyFrame:
    """The rows of the parquet ``files`` in order, as one LazyFrame that reads one file at a
    time when sunk.

    ``pl.scan_parquet(files)`` decodes files ahead of the writer: combining 20 parts of a
    1,000,000-row push held some 60 MB of them at once (3 MB for one part), where this
    holds about one part and the row group being written (docs/architecture.md, "Memory").
    """
    from polars.io.plugins import register_io_source

    def source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        left = n_rows
        for file in files:
            frame = pl.read_parquet(file, columns=with_columns)
            if predicate is not None:
                frame = frame.filter(predicate)
            if left is not None:
                frame = frame.head(left)
                left -= frame.height
            yield frame
            if left is not None and left <= 0:
                return

    return register_io_source(source, schema=pl.read_parquet_schema(files[0]))


def storage_error(path: Path, what: str, exc: BaseException, todo: str = "") -> StorageError:
    """The error for a file a push keeps that could not be written (``what``: "the results
    file", "the journal"): it names the file, the system's reason and what to do."""
    reason = getattr(exc, "strerror", None) or first_line(exc)
    todo = todo or (
        "free space on its disk, or give a results file on another disk (a read-only file "
        "system cannot be written)"
    )
    return StorageError(f"could not write {what} {str(path)!r} ({reason}): {todo}", path=path)


def _csv_text(part: pl.DataFrame, *, header: bool = True) -> bytes:
    buffer = io.BytesIO()
    part.write_csv(buffer, include_header=header)
    return buffer.getvalue()


def same_file(path: str | Path, other: str | Path) -> bool:
    """Whether two paths name one file: any spelling, symlinks resolved, hard links too."""
    a, b = Path(path), Path(other)
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _check_writable(path: Path) -> None:
    """``ConfigError`` unless ``path`` could be created or overwritten (nothing is opened)."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        problem = "it is a directory"
    elif not parent.is_dir():
        problem = f"the folder {str(parent)!r} does not exist"
    elif not os.access(path if path.exists() else parent, os.W_OK):
        problem = "permission denied"
    else:
        return
    raise ConfigError(f"cannot write results to {str(path)!r}: {problem}; give another path")


class Tally:
    """Counts per status, per operation and per failure reason, and the first
    outcome-unknown rows."""

    def __init__(self, keep_rows: int = 50) -> None:
        self.counts: Counter[str] = Counter({status: 0 for status in _results.STATUSES})
        self.operations: Counter[str] = Counter()
        self.reasons: Counter[tuple[str, str]] = Counter()  # (status, error_code) → rows
        self.unknown_rows: list[int] = []
        self.unknown = 0
        self._keep = keep_rows

    def __call__(self, part: pl.DataFrame) -> None:
        self.counts.update(dict(part.group_by("status").len().iter_rows()))
        done = part.filter(pl.col("operation").is_not_null())
        self.operations.update(dict(done.group_by("operation").len().iter_rows()))
        bad = part.filter(pl.col("status").is_in([Status.FAILED, Status.INVALID]))
        for status, code, n in bad.group_by("status", "error_code").len().iter_rows():
            self.reasons[(status, code or "error")] += n
        unknown = bad.filter(pl.col("error_code") == OUTCOME_UNKNOWN)["row"]
        self.unknown += unknown.len()
        self.unknown_rows.extend(unknown.head(self._keep - len(self.unknown_rows)).to_list())

    @property
    def ok(self) -> bool:
        """No row failed and none was invalid."""
        return not (self.counts[Status.FAILED] or self.counts[Status.INVALID])


def scan_results(path: str | Path) -> pl.LazyFrame:
    """A results file (.csv or .parquet) as a LazyFrame with the results schema (and the
    identity columns of removal rows, when a sync wrote them)."""
    if results_kind(path) == "csv":
        try:
            header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
        except pl.exceptions.NoDataError:  # nothing written yet (a full disk, say)
            header = []
        return pl.scan_csv(path, schema=_schema_of(header))
    scan = pl.scan_parquet(path)
    schema = _schema_of(scan.collect_schema().names())
    return scan.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def _schema_of(columns: list[str]) -> dict[str, pl.DataType]:
    """The results schema a file's columns say it holds."""
    return _results.WITH_IDENTITY if columns == list(_results.WITH_IDENTITY) else _results.SCHEMA


def read_results(path: str | Path) -> pl.DataFrame:
    """A results file read whole; ``ConfigError`` when it is missing or not a results file."""
    if not Path(path).is_file():
        raise ConfigError(f"{path} does not exist; give the results file of an earlier push")
    try:
        if results_kind(path) == "csv":
            _check_columns(pl.read_csv(path, n_rows=0, infer_schema=False).columns)
        return scan_results(path).collect()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{path} is not a qxframe results file ({first}); give the file written by --out"
        ) from exc


def _check_columns(columns: list[str]) -> None:
    """``ValueError`` unless a results CSV's header is the results columns, in order."""
    if columns not in (list(_results.SCHEMA), list(_results.WITH_IDENTITY)):
        raise ValueError(f"its columns are {', '.join(columns[:12]) or 'none'}")
