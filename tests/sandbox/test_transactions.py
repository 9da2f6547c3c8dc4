"""Transactions: created vs unprocessed per key, body limits (in-process)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def contact_id(api, ok) -> str:
    return ok(api.post(api.contacts(), json={"email": "ada@example.com"}))["id"]


def tx(api, contact_id, **over):
    return {
        "contactId": contact_id,
        "mailingListId": api.sb.mailing_list_id,
        "transactionDate": "2024-05-01 13:45:10",
        "data": {"sku": "A1", "qty": 2},
    } | over


def test_created_and_unprocessed_per_key(api, ok, contact_id):
    plain_list = api.sb.plain_mailing_list_id
    body = {
        "good": tx(api, contact_id),
        "no-contact": tx(api, "CID_doesnotexist"),
        "no-list": tx(api, contact_id, mailingListId="CG_doesnotexist"),
        "other-dir-list": tx(api, contact_id, mailingListId=plain_list),
        "bad-date": tx(api, contact_id, transactionDate="2024-05-01T13:45:10Z"),
        "impossible-date": tx(api, contact_id, transactionDate="2024-02-30 10:00:00"),
        "bad-data": tx(api, contact_id, data="sku=A1"),
        "nested-data": tx(api, contact_id, data={"x": {"y": 1}}),
        "not-an-object": "hello",
        "empty-data": tx(api, contact_id, data={}),
    }
    out = ok(api.post(api.transactions(), json=body))
    assert set(out) == {"createdTransactions", "unprocessedTransactions"}
    assert set(out["createdTransactions"]) == {"good", "empty-data"}
    codes = {k: v["error"] for k, v in out["unprocessedTransactions"].items()}
    assert codes == {
        "no-contact": "contact_not_found",
        "no-list": "mailing_list_not_found",
        "other-dir-list": "mailing_list_not_found",
        "bad-date": "invalid_transaction_date",
        "impossible-date": "invalid_transaction_date",
        "bad-data": "invalid_transaction_data",
        "nested-data": "invalid_transaction_data",
        "not-an-object": "invalid_transaction",
    }
    assert all(v["errorMessage"] for v in out["unprocessedTransactions"].values())
    frame = api.sb.transactions()
    assert frame["key"].to_list() == ["good", "empty-data"]
    good = frame.row(0, named=True)
    assert good["transaction_id"] == out["createdTransactions"]["good"]["id"]
    assert (good["contact_id"], good["mailing_list_id"], good["directory_id"]) == (
        contact_id,
        api.sb.mailing_list_id,
        api.sb.directory_id,
    )
    assert good["transaction_date"] == "2024-05-01 13:45:10"
    assert json.loads(good["data"]) == {"sku": "A1", "qty": 2}


def test_a_contact_of_another_directory_is_unprocessed(api, ok):
    other = ok(api.post(api.contacts(api.sb.plain_directory_id), json={"extRef": "x"}))["id"]
    out = ok(api.post(api.transactions(), json={"k": tx(api, other)}))
    assert out["unprocessedTransactions"]["k"]["error"] == "contact_not_found"


def test_many_keys_in_one_request(api, ok, contact_id):
    body = {f"k{i}": tx(api, contact_id, data={"i": i}) for i in range(50)}
    out = ok(api.post(api.transactions(), json=body))
    assert len(out["createdTransactions"]) == 50 and out["unprocessedTransactions"] == {}
    assert len(set(v["id"] for v in out["createdTransactions"].values())) == 50


def test_non_object_body_is_400_and_unknown_directory_404(api, err, contact_id):
    err(api.post(api.transactions(), json=[tx(api, contact_id)]), 400)
    err(api.post(api.transactions(), content=b"nope"), 400)
    err(api.post(api.transactions("POOL_nope"), json={"k": tx(api, contact_id)}), 404)


def test_body_over_5_mb_is_413_and_nothing_lands(api, err, contact_id):
    big = {f"k{i}": tx(api, contact_id, data={"pad": "x" * 1000}) for i in range(5300)}
    err(api.post(api.transactions(), json=big), 413)
    assert api.sb.transactions().is_empty()
