"""Object fields (embedded data, transaction data, event payload) as compact JSON text.

Sources: a struct column (a list of mapped columns arrives as one), or a column of
JSON-object text. For embedded and transaction data (*flat* objects) str/int/float/bool
values stay as they are, dates and times become ISO-8601 text, decimals the JSON string of
their exact decimal text (never a float), and each nested value (list, struct) becomes the
JSON text of that value alone; keys over 200 characters and values over 1,024
characters are reported. ``event_payload`` keeps nested values as JSON structure. Nulls and
NaN are dropped at every depth; an object left empty is null (no ``embeddedData: {}``).

Struct columns of scalars are rendered column-wise in polars (``_jsontext``); JSON text
and nested values go through Python's ``json``, one value at a time.

A key whose dtype has no faithful JSON form (a duration or binary, at any depth) is left
out of the object, and each row holding a value under it fails ``<field>_unsupported_type``
naming the key and the dtype (docs/architecture.md, "What is sent"). A column of Python
objects cannot even become a struct: :func:`check_faithful_keys` refuses it up front with a
``ConfigError``, as :func:`check_faithful` does for a scalar field of such a dtype.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe._fields import FLAT_OBJECTS, diagnostic, dtype_error
from qxframe._jsontext import compact_json, float_text, json_object, member, value_text
from qxframe.exceptions import ConfigError, shorten

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

MAX_KEY_CHARS = 200
MAX_VALUE_CHARS = 1024
_OBJECT_DTYPES = "an object (a struct, JSON-object text, or a list of columns)"
_HINTS = {
    "Duration": "pl.col(...).dt.total_seconds() gives seconds",
    "Binary": "pl.col(...).bin.encode('base64') gives text",
}


def unfaithful_part(dtype: PolarsDataType) -> pl.DataType | None:
    """The first dtype inside ``dtype`` with no faithful JSON form, or ``None``.

    >>> unfaithful_part(pl.List(pl.Struct({"a": pl.Duration("ms")})))
    Duration(time_unit='ms')
    >>> unfaithful_part(pl.Struct({"a": pl.Decimal(38, 2), "b": pl.Date}))
    """
    if isinstance(dtype, type):
        dtype = dtype()
    if isinstance(dtype, pl.List | pl.Array):
        return unfaithful_part(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return next((bad for f in dtype.fields if (bad := unfaithful_part(f.dtype))), None)
    if isinstance(dtype, pl.Duration | pl.Binary | pl.Object | pl.Unknown):
        return dtype
    return None


def check_faithful(name: str, s: pl.Series) -> None:
    """Raise ``ConfigError`` when the column ``s`` of the scalar field ``name`` has a dtype
    with no faithful JSON form (object fields report such keys per row instead)."""
    if (bad := unfaithful_part(s.dtype)) is not None:
        raise _unfaithful(f"field {name!r}", bad)


def check_faithful_keys(name: str, keys: Mapping[str, PolarsDataType], what: str = "key") -> None:
    """Refuse columns of Python objects in an object field built from ``keys`` (key →
    dtype), each named as a ``what``; checked before the struct is built, since a polars
    struct cannot hold an ``Object`` column. Other unfaithful keys fail their rows."""
    for key, dtype in keys.items():
        if isinstance(dtype, pl.Object):
            raise _unfaithful(f"field {name!r} (its {what} {key!r})", dtype)


def _unfaithful(where: str, bad: pl.DataType) -> ConfigError:
    hint = _HINTS.get(type(bad).__name__, "cast it to text or a number")
    return ConfigError(
        f"{where} holds dtype {bad}, which has no faithful JSON form; convert that column "
        f"first ({hint}) or leave it out of the mapping"
    )


def _object_diagnostics(name: str, height: int, **values: pl.Series | None) -> list[pl.Series]:
    out = []
    rules = (
        ("not_object", "key_too_long", "value_too_long", "unsupported_type")
        if name in FLAT_OBJECTS
        else ("not_object", "unsupported_type")
    )
    for rule in rules:
        series = values.get(rule)
        column = diagnostic(f"{name}_{rule}")
        if series is None:
            series = pl.Series(column, [None] * height, dtype=pl.String)
        out.append(series.alias(column).cast(pl.String))
    return out


def _faithful_fields(s: pl.Series) -> tuple[pl.DataFrame, pl.Series | None]:
    """The struct's fields less those with no faithful JSON form, and per row the first
    such key holding a value (``"key (dtype)"``), or ``None`` when no key was dropped."""
    fields = s.struct.unnest()
    bad = {c: d for c, dtype in fields.schema.items() if (d := unfaithful_part(dtype))}
    if not bad:
        return fields, None
    shown = [pl.when(pl.col(c).is_not_null()).then(pl.lit(f"{c} ({d})")) for c, d in bad.items()]
    found = (
        fields.select(pl.coalesce(shown).alias("unsupported_type")).to_series().head(len(fields))
    )
    return fields.drop(list(bad)), found


def flat_object(s: pl.Series, name: str) -> list[pl.Series]:
    if isinstance(s.dtype, pl.Struct):
        return _flat_from_struct(s, name)
    if s.dtype in (pl.String, pl.Null):
        return _from_json_text(s, name, flat=True)
    raise dtype_error(name, s.dtype, _OBJECT_DTYPES)


def nested_object(s: pl.Series, name: str) -> list[pl.Series]:
    if isinstance(s.dtype, pl.Struct):
        fields, unsupported = _faithful_fields(s)
        rendered = fields.select(_scalar_for_json(c, fields.schema[c]) for c in fields.columns)
        if rendered.width:
            values = rendered.select(pl.struct(pl.all())).to_series().to_list()
        else:
            values = [None if unsupported is not None else v for v in s.to_list()]
        texts = [None if v is None else compact_json(clean(v)) for v in values]
        text_series = pl.Series(name, texts, dtype=pl.String)
        return [text_series, *_object_diagnostics(name, len(s), unsupported_type=unsupported)]
    if s.dtype in (pl.String, pl.Null):
        return _from_json_text(s, name, flat=False)
    raise dtype_error(name, s.dtype, _OBJECT_DTYPES)


def _scalar_for_json(column: str, dtype: pl.DataType) -> pl.Expr:
    """Top-level dates and times as ISO-8601 text, decimals as their exact text, a Float32
    as the float its shortest digits name, NaN as null, before values go to Python."""
    v = pl.col(column)
    if dtype == pl.Date:
        return v.dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return v.dt.strftime("%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if dtype.time_zone else ""))
    if dtype == pl.Time:
        return time_text(v)
    if dtype == pl.Float32:  # its own shortest digits: 0.1, not 0.10000000149011612
        return pl.when(v.is_finite()).then(v.cast(pl.String).cast(pl.Float64))
    if dtype.is_float():
        return pl.when(v.is_finite()).then(v)
    if dtype.is_decimal() or isinstance(dtype, pl.Categorical | pl.Enum):
        return v.cast(pl.String)
    return v


def time_text(v: pl.Expr) -> pl.Expr:
    """A Time as Python's ``time.isoformat()`` writes it (microseconds only when non-zero)."""
    whole = v.dt.strftime("%H:%M:%S")
    return pl.when(v.dt.nanosecond() == 0).then(whole).otherwise(v.dt.strftime("%H:%M:%S%.6f"))


def _flat_from_struct(s: pl.Series, name: str) -> list[pl.Series]:
    fields, unsupported = _faithful_fields(s)
    if not fields.width:  # every key dropped: nothing left to send
        empty = pl.Series(name, [None] * len(s), dtype=pl.String)
        return [empty, *_object_diagnostics(name, len(s), unsupported_type=unsupported)]
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
            raise dtype_error(f"{name}.{key}", column.dtype, "a JSON-ready value")
        v, dtype = pl.col(key), fields.schema[key]
        text = v if column.dtype.is_float() else value_text(v, dtype)
        members.append(member(key, text))
        if len(key) > MAX_KEY_CHARS:
            long_keys.append(pl.when(v.is_not_null()).then(pl.lit(shorten(key))))
        if dtype == pl.String and not column.dtype.is_float():
            long_values.append(pl.when(v.str.len_chars() > MAX_VALUE_CHARS).then(pl.lit(key)))
    out = fields.select(
        json_object(members).alias(name),
        _first(long_keys).alias("key_too_long"),
        _first(long_values).alias("value_too_long"),
    ).with_columns(pl.when(pl.col(name) != "{}").then(pl.col(name)).alias(name))
    out = out.head(len(s))  # literals alone select one row even from an empty frame
    return [
        out.get_column(name),
        *_object_diagnostics(
            name,
            len(s),
            key_too_long=out.get_column("key_too_long"),
            value_too_long=out.get_column("value_too_long"),
            unsupported_type=unsupported,
        ),
    ]


def _first(exprs: Sequence[pl.Expr]) -> pl.Expr:
    return pl.coalesce(exprs) if exprs else pl.lit(None, pl.String)


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
        return None, "not_object", shorten(raw.strip())
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
            return None, "key_too_long", shorten(key)
        if isinstance(rendered, str) and len(rendered) > MAX_VALUE_CHARS:
            return None, "value_too_long", key
        out[key] = rendered
    return (compact_json(out) if out else None), None, ""


def clean(value: Any) -> Any:
    """``value`` made JSON-ready: nulls and NaN dropped (in dicts and lists, recursively),
    dates as ISO-8601 text, decimals as their exact decimal text (a JSON string, never a
    float); ``None`` when nothing is left of a scalar.

    >>> clean({"a": [Decimal("12345678901234567.89"), None], "b": float("nan")})
    {'a': ['12345678901234567.89']}
    """
    if isinstance(value, dict):
        return {str(k): c for k, v in value.items() if (c := clean(v)) is not None}
    if isinstance(value, list | tuple):
        return [c for v in value if (c := clean(v)) is not None]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else None
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise ConfigError(
        f"a value of type {type(value).__name__} has no faithful JSON form; convert it to "
        "text or a number first"
    )
