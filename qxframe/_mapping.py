"""Resolve which input column (or expression, or constant) supplies each field.

This module owns the mapping rules (docs/architecture.md, "The path of a row"). For each
field of the action, in order:

1. a destination constant given as a keyword (``directory_id``, ``mailing_list_id``,
   ``workflow_url``; ``None`` means "not given") — it wins over a column of that name;
2. ``mapping[field]``: a column name, a polars expression, or (object fields only) a list
   of column names that become the object's keys;
3. a column named like the field in snake_case, else in Segment's camelCase;
4. otherwise the field is absent — except ``event_payload``, which then defaults to the
   whole row less the column that supplied ``workflow_url``.

The result has exactly the present fields as columns, named in snake_case; values are not
converted yet (see :mod:`qxframe._normalize`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from qxframe._fields import Field, field, fields_for
from qxframe._objects import check_faithful_keys
from qxframe.exceptions import ConfigError, MappingError, first_line

Source = str | pl.Expr | list[str]


def resolve(
    frame: pl.DataFrame,
    action: str,
    mapping: Mapping[str, Source] | None,
    constants: Mapping[str, str | None] | None,
) -> pl.DataFrame:
    """A frame whose columns are the fields of ``action`` that ``frame`` supplies."""
    fields = fields_for(action)
    sources = check_mapping(action, mapping)
    given = check_constants_shape(action, constants)
    exprs: dict[str, pl.Expr] = {}
    url_column: str | None = None
    for f in fields:
        if f.name in given:
            if f.name in sources:
                raise ConfigError(
                    f"{f.name} is given both as a keyword and in mapping; keep only one"
                )
            exprs[f.name] = pl.lit(given[f.name], dtype=pl.String)
            continue
        expr, column = _source(frame, f, sources.get(f.name), url_column)
        if f.kind == "url":
            url_column = column
        if expr is not None:
            exprs[f.name] = expr
    return _evaluate(frame, exprs, sources)


def check_mapping(action: str, mapping: Mapping[str, Source] | None) -> dict[str, Source]:
    """``mapping`` with its keys and source types checked (``ConfigError`` otherwise)."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(
            f"mapping must be a dict of field -> column, not {type(mapping).__name__}; "
            "e.g. mapping={'email': 'mail'}"
        )
    checked: dict[str, Source] = {}
    for name, source in mapping.items():
        f = field(action, name)
        if isinstance(source, str | pl.Expr):
            checked[name] = source
        elif isinstance(source, Sequence) and f.kind == "object":
            columns = list(source)
            if not columns or not all(isinstance(c, str) for c in columns):
                raise ConfigError(
                    f"mapping for {name!r} must list column names (at least one), "
                    f"not {source!r}; e.g. ['plan', 'region']"
                )
            checked[name] = columns
        else:
            wants = (
                "a column name, a polars expression or a list of column names"
                if (f.kind == "object")
                else "a column name or a polars expression"
            )
            raise ConfigError(f"mapping for {name!r} is {source!r}; give {wants}")
    return checked


def check_constants_shape(
    action: str, constants: Mapping[str, str | None] | None
) -> dict[str, str]:
    """The non-``None`` constants, each checked to be a destination field given as text."""
    given: dict[str, str] = {}
    for name, value in (constants or {}).items():
        if value is None:
            continue
        f = field(action, name)
        if not f.destination:
            raise ConfigError(
                f"{name} cannot be given as a constant; map it with mapping={{{name!r}: ...}}"
            )
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be text, not {type(value).__name__}; pass a str")
        given[name] = value.strip()
    return given


def _source(
    frame: pl.DataFrame, f: Field, source: Source | None, url_column: str | None
) -> tuple[pl.Expr | None, str | None]:
    """(expression for ``f`` or ``None`` if absent, the single input column it reads)."""
    columns = frame.columns
    if isinstance(source, str):
        _require(frame, f, [source])
        return pl.col(source), source
    if isinstance(source, pl.Expr):
        roots = [r for r in source.meta.root_names() if not _is_regex(r)]
        _require(frame, f, roots)
        return source, roots[0] if len(set(roots)) == 1 else None
    if isinstance(source, list):
        _require(frame, f, source)
        schema = frame.schema  # once: each read builds it anew (a thousand keys, a thousand reads)
        check_faithful_keys(f.name, {c: schema[c] for c in source}, "column")
        return pl.struct([pl.col(c) for c in source]), None
    for name in (f.name, f.alias):
        if name in columns:
            return pl.col(name), name
    if f.whole_row:
        rest = [c for c in columns if c != url_column]
        schema = frame.schema
        check_faithful_keys(f.name, {c: schema[c] for c in rest}, "column")
        return (pl.struct([pl.col(c) for c in rest]) if rest else None), None
    return None, None


def _is_regex(name: str) -> bool:
    return name.startswith("^") and name.endswith("$")


def _require(frame: pl.DataFrame, f: Field, columns: list[str]) -> None:
    present = set(frame.columns)
    for column in columns:
        if column not in present:
            raise missing_column(f.name, column, frame.columns)


def missing_column(field_name: str, column: str, columns: Sequence[str]) -> MappingError:
    """The error for a mapping that names a column the frame does not have."""
    shown = ", ".join(repr(c) for c in columns[:30])
    if len(columns) > 30:
        shown += f", … ({len(columns)} in all)"
    where = "json_columns" if field_name == "json_columns" else f"mapping for {field_name!r}"
    return MappingError(
        f"{where} names column {column!r}, which the frame does not "
        f"have (its columns: {shown or 'none'}); fix the name there or rename the column"
    )


def _evaluate(
    frame: pl.DataFrame, exprs: dict[str, pl.Expr], sources: Mapping[str, Source]
) -> pl.DataFrame:
    if not exprs:
        return pl.DataFrame(height=frame.height)
    named = [expr.alias(name) for name, expr in exprs.items()]
    try:
        # .head: polars 1.x broadcasts a literal over a frame of no rows and no columns to 1 row
        return frame.with_columns(named).select(list(exprs)).head(frame.height)
    except pl.exceptions.PolarsError as exc:
        raise _explained(frame, exprs, sources, exc) from exc
    except Exception as exc:  # one raised inside a Python function (map_elements, …)
        raise _explained(frame, exprs, sources, exc) from exc


def _explained(
    frame: pl.DataFrame, exprs: dict[str, pl.Expr], sources: Mapping[str, Source], exc: Exception
) -> ConfigError:
    """The error naming the field whose expression fails alone, else the whole mapping."""
    for name, expr in exprs.items():
        if isinstance(sources.get(name), pl.Expr):
            _try_one(frame, name, expr)
    return ConfigError(
        f"the mapping could not be applied ({first_line(exc, with_kind=True)}); check the mapping"
    )


def _try_one(frame: pl.DataFrame, name: str, expr: pl.Expr) -> None:
    try:
        frame.with_columns(expr.alias(name))
    except pl.exceptions.ColumnNotFoundError as exc:
        raise MappingError(
            f"the expression mapped to {name!r} reads a column the frame does not have "
            f"({first_line(exc, with_kind=True)}); its columns are: "
            f"{', '.join(frame.columns)}; fix the "
            "expression"
        ) from exc
    except Exception as exc:  # polars errors, and any raised inside a Python UDF
        raise ConfigError(
            f"the expression mapped to {name!r} failed "
            f"({first_line(exc, with_kind=True)}); fix the "
            "expression (it must give one value per row without raising, e.g. "
            "pl.col('mail').str.to_lowercase())"
        ) from exc
