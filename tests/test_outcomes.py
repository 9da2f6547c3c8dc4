"""Honest outcomes: ``outcome_unknown`` only for a row whose own write may have landed, and
one rule for which rows are sent again, held by ``qx.rows_to_retry``, ``qxframe retry`` and a
journal resume alike."""

from __future__ import annotations

import polars as pl
import pytest

import qxframe as qx
from qxframe import cli
from qxframe._results import worth_sending_again
from qxframe._sinks import read_results
from qxframe.cli import _edge


@pytest.fixture
def env(sb, monkeypatch):
    """The CLI pointed at the sandbox."""
    monkeypatch.setenv("QUALTRICS_BASE_URL", sb.base_url)
    monkeypatch.setenv("QUALTRICS_API_TOKEN", sb.api_token)
    monkeypatch.setattr(_edge, "client", lambda dry_run: sb.client())
    return sb


def transactions(sb, frame, **kwargs):
    return qx.upsert_transactions(
        frame,
        client=sb.client(),
        directory_id=sb.plain_directory_id,
        mailing_list_id=sb.plain_mailing_list_id,
        **kwargs,
    )


def sent_transaction_rows(sb) -> list[int]:
    """Rows (``r<row>`` keys) of every transaction the sandbox holds."""
    return sorted(int(key[1:]) for key in sb.transactions()["key"].to_list())


def test_rows_whose_contact_create_failed_are_failed_not_unknown(sb):
    sb.fail_next("contacts", status=500)  # the create of A's contact: answer lost
    frame = pl.DataFrame({"email": ["a@example.com", "a@example.com", "b@example.com"]})
    res = transactions(sb, frame, concurrency=1)
    assert res["status"].to_list() == ["failed", "failed", "success"]
    assert res["error_code"].to_list()[:2] == ["contact_create_unknown"] * 2
    assert "outcome_unknown" not in res["error_code"].to_list()
    message = res["error_message"][0]
    assert "contact" in message and "500" in message and "transaction was not sent" in message
    assert res["contact_id"].to_list()[:2] == [None, None]
    assert res["http_status"].to_list()[:2] == [500, 500]
    assert sent_transaction_rows(sb) == [2]  # no transaction of A was ever sent
    assert qx.rows_to_retry(frame, res).height == 2


def test_a_failed_search_fails_its_rows_with_the_searchs_reason(sb, fake_time):
    sb.fail_next("search", status=500, times=10)  # a read: retried, then given up
    frame = pl.DataFrame({"email": ["s@example.com"]})
    res = qx.upsert_transactions(
        frame,
        client=sb.client(sleep=fake_time.sleep),
        directory_id=sb.plain_directory_id,
        mailing_list_id=sb.plain_mailing_list_id,
    )
    row = res.row(0, named=True)
    assert row["status"] == "failed" and row["error_code"] != "outcome_unknown"
    assert row["http_status"] == 500 and row["attempts"] >= 2
    assert row["error_message"].startswith("Looking up this row's contact failed (500")
    assert sb.transactions().height == 0


def test_only_a_row_whose_own_transaction_may_have_landed_is_unknown(sb):
    sb.fail_next("transactions", status=500, after_commit=True)
    res = transactions(sb, pl.DataFrame({"email": ["c@example.com"]}))
    assert res["error_code"].to_list() == ["outcome_unknown"]
    assert sent_transaction_rows(sb) == [0]  # it did land
    assert qx.rows_to_retry(pl.DataFrame({"email": ["c@example.com"]}), res).height == 0


@pytest.mark.parametrize(
    ("status", "code", "again"),
    [
        ("failed", "server_error", True),
        ("failed", "contact_create_unknown", True),
        ("failed", "redirect", True),
        ("failed", None, True),
        ("not_sent", None, True),
        ("failed", "outcome_unknown", False),
        ("success", None, False),
        ("skipped", None, False),
        ("invalid", "email_format", False),
        ("dry_run", None, False),
        ("pending", None, False),  # a journal's mark: stopped mid-request
    ],
)
def test_the_rule(status, code, again):
    assert worth_sending_again(status, code) is again


def test_rows_to_retry_retry_and_resume_agree_on_what_to_send_again(env, tmp_path, capsys):
    """One push, three ways to send again; each picks the rows the rule picks.

    Row 0 lands but its answer is lost (outcome_unknown), rows 1 and 2 failed at their
    contact's create (never sent), row 3 succeeds, row 4 is refused (unknown contact id),
    row 5 is invalid.
    """
    sb = env
    known = qx.upsert_contacts(
        pl.DataFrame({"email": ["k@example.com"]}),
        client=sb.client(),
        directory_id=sb.plain_directory_id,
    )["qualtrics_id"][0]
    frame = pl.DataFrame(
        {
            "id": ["r0", "r1", "r2", "r3", "r4", "r5"],
            "contact_id": [known, None, None, None, "CID_nobody", None],
            "email": [None, "a@example.com", "a@example.com", "b@example.com", None, "nope"],
        }
    )
    source, first, journal = tmp_path / "in.csv", tmp_path / "first.csv", tmp_path / "j.sqlite"
    frame.write_csv(source)
    options = [
        "--directory-id", sb.plain_directory_id,
        "--mailing-list-id", sb.plain_mailing_list_id,
        "--concurrency", "1", "--batch-size", "1", "--no-progress",
    ]  # fmt: skip
    sb.fail_next("transactions", status=500, after_commit=True)  # row 0's batch goes first
    sb.fail_next("contacts", status=500)  # a@example.com's create
    push = ["push", "transactions", str(source), *options, "--journal", str(journal)]
    assert cli.main([*push, "--out", str(first)]) == 1
    results = read_results(first)
    assert results["status"].to_list() == ["failed"] * 3 + ["success", "failed", "invalid"]
    assert results["error_code"][0] == "outcome_unknown"
    expected = [1, 2, 4]
    by_rule = [
        r["row"]
        for r in results.iter_rows(named=True)
        if worth_sending_again(r["status"], r["error_code"])
    ]
    assert by_rule == expected

    # 1. the library helper
    picked = qx.rows_to_retry(str(source), results)
    assert picked["id"].to_list() == [f"r{i}" for i in expected]

    # 2. qxframe retry (its results name rows of the original file)
    again = tmp_path / "again.csv"
    capsys.readouterr()
    cli.main(["retry", "transactions", str(first), str(source), *options, "--out", str(again)])
    assert "Not re-sent: 1 row(s) ended outcome_unknown" in capsys.readouterr().out
    assert read_results(again)["row"].to_list() == expected

    # 3. a journal resume of the same push, from a clean sandbox
    sb.reset()
    resumed = tmp_path / "resumed.csv"
    cli.main([*push, "--out", str(resumed)])
    after = read_results(resumed)
    attempted = after.filter(pl.col("attempts") > 0)["row"].to_list()
    assert attempted == expected
    assert after["status"].to_list()[:4] == ["failed", "success", "success", "skipped"]
    assert after["error_code"][0] == "outcome_unknown"
    assert sent_transaction_rows(sb) == [1, 2]  # row 4 is refused again, row 0 never re-sent


def test_rows_to_retry_picks_by_the_rule_from_any_results():
    frame = pl.DataFrame({"id": list("abcdefg")})
    statuses = ["success", "failed", "failed", "not_sent", "invalid", "skipped", "failed"]
    codes = [
        None,
        "server_error",
        "outcome_unknown",
        None,
        "email_format",
        None,
        "redirect",
    ]
    results = pl.DataFrame({"row": range(7), "status": statuses, "error_code": codes})
    by_rule = [i for i in range(7) if worth_sending_again(statuses[i], codes[i])]
    assert qx.rows_to_retry(frame, results)["id"].to_list() == [frame["id"][i] for i in by_rule]
    assert by_rule == [1, 3, 6]
    wider = qx.rows_to_retry(frame, results, include_unknown=True, include_invalid=True)
    assert wider["id"].to_list() == ["b", "c", "d", "e", "g"]
