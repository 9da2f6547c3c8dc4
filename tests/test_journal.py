"""The journal: row keys, the SQLite file, and resuming pushes without sending twice."""

from __future__ import annotations

import hashlib
import sqlite3

import polars as pl
import pytest

import qxframe as qx
from qxframe import _digests
from qxframe._journal import Accepted, Identity, Journal, peek
from qxframe._payloads import contact_bodies
from qxframe._prepare import prepare
from tests.helpers import bodies

ALICE = {"row": 0, "directory_id": "POOL_abc", "email": "ada@example.com", "first_name": "Ada"}


def entries(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT status, error_code FROM entries ORDER BY status").fetchall()


# -- keys -----------------------------------------------------------------------------------


def test_an_events_content_is_sha256_of_its_sorted_non_null_values():
    frame = pl.DataFrame(
        [{**ALICE, "unsubscribed": False, "phone": None}],
        schema_overrides={"phone": pl.String},
    )
    [content] = _digests.event_contents(frame, ("directory_id",))
    # [{"directory_id":"POOL_abc"},{"email":…,"first_name":"Ada","unsubscribed":false}]
    text = (
        '[{"directory_id":"POOL_abc"},'
        '{"email":"ada@example.com","first_name":"Ada","unsubscribed":false}]'
    )
    assert content == hashlib.sha256(text.encode()).digest()[:16]


def test_an_events_content_ignores_column_order_nulls_and_row_position():
    one = pl.DataFrame([ALICE])
    other = pl.DataFrame(
        [{"first_name": "Ada", "email": "ada@example.com", "row": 7, "directory_id": "POOL_abc"}]
    ).with_columns(phone=pl.lit(None, pl.String))
    assert _digests.event_contents(one, ("directory_id",)) == _digests.event_contents(
        other, ("directory_id",)
    )
    moved = pl.DataFrame([{**ALICE, "directory_id": "POOL_xyz"}])
    assert _digests.event_contents(moved, ("directory_id",)) != _digests.event_contents(
        one, ("directory_id",)
    )


def test_a_person_is_keyed_by_the_dedup_fields_when_the_row_carries_them_else_the_lookup_key():
    people = pl.DataFrame(
        {
            "row": [0, 1, 2, 3],
            "directory_id": ["POOL_abc"] * 4,
            "ext_ref": ["u1", "u2", " u1 ", None],
            "email": [" Ada@Example.com", "ada@example.com", "ada@example.com", None],
            "phone": [None, None, None, "555"],
            "first_name": ["Ada", "Bea", "Ada", "Cy"],
        }
    )
    by_email = _digests.person_keys(people, ("email",), ("directory_id",))
    assert by_email[0] == by_email[1] == by_email[2]  # one person to a directory on email
    by_lookup = _digests.person_keys(people, (), ("directory_id",))
    assert by_lookup[0] == by_lookup[2] != by_lookup[1]  # ext_ref trimmed, e-mail lower-cased
    assert by_email[3] == by_lookup[3]  # no e-mail: the lookup key
    elsewhere = people.with_columns(directory_id=pl.lit("POOL_xyz"))
    assert _digests.person_keys(elsewhere, ("email",), ("directory_id",))[0] != by_email[0]


def test_changes_name_the_fields_whose_value_is_not_the_one_accepted():
    accepted = _digests.fields_of('{"email":"a@x.org","embeddedData":{"region":"N","tier":"1"}}')
    body = '{"email":"b@x.org","firstName":"Ada","embeddedData":{"region":"N","tier":"2"}}'
    assert _digests.changes(accepted, body) == ["email", "embeddedData.tier", "firstName"]
    assert _digests.changes(accepted, '{"email":"a@x.org"}') == []  # less is not a change
    assert len(accepted) == 6 * 3  # 6 bytes a field: never the values


def test_field_digests_of_a_journal_written_before_crc32_name_the_same_changes():
    """Journals written before CRC-32 hold 4 bytes of each value's SHA-256: a field whose
    value did not change is not named (never "every field changed" after an upgrade)."""
    import hashlib
    import json

    accepted = {"email": "a@x.org", "embeddedData": {"region": "N", "score": 3, "vip": True}}
    packed = b"".join(
        hashlib.sha256(path.encode()).digest()[:2]
        + hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).digest()[:4]
        for path, value in sorted(_digests._paths(accepted))
    )
    body = '{"email":"a@x.org","embeddedData":{"region":"S","score":3,"vip":true}}'
    assert _digests.changes(packed, body) == ["embeddedData.region"]
    assert _digests.fields_of_many([body, "{}"]) == [_digests.fields_of(body), b""]


# -- the file ---------------------------------------------------------------------------------


def accepted(i: int) -> Accepted:
    return Accepted(i.to_bytes(12, "big"), None, None, f"CID_{i}", False, None)


def test_field_digests_column_wise_are_those_of_each_body():
    """Embedded data whose keys differ by row, whose strings hold the characters that
    delimit JSON (and escapes, which take the per-body path), numbers and booleans."""
    embedded = [
        '{"plan":"free","score":0,"city":"Paris"}',
        '{"note":"a,b:{c}","n":-1.5e-05,"ok":true}',
        '{"quote":"say \\"hi\\"","path":"C:\\\\x"}',
        None,
        '{"é":"ü","z":"日本"}',
        '{"city":"Paris"}',
    ]
    frame = pl.DataFrame(
        {
            "ext_ref": [f"X{i}" for i in range(len(embedded))],
            "email": ["a@x.org", None, "b@x.org", "c@x.org", None, "d@x.org"],
            "embedded_data": embedded,
        }
    )
    valid = prepare(
        frame, "contacts", mapping=None, constants={"directory_id": "POOL_1"},
        allowed_origin=None,
    ).valid  # fmt: skip
    assert valid.height == len(embedded)
    texts = contact_bodies(valid).to_list()
    assert _digests.fields_of_frame(valid) == _digests.fields_of_many(texts)
    assert _digests.changes(_digests.fields_of_frame(valid)[1], texts[1]) == []


def test_journal_is_wal_and_records_are_committed_in_batches(tmp_path):
    path = tmp_path / "j.sqlite"
    keys = [i.to_bytes(16, "big") for i in range(600)]
    with Journal(path) as journal:
        assert journal._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        journal.mark_pending([(keys[0], None)])
        assert entries(path) == [("pending", None)]  # committed before the request
        journal.accepted([(k, accepted(i)) for i, k in enumerate(keys[:499])])
        assert len(entries(path)) == 1  # not yet: records are committed in batches
        journal.accepted([(keys[499], accepted(499))])
        assert len(entries(path)) == 500
    assert len(entries(path)) == 500


def test_a_failed_or_pending_write_keeps_the_body_last_accepted(tmp_path):
    key = b"k" * 16
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.accepted([(key, accepted(7))])
        journal.mark_pending([(key, None)])
        assert journal.lookup([key])[key].status == "pending"
        assert journal.lookup([key])[key].body == (7).to_bytes(12, "big")
        journal.forget([key])  # nothing of that write landed: what was accepted stands
        assert journal.lookup([key])[key].status == "success"
        from qxframe._journal import Refused

        journal.refused([(key, Refused(None, 400, "bad", "no"))])
        found = journal.lookup([key])[key]
        assert (found.status, found.body, found.contact_id) == (
            "failed", (7).to_bytes(12, "big"), "CID_7",
        )  # fmt: skip


def test_a_key_accepted_twice_in_one_record_keeps_its_last_body(tmp_path):
    """Rows are written sorted by key (neighbours share pages), but a key's own rows keep
    their order: the body recorded is the last one Qualtrics accepted, whatever the bytes
    of the two bodies (here the later one sorts first)."""
    key, other = b"k" * 16, b"a" * 16
    later, earlier = (1).to_bytes(12, "big"), (9).to_bytes(12, "big")
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.accepted_people(
            [(key, earlier, b"", "CID_1", None), (other, later, b"", "CID_2", None),
             (key, later, b"", "CID_1", None)],
            member=False,
        )  # fmt: skip
        assert journal.lookup([key])[key].body == later


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


def test_a_format_1_journal_is_refused_never_misread(sb, tmp_path):
    path = tmp_path / "old.qxj"
    with sqlite3.connect(path) as db:  # as qxframe's format 1 left it
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('format', '1')")
        db.execute("CREATE TABLE outcomes (action TEXT, destination BLOB, fingerprint BLOB)")
    for dry_run in (False, True):
        with pytest.raises(qx.ConfigError, match=r"format 1.*new journal file"):
            contacts(sb, PEOPLE, path, dry_run=dry_run)
    assert bodies(sb, "contacts") == 0
    assert peek(path) is None


def test_peek_reads_a_journal_without_locking_it(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        journal.claim(Identity.of("contacts", {"directory_id": "POOL_abc"}))
        journal.accepted([(b"k" * 16, accepted(1))])
        journal.commit()
        seen = peek(path)
    assert seen is not None and seen.rows == 1 and seen.identity is not None
    assert seen.identity.describe() == "contacts to directory_id POOL_abc"


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
    ids, before = again["qualtrics_id"].to_list(), first["qualtrics_id"].to_list()
    # one person, two rows (a directory that does not deduplicate made two contacts): the
    # journal knows the person by the contact its last write answered
    assert ids[1] == before[1] and ids[4] == before[4] and ids[0] == ids[3] == before[3]
    assert again["operation"].to_list() == ["unchanged"] * 2 + [None] + ["unchanged"] * 2
    assert again["attempts"].to_list() == [0] * 5 and again["http_status"].is_null().all()
    assert qx.summary(again)["skipped"] == 4


def test_known_failures_are_sent_again_unknown_ones_are_not(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    people = PEOPLE.filter(pl.col("order") != "o4")  # one row a person
    sb.fail_next("contacts", status=400)  # row 0: refused, a known failure
    first = contacts(sb, people, journal, concurrency=1)
    assert first["error_code"][0] != "outcome_unknown" and first["status"][0] == "failed"
    sb.fail_next("contacts", status=500, after_commit=True)  # row 0 lands, answer lost
    second = contacts(sb, people, journal)
    assert second["status"].to_list() == ["failed", "skipped", "invalid", "skipped"]
    assert second["error_code"][0] == "outcome_unknown" and second["operation"][0] == "create"
    sent = bodies(sb, "contacts")
    third = contacts(sb, people, journal)
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
        j.claim(Identity.of("workflow", {"workflow_url": url}))
        [_, content, _] = _digests.event_contents(valid, ("workflow_url",))
        j.mark_pending([(_digests.with_occurrence(content, 0), None)])
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
    assert preview["operation"].to_list() == ["create", "create", None, "create", "create"]
    contacts(sb, PEOPLE.head(2), journal)
    before = entries(journal)
    preview = contacts(sb, PEOPLE, journal, dry_run=True)
    # row 3 is row 0's person with the same body: what Qualtrics holds
    assert preview["status"].to_list() == ["skipped", "skipped", "invalid", "skipped", "dry_run"]
    assert preview["operation"].to_list() == ["unchanged"] * 2 + [None, "unchanged", "create"]
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


def test_next_weeks_file_is_the_same_sync_and_only_what_changed_is_sent(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    week1 = write(tmp_path, "week1.csv", ["a@example.com", "b@example.com"])
    week2 = write(tmp_path, "week2.csv", ["a@example.com", "z@example.com"])
    assert contacts(sb, week1, journal)["status"].to_list() == ["success"] * 2
    sent = bodies(sb, "contacts")
    again = contacts(sb, week2, journal)
    assert again["status"].to_list() == ["skipped", "success"]
    assert again["operation"].to_list() == ["unchanged", "create"]
    assert bodies(sb, "contacts") == sent + 1
    as_frame = contacts(sb, pl.read_csv(week2).with_columns(extra=pl.lit(1)), journal)
    assert as_frame["operation"].to_list() == ["unchanged", "unchanged"]  # a frame too


def test_another_action_or_destination_is_refused(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    day1 = write(tmp_path, "day1.csv", ["a@example.com"])
    contacts(sb, day1, journal)
    sent = bodies(sb, "contacts")
    with pytest.raises(
        qx.ConfigError,
        match=rf"to directory_id {sb.plain_directory_id}\).*"
        rf"to directory_id {sb.directory_id}\. Use a new journal",
    ):
        qx.upsert_contacts(day1, client=sb.client(), directory_id=sb.directory_id, journal=journal)
    with pytest.raises(
        qx.ConfigError, match=r"another destination \(contacts .*this push is transact"
    ):
        qx.upsert_transactions(
            day1,
            client=sb.client(),
            directory_id=sb.plain_directory_id,
            mailing_list_id=sb.plain_mailing_list_id,
            journal=journal,
        )
    with pytest.raises(qx.ConfigError, match="another destination"):  # a dry run checks too
        qx.upsert_contacts(
            day1, client=sb.client(), directory_id=sb.directory_id, journal=journal, dry_run=True
        )
    assert bodies(sb, "contacts") == sent


def test_an_edited_file_is_the_same_push(sb, tmp_path):
    journal = tmp_path / "j.sqlite"
    path = write(tmp_path, "in.csv", ["a@example.com", "bad@", "c@example.com"])
    contacts(sb, path, journal)
    write(tmp_path, "in.csv", ["a@example.com", "b@example.com", "c@example.com", "d@example.com"])
    again = contacts(sb, path, journal)
    assert again["status"].to_list() == ["skipped", "success", "skipped", "success"]
    assert sb.contacts().height == 4


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
                found = db.execute("SELECT count(*) FROM entries WHERE status = 'pending'")
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
