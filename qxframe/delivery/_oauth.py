"""OAuth client credentials: a bearer token fetched when first needed, shared, renewed.

Qualtrics' recommended way in (docs/architecture.md, "Credentials"): ``POST /oauth2/token``
with HTTP Basic ``client_id:client_secret`` and the form ``grant_type=client_credentials``
(+ ``scope``); the answer's ``access_token`` then goes as ``Authorization: Bearer …`` on
every v3 call. :class:`TokenSource` holds the one grant a client has (the token, when it
runs out, the scopes granted) for every connection pool and event loop of the client;
:class:`BearerAuth` is the httpx auth flow of one request: it asks the source for a token,
and on a 401 (nothing was processed, so the request is safe to repeat) has it renewed
once and sends the request again.

A grant is renewed before it runs out (:data:`RENEW_MARGIN` of its lifetime, at most a
minute, early) and after a 401. Renewal is serialised per event loop, and a request whose
token was already replaced by another's renewal uses the new one: one renewal serves
every request in flight. A request that waited for its rate limit after its token was
set goes out with the newest token (``qx_credentials``, called by the delivery transport
just before the wire). The token request itself is sent by the client
(:meth:`qxframe.delivery._client.Client`), through the same delivery rules as any read.

The client secret and the bearer token are :class:`~qxframe.delivery._config.Secret`\\ s:
never in a repr, a log line or an error message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from qxframe.delivery._config import Secret
from qxframe.delivery._ratelimit import Clock
from qxframe.exceptions import ApiError, AuthError, ServerError

TOKEN_PATH = "/oauth2/token"
RENEW_MARGIN = 0.1  # share of a token's lifetime left when it is renewed
MAX_MARGIN = 300.0  # seconds: never renew earlier than this before expiry

#: What a push needs, by what it does (docs/architecture.md, "Credentials").
SCOPES: dict[str, str] = {
    "contacts": "manage:directory_contacts",
    "lists": "manage:mailing_list_contacts",
    "transactions": "manage:contact_transactions",
    "directories": "read:directories",
    "mailing_lists": "read:mailing_lists",
    "search": "read:directory_contacts",
}


@dataclass(frozen=True)
class OAuthClient:
    """An OAuth client's credentials and the scopes to ask for (``None``: the client's own)."""

    client_id: str
    client_secret: Secret
    scopes: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return "OAuthClient(client_id='…', client_secret=Secret('********'))"

    def token_request_parts(self) -> tuple[dict[str, str], bytes]:
        """Headers and form body of the token request."""
        pair = f"{self.client_id}:{self.client_secret.reveal()}".encode()
        headers = {
            "Authorization": "Basic " + base64.b64encode(pair).decode("ascii"),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        form = {"grant_type": "client_credentials"}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        return headers, urlencode(form).encode()


@dataclass(frozen=True)
class Grant:
    """One bearer token: the token, when it is renewed (clock time), the scopes it holds."""

    token: Secret
    renew_at: float
    scopes: frozenset[str]
    serial: int  # 1 for the first grant of a client, then one more per renewal


Fetch = Callable[[], Awaitable[httpx.Response]]


class TokenSource:
    """The client's one grant, fetched on first need and renewed as it runs out."""

    def __init__(self, credentials: OAuthClient, *, clock: Clock) -> None:
        self.credentials = credentials
        self._clock = clock
        self._grant: Grant | None = None
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.fetched = 0  # token requests answered with a token

    def __repr__(self) -> str:
        return f"TokenSource(fetched={self.fetched})"

    @property
    def current(self) -> Grant | None:
        """The newest grant, fresh or not (never fetches)."""
        return self._grant

    def sent(self, request: httpx.Request) -> Grant | None:
        """The grant whose token ``request`` carries (None if not the newest)."""
        current = self._grant
        header = request.headers.get("Authorization", "")
        if current is not None and header == "Bearer " + current.token.reveal():
            return current
        return None

    async def grant(self, fetch: Fetch) -> Grant:
        """The current grant, fetched or renewed first when it is missing or running out."""
        current = self._grant
        if current is not None and self._clock() < current.renew_at:
            return current
        return await self._replace(current, fetch)

    async def renew(self, stale: Grant, fetch: Fetch) -> Grant:
        """A grant other than ``stale`` (refused with a 401): renewed once for everyone."""
        return await self._replace(stale, fetch)

    async def _replace(self, stale: Grant | None, fetch: Fetch) -> Grant:
        async with self._lock():
            current = self._grant
            fresh = current is not None and self._clock() < current.renew_at
            if current is not None and current is not stale and fresh:
                return current  # another request renewed it while this one waited
            response = await fetch()
            serial = (current.serial if current else 0) + 1
            self._grant = read_grant(response, self._clock(), serial)
            self.fetched += 1
            return self._grant

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock


def read_grant(response: httpx.Response, now: float, serial: int) -> Grant:
    """The grant in a token answer, or the error that says why there is none."""
    body = _json(response)
    token = body.get("access_token")
    if response.status_code != 200 or not isinstance(token, str) or not token:
        raise _token_error(response, body)
    lifetime = float(body.get("expires_in") or 3600)
    margin = min(MAX_MARGIN, lifetime * RENEW_MARGIN)
    scopes = frozenset(str(body.get("scope") or "").split())
    return Grant(Secret(token), now + lifetime - margin, scopes, serial)


def _token_error(response: httpx.Response, body: dict[str, Any]) -> ApiError:
    status = response.status_code
    code = str(body.get("error") or "") or None
    text = str(body.get("error_description") or body.get("error") or response.reason_phrase)
    label = f" ({code})" if code else ""
    if status in (400, 401, 403):
        return AuthError(
            f"Qualtrics refused the OAuth client{label}: {text} What to do: check client_id "
            "and client_secret (Account settings → Qualtrics IDs → OAuth clients) and the "
            "scopes the client is allowed.",
            http_status=status,
            error_code=code or "oauth_refused",
            error_message=text,
        )
    return ServerError(
        f"The OAuth token request answered {status}{label}: {text} What to do: try again later.",
        http_status=status,
        error_code=code or "oauth_unavailable",
        error_message=text,
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def missing_scopes(granted: Iterable[str], needed: Iterable[str]) -> list[str]:
    """The scopes of ``needed`` not in ``granted``, in ``needed``'s order, once each."""
    have = set(granted)
    return [scope for scope in dict.fromkeys(needed) if scope not in have]


class BearerAuth(httpx.Auth):
    """The auth flow of one v3 request: a bearer token, renewed once on a 401."""

    def __init__(self, source: TokenSource, fetch: Fetch) -> None:
        self._source = source
        self._fetch = fetch

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        grant = await self._source.grant(self._fetch)
        request.headers["Authorization"] = "Bearer " + grant.token.reveal()
        request.extensions["qx_credentials"] = self._newest
        response = yield request
        if response.status_code != 401:
            return
        spent = int(response.extensions.get("qx_attempts", 1))
        grant = await self._source.renew(self._source.sent(request) or grant, self._fetch)
        request.headers["Authorization"] = "Bearer " + grant.token.reveal()
        response = yield request
        response.extensions["qx_attempts"] = spent + int(response.extensions.get("qx_attempts", 1))

    def _newest(self, request: httpx.Request) -> None:
        """Just before the wire: the newest token, if another request renewed it since."""
        newest = self._source.current
        if newest is not None:
            request.headers["Authorization"] = "Bearer " + newest.token.reveal()

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        raise RuntimeError("qxframe sends every request from an event loop")
