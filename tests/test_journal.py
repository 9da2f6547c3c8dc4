"""The journal: row keys, the SQLite file, and resuming pushes without sending twice."""

from __future__ import annotations

import sqlite3

import polars as pl
import pytest

import qxframe as qx
from qxframe._journal import OUTCOME_COLUMNS, Journal, row_digests
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


def values(outcome: Outcome) -> tuple:
    return tuple(getattr(outcome, name) for name in OUTCOME_COLUMNS)


def test_journal_is_wal_and_records_are_committed_in_batches(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        assert journal._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        keys = journal.keys([(b"d" * 16, i.to_bytes(16, "big")) for i in range(600)])
        journal.mark_pending("workflow", [(keys[0], 0)])
        assert entries(path) == [("pending", 0, None)]  # committed before the request
        done = [(k, values(Outcome(i, "success"))) for i, k in enumerate(keys[:499])]
        journal.record("workflow", done)
        assert len(entries(path)) == 1  # not yet: records are committed in batches
        journal.record("workflow", [(keys[499], values(Outcome(499, "success")))])
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


def test_keys_are_of_canonical_values_whatever_the_column_type(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    frame = pl.DataFrame({"email": ["c@example.com"], "unsubscribed": [True]})
    as_text = frame.with_columns(pl.col("unsubscribed").cast(pl.String))  # as read from a CSV
    assert contacts(sb, as_text, journal)["status"].to_list() == ["success"]
    assert contacts(sb, frame, journal)["status"].to_list() == ["skipped"]


# -- a journal belongs to one push -----------------------------------------------------------


def write(tmp_path, name, emails):
    path = tmp_path / name
    pl.DataFrame({"email": emails}).write_csv(path)
    return path


def test_another_file_is_refused_naming_both_and_nothing_is_sent(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    day1 = write(tmp_path, "day1.csv", ["a@example.com", "b@example.com"])
    day2 = write(tmp_path, "day2.csv", ["a@example.com", "z@example.com"])
    assert contacts(sb, day1, journal)["status"].to_list() == ["success"] * 2
    sent = bodies(sb, "contacts")
    with pytest.raises(qx.ConfigError) as refused:
        contacts(sb, day2, journal)
    message = str(refused.value)
    assert str(day1.resolve()) in message and str(day2.resolve()) in message
    assert "new journal file" in message
    assert bodies(sb, "contacts") == sent


def test_another_action_or_destination_is_refused(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    day1 = write(tmp_path, "day1.csv", ["a@example.com"])
    contacts(sb, day1, journal)
    with pytest.raises(
        qx.ConfigError,
        match=rf"to directory_id {sb.plain_directory_id}\).*"
        rf"to directory_id {sb.directory_id}\. Use a new journal",
    ):
        qx.upsert_contacts(day1, client=sb.client(), directory_id=sb.directory_id, journal=journal)
    with pytest.raises(qx.ConfigError, match=r"another push \(contacts .*this push is transact"):
        qx.upsert_transactions(
            day1,
            client=sb.client(),
            directory_id=sb.plain_directory_id,
            mailing_list_id=sb.plain_mailing_list_id,
            journal=journal,
        )


def test_a_frame_is_known_by_its_columns(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    contacts(sb, PEOPLE, journal)
    again = contacts(sb, PEOPLE.to_pandas(), journal)  # same columns: the same push
    assert again["status"].to_list() == ["skipped"] * 2 + ["invalid"] + ["skipped"] * 2
    with pytest.raises(qx.ConfigError, match=r"columns 'email', 'order' to .*columns 'email' to "):
        contacts(sb, PEOPLE.select("email"), journal)


def test_the_same_file_by_another_spelling_or_a_symlink_is_the_same_push(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    path = write(tmp_path, "in.csv", ["a@example.com"])
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(path)
    contacts(sb, path, journal)
    for spelling in (tmp_path / "sub" / ".." / "in.csv", link):
        assert contacts(sb, spelling, journal)["status"].to_list() == ["skipped"]


def test_an_edited_file_is_the_same_push(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    path = write(tmp_path, "in.csv", ["a@example.com", "bad@", "c@example.com"])
    contacts(sb, path, journal)
    write(tmp_path, "in.csv", ["a@example.com", "b@example.com", "c@example.com", "d@example.com"])
    again = contacts(sb, path, journal)
    assert again["status"].to_list() == ["skipped", "success", "skipped", "success"]
    assert sb.contacts().height == 4


def test_a_journal_older_than_identities_is_adopted(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    day1 = write(tmp_path, "day1.csv", ["a@example.com"])
    contacts(sb, day1, journal)
    with sqlite3.connect(journal) as db:  # as an older qxframe left it
        db.execute("DELETE FROM meta WHERE key != 'format'")
    assert contacts(sb, day1, journal)["status"].to_list() == ["skipped"]
    with pytest.raises(qx.ConfigError, match="belongs to another push"):  # now it is tied
        contacts(sb, write(tmp_path, "day2.csv", ["b@example.com"]), journal)
    with sqlite3.connect(journal) as db:
        db.execute("DELETE FROM meta WHERE key != 'format'")
    with pytest.raises(qx.ConfigError, match="holds rows of a contacts push"):
        qx.trigger_workflow(day1, client=sb.client(), workflow_url=sb.workflow_url, journal=journal)


def test_a_dry_run_checks_the_journal_too(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    contacts(sb, write(tmp_path, "day1.csv", ["a@example.com"]), journal)
    with pytest.raises(qx.ConfigError, match="belongs to another push"):
        contacts(sb, write(tmp_path, "day2.csv", ["a@example.com"]), journal, dry_run=True)


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
        ("directories", 0),  # the destination check: the directory exists,
        ("mailinglists", 0),  # and the list is one of its
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
