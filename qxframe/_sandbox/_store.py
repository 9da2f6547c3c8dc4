"""The sandbox's in-memory state and the Qualtrics rules that act on it.

This module owns what the sandbox *holds* (directories, mailing lists, contacts,
transactions, workflow events, the request log) and the rules that need that state:
deduplication per directory, search matching and paging depth, which transactions
land. Body checks that need no state live in :mod:`._rules`. It knows nothing about
HTTP: every operation takes plain Python values and either returns a result or raises
:class:`StoreError`, which the app turns into an error envelope. One lock guards
everything, because the server thread and the test thread both reach in.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import random
import string
import threading
import uuid
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from qxframe._sandbox._rules import (
    CONTACT_FIELDS,
    SEARCH_MAX_DEPTH,
    StoreError,
    check_contact_body,
    norm,
    parse_search,
    transaction_problem,
)

__all__ = ["Store", "StoreError"]

_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class MailingList:
    mailing_list_id: str
    name: str
    created: str


@dataclass(frozen=True)
class Directory:
    directory_id: str
    name: str
    is_default: bool
    dedup: tuple[str, ...]  # write field names that must all match to merge
    lists: tuple[MailingList, ...]


@dataclass
class Contact:
    serial: int  # creation order
    contact_id: str
    directory_id: str
    fields: dict[str, str]  # write field name -> value
    unsubscribed: bool | None
    embedded: dict[str, Any]
    created_at: dt.datetime
    modified_at: dt.datetime


class ContactIndex:
    """Contacts in creation order, by id, and by (directory, field, normalised value).

    Keeps dedup and ``eq`` search lookups O(1) however many contacts a benchmark pushes.
    """

    def __init__(self) -> None:
        self.all: list[Contact] = []
        self.by_id: dict[str, Contact] = {}
        self._by_value: dict[tuple[str, str, str], dict[str, Contact]] = {}

    def add(self, contact: Contact) -> None:
        self.all.append(contact)
        self.by_id[contact.contact_id] = contact

    def set_field(self, contact: Contact, name: str, value: str) -> None:
        old = contact.fields.get(name)
        if old is not None:
            self._by_value.get((contact.directory_id, name, norm(old)), {}).pop(
                contact.contact_id, None
            )
        contact.fields[name] = value
        key = (contact.directory_id, name, norm(value))
        self._by_value.setdefault(key, {})[contact.contact_id] = contact

    def matching(self, directory_id: str, name: str, value: str) -> list[Contact]:
        found = self._by_value.get((directory_id, name, norm(value)), {})
        return sorted(found.values(), key=lambda c: c.serial)

    def in_directory(self, directory_id: str) -> Container[str]:
        by_id = self.by_id

        class Members:
            def __contains__(self, contact_id: object) -> bool:
                contact = by_id.get(contact_id) if isinstance(contact_id, str) else None
                return contact is not None and contact.directory_id == directory_id

        return Members()


@dataclass
class State:
    """Everything :meth:`Store.reset` drops."""

    contacts: ContactIndex = field(default_factory=ContactIndex)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrivals: int = 0  # requests seen, answered or not: the next request's ``seq``


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _qdate(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """Directories, contacts, transactions and events of one sandbox, behind one lock."""

    def __init__(self, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self._ids = random.Random(f"qxframe-sandbox-ids-{seed}")
        self.user_id = self.new_id("UR_")
        self.brand_id = "sandbox"
        self.workflow_token = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        created = "2024-01-01T00:00:00Z"
        self.directories: tuple[Directory, ...] = tuple(
            Directory(
                self.new_id("POOL_"),
                name,
                name == "Customers",
                dedup,
                tuple(MailingList(self.new_id("CG_"), n, created) for n in lists),
            )
            for name, dedup, lists in (
                ("Customers", ("email",), ("Newsletter", "Purchases")),
                ("Prospects", (), ("Leads",)),
                ("Partners", ("extRef", "email"), ("Partner updates",)),
            )
        )
        self.state = State()

    def new_id(self, prefix: str) -> str:
        with self.lock:
            return prefix + "".join(self._ids.choices(_ALNUM, k=15))

    def reset(self) -> None:
        with self.lock:
            self.state = State()

    def directory(self, directory_id: str) -> Directory:
        for directory in self.directories:
            if directory.directory_id == directory_id:
                return directory
        raise StoreError(404, "RCE_1", f"Directory not found: {directory_id}.")

    # -- reads -------------------------------------------------------------------

    def directory_elements(self) -> list[dict[str, Any]]:
        with self.lock:
            counts = self._count_by(c.directory_id for c in self.state.contacts.all)
        return [
            {
                "directoryId": d.directory_id,
                "name": d.name,
                "contactCount": counts.get(d.directory_id, 0),
                "isDefault": d.is_default,
                "deduplicationCriteria": {
                    crit: wf in d.dedup
                    for wf, (_, crit, _) in CONTACT_FIELDS.items()
                    if crit is not None
                },
            }
            for d in self.directories
        ]

    def mailing_list_elements(self, directory_id: str) -> list[dict[str, Any]]:
        directory = self.directory(directory_id)
        with self.lock:
            members = {(t["mailing_list_id"], t["contact_id"]) for t in self.state.transactions}
        counts = self._count_by(ml for ml, _ in members)
        return [
            {
                "mailingListId": ml.mailing_list_id,
                "name": ml.name,
                "ownerId": self.user_id,
                "lastModifiedDate": ml.created,
                "creationDate": ml.created,
                "contactCount": counts.get(ml.mailing_list_id, 0),
            }
            for ml in directory.lists
        ]

    @staticmethod
    def _count_by(keys: Any) -> dict[str, int]:
        counts: dict[str, int] = {}
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        return counts

    # -- contacts ----------------------------------------------------------------

    def upsert_contact(self, directory_id: str, body: Any) -> str:
        """Create a contact, or merge into the one its directory's dedup fields match."""
        directory = self.directory(directory_id)
        body = check_contact_body(body)
        with self.lock:
            existing = self._dedup_match(directory, body)
            now = _now()
            if existing is None:
                contacts = self.state.contacts
                serial = len(contacts.all)
                existing = Contact(
                    serial, self.new_id("CID_"), directory_id, {}, None, {}, now, now
                )
                contacts.add(existing)
            for name, value in body.items():
                if name in CONTACT_FIELDS:
                    self.state.contacts.set_field(existing, name, value)
            existing.embedded.update(body.get("embeddedData", {}))
            if "unsubscribed" in body:
                existing.unsubscribed = body["unsubscribed"]
            existing.modified_at = now
            return existing.contact_id

    def _dedup_match(self, directory: Directory, body: dict[str, Any]) -> Contact | None:
        wanted = {f: norm(body.get(f)) for f in directory.dedup}
        if not wanted or not all(wanted.values()):
            return None
        first, *_ = directory.dedup
        for contact in self.state.contacts.matching(directory.directory_id, first, wanted[first]):
            if all(norm(contact.fields.get(f)) == v for f, v in wanted.items()):
                return contact
        return None

    def search(
        self, directory_id: str, body: Any, offset: int, page_size: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One page of contacts matching every filter, and the next offset (or None)."""
        self.directory(directory_id)
        filters = parse_search(body)
        if offset >= SEARCH_MAX_DEPTH:
            raise StoreError(
                400,
                "QVAL_1",
                "Cannot page past the first 10,000 results; use a contact export instead.",
            )
        eqs = [(ftype, value) for ftype, comp, value in filters if comp == "eq" and norm(value)]
        with self.lock:
            contacts = self.state.contacts
            pool = contacts.matching(directory_id, *eqs[0]) if eqs else contacts.all
            found = [
                c
                for c in pool
                if c.directory_id == directory_id
                and all(
                    (norm(c.fields.get(ftype)) == norm(value)) == (comp == "eq")
                    for ftype, comp, value in filters
                )
            ]
            page = [self._read_view(c) for c in found[offset : offset + page_size]]
        more = offset + page_size < len(found)
        return page, (offset + page_size if more else None)

    @staticmethod
    def _read_view(contact: Contact) -> dict[str, Any]:
        view: dict[str, Any] = {"id": contact.contact_id}
        for wf, (rf, _, _) in CONTACT_FIELDS.items():
            view[rf] = contact.fields.get(wf)
        view["unsubscribed"] = bool(contact.unsubscribed)
        view["embeddedData"] = dict(contact.embedded)
        view["creationDate"] = _qdate(contact.created_at)
        view["lastModified"] = _qdate(contact.modified_at)
        return view

    # -- transactions ------------------------------------------------------------

    def add_transactions(
        self, directory_id: str, body: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Store every valid transaction; return (createdTransactions, unprocessed)."""
        directory = self.directory(directory_id)
        if not isinstance(body, dict):
            raise StoreError(
                400,
                "QVAL_1",
                "The request body must be a JSON object of transactions keyed by your own keys.",
            )
        lists = {ml.mailing_list_id for ml in directory.lists}
        created: dict[str, Any] = {}
        unprocessed: dict[str, Any] = {}
        with self.lock:
            contacts = self.state.contacts.in_directory(directory_id)
            for key, tx in body.items():
                problem = transaction_problem(tx, contacts, lists)
                if problem:
                    unprocessed[key] = {"error": problem[0], "errorMessage": problem[1]}
                    continue
                tx_id = self.new_id("TR_")
                self.state.transactions.append(
                    {
                        "transaction_id": tx_id,
                        "directory_id": directory_id,
                        "contact_id": tx["contactId"],
                        "mailing_list_id": tx["mailingListId"],
                        "transaction_date": tx["transactionDate"],
                        "data": json.dumps(tx["data"], ensure_ascii=False),
                        "key": key,
                    }
                )
                created[key] = {"id": tx_id}
        return created, unprocessed

    # -- workflows and the request log -------------------------------------------

    def record_event(self, url_token_id: str | None, payload: str) -> str:
        if url_token_id != self.workflow_token:
            raise StoreError(404, "RCE_1", "No workflow trigger has this urlTokenId.")
        with self.lock:
            event_id = self.new_id("EV_")
            self.state.events.append(
                {
                    "event_id": event_id,
                    "url_token_id": url_token_id,
                    "received_at": _now(),
                    "payload": payload,
                }
            )
            return event_id

    def arrive(self) -> int:
        """Number a request in order of arrival (its ``seq`` in the request log)."""
        with self.lock:
            self.state.arrivals += 1
            return self.state.arrivals - 1

    def record_request(self, **row: Any) -> None:
        """Log an answered request; the log stays in ``seq`` (arrival) order."""
        with self.lock:
            bisect.insort(self.state.requests, row, key=lambda r: r["seq"])

    def contact_rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {
                    "contact_id": c.contact_id,
                    "directory_id": c.directory_id,
                    **{col: c.fields.get(wf) for wf, (_, _, col) in CONTACT_FIELDS.items()},
                    "unsubscribed": c.unsubscribed,
                    "embedded_data": json.dumps(c.embedded, ensure_ascii=False),
                    "created_at": c.created_at,
                }
                for c in self.state.contacts.all
            ]
