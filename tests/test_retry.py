"""Retry decisions: what is retried, after how long, and what is never re-sent."""

from __future__ import annotations

import random

import pytest

from qxframe.delivery._config import RetryPolicy
from qxframe.delivery._retry import Verdict, backoff, decide_error, decide_status, parse_retry_after

POLICY = RetryPolicy(max_attempts=4, backoff=1.0, max_backoff=8.0)


def status(code, *, attempt=1, repeatable=False, retry_after=None):
    return decide_status(
        POLICY,
        status=code,
        attempt=attempt,
        repeatable=repeatable,
        retry_after=retry_after,
        rng=random.Random(0),
    )


@pytest.mark.parametrize("code", [429, 503])
@pytest.mark.parametrize("repeatable", [True, False])
def test_429_and_503_are_always_retried(code, repeatable):
    assert status(code, repeatable=repeatable).verdict is Verdict.RETRY


def test_retry_after_is_honoured_and_capped():
    assert status(429, retry_after=7.0).wait == 7.0
    assert status(429, retry_after=10_000.0).wait == POLICY.max_retry_after


@pytest.mark.parametrize("code", [500, 502, 504])
def test_server_errors_retried_only_when_repeatable(code):
    assert status(code, repeatable=True).verdict is Verdict.RETRY
    assert status(code, repeatable=False).verdict is Verdict.UNKNOWN


@pytest.mark.parametrize("code", [200, 202, 400, 401, 403, 404, 409, 413])
def test_other_statuses_are_final(code):
    assert status(code, repeatable=True).verdict is Verdict.DONE


def test_attempts_are_bounded():
    assert status(503, attempt=3).verdict is Verdict.RETRY
    assert status(503, attempt=4).verdict is Verdict.DONE  # retries spent


def test_connection_errors_before_sending_are_retried_even_for_writes():
    decision = decide_error(POLICY, sent=False, attempt=1, repeatable=False, rng=random.Random(0))
    assert decision.verdict is Verdict.RETRY


def test_errors_after_sending_a_write_are_outcome_unknown():
    decision = decide_error(POLICY, sent=True, attempt=1, repeatable=False, rng=random.Random(0))
    assert decision.verdict is Verdict.UNKNOWN
    again = decide_error(POLICY, sent=True, attempt=1, repeatable=True, rng=random.Random(0))
    assert again.verdict is Verdict.RETRY


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(42)
    waits = [backoff(POLICY, n, rng) for n in range(1, 7)]
    ceilings = [1, 2, 4, 8, 8, 8]
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_parse_retry_after_forms():
    assert parse_retry_after("12", now=0) == 12.0
    assert parse_retry_after(" 1.5 ", now=0) == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_retry_after(None, now=0) is None
    assert parse_retry_after("later", now=0) is None
