"""The mapping preview: a column picker per field, the first rows' status and JSON bodies.

This module owns :class:`PreviewPanel` (built by :func:`preview`) and the pure functions
it is a skin over:

- :func:`preview_table` — the first rows mapped, validated and built exactly as a push
  would (``_prepare.prepare`` and the action's own dry-run body builder);
- :func:`table_html` — that table as HTML;
- the picker logic in :mod:`qxframe.widgets._picks` (what each field's dropdown offers,
  and the ``mapping`` the choices amount to).

The Push button runs the action itself (``qx.upsert_contacts`` …) on the whole frame, with
a progress bar, and shows a :class:`~qxframe.widgets.ResultsView`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w
import polars as pl

from qxframe import _results
from qxframe._actions import trigger_workflow, upsert_contacts, upsert_transactions
from qxframe._client import Client
from qxframe._contacts import CONTACTS
from qxframe._fields import fields_for
from qxframe._inputs import iter_chunks
from qxframe._prepare import check_constants, prepare
from qxframe._runner import Action, Push
from qxframe._transactions import TRANSACTIONS
from qxframe._workflows import WORKFLOW
from qxframe.exceptions import QxError
from qxframe.widgets import _html, _picks
from qxframe.widgets._connect import ConnectPanel
from qxframe.widgets._results_view import ResultsView, summary_text

#: action name → (the action, the public function a push calls)
ACTIONS: dict[str, tuple[Action, Callable[..., pl.DataFrame]]] = {
    "contacts": (CONTACTS, upsert_contacts),
    "transactions": (TRANSACTIONS, upsert_transactions),
    "workflow": (WORKFLOW, trigger_workflow),
}
_ALIASES = {
    "upsert_contacts": "contacts",
    "upsert_transactions": "transactions",
    "trigger_workflow": "workflow",
}
PREVIEW_COLUMNS = ("row", "status", "error_code", "error_message", "payload")


def action_name(action: str) -> str:
    """``"contacts"``, ``"transactions"`` or ``"workflow"`` (the public function names work too)."""
    name = _ALIASES.get(action, action)
    fields_for(name)  # ConfigError for an unknown action
    return name


def preview_table(
    head: pl.DataFrame,
    action: str,
    *,
    mapping: Mapping[str, Any] | None = None,
    constants: Mapping[str, str | None] | None = None,
    allowed_origin: str | None = None,
) -> pl.DataFrame:
    """One row per row of ``head``: ``row``, ``status`` (``valid``/``invalid``),
    ``error_code``, ``error_message`` and ``payload`` (the exact JSON body a valid row would
    send, as a dry run gives it). Bad settings raise ``ConfigError`` as a push would.
    """
    name = action_name(action)
    constants = dict(constants or {})
    check_constants(name, constants, allowed_origin)
    prepared = prepare(
        head, name, mapping=mapping, constants=constants, allowed_origin=allowed_origin
    )
    parts = [_results.from_invalid(prepared.invalid)]
    if prepared.valid.height:
        parts.append(ACTIONS[name][0].dry_run(prepared.valid, Push(None, constants)))
    table = _results.assemble(parts)
    if table.height == 0:
        table = _results.empty()
    status = pl.when(pl.col("status") == "dry_run").then(pl.lit("valid")).otherwise("status")
    return table.with_columns(status.alias("status")).select(PREVIEW_COLUMNS)


def table_html(table: pl.DataFrame) -> str:
    """The preview table as HTML: row, status, problem, JSON body."""
    rows = [
        (
            _html.esc(r["row"]),
            _html.badge(r["status"]),
            _html.esc(r["error_message"]),
            _html.code(r["payload"]),
        )
        for r in table.iter_rows(named=True)
    ]
    header = ("row", "status", "problem", "JSON body that would be sent")
    return _html.table(header, rows, css_class="qx-preview-table")


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
        self.results: pl.DataFrame | None = None
        self.table = pl.DataFrame()
        self.pickers = _picks.Pickers(self.action, self.head.columns, mapping, self.constants)
        self.status = w.HTML()
        self.table_view = w.HTML()
        self.push_button = w.Button(description="Push", button_style="primary", icon="upload")
        self.progress_area = w.Output()
        self.results_area = w.VBox()
        self.push_button.on_click(lambda _button: self.push())
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
                self.push_button,
                self.progress_area,
                self.results_area,
            ]
        )
        self.add_class("qx-preview")
        self.refresh()

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
        action = ACTIONS[self.action][0]
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
            )
        except QxError as exc:
            self.table = pl.DataFrame()
            self.table_view.value = ""
            self._say(exc.message, "error")
            return
        valid = self.table.filter(pl.col("status") == "valid").height
        self._say(f"{valid} of {self.table.height} previewed rows are valid.")
        self.table_view.value = table_html(self.table)

    def push(self) -> pl.DataFrame | None:
        """Push the whole frame with the chosen mapping; show and return the results."""
        client = self.client
        if client is None:
            self._say("Connect first (qxframe.widgets.connect()), or pass client=.", "error")
            return None
        self.push_button.disabled = True
        self.progress_area.clear_output()
        self.results_area.children = []
        self._say("Pushing…")
        push = ACTIONS[self.action][1]
        try:
            with self.progress_area:
                res = push(
                    self._frame,
                    client=client,
                    mapping=self.mapping,
                    progress=True,
                    **self.constants,
                    **self._push_options,
                )
        except QxError as exc:
            self._say(f"Nothing was pushed: {exc.message}", "error")
            return None
        finally:
            self.push_button.disabled = False
        self.results = res
        self._say(f"Pushed. {summary_text(res)}", "ok")
        self.results_area.children = [ResultsView(res, frame=self._frame)]
        return res

    # -- internals -------------------------------------------------------------------

    def _on_destination(self, _change: Any) -> None:
        self.pickers.set_constants(self.constants)
        self.refresh()

    def _say(self, text: str, kind: str = "info") -> None:
        self.status.value = _html.message(text, kind)


def preview(frame: Any, **options: Any) -> PreviewPanel:
    """A :class:`PreviewPanel` for ``frame``; ``options`` are its keyword arguments
    (``action``, ``mapping``, ``client``, the destinations, ``rows``, ``push_options``)."""
    return PreviewPanel(frame, **options)
