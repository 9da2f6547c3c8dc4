"""What Qualtrics holds against what a push would send: identities and changed fields.

Pure functions over a contact body (the dry run's ``payload``: wire names) and contacts
read back (:mod:`qxframe._read`: the push's names), no I/O.

- **Identity** (DESIGN §7): the directory's deduplication fields when it deduplicates and
  the body carries every one of them, else the lookup key's fields the body carries
  (``extRef``, ``phone``, ``email``, docs/architecture.md "What is sent"). Values are
  compared as Qualtrics compares them: trimmed, ignoring case.
- **Changes**: the body's fields whose values differ from the contact's, as field paths
  (``email``, ``embeddedData.region``). Only what the body carries is compared (a push
  leaves the rest as it is; embedded data merges). Embedded values are compared as the
  strings Qualtrics stores (``3`` → ``"3"``, ``true`` → ``"true"``).

>>> identity({"email": " Ann@X.org ", "firstName": "Ann"}, dedup=())
(('email', ' Ann@X.org '),)
>>> changes({"email": "a@x.org", "embeddedData": {"n": 3, "r": "s"}},
...         {"email": "a@x.org", "embedded_data": '{"n":"3","r":"n"}'})
['embeddedData.r']
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from qxframe._fields import field

#: The lookup key's fields, in the order a search joins them (docs/architecture.md).
LOOKUP_FIELDS = ("extRef", "phone", "email")
#: Wire name (a body key, a search ``filterType``) → the push's field name.
PUSH_NAMES: dict[str, str] = {
    field("contacts", name).body_key or name: name
    for name in ("first_name", "last_name", "email", "phone", "ext_ref", "language")
}
WIRE_NAMES = {name: wire for wire, name in PUSH_NAMES.items()}

Identity = tuple[tuple[str, str], ...]  # (wire field name, value as the body has it)


def norm(value: Any) -> str:
    return value.strip().casefold() if isinstance(value, str) else ""


def identity(body: Mapping[str, Any], dedup: Iterable[str]) -> Identity | None:
    """The fields (wire names) and values that say which contact ``body`` is; None if it
    carries none. ``dedup``: the directory's deduplication fields (wire names), or empty."""
    wanted = tuple(dedup)
    if wanted and all(norm(body.get(name)) for name in wanted):
        return tuple((name, body[name]) for name in wanted)
    found = tuple((name, body[name]) for name in LOOKUP_FIELDS if norm(body.get(name)))
    return found or None


def key(who: Identity) -> tuple[tuple[str, str], ...]:
    """An identity as compared: field names with trimmed, case-folded values."""
    return tuple((name, norm(value)) for name, value in who)


def key_of(contact: Mapping[str, Any], names: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """The same key for a contact read back (push names), over the wire fields ``names``."""
    return tuple((name, norm(contact.get(PUSH_NAMES[name]))) for name in names)


def search_body(who: Identity) -> dict[str, Any]:
    """A search for ``who``: one ``eq`` filter, or 2 to 5 joined by ``and``."""
    filters = [{"filterType": n, "comparison": "eq", "value": v.strip()} for n, v in who]
    if len(filters) == 1:
        return {"filter": filters[0]}
    return {"filter": {"conjunction": "and", "filters": filters}}


def stored_text(value: Any) -> str:
    """A value as Qualtrics stores embedded data: a string (booleans ``true``/``false``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def changes(body: Mapping[str, Any], contact: Mapping[str, Any]) -> list[str]:
    """The field paths of ``body`` whose values differ from ``contact`` (read back)."""
    found: list[str] = []
    for name, value in body.items():
        if name == "embeddedData":
            held = json.loads(contact.get("embedded_data") or "{}")
            found += [
                f"embeddedData.{k}" for k, v in value.items() if stored_text(v) != held.get(k)
            ]
        elif name == "unsubscribed":
            if bool(value) != bool(contact.get("unsubscribed")):
                found.append(name)
        elif value != contact.get(PUSH_NAMES.get(name, name)):
            found.append(name)
    return found
