"""How a push stops when told to: a stop signal, a gate before the wire, and a grace.

A :class:`Stop` is set from any thread (``PushHandle.cancel()``, a Ctrl-C caught by the
caller's thread) or by the push's own task being cancelled (an async caller, asyncio's
Ctrl-C handling, Jupyter's "interrupt kernel" on an ``await`` cell). Once it is set:

- nothing new is sent: :meth:`Push.call` refuses to start a request, the client's waits
  (for a rate-limit token, before a retry) end at once (:func:`stoppable`), and the
  :class:`StopGate` (the innermost transport of every client pool) refuses any attempt
  that has not reached the wire yet, all with :class:`Stopped`. A write that is retried at
  all was never processed (429, 503, a connection refused), so a stopped one lands nothing;
- requests already on the wire get :data:`GRACE` seconds to answer (:func:`finish`); then
  they are cancelled, and the rows of an unanswered write are reported ``outcome_unknown``
  (its ``pending`` mark stays in the journal, so a resumed push does not send it again);
- a second request to stop (a second Ctrl-C) ends the grace at once.

Why the push's stop is a flag rather than ``task.cancel()`` everywhere: cancelling a
request mid-flight loses its answer, so the push first stops *starting* requests and lets
the ones in flight answer. Which rows then end how is the runner's business
(docs/architecture.md, "Interrupts and partial failures").
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from qxframe.delivery._ratelimit import Sleep

T = TypeVar("T")
GRACE = 1.0  # seconds requests in flight get to answer once a push is told to stop


class Stopped(Exception):
    """Internal: the push was told to stop before this request reached the wire."""


class Stop:
    """A push's stop signal: requested from any thread, awaited on the push's loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requested = False
        self.hard = False  # no grace left: cancel what is in flight now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: tuple[asyncio.Event, asyncio.Event] | None = None

    def request(self, *, hard: bool = False) -> None:
        """Ask the push to stop (``hard``: without waiting for requests in flight)."""
        with self._lock:
            self.requested = True
            self.hard = self.hard or hard
            loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._sync)

    def bind(self) -> None:
        """Attach to the running loop (the push's); a stop requested before then holds."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._events = (asyncio.Event(), asyncio.Event())
        self._sync()

    def _sync(self) -> None:
        if self._events is not None:
            if self.requested:
                self._events[0].set()
            if self.hard:
                self._events[1].set()

    async def wait(self, *, hard: bool = False) -> None:
        """Return once a stop (``hard``: a hard stop) is requested."""
        assert self._events is not None, "Stop.bind() first"
        await self._events[1 if hard else 0].wait()


# The stop of the push the current task works for; tasks a push starts inherit it.
_CURRENT: ContextVar[Stop | None] = ContextVar("qxframe_stop", default=None)


def current_stop() -> Stop | None:
    """The stop of the push (or handle) the running task works for, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def current(stop: Stop) -> Iterator[None]:
    """Make ``stop`` the stop of every request sent from this context."""
    token = _CURRENT.set(stop)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@dataclass
class Wire:
    """Whether an attempt of one request has passed the gate (may have reached the server)."""

    reached: bool = False


_WIRE: ContextVar[Wire | None] = ContextVar("qxframe_wire", default=None)


@contextlib.contextmanager
def watch_wire() -> Iterator[Wire]:
    """Within the block, the gate records whether the request's attempts reach the wire."""
    wire = Wire()
    token = _WIRE.set(wire)
    try:
        yield wire
    finally:
        _WIRE.reset(token)


def stoppable(sleep: Sleep) -> Sleep:
    """``sleep``, ended early by the current push's stop (raising :class:`Stopped`)."""

    async def nap(seconds: float) -> None:
        stop = _CURRENT.get()
        if stop is None:
            return await sleep(seconds)
        if not stop.requested:
            napping, waking = (
                asyncio.ensure_future(sleep(seconds)),
                asyncio.ensure_future(stop.wait()),
            )
            try:
                await asyncio.wait({napping, waking}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                napping.cancel()
                waking.cancel()
        if stop.requested:
            raise Stopped

    return nap


class StopGate(httpx.AsyncBaseTransport):
    """The innermost transport: refuses attempts once the current push is told to stop."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        stop = _CURRENT.get()
        if stop is not None and stop.requested:
            raise Stopped
        wire = _WIRE.get()
        if wire is not None:
            wire.reached = True
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def finish(work: asyncio.Future[T], stop: Stop) -> None:
    """Wait for ``work``; once ``stop`` is requested, give it :data:`GRACE`, then cancel it.

    A cancellation of the calling task counts as a request to stop (and a second one ends
    the grace). Returns when ``work`` is done, however it ended.
    """
    try:
        await _first(work, stop.wait())
    except asyncio.CancelledError:
        stop.request(hard=stop.requested)
    if not work.done() and not stop.hard:
        try:
            await _first(work, stop.wait(hard=True), timeout=GRACE)
        except asyncio.CancelledError:
            stop.request(hard=True)
    if not work.done():
        stop.request(hard=True)
        work.cancel()
    while not work.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({work})


async def _first(
    work: asyncio.Future[Any], other: Awaitable[Any], timeout: float | None = None
) -> None:
    """Return when ``work`` is done, ``other`` is, or ``timeout`` passed; ``other`` is dropped."""
    waiter = asyncio.ensure_future(other)
    try:
        await asyncio.wait({work, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
