"""Baselines without qxframe: the same request bodies posted by a bare httpx client.

:func:`sequential` is the plain loop (``httpx.Client``, one request after the other);
:func:`concurrent` keeps ``concurrency`` requests in flight (``httpx.AsyncClient``). Both
post pre-built bodies, so they measure HTTP alone: no validation, no body building.
Both stop at their deadline and report how many requests they actually sent.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import polars as pl

import qxframe as qx
from bench._common import Deadline

TIMEOUT = httpx.Timeout(30.0)


@dataclass(frozen=True)
class Sent:
    requests: int
    seconds: float
    statuses: Counter[int]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def contact_payloads(frame: pl.DataFrame, mapping: dict[str, Any] | None = None) -> list[bytes]:
    """The exact bodies qxframe would send for ``frame`` (its dry-run ``payload`` column)."""
    results = qx.upsert_contacts(
        frame, directory_id="POOL_bench", mapping=mapping, dry_run=True, progress=False
    )
    payloads = results.filter(pl.col("status") == "dry_run").get_column("payload")
    return [text.encode() for text in payloads.to_list()]


def _headers(sb: qx.Sandbox) -> dict[str, str]:
    return {"X-API-TOKEN": sb.api_token, "Content-Type": "application/json"}


def contacts_url(sb: qx.Sandbox) -> str:
    return f"{sb.base_url}/API/v3/directories/{sb.directory_id}/contacts"


def sequential(sb: qx.Sandbox, bodies: list[bytes], time_limit: float) -> Sent:
    """POST ``bodies`` one by one to the sandbox's contacts endpoint."""
    url, statuses, deadline = contacts_url(sb), Counter[int](), Deadline(time_limit)
    with httpx.Client(headers=_headers(sb), timeout=TIMEOUT) as client:
        client.get(f"{sb.base_url}/API/v3/whoami")  # open the connection before timing
        started = time.perf_counter()
        for body in bodies:
            statuses[client.post(url, content=body).status_code] += 1
            if deadline.passed():
                break
        seconds = time.perf_counter() - started
    return Sent(sum(statuses.values()), seconds, statuses)


def concurrent(sb: qx.Sandbox, bodies: list[bytes], concurrency: int, time_limit: float) -> Sent:
    """POST ``bodies`` with ``concurrency`` requests in flight (one worker per connection)."""
    return asyncio.run(_concurrent(sb, bodies, concurrency, time_limit))


async def _concurrent(
    sb: qx.Sandbox, bodies: list[bytes], concurrency: int, time_limit: float
) -> Sent:
    url, statuses, deadline = contacts_url(sb), Counter[int](), Deadline(time_limit)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=_headers(sb), timeout=TIMEOUT, limits=limits) as client:
        whoami = f"{sb.base_url}/API/v3/whoami"
        await asyncio.gather(*(client.get(whoami) for _ in range(concurrency)))  # open them
        queue = iter(bodies)

        async def worker() -> None:
            for body in queue:
                statuses[(await client.post(url, content=body)).status_code] += 1
                if deadline.passed():
                    return

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Sent(sum(statuses.values()), seconds, statuses)
