"""A push running in the background, that can be waited for or stopped: :class:`PushHandle`.

The sync actions (``qx.upsert_contacts`` …), the CLI and the widgets' Push/Cancel buttons
all run a push through a handle: the push runs on the client's own event loop, in its
background thread, and the caller's thread only waits.

Usage::

    handle = start_push("contacts", frame, client=client, directory_id="POOL_…")
    handle.add_done_callback(lambda h: print("done"))   # called on the loop's thread
    handle.cancel()                                     # like Ctrl-C: see below
    res = handle.result()                               # or raises the push's error

``cancel()`` acts like Ctrl-C: nothing new is sent, requests in flight get a short grace,
and ``result()`` then raises :class:`~qxframe.PushInterrupted` carrying ``.results``.
``result()`` itself waits in short slices, so a Ctrl-C (or Jupyter's "interrupt kernel")
in the waiting thread cancels the push the same way and raises ``PushInterrupted`` once
it has stopped (docs/architecture.md, "Interrupts and partial failures"); a second Ctrl-C
ends the grace at once, a third stops waiting.

Async code does not need a handle: ``await qx.aupsert_contacts(...)`` runs on the
caller's loop, and cancelling that task stops the push the same way, ending it with
``PushCancelled`` (a ``PushInterrupted`` that is also an ``asyncio.CancelledError``; see
:mod:`qxframe.exceptions`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from qxframe.actions._action import Action
from qxframe.actions._registry import ACTIONS, push
from qxframe.delivery._loop import LoopThread, wait_interruptibly
from qxframe.delivery._stop import Stop, current
from qxframe.exceptions import PushInterrupted

if TYPE_CHECKING:
    from qxframe.delivery._client import Client

_dry_run_loop = LoopThread("qxframe-dry-run")  # for dry runs given no client
_UNSET = object()


class PushHandle:
    """One push running on a background loop (see the module docstring)."""

    def __init__(self, coro: Coroutine[Any, Any, Any], runner: LoopThread) -> None:
        self._stop = Stop()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._value: Any = _UNSET
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[PushHandle], object]] = []
        self._interrupts = 0
        runner.submit(self._drive(coro))

    async def _drive(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run the push (it adopts this handle's stop); keep how it ended. Never raises."""
        try:
            with current(self._stop):
                value = await coro
        except PushInterrupted as stop:  # PushCancelled: a plain one for the caller's thread
            self._finish(error=PushInterrupted(stop.message, results=stop.results, sent=stop.sent))
        except BaseException as error:
            self._finish(error=error)
        else:
            self._finish(value=value)

    def _finish(self, *, value: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            self._value, self._error = value, error
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            _call(callback, self)

    def cancel(self, *, hard: bool = False) -> bool:
        """Stop the push as Ctrl-C does; False when it had already ended.

        ``hard``: no grace for requests in flight (what a second Ctrl-C does).
        """
        if self._done.is_set():
            return False
        self._stop.request(hard=hard)
        return True

    def done(self) -> bool:
        return self._done.is_set()

    def add_done_callback(self, fn: Callable[[PushHandle], object]) -> None:
        """Call ``fn(handle)`` when the push ends (on the loop's thread; now if it has)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(fn)
                return
        _call(fn, self)

    def result(self, timeout: float | None = None) -> Any:
        """The results frame once the push ends, or its exception raised.

        ``TimeoutError`` when ``timeout`` seconds pass first (the push goes on). A
        KeyboardInterrupt while waiting cancels the push and raises ``PushInterrupted``
        when it has stopped.
        """
        interrupted = self._wait(timeout)
        if not self._done.is_set():
            raise TimeoutError(f"the push is still running after {timeout} s")
        if self._error is not None:
            raise self._error
        if interrupted:  # it ended anyway: the interrupt still stops the caller
            raise PushInterrupted(
                "Interrupted as the push ended: every row was settled; see .results.",
                results=self._value,
            )
        return self._value

    def _wait(self, timeout: float | None) -> bool:
        """Wait for the end; True if a KeyboardInterrupt came (the push was cancelled)."""
        interrupted = False
        while True:
            try:
                wait_interruptibly(self._done.wait, None if interrupted else timeout)
                return interrupted
            except KeyboardInterrupt:
                self._interrupts += 1
                if self._interrupts > 2:
                    raise
                interrupted = True
                self.cancel(hard=self._interrupts > 1)


def _call(fn: Callable[[PushHandle], object], handle: PushHandle) -> None:
    try:
        fn(handle)
    except Exception:
        import logging

        logging.getLogger("qxframe").exception("a PushHandle done-callback raised")


def loop_for(client: Client | None) -> LoopThread:
    """The loop a push with ``client`` runs on (a shared one for client-less dry runs)."""
    return client._loop_thread if client is not None else _dry_run_loop


def start_push(
    action: str | Action, frame: Any, *, client: Client | None = None, **options: Any
) -> PushHandle:
    """Start a push of ``frame`` with ``action`` (``"contacts"``, ``"transactions"``,
    ``"workflow"``, or an :class:`~qxframe.actions._action.Action`) on the client's
    background loop, without waiting for it: the sync public functions, the CLI and the
    widgets start every push here (:func:`~qxframe.actions._registry.push`).

    ``options`` are the action's keyword arguments, destinations by name
    (``directory_id=…``), ``out=`` and ``sink=`` included; as for the sync action,
    ``client`` may be None for a dry run.
    """
    spec = ACTIONS[action] if isinstance(action, str) else action
    return PushHandle(push(spec, frame, client=client, **options), loop_for(client))
