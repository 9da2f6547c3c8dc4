"""The JSONPath of every field in a set of JSON bodies, with an example value of each.

What a workflow's conditions and piped text read: Qualtrics addresses a JSON event's
fields by JSONPath (``$.properties.score``). :func:`field_paths` lists them for the bodies
a push would send (a dry run's ``payload`` column) or did send (the sandbox's
``workflow_events()["payload"]``), so a person sees which paths exist, of what JSON type,
in how many events, and one value of each. Pure: no I/O (the widgets' preview renders it).

A key that is not a plain name is written in brackets (``$['first name']``); an array is
listed itself and its elements as ``[*]`` (``$.tags[*]``, ``$.items[*].sku``).

>>> bodies = ['{"event":"signup","properties":{"score":5,"tags":["a","b"]}}',
...           '{"event":"churn","properties":{"score":4.5}}', None]
>>> for row in field_paths(bodies).iter_rows():
...     print(row)
('$.event', 'string', '"signup"', 2)
('$.properties', 'object', '{"score":5,"tags":["a","b"]}', 2)
('$.properties.score', 'number', '5', 2)
('$.properties.tags', 'array', '["a","b"]', 1)
('$.properties.tags[*]', 'string', '"a"', 1)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from qxframe._jsontext import compact_json
from qxframe.exceptions import shorten

SCHEMA: dict[str, pl.DataType] = {
    "path": pl.String(),
    "type": pl.String(),  # JSON types seen, in order, joined by "|": "number|string"
    "example": pl.String(),  # the first value seen, as compact JSON (shortened)
    "rows": pl.Int64(),  # bodies holding the path at least once
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXAMPLE_CHARS = 80


def field_paths(bodies: Iterable[str | Mapping[str, Any] | None]) -> pl.DataFrame:
    """Every JSONPath in ``bodies`` (JSON text or dicts; ``None`` skipped) in order of
    first appearance: ``path``, ``type``, ``example``, ``rows`` (see :data:`SCHEMA`)."""
    found: dict[str, _Seen] = {}
    for number, body in enumerate(bodies):
        if body is None:
            continue
        value = json.loads(body) if isinstance(body, str) else body
        _walk("$", value, number, found)
    return pl.DataFrame(
        [(path, "|".join(s.types), s.example, len(s.rows)) for path, s in found.items()],
        schema=SCHEMA,
        orient="row",
    )


class _Seen:
    __slots__ = ("example", "rows", "types")

    def __init__(self, value: Any) -> None:
        self.types: list[str] = []
        self.example = shorten(compact_json(value), EXAMPLE_CHARS)
        self.rows: set[int] = set()


def _walk(path: str, value: Any, number: int, found: dict[str, _Seen]) -> None:
    if path != "$":
        seen = found.setdefault(path, _Seen(value))
        kind = _type(value)
        if kind not in seen.types:
            seen.types.append(kind)
        seen.rows.add(number)
    if isinstance(value, Mapping):
        for key, child in value.items():
            _walk(path + _step(str(key)), child, number, found)
    elif isinstance(value, list):
        for child in value:
            _walk(path + "[*]", child, number, found)


def _step(key: str) -> str:
    """``.key``, or ``['key']`` for a key that is not a plain name.

    >>> _step("score"), _step("first name"), _step("it's")
    ('.score', "['first name']", "['it\\\\'s']")
    """
    if _NAME.fullmatch(key):
        return "." + key
    return "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
