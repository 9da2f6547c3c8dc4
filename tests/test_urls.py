"""Where the token may go: workflow URL rules, origins, and redaction for display."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from qxframe import Client
from qxframe.delivery._config import check_base_url
from qxframe.delivery._urls import (
    is_allowed_workflow_url,
    is_loopback_host,
    is_private_channel,
    origin_of,
    redact,
)
from qxframe.exceptions import ConfigError

TRIGGER = "https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=abc"


@pytest.mark.parametrize(
    "url",
    [
        TRIGGER,
        "https://qualtrics.com/hook",
        "https://cornell.ca1.qualtrics.com/inbound-event/v1/events/JSON/triggers?contextId=OC_1",
        "HTTPS://IAD1.QUALTRICS.COM/x",
        "https://testdc.qualtrics.com/workflow-trigger",  # Segment's test URL
    ],
)
def test_qualtrics_hosts_are_allowed(url: str) -> None:
    assert is_allowed_workflow_url(url, None)


@pytest.mark.parametrize(
    "url",
    [
        "https://evilqualtrics.com/hook",
        "https://qualtrics.com.evil.example/hook",
        "user@evil.example/?.qualtrics.com",
        "https://x.qualtrics.com@evil.example/",
        "https://user:pw@iad1.qualtrics.com/hook",  # userinfo is refused outright
        "http://iad1.qualtrics.com/hook",  # not https
        "ftp://iad1.qualtrics.com/hook",
        "https://evil.example/?next=https://iad1.qualtrics.com",
        "https://evil.example#.qualtrics.com",
        "https://evil.example\\@iad1.qualtrics.com/",
        "https://evil%2eexample.qualtrics.com/",
        "https://iad1.qualtrics.com./hook",
        "https://iad1.qualtrics.com:99999/hook",
        " https://iad1.qualtrics.com/hook",
        "https://iad1.qualtrics.com/ho\nok",
        "//iad1.qualtrics.com/hook",
        "iad1.qualtrics.com/hook",
        "",
    ],
)
def test_hostile_or_foreign_urls_are_refused(url: str) -> None:
    assert not is_allowed_workflow_url(url, None)


def test_non_strings_are_refused() -> None:
    assert not is_allowed_workflow_url(None, None)  # type: ignore[arg-type]
    assert not is_allowed_workflow_url(42, None)  # type: ignore[arg-type]


def test_the_clients_own_origin_is_allowed_exactly() -> None:
    origin = "http://127.0.0.1:8765"
    assert is_allowed_workflow_url("http://127.0.0.1:8765/inbound-event/x?urlTokenId=1", origin)
    assert not is_allowed_workflow_url("http://127.0.0.1:8766/inbound-event/x", origin)
    assert not is_allowed_workflow_url("https://127.0.0.1:8765/inbound-event/x", origin)
    assert not is_allowed_workflow_url("http://localhost:8765/inbound-event/x", origin)
    assert not is_allowed_workflow_url("http://u@127.0.0.1:8765/x", origin)
    assert not is_allowed_workflow_url("http://127.0.0.1:8765/x", None)


def test_default_ports_count_as_the_same_origin() -> None:
    assert is_allowed_workflow_url("http://localhost/x", "http://localhost:80")
    assert is_allowed_workflow_url("https://example.test:443/x", "https://example.test")


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:8765", "http://127.8.9.10", "http://[::1]:9000", "http://LocalHost:1"],
)
def test_plain_http_is_allowed_on_loopback_hosts(origin: str) -> None:
    assert is_loopback_host(urlsplit(origin).hostname or "")
    assert is_private_channel(origin + "/hook")
    assert is_allowed_workflow_url(origin + "/inbound-event/x", origin)
    assert check_base_url(origin) == origin_of(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "http://iad1.qualtrics.com",
        "http://10.0.0.1:8765",
        "http://128.0.0.1",
        "http://[::2]",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "http://0.0.0.0:8765",
    ],
)
def test_plain_http_elsewhere_is_refused_as_base_url_and_as_workflow_origin(origin: str) -> None:
    assert not is_private_channel(origin + "/hook")
    # even when a caller hands the origin over as "the client's own", no token goes there
    assert not is_allowed_workflow_url(origin + "/inbound-event/x", origin)
    with pytest.raises(ConfigError, match=r"plain http:// .*127\.0\.0\.1, ::1 or localhost"):
        check_base_url(origin)


def test_an_http_base_url_off_loopback_fails_before_anything_is_sent() -> None:
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    with pytest.raises(ConfigError, match="unencrypted") as info:
        Client(api_token="t" * 40, base_url="http://iad1.qualtrics.com", transport=transport)
    assert "t" * 40 not in str(info.value) and sent == []


def test_origin_of() -> None:
    assert origin_of("HTTP://127.0.0.1:8765/API/v3/") == "http://127.0.0.1:8765"
    assert origin_of("https://iad1.qualtrics.com:443/API") == "https://iad1.qualtrics.com"
    assert origin_of("http://[::1]:9000/x") == "http://[::1]:9000"
    with pytest.raises(ConfigError, match="absolute URL"):
        origin_of("not a url")
    with pytest.raises(ConfigError):
        origin_of("https://user@iad1.qualtrics.com/")


def test_redact_hides_token_like_parameters_and_passwords() -> None:
    assert redact(TRIGGER) == TRIGGER.replace("urlTokenId=abc", "urlTokenId=***")
    shown = redact("https://u:secret@h.example/p?api_key=k&x=1&access_token=t")
    assert "secret" not in shown and "=k" not in shown and "=t" not in shown
    assert "x=1" in shown
    assert redact(None) == "None"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765\n", " https://iad1.qualtrics.com", "https://a\tb"]
)
def test_a_base_url_with_whitespace_says_so_visibly(url: str) -> None:
    with pytest.raises(ConfigError, match="whitespace or a control character") as info:
        check_base_url(url)
    assert repr(url) in str(info.value)
