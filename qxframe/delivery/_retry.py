"""What to do after one HTTP attempt: retry (and after how long), or stop.

Pure decisions, no I/O. The rules (docs/architecture.md, "Delivery"):

- 429 and 503 are retried always: the request was not processed. ``Retry-After``
  (seconds or an HTTP date) is honoured, else exponential backoff with jitter.
- A connection error raised before the request left is retried always.
- 500, 502, 504, a timeout or a dropped connection after the body was sent: retried only
  when repeating the request cannot duplicate anything (reads, searches, contact creates
  that the directory will merge). Otherwise the outcome is unknown and the caller decides.
- Every other status is final.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from qxframe.delivery._config import RetryPolicy

ALWAYS_RETRIED = frozenset({429, 503})
RETRIED_WHEN_REPEATABLE = frozenset({500, 502, 504})


class Verdict(enum.Enum):
    DONE = "done"  # hand the answer back as it is
    RETRY = "retry"  # wait, then send again
    UNKNOWN = "unknown"  # a write may have landed; do not send it again


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    wait: float = 0.0


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date).

    ``now`` is the wall-clock time (``time.time()``) used for HTTP dates.

    >>> parse_retry_after("3", now=0.0)
    3.0
    >>> parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now=4.0)
    6.0
    >>> parse_retry_after("soon", now=0.0) is None
    True

    ``nan`` is unreadable; a far-off value (``99999999999``, ``1e400``, a date in 2100) is
    returned as it is: every caller caps it (``RetryPolicy.max_retry_after``).
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def backoff(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """Exponential backoff with jitter for the wait after ``attempt`` (1-based) failed."""
    ceiling = min(policy.max_backoff, policy.backoff * 2 ** (attempt - 1))
    return ceiling * (0.5 + rng.random() / 2)


def decide_status(
    policy: RetryPolicy,
    *,
    status: int,
    attempt: int,
    repeatable: bool,
    retry_after: float | None,
    rng: random.Random,
) -> Decision:
    """Decide after an HTTP answer with ``status`` on the ``attempt``-th try."""
    if status in ALWAYS_RETRIED or (status in RETRIED_WHEN_REPEATABLE and repeatable):
        return _again(policy, attempt, retry_after, rng)
    if status in RETRIED_WHEN_REPEATABLE:
        return Decision(Verdict.UNKNOWN)
    return Decision(Verdict.DONE)


def decide_error(
    policy: RetryPolicy, *, sent: bool, attempt: int, repeatable: bool, rng: random.Random
) -> Decision:
    """Decide after a transport error; ``sent`` says whether the request may have left."""
    if not sent or repeatable:
        return _again(policy, attempt, None, rng)
    return Decision(Verdict.UNKNOWN)


def _again(
    policy: RetryPolicy, attempt: int, retry_after: float | None, rng: random.Random
) -> Decision:
    if attempt >= policy.max_attempts:
        return Decision(Verdict.DONE)  # retries spent: the last answer is the answer
    if retry_after is not None:
        return Decision(Verdict.RETRY, min(retry_after, policy.max_retry_after))
    return Decision(Verdict.RETRY, backoff(policy, attempt, rng))
