"""Contact search: single filters, conjunctions, neq, case, paging, errors (in-process)."""

from __future__ import annotations

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
        {"filter": eq("created", "2024-01-01")},
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
