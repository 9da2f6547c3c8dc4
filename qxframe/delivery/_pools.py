"""A client's connection pools: one per event loop, each closed when its loop ends.

An ``httpx.AsyncClient`` (and the sockets it keeps alive) belongs to the loop it was first
used on. :class:`Pools` makes one per loop on demand and gives each a *keeper*: an async
generator started on that loop, whose ``finally`` closes the pool. Every loop ended the
usual way runs ``loop.shutdown_asyncgens()`` (``asyncio.run`` does, so does the client's
own background loop), which closes the keeper, hence the pool: a thousand
``asyncio.run(qx.aupsert_contacts(...))`` with one client leave no socket behind.
:meth:`Pools.close` closes the pools of loops still alive (``Client.close()``, the
client's finalizer). Nothing here refers to the client, so a client nobody holds is
garbage-collected (and then closed by its ``weakref.finalize``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

import httpx

CLOSE_TIMEOUT = 5.0


@dataclass
class _Entry:
    pool: httpx.AsyncClient
    keeper: AsyncGenerator[None, None]


class Pools:
    """``httpx.AsyncClient`` per event loop, made by ``make`` (see the module docstring)."""

    def __init__(self, make: Callable[[], httpx.AsyncClient]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, _Entry] = {}

    def __len__(self) -> int:
        return len(self._by_loop)

    async def get(self) -> httpx.AsyncClient:
        """The running loop's pool, made (and tied to the loop's end) on first use."""
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)
        if entry is not None:
            return entry.pool
        self._forget_closed_loops()
        pool = self._make()
        keeper = self._keeper(loop, pool)
        with self._lock:
            self._by_loop[loop] = _Entry(pool, keeper)
        await keeper.__anext__()  # registered with the loop: shutdown_asyncgens closes it
        return pool

    async def _keeper(
        self, loop: asyncio.AbstractEventLoop, pool: httpx.AsyncClient
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                if self._by_loop.get(loop) is not None and self._by_loop[loop].pool is pool:
                    del self._by_loop[loop]
            await pool.aclose()

    async def aclose_running(self) -> None:
        """Close the running loop's pool (``async with client`` / ``await client.aclose()``)."""
        entry = self._by_loop.get(asyncio.get_running_loop())
        if entry is not None:
            await _aclose(entry.keeper)

    def close(self) -> None:
        """Close every pool whose loop is alive; forget those of closed loops.

        A loop running in another thread closes its pool there (waited for); the caller's
        own running loop (a notebook cell) closes it as soon as the cell yields.
        """
        with self._lock:
            entries, self._by_loop = dict(self._by_loop), {}
        for loop, entry in entries.items():
            _close_on(loop, entry)

    def _forget_closed_loops(self) -> None:
        with self._lock:
            for loop in [loop for loop in self._by_loop if loop.is_closed()]:
                del self._by_loop[loop]


def _close_on(loop: asyncio.AbstractEventLoop, entry: _Entry) -> None:
    if loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        loop.create_task(_aclose(entry.keeper))
    elif loop.is_running():
        with contextlib.suppress(RuntimeError, concurrent.futures.TimeoutError):
            asyncio.run_coroutine_threadsafe(_aclose(entry.keeper), loop).result(CLOSE_TIMEOUT)
    else:
        with contextlib.suppress(RuntimeError):
            loop.run_until_complete(_aclose(entry.keeper))


async def _aclose(keeper: AsyncGenerator[None, None]) -> None:
    await keeper.aclose()
