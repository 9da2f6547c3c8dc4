"""The sandbox's HTTP face: paths as Qualtrics matches them, the token check, faults, routes.

This module owns the pipeline every request goes through and the assembly of the
routes that the endpoint modules list (``ROUTE_MODULES``: each module has a ``ROUTES``
list of :class:`~._wire.Endpoint`; a new module is one more entry). Paths are matched
as Qualtrics matches them (docs/qualtrics-api.md §2): repeated slashes collapse and a
trailing slash is ignored, before routing, so no redirect is ever answered. Every
request is recorded in the store's request log (method, path as sent, query string,
family, status, size: never headers), and told to ``on_request`` when one is given (what
``qxframe sandbox --log`` prints). The sandbox's own reads (``/_sandbox/…``, :mod:`._reads`)
are routed before the catch-all and bypass the pipeline.

Order of checks for every request: latency, credentials (401, or 403 for a bearer
token without the route's scope: :mod:`._credentials`), scripted ``fail_next``, rate
limit (429), random ``error_rate`` (500/503), then the endpoint itself.
``POST /oauth2/token`` takes the OAuth client's Basic credentials instead and answers
OAuth's own JSON (no envelope), as Qualtrics' token endpoint does.
The ``errorCode`` values are plausible stand-ins, not confirmed Qualtrics codes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from qxframe._sandbox import (
    _ep_contacts,
    _ep_directory,
    _ep_imports,
    _ep_transactions,
    _ep_workflows,
    _reads,
)
from qxframe._sandbox._credentials import Credentials
from qxframe._sandbox._faults import Fault, Faults
from qxframe._sandbox._rules import StoreError
from qxframe._sandbox._store import Store
from qxframe._sandbox._wire import API, Call, Endpoint, Handler, Settings, error, success

#: Modules whose ``ROUTES`` the sandbox serves, in matching order.
ROUTE_MODULES: list[ModuleType] = [
    _ep_directory,
    _ep_contacts,
    _ep_transactions,
    _ep_workflows,
    _ep_imports,
]

_FAULT_MESSAGES = {
    429: "Too many requests; slow down and retry after Retry-After seconds.",
    500: "Internal server error (injected by the sandbox).",
    503: "Temporary internal server error (injected by the sandbox).",
}
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_SLASHES = re.compile(r"/{2,}")
_SLASHES_RAW = re.compile(rb"/{2,}")
RETIRED = (
    "The Research-Core mailing-list API (/API/v3/mailinglists) was retired by Qualtrics on "
    "2026-06-30; use /API/v3/directories/{directoryId}/mailinglists instead."
)
ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class QualtricsPaths:
    """ASGI wrapper: collapse repeated slashes and drop a trailing one before routing.

    The path as sent is kept in ``scope["qx_sent_path"]`` for the request log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            sent = scope["path"]
            path = _SLASHES.sub("/", sent)
            path = path.rstrip("/") or "/"
            raw = _SLASHES_RAW.sub(b"/", scope.get("raw_path") or sent.encode())
            scope = {
                **scope,
                "path": path,
                "raw_path": raw.rstrip(b"/") or b"/",
                "qx_sent_path": sent,
            }
        await self.app(scope, receive, send)


class SandboxApp:
    """Builds the ASGI app over one :class:`Store` and one :class:`Faults`."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        *,
        credentials: Credentials,
        latency: float = 0.0,
        settings: Settings | None = None,
        reads: Mapping[str, Callable[[], Any]] | None = None,
        on_request: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.store = store
        self.faults = faults
        self.credentials = credentials
        self.latency = latency
        self.settings = settings or Settings()
        self.reads = reads or {}  # name → frame: GET /_sandbox/{name} (._reads)
        self.on_request = on_request  # told each logged request's row (``--log``)

    def build(self) -> QualtricsPaths:
        routes = [self._route(e) for module in ROUTE_MODULES for e in module.ROUTES]
        retired = Endpoint("GET", "", None, _retired)
        routes += _reads.routes(self.credentials.api_token, self.reads)
        routes += [
            Route("/oauth2/token", self._token_endpoint, methods=["POST"]),
            Route(API + "/mailinglists", self._endpoint(retired), methods=_METHODS),
            Route(API + "/mailinglists/{rest:path}", self._endpoint(retired), methods=_METHODS),
            Route(
                "/{path:path}",
                self._endpoint(Endpoint("", "", None, _no_endpoint)),
                methods=_METHODS,
            ),
        ]
        return QualtricsPaths(Starlette(routes=routes))

    def _route(self, endpoint: Endpoint) -> Route:
        return Route(endpoint.path, self._endpoint(endpoint), methods=[endpoint.method])

    def route(
        self,
        path: str,
        family: str | None,
        handler: Callable[[Request, bytes], tuple[int, Any]],
        method: str,
    ) -> Route:
        """A route for a handler of ``(request, raw body)``, served by the same pipeline
        (for route modules written that way rather than with :class:`~._wire.Endpoint`)."""

        def adapted(call: Call) -> tuple[int, Any]:
            return handler(call.request, call.body)

        return self._route(Endpoint(method, path, family, adapted))

    def _endpoint(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return await self._serve(request, endpoint.family, endpoint.handler)

        return serve

    # -- the pipeline every request goes through --------------------------------

    async def _serve(self, request: Request, family: str | None, handler: Handler) -> Response:
        seq, received_at = self.store.arrive(), dt.datetime.now(dt.UTC)
        body = await request.body()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        response = self._answer(Call(request, body, self.store, self.settings), family, handler)
        self._record(request, seq, received_at, family, response.status_code, len(body))
        return response

    def _record(
        self,
        request: Request,
        seq: int,
        received_at: dt.datetime,
        family: str | None,
        status: int,
        body_bytes: int,
    ) -> None:
        row = {
            "seq": seq,
            "method": request.method,
            "path": request.scope.get("qx_sent_path", request.url.path),
            "query": request.url.query or None,
            "family": family,
            "status": status,
            "received_at": received_at,
            "body_bytes": body_bytes,
        }
        self.store.record_request(**row)
        if self.on_request is not None:
            self.on_request(row)

    async def _token_endpoint(self, request: Request) -> Response:
        """``POST /oauth2/token``: a bearer token for the sandbox's OAuth client."""
        seq, received_at = self.store.arrive(), dt.datetime.now(dt.UTC)
        body = await request.body()
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        status, answer = self.credentials.issue(request.headers.get("authorization", ""), form)
        self._record(request, seq, received_at, None, status, len(body))
        return JSONResponse(answer, status_code=status, headers={"Cache-Control": "no-store"})

    def _answer(self, call: Call, family: str | None, handler: Handler) -> Response:
        request = call.request
        refused = self.credentials.refusal(
            request.headers, family=family, method=request.method, path=request.url.path
        )
        if refused is not None:
            return error(*refused)
        fault = self.faults.decide(family)
        if fault is not None and not fault.after_commit:
            return _fault_response(fault)
        try:
            status, result = handler(call) or (200, None)
            response = success(status, result)
        except StoreError as exc:
            response = error(exc.status, exc.message, exc.code)
        if fault is not None:  # after_commit: the write landed, the answer says otherwise
            return _fault_response(fault)
        return response


def _fault_response(fault: Fault) -> Response:
    message = _FAULT_MESSAGES.get(fault.status, "Request refused (injected by the sandbox).")
    return error(fault.status, message, retry_after=fault.retry_after)


def _retired(_call: Call) -> tuple[int, Any]:
    raise StoreError(404, "RCE_1", RETIRED)


def _no_endpoint(call: Call) -> tuple[int, Any]:
    request = call.request
    raise StoreError(404, "RCE_1", f"No endpoint {request.method} {request.url.path}.")
