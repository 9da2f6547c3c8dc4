"""The sandbox alone: how fast it answers a bare httpx client, and what it costs in CPU.

Figures a–c measure qxframe against ``qx.sandbox``; this one shows the sandbox is not
what limits them. A bare ``httpx.AsyncClient`` keeps 16 contact creates in flight against
a sandbox with no latency; we count requests per second and read the sandbox thread's
own CPU time from ``/proc`` (the server runs in a thread of this process, like in a–c).
A one-at-a-time round trip shows that no per-request delay (Nagle, delayed ACK) is left.
"""

from __future__ import annotations

import qxframe as qx
from bench import _raw
from bench._common import (
    Figure,
    Sizes,
    contacts,
    cpu_seconds,
    thread_cpu_seconds,
    timed,
    warm_up,
)

CONCURRENCY = 16
A_NEEDS = 16 / 0.05  # requests a second benchmark a asks of the sandbox at its ideal
ROUND_TRIPS = 200


@timed
def run(sizes: Sizes) -> Figure:
    figure = Figure(
        "0",
        "The sandbox alone",
        f"`qx.sandbox()` (latency 0, no limits) in a thread of the benchmark process; a bare "
        f"`httpx.AsyncClient` keeps {CONCURRENCY} `POST …/contacts` in flight over "
        f"{sizes.raw_requests:,} distinct contacts, then a plain `httpx.Client` sends "
        f"{min(ROUND_TRIPS, sizes.raw_requests)} one at a time.",
    )
    warm_up()
    bodies = _raw.contact_payloads(contacts(sizes.raw_requests, offset=50_000_000))
    with qx.sandbox() as sb:
        before, process_before = thread_cpu_seconds("qxframe-sandbox-"), cpu_seconds()
        burst = _raw.concurrent(sb, bodies, CONCURRENCY, sizes.time_limit)
        after, process_after = thread_cpu_seconds("qxframe-sandbox-"), cpu_seconds()
        sb.reset()
        one_by_one = _raw.sequential(sb, bodies[:ROUND_TRIPS], sizes.time_limit)
    data: dict[str, float | None] = {"requests_per_second": burst.per_second}
    if before is not None and after is not None and burst.requests and after > before:
        server_ms = (after - before) / burst.requests * 1000
        client_ms = (process_after - process_before) / burst.requests * 1000 - server_ms
        data |= {"server_cpu_ms_per_request": server_ms, "client_cpu_ms_per_request": client_ms}
        figure.check(
            f"sandbox capacity on one core (1 s ÷ its CPU per request) ÷ the {A_NEEDS:.0f} "
            "requests/s benchmark a asks",
            1000 / server_ms / A_NEEDS,
            "{:.1f}",
            1.0,
            at_most=False,
        )
        figure.info("sandbox thread CPU per request", f"{server_ms:.2f} ms")
        figure.info(
            "bare httpx client CPU per request (rest of the process)", f"{client_ms:.2f} ms"
        )
    else:
        figure.info("sandbox thread CPU per request", "not measurable here (no /proc?)")
    statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(burst.statuses.items()))
    figure.info(
        f"requests/s the pair manages, {CONCURRENCY} in flight, one process",
        f"{burst.per_second:,.0f} (statuses {statuses})",
    )
    if one_by_one.requests:
        round_trip = one_by_one.seconds / one_by_one.requests * 1000
        data["round_trip_ms"] = round_trip
        figure.info(
            "round trip, one request at a time (plain httpx.Client)", f"{round_trip:.2f} ms"
        )
    figure.notes.append(
        "The sandbox and its client share one process (and its GIL) here, as in a–c: the "
        "requests/s of the pair is bounded by their summed CPU per request, most of it the "
        "client's. The sandbox's own CPU per request is what says whether it could keep up."
    )
    figure.data = data
    return figure
