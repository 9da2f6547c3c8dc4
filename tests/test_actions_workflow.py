"""trigger_workflow end to end against the sandbox."""

from __future__ import annotations

import json

import polars as pl
import pytest

import qxframe as qx
from tests.helpers import bodies, payloads

EVENTS = pl.DataFrame(
    {
        "event": ["signup", "purchase", "churn"],
        "user_id": ["u1", "u2", None],
        "properties": [{"plan": "pro", "seats": 3}, {"plan": "free", "seats": 1}, None],
    }
)


def test_events_are_recorded_with_the_whole_row_as_payload(sb):
    res = qx.trigger_workflow(EVENTS, client=sb.client(), workflow_url=sb.workflow_url)
    assert res["status"].to_list() == ["success"] * 3
    assert res["http_status"].to_list() == [202] * 3
    received = sorted(
        (json.loads(p) for p in sb.workflow_events()["payload"]), key=lambda e: e["event"]
    )
    assert received[0] == {"event": "churn"}  # nulls dropped
    assert received[1] == {
        "event": "purchase",
        "user_id": "u2",
        "properties": {"plan": "free", "seats": 1},
    }  # nested kept as JSON


def test_event_payload_mapping_and_dry_run(sb):
    res = qx.trigger_workflow(
        EVENTS,
        client=sb.client(),
        workflow_url=sb.workflow_url,
        mapping={"event_payload": ["event", "user_id"]},
        dry_run=True,
    )
    assert payloads(res) == [
        {"event": "signup", "user_id": "u1"},
        {"event": "purchase", "user_id": "u2"},
        {"event": "churn"},
    ]
    assert sb.requests().height == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/inbound-event",
        "https://evilqualtrics.com/x",
        "https://qualtrics.com.evil.example/x",
        "https://user@evil.example/?.qualtrics.com",
        "http://iad1.qualtrics.com/inbound-event",
    ],
)
def test_foreign_workflow_url_raises_before_sending(sb, url):
    with pytest.raises(qx.ConfigError):
        qx.trigger_workflow(EVENTS, client=sb.client(), workflow_url=url)
    assert sb.requests().height == 0


def test_per_row_urls_are_validated_per_row(sb):
    frame = EVENTS.with_columns(
        workflow_url=pl.Series([sb.workflow_url, "https://evil.example/x", sb.workflow_url])
    )
    res = qx.trigger_workflow(frame, client=sb.client())
    assert res["status"].to_list() == ["success", "invalid", "success"]
    assert res["error_code"][1] == "workflow_url_not_allowed"
    sent = [json.loads(p) for p in sb.workflow_events()["payload"]]
    assert all("workflow_url" not in event for event in sent)


def test_payload_over_100_kb_is_invalid(sb):
    frame = pl.DataFrame({"blob": ["x" * 102_400, "small"]})
    res = qx.trigger_workflow(frame, client=sb.client(), workflow_url=sb.workflow_url)
    assert res["status"].to_list() == ["invalid", "success"]
    assert res["error_code"][0] == "payload_too_large"


def test_500_on_a_trigger_is_never_resent(sb, fake_time):
    sb.fail_next("workflows", status=500, after_commit=True)
    res = qx.trigger_workflow(
        EVENTS.head(1), client=sb.client(sleep=fake_time.sleep), workflow_url=sb.workflow_url
    )
    assert res["error_code"].to_list() == ["outcome_unknown"]
    assert bodies(sb, "workflows") == 1 and sb.workflow_events().height == 1
