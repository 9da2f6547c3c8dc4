"""c. Transactions: HTTP calls and wall time for 10,000 transactions of 2,000 new people.

Five transactions per person, rows shuffled so people interleave, nobody in the directory
yet. qxframe looks each person up once, creates them once, and sends transactions 100 per
request: 2,000 + 2,000 + 100 = 4,100 calls (plus reading the directory's deduplication
settings). Segment's action does one search, one create and one post per event: 3 per
row, 30,000. Every call is counted from the sandbox's request log, per endpoint family;
the sandbox's contents check the push did what it should (one contact per person, every
transaction landed).
"""

from __future__ import annotations

import math
import time

import polars as pl

import qxframe as qx
from bench._common import Figure, Sizes, spread, timed, transactions, warm_up
from bench._remote import RemoteSandbox

BATCH_SIZE = 100  # qxframe's default
MAPPING = {"transaction_data": ["order_id", "amount"]}


@timed
def run(sizes: Sizes) -> Figure:
    people, per = sizes.c_people, sizes.c_per_person
    rows = people * per
    planned = 2 * people + math.ceil(rows / BATCH_SIZE)
    segment = 3 * rows
    figure = Figure(
        "c",
        "Transactions for new people",
        f"{rows:,} transactions for {people:,} people nobody has seen ({per} each, rows "
        f"shuffled), `transaction_data` from two columns, into "
        f"a sandbox in its own process answering in {sizes.c_latency} s, with client limits "
        f"lifted, `concurrency={sizes.c_concurrency}`, `batch_size={BATCH_SIZE}`, "
        '`method="api"` (one search per person: figure g compares it with import jobs); '
        f"{sizes.c_repeats} runs.",
    )
    warm_up()
    frame = transactions(people, per)
    walls: list[float] = []
    every_calls: list[int] = []
    with RemoteSandbox(latency=sizes.c_latency) as sb, sb.client() as client:
        client.whoami()
        for _ in range(sizes.c_repeats):
            sb.reset()
            started = time.perf_counter()
            results = qx.upsert_transactions(
                frame,
                client=client,
                directory_id=sb.directory_id,
                mailing_list_id=sb.mailing_list_id,
                mapping=MAPPING,
                concurrency=sizes.c_concurrency,
                batch_size=BATCH_SIZE,
                method="api",  # the search path; figure g compares it with import jobs
                progress=False,
            )
            walls.append(time.perf_counter() - started)
            log = sb.requests()
            every_calls.append(log.height)
        held_contacts, held_transactions = sb.contacts().height, sb.transactions().height

    seconds = sorted(walls)[len(walls) // 2]
    calls = max(every_calls)
    by_family = dict(log.group_by("family").len().iter_rows())
    succeeded = results.filter(pl.col("status") == "success").height
    figure.check("HTTP calls", calls, "{:,.0f}", planned, at_most=True)
    figure.info("calls by family", ", ".join(f"{f}: {n:,}" for f, n in sorted(by_family.items())))
    figure.info("Segment's way (search + create + post per event)", f"{segment:,} calls")
    figure.info("qxframe ÷ Segment's way", f"{calls / segment:.3f} ({segment / calls:.1f}× fewer)")
    figure.info("HTTP calls, every run", ", ".join(f"{n:,}" for n in every_calls))
    figure.info("wall time (s)", spread(walls, "{:.1f}"))
    figure.info(
        "median run",
        f"{rows / seconds:,.0f} transactions/s, {calls / seconds:,.0f} calls/s",
    )
    figure.info(
        "outcome",
        f"{succeeded:,} of {rows:,} rows succeeded; the sandbox holds {held_contacts:,} "
        f"contacts and {held_transactions:,} transactions",
    )
    if calls > planned:
        batches = math.ceil(rows / BATCH_SIZE)
        figure.notes.append(_why_over(calls, planned, people, batches, by_family))
    figure.data = {
        "calls": calls,
        "planned": planned,
        "by_family": by_family,
        "segment": segment,
        "wall_s": walls,
        "every_calls": every_calls,
        "succeeded": succeeded,
        "contacts": held_contacts,
        "transactions": held_transactions,
    }
    return figure


def _why_over(
    calls: int, planned: int, people: int, batches: int, by_family: dict[str, int]
) -> str:
    reads = by_family.get("reads", 0)
    over = calls - planned
    parts = [f"{over:,} call{'s' if over > 1 else ''} over the target of {planned:,}."]
    if reads:
        which = "All of them" if reads == over else f"{reads} of all calls"
        parts.append(
            f"{which} read the directory list (`GET /directories`, for its "
            "deduplication settings: they decide whether a create may be retried)."
        )
    if reads > 1:
        parts.append(
            f"One read would do: the other {reads - 1} are concurrent workers each fetching "
            "it before the first answer is cached (`_contacts.dedup_fields` caches the "
            "result, not the pending request). With that fixed the total is "
            f"{calls - reads + 1:,}: the target leaves no room for the one read."
        )
    expected = {"search": people, "contacts": people, "transactions": batches}
    extra = {f: n - expected[f] for f, n in by_family.items() if n > expected.get(f, n)}
    if extra:
        parts.append(f"More than planned per family: {extra}.")
    return " ".join(parts)
