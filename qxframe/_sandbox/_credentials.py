"""The sandbox's credentials: its API token, its OAuth client and the bearer tokens it issues.

Qualtrics takes three kinds of credentials (docs/qualtrics-api.md §1): ``X-API-TOKEN`` on
every route; an OAuth bearer token (``Authorization: Bearer …``, fetched from
``POST /oauth2/token`` with HTTP Basic ``client_id:client_secret`` and the form
``grant_type=client_credentials`` (+ ``scope``)) on the v3 routes only, each route wanting
a scope; and, on JSON-event triggers only, its modified Basic auth
``base64(userName:apiToken)``. JSON-event triggers never take a bearer token.

:class:`Credentials` issues tokens (:meth:`~Credentials.issue`, the token endpoint's
answer) and judges a request's headers (:meth:`~Credentials.refusal`: ``None`` when the
request may go on, else the status and message to answer). Tokens live ``token_ttl``
seconds on the injected clock and carry the scopes granted: the ones asked for, among
the ones the sandbox's client holds (all of :data:`ALL_SCOPES` unless told otherwise).
No HTTP here.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

USER_NAME = "sandbox-user"  # whoami's userName: the name in the modified Basic auth

#: The scopes the sandbox knows, one per kind of route (docs/qualtrics-api.md §1).
ALL_SCOPES = (
    "read:directories",
    "read:mailing_lists",
    "manage:mailing_lists",
    "read:directory_contacts",
    "manage:directory_contacts",
    "read:mailing_list_contacts",
    "manage:mailing_list_contacts",
    "manage:contact_transactions",
)

_DIRS = r"/API/v3/directories"
_ID = r"[^/]+"
#: (path pattern, scope for GET, scope for a write), first match wins.
_SCOPES: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(rf"{_DIRS}/{_ID}/contacts/search"), "read:directory_contacts", ""),
    (
        re.compile(rf"{_DIRS}/{_ID}/(transactions|transactionbatches|contacts/{_ID}/transactions)"),
        "manage:contact_transactions",
        "manage:contact_transactions",
    ),
    (
        re.compile(rf"{_DIRS}/{_ID}/(mailinglists/{_ID}/transactioncontacts|imports)"),
        "manage:directory_contacts",
        "manage:directory_contacts",
    ),
    (
        re.compile(rf"{_DIRS}/{_ID}/mailinglists/{_ID}/contacts"),
        "read:mailing_list_contacts",
        "manage:mailing_list_contacts",
    ),
    (re.compile(rf"{_DIRS}/{_ID}/mailinglists"), "read:mailing_lists", "manage:mailing_lists"),
    (
        re.compile(rf"{_DIRS}/{_ID}/contacts"),
        "read:directory_contacts",
        "manage:directory_contacts",
    ),
    (re.compile(rf"{_DIRS}(/{_ID})?$"), "read:directories", "read:directories"),
]


def scope_for(method: str, path: str) -> str | None:
    """The scope a bearer token needs for ``method path`` (``None``: any token will do).

    >>> scope_for("POST", "/API/v3/directories/POOL_1/contacts/search")
    'read:directory_contacts'
    """
    for pattern, read, write in _SCOPES:
        if pattern.match(path):
            return (read if method == "GET" else write) or read
    return None


@dataclass(frozen=True)
class _Issued:
    expires: float
    scopes: frozenset[str]


class Credentials:
    """The sandbox's API token, its OAuth client, and the bearer tokens it has issued."""

    def __init__(
        self,
        api_token: str,
        *,
        client_id: str,
        client_secret: str,
        token_ttl: float = 3600.0,
        scopes: Iterable[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if token_ttl <= 0:
            raise ValueError(f"oauth_token_ttl must be positive (seconds), not {token_ttl!r}.")
        self.api_token = api_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.scopes = frozenset(ALL_SCOPES if scopes is None else scopes)
        self.clock = clock
        self._lock = threading.Lock()
        self._issued: dict[str, _Issued] = {}
        self.tokens_issued = 0

    # -- POST /oauth2/token --------------------------------------------------------

    def issue(self, authorization: str, form: Mapping[str, str]) -> tuple[int, dict[str, object]]:
        """The token endpoint's answer (status, JSON body) for a Basic header and a form."""
        if not self._is_client(authorization):
            return 401, _oauth_error("invalid_client", "Unknown client id or wrong secret.")
        if form.get("grant_type") != "client_credentials":
            return 400, _oauth_error(
                "unsupported_grant_type", "Only grant_type=client_credentials is served."
            )
        asked = set((form.get("scope") or "").split()) or set(self.scopes)
        granted = frozenset(asked & self.scopes)
        if not granted:
            return 400, _oauth_error("invalid_scope", "None of the scopes asked is granted.")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._issued[token] = _Issued(self.clock() + self.token_ttl, granted)
            self.tokens_issued += 1
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.token_ttl) if self.token_ttl >= 1 else self.token_ttl,
            "scope": " ".join(sorted(granted)),
        }

    def _is_client(self, authorization: str) -> bool:
        pair = _basic_pair(authorization)
        return (
            pair is not None
            and _same(pair[0], self.client_id)
            and _same(pair[1], self.client_secret)
        )

    # -- every other request -----------------------------------------------------------

    def refusal(
        self, headers: Mapping[str, str], *, family: str | None, method: str, path: str
    ) -> tuple[int, str] | None:
        """``None`` when the request's credentials may use this route; else (status, why)."""
        token = headers.get("x-api-token", "")
        if token:
            if _same(token, self.api_token):
                return None
            return 401, "Invalid API token (X-API-TOKEN header)."
        authorization = headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        if family == "workflows":
            return self._event_refusal(scheme.lower(), authorization)
        if scheme.lower() == "bearer" and value:
            return self._bearer_refusal(value.strip(), method, path)
        return 401, "Invalid or missing API token (X-API-TOKEN header) or OAuth bearer token."

    def _event_refusal(self, scheme: str, authorization: str) -> tuple[int, str] | None:
        if scheme == "bearer":
            return 401, (
                "JSON-event triggers do not accept OAuth bearer tokens; send X-API-TOKEN or "
                "Basic base64(userName:apiToken)."
            )
        pair = _basic_pair(authorization) if scheme == "basic" else None
        if pair is not None and _same(pair[0], USER_NAME) and _same(pair[1], self.api_token):
            return None
        return 401, "Invalid or missing API token (X-API-TOKEN header or Basic userName:token)."

    def _bearer_refusal(self, token: str, method: str, path: str) -> tuple[int, str] | None:
        with self._lock:
            issued = self._issued.get(token)
        if issued is None or issued.expires <= self.clock():
            return 401, "The OAuth access token is invalid or has expired; fetch a new one."
        needed = scope_for(method, path)
        if needed is not None and needed not in issued.scopes:
            return 403, f"The OAuth access token lacks the scope {needed}."
        return None


def _basic_pair(authorization: str) -> tuple[str, str] | None:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _oauth_error(code: str, description: str) -> dict[str, object]:
    return {"error": code, "error_description": description}
