"""What the preview's Push and "Validate all" buttons run on: a progress bar widget that
always ends in a final state, and one sentence for whatever stopped a push (the journals
that keep a second Push from sending again are :mod:`qxframe.widgets._journals`).

- :class:`ProgressBar`: an ``IntProgress`` and a label, handed to the push as its
  progress bar (the push calls ``update(n)`` as rows settle); :meth:`ProgressBar.finish`
  puts it in its final state (done, failed or stopped). No ``Output`` widget is involved:
  under IPython an ``Output`` context swallows the exception raised inside it, which once
  left the status at "Pushing…" for good.
- :func:`failure_text`: the sentence for an exception a push raised (with what to do).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import polars as pl

from qxframe._inputs import count_rows
from qxframe._results import Status
from qxframe.exceptions import AuthError, ConfigError, QxError, TransportError
from qxframe.widgets._connect import scrub

#: bar_style and label of each final state
FINAL = {
    "done": ("success", "done"),
    "failed": ("danger", "failed"),
    "stopped": ("warning", "stopped"),
}


class ProgressBar(w.HBox):
    """A progress bar widget a push can drive (``update``/``close``, a context manager)."""

    def __init__(self) -> None:
        self.bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="24em"))
        self.label = w.HTML()
        self.state = "idle"
        self._done = 0
        self._note = ""  # what holds the push back (a rate limit), while something does
        super().__init__(children=[self.bar, self.label])
        self.add_class("qx-progress")
        self.layout.display = "none"

    def start(self, total: int | None, what: str) -> None:
        """Show the bar at zero for a push of ``total`` rows (``None``: not known)."""
        self._done, self._total, self._what = 0, total, what
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
        word = f" — {self._note}" if self._note else ""
        if self.state != "running":
            word = f" — {FINAL[self.state][1]}"
        self.label.value = f"{self._what}: {self._done:,} of {total} rows{word}"


def total_rows(frame: Any) -> int | None:
    """The number of rows of a push's input, when cheap to know."""
    return count_rows(frame)


def failure_text(exc: BaseException, where: str, secret: str | None = None) -> str:
    """One sentence for what stopped a push, and what to do (never a traceback)."""
    results = getattr(exc, "results", None)
    sent = getattr(exc, "sent", None) or _sent(results)
    head = f"The push stopped after sending {sent:,} rows" if sent else "Nothing was pushed"
    if isinstance(exc, KeyboardInterrupt):
        text = (
            f"{head}: it was cancelled. Press Push to send the rest (rows already sent are "
            "skipped)."
        )
    elif isinstance(exc, AuthError):
        text = (
            f"{head}: {where} refused the token ({exc.http_status}); connect again with a "
            "valid token (Account settings → Qualtrics IDs), then press Push."
        )
    elif isinstance(exc, TransportError):
        text = f"{head}: could not reach {where}; check the network and press Push again."
    elif isinstance(exc, ConfigError):
        text = f"{head}: {exc.message}"
    elif isinstance(exc, QxError):
        text = f"{head}: {where} answered with an error: {exc.message}"
    else:
        text = (
            f"{head}: the push failed unexpectedly ({type(exc).__name__}: {exc}); "
            "run the same push in code to see the details."
        )
    return scrub(text, secret)


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


def _sent(results: Any) -> int:
    if not isinstance(results, pl.DataFrame) or "status" not in results.columns:
        return 0
    return results.filter(pl.col("status").is_in([Status.SUCCESS, Status.FAILED])).height
