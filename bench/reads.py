"""r. Reading back and planning: 20,000 list members read, and 20,000 rows planned, against
a sandbox answering in 0.3 s.

The sandbox runs in its own process (:mod:`bench._remote`) holding ``r_members`` members of
one mailing list (seeded straight into its store). Three runs, each against the same
members, each with the client's limits lifted (so what is measured is the code and the
latency, not a bucket; the minutes at Qualtrics' limits are computed from the calls):

- ``qx.read_contacts`` of the list: a page (50 members, the list's maximum) depends on the
  cursor of the one before, so the pages are sequential by nature; the ideal is pages ×
  latency. The sandbox's CPU per page is measured over the same pages (the issue that
  motivated this figure: ~240 ms a page of a 20,000-member list, growing with the list).
- ``qx.plan_contacts`` of what was read, into the same list: one directories call, the list
  read once, matched in memory. Ideal: (1 + pages) × latency.
- ``qx.plan_contacts`` of the same rows without the list: one search per identity
  (``includeEmbedded=true``), ``SEARCH_WORKERS`` at a time. Ideal: searches × latency ÷
  workers (+ the directories call).

Both plans must come back all ``unchanged`` with nothing written: the round trip.
"""

from __future__ import annotations

import math
import time

import polars as pl

import qxframe as qx
from bench._common import Figure, Sizes, cpu_seconds, timed
from bench._common import warm_up as _warm_up
from bench._remote import RemoteSandbox
from qxframe._plan import SEARCH_WORKERS
from qxframe.delivery._config import DEFAULT_RATE_LIMITS

PAGE = 50  # members a page: the list's maximum (docs/qualtrics-api.md §7)


@timed
def run(sizes: Sizes) -> Figure:
    members, latency = sizes.r_members, sizes.r_latency
    pages = math.ceil(members / PAGE)
    figure = Figure(
        "r",
        "Reading back and planning",
        f"{members:,} members of one mailing list (ext_ref, e-mail, first name, two "
        f"embedded-data fields) in a sandbox in its own process answering in {latency} s; "
        "client limits lifted. Read the list; plan those rows into the list (one list read) "
        f"and into the directory (a search per identity, {SEARCH_WORKERS} at a time).",
    )
    _warm_up()
    with RemoteSandbox(latency=latency) as sb, sb.client() as client:
        sb.seed_members(members)
        client.whoami()  # the client's loop and pool, before timing
        where = {"directory_id": sb.directory_id, "mailing_list_id": sb.mailing_list_id}

        since, sandbox_cpu = sb.requests().height, sb.cpu_seconds()
        started, cpu = time.perf_counter(), cpu_seconds()
        read = qx.read_contacts(client=client, progress=False, **where)
        read_s = time.perf_counter() - started
        read_cpu = cpu_seconds() - cpu
        page_cpu_ms = (sb.cpu_seconds() - sandbox_cpu) / pages * 1000
        read_calls = sb.requests().height - since
        assert isinstance(read, pl.DataFrame) and read.height == members, read

        since = sb.requests().height
        started = time.perf_counter()
        by_list = qx.plan_contacts(read, client=client, progress=False, **where)
        list_s = time.perf_counter() - started
        list_log = sb.requests().slice(since)

        since, sandbox_cpu = sb.requests().height, sb.cpu_seconds()
        started, cpu = time.perf_counter(), cpu_seconds()
        by_search = qx.plan_contacts(
            read, client=client, progress=False, directory_id=sb.directory_id
        )
        search_s = time.perf_counter() - started
        search_cpu, search_sandbox_cpu = cpu_seconds() - cpu, sb.cpu_seconds() - sandbox_cpu
        search_log = sb.requests().slice(since)

    for plan in (by_list, by_search):
        assert plan["operation"].to_list() == ["unchanged"] * members, plan
    searches = search_log.filter(pl.col("path").str.ends_with("/search")).height
    writes = [
        log.filter((pl.col("method") != "GET") & ~pl.col("path").str.ends_with("/search")).height
        for log in (list_log, search_log)
    ]
    read_ideal = pages * latency
    list_ideal = list_log.height * latency  # sequential: the directories call, then pages
    search_ideal = math.ceil(searches / SEARCH_WORKERS) * latency + latency

    figure.check("read: pages", read_calls, "{:,.0f}", pages, at_most=True)
    figure.check("read: wall time ÷ (pages × latency)", read_s / read_ideal, "{:.2f}", 1.1, True)
    figure.check(
        "sandbox CPU per page ÷ latency", page_cpu_ms / 1000 / latency, "{:.3f}", 0.1, True
    )
    figure.check(
        "plan by list: wall time ÷ (calls × latency)",
        list_s / list_ideal,
        "{:.2f}",
        1.2,
        at_most=True,
    )
    figure.check(
        "plan by search: wall time ÷ (calls × latency)",
        search_s / (search_log.height * latency),
        "{:.3f}",
        0.1,
        at_most=True,
    )
    figure.check("writes in either plan's request log", sum(writes), "{:.0f}", 0, at_most=True)
    figure.info("read: wall time", f"{read_s:.1f} s (pages × latency: {read_ideal:.1f} s)")
    figure.info("read: sandbox CPU per page", f"{page_cpu_ms:.2f} ms")
    figure.info("read: client CPU per page", f"{read_cpu / pages * 1000:.2f} ms")
    figure.info(
        "plan by list: calls, wall time",
        f"{list_log.height:,} (1 directories + {list_log.height - 1:,} pages), {list_s:.1f} s",
    )
    figure.info(
        "plan by search: calls, wall time",
        f"{search_log.height:,} ({searches:,} searches + 1 directories), {search_s:.1f} s "
        f"(ideal {search_ideal:.1f} s with {SEARCH_WORKERS} in flight × {latency} s: "
        f"÷ ideal {search_s / search_ideal:.2f})",
    )
    figure.info(
        "plan by search: CPU per search, client / sandbox",
        f"{search_cpu / searches * 1000:.2f} ms / {search_sandbox_cpu / searches * 1000:.2f} ms",
    )
    reads_limit, search_limit = DEFAULT_RATE_LIMITS["reads"], DEFAULT_RATE_LIMITS["search"]
    list_minutes = max(list_log.height / reads_limit, list_log.height * latency / 60)
    search_minutes = searches / search_limit
    figure.info(
        f"minutes at Qualtrics' limits (reads 3,000/min, search 500/min), {latency} s latency",
        f"plan by list {list_minutes:.1f} min (bound: pages one after another, "
        f"{list_log.height:,} × {latency} s); plan by search {search_minutes:.1f} min "
        f"(bound: the search limit, {searches:,} ÷ {search_limit:.0f}/min)",
    )
    figure.notes.append(
        "What bounds each. Reading a list is sequential by nature (each page needs the "
        "cursor of the one before), so its floor is pages × latency, and the reads limit "
        f"(3,000/min) never binds at {latency} s a page; the sandbox's CPU per page is "
        "measured so that it is known not to be what limits it. A plan by list is that read "
        "plus a dry run and an in-memory match (seconds for 20,000 rows). A plan by search "
        f"costs one call per distinct identity: here {SEARCH_WORKERS} in flight × latency "
        "bounds it as long as the client's and the sandbox's CPU per search (above) times "
        f"{SEARCH_WORKERS} stays under the latency — on a shared machine they do not, and "
        "the wall time ÷ ideal says by how much; against Qualtrics the search limit "
        "(500/min) does, whatever the concurrency — "
        f"{members:,} identities take {members / search_limit:.0f} minutes, against "
        f"{list_minutes:.1f} for the list. Give plan_contacts the mailing list when there "
        "is one."
    )
    figure.data = {
        "members": members,
        "pages": pages,
        "read_seconds": read_s,
        "read_calls": read_calls,
        "sandbox_cpu_ms_per_page": page_cpu_ms,
        "plan_list_seconds": list_s,
        "plan_list_calls": list_log.height,
        "plan_search_seconds": search_s,
        "plan_search_calls": search_log.height,
        "writes": writes,
    }
    return figure
