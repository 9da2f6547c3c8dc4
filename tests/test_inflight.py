"""Requests in flight follow the rate limit and the latency (Little's law), under any cap.

The pushes here go over a real loopback socket to a sandbox that takes ``LATENCY`` seconds
per answer; a counting transport under the client's delivery layer sees every request
that is really on the wire at once.
"""

from __future__ import annotations

import asyncio

import httpx
import polars as pl
import pytest

import qxframe as qx
from qxframe.delivery._inflight import MAX_IN_FLIGHT, FlightLimit, needed

LATENCY = 0.15
LIMIT = 2400  # contact creates a minute: 40/s × 0.15 s = 6 in flight needed


class CountingTransport(httpx.AsyncBaseTransport):
    """The network, counting how many requests are on the wire at once."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.now = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            response = await self._inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.now -= 1

    async def aclose(self) -> None:
        await self._inner.aclose()


def _people(n: int) -> pl.DataFrame:
    return pl.DataFrame({"ext_ref": [f"p{i}" for i in range(n)]})


@pytest.fixture(scope="module")
def slow():
    with qx.sandbox(latency=LATENCY, seed=3) as sandbox:
        yield sandbox


def _push(slow: qx.Sandbox, **options: object) -> tuple[pl.DataFrame, CountingTransport]:
    slow.reset()
    wire = CountingTransport()
    with slow.client(transport=wire, rate_limits={"contacts": LIMIT}) as client:
        res = qx.upsert_contacts(
            _people(60), client=client, directory_id=slow.plain_directory_id, **options
        )
    return res, wire


def test_without_a_cap_a_push_keeps_what_the_limit_needs_in_flight(slow):
    res, wire = _push(slow, progress=False)
    assert res["status"].to_list() == ["success"] * 60
    # the old fixed 4 slots could never sustain 40/s at 0.15 s; Little's law needs 6
    assert wire.peak > 4
    assert wire.peak <= needed(LIMIT / 60, 0.5)  # never more than the (initial) estimate asks


def test_an_explicit_concurrency_is_a_hard_cap(slow):
    res, wire = _push(slow, progress=False, concurrency=3)
    assert res["status"].to_list() == ["success"] * 60
    assert 1 < wire.peak <= 3


def test_needed_follows_rate_and_latency_within_bounds():
    assert needed(10.0, 0.3) == 7  # 10/s × 0.3 s × 2 headroom + 1
    assert needed(10.0, 1.0) > needed(10.0, 0.3) > needed(10.0, 0.01)
    assert needed(10.0, 0.0) == 2
    assert needed(10_000.0, 5.0) == MAX_IN_FLIGHT


def test_the_limit_grows_with_observed_latency_and_admits_no_more_than_its_size():
    limit = FlightLimit(lambda: 10.0)
    for _ in range(50):
        limit.observe(0.01)
    assert limit.size == 2
    for _ in range(50):
        limit.observe(1.0)
    assert limit.size == needed(10.0, limit.latency) >= 20

    async def run() -> int:
        small = FlightLimit(lambda: 10.0)
        for _ in range(50):
            small.observe(0.0)

        async def hold() -> None:
            async with small.slot():
                await asyncio.sleep(0.01)

        await asyncio.gather(*(hold() for _ in range(10)))
        return small.peak

    assert asyncio.run(run()) == 2


def test_the_progress_bar_names_the_rate_limit_holding_the_push_back(sb, fake_time):
    class Bar:
        def __init__(self) -> None:
            self.notes: list[str] = []

        def update(self, n: int) -> None:
            pass

        def set_postfix_str(self, text: str, refresh: bool = True) -> None:
            self.notes.append(text)

        def close(self) -> None:
            pass

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    bar = Bar()
    client = sb.client(rate_limits={"contacts": 120}, sleep=fake_time.sleep, clock=fake_time.clock)
    with client:
        res = qx.upsert_contacts(
            _people(8), client=client, directory_id=sb.plain_directory_id, progress=bar
        )
    assert res["status"].to_list() == ["success"] * 8
    assert "held to 120/min (contacts)" in bar.notes
    assert all(note.count("held to") <= 1 for note in bar.notes)  # one family: short enough
