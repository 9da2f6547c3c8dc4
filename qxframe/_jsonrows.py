"""JSON records as rows: a dict (one event), a list of dicts, or a JSON Lines file.

Each top-level key is a column. A key whose values are all of one JSON scalar kind keeps
that kind as its dtype (text ``String``, ``true``/``false`` ``Boolean``, integers
``Int64``, decimals ``Float64``); any other key — an object or an array, kinds mixed (``5``
and ``"n/a"``, ``5`` and ``4.5``), an integer beyond 64 bits — becomes a *JSON column*:
``String`` cells holding each value's compact JSON text, which the workflow body parses
back, so the event is sent with the exact values it was given (docs/architecture.md,
"What is sent"). Polars' own inference would turn ``5`` into ``"5"`` or ``5.0`` there.

A JSON Lines file (``.jsonl``, ``.ndjson``, either maybe ``.gz``: one object a line, blank
lines skipped) is read twice, line by line: a first pass learns each key's kind and
checks every line (a line that is not a JSON object is a ``ConfigError`` naming it, before
anything is sent), the second yields chunks, so memory stays bounded by a chunk.

>>> rows = JsonRows([{"event": "signup", "properties": {"score": 5}}, {"event": "churn"}])
>>> rows.json_columns
frozenset({'properties'})
>>> next(rows.chunks(100)).to_dicts()
[{'event': 'signup', 'properties': '{"score":5}'}, {'event': 'churn', 'properties': None}]
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from qxframe._jsontext import compact_json
from qxframe.exceptions import ConfigError

SUFFIXES = (".jsonl", ".ndjson")
_INT64 = (-(2**63), 2**63 - 1)
_DTYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "bool": pl.Boolean(),
    "int": pl.Int64(),
    "float": pl.Float64(),
}
JSON = "json"  # the kind of a key whose values go as JSON text


def is_json_lines(path: str | Path) -> bool:
    """Whether ``path`` names a JSON Lines file by its extension (``.gz`` allowed).

    >>> is_json_lines("events.ndjson.gz"), is_json_lines("events.csv")
    (True, False)
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes[-1:] == [".gz"]:
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in SUFFIXES


@dataclass(frozen=True)
class Layout:
    """What a first pass learns: each key's kind, in order of first appearance, and the
    number of records."""

    kinds: Mapping[str, str]
    rows: int


class JsonRows:
    """Rows to read from JSON records: a dict, a sequence of dicts, or a JSON Lines path."""

    def __init__(self, source: Mapping[str, Any] | Sequence[Any] | str | Path) -> None:
        self.path: Path | None = None
        self._records: Sequence[Any] = ()
        if isinstance(source, str | Path):
            self.path = Path(source)
            self.name = str(source)
        elif isinstance(source, Mapping):
            self._records, self.name = [source], "the dict"
        else:
            self._records, self.name = source, "the list"

    @functools.cached_property
    def layout(self) -> Layout:
        if self.path is None:
            return _layout(_checked(enumerate(self._records), "item"))
        info = _stat(self.path)
        return _file_layout(str(self.path.resolve()), info.st_size, info.st_mtime_ns)

    @property
    def json_columns(self) -> frozenset[str]:
        """The columns whose cells are JSON text (objects, arrays, mixed kinds)."""
        return frozenset(k for k, kind in self.layout.kinds.items() if kind == JSON)

    def columns(self) -> list[str]:
        return list(self.layout.kinds)

    def count(self) -> int:
        return self.layout.rows

    def chunks(self, chunk_size: int) -> Iterator[pl.DataFrame]:
        kinds = self.layout.kinds  # checks every record first
        records = _lines(self.path) if self.path is not None else enumerate(self._records)
        batch: list[Mapping[str, Any]] = []
        for _, record in records:
            batch.append(record)
            if len(batch) == chunk_size:
                yield _frame(batch, kinds)
                batch = []
        if batch or not self.layout.rows:
            yield _frame(batch, kinds)


def _stat(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist or is not a file; check the path")
    return path.stat()


@functools.lru_cache(maxsize=8)
def _file_layout(path: str, size: int, mtime_ns: int) -> Layout:
    """The first pass over a file, once per version of it (a push reads the layout for its
    count, its journal and its chunks)."""
    return _layout(_lines(Path(path)))


def _layout(records: Iterable[tuple[int, Mapping[str, Any]]]) -> Layout:
    kinds: dict[str, str] = {}
    rows = 0
    for _, record in records:
        rows += 1
        for key, value in record.items():
            if value is None:
                kinds.setdefault(key, "null")
                continue
            kind = _kind(value)
            seen = kinds.get(key, "null")
            kinds[key] = kind if seen in ("null", kind) else JSON
    return Layout({k: "str" if v == "null" else v for k, v in kinds.items()}, rows)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if _INT64[0] <= value <= _INT64[1] else JSON
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return JSON


def _frame(records: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]) -> pl.DataFrame:
    columns = []
    for key, kind in kinds.items():
        values = [record.get(key) for record in records]
        if kind == JSON:
            columns.append(pl.Series(key, [_json(v) for v in values], dtype=pl.String))
        else:
            columns.append(pl.Series(key, values, dtype=_DTYPES[kind]))
    return pl.DataFrame(columns, height=len(records))


def _json(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return compact_json(value)
    except (TypeError, ValueError) as exc:  # a dict given a set, a datetime, NaN…
        raise ConfigError(
            f"a value of type {type(value).__name__} cannot be sent as JSON ({exc}); convert "
            "it to text or a number first"
        ) from exc


def _checked(
    records: Iterable[tuple[int, Any]], what: str
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for position, record in records:
        if not isinstance(record, Mapping):
            raise ConfigError(
                f"{what} {position} is a {type(record).__name__}, not a dict; give one dict "
                "per event (a list of dicts), or a frame"
            )
        bad = next((k for k in record if not isinstance(k, str)), None)
        if bad is not None:
            raise ConfigError(f"{what} {position} has a key {bad!r} that is not text; use str keys")
        yield position, record


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _lines(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line number, object) for each non-blank line; ``ConfigError`` naming a bad line."""
    opener: Any = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line, parse_constant=_refuse_constant)
                except ValueError as exc:
                    raise ConfigError(
                        f"{path}, line {number}: not JSON ({exc}); each line must be one JSON "
                        "object"
                    ) from None
                yield from _checked([(number, record)], f"{path}, line")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise ConfigError(
            f"cannot read {path} ({exc}); it must be UTF-8 JSON Lines (maybe gzipped)"
        ) from exc
