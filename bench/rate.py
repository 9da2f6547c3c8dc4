"""b. Rate-bound at real latencies: does a push hold the limit when answers take 0.3–1 s?

The sandbox runs in its own process (:mod:`bench._remote`), limits every endpoint family
to ``b_limit`` requests a minute (a token bucket answering 429 with ``Retry-After``) and
takes ``latency`` seconds per answer; the client is told the same limits and keeps its
default concurrency, which follows the limit and the latency it observes (Little's law).
Two pushes per latency, each with enough rows for ``b_seconds`` at the limit:

- contacts: one create per row;
- transactions for new people: a search and a create per person (two per person, two
  families), then the transactions in batches.

The sustained rate is the accepted requests of a family over the span from its first to
its last one, from the sandbox's request log; for transactions the lower of the search
and contacts families is the figure. Each push is repeated ``b_repeats`` times; the same
push with ``concurrency=4`` (the old fixed default) is the baseline of the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

import qxframe as qx
from bench._common import Figure, Sizes, contacts, median, spread, timed, transactions, warm_up
from bench._remote import RemoteSandbox
from qxframe.delivery._config import BRAND, FAMILIES

BASELINE = 4  # the fixed concurrency qxframe used before its default followed the limit
STEPS = {"contacts": 1, "transactions": 2}  # sequential requests per row / per person
MEASURED = {"contacts": ("contacts",), "transactions": ("search", "contacts")}


@dataclass(frozen=True)
class Run:
    sustained: float  # accepted requests a minute, the measured families' lowest
    refused: float  # share of the measured families' requests answered 429
    succeeded: int
    rows: int


@timed
def run(sizes: Sizes) -> Figure:
    limit = sizes.b_limit
    figure = Figure(
        "b",
        "Rate-bound at real latencies",
        f"The sandbox in its own process, every family limited to {limit}/min and answering "
        f"in {' s and '.join(str(x) for x in sizes.b_latencies)} s; the client told the same "
        f"limits, default concurrency. Contacts, and transactions for new people (search + "
        f"create per person, then batches), each with enough rows for {sizes.b_seconds:.0f} s "
        f"at the limit, {sizes.b_repeats} runs each; baseline: the same push with "
        f"`concurrency={BASELINE}`.",
    )
    warm_up()
    for latency in sizes.b_latencies:
        with RemoteSandbox(latency=latency, rate_limit=limit, seed=5) as sb:
            for action in ("contacts", "transactions"):
                _measure(figure, sb, action, latency, sizes)
    return figure


def _measure(figure: Figure, sb: RemoteSandbox, action: str, latency: float, sizes: Sizes) -> None:
    limit, label = sizes.b_limit, f"{action}, {latency} s"
    rows = round(limit / 60 * sizes.b_seconds)
    runs = [_push(sb, action, rows, limit, None) for _ in range(sizes.b_repeats)]
    # the baseline gets the rows it can do in about b_seconds, so it cannot run for long
    baseline_rows = min(rows, math.ceil(BASELINE / (latency * STEPS[action]) * sizes.b_seconds))
    baseline = _push(sb, action, baseline_rows, limit, BASELINE)
    ratios = [r.sustained / limit for r in runs]
    figure.check(f"{label}: sustained ÷ limit (median)", median(ratios), "{:.3f}", 0.95, False)
    worst = max(r.refused for r in runs)
    figure.check(f"{label}: share answered 429 (worst run)", worst, "{:.2%}", 0.01, True)
    figure.info(f"{label}: sustained ÷ limit, every run", spread(ratios, "{:.3f}"))
    figure.info(
        f"{label}: baseline `concurrency={BASELINE}` sustained ÷ limit",
        f"{baseline.sustained / limit:.3f} ({baseline.rows:,} rows); default ÷ baseline "
        f"{median(ratios) / (baseline.sustained / limit):.2f}×",
    )
    failed = [r for r in [*runs, baseline] if r.succeeded < r.rows]
    if failed:
        figure.notes.append(f"{label}: some pushes had rows that did not succeed: {failed}")
    figure.data[label] = {
        "runs": [r.__dict__ for r in runs],
        "baseline": baseline.__dict__,
    }


def _push(sb: RemoteSandbox, action: str, rows: int, limit: int, concurrency: int | None) -> Run:
    sb.reset()
    limits = dict.fromkeys(FAMILIES, limit) | {BRAND: max(limit, 1_000_000)}  # families alone
    with sb.client(rate_limits=limits) as client:
        if action == "contacts":
            frame = contacts(rows)
            results = qx.upsert_contacts(
                frame,
                client=client,
                directory_id=sb.directory_id,
                concurrency=concurrency,
                progress=False,
            )
        else:
            frame = transactions(rows, 2)
            results = qx.upsert_transactions(
                frame,
                client=client,
                directory_id=sb.directory_id,
                mailing_list_id=sb.mailing_list_id,
                mapping={"transaction_data": ["order_id", "amount"]},
                concurrency=concurrency,
                progress=False,
            )
    log = sb.requests()
    families = MEASURED[action]
    sustained = min(_sustained(log, family) for family in families)
    measured = log.filter(pl.col("family").is_in(families))
    refused = measured.filter(pl.col("status") == 429).height / max(1, measured.height)
    succeeded = results.filter(pl.col("status") == "success").height
    return Run(sustained, refused, succeeded, frame.height)


def _sustained(log: pl.DataFrame, family: str) -> float:
    """Accepted requests a minute of ``family``, from its first acceptance to its last."""
    stamps = (
        log.filter((pl.col("family") == family) & (pl.col("status") == 200))
        .get_column("received_at")
        .sort()
    )
    if len(stamps) < 2:
        return 0.0
    span = (stamps[-1] - stamps[0]).total_seconds()
    return (len(stamps) - 1) / span * 60 if span > 0 else 0.0
