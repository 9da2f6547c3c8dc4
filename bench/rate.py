"""b. Rate-bound: a sandbox that allows 600 contact creates a minute and answers 429.

The sandbox limits the ``contacts`` family (a token bucket answering 429 with
``Retry-After``) and the client is told the same limit (``rate_limits={"contacts": 600}``).
Enough rows for ``b_seconds`` at the limit are pushed; the sandbox's request log
(``sb.requests()``) gives every contact request's arrival time and status. The sustained
rate is the accepted requests over the span from the first to the last one; it is also
given per minute of the run.
"""

from __future__ import annotations

import time

import polars as pl

import qxframe as qx
from bench._common import Figure, Sizes, contacts, timed, warm_up


@timed
def run(sizes: Sizes) -> Figure:
    limit = sizes.b_limit
    rows = round(limit / 60 * sizes.b_seconds)
    figure = Figure(
        "b",
        "Rate-bound contacts",
        f"{rows:,} contacts (enough for {sizes.b_seconds:.0f} s at the limit) into "
        f'`qx.sandbox(latency={sizes.b_latency}, rate_limit={{"contacts": {limit}}})`, '
        f'client `rate_limits={{"contacts": {limit}}}`, default concurrency (4).',
    )
    warm_up()
    frame = contacts(rows, offset=70_000_000)
    with qx.sandbox(latency=sizes.b_latency, rate_limit={"contacts": limit}) as sb:
        client = sb.client(rate_limits={"contacts": limit})
        try:
            client.whoami()
            sb.reset()
            started = time.perf_counter()
            results = qx.upsert_contacts(
                frame, client=client, directory_id=sb.directory_id, progress=False
            )
            seconds = time.perf_counter() - started
            log = sb.requests().filter(pl.col("family") == "contacts")
        finally:
            client.close()

    accepted = log.filter(pl.col("status") == 200).sort("received_at")
    refused = log.filter(pl.col("status") == 429).height
    succeeded = results.filter(pl.col("status") == "success").height
    stamps = accepted.get_column("received_at")
    span = (stamps[-1] - stamps[0]).total_seconds() if len(stamps) > 1 else 0.0
    sustained = (len(stamps) - 1) / span * 60 if span > 0 else 0.0
    figure.check("sustained rate ÷ limit", sustained / limit, "{:.3f}", 0.95, at_most=False)
    share = refused / log.height if log.height else 0.0
    figure.check("share of contact requests answered 429", share, "{:.2%}", 0.01, at_most=True)
    figure.info(
        "sustained rate (accepted requests, first to last)",
        f"{sustained:.1f}/min over {span:.1f} s",
    )
    figure.info(
        "end to end (successful rows ÷ push wall time)",
        f"{succeeded / seconds * 60:.1f}/min ({succeeded:,} rows in {seconds:.1f} s)",
    )
    figure.info("per minute of the run (accepted)", _per_minute(stamps))
    statuses = log.group_by("status").len().sort("status").iter_rows()
    figure.info("contact requests by status", ", ".join(f"{s}: {n:,}" for s, n in statuses))
    if sustained / limit < 0.95:
        figure.notes.append(
            f"{sustained / limit:.3f} of the limit against 0.95: the client spaced its "
            f"requests wider than 60/{limit} s; compare the end-to-end rate above."
        )
    figure.data = {
        "limit": limit,
        "sustained_per_min": sustained,
        "span_s": span,
        "accepted": len(stamps),
        "refused_429": refused,
        "requests": log.height,
        "wall_s": seconds,
        "succeeded": succeeded,
    }
    return figure


def _per_minute(stamps: pl.Series) -> str:
    if len(stamps) == 0:
        return "none"
    minute = ((stamps - stamps[0]).dt.total_seconds() // 60).cast(pl.Int64)
    counts = minute.value_counts().sort(minute.name).iter_rows()
    return ", ".join(f"minute {m + 1}: {n:,}" for m, n in counts)
