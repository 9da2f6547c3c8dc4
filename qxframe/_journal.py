"""The journal: a local SQLite file recording what happened to each row a push sent.

This module owns the file format, the row keys and the queries; :mod:`qxframe.actions._resume`
decides what a push does with them. One table (format 1)::

    CREATE TABLE outcomes (
        action       TEXT    NOT NULL,  -- contacts | transactions | workflow
        destination  BLOB    NOT NULL,  -- sha256[:16] of the row's destination values
        fingerprint  BLOB    NOT NULL,  -- sha256[:16] of the row's other field values
        occurrence   INTEGER NOT NULL,  -- 0 for the first row of a push with this key, 1 …
        status       TEXT    NOT NULL,  -- pending | success | failed
        http_status INTEGER, qualtrics_id TEXT, contact_id TEXT, error_code TEXT,
        error_message TEXT, request_id TEXT,
        row          INTEGER,           -- input position when last written (for people)
        updated_at   TEXT    NOT NULL,  -- UTC, ISO 8601
        PRIMARY KEY (action, destination, fingerprint, occurrence)
    ) WITHOUT ROWID

A ``meta`` table (key, value) holds the format and what the journal belongs to:
``identity`` (JSON: the action, the destination constants — a workflow URL shown with
its ``urlTokenId`` hidden, compared by digest — and the input: a file's resolved path, or
a frame's column names) and ``input_stamp`` (the file's size and mtime when a push last
used it). :meth:`Journal.claim` refuses another push's journal, and tells whether the
file changed since. A journal made before identities were recorded is adopted by the
first push that uses it (refused only if it holds rows of another action).

A row's key is computed from its prepared (canonical) field values: a compact JSON object
of the non-null values, keys sorted, hashed with SHA-256 — stable across processes and
library versions, unlike polars' ``hash_rows``. Destination values (directory, mailing
list, workflow URL) are hashed apart, so the workflow URL's semi-secret ``urlTokenId`` is
never stored. ``occurrence`` numbers identical rows within one push, so a file holding
the same row twice sends it twice, once per run.

A second table, ``import_rows``, says which import job a ``pending`` row went out in (its
``import_id``, directory, list, index in the job and whether Qualtrics listed it as
unprocessed), written as soon as the job is created: a resumed push follows that job and
reads its report instead of reporting the row ``outcome_unknown`` (docs/architecture.md,
"Journal and resume").

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from qxframe.exceptions import ConfigError, StorageError, first_line

T = TypeVar("T")

FORMAT = "1"
PENDING = "pending"  # a write on its way: its outcome is not known yet
COMMIT_EVERY_ROWS = 500  # outcomes written without a pending mark are committed in batches
COMMIT_EVERY_SECONDS = 1.0

Key = tuple[bytes, bytes, int]  # destination, fingerprint, occurrence

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (
    action TEXT NOT NULL, destination BLOB NOT NULL, fingerprint BLOB NOT NULL,
    occurrence INTEGER NOT NULL, status TEXT NOT NULL,
    http_status INTEGER, qualtrics_id TEXT, contact_id TEXT, error_code TEXT,
    error_message TEXT, request_id TEXT, row INTEGER, updated_at TEXT NOT NULL,
    PRIMARY KEY (action, destination, fingerprint, occurrence)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS import_rows (
    action TEXT NOT NULL, destination BLOB NOT NULL, fingerprint BLOB NOT NULL,
    occurrence INTEGER NOT NULL, import_id TEXT NOT NULL, directory_id TEXT NOT NULL,
    mailing_list_id TEXT NOT NULL, source_index INTEGER NOT NULL, unprocessed INTEGER NOT NULL,
    PRIMARY KEY (action, destination, fingerprint, occurrence)
) WITHOUT ROWID;
"""
_SEEN = """
CREATE TEMP TABLE IF NOT EXISTS seen (
    destination BLOB NOT NULL, fingerprint BLOB NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (destination, fingerprint)
) WITHOUT ROWID
"""
_UPSERT = """
INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET status = excluded.status, http_status = excluded.http_status,
    qualtrics_id = excluded.qualtrics_id, contact_id = excluded.contact_id,
    error_code = excluded.error_code, error_message = excluded.error_message,
    request_id = excluded.request_id, row = excluded.row, updated_at = excluded.updated_at
"""
#: What :meth:`Journal.record` keeps of an outcome, in this order (results columns).
OUTCOME_COLUMNS = (
    "status", "http_status", "qualtrics_id", "contact_id", "error_code", "error_message",
    "request_id", "row",
)  # fmt: skip
_dumps = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str
).encode


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
    """What the journal holds for one row key."""

    status: str
    http_status: int | None
    qualtrics_id: str | None
    contact_id: str | None
    error_code: str | None
    error_message: str | None
    request_id: str | None


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:16]


def row_digests(
    valid: pl.DataFrame, destination_fields: Sequence[str]
) -> list[tuple[bytes, bytes]]:
    """``(destination, fingerprint)`` for each row of a prepared ``valid`` frame, in order."""
    dests = sorted(name for name in destination_fields if name in valid.columns)
    names = sorted(c for c in valid.columns if c != "row" and c not in dests)
    width = len(dests)
    memo: dict[tuple[Any, ...], bytes] = {}
    out: list[tuple[bytes, bytes]] = []
    for values in valid.select(*dests, *names).iter_rows():
        where = values[:width]
        destination = memo.get(where)
        if destination is None:
            if len(memo) > 10_000:
                memo.clear()
            destination = memo[where] = _digest(_dumps(dict(zip(dests, where, strict=True))))
        fields = {n: v for n, v in zip(names, values[width:], strict=True) if v is not None}
        out.append((destination, _digest(_dumps(fields))))
    return out


@dataclass(frozen=True)
class Identity:
    """What a journal belongs to: one action, one destination, one input."""

    action: str
    destination: str  # for people: "directory_id POOL_…", a workflow URL's token hidden
    destination_digest: str  # hex digest of every destination value, compared
    input: dict[str, Any]  # {"file": resolved path} or {"columns": [...]}

    @classmethod
    def of(cls, action: str, constants: dict[str, Any], source: dict[str, Any]) -> Identity:
        from qxframe.delivery._urls import redact

        given = {k: v for k, v in sorted(constants.items()) if v is not None}
        shown = ", ".join(
            f"{k} {redact(v) if k == 'workflow_url' else v}" for k, v in given.items()
        )
        digest = _digest(_dumps(given)).hex()
        return cls(action, shown or "the destination columns of each row", digest, source)

    @classmethod
    def from_json(cls, text: str) -> Identity:
        return cls(**json.loads(text))

    def to_json(self) -> str:
        return json.dumps(
            {
                "action": self.action,
                "destination": self.destination,
                "destination_digest": self.destination_digest,
                "input": self.input,
            }
        )

    def describe(self) -> str:
        if "file" in self.input:
            what = self.input["file"]
        else:
            what = "a frame with columns " + ", ".join(map(repr, self.input.get("columns", [])))
        return f"{self.action} from {what} to {self.destination}"

    def check_same(self, other: Identity, path: Path) -> None:
        """``ConfigError`` naming both when ``other`` is another push than this one."""
        mine = (self.action, self.destination_digest, self.input)
        if mine == (other.action, other.destination_digest, other.input):
            return
        raise ConfigError(
            f"the journal {path} belongs to another push ({self.describe()}); this push is "
            f"{other.describe()}. Use a new journal file for this push: a journal resumes "
            "one push and would skip rows of another"
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

    @classmethod
    def for_lookups(cls, path: str | Path) -> Journal | None:
        """The journal at ``path`` opened for lookups only, or ``None`` if there is none."""
        return cls(path, writable=False) if Path(path).exists() else None

    def _setup(self) -> None:
        db = self._db
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        if tables and "meta" not in tables:
            raise sqlite3.DatabaseError("it is an SQLite file that is not a qxframe journal")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        found = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if found is None:
            db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
        elif found[0] != FORMAT:
            raise sqlite3.DatabaseError(f"journal format {found[0]}, this qxframe writes {FORMAT}")
        db.execute(_SEEN)

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
    def claim(self, identity: Identity, stamp: list[int] | None) -> bool:
        """Refuse another push's journal; record ``identity``; whether the input changed.

        ``stamp``: the input file's ``[size, mtime_ns]`` now (``None`` for a frame).
        Returns whether it differs from the one recorded by the last push.
        """
        recorded = self._meta("identity")
        if recorded is None:
            self._adopt(identity)
        else:
            Identity.from_json(recorded).check_same(identity, self.path)
        before = self._meta("input_stamp")
        if self.writable and stamp is not None:
            self._set_meta("input_stamp", json.dumps(stamp))
        return before is not None and stamp is not None and json.loads(before) != stamp

    def _adopt(self, identity: Identity) -> None:
        """A journal with no identity yet (new, or made by an older qxframe) takes this one."""
        found = "SELECT action FROM outcomes WHERE action != ? LIMIT 1"
        other = self._db.execute(found, (identity.action,)).fetchone()
        if other is not None:
            raise ConfigError(
                f"the journal {self.path} holds rows of a {other[0]} push; this push is "
                f"{identity.action}: use a new journal file for it"
            )
        if self.writable:
            self._set_meta("identity", identity.to_json())

    def _meta(self, key: str) -> str | None:
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else str(found[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- keys ------------------------------------------------------------------------

    @_stored
    def keys(self, digests: Sequence[tuple[bytes, bytes]]) -> list[Key]:
        """Number identical rows: the n-th row of this push with a digest gets occurrence n-1."""
        counts: dict[tuple[bytes, bytes], int] = {}
        local = []
        for digest in digests:
            local.append(counts.get(digest, 0))
            counts[digest] = local[-1] + 1
        find = "SELECT n FROM seen WHERE destination = ? AND fingerprint = ?"
        prior = {d: (self._db.execute(find, d).fetchone() or (0,))[0] for d in counts}
        self._db.executemany(
            "INSERT OR REPLACE INTO seen VALUES (?, ?, ?)",
            [(*d, prior[d] + n) for d, n in counts.items()],
        )
        return [(*d, prior[d] + i) for d, i in zip(digests, local, strict=True)]

    @_stored
    def lookup(self, action: str, keys: Iterable[Key]) -> dict[Key, Entry]:
        """The entries the journal holds for ``keys``."""
        columns = (
            "status, http_status, qualtrics_id, contact_id, error_code, error_message, request_id"
        )
        return {key: Entry(*row) for key, row in self._by_key("outcomes", columns, action, keys)}

    @_stored
    def import_rows(self, action: str, keys: Iterable[Key]) -> dict[Key, ImportRow]:
        """The import job each of ``keys`` went out in (those :meth:`record_jobs` recorded)."""
        columns = "import_id, directory_id, mailing_list_id, source_index, unprocessed"
        rows = self._by_key("import_rows", columns, action, keys)
        return {key: ImportRow(row[0], row[1], row[2], row[3], bool(row[4])) for key, row in rows}

    def _by_key(
        self, table: str, columns: str, action: str, keys: Iterable[Key]
    ) -> Iterator[tuple[Key, tuple[Any, ...]]]:
        """``(key, row)`` for each of ``keys`` that ``table`` holds a row for."""
        query = (
            f"SELECT {columns} FROM {table} WHERE action = ? AND destination = ? "
            "AND fingerprint = ? AND occurrence = ?"
        )
        for key in keys:
            row = self._db.execute(query, (action, *key)).fetchone()
            if row is not None:
                yield key, row

    # -- writes ----------------------------------------------------------------------

    @_stored
    def record_jobs(self, action: str, items: Iterable[tuple[Key, ImportRow]]) -> None:
        """Record the import job of pending rows, and commit (the job exists now)."""
        sql = "INSERT OR REPLACE INTO import_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        self._write(sql, [(action, *key, *astuple(job)) for key, job in items])
        self.commit()

    @_stored
    def mark_pending(self, action: str, items: Iterable[tuple[Key, int]]) -> None:
        """Record ``(key, row)`` as being sent now, and commit before the request goes out."""
        now = _now()
        rows = [(action, *key, PENDING, *([None] * 6), row, now) for key, row in items]
        self._write(_UPSERT, rows)
        self.commit()

    @_stored
    def record(self, action: str, items: Iterable[tuple[Key, Sequence[Any]]]) -> None:
        """Record ``(key, values)`` pairs, the values those of :data:`OUTCOME_COLUMNS`;
        committed in batches (see :data:`COMMIT_EVERY_ROWS`)."""
        now = _now()
        rows = [(action, *key, *values, now) for key, values in items]
        self._write(_UPSERT, rows)
        self._maybe_commit()

    @_stored
    def forget(self, action: str, keys: Iterable[Key]) -> None:
        """Drop the entries of ``keys`` (rows that may be sent again as if never tried)."""
        where = "action = ? AND destination = ? AND fingerprint = ? AND occurrence = ?"
        self._write(f"DELETE FROM outcomes WHERE {where}", [(action, *key) for key in keys])
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


@dataclass(frozen=True)
class Recorded:
    """What a journal file says of itself, read without locking or writing it."""

    identity: Identity | None
    stamp: list[int] | None
    rows: int


def peek(path: str | Path) -> Recorded | None:
    """The journal at ``path`` as it is now; ``None`` if there is none (or it is not one)."""
    if not Path(path).is_file():
        return None
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            (rows,) = db.execute("SELECT count(*) FROM outcomes").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    identity = Identity.from_json(meta["identity"]) if "identity" in meta else None
    stamp = json.loads(meta["input_stamp"]) if "input_stamp" in meta else None
    return Recorded(identity, stamp, int(rows))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
