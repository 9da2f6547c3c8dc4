"""Small helpers shared by the action tests."""

from __future__ import annotations

import json

import polars as pl


def rows(results: pl.DataFrame) -> list[dict]:
    """The results as plain dicts, for comparisons."""
    return results.to_dicts()


def bodies(sb, family: str) -> int:
    """How many requests of ``family`` the sandbox received."""
    return sb.requests().filter(pl.col("family") == family).height


def payloads(results: pl.DataFrame) -> list[dict | None]:
    return [None if p is None else json.loads(p) for p in results["payload"].to_list()]
