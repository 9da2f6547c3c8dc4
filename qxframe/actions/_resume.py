"""Syncs and resumable pushes: send only what Qualtrics does not hold, keep the journal current.

The runner uses a :class:`Resume` when a push has a journal (:mod:`qxframe._journal`;
docs/architecture.md, "Journal and resume"):

- :meth:`Resume.claim` first: a journal belongs to one destination (the action and its
  destination constants); another is refused with a ``ConfigError`` naming both.
- :meth:`Resume.start` (async, before any write): the identity fields contacts are keyed
  by (the directory's deduplication fields, fixed in the journal at its first push), and,
  the first time a journal writes into a mailing list, who is already a member (those are
  never this sync's to remove).
- :meth:`Resume.split` decides each valid row (DESIGN §7): a body equal to the one
  Qualtrics last accepted for the row's key is not sent (``skipped``, ``unchanged``); a
  new key is a ``create``, a changed body an ``update`` (``changes`` names the fields); a
  key whose last write failed is sent again; one whose outcome is unknown (a pending mark
  a kill left, or ``outcome_unknown``) is sent again only where a second copy would merge
  (a contact carrying every deduplication field of a deduplicating directory), else it
  comes back ``failed``/``outcome_unknown`` unsent. ``full_resync`` sends every row.
- :meth:`Resume.new_rows` (read only) leaves out of the rows an action reads ahead
  (``Context.ahead``) those whose key the journal holds: work prepared early for the
  next chunks (transactions' import lookups) is not done for rows a push will skip.
- The runner tells it of each write that must not be sent twice just before it goes out
  (:meth:`Resume.sending`: ``pending`` committed), of a remote job created
  (:meth:`Resume.remember`), of a write of which nothing landed (:meth:`Resume.forget`)
  and of every outcome as it is reported (:meth:`Resume.record`: what Qualtrics accepted,
  committed in batches). Outcomes an action names not to keep (``Action.not_journaled``:
  a row whose own write never left) are forgotten, as if never tried.

A row left ``pending`` inside a remote job whose creation the journal recorded is not
reported ``outcome_unknown``: :meth:`Resume.split` hands it to be sent with that job in
:data:`~qxframe.actions._action.JOB_COLUMN`, and the action follows the job instead of
sending the row again (import jobs: :mod:`qxframe.actions._import_job`), so a push killed
while jobs run neither creates a job twice for the same rows nor loses their outcomes. Such
a row that ends ``outcome_unknown`` (its job stalled, or answered a status qxframe does not
know) keeps its ``pending`` mark and its job: the next push with the journal follows the
job again.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

import polars as pl

from qxframe import _digests, _results
from qxframe._journal import (
    PENDING,
    Entry,
    Identity,
    ImportRow,
    Journal,
    Key,
    Member,
    Refused,
)
from qxframe._payloads import contact_bodies
from qxframe._results import OUTCOME_UNKNOWN, Operation, Status
from qxframe.actions._action import JOB_COLUMN, Action, Context
from qxframe.actions._carried import Carried

PEOPLE = ("contacts",)  # actions keyed by the person (the rest: by the event's content)
#: Rows :meth:`Resume.split` decides at once (docs/architecture.md, "Memory").
SPLIT_AT_ONCE = 10_000


class Sending:
    """What the journal needs of one chunk's rows being sent, to record their outcomes:
    one list a column, a row found by its position (:meth:`at`), so a chunk of new people
    makes no Python object a row but its key, digests and identity text.

    :meth:`Resume.split` makes one a chunk; the chunk's context hands it back with every
    mark and outcome of its rows (:meth:`Resume.sending`, :meth:`Resume.record`, …), so
    that chunks sent side by side each record into their own (docs/architecture.md,
    "Chunks in flight")."""

    __slots__ = (
        "_at", "bodies", "changes", "fields", "in_jobs", "in_list", "keys", "operations", "whos"
    )  # fmt: skip

    def __init__(self) -> None:
        self._at: dict[int, int] = {}
        self.in_jobs: set[int] = set()  # rows pending in a recorded job (followed in it)
        self.keys: list[Key] = []
        self.bodies: list[bytes] = []
        self.fields: list[bytes | None] = []  # people: per-field digests (kept once accepted)
        self.whos: list[str | None] = []
        self.in_list: list[bool] = []
        self.operations: list[str] = []
        self.changes: list[str | None] = []

    def add(
        self,
        rows: Sequence[int],
        keys: Sequence[Key],
        bodies: Sequence[bytes],
        whos: Sequence[str | None],
        in_list: Sequence[bool],
        operations: Sequence[str],
        changes: Sequence[str | None],
    ) -> None:
        """Rows being sent, one value of each column a row."""
        start = len(self.keys)
        self._at.update(zip(rows, range(start, start + len(rows)), strict=True))
        self.keys.extend(keys)
        self.bodies.extend(bodies)
        self.fields.extend([None] * len(rows))
        self.whos.extend(whos)
        self.in_list.extend(in_list)
        self.operations.extend(operations)
        self.changes.extend(changes)

    def at(self, row: int) -> int:
        return self._at[row]

    def key(self, row: int) -> Key:
        return self.keys[self._at[row]]

    def rows(self) -> list[int]:
        return list(self._at)

    def __len__(self) -> int:
        return len(self.keys)


class Resume:
    """One push's use of a journal (see the module docstring)."""

    def __init__(self, journal: Journal, action: Action, *, full_resync: bool = False) -> None:
        self.journal = journal
        self.action = action.name
        self.people = action.name in PEOPLE
        self.destination_fields = action.constants
        self.not_journaled = action.not_journaled
        self.full_resync = full_resync
        self.key_fields: tuple[str, ...] = ()
        self.lists = False  # the journal read a list's members: successes may be members
        self.carried = Carried()  # the keys this push's rows carried so far
        self.new_journal: bool | None = None  # whether the journal held nothing at the start
        self.old_members: bool | None = None  # whether anyone was a member before this sync

    def claim(self, constants: Mapping[str, Any]) -> None:
        """Refuse the journal of another destination (``ConfigError``); else claim it."""
        self.journal.claim(Identity.of(self.action, dict(constants)))

    def reads_members(self, constants: Mapping[str, Any]) -> bool:
        """Whether :meth:`start` reads the list's members: this sync's first write into it."""
        mailing_list = constants.get("mailing_list_id")
        return (
            self.people
            and mailing_list is not None
            and self.journal.writable
            and self.journal.meta("members_read") != mailing_list
        )

    async def start(self, push: Context, constants: Mapping[str, Any]) -> None:
        """Before any write: the key fields, and the list's members before this sync's first
        write into it."""
        if not self.people:
            return
        recorded = self.journal.meta("key_fields")
        if recorded is None:
            directory = constants.get("directory_id")
            fields: tuple[str, ...] = ()
            if directory is not None and push.client is not None:
                from qxframe.actions._dedup import Directories, dedup_fields

                known = getattr(push.state, "directories", None) or Directories()
                fields = await dedup_fields(push, known, directory)
            self.journal.set_meta("key_fields", json.dumps(list(fields)))
            self.key_fields = fields
        else:
            self.key_fields = tuple(json.loads(recorded))
        mailing_list = constants.get("mailing_list_id")
        if mailing_list is None:
            self.lists = self.journal.meta("members_read") is not None
            return
        if self.reads_members(constants):
            members = await push.api.alist_member_ids(constants["directory_id"], mailing_list)
            self.journal.preexisting(members)
            self.journal.set_meta("members_read", mailing_list)
            self.journal.commit()
        self.lists = True

    def keys_of(self, valid: pl.DataFrame) -> list[Key]:
        """The journal key of each person of ``valid`` (people only)."""
        return _digests.person_keys(valid, self.key_fields, self.destination_fields)

    def carry_invalid(self, invalid_frame: pl.DataFrame) -> None:
        """The people of invalid rows (their identity values): they stay in the list."""
        names = [c for c in invalid_frame.columns if c.startswith("carried_")]
        if not (self.people and invalid_frame.height and names):
            return
        plain = invalid_frame.select(pl.col(n).alias(n.removeprefix("carried_")) for n in names)
        values = [v for w in _digests.who(plain) for v in (w or "").split("\x1f")]
        self.journal.carry(v for v in values if v)

    def split(
        self, valid: pl.DataFrame, people: pl.Series | None = None
    ) -> tuple[pl.DataFrame, pl.DataFrame, Sending]:
        """``(results of rows not sent, rows to send, what recording them needs)`` for one
        chunk's valid rows; ``people``: their :meth:`key_column`, when already made (people).

        Most rows of a sync carry the body Qualtrics last accepted for their key: those are
        decided from four columns of the journal and built into results column-wise. Every
        row of a key that is not so simple (new, changed, failed, pending, or sent earlier
        in this push) is decided in input order by :meth:`_decide`.

        The rows are decided :data:`SPLIT_AT_ONCE` at a time, in order: a slice's keys, body
        texts and digests and the journal's entries for them are Python objects, a few
        hundred bytes a row, and a whole 50,000-row chunk of them at once raised a sync's
        peak (docs/architecture.md, "Memory"). A person's rows in an earlier slice count as
        an earlier row of this push, as those of an earlier chunk do: the same verdicts.
        """
        chunk = Sending()
        if self.new_journal is None:  # a first push: only keys it recorded itself are held
            self.new_journal = self.journal.is_empty()
        if self.people:
            every = self.key_column(valid) if people is None else people
            earlier = self.carried.earlier(every)
            # keys of more than one row of this chunk: whether an earlier slice sent one
            repeated = set(every.filter(every.is_duplicated()).to_list())
        else:
            keys, contents = self._event_keys(valid)
            self.carried.add(contents)
        within: dict[Key, tuple[int, bool]] = {}
        done: list[_results.Outcome] = []
        same: list[pl.DataFrame] = []
        sending: list[bool] = []
        recorded: dict[int, dict[str, Any]] = {}
        for start in range(0, valid.height, SPLIT_AT_ONCE):
            part = valid.slice(start, SPLIT_AT_ONCE)
            if self.people:
                cut = every.slice(start, SPLIT_AT_ONCE).to_list()
                texts: list[str | None] = list(contact_bodies(part).to_list())
                bodies = _digests.body_digests(texts)
                ahead = _with_within(earlier, within)
            else:
                cut = keys[start : start + SPLIT_AT_ONCE]
                bodies, texts, ahead = cut, [None] * len(cut), {}
            goes = self._split_part(part, cut, bodies, texts, ahead, done, same, recorded, chunk)
            sending.extend(goes)
            if self.people and repeated:
                for key, sent in zip(cut, goes, strict=True):
                    if key in repeated:
                        n, before = within.get(key, (0, False))
                        within[key] = (n + 1, before or sent)
            del cut, texts, bodies, ahead
        if self.people:
            self.carried.add(every, sending)
        # every row sent (a first push): the chunk itself, not a copy of it
        to_send = valid if all(sending) else valid.filter(pl.Series(sending, dtype=pl.Boolean))
        sent_rows = to_send["row"].to_list()
        if self.people:
            digested = _digests.fields_of_frame(to_send)
            for row, fields in zip(sent_rows, digested, strict=True):
                chunk.fields[chunk.at(row)] = fields
        if recorded:
            column = [recorded.get(row) for row in sent_rows]
            to_send = to_send.with_columns(pl.Series(JOB_COLUMN, column))
        return _results.assemble([_results.from_outcomes(done), *same]), to_send, chunk

    def key_column(self, valid: pl.DataFrame) -> pl.Series:
        """:meth:`keys_of` as one column (16 bytes a row, not a Python object each), made
        :data:`SPLIT_AT_ONCE` rows at a time."""
        parts = [
            pl.Series("key", self.keys_of(part), pl.Binary)
            for part in valid.iter_slices(SPLIT_AT_ONCE)
        ]
        return pl.concat(parts) if parts else pl.Series("key", [], pl.Binary)

    def _split_part(
        self,
        valid: pl.DataFrame,
        keys: list[Key],
        bodies: list[bytes],
        texts: list[str | None],
        earlier: Mapping[Key, tuple[int, bool]],
        done: list[_results.Outcome],
        same: list[pl.DataFrame],
        recorded: dict[int, dict[str, Any]],
        chunk: Sending,
    ) -> list[bool]:
        """One slice of :meth:`split`: whether each of its rows is sent; the outcomes of
        rows not sent go to ``done`` (decided one by one) and ``same`` (unchanged rows, as
        a results frame), the recorded import job of a row followed in one to
        ``recorded``."""
        rows = valid["row"].to_list()
        held = self.journal.held([k for k in keys if k in earlier] if self.new_journal else keys)
        sent_before = {k for k, (_, sent) in earlier.items() if sent}
        hits = [held.get(k) for k in keys]
        fast = not self.full_resync
        slow_keys = {
            k for k, hit, body in zip(keys, hits, bodies, strict=True)
            if not (fast and hit is not None and hit[0] == Status.SUCCESS and hit[1] == body)
        } | sent_before  # fmt: skip
        slow = [i for i, k in enumerate(keys) if k in slow_keys]
        known = [k for k in slow_keys if k in held]  # the others are new: no entry to read
        found = self.journal.lookup(known) if known else {}
        outcomes, send, jobs = self._decide_rows(
            valid, slow, rows, keys, bodies, texts, earlier, found, chunk
        )
        done.extend(outcomes)
        recorded.update(jobs)
        sending = [False] * len(rows)
        for i, goes in zip(slow, send, strict=True):
            sending[i] = goes
        chosen = set(slow)
        unchanged = [(rows[i], hits[i]) for i in range(len(rows)) if i not in chosen]
        if unchanged:
            same.append(self._same(unchanged))
        return sending

    def _decide_rows(
        self,
        valid: pl.DataFrame,
        slow: list[int],
        rows: list[int],
        keys: list[Key],
        bodies: list[bytes],
        texts: list[str | None],
        earlier: Mapping[Key, tuple[int, bool]],
        found: Mapping[Key, Entry],
        chunk: Sending,
    ) -> tuple[list[_results.Outcome], list[bool], dict[int, dict[str, Any]]]:
        """The rows at positions ``slow``, decided in input order: the outcomes of those not
        sent, whether each is sent, and the recorded import job of each row followed in one.

        A row whose key the journal holds nothing for is a ``create`` whatever came before
        it (an earlier row of its key is a ``create`` too): such rows, all of a first push,
        are decided together."""
        done: list[_results.Outcome] = []
        send = [True] * len(slow)
        recorded: dict[int, dict[str, Any]] = {}
        if not slow:
            return done, send, recorded
        part = valid[slow]
        pending = [k for k, entry in found.items() if entry.status == PENDING]
        jobs = self.journal.import_rows(pending) if pending and self.journal.writable else {}
        if self.people:
            whos = _digests.who(part)
            merges = _merges(part, self.key_fields)
            in_list = _in_list(part)
        else:
            whos = [None] * len(slow)
            merges = in_list = [False] * len(slow)
        new = [j for j, i in enumerate(slow) if keys[i] not in found]
        if new:
            chunk.add(
                [rows[slow[j]] for j in new], [keys[slow[j]] for j in new],
                [bodies[slow[j]] for j in new], [whos[j] for j in new],
                [in_list[j] for j in new], [Operation.CREATE] * len(new), [None] * len(new),
            )  # fmt: skip
        if len(new) == len(slow):
            return done, send, recorded
        # a person one of whose rows in this push was sent: later rows are sent too, in order
        decided = {k: sent for k, (_, sent) in earlier.items()}
        for j, i in enumerate(slow):
            row, key = rows[i], keys[i]
            entry = found.get(key)
            if entry is None:  # decided above
                continue
            job = jobs.get(key) if entry.status == PENDING else None
            if job is not None:  # followed in its job, not sent again
                verdict: Any = _op(entry, texts[i])
                chunk.in_jobs.add(row)
                recorded[row] = asdict(job)
            else:
                verdict = self._decide(entry, decided.get(key, False), bodies[i], texts[i],
                                       merges[j])  # fmt: skip
            if isinstance(verdict, _results.Outcome):
                verdict.row = row
                done.append(verdict)
                decided.setdefault(key, False)
                send[j] = False
                continue
            operation, changes = verdict
            chunk.add([row], [key], [bodies[i]], [whos[j]], [in_list[j]], [operation], [changes])
            decided[key] = True
        return done, send, recorded

    def _same(self, same: list[tuple[int, Any]]) -> pl.DataFrame:
        """Result rows of unchanged rows, built column-wise (they are most rows of a sync):
        ``same`` holds each row and its journal's :data:`~qxframe._journal.Held`."""
        if not same:
            return _results.empty()
        ids = [held[3] if self.people else held[2] for _, held in same]
        return _results.conform(
            pl.DataFrame(
                {
                    "row": [r for r, _ in same],
                    "qualtrics_id": ids,
                    "contact_id": [None if self.people else held[3] for _, held in same],
                },
                schema={"row": pl.Int64, "qualtrics_id": pl.String, "contact_id": pl.String},
            ).with_columns(
                status=pl.lit(Status.SKIPPED),
                attempts=pl.lit(0, pl.Int64),
                operation=pl.lit(Operation.UNCHANGED),
            )
        )

    def _decide(
        self, entry: Entry | None, sent_before: bool, body: bytes, text: str | None, merges: bool
    ) -> _results.Outcome | tuple[str, str | None]:
        """An outcome for a row not sent, or the ``(operation, changes)`` of one to send."""
        if self.full_resync or sent_before:  # an earlier row of its key is sent
            return _op(entry, text)
        if entry is None:
            return Operation.CREATE, None
        if entry.status == PENDING or entry.error_code == OUTCOME_UNKNOWN:
            return _op(entry, text) if merges else _unknown(entry)
        if entry.status != Status.SUCCESS or entry.body is None:
            return _op(entry, text)
        if entry.body == body:
            return self._unchanged(entry)
        operation, changes = _op(entry, text)
        if self.people and changes == "[]":  # every field sent is one Qualtrics holds
            return self._unchanged(entry)
        return operation, changes

    def _unchanged(self, entry: Entry | None) -> _results.Outcome:
        """A row not sent: Qualtrics holds its body (a person's id is its ``qualtrics_id``)."""
        ids = (None, None) if entry is None else (entry.qualtrics_id, entry.contact_id)
        if self.people:
            ids = (ids[1], None)
        return _results.Outcome(
            -1, Status.SKIPPED, qualtrics_id=ids[0], contact_id=ids[1],
            operation=Operation.UNCHANGED,
        )  # fmt: skip

    def _event_keys(self, valid: pl.DataFrame) -> tuple[list[Key], list[bytes]]:
        """Events: content digests, told apart by their occurrence in this push (the keys),
        and the contents themselves (what :meth:`split` notes as carried)."""
        contents = _digests.event_contents(valid, self.destination_fields)
        counts = {k: n for k, (n, _) in self.carried.earlier(contents).items()}
        keys: list[Key] = []
        for content in contents:
            n = counts.get(content, 0)
            keys.append(_digests.with_occurrence(content, n))
            counts[content] = n + 1
        return keys, contents

    def new_rows(self, following: pl.DataFrame) -> pl.DataFrame:
        """The rows of ``following`` — the valid rows of the chunks after those split so
        far, in order — whose key the journal holds nothing for (all of them with
        ``full_resync``): rows a push will send. Nothing is recorded; a row the journal
        knows is left out even where it would be sent again (a failed write): this is what
        an action prepares early (``Context.ahead``), and its own chunk still decides.

        Events of a journal's first push are all new: this push's own entries are keyed by
        their occurrence in it, which a later chunk's rows never share (no digest is made).
        """
        if self.full_resync or following.height == 0:
            return following
        if self.new_journal and not self.people:
            return following
        keys = self.keys_of(following) if self.people else self._event_keys(following)[0]
        found = self.journal.held(keys)
        return following.filter(pl.Series([k not in found for k in keys], dtype=pl.Boolean))

    def leavers(self) -> list[Member]:
        """This sync's members no row of this push carried and no answer of it named."""
        return self.journal.leavers(self.carried.missing, self.carried.unanswered)

    def forget_carried(self) -> None:
        """Start a new pass over the input (the guard's read-ahead came first)."""
        self.carried.clear()
        self.journal.forget_carried()

    def annotate(self, part: pl.DataFrame, sending: Sending) -> pl.DataFrame:
        """``operation`` and ``changes`` of the rows sent (or followed) in one chunk."""
        if not sending or part.height == 0:
            return part
        ops = pl.DataFrame(
            {"row": sending.rows(), "_op": sending.operations, "_ch": sending.changes},
            schema={"row": pl.Int64, "_op": pl.String, "_ch": pl.String},
        )
        joined = part.join(ops, on="row", how="left", maintain_order="left")
        return joined.with_columns(
            operation=pl.coalesce("operation", "_op"), changes=pl.coalesce("changes", "_ch")
        ).drop("_op", "_ch")

    def sending(self, rows: Sequence[int], sent: Sending) -> None:
        """Commit ``pending`` for ``rows`` (of the chunk ``sent`` is of) before a write that
        must not be repeated."""
        self.journal.mark_pending([(sent.key(r), sent.whos[sent.at(r)]) for r in rows])

    def remember(
        self, rows: Sequence[int], job: ImportRow, unprocessed: Collection[int], sent: Sending
    ) -> None:
        """Record (and commit) the remote job ``rows`` went out in, in their order."""
        items = [
            (sent.key(r), replace(job, source_index=i, unprocessed=i in unprocessed))
            for i, r in enumerate(rows)
        ]
        self.journal.record_jobs(items)
        sent.in_jobs.update(rows)

    def forget(self, rows: Sequence[int], sent: Sending) -> None:
        """Nothing of ``rows``' write landed: undo their ``pending`` marks."""
        self.journal.forget([sent.key(r) for r in rows])

    def record(self, reported: Sequence[_results.Outcome] | pl.DataFrame, sent: Sending) -> None:
        """Record what Qualtrics accepted or refused (committed in batches).

        An import job's outcomes come as a frame: read column-wise, an :class:`Outcome`
        made only for a row that failed."""
        if isinstance(reported, pl.DataFrame):
            table = reported.select(_RECORDED)
            rows: list[tuple[Any, ...]] = list(table.iter_rows())

            def outcome_at(i: int) -> _results.Outcome:
                return _results.Outcome(**reported.row(i, named=True))
        else:
            rows = [tuple(getattr(o, name) for name in _RECORDED) for o in reported]

            def outcome_at(i: int) -> _results.Outcome:
                return reported[i]

        jobs = sent.in_jobs  # an unknown outcome in a recorded job stays pending: followed again
        accepted: list[tuple[Any, ...]] = []  # events: what Journal.accepted_rows writes
        members: list[Any] = []  # people accepted, put in the list by this sync
        others: list[Any] = []  # people accepted, not members by this sync's doing
        failed: list[tuple[Key, Refused]] = []
        drop: list[Key] = []
        people = self.people
        answered = [r[2] for r in rows if people and r[2]]
        if self.old_members is None:  # fixed once the list's members are read (start)
            self.old_members = self.journal.has_preexisting()
        asks = self.lists and self.old_members and answered
        old = self.journal.was_preexisting(answered) if asks else set()
        lists = self.lists
        at, keys, bodies, fields, whos, in_list = (
            sent.at, sent.keys, sent.bodies, sent.fields, sent.whos, sent.in_list
        )  # fmt: skip
        for i, (row, status, qualtrics_id, contact_id, _, error_code, _) in enumerate(rows):
            if jobs and row in jobs and error_code == OUTCOME_UNKNOWN:
                continue
            k = at(row)
            if status == Status.SUCCESS:
                if people:  # a person's id is a contact id
                    member = in_list[k] and lists and qualtrics_id not in old
                    person = (keys[k], bodies[k], fields[k], qualtrics_id, whos[k])
                    (members if member else others).append(person)
                else:
                    accepted.append(
                        (keys[k], bodies[k], None, qualtrics_id, contact_id, False, None)
                    )
                continue
            outcome = outcome_at(i)
            if self.not_journaled is not None and self.not_journaled(outcome):
                drop.append(keys[k])  # its own write never left: safe to redo
            else:
                failed.append(
                    (keys[k], Refused(outcome.contact_id, outcome.http_status,
                                      outcome.error_code, outcome.error_message))
                )  # fmt: skip
        self.carried.answer(answered)
        self.journal.accepted_rows(accepted)
        self.journal.accepted_people(members, member=True)
        self.journal.accepted_people(others, member=False)
        self.journal.refused(failed)
        self.journal.forget(drop)

    def flush(self) -> None:
        """Commit what is recorded (end of a chunk, or the push stopping)."""
        self.journal.commit()


#: The operation of a row sent without a journal's verdict: contacts are upserts (qxframe
#: cannot know which Qualtrics did), events creates, a removal action its own.
_DEFAULT_OPERATIONS = {
    "contacts": Operation.UPSERT,
    "remove": Operation.REMOVE,
    "unsubscribe": Operation.UNSUBSCRIBE,
    "delete": Operation.DELETE,
}


def default_operation(action: str) -> str:
    """See :data:`_DEFAULT_OPERATIONS`; any other action's rows are creates."""
    return _DEFAULT_OPERATIONS.get(action, Operation.CREATE)


def _op(entry: Entry | None, text: str | None) -> tuple[str, str | None]:
    """``(operation, changes)`` of a row sent: ``create`` for a key Qualtrics holds no body
    of, else ``update`` naming the fields that differ from that body."""
    if entry is None or entry.body is None:
        return Operation.CREATE, None
    if text is None:  # an event already accepted, sent again (full_resync)
        return Operation.CREATE, None
    return Operation.UPDATE, json.dumps(_digests.changes(entry.fields, text))


def _unknown(entry: Entry) -> _results.Outcome:
    if entry.status == PENDING:
        message = (
            "An earlier push with this journal was stopped while this row was being sent, so "
            "it may have landed; it was not sent again. Check in Qualtrics, and push it "
            "without this journal if it is missing."
        )
    else:
        message = (
            f"{entry.error_message or 'Its outcome is unknown.'} (Recorded by an earlier push "
            "with this journal; not sent again.)"
        )
    return _results.Outcome(
        -1,
        Status.FAILED,
        http_status=entry.http_status,
        contact_id=entry.contact_id,
        error_code=OUTCOME_UNKNOWN,
        error_message=message,
    )


#: What :meth:`Resume.record` reads of an outcome, in this order.
_RECORDED = (
    "row", "status", "qualtrics_id", "contact_id", "http_status", "error_code", "error_message"
)  # fmt: skip


def _with_within(
    earlier: dict[Key, tuple[int, bool]], within: Mapping[Key, tuple[int, bool]]
) -> dict[Key, tuple[int, bool]]:
    """``earlier`` (the rows of earlier chunks that carried a key: how many, whether one
    was sent) with those of this chunk's earlier slices (``within``, the same counts)."""
    if not within:
        return earlier
    merged = dict(earlier)
    for key, (n, sent) in within.items():
        m, before = merged.get(key, (0, False))
        merged[key] = (m + n, before or sent)
    return merged


def _merges(valid: pl.DataFrame, key_fields: Sequence[str]) -> list[bool]:
    """Whether a second copy of each row's contact would merge (docs: "Delivery")."""
    if not key_fields or any(f not in valid.columns for f in key_fields):
        return [False] * valid.height
    carries = pl.all_horizontal([pl.col(f).is_not_null() for f in key_fields])
    return valid.select(carries.alias("m")).to_series().to_list()


def _in_list(valid: pl.DataFrame) -> list[bool]:
    if "mailing_list_id" not in valid.columns:
        return [False] * valid.height
    return valid["mailing_list_id"].is_not_null().to_list()
