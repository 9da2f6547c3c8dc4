"""The token bucket: spacing, bursts, pausing on 429 and recovering."""

from __future__ import annotations

import asyncio

import pytest

from qxframe.delivery._config import resolve_rate_limits
from qxframe.delivery._ratelimit import MIN_RATE, RateLimiter, TokenBucket, bucket_for


def test_bucket_spaces_requests_at_the_rate(fake_time):
    bucket = TokenBucket(10.0, clock=fake_time.clock)  # 10 per second
    waits = [bucket.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_take_takes_a_free_slot_or_says_how_long_without_taking(fake_time):
    """The non-blocking side of the same bucket (the sandbox's 429s use it)."""
    bucket = TokenBucket(2.0, burst=2, clock=fake_time.clock)  # 2 per second, burst of 2
    assert [bucket.take() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.5])
    assert bucket.take() == pytest.approx(0.5)  # a refusal took nothing
    fake_time.now += 0.5
    assert [bucket.take(), bucket.take()] == pytest.approx([0.0, 0.5])
    assert bucket.reserve() == pytest.approx(0.5)  # reserve() waits in the same queue


def test_ten_takes_in_a_burst_of_ten_despite_float_rounding(fake_time):
    fake_time.now = 2.0
    bucket = TokenBucket(10.0, burst=10, clock=fake_time.clock)
    assert [bucket.take() for _ in range(11)].count(0.0) == 10


def test_bucket_allows_a_burst_after_idle(fake_time):
    bucket = TokenBucket(10.0, burst=3, clock=fake_time.clock)
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])
    fake_time.now += 10  # idle: the burst is available again, not more
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])


def test_429_pauses_for_retry_after_and_halves_rate_once(fake_time):
    bucket = TokenBucket(10.0, clock=fake_time.clock)
    bucket.on_rate_limited(2.0)
    bucket.on_rate_limited(2.0)  # a second 429 from the same burst does not halve again
    assert bucket.rate == 5.0
    assert bucket.reserve() == pytest.approx(2.0)


def test_rate_never_drops_below_one_per_second(fake_time):
    bucket = TokenBucket(4.0, clock=fake_time.clock)
    for _ in range(10):
        bucket.on_rate_limited(1.0)
        fake_time.now += 1.0
    assert bucket.rate == MIN_RATE


def test_successes_recover_the_configured_rate(fake_time):
    bucket = TokenBucket(10.0, clock=fake_time.clock)
    bucket.on_rate_limited(1.0)
    assert bucket.rate == 5.0
    for _ in range(200):
        bucket.on_success()
    assert bucket.rate == 10.0


def test_limiter_waits_with_the_injected_sleep(fake_time):
    limiter = RateLimiter({"contacts": 30}, clock=fake_time.clock, sleep=fake_time.sleep)

    async def go():
        for _ in range(3):
            await limiter.acquire("contacts")

    asyncio.run(go())
    assert fake_time.sleeps == pytest.approx([60 / 29, 60 / 29])  # below 60/min, no burst
    assert limiter.rate("contacts") * 60 == 29  # and 30 in any minute, ends included


def acquire_all(limiter: RateLimiter, family: str, n: int, fake_time) -> float:
    """Acquire ``n`` slots one after another; the seconds the last one waited until."""
    start = fake_time.now

    async def go():
        for _ in range(n):
            await limiter.acquire(family)

    asyncio.run(go())
    return fake_time.now - start


def test_a_short_push_goes_at_once_within_the_limit(fake_time):
    """Issue 22: ten requests were spaced 0.12 s apart at 500/min (1.08 s for ten)."""
    limiter = RateLimiter(
        {"contacts": 500, "workflows": 3000}, clock=fake_time.clock, sleep=fake_time.sleep
    )
    assert acquire_all(limiter, "workflows", 10, fake_time) == 0.0
    assert acquire_all(limiter, "contacts", 10, fake_time) == 0.0
    # the eleventh waits: the burst (10) is spent, then one every 60 / 490 s
    assert acquire_all(limiter, "contacts", 1, fake_time) == pytest.approx(60 / 490)


def test_a_short_push_goes_at_once_with_the_default_limits_brand_included(fake_time):
    limits = resolve_rate_limits(None)  # Qualtrics' limits, the brand's budget among them
    limiter = RateLimiter(limits, clock=fake_time.clock, sleep=fake_time.sleep)
    assert acquire_all(limiter, "contacts", 10, fake_time) == 0.0


@pytest.mark.parametrize("limit", [30, 61, 100, 500, 601, 3000])
def test_no_minute_window_holds_more_than_the_limit(fake_time, limit):
    """Requests as fast as the bucket admits, in runs after idle spells of many lengths
    (each spell refills the burst): any 60 s window [t, t + 60] holds at most ``limit``."""
    bucket = bucket_for(limit, clock=fake_time.clock)
    sent: list[float] = []
    gaps = [0.0, 0.05, 0.5, 1.0, 3.0, 7.0, 20.0, 59.0]
    for round_ in range(3 * limit // 10 + 30):
        fake_time.now += gaps[round_ % len(gaps)] if round_ % 3 == 0 else 0.0
        for _ in range(1 + round_ % 13):
            fake_time.now += bucket.reserve()
            sent.append(fake_time.now)
    most, first = 0, 0
    for last, t in enumerate(sent):
        while sent[first] < t - 60.0:
            first += 1
        most = max(most, last - first + 1)
    assert most <= limit


@pytest.mark.parametrize("limit", [30, 500, 3000])
def test_a_busy_minute_uses_the_whole_limit(fake_time, limit):
    bucket = bucket_for(limit, clock=fake_time.clock)
    admitted = 0
    while fake_time.now + (wait := bucket.reserve()) <= 1060.0:
        fake_time.now += wait
        admitted += 1
    assert limit - 1 <= admitted <= limit  # the last one may sit on the window's end


def test_sustained_rate_matches_the_limit(fake_time):
    """Over a simulated minute, a 600/min bucket admits 600 requests (±1)."""
    bucket = TokenBucket(10.0, clock=fake_time.clock)
    admitted = 0
    while True:
        wait = bucket.reserve()
        if fake_time.now + wait >= 1060.0:
            break
        fake_time.now += wait
        admitted += 1
    assert 599 <= admitted <= 601
