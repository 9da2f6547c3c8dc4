"""The brand-wide budget (docs/architecture.md, "Rate limits"): every request, whatever its
endpoint family, also waits for ``rate_limits["brand"]`` (default 3,000 a minute), so the
families of one client together never exceed it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import polars as pl
import pytest

import qxframe as qx
import qxframe.exceptions as qxe
from qxframe.delivery._client import Client
from qxframe.delivery._config import BRAND, DEFAULT_RATE_LIMITS, FAMILIES
from qxframe.delivery._ratelimit import RateLimiter, TokenBucket, burst_for

LIFTED = dict.fromkeys(FAMILIES, 1_000_000)  # every family's own limit out of the way


class Admits:
    """Notes when each slot a bucket hands out may be used (its clock + its wait)."""

    def __init__(self, bucket: TokenBucket, clock: Callable[[], float]) -> None:
        self.times: list[float] = []
        reserve = bucket.reserve

        def noted() -> float:
            wait = reserve()
            self.times.append(clock() + wait)
            return wait

        bucket.reserve = noted  # type: ignore[method-assign]


def test_the_brand_budget_defaults_to_3000_a_minute_and_is_overridable():
    assert DEFAULT_RATE_LIMITS[BRAND] == 3000
    assert Client(api_token="t" * 40).rate_limits[BRAND] == 3000
    assert Client(api_token="t" * 40, rate_limits={BRAND: 600}).rate_limits[BRAND] == 600
    with pytest.raises(qxe.ConfigError, match="'brand' for the budget"):
        Client(api_token="t" * 40, rate_limits={"everything": 5})


def test_every_family_also_waits_for_the_brand(fake_time):
    """Families at 100 a second each, the brand at 60 a minute: requests of three families
    come at the brand's pace between them (its burst at once, then its steady rate,
    ``_ratelimit.bucket_for``)."""
    limits = {"contacts": 6000, "workflows": 6000, "reads": 6000, BRAND: 60}
    limiter = RateLimiter(limits, clock=fake_time.clock, sleep=fake_time.sleep)

    async def take() -> None:
        for family in ["contacts", "workflows", "reads"] * 3:
            await limiter.acquire(family)

    asyncio.run(take())
    burst = burst_for(60)
    # 9 requests: the burst at once, the rest one per 60 / (60 - burst) s
    assert sum(fake_time.sleeps) == pytest.approx((9 - burst) * 60 / (60 - burst))
    assert limiter.holding(within=1.0) == {BRAND: pytest.approx(60.0)}


def test_two_pushes_of_one_client_together_stay_within_the_brand_budget(fake_time):
    """A workflow push and a contact push on one client, every family lifted, against the
    sandbox over loopback: every request the sandbox received took a slot of the brand's
    bucket, and those slots keep to 3,000 a minute (burst included) on the injected clock."""
    rows = 300
    with qx.sandbox() as sb:
        client = sb.client(rate_limits=LIFTED, clock=fake_time.clock, sleep=fake_time.sleep)
        admits = Admits(client.limiter.buckets[BRAND], fake_time.clock)
        events = pl.DataFrame({"n": range(rows)})
        people = pl.DataFrame({"email": [f"p{i}@example.com" for i in range(rows)]})

        async def both() -> list[pl.DataFrame]:
            return await asyncio.gather(
                qx.atrigger_workflow(events, client=client, workflow_url=sb.workflow_url),
                qx.aupsert_contacts(people, client=client, directory_id=sb.plain_directory_id),
            )

        results = client.run(both())
        received = sb.requests()
    assert all(r["status"].to_list() == ["success"] * rows for r in results)
    counted = dict(received["family"].value_counts().iter_rows())
    assert counted["workflows"] == rows and counted["contacts"] == rows  # + the dedup read
    slots = sorted(admits.times)
    assert len(slots) == received.height
    # at most the brand's burst plus its steady rate in any stretch of time: a reservation
    # bucket's bound (_ratelimit.bucket_for), which keeps every minute within 3,000
    burst, steady = burst_for(3000), (3000 - burst_for(3000)) / 60
    assert all(
        j - i + 1 <= burst + steady * (slots[j] - slots[i]) + 1e-6
        for i in range(len(slots))
        for j in range(i, len(slots))
    )
    assert slots[-1] - slots[0] >= (len(slots) - burst) / steady - 1e-6
