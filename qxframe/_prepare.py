"""Turn one input chunk into the rows that may be sent and the rows that may not.

This is the entry the runner calls per chunk: map (``_mapping``), normalise
(``_normalize``), validate (``_validation``), split. Every input row ends in exactly one of
``Prepared.valid`` and ``Prepared.invalid``; an invalid row carries the first rule it
failed (in the order of ``_validation.RULES``), naming any others in its message.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, Unpack

import polars as pl

from qxframe._fields import field, fields_for, identity_fields
from qxframe._mapping import check_constants_shape, missing_column, resolve
from qxframe._normalize import normalize
from qxframe._validation import RULES, message, schema_for
from qxframe.delivery._urls import is_allowed_workflow_url
from qxframe.exceptions import ConfigError

PROBLEM_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "error_code": pl.String(),
    "error_message": pl.String(),
}
_RANK = {code: i for i, code in enumerate(RULES)}


@dataclass(frozen=True)
class Prepared:
    """One chunk, split. ``valid``: ``row`` (Int64, input position) and the canonical field
    columns; ``invalid``: ``row``, ``error_code``, ``error_message``, one row per input row,
    and the row's identity values as given (``carried_ext_ref``, ``carried_email``,
    ``carried_phone``, where mapped: a sync keeps an invalid row's person in its list)."""

    valid: pl.DataFrame
    invalid: pl.DataFrame


def check_constants(
    action: str, constants: Mapping[str, str | None], allowed_origin: str | None
) -> None:
    """Raise ``ConfigError`` for a destination constant that breaks a rule, before any send."""
    for name, value in check_constants_shape(action, constants).items():
        f = field(action, name)
        if not value:
            raise ConfigError(message(f"{name}_missing", None, action))
        if f.pattern is not None and not f.pattern.fullmatch(value):
            raise ConfigError(message(f"{name}_format", value, action))
        if f.kind == "url" and not is_allowed_workflow_url(value, allowed_origin):
            raise ConfigError(message(f"{name}_not_allowed", value, action))


class Options(TypedDict):
    """How a chunk is read and checked: the push's ``mapping``, destination ``constants``
    and ``allowed_origin`` (for workflow URLs), the input position of its first row, and
    ``json_columns``: columns whose JSON text a workflow's event sends as JSON."""

    mapping: Mapping[str, Any] | None
    constants: Mapping[str, str | None]
    allowed_origin: str | None
    row_offset: NotRequired[int]
    json_columns: NotRequired[Collection[str]]


def prepare(chunk: pl.DataFrame, action: str, **options: Unpack[Options]) -> Prepared:
    """Map, normalise and validate ``chunk``; rows are numbered from ``row_offset`` (0)."""
    normal = _normalized(chunk, action, options)
    row_offset = options.get("row_offset", 0)
    invalid = _first_per_row(_failures(normal, action, options["allowed_origin"], row_offset))
    fields = [f.name for f in fields_for(action) if f.name in normal.columns]
    row = pl.int_range(row_offset, row_offset + normal.height, dtype=pl.Int64).alias("row")
    valid = normal.select(row, *fields)
    if invalid.height:
        valid = valid.filter(~pl.col("row").is_in(invalid.get_column("row").implode()))
        invalid = _with_carried(invalid, normal.with_columns(row), action)
    return Prepared(valid=valid, invalid=invalid)


def _with_carried(invalid: pl.DataFrame, normal: pl.DataFrame, action: str) -> pl.DataFrame:
    """``invalid`` with the identity values its rows carry (see :class:`Prepared`)."""
    names = [n for n in CARRIED if n in normal.columns and n in identity_fields(action)]
    if not names:
        return invalid
    values = normal.select("row", *(pl.col(n).cast(pl.String).alias(f"carried_{n}") for n in names))
    return invalid.join(values, on="row", how="left", maintain_order="left")


#: The identity fields an invalid row's results keep aside (as ``carried_<field>``).
CARRIED = ("ext_ref", "email", "phone")


def problems(chunk: pl.DataFrame, action: str, **options: Unpack[Options]) -> pl.DataFrame:
    """Every rule every row of ``chunk`` fails (``row``, ``error_code``, ``error_message``)."""
    normal = _normalized(chunk, action, options)
    return _failures(normal, action, options["allowed_origin"], options.get("row_offset", 0))


def _normalized(chunk: pl.DataFrame, action: str, options: Options) -> pl.DataFrame:
    json_columns = options.get("json_columns", ())
    for column in json_columns:
        if column not in chunk.columns:
            raise missing_column("json_columns", column, chunk.columns)
    resolved = resolve(chunk, action, options["mapping"], options["constants"])
    for f in fields_for(action):
        if f.destination and f.required and f.name not in resolved.columns:
            raise ConfigError(
                f"{action} need {f.name}: pass {f.name}=... or give the frame a "
                f"{f.name!r} column (or map one)"
            )
    return normalize(resolved, action, frozenset(json_columns))


def _failures(
    normal: pl.DataFrame, action: str, allowed_origin: str | None, row_offset: int
) -> pl.DataFrame:
    from pandera.errors import SchemaErrors  # loaded on first use, like the schemas

    try:
        schema_for(action, allowed_origin).validate(normal, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return pl.DataFrame(schema=PROBLEM_SCHEMA)
    if cases.get_column("index").null_count():
        raise RuntimeError(f"normalised frame does not fit the {action} schema:\n{cases}")
    cases = (
        cases.select(
            (pl.col("index").cast(pl.Int64) + row_offset).alias("row"),
            pl.col("check").alias("error_code"),
            pl.col("failure_case"),
        )
        .unique(subset=["row", "error_code"], keep="first", maintain_order=True)
        .with_columns(pl.col("error_code").replace_strict(_RANK, default=len(_RANK)).alias("rank"))
        .sort("row", "rank")
    )
    messages = [
        message(code, value, action)
        for code, value in zip(cases["error_code"], cases["failure_case"], strict=True)
    ]
    return cases.select("row", "error_code", pl.Series("error_message", messages, pl.String))


def _first_per_row(found: pl.DataFrame) -> pl.DataFrame:
    if found.height == 0:
        return found
    grouped = found.group_by("row", maintain_order=True).agg(
        pl.col("error_code").first(),
        pl.col("error_message").first(),
        pl.col("error_code").slice(1).alias("others"),
    )
    also = pl.col("others").list.join(", ")
    return grouped.select(
        "row",
        "error_code",
        pl.when(pl.col("others").list.len() > 0)
        .then(pl.concat_str(pl.col("error_message"), pl.lit(" (also failing: "), also, pl.lit(")")))
        .otherwise(pl.col("error_message"))
        .alias("error_message"),
    )
