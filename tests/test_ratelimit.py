"""The token bucket: spacing, bursts, pausing on 429 and recovering."""

from __future__ import annotations

import asyncio

import pytest

from qxframe.delivery._ratelimit import MIN_RATE, RateLimiter, TokenBucket


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
    limiter = RateLimiter({"contacts": 120}, clock=fake_time.clock, sleep=fake_time.sleep)

    async def go():
        for _ in range(3):
            await limiter.acquire("contacts")

    asyncio.run(go())
    assert fake_time.sleeps == pytest.approx([0.5, 0.5])  # 2/s, clock advanced by the sleeps
    assert limiter.rate("contacts") * 60 == 120


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
