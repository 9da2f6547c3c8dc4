"""No leaks: a Client releases its thread, loops and sockets on close(), on leaving
``with``, and when garbage-collected; the sandbox closes the clients it handed out; a
thousand pushes with one client — sync, or async across successive event loops — hold
the thread and file-descriptor counts flat."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import weakref

import polars as pl
import pytest

import qxframe as qx

PUSHES = 1_000
FRAME = pl.DataFrame({"n": [1]})


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "qxframe-loop"]


def counts() -> tuple[int, int]:
    gc.collect()
    return threading.active_count(), fds()


def back_to(before: tuple[int, int], within: float = 5.0) -> tuple[int, int]:
    """The counts once they are no more than ``before`` again (the sandbox's side of a
    socket closes a moment after the client's), or as they are after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not flat(now := counts(), before) and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


def flat(now: tuple[int, int], before: tuple[int, int]) -> bool:
    """The same threads, and no more descriptors: one fewer is a keep-alive socket of an
    earlier push that the sandbox closed meanwhile, not a leak (a leak is one a push)."""
    return now[0] == before[0] and now[1] <= before[1]


@pytest.fixture(autouse=True, scope="module")
def _warm(live):
    """First uses start what lives once per process (tqdm's monitor thread, lazy imports)."""
    with live.client() as client:
        qx.trigger_workflow(FRAME, client=client, workflow_url=live.workflow_url, progress=False)


def test_close_releases_the_thread_and_sockets(sb):
    before = counts()
    client = sb.client()
    client.whoami()
    assert len(loop_threads()) >= 1 and counts()[0] == before[0] + 1
    client.close()
    assert flat(back_to(before), before)
    client.whoami()  # usable again: the loop and the pool are made on demand
    client.close()
    assert flat(back_to(before), before)


def test_leaving_with_closes_the_client(sb):
    before = counts()
    with sb.client() as client:
        client.whoami()
    assert flat(back_to(before), before)


def test_a_client_nobody_holds_is_collected_and_closed(sb):
    before = counts()
    client = sb.client()
    client.whoami()
    qx.trigger_workflow(FRAME, client=client, workflow_url=sb.workflow_url, progress=False)
    ref = weakref.ref(client)
    del client
    assert ref() is None, "something still refers to the client (a reference cycle?)"
    assert flat(back_to(before), before)


def test_thirty_clients_dropped_leave_nothing(sb):
    before = counts()
    clients = [sb.client() for _ in range(30)]
    for client in clients:
        client.whoami()
    assert counts()[0] == before[0] + 30
    del clients, client
    assert flat(back_to(before), before)


def test_the_sandbox_closes_the_clients_it_handed_out():
    before = counts()
    with qx.sandbox() as box:
        client = box.client()
        client.whoami()
    assert not client._loop_thread.started
    assert flat(back_to(before), before)


def test_an_async_client_closes_its_pool_with_the_loop(sb):
    client = sb.client()

    async def ask() -> None:
        await client.awhoami()

    asyncio.run(ask())
    assert len(client._pools) == 0  # closed and forgotten when asyncio.run ended its loop


def test_a_thousand_sync_pushes_hold_threads_and_fds_flat(sb):
    client = sb.client()

    def push() -> None:
        qx.trigger_workflow(FRAME, client=client, workflow_url=sb.workflow_url, progress=False)

    for _ in range(10):  # warm up: the loop thread, keep-alive connections
        push()
    before = counts()
    for _ in range(PUSHES):
        push()
    after = back_to(before)
    print(f"sync: threads, fds before {before} after {after}")
    assert flat(after, before), (after, before)
    assert sb.workflow_events().height == PUSHES + 10


def test_a_thousand_async_pushes_on_successive_loops_hold_threads_and_fds_flat(sb):
    client = sb.client()

    async def push() -> None:
        await qx.atrigger_workflow(
            FRAME, client=client, workflow_url=sb.workflow_url, progress=False
        )

    for _ in range(10):
        asyncio.run(push())
    before = counts()
    for _ in range(PUSHES):
        asyncio.run(push())
    after = back_to(before)
    print(f"async: threads, fds before {before} after {after}")
    assert flat(after, before), (after, before)
    assert len(client._pools) == 0
