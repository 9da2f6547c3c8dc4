"""Cast a resolved frame (one column per present field) to canonical values.

This module owns what "canonical" means, field kind by field kind:

- identifier / string → ``String``: numbers as text (an integral float without ``.0``),
  booleans as ``true``/``false``, whitespace stripped, ``""`` → null.
- bool (``unsubscribed``) → ``Boolean`` from booleans, 1/0, or the strings
  true/false/1/0 in any case; anything else is null plus a diagnostic.
- date (``transaction_date``) → ``String`` ``YYYY-MM-DD HH:MM:SS`` in UTC, from a
  Date/Datetime (naive = UTC), an ISO-8601 string (no offset = UTC), or epoch
  milliseconds (an integer, a float, or a string of digits).
- object → ``String`` holding the compact JSON text of the final object (null when it
  has no non-null value). For embedded/transaction data, str/int/float/bool values stay
  as they are, dates become ISO-8601 strings and each nested value becomes the JSON text
  of that value alone; for ``event_payload`` nested values stay JSON structure. Nulls and
  NaN are dropped everywhere.

A value that cannot be converted becomes null in its field column, and its text goes to a
diagnostic column named ``"_" + rule`` (for instance ``_unsubscribed_not_boolean``); the
schemas fail a row whose diagnostic is not null, and quote it. A column whose dtype cannot
hold the field at all (a struct mapped to ``email``) is a mapping mistake: ``ConfigError``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

import polars as pl

from qxframe._fields import FLAT_OBJECTS, Field, fields_for
from qxframe._jsontext import float_text, json_object, member, value_text
from qxframe._payloads import compact_json
from qxframe.exceptions import ConfigError

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
MAX_KEY_CHARS = 200
MAX_VALUE_CHARS = 1024
_MIN_MS, _MAX_MS = -62_135_596_800_000, 253_402_300_799_999  # years 1 to 9999
_ISO_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d",
)
_NUMERIC = r"^-?\d+(\.\d+)?$"
_OBJECT_DTYPES = "an object (a struct, JSON-object text, or a list of columns)"


def diagnostic(rule: str) -> str:
    """The name of the diagnostic column that carries failures of ``rule``."""
    return "_" + rule


def diagnostic_rules(f: Field) -> tuple[str, ...]:
    """The rules whose failures normalisation of ``f`` reports in diagnostic columns."""
    if f.kind == "bool":
        return (f"{f.name}_not_boolean",)
    if f.kind == "date":
        return (f"{f.name}_unparseable",)
    if f.kind == "object":
        rules = ("not_object", "key_too_long", "value_too_long")
        return tuple(f"{f.name}_{r}" for r in rules[: 3 if f.name in FLAT_OBJECTS else 1])
    return ()


def normalize(frame: pl.DataFrame, action: str) -> pl.DataFrame:
    """Canonical field columns (and diagnostic columns) for the fields present in ``frame``."""
    out: list[pl.Series] = []
    for f in fields_for(action):
        if f.name in frame.columns:
            out.extend(_normalize_field(f, frame.get_column(f.name)))
    return pl.DataFrame(out, height=frame.height) if out else pl.DataFrame(height=frame.height)


def _normalize_field(f: Field, s: pl.Series) -> list[pl.Series]:
    if f.kind in ("identifier", "string"):
        return [text(s, f.name)]
    if f.kind == "bool":
        return _boolean(s, f.name)
    if f.kind == "date":
        return _date(s, f.name)
    if f.name in FLAT_OBJECTS:
        return _flat_object(s, f.name)
    return _nested_object(s, f.name)


def _eval(s: pl.Series, expr: pl.Expr, name: str) -> pl.Series:
    return s.to_frame("v").select(expr.alias(name)).to_series()


def _wrong_dtype(name: str, dtype: pl.DataType, wants: str) -> ConfigError:
    return ConfigError(
        f"field {name!r} needs {wants}, but its column has dtype {dtype}; "
        "map it to another column or cast the column first"
    )


def _as_text(dtype: pl.DataType, v: pl.Expr) -> pl.Expr | None:
    """An expression rendering ``v`` as text, or ``None`` for nested/binary dtypes."""
    if dtype in (pl.String, pl.Null) or dtype.is_integer() or dtype.is_decimal():
        return v.cast(pl.String)
    if isinstance(dtype, pl.Categorical | pl.Enum) or dtype.is_temporal():
        return v.cast(pl.String)
    if dtype == pl.Boolean:
        return pl.when(v).then(pl.lit("true")).when(~v).then(pl.lit("false"))
    if dtype.is_float():
        whole = v.is_finite() & (v == v.floor()) & (v.abs() < 2.0**53)
        return (
            pl.when(whole)
            .then(v.cast(pl.Int64, strict=False).cast(pl.String))
            .when(v.is_finite())
            .then(v.cast(pl.String))
        )
    return None


def _blank_to_null(v: pl.Expr) -> pl.Expr:
    v = v.str.strip_chars()
    return pl.when(v.str.len_bytes() > 0).then(v)


def text(s: pl.Series, name: str) -> pl.Series:
    """``s`` as stripped ``String`` values, ``""`` as null (identifier and string fields)."""
    expr = _as_text(s.dtype, pl.col("v"))
    if expr is None:
        raise _wrong_dtype(name, s.dtype, "text")
    return _eval(s, _blank_to_null(expr), name)


def _boolean(s: pl.Series, name: str) -> list[pl.Series]:
    v, dtype = pl.col("v"), s.dtype
    if dtype == pl.Boolean:
        value, raw = v, pl.lit(None, pl.String)
    elif dtype.is_numeric() and not dtype.is_decimal():
        v = pl.when(v.is_finite()).then(v) if dtype.is_float() else v
        value = pl.when(v == 1).then(True).when(v == 0).then(False)
        raw = v.cast(pl.String)
    elif dtype in (pl.String, pl.Null) or isinstance(dtype, pl.Categorical | pl.Enum):
        raw = _blank_to_null(v.cast(pl.String))
        low = raw.str.to_lowercase()
        value = pl.when(low.is_in(["true", "1"])).then(True).when(low.is_in(["false", "0"]))
        value = value.then(False)
    else:
        raise _wrong_dtype(name, dtype, "a boolean (true/false or 1/0)")
    frame = s.to_frame("v").select(value.cast(pl.Boolean).alias(name), raw.alias("raw"))
    bad = frame.select(
        pl.when(pl.col(name).is_null()).then(pl.col("raw")).alias(diagnostic(f"{name}_not_boolean"))
    )
    return [frame.get_column(name), bad.to_series()]


def _date(s: pl.Series, name: str) -> list[pl.Series]:
    """``transaction_date`` rendered ``YYYY-MM-DD HH:MM:SS`` UTC, plus unparseable values."""
    v, dtype = pl.col("v"), s.dtype
    if isinstance(dtype, pl.Datetime):
        stamp = v.dt.convert_time_zone("UTC") if dtype.time_zone else v
        value = stamp.dt.strftime(DATE_FORMAT)
    elif dtype == pl.Date:
        value = v.dt.strftime("%Y-%m-%d 00:00:00")
    elif dtype.is_numeric() and not dtype.is_decimal():
        value = _from_epoch_ms(v)
    elif dtype in (pl.String, pl.Null) or isinstance(dtype, pl.Categorical | pl.Enum):
        return _date_from_text(s, name)
    else:
        raise _wrong_dtype(name, dtype, "a date, a datetime, an ISO-8601 string or epoch ms")
    frame = s.to_frame("v").select(_checked_date(value).alias(name), _as_text(dtype, v))
    return [frame.get_column(name), _unparseable(frame, name)]


def _from_epoch_ms(v: pl.Expr) -> pl.Expr:
    ms = pl.when(v.is_between(_MIN_MS, _MAX_MS)).then(v).cast(pl.Int64, strict=False)
    return pl.from_epoch(ms, time_unit="ms").dt.strftime(DATE_FORMAT)


def _checked_date(value: pl.Expr) -> pl.Expr:
    return pl.when(value.str.contains(DATE_PATTERN)).then(value)


def _unparseable(frame: pl.DataFrame, name: str) -> pl.Series:
    raw = frame.columns[1]
    return frame.select(
        pl.when(pl.col(name).is_null())
        .then(pl.col(raw).cast(pl.String))
        .alias(diagnostic(f"{name}_unparseable"))
    ).to_series()


def _date_from_text(s: pl.Series, name: str) -> list[pl.Series]:
    raw = _blank_to_null(pl.col("v").cast(pl.String))
    frame = s.to_frame("v").select(raw.alias("raw"))
    t = pl.col("raw")
    parsed = pl.coalesce(
        [
            t.str.to_datetime(fmt, strict=False, time_zone="UTC", time_unit="us")
            for fmt in _ISO_FORMATS
        ]
    ).dt.strftime(DATE_FORMAT)
    epoch = _from_epoch_ms(pl.when(t.str.contains(_NUMERIC)).then(t).cast(pl.Float64))
    frame = frame.with_columns(pl.coalesce(parsed, epoch).alias(name))
    leftovers = frame.filter(pl.col(name).is_null() & t.is_not_null()).get_column("raw")
    if len(leftovers):
        fallback = {x: _parse_iso(x) for x in leftovers.unique().to_list()}
        frame = frame.with_columns(
            pl.coalesce(
                pl.col(name), t.replace_strict(fallback, default=None, return_dtype=pl.String)
            )
        )
    frame = frame.select(_checked_date(pl.col(name)).alias(name), t)
    return [frame.get_column(name), _unparseable(frame, name)]


def _parse_iso(value: str) -> str | None:
    """Python's ISO-8601 reader for what the vectorised formats missed (``…T10:00``, …)."""
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return stamp.strftime(DATE_FORMAT)
    return stamp.astimezone(dt.UTC).strftime(DATE_FORMAT)


# --- object fields ---------------------------------------------------------------------


def _object_diagnostics(name: str, height: int, **values: pl.Series | None) -> list[pl.Series]:
    out = []
    rules = (
        ("not_object", "key_too_long", "value_too_long")
        if name in FLAT_OBJECTS
        else ("not_object",)
    )
    for rule in rules:
        series = values.get(rule)
        column = diagnostic(f"{name}_{rule}")
        if series is None:
            series = pl.Series(column, [None] * height, dtype=pl.String)
        out.append(series.alias(column).cast(pl.String))
    return out


def _flat_object(s: pl.Series, name: str) -> list[pl.Series]:
    if isinstance(s.dtype, pl.Struct):
        return _flat_from_struct(s, name)
    if s.dtype in (pl.String, pl.Null):
        return _from_json_text(s, name, flat=True)
    raise _wrong_dtype(name, s.dtype, _OBJECT_DTYPES)


def _nested_object(s: pl.Series, name: str) -> list[pl.Series]:
    if isinstance(s.dtype, pl.Struct):
        fields = s.struct.unnest()
        rendered = fields.select(_scalar_for_json(c, fields.schema[c]) for c in fields.columns)
        values = rendered.select(pl.struct(pl.all())).to_series() if rendered.width else s
        texts = [None if v is None else compact_json(clean(v)) for v in values.to_list()]
        text_series = pl.Series(name, texts, dtype=pl.String)
        return [text_series, *_object_diagnostics(name, len(s))]
    if s.dtype in (pl.String, pl.Null):
        return _from_json_text(s, name, flat=False)
    raise _wrong_dtype(name, s.dtype, _OBJECT_DTYPES)


def _scalar_for_json(column: str, dtype: pl.DataType) -> pl.Expr:
    """Top-level dates as ISO-8601 text and NaN as null, before values go to Python."""
    v = pl.col(column)
    if dtype == pl.Date:
        return v.dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return v.dt.strftime("%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if dtype.time_zone else ""))
    if dtype.is_float():
        return pl.when(v.is_finite()).then(v)
    if dtype.is_decimal():
        return v.cast(pl.Float64)
    if dtype in (pl.Time,) or isinstance(dtype, pl.Duration | pl.Categorical | pl.Enum):
        return v.cast(pl.String)
    return v


def _flat_from_struct(s: pl.Series, name: str) -> list[pl.Series]:
    fields = s.struct.unnest()
    fields = fields.select(_scalar_for_json(c, fields.schema[c]) for c in fields.columns)
    members, long_keys, long_values = [], [], []
    for key in fields.columns:
        column = fields.get_column(key)
        if column.dtype == pl.Null:
            continue
        if column.dtype.is_nested():
            fields = fields.with_columns(
                pl.Series(key, [_nested_text(v) for v in column.to_list()], dtype=pl.String)
            )
        elif column.dtype.is_float():
            fields = fields.with_columns(float_text(column))
        elif not (column.dtype in (pl.String, pl.Boolean) or column.dtype.is_integer()):
            raise _wrong_dtype(f"{name}.{key}", column.dtype, "a JSON-ready value")
        v, dtype = pl.col(key), fields.schema[key]
        text = v if column.dtype.is_float() else value_text(v, dtype)
        members.append(member(key, text))
        if len(key) > MAX_KEY_CHARS:
            long_keys.append(pl.when(v.is_not_null()).then(pl.lit(_shorten(key))))
        if dtype == pl.String and not column.dtype.is_float():
            long_values.append(pl.when(v.str.len_chars() > MAX_VALUE_CHARS).then(pl.lit(key)))
    out = fields.select(
        json_object(members).alias(name),
        _first(long_keys).alias("key_too_long"),
        _first(long_values).alias("value_too_long"),
    ).with_columns(pl.when(pl.col(name) != "{}").then(pl.col(name)).alias(name))
    return [
        out.get_column(name),
        *_object_diagnostics(
            name,
            len(s),
            key_too_long=out.get_column("key_too_long"),
            value_too_long=out.get_column("value_too_long"),
        ),
    ]


def _first(exprs: list[pl.Expr]) -> pl.Expr:
    return pl.coalesce(exprs) if exprs else pl.lit(None, pl.String)


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _nested_text(value: Any) -> str | None:
    cleaned = clean(value)
    return None if cleaned is None else compact_json(cleaned)


def _from_json_text(s: pl.Series, name: str, *, flat: bool) -> list[pl.Series]:
    """Object values from JSON text, one Python ``json.loads`` per distinct non-null value."""
    texts: list[str | None] = []
    diags: dict[str, list[str | None]] = {
        "not_object": [],
        "key_too_long": [],
        "value_too_long": [],
    }
    for raw in s.cast(pl.String).to_list():
        rendered, rule, shown = _render_json_text(raw, flat=flat)
        texts.append(rendered)
        for key, column in diags.items():
            column.append(shown if key == rule else None)
    return [
        pl.Series(name, texts, dtype=pl.String),
        *_object_diagnostics(
            name, len(s), **{k: pl.Series(k, v, dtype=pl.String) for k, v in diags.items()}
        ),
    ]


def _render_json_text(raw: str | None, *, flat: bool) -> tuple[str | None, str | None, str]:
    """(compact JSON or None, failed rule or None, text to quote in a message)."""
    if raw is None or not raw.strip():
        return None, None, ""
    try:
        obj = json.loads(raw)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        return None, "not_object", _shorten(raw.strip())
    if not flat:
        return compact_json(clean(obj) or {}), None, ""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        rendered = clean(value)
        if rendered is None:
            continue
        if isinstance(rendered, dict | list):
            rendered = compact_json(rendered)
        if len(key) > MAX_KEY_CHARS:
            return None, "key_too_long", _shorten(key)
        if isinstance(rendered, str) and len(rendered) > MAX_VALUE_CHARS:
            return None, "value_too_long", key
        out[key] = rendered
    return (compact_json(out) if out else None), None, ""


def clean(value: Any) -> Any:
    """``value`` made JSON-ready: nulls and NaN dropped (in dicts and lists, recursively),
    dates as ISO-8601 text, decimals as floats; ``None`` when nothing is left of a scalar."""
    if isinstance(value, dict):
        return {str(k): c for k, v in value.items() if (c := clean(v)) is not None}
    if isinstance(value, list | tuple):
        return [c for v in value if (c := clean(v)) is not None]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return clean(float(value))
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
