"""The sandbox's in-memory state and the Qualtrics rules that act on it.

This module owns what the sandbox *holds* (directories, mailing lists and their
members, contacts, workflow events, the request log) and the rules that need that
state: deduplication per directory on every path that creates a contact, contact ids
and contactLookupIds, search matching and paging depth. Transactions and batches are
in :mod:`._txstore`; read shapes in :mod:`._views`. Body checks that need no state
live in :mod:`._rules`. It knows nothing about HTTP: every operation takes plain
Python values and either returns a result or raises :class:`StoreError`, which the
app turns into an error envelope. One lock guards
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
from dataclasses import replace
from typing import Any

from qxframe._sandbox._model import Contact, Directory, MailingList, Membership, State, now
from qxframe._sandbox._rules import (
    CONTACT_FIELDS,
    SEARCH_MAX_DEPTH,
    StoreError,
    check_contact_body,
    check_list_body,
    norm,
)
from qxframe._sandbox._search import parse_search

__all__ = ["Store", "StoreError"]

_ALNUM = string.ascii_letters + string.digits


_SEEDED = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
_DIRECTORIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Customers", ("email",), ("Newsletter", "Purchases")),
    ("Prospects", (), ("Leads",)),
    ("Partners", ("extRef", "email"), ("Partner updates",)),
)


class Store:
    """Directories, mailing lists and contacts of one sandbox, behind one lock.

    Transactions and batches are in :mod:`._txstore`, over the same state and lock.
    """

    def __init__(self, seed: int = 0, extra_directories: int = 0) -> None:
        self.lock = threading.RLock()
        self._ids = random.Random(f"qxframe-sandbox-ids-{seed}")
        self.user_id = self.new_id("UR_")
        self.brand_id = "sandbox"
        self.workflow_token = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        extra = tuple((f"Directory {n}", (), ()) for n in range(4, 4 + extra_directories))
        self.directories: tuple[Directory, ...] = tuple(
            self._seed_directory(name, dedup, lists) for name, dedup, lists in _DIRECTORIES + extra
        )
        self.state = State(self._seeded_lists())

    def _seed_directory(
        self, name: str, dedup: tuple[str, ...], lists: tuple[str, ...]
    ) -> Directory:
        directory_id = self.new_id("POOL_")
        seeded = tuple(
            MailingList(self.new_id("CG_"), directory_id, n, self.user_id, _SEEDED, _SEEDED)
            for n in lists
        )
        return Directory(directory_id, name, name == "Customers", dedup, seeded)

    def _seeded_lists(self) -> dict[str, MailingList]:
        return {ml.mailing_list_id: replace(ml) for d in self.directories for ml in d.lists}

    def new_id(self, prefix: str) -> str:
        with self.lock:
            return prefix + "".join(self._ids.choices(_ALNUM, k=15))

    def reset(self) -> None:
        with self.lock:
            self.state = State(self._seeded_lists())

    def directory(self, directory_id: str) -> Directory:
        for directory in self.directories:
            if directory.directory_id == directory_id:
                return directory
        raise StoreError(404, "RCE_1", f"Directory not found: {directory_id}.")

    # -- directories and mailing lists -----------------------------------------------

    def directory_elements(self) -> list[dict[str, Any]]:
        with self.lock:
            contacts = self.state.contacts
            counts = {
                d.directory_id: len(contacts.of_directory(d.directory_id)) for d in self.directories
            }
        return [
            {
                "directoryId": d.directory_id,
                "name": d.name,
                "contactCount": counts[d.directory_id],
                "isDefault": d.is_default,
                "deduplicationCriteria": {
                    crit: wf in d.dedup
                    for wf, (_, crit, _) in CONTACT_FIELDS.items()
                    if crit is not None
                },
            }
            for d in self.directories
        ]

    def lists_of(self, directory_id: str) -> list[MailingList]:
        self.directory(directory_id)
        with self.lock:
            return [ml for ml in self.state.lists.values() if ml.directory_id == directory_id]

    def mailing_list(self, directory_id: str, mailing_list_id: str) -> MailingList:
        with self.lock:
            found = self.state.lists.get(mailing_list_id)
        if found is None or found.directory_id != self.directory(directory_id).directory_id:
            raise StoreError(
                404, "RCE_1", f"Mailing list not found in {directory_id}: {mailing_list_id}."
            )
        return found

    def list_size(self, mailing_list_id: str) -> int:
        with self.lock:
            return len(self.state.contacts.of_list(mailing_list_id))

    def create_list(self, directory_id: str, body: dict[str, Any]) -> str:
        self.directory(directory_id)
        name, owner = check_list_body(body, require_name=True)
        with self.lock:
            stamp = now()
            ml = MailingList(
                self.new_id("CG_"), directory_id, name or "", owner or self.user_id, stamp, stamp
            )
            self.state.lists[ml.mailing_list_id] = ml
            return ml.mailing_list_id

    def update_list(self, directory_id: str, mailing_list_id: str, body: dict[str, Any]) -> None:
        ml = self.mailing_list(directory_id, mailing_list_id)
        name, owner = check_list_body(body, require_name=False)
        with self.lock:
            ml.name = name if name is not None else ml.name
            ml.owner_id = owner if owner is not None else ml.owner_id
            ml.modified = now()

    def delete_list(self, directory_id: str, mailing_list_id: str) -> None:
        self.mailing_list(directory_id, mailing_list_id)
        with self.lock:
            del self.state.lists[mailing_list_id]
            self.state.contacts.drop_list(mailing_list_id)

    # -- contacts ----------------------------------------------------------------

    def upsert_contact(
        self, directory_id: str, body: Any, mailing_list_id: str | None = None
    ) -> str:
        """Create a contact, or merge into the one its directory's dedup fields match.

        With ``mailing_list_id`` the contact (new or merged) is also a member of that list
        (docs/qualtrics-api.md §7); its ``contactLookupId`` is then in ``contact.lists``, and
        the body's ``unsubscribed`` is the list's flag, as on a member's PUT (§12).
        """
        directory = self.directory(directory_id)
        if mailing_list_id is not None:
            self.mailing_list(directory_id, mailing_list_id)
        body = check_contact_body(body)
        with self.lock:
            contact = self._dedup_match(directory, body) or self._new_contact(directory_id)
            if mailing_list_id is None:
                self._apply(contact, body)
                return contact.contact_id
            flag = body.get("unsubscribed")  # the list's flag, not the directory's
            self._apply(contact, {k: v for k, v in body.items() if k != "unsubscribed"})
            membership = self.join_list(contact, mailing_list_id)
            if flag is not None:
                _unsubscribe(membership, flag)
            return contact.contact_id

    def _new_contact(self, directory_id: str) -> Contact:
        stamp = now()
        contact = Contact(
            self.state.serials, self.new_id("CID_"), directory_id, {}, None, {}, stamp, stamp
        )
        self.state.serials += 1
        self.state.contacts.add(contact)
        return contact

    def join_list(self, contact: Contact, mailing_list_id: str) -> Membership:
        """Make ``contact`` a member of a list (idempotent); its membership."""
        with self.lock:
            membership = contact.lists.get(mailing_list_id)
            if membership is None:
                membership = Membership(self.new_id("CGC_"), self.state.joins, now())
                self.state.joins += 1
                self.state.contacts.join(contact, mailing_list_id, membership)
            return membership

    def member_rows(self) -> list[dict[str, Any]]:
        """One row per (mailing list, contact) membership, in order of joining."""
        with self.lock:
            held = [
                (m.joined, ml_id, c.contact_id, m)
                for c in self.state.contacts.all
                for ml_id, m in c.lists.items()
            ]
        return [
            {
                "mailing_list_id": ml_id,
                "contact_id": contact_id,
                "contact_lookup_id": m.lookup_id,
                "added_at": m.added_at,
            }
            for _, ml_id, contact_id, m in sorted(held, key=lambda h: h[0])
        ]

    def _apply(self, contact: Contact, body: dict[str, Any]) -> None:
        for name, value in body.items():
            if name in CONTACT_FIELDS:
                self.state.contacts.set_field(contact, name, value)
        contact.embedded.update(body.get("embeddedData", {}))
        if "unsubscribed" in body:
            if body["unsubscribed"] and not contact.unsubscribed:
                contact.unsubscribe_date = now()
            contact.unsubscribed = body["unsubscribed"]
        contact.modified_at = now()

    def _dedup_match(self, directory: Directory, body: dict[str, Any]) -> Contact | None:
        wanted = {f: norm(body.get(f)) for f in directory.dedup}
        if not wanted or not all(wanted.values()):
            return None
        first, *_ = directory.dedup
        for contact in self.state.contacts.matching(directory.directory_id, first, wanted[first]):
            if all(norm(contact.fields.get(f)) == v for f, v in wanted.items()):
                return contact
        return None

    def contact(self, directory_id: str, ref: str) -> Contact:
        """A contact of the directory by its id or one of its contactLookupIds (else 404)."""
        self.directory(directory_id)
        with self.lock:
            contacts = self.state.contacts
            found = contacts.by_id.get(ref) or contacts.by_lookup.get(ref)
        if found is None or found.directory_id != directory_id:
            raise StoreError(404, "RCE_1", f"Contact not found in {directory_id}: {ref}.")
        return found

    def update_contact(self, directory_id: str, ref: str, body: Any) -> Contact:
        """PUT: the fields given replace theirs; embedded data keys merge."""
        contact = self.contact(directory_id, ref)
        body = check_contact_body(body)
        with self.lock:
            self._apply(contact, body)
        return contact

    def delete_contact(self, directory_id: str, ref: str) -> None:
        contact = self.contact(directory_id, ref)
        with self.lock:
            self.state.contacts.remove(contact)

    def contacts_page(
        self, directory_id: str, after: int | None, count: int
    ) -> list[tuple[int, Contact]]:
        """Up to ``count`` of a directory's contacts after the cursor ``after`` (a creation
        serial), each with its cursor: a bisection and a slice, at any directory size."""
        self.directory(directory_id)
        with self.lock:
            return self.state.contacts.of_directory(directory_id).after(after, count)

    def members_page(
        self, directory_id: str, mailing_list_id: str, after: int | None, count: int
    ) -> list[tuple[int, Contact]]:
        """Up to ``count`` members of a list after the cursor ``after`` (a join number)."""
        self.mailing_list(directory_id, mailing_list_id)
        with self.lock:
            return self.state.contacts.of_list(mailing_list_id).after(after, count)

    def member(self, directory_id: str, mailing_list_id: str, ref: str) -> Contact:
        contact = self.contact(directory_id, ref)
        self.mailing_list(directory_id, mailing_list_id)
        if mailing_list_id not in contact.lists:
            raise StoreError(
                404, "RCE_1", f"Contact {ref} is not in mailing list {mailing_list_id}."
            )
        return contact

    def update_member(self, directory_id: str, mailing_list_id: str, ref: str, body: Any) -> None:
        """PUT on a list member: contact fields change; ``unsubscribed`` is the list's."""
        contact = self.member(directory_id, mailing_list_id, ref)
        body = check_contact_body(body)
        with self.lock:
            if "unsubscribed" in body:
                _unsubscribe(contact.lists[mailing_list_id], body.pop("unsubscribed"))
            self._apply(contact, body)

    def remove_member(self, directory_id: str, mailing_list_id: str, ref: str) -> None:
        """DELETE on a list member: out of the list, still in the directory."""
        contact = self.member(directory_id, mailing_list_id, ref)
        with self.lock:
            self.state.contacts.leave(contact, mailing_list_id)

    def search(
        self, directory_id: str, body: Any, offset: int, page_size: int
    ) -> tuple[list[Contact], int | None]:
        """One page of contacts matching every filter, and the next offset (or None)."""
        self.directory(directory_id)
        filters = parse_search(body)
        if offset >= SEARCH_MAX_DEPTH:
            raise StoreError(
                400,
                "QVAL_1",
                "Cannot page past the first 10,000 results; use a contact export instead.",
            )
        eqs = [f.eq_text for f in filters if f.eq_text is not None]
        with self.lock:
            contacts = self.state.contacts
            pool = contacts.matching(directory_id, *eqs[0]) if eqs else contacts.all
            found = [
                c
                for c in pool
                if c.directory_id == directory_id and all(f.matches(c) for f in filters)
            ]
        # a full page carries a skipToken even when nothing follows (docs/qualtrics-api.md §5)
        page = found[offset : offset + page_size]
        return page, (offset + page_size if len(page) == page_size else None)

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
                    "received_at": now(),
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


def _unsubscribe(membership: Membership, flag: bool) -> None:
    """Set a list membership's own ``unsubscribed`` flag (dated when it turns on)."""
    if flag and not membership.unsubscribed:
        membership.unsubscribe_date = now()
    membership.unsubscribed = flag
