"""Fixtures for the sandbox's own tests: a sandbox, and a sync caller to its ASGI app.

``api`` talks to ``sb.app`` in-process through ``httpx.ASGITransport`` (fast, no socket);
the loopback tests in ``test_loopback.py`` start a real server instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from qxframe._sandbox import Sandbox


class InProcess:
    """A synchronous httpx-like caller that drives ``sb.app`` on its own event loop."""

    def __init__(self, sb: Sandbox, token: str | None) -> None:
        self.sb = sb
        headers = {"X-API-TOKEN": token} if token is not None else {}
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sb.app), base_url=sb.base_url, headers=headers
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._runner.run(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def gather(self, requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
        """Send several requests concurrently; answers in the order given."""

        async def all_of() -> list[httpx.Response]:
            return await asyncio.gather(
                *(self._client.request(m, u, **kw) for m, u, kw in requests)
            )

        return self._runner.run(all_of())

    # Paths of the sandbox's endpoints, for brevity in tests.
    def contacts(self, directory_id: str | None = None) -> str:
        return f"/API/v3/directories/{directory_id or self.sb.directory_id}/contacts"

    def search(self, directory_id: str | None = None) -> str:
        return self.contacts(directory_id) + "/search"

    def transactions(self, directory_id: str | None = None) -> str:
        return f"/API/v3/directories/{directory_id or self.sb.directory_id}/transactions"

    def lists(self, directory_id: str | None = None) -> str:
        return f"/API/v3/directories/{directory_id or self.sb.directory_id}/mailinglists"

    def members(self, mailing_list_id: str | None = None) -> str:
        return f"{self.lists()}/{mailing_list_id or self.sb.mailing_list_id}/contacts"

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def member(self, body: dict[str, Any], mailing_list_id: str | None = None) -> tuple[str, str]:
        """Put a contact in a mailing list of ``directory_id`` the way a list create does
        (that endpoint is tested with the import jobs): ``(contactId, contactLookupId)``."""
        store, ml = self.sb._store, mailing_list_id or self.sb.mailing_list_id
        contact_id = store.upsert_contact(self.sb.directory_id, body, mailing_list_id=ml)
        return contact_id, store.state.contacts.by_id[contact_id].lists[ml].lookup_id

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.close()


@pytest.fixture
def make_api() -> Iterator[Callable[..., InProcess]]:
    """``make_api(token=..., **sandbox_knobs)``: a fresh in-process sandbox and caller.

    ``token`` defaults to the sandbox's own; pass ``None`` to send no token header.
    """
    made: list[InProcess] = []
    default = object()

    def make(token: Any = default, **knobs: Any) -> InProcess:
        sb = Sandbox(**knobs)
        caller = InProcess(sb, sb.api_token if token is default else token)
        made.append(caller)
        return caller

    yield make
    for caller in made:
        caller.close()


@pytest.fixture
def api(make_api: Callable[..., InProcess]) -> InProcess:
    """A default in-process sandbox (``api.sb``) and a caller holding its token."""
    return make_api()


def _result(response: httpx.Response, status: int = 200) -> Any:
    """The ``result`` of a success envelope, after checking status and ``meta``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["meta"]["httpStatus"].startswith(f"{status} - ")
    return body["result"]


def _error(response: httpx.Response, status: int) -> dict[str, str]:
    """The ``meta.error`` of an error envelope, after checking status and shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"meta"}
    assert body["meta"]["httpStatus"].startswith(f"{status} - ")
    assert body["meta"]["requestId"]
    error = body["meta"]["error"]
    assert error["errorMessage"] and error["errorCode"]
    return error


@pytest.fixture
def ok() -> Callable[..., Any]:
    """``ok(response, status=200)`` -> the envelope's ``result``."""
    return _result


@pytest.fixture
def err() -> Callable[..., dict[str, str]]:
    """``err(response, status)`` -> the envelope's ``meta.error``."""
    return _error
