"""List endpoints: following ``nextPage`` links and turning elements into polars frames.

Qualtrics lists return ``result.elements`` and ``result.nextPage`` (a full URL, or null
on the last page). A ``nextPage`` on another origin is refused: the token only goes to
the client's own origin.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from qxframe._urls import origin_of
from qxframe.exceptions import ConfigError

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
        "creation_date": pl.String(),
        "last_modified_date": pl.String(),
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


def next_page_url(result: dict[str, Any], origin: str) -> str | None:
    """The next page to fetch, or None; refuses a link to another origin."""
    url = result.get("nextPage")
    if not url:
        return None
    if origin_of(url) != origin:
        raise ConfigError(
            f"Qualtrics returned a nextPage link outside {origin}; it was not followed so "
            "that the token stays on that host. Report this to Qualtrics support."
        )
    return str(url)


def frame_of(elements: list[dict[str, Any]], *, kind: str) -> pl.DataFrame:
    """A frame of list elements with snake_case columns and a fixed schema."""
    schema = SCHEMAS[kind]
    rows = [_row(element, schema) for element in elements]
    return pl.DataFrame(rows, schema=schema, orient="row")


def _row(element: dict[str, Any], schema: dict[str, pl.DataType]) -> list[Any]:
    values = {snake_case(key): value for key, value in element.items()}
    criteria = element.get("deduplicationCriteria")
    if isinstance(criteria, dict):
        values["deduplication_criteria"] = [
            DEDUP_FIELDS.get(name, snake_case(name)) for name, on in criteria.items() if on
        ]
    return [values.get(column) for column in schema]
