"""The delivery transport: retries, outcome-unknown writes, error translation — recorded sleeps."""

from __future__ import annotations

import asyncio
import logging

import httpx
import polars as pl
import pytest

import qxframe as qx
from qxframe import Client
from qxframe.delivery._config import RetryPolicy
from qxframe.delivery._envelope import read_reply
from qxframe.delivery._ratelimit import RateLimiter
from qxframe.delivery._transport import DeliveryTransport, Route
from qxframe.exceptions import (
    ApiError,
    AuthError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ServerError,
    TransportError,
)

WRITE = Route("transactions", repeatable=False)
READ = Route("reads", repeatable=True)


def envelope(status: int, code: str = "E_1", message: str = "nope") -> dict:
    return {
        "meta": {
            "httpStatus": f"{status} - X",
            "requestId": f"req-{status}",
            "error": {"errorCode": code, "errorMessage": message},
        }
    }


def ok(result=None) -> httpx.Response:
    return httpx.Response(200, json={"result": result or {}, "meta": {"requestId": "req-ok"}})


class Script:
    """A MockTransport handler answering from a list of responses or exceptions."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def send(script: Script, fake_time, route=WRITE, policy=None):
    limiter = RateLimiter(
        {"transactions": 6000, "reads": 6000}, clock=fake_time.clock, sleep=fake_time.sleep
    )
    transport = DeliveryTransport(
        httpx.MockTransport(script),
        limiter=limiter,
        policy=policy or RetryPolicy(max_attempts=4),
        sleep=fake_time.sleep,
        wall_clock=lambda: 0.0,
    )

    async def go():
        async with httpx.AsyncClient(transport=transport) as client:
            request = client.build_request(
                "POST", "https://iad1.qualtrics.com/x", json={}, extensions={"qx_route": route}
            )
            return read_reply(await client.send(request))

    return asyncio.run(go())


def test_429_then_success_honours_retry_after(fake_time):
    script = Script(httpx.Response(429, headers={"Retry-After": "3"}, json=envelope(429)), ok())
    reply = send(script, fake_time)
    assert reply.attempts == 2 and reply.request_id == "req-ok"
    assert 3.0 in fake_time.sleeps


def test_503_retried_even_for_a_transaction(fake_time):
    script = Script(httpx.Response(503, json=envelope(503)), httpx.Response(503), ok())
    assert send(script, fake_time).attempts == 3


def test_refused_connection_is_retried(fake_time):
    script = Script(httpx.ConnectError("refused"), ok())
    assert send(script, fake_time).attempts == 2


def test_500_on_a_write_is_not_resent(fake_time):
    script = Script(httpx.Response(500, json=envelope(500)), ok())
    with pytest.raises(OutcomeUnknownError) as info:
        send(script, fake_time)
    assert script.calls == 1
    assert info.value.error_code == "outcome_unknown" and info.value.http_status == 500
    assert info.value.request_id == "req-500" and info.value.attempts == 1


def test_500_on_a_read_is_retried(fake_time):
    script = Script(httpx.Response(500), httpx.Response(504), ok())
    assert send(script, fake_time, route=READ).attempts == 3


def test_timeout_after_sending_a_write_is_outcome_unknown(fake_time):
    script = Script(httpx.ReadTimeout("slow"), ok())
    with pytest.raises(OutcomeUnknownError):
        send(script, fake_time)
    assert script.calls == 1


def test_timeout_on_a_read_is_retried(fake_time):
    script = Script(httpx.ReadTimeout("slow"), ok())
    assert send(script, fake_time, route=READ).attempts == 2


def test_retries_are_bounded_and_end_in_a_typed_error(fake_time):
    script = Script(*[httpx.Response(429, json=envelope(429, "RL", "slow down"))] * 4)
    with pytest.raises(RateLimitedError) as info:
        send(script, fake_time)
    assert script.calls == 4 and info.value.attempts == 4
    script = Script(*[httpx.Response(503, json=envelope(503))] * 4)
    with pytest.raises(ServerError):
        send(script, fake_time)


def test_connection_errors_exhausted_become_transport_error(fake_time):
    script = Script(*[httpx.ConnectError("refused")] * 4)
    with pytest.raises(TransportError) as info:
        send(script, fake_time)
    assert "What" not in str(info.value) and "check the network" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    ("code", "error"), [(401, AuthError), (403, AuthError), (404, NotFoundError)]
)
def test_error_envelopes_become_typed_errors(fake_time, code, error):
    script = Script(httpx.Response(code, json=envelope(code, "AUTH_9", "token rejected")))
    with pytest.raises(error) as info:
        send(script, fake_time)
    assert info.value.http_status == code and info.value.error_code == "AUTH_9"
    assert info.value.error_message == "token rejected"
    assert str(info.value).endswith(".") and "What to do" in str(info.value)
    assert script.calls == 1


def test_backoff_without_retry_after_grows(fake_time):
    script = Script(httpx.Response(503), httpx.Response(503), httpx.Response(503), ok())
    send(script, fake_time, policy=RetryPolicy(max_attempts=4, backoff=1.0))
    backoffs = [s for s in fake_time.sleeps if s >= 0.5]
    assert len(backoffs) == 3
    assert 0.5 <= backoffs[0] <= 1 and 1 <= backoffs[1] <= 2 and 2 <= backoffs[2] <= 4


# -- redirects, message punctuation, logs --------------------------------------------------


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("https://evil.example:8443/steal?urlTokenId=abc", "https://evil.example:8443"),
        ("/API/v3/elsewhere", "https://iad1.qualtrics.com"),  # relative: the request's origin
        ("HTTP://Other.Example/x", "http://other.example"),
    ],
)
def test_a_redirect_is_never_followed_and_names_the_locations_origin(fake_time, location, shown):
    script = Script(httpx.Response(307, headers={"Location": location}), ok())
    with pytest.raises(ApiError) as info:
        send(script, fake_time, route=READ)
    assert script.calls == 1  # not followed, not retried
    error = info.value
    assert error.error_code == "redirect" and error.http_status == 307
    assert f"a redirect to {shown};" in str(error) and "never follows redirects" in str(error)
    assert "check the request" not in str(error) and "abc" not in str(error)
    assert str(error).endswith(".") and "What to do" in str(error)


def test_a_redirect_without_location_says_so(fake_time):
    with pytest.raises(ApiError, match="a redirect to no Location given"):
        send(Script(httpx.Response(302)), fake_time)


def test_a_pushed_row_answered_with_a_redirect_fails_naming_the_origin():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(301, headers={"Location": "https://evil.example/API/v3/x"})

    client = Client(
        api_token="t" * 40, base_url="http://127.0.0.1:9", transport=httpx.MockTransport(handler)
    )
    with client:
        res = qx.upsert_contacts(
            pl.DataFrame({"email": ["a@example.com"]}),
            client=client,
            directory_id="POOL_1",
            progress=False,
        )
    assert res["status"].to_list() == ["failed"] and res["http_status"].to_list() == [301]
    assert res["error_code"].to_list() == ["redirect"]
    assert "https://evil.example" in res["error_message"][0]
    assert all(url.startswith("http://127.0.0.1:9/") for url in seen)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Invalid or missing API token (X-API-TOKEN header).", "(X-API-TOKEN header). What"),
        ("Invalid token...", "Invalid token. What"),
        ("Who are you?", "Who are you? What"),
        ("no stop", "no stop. What"),
    ],
)
def test_error_text_ends_in_one_full_stop_before_what_to_do(fake_time, text, shown):
    with pytest.raises(AuthError) as info:
        send(Script(httpx.Response(401, json=envelope(401, "AUTH", text))), fake_time)
    assert ".." not in str(info.value) and "?." not in str(info.value)
    assert shown in str(info.value)
    assert info.value.error_message == text


def test_url_tokens_are_redacted_in_httpx_log_lines(fake_time, caplog):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"result": {}, "meta": {"requestId": "r"}})

    url = "http://127.0.0.1:9/inbound-event/v1/events/json/triggers?urlTokenId=SECRET-42&x=1"
    client = Client(
        api_token="t" * 40, base_url="http://127.0.0.1:9", transport=httpx.MockTransport(handler)
    )
    with caplog.at_level(logging.DEBUG), client:
        res = qx.trigger_workflow(
            pl.DataFrame({"n": [1]}), client=client, workflow_url=url, progress=False
        )
    assert res["status"].to_list() == ["success"]
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("httpx")]
    assert any("urlTokenId=***" in line and "x=1" in line for line in lines), lines
    assert not any(
        "SECRET-42" in r.getMessage() or "t" * 40 in r.getMessage() for r in caplog.records
    )


def test_a_request_that_cannot_be_written_fails_at_once_as_not_sent(fake_time):
    # h11 refuses to write an invalid header: nothing reached the server, so the row is not
    # outcome_unknown, and sending it again would fail the same way
    script = Script(httpx.LocalProtocolError("Illegal header value"), ok())
    with pytest.raises(TransportError, match="could not be written") as info:
        send(script, fake_time)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert script.calls == 1 and fake_time.sleeps == []


def test_an_unwritable_request_is_translated_as_not_sent():
    from qxframe.delivery._transport import translate_transport_error

    error, sent = translate_transport_error(httpx.LocalProtocolError("Illegal header"), 1)
    assert sent is False and "it was not sent" in error.message
