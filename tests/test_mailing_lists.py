"""Contacts into mailing lists (per-row endpoint), and transactions' new contacts in their list."""

from __future__ import annotations

import polars as pl
import pytest

import qxframe as qx
from qxframe import cli
from qxframe.cli import _edge
from tests.helpers import bodies

PEOPLE = pl.DataFrame(
    {
        "email": ["ada@example.com", "bob@example.com", "ADA@example.com"],
        "first_name": ["Ada", "Bob", "Ada L."],
    }
)


def other_list(sb) -> str:
    ids = sb.client().mailing_lists(sb.directory_id)["mailing_list_id"].to_list()
    return next(ml for ml in ids if ml != sb.mailing_list_id)


def test_contacts_are_created_in_the_list_and_the_directory(sb):
    res = qx.upsert_contacts(
        PEOPLE, client=sb.client(), directory_id=sb.directory_id, mailing_list_id=sb.mailing_list_id
    )
    assert res["status"].to_list() == ["success"] * 3
    held = sb.contacts()
    assert set(res["qualtrics_id"]) == set(held["contact_id"])  # qualtrics_id: the contact id
    assert res["qualtrics_id"][0] == res["qualtrics_id"][2]  # deduplicated as any create
    ada = held.filter(pl.col("email").str.to_lowercase() == "ada@example.com")
    assert ada["first_name"].to_list() == ["Ada L."]  # rows of one identity in input order
    members = sb.mailing_list_members()
    assert set(members["contact_id"]) == set(held["contact_id"])
    assert (members["mailing_list_id"] == sb.mailing_list_id).all()
    paths = sb.requests().filter(pl.col("family") == "contacts")["path"]
    assert paths.str.ends_with(f"/mailinglists/{sb.mailing_list_id}/contacts").all()
    assert paths.len() == 3


def test_the_list_may_come_from_a_column_and_a_null_means_directory_only(sb):
    frame = PEOPLE.with_columns(
        mailing_list_id=pl.Series([sb.mailing_list_id, None, other_list(sb)])
    )
    res = qx.upsert_contacts(frame, client=sb.client(), directory_id=sb.directory_id)
    assert res["status"].to_list() == ["success"] * 3
    members = sb.mailing_list_members()
    by_list = dict(members.group_by("mailing_list_id").len().iter_rows())
    assert by_list == {sb.mailing_list_id: 1, other_list(sb): 1}  # Bob is in no list
    bob = res["qualtrics_id"][1]
    assert bob in sb.contacts()["contact_id"].to_list()
    assert bob not in members["contact_id"].to_list()


def test_a_bad_list_constant_raises_before_anything_is_sent(sb):
    with pytest.raises(qx.ConfigError, match="mailing_list_id"):
        qx.upsert_contacts(
            PEOPLE, client=sb.client(), directory_id=sb.directory_id, mailing_list_id="oops"
        )
    assert sb.requests().height == 0


def test_a_bad_list_in_a_column_makes_its_row_invalid(sb):
    frame = PEOPLE.with_columns(mailing_list_id=pl.Series(["CG_ok1", "POOL_no", "CG_ok1"]))
    res = qx.upsert_contacts(frame, client=sb.client(), directory_id=sb.directory_id, dry_run=True)
    assert res["status"].to_list() == ["dry_run", "invalid", "dry_run"]
    assert res["error_code"][1] == "mailing_list_id_format"


def test_a_list_of_another_directory_is_refused_before_anything_is_sent(sb):
    """DESIGN §3: the destination is checked before the first write: one ConfigError naming
    the list and how to find the right one, not a 404 on every row."""
    with pytest.raises(qx.ConfigError) as caught:
        qx.upsert_contacts(
            PEOPLE.head(1),
            client=sb.client(),
            directory_id=sb.directory_id,
            mailing_list_id=sb.plain_mailing_list_id,
        )
    message = str(caught.value)
    assert sb.plain_mailing_list_id in message and sb.directory_id in message
    assert f"client.mailing_lists('{sb.directory_id}')" in message
    assert sb.contacts().height == 0
    assert sb.requests()["method"].to_list() == ["GET", "GET"]  # directories, their lists


def test_a_list_create_that_may_have_landed_is_repeated_only_if_it_would_merge(sb):
    sb.fail_next("contacts", status=500, after_commit=True)
    merged = qx.upsert_contacts(
        PEOPLE.head(1), client=sb.client(), directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
    )  # fmt: skip
    assert merged["status"][0] == "success" and merged["attempts"][0] == 2
    assert sb.contacts().height == 1
    sb.fail_next("contacts", status=500, after_commit=True)
    plain = qx.upsert_contacts(
        PEOPLE.head(1), client=sb.client(), directory_id=sb.plain_directory_id,
        mailing_list_id=sb.plain_mailing_list_id,
    )  # fmt: skip
    assert plain["error_code"][0] == "outcome_unknown"
    assert sb.contacts().filter(directory_id=sb.plain_directory_id).height == 1


def test_the_cli_takes_mailing_list_id_for_contacts(sb, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_edge, "client", lambda dry_run: sb.client())
    path = tmp_path / "in.csv"
    PEOPLE.write_csv(path)
    argv = ["push", "contacts", str(path), "--directory-id", sb.directory_id]
    argv += ["--mailing-list-id", sb.mailing_list_id, "--no-progress"]
    assert cli.main(argv) == 0
    assert sb.mailing_list_members().height == 2


# -- transactions' lookup-created contacts ---------------------------------------------------


def test_a_new_transaction_contact_is_created_in_the_transactions_list(sb):
    frame = pl.DataFrame({"email": ["new@example.com", "new@example.com"], "n": [1, 2]})
    frame = frame.with_columns(mailing_list_id=pl.Series([other_list(sb), sb.mailing_list_id]))
    res = qx.upsert_transactions(
        frame, client=sb.client(), directory_id=sb.directory_id,
        mapping={"transaction_data": ["n"]},
    )  # fmt: skip
    assert res["status"].to_list() == ["success", "success"]
    members = sb.mailing_list_members()
    assert members.height == 1 and members["mailing_list_id"][0] == other_list(sb)  # first row's
    assert members["contact_id"][0] == res["contact_id"][0] == res["contact_id"][1]
    assert (bodies(sb, "search"), bodies(sb, "contacts")) == (1, 1)


def test_a_transaction_contact_found_by_search_is_not_created_again(sb):
    existing = qx.upsert_contacts(PEOPLE.head(1), client=sb.client(), directory_id=sb.directory_id)
    res = qx.upsert_transactions(
        PEOPLE.head(1), client=sb.client(), directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
    )  # fmt: skip
    assert res["contact_id"][0] == existing["qualtrics_id"][0]
    assert sb.mailing_list_members().height == 0 and sb.contacts().height == 1
