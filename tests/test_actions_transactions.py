"""upsert_transactions end to end against the sandbox: lookups, batching, partial failures."""

from __future__ import annotations

import polars as pl
import pytest

import qxframe as qx
from tests.helpers import bodies, payloads


def push(sb, frame, **kwargs):
    kwargs.setdefault("client", sb.client())
    return qx.upsert_transactions(
        frame, directory_id=sb.directory_id, mailing_list_id=sb.mailing_list_id, **kwargs
    )


def test_ten_transactions_for_one_new_person_create_one_contact(sb):
    frame = pl.DataFrame(
        {"email": ["New@Example.com"] * 5 + ["new@example.com "] * 5, "amount": list(range(10))}
    )
    res = push(sb, frame, mapping={"transaction_data": ["amount"]})
    assert res["status"].to_list() == ["success"] * 10
    assert res["contact_id"].n_unique() == 1 and sb.contacts().height == 1
    assert (bodies(sb, "search"), bodies(sb, "contacts"), bodies(sb, "transactions")) == (1, 1, 1)
    assert bodies(sb, "reads") == 2  # the destination check: the directories, their lists
    held = sb.transactions()
    assert held.height == 10 and set(held["contact_id"]) == {res["contact_id"][0]}
    assert res["qualtrics_id"].is_not_null().all() and res["qualtrics_id"].n_unique() == 10


def test_existing_contact_is_found_and_used(sb):
    existing = qx.upsert_contacts(
        pl.DataFrame({"ext_ref": ["u7"], "email": ["u7@example.com"]}),
        client=sb.client(),
        directory_id=sb.directory_id,
    )
    res = push(sb, pl.DataFrame({"ext_ref": ["u7"], "email": ["U7@example.com"]}))
    assert res["contact_id"][0] == existing["qualtrics_id"][0]
    assert sb.contacts().height == 1 and bodies(sb, "contacts") == 1
    # the search carried both filters, joined with "and" (attempts: search + batch)
    assert res["attempts"][0] == 2


def test_ambiguous_lookup_fails_with_directory_lookup_error(sb):
    twins = pl.DataFrame({"ext_ref": ["twin", "twin"]})
    qx.upsert_contacts(twins, client=sb.client(), directory_id=sb.plain_directory_id)
    res = qx.upsert_transactions(
        pl.DataFrame({"ext_ref": ["twin"]}),
        client=sb.client(),
        directory_id=sb.plain_directory_id,
        mailing_list_id=sb.plain_mailing_list_id,
    )
    assert res["status"][0] == "failed" and res["error_code"][0] == "directory_lookup_error"
    assert "contact_id" in res["error_message"][0]
    assert bodies(sb, "transactions") == 0


def test_batches_of_batch_size_and_keys_map_back(sb):
    frame = pl.DataFrame(
        {
            "email": [f"p{i}@example.com" for i in range(7)],
            "transaction_date": ["2024-05-01T13:45:10+02:00"] * 7,
        }
    )
    res = push(sb, frame, batch_size=3)
    assert res["status"].to_list() == ["success"] * 7
    assert bodies(sb, "transactions") == 3  # 3 + 3 + 1
    held = sb.transactions()
    assert set(held["transaction_date"]) == {"2024-05-01 11:45:10"}  # UTC
    by_id = dict(zip(held["transaction_id"], held["contact_id"], strict=True))
    for tid, cid in zip(res["qualtrics_id"], res["contact_id"], strict=True):
        assert by_id[tid] == cid


def test_unprocessed_transactions_fail_their_rows_only(sb):
    known = qx.upsert_contacts(
        pl.DataFrame({"email": ["k@example.com"]}), client=sb.client(), directory_id=sb.directory_id
    )["qualtrics_id"][0]
    frame = pl.DataFrame({"contact_id": [known, "CID_doesnotexist", known]})
    res = push(sb, frame)
    assert res["status"].to_list() == ["success", "failed", "success"]
    assert res["http_status"].to_list() == [200, 200, 200]
    assert res["error_message"][1].startswith("Qualtrics did not add this transaction")
    assert res["contact_id"].to_list() == [known, "CID_doesnotexist", known]
    assert bodies(sb, "search") == 0


def test_413_splits_the_batch(sb, fake_time):
    sb.fail_next("transactions", status=413)
    frame = pl.DataFrame({"email": [f"s{i}@example.com" for i in range(4)]})
    res = push(sb, frame, client=sb.client(sleep=fake_time.sleep))
    assert res["status"].to_list() == ["success"] * 4
    assert bodies(sb, "transactions") == 3  # the refused batch, then its two halves
    assert sb.transactions().height == 4
    assert res["attempts"].to_list() == [4] * 4  # search, create, the 413, its half


def test_500_after_a_landed_batch_is_outcome_unknown_and_not_resent(sb, fake_time):
    sb.fail_next("transactions", status=500, after_commit=True)
    frame = pl.DataFrame({"email": ["once@example.com", "twice@example.com"]})
    res = push(sb, frame, client=sb.client(sleep=fake_time.sleep))
    assert res["status"].to_list() == ["failed", "failed"]
    assert res["error_code"].to_list() == ["outcome_unknown"] * 2
    assert res["http_status"].to_list() == [500, 500]
    assert sb.transactions().height == 2 and bodies(sb, "transactions") == 1


def test_503_on_a_batch_is_retried(sb, fake_time):
    sb.fail_next("transactions", status=503)
    res = push(
        sb, pl.DataFrame({"email": ["r@example.com"]}), client=sb.client(sleep=fake_time.sleep)
    )
    assert res["status"].to_list() == ["success"] and res["attempts"].to_list() == [4]


def test_invalid_rows_are_reported_not_sent(sb):
    frame = pl.DataFrame(
        {
            "email": ["ok@example.com", None, "ok2@example.com"],
            "transaction_date": ["2024-01-01", "2024-01-01", "not a date"],
        }
    )
    res = push(sb, frame)
    assert res["status"].to_list() == ["success", "invalid", "invalid"]
    assert res["error_code"][1:].to_list() == ["missing_identity", "transaction_date_unparseable"]
    assert sb.transactions().height == 1


def test_dry_run_payload_has_no_contact_id_when_it_would_come_from_a_lookup(sb):
    frame = pl.DataFrame(
        {
            "email": ["d@example.com", None],
            "contact_id": [None, "CID_abc"],
            "transaction_date": [1_700_000_000_000, 1_700_000_000_000],
            "transaction_data": ['{"sku": "A-1", "tags": ["x", "y"]}', None],
        }
    )
    res = push(sb, frame, dry_run=True)
    first, second = payloads(res)
    assert "contactId" not in first and second["contactId"] == "CID_abc"
    assert first["transactionDate"] == "2023-11-14 22:13:20"
    assert first["mailingListId"] == sb.mailing_list_id
    assert (
        first["data"] == {"sku": "A-1", "tags": '["x","y"]'}
        or first["data"]["tags"] == '["x", "y"]'
    )
    assert second["data"] == {}
    assert sb.requests().height == 0


def test_missing_mailing_list_raises_or_invalidates(sb):
    with pytest.raises(qx.ConfigError):
        qx.upsert_transactions(
            pl.DataFrame({"email": ["a@example.com"]}),
            client=sb.client(),
            directory_id=sb.directory_id,
            mailing_list_id="oops",
        )


def test_lookup_create_answered_500_is_resent_only_when_a_copy_would_merge(sb, fake_time):
    client = sb.client(sleep=fake_time.sleep)
    sb.fail_next("contacts", status=500, after_commit=True)
    res = push(sb, pl.DataFrame({"email": ["merge@example.com"]}), client=client)
    assert res["status"].to_list() == ["success"]
    assert res["attempts"].to_list() == [4]  # search, the create answered 500, its resend, batch
    assert sb.contacts().height == 1 and bodies(sb, "reads") == 2  # directories (once), lists

    sb.fail_next("contacts", status=500, after_commit=True)
    plain = qx.upsert_transactions(
        pl.DataFrame({"email": ["once@example.com"]}),
        client=client,
        directory_id=sb.plain_directory_id,
        mailing_list_id=sb.plain_mailing_list_id,
    )
    # the row's own transaction never left: failed with the create's reason, not unknown
    assert plain["error_code"].to_list() == ["contact_create_unknown"]
    assert sb.contacts().filter(directory_id=sb.plain_directory_id).height == 1
    assert sb.transactions().height == 1  # only the first push's


def test_keys_that_may_be_one_person_are_resolved_in_turn_and_create_one_contact(sb):
    # (u1) and (u1, a@x) are two lookup keys; resolved at once, both searches found nothing
    # and two contacts were made, so every later search for u1 was ambiguous
    rows = pl.DataFrame(
        {
            "ext_ref": ["u1", "u1", "u2", "u2"],
            "email": [None, "a@example.com", "b@example.com", None],
            "amount": [1, 2, 3, 4],
        }
    )
    res = qx.upsert_transactions(
        rows,
        client=sb.client(),
        directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
        mapping={"transaction_data": ["amount"]},
        concurrency=8,
    )
    assert res["status"].to_list() == ["success"] * 4
    ids = res["contact_id"].to_list()
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    assert sb.contacts().height == 2
