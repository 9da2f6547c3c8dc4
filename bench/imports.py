"""f. Contacts into a mailing list by import jobs vs one request each; g. transactions'
identities by import vs by search.

f: the same contacts pushed into a mailing list with ``method="import"`` and with
``method="api"``, against a sandbox told to enforce Qualtrics' documented limits
(per-row writes 500/min, import creates 100/min) and ``import_rate`` — an assumption:
2,000 contacts processed a second per job. The client is told the same limits. The api
path is timed on a smaller run at the same limit and extrapolated linearly (its calls
are one per contact; its time is the rate limit's). Also reported: CPU µs per row of
building the jobs' bodies and mapping reports back (pure functions, no network).

g: transactions of people nobody has seen, through the deduplicating directory, with
identity resolution by import (``method="import"``) and by search (``method="api"``):
HTTP calls counted from the sandbox's log. Limits are lifted here: the count of calls
does not depend on them (at 500/min the search path alone would take hours). The import
jobs created are checked against the fewest that hold every person
(``ceil(people / MAX_CONTACTS)``), and shown beside the count jobs cut per input chunk
would make (each chunk's new people in jobs of their own, as before issue 21).
"""

from __future__ import annotations

import math
import time

import polars as pl

import qxframe as qx
from bench._common import LIFTED, Figure, Sizes, contacts, timed, transactions, warm_up
from qxframe.actions import _chunks, _import_job, _imports

IMPORT_RATE = 2000  # contacts a second per job: the stated assumption
LIMITS = {"contacts": 500, "search": 500, "transactions": 500, "imports": 100, "reads": 3000}
#: (contacts by import, contacts by api) per size; g: (people, transactions per person)
F_SIZES = {"full": (100_000, 2_000), "quick": (20_000, 300), "smoke": (300, 20)}
G_SIZES = {"full": (20_000, 5), "quick": (5_000, 5), "smoke": (40, 2)}
MAPPING = {"transaction_data": ["order_id", "amount"]}
LIFTED_ALL = LIFTED | {"imports": 1_000_000}


def _push_contacts(frame: pl.DataFrame, method: str, rate_limited: bool) -> dict[str, float]:
    knobs = {"rate_limit": LIMITS} if rate_limited else {}
    with qx.sandbox(import_rate=IMPORT_RATE, **knobs) as sb:  # type: ignore[arg-type]
        client = sb.client(rate_limits=LIMITS if rate_limited else LIFTED_ALL)
        try:
            started = time.perf_counter()
            res = qx.upsert_contacts(
                frame, client=client, directory_id=sb.directory_id,
                mailing_list_id=sb.mailing_list_id, method=method, progress=False,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            calls = sb.requests().height
            members = sb.mailing_list_members().height
        finally:
            client.close()
    ok = res.filter(pl.col("status") == "success").height
    return {"seconds": seconds, "calls": calls, "ok": ok, "members": members}


def cpu_per_row(rows: int) -> tuple[float, float]:
    """CPU µs per row of building import bodies, and of mapping full reports back."""
    frame = (
        contacts(rows)
        .with_row_index("row")
        .with_columns(
            pl.col("row").cast(pl.Int64),
            directory_id=pl.lit("POOL_bench"),
            mailing_list_id=pl.lit("CG_bench"),
            _merges=pl.lit(True),
        )
    )
    started = time.process_time()
    framed = _imports.with_bodies(frame.drop("i", strict=False))
    jobs = [j for wave in _imports.waves(framed) for j in _imports.plan_jobs(wave)]
    for job in jobs:
        job.body()
    built = time.process_time() - started
    started = time.process_time()
    for job in jobs:
        job.http_status, job.request_id, job.attempts = 202, "req", 1  # as created
        job.entries = [
            {"sourceIndexId": str(i), "contactId": f"CID_{i}", "importStatusCode": "added"}
            for i in range(job.rows.len())
        ]
        _import_job.map_report(job)
    mapped = time.process_time() - started
    return built / rows * 1e6, mapped / rows * 1e6


@timed
def run_f(sizes: Sizes) -> Figure:
    n_import, n_api = F_SIZES.get(sizes.name, F_SIZES["full"])
    figure = Figure(
        "f",
        "Contacts into a mailing list: import jobs vs one request each",
        f'{n_import:,} contacts into `sb.mailing_list_id` with `method="import"`, and '
        f'{n_api:,} with `method="api"` (extrapolated to {n_import:,}), against '
        f"`qx.sandbox(import_rate={IMPORT_RATE}, rate_limit={LIMITS})`; the client is told "
        f"the same limits. `import_rate` is an assumption ({IMPORT_RATE:,} contacts a second "
        "per job); real Qualtrics' processing speed is not documented.",
    )
    warm_up()
    imp = _push_contacts(contacts(n_import), "import", rate_limited=True)
    api = _push_contacts(contacts(n_api), "api", rate_limited=True)
    scale = n_import / n_api
    api_calls, api_seconds = api["calls"] * scale, api["seconds"] * scale
    figure.check("import: HTTP calls ÷ api calls", imp["calls"] / api_calls, "{:.4f}", 0.01, True)
    figure.check(
        "import: times faster than api", api_seconds / imp["seconds"], "{:.0f}×", 20, False
    )
    figure.info(
        "import",
        f"{imp['calls']:,.0f} calls, {imp['seconds']:.1f} s, {imp['ok']:,.0f} succeeded, "
        f"{imp['members']:,.0f} list members",
    )
    figure.info(
        "api (measured)", f"{api['calls']:,.0f} calls, {api['seconds']:.1f} s for {n_api:,} rows"
    )
    figure.info("api (extrapolated)", f"{api_calls:,.0f} calls, {api_seconds / 60:.0f} min")
    build, mapping = cpu_per_row(n_import)
    figure.check("CPU µs per row: building jobs", build, "{:.2f}", 5.0, True)
    figure.check("CPU µs per row: mapping reports back", mapping, "{:.2f}", 5.0, True)
    figure.notes.append(
        "Mapping back is measured from report entries already parsed from JSON (the "
        "entries' dicts are built by the benchmark, as httpx's `.json()` would give them)."
    )
    figure.data = {
        "import": imp,
        "api": api,
        "scale": scale,
        "cpu_build_us": build,
        "cpu_map_us": mapping,
    }
    return figure


def _push_transactions(frame: pl.DataFrame, method: str) -> dict[str, object]:
    with qx.sandbox(import_rate=IMPORT_RATE * 10) as sb:
        client = sb.client(rate_limits=LIFTED_ALL)
        try:
            started = time.perf_counter()
            res = qx.upsert_transactions(
                frame, client=client, directory_id=sb.directory_id,
                mailing_list_id=sb.mailing_list_id, mapping=MAPPING, method=method,
                concurrency=16, progress=False,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            log = sb.requests()
            held = (sb.contacts().height, sb.transactions().height)
        finally:
            client.close()
    by_family = dict(log.group_by("family").len().iter_rows())
    ok = res.filter(pl.col("status") == "success").height
    jobs = log.filter((pl.col("family") == "imports") & (pl.col("method") == "POST")).height
    return {
        "calls": log.height,
        "by_family": by_family,
        "seconds": seconds,
        "ok": ok,
        "held": held,
        "jobs": jobs,
    }


def jobs_cut_per_chunk(frame: pl.DataFrame) -> int:
    """Import jobs if each input chunk's new people went in jobs of their own (before
    issue 21: the last job of every chunk partial)."""
    firsts = frame.with_row_index("i").unique("email", keep="first")
    per_chunk = firsts.group_by(pl.col("i") // _chunks.CHUNK_SIZE).len()["len"]
    return sum(math.ceil(n / _imports.MAX_CONTACTS) for n in per_chunk)


@timed
def run_g(sizes: Sizes) -> Figure:
    people, per = G_SIZES.get(sizes.name, G_SIZES["full"])
    rows = people * per
    figure = Figure(
        "g",
        "Transactions for new people: identities by import vs by search",
        f"{rows:,} transactions for {people:,} people nobody has seen ({per} each, shuffled), "
        "into the deduplicating directory (on e-mail; every row has one), client limits "
        "lifted: the calls are what is compared. Sized down from 1,000,000 for 200,000 "
        "(the calls scale linearly: 2 import jobs per 20,000 people become 20).",
    )
    warm_up()
    frame = transactions(people, per)
    imp = _push_transactions(frame, "import")
    search = _push_transactions(frame, "api")
    figure.check(
        "search calls ÷ import calls", search["calls"] / imp["calls"], "{:.1f}×", 10, False
    )  # type: ignore[operator]
    fewest = math.ceil(people / _imports.MAX_CONTACTS)
    figure.check("import jobs created", imp["jobs"], "{:,.0f}", fewest, at_most=True)
    figure.info(
        "import jobs if cut per input chunk",
        f"{jobs_cut_per_chunk(frame):,} (each {_chunks.CHUNK_SIZE:,}-row chunk's new people "
        "in jobs of their own)",
    )
    for name, got in (("import", imp), ("search", search)):
        families = ", ".join(f"{f}: {n:,}" for f, n in sorted(got["by_family"].items()))  # type: ignore[attr-defined]
        contacts_held, tx_held = got["held"]  # type: ignore[misc]
        figure.info(
            name,
            f"{got['calls']:,} calls ({families}), {got['seconds']:.1f} s; {got['ok']:,} rows "
            f"succeeded, {contacts_held:,} contacts, {tx_held:,} transactions held",
        )
    figure.notes.append(
        "Both paths send the same transaction batches (100 a request); the difference is "
        "one search and one create per person against a few import jobs, their status "
        "polls and report pages."
    )
    figure.data = {"import": imp, "search": search}
    return figure
