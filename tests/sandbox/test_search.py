"""Contact search: single filters, conjunctions, neq, case, paging, errors (in-process)."""

from __future__ import annotations

import datetime as dt

import pytest


def eq(ftype: str, value: str, comparison: str = "eq") -> dict[str, str]:
    return {"filterType": ftype, "comparison": comparison, "value": value}


def both(*filters: dict[str, str]) -> dict:
    return {"filter": {"conjunction": "and", "filters": list(filters)}}


@pytest.fixture
def people(api, ok):
    """Three contacts in the plain directory (so nothing merges) and one elsewhere."""
    path = api.contacts(api.sb.plain_directory_id)
    for body in (
        {"extRef": "u1", "email": "Ada@Example.com", "phone": "111", "firstName": "Ada"},
        {"extRef": "u2", "email": "bob@example.com", "phone": "222", "language": "EN"},
        {"extRef": "u3", "email": "ada@example.com", "phone": "333"},
    ):
        ok(api.post(path, json=body))
    ok(api.post(api.contacts(), json={"extRef": "u1", "email": "ada@example.com"}))
    return api


def search(api, ok, body, **params):
    return ok(api.post(api.search(api.sb.plain_directory_id), json=body, params=params))


def test_single_filter_is_case_insensitive_and_trimmed(people, ok):
    found = search(people, ok, {"filter": eq("email", "  ADA@example.COM ")})
    assert [e["externalDataReference"] for e in found["elements"]] == ["u1", "u3"]
    assert "skipToken" not in found


READ_NAMES = {
    "id",
    "firstName",
    "lastName",
    "email",
    "phoneNumber",
    "externalDataReference",
    "language",
    "unsubscribed",
    "creationDate",
    "lastModified",
}


def test_elements_use_read_field_names(people, ok):
    element = search(people, ok, {"filter": eq("extRef", "u1")})["elements"][0]
    assert set(element) == READ_NAMES
    assert element["phoneNumber"] == "111" and element["id"].startswith("CID_")


@pytest.mark.parametrize(("flag", "embedded"), [("true", True), ("TRUE", True), ("false", False)])
def test_embedded_data_only_when_include_embedded_asks(people, ok, flag, embedded):
    """§5: ``includeEmbedded=true`` adds ``embeddedData``; without it there is none."""
    people.post(
        people.contacts(people.sb.plain_directory_id),
        json={"extRef": "e1", "embeddedData": {"region": "north", "n": 2}},
    )
    found = search(people, ok, {"filter": eq("extRef", "e1")}, includeEmbedded=flag)
    (element,) = found["elements"]
    if embedded:
        assert set(element) == READ_NAMES | {"embeddedData"}
        assert element["embeddedData"] == {"region": "north", "n": "2"}
    else:
        assert set(element) == READ_NAMES


def test_conjunction_ands_its_filters(people, ok):
    found = search(
        people, ok, both(eq("extRef", "U3"), eq("phone", "333"), eq("email", "ada@example.com"))
    )
    assert [e["externalDataReference"] for e in found["elements"]] == ["u3"]
    assert search(people, ok, both(eq("extRef", "u1"), eq("phone", "333")))["elements"] == []


def test_neq(people, ok):
    found = search(people, ok, {"filter": eq("email", "ADA@example.com", "neq")})
    assert [e["externalDataReference"] for e in found["elements"]] == ["u2"]
    found = search(
        people, ok, both(eq("email", "bob@example.com", "neq"), eq("phone", "111", "neq"))
    )
    assert [e["externalDataReference"] for e in found["elements"]] == ["u3"]


def test_search_is_limited_to_its_directory(people, ok):
    found = people.post(people.search(), json={"filter": eq("extRef", "u1")})
    assert len(ok(found)["elements"]) == 1


def test_paging_with_skip_token(people, ok):
    body = {"filter": eq("extRef", "nobody", "neq")}
    seen, token = [], None
    for _ in range(5):
        params = {"pageSize": 1} | ({"skipToken": token} if token else {})
        page = search(people, ok, body, **params)
        seen += [e["externalDataReference"] for e in page["elements"]]
        token = page.get("skipToken")
        if token is None:
            break
    assert seen == ["u1", "u2", "u3"]
    page = search(people, ok, body, pageSize=2)
    assert len(page["elements"]) == 2 and page["skipToken"]


@pytest.mark.parametrize(
    "body",
    [
        both(*[eq("email", f"{i}@example.com") for i in range(6)]),
        both(eq("email", "a@example.com")),
        {"filter": {"conjunction": "or", "filters": [eq("email", "a"), eq("phone", "1")]}},
        {"filter": eq("created", "01/02/2024")},
        {"filter": eq("created", "2024-01-01", "contains")},
        {"filter": eq("lastModified", "2024-02-30")},
        {"filter": {"filterType": "inList", "comparison": "eq", "mailingListId": "CG_1"}},
        {"filter": {"filterType": "inList", "comparison": True, "value": "CG_1"}},
        {"filter": {"filterType": "infoFieldState", "comparison": "empty", "field": "phone"}},
        {"filter": {"filterType": "infoFieldState", "comparison": "blank", "field": "email"}},
        {"filter": eq("unsubscribed", "true")},
        {"filter": eq("email", "a@example.com", "contains")},
        {"filter": {"filterType": "email", "comparison": "eq"}},
        {"filter": eq("email", 5)},
        {"query": "a"},
        [],
    ],
)
def test_bad_filters_are_400(people, err, body):
    err(people.post(people.search(people.sb.plain_directory_id), json=body), 400)


def test_five_filters_are_fine(people, ok):
    body = both(
        eq("extRef", "u2"),
        eq("phone", "222"),
        eq("email", "bob@example.com"),
        eq("language", "en"),
        eq("firstName", "x", "neq"),
    )
    assert len(search(people, ok, body)["elements"]) == 1


def test_unknown_directory_is_404(api, err):
    err(api.post(api.search("POOL_nope"), json={"filter": eq("email", "a")}), 404)


def test_an_exactly_full_page_carries_a_skip_token_and_the_next_is_empty(people, ok):
    """§5: a full last page still carries a skipToken; the next call returns no elements."""
    body = {"filter": eq("firstName", "nobody", "neq")}
    full = search(people, ok, body, pageSize=3)
    assert len(full["elements"]) == 3 and full["skipToken"]
    after = search(people, ok, body, pageSize=3, skipToken=full["skipToken"])
    assert after["elements"] == [] and "skipToken" not in after


def test_in_list_filter(people, ok):
    """§5: ``inList`` takes a boolean comparison and a ``mailingListId`` instead of a value."""
    sb = people.sb
    ok(
        people.post(
            people.members(sb.plain_mailing_list_id).replace(
                sb.directory_id, sb.plain_directory_id
            ),
            json={"extRef": "u4", "email": "dee@example.com"},
        )
    )
    member = {"filterType": "inList", "comparison": True, "mailingListId": sb.plain_mailing_list_id}
    found = search(people, ok, {"filter": member})
    assert [e["externalDataReference"] for e in found["elements"]] == ["u4"]
    others = search(people, ok, {"filter": member | {"comparison": False}})
    assert [e["externalDataReference"] for e in others["elements"]] == ["u1", "u2", "u3"]


def test_info_field_state_filter(people, ok):
    """§5: ``infoFieldState`` is ``empty`` or ``notEmpty`` on a ``field``."""
    state = {"filterType": "infoFieldState", "comparison": "empty", "field": "firstName"}
    found = search(people, ok, {"filter": state})
    assert [e["externalDataReference"] for e in found["elements"]] == ["u2", "u3"]
    found = search(people, ok, both(state | {"comparison": "notEmpty"}, eq("extRef", "u1")))
    assert [e["externalDataReference"] for e in found["elements"]] == ["u1"]


def test_created_and_last_modified_filters(people, ok):
    """§5: ``created`` and ``lastModified`` compare by day (yyyy-MM-dd) or by second."""
    contacts = people.sb._store.state.contacts
    by_ref = {
        c.fields["extRef"]: c
        for c in contacts.all
        if c.directory_id == people.sb.plain_directory_id
    }
    for ref, day in (("u1", 1), ("u2", 2), ("u3", 3)):
        by_ref[ref].created_at = dt.datetime(2024, 1, day, 12, 30, tzinfo=dt.UTC)
        by_ref[ref].modified_at = dt.datetime(2024, 2, day, 8, 0, tzinfo=dt.UTC)

    def refs(flt: dict) -> list[str]:
        return [e["externalDataReference"] for e in search(people, ok, {"filter": flt})["elements"]]

    assert refs(eq("created", "2024-01-02")) == ["u2"]
    assert refs(eq("created", "2024-01-02", "gte")) == ["u2", "u3"]
    assert refs(eq("created", "2024-01-02", "lt")) == ["u1"]
    assert refs(eq("created", "2024-01-02 12:30:00", "gt")) == ["u3"]
    assert refs(eq("created", "2024-01-02", "neq")) == ["u1", "u3"]
    assert refs(eq("lastModified", "2024-02-03 08:00:00", "lte")) == ["u1", "u2", "u3"]
    assert refs(eq("lastModified", "2024-02-01", "gt")) == ["u2", "u3"]
