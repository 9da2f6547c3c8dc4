"""Transactions' import jobs filled across chunks, against the sandbox over loopback.

A transactions push resolves new people by import jobs chunk by chunk; the last job of a
chunk is filled with the new people of the next chunks (``Context.ahead``), so a push
makes ``ceil(people / MAX_CONTACTS)`` jobs where cutting per chunk made one partial job
per chunk. Chunks and jobs are made small here (``CHUNK_SIZE``, ``MAX_CONTACTS``); the
figure at full size is bench figure g's.
"""

from __future__ import annotations

import math
import random

import polars as pl
import pytest

import qxframe as qx
from qxframe.actions import _chunks, _imports, _transactions
from qxframe.delivery._stop import current_stop
from tests.helpers import bodies

CHUNK, JOB = 30, 10
NEW = (13, 12, 9, 6)  # new people in each chunk: 2 + 2 + 1 + 1 jobs cut per chunk


@pytest.fixture
def small(sb, fake_time, monkeypatch):
    """Chunks of 30 rows, jobs of 10 contacts; the sandbox's imports on the fake clock."""
    monkeypatch.setattr(_chunks, "CHUNK_SIZE", CHUNK)
    monkeypatch.setattr(_imports, "MAX_CONTACTS", JOB)
    sb._imports.clock, sb._imports.import_rate = fake_time.clock, None
    yield sb.client(sleep=fake_time.sleep)
    sb._imports.clock = __import__("time").monotonic


def orders(new: tuple[int, ...] = NEW, seed: int = 3) -> pl.DataFrame:
    """Chunks of ``CHUNK`` rows; chunk j brings ``new[j]`` people (two rows each, their
    first anywhere in it) and fills up with people of earlier chunks."""
    rng = random.Random(seed)
    emails: list[str] = []
    seen = 0
    for count in new:
        fresh = [f"p{seen + i}@example.com" for i in range(count)] * 2
        seen += count
        chunk = fresh + [f"p{rng.randrange(seen)}@example.com" for _ in range(CHUNK - len(fresh))]
        rng.shuffle(chunk)
        emails += chunk
    return pl.DataFrame({"email": emails, "order": [f"o{i}" for i in range(len(emails))]})


def push(client, sb, frame, **options):
    options.setdefault("method", "import")
    options.setdefault("mapping", {"transaction_data": ["order"]})
    return qx.upsert_transactions(
        frame,
        client=client,
        directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
        progress=False,
        **options,
    )


def jobs_created(sb) -> int:
    log = sb.requests()
    return log.filter((pl.col("family") == "imports") & (pl.col("method") == "POST")).height


def check_attached(sb, frame: pl.DataFrame, res: pl.DataFrame) -> None:
    """Each row's transaction landed once, on the contact of its own person."""
    held = dict(zip(sb.contacts()["email"], sb.contacts()["contact_id"], strict=True))
    assert res["contact_id"].to_list() == [held[e] for e in frame["email"]]
    landed = sb.transactions().select(
        pl.col("data").str.json_path_match("$.order").alias("order"), "contact_id"
    )
    assert landed["order"].n_unique() == landed.height == frame.height
    owner = dict(zip(frame["order"], frame["email"], strict=True))
    assert all(held[owner[o]] == c for o, c in landed.iter_rows())


def test_jobs_are_filled_across_chunks_to_the_fewest_that_hold_every_person(sb, small):
    frame = orders()
    people = frame["email"].n_unique()
    res = push(small, sb, frame)
    assert res["status"].to_list() == ["success"] * frame.height
    assert jobs_created(sb) == math.ceil(people / JOB) == 4  # cut per chunk: 6
    jobs = sb.imports()
    assert jobs["contacts"].to_list() == [10, 10, 10, 10]
    assert jobs["contacts"].sum() == people == sb.contacts().height  # each imported once
    assert bodies(sb, "search") == 0
    check_attached(sb, frame, res)


def test_a_job_is_filled_from_two_chunks_ahead_and_no_further(sb, small):
    """Chunk 1's last job has room for 7; chunk 2 brings 3, chunk 3 brings 3: both are
    read ahead; chunk 4's people are left to their own chunk (at most LOOK_AHEAD)."""
    frame = orders((13, 3, 3, 3))
    res = push(small, sb, frame)
    assert res["status"].to_list() == ["success"] * frame.height
    assert sb.imports()["contacts"].to_list() == [10, 9, 3]
    assert sb.contacts().height == 22
    check_attached(sb, frame, res)


def test_auto_fills_the_jobs_of_chunks_that_import(sb, small, monkeypatch):
    """``"auto"`` decides per chunk (here every chunk holds at least 10 people); the jobs
    of the chunks that import are filled as with ``"import"``."""
    monkeypatch.setattr(_imports, "AUTO_MIN_ROWS", 10)
    frame = orders()
    res = push(small, sb, frame, method="auto")
    assert res["status"].to_list() == ["success"] * frame.height
    assert sb.imports()["contacts"].to_list() == [10, 10, 10, 10]
    assert bodies(sb, "search") == 0
    check_attached(sb, frame, res)


def test_a_dry_run_sends_no_job(sb, small):
    res = push(small, sb, orders(), dry_run=True)
    assert res["status"].unique().to_list() == ["dry_run"]
    assert bodies(sb, "imports") + bodies(sb, "transactions") + bodies(sb, "contacts") == 0


def test_people_the_journal_holds_done_are_not_imported_ahead(sb, small, tmp_path):
    """A second push with the journal sends chunk 1's changed rows only: its job holds
    their people alone, none of the later chunks' (all done)."""
    journal = tmp_path / "j.sqlite"
    frame = orders()
    push(small, sb, frame, journal=journal)
    sb.reset()
    changed = frame.with_columns(
        order=pl.when(pl.int_range(pl.len()) < 3).then(pl.lit("new")).otherwise("order")
    )
    res = push(small, sb, changed, journal=journal)
    assert res["status"].to_list() == ["success"] * 3 + ["skipped"] * (frame.height - 3)
    assert sb.imports()["contacts"].to_list() == [changed["email"][:3].n_unique()]


def test_a_push_stopped_after_a_chunk_resumes_with_each_person_once(
    sb, small, tmp_path, monkeypatch
):
    """Stopped once chunk 1 is sent (chunk 2's people imported ahead, their transactions
    not sent), then resumed with the journal: every transaction lands once, on the one
    contact of its person."""
    journal = tmp_path / "j.sqlite"
    frame = orders()
    send_all = _transactions._send_all

    async def then_stop(ctx, batches, date):
        await send_all(ctx, batches, date)
        current_stop().request()

    monkeypatch.setattr(_transactions, "_send_all", then_stop)
    with pytest.raises(qx.PushInterrupted) as info:
        push(small, sb, frame, journal=journal)
    assert info.value.results["status"].to_list() == ["success"] * CHUNK
    assert sb.contacts().height == 20  # chunk 1's 13 and 7 of chunk 2's, imported ahead
    monkeypatch.undo()
    monkeypatch.setattr(_chunks, "CHUNK_SIZE", CHUNK)
    monkeypatch.setattr(_imports, "MAX_CONTACTS", JOB)
    res = push(small, sb, frame, journal=journal)
    assert res["status"].to_list() == ["skipped"] * CHUNK + ["success"] * (frame.height - CHUNK)
    assert sb.contacts().height == 40
    check_attached(sb, frame, res)


def test_a_later_chunk_of_a_file_failing_to_prepare_fails_after_the_chunks_before_it(
    sb, small, tmp_path
):
    """Chunk 3 is read ahead while chunk 1 is sent, and fails to prepare: chunks 1 and 2
    are sent first, then its rows are handed over not_sent, in order, and the error
    goes on."""
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    frame = orders((13, 3, 3, 3)).with_columns(
        n=pl.int_range(pl.len()).cast(pl.String).replace({"70": "oops"})
    )
    frame.write_csv(source)
    strict = pl.col("n").cast(pl.Int64, strict=True).cast(pl.String)
    options = {"mapping": {"transaction_data": ["order"], "first_name": strict}}
    with pytest.raises(qx.ConfigError) as info:
        push(small, sb, source, **options)
    results = info.value.results
    assert results["row"].to_list() == list(range(90))
    assert results["status"].to_list() == ["success"] * 60 + ["not_sent"] * 30
    assert sb.imports()["contacts"].to_list() == [10, 6]  # chunk 3's people: never read
    sb.reset()
    with pytest.raises(qx.ConfigError):
        push(small, sb, source, out=out, **options)
    assert pl.read_csv(out)["row"].to_list() == list(range(90))


def test_a_person_searched_in_a_chunk_is_not_imported_ahead_under_another_key(sb, small):
    """x's rows of chunk 1 carry a phone (x is searched, then created with it); chunk 2's
    do not (x is imported there, under another lookup key). Imported ahead, x would be
    written before chunk 1's create, whose older values would then win: x waits for
    chunk 2, and its writes land in input order."""
    frame = orders().with_columns(phone=pl.lit(None, pl.String), first_name=pl.lit("P"))
    x = pl.DataFrame({"email": ["x@example.com"] * 4, "order": ["x1", "x2", "x3", "x4"]})
    frame = pl.concat(
        [
            frame[:28],
            x[:2].with_columns(phone=pl.lit("555"), first_name=pl.lit("Old")),
            x[2:].with_columns(phone=pl.lit(None, pl.String), first_name=pl.lit("New")),
            frame[30:58],
            frame[60:],
        ]
    ).with_columns(order=pl.format("o{}", pl.int_range(pl.len())))
    res = push(small, sb, frame)
    assert res["status"].to_list() == ["success"] * frame.height
    held = sb.contacts().filter(pl.col("email") == "x@example.com")
    assert held.select("phone", "first_name").rows() == [("555", "New")]
    assert bodies(sb, "search") == 1
    check_attached(sb, frame, res)
