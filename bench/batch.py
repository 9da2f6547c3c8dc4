"""h. The batch path: client CPU per row for transactions whose contacts are known.

Transactions that carry ``contact_id`` need no lookup: they go straight into batches of
100 per request. The sandbox runs in its own process (:mod:`bench._remote`), so the CPU
time of this process during the push is the client's alone: mapping, validation, body
building, HTTP, and turning each answer into result rows. Divided by the rows, it is what
one transaction costs qxframe on this machine.
"""

from __future__ import annotations

import time

import polars as pl

import qxframe as qx
from bench._common import Figure, Sizes, cpu_seconds, spread, timed, warm_up
from bench._remote import RemoteSandbox

BATCH_SIZE = 100
CONCURRENCY = 16
CONTACTS = 1000


def frame_of(rows: int, contact_ids: list[str]) -> pl.DataFrame:
    """``rows`` transactions spread over the contacts ``contact_ids`` (round robin)."""
    i = pl.col("i")
    ids = dict(enumerate(contact_ids))
    return pl.select(pl.int_range(0, rows, dtype=pl.Int64).alias("i")).select(
        contact_id=(i % len(ids)).replace_strict(ids, return_dtype=pl.String),
        order_id=pl.format("O{}", i),
        amount=((i * 7919) % 100_000) / 100,
        transaction_date=pl.lit("2026-03-04 05:06:07"),
    )


@timed
def run(sizes: Sizes) -> Figure:
    rows = sizes.h_rows
    figure = Figure(
        "h",
        "The batch path",
        f"{rows:,} transactions for {CONTACTS:,} known contacts (`contact_id` given, two "
        f"`transaction_data` columns and a date), `batch_size={BATCH_SIZE}`, "
        f"`concurrency={CONCURRENCY}`, into a sandbox in its own process (latency 0, limits "
        f"lifted); {sizes.h_repeats} runs. CPU is this process's: the client's alone.",
    )
    warm_up()
    per_row: list[float] = []
    walls: list[float] = []
    with RemoteSandbox() as sb, sb.client() as client:
        client.whoami()
        for _ in range(sizes.h_repeats):
            sb.reset()
            frame = frame_of(rows, _contacts(client, sb))
            started, cpu = time.perf_counter(), cpu_seconds()
            results = qx.upsert_transactions(
                frame,
                client=client,
                directory_id=sb.directory_id,
                mailing_list_id=sb.mailing_list_id,
                mapping={"transaction_data": ["order_id", "amount"]},
                batch_size=BATCH_SIZE,
                concurrency=CONCURRENCY,
                progress=False,
            )
            per_row.append((cpu_seconds() - cpu) / rows * 1e6)
            walls.append(time.perf_counter() - started)
            succeeded = results.filter(pl.col("status") == "success").height
    median_us = sorted(per_row)[len(per_row) // 2]
    figure.check("client CPU µs per row (median)", median_us, "{:.1f}", 40.0, at_most=True)
    figure.info("client CPU µs per row", spread(per_row, "{:.1f}"))
    figure.info("wall time (s)", spread(walls, "{:.1f}"))
    figure.info("outcome of the last run", f"{succeeded:,} of {rows:,} rows succeeded")
    figure.data = {"us_per_row": per_row, "wall_s": walls, "succeeded": succeeded, "rows": rows}
    return figure


def _contacts(client: qx.Client, sb: RemoteSandbox) -> list[str]:
    """Create :data:`CONTACTS` contacts (untimed) and return their ids."""
    people = pl.DataFrame({"ext_ref": [f"B{i}" for i in range(CONTACTS)]})
    made = qx.upsert_contacts(people, client=client, directory_id=sb.directory_id, progress=False)
    return made.get_column("qualtrics_id").drop_nulls().to_list()
