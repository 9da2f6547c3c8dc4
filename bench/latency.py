"""a. Latency-bound: contact creates against a sandbox that takes 50 ms per request.

With the client's rate limits lifted and 16 requests in flight, the ceiling is
concurrency ÷ latency (320 rows/s). The sandbox runs in its own process
(:mod:`bench._remote`), so the client's CPU and GIL are the client's alone, as they are
against real Qualtrics. Baselines, same rows, same sandbox, same run:

- a plain sequential loop: ``httpx.Client`` POSTing the very bodies qxframe sends (taken
  from a dry run, so body building is not timed), one after the other;
- bare httpx with 16 in flight: the same bodies through an ``httpx.AsyncClient``, which
  shows how close any httpx client gets to the ideal on this machine.

qxframe's push and the bare-httpx run alternate ``a_repeats`` times (median, min and max
reported); the sandbox is reset before each so every run creates the same contacts from
scratch. CPU per request is this process's CPU time during a run ÷ its requests: the
client's cost alone, qxframe's beside bare httpx's.
"""

from __future__ import annotations

import time

import polars as pl

import qxframe as qx
from bench import _raw
from bench._common import LIFTED, Figure, Sizes, contacts, cpu_seconds, median, spread, timed
from bench._common import warm_up as _warm_up
from bench._remote import RemoteSandbox

MAPPING = {"embedded_data": ["plan", "score"]}


@timed
def run(sizes: Sizes) -> Figure:
    concurrency, latency = sizes.a_concurrency, sizes.a_latency
    ideal = concurrency / latency
    figure = Figure(
        "a",
        "Latency-bound contacts",
        f"{sizes.a_rows:,} contacts (ext_ref, e-mail, names, two embedded-data fields) into "
        f"the deduplicating directory of a sandbox in its own process answering in "
        f"{latency} s, with `concurrency={concurrency}` and every client limit lifted "
        f"(`rate_limits` {LIFTED['contacts']:,}/min per family). Ideal: "
        f"{concurrency} ÷ {latency} s = {ideal:.0f} rows/s.",
    )
    _warm_up()
    frame = contacts(sizes.a_rows)
    bodies = _raw.contact_payloads(frame, MAPPING)
    pushes: list[float] = []
    bare: list[float] = []
    cpu_ms: list[float] = []
    bare_cpu_ms: list[float] = []
    with RemoteSandbox(latency=latency) as sb, sb.client() as client:
        client.whoami()  # start the client's loop and pool before timing
        for _ in range(sizes.a_repeats):
            sb.reset()
            started, cpu = time.perf_counter(), cpu_seconds()
            results = qx.upsert_contacts(
                frame,
                client=client,
                directory_id=sb.directory_id,
                mapping=MAPPING,
                concurrency=concurrency,
                progress=False,
            )
            seconds = time.perf_counter() - started
            cpu_ms.append((cpu_seconds() - cpu) / frame.height * 1000)
            succeeded = results.filter(pl.col("status") == "success").height
            pushes.append(succeeded / seconds)
            sb.reset()
            cpu = cpu_seconds()
            sent = _raw.concurrent(sb, bodies, concurrency, sizes.time_limit)
            bare_cpu_ms.append((cpu_seconds() - cpu) / max(1, sent.requests) * 1000)
            bare.append(sent.per_second)
        sb.reset()
        loop = _raw.sequential(sb, bodies[: sizes.a_loop_rows], sizes.time_limit)

    rate, bare_rate = median(pushes), median(bare)
    figure.check("qxframe rows/s ÷ ideal", rate / ideal, "{:.2f}", 0.9, at_most=False)
    figure.check("qxframe rows/s ÷ bare httpx", rate / bare_rate, "{:.2f}", 0.97, at_most=False)
    figure.check(
        "qxframe rows/s ÷ sequential httpx loop", rate / loop.per_second, "{:.1f}×", 12.0, False
    )
    figure.info("qxframe rows/s ÷ ideal, every run", spread([p / ideal for p in pushes]))
    figure.info(
        "qxframe rows/s ÷ bare httpx, run by run",
        spread([p / b for p, b in zip(pushes, bare, strict=True)]),
    )
    figure.info("qxframe rows/s", spread(pushes, "{:.0f}"))
    figure.info(f"bare httpx, {concurrency} in flight, rows/s", spread(bare, "{:.0f}"))
    figure.info(
        "bare httpx rows/s ÷ ideal (what any httpx client reaches here)",
        spread([b / ideal for b in bare]),
    )
    figure.info(f"sequential httpx loop rows/s ({loop.requests:,} rows)", f"{loop.per_second:.1f}")
    figure.info("client CPU per request, qxframe (ms)", spread(cpu_ms))
    figure.info("client CPU per request, bare httpx (ms)", spread(bare_cpu_ms))
    if loop.requests < min(sizes.a_loop_rows, len(bodies)):
        figure.notes.append(f"The loop hit its time limit after {loop.requests:,} rows.")
    if rate / ideal < 0.9:
        figure.notes.append(_why_not_ideal(rate, bare_rate, ideal, median(cpu_ms), latency))
    figure.data = {
        "ideal": ideal,
        "qxframe": pushes,
        "bare_httpx": bare,
        "loop": loop.per_second,
        "loop_rows": loop.requests,
        "cpu_ms_per_request": cpu_ms,
        "bare_cpu_ms_per_request": bare_cpu_ms,
    }
    return figure


def _why_not_ideal(rate: float, bare: float, ideal: float, cpu_ms: float, latency: float) -> str:
    return (
        f"{rate / ideal:.2f} of the ideal against a target of 0.90. A bare httpx client with "
        f"the same slots reached {bare / ideal:.2f} of the ideal in the same run, so "
        f"{max(0.0, 1 - rate / bare):.0%} of the gap is qxframe's and the rest is what any "
        f"httpx client gets from this machine: each request costs the client {cpu_ms:.2f} ms "
        f"of CPU, and answers that arrive together ({latency * 1000:.0f} ms after their "
        "requests) are handled one after another on one core."
    )
