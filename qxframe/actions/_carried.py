"""What one push carried so far: the journal key of each of its rows, in memory, 9 bytes a row.

A sync asks three things of the rows a push has carried (docs/architecture.md, "Journal
and resume"): whether an earlier row of a person was sent (later rows of that person are
then sent too, in input order), how many earlier rows carried an event's content
(identical events of one push are told apart by their occurrence), and, at the end, which
members of the list no row carried and no answer named (they leave): the contact ids
Qualtrics answered are kept the same way.

Each key is kept as a 64-bit hash (polars' ``hash``: stable within a process, which is all
a push needs) and a flag saying whether its row was sent: 9 bytes a row in polars columns,
so a million rows hold 9 MB, not a Python object each. Answered contact ids come one at a
time when rows are sent one request each: they wait in a list and are hashed
:data:`ANSWERS_AT_ONCE` at a time (hashing each alone cost 45–95 µs of polars' per-call
work, a Series chunk apiece, growing with the push). Two of a million keys share a hash
with odds near 3 in 10⁸; the harm is on the safe side (a member stays in the list, or a
row is sent once more as an update).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import polars as pl

_SCHEMA = {"h": pl.UInt64, "sent": pl.Boolean}
#: Answered contact ids hashed at once (those waiting are a list of Python strings).
ANSWERS_AT_ONCE = 10_000
T = TypeVar("T", pl.DataFrame, pl.Series)


def hashes(keys: Sequence[bytes] | pl.Series) -> pl.Series:
    """The 64-bit hash of each key, in order."""
    return pl.Series("h", keys, dtype=pl.Binary).hash(seed=0)


def _few(parts: list[T]) -> list[T]:
    """``parts``, concatenated into one once there are more than 8 (a lookup concatenates
    the parts it reads: a few, not one per chunk). Not copied into one buffer: a copy of a
    million rows' hashes beside the hashes themselves raised a sync's peak by their size."""
    return [pl.concat(parts, rechunk=False)] if len(parts) > 8 else parts


class Carried:
    """The keys a push has carried, in chunks (see the module docstring)."""

    def __init__(self) -> None:
        self._parts: list[pl.DataFrame] = []
        self._answered: list[pl.Series] = []  # hashes of the contact ids answered
        self._waiting: list[str] = []  # contact ids answered, not hashed yet

    def add(self, keys: Sequence[bytes] | pl.Series, sent: Sequence[bool] | None = None) -> None:
        """Note one chunk's keys (one per row) and whether each row was sent."""
        if len(keys) == 0:
            return
        flags = pl.Series("sent", [False] * len(keys) if sent is None else sent, pl.Boolean)
        self._parts = _few([*self._parts, pl.DataFrame([hashes(keys), flags])])

    def _whole(self) -> pl.DataFrame:
        if not self._parts:
            return pl.DataFrame(schema=_SCHEMA)
        return self._parts[0] if len(self._parts) == 1 else pl.concat(self._parts)

    def earlier(self, keys: Sequence[bytes] | pl.Series) -> dict[bytes, tuple[int, bool]]:
        """For each of ``keys`` an earlier chunk carried: ``(rows that carried it, whether
        one of them was sent)``."""
        if not self._parts or len(keys) == 0:
            return {}
        asked = pl.DataFrame([hashes(keys), pl.Series("key", keys, pl.Binary)])
        found = (
            self._whole()
            .filter(pl.col("h").is_in(asked["h"].implode()))
            .group_by("h")
            .agg(pl.len().alias("n"), pl.col("sent").any())
            .join(asked.unique("h"), on="h")
        )
        return {key: (n, sent) for key, n, sent in found.select("key", "n", "sent").iter_rows()}

    def missing(self, keys: Sequence[bytes]) -> list[bool]:
        """For each of ``keys``: whether no row of the push carried it."""
        if not keys:
            return []
        # the carried hashes found among those asked, then the asked among those: a set of
        # the asked hashes is built, not one of every carried row's (16 MB a million)
        asked, carried = hashes(keys), self._whole()["h"]
        found = carried.filter(carried.is_in(asked.implode()))
        return (~asked.is_in(found.implode())).to_list()

    def answer(self, contact_ids: Sequence[str]) -> None:
        """Note contact ids Qualtrics answered in this push (their people stay in the list)."""
        self._waiting.extend(contact_ids)
        if len(self._waiting) >= ANSWERS_AT_ONCE:
            self._hash_waiting()

    def _hash_waiting(self) -> None:
        if self._waiting:
            asked = pl.Series("h", self._waiting, pl.String).hash(seed=0)
            self._answered = _few([*self._answered, asked])
            self._waiting = []

    def unanswered(self, contact_ids: Sequence[str]) -> list[bool]:
        """For each of ``contact_ids``: whether no answer of this push named it."""
        self._hash_waiting()
        if not self._answered:
            return [True] * len(contact_ids)
        answered = pl.concat(self._answered).implode()
        asked = pl.Series("h", contact_ids, pl.String).hash(seed=0)
        return (~asked.is_in(answered)).to_list()

    def clear(self) -> None:
        """Forget every key and answer (a new pass over the input begins)."""
        self._parts, self._answered, self._waiting = [], [], []
