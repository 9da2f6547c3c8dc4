"""Keeping a segment in step (DESIGN §7): only what changed is sent, members who left leave
the list, the guard refuses a truncated export. Against the sandbox over loopback, counted
in its request log."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import polars as pl
import pytest

import qxframe as qx
from qxframe._sinks import read_results

N = 40


def people(n: int = N, start: int = 0) -> pl.DataFrame:
    ids = range(start, start + n)
    return pl.DataFrame(
        {
            "ext_ref": [f"u{i}" for i in ids],
            "email": [f"p{i}@example.com" for i in ids],
            "region": ["north" if i % 2 else "south" for i in ids],
        }
    )


def week2(week1: pl.DataFrame) -> pl.DataFrame:
    """Two changed (u1, u2), two left (u3, u4), two new (u100, u101)."""
    kept = week1.filter(~pl.col("ext_ref").is_in(["u3", "u4"]))
    changed = kept.with_columns(
        region=pl.when(pl.col("ext_ref").is_in(["u1", "u2"]))
        .then(pl.lit("east"))
        .otherwise(pl.col("region"))
    )
    return pl.concat([changed, people(2, start=100)])


def writes(sb) -> pl.DataFrame:
    return sb.requests().filter(pl.col("method").is_in(["POST", "PUT", "DELETE"]))


def members(sb, ml: str) -> set[str]:
    held = sb.contacts().select("contact_id", "ext_ref")
    joined = sb.mailing_list_members().filter(pl.col("mailing_list_id") == ml)
    return set(joined.join(held, on="contact_id")["ext_ref"].to_list())


@pytest.fixture
def sync(sb, tmp_path):
    journal = tmp_path / "segment.qxj"

    def push(frame, **kwargs):
        options = dict(
            client=sb.client(),
            directory_id=sb.directory_id,
            mailing_list_id=sb.mailing_list_id,
            mapping={"embedded_data": ["region"]},
            journal=journal,
            method="api",
        )
        return qx.upsert_contacts(frame, **(options | kwargs))

    push.journal = journal
    return push


@pytest.mark.parametrize("method", ["api", "import"])
def test_the_weekly_sync_sends_only_what_changed_and_removes_who_left(sb, sync, method):
    first = sync(people(), method=method, on_leave="remove")
    assert qx.summary(first)["create"] == N and members(sb, sb.mailing_list_id) == {
        f"u{i}" for i in range(N)
    }
    sb._store.state.requests.clear()

    res = sync(week2(people()), method=method, on_leave="remove")

    counts = qx.summary(res)
    assert (counts["create"], counts["update"], counts["unchanged"], counts["remove"]) == (
        2,
        2,
        N - 4,
        2,
    )
    assert counts["failed"] == counts["invalid"] == 0
    sent = writes(sb)
    deletes = sent.filter(pl.col("method") == "DELETE")
    assert deletes.height == 2  # one removal a leaver
    if method == "api":
        assert sent.height == 2 + 2 + 2  # changed + new + left: nothing else written
    else:
        assert sent.filter(pl.col("method") == "POST").height == 1  # one import job
    assert members(sb, sb.mailing_list_id) == {f"u{i}" for i in range(N) if i not in (3, 4)} | {
        "u100",
        "u101",
    }
    assert sb.contacts().height == N + 2  # removed from the list, still in the directory
    updates = res.filter(pl.col("operation") == "update").sort("row")
    assert updates["changes"].to_list() == ['["embeddedData.region"]'] * 2
    gone = res.filter(pl.col("row").is_null())
    assert gone["operation"].to_list() == ["remove"] * 2 and set(gone["ext_ref"]) == {"u3", "u4"}
    assert set(gone["email"]) == {"p3@example.com", "p4@example.com"}
    assert gone["contact_id"].str.starts_with("CID_").all()
    assert res.head(res.height - 2)["row"].to_list() == list(range(N))  # input rows, in order


def test_without_a_journal_contacts_are_upserts_and_events_creates(sb):
    res = qx.upsert_contacts(people(3), client=sb.client(), directory_id=sb.directory_id)
    assert res["operation"].to_list() == ["upsert"] * 3 and res["changes"].is_null().all()
    events = qx.trigger_workflow(
        pl.DataFrame({"n": [1, 2]}), client=sb.client(), workflow_url=sb.workflow_url
    )
    assert events["operation"].to_list() == ["create"] * 2


def test_full_resync_sends_every_row_and_says_so(sb, sync):
    sync(people(5))
    again = sync(people(5), full_resync=True)
    assert again["status"].to_list() == ["success"] * 5
    assert again["operation"].to_list() == ["update"] * 5 and again["changes"][0] == "[]"
    assert sync(people(5))["operation"].to_list() == ["unchanged"] * 5


def test_events_already_accepted_are_not_sent_again_from_a_new_frame(sb, tmp_path):
    journal = tmp_path / "events.qxj"
    kwargs = dict(
        client=sb.client(),
        directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
        mapping={"transaction_data": ["item"]},
        journal=journal,
    )
    monday = pl.DataFrame({"email": ["a@example.com", "b@example.com"], "item": ["tea", "jam"]})
    qx.upsert_transactions(monday, **kwargs)
    tuesday = pl.concat([monday, pl.DataFrame({"email": ["c@example.com"], "item": ["oat"]})])
    res = qx.upsert_transactions(tuesday.reverse(), **kwargs)  # another frame, another order
    assert res["operation"].to_list() == ["create", "unchanged", "unchanged"]
    assert sb.transactions().height == 3


@pytest.mark.parametrize("chunk", [2, 50])
def test_a_person_repeated_across_chunks_ends_as_the_last_row_says(sb, sync, monkeypatch, chunk):
    """Row 0 changes u0 and a later row (in another chunk when ``chunk`` is 2) brings back
    the body the journal holds: Qualtrics holds row 0's by then, so the later row is sent,
    and a dry run (which records nothing) says so too."""
    from qxframe.actions import _chunks

    monkeypatch.setattr(_chunks, "CHUNK_SIZE", chunk)  # the dry run's
    monkeypatch.setattr(_chunks, "FLIGHT_CHUNK_SIZE", chunk)  # the push's: sent side by side
    sync(people(4))
    back = people(4).row(0, named=True)
    changed = people(4).with_columns(
        region=pl.when(pl.col("ext_ref") == "u0").then(pl.lit("east")).otherwise("region")
    )
    expected = ["update", "unchanged", "unchanged", "unchanged", "update"]
    planned = sync(pl.concat([changed, pl.DataFrame([back])]), dry_run=True)
    assert planned["operation"].to_list() == expected  # the plan says what the push does
    res = sync(pl.concat([changed, pl.DataFrame([back])]))
    assert res["operation"].to_list() == expected
    held = sb.contacts().filter(pl.col("ext_ref") == "u0")
    assert json.loads(held["embedded_data"][0])["region"] == back["region"]
    assert sync(pl.concat([changed, pl.DataFrame([back])]))["operation"].to_list() == [
        "update", "unchanged", "unchanged", "unchanged", "update"
    ]  # fmt: skip


@pytest.mark.parametrize("chunk", [1, 50])
def test_identical_events_in_other_chunks_are_told_apart(sb, tmp_path, monkeypatch, chunk):
    """Three identical transactions are three events, whether one chunk or three carry them;
    next week's same three are not sent, a fourth is."""
    from qxframe.actions import _chunks

    monkeypatch.setattr(_chunks, "CHUNK_SIZE", chunk)
    kwargs = dict(
        client=sb.client(), directory_id=sb.directory_id, mailing_list_id=sb.mailing_list_id,
        mapping={"transaction_data": ["item"]}, journal=tmp_path / "events.qxj",
    )  # fmt: skip
    three = pl.DataFrame({"email": ["a@example.com"] * 3, "item": ["tea"] * 3})
    assert qx.upsert_transactions(three, **kwargs)["operation"].to_list() == ["create"] * 3
    four = pl.concat([three, three.head(1)])
    res = qx.upsert_transactions(four, **kwargs)
    assert res["operation"].to_list() == ["unchanged"] * 3 + ["create"]
    assert sb.transactions().height == 4


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_a_results_file_says_who_left_by_name(sb, sync, tmp_path, suffix):
    """With ``out=``, removal rows keep their identity columns, as in memory; input rows
    have them null, and the file reads back as results."""
    sync(people(6), on_leave="remove")
    out = tmp_path / f"week2.{suffix}"
    written = sync(people(4), on_leave="remove", max_leave=2, out=out).collect()
    removals = written.filter(pl.col("row").is_null()).sort("ext_ref")
    assert removals.select("ext_ref", "email", "operation").rows() == [
        ("u4", "p4@example.com", "remove"), ("u5", "p5@example.com", "remove")
    ]  # fmt: skip
    assert written.filter(pl.col("row").is_not_null())["ext_ref"].is_null().all()
    assert read_results(out).equals(written)


# -- the guard --------------------------------------------------------------------------------


def test_the_guard_refuses_a_truncated_file_before_any_request(sb, sync, tmp_path):
    sync(people(), on_leave="remove")
    sb._store.state.requests.clear()
    truncated = tmp_path / "week2.csv"
    head = people().head(10).with_columns(region=pl.lit("west"))  # changed: would be sent
    head.write_csv(truncated)
    with pytest.raises(qx.ConfigError, match=r"30 of the 40 members.*max_leave=0\.2 allows \(8\)"):
        sync(truncated, on_leave="remove")
    assert sb.requests().height == 0 and len(members(sb, sb.mailing_list_id)) == N  # no read
    with pytest.raises(qx.ConfigError, match="max_leave"):
        sync(head, on_leave="remove")  # an in-memory frame: the same
    assert sb.requests().height == 0
    res = sync(people().head(10), on_leave="remove", max_leave=30)  # a count: allowed
    assert qx.summary(res)["remove"] == 30 and len(members(sb, sb.mailing_list_id)) == 10


def test_the_guard_refuses_an_empty_export(sb, sync, tmp_path):
    sync(people(5), on_leave="remove")
    sb._store.state.requests.clear()
    empty = tmp_path / "empty.csv"
    empty.write_text("ext_ref,email,region\n")
    for frame in (empty, people(0)):
        with pytest.raises(qx.ConfigError, match=r"no valid row.*all 5 members"):
            sync(frame, on_leave="remove", max_leave=100)
    assert writes(sb).height == 0 and len(members(sb, sb.mailing_list_id)) == 5


def test_a_member_added_by_hand_is_never_removed(sb, sync):
    client = sb.client()
    by_hand = {"extRef": "u1", "email": "p1@example.com"}
    client.run(client.acreate_list_contact(sb.directory_id, sb.mailing_list_id, by_hand))
    sync(people(5), on_leave="remove")  # the journal's first write into the list reads it
    res = sync(people(5).filter(pl.col("ext_ref") != "u1"), on_leave="remove")
    assert qx.summary(res).get("remove", 0) == 0
    assert "u1" in members(sb, sb.mailing_list_id)


def test_an_invalid_rows_person_is_not_removed(sb, sync):
    sync(people(5), on_leave="remove")
    week = people(5).with_columns(
        email=pl.when(pl.col("ext_ref") == "u2").then(pl.lit("not-an-email")).otherwise("email")
    )
    res = sync(week, on_leave="remove")
    assert res["status"][2] == "invalid" and qx.summary(res).get("remove", 0) == 0
    assert members(sb, sb.mailing_list_id) == {f"u{i}" for i in range(5)}


def test_unsubscribe_keeps_the_member_unsubscribed_from_the_list(sb, sync):
    sync(people(5), on_leave="unsubscribe")
    res = sync(people(5).head(4), on_leave="unsubscribe")
    assert qx.summary(res)["unsubscribe"] == 1
    assert members(sb, sb.mailing_list_id) == {f"u{i}" for i in range(5)}
    held = sb.contacts().filter(pl.col("ext_ref") == "u4")
    member = sb.client().run(
        sb.client().asend(
            "GET",
            f"/API/v3/directories/{sb.directory_id}/mailinglists/{sb.mailing_list_id}"
            f"/contacts/{held['contact_id'][0]}",
            route=__import__("qxframe.delivery._transport", fromlist=["READ"]).READ,
        )
    )
    assert member.result["mailingListUnsubscribed"] is True


def test_a_dry_run_shows_every_operation_removals_included_and_sends_nothing(sb, sync):
    sync(people(), on_leave="remove")
    sb._store.state.requests.clear()
    plan = sync(week2(people()), on_leave="remove", dry_run=True)
    counts = qx.summary(plan)
    assert (counts["create"], counts["update"], counts["unchanged"], counts["remove"]) == (
        2,
        2,
        N - 4,
        2,
    )
    assert writes(sb).height == 0
    assert plan.filter(pl.col("row").is_null())["status"].to_list() == ["dry_run"] * 2


def test_a_member_who_left_and_comes_back_is_added_again(sb, sync):
    sync(people(3), on_leave="remove")
    sync(people(3).head(2), on_leave="remove", max_leave=1)
    assert members(sb, sb.mailing_list_id) == {"u0", "u1"}
    back = sync(people(3), on_leave="remove")
    assert back["operation"].to_list() == ["unchanged", "unchanged", "create"]
    assert members(sb, sb.mailing_list_id) == {"u0", "u1", "u2"}


def test_on_leave_needs_a_journal_and_a_mailing_list(sb):
    with pytest.raises(qx.ConfigError, match="on_leave needs a journal"):
        qx.upsert_contacts(
            people(1), client=sb.client(), directory_id=sb.directory_id,
            mailing_list_id=sb.mailing_list_id, on_leave="remove",
        )  # fmt: skip
    with pytest.raises(qx.ConfigError, match="needs a mailing list"):
        qx.upsert_contacts(
            people(1), client=sb.client(), directory_id=sb.directory_id, journal="x.qxj",
            on_leave="remove",
        )  # fmt: skip
    assert writes(sb).height == 0


# -- killed and resumed -----------------------------------------------------------------------


def wait_for(process, journal, query, at_least, within=90.0) -> None:
    deadline = time.monotonic() + within
    while process.poll() is None:
        try:
            with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1) as db:
                if db.execute(query).fetchone()[0] >= at_least:
                    break
        except sqlite3.Error:
            pass
        assert time.monotonic() < deadline, "the push recorded nothing in time"
        time.sleep(0.02)
    process.send_signal(9)
    process.wait(10)
    assert process.returncode == -9, "the push ended before it was killed"


@pytest.mark.parametrize("phase", ["rows", "removals"])
def test_a_sync_killed_mid_way_resumes_sending_nothing_twice(tmp_path, phase):
    week1 = people(30)
    left = 12 if phase == "removals" else 3
    week2 = pl.concat([week1.slice(left), people(20, start=100)])
    journal = tmp_path / "j.qxj"
    one, two = tmp_path / "week1.csv", tmp_path / "week2.csv"
    week1.write_csv(one)
    week2.write_csv(two)
    with qx.sandbox(latency=0.05, seed=5) as sb:
        env = {**os.environ, "QUALTRICS_BASE_URL": sb.base_url, "QUALTRICS_API_TOKEN": sb.api_token}
        args = ["push", "contacts", "--directory-id", sb.plain_directory_id]
        args += ["--mailing-list-id", sb.plain_mailing_list_id, "--journal", str(journal)]
        args += ["--map", "embedded_data=region", "--on-leave", "remove", "--max-leave", "15"]
        args += ["--method", "api", "--concurrency", "2", "--no-progress"]
        command = [sys.executable, "-m", "qxframe", *args]
        run = subprocess.run([*command[:3], *command[3:], str(one)], env=env, capture_output=True)
        assert run.returncode == 0, run.stderr.decode()

        second = subprocess.Popen([*command, str(two)], env=env, stdout=subprocess.PIPE)
        if phase == "rows":
            wait_for(second, journal, "SELECT count(*) FROM entries", 30 + 5)
        else:
            removed = "SELECT count(*) FROM entries WHERE status = 'success' AND body IS NULL"
            wait_for(second, journal, removed, 2)
        out = tmp_path / "results.csv"
        third = subprocess.run(
            [*command, str(two), "--out", str(out)], env=env, capture_output=True, timeout=120
        )
        assert third.returncode in (0, 1), third.stderr.decode()
        held, log = sb.contacts(), sb.requests()
        listed = sb.mailing_list_members()

    results = read_results(out)
    unknown = results.filter(pl.col("status") == "failed")
    assert (unknown["error_code"] == "outcome_unknown").all() and unknown.height <= 2
    maybe = set(unknown["row"].to_list())  # in flight at the kill: landed or not
    # a directory that does not deduplicate: a create sent twice would be a second contact
    assert held["email"].n_unique() == held.height >= 50 - len(maybe)
    deletes = log.filter(pl.col("method") == "DELETE")
    removed = deletes.filter(pl.col("status") < 300)
    assert removed["path"].n_unique() == removed.height == left  # each member removed once
    assert deletes.height - removed.height <= 2  # at most the kill's in-flight ones, as 404s
    gone = {f"u{i}" for i in range(left)}
    stay = {f"u{i}" for i in range(30)} - gone | {f"u{i}" for i in range(100, 120)}
    in_list = set(listed.join(held, on="contact_id")["ext_ref"])
    unsure = {week2["ext_ref"][r] for r in maybe}
    assert stay - unsure <= in_list <= stay and not in_list & gone
    removals = results.filter(pl.col("row").is_null())
    assert (removals["operation"] == "remove").all() and (removals["status"] == "success").all()
    if phase == "rows":  # the kill came before any removal: all of them in the resumed push
        assert removals.height == left
        assert set(removals["ext_ref"]) == gone  # the results file says who left, by name
        assert removals["email"].to_list() == [f"p{r[1:]}@example.com" for r in removals["ext_ref"]]
    assert "operations:" in third.stdout.decode()


@pytest.mark.parametrize("method", ["api", "import"])
def test_a_person_twice_in_one_push_is_remembered_by_their_last_row(sync, method):
    """Both rows are sent, in order; the journal holds the second body, so next week the
    second is unchanged and the first is an update naming the field."""
    first, second = people(), people().with_columns(region=pl.lit("west"))
    res = sync(pl.concat([first, second]), method=method)
    assert qx.summary(res)["failed"] == 0

    again = sync(second, method=method)
    assert qx.summary(again)["unchanged"] == N
    back = sync(first, method=method)
    assert qx.summary(back)["update"] == N
    assert set(back["changes"].to_list()) == {'["embeddedData.region"]'}


def _layout(path) -> str:
    with sqlite3.connect(path) as db:
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'entries'").fetchone()
    return "without rowid" if sql.rstrip().upper().endswith("WITHOUT ROWID") else "rowid"


def test_a_journal_of_the_earlier_layout_keeps_syncing_as_it_is(sb, sync, monkeypatch):
    """Journals made before entries became a rowid table hold them WITHOUT ROWID: the same
    queries read and write them, so next week's push is decided exactly as on a new one."""
    from qxframe import _journal

    earlier = _journal._SCHEMA.replace(
        "error_message TEXT\n);", "error_message TEXT\n) WITHOUT ROWID;"
    )
    assert earlier != _journal._SCHEMA
    monkeypatch.setattr(_journal, "_SCHEMA", earlier)
    first = sync(people(), on_leave="remove")
    monkeypatch.undo()
    assert _layout(sync.journal) == "without rowid" and qx.summary(first)["create"] == N
    sb._store.state.requests.clear()

    res = sync(week2(people()), on_leave="remove")

    counts = qx.summary(res)
    assert (counts["create"], counts["update"], counts["unchanged"], counts["remove"]) == (
        2, 2, N - 4, 2,
    )  # fmt: skip
    assert writes(sb).height == 2 + 2 + 2
    assert _layout(sync.journal) == "without rowid"  # read and written as it is
    again = sync(week2(people()), on_leave="remove")
    assert qx.summary(again)["unchanged"] == N and writes(sb).height == 6


def test_a_new_journal_keeps_entries_in_a_rowid_table_keyed_uniquely(sync, tmp_path):
    sync(people(3))
    assert _layout(sync.journal) == "rowid"
    with sqlite3.connect(sync.journal) as db:
        indexes = db.execute("PRAGMA index_list('entries')").fetchall()
        unique = [name for _, name, is_unique, *_ in indexes if is_unique]
        (column,) = [r[2] for r in db.execute(f"PRAGMA index_info('{unique[0]}')")]
    assert column == "key"
