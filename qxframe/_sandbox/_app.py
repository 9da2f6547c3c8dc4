"""The sandbox's HTTP face: starlette routes, Qualtrics envelopes, token check, faults.

This module owns the wire: which path is which endpoint family, the success and error
envelopes of ``reference/qualtrics-api.md`` §1.3, the ``X-API-TOKEN`` check, paging
parameters and ``nextPage`` URLs, body-size limits, latency, and applying the fault
decided by :mod:`._faults`. Every request is recorded in the store's request log
(method, path, family, status, size: never headers). The rules themselves live in
:mod:`._store` and :mod:`._rules`.

Order of checks for every request: latency, token (401), scripted ``fail_next``,
rate limit (429), random ``error_rate`` (500/503), then the endpoint itself.
The ``errorCode`` values are plausible stand-ins, not confirmed Qualtrics codes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from qxframe._sandbox._faults import Fault, Faults
from qxframe._sandbox._import_routes import import_routes
from qxframe._sandbox._imports import Imports, TopLevel
from qxframe._sandbox._rules import StoreError, decode_skip, encode_skip
from qxframe._sandbox._store import Store

MAX_TRANSACTIONS_BODY = 5 * 1024 * 1024
MAX_WORKFLOW_BODY = 102_400
SEARCH_PAGE_SIZE = 100
_ERROR_CODES = {
    401: "AUTH_1.0",
    404: "RCE_1",
    413: "REQ_TOO_LARGE",
    429: "RATE_LIMIT_1",
    500: "SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
_FAULT_MESSAGES = {
    429: "Too many requests; slow down and retry after Retry-After seconds.",
    500: "Internal server error (injected by the sandbox).",
    503: "Service unavailable (injected by the sandbox).",
}

Handler = Callable[[Request, bytes], tuple[int, Any]]


def _meta(status: int) -> dict[str, Any]:
    return {"httpStatus": f"{status} - {HTTPStatus(status).phrase}", "requestId": str(uuid.uuid4())}


def success(status: int, result: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"meta": _meta(status)}
    if isinstance(result, TopLevel):
        body = {**result, **body}
    elif result is not None:
        body = {"result": result, **body}
    return JSONResponse(body, status_code=status)


def error(
    status: int, message: str, code: str | None = None, retry_after: str | None = None
) -> JSONResponse:
    meta = _meta(status)
    meta["error"] = {
        "errorMessage": message,
        "errorCode": code or _ERROR_CODES.get(status, "QVAL_1"),
    }
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return JSONResponse({"meta": meta}, status_code=status, headers=headers)


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        raise StoreError(400, "QVAL_1", "The request body is not valid JSON.") from None


def _page_size(request: Request, default: int, maximum: int) -> int:
    raw = request.query_params.get("pageSize")
    if raw is None:
        return default
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if size < 1:
        raise StoreError(400, "QVAL_1", f"Invalid pageSize: {raw!r}; use a positive integer.")
    return min(size, maximum)


class SandboxApp:
    """Builds the starlette app over one :class:`Store` and one :class:`Faults`."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        *,
        api_token: str,
        latency: float = 0.0,
        page_size: int = 100,
        imports: Imports | None = None,
    ) -> None:
        self.store = store
        self.imports = imports or Imports(store)
        self.faults = faults
        self._token = api_token
        self.latency = latency
        self.page_size = page_size

    def build(self) -> Starlette:
        def route(path: str, family: str | None, handler: Handler, method: str) -> Route:
            async def endpoint(request: Request) -> Response:
                return await self._serve(request, family, handler)

            return Route(path, endpoint, methods=[method])

        dirs = "/API/v3/directories"
        return Starlette(
            routes=[
                route("/API/v3/whoami", "reads", self._whoami, "GET"),
                route(dirs, "reads", self._directories, "GET"),
                route(dirs + "/", "reads", self._directories, "GET"),
                route(dirs + "/{dir}/mailinglists", "reads", self._mailing_lists, "GET"),
                route(dirs + "/{dir}/contacts", "contacts", self._create_contact, "POST"),
                route(dirs + "/{dir}/contacts/search", "search", self._search, "POST"),
                route(dirs + "/{dir}/transactions", "transactions", self._transactions, "POST"),
                route(
                    "/inbound-event/v1/events/json/triggers", "workflows", self._workflow, "POST"
                ),
                *import_routes(route, self.imports),
                Route(
                    "/{path:path}",
                    self._not_found,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                ),
            ]
        )

    # -- the pipeline every request goes through --------------------------------

    async def _serve(self, request: Request, family: str | None, handler: Handler) -> Response:
        seq, received_at = self.store.arrive(), dt.datetime.now(dt.UTC)
        body = await request.body()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        response = self._answer(request, family, handler, body)
        self.store.record_request(
            seq=seq,
            method=request.method,
            path=request.url.path,
            family=family,
            status=response.status_code,
            received_at=received_at,
            body_bytes=len(body),
        )
        return response

    def _answer(
        self, request: Request, family: str | None, handler: Handler, body: bytes
    ) -> Response:
        given = request.headers.get("x-api-token", "")
        if not given or not hmac.compare_digest(given.encode(), self._token.encode()):
            return error(401, "Invalid or missing API token (X-API-TOKEN header).")
        fault = self.faults.decide(family)
        if fault is not None and not fault.after_commit:
            return self._fault_response(fault)
        try:
            status, result = handler(request, body)
            response = success(status, result)
        except StoreError as exc:
            response = error(exc.status, exc.message, exc.code)
        if fault is not None:  # after_commit: the write landed, the answer says otherwise
            return self._fault_response(fault)
        return response

    @staticmethod
    def _fault_response(fault: Fault) -> Response:
        message = _FAULT_MESSAGES.get(fault.status, "Request refused (injected by the sandbox).")
        return error(fault.status, message, retry_after=fault.retry_after)

    async def _not_found(self, request: Request) -> Response:
        def handler(_request: Request, _body: bytes) -> tuple[int, Any]:
            raise StoreError(404, "RCE_1", f"No endpoint {request.method} {request.url.path}.")

        return await self._serve(request, None, handler)

    # -- endpoints: (request, raw body) -> (status, result) ----------------------

    def _whoami(self, _request: Request, _body: bytes) -> tuple[int, Any]:
        return 200, {
            "brandId": self.store.brand_id,
            "userId": self.store.user_id,
            "userName": "sandbox-user",
            "accountType": "UT_SANDBOX",
            "firstName": "Sandbox",
            "lastName": "User",
            "email": "sandbox@example.com",
            "datacenter": "sandbox",
        }

    def _paged(self, request: Request, elements: list[dict[str, Any]]) -> dict[str, Any]:
        size = _page_size(request, self.page_size, self.page_size)
        offset = decode_skip(request.query_params.get("skipToken"))
        more = offset + size < len(elements)
        next_page = (
            str(
                request.url.include_query_params(
                    pageSize=size, skipToken=encode_skip(offset + size)
                )
            )
            if more
            else None
        )
        return {"elements": elements[offset : offset + size], "nextPage": next_page}

    def _directories(self, request: Request, _body: bytes) -> tuple[int, Any]:
        return 200, self._paged(request, self.store.directory_elements())

    def _mailing_lists(self, request: Request, _body: bytes) -> tuple[int, Any]:
        elements = self.store.mailing_list_elements(request.path_params["dir"])
        return 200, self._paged(request, elements)

    def _create_contact(self, request: Request, body: bytes) -> tuple[int, Any]:
        self.store.directory(request.path_params["dir"])
        contact_id = self.store.upsert_contact(request.path_params["dir"], _json_body(body))
        return 200, {"id": contact_id}

    def _search(self, request: Request, body: bytes) -> tuple[int, Any]:
        directory_id = request.path_params["dir"]
        self.store.directory(directory_id)
        size = _page_size(request, SEARCH_PAGE_SIZE, SEARCH_PAGE_SIZE)
        offset = decode_skip(request.query_params.get("skipToken"))
        page, next_offset = self.store.search(directory_id, _json_body(body), offset, size)
        result: dict[str, Any] = {"elements": page}
        if next_offset is not None:
            result["skipToken"] = encode_skip(next_offset)
        return 200, result

    def _transactions(self, request: Request, body: bytes) -> tuple[int, Any]:
        directory_id = request.path_params["dir"]
        self.store.directory(directory_id)
        if len(body) > MAX_TRANSACTIONS_BODY:
            raise StoreError(
                413,
                "REQ_TOO_LARGE",
                "The request body is over 5 MB; send fewer transactions per request.",
            )
        created, unprocessed = self.store.add_transactions(directory_id, _json_body(body))
        return 200, {"createdTransactions": created, "unprocessedTransactions": unprocessed}

    def _workflow(self, request: Request, body: bytes) -> tuple[int, Any]:
        url_token_id = request.query_params.get("urlTokenId")
        if url_token_id != self.store.workflow_token:
            raise StoreError(404, "RCE_1", "No workflow trigger has this urlTokenId.")
        if len(body) > MAX_WORKFLOW_BODY:
            raise StoreError(
                413,
                "REQ_TOO_LARGE",
                "The event payload is over 100 KB (102,400 bytes); send a smaller payload.",
            )
        _json_body(body)
        self.store.record_event(url_token_id, body.decode("utf-8"))
        return 202, None
