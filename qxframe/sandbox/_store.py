"""The sandbox's in-memory state and the Qualtrics rules applied to it.

This module owns what the sandbox *holds* (directories, mailing lists, contacts,
transactions, workflow events, the request log) and the rules Qualtrics applies to
writes: contact-body validation, deduplication per directory, search filters and
paging, per-key transaction checks. It knows nothing about HTTP: every operation takes
plain Python values and either returns a result or raises :class:`StoreError`, which the
app turns into an error envelope. One lock guards everything, because the server thread
and the test thread both reach in.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import random
import re
import string
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

# Write field name -> (read field name, deduplicationCriteria name, contacts() column).
CONTACT_FIELDS: dict[str, tuple[str, str | None, str]] = {
    "firstName": ("firstName", "firstName", "first_name"),
    "lastName": ("lastName", "lastName", "last_name"),
    "email": ("email", "email", "email"),
    "phone": ("phoneNumber", "phone", "phone"),
    "extRef": ("externalDataReference", "externalDataReference", "ext_ref"),
    "language": ("language", None, "language"),
}
SEARCH_FILTER_TYPES = ("email", "firstName", "lastName", "language", "phone", "extRef")
SEARCH_MAX_DEPTH = 10_000
_ALNUM = string.ascii_letters + string.digits
_TX_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


class StoreError(Exception):
    """A request the rules refuse; the app answers ``status`` with an error envelope."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


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
    contact_id: str
    directory_id: str
    fields: dict[str, str]  # write field name -> value
    unsubscribed: bool | None
    embedded: dict[str, Any]
    created_at: dt.datetime
    modified_at: dt.datetime


@dataclass
class State:
    """Everything :meth:`Store.reset` drops."""

    contacts: list[Contact] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _qdate(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _norm(value: str | None) -> str:
    return (value or "").strip().casefold()


def encode_skip(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def decode_skip(token: str | None) -> int:
    """Offset from a ``skipToken``; a token this sandbox did not hand out is a 400."""
    if token is None:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, binascii.Error, UnicodeError):
        raise StoreError(400, "QVAL_1", f"Invalid skipToken: {token!r}.") from None
    if offset < 0:
        raise StoreError(400, "QVAL_1", f"Invalid skipToken: {token!r}.")
    return offset


def check_contact_body(body: Any) -> dict[str, Any]:
    """Validate a create-contact body as Qualtrics does: known keys, right types."""
    if not isinstance(body, dict):
        raise StoreError(400, "QVAL_1", "The request body must be a JSON object.")
    allowed = {*CONTACT_FIELDS, "embeddedData", "unsubscribed"}
    for key, value in body.items():
        if key not in allowed:
            raise StoreError(400, "QVAL_1", f"Unexpected json key provided: {key}")
        if key == "unsubscribed":
            ok = isinstance(value, bool)
        elif key == "embeddedData":
            ok = isinstance(value, dict) and all(_scalar(v) for v in value.values())
        else:
            ok = isinstance(value, str)
        if not ok:
            kind = {"unsubscribed": "a boolean", "embeddedData": "an object of "
                    "strings, numbers and booleans"}.get(key, "a string")
            raise StoreError(400, "QVAL_1", f"Invalid value for {key}: expected {kind}.")
    return body


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _check_filter(flt: Any) -> tuple[str, str, str]:
    if not isinstance(flt, dict) or set(flt) != {"filterType", "comparison", "value"}:
        raise StoreError(400, "QVAL_1", "A filter needs exactly filterType, comparison, value.")
    ftype, comp, value = flt["filterType"], flt["comparison"], flt["value"]
    if ftype not in SEARCH_FILTER_TYPES:
        raise StoreError(400, "QVAL_1", f"Invalid filterType: {ftype!r}.")
    if comp not in ("eq", "neq"):
        raise StoreError(400, "QVAL_1", f"Invalid comparison for {ftype}: {comp!r}.")
    if not isinstance(value, str):
        raise StoreError(400, "QVAL_1", f"Invalid value for filter {ftype}: expected a string.")
    return ftype, comp, value


def parse_search(body: Any) -> list[tuple[str, str, str]]:
    """The list of (filterType, comparison, value) a search body asks for, AND-ed."""
    if not isinstance(body, dict) or set(body) != {"filter"}:
        raise StoreError(400, "QVAL_1", "The search body must be {\"filter\": {...}}.")
    flt = body["filter"]
    if not isinstance(flt, dict) or "conjunction" not in flt:
        return [_check_filter(flt)]
    if flt.get("conjunction") != "and" or set(flt) != {"conjunction", "filters"}:
        raise StoreError(400, "QVAL_1", "A conjunction must be {\"conjunction\": \"and\", "
                         "\"filters\": [...]}.")
    filters = flt["filters"]
    if not isinstance(filters, list) or not 2 <= len(filters) <= 5:
        raise StoreError(400, "QVAL_1", "A conjunction takes between 2 and 5 filters.")
    return [_check_filter(f) for f in filters]


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
            Directory(self.new_id("POOL_"), name, name == "Customers", dedup,
                      tuple(MailingList(self.new_id("CG_"), n, created) for n in lists))
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
            counts = self._count_by(c.directory_id for c in self.state.contacts)
        return [
            {
                "directoryId": d.directory_id,
                "name": d.name,
                "contactCount": counts.get(d.directory_id, 0),
                "isDefault": d.is_default,
                "deduplicationCriteria": {
                    crit: wf in d.dedup
                    for wf, (_, crit, _) in CONTACT_FIELDS.items() if crit is not None
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
                existing = Contact(self.new_id("CID_"), directory_id, {}, None, {}, now, now)
                self.state.contacts.append(existing)
            existing.fields.update({k: v for k, v in body.items() if k in CONTACT_FIELDS})
            existing.embedded.update(body.get("embeddedData", {}))
            if "unsubscribed" in body:
                existing.unsubscribed = body["unsubscribed"]
            existing.modified_at = now
            return existing.contact_id

    def _dedup_match(self, directory: Directory, body: dict[str, Any]) -> Contact | None:
        wanted = {f: _norm(body.get(f)) for f in directory.dedup}
        if not wanted or not all(wanted.values()):
            return None
        for contact in self.state.contacts:
            if contact.directory_id == directory.directory_id and all(
                _norm(contact.fields.get(f)) == v for f, v in wanted.items()
            ):
                return contact
        return None

    def search(self, directory_id: str, body: Any, offset: int, page_size: int
               ) -> tuple[list[dict[str, Any]], int | None]:
        """One page of contacts matching every filter, and the next offset (or None)."""
        self.directory(directory_id)
        filters = parse_search(body)
        if offset >= SEARCH_MAX_DEPTH:
            raise StoreError(400, "QVAL_1", "Cannot page past the first 10,000 results; "
                             "use a contact export instead.")
        with self.lock:
            found = [
                c for c in self.state.contacts
                if c.directory_id == directory_id and all(
                    (_norm(c.fields.get(ftype)) == _norm(value)) == (comp == "eq")
                    for ftype, comp, value in filters
                )
            ]
            page = [self._read_view(c) for c in found[offset:offset + page_size]]
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

    def add_transactions(self, directory_id: str, body: Any
                         ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Store every valid transaction; return (createdTransactions, unprocessed)."""
        directory = self.directory(directory_id)
        if not isinstance(body, dict):
            raise StoreError(400, "QVAL_1", "The request body must be a JSON object of "
                             "transactions keyed by your own keys.")
        lists = {ml.mailing_list_id for ml in directory.lists}
        created: dict[str, Any] = {}
        unprocessed: dict[str, Any] = {}
        with self.lock:
            contacts = {c.contact_id for c in self.state.contacts
                        if c.directory_id == directory_id}
            for key, tx in body.items():
                problem = _transaction_problem(tx, contacts, lists)
                if problem:
                    unprocessed[key] = {"error": problem[0], "errorMessage": problem[1]}
                    continue
                tx_id = self.new_id("TR_")
                self.state.transactions.append({
                    "transaction_id": tx_id, "directory_id": directory_id,
                    "contact_id": tx["contactId"], "mailing_list_id": tx["mailingListId"],
                    "transaction_date": tx["transactionDate"],
                    "data": json.dumps(tx["data"], ensure_ascii=False), "key": key,
                })
                created[key] = {"id": tx_id}
        return created, unprocessed

    # -- workflows and the request log -------------------------------------------

    def record_event(self, url_token_id: str | None, payload: str) -> str:
        if url_token_id != self.workflow_token:
            raise StoreError(404, "RCE_1", "No workflow trigger has this urlTokenId.")
        with self.lock:
            event_id = self.new_id("EV_")
            self.state.events.append({"event_id": event_id, "url_token_id": url_token_id,
                                      "received_at": _now(), "payload": payload})
            return event_id

    def record_request(self, **row: Any) -> None:
        with self.lock:
            self.state.requests.append({"seq": len(self.state.requests), **row})

    def contact_rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {
                    "contact_id": c.contact_id, "directory_id": c.directory_id,
                    **{col: c.fields.get(wf) for wf, (_, _, col) in CONTACT_FIELDS.items()},
                    "unsubscribed": c.unsubscribed,
                    "embedded_data": json.dumps(c.embedded, ensure_ascii=False),
                    "created_at": c.created_at,
                }
                for c in self.state.contacts
            ]


def _transaction_problem(tx: Any, contacts: set[str], lists: set[str]
                         ) -> tuple[str, str] | None:
    """Why one transaction cannot be stored, as (short code, sentence), or None."""
    if not isinstance(tx, dict):
        return "invalid_transaction", "A transaction must be a JSON object."
    unknown = set(tx) - {"contactId", "mailingListId", "transactionDate", "data"}
    if unknown:
        return "invalid_transaction", f"Unexpected json key provided: {sorted(unknown)[0]}"
    if tx.get("contactId") not in contacts:
        return "contact_not_found", (
            f"Contact {tx.get('contactId')!r} does not exist in this directory.")
    if tx.get("mailingListId") not in lists:
        return "mailing_list_not_found", (
            f"Mailing list {tx.get('mailingListId')!r} does not exist in this directory.")
    date = tx.get("transactionDate")
    if not isinstance(date, str) or not _valid_date(date):
        return "invalid_transaction_date", (
            f"transactionDate {date!r} is not a date in the format YYYY-MM-DD HH:MM:SS.")
    data = tx.get("data")
    if not isinstance(data, dict) or not all(_scalar(v) for v in data.values()):
        return "invalid_transaction_data", (
            "data must be an object of strings, numbers and booleans.")
    return None


def _valid_date(value: str) -> bool:
    if not _TX_DATE.fullmatch(value):
        return False
    try:
        dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    return True
