"""The sandbox's fault injection: rate limits, random errors, and ``fail_next``.

This module owns the decision, made once per request after the token check, of whether
that request is refused before it is processed (429, a scripted status, a random
500/503) or processed and then answered with a scripted error (``after_commit``). It is
deterministic under ``seed``: the random errors come from ``random.Random(seed)``, drawn
only when ``error_rate`` is above zero, in the order requests arrive. No HTTP here: the
app turns a :class:`Fault` into a response.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from qxframe.delivery import _ratelimit as ratelimit
from qxframe.delivery._config import FAMILIES


@dataclass(frozen=True)
class Fault:
    """How to answer one request instead of (or after) processing it."""

    status: int
    after_commit: bool = False
    retry_after: str | None = None  # the Retry-After header value, if any


class TokenBucket(ratelimit.TokenBucket):
    """``rate_per_min`` requests a minute, bursting to one second's worth or to the burst
    a client told that limit takes (``ratelimit.burst_for``), whichever is more: the
    client's bucket, used through ``take()``, which never waits."""

    def __init__(self, rate_per_min: float, clock: Callable[[], float]) -> None:
        if rate_per_min <= 0:
            raise ValueError(f"rate_limit must be positive, got {rate_per_min!r}.")
        rate = rate_per_min / 60.0
        burst = max(rate, ratelimit.burst_for(rate_per_min))
        super().__init__(rate, burst=burst, clock=clock)


def scripted(status: int, after_commit: bool, retry_after: float | None) -> Fault:
    """The fault ``fail_next`` queues, its ``status`` checked (an HTTP error status)."""
    if not 400 <= status <= 599:
        raise ValueError(f"status must be an HTTP error status (400-599), got {status!r}.")
    header = None if retry_after is None else f"{retry_after:g}"
    return Fault(status, after_commit, header)


def _rate_limits(rate_limit: int | Mapping[str, int] | None) -> dict[str, int]:
    if rate_limit is None:
        return {}
    if isinstance(rate_limit, Mapping):
        unknown = set(rate_limit) - set(FAMILIES)
        if unknown:
            raise ValueError(
                f"Unknown endpoint family {sorted(unknown)[0]!r} in rate_limit; "
                f"use one of {', '.join(FAMILIES)}."
            )
        return dict(rate_limit)
    return dict.fromkeys(FAMILIES, rate_limit)


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"Unknown endpoint family {family!r}; use one of {', '.join(FAMILIES)}.")
    return family


class Faults:
    """Per-sandbox fault state; thread-safe."""

    def __init__(
        self,
        *,
        rate_limit: int | Mapping[str, int] | None = None,
        error_rate: float = 0.0,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, got {error_rate!r}.")
        self.error_rate = error_rate
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.rate_limits = _rate_limits(rate_limit)
        self._buckets = {f: TokenBucket(r, clock) for f, r in self.rate_limits.items()}
        self._scripted: dict[str, deque[Fault]] = {f: deque() for f in FAMILIES}

    def fail_next(self, family: str, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` requests of ``family`` with ``fault``."""
        check_family(family)
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times!r}.")
        with self._lock:
            self._scripted[family].extend([fault] * times)

    def clear(self) -> None:
        with self._lock:
            for queue in self._scripted.values():
                queue.clear()

    def decide(self, family: str | None) -> Fault | None:
        """The fault for the request arriving now, if any (scripted, then 429, then random)."""
        with self._lock:
            if family is not None and self._scripted[family]:
                return self._scripted[family].popleft()
            bucket = self._buckets.get(family) if family is not None else None
            if bucket is not None:
                wait = bucket.take()
                if wait > 0:
                    return Fault(429, retry_after=str(max(1, math.ceil(wait))))
            if self.error_rate > 0 and self._rng.random() < self.error_rate:
                return Fault(500 if self._rng.random() < 0.5 else 503)
        return None
