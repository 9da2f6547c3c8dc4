"""The sandbox over a real loopback socket: plain httpx against ``sandbox()``."""

from __future__ import annotations

import datetime as dt
import socket
import threading

import httpx
import pytest

from qxframe._sandbox import Sandbox, sandbox


@pytest.fixture(scope="module")
def sb():
    with sandbox(page_size=1) as running:
        yield running


@pytest.fixture
def http(sb):
    sb.reset()
    with httpx.Client(
        base_url=sb.base_url, headers={"X-API-TOKEN": sb.api_token}, timeout=5
    ) as client:
        yield client


def test_base_url_is_loopback_with_a_real_port(sb):
    assert sb.base_url.startswith("http://127.0.0.1:")
    assert int(sb.base_url.rsplit(":", 1)[1]) > 0
    assert sb.workflow_url.startswith(sb.base_url + "/inbound-event/")


def test_token_check_over_the_wire(sb, err):
    err(httpx.get(sb.base_url + "/API/v3/whoami"), 401)
    err(httpx.get(sb.base_url + "/API/v3/whoami", headers={"X-API-TOKEN": "x"}), 401)


def test_paging_follows_absolute_next_page_urls(http, ok):
    names, url = [], "/API/v3/directories/"
    while url:
        page = ok(http.get(url))
        names += [d["name"] for d in page["elements"]]
        url = page["nextPage"]
    assert names == ["Customers", "Prospects", "Partners"]


def test_contact_search_transaction_and_workflow_round_trip(sb, http, ok):
    contacts = f"/API/v3/directories/{sb.directory_id}/contacts"
    cid = ok(http.post(contacts, json={"email": "Ada@Example.com", "extRef": "u1"}))["id"]
    found = ok(
        http.post(
            contacts + "/search",
            json={
                "filter": {"filterType": "email", "comparison": "eq", "value": "ada@example.com"}
            },
        )
    )
    assert [e["id"] for e in found["elements"]] == [cid]
    body = {
        "k": {
            "contactId": cid,
            "mailingListId": sb.mailing_list_id,
            "transactionDate": "2024-01-01 00:00:00",
            "data": {"a": 1},
        }
    }
    created = ok(http.post(f"/API/v3/directories/{sb.directory_id}/transactions", json=body))
    assert set(created["createdTransactions"]) == {"k"}
    assert http.post(sb.workflow_url, json={"hello": "world"}).status_code == 202
    assert sb.contacts().height == sb.transactions().height == sb.workflow_events().height == 1
    assert sb.requests()["status"].to_list() == [200, 200, 200, 202]


def test_after_commit_failure_over_the_wire(sb, http, err):
    sb.fail_next("contacts", after_commit=True)
    err(
        http.post(
            f"/API/v3/directories/{sb.plain_directory_id}/contacts", json={"extRef": "landed"}
        ),
        500,
    )
    assert sb.contacts()["ext_ref"].to_list() == ["landed"]


def test_concurrent_writes_from_threads_all_land(sb, http):
    path = f"/API/v3/directories/{sb.plain_directory_id}/contacts"
    statuses: list[int] = []

    def worker(i: int) -> None:
        for j in range(5):
            statuses.append(http.post(path, json={"extRef": f"{i}-{j}"}).status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert statuses == [200] * 20
    assert sb.contacts()["ext_ref"].n_unique() == 20
    assert sb.requests()["seq"].to_list() == list(range(20))


def test_latency_over_the_wire_does_not_serialise_requests():
    """Four requests fired together all reach the server before the first answer leaves it:
    read from the order of events, not from a stopwatch, so a loaded machine cannot fail it."""
    with sandbox(latency=0.5) as slow:
        url, headers = slow.base_url + "/API/v3/whoami", {"X-API-TOKEN": slow.api_token}
        together = threading.Barrier(4)
        codes: list[int] = []
        answered: list[dt.datetime] = []

        def call() -> None:
            together.wait(5)
            codes.append(httpx.get(url, headers=headers, timeout=10).status_code)
            answered.append(dt.datetime.now(dt.UTC))

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        assert codes == [200] * 4
        received = slow.requests()["received_at"].to_list()
        assert len(received) == 4
        assert max(received) < min(answered)


def test_stop_releases_the_port_and_start_stop_are_explicit():
    sb = Sandbox()
    assert not sb.running and sb.base_url == "http://localhost"
    sb.start()
    try:
        assert sb.running
        port = int(sb.base_url.rsplit(":", 1)[1])
        with pytest.raises(RuntimeError):
            sb.start()
    finally:
        sb.stop()
    assert not sb.running
    with socket.create_server(("127.0.0.1", port)):
        pass  # the port is free again
    with sb:  # a stopped sandbox can be started again
        assert (
            httpx.get(
                sb.base_url + "/API/v3/whoami", headers={"X-API-TOKEN": sb.api_token}
            ).status_code
            == 200
        )
