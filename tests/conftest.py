"""Shared fixtures: a fake clock whose sleeps are recorded instead of waited."""

from __future__ import annotations

import pytest


class FakeTime:
    """A monotonic clock and an async sleep that only moves the clock forward."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
