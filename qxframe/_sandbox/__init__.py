"""An embedded Qualtrics-compatible server for tests, notebooks, demos and benchmarks.

This package owns the public face of the sandbox: :class:`Sandbox` (the state, the ids,
the fault knobs, frames of what it holds, and a server it can start and stop) and
:func:`sandbox`, the context manager that runs one on 127.0.0.1 for the length of a
``with`` block. The pieces behind it:

- :mod:`._model` — the dataclasses it holds, and the contact index;
- :mod:`._store` — directories, mailing lists, contacts and the rules on them (no HTTP);
- :mod:`._txstore` — transactions and transaction batches (no HTTP);
- :mod:`._rules` — checks of request bodies, pure functions;
- :mod:`._views` — the read shapes Qualtrics answers with, pure functions;
- :mod:`._faults` — rate limits, random errors, ``fail_next``;
- :mod:`._wire` — envelopes, paging, the call a handler gets, :class:`~._wire.Endpoint`;
- :mod:`._ep_directory`, :mod:`._ep_contacts`, :mod:`._ep_transactions`,
  :mod:`._ep_workflows` — handlers and a ``ROUTES`` list each;
- :mod:`._app` — paths as Qualtrics matches them, the token check, the pipeline;
- :mod:`._server` — uvicorn in a daemon thread.

What it answers, and where each shape comes from, is in ``docs/qualtrics-api.md``.

Example::

    with sandbox() as sb:
        client = sb.client()
        ...
        sb.contacts()           # what the sandbox now holds

A ``Sandbox`` that is never started still works in-process through ``sb.app``
(``httpx.ASGITransport(app=sb.app)``); its ``base_url`` is then ``http://localhost``.
"""

from __future__ import annotations

import secrets
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

import polars as pl

from qxframe._sandbox._app import QualtricsPaths, SandboxApp
from qxframe._sandbox._credentials import Credentials
from qxframe._sandbox._faults import FAMILIES, Faults, check_family, scripted
from qxframe._sandbox._imports import Imports
from qxframe._sandbox._server import HOST, ServerThread
from qxframe._sandbox._store import Store
from qxframe._sandbox._wire import Settings
from qxframe.delivery._config import BRAND

__all__ = ["Sandbox", "sandbox"]

IN_PROCESS_BASE_URL = "http://localhost"  # loopback: plain http is allowed only there
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
    "members": {
        "mailing_list_id": pl.String,
        "contact_id": pl.String,
        "contact_lookup_id": pl.String,
        "added_at": _UTC,
    },
    "imports": {
        "import_id": pl.String,
        "directory_id": pl.String,
        "mailing_list_id": pl.String,
        "contacts": pl.Int64,
        "unprocessed": pl.Int64,
        "added": pl.Int64,
        "updated": pl.Int64,
        "failed": pl.Int64,
        "percent_complete": pl.Int64,
        "status": pl.String,
        "body_bytes": pl.Int64,
        "created_at": _UTC,
    },
    "requests": {
        "seq": pl.Int64,
        "method": pl.String,
        "path": pl.String,
        "query": pl.String,
        "family": pl.String,
        "status": pl.Int64,
        "received_at": _UTC,
        "body_bytes": pl.Int64,
    },
}


def _check_knobs(
    latency: float, page_size: int, next_page: str, max_transactions: int | None
) -> None:
    if latency < 0 or page_size < 1:
        raise ValueError("latency must be >= 0 and page_size >= 1.")
    if next_page not in ("url", "token"):
        raise ValueError(f"next_page must be 'url' or 'token', not {next_page!r}.")
    if max_transactions is not None and max_transactions < 1:
        raise ValueError("max_transactions_per_request must be None or at least 1.")


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
        page_size: default and largest page of every list (directories never more than
            5, mailing-list members never more than 50, as in Qualtrics).
        next_page: the form of ``nextPage`` on lists: ``"url"`` (an absolute URL) or
            ``"token"`` (a bare token, to send back as ``skipToken``).
        max_transactions_per_request: above this many keys, ``POST .../transactions``
            is refused whole with a 400 (None: no limit, as far as Qualtrics says).
        extra_directories: plain directories added after the three standard ones (so a
            brand with more than 5 directories, paged, can be tried).
        import_rate: contacts an import job processes a second (``None``: at once), so a
            job takes time as a real one does (docs/qualtrics-api.md §9).
        import_stall_at: every import job stops moving at this share of its contacts (0 to
            1) and never ends, still ``in progress``.
        import_fail_at: every import job ends at this share with status ``failed``: the
            contacts before it landed (and are in its report), the rest did not.
        on_request: called with each request's row of :meth:`requests` (a dict) once it
            is answered, from the server's thread (``qxframe sandbox --log``).
        oauth_token_ttl: seconds an OAuth bearer token from ``POST /oauth2/token`` lives.
        oauth_scopes: the scopes its OAuth client may be granted (``None``: every scope
            the sandbox knows, ``_credentials.ALL_SCOPES``).
        clock: the sandbox's monotonic clock (bearer-token lifetimes, import progress);
            tests inject one to let time pass without waiting.

    What it received can also be read over HTTP, from another process:
    ``GET /_sandbox/workflow-events`` and ``GET /_sandbox/requests`` (its own token in
    ``X-API-TOKEN``) answer the rows of :meth:`workflow_events` and :meth:`requests` as JSON.

    Its OAuth client is ``oauth_client_id`` / ``oauth_client_secret``; ``client(oauth=True)``
    hands out a client that authenticates with it instead of the API token.
    """

    def __init__(
        self,
        latency: float = 0.0,
        rate_limit: int | Mapping[str, int] | None = None,
        error_rate: float = 0.0,
        seed: int = 0,
        page_size: int = 100,
        next_page: Literal["url", "token"] = "url",
        max_transactions_per_request: int | None = None,
        extra_directories: int = 0,
        import_rate: float | None = None,
        import_stall_at: float | None = None,
        import_fail_at: float | None = None,
        on_request: Callable[[dict[str, Any]], None] | None = None,
        oauth_token_ttl: float = 3600.0,
        oauth_scopes: Iterable[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_knobs(latency, page_size, next_page, max_transactions_per_request)
        self._store = Store(seed, extra_directories=max(0, extra_directories))
        self._faults = Faults(rate_limit=rate_limit, error_rate=error_rate, seed=seed)
        self.api_token = "sbx_" + secrets.token_hex(18)  # 40 characters, as Qualtrics' are
        self.oauth_client_id = "sbx_client_" + secrets.token_hex(8)
        self.oauth_client_secret = secrets.token_urlsafe(30)
        self.credentials = Credentials(
            self.api_token,
            client_id=self.oauth_client_id,
            client_secret=self.oauth_client_secret,
            token_ttl=oauth_token_ttl,
            scopes=oauth_scopes,
            clock=clock,
        )
        self._imports = Imports(
            self._store,
            import_rate=import_rate,
            clock=clock,
            stall_at=import_stall_at,
            fail_at=import_fail_at,
        )
        settings = Settings(page_size, next_page, max_transactions_per_request, self._imports)
        self._app = SandboxApp(
            self._store,
            self._faults,
            credentials=self.credentials,
            latency=latency,
            settings=settings,
            reads={"workflow-events": self.workflow_events, "requests": self.requests},
            on_request=on_request,
        ).build()
        customers, prospects = self._store.directories[:2]
        self.directory_id = customers.directory_id
        self.mailing_list_id = customers.lists[0].mailing_list_id
        self.plain_directory_id = prospects.directory_id
        self.plain_mailing_list_id = prospects.lists[0].mailing_list_id
        self._server: ServerThread | None = None
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()  # closed by stop()

    # -- where it is -------------------------------------------------------------

    @property
    def app(self) -> QualtricsPaths:
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

    @property
    def client_rate_limits(self) -> dict[str, int]:
        """The requests a minute per family that :meth:`client` tells a client: the
        sandbox's own limits, and :data:`UNLIMITED` for each family it does not limit and
        for the brand-wide budget (the sandbox has none)."""
        lifted = {family: UNLIMITED for family in (*FAMILIES, BRAND)}
        return lifted | self._faults.rate_limits

    def client(self, *, oauth: bool = False, **kwargs: Any) -> Any:
        """A ``qxframe.Client`` for this sandbox, told the sandbox's own rate limits.

        With ``oauth=True`` it authenticates with the sandbox's OAuth client (and no API
        token, so it cannot trigger workflows, as with Qualtrics).

        Families the sandbox does not limit get :data:`UNLIMITED` requests a minute, so
        pushes run as fast as the sandbox answers; pass ``rate_limits=`` to choose others
        (e.g. Qualtrics' defaults, to see the client slow down on 429s). Not started, the
        client talks to ``sb.app`` in-process (an ``httpx.ASGITransport``) unless a
        ``transport`` is given.
        """
        from qxframe.delivery._client import Client

        if self._server is None and "transport" not in kwargs:
            import httpx

            kwargs["transport"] = httpx.ASGITransport(app=self._app)
        kwargs.setdefault("rate_limits", self.client_rate_limits)
        if oauth:
            kwargs.setdefault("client_id", self.oauth_client_id)
            kwargs.setdefault("client_secret", self.oauth_client_secret)
        else:
            kwargs.setdefault("api_token", self.api_token)
        client = Client(base_url=self.base_url, **kwargs)
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
        check_family(family)  # first, as before: a wrong family is the error to report
        self._faults.fail_next(family, scripted(status, after_commit, retry_after), times)

    def reset(self) -> None:
        """Drop contacts, transactions, events, requests and pending ``fail_next``s."""
        self._store.reset()
        self._imports.reset()
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

    def mailing_list_members(self) -> pl.DataFrame:
        """One row per (mailing list, contact) membership, in order of joining."""
        return _frame(self._store.member_rows(), "members")

    def imports(self) -> pl.DataFrame:
        """One row per import job: its list, sizes, counts and progress now."""
        return _frame(self._imports.job_rows(), "imports")

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
    **knobs: Any,
) -> Iterator[Sandbox]:
    """Run a :class:`Sandbox` on 127.0.0.1 (ephemeral port) for the ``with`` block.

    ``knobs``: the other keywords of :class:`Sandbox` (``next_page``,
    ``max_transactions_per_request``, ``extra_directories``, ``import_rate``,
    ``import_stall_at``, ``import_fail_at``, ``on_request``, ``oauth_token_ttl``,
    ``oauth_scopes``, ``clock``).
    """
    sb = Sandbox(
        latency=latency,
        rate_limit=rate_limit,
        error_rate=error_rate,
        seed=seed,
        page_size=page_size,
        **knobs,
    )
    sb.start()
    try:
        yield sb
    finally:
        sb.stop()
