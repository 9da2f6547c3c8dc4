"""Client-side rate limiting: one token bucket per endpoint family.

A :class:`TokenBucket` spaces requests at ``rate`` per second with a small burst, as
reservations (the generic cell-rate algorithm): ``reserve()`` returns how long the caller
must wait for its slot, so many coroutines and threads can share one bucket. ``take()``
is the same bucket for whoever cannot wait: a slot now, or how long until one is free
(the sandbox answers 429 with that as ``Retry-After``).

A family limited to ``L`` requests a minute gets :func:`bucket_for` it: a burst of a few
requests (:func:`burst_for`: at most :data:`MAX_BURST`, at most 2 % of ``L``) so a short
push goes at once instead of one request every ``60 / L`` seconds, and a
steady rate lowered by that burst, so that no minute window (``[t, t + 60)``) ever holds
more than ``L`` requests (docs/architecture.md, "Delivery").

When Qualtrics answers 429 the bucket pauses for ``Retry-After`` and lowers its rate by at
most half (never below one request a second); each success then nudges the rate back up
towards the configured one. :class:`RateLimiter` holds a bucket per family, and one for
the brand (``"brand"``) that every request also waits for, whatever its family: the
families together never exceed the brand's budget.

The clock and the sleep are injected, so tests run the arithmetic without waiting.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping

from qxframe.delivery._config import BRAND

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

MIN_RATE = 1.0  # requests per second: the floor when slowing down after 429s
RECOVERY = 1.02  # each success multiplies the lowered rate by this, up to the configured rate
ROUNDING = 1e-9  # seconds: a "wait" this short is float rounding in the sums of intervals
MAX_BURST = 10  # requests a family may send at once after an idle spell, at most
WINDOW = 60.0  # seconds: Qualtrics states its limits per minute


class TokenBucket:
    """Reservation-based token bucket for one endpoint family.

    ``rate`` is in requests per second; ``burst`` is how many requests may go at once
    after an idle spell (1 = strictly evenly spaced; a fraction gives part of a slot).
    """

    def __init__(self, rate: float, *, burst: float = 1, clock: Clock = time.monotonic) -> None:
        self.configured_rate = rate
        self.rate = rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free = 0.0  # theoretical arrival time of the next request
        self._paused_until = 0.0
        self._last_cut = float("-inf")

    def reserve(self) -> float:
        """Take the next slot; return the seconds to wait before using it (0 if none)."""
        return self._claim(wait=True)

    def take(self) -> float:
        """Take a slot if one is free now and return 0.0; else take nothing and return the
        seconds until one is."""
        return self._claim(wait=False)

    def _claim(self, *, wait: bool) -> float:
        with self._lock:
            now = self._clock()
            interval = 1.0 / self.rate
            admit = max(now, self._next_free - (self.burst - 1) * interval, self._paused_until)
            delay = admit - now if admit - now > ROUNDING else 0.0
            if wait or delay == 0.0:
                self._next_free = max(self._next_free, admit) + interval
            return delay

    def per_minute(self) -> float:
        """The most requests the bucket admits in a minute at its current rate (the limit
        it keeps, for people: :func:`bucket_for`'s ``per_minute`` until a 429 lowers it)."""
        return self.rate * WINDOW + self.burst

    def on_rate_limited(self, retry_after: float | None) -> None:
        """A 429 arrived: pause for ``retry_after`` and halve the rate (once per pause).

        ``retry_after`` is already capped by the caller (the transport applies the retry
        policy's ``max_retry_after``); one that is not a finite number pauses 1 s."""
        with self._lock:
            now = self._clock()
            readable = retry_after is not None and math.isfinite(retry_after)
            pause = max(0.0, retry_after) if retry_after is not None and readable else 1.0
            self._paused_until = max(self._paused_until, now + pause)
            if now - self._last_cut >= max(pause, 1.0):
                self._last_cut = now
                floor = min(MIN_RATE, self.configured_rate)
                self.rate = max(self.rate / 2, floor)

    def on_success(self) -> None:
        """A request went through: recover a little of the rate lost to 429s."""
        if self.rate < self.configured_rate:
            with self._lock:
                self.rate = min(self.configured_rate, self.rate * RECOVERY)


def burst_for(per_minute: float) -> int:
    """How many requests of a family limited to ``per_minute`` may go at once: a few, at
    most :data:`MAX_BURST` and at most 2 % of the minute's limit (Qualtrics states its
    limits per minute and does not document a burst size; :func:`bucket_for` keeps every
    minute within the limit, burst included).

    >>> burst_for(500), burst_for(3000), burst_for(100), burst_for(30)
    (10, 10, 2, 1)
    """
    return max(1, min(MAX_BURST, int(per_minute // 50)))


def bucket_for(per_minute: float, *, clock: Clock = time.monotonic) -> TokenBucket:
    """The bucket of a family limited to ``per_minute``: :func:`burst_for` requests at once,
    then a steady rate of ``per_minute - burst`` a minute.

    A reservation bucket of rate ``r`` and burst ``b`` admits at most ``b + 60 r`` requests
    in any 60-second window ``[t, t + 60]`` (the burst, then one every ``1 / r`` seconds),
    so this rate keeps every minute window within ``per_minute``, ends included and with
    room for float rounding. ``tests/test_ratelimit.py`` checks the window.
    """
    burst = burst_for(per_minute)
    steady = max(per_minute - burst, per_minute / 2)  # the max: a limit of 1 a minute
    return TokenBucket(steady / WINDOW, burst=burst, clock=clock)


class RateLimiter:
    """A token bucket per endpoint family, with per-minute limits."""

    def __init__(
        self,
        per_minute: Mapping[str, float],
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._sleep = sleep
        self._clock = clock
        self._waits_end: dict[str, float] = {}  # when each family's last wait for its bucket ended
        self.buckets = {
            family: bucket_for(limit, clock=clock) for family, limit in per_minute.items()
        }

    async def acquire(self, family: str) -> float:
        """Wait for a slot in ``family``'s bucket, then in the brand's; return how long was
        waited. The brand's slot is taken once the family's is due, so that requests held
        back by their family do not hold brand slots they cannot use."""
        waited = await self._take(family)
        if BRAND in self.buckets and family != BRAND:
            waited += await self._take(BRAND)
        return waited

    async def _take(self, name: str) -> float:
        wait = self.buckets[name].reserve()
        if wait > 0:
            self._waits_end[name] = self._clock() + wait
            await self._sleep(wait)
        return wait

    def holding(self, within: float = 2.0) -> dict[str, float]:
        """Families whose bucket made a request wait in the last ``within`` seconds, with
        their current rate per minute, the latest wait first: what the progress bar names
        as holding a push back."""
        now = self._clock()
        recent = sorted(
            ((ended, family) for family, ended in self._waits_end.items() if ended >= now - within),
            reverse=True,
        )
        return {family: self.buckets[family].per_minute() for _, family in recent}

    def on_rate_limited(self, family: str, retry_after: float | None) -> None:
        self.buckets[family].on_rate_limited(retry_after)

    def on_success(self, family: str) -> None:
        self.buckets[family].on_success()

    def rate(self, family: str) -> float:
        """The family's current rate (lowered after 429s), in requests per second."""
        return self.buckets[family].rate
