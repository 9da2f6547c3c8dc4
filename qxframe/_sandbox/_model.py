"""The sandbox's data model: directories, mailing lists, memberships, contacts, state.

Plain dataclasses and :class:`ContactIndex`, which finds contacts by id, by
contactLookupId and by (directory, field, normalised value). No rules and no locking
here: :mod:`._store` owns both.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from qxframe._sandbox._rules import norm


@dataclass
class MailingList:
    mailing_list_id: str
    directory_id: str
    name: str
    owner_id: str
    created: dt.datetime
    modified: dt.datetime


@dataclass(frozen=True)
class Directory:
    directory_id: str
    name: str
    is_default: bool
    dedup: tuple[str, ...]  # write field names that must all match to merge
    lists: tuple[MailingList, ...]  # the lists it starts with (and gets back on reset)


@dataclass
class Membership:
    """A contact's place in one mailing list (docs/qualtrics-api.md §7)."""

    lookup_id: str  # contactLookupId
    joined: int  # order of joining, across all lists
    added_at: dt.datetime
    unsubscribed: bool = False
    unsubscribe_date: dt.datetime | None = None


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
    lists: dict[str, Membership] = field(default_factory=dict)
    unsubscribe_date: dt.datetime | None = None


class Ordered:
    """Contacts in the order of a key that only grows (a creation serial, a join number):
    a page after a key is a bisection and a slice, whatever the size (a cursor survives
    removals before it, as an offset would not)."""

    def __init__(self) -> None:
        self._keys: list[int] = []
        self._contacts: list[Contact] = []

    def __len__(self) -> int:
        return len(self._keys)

    def append(self, key: int, contact: Contact) -> None:
        self._keys.append(key)
        self._contacts.append(contact)

    def discard(self, key: int) -> None:
        at = bisect.bisect_left(self._keys, key)
        if at < len(self._keys) and self._keys[at] == key:
            del self._keys[at]
            del self._contacts[at]

    def after(self, key: int | None, count: int) -> list[tuple[int, Contact]]:
        """Up to ``count`` (key, contact) pairs with a key above ``key`` (None: from the start)."""
        start = 0 if key is None else bisect.bisect_right(self._keys, key)
        stop = start + count
        return list(zip(self._keys[start:stop], self._contacts[start:stop], strict=True))

    def contacts(self) -> list[Contact]:
        return list(self._contacts)


class ContactIndex:
    """Contacts in creation order, by id, by contactLookupId, by (directory, field,
    normalised value), and in order per directory and per mailing list.

    Keeps dedup and ``eq`` search lookups O(1), and a page of a directory's or a list's
    contacts O(page), however many contacts a benchmark pushes.
    """

    def __init__(self) -> None:
        self.all: list[Contact] = []
        self.by_id: dict[str, Contact] = {}
        self.by_lookup: dict[str, Contact] = {}
        self._by_value: dict[tuple[str, str, str], dict[str, Contact]] = {}
        self._in_directory: dict[str, Ordered] = {}
        self._in_list: dict[str, Ordered] = {}

    def add(self, contact: Contact) -> None:
        self.all.append(contact)
        self.by_id[contact.contact_id] = contact
        self.of_directory(contact.directory_id).append(contact.serial, contact)

    def remove(self, contact: Contact) -> None:
        self.all.remove(contact)
        del self.by_id[contact.contact_id]
        self.of_directory(contact.directory_id).discard(contact.serial)
        for mailing_list_id, membership in contact.lists.items():
            self.by_lookup.pop(membership.lookup_id, None)
            self.of_list(mailing_list_id).discard(membership.joined)
        for name, value in contact.fields.items():
            self._by_value.get((contact.directory_id, name, norm(value)), {}).pop(
                contact.contact_id, None
            )

    def set_field(self, contact: Contact, name: str, value: str) -> None:
        old = contact.fields.get(name)
        if old is not None:
            self._by_value.get((contact.directory_id, name, norm(old)), {}).pop(
                contact.contact_id, None
            )
        contact.fields[name] = value
        key = (contact.directory_id, name, norm(value))
        self._by_value.setdefault(key, {})[contact.contact_id] = contact

    def join(self, contact: Contact, mailing_list_id: str, membership: Membership) -> None:
        contact.lists[mailing_list_id] = membership
        self.by_lookup[membership.lookup_id] = contact
        self.of_list(mailing_list_id).append(membership.joined, contact)

    def leave(self, contact: Contact, mailing_list_id: str) -> Membership | None:
        membership = contact.lists.pop(mailing_list_id, None)
        if membership is not None:
            self.by_lookup.pop(membership.lookup_id, None)
            self.of_list(mailing_list_id).discard(membership.joined)
        return membership

    def drop_list(self, mailing_list_id: str) -> None:
        for contact in self.of_list(mailing_list_id).contacts():
            self.leave(contact, mailing_list_id)
        self._in_list.pop(mailing_list_id, None)

    def of_directory(self, directory_id: str) -> Ordered:
        return self._in_directory.setdefault(directory_id, Ordered())

    def of_list(self, mailing_list_id: str) -> Ordered:
        return self._in_list.setdefault(mailing_list_id, Ordered())

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
    """Everything :meth:`Store.reset` drops (the mailing lists go back to the seeded ones)."""

    lists: dict[str, MailingList]
    contacts: ContactIndex = field(default_factory=ContactIndex)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    transactions_by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrivals: int = 0  # requests seen, answered or not: the next request's ``seq``
    serials: int = 0  # contacts ever created: the next contact's ``serial``
    joins: int = 0  # memberships ever made: the next membership's ``joined``


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
