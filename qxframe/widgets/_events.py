"""The workflow preview's per-event view: the body sent beside the response, and "send
this one again" for one row (DESIGN §5, "Exploring a workflow").

:class:`EventsView` is a skin over two functions its panel gives it: ``body(row)`` (the
JSON body the push built for that input row, as the preview builds it) and
``send(row)`` (trigger that one row again, on purpose: no journal, so it is sent even
though it was sent before). :func:`response_html` shows what Qualtrics answered for an
event: its status, HTTP status, request id, attempts and the error, if any.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import ipywidgets as w
import polars as pl

from qxframe.widgets import _html
from qxframe.widgets._errors import error_sentence

#: The events the picker lists (a workflow exploration is a few events; a push of many
#: lists its first ones).
MAX_EVENTS = 1_000

RESPONSE_FIELDS = ("http_status", "request_id", "attempts", "error_code", "error_message")


def event_label(event: dict[str, Any]) -> str:
    """``row 3 · success 202`` (the status and HTTP status of the event's outcome)."""
    http = f" {event['http_status']}" if event.get("http_status") is not None else ""
    return f"row {event['row']} · {event['status']}{http}"


def response_html(event: dict[str, Any], when: str | None = None) -> str:
    """What Qualtrics answered for one event (``when``: the time it was sent again)."""
    rows = [("status", _html.badge(event["status"]))]
    rows += [(name, _html.esc(event.get(name))) for name in RESPONSE_FIELDS if event.get(name)]
    if when:
        rows.append(("sent again", _html.esc(when)))
    return _html.table(("response", ""), rows, css_class="qx-response")


class EventsView(w.VBox):
    """Pick an event: its body sent beside its response; "Send this one again".

    Args:
        results: the workflow push's results.
        body: ``body(row)`` → the JSON body of input row ``row`` (``None`` if invalid).
        send: ``send(row)`` → the results (one row) of triggering input row ``row`` again.
        where: the server, for the sentence when sending again fails.
    """

    def __init__(
        self,
        results: pl.DataFrame,
        *,
        body: Callable[[int], str | None],
        send: Callable[[int], pl.DataFrame],
        where: str,
    ) -> None:
        self._body_of, self._send_row, self._where = body, send, where
        self.events = {e["row"]: e for e in results.head(MAX_EVENTS).iter_rows(named=True)}
        self._again: dict[int, str] = {}  # row → when it was sent again
        self.pick = w.Dropdown(
            description="Event",
            options=[(event_label(e), row) for row, e in self.events.items()],
            layout=w.Layout(width="auto"),
        )
        self.body = w.HTML(layout=w.Layout(flex="1 1 24em", min_width="0"))
        self.response = w.HTML(layout=w.Layout(flex="1 1 18em", min_width="0"))
        self.again_button = w.Button(
            description="Send this one again", icon="repeat", layout=w.Layout(width="auto")
        )
        self.note = w.HTML()
        self.pick.observe(lambda _change: self.show(), names="value")
        self.again_button.on_click(lambda _button: self.send_again())
        columns = w.HBox([self.body, self.response], layout=w.Layout(flex_flow="row wrap"))
        shown = min(len(self.events), results.height)
        title = f"<b>Each event</b>: the body sent beside the response ({shown:,} events)"
        super().__init__(
            children=[w.HTML(title), w.HBox([self.pick, self.again_button]), columns, self.note]
        )
        self.add_class("qx-events")
        self.show()

    def show(self) -> None:
        """Show the picked event's body and response."""
        row = self.pick.value
        if row is None:
            return
        body = self._body_of(row)
        self.body.value = "<div><b>body sent</b></div>" + (
            _html.code(body) if body is not None else "<i>not sent: the row is invalid</i>"
        )
        self.response.value = response_html(self.events[row], self._again.get(row))

    def send_again(self) -> pl.DataFrame | None:
        """Trigger the picked event's row once more, on purpose; show what came back."""
        row = self.pick.value
        if row is None:
            return None
        try:
            res = self._send_row(row)
        except Exception as exc:  # a sentence, never a traceback
            text = error_sentence(exc, self._where, pushing=False)
            self.note.value = _html.message(f"Sending row {row} again failed: {text}", "error")
            return None
        event = {**res.row(0, named=True), "row": row}
        self.events[row] = event
        self._again[row] = datetime.now(UTC).strftime("%H:%M:%S UTC")
        self.pick.options = [(event_label(e), r) for r, e in self.events.items()]
        self.pick.value = row
        self.show()
        self.note.value = _html.message(f"Row {row} sent again: {event_label(event)}.", "ok")
        return res
