"""Import jobs that never finish (DESIGN §3): a deadline without progress
(``import_timeout``, on the client's injected clock), a status not known as running taken
as final, the rows ``outcome_unknown`` naming the job, and a resumed push following the same
job again. Against the sandbox over loopback, whose knobs make a job stall or fail part-way."""

from __future__ import annotations

import polars as pl
import pytest

import qxframe as qx

PEOPLE = pl.DataFrame({"email": [f"p{i}@example.com" for i in range(10)]})


def push(sb, fake_time, **options):
    client = sb.client(sleep=fake_time.sleep, clock=fake_time.clock)
    return qx.upsert_contacts(
        PEOPLE,
        client=client,
        directory_id=sb.plain_directory_id,
        mailing_list_id=sb.plain_mailing_list_id,
        method="import",
        **options,
    )


def test_a_stalled_job_is_given_up_after_import_timeout_and_followed_again_on_resume(
    fake_time, tmp_path
):
    journal = tmp_path / "push.qxj"
    with qx.sandbox(import_stall_at=0.4) as sb:
        res = push(sb, fake_time, import_timeout=60, journal=journal)
        (job,) = sb.imports()["import_id"].to_list()
        assert res["status"].to_list() == ["failed"] * 10
        assert res["error_code"].unique().to_list() == ["outcome_unknown"]
        (message,) = res["error_message"].unique().to_list()
        assert job in message and "no progress for 60 seconds" in message
        assert 60 <= sum(fake_time.sleeps) < 70  # it waited the deadline out, and no longer

        polls = sb.requests().filter(pl.col("path").str.ends_with(job)).height
        sb._imports.jobs[job].stalls, sb._imports.jobs[job].ends_at = False, 1.0  # it moves
        again = push(sb, fake_time, import_timeout=60, journal=journal)
        followed = sb.requests().filter(pl.col("path").str.ends_with(job)).height
        jobs = sb.imports().height
    assert again["status"].to_list() == ["skipped"] * 10  # landed by the first push's job,
    assert again["qualtrics_id"].is_not_null().all()  # read from that job's report
    assert jobs == 1 and followed > polls  # followed again, not created again
    assert sb.contacts().height == 10


def test_a_job_that_keeps_moving_is_not_given_up(fake_time):
    """Progress resets the deadline: a job at 1 contact a second takes 10 s of the fake
    clock, longer than import_timeout=5 in all, never 5 s without progress."""
    with qx.sandbox(import_rate=1, clock=fake_time.clock) as sb:
        res = push(sb, fake_time, import_timeout=5)
    assert res["status"].to_list() == ["success"] * 10
    assert sum(fake_time.sleeps) > 5


def test_a_status_not_known_as_running_is_final(fake_time):
    """A job failing part-way answers ``failed`` before 100 %: not waited on; its rows are
    outcome_unknown naming it (half of its contacts did land)."""
    with qx.sandbox(import_fail_at=0.5) as sb:
        res = push(sb, fake_time)
        (job,) = sb.imports()["import_id"].to_list()
        landed = sb.contacts().height
    assert res["error_code"].unique().to_list() == ["outcome_unknown"]
    (message,) = res["error_message"].unique().to_list()
    assert job in message and "'failed'" in message
    assert landed == 5 and sum(fake_time.sleeps) < 1


@pytest.mark.parametrize("share", [-0.1, 1.0])
def test_the_knobs_take_a_share_of_a_job(share):
    with pytest.raises(ValueError, match="import_stall_at"):
        qx.Sandbox(import_stall_at=share)
