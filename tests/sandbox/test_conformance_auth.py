"""Conformance: credentials (docs/qualtrics-api.md §1 "Authentication", §10 "Authentication").

The token endpoint as Qualtrics documents it (HTTP Basic ``client_id:client_secret``, form
``grant_type=client_credentials`` and ``scope``), bearer tokens on v3 routes with the scope
each route needs, never on JSON events, which take ``X-API-TOKEN`` or Qualtrics' modified
Basic auth ``base64(userName:apiToken)``.
"""

from __future__ import annotations

import base64

import pytest


def basic(user: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bare(make_api, clock):
    """A sandbox whose caller sends no API token; tokens live 60 s on ``clock``."""
    return make_api(token=None, oauth_token_ttl=60, clock=clock)


def token_of(api, scope: str | None = None, **form: str) -> dict:
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {}), **form}
    response = api.post(
        "/oauth2/token",
        data=data,
        headers=basic(api.sb.oauth_client_id, api.sb.oauth_client_secret),
    )
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_the_token_endpoint_answers_oauth_json(bare):
    """§1: ``POST /oauth2/token`` with Basic client credentials and the form."""
    answer = token_of(bare)
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 60
    assert "manage:directory_contacts" in answer["scope"].split()
    assert bare.get("/API/v3/whoami", headers=bearer(answer)).status_code == 200


def test_the_token_endpoint_refuses_a_wrong_secret_grant_or_scope(bare):
    """§1: OAuth's own errors: ``invalid_client`` (401), ``unsupported_grant_type`` and
    ``invalid_scope`` (400)."""
    sb = bare.sb
    form = {"grant_type": "client_credentials"}
    wrong = bare.post("/oauth2/token", data=form, headers=basic(sb.oauth_client_id, "nope"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    grant = bare.post(
        "/oauth2/token",
        data={"grant_type": "password"},
        headers=basic(sb.oauth_client_id, sb.oauth_client_secret),
    )
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    scope = bare.post(
        "/oauth2/token",
        data={**form, "scope": "manage:everything"},
        headers=basic(sb.oauth_client_id, sb.oauth_client_secret),
    )
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"


def test_a_token_holds_the_scopes_asked_among_those_granted(make_api):
    """§1: the scopes granted are the knob's; a route needing another answers 403."""
    api = make_api(token=None, oauth_scopes=["read:directories", "manage:directory_contacts"])
    answer = token_of(api, scope="read:directories manage:contact_transactions")
    assert answer["scope"] == "read:directories"
    headers = bearer(answer)
    assert api.get("/API/v3/directories", headers=headers).status_code == 200
    refused = api.post(api.contacts(), json={"email": "a@example.com"}, headers=headers)
    assert refused.status_code == 403
    assert "manage:directory_contacts" in refused.json()["meta"]["error"]["errorMessage"]


def test_a_bearer_token_runs_out_after_its_ttl(bare, clock, err):
    """§1: a token lives ``expires_in`` seconds; after that every call answers 401."""
    headers = bearer(token_of(bare))
    clock.now += 59
    assert bare.get("/API/v3/whoami", headers=headers).status_code == 200
    clock.now += 1
    err(bare.get("/API/v3/whoami", headers=headers), 401)
    err(bare.get("/API/v3/whoami", headers={"Authorization": "Bearer made-up"}), 401)


def test_json_events_refuse_bearer_and_take_the_modified_basic_auth(bare, err):
    """§10: JSON-event triggers take ``X-API-TOKEN`` or ``base64(userName:apiToken)``;
    OAuth is not supported there."""
    sb = bare.sb
    url = sb.workflow_url.removeprefix(sb.base_url)
    user = bare.get("/API/v3/whoami", headers={"X-API-TOKEN": sb.api_token}).json()
    user_name = user["result"]["userName"]
    refused = err(bare.post(url, json={"a": 1}, headers=bearer(token_of(bare))), 401)
    assert "OAuth" in refused["errorMessage"]
    err(bare.post(url, json={"a": 2}, headers=basic(user_name, "wrong-token")), 401)
    err(bare.post(url, json={"a": 3}, headers=basic("someone-else", sb.api_token)), 401)
    assert bare.post(url, json={"a": 4}, headers=basic(user_name, sb.api_token)).status_code == 202
    assert bare.post(url, json={"a": 5}, headers={"X-API-TOKEN": sb.api_token}).status_code == 202
    assert sb.workflow_events()["payload"].to_list() == ['{"a":4}', '{"a":5}']


def test_basic_auth_is_not_taken_on_v3_routes(bare, err):
    """§1: the modified Basic auth is a JSON-event form only; v3 routes refuse it."""
    sb = bare.sb
    err(bare.get("/API/v3/whoami", headers=basic("sandbox-user", sb.api_token)), 401)
