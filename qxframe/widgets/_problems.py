"""The problem rows of a results frame, grouped, identified and paged (pure polars).

This module owns what the results view shows about the rows that went wrong, at any
scale: :func:`problem_groups` counts them per ``error_code`` with one example each,
:func:`identifiers` reads the input's identifying columns (``ext_ref``, ``email``,
``phone``, ``contact_id``, or their Segment names) for given rows, and
:func:`problem_page` is one page of the problem rows with those columns beside ``row``.
No widget here: :mod:`qxframe.widgets._results_view` is the skin.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from qxframe._skins import Status, iter_chunks
from qxframe._skins import is_pandas as _is_pandas

PROBLEM_STATUSES = (Status.FAILED, Status.INVALID)
#: Input columns that say who a row is about, in the order they are shown.
IDENTIFYING = ("ext_ref", "extRef", "email", "phone", "contact_id", "contactId")
PAGE_SIZE = 20


def problem_rows(results: pl.DataFrame, code: str | None = None) -> pl.DataFrame:
    """The failed and invalid rows (all, or those with ``error_code == code``):
    ``row``, ``status``, ``error_code``, ``error_message``."""
    wanted = pl.col("status").is_in(PROBLEM_STATUSES)
    if code is not None:
        wanted &= pl.col("error_code").fill_null("") == code
    return results.filter(wanted).select("row", "status", "error_code", "error_message")


def problem_groups(results: pl.DataFrame) -> pl.DataFrame:
    """One row per ``(status, error_code)`` of the problem rows, most frequent first:
    ``status``, ``error_code`` (``""`` when missing), ``rows``, and the first such row's
    ``example_row`` and ``example_message``."""
    problems = problem_rows(results).with_columns(pl.col("error_code").fill_null(""))
    return (
        problems.group_by("status", "error_code", maintain_order=True)
        .agg(
            pl.len().alias("rows"),
            pl.col("row").first().alias("example_row"),
            pl.col("error_message").first().alias("example_message"),
        )
        .sort(["rows", "example_row"], descending=[True, False])
    )


def identifying_columns(columns: list[str]) -> list[str]:
    """The input's columns that identify a person, in :data:`IDENTIFYING` order."""
    return [name for name in IDENTIFYING if name in columns]


def identifiers(frame: Any, positions: pl.Series) -> pl.DataFrame:
    """``row`` and the identifying columns of ``frame`` (any push input) at ``positions``.

    An in-memory frame is indexed directly; a LazyFrame or a file is read once, chunk by
    chunk, keeping only those columns of those rows.
    """
    wanted = positions.cast(pl.Int64).implode()
    if _is_pandas(frame):
        frame = pl.from_pandas(frame[identifying_columns(list(frame.columns))])
    if isinstance(frame, pl.DataFrame | pl.LazyFrame):
        lazy = frame.lazy()
        names = identifying_columns(lazy.collect_schema().names())
        picked = lazy.select(names).with_row_index("row").filter(pl.col("row").is_in(wanted))
        return _as_text(picked.collect())
    parts, offset = [], 0
    for chunk in iter_chunks(frame):
        names = identifying_columns(chunk.columns)
        part = chunk.select(names).with_row_index("row", offset=offset)
        parts.append(_as_text(part.filter(pl.col("row").is_in(wanted))))
        offset += chunk.height
    return pl.concat(parts) if parts else pl.DataFrame({"row": []}, schema={"row": pl.Int64})


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(pl.col("row").cast(pl.Int64), pl.all().exclude("row").cast(pl.String))


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    """How many pages ``total`` rows make (at least one)."""
    return max(1, -(-total // size))


def problem_page(
    problems: pl.DataFrame,
    ids: pl.DataFrame | None,
    page: int,
    size: int = PAGE_SIZE,
) -> pl.DataFrame:
    """Page ``page`` (0-based) of ``problems``, with the identifying columns ``ids`` (from
    :func:`identifiers`) joined in beside ``row``."""
    rows = problems.slice(page * size, size)
    if ids is None or ids.width <= 1:
        return rows
    joined = rows.join(ids, on="row", how="left", maintain_order="left")
    names = [c for c in ids.columns if c != "row"]
    return joined.select("row", *names, "status", "error_code", "error_message")
