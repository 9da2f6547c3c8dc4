"""Conformance: transactions and transaction batches (docs/qualtrics-api.md §8).
Each test's docstring names the section whose fact it checks."""

from __future__ import annotations

import pytest


@pytest.fixture
def contact_id(api, ok):
    return ok(api.post(api.contacts(), json={"email": "t@example.com"}))["id"]


def tx(api, contact_id, **data):
    return {
        "contactId": contact_id,
        "mailingListId": api.sb.mailing_list_id,
        "transactionDate": "2024-05-01 13:45:10",
        "data": data,
    }


def _create(api, ok, contact_id, **data) -> str:
    created = ok(api.post(api.transactions(), json={"k": tx(api, contact_id, **data)}))
    return created["createdTransactions"]["k"]["id"]


def batches(api) -> str:
    return f"/API/v3/directories/{api.sb.directory_id}/transactionbatches"


def test_over_the_per_request_limit_is_a_400_and_nothing_lands(make_api, ok, err):
    """§8: a request refused whole with 400 processed nothing."""
    api = make_api(max_transactions_per_request=3)
    contact = ok(api.post(api.contacts(), json={"email": "l@example.com"}))["id"]
    body = {f"k{i}": tx(api, contact, i=i) for i in range(4)}
    assert "at most 3" in err(api.post(api.transactions(), json=body), 400)["errorMessage"]
    assert api.sb.transactions().is_empty()
    body.pop("k3")
    assert len(ok(api.post(api.transactions(), json=body))["createdTransactions"]) == 3


def test_a_contacts_transactions(api, ok, contact_id):
    """§8: a contact's transactions: transactionId, contactId, mailingListId, date, data."""
    tx_id = _create(api, ok, contact_id, amount=12, paid=True)
    page = ok(api.get(f"{api.contacts()}/{contact_id}/transactions"))
    assert page == {
        "elements": [
            {
                "transactionId": tx_id,
                "contactId": contact_id,
                "mailingListId": api.sb.mailing_list_id,
                "transactionDate": "2024-05-01 13:45:10",
                "data": {"amount": "12", "paid": "true"},
            }
        ],
        "nextPage": None,
    }


def test_a_transaction_by_id_get_update_delete(api, ok, err, contact_id):
    """§8: GET/PUT/DELETE on /transactions/{id}; update and delete answer ``meta`` only."""
    tx_id = _create(api, ok, contact_id, amount=1, sku="A")
    path = f"{api.transactions()}/{tx_id}"
    got = ok(api.get(path))
    assert got["transactionId"] == tx_id and got["data"] == {"amount": "1", "sku": "A"}
    answer = api.put(path, json={"data": {"amount": 2}, "transactionDate": "2024-06-01 00:00:00"})
    assert set(answer.json()) == {"meta"}
    got = ok(api.get(path))
    assert got["data"] == {"amount": "2", "sku": "A"}
    assert got["transactionDate"] == "2024-06-01 00:00:00"
    err(api.put(path, json={"transactionDate": "June 1"}), 400)
    assert set(api.delete(path).json()) == {"meta"}
    err(api.get(path), 404)
    assert api.sb.transactions().is_empty()


def test_batch_create_list_add_and_list_transactions(api, ok, contact_id):
    """§8: batches: create → {id}; list {batchId, creationDate}; add and list transactions."""
    first, second = _create(api, ok, contact_id), _create(api, ok, contact_id)
    created = ok(
        api.post(
            batches(api), json={"transactionIds": [first], "creationDate": "2019-08-24T14:15:22Z"}
        )
    )
    batch_id = created["id"]
    assert set(created) == {"id"} and batch_id.startswith("BT_")
    listed = ok(api.get(batches(api)))["elements"]
    assert listed == [{"batchId": batch_id, "creationDate": "2019-08-24T14:15:22Z"}]
    answer = api.post(f"{batches(api)}/{batch_id}/transactions", json={"transactionIds": [second]})
    assert answer.status_code == 200 and set(answer.json()) == {"meta"}
    held = ok(api.get(f"{batches(api)}/{batch_id}/transactions"))["elements"]
    assert [t["transactionId"] for t in held] == [first, second]


def test_batch_creation_date_is_24_hour_utc(api, ok, err):
    """§8: creationDate is read as 24-hour UTC; AM/PM or zones are an error."""
    for bad in ("2019-08-24 02:15:22 PM", "2019-08-24T14:15:22+02:00", "24/08/2019"):
        err(api.post(batches(api), json={"creationDate": bad}), 400)
    assert ok(api.post(batches(api), json={}))["id"].startswith("BT_")


def test_batch_of_an_unknown_transaction_is_refused(api, err):
    """§8 (reading in §12): a batch naming no real transaction creates nothing."""
    err(api.post(batches(api), json={"transactionIds": ["TR_nope"]}), 404)
    assert api.get(batches(api)).json()["result"]["elements"] == []


def test_a_transaction_or_batch_is_found_only_in_its_own_directory(api, ok, err, contact_id):
    """§8: a transaction or batch id under another directory (or unknown) is a 404."""
    tx_id = _create(api, ok, contact_id, amount=1)
    batch_id = ok(api.post(batches(api), json={"transactionIds": [tx_id]}))["id"]
    other = f"/API/v3/directories/{api.sb.plain_directory_id}"
    assert ok(api.get(f"{api.transactions()}/{tx_id}"))["transactionId"] == tx_id
    gone = err(api.get(f"{other}/transactions/{tx_id}"), 404)
    assert gone["errorMessage"] == f"Transaction not found in {api.sb.plain_directory_id}: {tx_id}."
    ok(api.get(f"{batches(api)}/{batch_id}"))
    gone = err(api.get(f"{other}/transactionbatches/{batch_id}"), 404)
    assert gone["errorMessage"] == (
        f"Transaction batch not found in {api.sb.plain_directory_id}: {batch_id}."
    )
    assert err(api.get(f"{batches(api)}/BT_nope"), 404)["errorCode"] == "RCE_1"
