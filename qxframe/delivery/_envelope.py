"""Qualtrics response envelopes: a successful answer becomes a :class:`Reply`, an error
envelope becomes the matching error of :mod:`qxframe.exceptions`.

Success: ``{"result": {...}, "meta": {"httpStatus": "200 - OK", "requestId": "..."}}``.
Error: ``{"meta": {"httpStatus": "...", "requestId": "...", "error": {"errorMessage":
"...", "errorCode": "..."}}}`` (docs/qualtrics-api.md §1).

A 3xx answer is never followed (the token would go with the request to wherever the
``Location`` points): it becomes an :class:`~qxframe.exceptions.ApiError` with code
``redirect`` naming the ``Location``'s origin (docs/architecture.md, "Where
the token may go").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from qxframe.delivery._urls import origin_of, redact
from qxframe.exceptions import (
    ApiError,
    AuthError,
    BadRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PayloadTooLargeError,
    QxError,
    RateLimitedError,
    ServerError,
)

_BY_STATUS: dict[int, tuple[type[ApiError], str]] = {
    400: (BadRequestError, "fix the request as the message says"),
    401: (AuthError, "check the API token or OAuth client (Account settings → Qualtrics IDs)"),
    403: (AuthError, "the token lacks a permission this call needs; ask your brand administrator"),
    404: (NotFoundError, "check the directory, mailing list or contact id, and the datacenter"),
    413: (PayloadTooLargeError, "send smaller requests"),
    429: (RateLimitedError, "lower the client's rate_limits or try again later"),
}

#: What a 404 means depends on what was asked for: the advice per endpoint family.
_NOT_FOUND: dict[str, str] = {
    "workflows": "check the workflow URL: copy it again from the workflow's JSON-event "
    "trigger (its urlTokenId names the trigger), and check that the workflow exists and is on",
    "transactions": "check the directory id and each row's contact id, and the datacenter",
    "contacts": "check the directory and mailing list ids, and the datacenter",
    "imports": "check the directory and mailing list ids, and the datacenter",
    "search": "check the directory id, and the datacenter",
}


@dataclass(frozen=True)
class Reply:
    """A successful answer: its status, ``result``, ``meta.requestId`` and attempts spent."""

    status: int
    result: Any
    request_id: str | None
    attempts: int


def read_reply(response: httpx.Response) -> Reply:
    """Turn an answer into a :class:`Reply`, or raise the error its envelope describes."""
    body = json_body(response)
    meta = body.get("meta") if isinstance(body, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    request_id = _text(meta.get("requestId"))
    attempts = int(response.extensions.get("qx_attempts", 1))
    if response.is_success:
        result = body.get("result") if isinstance(body, dict) else None
        return Reply(response.status_code, result, request_id, attempts)
    error = meta.get("error")
    raise _error_for(response, error if isinstance(error, dict) else {}, request_id, attempts)


def _error_for(
    response: httpx.Response, error: dict[str, Any], request_id: str | None, attempts: int
) -> Exception:
    status = response.status_code
    if 300 <= status < 400:
        return _redirect_error(response, request_id, attempts)
    code = _text(error.get("errorCode"))
    text = _text(error.get("errorMessage")) or response.reason_phrase or "no message"
    if response.extensions.get("qx_outcome_unknown"):
        return OutcomeUnknownError(
            f"Qualtrics answered {status} ({text}) to a write that may have been processed; "
            "it was not sent again. Check in Qualtrics before re-sending.",
            http_status=status,
            error_message=text,
            request_id=request_id,
            attempts=attempts,
        )
    cls, hint = _BY_STATUS.get(status, (ServerError if status >= 500 else BadRequestError, ""))
    if status == 404:
        hint = _NOT_FOUND.get(_family(response), hint)
    hint = hint or (
        "Qualtrics had a problem; try again later" if status >= 500 else "check the request"
    )
    label = f" {code}" if code else ""
    return cls(
        f"Qualtrics answered {status}{label}: {_sentence(text)} What to do: {hint}.",
        http_status=status,
        error_code=code,
        error_message=text,
        request_id=request_id,
        attempts=attempts,
    )


def _text(value: Any) -> str | None:
    """A string the envelope gave, or None for anything else (a number, a list, an object:
    a lie about shapes is not passed on into a results frame's string column).

    >>> _text("ERR_1"), _text(["ERR_1"]), _text("")
    ('ERR_1', None, None)
    """
    return value if isinstance(value, str) and value else None


def unreadable(reply: Reply, what: str, *, may_have_landed: bool) -> QxError:
    """The error for a 2xx answer that does not say what its endpoint promises (``what``:
    "the contact id"): an HTML page from a gateway, truncated JSON, a wrong type. For a
    write that may have landed its outcome is unknown; otherwise the answer failed."""
    said = f"Qualtrics answered {reply.status} without {what} (an unreadable answer: "
    said += "a gateway's page, truncated or malformed JSON)"
    if may_have_landed:
        return OutcomeUnknownError(
            f"{said}; the write may have been processed, so it was not sent again. Check in "
            "Qualtrics before re-sending.",
            http_status=reply.status,
            request_id=reply.request_id,
            attempts=reply.attempts,
        )
    return ApiError(
        f"{said}. What to do: try again later; if it persists, check base_url or the proxy "
        "in front of Qualtrics.",
        http_status=reply.status,
        error_code="unreadable_answer",
        request_id=reply.request_id,
        attempts=reply.attempts,
    )


def _family(response: httpx.Response) -> str:
    """The endpoint family of the request ``response`` answers ("" when unknown)."""
    try:
        route = response.request.extensions.get("qx_route")
    except RuntimeError:  # a response built without a request
        return ""
    return str(getattr(route, "family", ""))


def _sentence(text: str) -> str:
    """``text`` ending in exactly one full stop (or its own ``!``/``?``).

    >>> _sentence("Invalid or missing API token (X-API-TOKEN header)."), _sentence("Oops")
    ('Invalid or missing API token (X-API-TOKEN header).', 'Oops.')
    """
    text = text.strip().rstrip(".").rstrip()
    return text if text.endswith(("!", "?")) else text + "."


def _redirect_error(response: httpx.Response, request_id: str | None, attempts: int) -> ApiError:
    status = response.status_code
    return ApiError(
        f"The server answered {status}, a redirect to {_location_origin(response)}; qxframe "
        "never follows redirects (the API token would go with the request), so this request "
        "was not completed. What to do: check the datacenter or base_url; a redirect usually "
        "means the wrong host or path.",
        http_status=status,
        error_code="redirect",
        request_id=request_id,
        attempts=attempts,
    )


def _location_origin(response: httpx.Response) -> str:
    """The origin the ``Location`` header points to, resolved against the request's URL."""
    location = response.headers.get("Location")
    if not location:
        return "no Location given"
    try:
        base = str(response.request.url)
    except RuntimeError:  # a response built without a request
        base = ""
    try:
        return origin_of(urljoin(base, location.strip()))
    except (QxError, ValueError):
        return f"an unreadable Location ({redact(location)[:80]!r})"


def json_body(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it has none (empty, HTML, truncated)."""
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None
