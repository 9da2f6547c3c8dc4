"""Running async work from sync code, including inside a running loop (a Jupyter cell).

A :class:`LoopThread` owns an event loop in a daemon thread; ``run(coro)`` hands a
coroutine to that loop and blocks the calling thread until it is done. Because the loop
is not the caller's, this works whether or not the caller already runs a loop.

The calling thread never blocks without a timeout: it waits in short slices
(:data:`POLL` seconds), so a Ctrl-C (or Jupyter's "interrupt kernel") reaches it even when
the signal was delivered to another thread — polars' worker threads, for one — and the
main thread would otherwise sleep in an uninterruptible lock wait. ``close()`` cancels
what still runs on the loop, waits for it, then stops the loop and joins the thread; it
may be called from any thread, the loop's own included (then it cannot wait).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
POLL = 0.1  # seconds a waiting thread sleeps between looks for a signal
CLOSE_TIMEOUT = 5.0


def wait_interruptibly(done: Callable[[float], bool], timeout: float | None = None) -> bool:
    """Call ``done(slice)`` until it returns True; False once ``timeout`` seconds passed.

    Each call waits at most :data:`POLL` seconds, so a KeyboardInterrupt raised by a
    signal handler gets through between calls.
    """
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    while not done(POLL):
        if deadline is not None and time.monotonic() >= deadline:
            return False
    return True


class LoopThread:
    """An event loop in a background thread, started on first use."""

    def __init__(self, name: str = "qxframe-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve, args=(loop,), name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @property
    def started(self) -> bool:
        return self._loop is not None

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the background loop; its future, without waiting."""
        loop = self.loop
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(
                "LoopThread.run() called from its own loop; await the coroutine instead"
            )
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the background loop and return its result (or raise its error).

        A KeyboardInterrupt while waiting cancels the coroutine and is raised.
        """
        future = self.submit(coro)
        try:
            wait_interruptibly(lambda slice_: _settled(future, slice_))
        except KeyboardInterrupt:
            future.cancel()
            raise
        return future.result()

    def close(self) -> None:
        """Cancel what runs on the loop, stop it and its thread (idempotent)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or loop.is_closed():
            return
        if threading.current_thread() is thread:  # from the loop itself (a finalizer)
            loop.create_task(_shutdown())
            return
        try:
            asyncio.run_coroutine_threadsafe(_shutdown(), loop).result(CLOSE_TIMEOUT)
        except RuntimeError:  # the loop is closed already
            return
        except (concurrent.futures.TimeoutError, KeyboardInterrupt):  # stop it anyway
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        thread.join(CLOSE_TIMEOUT)  # _serve closes the loop's async generators (its pools)


def _settled(future: concurrent.futures.Future[Any], timeout: float) -> bool:
    concurrent.futures.wait([future], timeout=timeout)
    return future.done()


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The background thread: run the loop until stopped, then close it."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        with contextlib.suppress(RuntimeError):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _shutdown() -> None:
    """Cancel every other task on this loop and wait for them; then stop the loop."""
    me = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not me]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    asyncio.get_running_loop().call_soon(asyncio.get_running_loop().stop)
