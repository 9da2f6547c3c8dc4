"""The sandbox's mailing-list members and transaction-contacts import jobs (no HTTP).

This module owns who is a member of which mailing list, and the life of an import job
(docs/qualtrics-api.md §7, §9): a job is checked when it is created (at most 10,000
contacts; the 5 MB body limit is the app's), queued behind the 25 jobs that may run at
once (a 126th unfinished job — 25 running, 100 queued — is refused with a 429), and
processed at ``import_rate`` contacts a second (``None``: at once); the knobs
``import_stall_at`` (a job stops moving at that share and never ends) and ``import_fail_at``
(a job ends there with status ``failed``, the contacts before it landed and reported)
exercise a client's patience. When a job finishes
its contacts land in the directory (deduplicated as any create) and in the list, and its
report is written: one entry per processed contact, keyed by ``sourceIndexId`` (the
contact's index in the request, as a string). Contacts with an invalid e-mail, or with
``transactionData`` keys the job's ``transactionMeta.fields`` do not name, are listed in
``contacts.unprocessed`` at creation and never reach the report; a contact with a key
the import does not document (``phone`` among them) or a value of the wrong type gets a
report entry without a ``contactId`` and ``importStatusCode`` ``invalid_contact``.
A contact carrying a ``null`` value (Qualtrics: "Do Not Use Null") is unprocessed too.

A job into a directory or mailing list that does not exist is accepted all the same and
completes with every count at 0 and an empty report, as Qualtrics' FAQ describes ("usually
indicates a directoryId, mailingListId or transactionBatchId that does not exist"). With a
``transactionMeta.batchId`` of an existing batch, each landed contact's
``transactionData`` becomes a transaction (dated when the job was created, in the job's
list) added to that batch; with an unknown batch no transaction is created.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qxframe._sandbox._rules import StoreError, check_contact_body
from qxframe._sandbox._store import Store
from qxframe._sandbox._txstore import Transactions

MAX_IMPORT_CONTACTS = 10_000
MAX_IMPORT_BYTES = 5_000_000
MAX_RUNNING = 25
MAX_QUEUED = 100
IMPORT_CONTACT_KEYS = frozenset(
    {"firstName", "lastName", "email", "extRef", "language", "unsubscribed", "embeddedData"}
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass
class Job:
    import_id: str
    directory_id: str
    mailing_list_id: str
    contacts: list[Any]
    unprocessed: list[int]
    created: float  # the sandbox clock
    created_at: dt.datetime
    body_bytes: int
    exists: bool = True  # False: its directory or list does not exist (it lands nothing)
    batch_id: str | None = None  # transactionMeta.batchId
    started: float | None = None
    finished: float | None = None
    report: list[dict[str, Any]] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    failed: int = 0
    transactions_created: int = 0
    ends_at: float = 1.0  # the share of its contacts processed when it ends (< 1: it fails)
    stalls: bool = False  # it stops moving at ``ends_at`` and never ends

    @property
    def to_process(self) -> int:
        return len(self.contacts) - len(self.unprocessed)


class Imports:
    """Mailing-list membership and import jobs of one sandbox, under the store's lock."""

    def __init__(
        self,
        store: Store,
        *,
        import_rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        stall_at: float | None = None,
        fail_at: float | None = None,
    ) -> None:
        if import_rate is not None and import_rate <= 0:
            raise ValueError(
                f"import_rate must be positive (contacts a second), not {import_rate!r}."
            )
        for name, share in (("import_stall_at", stall_at), ("import_fail_at", fail_at)):
            if share is not None and not 0 <= share < 1:
                raise ValueError(f"{name} must be a share of a job in [0, 1), not {share!r}.")
        self.store = store
        self.import_rate = import_rate
        self.clock = clock
        self.stall_at, self.fail_at = stall_at, fail_at
        self.reset()

    def reset(self) -> None:
        with self.store.lock:
            self.jobs: dict[str, Job] = {}

    def mailing_list(self, directory_id: str, mailing_list_id: str) -> None:
        """Raise 404 unless the list belongs to the directory."""
        self.store.mailing_list(directory_id, mailing_list_id)

    # -- mailing-list contacts -----------------------------------------------------

    def create_member(self, directory_id: str, mailing_list_id: str, body: Any) -> dict[str, str]:
        """Create (or merge, per the directory's deduplication) a contact, in the list too."""
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "privateEmbeddedData"}
        with self.store.lock:
            contact_id = self.store.upsert_contact(directory_id, body, mailing_list_id)
            return {
                "id": contact_id,
                "contactLookupId": self._lookup_id(contact_id, mailing_list_id),
            }

    def _lookup_id(self, contact_id: str, mailing_list_id: str) -> str:
        return self.store.state.contacts.by_id[contact_id].lists[mailing_list_id].lookup_id

    # -- import jobs -----------------------------------------------------------------

    def create_job(
        self, directory_id: str, mailing_list_id: str, body: Any, body_bytes: int
    ) -> Job:
        try:
            self.mailing_list(directory_id, mailing_list_id)
            exists = True
        except StoreError:
            exists = False  # accepted, and completes with nothing done
        contacts, unprocessed = _check_import(body)
        meta = body.get("transactionMeta")
        batch_id = meta.get("batchId") if isinstance(meta, dict) else None
        with self.store.lock:
            now = self.clock()
            self._advance(now)
            if sum(1 for j in self.jobs.values() if j.finished is None) >= MAX_RUNNING + MAX_QUEUED:
                raise StoreError(
                    429,
                    "IMPORT_QUEUE_FULL",
                    f"The import queue is full ({MAX_RUNNING} running, {MAX_QUEUED} queued); "
                    "try again when a job has finished.",
                )
            job = Job(
                self.store.new_id("PGR_"),
                directory_id,
                mailing_list_id,
                contacts,
                unprocessed,
                now,
                dt.datetime.now(dt.UTC),
                body_bytes,
                exists=exists,
                batch_id=batch_id if isinstance(batch_id, str) else None,
            )
            if self.stall_at is not None:
                job.ends_at, job.stalls = self.stall_at, True
            elif self.fail_at is not None:
                job.ends_at = self.fail_at
            self.jobs[job.import_id] = job
            self._advance(now)
            return job

    def job(self, directory_id: str, import_id: str, mailing_list_id: str | None = None) -> Job:
        with self.store.lock:
            self._advance(self.clock())
            job = self.jobs.get(import_id)
        if (
            job is None
            or job.directory_id != directory_id
            or (mailing_list_id is not None and job.mailing_list_id != mailing_list_id)
        ):
            raise StoreError(404, "RCE_1", f"Import job not found: {import_id}.")
        return job

    def progress(self, job: Job) -> tuple[int, str]:
        """(percentComplete, status) of ``job`` now."""
        if job.finished is not None and job.ends_at < 1:
            return int(100 * job.ends_at), "failed"
        if job.finished is not None:
            return 100, "complete"
        if job.started is None:
            return 0, "queued"
        duration = self._duration(job)
        done = (self.clock() - job.started) / duration if duration else 1.0
        return min(99, int(100 * min(done, job.ends_at))), "in progress"

    def _duration(self, job: Job) -> float:
        return job.to_process / self.import_rate if self.import_rate else 0.0

    def _advance(self, now: float) -> None:
        """Finish the jobs whose time has come and start queued ones in their slots."""
        while True:
            self._start_queued()
            running = [
                j for j in self.jobs.values() if j.started is not None and j.finished is None
            ]
            due = [
                (j.started + self._duration(j) * j.ends_at, j)
                for j in running
                if j.started is not None and not j.stalls
            ]
            due = [(at, j) for at, j in due if at <= now]
            if not due:
                return
            at, job = min(due, key=lambda pair: pair[0])
            self._finish(job, at)

    def _start_queued(self) -> None:
        running = sum(1 for j in self.jobs.values() if j.started is not None and j.finished is None)
        last_finish = max((j.finished for j in self.jobs.values() if j.finished), default=None)
        for job in self.jobs.values():  # creation order
            if running >= MAX_RUNNING:
                return
            if job.started is None:
                job.started = max(job.created, last_finish or job.created)
                running += 1

    def _finish(self, job: Job, at: float) -> None:
        skip = set(job.unprocessed)
        todo = [(i, c) for i, c in enumerate(job.contacts) if i not in skip and job.exists]
        for index, contact in todo[: int(len(todo) * job.ends_at)] if job.ends_at < 1 else todo:
            job.report.append(self._land(job, index, contact))
        job.finished = at

    def _batch_of(self, job: Job) -> dict[str, Any] | None:
        batch = self.store.state.batches.get(job.batch_id or "")
        return batch if batch is not None and batch["directory_id"] == job.directory_id else None

    def _transaction(self, job: Job, index: int, contact_id: str, data: Any) -> dict[str, Any]:
        """The transaction an imported contact's ``transactionData`` makes (report fields)."""
        batch = self._batch_of(job)
        if batch is None or not isinstance(data, dict):
            return {}
        tx = {
            "contactId": contact_id,
            "mailingListId": job.mailing_list_id,
            "transactionDate": job.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "data": data,
        }
        key = f"{job.import_id}:{index}"
        tx_id = Transactions(self.store).store_one(job.directory_id, key, tx)
        batch["transaction_ids"].append(tx_id)
        job.transactions_created += 1
        return {
            "transactionId": tx_id,
            "transactionStatus": "Transaction created",
            "transactionStatusCode": "created",
        }

    def _land(self, job: Job, index: int, contact: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "sourceIndexId": str(index),
            "email": contact.get("email"),
            "phone": None,
            "contactId": None,
            "transactionId": None,
            "transactionStatus": None,
            "transactionStatusCode": None,
        }
        problem = _contact_problem(contact)
        if problem is not None:
            job.failed += 1
            return entry | {
                "importStatus": problem,
                "importStatusCode": "invalid_contact",
                "contactListContactId": None,
                "contactListContactStatus": None,
                "contactListContactStatusCode": None,
            }
        body = {k: v for k, v in contact.items() if k != "transactionData"}
        before = self.store.state.serials
        contact_id = self.store.upsert_contact(job.directory_id, body, job.mailing_list_id)
        added = self.store.state.serials > before
        job.added, job.updated = job.added + added, job.updated + (not added)
        word = "added" if added else "updated"
        entry |= self._transaction(job, index, contact_id, contact.get("transactionData"))
        return entry | {
            "contactId": contact_id,
            "importStatus": f"Contact {word}",
            "importStatusCode": word,
            "contactListContactId": self._lookup_id(contact_id, job.mailing_list_id),
            "contactListContactStatus": "Added to the mailing list",
            "contactListContactStatusCode": "added",
        }

    def job_rows(self) -> list[dict[str, Any]]:
        with self.store.lock:
            self._advance(self.clock())
            return [
                {
                    "import_id": j.import_id,
                    "directory_id": j.directory_id,
                    "mailing_list_id": j.mailing_list_id,
                    "contacts": len(j.contacts),
                    "unprocessed": len(j.unprocessed),
                    "added": j.added,
                    "updated": j.updated,
                    "failed": j.failed,
                    "percent_complete": self.progress(j)[0],
                    "status": self.progress(j)[1],
                    "body_bytes": j.body_bytes,
                    "created_at": j.created_at,
                }
                for j in self.jobs.values()
            ]


def _check_import(body: Any) -> tuple[list[Any], list[int]]:
    """The job's contacts and the indexes it will not process; 400 for a body it refuses."""
    if not isinstance(body, dict) or not isinstance(body.get("contacts"), list):
        raise StoreError(400, "QVAL_1", 'The body must be {"contacts": [...]}.')
    unknown = set(body) - {"contacts", "transactionMeta"}
    if unknown:
        raise StoreError(400, "QVAL_1", f"Unexpected json key provided: {sorted(unknown)[0]}")
    contacts = body["contacts"]
    if not contacts or len(contacts) > MAX_IMPORT_CONTACTS:
        raise StoreError(
            400,
            "QVAL_1",
            f"An import takes between 1 and {MAX_IMPORT_CONTACTS:,} contacts; this one has "
            f"{len(contacts):,}.",
        )
    fields = _transaction_fields(body.get("transactionMeta"), contacts)
    unprocessed = [i for i, c in enumerate(contacts) if _unprocessed(c, fields)]
    return contacts, unprocessed


def _transaction_fields(meta: Any, contacts: list[Any]) -> set[str]:
    if meta is None:
        if any(isinstance(c, dict) and "transactionData" in c for c in contacts):
            raise StoreError(
                400, "QVAL_1", "transactionMeta is required when a contact has transactionData."
            )
        return set()
    fields = meta.get("fields") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or "batchId" not in meta or not isinstance(fields, list):
        raise StoreError(400, "QVAL_1", "transactionMeta needs batchId and a list of fields.")
    if not fields or not all(isinstance(f, str) for f in fields):
        raise StoreError(
            400, "QVAL_1", "transactionMeta.fields must be a non-empty list of strings."
        )
    return set(fields)


def bad_email(contact: Any) -> bool:
    """True when ``contact`` carries an e-mail that is not a well-formed address."""
    email = contact.get("email") if isinstance(contact, dict) else None
    return email is not None and not (isinstance(email, str) and _EMAIL.fullmatch(email.strip()))


def _has_null(contact: dict[str, Any]) -> bool:
    """A ``null`` anywhere in the contact or its objects ("Do Not Use Null")."""
    objects = [v for v in contact.values() if isinstance(v, dict)]
    return any(v is None for v in contact.values()) or any(
        v is None for inner in objects for v in inner.values()
    )


def _unprocessed(contact: Any, fields: set[str]) -> bool:
    if not isinstance(contact, dict) or bad_email(contact) or _has_null(contact):
        return True
    data = contact.get("transactionData")
    embedded = contact.get("embeddedData")
    if isinstance(data, dict) and not set(data) <= fields:
        return True
    return isinstance(embedded, dict) and bool(set(embedded) & fields)


def _contact_problem(contact: dict[str, Any]) -> str | None:
    extra = set(contact) - IMPORT_CONTACT_KEYS - {"transactionData"}
    if extra:
        return f"Unexpected key in an import contact: {sorted(extra)[0]}"
    try:
        check_contact_body({k: v for k, v in contact.items() if k != "transactionData"})
    except StoreError as exc:
        return exc.message
    return None
