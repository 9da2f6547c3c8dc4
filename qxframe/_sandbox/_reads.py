"""What the sandbox received, readable from outside its process: ``GET /_sandbox/{name}``.

This module owns the sandbox's own read routes (docs/architecture.md, "The sandbox"): for a
``qxframe sandbox`` started in another terminal, ``GET /_sandbox/workflow-events`` and
``GET /_sandbox/requests`` answer the rows of ``sb.workflow_events()`` and
``sb.requests()`` as a JSON array (the frames' columns; datetimes as ISO-8601 text). They
need the sandbox's own token in ``X-API-TOKEN``, as every other route does (401 without
it), and sit outside the Qualtrics pipeline: no latency, no injected faults, and they are
not written to the request log they read.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping

import polars as pl
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from qxframe._sandbox._wire import error

PREFIX = "/_sandbox"


def routes(token: str, frames: Mapping[str, Callable[[], pl.DataFrame]]) -> list[Route]:
    """One ``GET`` route per frame (``frames``: name in the path → the frame's maker), and
    a 404 naming them for any other ``/_sandbox/…`` path."""

    def read(make: Callable[[], pl.DataFrame]) -> Callable[[Request], Response]:
        def serve(request: Request) -> Response:
            refused = _refused(request, token)
            if refused is not None:
                return refused
            return Response(make().write_json(), media_type="application/json")

        return serve

    def unknown(request: Request) -> Response:
        refused = _refused(request, token)
        if refused is not None:
            return refused
        names = ", ".join(f"GET {PREFIX}/{name}" for name in frames)
        return error(404, f"No sandbox read {request.url.path}; there are {names}.", "RCE_1")

    served = [
        Route(f"{PREFIX}/{name}", read(make), methods=["GET"]) for name, make in frames.items()
    ]
    return [*served, Route(PREFIX + "/{rest:path}", unknown)]


def _refused(request: Request, token: str) -> Response | None:
    given = request.headers.get("x-api-token", "")
    if given and hmac.compare_digest(given.encode(), token.encode()):
        return None
    return error(401, "Invalid or missing API token (X-API-TOKEN header): give the sandbox's own.")
