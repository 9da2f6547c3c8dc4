"""The journal: row keys, the SQLite file, and resuming pushes without sending twice."""

from __future__ import annotations

import sqlite3

import polars as pl
import pytest

import qxframe as qx
from qxframe._journal import Journal, row_digests
from qxframe._prepare import prepare
from qxframe._results import Outcome
from tests.helpers import bodies

ALICE = {"row": 0, "directory_id": "POOL_abc", "email": "ada@example.com", "first_name": "Ada"}


def entries(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT status, row, error_code FROM outcomes ORDER BY row").fetchall()


# -- keys -----------------------------------------------------------------------------------


def test_fingerprint_is_sha256_of_the_sorted_non_null_values():
    frame = pl.DataFrame(
        [{**ALICE, "unsubscribed": False, "phone": None}],
        schema_overrides={"phone": pl.String},
    )
    [(destination, fingerprint)] = row_digests(frame, ("directory_id",))
    # {"email":"ada@example.com","first_name":"Ada","unsubscribed":false}, sha256, 16 bytes
    assert fingerprint.hex() == "58ac160ac32ea091058848a0e5e1ad07"
    assert destination.hex() == "83e8d0aa5300d772f8101c892d1181ff"  # {"directory_id":"POOL_abc"}


def test_fingerprint_ignores_column_order_nulls_and_row_position():
    one = pl.DataFrame([ALICE])
    other = pl.DataFrame(
        [{"first_name": "Ada", "email": "ada@example.com", "row": 7, "directory_id": "POOL_abc"}]
    ).with_columns(phone=pl.lit(None, pl.String))
    assert row_digests(one, ("directory_id",)) == row_digests(other, ("directory_id",))
    moved = pl.DataFrame([{**ALICE, "directory_id": "POOL_xyz"}])
    assert row_digests(moved, ("directory_id",))[0][1] == row_digests(one, ("directory_id",))[0][1]
    assert row_digests(moved, ("directory_id",))[0][0] != row_digests(one, ("directory_id",))[0][0]


def test_identical_rows_get_occurrence_numbers_across_chunks(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        a, b = (b"d" * 16, b"a" * 16), (b"d" * 16, b"b" * 16)
        assert [k[2] for k in journal.keys([a, b, a])] == [0, 0, 1]
        assert [k[2] for k in journal.keys([a, b])] == [2, 1]


# -- the file ---------------------------------------------------------------------------------


def test_journal_is_wal_and_records_are_committed_in_batches(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        assert journal._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        keys = journal.keys([(b"d" * 16, i.to_bytes(16, "big")) for i in range(600)])
        journal.mark_pending("workflow", [(keys[0], 0)])
        assert entries(path) == [("pending", 0, None)]  # committed before the request
        journal.record("workflow", [(k, Outcome(i, "success")) for i, k in enumerate(keys[:499])])
        assert len(entries(path)) == 1  # not yet: records are committed in batches
        journal.record("workflow", [(keys[499], Outcome(499, "success"))])
        assert len(entries(path)) == 500
    assert len(entries(path)) == 500


def test_one_push_at_a_time_per_journal(tmp_path):
    with Journal(tmp_path / "j.sqlite"):
        with pytest.raises(qx.ConfigError, match="in use by another push"):
            Journal(tmp_path / "j.sqlite")
        assert Journal.for_lookups(tmp_path / "j.sqlite") is not None  # a dry run may read


def test_a_foreign_file_is_not_a_journal(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(qx.ConfigError, match="not a qxframe journal"):
        Journal(path)
    (tmp_path / "text.sqlite").write_text("hello, this is not SQLite at all" * 10)
    with pytest.raises(qx.ConfigError, match="cannot use"):
        Journal(tmp_path / "text.sqlite")


# -- resuming pushes -----------------------------------------------------------------------------

PEOPLE = pl.DataFrame(
    {
        "email": ["a@example.com", "b@example.com", "bad@", "a@example.com", "d@example.com"],
        "order": ["o1", "o2", "o3", "o4", "o5"],
    }
)


def contacts(sb, frame, journal, **kwargs):
    return qx.upsert_contacts(
        frame, client=sb.client(), directory_id=sb.plain_directory_id, journal=journal, **kwargs
    )


def test_rerun_sends_nothing_that_succeeded(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    first = contacts(sb, PEOPLE, journal)
    assert first["status"].to_list() == ["success"] * 2 + ["invalid"] + ["success"] * 2
    sent = bodies(sb, "contacts")
    again = contacts(sb, PEOPLE, journal)
    assert bodies(sb, "contacts") == sent and sb.contacts().height == 4
    assert again["status"].to_list() == ["skipped"] * 2 + ["invalid"] + ["skipped"] * 2
    assert again["qualtrics_id"].to_list() == first["qualtrics_id"].to_list()
    assert again["attempts"].to_list() == [0] * 5 and again["http_status"].is_null().all()
    assert qx.summary(again)["skipped"] == 4


def test_known_failures_are_sent_again_unknown_ones_are_not(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    sb.fail_next("contacts", status=400)  # row 0: refused, a known failure
    first = contacts(sb, PEOPLE, journal, concurrency=1)
    assert first["error_code"][0] != "outcome_unknown" and first["status"][0] == "failed"
    sb.fail_next("contacts", status=500, after_commit=True)  # row 0 lands, answer lost
    second = contacts(sb, PEOPLE, journal)
    assert second["status"].to_list() == ["failed", "skipped", "invalid", "skipped", "skipped"]
    assert second["error_code"][0] == "outcome_unknown"
    sent = bodies(sb, "contacts")
    third = contacts(sb, PEOPLE, journal)
    assert bodies(sb, "contacts") == sent  # the unknown row is not re-sent
    assert third["status"][0] == "failed" and third["error_code"][0] == "outcome_unknown"
    assert "not sent again" in third["error_message"][0]


def test_rows_left_pending_come_back_outcome_unknown(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    url = sb.workflow_url
    events = pl.DataFrame({"n": [1, 2, 3]})
    valid = prepare(
        events,
        "workflow",
        mapping=None,
        constants={"workflow_url": url},
        allowed_origin=sb.base_url,
    ).valid
    with Journal(journal) as j:  # as if a push was killed while sending row 1
        keys = j.keys(row_digests(valid, ("workflow_url",)))
        j.mark_pending("workflow", [(keys[1], 1)])
    res = qx.trigger_workflow(events, client=sb.client(), workflow_url=url, journal=journal)
    assert res["status"].to_list() == ["success", "failed", "success"]
    assert res["error_code"][1] == "outcome_unknown" and "stopped" in res["error_message"][1]
    assert sorted(sb.workflow_events()["payload"]) == ['{"n":1}', '{"n":3}']


def test_identical_rows_are_sent_once_each_and_skipped_once_each(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    twice = pl.DataFrame({"email": ["p@example.com"] * 2, "item": ["tea", "tea"]})
    kwargs = dict(
        client=sb.client(),
        directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
        mapping={"transaction_data": ["item"]},
        journal=journal,
    )
    first = qx.upsert_transactions(twice, **kwargs)
    again = qx.upsert_transactions(twice, **kwargs)
    assert first["status"].to_list() == ["success", "success"]
    assert again["status"].to_list() == ["skipped", "skipped"]
    assert again["qualtrics_id"].to_list() == first["qualtrics_id"].to_list()
    assert first["qualtrics_id"].n_unique() == 2 and sb.transactions().height == 2


def test_transactions_failed_at_lookup_are_not_journaled(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    frame = pl.DataFrame({"email": ["x@example.com", "y@example.com"], "n": ["1", "2"]})
    kwargs = dict(
        client=sb.client(),
        directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
        mapping={"transaction_data": ["n"]},
        journal=journal,
        concurrency=1,
    )
    sb.fail_next("search", status=400)
    first = qx.upsert_transactions(frame, **kwargs)
    assert first["status"].to_list() == ["failed", "success"]
    assert [status for status, *_ in entries(journal)] == ["success"]
    again = qx.upsert_transactions(frame, **kwargs)
    assert again["status"].to_list() == ["success", "skipped"]
    assert sb.transactions().height == 2


def test_a_refused_token_leaves_no_pending_rows(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    client = qx.Client(api_token="wrong", base_url=sb.base_url)
    with pytest.raises(qx.AuthError):
        qx.trigger_workflow(
            pl.DataFrame({"n": [1, 2]}), client=client, workflow_url=sb.workflow_url,
            journal=journal,
        )  # fmt: skip
    assert entries(journal) == []


def test_dry_run_reads_the_journal_and_writes_nothing(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    preview = contacts(sb, PEOPLE, journal, dry_run=True)
    assert not journal.exists() and preview["status"][0] == "dry_run"
    contacts(sb, PEOPLE.head(2), journal)
    before = entries(journal)
    preview = contacts(sb, PEOPLE, journal, dry_run=True)
    assert preview["status"].to_list() == ["skipped", "skipped", "invalid", "dry_run", "dry_run"]
    assert entries(journal) == before


def test_same_rows_from_csv_and_parquet_share_entries(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    frame = pl.DataFrame({"email": ["c@example.com"], "unsubscribed": [True]})
    frame.with_columns(pl.col("unsubscribed").cast(pl.String)).write_csv(tmp_path / "in.csv")
    frame.write_parquet(tmp_path / "in.parquet")
    assert contacts(sb, tmp_path / "in.csv", journal)["status"].to_list() == ["success"]
    assert contacts(sb, tmp_path / "in.parquet", journal)["status"].to_list() == ["skipped"]


def test_the_workflow_url_is_not_stored(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    qx.trigger_workflow(
        pl.DataFrame({"n": [1]}), client=sb.client(), workflow_url=sb.workflow_url, journal=journal
    )
    token = sb.workflow_url.split("urlTokenId=")[1]
    assert token.encode() not in journal.read_bytes()
    wal = journal.with_name(journal.name + "-wal")
    assert not wal.exists() or token.encode() not in wal.read_bytes()


class Observer:
    """A transport noting, as each request leaves, how many rows the journal holds pending."""

    def __init__(self, journal) -> None:
        import httpx

        self.inner, self.journal, self.seen = httpx.AsyncHTTPTransport(), journal, []

    async def handle_async_request(self, request):
        pending = 0
        if self.journal.exists():
            with sqlite3.connect(self.journal) as db:
                found = db.execute("SELECT count(*) FROM outcomes WHERE status = 'pending'")
                pending = found.fetchone()[0]
        self.seen.append((request.url.path.rsplit("/", 1)[-1], pending))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_pending_is_committed_before_transactions_go_out_not_before_lookups(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    observer = Observer(journal)
    frame = pl.DataFrame({"email": ["m@example.com", "n@example.com", "m@example.com"]})
    res = qx.upsert_transactions(
        frame,
        client=sb.client(transport=observer),
        directory_id=sb.plain_directory_id,
        mailing_list_id=sb.plain_mailing_list_id,
        journal=journal,
        concurrency=1,
    )
    assert res["status"].to_list() == ["success"] * 3
    assert observer.seen == [
        ("search", 0),
        ("contacts", 0),  # a contact create of a transaction row: safe to redo, not marked
        ("search", 0),
        ("contacts", 0),
        ("transactions", 3),  # the batch's rows are pending while it is in flight
    ]
    assert [status for status, *_ in entries(journal)] == ["success"] * 3


def test_contacts_that_would_merge_are_not_marked_pending(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    observer = Observer(journal)
    frame = pl.DataFrame({"email": ["m@example.com", None], "phone": [None, "0005550000"]})
    qx.upsert_contacts(
        frame,
        client=sb.client(transport=observer),
        directory_id=sb.directory_id,  # deduplicates on email
        journal=journal,
        concurrency=1,
    )
    assert observer.seen == [("directories", 0), ("contacts", 0), ("contacts", 1)]
    assert sb.requests().filter(pl.col("family") == "reads").height == 1
