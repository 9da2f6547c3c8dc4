"""JSON-event workflow triggers (in-process)."""

from __future__ import annotations

import json


def path_of(api) -> str:
    return api.sb.workflow_url.removeprefix(api.sb.base_url)


def test_payload_is_recorded_as_received_and_answered_202(api):
    raw = json.dumps(
        {"event": "Signed up", "user": {"id": 1, "tags": ["a", "é"]}}, ensure_ascii=False
    ).encode()
    response = api.post(path_of(api), content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 202
    assert response.json()["meta"]["httpStatus"] == "202 - Accepted"
    events = api.sb.workflow_events()
    assert events.height == 1
    row = events.row(0, named=True)
    assert row["payload"] == raw.decode()
    assert api.sb.workflow_url.endswith(row["url_token_id"])
    assert row["event_id"] and row["received_at"] is not None


def test_workflow_url_shape(api):
    assert api.sb.workflow_url.startswith(
        f"{api.sb.base_url}/inbound-event/v1/events/json/triggers?urlTokenId="
    )


def test_unknown_url_token_is_404(api, err):
    err(api.post("/inbound-event/v1/events/json/triggers?urlTokenId=nope", json={}), 404)
    err(api.post("/inbound-event/v1/events/json/triggers", json={}), 404)
    assert api.sb.workflow_events().is_empty()


def test_body_over_100_kb_is_413_and_at_the_limit_is_accepted(api, err):
    def body_of(size: int) -> bytes:
        raw = json.dumps({"pad": ""}, separators=(",", ":")).encode()
        return json.dumps({"pad": "x" * (size - len(raw))}, separators=(",", ":")).encode()

    assert len(body_of(102_400)) == 102_400
    assert api.post(path_of(api), content=body_of(102_400)).status_code == 202
    err(api.post(path_of(api), content=body_of(102_401)), 413)
    assert api.sb.workflow_events().height == 1


def test_body_not_json_is_400(api, err):
    err(api.post(path_of(api), content=b"<xml/>"), 400)
    err(api.post(path_of(api), content=b""), 400)
    assert api.sb.workflow_events().is_empty()
