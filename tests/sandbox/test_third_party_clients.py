"""Other people's Qualtrics clients, replayed with raw httpx over a real loopback socket.

Each test sends exactly what a client written against the real API sends — its paths,
slashes, headers, paging parameters — as docs/qualtrics-api.md describes them (the
clients are named in its Sources: Segment's destination, ``qualtrics-helper``,
``QualtricsAPI``, ``qualtRics``), and reads the answer the way that client reads it.
Nothing here uses qxframe's own client.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from qxframe._sandbox import sandbox


@pytest.fixture(scope="module")
def running():
    with sandbox(extra_directories=4) as sb:
        yield sb


@pytest.fixture
def sb(running):
    running.reset()
    return running


@pytest.fixture
def http(sb):
    """What these clients send on every call: the token header and JSON content type."""
    headers = {"X-API-TOKEN": sb.api_token, "Content-Type": "application/json"}
    with httpx.Client(headers=headers, timeout=5, follow_redirects=False) as client:
        yield client


def result(response: httpx.Response):
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_segment_lists_directories_with_a_trailing_slash(sb, http):
    """§2, §4: Segment's directory picker calls ``GET /API/v3/directories/``."""
    page = result(http.get(f"{sb.base_url}/API/v3/directories/"))
    labels = {d["name"]: d["directoryId"] for d in page["elements"]}
    assert labels["Customers"] == sb.directory_id
    who = result(http.get(f"{sb.base_url}/API/v3/whoami"))
    assert who["userName"] is not None  # Segment's testAuthentication


def test_qualtrics_helper_sends_a_trailing_slash_on_every_call(sb, http):
    """§2: ``qualtrics-helper`` calls ``whoami/``, ``contacts/search/``, ``transactions/``."""
    base = f"{sb.base_url}/API/v3/directories/{sb.directory_id}"
    assert result(http.get(f"{sb.base_url}/API/v3/whoami/"))["userId"]
    contact = result(http.post(f"{base}/contacts/", json={"email": "h@example.com"}))["id"]
    flt = {"filter": {"filterType": "email", "comparison": "eq", "value": "H@example.com"}}
    found = result(http.post(f"{base}/contacts/search/", json=flt))
    assert [e["id"] for e in found["elements"]] == [contact]
    body = {
        "usrTx": {
            "contactId": contact,
            "mailingListId": sb.mailing_list_id,
            "transactionDate": "2024-01-01 10:00:00",
            "data": {"k": "v"},
        }
    }
    created = result(http.post(f"{base}/transactions/", json=body))
    assert set(created["createdTransactions"]) == {"usrTx"}
    assert created["unprocessedTransactions"] == {}
    assert sb.requests()["path"].str.ends_with("/").all()


def test_qualtrics_api_sends_a_doubled_slash_and_asserts_a_40_character_token(sb, http):
    """§1, §2: ``QualtricsAPI`` asserts ``len(token) == 40`` and calls
    ``/directories/POOL_x//contacts``."""
    assert len(sb.api_token) == 40
    url = f"{sb.base_url}/API/v3/directories/{sb.directory_id}//contacts"
    contact = result(http.post(url, json={"email": "d@example.com", "extRef": "d1"}))["id"]
    listed = result(http.get(url))["elements"]
    assert [(c["contactId"], c["extRef"]) for c in listed] == [(contact, "d1")]


def test_qualtrics_api_reads_mailing_list_dates_as_epoch_milliseconds(sb, http):
    """§6: ``QualtricsAPI`` parses creationDate/lastModifiedDate with ``unit="ms"``."""
    lists = result(http.get(f"{sb.base_url}/API/v3/directories/{sb.directory_id}/mailinglists/"))
    for ml in lists["elements"]:
        created = dt.datetime.fromtimestamp(ml["creationDate"] / 1000, dt.UTC)
        modified = dt.datetime.fromtimestamp(ml["lastModifiedDate"] / 1000, dt.UTC)
        assert dt.datetime(2000, 1, 1, tzinfo=dt.UTC) < created <= modified


def test_a_client_follows_next_page_urls_to_the_end(sb, http):
    """§3: follow ``nextPage`` until null; directories come 5 a page."""
    url: str | None = f"{sb.base_url}/API/v3/directories"
    pages: list[int] = []
    while url:
        page = result(http.get(url))
        pages.append(len(page["elements"]))
        url = page["nextPage"]
    assert pages == [5, 2]


def test_a_client_pages_contacts_with_page_size_and_skip_token(sb, http):
    """§3: ``pageSize`` and ``skipToken`` on directory contacts, until ``nextPage`` is null."""
    base = f"{sb.base_url}/API/v3/directories/{sb.plain_directory_id}/contacts"
    for i in range(7):
        result(http.post(base, json={"extRef": f"p{i}"}))
    seen: list[str] = []
    params: dict[str, str] = {"pageSize": "3"}
    while True:
        page = result(http.get(base + "/", params=params))
        seen += [c["extRef"] for c in page["elements"]]
        if not page["nextPage"]:
            break
        params["skipToken"] = httpx.URL(page["nextPage"]).params["skipToken"]
    assert seen == [f"p{i}" for i in range(7)]


def test_a_client_pages_a_search_by_skip_token(sb, http):
    """§3: search pages by ``result.skipToken`` with ``pageSize`` in the query."""
    base = f"{sb.base_url}/API/v3/directories/{sb.plain_directory_id}/contacts"
    for i in range(5):
        result(http.post(base, json={"extRef": "dup", "phone": str(i)}))
    flt = {"filter": {"filterType": "extRef", "comparison": "eq", "value": "DUP"}}
    found, token = [], None
    while True:
        params = {"pageSize": "2", **({"skipToken": token} if token else {})}
        page = result(http.post(f"{base}/search/", json=flt, params=params))
        found += page["elements"]
        token = page.get("skipToken")
        if not token:
            break
    assert sorted(e["phoneNumber"] for e in found) == ["0", "1", "2", "3", "4"]


def test_a_client_reads_a_contact_then_its_transactions(sb, http):
    """§5, §8: get a contact by id, then its transactions (the TAP stream's path)."""
    base = f"{sb.base_url}/API/v3/directories/{sb.directory_id}"
    contact = result(http.post(f"{base}/contacts", json={"email": "r@example.com"}))["id"]
    tx = {
        "contactId": contact,
        "mailingListId": sb.mailing_list_id,
        "transactionDate": "2024-01-01 10:00:00",
        "data": {"n": 1},
    }
    result(http.post(f"{base}/transactions", json={"a": tx}))
    got = result(http.get(f"{base}/contacts/{contact}/"))
    assert got["contactId"] == contact and isinstance(got["creationDate"], int)
    txs = result(http.get(f"{base}//contacts/{contact}/transactions/"))["elements"]
    assert [t["data"] for t in txs] == [{"n": "1"}]


def test_an_old_client_on_the_retired_mailing_list_api_is_told_why(sb, http):
    """§2: ``qualtRics`` once called ``GET /API/v3/mailinglists/``; it was retired."""
    response = http.get(f"{sb.base_url}/API/v3/mailinglists/")
    assert response.status_code == 404
    assert "retired" in response.json()["meta"]["error"]["errorMessage"]
