"""List endpoints: following ``nextPage`` and turning elements into polars frames.

Qualtrics lists return ``result.elements`` and ``result.nextPage``: null on the last
page, else either a full URL or a bare token to send back as ``skipToken`` (the sources
disagree on which, per endpoint: docs/qualtrics-api.md §3), so both are followed. A
``nextPage`` URL on another origin is refused: the token only goes to the client's own
origin. Mailing-list dates arrive as epoch milliseconds (docs/qualtrics-api.md §6) and
become UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from qxframe.delivery._urls import origin_of
from qxframe.exceptions import ConfigError, QxError

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

#: Columns (and their types) of the frames returned for each list endpoint.
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "directories": {
        "directory_id": pl.String(),
        "name": pl.String(),
        "contact_count": pl.Int64(),
        "is_default": pl.Boolean(),
        "deduplication_criteria": pl.List(pl.String()),
    },
    "mailing_lists": {
        "mailing_list_id": pl.String(),
        "name": pl.String(),
        "owner_id": pl.String(),
        "contact_count": pl.Int64(),
        "creation_date": pl.Datetime("ms", "UTC"),
        "last_modified_date": pl.Datetime("ms", "UTC"),
    },
}

#: Qualtrics' deduplication criteria names → qxframe field names.
DEDUP_FIELDS = {
    "email": "email",
    "firstName": "first_name",
    "lastName": "last_name",
    "externalDataReference": "ext_ref",
    "phone": "phone",
}


def snake_case(name: str) -> str:
    """``contactCount`` → ``contact_count``."""
    return _CAMEL.sub("_", name).lower()


@dataclass(frozen=True)
class PageRequest:
    """Where the next page is: a URL (absolute, or a path) and query parameters."""

    url: str
    params: dict[str, str] = field(default_factory=dict)


def next_page(result: dict[str, Any], origin: str, first: PageRequest) -> PageRequest | None:
    """The request for the page after ``result``, or None on the last page.

    ``nextPage`` may be an absolute URL (it must be on ``origin``), a path on the same
    origin, or a bare token, which is sent back as ``skipToken`` on the first request's
    path with its parameters.
    """
    link = result.get("nextPage")
    if not link:
        return None
    if not isinstance(link, str):
        raise QxError(f"Qualtrics returned a nextPage that is not a string ({link!r}).")
    if "://" in link or link.startswith("//"):
        if origin_of(link) != origin:
            raise ConfigError(
                f"Qualtrics returned a nextPage link outside {origin}; it was not followed so "
                "that the token stays on that host. Report this to Qualtrics support."
            )
        return PageRequest(link)
    if link.startswith("/"):
        return PageRequest(link)
    return PageRequest(first.url, {**first.params, "skipToken": link})


def frame_of(elements: list[dict[str, Any]], *, kind: str) -> pl.DataFrame:
    """A frame of list elements with snake_case columns and a fixed schema."""
    schema = SCHEMAS[kind]
    rows = [_row(element, schema) for element in elements]
    return pl.DataFrame(rows, schema=schema, orient="row")


def _row(element: dict[str, Any], schema: dict[str, pl.DataType]) -> list[Any]:
    values = {snake_case(key): value for key, value in element.items()}
    for column, dtype in schema.items():
        if isinstance(dtype, pl.Datetime):
            values[column] = as_datetime(values.get(column))
    criteria = element.get("deduplicationCriteria")
    if isinstance(criteria, dict):
        values["deduplication_criteria"] = [
            DEDUP_FIELDS.get(name, snake_case(name)) for name, on in criteria.items() if on
        ]
    return [_typed(values.get(column), dtype) for column, dtype in schema.items()]


def _typed(value: Any, dtype: pl.DataType) -> Any:
    """``value`` when it has the column's type, else None: an element of the wrong shape
    leaves that cell empty instead of failing the whole list.

    >>> _typed("a", pl.String()), _typed({"a": 1}, pl.String()), _typed(True, pl.Int64())
    ('a', None, None)
    """
    if isinstance(dtype, pl.String):
        return value if isinstance(value, str) else None
    if isinstance(dtype, pl.Int64):
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
        return value if ok else None
    if isinstance(dtype, pl.Boolean):
        return value if isinstance(value, bool) else None
    if isinstance(dtype, pl.List):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value if ok else None
    return value


def as_datetime(value: Any) -> dt.datetime | None:
    """Epoch milliseconds (as Qualtrics answers) or an ISO-8601 string, as a UTC datetime."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
        except (OverflowError, OSError, ValueError):  # out of range, nan
            return None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None
