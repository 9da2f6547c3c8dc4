"""The JSON-event workflow trigger (docs/qualtrics-api.md §10): recorded, 413 over 100 KB."""

from __future__ import annotations

from typing import Any

from qxframe._sandbox._rules import StoreError
from qxframe._sandbox._wire import Call, Endpoint

MAX_WORKFLOW_BODY = 102_400


def trigger(call: Call) -> tuple[int, Any]:
    url_token_id = call.query("urlTokenId")
    if url_token_id != call.store.workflow_token:
        raise StoreError(404, "RCE_1", "No workflow trigger has this urlTokenId.")
    if len(call.body) > MAX_WORKFLOW_BODY:
        raise StoreError(
            413,
            "REQ_TOO_LARGE",
            "The event payload is over 100 KB (102,400 bytes); send a smaller payload.",
        )
    call.json()
    call.store.record_event(url_token_id, call.body.decode("utf-8"))
    return 202, None


ROUTES = [Endpoint("POST", "/inbound-event/v1/events/json/triggers", "workflows", trigger)]
