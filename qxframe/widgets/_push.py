"""What the preview's Push, Cancel and "Validate all" buttons run on: the push in the
background with its bar, its journal and how it ended, apart from the panel's layout.

- :class:`PushControl`: one push (or dry run) at a time in the background (a
  :class:`qxframe.actions._handle.PushHandle`, so Cancel stops it as Ctrl-C does), the
  journal of its destination (:mod:`qxframe.widgets._journals`), and its end: whatever
  happens, the panel is told one sentence (:func:`~qxframe.widgets._errors.failure_text`
  for what stopped it), the bar ends and the buttons come back.

- :class:`ProgressBar`: an ``IntProgress`` and a label, handed to the push as its
  progress bar (the push calls ``update(n)`` as rows settle); :meth:`ProgressBar.finish`
  puts it in its final state (done, failed or stopped). No ``Output`` widget is involved:
  under IPython an ``Output`` context swallows the exception raised inside it, which once
  left the status at "Pushing…" for good.
- :func:`failures_text`: a sentence on the most frequent reason rows failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as w
import polars as pl

from qxframe._skins import PushHandle, Status, count_rows, wait_interruptibly
from qxframe.widgets._errors import failure_text
from qxframe.widgets._journals import PanelJournals, destination_key

#: bar_style and label of each final state
FINAL = {
    "done": ("success", "done"),
    "failed": ("danger", "failed"),
    "stopped": ("warning", "stopped"),
}


class ProgressBar(w.HBox):
    """A progress bar widget a push can drive (``update``/``close``, a context manager).

    Its label says the rows settled of the total, the rate, the time elapsed and, while it
    runs with a known total, about how long is left (:func:`timing_text`); ``clock`` is
    injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="24em"))
        self.label = w.HTML()
        self.state = "idle"
        self._clock = clock
        self._started = clock()
        self._done = 0
        self._note = ""  # what holds the push back (a rate limit), while something does
        super().__init__(children=[self.bar, self.label])
        self.layout.flex_flow = "row wrap"  # a long label goes under the bar, never cut off
        self.add_class("qx-progress")
        self.layout.display = "none"

    def start(self, total: int | None, what: str) -> None:
        """Show the bar at zero for a push of ``total`` rows (``None``: not known)."""
        self._done, self._total, self._what = 0, total, what
        self._started = self._clock()
        self.bar.max = max(1, total or 1)
        self.bar.value, self.bar.bar_style = 0, "info"
        self.state = "running"
        self.layout.display = None
        self._show()

    def update(self, rows: int = 1) -> None:
        """``rows`` more rows settled (called by the push, on its own thread)."""
        self._done += rows
        if self._total is None:
            self.bar.max = max(self.bar.max, self._done)
        self.bar.value = min(self._done, self.bar.max)
        self._show()

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        """The push says which rate limit holds it back ("" when none does), as on tqdm."""
        self._note = text
        self._show()

    def close(self) -> None:
        """What a push calls when it ends; the panel then calls :meth:`finish`."""

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def finish(self, state: str, results: Any = None) -> None:
        """The final state: ``done``, ``failed`` or ``stopped``; given the results of a
        push that stopped, the count is of its rows that did not end ``not_sent``."""
        style, _label = FINAL[state]
        self.state = state
        if isinstance(results, pl.DataFrame) and "status" in results.columns:
            self._done = results.filter(pl.col("status") != Status.NOT_SENT).height
            self.bar.value = min(self._done, self.bar.max)
        self.bar.bar_style = style
        if state == "done":
            self.bar.max = max(1, self._done)
            self.bar.value = self.bar.max
        self._show()

    def _show(self) -> None:
        total = "?" if self._total is None else f"{self._total:,}"
        running = self.state == "running"
        word = f" — {self._note}" if self._note else ""
        if not running:
            word = f" — {FINAL[self.state][1]}"
        left = (self._total or 0) - self._done if running and self._total is not None else None
        timing = timing_text(self._done, self._clock() - self._started, left)
        self.label.value = f"{self._what}: {self._done:,} of {total} rows{word}{timing}"


def timing_text(done: int, elapsed: float, left: int | None = None) -> str:
    """`` · 12.5 rows/s · 1:04 elapsed · about 3:10 left`` (the rate once rows settled; the
    time left when ``left`` rows remain and the rate is known)."""
    parts = []
    rate = done / elapsed if done and elapsed > 0 else None
    if rate is not None:
        parts.append(f"{rate:,.0f} rows/s" if rate >= 10 else f"{rate:.1f} rows/s")
    parts.append(f"{clock_text(elapsed)} elapsed")
    if rate is not None and left:
        parts.append(f"about {clock_text(left / rate)} left")
    return " · " + " · ".join(parts)


def clock_text(seconds: float) -> str:
    """``0:07``, ``12:34``, ``1:40:00``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def total_rows(frame: Any) -> int | None:
    """The number of rows of a push's input, when cheap to know."""
    return count_rows(frame)


def failures_text(results: pl.DataFrame) -> str | None:
    """A sentence on the most frequent reason rows failed (``None`` when none failed)."""
    failed = results.filter(pl.col("status") == Status.FAILED)
    if failed.height == 0:
        return None
    top = (
        failed.group_by("error_code", maintain_order=True)
        .agg(pl.len(), pl.col("error_message").first())
        .sort("len", descending=True, maintain_order=True)
        .row(0, named=True)
    )
    most = "all" if top["len"] == failed.height else f"{top['len']:,}"
    return f"{failed.height:,} rows failed ({most} {top['error_code']}): {top['error_message']}"


Tell = Callable[[str, str], None]


class PushControl:
    """A panel's pushes: start one in the background, cancel it, wait for it, end it.

    Args:
        progress: the bar the push drives and :meth:`_end` puts in its final state.
        journals: the journals Push uses (a connect panel's, kept for the session).
        tell: ``tell(sentence, kind)`` shows how things stand (``info``/``ok``/``warning``/
            ``error``).
        busy: ``busy(True)`` while a run goes on (the panel disables its buttons).
        show: ``show(results)`` shows a run's results (also a stopped run's partial ones).
    """

    def __init__(
        self,
        progress: ProgressBar,
        journals: PanelJournals,
        *,
        tell: Tell,
        busy: Callable[[bool], None],
        show: Callable[[Any], None],
    ) -> None:
        self.progress, self.journals = progress, journals
        self._tell, self._busy, self._show = tell, busy, show
        self._handle: PushHandle | None = None
        self._ended = threading.Event()
        self._ended.set()
        self.last: pl.DataFrame | None = None

    def journal(
        self,
        action: str,
        constants: Mapping[str, str | None],
        where: str,
        frame: Any,
        *,
        again: bool = False,
    ) -> Path:
        """The journal of a push of ``frame`` to this destination; ``again`` forgets what
        it says was sent (the person's "send them again")."""
        key = destination_key(action, constants, where)
        if again:
            self.journals.forget(key)
        return self.journals.path(key)

    def sent_before(
        self, action: str, constants: Mapping[str, str | None], where: str, frame: Any
    ) -> bool:
        """Whether ``frame`` was already pushed to this destination from these journals."""
        return self.journals.used(destination_key(action, constants, where))

    @property
    def running(self) -> bool:
        return self._handle is not None and not self._handle.done()

    def run(
        self,
        label: str,
        total: int | None,
        where: str,
        start: Callable[[], PushHandle],
        then: Callable[[pl.DataFrame], None],
    ) -> None:
        """Start a run (``start()`` makes its handle) in the background; when it ends,
        ``then(results)``, or one sentence for what stopped it."""
        self._ended.wait()  # one run at a time (the buttons are disabled meanwhile)
        self._ended.clear()
        self.last = None
        self._busy(True)
        self.progress.start(total, label)
        self._tell(f"{label}…", "info")
        try:
            handle = start()
        except Exception as exc:  # a sentence, never a traceback
            self._end(None, exc, where, then)
            return
        self._handle = handle
        handle.add_done_callback(lambda done: self._settle(done, where, then))

    def cancel(self) -> bool:
        """Stop the running push as Ctrl-C does; False when nothing was running."""
        handle = self._handle
        if handle is None or handle.done():
            return False
        self._tell(
            "Cancelling: nothing new is sent; requests in flight get a moment to answer…", "info"
        )
        return handle.cancel()

    def wait(self, timeout: float | None = None) -> pl.DataFrame | None:
        """Wait until the run has ended and the panel shows it; its results (``None`` if it
        failed or was cancelled). A KeyboardInterrupt while waiting cancels the run."""
        try:
            wait_interruptibly(self._ended.wait, timeout)
        except KeyboardInterrupt:
            self.cancel()
            self._ended.wait()
        return self.last

    def _settle(self, handle: PushHandle, where: str, then: Callable[..., None]) -> None:
        try:
            res = handle.result(timeout=0)
        except (Exception, KeyboardInterrupt) as exc:  # PushInterrupted after a cancel
            self._end(None, exc, where, then)
        else:
            self._end(res, None, where, then)

    def _end(
        self,
        res: pl.DataFrame | None,
        exc: BaseException | None,
        where: str,
        then: Callable[[pl.DataFrame], None],
    ) -> None:
        """Show how the run ended; whatever happens, end the bar and the status line."""
        state, partial = "failed", getattr(exc, "results", None)
        try:
            if exc is None and res is not None:
                self._show(res)
                then(res)
                self.last, state = res, "done"
            else:
                stopped = isinstance(exc, KeyboardInterrupt)
                state = "stopped" if stopped else "failed"
                error = exc or RuntimeError("the push ended without results")
                self._tell(failure_text(error, where), "warning" if stopped else "error")
                self._show(partial)
        except Exception as unexpected:  # never leave the panel at "Pushing…"
            self._tell(failure_text(unexpected, where), "error")
        finally:
            self.progress.finish(state, partial)
            self._handle = None
            self._busy(False)
            self._ended.set()
