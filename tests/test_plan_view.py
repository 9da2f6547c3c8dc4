"""The preview's plan view (qxframe/widgets/_plan_view.py; DESIGN §7, §8), driven headless
as in tests/test_widgets.py against ``qx.sandbox()``: the next push's operation counts
by a dry run with the destination's journal, and "Plan against Qualtrics" (reads only)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import ipywidgets as w
import polars as pl
import pytest

import qxframe as qx
import qxframe.widgets as qxw
from qxframe._skins import OPERATIONS, Status

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"

MIX = pl.DataFrame(
    {
        "ext_ref": ["u1", "u2", "u3", "u4", "u5"],
        "email": [
            "one@example.com",
            "two@example.com",
            "new@example.com",
            "four@example.com",
            "not-an-email",
        ],
        "x": [1, 2, 3, None, None],
    }
)
MAPPING = {"embedded_data": ["x"]}


@pytest.fixture
def sb() -> Iterator[qx.Sandbox]:
    with qx.sandbox(seed=3) as sandbox:
        yield sandbox


@pytest.fixture
def panel(sb: qx.Sandbox) -> Iterator[qxw.ConnectPanel]:
    p = qxw.connect(sandbox=sb)
    yield p
    p.disconnect()


def _seed_plain(sb: qx.Sandbox) -> dict[str, str]:
    """On the directory that never deduplicates: u1 as MIX says, u2 with another x, u4
    twice (two contacts, one identity); u3 absent."""
    ids = {}
    for key, body in [
        ("u1", {"extRef": "u1", "email": "one@example.com", "embeddedData": {"x": "1"}}),
        ("u2", {"extRef": "u2", "email": "two@example.com", "embeddedData": {"x": "1"}}),
        ("u4a", {"extRef": "u4", "email": "four@example.com"}),
        ("u4b", {"extRef": "U4 ", "email": "FOUR@example.com"}),
    ]:
        ids[key] = sb._store.upsert_contact(sb.plain_directory_id, body)
    return ids


def _writes(sb: qx.Sandbox, since: int) -> pl.DataFrame:
    """Requests after ``since`` that could change something: anything but a GET or a search."""
    log = sb.requests().filter(pl.col("seq") >= since)
    read = (pl.col("method") == "GET") | (
        (pl.col("method") == "POST") & pl.col("path").str.ends_with("/contacts/search")
    )
    return log.filter(~read)


def _text(widget: w.Widget) -> str:
    return json.dumps(widget.get_state(), default=str)


def test_the_plan_button_shows_plan_contacts_counts_and_ambiguous_rows_and_writes_nothing(
    panel, sb
):
    ids = _seed_plain(sb)
    pv = qxw.preview(MIX, client=panel, directory_id=sb.plain_directory_id, mapping=MAPPING)
    view = pv.plan
    assert view.plan_button.layout.display != "none"
    since = sb.requests().height
    view.plan_button.click()  # returns at once: the plan runs on the client's loop
    shown = view.wait_plan(timeout=60)
    assert _writes(sb, since).is_empty() and sb.contacts().height == 4
    with sb.client() as client:
        expected = qx.plan_contacts(MIX, client=client, mapping=MAPPING, **pv.constants)
    assert shown is not None
    assert shown.select("row", "status", "operation").equals(
        expected.select("row", "status", "operation")
    )
    assert (
        "create 1, update 1, unchanged 1; invalid 1; failed 1; nothing was written."
        in view.plan_status.value
    )
    assert "1 rows match several contacts" in view.ambiguous.value
    assert ids["u4a"] in view.ambiguous.value and ids["u4b"] in view.ambiguous.value
    assert not view.plan_button.disabled and view.cancel_button.layout.display == "none"


def test_the_plan_button_is_for_contacts_only(sb):
    frame = pl.DataFrame({"workflow_url": [sb.workflow_url], "a": [1]})
    pv = qxw.preview(frame, action="workflow", client=sb.client())
    assert pv.plan.plan_button.layout.display == "none"


def test_a_plan_that_cannot_reach_qualtrics_is_a_sentence():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = qx.Client(api_token="secret-token", base_url=f"http://127.0.0.1:{port}")
    pv = qxw.preview(MIX, client=client, directory_id="POOL_012345678901234", mapping=MAPPING)
    assert pv.plan.plan(wait=True) is None
    status = pv.plan.plan_status.value
    assert f"Could not reach http://127.0.0.1:{port}" in status
    assert "Traceback" not in _text(pv.plan) and "secret-token" not in _text(pv.plan)
    assert not pv.plan.plan_button.disabled


def test_cancel_stops_the_plan_and_it_wrote_nothing():
    people = pl.DataFrame(
        {
            "email": [f"p{n}@example.com" for n in range(400)],
            "ext_ref": [str(n) for n in range(400)],
        }
    )
    with qx.sandbox(seed=3, latency=0.02) as slow:
        client = slow.client()
        pv = qxw.preview(
            people,
            client=client,
            directory_id=slow.plain_directory_id,
            push_options={"concurrency": 1},
        )
        since = slow.requests().height
        pv.plan.plan_button.click()
        assert pv.plan.plan_button.disabled and not pv.plan.cancel_button.disabled
        deadline = time.monotonic() + 60  # a generous bound, not a timing assertion
        while slow.requests().height <= since + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        pv.plan.cancel_button.click()
        assert pv.plan.wait_plan(timeout=60) is None
        assert "The plan was cancelled; nothing was written." in pv.plan.plan_status.value
        searched = slow.requests().height - since
        assert searched < people.height  # it stopped before every identity was searched
        assert _writes(slow, since).is_empty() and slow.contacts().is_empty()
        assert not pv.plan.plan_button.disabled
        client.close()


def test_the_next_push_counts_are_a_dry_run_with_the_destination_s_journal(panel, sb):
    contacts = pl.read_csv(SAMPLES / "contacts.csv", infer_schema=False)
    pv = qxw.preview(contacts.head(20), client=panel)
    assert pv.plan.next_push.value == ""  # no journal for this destination yet
    pv.push()
    after = pv.plan.wait_forecast(timeout=60)  # counted again once the push ended
    assert after is not None, pv.plan.next_push.value
    assert "The next push, by this destination" in pv.plan.next_push.value
    assert Status.DRY_RUN not in after["status"].to_list()  # every valid row was sent
    held = sb.contacts().height
    changed = contacts.head(30)  # ten more people
    pv2 = qxw.preview(changed, client=panel)  # the connect panel's journal for the session
    since = sb.requests().height
    shown = pv2.plan.forecast(wait=True)
    assert _writes(sb, since).is_empty() and sb.contacts().height == held
    journal = pv2._plan_inputs().journal
    with sb.client() as client:
        expected = qx.upsert_contacts(
            changed, client=client, dry_run=True, journal=journal, progress=False, **pv2.constants
        )
    assert shown is not None
    assert shown.select("row", "status", "operation").equals(
        expected.select("row", "status", "operation")
    )
    counts, text = qx.summary(expected), pv2.plan.next_push.value
    said = [f"{op} {counts[op]:,}" for op in OPERATIONS if counts.get(op)]
    if not said:  # a journal that does not know operations: said by status
        said = [f"to send {counts['dry_run']}", f"already sent {counts['skipped']}"]
    said.append(f"invalid {counts['invalid']}")
    assert counts["dry_run"] > 0 and counts["skipped"] > 0 and counts["invalid"] > 0
    for part in said:
        assert part in text
    assert "nothing was sent" in text


def test_journals_asked_from_many_threads_at_once_make_one_folder():
    """The count runs in the background while a push asks for its journal: both must get
    the same folder (two made at once lost a push's journal)."""
    from qxframe.widgets._journals import PanelJournals

    journals, start = PanelJournals(), threading.Barrier(16)
    seen: list[object] = []

    def ask() -> None:
        start.wait()
        seen.append(journals.folder)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1 and journals.folder == seen[0]
