"""Delivery against a server that lies (issue 20, defects 2, 4, 5, 7): bounded answers, a
deadline per attempt, ``Retry-After`` capped everywhere it is read, and envelopes of the
wrong shape read as what they say. Each test puts :class:`tests.hostile.HostileProxy` in
front of the module's sandbox; caps and timeouts are tiny so the suite stays fast."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import httpx
import polars as pl
import pytest

import qxframe as qx
import qxframe.exceptions as qxe
from qxframe.delivery._config import RetryPolicy
from tests.hostile import Answer, HostileProxy, envelope, gzip_bomb, html, json_answer, trickle

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
def proxy(sb):
    with HostileProxy(sb.base_url) as running:
        yield running


def client_for(sb, proxy, **kwargs) -> qx.Client:
    kwargs.setdefault("rate_limits", sb.client_rate_limits)
    return qx.Client(api_token=sb.api_token, base_url=proxy.url, **kwargs)


def push(sb, client, n=1, **kwargs):
    frame = pl.DataFrame({"ext_ref": [f"u{i}" for i in range(n)]})
    return qx.upsert_contacts(frame, client=client, directory_id=sb.directory_id, **kwargs)


# -- 5. answers without bounds ---------------------------------------------------------


def test_a_gzip_bomb_is_refused_within_the_cap_of_memory(sb, proxy):
    """A 20 KB gzip body that inflates to 20 MB is refused once it passes the client's cap,
    holding little more than the cap (decompressed a slice at a time)."""
    bomb = gzip_bomb(20 * 2**20)
    assert len(bomb.body) < 64 * 1024
    proxy.on("GET", "/directories", bomb, forward=False)
    client = client_for(sb, proxy, max_response_bytes=2**20, retry=RetryPolicy(max_attempts=1))
    tracemalloc.start()
    try:
        with pytest.raises(qxe.TransportError, match="larger than 1,048,576 bytes"):
            client.directories()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.close()
    assert peak < 4 * 2**20


def test_a_declared_length_over_the_cap_is_refused_before_reading(sb, proxy):
    proxy.on("GET", "/directories", Answer(200, b"{}", length=10**12), forward=False)
    client = client_for(sb, proxy, max_response_bytes=1000)
    with client, pytest.raises(qxe.TransportError, match="larger than 1,000 bytes"):
        client.directories()


def test_an_unknown_encoding_is_an_unreadable_answer_not_garbage(sb, proxy):
    answer = Answer(200, b"\x00\x01junk", {"Content-Encoding": "br"})
    proxy.on("GET", "/directories", answer, forward=False)
    client = client_for(sb, proxy, retry=RetryPolicy(max_attempts=1))
    with client, pytest.raises(qxe.TransportError, match="encoded as 'br'"):
        client.directories()


def test_a_too_large_answer_to_a_create_that_landed_is_outcome_unknown(sb, proxy):
    """The create went through upstream; its answer is too large: the row is
    outcome_unknown (never success, never sent again)."""
    proxy.on("POST", "/contacts", gzip_bomb(4 * 2**20))
    with client_for(sb, proxy, max_response_bytes=2**20) as client:
        res = push(sb, client)
    assert res["status"].to_list() == ["failed"]
    assert res["error_code"].to_list() == ["outcome_unknown"]
    assert sb.contacts().height == 1 and proxy.count("POST", "/contacts") == 1


def test_a_trickled_body_ends_by_the_attempt_deadline(sb, proxy):
    """A body a byte every 50 ms never trips httpx's read timeout (0.2 s); the attempt's
    deadline (connect + read = 0.4 s) ends it, and the write is outcome_unknown."""
    slow = trickle(envelope({"id": "CID_x"}), byte_delay=0.05)
    proxy.on("POST", "/contacts", lambda seen: slow)
    with client_for(sb, proxy, timeout=httpx.Timeout(0.2)) as client:
        started = time.monotonic()
        res = push(sb, client)
        took = time.monotonic() - started
    assert res["error_code"].to_list() == ["outcome_unknown"]
    assert took < 2.0
    assert proxy.count("POST", "/contacts") == 1  # never re-sent


def test_trickled_headers_end_a_read_by_its_deadline(sb, proxy):
    proxy.on("GET", "/directories", trickle(envelope({"elements": []}), head_delay=0.05))
    retry = RetryPolicy(max_attempts=2, backoff=0.0)
    with client_for(sb, proxy, timeout=httpx.Timeout(0.2), retry=retry) as client:
        started = time.monotonic()
        with pytest.raises(qxe.TransportError, match="did not answer in time"):
            client.directories()
        assert time.monotonic() - started < 2.0
    assert proxy.count("GET", "/directories") == 2  # a read is retried, within its attempts


# -- 2. Retry-After far in the future --------------------------------------------------


@pytest.mark.parametrize("value", ["99999999999", "1e400", "Fri, 01 Jan 2100 00:00:00 GMT"])
def test_an_absurd_retry_after_is_capped_in_the_transport_and_the_bucket(
    sb, proxy, fake_time, value
):
    """One 429 saying wait for years: the transport waits at most ``max_retry_after`` and so
    does the family's bucket, so the push ends and later requests are not held."""
    proxy.on(
        "POST", "/contacts", json_answer({}, 429, **{"Retry-After": value}), forward=False, times=1
    )
    retry = RetryPolicy(max_retry_after=2.0)
    client = client_for(sb, proxy, retry=retry, sleep=fake_time.sleep, clock=fake_time.clock)
    with client:
        res = push(sb, client, n=3)
        bucket = client.limiter.buckets["contacts"]
        assert bucket._paused_until <= fake_time.now + 2.0
    assert res["status"].to_list() == ["success"] * 3
    assert fake_time.sleeps and max(fake_time.sleeps) <= 2.0


def test_the_bucket_alone_pauses_no_longer_than_it_is_told_nor_forever_on_nan():
    bucket = qx.delivery._ratelimit.TokenBucket(10, clock=lambda: 0.0)  # type: ignore[attr-defined]
    bucket.on_rate_limited(float("nan"))
    assert bucket.reserve() == pytest.approx(1.0)


# -- 7. envelopes of the wrong shape ---------------------------------------------------


def test_an_error_envelope_of_wrong_types_fails_rows_with_what_it_said(sb, proxy):
    lie = {"meta": {"requestId": 7, "error": {"errorCode": ["E"], "errorMessage": {"a": 1}}}}
    proxy.on("POST", "/contacts", json_answer(lie, 400), forward=False)
    with client_for(sb, proxy) as client:
        res = push(sb, client, n=2)
    assert res["status"].to_list() == ["failed", "failed"]
    assert res["http_status"].to_list() == [400, 400]
    assert res["request_id"].to_list() == [None, None]
    assert all("400" in m for m in res["error_message"].to_list())


@pytest.mark.parametrize(
    "answer",
    [
        html(),
        Answer(200, b'{"results": {"importReportEntries": [{"sourceIndexId": '),
        envelope(["not", "an", "object"]),
        json_answer({"results": {"importReportEntries": "many"}}),
        json_answer({"results": {"importReportEntries": [1, 2]}}),
        json_answer({"results": {"importReportEntries": []}, "skipToken": {"t": 1}}),
    ],
)
def test_an_unreadable_import_report_page_is_an_error_not_a_raw_exception(sb, proxy, answer):
    proxy.on("GET", "/report", answer, forward=False)
    with client_for(sb, proxy) as client:
        page = client.aimport_report_page(sb.directory_id, "PGRS_x")
        with pytest.raises(qxe.ApiError, match="without an import report page") as caught:
            client.run(page)
    assert caught.value.error_code == "unreadable_answer"


def test_a_report_page_with_entries_and_a_token_is_read(sb, proxy):
    page = {"results": {"importReportEntries": [{"sourceIndexId": "0"}]}, "skipToken": "T2"}
    proxy.on("GET", "/report", json_answer(page), forward=False)
    with client_for(sb, proxy) as client:
        _, entries, token = client.run(client.aimport_report_page(sb.directory_id, "PGRS_x"))
    assert entries == [{"sourceIndexId": "0"}] and token == "T2"


def test_the_proxy_passes_answers_through_untouched_without_a_rule(sb, proxy):
    with client_for(sb, proxy) as client:
        res = push(sb, client, n=2)
        assert client.directories().height >= 1
    assert res["status"].to_list() == ["success", "success"]
    assert res["qualtrics_id"].str.starts_with("CID_").all()
    assert asyncio.iscoroutinefunction(HostileProxy._serve)


@pytest.mark.parametrize(
    "answer", [html(), envelope(["a"]), envelope({"elements": "x"}), envelope({"elements": [1]})]
)
def test_an_unreadable_list_page_is_an_error_not_a_raw_exception(sb, proxy, answer):
    proxy.on("GET", "/directories", answer, forward=False)
    client = client_for(sb, proxy)
    with client, pytest.raises(qxe.ApiError, match="without a page of") as caught:
        client.directories()
    assert caught.value.error_code == "unreadable_answer"


def test_list_elements_of_the_wrong_types_leave_their_cells_empty(sb, proxy):
    wrong = {"directoryId": {"a": 1}, "name": 5, "contactCount": "x", "isDefault": "yes"}
    page = {"elements": [wrong, {"directoryId": "POOL_ok", "contactCount": 2}], "nextPage": None}
    proxy.on("GET", "/directories", envelope(page), forward=False)
    with client_for(sb, proxy) as client:
        dirs = client.directories()
    assert dirs["directory_id"].to_list() == [None, "POOL_ok"]
    assert dirs["contact_count"].to_list() == [None, 2]
    assert dirs["is_default"].to_list() == [None, None]


def test_whoami_answered_with_a_list_is_an_unreadable_answer(sb, proxy):
    proxy.on("GET", "/whoami", envelope([["userName", "x"]]), forward=False)
    client = client_for(sb, proxy)
    with client, pytest.raises(qxe.ApiError, match="without who the token belongs to"):
        client.whoami()
