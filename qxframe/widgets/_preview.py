"""The mapping preview: a column picker per field, the first rows' status and JSON bodies.

This module owns :class:`PreviewPanel` (built by :func:`preview`), a skin over pure
functions: :func:`~qxframe.widgets._table.preview_table` and
:func:`~qxframe.widgets._table.table_html` (the first rows mapped, validated and built
exactly as a push would, as HTML), and the picker logic in :mod:`qxframe.widgets._picks`
(what each field's dropdown offers, and the ``mapping`` the choices amount to).

The Push button starts the push behind ``qx.upsert_contacts`` … on the whole frame in the
background (a :class:`qxframe.actions._handle.PushHandle`, so the Cancel button can stop it as
Ctrl-C does), with a progress bar, and shows a :class:`~qxframe.widgets.ResultsView`; it
uses a journal per destination (:mod:`qxframe.widgets._journals`; the connect panel's, kept
for the session), so pressing it twice, or in a new preview of the same frame, does not
send a row twice. "Validate all rows" dry-runs the whole frame. Before Push, a
:class:`~qxframe.widgets._plan_view.PlanView` shows what the next push would do (its
operation counts, when a journal for the destination is in play) and, for contacts,
plans it against Qualtrics (``qx.plan_contacts``: reads only). Whatever stops a push
is one sentence in the panel, and the status line and the bar always end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import ipywidgets as w
import polars as pl

from qxframe import Client, summary
from qxframe._skins import PushHandle, Status, iter_chunks, json_columns_of, start_push
from qxframe.exceptions import QxError, first_line
from qxframe.widgets import _html, _picks, _push
from qxframe.widgets._connect import ConnectPanel
from qxframe.widgets._events import EventsView
from qxframe.widgets._journals import PanelJournals
from qxframe.widgets._plan_view import PlanInputs, PlanView
from qxframe.widgets._results_view import ResultsView, summary_text, unknown_text
from qxframe.widgets._table import ACTIONS, action_name, paths_html, preview_table, table_html

__all__ = ["PreviewPanel", "preview", "preview_table", "table_html"]


SENT_BEFORE = (
    "This frame was already pushed to this destination from the connect panel: Push sends "
    "only the rows not sent yet (the rest come back skipped); to send every row again, "
    "press “Send the already-sent rows again”."
)


class PreviewPanel(w.VBox):
    """Pick a column per field and watch the first rows' bodies and problems change live.

    Args:
        frame: what a push takes (polars/pandas frame, LazyFrame, CSV/Parquet path).
        action: ``"contacts"``, ``"transactions"`` or ``"workflow"`` (or the function name).
        mapping: a starting mapping (``{field: column | expression | [columns]}``).
        client: a :class:`qxframe.Client`, or a :class:`ConnectPanel` whose client and
            chosen directory and mailing list are used (and followed as they change).
        directory_id, mailing_list_id, workflow_url: destination constants; they win over
            the connect panel's choices.
        rows: how many rows to preview.
        push_options: more keyword arguments for the push (``concurrency``, ``batch_size``).
    """

    def __init__(
        self,
        frame: Any,
        *,
        action: str = "contacts",
        mapping: Mapping[str, Any] | None = None,
        client: Client | ConnectPanel | None = None,
        directory_id: str | None = None,
        mailing_list_id: str | None = None,
        workflow_url: str | None = None,
        rows: int = 5,
        push_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.action = action_name(action)
        self._frame = frame
        self._source = client
        self._given = {
            "directory_id": directory_id,
            "mailing_list_id": mailing_list_id,
            "workflow_url": workflow_url,
        }
        self._push_options = dict(push_options or {})
        self.head = next(iter(iter_chunks(frame, chunk_size=max(1, rows))))
        # JSON records' nested values, and json_columns=, are previewed as the push sends them
        given = self._push_options.get("json_columns") or ()
        self.json_columns = sorted(set(given) | json_columns_of(frame))
        self.results: pl.DataFrame | None = None
        self.table = pl.DataFrame()
        self.pickers = _picks.Pickers(self.action, self.head.columns, mapping, self.constants)
        self.status = w.HTML()
        self.table_view = w.HTML()
        self.push_button, self.cancel_button, self.validate_button, self.again_button = _buttons()
        self.push_status = w.HTML()
        self.push_status.add_class("qx-push-status")  # what the last push did (the e2e reads it)
        self.progress = _push.ProgressBar()
        self.results_area = w.VBox()
        self.plan = PlanView(self._plan_inputs)
        self.plan.show_plan_button(self.action == "contacts")
        self.runs = _push.PushControl(
            self.progress,
            # the connect panel's journals (one per destination for the session), else its own
            client.journals if isinstance(client, ConnectPanel) else PanelJournals(),
            tell=self._tell,
            busy=self._busy,
            show=self._show_results,
        )
        self.push_button.on_click(lambda _button: self.push(wait=False))
        self.validate_button.on_click(lambda _button: self.validate_all(wait=False))
        self.again_button.on_click(lambda _button: self.push(again=True, wait=False))
        self.cancel_button.on_click(lambda _button: self.cancel())
        self.pickers.on_change(self.refresh)
        if isinstance(client, ConnectPanel):
            client.directory.observe(self._on_destination, names="value")
            client.mailing_list.observe(self._on_destination, names="value")
        title = f"<b>Preview: {self.action}</b> (first {self.head.height} rows)"
        super().__init__(
            children=[
                w.HTML(title),
                self.pickers.box,
                self.status,
                self.table_view,
                w.HBox(
                    [self.push_button, self.cancel_button, self.validate_button, self.again_button]
                ),
                self.plan,
                self.push_status,
                self.progress,
                self.results_area,
            ]
        )
        self.add_class("qx-preview")
        self.refresh()
        self._note_sent_before()

    # -- what the panel yields -------------------------------------------------------

    @property
    def mapping(self) -> dict[str, Any]:
        """The chosen mapping, for reuse in code (fields left to the defaults are omitted)."""
        return self.pickers.mapping()

    @property
    def client(self) -> Client | None:
        if isinstance(self._source, ConnectPanel):
            return self._source.client
        return self._source

    @property
    def constants(self) -> dict[str, str | None]:
        """The destination constants the push will use (given ones, else the panel's)."""
        action = ACTIONS[self.action]
        panel = self._source if isinstance(self._source, ConnectPanel) else None
        chosen = {
            "directory_id": panel.directory_id if panel else None,
            "mailing_list_id": panel.mailing_list_id if panel else None,
        }
        return {name: self._given.get(name) or chosen.get(name) for name in action.constants}

    def __repr__(self) -> str:
        return f"<PreviewPanel {self.action} mapping={self.mapping!r}>"

    # -- actions ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Recompute the preview table from the current choices."""
        client = self.client
        origin = client.allowed_origin if client is not None else None
        try:
            self.table = preview_table(
                self.head,
                self.action,
                mapping=self.mapping,
                constants=self.constants,
                allowed_origin=origin,
                json_columns=self.json_columns,
            )
        except Exception as exc:  # a mapping error, or an expression that fails: a sentence
            self.table = pl.DataFrame()
            self.table_view.value = ""
            text = _preview_error(exc)
            if isinstance(self._source, ConnectPanel) and "mailing_list_id" in text:
                text += "; or pick a mailing list in the connect panel."
            self._say(text, "error")
            return
        valid = self.table.filter(pl.col("status") == "valid").height
        warned = self.table.get_column("warning").is_not_null().sum()
        more = f" {warned} of them have a warning: see below." if warned else ""
        self._say(f"{valid} of {self.table.height} previewed rows are valid.{more}")
        self.table_view.value = table_html(self.table)
        if self.action == "workflow":
            self.table_view.value += paths_html(self.table["payload"])
        self._forecast()

    def push(self, *, again: bool = False, wait: bool = True) -> pl.DataFrame | None:
        """Push the whole frame with the chosen mapping; show (and, with ``wait``, return)
        the results.

        The push runs in the background (the Push button does not wait, so Cancel can be
        pressed); ``wait`` blocks until it ends, and a KeyboardInterrupt while waiting
        cancels it. Rows this panel already sent to the same destination come back
        ``skipped`` and are not sent again, unless ``again`` (the "Send … again" button)
        says so.
        """
        client = self.client
        if client is None:
            self._tell("Connect first (qxframe.widgets.connect()), or pass client=.", "error")
            return None
        where = client.base_url
        journal = self.runs.journal(self.action, self.constants, where, self._frame, again=again)
        self._run("Pushing", client, dry_run=False, journal=journal, then=self._pushed)
        return self.wait() if wait else None

    def validate_all(self, *, wait: bool = True) -> pl.DataFrame | None:
        """Dry-run every row (nothing is sent) and show the counts and the problems."""
        self._run("Validating", self.client, dry_run=True, journal=None, then=self._validated)
        return self.wait() if wait else None

    def cancel(self) -> bool:
        """Stop the running push as Ctrl-C does (what Cancel does): nothing new is sent,
        requests in flight get a short grace; False when nothing was running."""
        if not self.runs.running:
            return False
        self.cancel_button.disabled = True
        return self.runs.cancel()

    def wait(self, timeout: float | None = None) -> pl.DataFrame | None:
        """Wait until the running push or validation has ended and the panel shows it;
        its results (``None`` if it failed, or was cancelled: see :attr:`results`)."""
        return self.runs.wait(timeout)

    def _pushed(self, res: pl.DataFrame) -> None:
        if self.action == "workflow" and self.client is not None:
            events = EventsView(
                res, body=self.body_of, send=self.send_one, where=self.client.base_url
            )
            self.results_area.children = (*self.results_area.children, events)
        skipped = summary(res)[Status.SKIPPED]
        failures = _push.failures_text(res)
        unknown = unknown_text(res)
        text = f"Pushed. {summary_text(res)}" + (f" {failures}" if failures else "")
        text += f" {unknown}" if unknown else ""
        if skipped:
            text += (
                f" {skipped:,} rows had already been sent to this destination from this panel"
                " and were not sent again; to send them anyway, press"
                " “Send the already-sent rows again”."
            )
        self.again_button.layout.display = None if skipped else "none"
        self._tell(text, "warning" if failures else "ok")

    def _validated(self, res: pl.DataFrame) -> None:
        counts = summary(res)
        self._tell(
            f"Validated all {res.height:,} rows: {counts[Status.DRY_RUN]:,} valid, "
            f"{counts[Status.INVALID]:,} invalid; nothing was sent.",
            "ok" if not counts[Status.INVALID] else "warning",
        )

    def _run(
        self,
        label: str,
        client: Client | None,
        *,
        dry_run: bool,
        journal: Any,
        then: Callable[[pl.DataFrame], None],
    ) -> None:
        """Start the push (or dry run) with the panel's choices, in the background."""
        where = client.base_url if client is not None else "Qualtrics"
        total = _push.total_rows(self._frame)
        start = partial(self._start, client, dry_run=dry_run, journal=journal)
        self.runs.run(label, total, where, start, then)

    def _start(self, client: Client | None, *, dry_run: bool, journal: Any) -> PushHandle:
        options = dict(self._push_options)
        return start_push(
            self.action,
            self._frame,
            client=client,
            mapping=self.mapping,
            dry_run=dry_run,
            concurrency=options.pop("concurrency", None),
            progress=self.progress,
            journal=journal,
            **self.constants,
            **options,
        )

    def input_row(self, row: int) -> pl.DataFrame:
        """Input row ``row`` (its position in the frame or file), as a one-row frame."""
        seen = 0
        for chunk in iter_chunks(self._frame):
            if row < seen + chunk.height:
                return chunk.slice(row - seen, 1)
            seen += chunk.height
        raise IndexError(f"the input has no row {row}")

    def body_of(self, row: int) -> str | None:
        """The JSON body a push builds for input row ``row`` now (``None`` if invalid)."""
        client = self.client
        table = preview_table(
            self.input_row(row),
            self.action,
            mapping=self.mapping,
            constants=self.constants,
            allowed_origin=client.allowed_origin if client is not None else None,
        )
        return table["payload"][0]

    def send_one(self, row: int) -> pl.DataFrame:
        """Send input row ``row`` once more, on purpose (no journal: it is sent even if it
        was sent before); its results (one row, ``row`` as in the input)."""
        options = dict(self._push_options)
        options.pop("concurrency", None)
        handle = start_push(
            self.action,
            self.input_row(row),
            client=self.client,
            mapping=self.mapping,
            progress=False,
            **self.constants,
            **options,
        )
        return handle.result().with_columns(row=pl.lit(row, dtype=pl.Int64))

    def _forecast(self) -> None:
        """Count what the next push would do (not while one runs: it shares the journal)."""
        if not self.runs.running:
            self.plan.forecast()

    def _plan_inputs(self) -> PlanInputs:
        """What the plan view counts: this panel's push, with the destination's journal
        when one is in play."""
        client = self.client
        journal = None
        if client is not None and self.runs.sent_before(
            self.action, self.constants, client.base_url, self._frame
        ):
            journal = self.runs.journal(self.action, self.constants, client.base_url, self._frame)
        return PlanInputs(
            self._frame,
            self.action,
            client,
            self.mapping,
            self.constants,
            self._push_options,
            journal,
        )

    def _show_results(self, res: Any) -> None:
        if isinstance(res, pl.DataFrame) and res.height:
            self.results = res
            self.results_area.children = [ResultsView(res, frame=self._frame)]

    def _busy(self, busy: bool) -> None:
        if busy:
            self.results_area.children = []
            self.plan.stop_forecast()  # the push uses the journal the count reads
        for button in (self.push_button, self.validate_button, self.again_button):
            button.disabled = busy
        self.cancel_button.disabled = not busy
        self.cancel_button.layout.display = None if busy else "none"
        if not busy:
            self._forecast()  # the journal may have changed: what would the next push do

    def _tell(self, text: str, kind: str = "info") -> None:
        self.push_status.value = _html.message(text, kind)

    # -- internals -------------------------------------------------------------------

    def _on_destination(self, _change: Any) -> None:
        self.pickers.set_constants(self.constants)
        self.refresh()
        self._note_sent_before()

    def _note_sent_before(self) -> None:
        """Say so when this frame was already pushed to this destination from the connect
        panel (an earlier preview, a re-run cell): Push then skips what was sent, and
        sending it again is the one click it always is."""
        client = self.client
        if client is None:
            return
        used = self.runs.sent_before(self.action, self.constants, client.base_url, self._frame)
        self.again_button.layout.display = None if used else "none"
        note = _html.message(SENT_BEFORE)
        if used:
            self.push_status.value = note
        elif self.push_status.value == note:
            self.push_status.value = ""

    def _say(self, text: str, kind: str = "info") -> None:
        self.status.value = _html.message(text, kind)


def _buttons() -> tuple[w.Button, w.Button, w.Button, w.Button]:
    """Push, Cancel (shown while a push runs), Validate all rows, and Send … again (shown
    when rows were not sent again)."""
    hidden = {"width": "auto", "display": "none"}
    return (
        w.Button(description="Push", button_style="primary", icon="upload"),
        w.Button(
            description="Cancel", icon="stop", button_style="danger", layout=w.Layout(**hidden)
        ),
        w.Button(description="Validate all rows", icon="check", layout=w.Layout(width="auto")),
        w.Button(
            description="Send the already-sent rows again",
            button_style="warning",
            layout=w.Layout(**hidden),
        ),
    )


def _preview_error(exc: Exception) -> str:
    if isinstance(exc, QxError):
        return exc.message
    return (
        f"The preview failed ({first_line(exc, with_kind=True)}); check the mapping's expressions."
    )


def preview(frame: Any, **options: Any) -> PreviewPanel:
    """A :class:`PreviewPanel` for ``frame``; ``options`` are its keyword arguments
    (``action``, ``mapping``, ``client``, the destinations, ``rows``, ``push_options``)."""
    return PreviewPanel(frame, **options)
