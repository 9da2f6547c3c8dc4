"""Conformance: paging, who-am-I, directories and mailing lists (docs/qualtrics-api.md
§3, §4, §6). Each test's docstring names the section whose fact it checks."""

from __future__ import annotations

import datetime as dt

import pytest


def test_directories_come_five_a_page_even_when_asked_for_more(make_api, ok):
    """§3: List directories gives at most 5 a page ("max and default is 5")."""
    api = make_api(extra_directories=4)
    first = ok(api.get("/API/v3/directories", params={"pageSize": 100}))
    assert len(first["elements"]) == 5 and first["nextPage"]
    second = ok(api.get(first["nextPage"]))
    assert len(second["elements"]) == 2 and second["nextPage"] is None
    names = [d["name"] for d in first["elements"] + second["elements"]]
    assert len(set(names)) == 7


def test_next_page_as_a_url_keeps_the_query(make_api, ok):
    """§3: ``nextPage`` as a full URL on the server's origin, with ``skipToken``."""
    api = make_api(extra_directories=4, next_page="url")
    link = ok(api.get("/API/v3/directories/"))["nextPage"]
    assert link.startswith(api.sb.base_url + "/API/v3/directories?") and "skipToken=" in link


def test_next_page_as_a_bare_token_is_sent_back_as_skip_token(make_api, ok):
    """§3: ``nextPage`` as a bare token, sent back as ``skipToken`` on the same path."""
    api = make_api(extra_directories=4, next_page="token")
    token = ok(api.get("/API/v3/directories"))["nextPage"]
    assert "/" not in token and "?" not in token
    rest = ok(api.get("/API/v3/directories", params={"skipToken": token}))
    assert len(rest["elements"]) == 2 and rest["nextPage"] is None


def test_lists_default_to_100_a_page_and_validate_page_size(make_api, ok, err):
    """§3: pages default to 100; a bad ``pageSize`` or foreign ``skipToken`` is a 400."""
    api = make_api()
    for i in range(101):
        api.post(api.contacts(api.sb.plain_directory_id), json={"extRef": f"x{i}"})
    page = ok(api.get(api.contacts(api.sb.plain_directory_id)))
    assert len(page["elements"]) == 100 and page["nextPage"]
    err(api.get(api.contacts(), params={"pageSize": "0"}), 400)
    err(api.get(api.contacts(), params={"skipToken": "%%%"}), 400)
    assert ok(api.get(api.contacts(), params={"useNewPaginationScheme": "true"}))


def test_mailing_list_members_come_at_most_fifty_a_page(api, ok):
    """§3, §7: "The maximum value for pageSize is 50" on mailing-list contacts."""
    for i in range(55):
        api.member({"email": f"m{i}@example.com"})
    first = ok(api.get(api.members(), params={"pageSize": 100}))
    assert len(first["elements"]) == 50
    second = ok(api.get(first["nextPage"]))
    assert len(second["elements"]) == 5 and second["nextPage"] is None


def test_search_pages_by_skip_token_not_next_page(api, ok):
    """§3: search answers ``result.skipToken`` while more remain, never ``nextPage``."""
    for i in range(3):
        api.post(api.contacts(api.sb.plain_directory_id), json={"extRef": "same", "phone": str(i)})
    flt = {"filter": {"filterType": "extRef", "comparison": "eq", "value": "same"}}
    path = api.search(api.sb.plain_directory_id)
    first = ok(api.post(path, json=flt, params={"pageSize": 2}))
    assert len(first["elements"]) == 2 and "nextPage" not in first
    rest = ok(api.post(path, json=flt, params={"pageSize": 2, "skipToken": first["skipToken"]}))
    assert len(rest["elements"]) == 1 and "skipToken" not in rest


def test_whoami_shape(api, ok):
    """§4: whoami answers userName, userId (UR_), brandId, datacenter and the rest."""
    who = ok(api.get("/API/v3/whoami"))
    assert set(who) == {
        "brandId",
        "userId",
        "userName",
        "accountType",
        "firstName",
        "lastName",
        "email",
        "datacenter",
    }
    assert who["userId"].startswith("UR_")


def test_directory_elements_shape(api, ok):
    """§4: directories carry contactCount, isDefault and the five deduplication flags."""
    element = ok(api.get("/API/v3/directories"))["elements"][0]
    assert set(element) == {
        "directoryId",
        "name",
        "contactCount",
        "isDefault",
        "deduplicationCriteria",
    }
    assert set(element["deduplicationCriteria"]) == {
        "email",
        "firstName",
        "lastName",
        "externalDataReference",
        "phone",
    }
    assert all(isinstance(v, bool) for v in element["deduplicationCriteria"].values())


def _partners(api, ok) -> str:
    elements = ok(api.get("/API/v3/directories"))["elements"]
    return next(d["directoryId"] for d in elements if d["name"] == "Partners")


def test_deduplication_needs_every_selected_field_to_match(api, ok):
    """§4: a create merges only when all selected fields match, ignoring case."""
    partners = _partners(api, ok)
    first = ok(api.post(api.contacts(partners), json={"extRef": "P1", "email": "p@x.com"}))["id"]
    same = ok(api.post(api.contacts(partners), json={"extRef": "p1", "email": "P@X.COM"}))["id"]
    other = ok(api.post(api.contacts(partners), json={"extRef": "P1", "email": "q@x.com"}))["id"]
    assert same == first and other != first


def test_deduplication_applies_when_a_contact_joins_a_list(api, ok):
    """§4, §7: the list path creates through the same rule (merge, then join the list)."""
    directory_contact = ok(api.post(api.contacts(), json={"email": "Join@Example.com"}))["id"]
    member_id, _ = api.member({"email": "join@example.com", "firstName": "J"})
    assert member_id == directory_contact and api.sb.contacts().height == 1


def test_mailing_list_shape_with_epoch_millisecond_dates(api, ok):
    """§6: mailing lists carry mailingListId, name, ownerId, contactCount and epoch-ms dates."""
    element = ok(api.get(api.lists()))["elements"][0]
    assert set(element) == {
        "mailingListId",
        "name",
        "ownerId",
        "contactCount",
        "creationDate",
        "lastModifiedDate",
    }
    for key in ("creationDate", "lastModifiedDate"):
        assert isinstance(element[key], int)
        assert dt.datetime.fromtimestamp(element[key] / 1000, dt.UTC).year == 2024


def test_contact_count_is_zero_unless_include_count(api, ok):
    """§6: ``contactCount`` is 0 unless ``includeCount=true`` is asked."""
    api.member({"email": "c1@example.com"})
    api.member({"email": "c2@example.com"})

    def count(**params) -> int:
        lists = ok(api.get(api.lists(), params=params))["elements"]
        return next(
            m["contactCount"] for m in lists if m["mailingListId"] == api.sb.mailing_list_id
        )

    assert count() == 0
    assert count(includeCount="true") == 2
    one = ok(api.get(f"{api.lists()}/{api.sb.mailing_list_id}", params={"includeCount": "true"}))
    assert one["contactCount"] == 2


def test_mailing_list_create_get_update_delete(api, ok, err):
    """§6: create answers ``{id: CG_…}``; update and delete answer ``meta`` only."""
    created = ok(api.post(api.lists(), json={"name": "VIP"}))
    list_id = created["id"]
    assert set(created) == {"id"} and list_id.startswith("CG_")
    path = f"{api.lists()}/{list_id}"
    assert ok(api.get(path))["name"] == "VIP"
    assert set(api.put(path, json={"name": "Gold"}).json()) == {"meta"}
    got = ok(api.get(path))
    assert got["name"] == "Gold" and got["lastModifiedDate"] >= got["creationDate"]
    assert set(api.delete(path).json()) == {"meta"}
    err(api.get(path), 404)
    err(api.post(api.lists(), json={}), 400)


@pytest.mark.parametrize("form", ["url", "token"])
def test_mailing_lists_page_in_both_forms(make_api, ok, form):
    """§3, §6: the mailing-list list pages like any list."""
    api = make_api(page_size=1, next_page=form)
    first = ok(api.get(api.lists()))
    link = first["nextPage"]
    second = ok(
        api.get(link) if form == "url" else api.get(api.lists(), params={"skipToken": link})
    )
    assert second["nextPage"] is None
    assert first["elements"][0]["mailingListId"] != second["elements"][0]["mailingListId"]


def test_reset_brings_back_the_seeded_lists(api, ok):
    """§6: lists made or removed in a test do not outlive ``sb.reset()``."""
    ok(api.post(api.lists(), json={"name": "Temp"}))
    api.delete(f"{api.lists()}/{api.sb.mailing_list_id}")
    api.sb.reset()
    ids = [m["mailingListId"] for m in ok(api.get(api.lists()))["elements"]]
    assert api.sb.mailing_list_id in ids and len(ids) == 2
