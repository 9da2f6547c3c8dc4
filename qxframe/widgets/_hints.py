"""Warnings the preview shows on rows that are valid but probably not what was meant.

A row that passes validation can still carry a surprise: a date field (``transaction_date``) mapped
from a number is read as epoch milliseconds (allowed: docs/architecture.md, "What is
sent"), so an amount column picked by mistake (``52.64``) becomes 1970-01-01 without a
word. :func:`row_warnings` finds such values in the rows a preview shows; the row stays
valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from qxframe._skins import fields_for, resolve

#: 2000-01-01T00:00:00Z in epoch milliseconds: a transaction date before it is suspicious.
EPOCH_MS_2000 = 946_684_800_000
_NUMBER = r"^\s*-?\d+(\.\d+)?\s*$"


def row_warnings(
    head: pl.DataFrame,
    action: str,
    mapping: Mapping[str, Any] | None,
    constants: Mapping[str, str | None],
) -> pl.DataFrame:
    """``row`` and ``warning`` for each row of ``head`` that deserves one (0-based rows)."""
    empty = pl.DataFrame(schema={"row": pl.Int64, "warning": pl.String})
    dates = [f.name for f in fields_for(action) if f.kind == "date"]
    if not dates:
        return empty
    fields = resolve(head, action, mapping, constants)
    parts = [_early_dates(fields[name], name) for name in dates if name in fields.columns]
    return pl.concat(parts).sort("row", maintain_order=True) if parts else empty


def _early_dates(raw: pl.Series, name: str) -> pl.DataFrame:
    """A warning for each value of date field ``name`` read as epoch ms before 2000."""
    text = raw.cast(pl.String)
    number = pl.when(pl.col("t").str.contains(_NUMBER)).then(pl.col("t").str.strip_chars())
    ms = pl.DataFrame({"t": text}).select(number.cast(pl.Float64)).to_series()
    early = ms.is_not_null() & (ms < EPOCH_MS_2000) & (ms > -62_135_596_800_000)
    rows = pl.DataFrame({"row": pl.int_range(0, raw.len(), eager=True, dtype=pl.Int64)})
    picked = rows.with_columns(text=text, ms=ms).filter(early)
    return picked.select(
        "row",
        pl.format(
            f"{name} {{}} was read as epoch milliseconds, {{}} UTC, before 2000: "
            f"is the right column mapped to {name}?",
            "text",
            pl.from_epoch(pl.col("ms").cast(pl.Int64), time_unit="ms").dt.strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
        ).alias("warning"),
    )
