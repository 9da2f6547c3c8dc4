"""Endpoints for directory contacts and mailing-list members (docs/qualtrics-api.md §5, §7).

Where a path takes a contact id, the contact's ``contactLookupId`` is accepted too
(docs/qualtrics-api.md §2). Creating a member of a mailing list
(``POST .../mailinglists/{ml}/contacts``) lives with the import jobs, not here.
"""

from __future__ import annotations

from typing import Any

from qxframe._sandbox._rules import decode_skip, encode_skip
from qxframe._sandbox._views import (
    contact_detail,
    list_element,
    member_detail,
    member_element,
    search_element,
)
from qxframe._sandbox._wire import DIRS, Call, Endpoint, cursor_paged, page_size

SEARCH_PAGE_SIZE = 100
MEMBER_PAGE = 50  # "The maximum value for pageSize is 50" (docs/qualtrics-api.md §3)


def create_contact(call: Call) -> tuple[int, Any]:
    return 200, {"id": call.store.upsert_contact(call.param("dir"), call.json())}


def search(call: Call) -> tuple[int, Any]:
    size = page_size(call, SEARCH_PAGE_SIZE, SEARCH_PAGE_SIZE)
    offset = decode_skip(call.query("skipToken"))
    found, next_offset = call.store.search(call.param("dir"), call.json(), offset, size)
    embedded = call.flag("includeEmbedded")  # embedded data only when asked (§5)
    result: dict[str, Any] = {"elements": [search_element(c, embedded=embedded) for c in found]}
    if next_offset is not None:
        result["skipToken"] = encode_skip(next_offset)
    return 200, result


def list_contacts(call: Call) -> tuple[int, Any]:
    directory_id = call.param("dir")

    def page_of(after: int | None, count: int) -> list[tuple[int, Any]]:
        return call.store.contacts_page(directory_id, after, count)

    return 200, cursor_paged(call, page_of, list_element, maximum=call.settings.page_size)


def get_contact(call: Call) -> tuple[int, Any]:
    contact = call.store.contact(call.param("dir"), call.param("contact"))
    return 200, contact_detail(contact, call.store.state.lists)


def update_contact(call: Call) -> None:
    call.store.update_contact(call.param("dir"), call.param("contact"), call.json())


def delete_contact(call: Call) -> None:
    call.store.delete_contact(call.param("dir"), call.param("contact"))


def list_members(call: Call) -> tuple[int, Any]:
    directory_id, mailing_list_id = call.param("dir"), call.param("ml")

    def page_of(after: int | None, count: int) -> list[tuple[int, Any]]:
        return call.store.members_page(directory_id, mailing_list_id, after, count)

    def view(contact: Any) -> dict[str, Any]:
        return member_element(contact, mailing_list_id)

    return 200, cursor_paged(call, page_of, view, maximum=min(MEMBER_PAGE, call.settings.page_size))


def get_member(call: Call) -> tuple[int, Any]:
    ml = call.param("ml")
    return 200, member_detail(call.store.member(call.param("dir"), ml, call.param("contact")), ml)


def update_member(call: Call) -> None:
    call.store.update_member(
        call.param("dir"), call.param("ml"), call.param("contact"), call.json()
    )


def remove_member(call: Call) -> None:
    call.store.remove_member(call.param("dir"), call.param("ml"), call.param("contact"))


CONTACTS = DIRS + "/{dir}/contacts"
MEMBERS = DIRS + "/{dir}/mailinglists/{ml}/contacts"
ROUTES = [
    Endpoint("POST", CONTACTS, "contacts", create_contact),
    Endpoint("GET", CONTACTS, "reads", list_contacts),
    Endpoint("POST", CONTACTS + "/search", "search", search),
    Endpoint("GET", CONTACTS + "/{contact}", "reads", get_contact),
    Endpoint("PUT", CONTACTS + "/{contact}", "contacts", update_contact),
    Endpoint("DELETE", CONTACTS + "/{contact}", "contacts", delete_contact),
    Endpoint("GET", MEMBERS, "reads", list_members),
    Endpoint("GET", MEMBERS + "/{contact}", "reads", get_member),
    Endpoint("PUT", MEMBERS + "/{contact}", "contacts", update_member),
    Endpoint("DELETE", MEMBERS + "/{contact}", "contacts", remove_member),
]
