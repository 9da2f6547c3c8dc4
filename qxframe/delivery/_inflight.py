"""How many requests of one endpoint family may be in flight: Little's law, kept current.

The token bucket (:mod:`qxframe.delivery._ratelimit`) spaces a family's requests at its rate. To
sustain that rate a client must keep *rate × latency* requests in flight (Little's law):
at 500 requests a minute and 0.4 s per answer that is 3.3, at 1 s it is 8.3. A fixed
number of slots is either too few at real latencies (the push runs below the limit) or
too many when answers are fast (requests queue deep in the bucket, where a 429 can no
longer slow them). So each family gets a :class:`FlightLimit` whose size follows the
latency it observes: ``needed(rate, latency)`` slots, with headroom, bounded by
:data:`MAX_IN_FLIGHT`. The bucket, not the slot count, is then what holds a push back
(docs/architecture.md, "Delivery").

A push's own ``concurrency=`` is a hard cap on top of this (the runner's semaphore).
Limits live in the delivery transport, which exists once per event loop, so the asyncio
primitives here never cross loops.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

MAX_IN_FLIGHT = 64  # per family: the bound, whatever the latency
MIN_IN_FLIGHT = 2
HEADROOM = 2.0  # slots per request Little's law asks for: answers vary, the bucket waits
INITIAL_LATENCY = 0.5  # seconds assumed until the first answer is timed
SMOOTHING = 0.2  # weight of the newest latency in the moving average


def needed(rate_per_second: float, latency: float) -> int:
    """Slots that keep ``rate_per_second`` requests a second going at ``latency`` seconds each.

    >>> needed(500 / 60, 0.4), needed(500 / 60, 1.0), needed(500 / 60, 0.001)
    (8, 18, 2)
    >>> needed(1_000_000 / 60, 1.0)
    64
    """
    wanted = math.ceil(rate_per_second * latency * HEADROOM) + 1
    return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, wanted))


class FlightLimit:
    """An asyncio limit on requests in flight whose size follows the observed latency.

    ``rate`` is read on every decision (it drops after a 429 and recovers), so the limit
    shrinks and grows with the bucket's rate too.
    """

    def __init__(self, rate: Callable[[], float]) -> None:
        self._rate = rate
        self.latency = INITIAL_LATENCY
        self.in_flight = 0
        self.peak = 0  # the most requests in flight at once (for tests and benchmarks)
        self._changed = asyncio.Condition()

    @property
    def size(self) -> int:
        return needed(self._rate(), self.latency)

    def observe(self, seconds: float) -> None:
        """One answer took ``seconds``: move the latency estimate towards it."""
        self.latency += SMOOTHING * (max(0.0, seconds) - self.latency)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the family's slots for the body of the ``async with``."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.size)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            async with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()  # the size may have grown as well
