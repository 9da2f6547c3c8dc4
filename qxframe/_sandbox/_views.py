"""How the sandbox's objects read back over the wire: Qualtrics' read shapes, pure functions.

This module owns the read/write asymmetry of docs/qualtrics-api.md §5–§8: search
elements say ``id``/``phoneNumber``/``externalDataReference`` with date strings; list
and get say ``contactId``/``phone``/``extRef`` with epoch-millisecond dates; embedded
and transaction data read back as strings; a contact's ``mailingListMembership``;
mailing lists with epoch-ms dates and ``contactCount`` only when asked.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from qxframe._sandbox._model import Contact, MailingList
from qxframe._sandbox._rules import CONTACT_FIELDS

_WRITE_NAMES = ("firstName", "lastName", "email", "phone", "extRef", "language")


def epoch_ms(when: dt.datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


def as_text(value: Any) -> str:
    """A value as Qualtrics stores it: a string (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def texts(values: dict[str, Any]) -> dict[str, str]:
    return {key: as_text(value) for key, value in values.items()}


def _qdate(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def search_element(contact: Contact, *, embedded: bool) -> dict[str, Any]:
    """A search result (docs/qualtrics-api.md §5): read names, date strings; embedded data
    only when the search asked for it (``includeEmbedded=true``)."""
    view: dict[str, Any] = {"id": contact.contact_id}
    for wf, (rf, _, _) in CONTACT_FIELDS.items():
        view[rf] = contact.fields.get(wf)
    view["unsubscribed"] = bool(contact.unsubscribed)
    if embedded:
        view["embeddedData"] = texts(contact.embedded)
    view["creationDate"] = _qdate(contact.created_at)
    view["lastModified"] = _qdate(contact.modified_at)
    return view


def list_element(contact: Contact) -> dict[str, Any]:
    """A directory contact list element (docs/qualtrics-api.md §5): no embedded data."""
    view: dict[str, Any] = {"contactId": contact.contact_id}
    view.update({name: contact.fields.get(name) for name in _WRITE_NAMES})
    view["unsubscribed"] = bool(contact.unsubscribed)
    return view


def member_element(contact: Contact, mailing_list_id: str) -> dict[str, Any]:
    """A mailing-list member list element (docs/qualtrics-api.md §7): the write names,
    embedded data, and ``unsubscribed`` the list's flag (§12)."""
    view = list_element(contact)
    view["unsubscribed"] = contact.lists[mailing_list_id].unsubscribed
    view["embeddedData"] = texts(contact.embedded)
    return view


def _common(contact: Contact) -> dict[str, Any]:
    email = contact.fields.get("email")
    return {
        "contactId": contact.contact_id,
        "creationDate": epoch_ms(contact.created_at),
        "lastModified": epoch_ms(contact.modified_at),
        **{name: contact.fields.get(name) for name in _WRITE_NAMES[:3]},
        "emailDomain": email.rsplit("@", 1)[1].lower() if email and "@" in email else None,
        "phone": contact.fields.get("phone"),
        "extRef": contact.fields.get("extRef"),
        "embeddedData": texts(contact.embedded),
        "language": contact.fields.get("language"),
        "directoryUnsubscribed": bool(contact.unsubscribed),
        "directoryUnsubscribeDate": epoch_ms(contact.unsubscribe_date),
        "stats": {},
    }


def contact_detail(contact: Contact, lists: dict[str, MailingList]) -> dict[str, Any]:
    """``GET /directories/{d}/contacts/{id}`` (docs/qualtrics-api.md §5)."""
    membership = {
        ml_id: {
            "contactLookupId": m.lookup_id,
            "name": lists[ml_id].name if ml_id in lists else None,
            "unsubscribed": m.unsubscribed,
            "unsubscribeDate": epoch_ms(m.unsubscribe_date),
            "ownerId": lists[ml_id].owner_id if ml_id in lists else None,
        }
        for ml_id, m in contact.lists.items()
    }
    return {**_common(contact), "segmentMembership": {}, "mailingListMembership": membership}


def member_detail(contact: Contact, mailing_list_id: str) -> dict[str, Any]:
    """``GET .../mailinglists/{ml}/contacts/{id}`` (docs/qualtrics-api.md §7)."""
    membership = contact.lists[mailing_list_id]
    return {
        **_common(contact),
        "mailingListUnsubscribed": membership.unsubscribed,
        "mailingListUnsubscribeDate": epoch_ms(membership.unsubscribe_date),
        "contactLookupId": membership.lookup_id,
        "privateEmbeddedData": {},
    }


def mailing_list_view(ml: MailingList, count: int | None) -> dict[str, Any]:
    """A mailing list (docs/qualtrics-api.md §6): ``contactCount`` is 0 unless counted."""
    return {
        "mailingListId": ml.mailing_list_id,
        "name": ml.name,
        "ownerId": ml.owner_id,
        "contactCount": count or 0,
        "creationDate": epoch_ms(ml.created),
        "lastModifiedDate": epoch_ms(ml.modified),
    }


def transaction_view(row: dict[str, Any]) -> dict[str, Any]:
    """A transaction read back (docs/qualtrics-api.md §8): data values as strings."""
    return {
        "transactionId": row["transaction_id"],
        "contactId": row["contact_id"],
        "mailingListId": row["mailing_list_id"],
        "transactionDate": row["transaction_date"],
        "data": texts(json.loads(row["data"])),
    }


def batch_view(batch: dict[str, Any]) -> dict[str, Any]:
    return {"batchId": batch["batch_id"], "creationDate": batch["creation_date"]}
