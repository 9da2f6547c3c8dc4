"""The public actions: ``upsert_contacts``, ``upsert_transactions``, ``trigger_workflow``
and their async twins (DESIGN §1).

Each takes a frame (polars, pandas, LazyFrame, or a CSV/Parquet path) and keyword
arguments, and returns the results frame: one row per input row, in input order. The sync
functions run the push on the client's own background loop, so they also work inside a
running event loop (a Jupyter cell).
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from qxframe._contacts import CONTACTS
from qxframe._loop import LoopThread
from qxframe._runner import apush
from qxframe._transactions import TRANSACTIONS
from qxframe._workflows import WORKFLOW

if TYPE_CHECKING:
    from qxframe._client import Client

T = TypeVar("T")
Mapping_ = Mapping[str, Any] | None
_dry_run_loop = LoopThread("qxframe-dry-run")  # for dry runs given no client


def _run(coro: Coroutine[Any, Any, T], client: Client | None) -> T:
    return client.run(coro) if client is not None else _dry_run_loop.run(coro)


async def aupsert_contacts(
    frame: Any,
    *,
    client: Client | None = None,
    directory_id: str | None = None,
    mapping: Mapping_ = None,
    dry_run: bool = False,
    concurrency: int | None = None,
    progress: bool | None = None,
) -> pl.DataFrame:
    """Async twin of :func:`upsert_contacts`."""
    return await apush(
        CONTACTS,
        frame,
        client=client,
        constants={"directory_id": directory_id},
        mapping=mapping,
        dry_run=dry_run,
        concurrency=concurrency,
        progress=progress,
    )


def upsert_contacts(
    frame: Any,
    *,
    client: Client | None = None,
    directory_id: str | None = None,
    mapping: Mapping_ = None,
    dry_run: bool = False,
    concurrency: int | None = None,
    progress: bool | None = None,
) -> pl.DataFrame:
    """Create or update one XM Directory contact per row.

    Args:
        frame: a polars/pandas DataFrame, a LazyFrame, or a path to a CSV/Parquet file.
        client: the :class:`Client` (default: ``Client.from_env()``; none needed for a dry run).
        directory_id: the directory (``POOL_…``) for every row; leave it out to read a column.
        mapping: ``{field: column | polars expression | [columns]}`` (DESIGN §1).
        dry_run: send nothing; valid rows get ``status="dry_run"`` and their JSON body.
        concurrency: requests in flight (default 4).
        progress: show a progress bar (default: for pushes over a few hundred rows).

    Returns:
        The results frame: one row per input row, in input order.

    A contact is merged into an existing one only when the directory deduplicates on
    fields the row carries (Qualtrics' own rule); otherwise each row creates a contact.
    """
    coro = aupsert_contacts(
        frame,
        client=client,
        directory_id=directory_id,
        mapping=mapping,
        dry_run=dry_run,
        concurrency=concurrency,
        progress=progress,
    )
    return _run(coro, client)


async def aupsert_transactions(
    frame: Any,
    *,
    client: Client | None = None,
    directory_id: str | None = None,
    mailing_list_id: str | None = None,
    mapping: Mapping_ = None,
    dry_run: bool = False,
    concurrency: int | None = None,
    progress: bool | None = None,
    batch_size: int = 100,
) -> pl.DataFrame:
    """Async twin of :func:`upsert_transactions`."""
    constants = {"directory_id": directory_id, "mailing_list_id": mailing_list_id}
    return await apush(
        TRANSACTIONS,
        frame,
        client=client,
        constants=constants,
        mapping=mapping,
        dry_run=dry_run,
        concurrency=concurrency,
        progress=progress,
        batch_size=batch_size,
    )


def upsert_transactions(
    frame: Any,
    *,
    client: Client | None = None,
    directory_id: str | None = None,
    mailing_list_id: str | None = None,
    mapping: Mapping_ = None,
    dry_run: bool = False,
    concurrency: int | None = None,
    progress: bool | None = None,
    batch_size: int = 100,
) -> pl.DataFrame:
    """Add one contact transaction per row, finding or creating each contact first.

    Rows without ``contact_id`` are looked up by ``ext_ref``, ``phone`` and ``email``
    (once per distinct identity); a contact is created when none matches. Transactions go
    ``batch_size`` per request. Other arguments as :func:`upsert_contacts`; the results
    carry the transaction id in ``qualtrics_id`` and the contact in ``contact_id``.
    """
    coro = aupsert_transactions(
        frame,
        client=client,
        directory_id=directory_id,
        mailing_list_id=mailing_list_id,
        mapping=mapping,
        dry_run=dry_run,
        concurrency=concurrency,
        progress=progress,
        batch_size=batch_size,
    )
    return _run(coro, client)


async def atrigger_workflow(
    frame: Any,
    *,
    client: Client | None = None,
    workflow_url: str | None = None,
    mapping: Mapping_ = None,
    dry_run: bool = False,
    concurrency: int | None = None,
    progress: bool | None = None,
) -> pl.DataFrame:
    """Async twin of :func:`trigger_workflow`."""
    return await apush(
        WORKFLOW,
        frame,
        client=client,
        constants={"workflow_url": workflow_url},
        mapping=mapping,
        dry_run=dry_run,
        concurrency=concurrency,
        progress=progress,
    )


def trigger_workflow(
    frame: Any,
    *,
    client: Client | None = None,
    workflow_url: str | None = None,
    mapping: Mapping_ = None,
    dry_run: bool = False,
    concurrency: int | None = None,
    progress: bool | None = None,
) -> pl.DataFrame:
    """Start a workflow once per row through its JSON-event trigger URL.

    The event body is ``event_payload`` (default: the whole row, less the column that gave
    ``workflow_url``). The URL must be https on ``*.qualtrics.com`` or the client's own
    ``base_url`` origin: the API token is never sent anywhere else. A trigger is never
    re-sent after an ambiguous failure (``outcome_unknown``).
    """
    coro = atrigger_workflow(
        frame,
        client=client,
        workflow_url=workflow_url,
        mapping=mapping,
        dry_run=dry_run,
        concurrency=concurrency,
        progress=progress,
    )
    return _run(coro, client)
