"""OAuth client credentials (docs/architecture.md, "Credentials"), against the sandbox over a
real loopback socket: the token fetched once and shared, renewed before it runs out and once
on a 401 for every request in flight, and the client secret and the bearer token as secret
as the API token."""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx
import polars as pl
import pytest

import qxframe as qx
import qxframe.exceptions as qxe
from qxframe.delivery._client import Client
from qxframe.delivery._config import RetryPolicy


class Ticks:
    """A monotonic clock that moves ``step`` seconds each time the sandbox reads it (once per
    request it checks): time passes with the requests, and nobody waits."""

    def __init__(self, step: float, start: float = 1000.0) -> None:
        self.now = start
        self.step = step
        self._lock = threading.Lock()

    def tick(self) -> float:
        with self._lock:
            self.now += self.step
            return self.now

    def read(self) -> float:
        return self.now


def _texts(frame: pl.DataFrame) -> str:
    return frame.select(pl.all().cast(pl.String)).write_csv()


def _token_requests(sb: qx.Sandbox) -> int:
    return sb.requests().filter(pl.col("path") == "/oauth2/token").height


def test_an_oauth_client_fetches_one_token_and_sends_it_as_bearer(sb):
    client = sb.client(oauth=True)
    assert client.whoami()["userName"] == "sandbox-user"
    assert client.directories().height >= 2
    assert client.mailing_lists(sb.directory_id).height >= 1
    log = sb.requests()
    assert log["path"].to_list()[0] == "/oauth2/token"
    assert _token_requests(sb) == 1 and sb.credentials.tokens_issued == 1
    assert set(log["status"].to_list()) == {200}


def test_wrong_client_secret_raises_auth_error_without_the_secret(sb):
    wrong = "not-the-secret-" + sb.oauth_client_secret[:8]
    client = sb.client(oauth=True, client_secret=wrong)
    with pytest.raises(qxe.AuthError, match="invalid_client") as caught:
        client.whoami()
    assert wrong not in str(caught.value) and sb.oauth_client_secret not in str(caught.value)
    assert "client_id and client_secret" in str(caught.value)


def test_half_an_oauth_client_is_a_config_error():
    with pytest.raises(qxe.ConfigError, match="without client_secret"):
        Client(client_id="abc")
    with pytest.raises(qxe.ConfigError, match="without client_id"):
        Client(client_secret="abc")
    with pytest.raises(qxe.ConfigError, match="client_secret has a line break"):
        Client(client_id="abc", client_secret="ab\ncd")
    with pytest.raises(qxe.ConfigError, match="api_token is empty"):
        Client()


def test_from_env_reads_the_oauth_client():
    env = {
        "QUALTRICS_CLIENT_ID": "cid",
        "QUALTRICS_CLIENT_SECRET": "s3cr3t-value",
        "QUALTRICS_DATACENTER": "fra1",
    }
    client = Client.from_env(env)
    assert client.uses_oauth and not client.can_trigger_workflows
    assert client.base_url == "https://fra1.qualtrics.com"
    both = Client.from_env({**env, "QUALTRICS_API_TOKEN": "t" * 40})
    assert both.uses_oauth and both.can_trigger_workflows
    with pytest.raises(qxe.ConfigError, match="without client_secret"):
        Client.from_env({"QUALTRICS_CLIENT_ID": "cid"})
    with pytest.raises(qxe.ConfigError, match="QUALTRICS_CLIENT_ID"):
        Client.from_env({})


def test_the_token_is_renewed_before_it_runs_out(fake_time):
    """With the sandbox's and the client's clock the same, the client renews a token in its
    last tenth of life (6 s of 60), before the sandbox would refuse it: no request is refused,
    and calls 5 s apart over 290 s take tokens at 0, 55, 110, 165, 220 and 275 s (renewing
    only at expiry would take 5)."""
    with qx.sandbox(oauth_token_ttl=60, clock=fake_time.clock) as sb:
        client = sb.client(oauth=True, clock=fake_time.clock, sleep=fake_time.sleep)
        for _ in range(59):
            client.whoami()
            fake_time.now += 5
        log = sb.requests()
    assert 401 not in log["status"].to_list()
    assert _token_requests(sb) == 6


def test_one_renewal_on_401_serves_every_request_in_flight():
    """The sandbox's token runs out while the client still thinks it fresh (their clocks
    differ): every request in flight is refused once, one renewal serves them all, and each
    is sent again exactly once."""
    sandbox_time = Ticks(step=0.0)
    with qx.sandbox(oauth_token_ttl=60, clock=sandbox_time.read) as sb:
        client = sb.client(oauth=True)  # the client's own clock does not move in this test
        client.whoami()
        sandbox_time.now += 61  # the sandbox's token has run out

        async def many() -> list[dict]:
            return await asyncio.gather(*(client.awhoami() for _ in range(12)))

        answers = client.run(many())
        log = sb.requests()
    assert all(a["userName"] == "sandbox-user" for a in answers)
    whoamis = log.filter(pl.col("path") == "/API/v3/whoami")
    refused = whoamis.filter(pl.col("status") == 401).height
    assert refused == 12 and whoamis.filter(pl.col("status") == 200).height == 13
    assert _token_requests(sb) == 2 and sb.credentials.tokens_issued == 2


def test_a_push_that_outlives_its_token_sends_every_row_once():
    """Transactions for new people (search, create, transactions) against a sandbox whose
    tokens live 40 requests (8 in flight at most): every row succeeds, the token is renewed
    on the 401s, nothing is created twice."""
    ticks = Ticks(step=1.0)
    frame = pl.DataFrame(
        {
            "ext_ref": [f"p{i % 40}" for i in range(120)],
            "email": [f"p{i % 40}@example.com" for i in range(120)],
            "transaction_data": [f'{{"n": {i}}}' for i in range(120)],
        }
    )
    with qx.sandbox(oauth_token_ttl=40, clock=ticks.tick) as sb:
        client = sb.client(oauth=True)
        res = qx.upsert_transactions(
            frame,
            client=client,
            directory_id=sb.directory_id,
            mailing_list_id=sb.mailing_list_id,
            batch_size=10,
            concurrency=8,
        )
        log, contacts, transactions = sb.requests(), sb.contacts(), sb.transactions()
    assert res["status"].to_list() == ["success"] * 120
    assert sb.credentials.tokens_issued >= 3  # the first token, then renewals
    assert log.filter(pl.col("status") == 401).height >= sb.credentials.tokens_issued - 1
    assert contacts.height == 40 and contacts["ext_ref"].n_unique() == 40
    assert transactions.height == 120
    assert sorted(transactions["transaction_id"].to_list()) == sorted(res["qualtrics_id"].to_list())


def test_secrets_stay_out_of_repr_logs_results_and_errors(sb, caplog):
    client = sb.client(oauth=True, retry=RetryPolicy(max_attempts=1))
    secret = sb.oauth_client_secret
    with caplog.at_level(logging.DEBUG):
        res = qx.upsert_contacts(
            pl.DataFrame({"email": ["a@example.com", "b@example.com"], "ext_ref": ["a", None]}),
            client=client,
            directory_id=sb.directory_id,
        )
    bearer = client._oauth._grant.token.reveal()
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert any(r.name == "httpx" for r in caplog.records)  # httpx's own log was captured
    for text in (repr(client), str(client), repr(vars(client)), logged, _texts(res)):
        assert secret not in text and bearer not in text
    assert res["status"].to_list() == ["success", "success"]


def test_a_transport_error_does_not_carry_the_bearer_token_in_its_chain(fake_time):
    """The httpx error behind a TransportError holds the request; its secret headers are
    hidden before it becomes the ``__cause__``."""
    secret = "the-client-secret-123"

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            body = {"access_token": "BEARER-xyz-789", "expires_in": 3600, "scope": "a b"}
            return httpx.Response(200, json=body)
        raise httpx.ReadError("connection reset", request=request)

    client = Client(
        client_id="cid",
        client_secret=secret,
        base_url="http://127.0.0.1:9",
        transport=httpx.MockTransport(handler),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )
    with pytest.raises(qxe.TransportError) as caught:
        client.whoami()
    error: BaseException | None = caught.value
    seen = 0
    while error is not None:
        seen += 1
        texts = [str(error), repr(error)]
        request = getattr(error, "_request", None)
        if request is not None:
            texts += [repr(request.headers), str(dict(request.headers))]
        for text in texts:
            assert "BEARER-xyz-789" not in text and secret not in text
        error = error.__cause__ or error.__context__
    assert seen >= 2  # the qxframe error and the httpx one behind it
