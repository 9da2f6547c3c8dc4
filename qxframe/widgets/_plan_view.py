"""What the next push will do, shown before Push: :class:`PlanView` (DESIGN §7, §8).

Two read-only views under the preview's buttons:

- **the next push** (:meth:`PlanView.forecast`): when the panel keeps a journal for the
  destination (an earlier push from this panel or the connect panel's session,
  :mod:`qxframe.widgets._journals`), a dry run of the whole frame with that journal
  (nothing is sent, the journal is not changed) counts what a push would do per
  ``operation`` — ``create``, ``update``, ``unchanged``, ``remove`` … (``qx.summary``);
- **Plan against Qualtrics** (contacts only, :meth:`PlanView.plan`): ``qx.aplan_contacts``
  with the preview's frame, mapping and destination, which reads Qualtrics and never
  writes; its counts per operation and the rows several contacts match
  (``ambiguous_identity``).

Both run on the client's own loop in the background (a :class:`~qxframe._skins.PushHandle`,
as a push does), so the notebook stays responsive; the plan's Cancel stops it as Ctrl-C
stops a push, and whatever stops either is one sentence (:mod:`qxframe.widgets._errors`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as w
import polars as pl

from qxframe import Client, aplan_contacts, summary
from qxframe._skins import OPERATIONS, PushHandle, Status, loop_for, start_push
from qxframe.exceptions import PushInterrupted, QxError
from qxframe.widgets import _html
from qxframe.widgets._errors import describe_error

#: ``error_code`` of a planned row several contacts match (``qxframe._plan.AMBIGUOUS``).
AMBIGUOUS = "ambiguous_identity"
#: How many ambiguous rows the plan lists (the rest are counted).
SHOWN_AMBIGUOUS = 20


@dataclass(frozen=True)
class PlanInputs:
    """What the preview would push: the frame, action, client, mapping, destination
    constants, more push keywords, and the destination's journal when one is in play."""

    frame: Any
    action: str
    client: Client | None
    mapping: Mapping[str, Any]
    constants: Mapping[str, str | None]
    options: Mapping[str, Any] = field(default_factory=dict)
    journal: Path | None = None


def operations_text(results: pl.DataFrame) -> str:
    """``"create 2, update 1, unchanged 27"`` (operations that occur, in summary order),
    then ``"; invalid 3"`` and ``"; failed 1"`` when rows are; ``"nothing"`` for none.
    Results whose rows carry no operation (a journal that does not know them) are said by
    status: ``"to send 3, already sent 27"``."""
    counts = summary(results)
    ops = dict(results.get_column("operation").value_counts().iter_rows())
    done = [f"{op} {ops[op]:,}" for op in OPERATIONS if ops.get(op)]
    if not done:
        said = {Status.DRY_RUN: "to send", Status.SKIPPED: "already sent"}
        done = [f"{words} {counts[status]:,}" for status, words in said.items() if counts[status]]
    text = ", ".join(done) or "nothing"
    for status in (Status.INVALID, Status.FAILED):
        if counts[status]:
            text += f"; {status} {counts[status]:,}"
    return text


class PlanView(w.VBox):
    """The next push's operation counts and, for contacts, a plan against Qualtrics.

    Args:
        inputs: returns what the preview would push now (:class:`PlanInputs`).
    """

    def __init__(self, inputs: Callable[[], PlanInputs]) -> None:
        self._inputs = inputs
        self.next_push = w.HTML()
        self.plan_button = w.Button(
            description="Plan against Qualtrics", icon="search", layout=w.Layout(width="auto")
        )
        self.cancel_button = w.Button(
            description="Cancel plan",
            icon="stop",
            button_style="danger",
            layout=w.Layout(width="auto", display="none"),
        )
        self.plan_status = w.HTML()
        self.ambiguous = w.HTML()
        self.forecast_results: pl.DataFrame | None = None
        self.plan_results: pl.DataFrame | None = None
        self._forecast: PushHandle | None = None
        self._plan: PushHandle | None = None
        self._forecast_ended = threading.Event()
        self._forecast_ended.set()
        self._plan_ended = threading.Event()
        self._plan_ended.set()
        self._generation = 0
        self._cancelled = False
        self.plan_button.on_click(lambda _button: self.plan(wait=False))
        self.cancel_button.on_click(lambda _button: self.cancel())
        super().__init__(
            children=[
                self.next_push,
                w.HBox([self.plan_button, self.cancel_button]),
                self.plan_status,
                self.ambiguous,
            ]
        )
        self.add_class("qx-plan")

    def show_plan_button(self, shown: bool) -> None:
        """The plan reads contacts: the button is shown for the contacts action only."""
        self.plan_button.layout.display = None if shown else "none"

    # -- the next push: a dry run with the destination's journal -------------------------

    def forecast(self, *, wait: bool = False) -> pl.DataFrame | None:
        """Count what the next push would do, by a dry run with the destination's journal
        (nothing is sent); without a journal the line is empty. A newer call supersedes a
        running one. With ``wait``, block until the line shows it; its results."""
        self._generation += 1
        generation = self._generation
        if self._forecast is not None:
            self._forecast.cancel(hard=True)
        self.forecast_results = None
        self._forecast_ended.clear()
        # started from a thread of its own: a push's end calls this on the client's loop,
        # where a push cannot be started synchronously
        threading.Thread(target=self._start_forecast, args=(generation,), daemon=True).start()
        return self.wait_forecast() if wait else None

    def _start_forecast(self, generation: int) -> None:
        try:
            ask = self._inputs()
            if ask.journal is None or not ask.journal.exists():
                self._forecast_done(generation, None, None)
                return
            self.next_push.value = _html.message("Counting what the next push would do…")
            options = {k: v for k, v in ask.options.items() if k != "concurrency"}
            handle = start_push(
                ask.action,
                ask.frame,
                client=ask.client,
                mapping=dict(ask.mapping),
                dry_run=True,
                journal=ask.journal,
                progress=False,
                **ask.constants,
                **options,
            )
        except Exception as exc:  # a mapping or destination error: a sentence
            self._forecast_done(generation, None, exc)
            return
        self._forecast = handle
        handle.add_done_callback(lambda done: self._settle_forecast(generation, done))

    def stop_forecast(self) -> None:
        """Stop counting and clear the line (a push is about to use the journal)."""
        self._generation += 1
        if self._forecast is not None:
            self._forecast.cancel(hard=True)
        self.forecast_results, self.next_push.value = None, ""
        self._forecast_ended.set()

    def wait_forecast(self, timeout: float | None = None) -> pl.DataFrame | None:
        """Wait until the running count has ended and shows; its results (``None`` without
        a journal, or if it failed)."""
        self._forecast_ended.wait(timeout)
        return self.forecast_results

    def _settle_forecast(self, generation: int, handle: PushHandle) -> None:
        try:
            res = handle.result(timeout=0)
        except (Exception, KeyboardInterrupt) as exc:
            self._forecast_done(generation, None, exc)
        else:
            self._forecast_done(generation, res, None)

    def _forecast_done(
        self, generation: int, res: pl.DataFrame | None, exc: BaseException | None
    ) -> None:
        if generation != self._generation:
            return  # superseded: the newer forecast shows its own (and ends the wait)
        try:
            if res is not None:
                self.forecast_results = res
                self.next_push.value = _html.message(
                    f"The next push, by this destination's journal: {operations_text(res)} "
                    "(a dry run: nothing was sent)."
                )
            elif exc is None:  # no journal for this destination: nothing to count
                self.next_push.value = ""
            elif not isinstance(exc, KeyboardInterrupt | PushInterrupted):
                where = self._where()
                text = _sentence(exc, where, "Counting the next push")
                self.next_push.value = _html.message(text, "warning")
        finally:
            self._forecast = None
            self._forecast_ended.set()

    # -- the plan: qx.plan_contacts, reads only ----------------------------------------

    def plan(self, *, wait: bool = True) -> pl.DataFrame | None:
        """Plan the contacts push against what Qualtrics holds (reads only, never writes)
        in the background; show the counts per operation and the ambiguous rows. With
        ``wait``, block until it ends (a KeyboardInterrupt cancels it); its results
        (``None`` if it failed or was cancelled)."""
        if self._plan is not None:
            return self.wait_plan() if wait else None
        ask = self._inputs()
        self.plan_results, self.ambiguous.value = None, ""
        if ask.client is None:
            self._tell("Connect first (qxframe.widgets.connect()), or pass client=.", "error")
            return None
        self._plan_ended.clear()
        self._cancelled = False
        self._busy(True)
        self._tell(f"Planning against {ask.client.base_url} (reading only)…")
        concurrency = ask.options.get("concurrency")
        coro = aplan_contacts(
            ask.frame,
            client=ask.client,
            mapping=dict(ask.mapping),
            concurrency=concurrency,
            progress=False,
            **ask.constants,
        )
        handle = PushHandle(coro, loop_for(ask.client))
        self._plan = handle
        handle.add_done_callback(lambda done: self._settle_plan(done, ask.client))
        return self.wait_plan() if wait else None

    def cancel(self) -> bool:
        """Stop the running plan (nothing is written either way); False if none runs."""
        handle = self._plan
        if handle is None or handle.done():
            return False
        self.cancel_button.disabled = True
        self._cancelled = True
        return handle.cancel()

    def wait_plan(self, timeout: float | None = None) -> pl.DataFrame | None:
        """Wait until the plan has ended and shows; its results (``None`` if it failed)."""
        self._plan_ended.wait(timeout)
        return self.plan_results

    def _settle_plan(self, handle: PushHandle, client: Client | None) -> None:
        where = client.base_url if client is not None else "Qualtrics"
        try:
            res = handle.result(timeout=0)
            self.plan_results = res
            self._tell(f"Plan against {where}: {operations_text(res)}; nothing was written.", "ok")
            self.ambiguous.value = ambiguous_html(res)
        except Exception as exc:  # a sentence, never a traceback
            if self._cancelled or isinstance(exc, PushInterrupted):
                # a cancelled plan's reads end in whatever stopped them: it was the Cancel
                self._tell("The plan was cancelled; nothing was written.", "warning")
            else:
                self._tell(_sentence(exc, where, "The plan"), "error")
        except KeyboardInterrupt:
            self._tell("The plan was cancelled; nothing was written.", "warning")
        finally:
            self._plan = None
            self._busy(False)
            self._plan_ended.set()

    def _busy(self, busy: bool) -> None:
        self.plan_button.disabled = busy
        self.cancel_button.disabled = not busy
        self.cancel_button.layout.display = None if busy else "none"

    def _tell(self, text: str, kind: str = "info") -> None:
        self.plan_status.value = _html.message(text, kind)

    def _where(self) -> str:
        client = self._inputs().client
        return client.base_url if client is not None else "Qualtrics"


def ambiguous_html(results: pl.DataFrame) -> str:
    """The rows several contacts match, as a table (row, why), the first
    :data:`SHOWN_AMBIGUOUS` of them; empty when none are."""
    rows = results.filter(pl.col("error_code") == AMBIGUOUS)
    if not rows.height:
        return ""
    shown = rows.head(SHOWN_AMBIGUOUS)
    body = [
        [_html.esc(row), _html.esc(message)]
        for row, message in zip(shown["row"], shown["error_message"], strict=True)
    ]
    more = rows.height - shown.height
    note = f" (the first {shown.height} shown)" if more else ""
    head = _html.message(
        f"{rows.height:,} rows match several contacts{note}: a push would fail them.",
        "warning",
    )
    return head + _html.table(["row", "why"], body)


def _sentence(exc: BaseException | None, where: str, doing: str) -> str:
    """One sentence for what stopped ``doing``: qxframe's errors as the connect panel says
    them; anything else named, never a traceback."""
    if isinstance(exc, QxError):
        return describe_error(exc, where)
    kind = type(exc).__name__ if exc is not None else "no results"
    return f"{doing} failed unexpectedly ({kind}: {exc}); run the same call in code for details."
