"""Token check, envelopes, whoami, directories and mailing lists (in-process)."""

from __future__ import annotations

import pytest

ENDPOINTS = [
    ("GET", "/API/v3/whoami"),
    ("GET", "/API/v3/directories"),
    ("GET", "/API/v3/directories/"),
    ("GET", "/API/v3/directories/{dir}/mailinglists"),
    ("POST", "/API/v3/directories/{dir}/contacts"),
    ("POST", "/API/v3/directories/{dir}/contacts/search"),
    ("POST", "/API/v3/directories/{dir}/transactions"),
    ("POST", "/inbound-event/v1/events/json/triggers?urlTokenId={wf}"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("token", [None, "", "sbx_wrong"])
def test_every_endpoint_refuses_a_missing_or_wrong_token(make_api, err, method, path, token):
    api = make_api(token=token)
    url = path.format(dir=api.sb.directory_id, wf=api.sb.workflow_url.split("=")[1])
    response = api.request(method, url, json={"email": "a@example.com"})
    assert err(response, 401)["errorCode"]
    assert api.sb.contacts().is_empty() and api.sb.workflow_events().is_empty()
    assert api.sb.requests()["status"].to_list() == [401]


def test_whoami_envelope(api, ok):
    response = api.get("/API/v3/whoami")
    body = response.json()
    assert set(body) == {"result", "meta"}
    assert set(body["meta"]) == {"httpStatus", "requestId"}
    assert body["meta"]["httpStatus"] == "200 - OK"
    who = ok(response)
    assert who["userId"].startswith("UR_") and who["userName"]
    assert who["datacenter"] == "sandbox"
    assert {"brandId", "accountType", "firstName", "lastName", "email"} <= set(who)


def test_request_ids_are_unique(api):
    ids = {api.get("/API/v3/whoami").json()["meta"]["requestId"] for _ in range(3)}
    assert len(ids) == 3


def test_directories_hold_the_three_dedup_settings(api, ok):
    elements = ok(api.get("/API/v3/directories"))["elements"]
    by_name = {d["name"]: d for d in elements}
    assert set(by_name) == {"Customers", "Prospects", "Partners"}
    crit = {
        name: {k for k, v in d["deduplicationCriteria"].items() if v} for name, d in by_name.items()
    }
    assert crit == {
        "Customers": {"email"},
        "Prospects": set(),
        "Partners": {"email", "externalDataReference"},
    }
    assert set(by_name["Customers"]["deduplicationCriteria"]) == {
        "email",
        "firstName",
        "lastName",
        "externalDataReference",
        "phone",
    }
    assert by_name["Customers"]["directoryId"] == api.sb.directory_id
    assert by_name["Prospects"]["directoryId"] == api.sb.plain_directory_id
    assert [d["isDefault"] for d in elements].count(True) == 1
    assert by_name["Customers"]["isDefault"]


def test_directories_trailing_slash_and_contact_count(api, ok):
    api.post(api.contacts(), json={"email": "a@example.com"})
    elements = ok(api.get("/API/v3/directories/"))["elements"]
    counts = {d["directoryId"]: d["contactCount"] for d in elements}
    assert counts[api.sb.directory_id] == 1
    assert counts[api.sb.plain_directory_id] == 0


def test_directories_page_by_page_with_absolute_next_urls(make_api, ok):
    api = make_api(page_size=1)
    names, url = [], "/API/v3/directories"
    while url is not None:
        page = ok(api.get(url))
        assert len(page["elements"]) == 1
        names.append(page["elements"][0]["name"])
        url = page["nextPage"]
        assert url is None or url.startswith(api.sb.base_url + "/API/v3/directories?")
    assert names == ["Customers", "Prospects", "Partners"]


def test_page_size_is_capped_by_the_knob_and_validated(make_api, ok, err):
    api = make_api(page_size=2)
    page = ok(api.get("/API/v3/directories", params={"pageSize": 50}))
    assert len(page["elements"]) == 2 and page["nextPage"]
    page = ok(api.get("/API/v3/directories", params={"pageSize": 1}))
    assert len(page["elements"]) == 1
    err(api.get("/API/v3/directories", params={"pageSize": "zero"}), 400)
    err(api.get("/API/v3/directories", params={"skipToken": "%%%"}), 400)


def test_mailing_lists_of_each_directory(api, ok):
    lists = ok(api.get(f"/API/v3/directories/{api.sb.directory_id}/mailinglists"))
    assert lists["nextPage"] is None
    ids = [ml["mailingListId"] for ml in lists["elements"]]
    assert api.sb.mailing_list_id in ids and all(i.startswith("CG_") for i in ids)
    assert set(lists["elements"][0]) == {
        "mailingListId",
        "name",
        "ownerId",
        "lastModifiedDate",
        "creationDate",
        "contactCount",
    }
    plain = ok(api.get(f"/API/v3/directories/{api.sb.plain_directory_id}/mailinglists"))
    assert [ml["mailingListId"] for ml in plain["elements"]] == [api.sb.plain_mailing_list_id]


def test_mailing_lists_page_with_page_size_1(make_api, ok):
    api = make_api(page_size=1)
    first = ok(api.get(f"/API/v3/directories/{api.sb.directory_id}/mailinglists"))
    second = ok(api.get(first["nextPage"]))
    assert second["nextPage"] is None
    assert first["elements"][0]["mailingListId"] != second["elements"][0]["mailingListId"]


def test_unknown_directory_and_unknown_path_are_404(api, err):
    err(api.get("/API/v3/directories/POOL_nope/mailinglists"), 404)
    err(api.post(api.contacts("POOL_nope"), json={"email": "a@example.com"}), 404)
    err(api.get("/API/v3/nothing-here"), 404)
