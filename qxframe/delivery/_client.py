"""The Qualtrics client: settings, connection pools, and one method per endpoint.

A :class:`Client` knows where to send requests and how to authenticate; delivery rules
(rate limits, retries) live in :mod:`qxframe.delivery._transport`, envelopes in
:mod:`qxframe.delivery._envelope`. Creating a client makes no network call.

Connection pools are per event loop (:mod:`qxframe.delivery._pools`): async methods use a pool
bound to the running loop, closed when that loop ends; sync methods run on a loop the
client owns in a background thread (so they also work inside a running Jupyter loop).
A client releases that thread, its loops and its sockets on ``close()``, on leaving
``with``, and when it is garbage-collected (a ``weakref.finalize`` that holds no reference
to the client).
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from typing import Any, TypedDict, TypeVar, Unpack
from urllib.parse import urljoin

import httpx
import polars as pl

from qxframe._fields import id_pattern
from qxframe._jsontext import compact_json
from qxframe.delivery._bounds import ACCEPT_ENCODING, MAX_RESPONSE_BYTES
from qxframe.delivery._config import (
    DEFAULT_DATACENTER,
    RetryPolicy,
    Secret,
    check_datacenter,
    check_token,
    endpoint_base,
    positive,
    resolve_rate_limits,
)
from qxframe.delivery._envelope import Reply, json_body, read_reply, unreadable
from qxframe.delivery._loop import LoopThread
from qxframe.delivery._oauth import (
    TOKEN_PATH,
    BearerAuth,
    OAuthClient,
    TokenSource,
    missing_scopes,
)
from qxframe.delivery._paging import PageRequest, frame_of, next_page
from qxframe.delivery._pools import Pools
from qxframe.delivery._ratelimit import Clock, RateLimiter, Sleep
from qxframe.delivery._stop import StopGate, stoppable
from qxframe.delivery._transport import READ, DeliveryTransport, Route
from qxframe.delivery._urls import is_allowed_workflow_url, origin_of
from qxframe.exceptions import AuthError, ConfigError, QxError


class Body(TypedDict, total=False):
    """What a request sends besides its method, URL and route: a JSON body (encoded
    compactly), raw ``content`` bytes, or query ``params``."""

    json: Any
    content: bytes
    params: Any


T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def check_id(value: object, prefix: str, name: str) -> str:
    """Return ``value`` if it is an id like ``POOL_abc`` (the catalogue's id pattern); raise
    ConfigError otherwise, before the id goes into a URL."""
    if not isinstance(value, str) or not id_pattern(prefix).fullmatch(value):
        raise ConfigError(
            f"{name} must look like '{prefix}…' (letters, digits, '_' and '-'), not {value!r}. "
            "Copy it from Qualtrics (Account settings → Qualtrics IDs, or client.directories())."
        )
    return value


NO_OAUTH_FOR_EVENTS = (
    "JSON-event workflow triggers do not accept OAuth (Qualtrics takes only an API token "
    "there); give the client an api_token= (or QUALTRICS_API_TOKEN) as well as the OAuth client."
)
TOKEN_ROUTE = Route("reads", repeatable=True)  # asking twice for a token creates nothing


def oauth_client(
    client_id: str | None, client_secret: str | None, scopes: Iterable[str] | None
) -> OAuthClient | None:
    """The OAuth client of these settings, ``None`` when none is given; ``ConfigError`` for
    half of one."""
    if not client_id and not client_secret:
        return None
    if not isinstance(client_id, str) or not client_id.strip():
        raise ConfigError("client_secret was given without client_id: pass both, or neither.")
    if not isinstance(client_secret, str) or not client_secret.strip():
        raise ConfigError(
            "client_id was given without client_secret: pass both (Account settings → "
            "Qualtrics IDs → OAuth clients), or neither."
        )
    wanted = None if scopes is None else tuple(str(scope) for scope in scopes)
    secret = Secret(check_token(client_secret.strip(), "client_secret"))
    return OAuthClient(check_token(client_id.strip(), "client_id"), secret, wanted)


class Client:
    """A connection to Qualtrics (or any Qualtrics-compatible server, such as the sandbox).

    Args:
        api_token: the Qualtrics API token. It is never shown in a repr, log or error.
        datacenter: the datacenter id, e.g. ``"iad1"`` → ``https://iad1.qualtrics.com``.
        client_id, client_secret: an OAuth client instead of (or beside) the API token:
            v3 calls then carry a bearer token fetched from ``/oauth2/token``
            (:mod:`qxframe.delivery._oauth`); JSON-event triggers still need ``api_token``.
        scopes: the OAuth scopes to ask for (``None``: whatever the client is allowed).
        base_url: an origin that overrides the datacenter (a vanity host, the sandbox).
        rate_limits: per-minute limits per endpoint family (``contacts``, ``search``,
            ``transactions``, ``workflows``, ``reads``) replacing the defaults.
        timeout: seconds (or an ``httpx.Timeout``) per HTTP attempt.
        retry: a :class:`~qxframe.delivery._config.RetryPolicy`.
        transport: an httpx async transport to send through (tests, the in-process sandbox).
        max_response_bytes: the most an answer may hold, decompressed (default 32 MiB, far
            above Qualtrics' largest answers: :mod:`qxframe.delivery._bounds`); a larger one
            fails its request instead of filling memory.
        sleep, clock: injectable waits and monotonic clock (tests record instead of waiting).
    """

    def __init__(
        self,
        api_token: str | None = None,
        datacenter: str = DEFAULT_DATACENTER,
        base_url: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes: Iterable[str] | None = None,
        rate_limits: Mapping[str, float] | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        oauth = oauth_client(client_id, client_secret, scopes)
        if oauth is None and (not isinstance(api_token, str) or not api_token.strip()):
            raise ConfigError(
                "api_token is empty: pass the token from Qualtrics (Account settings → "
                "Qualtrics IDs), or an OAuth client (client_id= and client_secret=), or set "
                "QUALTRICS_API_TOKEN (or QUALTRICS_CLIENT_ID and QUALTRICS_CLIENT_SECRET) "
                "and use Client.from_env()."
            )
        self._token = Secret(check_token(api_token.strip())) if api_token else None
        self._oauth = TokenSource(oauth, clock=clock) if oauth is not None else None
        self.datacenter = check_datacenter(datacenter)
        self.base_url = endpoint_base(datacenter, base_url)
        self.rate_limits = resolve_rate_limits(rate_limits)
        self.retry = retry or RetryPolicy()
        self._timeout = timeout
        self._transport = transport
        self._sleep = sleep
        self.clock = clock  # monotonic seconds: deadlines of what the client follows
        sleep = stoppable(sleep)  # waits end when the push they serve is told to stop
        self.limiter = RateLimiter(self.rate_limits, clock=clock, sleep=sleep)
        self._explicit_origin = base_url is not None
        self._pools = Pools(
            functools.partial(
                _make_pool,
                transport,
                self.limiter,
                self.retry,
                sleep,
                clock,
                timeout,
                positive("max_response_bytes", max_response_bytes),
            )
        )
        self._loop_thread = LoopThread()
        self._finalizer = weakref.finalize(self, _release, self._pools, self._loop_thread)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> Client:
        """A client from the ``QUALTRICS_*`` environment variables: ``QUALTRICS_API_TOKEN``
        and/or an OAuth client (``QUALTRICS_CLIENT_ID``, ``QUALTRICS_CLIENT_SECRET``), and
        ``QUALTRICS_DATACENTER`` or ``QUALTRICS_BASE_URL``.

        ``env`` defaults to ``os.environ``; other keyword arguments go to :class:`Client`.
        """
        env = os.environ if env is None else env
        token = env.get("QUALTRICS_API_TOKEN", "") or None
        client_id = env.get("QUALTRICS_CLIENT_ID", "") or None
        client_secret = env.get("QUALTRICS_CLIENT_SECRET", "") or None
        if not token and not (client_id or client_secret):
            raise ConfigError(
                "QUALTRICS_API_TOKEN is not set (nor QUALTRICS_CLIENT_ID and "
                "QUALTRICS_CLIENT_SECRET): export the token or the OAuth client (and "
                "QUALTRICS_DATACENTER or QUALTRICS_BASE_URL), or pass api_token= to "
                "qxframe.Client."
            )
        datacenter = env.get("QUALTRICS_DATACENTER") or DEFAULT_DATACENTER
        base_url = env.get("QUALTRICS_BASE_URL") or None
        kwargs.setdefault("client_id", client_id)
        kwargs.setdefault("client_secret", client_secret)
        return cls(token, datacenter, base_url, **kwargs)

    def __repr__(self) -> str:
        auth = "" if self._oauth is None else ", auth='oauth client'"
        return f"Client(base_url={self.base_url!r}{auth})"

    @property
    def uses_oauth(self) -> bool:
        """True when v3 calls carry an OAuth bearer token rather than the API token."""
        return self._oauth is not None

    @property
    def can_trigger_workflows(self) -> bool:
        """True when the client has an API token: JSON-event triggers take nothing else."""
        return self._token is not None

    async def agranted_scopes(self) -> frozenset[str] | None:
        """The scopes the OAuth client was granted (fetching its token if need be);
        ``None`` for an API token, which carries its user's permissions."""
        if self._oauth is None:
            return None
        pool = await self._pools.get()
        return (await self._oauth.grant(functools.partial(self._fetch_token, pool))).scopes

    async def acheck_scopes(self, needed: Iterable[str], what: str = "this push") -> None:
        """Raise ``AuthError`` naming each scope of ``needed`` the OAuth client lacks
        (nothing for an API token). Called before anything is written."""
        granted = await self.agranted_scopes()
        if granted is None:
            return
        missing = missing_scopes(granted, needed)
        if missing:
            names = ", ".join(missing)
            raise AuthError(
                f"The OAuth client lacks the scope{'s' if len(missing) > 1 else ''} {names} "
                f"that {what} needs; nothing was sent. What to do: allow "
                f"{'them' if len(missing) > 1 else 'it'} for the client in Qualtrics "
                "(Account settings → Qualtrics IDs → OAuth clients), or use an API token.",
                http_status=403,
                error_code="missing_scope",
            )

    @property
    def allowed_origin(self) -> str | None:
        """The client's own origin when given as ``base_url`` (workflow URLs may use it)."""
        return self.base_url if self._explicit_origin else None

    # -- endpoints -------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """Who the token belongs to: ``userName``, ``brandId``, ``datacenter``, …"""
        return self.run(self.awhoami())

    async def awhoami(self) -> dict[str, Any]:
        reply = await self.asend("GET", "/API/v3/whoami", route=READ)
        if not isinstance(reply.result, dict):
            raise unreadable(reply, "who the token belongs to", may_have_landed=False)
        return dict(reply.result)

    def directories(self) -> pl.DataFrame:
        """One row per directory, with ``deduplication_criteria`` (a list of field names)."""
        return self.run(self.adirectories())

    async def adirectories(self) -> pl.DataFrame:
        return frame_of(await self._all_pages("/API/v3/directories"), kind="directories")

    def mailing_lists(self, directory_id: str) -> pl.DataFrame:
        """One row per mailing list of ``directory_id``."""
        return self.run(self.amailing_lists(directory_id))

    async def amailing_lists(self, directory_id: str) -> pl.DataFrame:
        pool = check_id(directory_id, "POOL_", "directory_id")
        path = f"/API/v3/directories/{pool}/mailinglists"
        elements = await self._all_pages(path, {"includeCount": "true"})
        return frame_of(elements, kind="mailing_lists")

    async def acreate_contact(
        self, directory_id: str, body: Mapping[str, Any], *, repeatable: bool = False
    ) -> Reply:
        """``POST /directories/{id}/contacts``; ``repeatable`` when the directory will merge it."""
        pool = check_id(directory_id, "POOL_", "directory_id")
        route = Route("contacts", repeatable=repeatable)
        return await self.asend(
            "POST", f"/API/v3/directories/{pool}/contacts", route=route, json=body
        )

    async def acreate_list_contact(
        self,
        directory_id: str,
        mailing_list_id: str,
        body: Mapping[str, Any],
        *,
        repeatable: bool = False,
    ) -> Reply:
        """``POST /directories/{id}/mailinglists/{ml}/contacts``: a contact created in the list
        and the directory (``result``: ``id``, ``contactLookupId``; docs/qualtrics-api.md §7)."""
        path = self._list_path(directory_id, mailing_list_id) + "/contacts"
        route = Route("contacts", repeatable=repeatable)
        return await self.asend("POST", path, route=route, json=body)

    async def acreate_import(
        self, directory_id: str, mailing_list_id: str, body: Any, *, repeatable: bool = False
    ) -> Reply:
        """``POST …/mailinglists/{ml}/transactioncontacts``: start an import job (202;
        ``result``: ``id``, ``contacts.unprocessed``, ``tracking.url``; docs/qualtrics-api.md §9).
        ``body`` may be the JSON text itself, or its UTF-8 bytes (built column-wise by the
        caller)."""
        path = self._list_path(directory_id, mailing_list_id) + "/transactioncontacts"
        route = Route("imports", repeatable=repeatable)
        if isinstance(body, bytes):
            return await self.asend("POST", path, route=route, content=body)
        if isinstance(body, str):
            return await self.asend("POST", path, route=route, content=body.encode())
        return await self.asend("POST", path, route=route, json=body)

    async def aimport_status(
        self, directory_id: str, mailing_list_id: str, import_id: str
    ) -> Reply:
        """``GET …/transactioncontacts/{importId}``: ``percentComplete``, ``status``, counts."""
        job = check_id(import_id, "", "import_id")
        path = self._list_path(directory_id, mailing_list_id) + f"/transactioncontacts/{job}"
        return await self.asend("GET", path, route=READ)

    async def aimport_report_page(
        self, directory_id: str, import_id: str, skip_token: str | None = None
    ) -> tuple[Reply, list[dict[str, Any]], str | None]:
        """One page of an import job's report: (reply, its ``importReportEntries``, the next
        ``skipToken`` or ``None`` on the last page). The report answers ``results`` (plural)."""
        pool = check_id(directory_id, "POOL_", "directory_id")
        job = check_id(import_id, "", "import_id")
        path = f"/API/v3/directories/{pool}/imports/api-import/jobs/{job}/report"
        params = None if skip_token is None else {"skipToken": skip_token}
        response = await self._send("GET", path, route=READ, params=params)
        reply = read_reply(response)
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        results = body.get("results") or body.get("result")
        entries = token = None
        if isinstance(results, dict):
            entries = results.get("importReportEntries")
            token = body.get("skipToken") or results.get("skipToken")
        if (
            not isinstance(results, dict)
            or not isinstance(entries, list | None)
            or not all(isinstance(entry, dict) for entry in entries or [])
            or not isinstance(token, str | None)
        ):
            raise unreadable(reply, "an import report page", may_have_landed=False)
        entries = entries or []
        return reply, list(entries), (token if token and entries else None)

    async def alist_member_ids(self, directory_id: str, mailing_list_id: str) -> list[str]:
        """The contact ids of every member of a mailing list (``GET …/mailinglists/{ml}/
        contacts``, followed to the last page; docs/qualtrics-api.md §7)."""
        path = self._list_path(directory_id, mailing_list_id) + "/contacts"
        return [str(e["contactId"]) for e in await self._all_pages(path) if e.get("contactId")]

    async def aread_contact(
        self, directory_id: str, contact_id: str, mailing_list_id: str | None = None
    ) -> Reply:
        """``GET`` a directory contact (``directoryUnsubscribed`` …; docs/qualtrics-api.md
        §5), or a list member (``mailingListUnsubscribed`` …; §7) when a list is given."""
        cid = check_id(contact_id, "CID_", "contact_id")
        if mailing_list_id is None:
            pool = check_id(directory_id, "POOL_", "directory_id")
            path = f"/API/v3/directories/{pool}/contacts/{cid}"
        else:
            path = self._list_path(directory_id, mailing_list_id) + f"/contacts/{cid}"
        return await self.asend("GET", path, route=READ)

    async def aremove_list_contact(
        self, directory_id: str, mailing_list_id: str, contact_id: str
    ) -> Reply:
        """``DELETE …/mailinglists/{ml}/contacts/{id}``: out of the list, still in the
        directory (docs/qualtrics-api.md §7). Repeating it cannot do more harm than a 404."""
        cid = check_id(contact_id, "CID_", "contact_id")
        path = self._list_path(directory_id, mailing_list_id) + f"/contacts/{cid}"
        return await self.asend("DELETE", path, route=Route("contacts", repeatable=True))

    async def aupdate_list_contact(
        self, directory_id: str, mailing_list_id: str, contact_id: str, body: Mapping[str, Any]
    ) -> Reply:
        """``PUT …/mailinglists/{ml}/contacts/{id}``: ``unsubscribed`` is the list's (§7)."""
        cid = check_id(contact_id, "CID_", "contact_id")
        path = self._list_path(directory_id, mailing_list_id) + f"/contacts/{cid}"
        return await self.asend("PUT", path, route=Route("contacts", repeatable=True), json=body)

    async def aupdate_contact(
        self, directory_id: str, contact_id: str, body: Mapping[str, Any]
    ) -> Reply:
        """``PUT /directories/{id}/contacts/{cid}`` (docs/qualtrics-api.md §5)."""
        pool = check_id(directory_id, "POOL_", "directory_id")
        cid = check_id(contact_id, "CID_", "contact_id")
        path = f"/API/v3/directories/{pool}/contacts/{cid}"
        return await self.asend("PUT", path, route=Route("contacts", repeatable=True), json=body)

    async def adelete_contact(self, directory_id: str, contact_id: str) -> Reply:
        """``DELETE /directories/{id}/contacts/{cid}``: gone from the directory (§5)."""
        pool = check_id(directory_id, "POOL_", "directory_id")
        cid = check_id(contact_id, "CID_", "contact_id")
        path = f"/API/v3/directories/{pool}/contacts/{cid}"
        return await self.asend("DELETE", path, route=Route("contacts", repeatable=True))

    async def apause(self, seconds: float) -> None:
        """Wait ``seconds`` with the client's injectable ``sleep`` (polling, a full queue)."""
        await self._sleep(seconds)

    def _list_path(self, directory_id: str, mailing_list_id: str) -> str:
        pool = check_id(directory_id, "POOL_", "directory_id")
        group = check_id(mailing_list_id, "CG_", "mailing_list_id")
        return f"/API/v3/directories/{pool}/mailinglists/{group}"

    async def asearch_contacts(
        self, directory_id: str, body: Mapping[str, Any], *, include_embedded: bool = False
    ) -> Reply:
        """``POST /directories/{id}/contacts/search`` (first page: up to 100 matches); with
        ``include_embedded`` the elements carry ``embeddedData`` (docs/qualtrics-api.md §5)."""
        pool = check_id(directory_id, "POOL_", "directory_id")
        route = Route("search", repeatable=True)
        path = f"/API/v3/directories/{pool}/contacts/search"
        params = {"includeEmbedded": "true"} if include_embedded else None
        return await self.asend("POST", path, route=route, json=body, params=params)

    def contacts_path(self, directory_id: str, mailing_list_id: str | None = None) -> str:
        """The list of a directory's contacts, or of a mailing list's members."""
        if mailing_list_id is not None:
            return self._list_path(directory_id, mailing_list_id) + "/contacts"
        return f"/API/v3/directories/{check_id(directory_id, 'POOL_', 'directory_id')}/contacts"

    async def aget_contact(self, directory_id: str, contact_id: str) -> Reply:
        """``GET /directories/{id}/contacts/{contactId}``: every field, ``embeddedData``
        included (docs/qualtrics-api.md §5)."""
        contact = check_id(contact_id, "CID_", "contact_id")
        return await self.asend("GET", f"{self.contacts_path(directory_id)}/{contact}", route=READ)

    async def acreate_transactions(self, directory_id: str, body: Mapping[str, Any]) -> Reply:
        """``POST /directories/{id}/transactions``, many transactions keyed by the caller."""
        pool = check_id(directory_id, "POOL_", "directory_id")
        route = Route("transactions", repeatable=False)
        path = f"/API/v3/directories/{pool}/transactions"
        return await self.asend("POST", path, route=route, json=body)

    async def atrigger_workflow(self, workflow_url: str, body: Any) -> Reply:
        """``POST`` a JSON event to a workflow's trigger URL (checked before the token is sent)."""
        self.check_workflow_url(workflow_url)
        route = Route("workflows", repeatable=False)
        return await self.asend("POST", workflow_url, route=route, json=body)

    def check_workflow_url(self, url: str) -> str:
        """Raise ConfigError unless the token may be sent to ``url``
        (docs/architecture.md, "Where the token may go")."""
        if not is_allowed_workflow_url(url, self.allowed_origin):
            raise ConfigError(
                "workflow_url must be https on a *.qualtrics.com host, or on this client's own "
                f"base_url origin ({self.base_url}); the API token is never sent elsewhere. "
                "Copy the URL from the workflow's JSON-event trigger."
            )
        return url

    # -- plumbing --------------------------------------------------------------------

    async def asend(self, method: str, url: str, *, route: Route, **body: Unpack[Body]) -> Reply:
        """Send one request through the delivery layer and read its envelope."""
        return read_reply(await self._send(method, url, route=route, **body))

    async def _send(
        self, method: str, url: str, *, route: Route, **body: Unpack[Body]
    ) -> httpx.Response:
        """Send one request through the delivery layer; the answer as it came."""
        json, content = body.get("json"), body.get("content")
        absolute = urljoin(self.base_url + "/", url)
        if origin_of(absolute) != self.base_url and route.family != "workflows":
            raise ConfigError(f"Refusing to send the API token outside {self.base_url}.")
        if json is not None:
            content = compact_json(json).encode()
        pool = await self._pools.get()
        bearer = self._oauth is not None and route.family != "workflows"
        request = pool.build_request(
            method,
            absolute,
            content=content,
            params=body.get("params"),
            headers={} if bearer else {"X-API-TOKEN": self._api_token().reveal()},
            extensions={"qx_route": route},
        )
        if self._oauth is not None and bearer:
            fetch = functools.partial(self._fetch_token, pool)
            return unbound(await pool.send(request, auth=BearerAuth(self._oauth, fetch)))
        return unbound(await pool.send(request))

    def _api_token(self) -> Secret:
        if self._token is None:
            raise ConfigError(NO_OAUTH_FOR_EVENTS)
        return self._token

    async def _fetch_token(self, pool: httpx.AsyncClient) -> httpx.Response:
        """``POST /oauth2/token`` for the OAuth client (through the delivery rules)."""
        assert self._oauth is not None
        headers, form = self._oauth.credentials.token_request_parts()
        request = pool.build_request(
            "POST",
            self.base_url + TOKEN_PATH,
            content=form,
            headers=headers,
            extensions={"qx_route": TOKEN_ROUTE},
        )
        return unbound(await pool.send(request))

    async def _all_pages(
        self, path: str, params: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every element of a list, following ``nextPage`` as a URL or a bare token."""
        elements: list[dict[str, Any]] = []
        async for page in self.apages(path, params):
            elements.extend(page)
        return elements

    async def apages(
        self, path: str, params: dict[str, str] | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The elements of a list, a page at a time, following ``nextPage`` as a URL or a
        bare token (a ``nextPage`` seen twice stops the paging with an error)."""
        first = PageRequest(path, params or {})
        page: PageRequest | None = first
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        while page is not None:
            key = (page.url, tuple(sorted(page.params.items())))
            if key in seen:
                raise QxError(
                    f"Qualtrics answered the same nextPage twice for {path}; paging stopped "
                    "so that it does not loop. Try again later, or report it to Qualtrics."
                )
            seen.add(key)
            reply = await self.asend("GET", page.url, route=READ, params=page.params or None)
            result = reply.result
            found = result.get("elements") if isinstance(result, dict) else None
            if not isinstance(found, list) or not all(isinstance(e, dict) for e in found):
                raise unreadable(reply, f"a page of {path}", may_have_landed=False)
            yield found
            page = next_page(result, self.base_url, first)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine to completion on the client's own loop (works inside Jupyter)."""
        return self._loop_thread.run(coro)

    async def aclose(self) -> None:
        """Close the connection pool of the running loop (the client stays usable)."""
        await self._pools.aclose_running()

    def close(self) -> None:
        """Close every connection pool and stop the background loop (idempotent).

        The client may be used again afterwards: pools and the loop are made on demand.
        """
        _release(self._pools, self._loop_thread)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _make_pool(
    transport: httpx.AsyncBaseTransport | None,
    limiter: RateLimiter,
    retry: RetryPolicy,
    sleep: Sleep,
    clock: Clock,
    timeout: float | httpx.Timeout,
    max_body: int,
) -> httpx.AsyncClient:
    """A connection pool: delivery rules around the stop gate around the wire."""
    inner = StopGate(transport or httpx.AsyncHTTPTransport(verify=_tls(), retries=0))
    delivery = DeliveryTransport(
        inner, limiter=limiter, policy=retry, sleep=sleep, clock=clock, max_body=max_body
    )
    return httpx.AsyncClient(
        transport=delivery,
        timeout=timeout,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "qxframe",
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        follow_redirects=False,
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context, made once: loading the CA store takes ~25 ms, and each
    event loop an async caller runs (``asyncio.run`` each time) gets a pool of its own."""
    return httpx.create_ssl_context()


def _release(pools: Pools, loop_thread: LoopThread) -> None:
    """Stop the background loop (what runs there is cancelled first; its pool closes as the
    loop ends), then close the pools of other loops still alive. The client's finalizer."""
    loop_thread.close()
    pools.close()


def unbound(response: httpx.Response) -> httpx.Response:
    """``response`` (read whole and closed by httpx) without the stream httpx bound to it.

    httpx's ``BoundAsyncStream`` refers to its response, and the response to it: a
    reference cycle, so an answer — and its request, the body sent with it — is freed only
    by Python's cyclic collector. In a process holding many long-lived objects (polars,
    pandera) the oldest generation is seldom collected, so the answers of a long push
    piled up: a million-row import push kept tens of MB of report pages and import
    bodies (docs/architecture.md, "Memory"). The answer's bytes stay in ``content``.
    """
    response.stream = httpx.ByteStream(b"")
    return response
