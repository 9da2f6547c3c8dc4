"""The journal: a local SQLite file remembering what Qualtrics accepted at one destination.

This module owns the file format and its queries; the row keys and body digests are
:mod:`qxframe._digests`' and what a push does with them is :mod:`qxframe.actions._resume`'s
(docs/architecture.md, "Journal and resume"). Format 2, one row per key::

    CREATE TABLE entries (
        key          BLOB NOT NULL PRIMARY KEY,  -- contacts: the person; events: content
        status       TEXT NOT NULL,     -- success | failed | pending (a write on its way)
        body         BLOB,              -- digest of the last body Qualtrics accepted, or NULL
        fields       BLOB,              -- that body's per-field digests (to name changes)
        qualtrics_id TEXT, contact_id TEXT,
        member       INTEGER NOT NULL,  -- 1: this sync put the person in the mailing list
        who          TEXT,              -- contacts: ext_ref, email, phone (unit-separated)
        http_status INTEGER, error_code TEXT, error_message TEXT  -- the last failure
    )

``entries`` is a rowid table with a unique index on ``key``: a person's row is appended to
the table and only the 16-byte key goes into a B-tree in random order, so a first push
of 1,000,000 people costs 29 µs a row instead of 35. Journals made before 2026-12-07 hold
``entries`` ``WITHOUT ROWID`` (the rows themselves in the key's B-tree); every query is the
same for both layouts, so such a journal is read and written as it is.

``body`` is kept when a later write fails or is pending: it is still what Qualtrics last
accepted. ``preexisting`` holds the contact ids that were already members of the list when
this journal first wrote into it (never this sync's to remove); ``import_rows`` the import
job a ``pending`` row went out in, so a resumed push reads that job's report instead of
creating it again. ``meta`` holds ``format`` (``"2"``), ``identity`` (the action and its
destination constants, a workflow URL's ``urlTokenId`` hidden and compared by digest) and
``key_fields`` (the identity fields contacts are keyed by, fixed at the first push so
next week's keys are this week's).

A journal belongs to a destination, not to an input: next week's export, or the same
file edited, is the same sync. :meth:`Journal.claim` refuses another action or
destination. A format-1 journal (made before syncs; it keyed rows by content and belonged
to one input file) is refused with a message saying so, never read as format 2.

A temporary table, per push: ``carried`` (identity values of the push's invalid rows: such
a person stays in the list). The keys a push carried and the contact ids it was answered
are the push's own (:mod:`qxframe.actions._carried`), handed to :meth:`Journal.leavers`.

WAL mode with ``synchronous=NORMAL``: a commit is a write to the WAL file, which survives
the process being killed; a power cut may lose the last commits. One push at a time may
write a journal: it is locked (``flock``) while a push uses it, and nothing is written to
it before the lock is held.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, TypeVar

from qxframe.exceptions import ConfigError, StorageError, first_line

T = TypeVar("T")

FORMAT = "2"
PENDING = "pending"  # a write on its way: its outcome is not known yet
COMMIT_EVERY_ROWS = 500  # outcomes written without a pending mark are committed in batches
COMMIT_EVERY_SECONDS = 1.0
_BATCH = 500  # keys per SELECT … IN (…)
#: SQLite's page cache of an open journal (KiB). The OS caches the file too: on a journal
#: of 1,000,000 people, lookups took 4.5 µs a key with 8 MB and 5.0 µs with 64 MB.
CACHE_KIB = 8_192
_MEMBERS_BATCH = 50_000  # members read at once when looking for leavers

Key = bytes
Held = tuple[str, bytes | None, str | None, str | None]  # status, body, qualtrics_id, contact_id

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    key BLOB NOT NULL PRIMARY KEY, status TEXT NOT NULL, body BLOB, fields BLOB,
    qualtrics_id TEXT, contact_id TEXT, member INTEGER NOT NULL, who TEXT,
    http_status INTEGER, error_code TEXT, error_message TEXT
);
CREATE TABLE IF NOT EXISTS preexisting (contact_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS import_rows (
    key BLOB PRIMARY KEY, import_id TEXT NOT NULL, directory_id TEXT NOT NULL,
    mailing_list_id TEXT NOT NULL, source_index INTEGER NOT NULL, unprocessed INTEGER NOT NULL
) WITHOUT ROWID;
"""
_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS carried (value TEXT PRIMARY KEY) WITHOUT ROWID;
"""
_ENTRY = (
    "status, body, fields, qualtrics_id, contact_id, member, who, http_status, error_code, "
    "error_message"
)
_ON_ACCEPTED = """
ON CONFLICT DO UPDATE SET status = 'success', body = excluded.body, fields = excluded.fields,
    qualtrics_id = excluded.qualtrics_id, contact_id = excluded.contact_id,
    member = max(member, excluded.member), who = coalesce(excluded.who, who),
    http_status = NULL, error_code = NULL, error_message = NULL
"""
_ACCEPTED = "INSERT INTO entries VALUES (?, 'success', ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)" + (
    _ON_ACCEPTED
)
#: People: no qualtrics_id (their id is the contact id), membership the same for all rows.
_PERSON_ACCEPTED = (
    "INSERT INTO entries VALUES (?, 'success', ?, ?, NULL, ?, {member}, ?, NULL, NULL, NULL)"
    + _ON_ACCEPTED
)
_FAILED = """
INSERT INTO entries VALUES (?, 'failed', NULL, NULL, NULL, ?, 0, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET status = 'failed', contact_id = coalesce(excluded.contact_id, contact_id),
    http_status = excluded.http_status, error_code = excluded.error_code,
    error_message = excluded.error_message
"""
_PENDING = """
INSERT INTO entries VALUES (?, 'pending', NULL, NULL, NULL, NULL, 0, ?, NULL, NULL, NULL)
ON CONFLICT DO UPDATE SET status = 'pending'
"""


@dataclass(frozen=True, slots=True)
class ImportRow:
    """Where a row went out in an import job."""

    import_id: str
    directory_id: str
    mailing_list_id: str
    source_index: int
    unprocessed: bool


@dataclass(frozen=True, slots=True)
class Entry:
    """What the journal holds for one key."""

    status: str
    body: bytes | None  # digest of the last body Qualtrics accepted
    fields: bytes | None
    qualtrics_id: str | None
    contact_id: str | None
    member: bool
    who: str | None
    http_status: int | None
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class Accepted:
    """A body Qualtrics accepted for a key."""

    body: bytes
    fields: bytes | None
    qualtrics_id: str | None
    contact_id: str | None
    member: bool  # the write put the person in the mailing list (this sync's member)
    who: str | None


@dataclass(frozen=True, slots=True)
class Refused:
    """The last write for a key failed (or its outcome is unknown)."""

    contact_id: str | None
    http_status: int | None
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class Member:
    """A member of the list this sync put there, as the journal knows them."""

    key: Key
    contact_id: str
    who: str | None


def digest(text: str) -> bytes:
    """16 bytes of SHA-256: stable across processes and library versions."""
    return hashlib.sha256(text.encode()).digest()[:16]


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


@dataclass(frozen=True)
class Identity:
    """What a journal belongs to: one action at one destination."""

    action: str
    destination: str  # for people: "directory_id POOL_…", a workflow URL's token hidden
    destination_digest: str  # hex digest of every destination value, compared

    @classmethod
    def of(cls, action: str, constants: dict[str, Any]) -> Identity:
        from qxframe.delivery._urls import redact

        given = {k: v for k, v in sorted(constants.items()) if v is not None}
        shown = ", ".join(
            f"{k} {redact(v) if k == 'workflow_url' else v}" for k, v in given.items()
        )
        return cls(
            action, shown or "the destination columns of each row", digest(_dumps(given)).hex()
        )

    @classmethod
    def from_json(cls, text: str) -> Identity:
        found = json.loads(text)
        return cls(found["action"], found["destination"], found["destination_digest"])

    def to_json(self) -> str:
        return json.dumps(
            {"action": self.action, "destination": self.destination,
             "destination_digest": self.destination_digest}
        )  # fmt: skip

    def describe(self) -> str:
        return f"{self.action} to {self.destination}"

    def check_same(self, other: Identity, path: Path) -> None:
        """``ConfigError`` naming both when ``other`` is another destination than this."""
        if (self.action, self.destination_digest) == (other.action, other.destination_digest):
            return
        raise ConfigError(
            f"the journal {path} belongs to another destination ({self.describe()}); this "
            f"push is {other.describe()}. Use a new journal file for it: a journal remembers "
            "what one destination holds and would skip rows another one lacks"
        )


def _stored(method: Callable[..., T]) -> Callable[..., T]:
    """A journal method whose SQLite or file-system failure (a full disk, a read-only file
    system, a damaged file) becomes a :class:`StorageError` naming the journal and what
    to do, instead of a raw ``sqlite3`` error."""

    @functools.wraps(method)
    def stored(self: Journal, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(
                f"could not use the journal {str(self.path)!r} ({first_line(exc)}): free space "
                "on its disk or make it writable, then run the same push again with this "
                "journal (rows it records as done are skipped, rows whose outcome is unknown "
                "are not sent again); keep the file. If it is damaged, move it aside and "
                "check the rows marked outcome_unknown in Qualtrics before pushing them again.",
                path=self.path,
            ) from None

    return stored


class Journal:
    """An open journal file. ``writable=False`` opens it for lookups only (dry runs)."""

    def __init__(self, path: str | Path, *, writable: bool = True) -> None:
        self.path = Path(path)
        self.writable = writable
        self._lock_file: Any = None
        self._dirty = 0
        self._last_commit = time.monotonic()
        if writable:
            self._lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._setup()
        except sqlite3.Error as exc:
            self.close()
            raise ConfigError(
                f"cannot use {self.path} as a journal ({exc}); give a new file name, or the "
                "journal file of an earlier qxframe push"
            ) from exc
        except ConfigError:
            self.close()
            raise

    @classmethod
    def for_lookups(cls, path: str | Path) -> Journal:
        """The journal at ``path`` opened for lookups only; an empty one in memory when
        there is no file yet (a dry run of a first push: everything is new)."""
        return cls(path if Path(path).exists() else ":memory:", writable=False)

    def _setup(self) -> None:
        db = self._db
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        if tables and "meta" not in tables:
            raise sqlite3.DatabaseError("it is an SQLite file that is not a qxframe journal")
        if "meta" in tables:
            found = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if found is not None and found[0] != FORMAT:
                raise ConfigError(_old_format(self.path, found[0]))
        if self.writable:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
        elif not tables:
            db.executescript(_SCHEMA)  # an empty file opened for lookups: nothing to find
        db.execute("PRAGMA temp_store=MEMORY")  # invalid rows' identity values: few
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        db.executescript(_TEMP)

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # not on this platform: no protection against a second push
            return
        try:
            self._lock_file = os.fdopen(os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644), "rb")
        except OSError as exc:
            raise ConfigError(f"cannot use {self.path} as a journal: {exc}") from exc
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self.close()
            raise ConfigError(
                f"the journal {self.path} is in use by another push; wait for it to finish "
                "(two pushes sharing a journal could send the same rows twice)"
            ) from exc

    # -- what the journal belongs to ------------------------------------------------

    @_stored
    def claim(self, identity: Identity) -> None:
        """Refuse another destination's journal (``ConfigError``); else record ``identity``."""
        recorded = self.meta("identity")
        if recorded is not None:
            Identity.from_json(recorded).check_same(identity, self.path)
        elif self.writable:
            self.set_meta("identity", identity.to_json())

    @_stored
    def meta(self, key: str) -> str | None:
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else str(found[0])

    @_stored
    def set_meta(self, key: str, value: str) -> None:
        if self.writable:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- lookups ---------------------------------------------------------------------

    @_stored
    def lookup(self, keys: Sequence[Key]) -> dict[Key, Entry]:
        """The entries the journal holds for ``keys``."""
        found: dict[Key, Entry] = {}
        for part in _batches(list(dict.fromkeys(keys))):
            marks = ",".join("?" * len(part))
            query = f"SELECT key, {_ENTRY} FROM entries WHERE key IN ({marks})"
            for key, *values in self._db.execute(query, part):
                values[5] = bool(values[5])
                found[key] = Entry(*values)
        return found

    @_stored
    def import_rows(self, keys: Iterable[Key]) -> dict[Key, ImportRow]:
        """The import job each of ``keys`` went out in (those :meth:`record_jobs` recorded)."""
        found: dict[Key, ImportRow] = {}
        for part in _batches(list(keys)):
            marks = ",".join("?" * len(part))
            query = f"SELECT * FROM import_rows WHERE key IN ({marks})"
            for key, job, d, ml, index, unprocessed in self._db.execute(query, part):
                found[key] = ImportRow(job, d, ml, index, bool(unprocessed))
        return found

    @_stored
    def is_empty(self) -> bool:
        """Whether the journal holds no key yet (its first push)."""
        return self._db.execute("SELECT 1 FROM entries LIMIT 1").fetchone() is None

    @_stored
    def held(self, keys: Sequence[Key]) -> dict[Key, Held]:
        """``(status, body, qualtrics_id, contact_id)`` of those of ``keys`` the journal holds:
        what a sync compares most rows with (four columns, no :class:`Entry`)."""
        found: dict[Key, Held] = {}
        for part in _batches(list(dict.fromkeys(keys))):
            marks = ",".join("?" * len(part))
            query = (
                "SELECT key, status, body, qualtrics_id, contact_id FROM entries "
                f"WHERE key IN ({marks})"
            )
            for key, *values in self._db.execute(query, part):
                found[key] = tuple(values)
        return found

    # -- what this push carried (temporary) --------------------------------------------

    @_stored
    def carry(self, values: Iterable[str]) -> None:
        """Identity values of this push's invalid rows (their people stay in the list)."""
        self._db.executemany("INSERT OR IGNORE INTO carried VALUES (?)", ((v,) for v in values))

    @_stored
    def forget_carried(self) -> None:
        """Start a new pass over the input (the guard's read-ahead came first)."""
        self._db.execute("DELETE FROM carried")

    # -- the mailing list --------------------------------------------------------------

    @_stored
    def members(self) -> int:
        """How many members this sync put in the list (and did not take out)."""
        return int(self._db.execute("SELECT count(*) FROM entries WHERE member = 1").fetchone()[0])

    @_stored
    def leavers(
        self,
        missing: Callable[[list[Key]], list[bool]],
        unanswered: Callable[[list[str]], list[bool]],
    ) -> list[Member]:
        """This sync's members that no row of this push carried (``missing``: for each key,
        whether none did) and no answer of it named (``unanswered``: for each contact id),
        read in batches."""
        query = """
            SELECT key, contact_id, who FROM entries e WHERE member = 1 AND contact_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM preexisting p WHERE p.contact_id = e.contact_id)
        """
        out: list[Member] = []
        cursor = self._db.execute(query)
        while batch := cursor.fetchmany(_MEMBERS_BATCH):
            gone = missing([key for key, _, _ in batch])
            quiet = unanswered([contact_id for _, contact_id, _ in batch])
            out.extend(Member(*m) for m, g, q in zip(batch, gone, quiet, strict=True) if g and q)
        carried = self._db.execute("SELECT count(*) FROM temp.carried").fetchone()[0]
        if not carried:
            return out
        find = "SELECT 1 FROM temp.carried WHERE value = ?"
        return [
            m for m in out
            if not any(self._db.execute(find, (v,)).fetchone() for v in _who_values(m.who))
        ]  # fmt: skip

    @_stored
    def preexisting(self, contact_ids: Iterable[str]) -> None:
        """Record who was a member before this journal first wrote into the list."""
        self._write("INSERT OR IGNORE INTO preexisting VALUES (?)", [(c,) for c in contact_ids])
        self.commit()

    @_stored
    def has_preexisting(self) -> bool:
        """Whether anyone was a member of the list before this journal first wrote into it."""
        return self._db.execute("SELECT 1 FROM preexisting LIMIT 1").fetchone() is not None

    @_stored
    def was_preexisting(self, contact_ids: Iterable[str]) -> set[str]:
        """Those of ``contact_ids`` that were members before this sync's first write."""
        found: set[str] = set()
        for part in _batches(list(contact_ids)):
            marks = ",".join("?" * len(part))
            query = f"SELECT contact_id FROM preexisting WHERE contact_id IN ({marks})"
            found.update(c for (c,) in self._db.execute(query, part))
        return found

    @_stored
    def left(self, keys: Iterable[Key]) -> None:
        """These members left the list (removed or unsubscribed): no longer this sync's,
        and their body is forgotten, so a person who comes back is sent again. Committed."""
        sql = "UPDATE entries SET member = 0, body = NULL, fields = NULL WHERE key = ?"
        self._write(sql, [(k,) for k in keys])
        self.commit()

    # -- writes ----------------------------------------------------------------------

    @_stored
    def record_jobs(self, items: Iterable[tuple[Key, ImportRow]]) -> None:
        """Record the import job of pending rows, and commit (the job exists now)."""
        sql = "INSERT OR REPLACE INTO import_rows VALUES (?, ?, ?, ?, ?, ?)"
        self._write(sql, [(key, *astuple(job)) for key, job in items])
        self.commit()

    @_stored
    def mark_pending(self, items: Iterable[tuple[Key, str | None]]) -> None:
        """Record ``(key, who)`` as being sent now, and commit before the request goes out."""
        self._write(_PENDING, list(items))
        self.commit()

    @_stored
    def accepted(self, items: Iterable[tuple[Key, Accepted]]) -> None:
        """Qualtrics accepted these bodies (committed in batches: :data:`COMMIT_EVERY_ROWS`)."""
        self.accepted_rows(
            (k, a.body, a.fields, a.qualtrics_id, a.contact_id, a.member, a.who) for k, a in items
        )

    @_stored
    def accepted_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """:meth:`accepted` from plain ``(key, body, fields, qualtrics_id, contact_id, member,
        who)`` tuples (a push records thousands at once), written in key order: neighbouring
        keys share pages, so an import job's 10,000 rows touch far fewer of them."""
        self._write(_ACCEPTED, sorted(rows, key=_first))
        self._maybe_commit()

    @_stored
    def accepted_people(
        self, rows: list[tuple[Key, bytes, bytes, str, str | None]], *, member: bool
    ) -> None:
        """:meth:`accepted_rows` of people: ``(key, body, fields, contact_id, who)`` tuples,
        each a member of the list (``member``) or not. Five values a row are bound, not
        seven (binding is most of SQLite's cost here). ``rows`` are sorted in place, by key
        alone: a key's rows keep their order, so its last write is recorded last."""
        rows.sort(key=_first)
        self._write(_PERSON_ACCEPTED.format(member=int(member)), rows)
        self._maybe_commit()

    @_stored
    def refused(self, items: Iterable[tuple[Key, Refused]]) -> None:
        """These writes failed (the last accepted body, if any, is kept)."""
        rows = [
            (k, r.contact_id, None, r.http_status, r.error_code, r.error_message) for k, r in items
        ]
        self._write(_FAILED, rows)
        self._maybe_commit()

    @_stored
    def forget(self, keys: Iterable[Key]) -> None:
        """Nothing of these keys' last write landed: a pending mark is undone (the body last
        accepted stands again), a key that never had one is dropped."""
        rows = [(k,) for k in keys]
        self._write("DELETE FROM entries WHERE key = ? AND body IS NULL", rows)
        self._write(
            "UPDATE entries SET status = 'success' WHERE key = ? AND body IS NOT NULL", rows
        )
        self._maybe_commit()

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if not self.writable:
            raise RuntimeError("this journal was opened for lookups only")
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        self._db.executemany(sql, rows)
        self._dirty += len(rows)

    def _maybe_commit(self) -> None:
        late = time.monotonic() - self._last_commit >= COMMIT_EVERY_SECONDS
        if self._dirty >= COMMIT_EVERY_ROWS or (self._dirty and late):
            self.commit()

    @_stored
    def commit(self) -> None:
        if self._db.in_transaction:
            self._db.execute("COMMIT")
        self._dirty = 0
        self._last_commit = time.monotonic()

    def close(self) -> None:
        """Commit what is written and close the file (idempotent)."""
        if getattr(self, "_db", None) is not None:
            try:
                if self.writable:
                    self.commit()
            finally:
                self._db.close()
                self._db = None  # type: ignore[assignment]
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.close()
            return
        try:  # already failing: a journal that cannot commit either must not hide that
            self.close()
        except StorageError as also:
            if also.message not in str(exc):
                exc.add_note(f"Then, also: {also}")


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


def _batches(keys: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(keys), _BATCH):
        yield keys[start : start + _BATCH]


def _who_values(who: str | None) -> list[str]:
    return [v for v in (who or "").split("\x1f") if v]


def _old_format(path: Path, found: str) -> str:
    return (
        f"the journal {path} is in format {found}, made by an earlier qxframe that kept one "
        f"input file's rows; this qxframe keeps format {FORMAT} (what each destination holds, "
        "person by person). Give this push a new journal file: the first push with it sends "
        "every row once, as the old journal's push did"
    )


@dataclass(frozen=True)
class Recorded:
    """What a journal file says of itself, read without locking or writing it."""

    identity: Identity | None
    rows: int


def peek(path: str | Path) -> Recorded | None:
    """The journal at ``path`` as it is now; ``None`` if there is none (or it is not one)."""
    if not Path(path).is_file():
        return None
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("format") != FORMAT:
                return None
            (rows,) = db.execute("SELECT count(*) FROM entries").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    identity = Identity.from_json(meta["identity"]) if "identity" in meta else None
    return Recorded(identity, int(rows))
