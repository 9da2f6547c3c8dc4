"""Import jobs end to end against the sandbox over loopback, and their pure parts.

The sandbox's import clock and the client's sleep are one fake clock (``timed``): a job
at ``import_rate`` finishes as the client's polling waits move the clock, without any
real waiting.
"""

from __future__ import annotations

import json
import sqlite3

import polars as pl
import pytest

import qxframe as qx
from qxframe._sandbox import _ep_imports
from qxframe._sandbox import _imports as sandbox_imports
from qxframe.actions import _import_job, _imports
from tests.helpers import bodies, import_push, payloads, sigkill_once_recorded


def people(n: int, start: int = 0, **extra) -> pl.DataFrame:
    frame = pl.DataFrame({"email": [f"p{i}@example.com" for i in range(start, start + n)]})
    return frame.with_columns(first_name=pl.lit("P"), **extra)


@pytest.fixture
def timed(sb, fake_time):
    """The sandbox's import clock is the fake clock the client sleeps on."""
    sb._imports.clock = fake_time.clock
    sb._imports.import_rate = None
    yield sb.client(sleep=fake_time.sleep)
    sb._imports.clock = __import__("time").monotonic
    sb._imports.import_rate = None


def push(client, sb, frame, *, plain=False, **options):
    where = (
        {"directory_id": sb.plain_directory_id, "mailing_list_id": sb.plain_mailing_list_id}
        if plain
        else {"directory_id": sb.directory_id, "mailing_list_id": sb.mailing_list_id}
    )
    options.setdefault("progress", False)
    return qx.upsert_contacts(frame, client=client, **where, **options)


def test_an_import_lands_every_row_in_the_list_with_its_contact_id(sb, timed):
    frame = people(30)
    res = push(timed, sb, frame, method="import")
    assert res["status"].to_list() == ["success"] * 30
    assert res["http_status"].unique().to_list() == [202]
    assert res["attempts"].unique().to_list() == [1] and res["request_id"].n_unique() == 1
    held = sb.contacts()
    by_email = dict(zip(held["email"], held["contact_id"], strict=True))
    assert res["qualtrics_id"].to_list() == [by_email[e] for e in frame["email"]]
    assert set(sb.mailing_list_members()["contact_id"]) == set(res["qualtrics_id"])
    assert (bodies(sb, "imports"), bodies(sb, "contacts")) == (1, 0)


@pytest.fixture
def low_threshold(monkeypatch):
    """ "auto" switches to imports at 1,000 rows; tests use 20 to stay small."""
    assert _imports.AUTO_MIN_ROWS == 1000
    monkeypatch.setattr(_imports, "AUTO_MIN_ROWS", 20)


def test_auto_imports_from_the_threshold_with_a_list_and_not_below(sb, timed, low_threshold):
    push(timed, sb, people(19))
    assert (bodies(sb, "imports"), bodies(sb, "contacts")) == (0, 19)
    sb.reset()
    push(timed, sb, people(20))
    assert (bodies(sb, "imports"), bodies(sb, "contacts")) == (1, 0)
    sb.reset()
    qx.upsert_contacts(people(20), client=timed, directory_id=sb.directory_id, progress=False)
    assert bodies(sb, "imports") == 0  # no list: the per-row endpoint


def test_auto_counts_an_in_memory_frame_whole_and_a_streamed_one_per_chunk(
    sb, timed, low_threshold, tmp_path, monkeypatch
):
    from qxframe.actions import _chunks

    monkeypatch.setattr(_chunks, "FLIGHT_CHUNK_SIZE", 15)
    push(timed, sb, people(30))
    assert (bodies(sb, "imports"), bodies(sb, "contacts")) == (2, 0)  # a job per chunk
    sb.reset()
    path = tmp_path / "in.csv"
    people(30).write_csv(path)
    push(timed, sb, path)
    assert (bodies(sb, "imports"), bodies(sb, "contacts")) == (0, 30)


def test_import_without_a_mailing_list_is_refused_before_anything_is_sent(sb, timed):
    with pytest.raises(qx.ConfigError, match="needs a mailing list"):
        qx.upsert_contacts(people(3), client=timed, directory_id=sb.directory_id, method="import")
    with pytest.raises(qx.ConfigError, match="method must be"):
        push(timed, sb, people(3), method="bulk")
    assert sb.requests()["method"].to_list() == ["GET"]  # the destination check's read alone


def test_api_sends_one_request_per_row_even_when_large(sb, timed, low_threshold):
    push(timed, sb, people(25), method="api")
    assert (bodies(sb, "imports"), bodies(sb, "contacts")) == (0, 25)


def test_rows_of_one_identity_land_in_input_order_in_successive_jobs(sb, timed):
    frame = pl.DataFrame(
        {
            "email": ["a@example.com", "b@example.com", "A@example.com"],
            "first_name": ["1", "B", "2"],
        }
    )
    res = push(timed, sb, frame, method="import")
    assert res["status"].to_list() == ["success"] * 3
    assert res["qualtrics_id"][0] == res["qualtrics_id"][2]
    assert sb.imports()["contacts"].to_list() == [2, 1]  # the repeat waits for the first job
    held = sb.contacts().filter(pl.col("contact_id") == res["qualtrics_id"][0])
    assert held["first_name"].to_list() == ["2"]


def test_jobs_respect_the_contact_and_byte_limits(monkeypatch):
    frame = people(25, directory_id=pl.lit("POOL_a"), mailing_list_id=pl.lit("CG_a"))
    frame = frame.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    framed = _imports.with_bodies(frame).with_columns(_merges=pl.lit(True))
    monkeypatch.setattr(_imports, "MAX_CONTACTS", 10)
    assert [j.rows.len() for j in _imports.plan_jobs(framed)] == [10, 10, 5]
    one = framed["_bytes"][0] + 1
    monkeypatch.setattr(_imports, "MAX_BYTES", _imports._WRAP + 3 * one)
    jobs = _imports.plan_jobs(framed)
    sizes = [len(j.body()) for j in jobs]
    assert [j.rows.len() for j in jobs][:3] == [3, 3, 3] and len(jobs) > 9
    assert max(sizes) <= _imports.MAX_BYTES
    for size, later in zip(sizes, jobs[1:], strict=False):  # each job as full as it can be
        assert size + len(later.contacts[0].encode()) + 1 > _imports.MAX_BYTES
    assert json.loads(jobs[0].body())["contacts"][0] == {
        "firstName": "P",
        "email": "p0@example.com",
    }
    assert pl.concat([j.rows for j in jobs]).to_list() == list(range(25))


def test_at_most_import_jobs_are_unfinished_at_once(sb, timed, monkeypatch):
    monkeypatch.setattr(_imports, "MAX_CONTACTS", 5)
    sb._imports.import_rate = 10  # half a second a job
    unfinished, most = set(), [0]
    create, status = timed.acreate_import, timed.aimport_status

    async def counting_create(*args, **kwargs):
        reply = await create(*args, **kwargs)
        unfinished.add(reply.result["id"])
        most[0] = max(most[0], len(unfinished))
        return reply

    async def counting_status(directory_id, mailing_list_id, import_id):
        reply = await status(directory_id, mailing_list_id, import_id)
        if reply.result["percentComplete"] >= 100:
            unfinished.discard(import_id)
        return reply

    monkeypatch.setattr(timed, "acreate_import", counting_create)
    monkeypatch.setattr(timed, "aimport_status", counting_status)
    res = push(timed, sb, people(40), method="import", import_jobs=3)
    assert res["status"].to_list() == ["success"] * 40
    assert sb.imports().height == 8 and most[0] == 3


def test_status_is_polled_with_backoff_until_complete(sb, timed, fake_time):
    sb._imports.import_rate = 1  # 6 s for 6 contacts
    res = push(timed, sb, people(6), method="import")
    assert res["status"].to_list() == ["success"] * 6
    assert fake_time.sleeps[:4] == [0.25, 0.5, 1.0, 2.0]
    assert max(fake_time.sleeps) <= _import_job.POLL_MAX


def test_progress_follows_percent_complete(sb, timed):
    sb._imports.import_rate = 2  # 5 s for 10 contacts

    class Bar:
        def __init__(self) -> None:
            self.steps: list[int] = []

        def update(self, n: int) -> None:
            self.steps.append(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def close(self) -> None:
            pass

    bar = Bar()
    push(timed, sb, people(10), method="import", progress=bar)
    assert sum(bar.steps) == 10 and len([s for s in bar.steps if s]) >= 3  # moved while running


def test_a_full_queue_is_waited_out(sb, timed, fake_time, monkeypatch):
    monkeypatch.setattr(_imports, "MAX_CONTACTS", 2)
    monkeypatch.setattr(sandbox_imports, "MAX_RUNNING", 1)
    monkeypatch.setattr(sandbox_imports, "MAX_QUEUED", 0)
    sb._imports.import_rate = 0.1  # 20 s a job: later creates find the queue full
    res = push(timed, sb, people(6), method="import", import_jobs=3)
    assert res["status"].to_list() == ["success"] * 6
    assert sb.imports().height == 3  # each job created once, after waiting
    refused = sb.requests().filter((pl.col("family") == "imports") & (pl.col("status") == 429))
    assert refused.height > 0 and _import_job.QUEUE_WAIT in fake_time.sleeps


def test_the_report_is_read_to_its_last_page(sb, timed, monkeypatch):
    monkeypatch.setattr(_ep_imports, "REPORT_PAGE_SIZE", 4)
    res = push(timed, sb, people(10), method="import")
    assert res["status"].to_list() == ["success"] * 10
    reports = sb.requests().filter(pl.col("path").str.ends_with("/report"))
    assert reports.height == 3


def test_rows_with_phone_go_through_the_per_row_endpoint_in_the_same_push(sb, timed):
    frame = people(4).with_columns(phone=pl.Series([None, "555-1", None, "555-2"]))
    res = push(timed, sb, frame, method="import")
    assert res["status"].to_list() == ["success"] * 4
    assert res["http_status"].to_list() == [202, 200, 202, 200]
    assert (bodies(sb, "imports"), bodies(sb, "contacts")) == (1, 2)
    assert sb.contacts().filter(pl.col("phone").is_not_null()).height == 2  # never dropped
    assert sb.mailing_list_members().height == 4


def test_unprocessed_and_refused_rows_fail_with_reasons(sb, timed, monkeypatch):
    monkeypatch.setattr(sandbox_imports, "_EMAIL", __import__("re").compile(r".*@example\.com"))
    frame = pl.DataFrame({"email": ["a@example.com", "b@example.org", "c@example.com"]})
    real_problem = sandbox_imports._contact_problem
    monkeypatch.setattr(
        sandbox_imports,
        "_contact_problem",
        lambda c: "Refused by a test" if c.get("email") == "c@example.com" else real_problem(c),
    )
    res = push(timed, sb, frame, method="import")
    assert res["status"].to_list() == ["success", "failed", "failed"]
    assert res["error_code"].to_list() == [None, "import_unprocessed", "import_invalid_contact"]
    assert "invalid e-mail" in res["error_message"][1]
    assert res["error_message"][2] == "Qualtrics did not import this contact: Refused by a test"


def test_the_report_maps_back_by_source_index_string_or_integer():
    job = _import_job.ImportJob(
        "POOL_a",
        "CG_a",
        pl.Series([10, 11, 12, 13, 14], dtype=pl.Int64),
        pl.Series(["{}"] * 5),
        False,
    )
    job.http_status, job.request_id, job.attempts = 202, "req-1", 2 + 1  # 1 spent before
    entries = [
        {"sourceIndexId": 0, "contactId": "CID_0", "importStatusCode": "added"},
        {
            "sourceIndexId": "2",
            "contactId": None,
            "importStatusCode": "DUPLICATE",
            "importStatus": "Dup",
        },
        {"sourceIndexId": 0, "contactId": "CID_other"},  # a repeat: the first entry counts
        {"sourceIndexId": " 4 ", "contactId": "CID_4"},
    ]
    job.add_page(entries[:2])  # the repeat of index 0 is on the next page: the first counts
    job.add_page(entries[2:])
    job.unprocessed = [1]
    out = _import_job.map_report(job)
    assert out["row"].to_list() == [10, 11, 12, 13, 14]
    assert out["status"].to_list() == ["success", "failed", "failed", "failed", "success"]
    assert out["qualtrics_id"].to_list() == ["CID_0", None, None, None, "CID_4"]
    assert out["error_code"].to_list() == [
        None,
        "import_unprocessed",
        "import_duplicate",
        "import_report_missing",
        None,
    ]
    assert out["http_status"].unique().to_list() == [202] and out[
        "attempts"
    ].unique().to_list() == [3]


def test_a_job_refused_whole_with_400_is_split_in_halves(sb, timed, monkeypatch):
    monkeypatch.setattr(sandbox_imports, "MAX_IMPORT_CONTACTS", 3)
    res = push(timed, sb, people(10), method="import")
    assert res["status"].to_list() == ["success"] * 10
    assert sb.imports()["contacts"].to_list() == [2, 3, 2, 3]  # 10 → 5+5 → 2+3, 2+3
    assert res["attempts"].to_list()[:2] == [3, 3]  # the refused 10 and 5, then its own


def test_a_job_that_may_have_landed_is_resent_only_if_every_row_would_merge(sb, timed):
    sb.fail_next("imports", status=500, after_commit=True)
    merged = push(timed, sb, people(5), method="import")
    assert merged["status"].to_list() == ["success"] * 5 and merged["attempts"][0] == 2
    assert sb.imports().height == 2 and sb.contacts().height == 5  # the copy merged
    sb.reset()
    sb.fail_next("imports", status=500, after_commit=True)
    plain = push(timed, sb, people(5), plain=True, method="import")
    assert plain["error_code"].to_list() == ["outcome_unknown"] * 5
    assert sb.imports().height == 1  # not re-sent


def test_the_journal_marks_a_jobs_rows_pending_before_its_request(sb, timed, tmp_path, monkeypatch):
    journal = tmp_path / "j.sqlite"
    seen: list[int] = []
    create = timed.acreate_import

    async def peek(*args, **kwargs):
        with sqlite3.connect(journal) as db:
            seen.append(
                db.execute("SELECT count(*) FROM entries WHERE status='pending'").fetchone()[0]
            )
        return await create(*args, **kwargs)

    monkeypatch.setattr(timed, "acreate_import", peek)
    res = push(timed, sb, people(7), plain=True, method="import", journal=journal)
    assert res["status"].to_list() == ["success"] * 7 and seen == [7]
    again = push(timed, sb, people(7), plain=True, method="import", journal=journal)
    assert again["status"].to_list() == ["skipped"] * 7 and sb.imports().height == 1


def test_a_resumed_push_reads_the_report_of_a_job_it_had_created(sb, timed, tmp_path, monkeypatch):
    journal = tmp_path / "j.sqlite"

    async def stopped(*args, **kwargs):  # the push stops once the job exists
        raise RuntimeError("stopped")

    monkeypatch.setattr(_import_job, "follow", stopped)
    with pytest.raises(RuntimeError, match="stopped"):
        push(timed, sb, people(5), plain=True, method="import", journal=journal)
    monkeypatch.undo()
    res = push(timed, sb, people(6), plain=True, method="import", journal=journal)
    assert res["status"].to_list() == ["skipped"] * 5 + ["success"]
    held = dict(zip(sb.contacts()["email"], sb.contacts()["contact_id"], strict=True))
    assert res["qualtrics_id"].to_list() == [held[e] for e in people(6)["email"]]
    assert sb.imports()["contacts"].to_list() == [5, 1]  # the five were not sent again


def test_dry_run_shows_each_rows_import_contact_object(sb, timed):
    frame = people(2, embedded_data=pl.struct(tier=pl.lit("gold")))
    res = push(timed, sb, frame, method="import", dry_run=True)
    assert payloads(res) == [
        {"firstName": "P", "email": "p0@example.com", "embeddedData": {"tier": "gold"}},
        {"firstName": "P", "email": "p1@example.com", "embeddedData": {"tier": "gold"}},
    ]
    assert sb.requests().height == 0


# -- transactions: identities through import jobs ---------------------------------------------


def orders(n: int, people_count: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "email": [f"p{i % people_count}@example.com" for i in range(n)],
            "order": [f"o{i}" for i in range(n)],
        }
    )


def push_tx(client, sb, frame, *, plain=False, **options):
    where = (
        {"directory_id": sb.plain_directory_id, "mailing_list_id": sb.plain_mailing_list_id}
        if plain
        else {"directory_id": sb.directory_id, "mailing_list_id": sb.mailing_list_id}
    )
    return qx.upsert_transactions(
        frame,
        client=client,
        progress=False,
        mapping={"transaction_data": ["order"]},
        **where,
        **options,
    )


def test_transactions_resolve_new_people_with_an_import_instead_of_searches(sb, timed):
    existing = qx.upsert_contacts(people(1), client=timed, directory_id=sb.directory_id)
    res = push_tx(timed, sb, orders(12, 4), method="import")
    assert res["status"].to_list() == ["success"] * 12
    assert (bodies(sb, "search"), bodies(sb, "imports")) == (0, 1)
    assert sb.contacts().height == 4  # p0 merged into the one already there
    assert res["contact_id"][0] == existing["qualtrics_id"][0]
    held = dict(zip(sb.contacts()["email"], sb.contacts()["contact_id"], strict=True))
    assert res["contact_id"].to_list() == [held[e] for e in orders(12, 4)["email"]]
    assert sb.transactions()["contact_id"].to_list() == res["contact_id"].to_list()


def test_identities_resolved_in_an_earlier_chunk_are_not_imported_again(sb, timed, monkeypatch):
    from qxframe.actions import _chunks

    monkeypatch.setattr(_chunks, "CHUNK_SIZE", 6)
    res = push_tx(timed, sb, orders(12, 4), method="import")
    assert res["status"].to_list() == ["success"] * 12
    assert sb.imports()["contacts"].to_list() == [4]  # the second chunk's people are known
    assert res["contact_id"][:4].to_list() == res["contact_id"][4:8].to_list()


def test_transactions_keep_the_search_path_where_the_directory_would_not_merge(sb, timed):
    push_tx(timed, sb, orders(6, 3), plain=True, method="import")
    assert (bodies(sb, "search"), bodies(sb, "imports")) == (3, 0)
    sb.reset()
    phones = orders(4, 2).with_columns(phone=pl.lit("555"))
    push_tx(timed, sb, phones, method="import")  # phone: the import cannot carry it
    assert (bodies(sb, "search"), bodies(sb, "imports")) == (2, 0)


def test_auto_resolves_through_import_from_the_threshold_of_identities(sb, timed, low_threshold):
    push_tx(timed, sb, orders(40, 20))
    assert (bodies(sb, "search"), bodies(sb, "imports")) == (0, 1)
    sb.reset()
    push_tx(timed, sb, orders(40, 19))
    assert (bodies(sb, "search"), bodies(sb, "imports")) == (19, 0)


def test_a_transactions_dry_run_names_each_lookups_path(sb, timed):
    frame = orders(2, 2).with_columns(contact_id=pl.Series([None, "CID_given"]))
    via_import = push_tx(timed, sb, frame, method="import", dry_run=True)
    assert [p.get("contactLookup") for p in payloads(via_import)] == ["import", None]
    assert "contactId" not in payloads(via_import)[0] and payloads(via_import)[1]["contactId"]
    by_search = push_tx(timed, sb, frame, plain=True, method="import", dry_run=True)
    assert [p.get("contactLookup") for p in payloads(by_search)] == ["search", None]
    api = push_tx(timed, sb, frame, method="api", dry_run=True)
    assert payloads(api)[0]["contactLookup"] == "search"
    assert bodies(sb, "imports") + bodies(sb, "transactions") + bodies(sb, "search") == 0


# -- killed while jobs run, then resumed ---------------------------------------------------------


def test_a_push_killed_while_jobs_run_resumes_from_their_reports_without_a_second_job(tmp_path):
    import subprocess

    journal, out = tmp_path / "j.sqlite", tmp_path / "out.parquet"
    with qx.sandbox(import_rate=100, seed=5) as sb:  # 0.2 s a job of 20
        argv = import_push(sb, journal, out, rows=300, jobs=2, chunk=10_000)  # one chunk
        first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        running = (  # a job created and recorded, its rows not reported yet
            "SELECT count(*) FROM import_rows i JOIN entries e ON e.key = i.key "
            "WHERE e.status = 'pending'"
        )
        done_before = sigkill_once_recorded(first, journal, 40, within=30, and_then=running)
        second = subprocess.run(argv, capture_output=True, timeout=120)
        assert second.returncode == 0, second.stderr.decode()
        jobs, held = sb.imports(), sb.contacts()

    results = pl.read_parquet(out)
    assert results["row"].to_list() == list(range(300))
    statuses = dict(results.group_by("status").len().iter_rows())
    assert set(statuses) <= {"skipped", "success", "failed"}
    # the rows of the jobs running at the kill were read back from their reports
    followed = statuses.get("skipped", 0) - done_before
    assert done_before >= 40 and 0 < followed <= 2 * 20
    failed = results.filter(pl.col("status") == "failed")  # pending before a 202 was heard
    assert (failed["error_code"] == "outcome_unknown").all() and failed.height <= 2 * 20
    assert jobs["contacts"].sum() == 300  # every row in exactly one job: none created twice
    assert held.height == 300 and held["email"].n_unique() == 300
    landed = results.filter(pl.col("status") != "failed")
    by_email = dict(zip(held["email"], held["contact_id"], strict=True))
    emails = [f"p{i}@example.com" for i in landed["row"]]
    assert landed["qualtrics_id"].to_list() == [by_email[e] for e in emails]
