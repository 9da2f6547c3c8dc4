"""``qxframe sandbox`` from another process: ``--log`` prints one line per request, and
``GET /_sandbox/workflow-events`` / ``/_sandbox/requests`` answer what it received (its
own token required)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[subprocess.Popen[str], str, str, str]]:
    """``qxframe sandbox --log`` on a free port: (process, base URL, token, workflow URL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "qxframe", "sandbox", "--port", "0", "--log"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    banner = ""
    for line in process.stdout:
        banner += line
        if line.startswith("Press Ctrl-C"):
            break
    base_url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
    token = re.search(r"API token .*: (\S+)", banner)
    workflow_url = re.search(r"workflow_url +(\S+)", banner)
    assert base_url and token and workflow_url, banner
    try:
        yield process, base_url[1], token[1], workflow_url[1]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_what_a_workflow_received_is_read_from_another_process(running):
    process, base_url, token, workflow_url = running
    event = {"source": "test", "properties": {"score": 7, "tags": ["a", "b"]}}
    with httpx.Client(base_url=base_url, headers={"X-API-TOKEN": token}) as http:
        assert http.post(workflow_url, json=event).status_code == 202
        events = http.get("/_sandbox/workflow-events")
        requests = http.get("/_sandbox/requests").json()
        refused = httpx.get(base_url + "/_sandbox/requests")
        wrong = httpx.get(base_url + "/_sandbox/requests", headers={"X-API-TOKEN": "x" * 40})
        unknown = http.get("/_sandbox/contacts-please")
    assert events.status_code == 200 and events.headers["content-type"] == "application/json"
    [received] = events.json()
    assert set(received) == {"event_id", "url_token_id", "received_at", "payload"}
    assert json.loads(received["payload"]) == event
    assert [(r["method"], r["family"], r["status"]) for r in requests] == [
        ("POST", "workflows", 202)
    ]  # the reads themselves are not in the log
    assert requests[0]["path"] == "/inbound-event/v1/events/json/triggers"
    assert refused.status_code == wrong.status_code == 401
    assert token not in refused.text + wrong.text
    assert unknown.status_code == 404 and "/_sandbox/workflow-events" in unknown.text

    assert process.stdout is not None
    line = process.stdout.readline()  # --log: the POST's line (the reads are not logged)
    assert line == "POST /inbound-event/v1/events/json/triggers 202 workflows\n"


def test_the_log_has_a_line_per_request_and_never_the_query(running):
    process, base_url, token, _ = running
    with httpx.Client(base_url=base_url, headers={"X-API-TOKEN": token}) as http:
        http.get("/API/v3/whoami")
        http.get("/API/v3/directories", params={"pageSize": "2"})
        http.get("/API/v3/no/such/thing")
    httpx.get(base_url + "/API/v3/whoami")  # no token: 401
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(4)]
    assert lines == [
        "GET /API/v3/whoami 200 reads\n",
        "GET /API/v3/directories 200 reads\n",
        "GET /API/v3/no/such/thing 404 -\n",
        "GET /API/v3/whoami 401 reads\n",
    ]


@pytest.mark.parametrize("port", ["-5", "70000", "eighty"])
def test_a_port_out_of_range_is_a_usage_error_not_a_traceback(port):
    from qxframe.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["sandbox", "--port", port])
    assert stopped.value.code == 2
