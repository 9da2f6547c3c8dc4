"""What keeps a long push's memory flat (docs/architecture.md, "Memory"), counted, not timed.

Each test counts something whose number must not grow with the input: import bodies held
at once, answers left for Python's cyclic collector, results parts decoded at once, passes
over an input file. Against the sandbox over loopback; the sandbox's import clock and the
client's sleeps are fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import sqlite3
import sys
import weakref

import httpx
import polars as pl
import pytest

import qxframe as qx
from qxframe import _csvblocks, _digests, _journal, _payloads, _sinks
from qxframe._prepare import Prepared
from qxframe.actions import _carried, _chunks, _import_job, _imports, _resume, _runner
from tests.helpers import bodies


def people(n: int) -> pl.DataFrame:
    return pl.DataFrame({"email": [f"p{i}@example.com" for i in range(n)]}).with_columns(
        first_name=pl.lit("P")
    )


def test_at_most_two_import_bodies_are_held_while_every_job_of_a_chunk_runs(
    sb, fake_time, monkeypatch
):
    """Eight jobs of one chunk: all eight are unfinished at once (the sandbox moves no job
    on until the eighth is created), but no more than ``BODIES`` bodies exist at once."""
    monkeypatch.setattr(_imports, "MAX_CONTACTS", 5)
    answered: list[str] = []
    monkeypatch.setattr(sb._imports, "import_rate", 1.0)  # 5 s a job, on the sandbox clock
    monkeypatch.setattr(sb._imports, "clock", lambda: 0.0 if len(answered) < 8 else 1e6)
    client = sb.client(sleep=fake_time.sleep, clock=fake_time.clock)
    alive = {"now": 0, "most": 0}
    build = _import_job.ImportJob.body

    def counted(job: _import_job.ImportJob) -> bytes:
        alive["now"] += 1
        alive["most"] = max(alive["most"], alive["now"])
        return build(job)

    create = client.acreate_import

    async def slow_create(*args, **kwargs):
        for _ in range(50):  # every other job may build its body meanwhile, if it may
            await asyncio.sleep(0)
        reply = await create(*args, **kwargs)
        alive["now"] -= 1  # answered: the body is dropped
        answered.append(reply.result["id"])
        return reply

    monkeypatch.setattr(_import_job.ImportJob, "body", counted)
    monkeypatch.setattr(client, "acreate_import", slow_create)
    res = qx.upsert_contacts(
        people(40),
        client=client,
        directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
        method="import",
        progress=False,
    )
    assert res["status"].to_list() == ["success"] * 40  # none stalled: all ran side by side
    assert sb.imports().height == 8 and len(answered) == 8
    assert alive["most"] == _imports.BODIES == 2


def test_an_answer_is_freed_without_the_cyclic_collector(sb):
    """httpx binds each response's stream to it (a cycle): unbound, an answer and its
    request (the body sent) go as soon as nothing refers to them."""
    gc.collect()
    gc.disable()
    try:
        res = qx.upsert_contacts(
            people(30),
            client=sb.client(),
            directory_id=sb.directory_id,
            mailing_list_id=sb.mailing_list_id,
            method="import",
            progress=False,
        )
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, httpx.Response | httpx.Request)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert res["status"].to_list() == ["success"] * 30 and bodies(sb, "imports") == 1
    assert left == []


def test_a_parquet_results_file_is_combined_a_part_at_a_time(tmp_path, monkeypatch):
    """Closing reads the parts one after the other, in order, each once (polars' own scan
    of many files decodes ahead of the writer)."""
    read: list[str] = []
    real = pl.read_parquet

    def reading(source, *args, **kwargs):
        read.append(source.name)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(pl, "read_parquet", reading)
    out = tmp_path / "results.parquet"
    parts = [pl.DataFrame({"row": range(i * 3, i * 3 + 3), "status": "success"}) for i in range(4)]
    with _sinks.ResultsWriter(out) as writer:
        for part in parts:
            writer(part)
    assert read == [f"part-{i:08d}.parquet" for i in range(4)]
    assert real(out)["row"].to_list() == list(range(12))


@pytest.mark.parametrize(("progress", "passes"), [(False, 0), (None, 1)])
def test_a_file_is_counted_ahead_only_for_a_progress_bar(tmp_path, monkeypatch, progress, passes):
    """A bar needs the total; without one, a file is not read an extra time to count it."""
    path = tmp_path / "people.csv"
    people(5).with_columns(
        directory_id=pl.lit("POOL_1234567890abcde"), mailing_list_id=pl.lit("CG_1234567890abcde")
    ).write_csv(path)
    counted: list[object] = []
    count = _runner.count_rows

    def counting(source):
        counted.append(source)
        return count(source)

    monkeypatch.setattr(_runner, "count_rows", counting)
    res = qx.upsert_contacts(str(path), dry_run=True, progress=progress)
    assert res.height == 5 and len(counted) == passes


@pytest.mark.parametrize("chunk_size", [30, 100])  # the last chunk cut short, and whole
def test_a_chunk_of_a_file_is_not_held_by_the_reader_once_prepared(
    tmp_path, monkeypatch, chunk_size
):
    """While a chunk is sent, the rows as read are gone: only its prepared rows are held
    (the reader keeps at most the rows after it)."""
    monkeypatch.setattr(_chunks, "CHUNK_SIZE", chunk_size)
    path = tmp_path / "people.csv"
    people(100).write_csv(path)
    given: list[weakref.ref[pl.DataFrame]] = []

    def prepare(chunk: pl.DataFrame, offset: int) -> Prepared:
        given.append(weakref.ref(chunk))
        return Prepared(valid=chunk.select(pl.len()), invalid=pl.DataFrame())

    rows = []
    for prepared in _chunks.prepared_chunks(str(path), prepare, lambda part: None):
        assert given[-1]() is None  # while this chunk's prepared rows are in use
        rows.append(prepared.valid.item())
    assert rows == [chunk_size] * (100 // chunk_size) + (
        [100 % chunk_size] if 100 % chunk_size else []
    )


def test_the_csv_reader_holds_no_chunk_it_handed_over():
    data = b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(100))
    chunks = _csvblocks.read_chunks(io.BytesIO(data), 10, block_bytes=64)
    first = next(chunks)
    handed = weakref.ref(first)
    del first
    assert handed() is None
    assert sum(chunk.height for chunk in chunks) == 90


def test_a_first_push_digests_its_rows_fields_a_slice_at_a_time(sb, tmp_path, monkeypatch):
    """A sync digests each sent row's fields column-wise; a chunk's rows are taken
    ``FIELDS_AT_ONCE`` at a time, and the journal holds the same digests as row by row."""
    monkeypatch.setattr(_digests, "FIELDS_AT_ONCE", 10)
    heights: list[int] = []
    members = _payloads.contact_members

    def counted(valid: pl.DataFrame):
        if sys._getframe(1).f_code.co_name == "fields_of_frame":
            heights.append(valid.height)
        return members(valid)

    monkeypatch.setattr(_payloads, "contact_members", counted)
    frame = people(25).with_columns(last_name=pl.lit("Q"))
    res = qx.upsert_contacts(
        frame,
        client=sb.client(),
        directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
        method="import",
        journal=tmp_path / "sync.qxj",
        progress=False,
    )
    assert res["status"].to_list() == ["success"] * 25 and heights == [10, 10, 5]
    valid = frame.with_columns(row=pl.int_range(25, dtype=pl.Int64))
    texts = _payloads.contact_bodies(valid).to_list()
    assert _digests.fields_of_frame(valid) == _digests.fields_of_many(texts)


def _weeks() -> tuple[pl.DataFrame, pl.DataFrame]:
    """25 people; then u1 and u12 changed, u3 left, two new, and rows of one person in
    more than one slice of ten: u2 again at the end changed, u1 (sent earlier: sent again)
    and u5 again unchanged, u7 twice."""
    week1 = people(25).with_columns(
        ext_ref=pl.format("u{}", pl.int_range(25)), region=pl.lit("north")
    )
    region = pl.when(pl.col("ext_ref").is_in(["u1", "u12"])).then(pl.lit("east"))
    week2 = pl.concat(
        [
            week1.filter(pl.col("ext_ref") != "u3").with_columns(
                region=region.otherwise(pl.col("region"))
            ),
            people(2).with_columns(
                email=pl.format("new{}@example.com", pl.int_range(2)),
                ext_ref=pl.format("n{}", pl.int_range(2)),
                region=pl.lit("west"),
            ),
            week1.filter(pl.col("ext_ref").is_in(["u1", "u2", "u5", "u7"])).with_columns(
                region=pl.when(pl.col("ext_ref") == "u2")
                .then(pl.lit("south"))
                .otherwise(pl.col("region"))
            ),
            week1.filter(pl.col("ext_ref") == "u7"),
        ]
    )
    return week1, week2


@pytest.mark.parametrize("method", ["api", "import"])
def test_a_sync_decides_a_chunk_a_slice_at_a_time_with_the_same_verdicts(
    sb, tmp_path, monkeypatch, method
):
    """``Resume.split`` makes its Python objects a row (keys, body texts and digests, the
    journal's entries) for ``SPLIT_AT_ONCE`` rows at a time, not for a whole chunk; a
    person's rows in an earlier slice count as earlier rows: the results and the journal
    are those of the chunk decided whole."""
    asked: list[int] = []  # keys whose entries the journal was asked for at once
    texts: list[int] = []  # rows whose body texts were made at once
    held, bodies = _journal.Journal.held, _resume.contact_bodies

    def counted(journal, keys):
        asked.append(len(keys))
        return held(journal, keys)

    def made(valid):
        texts.append(valid.height)
        return bodies(valid)

    monkeypatch.setattr(_journal.Journal, "held", counted)
    monkeypatch.setattr(_resume, "contact_bodies", made)
    week1, week2 = _weeks()

    def sync(at_once: int, journal: str) -> list[pl.DataFrame]:
        monkeypatch.setattr(_resume, "SPLIT_AT_ONCE", at_once)
        sb.reset()
        out = []
        for n, week in enumerate((week1, week2)):
            res = qx.upsert_contacts(
                week,
                client=sb.client(),
                directory_id=sb.directory_id,
                mailing_list_id=sb.mailing_list_id,
                mapping={"embedded_data": ["region"]},
                method=method,
                journal=tmp_path / journal,
                progress=False,
                **({"on_leave": "remove"} if n else {}),
            )
            out.append(res.select("row", "status", "operation", "changes", "error_code"))
        return out

    whole = sync(1000, "whole.qxj")
    assert max(asked) == len(week2) and texts == [len(week1), len(week2)]
    asked.clear()
    texts.clear()
    sliced = sync(10, "sliced.qxj")
    assert max(asked) == 10 and sum(asked) == len(week2)  # week 1: a first push asks none
    assert texts == [10, 10, 5, 10, 10, 10, 1]
    assert [s.equals(w) for s, w in zip(sliced, whole, strict=True)] == [True, True]
    counts = qx.summary(sliced[1])
    assert [counts[k] for k in ("update", "create", "unchanged", "remove")] == [4, 2, 25, 1]

    def entries(name: str) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(tmp_path / name)) as db:
            query = "SELECT key, status, body, fields, member, who FROM entries ORDER BY key"
            return db.execute(query).fetchall()

    assert entries("whole.qxj") == entries("sliced.qxj")


def test_contact_ids_answered_one_at_a_time_are_hashed_a_batch_at_a_time(monkeypatch):
    """A push sending a request a row answers one contact id at a time: ``Carried`` hashes
    them a batch at a time (one polars call per id cost 45-95 us, more as the push grew),
    and every id answered, hashed yet or still waiting, counts as answered."""
    monkeypatch.setattr(_carried, "ANSWERS_AT_ONCE", 100)
    carried = _carried.Carried()
    hashed: list[int] = []
    hash_ = pl.Series.hash

    def counted(self, *args, **kwargs):
        hashed.append(self.len())
        return hash_(self, *args, **kwargs)

    monkeypatch.setattr(pl.Series, "hash", counted)
    ids = [f"CID_{i:05d}" for i in range(250)]
    for one in ids:
        carried.answer([one])
    assert hashed == [100, 100]  # the last 50 wait
    asked = [ids[0], ids[150], ids[249], "CID_never", ids[99]]
    assert carried.unanswered(asked) == [False, False, False, True, False]
    assert hashed[2] == 50  # hashed when asked
    carried.clear()
    assert carried.unanswered(ids[:3]) == [True, True, True]


def test_leavers_are_found_without_a_set_of_every_carried_row(monkeypatch):
    """``Carried.missing`` (asked for each batch of members) builds a set of the keys it is
    asked about, never of every row the push carried (a million rows: 16 MB a batch)."""
    carried = _carried.Carried()
    keys = [i.to_bytes(16, "big") for i in range(1_000)]
    for start in range(0, 1_000, 100):
        carried.add(keys[start : start + 100])
    sets: list[int] = []
    is_in = pl.Series.is_in

    def counted(self, other, *args, **kwargs):
        sets.append(other.explode().len() if other.dtype == pl.List else other.len())
        return is_in(self, other, *args, **kwargs)

    monkeypatch.setattr(pl.Series, "is_in", counted)
    asked = [*keys[:5], *(i.to_bytes(16, "big") for i in range(5_000, 5_005))]
    assert carried.missing(asked) == [False] * 5 + [True] * 5
    assert sets and max(sets) <= len(asked)
