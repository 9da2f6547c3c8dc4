"""Removal as frame operations (DESIGN §7): qx.remove_from_list, qx.unsubscribe,
qx.delete_contacts — rows by contact id or looked up, idempotent, and their CLI commands."""

from __future__ import annotations

import polars as pl
import pytest

import qxframe as qx
from qxframe import cli

PEOPLE = pl.DataFrame(
    {"ext_ref": ["u1", "u2", "u3"], "email": ["a@example.com", "b@example.com", "c@example.com"]}
)


@pytest.fixture
def listed(sb):
    """Three members of the sandbox's list; their contact ids by ext_ref."""
    res = qx.upsert_contacts(
        PEOPLE, client=sb.client(), directory_id=sb.directory_id, mailing_list_id=sb.mailing_list_id
    )
    return dict(zip(PEOPLE["ext_ref"], res["qualtrics_id"], strict=True))


def members(sb) -> set[str]:
    held = sb.contacts().select("contact_id", "ext_ref")
    mine = sb.mailing_list_members().filter(pl.col("mailing_list_id") == sb.mailing_list_id)
    return set(mine.join(held, on="contact_id")["ext_ref"])


def where(sb, **more):
    return dict(client=sb.client(), directory_id=sb.directory_id, **more)


def test_remove_from_list_by_id_or_identity_and_twice_is_unchanged(sb, listed):
    rows = pl.DataFrame(
        {
            "contact_id": [listed["u1"], None, None],
            "email": [None, "B@example.com", "z@example.com"],
        }
    )
    first = qx.remove_from_list(rows, **where(sb, mailing_list_id=sb.mailing_list_id))
    assert first["status"].to_list() == ["success"] * 3
    assert first["operation"].to_list() == ["remove", "remove", "unchanged"]  # z: no contact
    assert first["qualtrics_id"].to_list()[:2] == [listed["u1"], listed["u2"]]
    assert members(sb) == {"u3"} and sb.contacts().height == 3  # still in the directory
    again = qx.remove_from_list(rows, **where(sb, mailing_list_id=sb.mailing_list_id))
    assert again["status"].to_list() == ["success"] * 3
    assert again["operation"].to_list() == ["unchanged"] * 3
    deletes = sb.requests().filter(pl.col("method") == "DELETE")
    assert deletes.height == 4 and deletes["status"].to_list() == [200, 200, 404, 404]


def test_unsubscribe_from_the_list_or_the_directory(sb, listed):
    one = PEOPLE.head(1)
    res = qx.unsubscribe(one, **where(sb, mailing_list_id=sb.mailing_list_id))
    assert res["operation"].to_list() == ["unsubscribe"] and members(sb) == {"u1", "u2", "u3"}
    again = qx.unsubscribe(one, **where(sb, mailing_list_id=sb.mailing_list_id))
    assert again["operation"].to_list() == ["unchanged"] and again["status"][0] == "success"
    client = sb.client()
    member = client.run(client.aread_contact(sb.directory_id, listed["u1"], sb.mailing_list_id))
    assert member.result["mailingListUnsubscribed"] is True
    assert member.result["directoryUnsubscribed"] is False  # the list's flag only
    res = qx.unsubscribe(one, **where(sb))  # no list: the directory's
    assert res["operation"].to_list() == ["unsubscribe"]
    contact = client.run(client.aread_contact(sb.directory_id, listed["u1"]))
    assert contact.result["directoryUnsubscribed"] is True
    assert qx.unsubscribe(one, **where(sb))["operation"].to_list() == ["unchanged"]


def test_delete_contacts_is_idempotent_and_a_dry_run_sends_nothing(sb, listed):
    plan = qx.delete_contacts(PEOPLE, **where(sb), dry_run=True)
    assert plan["status"].to_list() == ["dry_run"] * 3 and set(plan["operation"]) == {"delete"}
    assert sb.requests().filter(pl.col("method") == "DELETE").height == 0
    res = qx.delete_contacts(PEOPLE.head(2), **where(sb))
    assert res["operation"].to_list() == ["delete"] * 2 and sb.contacts().height == 1
    again = qx.delete_contacts(PEOPLE.head(2), **where(sb))
    assert again["status"].to_list() == ["success"] * 2
    assert again["operation"].to_list() == ["unchanged"] * 2


def test_rows_need_a_contact_id_or_an_identity_and_ambiguity_fails(sb):
    plain = dict(client=sb.client(), directory_id=sb.plain_directory_id)
    twins = pl.DataFrame({"email": ["t@example.com", "t@example.com"]})
    qx.upsert_contacts(twins, **plain)  # a directory that does not deduplicate: two contacts
    rows = pl.DataFrame({"email": ["t@example.com", None], "first": ["x", "y"]})
    res = qx.delete_contacts(rows, **plain)
    assert res["status"].to_list() == ["failed", "invalid"]
    assert res["error_code"].to_list() == ["directory_lookup_error", "missing_identity"]
    assert sb.contacts().height == 2  # nothing deleted on a guess
    with pytest.raises(qx.ConfigError, match="mailing_list_id"):
        qx.remove_from_list(rows, **plain)


def test_the_cli_commands_and_delete_asks_for_yes(sb, listed, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QUALTRICS_BASE_URL", sb.base_url)
    monkeypatch.setenv("QUALTRICS_API_TOKEN", sb.api_token)
    path = tmp_path / "gone.csv"
    PEOPLE.head(1).write_csv(path)
    base = [str(path), "--directory-id", sb.directory_id, "--no-progress"]
    assert cli.main(["push", "remove", *base, "--mailing-list-id", sb.mailing_list_id]) == 0
    assert "operations: remove 1" in capsys.readouterr().out and members(sb) == {"u2", "u3"}
    assert cli.main(["push", "delete", *base]) == 2
    assert "--yes" in capsys.readouterr().err and sb.contacts().height == 3
    assert cli.main(["push", "delete", *base, "--yes"]) == 0
    assert "operations: delete 1" in capsys.readouterr().out and sb.contacts().height == 2
