"""What a journal keys and compares: row keys, body digests, per-field digests.

Pure functions over a prepared (canonical) ``valid`` frame, no I/O
(docs/architecture.md, "Journal and resume"):

- a **person's key** (contacts): the row's destination values and its identity — the
  directory's deduplication fields when it deduplicates and the row carries them all
  (trimmed, lower-cased: Qualtrics compares them case-insensitively), else the lookup key
  (``ext_ref``, ``phone``, ``email`` trimmed, e-mail lower-cased; ``_payloads.lookup_key``);
- an **event's content** (transactions, workflow events): every non-null field value as the
  input gives it (a missing ``transaction_date`` is still missing here: the same dateless
  row is the same event next week), keys sorted, as compact JSON;
- a **body digest**: of the exact JSON text sent;
- **per-field digests** of a body (``email``, ``embeddedData.region``, …), packed
  6 bytes a field (2 of the path's SHA-256, the value's CRC-32): enough to name the fields
  that changed, never the values (journals written before the CRC kept 4 bytes of the
  value's SHA-256: both are compared).

Digests are SHA-256 prefixes (and CRC-32 for field values): stable across processes and
library versions, unlike polars' ``hash_rows``.

>>> changes(fields_of('{"email":"a@x","embeddedData":{"r":"N"}}'),
...         '{"email":"a@x","embeddedData":{"r":"S"}}')
['embeddedData.r']
"""

from __future__ import annotations

import array
import functools
import hashlib
import json
import sys
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from qxframe._journal import digest

_LOOKUP = ("ext_ref", "phone", "email")
_WHO = ("ext_ref", "email", "phone")  # the order of a removal row's identity columns
_SEP = "\x1f"
_dumps = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str
).encode


def _norm(name: str, schema: pl.Schema, lower: bool) -> pl.Expr:
    if name not in schema:
        return pl.lit(None, dtype=pl.String)
    text = pl.col(name).cast(pl.String).str.strip_chars()
    if lower:
        text = text.str.to_lowercase()
    return pl.when(text != "").then(text)


def person_keys(
    valid: pl.DataFrame, key_fields: Sequence[str], destinations: Sequence[str]
) -> list[bytes]:
    """The key of each row's person, in order (see the module docstring)."""
    schema = valid.schema
    where = [pl.col(d).cast(pl.String).fill_null("") for d in sorted(destinations) if d in schema]
    lookup = [_norm(n, schema, n == "email").fill_null("") for n in _LOOKUP]
    by_lookup = pl.concat_str([pl.lit("l"), *lookup], separator=_SEP)
    text = by_lookup
    if key_fields:
        dedup = [_norm(n, schema, True) for n in key_fields]
        carries = pl.all_horizontal([d.is_not_null() for d in dedup])
        by_dedup = pl.concat_str([pl.lit("d"), *[d.fill_null("") for d in dedup]], separator=_SEP)
        text = pl.when(carries).then(by_dedup).otherwise(by_lookup)
    full = pl.concat_str([*where, text], separator=_SEP) if where else text
    keys = valid.select(full.alias("k")).to_series()
    return [_sha(k) for k in keys]


def who(frame: pl.DataFrame) -> list[str | None]:
    """Each row's ``ext_ref``, ``email``, ``phone`` (trimmed), unit-separated, as a journal
    keeps them for a removal row (and to know an invalid row's person)."""
    schema = frame.schema
    parts = [_norm(n, schema, n == "email").fill_null("") for n in _WHO]
    text = pl.concat_str(parts, separator=_SEP)
    return frame.select(pl.when(text != _SEP * 2).then(text).alias("w")).to_series().to_list()


def who_columns(who: str | None) -> dict[str, str | None]:
    """``{"ext_ref": …, "email": …, "phone": …}`` of a journal's ``who``."""
    values = (who or "").split(_SEP) if who else ["", "", ""]
    return {name: (v or None) for name, v in zip(_WHO, values, strict=True)}


def event_contents(valid: pl.DataFrame, destinations: Sequence[str]) -> list[bytes]:
    """The content digest of each row (destination values included), in order."""
    dests = sorted(name for name in destinations if name in valid.columns)
    names = sorted(c for c in valid.columns if c != "row" and c not in dests)
    width = len(dests)
    out: list[bytes] = []
    for values in valid.select(*dests, *names).iter_rows():
        where = {d: v for d, v in zip(dests, values[:width], strict=True) if v is not None}
        fields = {n: v for n, v in zip(names, values[width:], strict=True) if v is not None}
        out.append(digest(_dumps([where, fields])))
    return out


def with_occurrence(content: bytes, occurrence: int) -> bytes:
    """An event's key: identical rows of one push are told apart by their occurrence."""
    return content if occurrence == 0 else content + occurrence.to_bytes(4, "big")


def body_digests(bodies: Iterable[str | None]) -> list[bytes]:
    """The digest of each body (compact JSON text), in order."""
    sha = hashlib.sha256
    return [sha(b.encode()).digest()[:12] for b in bodies]  # type: ignore[union-attr]


def _sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:16]


def _paths(body: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in body.items():
        if isinstance(value, dict):
            out.extend((f"{key}.{k}", v) for k, v in value.items())
        else:
            out.append((key, value))
    return out


@functools.lru_cache(maxsize=4096)
def _path_digest(path: str) -> bytes:
    """2 bytes of a field path (the same few paths on every row: computed once each)."""
    return hashlib.sha256(path.encode()).digest()[:2]


def _value_digest(value: Any) -> bytes:
    """4 bytes of a field value's JSON text: its CRC-32 (a change detector, not a secret)."""
    return zlib.crc32(_dumps(value).encode()).to_bytes(4, "big")


def _value_digest_v1(value: Any) -> bytes:
    """The value digest of journals written before CRC-32 (4 bytes of SHA-256): still
    compared, so such a journal names the same changes (never all fields)."""
    return hashlib.sha256(_dumps(value).encode()).digest()[:4]


def fields_of(body: str) -> bytes:
    """The per-field digests of a body (its JSON text), packed (see the module docstring)."""
    return fields_of_many([body])[0]


def fields_of_many(bodies: Sequence[str]) -> list[bytes]:
    """:func:`fields_of` of each body, in order: parsed in one call, each path's digest
    computed once (a push records thousands of bodies at once)."""
    if not bodies:
        return []
    paths: dict[str, bytes] = {}
    crc, text_of = zlib.crc32, json.encoder.encode_basestring
    out: list[bytes] = []
    for parsed in json.loads("[" + ",".join(bodies) + "]"):
        items: list[tuple[str, Any]] = []
        for key, value in parsed.items():
            if type(value) is dict:
                items.extend((f"{key}.{k}", v) for k, v in value.items())
            else:
                items.append((key, value))
        items.sort()
        packed = []
        for path, value in items:
            at = paths.get(path)
            if at is None:
                at = paths[path] = _path_digest(path)
            kind = type(value)
            text = (
                text_of(value) if kind is str
                else repr(value) if kind is int or kind is float  # as json writes them
                else _dumps(value)
            )  # fmt: skip
            packed.append(at + crc(text.encode()).to_bytes(4, "big"))
        out.append(b"".join(packed))
    return out


#: Rows whose fields :func:`fields_of_frame` computes at once.
FIELDS_AT_ONCE = 10_000
#: A member of a flat JSON object whose text holds no backslash: every string literal is
#: then ``"[^"]*"``, so the members are found exactly (key, then the value's JSON text).
_FLAT_MEMBER = r'"([^"\\]*)":("[^"\\]*"|[^,"{}]+)'


def fields_of_frame(valid: pl.DataFrame) -> list[bytes]:
    """:func:`fields_of` of each row's contact body (``_payloads.contact_bodies``), in
    order, byte for byte, computed column-wise: the body's values are JSON text already
    (each value's digest is of that text), so no body is parsed and no Python object is
    made per field but the value's text. Embedded data is split into members in polars;
    a row whose embedded data holds a backslash (an escaped character) goes through
    :func:`fields_of_many`.

    :data:`FIELDS_AT_ONCE` rows at a time: a row's fields, their texts and their numbers
    are held a few times over while computed, and a whole 50,000-row chunk of them at once
    added some 30 MB to a first push's peak (docs/architecture.md, "Memory").
    """
    from qxframe._payloads import contact_bodies, contact_members

    if valid.height > FIELDS_AT_ONCE:
        return [
            fields for part in valid.iter_slices(FIELDS_AT_ONCE) for fields in fields_of_frame(part)
        ]
    if valid.height == 0:
        return []
    at = pl.int_range(pl.len(), dtype=pl.UInt32).alias("i")
    parts: list[pl.DataFrame] = []
    escaped: list[int] = []
    for key, text in contact_members(valid):
        if key != "embeddedData":
            parts.append(valid.select(at, pl.lit(key).alias("path"), text.alias("text")))
            continue
        found = valid.select(
            at,
            text.str.contains("\\", literal=True).fill_null(False).alias("escaped"),
            text.str.extract_all(_FLAT_MEMBER).alias("m"),
        )
        escaped = found.filter("escaped")["i"].to_list()
        pairs = found.filter(~pl.col("escaped")).select("i", "m").explode("m")
        # a member is "key":value and its key holds no quote: split at the first '":'
        member = pl.col("m").str.splitn('":', 2)
        parts.append(
            pairs.select(
                "i",
                pl.concat_str(
                    pl.lit("embeddedData."), member.struct[0].str.strip_prefix('"')
                ).alias("path"),
                member.struct[1].alias("text"),
            )
        )
    long = pl.concat(parts).drop_nulls("text")
    # each field as one 48-bit number, the path's 2 bytes over the value's CRC-32, packed
    # big-endian 8 bytes apiece; the two high bytes of each are then cut out. A row's fields
    # are put in path order by the path's rank among them (the code of an Enum of the
    # sorted paths), not by its text
    paths = long["path"].unique().sort()
    high = pl.Series([int.from_bytes(_path_digest(p), "big") << 32 for p in paths], dtype=pl.UInt64)
    crcs = pl.Series(
        "crc", list(map(zlib.crc32, long["text"].cast(pl.Binary).to_list())), pl.UInt64
    )
    rank = pl.col("path").cast(pl.Enum(paths)).to_physical().alias("rank")
    long = long.select("i", rank).with_columns(crcs).sort("i", "rank")
    numbers = long.select(pl.lit(high).gather(pl.col("rank")) | pl.col("crc")).to_series()
    packed = array.array("Q", numbers.to_list())
    if sys.byteorder == "little":
        packed.byteswap()
    buffer = bytearray(packed.tobytes())
    del buffer[0::8]  # 7 bytes a field now
    del buffer[0::7]  # 6
    data = bytes(buffer)
    out = [b""] * valid.height
    start = 0
    runs = long["i"].rle().struct.unnest()
    for count, row in zip(runs["len"].to_list(), runs["value"].to_list(), strict=True):
        end = start + 6 * count
        out[row] = data[start:end]
        start = end
    if escaped:
        redone = fields_of_many(contact_bodies(valid[escaped]).to_list())
        for row, fields in zip(escaped, redone, strict=True):
            out[row] = fields
    return out


def changes(before: bytes | None, body: str) -> list[str]:
    """The field paths of ``body`` whose value is not the one ``before`` (per-field digests
    of the body last accepted) holds: new fields, and fields with another value. A field
    the body leaves out is not a change: Qualtrics keeps what it holds."""
    packed = before or b""
    old = {packed[i : i + 6] for i in range(0, len(packed), 6)}
    out = []
    for path, value in sorted(_paths(json.loads(body))):
        at = _path_digest(path)
        if at + _value_digest(value) not in old and at + _value_digest_v1(value) not in old:
            out.append(path)
    return out
