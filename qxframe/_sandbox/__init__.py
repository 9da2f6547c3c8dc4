"""An embedded Qualtrics-compatible server for tests, notebooks, demos and benchmarks.

This package owns the public face of the sandbox: :class:`Sandbox` (the state, the ids,
the fault knobs, frames of what it holds, and a server it can start and stop) and
:func:`sandbox`, the context manager that runs one on 127.0.0.1 for the length of a
``with`` block. The pieces behind it:

- :mod:`._store` — in-memory state and the rules that need it (no HTTP);
- :mod:`._rules` — checks of request bodies, pure functions;
- :mod:`._faults` — rate limits, random errors, ``fail_next``;
- :mod:`._app` — starlette routes, envelopes, the token check;
- :mod:`._server` — uvicorn in a daemon thread.

Example::

    with sandbox() as sb:
        client = sb.client()
        ...
        sb.contacts()           # what the sandbox now holds

A ``Sandbox`` that is never started still works in-process through ``sb.app``
(``httpx.ASGITransport(app=sb.app)``); its ``base_url`` is then ``http://sandbox.test``.
"""

from __future__ import annotations

import secrets
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe._sandbox._app import SandboxApp
from qxframe._sandbox._faults import FAMILIES, Faults, check_family
from qxframe._sandbox._server import HOST, ServerThread
from qxframe._sandbox._store import Store

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["Sandbox", "sandbox"]

IN_PROCESS_BASE_URL = "http://sandbox.test"
UNLIMITED = 600_000  # requests a minute: what sb.client() assumes where the sandbox has no limit

_UTC = pl.Datetime("us", "UTC")
_SCHEMAS: dict[str, dict[str, Any]] = {
    "contacts": {
        "contact_id": pl.String,
        "directory_id": pl.String,
        "ext_ref": pl.String,
        "email": pl.String,
        "phone": pl.String,
        "first_name": pl.String,
        "last_name": pl.String,
        "language": pl.String,
        "unsubscribed": pl.Boolean,
        "embedded_data": pl.String,
        "created_at": _UTC,
    },
    "transactions": {
        "transaction_id": pl.String,
        "directory_id": pl.String,
        "contact_id": pl.String,
        "mailing_list_id": pl.String,
        "transaction_date": pl.String,
        "data": pl.String,
        "key": pl.String,
    },
    "events": {
        "event_id": pl.String,
        "url_token_id": pl.String,
        "received_at": _UTC,
        "payload": pl.String,
    },
    "requests": {
        "seq": pl.Int64,
        "method": pl.String,
        "path": pl.String,
        "family": pl.String,
        "status": pl.Int64,
        "received_at": _UTC,
        "body_bytes": pl.Int64,
    },
}


def _frame(rows: list[dict[str, Any]], kind: str) -> pl.DataFrame:
    schema = _SCHEMAS[kind]
    return pl.DataFrame({col: [row[col] for row in rows] for col in schema}, schema=schema)


class Sandbox:
    """A Qualtrics-compatible fake: state, ids, faults, and an optional loopback server.

    Args:
        latency: seconds added to every request (awaited, never blocking the loop).
        rate_limit: requests per minute for every endpoint family, or a mapping
            ``{family: per_minute}``; over it the answer is 429 with ``Retry-After``.
        error_rate: share of requests (0..1) answered 500 or 503 before processing.
        seed: makes ids and random errors reproducible.
        page_size: default and largest page of the directory and mailing-list lists.
    """

    def __init__(
        self,
        latency: float = 0.0,
        rate_limit: int | Mapping[str, int] | None = None,
        error_rate: float = 0.0,
        seed: int = 0,
        page_size: int = 100,
    ) -> None:
        if latency < 0 or page_size < 1:
            raise ValueError("latency must be >= 0 and page_size >= 1.")
        self._store = Store(seed)
        self._faults = Faults(rate_limit=rate_limit, error_rate=error_rate, seed=seed)
        self.api_token = "sbx_" + secrets.token_hex(16)
        self._app = SandboxApp(
            self._store,
            self._faults,
            api_token=self.api_token,
            latency=latency,
            page_size=page_size,
        ).build()
        customers, prospects, _partners = self._store.directories
        self.directory_id = customers.directory_id
        self.mailing_list_id = customers.lists[0].mailing_list_id
        self.plain_directory_id = prospects.directory_id
        self.plain_mailing_list_id = prospects.lists[0].mailing_list_id
        self._server: ServerThread | None = None
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()  # closed by stop()

    # -- where it is -------------------------------------------------------------

    @property
    def app(self) -> Starlette:
        """The ASGI app, for ``httpx.ASGITransport(app=sb.app)``."""
        return self._app

    @property
    def base_url(self) -> str:
        if self._server is None:
            return IN_PROCESS_BASE_URL
        return f"http://{HOST}:{self._server.port}"

    @property
    def workflow_url(self) -> str:
        return (
            f"{self.base_url}/inbound-event/v1/events/json/triggers"
            f"?urlTokenId={self._store.workflow_token}"
        )

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    def client(self, **kwargs: Any) -> Any:
        """A ``qxframe.Client`` for this sandbox, told the sandbox's own rate limits.

        Families the sandbox does not limit get :data:`UNLIMITED` requests a minute, so
        pushes run as fast as the sandbox answers; pass ``rate_limits=`` to choose others
        (e.g. Qualtrics' defaults, to see the client slow down on 429s). Not started, the
        client talks to ``sb.app`` in-process (an ``httpx.ASGITransport``) unless a
        ``transport`` is given.
        """
        from qxframe._client import Client

        if self._server is None and "transport" not in kwargs:
            import httpx

            kwargs["transport"] = httpx.ASGITransport(app=self._app)
        limits = {family: UNLIMITED for family in FAMILIES} | self._faults.rate_limits
        kwargs.setdefault("rate_limits", limits)
        client = Client(api_token=self.api_token, base_url=self.base_url, **kwargs)
        self._clients.add(client)
        return client

    # -- lifecycle -----------------------------------------------------------------

    def start(self, port: int = 0) -> Sandbox:
        """Serve on 127.0.0.1:``port`` (0 picks a free port) from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("This sandbox is already started; stop() it first.")
        server = ServerThread(self._app, port)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Close the clients it handed out (their threads and sockets), then the server."""
        for client in list(self._clients):
            client.close()
        self._clients.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Sandbox:
        return self.start() if self._server is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "in-process"
        return f"<Sandbox {where} directory_id={self.directory_id!r}>"

    __str__ = __repr__

    # -- test hooks ------------------------------------------------------------------

    def fail_next(
        self,
        family: str,
        *,
        status: int = 500,
        times: int = 1,
        after_commit: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``times`` requests of ``family`` with ``status``.

        With ``after_commit=True`` each request is processed first (the write lands)
        and then answered with the error. ``retry_after`` adds a ``Retry-After`` header.
        """
        self._faults.fail_next(
            check_family(family),
            status=status,
            times=times,
            after_commit=after_commit,
            retry_after=retry_after,
        )

    def reset(self) -> None:
        """Drop contacts, transactions, events, requests and pending ``fail_next``s."""
        self._store.reset()
        self._faults.clear()

    # -- what it holds -----------------------------------------------------------------

    def contacts(self) -> pl.DataFrame:
        return _frame(self._store.contact_rows(), "contacts")

    def transactions(self) -> pl.DataFrame:
        with self._store.lock:
            return _frame(list(self._store.state.transactions), "transactions")

    def workflow_events(self) -> pl.DataFrame:
        with self._store.lock:
            return _frame(list(self._store.state.events), "events")

    def requests(self) -> pl.DataFrame:
        with self._store.lock:
            return _frame(list(self._store.state.requests), "requests")


@contextmanager
def sandbox(
    latency: float = 0.0,
    rate_limit: int | Mapping[str, int] | None = None,
    error_rate: float = 0.0,
    seed: int = 0,
    page_size: int = 100,
) -> Iterator[Sandbox]:
    """Run a :class:`Sandbox` on 127.0.0.1 (ephemeral port) for the ``with`` block."""
    sb = Sandbox(
        latency=latency,
        rate_limit=rate_limit,
        error_rate=error_rate,
        seed=seed,
        page_size=page_size,
    )
    sb.start()
    try:
        yield sb
    finally:
        sb.stop()
