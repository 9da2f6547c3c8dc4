"""Safe delivery, as an httpx transport that wraps the real one.

:class:`DeliveryTransport` adds to any inner transport (the network, or the sandbox's
ASGI app in-process) the client's rate limiting and retry rules. Each request carries a
:class:`Route` in ``request.extensions["qx_route"]``: its endpoint family (for the token
bucket and the in-flight limit) and whether repeating it can create a duplicate. Each
attempt holds one of its family's in-flight slots (:mod:`qxframe.delivery._inflight`, sized by
Little's law from the latency the transport observes), waits for the family's token
bucket, and is sent; backoff waits between attempts hold no slot.

This module is the one place where httpx exceptions are caught and translated
(:func:`translate_transport_error`); nothing else in qxframe catches them. The answer
handed back carries ``qx_attempts`` (HTTP attempts spent) and ``qx_outcome_unknown`` (a
write that may have landed was not re-sent) in ``response.extensions``.

httpx logs every request's URL at INFO; a workflow URL carries a secret-ish
``urlTokenId``, so :class:`RedactUrls` (installed on the ``httpx`` logger when this module
is imported) shows such parameters as ``***``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from qxframe.delivery._bounds import (
    MAX_RESPONSE_BYTES,
    UnreadableAnswer,
    attempt_deadline,
    read_bounded,
)
from qxframe.delivery._config import RetryPolicy
from qxframe.delivery._inflight import FlightLimit
from qxframe.delivery._ratelimit import Clock, RateLimiter, Sleep
from qxframe.delivery._retry import (
    Decision,
    Verdict,
    decide_error,
    decide_status,
    parse_retry_after,
)
from qxframe.delivery._urls import redact
from qxframe.exceptions import OutcomeUnknownError, TransportError

#: Raised before any byte of the request could have reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
#: The request itself cannot be written (an invalid header or URL): it never reached the
#: server as a request, and sending it again gives the same error.
_UNWRITABLE = (httpx.LocalProtocolError, httpx.UnsupportedProtocol)


@dataclass(frozen=True)
class Route:
    """What the delivery layer needs to know about a request."""

    family: str
    repeatable: bool  # True when sending it twice cannot create anything twice


READ = Route("reads", repeatable=True)


def translate_transport_error(
    exc: httpx.TransportError, attempts: int
) -> tuple[TransportError, bool]:
    """The qxframe error for an httpx transport error, and whether the request may have left."""
    sent = not isinstance(exc, _NOT_SENT + _UNWRITABLE)
    host = exc.request.url.host if _has_request(exc) else "the server"
    kind = type(exc).__name__
    if isinstance(exc, _UNWRITABLE):
        hint = "the request could not be written (a header or the URL holds something HTTP "
        hint += "does not allow); it was not sent."
    elif isinstance(exc, httpx.TimeoutException):
        hint = "the server did not answer in time; try again later or raise the client's timeout."
    else:
        hint = "check the network, the datacenter or base_url, and try again."
    error = TransportError(
        f"Could not complete the request to {host} ({kind}): {hint}", attempts=attempts
    )
    return error, sent


#: Request headers that carry a secret (the API token, a bearer token, OAuth's Basic pair).
SECRET_HEADERS = ("x-api-token", "authorization")


def hide_secrets(exc: httpx.TransportError) -> httpx.TransportError:
    """``exc`` with the secret headers of its request replaced by asterisks: it becomes
    the ``__cause__`` of the error qxframe raises, where anyone may print its request."""
    if _has_request(exc):
        headers = exc.request.headers
        for name in SECRET_HEADERS:
            if name in headers:
                headers[name] = "********"
    return exc


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - the property raises when no request is attached
    except RuntimeError:
        return False
    return True


class RedactUrls(logging.Filter):
    """Shows token-like query parameters of the URLs in a log record as ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(str(arg)) if isinstance(arg, httpx.URL) or _is_url(arg) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str) and "?" in record.msg and "://" in record.msg:
            record.msg = " ".join(redact(w) if _is_url(w) else w for w in record.msg.split(" "))
        return True


def _is_url(value: object) -> bool:
    return isinstance(value, str) and "://" in value and "?" in value


def redact_httpx_logs() -> None:
    """Install :class:`RedactUrls` on the ``httpx`` logger, once."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrls) for f in logger.filters):
        logger.addFilter(RedactUrls())


redact_httpx_logs()  # on import: every request qxframe sends goes through this module


class DeliveryTransport(httpx.AsyncBaseTransport):
    """Wraps an inner transport with rate limiting and retries."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        limiter: RateLimiter,
        policy: RetryPolicy,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        max_body: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._inner = inner
        self._max_body = max_body
        self._limiter = limiter
        self._policy = policy
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._clock = clock
        self._rng = rng or random.Random()
        self.in_flight: dict[str, FlightLimit] = {}

    def flight_limit(self, family: str) -> FlightLimit:
        """The in-flight limit of ``family`` on this transport's event loop."""
        limit = self.in_flight.get(family)
        if limit is None:
            limit = self.in_flight[family] = FlightLimit(lambda: self._limiter.rate(family))
        return limit

    async def _attempt(self, request: httpx.Request, family: str) -> httpx.Response:
        """One attempt: a slot, the bucket's go-ahead, the request and its whole answer,
        within the attempt's size and time bounds (:mod:`qxframe.delivery._bounds`)."""
        flight = self.flight_limit(family)
        async with flight.slot():
            await self._limiter.acquire(family)
            refresh = request.extensions.get("qx_credentials")  # a token renewed meanwhile
            if refresh is not None:
                refresh(request)
            started = self._clock()
            deadline = attempt_deadline(request.extensions.get("timeout"))
            try:
                async with asyncio.timeout(deadline):
                    response = await self._inner.handle_async_request(request)
                    response = await read_bounded(response, request, self._max_body)
            except TimeoutError as exc:
                raise httpx.ReadTimeout(
                    f"no whole answer within {deadline:g} s", request=request
                ) from exc
            if response.status_code < 400:
                flight.observe(self._clock() - started)
            return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        route: Route = request.extensions.get("qx_route", READ)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._attempt(request, route.family)
            except UnreadableAnswer as exc:  # the same server would answer the same again
                if route.repeatable:
                    raise TransportError(str(exc), attempts=attempt) from None
                raise OutcomeUnknownError(
                    f"{exc} The request was a write that may have been processed, so it was "
                    "not sent again. Check in Qualtrics before re-sending.",
                    attempts=attempt,
                ) from None
            except httpx.TransportError as exc:
                error, sent = translate_transport_error(exc, attempt)
                if isinstance(exc, _UNWRITABLE):  # the same request fails the same way
                    raise error from hide_secrets(exc)
                decision = decide_error(
                    self._policy,
                    sent=sent,
                    attempt=attempt,
                    repeatable=route.repeatable,
                    rng=self._rng,
                )
                if decision.verdict is Verdict.RETRY:
                    await self._sleep(decision.wait)
                    continue
                if decision.verdict is Verdict.UNKNOWN:
                    raise OutcomeUnknownError(
                        f"The connection failed after the request was sent ({type(exc).__name__}); "
                        "it may have been processed, so it was not sent again. Check in Qualtrics "
                        "before re-sending.",
                        attempts=attempt,
                    ) from hide_secrets(exc)
                raise error from hide_secrets(exc)
            decision = self._judge(response, route, attempt)
            if decision.verdict is Verdict.RETRY:
                await response.aclose()
                await self._sleep(decision.wait)
                continue
            response.extensions["qx_attempts"] = attempt
            response.extensions["qx_outcome_unknown"] = decision.verdict is Verdict.UNKNOWN
            return response

    def _judge(self, response: httpx.Response, route: Route, attempt: int) -> Decision:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self._wall_clock())
        if retry_after is not None:  # capped wherever it is read: this wait and the bucket's
            retry_after = min(retry_after, self._policy.max_retry_after)
        if status == 429:
            self._limiter.on_rate_limited(route.family, retry_after)
        elif status < 400:
            self._limiter.on_success(route.family)
        return decide_status(
            self._policy,
            status=status,
            attempt=attempt,
            repeatable=route.repeatable,
            retry_after=retry_after,
            rng=self._rng,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
