"""Conformance: conventions and paths (docs/qualtrics-api.md §1, §2).

Each test's docstring names the section of docs/qualtrics-api.md whose fact it checks.
"""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
from starlette.applications import Starlette

from qxframe._sandbox import Sandbox
from qxframe._sandbox._app import ROUTE_MODULES, QualtricsPaths, SandboxApp
from qxframe._sandbox._credentials import Credentials
from qxframe._sandbox._faults import Faults
from qxframe._sandbox._store import Store
from qxframe._sandbox._wire import TopLevel, success

# Every endpoint module's routes, as (method, path template).
ROUTES = [(e.method, e.path) for module in ROUTE_MODULES for e in module.ROUTES]


@pytest.fixture
def ids(api, ok):
    """Real ids for every path parameter: a directory, list, contact, transaction, batch."""
    contact_id, lookup_id = api.member({"email": "ids@example.com"})
    tx = {
        "contactId": contact_id,
        "mailingListId": api.sb.mailing_list_id,
        "transactionDate": "2024-01-01 00:00:00",
        "data": {},
    }
    created = ok(api.post(api.transactions(), json={"k": tx}))["createdTransactions"]
    batches = f"/API/v3/directories/{api.sb.directory_id}/transactionbatches"
    batch = ok(api.post(batches, json={"transactionIds": []}))["id"]
    job = ok(api.post(api.members().replace("/contacts", "/transactioncontacts"),
                      json={"contacts": [{"extRef": "ids"}]}), 202)["id"]  # fmt: skip
    return {
        "dir": api.sb.directory_id,
        "ml": api.sb.mailing_list_id,
        "contact": contact_id,
        "lookup": lookup_id,
        "tx": created["k"]["id"],
        "batch": batch,
        "job": job,
    }


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids[m.group(1)], path)


def _variants(path: str) -> list[str]:
    """The path with a trailing slash, and with every separator doubled after /API/v3."""
    head, _, tail = path.partition("/API/v3/")
    doubled = f"{head}/API/v3/{tail.replace('/', '//')}" if tail else path.replace("/v1/", "//v1/")
    return [path + "/", doubled, doubled + "/"]


@pytest.mark.parametrize(("method", "template"), ROUTES)
def test_every_endpoint_takes_trailing_and_repeated_slashes(api, ids, method, template):
    """§2: a trailing slash and repeated slashes are accepted on every endpoint."""
    path = _fill(template, ids)
    if template.startswith("/inbound-event"):
        path += "/?urlTokenId=" + api.sb.workflow_url.split("=")[1]
    for variant in _variants(path.split("?")[0]):
        query = path.partition("?")[2]
        url = variant + (f"?{query}" if query else "")
        response = api.request(method, url, json={})
        text = response.text
        assert "No endpoint" not in text, f"{method} {url} was not matched: {text}"
        assert response.status_code not in (301, 302, 307, 308)


def test_the_request_log_keeps_the_path_as_sent_and_the_query(api, ok):
    """§2: the sandbox matches ``//`` and ``/`` endings; ``requests()`` shows what came."""
    ok(api.get("/API/v3//directories/", params={"pageSize": 2}))
    row = api.sb.requests().row(0, named=True)
    assert (row["path"], row["query"], row["family"]) == (
        "/API/v3//directories/",
        "pageSize=2",
        "reads",
    )


def test_a_contact_lookup_id_is_accepted_where_a_contact_id_is(api, ok):
    """§2: where a path takes a contact id, the contact's contactLookupId works too."""
    contact_id, lookup_id = api.member({"email": "look@example.com"})
    by_lookup = ok(api.get(f"{api.contacts()}/{lookup_id}"))
    assert by_lookup["contactId"] == contact_id
    member = ok(api.get(f"{api.members()}/{lookup_id}"))
    assert member["contactId"] == contact_id and member["contactLookupId"] == lookup_id


@pytest.mark.parametrize(
    "path", ["/API/v3/mailinglists", "/API/v3/mailinglists/", "/API/v3/mailinglists/CG_x/contacts"]
)
def test_the_retired_research_core_mailing_lists_are_404_saying_so(api, err, path):
    """§2: /API/v3/mailinglists was retired on 2026-06-30; the answer says so."""
    message = err(api.get(path), 404)["errorMessage"]
    assert "retired" in message and "2026-06-30" in message
    assert "/API/v3/directories/{directoryId}/mailinglists" in message


def test_the_token_has_the_real_shape():
    """§1: API tokens are 40 characters."""
    token = Sandbox().api_token
    assert len(token) == 40 and token.isascii() and token.replace("_", "").isalnum()


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (503, "503 - Temporary Internal Server Error"),
        (500, "500 - Internal Server Error"),
        (429, "429 - Too Many Requests"),
        (404, "404 - Not Found"),
        (400, "400 - Bad Request"),
    ],
)
def test_http_status_texts_are_qualtrics_own(api, status, text):
    """§1: ``meta.httpStatus`` is the code and Qualtrics' text (503 is not "Service
    Unavailable")."""
    api.sb.fail_next("reads", status=status)
    body = api.get("/API/v3/whoami").json()
    assert body["meta"]["httpStatus"] == text
    assert set(body) == {"meta"} and body["meta"]["error"]["errorMessage"]


def test_success_and_error_envelopes(api, ok, err):
    """§1: success is ``{result, meta}``; an error is ``{meta: {…, error}}`` only."""
    body = api.get("/API/v3/whoami").json()
    assert set(body) == {"result", "meta"} and body["meta"]["httpStatus"] == "200 - OK"
    assert re.fullmatch(r"[0-9a-f-]{36}", body["meta"]["requestId"])
    error = err(api.get("/API/v3/directories/POOL_nope/contacts"), 404)
    assert set(error) == {"errorMessage", "errorCode"}


def test_update_and_delete_answer_meta_only(api):
    """§1, §5: some writes answer ``meta`` with no ``result``."""
    contact_id = api.post(api.contacts(), json={"email": "m@example.com"}).json()["result"]["id"]
    for response in (
        api.put(f"{api.contacts()}/{contact_id}", json={"firstName": "M"}),
        api.delete(f"{api.contacts()}/{contact_id}"),
    ):
        assert response.status_code == 200 and set(response.json()) == {"meta"}


def test_an_answer_can_sit_at_the_envelope_top_level():
    """§9: the import report answers ``results`` (plural) beside ``meta``, not ``result``."""
    body = json.loads(success(200, TopLevel(results={"importReportEntries": []})).body)
    assert set(body) == {"results", "meta"} and body["meta"]["httpStatus"] == "200 - OK"


def test_a_request_and_body_handler_is_served_through_the_same_pipeline():
    """§1: a route made with ``SandboxApp.route`` checks the token and logs like the rest."""
    store = Store()
    credentials = Credentials("t" * 40, client_id="client", client_secret="secret")
    app = SandboxApp(store, Faults(), credentials=credentials)
    echo = app.route("/API/v3/echo", "reads", lambda request, body: (200, {"n": len(body)}), "POST")
    served = QualtricsPaths(Starlette(routes=[echo]))

    async def call(token: str) -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=served), base_url="http://sandbox.test"
        ) as client:
            return await client.post(
                "/API/v3/echo/", content=b"abc", headers={"X-API-TOKEN": token}
            )

    assert asyncio.run(call("t" * 40)).json()["result"] == {"n": 3}
    assert asyncio.run(call("wrong")).status_code == 401
    assert [r["status"] for r in store.state.requests] == [200, 401]
