"""Cast a resolved frame (one column per present field) to canonical values.

This module owns what "canonical" means, field kind by field kind:

- identifier / string → ``String``: numbers as text (an integral float without ``.0``),
  booleans as ``true``/``false``, whitespace stripped, ``""`` → null; string fields
  (``ext_ref``, ``email``, ``phone``, names, language) in Unicode NFC.
- bool (``unsubscribed``) → ``Boolean`` from booleans, 1/0, or the strings
  true/false/1/0 in any case; anything else is null plus a diagnostic.
- date (``transaction_date``) → ``String`` ``YYYY-MM-DD HH:MM:SS`` in UTC, from a
  Date/Datetime (naive = UTC), an ISO-8601 string (no offset = UTC), or epoch
  milliseconds (an integer, a float, or a string of digits).
- object → ``String`` holding the compact JSON text of the final object (null when it
  has no non-null value). For embedded/transaction data, str/int/float/bool values stay
  as they are, dates become ISO-8601 strings, decimals the JSON string of their exact
  text, and each nested value becomes the JSON text of that value alone; for
  ``event_payload`` nested values stay JSON structure. Nulls are dropped everywhere; a
  NaN or an infinity fails its row (``_objects`` renders these).

A value that cannot be converted becomes null in its field column, and its text goes to a
diagnostic column named ``"_" + rule`` (for instance ``_unsubscribed_not_boolean``); the
schemas fail a row whose diagnostic is not null, and quote it. A column whose dtype cannot
hold the field at all (a struct mapped to ``email``, a duration mapped to ``ext_ref``) is a
mapping mistake: ``ConfigError``, before anything is sent. In an object field, a key with no
faithful JSON form (a duration, binary) fails the rows that hold a value under it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import polars as pl

from qxframe._fields import FLAT_OBJECTS, Field, diagnostic, dtype_error, fields_for
from qxframe._objects import check_faithful, flat_object, nested_object, time_text
from qxframe.exceptions import ConfigError, first_line

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
_MIN_MS, _MAX_MS = -62_135_596_800_000, 253_402_300_799_999  # years 1 to 9999
_ISO_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d",
)
_NUMERIC = r"^-?\d+(\.\d+)?$"


def normalize(
    frame: pl.DataFrame, action: str, json_columns: Collection[str] = frozenset()
) -> pl.DataFrame:
    """Canonical field columns (and diagnostic columns) for the fields present in ``frame``;
    ``json_columns``: input columns holding JSON text that a nested object (a workflow's
    event) sends as JSON."""
    out: list[pl.Series] = []
    for f in fields_for(action):
        if f.name in frame.columns:
            out.extend(_normalize_field(f, frame.get_column(f.name), json_columns))
    return pl.DataFrame(out, height=frame.height) if out else pl.DataFrame(height=frame.height)


def _normalize_field(f: Field, s: pl.Series, json_columns: Collection[str]) -> list[pl.Series]:
    if f.kind != "object":
        check_faithful(f.name, s)
    try:
        if f.kind == "object" and f.name not in FLAT_OBJECTS:
            return nested_object(s, f.name, json_columns)
        return _convert(f, s)
    except pl.exceptions.PolarsError as exc:  # a dtype no rule above foresaw
        first = first_line(exc)
        raise ConfigError(
            f"field {f.name!r} could not be read from its column of dtype {s.dtype} ({first}); "
            "cast the column to text or a number first"
        ) from exc


def _convert(f: Field, s: pl.Series) -> list[pl.Series]:
    if f.kind in ("identifier", "string", "url"):
        return [text(s, f.name, nfc=f.kind == "string")]
    if f.kind == "bool":
        return _boolean(s, f.name)
    if f.kind == "date":
        return _date(s, f.name)
    if f.name in FLAT_OBJECTS:
        return flat_object(s, f.name)
    return nested_object(s, f.name)


def _eval(s: pl.Series, expr: pl.Expr, name: str) -> pl.Series:
    return s.to_frame("v").select(expr.alias(name)).to_series()


def _as_text(dtype: pl.DataType, v: pl.Expr) -> pl.Expr | None:
    """An expression rendering ``v`` as text, or ``None`` for nested/binary dtypes."""
    if dtype in (pl.String, pl.Null) or dtype.is_integer() or dtype.is_decimal():
        return v.cast(pl.String)  # a decimal keeps its exact text
    if dtype == pl.Time:
        return time_text(v)
    if isinstance(dtype, pl.Categorical | pl.Enum | pl.Date | pl.Datetime):
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


def text(s: pl.Series, name: str, *, nfc: bool = False) -> pl.Series:
    """``s`` as stripped ``String`` values, ``""`` as null (identifier and string fields);
    ``nfc``: in Unicode normalisation form C, so that one name typed two ways (``é`` as one
    code point, or ``e`` and a combining accent) is one identity, looked up and created
    once (docs/architecture.md, "What is sent")."""
    expr = _as_text(s.dtype, pl.col("v"))
    if expr is None:
        raise dtype_error(name, s.dtype, "text")
    if nfc:
        expr = expr.str.normalize("NFC")
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
        truth = pl.when(low.is_in(["true", "1"])).then(True)
        value = truth.when(low.is_in(["false", "0"])).then(False)
    else:
        raise dtype_error(name, dtype, "a boolean (true/false or 1/0)")
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
        raise dtype_error(name, dtype, "a date, a datetime, an ISO-8601 string or epoch ms")
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
