"""Results files written as a push goes, so a push of any size keeps bounded memory.

This module owns the sinks a push hands its results to, one part (one input chunk) at a
time, in input order: :class:`ResultsWriter` appends them to a ``.csv`` or ``.parquet``
file, :class:`Tally` keeps only counts (what a summary needs); :func:`read_results` /
:func:`scan_results` read a results file back with the results schema.

- CSV: the header is written when the writer opens, each part is appended as it comes,
  so an interrupted push leaves the rows done so far.
- Parquet cannot be appended to: each part goes to its own file in a hidden folder next
  to the output, and :meth:`ResultsWriter.close` streams the parts into the output with
  ``pl.scan_parquet(parts).sink_parquet(out)`` (never all in memory), then removes them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import IO, Any

import polars as pl

from qxframe import _results
from qxframe.exceptions import ConfigError

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
    rows done so far are kept).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.kind = results_kind(self.path)
        self.rows = 0
        self._handle: IO[bytes] | None = None
        self._parts: Path | None = None
        self._count = 0

    def open(self) -> ResultsWriter:
        try:
            if self.kind == "csv":
                self._handle = self.path.open("wb")
                _results.empty().write_csv(self._handle)
            else:
                self._parts = Path(
                    tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent)
                )
        except OSError as exc:
            raise ConfigError(f"cannot write results to {str(self.path)!r}: {exc}") from exc
        return self

    def __call__(self, part: pl.DataFrame) -> None:
        if not part.height:
            return
        part = _results.conform(part)
        if self._handle is not None:
            part.write_csv(self._handle, include_header=False)
            self._handle.flush()
        elif self._parts is not None:
            part.write_parquet(self._parts / f"part-{self._count:08d}.parquet")
            self._count += 1
        else:
            raise RuntimeError("ResultsWriter used before open()")
        self.rows += part.height

    def close(self) -> None:
        """Finish the file (idempotent)."""
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
            pl.scan_parquet(files).sink_parquet(staged)
        else:
            _results.empty().write_parquet(staged)
        os.replace(staged, self.path)

    def __enter__(self) -> ResultsWriter:
        return self.open()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class Tally:
    """Counts per status and per failure reason, and the first outcome-unknown rows."""

    def __init__(self, keep_rows: int = 50) -> None:
        self.counts: Counter[str] = Counter({status: 0 for status in _results.STATUSES})
        self.reasons: Counter[tuple[str, str]] = Counter()  # (status, error_code) → rows
        self.unknown_rows: list[int] = []
        self.unknown = 0
        self._keep = keep_rows

    def __call__(self, part: pl.DataFrame) -> None:
        self.counts.update(dict(part.group_by("status").len().iter_rows()))
        bad = part.filter(pl.col("status").is_in(["failed", "invalid"]))
        for status, code, n in bad.group_by("status", "error_code").len().iter_rows():
            self.reasons[(status, code or "error")] += n
        unknown = bad.filter(pl.col("error_code") == "outcome_unknown")["row"]
        self.unknown += unknown.len()
        self.unknown_rows.extend(unknown.head(self._keep - len(self.unknown_rows)).to_list())

    @property
    def ok(self) -> bool:
        """No row failed and none was invalid."""
        return not (self.counts["failed"] or self.counts["invalid"])


def scan_results(path: str | Path) -> pl.LazyFrame:
    """A results file (.csv or .parquet) as a LazyFrame with the results schema."""
    if results_kind(path) == "csv":
        return pl.scan_csv(path, schema=_results.SCHEMA)
    return pl.scan_parquet(path).select(
        pl.col(name).cast(dtype) for name, dtype in _results.SCHEMA.items()
    )


def read_results(path: str | Path) -> pl.DataFrame:
    """A results file read whole; ``ConfigError`` when it is missing or not a results file."""
    if not Path(path).is_file():
        raise ConfigError(f"{path} does not exist; give the results file of an earlier push")
    try:
        return scan_results(path).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{path} is not a qxframe results file ({first}); give the file written by --out"
        ) from exc
