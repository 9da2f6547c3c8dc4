"""Chunks in flight: a contacts push sends a chunk while the ones before it still are
(docs/architecture.md, "Chunks in flight"). Against the sandbox over loopback, with
chunks of 20 rows and import jobs of 10 contacts, counted in its request log: chunks
overlap, a person's rows keep their order across chunks, results come in input order,
a journal decides and records each chunk on its own, and a push that fails, is stopped or
is killed with several chunks' jobs running accounts for every row once and, resumed,
sends nothing twice."""

from __future__ import annotations

import asyncio
import json
import subprocess

import polars as pl
import pytest

import qxframe as qx
from qxframe.actions import _chunks, _flight, _import_job, _imports
from qxframe.delivery._stop import current_stop
from tests.helpers import import_push, sigkill_once_recorded

CHUNK, JOB, N = 20, 10, 60


def people(n: int = N, start: int = 0) -> pl.DataFrame:
    ids = range(start, start + n)
    return pl.DataFrame(
        {
            "ext_ref": [f"u{i}" for i in ids],
            "email": [f"p{i}@example.com" for i in ids],
            "region": ["north"] * n,
        }
    )


@pytest.fixture
def small(sb, fake_time, monkeypatch):
    """Chunks of 20 rows, jobs of 10 contacts; the sandbox's imports on the fake clock,
    10 contacts a second (a job takes a second of it: followed with polls)."""
    monkeypatch.setattr(_chunks, "FLIGHT_CHUNK_SIZE", CHUNK)
    monkeypatch.setattr(_imports, "MAX_CONTACTS", JOB)
    sb._imports.clock, sb._imports.import_rate = fake_time.clock, 10
    yield sb.client(sleep=fake_time.sleep)
    sb._imports.clock, sb._imports.import_rate = __import__("time").monotonic, None


def push(client, sb, frame, **options):
    options = {
        "client": client,
        "directory_id": sb.directory_id,
        "mailing_list_id": sb.mailing_list_id,
        "mapping": {"embedded_data": ["region"]},
        "method": "import",
        "progress": False,
    } | options
    return qx.upsert_contacts(frame, **options)


def jobs(sb) -> list[tuple[int, int]]:
    """Each import job, in the order created: (the seq of its create, the seq of the last
    request about it: its report's last page)."""
    log = sb.requests()
    creates = log.filter((pl.col("family") == "imports") & (pl.col("method") == "POST"))
    ids = sb.imports().sort("created_at", maintain_order=True)["import_id"].to_list()
    last = [log.filter(pl.col("path").str.contains(i, literal=True))["seq"].max() for i in ids]
    return list(zip(creates["seq"].to_list(), last, strict=True))


def test_a_chunk_is_sent_while_the_one_before_it_still_is(sb, small):
    res = push(small, sb, people())
    assert res["row"].to_list() == list(range(N))  # results in input order
    assert res["status"].to_list() == ["success"] * N
    made = jobs(sb)
    assert len(made) == N // JOB
    # chunk 2's first job was created before chunk 1's first job was done with
    assert made[2][0] < made[0][1]
    assert sb.contacts()["ext_ref"].n_unique() == N
    # the destination was checked once, not once a chunk in flight
    reads = sb.requests().filter(pl.col("method") == "GET")["path"]
    assert reads.str.ends_with("/mailinglists").sum() == 1


def test_a_person_in_two_chunks_is_written_in_input_order(sb, small):
    """u5's row of chunk 2 waits for chunk 1 (which holds u5 too) to be done; chunk 3,
    which shares no one with chunk 2, is sent while chunk 2 still is."""
    frame = people()
    later = frame[5].with_columns(region=pl.lit("east"))
    frame = pl.concat([frame[:25], later, frame[26:]])  # row 25: u5 again, changed
    res = push(small, sb, frame)
    assert res["status"].to_list() == ["success"] * N
    made = jobs(sb)
    chunk1_done = max(last for _, last in made[:2])
    assert made[2][0] > chunk1_done  # chunk 2's first job: after chunk 1's were done
    assert made[4][0] < made[2][1]  # chunk 3's first job: before chunk 2's first was done
    held = sb.contacts().filter(pl.col("ext_ref") == "u5")
    assert json.loads(held["embedded_data"][0])["region"] == "east"
    assert res["qualtrics_id"][5] == res["qualtrics_id"][25] == held["contact_id"][0]


def test_a_weekly_sync_decides_and_records_each_chunk_on_its_own(sb, small, tmp_path):
    journal = tmp_path / "segment.qxj"
    week1 = people()
    first = push(small, sb, week1, journal=journal, on_leave="remove")
    assert first["operation"].to_list() == ["create"] * N
    week2 = pl.concat(
        [
            week1.filter(pl.col("ext_ref") != "u30").with_columns(
                region=pl.when(pl.col("ext_ref").is_in(["u5", "u45"]))
                .then(pl.lit("east"))
                .otherwise("region")
            ),
            people(1, start=100),
        ]
    )
    before = sb.requests().height
    res = push(small, sb, week2, journal=journal, on_leave="remove")
    rows = res.filter(pl.col("row").is_not_null())
    assert rows["row"].to_list() == list(range(week2.height))
    ops = dict(zip(week2["ext_ref"], rows["operation"], strict=True))
    assert {k: v for k, v in ops.items() if v != "unchanged"} == {
        "u5": "update", "u45": "update", "u100": "create"
    }  # fmt: skip
    assert rows["changes"].drop_nulls().to_list() == ['["embeddedData.region"]'] * 2
    removal = res.filter(pl.col("row").is_null())
    assert removal.select("ext_ref", "operation", "status").rows() == [("u30", "remove", "success")]
    log = sb.requests().slice(before)
    posts = log.filter((pl.col("family") == "imports") & (pl.col("method") == "POST"))
    assert posts.height == 2  # chunk 1's change; chunk 3's change and new person
    assert log.filter(pl.col("method") == "DELETE").height == 1
    before = sb.requests().height
    again = push(small, sb, week2, journal=journal, on_leave="remove")
    assert set(again["operation"].to_list()) == {"unchanged"}
    writes = sb.requests().slice(before).filter(pl.col("method").is_in(["POST", "DELETE"]))
    assert writes.height == 0


def test_a_chunk_that_fails_stops_the_others_and_every_row_is_accounted_for(sb, small, monkeypatch):
    send_imports = _imports.send_imports

    async def chunk2_fails(ctx, imports, frame, **kwargs):
        if frame["row"][0] == CHUNK:
            await asyncio.sleep(0)
            raise RuntimeError("chunk 2 broke")
        return await send_imports(ctx, imports, frame, **kwargs)

    monkeypatch.setattr(_imports, "send_imports", chunk2_fails)
    with pytest.raises(RuntimeError, match="chunk 2 broke") as info:
        push(small, sb, people())
    results = info.value.results
    rows = results["row"].to_list()
    assert rows == sorted(set(rows)) and rows[: 2 * CHUNK] == list(range(2 * CHUNK))
    statuses = results["status"].to_list()
    assert statuses[:CHUNK] == ["success"] * CHUNK
    assert statuses[CHUNK : 2 * CHUNK] == ["not_sent"] * CHUNK
    # a row of a job created is reported (success, or outcome_unknown when the stop came
    # while the job ran), never not_sent: the job goes on in Qualtrics
    in_jobs = results.filter(
        (pl.col("status") == "success") | (pl.col("error_code") == "outcome_unknown")
    )
    assert sb.imports()["contacts"].sum() == in_jobs.height == info.value.sent
    assert (results.filter(pl.col("status") == "not_sent")["attempts"] == 0).all()


def test_a_later_chunk_failing_to_prepare_fails_once_the_chunks_in_flight_are_sent(
    sb, small, tmp_path
):
    """Chunk 3 fails to prepare while chunk 2 is being sent: chunk 2 is sent to its end,
    its results go out before chunk 3's rows (not_sent), and the error goes on."""
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    people().with_columns(
        n=pl.int_range(pl.len()).cast(pl.String).replace({"50": "oops"})
    ).write_csv(source)
    strict = pl.col("n").cast(pl.Int64, strict=True).cast(pl.String)
    mapping = {"embedded_data": ["region"], "first_name": strict}
    with pytest.raises(qx.ConfigError) as info:
        push(small, sb, source, mapping=mapping, out=out)
    for results in (info.value.results.collect(), pl.read_csv(out)):  # a scan of out=
        assert results["row"].to_list() == list(range(N))
        assert results["status"].to_list() == ["success"] * 2 * CHUNK + ["not_sent"] * CHUNK
    assert sb.contacts().height == 2 * CHUNK


def test_a_push_stopped_with_two_chunks_jobs_running_resumes_sending_nothing_twice(
    sb, small, monkeypatch, tmp_path
):
    journal = tmp_path / "j.qxj"
    create, created = _import_job.create, []

    async def then_stop(ctx, job, bodies=None):
        await create(ctx, job, bodies)
        created.append(job.rows.to_list())
        if len(created) == 4:  # chunk 2's second job: chunks 1 and 2 both running
            current_stop().request()

    monkeypatch.setattr(_import_job, "create", then_stop)
    plain = {"directory_id": sb.plain_directory_id, "mailing_list_id": sb.plain_mailing_list_id}
    with pytest.raises(qx.PushInterrupted) as info:  # a directory that does not deduplicate:
        push(small, sb, people(), journal=journal, **plain)  # a job created twice, twice held
    assert {r // CHUNK for rows in created for r in rows} >= {0, 1}
    results = info.value.results
    assert results["row"].to_list() == sorted(set(results["row"].to_list()))
    monkeypatch.undo()
    monkeypatch.setattr(_chunks, "FLIGHT_CHUNK_SIZE", CHUNK)
    monkeypatch.setattr(_imports, "MAX_CONTACTS", JOB)
    res = push(small, sb, people(), journal=journal, **plain)
    assert res["row"].to_list() == list(range(N))
    assert set(res["status"].to_list()) <= {"success", "skipped"}
    assert sb.imports()["contacts"].sum() == N  # every row in one job: none created twice
    held = sb.contacts()
    assert held.height == N and held["ext_ref"].n_unique() == N
    by_ref = dict(zip(held["ext_ref"], held["contact_id"], strict=True))
    assert res["qualtrics_id"].to_list() == [by_ref[f"u{i}"] for i in range(N)]


def test_a_job_followed_when_the_push_stops_leaves_its_rows_unknown_and_is_followed_again(
    sb, small, monkeypatch, tmp_path
):
    """A job created is not "not sent": it goes on in Qualtrics. Its rows end
    outcome_unknown, naming it; resumed with the journal, the job is followed, not made
    again."""
    journal = tmp_path / "j.qxj"
    follow, create_import, creates = _import_job.follow, qx.Client.acreate_import, []

    async def stop_then_follow(ctx, job, **kwargs):
        current_stop().request()
        await follow(ctx, job, **kwargs)

    async def second_heard_late(client, *args, **kwargs):
        reply = await create_import(client, *args, **kwargs)
        creates.append(reply)
        if len(creates) == 2:  # created in Qualtrics; its answer heard after the stop
            await asyncio.sleep(0.2)
        return reply

    monkeypatch.setattr(_import_job, "follow", stop_then_follow)
    monkeypatch.setattr(qx.Client, "acreate_import", second_heard_late)
    plain = {"directory_id": sb.plain_directory_id, "mailing_list_id": sb.plain_mailing_list_id}
    with pytest.raises(qx.PushInterrupted) as info:
        push(small, sb, people(CHUNK), journal=journal, **plain)
    results, created = info.value.results, sb.imports()["contacts"].sum()
    unknown = results.filter(pl.col("error_code") == "outcome_unknown")
    assert created > 0 and unknown.height == created == info.value.sent
    assert "not followed to its end: the push was stopped" in unknown["error_message"][0]
    assert results.filter(pl.col("status") == "not_sent").height == CHUNK - created
    monkeypatch.setattr(_import_job, "follow", follow)
    monkeypatch.setattr(qx.Client, "acreate_import", create_import)
    res = push(small, sb, people(CHUNK), journal=journal, **plain)
    assert set(res["status"].to_list()) <= {"success", "skipped"}
    assert sb.imports()["contacts"].sum() == CHUNK  # the first job followed, not made again
    assert sb.contacts()["ext_ref"].n_unique() == sb.contacts().height == CHUNK


def test_one_chunk_at_a_time_for_an_action_that_does_not_name_its_people():
    from qxframe.actions._registry import ACTIONS

    assert ACTIONS["contacts"].identities is not None
    others = {name for name, action in ACTIONS.items() if action.identities is not None}
    assert others == {"contacts"}
    assert _flight.CHUNKS_IN_FLIGHT > 1


def test_a_push_killed_with_several_chunks_jobs_running_resumes_without_a_second_job(tmp_path):
    journal, out = tmp_path / "j.sqlite", tmp_path / "out.parquet"
    with qx.sandbox(import_rate=50, seed=5) as sb:  # 0.4 s a job of 20
        argv = import_push(sb, journal, out, rows=600, jobs=25, chunk=100)  # 5 jobs a chunk
        first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        running = (  # jobs of more than one chunk created and recorded, not yet reported
            "SELECT count(DISTINCT i.import_id) > 5 FROM import_rows i "
            "JOIN entries e ON e.key = i.key WHERE e.status = 'pending'"
        )
        sigkill_once_recorded(first, journal, 0, within=60, and_then=running)
        second = subprocess.run(argv, capture_output=True, timeout=120)
        assert second.returncode == 0, second.stderr.decode()
        jobs_made, held = sb.imports(), sb.contacts()

    results = pl.read_parquet(out)
    assert results["row"].to_list() == list(range(600))
    assert set(results["status"].to_list()) <= {"skipped", "success", "failed"}
    failed = results.filter(pl.col("status") == "failed")  # pending before a 202 was heard
    assert (failed["error_code"] == "outcome_unknown").all() and failed.height <= 2 * 20
    # no contact written twice (the directory does not deduplicate: a second job would
    # make a second contact), and every row that landed is held once
    assert held["email"].n_unique() == held.height == jobs_made["contacts"].sum()
    assert held.height >= 600 - failed.height
    landed = results.filter(pl.col("status") != "failed")
    by_email = dict(zip(held["email"], held["contact_id"], strict=True))
    emails = [f"p{i}@example.com" for i in landed["row"]]
    assert landed["qualtrics_id"].to_list() == [by_email[e] for e in emails]
