"""Object fields (embedded data, transaction data, event payload) as compact JSON text.

Sources: a struct column (a list of mapped columns arrives as one), or a column of
JSON-object text. For embedded and transaction data (*flat* objects) str/int/float/bool
values stay as they are, dates and times become ISO-8601 text, decimals the JSON string of
their exact decimal text (never a float), and each nested value (list, struct) becomes the
JSON text of that value alone; keys over 200 characters and values over 1,024
characters are reported. ``event_payload`` keeps nested values as JSON structure. Nulls
are dropped at every depth; an object left empty is null (no ``embeddedData: {}``). A NaN
or an infinity, at any depth (``[1.5, NaN]``), has no JSON form: its row fails
``<field>_unsupported_type`` naming the key, never sent without it.

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
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe._fields import FLAT_OBJECTS, diagnostic, dtype_error
from qxframe._jsontext import compact_json, floats_text, json_object, member, value_text
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
        else ("not_object", "not_json", "unsupported_type")
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


def nested_object(
    s: pl.Series, name: str, json_keys: Collection[str] = frozenset()
) -> list[pl.Series]:
    """An object field whose nested values stay JSON structure (a workflow's event).

    ``json_keys``: keys of a struct ``s`` whose text values are JSON text, sent as the JSON
    they hold (``json_columns=``); a cell that is not JSON fails its row ``<name>_not_json``
    naming the key.
    """
    if isinstance(s.dtype, pl.Struct):
        fields, unsupported = _faithful_fields(s)
        rendered = fields.select(_scalar_for_json(c, fields.schema[c]) for c in fields.columns)
        if rendered.width:
            values = rendered.select(pl.struct(pl.all())).to_series().to_list()
        else:
            values = [None if unsupported is not None else v for v in s.to_list()]
        parsed = [k for k in rendered.columns if k in json_keys and rendered.schema[k] == pl.String]
        not_json = [_parse_keys(v, parsed) if parsed else None for v in values]
        texts = [
            None if v is None or bad is not None else compact_json(clean(v))
            for v, bad in zip(values, not_json, strict=True)
        ]
        text_series = pl.Series(name, texts, dtype=pl.String)
        floats = [_non_finite_float(c) for c, d in fields.schema.items() if d.is_float()]
        flagged = fields.select(_first(floats)).to_series() if floats else None
        nested = [_first_non_finite(v) if isinstance(v, dict) else None for v in values]
        if any(nested):  # inside lists and structs (top-level floats are null by now)
            flagged = _either(flagged, pl.Series(name, nested, dtype=pl.String))
        diagnostics = _object_diagnostics(
            name,
            len(s),
            unsupported_type=_either(unsupported, flagged),
            not_json=pl.Series(not_json, dtype=pl.String) if parsed else None,
        )
        return [text_series, *diagnostics]
    if s.dtype in (pl.String, pl.Null):
        return _from_json_text(s, name, flat=False)
    raise dtype_error(name, s.dtype, _OBJECT_DTYPES)


def _parse_keys(value: dict[str, Any] | None, keys: Sequence[str]) -> str | None:
    """Replace the JSON text under ``keys`` of ``value`` by the JSON it holds, in place;
    the first key whose text is not JSON, or ``None``."""
    if value is None:
        return None
    for key in keys:
        text = value.get(key)
        if text is None:
            continue
        try:
            value[key] = json.loads(text, parse_constant=_not_json)
        except ValueError:
            return key
    return None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


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
    """The flat object of each row, built column-wise: the struct's fields are read once
    and each key's JSON text made once, so a thousand keys cost a thousand times one key
    (no per-key copy of the whole frame or its schema)."""
    fields, unsupported = _faithful_fields(s)
    if not fields.width:  # every key dropped: nothing left to send
        empty = pl.Series(name, [None] * len(s), dtype=pl.String)
        return [empty, *_object_diagnostics(name, len(s), unsupported_type=unsupported)]
    schema = dict(fields.schema)
    non_finite = [_non_finite_float(key) for key, dtype in schema.items() if dtype.is_float()]
    fields = fields.select(_scalar_for_json(c, dtype) for c, dtype in schema.items())
    replaced: list[pl.Series] = []
    floats: list[str] = []
    members, long_keys, long_values = [], [], []
    for key, dtype in dict(fields.schema).items():
        if dtype == pl.Null:
            continue
        column = fields.get_column(key)
        if dtype.is_nested():
            values = column.to_list()
            replaced.append(pl.Series(key, [_nested_text(v) for v in values], dtype=pl.String))
            if any(_has_non_finite(v) for v in values):
                shown = f"{key} (NaN or infinity)"
                flags = [shown if _has_non_finite(v) else None for v in values]
                non_finite.append(pl.lit(pl.Series(key, flags, dtype=pl.String)))
        elif dtype.is_float():
            floats.append(key)
        elif not (dtype in (pl.String, pl.Boolean) or dtype.is_integer()):
            raise dtype_error(f"{name}.{key}", dtype, "a JSON-ready value")
        v = pl.col(key)
        text_type = pl.String() if dtype.is_nested() else dtype
        text = v if dtype.is_float() else value_text(v, text_type)
        members.append(member(key, text))
        if len(key) > MAX_KEY_CHARS:
            long_keys.append(pl.when(v.is_not_null()).then(pl.lit(shorten(key))))
        if text_type == pl.String:
            long_values.append(pl.when(v.str.len_chars() > MAX_VALUE_CHARS).then(pl.lit(key)))
    raw = s.struct.unnest()
    flagged = raw.select(_first(non_finite).alias("f")).to_series() if non_finite else None
    if floats:
        replaced.extend(floats_text(fields.select(floats)).get_columns())
    if replaced:
        fields = fields.with_columns(replaced)
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
            unsupported_type=_either(unsupported, flagged),
        ),
    ]


def _non_finite_float(key: str) -> pl.Expr:
    """``"key (NaN or infinity)"`` where the float column ``key`` holds NaN or ±inf: a
    value with no faithful JSON form fails its row, never silently left out."""
    v = pl.col(key)
    return pl.when(v.is_nan() | v.is_infinite()).then(pl.lit(f"{key} (NaN or infinity)"))


def _has_non_finite(value: Any) -> bool:
    """Whether a float NaN or infinity is anywhere inside ``value``.

    >>> _has_non_finite([1.5, float("nan")]), _has_non_finite({"a": [1.0, "x"]})
    (True, False)
    """
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Decimal):
        return not value.is_finite()
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return False


def _first_non_finite(obj: dict[str, Any]) -> str | None:
    """``"key (NaN or infinity)"`` for the first key of ``obj`` holding one at any depth."""
    bad = next((key for key, value in obj.items() if _has_non_finite(value)), None)
    return None if bad is None else f"{bad} (NaN or infinity)"


def _either(first: pl.Series | None, second: pl.Series | None) -> pl.Series | None:
    """Row by row, ``first``'s value, else ``second``'s (either may be absent)."""
    if first is None or second is None:
        return first if second is None else second
    return pl.select(pl.coalesce(pl.lit(first), pl.lit(second))).to_series()


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
        "unsupported_type": [],
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
    if (bad := _first_non_finite(obj)) is not None:  # NaN, Infinity: JSON text has none
        return None, "unsupported_type", bad
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
