"""The rules a row must pass before it is sent: one pandera schema per action, public.

The schemas check a *normalised* frame: snake_case field columns holding canonical
values, plus diagnostic columns ``_<rule>`` carrying the text of values normalisation
could not convert (``_unsubscribed_not_boolean`` holds ``"yes"``). Every check is named
by a stable rule code (:data:`RULES`, in the order a row's first failure is chosen).
The rules themselves live in :mod:`qxframe._validation`; this module is their public
face.

Most users want :func:`validate`, which maps, normalises and checks any input the way a
push would and returns one row per problem::

    problems = qx.schemas.validate(frame, "contacts", constants={"directory_id": "POOL_1"})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe._fields import EMAIL_PATTERN, MAX_WORKFLOW_BYTES
from qxframe._inputs import iter_chunks, json_columns_of
from qxframe._prepare import check_constants, problems
from qxframe._validation import RULES, message, schema_for

if TYPE_CHECKING:  # pandera (and the pandas it pulls in) loads on first use, not on import
    import pandera.polars as pa

__all__ = [
    "EMAIL_PATTERN",
    "MAX_WORKFLOW_BYTES",
    "RULES",
    "contacts_schema",
    "message",
    "schema_for",
    "transactions_schema",
    "validate",
    "workflow_schema",
]

contacts_schema: pa.DataFrameSchema  # these three are built on first access (__getattr__)
transactions_schema: pa.DataFrameSchema
workflow_schema: pa.DataFrameSchema
_EXPORTED = {
    "contacts_schema": "contacts",
    "transactions_schema": "transactions",
    "workflow_schema": "workflow",
}


def __getattr__(name: str) -> Any:
    """``contacts_schema``, ``transactions_schema``, ``workflow_schema``, built on first use."""
    if name in _EXPORTED:
        return schema_for(_EXPORTED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def validate(
    frame: Any,
    action: str,
    *,
    mapping: Mapping[str, Any] | None = None,
    constants: Mapping[str, str | None] | None = None,
    allowed_origin: str | None = None,
) -> pl.DataFrame:
    """Check ``frame`` as a push of ``action`` would, sending nothing.

    ``frame`` is anything a push accepts. Returns one row per problem, with columns
    ``row`` (Int64, 0-based input position), ``error_code`` (a rule of :data:`RULES`)
    and ``error_message``; an empty frame means every row would be sent. Bad settings
    (a foreign ``workflow_url``, a mapping naming a missing column) raise ``ConfigError``.
    """
    check_constants(action, constants or {}, allowed_origin)
    parts, offset = [], 0
    json_columns = json_columns_of(frame)  # JSON records' nested values, as a push reads them
    for chunk in iter_chunks(frame):
        parts.append(
            problems(
                chunk,
                action,
                mapping=mapping,
                constants=constants or {},
                allowed_origin=allowed_origin,
                row_offset=offset,
                json_columns=json_columns,
            )
        )
        offset += chunk.height
    return pl.concat(parts)
