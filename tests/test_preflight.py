"""What a push checks before its first write (DESIGN §2 "Credentials", §3): the destination
exists, the OAuth client holds the scopes the push needs, a workflow push has an API token;
and an import job that completes having done nothing fails its rows with one reason. Against
the sandbox over a real loopback socket."""

from __future__ import annotations

import polars as pl
import pytest

import qxframe as qx
from tests.helpers import bodies

PEOPLE = pl.DataFrame({"email": [f"p{i}@example.com" for i in range(5)]})


def writes(sb: qx.Sandbox) -> int:
    return sb.requests().filter(pl.col("method") != "GET").height


def test_a_directory_that_does_not_exist_is_one_config_error_before_any_write(sb):
    with pytest.raises(qx.ConfigError) as caught:
        qx.upsert_contacts(PEOPLE, client=sb.client(), directory_id="POOL_doesnotexist")
    message = str(caught.value)
    assert "POOL_doesnotexist" in message
    assert "client.directories()" in message and "qxframe directories" in message
    assert writes(sb) == 0 and bodies(sb, "reads") == 1  # the directory list, read once


def test_a_mailing_list_not_in_the_directory_is_refused_for_transactions(sb):
    frame = PEOPLE.with_columns(amount=pl.lit(3))
    with pytest.raises(qx.ConfigError, match="CG_doesNotExist") as caught:
        qx.upsert_transactions(
            frame,
            client=sb.client(),
            directory_id=sb.directory_id,
            mailing_list_id="CG_doesNotExist",
            mapping={"transaction_data": ["amount"]},
        )
    assert f"client.mailing_lists('{sb.directory_id}')" in str(caught.value)
    assert writes(sb) == 0 and sb.contacts().height == 0


@pytest.mark.parametrize("on_leave", [None, "remove"])
def test_a_syncs_first_push_into_a_wrong_list_is_the_checks_error(sb, tmp_path, on_leave):
    """A journal's first write into a list reads the list's members first: a pasted wrong
    list id is the destination check's ConfigError, not Qualtrics' 404 on that read."""
    with pytest.raises(qx.ConfigError, match="CG_doesNotExist") as caught:
        qx.upsert_contacts(
            PEOPLE,
            client=sb.client(),
            directory_id=sb.directory_id,
            mailing_list_id="CG_doesNotExist",
            journal=tmp_path / "segment.qxj",
            on_leave=on_leave,
        )
    assert f"qxframe lists --directory-id {sb.directory_id}" in str(caught.value)
    assert writes(sb) == 0 and sb.contacts().height == 0


def test_a_column_of_directories_is_checked_id_by_id(sb):
    frame = PEOPLE.with_columns(
        directory_id=pl.Series([sb.directory_id] * 4 + ["POOL_typo"]),
    )
    with pytest.raises(qx.ConfigError, match="POOL_typo"):
        qx.upsert_contacts(frame, client=sb.client())
    assert writes(sb) == 0


def test_directories_past_the_first_page_are_found():
    """Directories come 5 a page: the check reads them all."""
    with qx.sandbox(extra_directories=7) as sb:
        last = sb.client().directories()["directory_id"].to_list()[-1]
        res = qx.upsert_contacts(PEOPLE, client=sb.client(), directory_id=last)
    assert res["status"].to_list() == ["success"] * 5


def test_a_token_that_may_not_list_directories_leaves_the_check_to_qualtrics(sb):
    sb.fail_next("reads", status=403)
    res = qx.upsert_contacts(PEOPLE, client=sb.client(), directory_id=sb.directory_id)
    assert res["status"].to_list() == ["success"] * 5


def test_an_import_that_completes_having_done_nothing_fails_its_rows_with_one_reason(sb, fake_time):
    """A list the token could not check (the directory list refused), and a wrong list id:
    Qualtrics completes the job with every count 0; each row says which ids to check."""
    sb.fail_next("reads", status=403)
    res = qx.upsert_contacts(
        PEOPLE,
        client=sb.client(sleep=fake_time.sleep),
        directory_id=sb.directory_id,
        mailing_list_id="CG_doesNotExist",
        method="import",
    )
    assert res["status"].to_list() == ["failed"] * 5
    assert res["error_code"].unique().to_list() == ["import_nothing_done"]
    (message,) = res["error_message"].unique().to_list()
    assert "CG_doesNotExist" in message and sb.directory_id in message
    assert "client.mailing_lists(" in message
    assert sb.imports()["added"].to_list() == [0]


def test_an_oauth_client_without_a_scope_is_refused_before_anything_is_sent():
    granted = ["read:directories", "manage:directory_contacts"]  # no list scopes
    with qx.sandbox(oauth_scopes=granted) as sb:
        client = sb.client(oauth=True)
        with pytest.raises(qx.AuthError) as caught:
            qx.upsert_contacts(
                PEOPLE, client=client, directory_id=sb.directory_id,
                mailing_list_id=sb.mailing_list_id,
            )  # fmt: skip
        paths = sb.requests()["path"].to_list()
        ok = qx.upsert_contacts(PEOPLE, client=client, directory_id=sb.directory_id)
    message = str(caught.value)
    assert "manage:mailing_list_contacts" in message and "read:mailing_lists" in message
    assert "read:directories" not in message and "nothing was sent" in message
    assert paths == ["/oauth2/token"]
    assert ok["status"].to_list() == ["success"] * 5  # the scopes it has are enough for this


def test_a_workflow_push_with_an_oauth_client_alone_is_a_config_error(sb):
    events = pl.DataFrame({"n": [1, 2]})
    with pytest.raises(qx.ConfigError, match="do not accept OAuth"):
        qx.trigger_workflow(events, client=sb.client(oauth=True), workflow_url=sb.workflow_url)
    assert sb.requests().height == 0
    both = sb.client(oauth=True, api_token=sb.api_token)
    res = qx.trigger_workflow(events, client=both, workflow_url=sb.workflow_url)
    assert res["status"].to_list() == ["success"] * 2
    assert sb.workflow_events().height == 2
    assert "/oauth2/token" not in sb.requests()["path"].to_list()  # events take the token
