"""What every sandbox endpoint shares on the wire: envelopes, the call, paging, routes.

This module owns the shapes of ``docs/qualtrics-api.md`` §1 and §3 that do not depend
on an endpoint: the success and error envelopes with Qualtrics' ``meta.httpStatus``
texts, the :class:`Call` a handler receives (request, raw body, store, knobs), reading a
JSON body, ``pageSize``/``skipToken`` paging with ``nextPage`` as a URL or a bare token,
and :class:`Endpoint`, the entry of a module's ``ROUTES`` list. Endpoint modules
(``_ep_*.py``) hold handlers and a ``ROUTES`` list each; :mod:`._app` serves them all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse

from qxframe._sandbox._rules import (
    StoreError,
    decode_cursor,
    decode_skip,
    encode_cursor,
    encode_skip,
)

if TYPE_CHECKING:
    from qxframe._sandbox._store import Store

#: ``meta.httpStatus`` texts as Qualtrics writes them (docs/qualtrics-api.md §1).
STATUS_TEXTS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Temporary Internal Server Error",
}
_ERROR_CODES = {
    401: "AUTH_1.0",
    404: "RCE_1",
    413: "REQ_TOO_LARGE",
    429: "RATE_LIMIT_1",
    500: "SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
API = "/API/v3"
DIRS = API + "/directories"


@dataclass(frozen=True)
class Settings:
    """The knobs endpoints read (set once per sandbox)."""

    page_size: int = 100
    next_page: Literal["url", "token"] = "url"
    max_transactions_per_request: int | None = None
    imports: Any = None  # the import jobs (._imports.Imports): state, clock, import_rate


@dataclass(frozen=True)
class Call:
    """One request as a handler sees it."""

    request: Request
    body: bytes
    store: Store
    settings: Settings

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def flag(self, name: str) -> bool:
        return (self.query(name) or "").lower() == "true"

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
            raise StoreError(400, "QVAL_1", "The request body is not valid JSON.") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise StoreError(400, "QVAL_1", "The request body must be a JSON object.")
        return body


#: A route's handler: its answer's status and result, or None for 200 with no result (a
#: write Qualtrics answers with ``meta`` alone).
Handler = Callable[[Call], tuple[int, Any] | None]


@dataclass(frozen=True)
class Endpoint:
    """One route: method, path (no trailing slash), rate-limit family, handler."""

    method: str
    path: str
    family: str | None
    handler: Handler


def meta(status: int) -> dict[str, Any]:
    text = STATUS_TEXTS.get(status) or HTTPStatus(status).phrase
    return {"httpStatus": f"{status} - {text}", "requestId": str(uuid.uuid4())}


class TopLevel(dict[str, Any]):
    """A success answer whose members sit at the envelope's top level, beside ``meta``
    (the import report answers ``{"results": …, "skipToken": …, "meta": …}``, §9)."""


def success(status: int, result: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"meta": meta(status)}
    if isinstance(result, TopLevel):
        body = {**result, **body}
    elif result is not None:
        body = {"result": result, **body}
    return JSONResponse(body, status_code=status)


def error(
    status: int, message: str, code: str | None = None, retry_after: str | None = None
) -> JSONResponse:
    head = meta(status)
    head["error"] = {
        "errorMessage": message,
        "errorCode": code or _ERROR_CODES.get(status, "QVAL_1"),
    }
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return JSONResponse({"meta": head}, status_code=status, headers=headers)


def page_size(call: Call, default: int, maximum: int) -> int:
    """``pageSize`` from the query: a positive integer, capped at ``maximum``."""
    raw = call.query("pageSize")
    if raw is None:
        return min(default, maximum)
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if size < 1:
        raise StoreError(400, "QVAL_1", f"Invalid pageSize: {raw!r}; use a positive integer.")
    return min(size, maximum)


def paged(call: Call, elements: list[Any], *, maximum: int) -> dict[str, Any]:
    """One page of ``elements`` with ``nextPage`` (a URL or a bare token, per the knob)."""
    size = page_size(call, call.settings.page_size, maximum)
    offset = decode_skip(call.query("skipToken"))
    token = encode_skip(offset + size) if offset + size < len(elements) else None
    return {"elements": elements[offset : offset + size], "nextPage": _link(call, size, token)}


#: One page from an ordered index: (after this cursor, at most this many) → (key, item) pairs.
PageOf = Callable[[int | None, int], list[tuple[int, Any]]]


def cursor_paged(
    call: Call, page_of: PageOf, view: Callable[[Any], Any], *, maximum: int
) -> dict[str, Any]:
    """One page read from an ordered index with a cursor ``skipToken``: only the page
    (and one look-ahead item) is read and shaped, so a page costs the same at any size."""
    size = page_size(call, call.settings.page_size, maximum)
    found = page_of(decode_cursor(call.query("skipToken")), size + 1)
    page = found[:size]
    token = encode_cursor(page[-1][0]) if len(found) > size else None
    return {"elements": [view(item) for _, item in page], "nextPage": _link(call, size, token)}


def _link(call: Call, size: int, token: str | None) -> str | None:
    """``nextPage``: null on the last page, else a bare token or a URL, per the knob."""
    if token is None or call.settings.next_page == "token":
        return token
    return str(call.request.url.include_query_params(pageSize=size, skipToken=token))
