"""Shared fixtures: a fake clock whose sleeps are recorded instead of waited, and a sandbox
served over loopback (one per test module, emptied before each test)."""

from __future__ import annotations

import pytest

import qxframe as qx


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


@pytest.fixture(scope="module")
def live():
    """A sandbox on 127.0.0.1 for the whole test module."""
    with qx.sandbox(seed=11) as sandbox:
        yield sandbox


@pytest.fixture
def sb(live):
    """The module's sandbox, emptied of contacts, transactions, events and requests."""
    live.reset()
    return live
