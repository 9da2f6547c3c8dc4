"""Conformance: paging a directory's and a mailing list's contacts (docs/qualtrics-api.md
§3, §5, §7), with a cursor ``skipToken`` so that a page costs the same at any size."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from qxframe._sandbox import _ep_contacts


def _fill(api, count: int, *, in_list: bool) -> list[str]:
    """``count`` contacts put straight into the store (no HTTP): their ids, in order."""
    store, sb = api.sb._store, api.sb
    ml = sb.mailing_list_id if in_list else None
    return [
        store.upsert_contact(sb.directory_id, {"email": f"p{n}@example.com"}, mailing_list_id=ml)
        for n in range(count)
    ]


def _walk(api, ok, url: str, **params) -> list[list[str]]:
    """Follow ``nextPage`` (a URL or a bare token) to the end: each page's contact ids."""
    pages, query = [], dict(params)
    while True:
        result = ok(api.get(url, params=query))
        pages.append([e["contactId"] for e in result["elements"]])
        link = result["nextPage"]
        if link is None:
            return pages
        if link.startswith("http"):
            parts = urlsplit(link)
            url, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
        else:
            query = {**params, "skipToken": link}


@pytest.mark.parametrize("form", ["url", "token"])
def test_members_come_50_a_page_in_either_next_page_form(make_api, ok, form):
    """§7: at most 50 a page (a bigger pageSize is capped); every member once, in order."""
    api = make_api(next_page=form)
    ids = _fill(api, 120, in_list=True)
    pages = _walk(api, ok, api.members(), pageSize="100")
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [c for p in pages for c in p] == ids


@pytest.mark.parametrize("form", ["url", "token"])
def test_directory_contacts_come_100_a_page_in_either_form(make_api, ok, form):
    """§5: directory contacts default to 100 a page; a page of exactly the rest ends it."""
    api = make_api(next_page=form)
    ids = _fill(api, 200, in_list=False)
    pages = _walk(api, ok, api.contacts())
    assert [len(p) for p in pages] == [100, 100]
    assert [c for p in pages for c in p] == ids


def test_a_cursor_survives_removals_before_it(api, ok):
    """Removing members already read neither skips nor repeats a member on later pages."""
    ids = _fill(api, 10, in_list=True)
    first = ok(api.get(api.members(), params={"pageSize": "4"}))
    for contact_id in ids[:3]:
        api.delete(f"{api.members()}/{contact_id}")
    rest = _walk(api, ok, urlsplit(first["nextPage"]).path, **_query(first["nextPage"]))
    assert [c for p in rest for c in p] == ids[4:]


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_a_page_shapes_only_its_own_members(api, ok, monkeypatch):
    """A page reads and shapes its 50 members (and looks one ahead), not the whole list."""
    _fill(api, 2_000, in_list=True)
    shaped: list[str] = []
    real = _ep_contacts.member_element

    def counting(contact, mailing_list_id):
        shaped.append(contact.contact_id)
        return real(contact, mailing_list_id)

    monkeypatch.setattr(_ep_contacts, "member_element", counting)
    last = ok(api.get(api.members(), params={"skipToken": _token_before_last(api)}))
    assert len(last["elements"]) == 50 and len(shaped) == 50 and last["nextPage"] is None


def _token_before_last(api) -> str:
    """The cursor of the 1,950th member: the last page's ``skipToken``."""
    from qxframe._sandbox._rules import encode_cursor

    store = api.sb._store
    members = store.state.contacts.of_list(api.sb.mailing_list_id)
    key, _ = members.after(None, 1_950)[-1]
    return encode_cursor(key)


def test_member_unsubscribed_is_the_lists_flag(api, ok):
    """§7, §12: a member element's ``unsubscribed`` is the list's flag, not the directory's."""
    (contact_id,) = _fill(api, 1, in_list=True)
    api.put(f"{api.members()}/{contact_id}", json={"unsubscribed": True})
    (element,) = ok(api.get(api.members()))["elements"]
    assert element["unsubscribed"] is True
    (listed,) = ok(api.get(api.contacts()))["elements"]
    assert listed["unsubscribed"] is False


def test_a_skip_token_not_handed_out_is_a_400(api, err):
    """A made-up ``skipToken`` is refused, not read as the first page."""
    err(api.get(api.members(), params={"skipToken": "bm90LWEtY3Vyc29y"}), 400)


def test_include_count_counts_members_from_the_index(api, ok):
    """§6: ``includeCount=true`` counts the list's members (after a removal, too)."""
    ids = _fill(api, 7, in_list=True)
    api.delete(f"{api.members()}/{ids[0]}")
    lists = ok(api.get(api.lists(), params={"includeCount": "true"}))["elements"]
    counts = {ml["mailingListId"]: ml["contactCount"] for ml in lists}
    assert counts[api.sb.mailing_list_id] == 6
