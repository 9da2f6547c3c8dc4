"""The token bucket: spacing, bursts, pausing on 429 and recovering."""

from __future__ import annotations

import asyncio

import pytest

from qxframe._ratelimit import MIN_RATE, RateLimiter, TokenBucket


def test_bucket_spaces_requests_at_the_rate(fake_time):
    bucket = TokenBucket(10.0, clock=fake_time.clock)  # 10 per second
    waits = [bucket.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


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
    limiter = RateLimiter({"contacts": 120}, clock=fake_time.clock, sleep=fake_time.sleep)

    async def go():
        for _ in range(3):
            await limiter.acquire("contacts")

    asyncio.run(go())
    assert fake_time.sleeps == pytest.approx([0.5, 0.5])  # 2/s, clock advanced by the sleeps
    assert limiter.rate_per_minute("contacts") == 120


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
