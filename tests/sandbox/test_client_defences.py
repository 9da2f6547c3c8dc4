"""The client against the sandbox's knobs: both forms of ``nextPage``, directories 5 a page,
and a whole-request 400 on a large transaction batch (docs/qualtrics-api.md §3, §8)."""

from __future__ import annotations

import math

import httpx
import polars as pl
import pytest

import qxframe as qx
import qxframe.exceptions as qxe
from qxframe._sandbox import Sandbox
from tests.helpers import bodies


@pytest.mark.parametrize("form", ["url", "token"])
def test_directories_follow_next_page_in_both_forms(form):
    """§3: directories come 5 a page; ``nextPage`` may be a URL or a bare token."""
    sb = Sandbox(extra_directories=4, next_page=form)
    dirs = sb.client().directories()
    assert dirs.height == 7 and dirs["directory_id"].n_unique() == 7
    assert bodies(sb, "reads") == 2
    second = sb.requests()["query"][1]
    assert "skipToken=" in second


@pytest.mark.parametrize("form", ["url", "token"])
def test_mailing_lists_follow_next_page_and_keep_include_count(form):
    """§3, §6: every page of mailing lists is asked with ``includeCount=true``."""
    sb = Sandbox(page_size=1, next_page=form)
    sb._store.upsert_contact(sb.directory_id, {"email": "a@example.com"}, sb.mailing_list_id)
    lists = sb.client().mailing_lists(sb.directory_id)
    assert lists.height == 2
    counts = dict(zip(lists["mailing_list_id"], lists["contact_count"], strict=True))
    assert counts[sb.mailing_list_id] == 1
    assert lists.schema["creation_date"] == pl.Datetime("ms", "UTC")
    assert lists["creation_date"][0].year == 2024
    queries = sb.requests()["query"].to_list()
    assert all("includeCount=true" in q for q in queries) and "skipToken=" in queries[1]


@pytest.mark.parametrize("form", ["url", "token"])
def test_the_deduplication_read_finds_a_directory_on_a_later_page(form):
    """§3, §4: a directory past the first page still has its deduplication read, so a
    create whose answer was lost is resent only because it would merge."""
    sb = Sandbox(page_size=1, next_page=form)
    partners = sb._store.directories[2].directory_id  # the third page: ext_ref and e-mail
    sb.fail_next("contacts", status=500, after_commit=True)
    res = qx.upsert_contacts(
        pl.DataFrame({"ext_ref": ["p1"], "email": ["p1@example.com"]}),
        client=sb.client(),
        directory_id=partners,
    )
    assert res["status"].to_list() == ["success"]
    assert sb.contacts().height == 1 and bodies(sb, "contacts") == 2
    assert bodies(sb, "reads") == 3  # three pages of one directory each


def _answering(next_page: str):
    def handler(request: httpx.Request) -> httpx.Response:
        result = {"elements": [{"directoryId": "POOL_a", "name": "A"}], "nextPage": next_page}
        return httpx.Response(200, json={"result": result, "meta": {"httpStatus": "200 - OK"}})

    return httpx.MockTransport(handler)


def test_a_next_page_url_on_another_origin_is_refused():
    """§3: the token never follows a ``nextPage`` to another host."""
    client = qx.Client(
        api_token="t" * 40,
        base_url="http://127.0.0.1:9",
        transport=_answering("https://evil.example/API/v3/directories?skipToken=x"),
    )
    with pytest.raises(qxe.ConfigError, match="nextPage link outside"):
        client.directories()


def test_a_next_page_that_repeats_stops_instead_of_looping():
    """§3: a server answering the same token forever is an error, not a hang."""
    client = qx.Client(
        api_token="t" * 40, base_url="http://127.0.0.1:9", transport=_answering("same")
    )
    with pytest.raises(qxe.QxError, match="same nextPage"):
        client.directories()


def _people(sb: Sandbox, n: int) -> list[str]:
    return [sb._store.upsert_contact(sb.plain_directory_id, {"extRef": f"p{i}"}) for i in range(n)]


def test_a_whole_request_400_splits_in_halves_until_every_valid_row_lands(capsys):
    """§8: above ``max_transactions_per_request`` a batch is refused whole (nothing stored);
    the client halves it down to rows, so every valid row lands, within 2x the ideal calls."""
    sb = Sandbox(max_transactions_per_request=7)
    people = _people(sb, 40)
    n = 250
    contact_ids = [people[i % 40] for i in range(n)]
    for bad in (3, 77, 200):
        contact_ids[bad] = "not-a-contact"  # invalid: never sent
    frame = pl.DataFrame({"contact_id": contact_ids, "seq": list(range(n))})
    res = qx.upsert_transactions(
        frame,
        client=sb.client(),
        directory_id=sb.plain_directory_id,
        mailing_list_id=sb.plain_mailing_list_id,
        mapping={"transaction_data": ["seq"]},
        batch_size=100,
    )
    valid = res.filter(pl.col("status") != "invalid")
    assert res.filter(pl.col("status") == "invalid")["row"].to_list() == [3, 77, 200]
    assert valid["status"].to_list() == ["success"] * (n - 3)
    held = sb.transactions()
    assert held.height == n - 3 and held["transaction_id"].n_unique() == n - 3
    calls, ideal = bodies(sb, "transactions"), math.ceil((n - 3) / 7)
    with capsys.disabled():
        print(f"\n400-split: rows={n - 3} calls={calls} ideal={ideal}")
    assert calls <= 2 * ideal
    refused = sb.requests().filter((pl.col("family") == "transactions") & (pl.col("status") == 400))
    assert refused.height >= 1  # the limit was really hit
    for _, group in held.with_row_index("landed").group_by("contact_id"):
        seqs = [int(k[1:]) for k in group.sort("landed")["key"]]
        assert seqs == sorted(seqs)  # one contact's transactions land in input order


def test_a_400_on_a_batch_sends_it_again_as_two_halves():
    """§8: a 400 means nothing was processed, so the halves cannot duplicate."""
    sb = Sandbox(max_transactions_per_request=100)
    people = _people(sb, 5)
    frame = pl.DataFrame({"contact_id": [people[i % 5] for i in range(10)]})
    sb.fail_next("transactions", status=400)  # the first request: 10 rows refused whole
    res = qx.upsert_transactions(
        frame,
        client=sb.client(),
        directory_id=sb.plain_directory_id,
        mailing_list_id=sb.plain_mailing_list_id,
        batch_size=10,  # the first request of a push carries 10 at most (growing batches)
    )
    assert res["status"].to_list() == ["success"] * 10
    assert bodies(sb, "transactions") == 3  # refused whole, then two halves of 5
    assert sb.transactions().height == 10
