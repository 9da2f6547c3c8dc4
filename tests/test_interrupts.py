"""Pushes stop when told: Ctrl-C (SIGINT), ``interrupt_main``, ``PushHandle.cancel()`` and a
cancelled async task all stop sending, give requests in flight a short grace, and raise
``PushInterrupted`` carrying one result row per row read; the journal then resumes."""

from __future__ import annotations

import _thread
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

import qxframe as qx
import qxframe.delivery._stop
from qxframe._sinks import read_results
from qxframe.actions._handle import start_push

ROWS = 200
BOUND = 10.0  # seconds: a generous bound on "stops within 2 s" (loaded CI machines)


@pytest.fixture(scope="module")
def slow():
    """A loopback sandbox answering every request after 0.2 s."""
    with qx.sandbox(latency=0.2, seed=5) as sandbox:
        yield sandbox


@pytest.fixture
def sbx(slow):
    slow.reset()
    return slow


def people(n: int = ROWS) -> pl.DataFrame:
    return pl.DataFrame({"email": [f"p{i}@example.com" for i in range(n)]})


def warm_up(sb, frame: pl.DataFrame) -> None:
    """A dry run first: the first validation in a process loads pandera (a second or so)."""
    with sb.client() as client:
        qx.trigger_workflow(frame, client=client, workflow_url=sb.workflow_url, dry_run=True)


def when(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def posts(sb) -> int:
    requests = sb.requests()
    return requests.filter(pl.col("method") == "POST").height


def check_one_row_each(results: pl.DataFrame, n: int = ROWS) -> None:
    assert results["row"].to_list() == list(range(n))
    assert set(results["status"]) <= {"success", "not_sent", "failed", "skipped"}
    unknown = results.filter(pl.col("status") == "failed")
    assert set(unknown["error_code"]) <= {"outcome_unknown"}


def test_interrupt_main_stops_a_sync_push_with_its_results(sbx):
    client = sbx.client()
    fired: list[float] = []

    def interrupt() -> None:
        when(lambda: sbx.contacts().height >= 8)
        fired.append(time.monotonic())
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(qx.PushInterrupted) as info:
        qx.upsert_contacts(people(), client=client, directory_id=sbx.plain_directory_id)
    elapsed = time.monotonic() - fired[0]
    assert elapsed < BOUND
    stop = info.value
    assert isinstance(stop, KeyboardInterrupt)
    check_one_row_each(stop.results)
    sent_then = posts(sbx)
    time.sleep(0.5)
    assert posts(sbx) == sent_then, "a request was sent after the push stopped"
    landed = sbx.contacts()
    success = stop.results.filter(pl.col("status") == "success")
    assert 8 <= success.height < ROWS
    assert sorted(success["qualtrics_id"]) == sorted(landed["contact_id"])
    assert stop.sent == success.height == posts(sbx)
    assert f"{stop.sent} row(s) had been sent" in str(stop)


def test_cancel_on_a_handle_then_resume_with_the_journal(sbx, tmp_path):
    client, journal = sbx.client(), tmp_path / "j.sqlite"
    options = {"directory_id": sbx.plain_directory_id, "journal": journal, "concurrency": 16}
    handle = start_push("contacts", people(), client=client, **options)
    ended = threading.Event()
    handle.add_done_callback(lambda h: ended.set())
    when(lambda: sbx.contacts().height >= 5)
    assert handle.cancel() is True
    with pytest.raises(qx.PushInterrupted) as info:
        handle.result(timeout=BOUND)
    assert handle.done() and ended.is_set() and handle.cancel() is False
    first = info.value.results
    check_one_row_each(first)
    assert str(journal) in str(info.value)
    done = first.filter(pl.col("status") == "success").height

    again = qx.upsert_contacts(people(), client=client, **options)
    assert again.filter(pl.col("status") == "skipped").height == done
    assert again.filter(pl.col("status") == "success").height == ROWS - done
    emails = sbx.contacts()["email"]
    assert emails.n_unique() == emails.len() == ROWS  # every row once, none twice


def test_a_stopped_transactions_push_resumes_without_a_duplicate(sbx, tmp_path):
    """Lookups shared by many rows, batches in flight: stopped, then resumed, every
    transaction lands once and each person is created once."""
    frame = pl.DataFrame(
        {
            "email": [f"p{i % 60}@example.com" for i in range(ROWS)],
            "transaction_data": [f'{{"n": {i}}}' for i in range(ROWS)],
        }
    )
    options = {
        "directory_id": sbx.directory_id,
        "mailing_list_id": sbx.mailing_list_id,
        "journal": tmp_path / "j.sqlite",
        "batch_size": 20,
        "concurrency": 8,
    }
    handle = start_push("transactions", frame, client=sbx.client(), **options)
    when(lambda: sbx.transactions().height >= 20)
    handle.cancel()
    with pytest.raises(qx.PushInterrupted) as info:
        handle.result(timeout=BOUND)
    first = info.value.results
    check_one_row_each(first)
    done = first.filter(pl.col("status") == "success").height
    assert 20 <= done < ROWS and done == sbx.transactions().height

    again = qx.upsert_transactions(frame, client=sbx.client(), **options)
    assert again.filter(pl.col("status") == "skipped").height == done
    assert again.filter(pl.col("status") == "success").height == ROWS - done
    landed = sbx.transactions()["data"]
    assert landed.n_unique() == landed.len() == ROWS
    assert sbx.contacts().height == 60


def test_result_times_out_while_the_push_goes_on(sbx):
    handle = start_push("contacts", people(20), client=sbx.client(), directory_id=sbx.directory_id)
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.05)
    assert handle.result(timeout=BOUND)["status"].to_list() == ["success"] * 20


def test_unanswered_writes_end_outcome_unknown_and_are_not_resent(tmp_path):
    """Requests slower than the grace are cancelled: their rows are outcome_unknown, and
    their pending marks keep a resumed push from sending them again."""
    with qx.sandbox(latency=3.0) as sb:
        frame = pl.DataFrame({"n": list(range(12))})
        warm_up(sb, frame)
        options = {"workflow_url": sb.workflow_url, "journal": tmp_path / "j.sqlite"}
        handle = start_push("workflow", frame, client=sb.client(), concurrency=4, **options)
        time.sleep(0.5)  # the first four triggers are on the wire (answered after 3 s)
        started = time.monotonic()
        handle.cancel()
        with pytest.raises(qx.PushInterrupted) as info:
            handle.result(timeout=BOUND)
        assert time.monotonic() - started < BOUND
        results = info.value.results
        unknown = results.filter(pl.col("error_code") == "outcome_unknown")
        assert unknown.height == 4 and set(unknown["attempts"]) == {1}
        assert results.filter(pl.col("status") == "not_sent").height == 8
        assert info.value.sent == 4

        resumed = start_push("workflow", frame, client=sb.client(), concurrency=12, **options)
        again = resumed.result(timeout=BOUND)
        assert again.filter(pl.col("error_code") == "outcome_unknown")["row"].to_list() == (
            unknown["row"].to_list()
        )
        assert again.filter(pl.col("status") == "success").height == 8


def test_a_second_stop_ends_the_grace_at_once(monkeypatch):
    """With a minute of grace, a second (hard) stop — a second Ctrl-C — still ends the push
    in seconds, its unanswered writes outcome_unknown."""
    monkeypatch.setattr(qxframe.delivery._stop, "GRACE", 60.0)
    with qx.sandbox(latency=20.0) as sb:
        frame = pl.DataFrame({"n": list(range(6))})
        warm_up(sb, frame)
        handle = start_push(
            "workflow", frame, client=sb.client(), concurrency=2, workflow_url=sb.workflow_url
        )
        time.sleep(0.5)
        started = time.monotonic()
        handle.cancel()
        with pytest.raises(TimeoutError):
            handle.result(timeout=1.0)  # in its grace
        handle.cancel(hard=True)
        with pytest.raises(qx.PushInterrupted) as info:
            handle.result(timeout=BOUND)
        assert time.monotonic() - started < BOUND
        statuses = info.value.results["status"].to_list()
        assert statuses == ["failed"] * 2 + ["not_sent"] * 4


def test_a_request_waiting_to_be_retried_is_not_sent_after_a_stop(sb):
    """A 429 with Retry-After 30: the retry waits; a stop ends the wait and sends nothing
    more, and the row is not_sent (a 429 was not processed), not outcome_unknown."""
    sb.fail_next("workflows", status=429, retry_after=30)
    frame = pl.DataFrame({"n": [1]})
    handle = start_push("workflow", frame, client=sb.client(), workflow_url=sb.workflow_url)
    when(lambda: sb.requests().height == 1)
    stopped = time.monotonic()
    handle.cancel()
    with pytest.raises(qx.PushInterrupted) as info:
        handle.result(timeout=BOUND)
    assert time.monotonic() - stopped < BOUND
    assert info.value.results["status"].to_list() == ["not_sent"]
    time.sleep(0.3)
    assert sb.requests().height == 1 and sb.workflow_events().height == 0


def test_a_cancelled_async_task_ends_cancelled_with_results_and_the_loop_lives(sbx):
    async def main() -> tuple[qx.PushInterrupted, bool, int]:
        client = sbx.client()
        task = asyncio.ensure_future(
            qx.aupsert_contacts(people(), client=client, directory_id=sbx.plain_directory_id)
        )
        while sbx.contacts().height < 5:
            await asyncio.sleep(0.02)
        task.cancel()
        try:
            await task
        except qx.PushInterrupted as stop:
            caught = stop
        after = await qx.aupsert_contacts(
            people(3), client=client, directory_id=sbx.directory_id
        )  # the same loop goes on
        return caught, task.cancelled(), after.height

    stop, cancelled, after = asyncio.run(main())
    assert isinstance(stop, asyncio.CancelledError) and isinstance(stop, qx.PushCancelled)
    assert cancelled and after == 3
    check_one_row_each(stop.results)
    success = stop.results.filter(pl.col("status") == "success").height
    assert success == stop.sent and success >= 5


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to the own process")
def test_ctrl_c_under_asyncio_run_stops_an_async_push(sbx):
    """asyncio.run turns SIGINT into cancelling the main task; the push then stops and its
    results are caught as PushInterrupted by the coroutine."""

    async def main() -> pl.DataFrame:
        try:
            return await qx.aupsert_contacts(
                people(), client=sbx.client(), directory_id=sbx.plain_directory_id
            )
        except qx.PushInterrupted as stop:
            return stop.results

    def interrupt() -> None:
        when(lambda: sbx.contacts().height >= 5)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    results = asyncio.run(main())
    check_one_row_each(results)
    assert 5 <= results.filter(pl.col("status") == "success").height < ROWS


def cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "qxframe", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigint_stops_a_cli_push_which_then_resumes(sbx, tmp_path: Path):
    """Workflow triggers (the CLI's client keeps Qualtrics' default rate limits, and those
    of workflows let the test run in seconds); each must land once and only once."""
    source, out, journal = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "j.sqlite"
    people().write_csv(source)
    env = os.environ | {"QUALTRICS_BASE_URL": sbx.base_url, "QUALTRICS_API_TOKEN": sbx.api_token}
    command = ["push", "workflow", str(source), "--workflow-url", sbx.workflow_url]
    command += ["--journal", str(journal), "--out", str(out), "--no-progress"]
    command += ["--concurrency", "8"]
    process = cli(*command, env=env)
    when(lambda: sbx.workflow_events().height >= 16)
    signalled = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    took = time.monotonic() - signalled
    print(f"SIGINT to exit: {took:.2f} s")
    assert process.returncode == 130, stderr
    assert took < BOUND
    assert "interrupted" in stderr and "Traceback" not in stderr
    first = read_results(out)
    check_one_row_each(first)
    success = first.filter(pl.col("status") == "success")
    unknown = first.filter(pl.col("status") == "failed").height
    assert success.height + unknown == events(sbx).height < ROWS

    before = posts(sbx)
    resumed = cli(*command, env=env)
    resumed.communicate(timeout=60)
    assert resumed.returncode == (1 if unknown else 0)
    second = read_results(out)
    assert second["row"].to_list() == list(range(ROWS))
    assert second.filter(pl.col("status") == "skipped").height == success.height
    assert posts(sbx) - before == ROWS - success.height - unknown  # only the rest was sent
    emails = events(sbx)["email"]
    assert emails.n_unique() == emails.len() >= ROWS - unknown  # none twice


def events(sb) -> pl.DataFrame:
    payloads = sb.workflow_events()["payload"]
    return payloads.str.json_decode(pl.Struct({"email": pl.String})).struct.unnest()


KERNEL_SETUP = """
import polars as pl, qxframe as qx
sb = qx.Sandbox(latency=0.2).start()
client = sb.client()
frame = pl.DataFrame({"email": [f"p{i}@example.com" for i in range(300)]})
"""
SYNC_CELL = """
try:
    qx.upsert_contacts(frame, client=client, directory_id=sb.plain_directory_id, concurrency=4)
except qx.PushInterrupted as stop:
    print("INTERRUPTED", stop.sent, stop.results.height)
"""
ASYNC_CELL = SYNC_CELL.replace("qx.upsert_contacts", "await qx.aupsert_contacts")
UNCAUGHT_ASYNC_CELL = (
    "await qx.aupsert_contacts(frame, client=client, directory_id=sb.plain_directory_id, "
    "concurrency=4)"
)


def interrupt_cell(km, kc, code: str) -> tuple[float, str]:
    """Run ``code``, interrupt the kernel 2 s in; (seconds to idle, the cell's output)."""
    msg_id = kc.execute(code)
    time.sleep(2.0)
    interrupted = time.monotonic()
    km.interrupt_kernel()
    out: list[str] = []
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append(msg["content"]["ename"])
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return time.monotonic() - interrupted, "".join(out)


def test_interrupt_kernel_stops_a_push_in_a_notebook_cell(tmp_path):
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        kc.execute_interactive(KERNEL_SETUP, timeout=60)
        for name, cell in (("sync", SYNC_CELL), ("async", ASYNC_CELL)):
            took, out = interrupt_cell(km, kc, cell)
            print(f"interrupt kernel ({name} cell) to idle: {took:.2f} s")
            assert took < BOUND
            assert out.startswith("INTERRUPTED") and out.split()[2] == "300", out
        took, out = interrupt_cell(km, kc, UNCAUGHT_ASYNC_CELL)
        print(f"interrupt kernel (await cell, not caught) to idle: {took:.2f} s")
        assert out == "PushCancelled"  # a cancellation to the kernel's loop, which goes on
        reply = kc.execute_interactive("assert sb.contacts().height < 600", timeout=30)
        assert reply["content"]["status"] == "ok"  # the kernel (and its loop) lives on
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_push_s_caches_leave_no_task_running_and_no_error_unread():
    # what a stopped push leaves in the tasks its actions shared (ctx.keep): a lookup still
    # running is cancelled, one that failed has its error read (asyncio would log
    # "exception was never retrieved")
    import gc

    from qxframe.actions._context import PushContext

    async def main() -> list[dict]:
        loop = asyncio.get_running_loop()
        logged: list[dict] = []
        loop.set_exception_handler(lambda _loop, context: logged.append(context))
        push = PushContext(None)
        push.keep(running := loop.create_future())
        failed = loop.create_future()
        failed.set_exception(RuntimeError("lookup failed"))
        push.keep(failed)
        push.end()
        assert running.cancelled()
        del push, failed, running
        gc.collect()
        return logged

    assert asyncio.run(main()) == []
