"""i. A small push: ten contacts from a CSV file, warm, against a plain ``csv`` + httpx loop.

The case a person meets first: a ten-row file, pushed with the defaults a real account
has (Qualtrics' rate limits, 500 contact writes a minute), the library already imported
and its client open (a second push in a notebook, a few seconds after the first: each
timed push follows 1.5 s idle, as a person's would). The sandbox runs in its own process
and answers at once, so what is timed is the client's own cost. Baseline: the loop
anyone would write without qxframe — ``csv.DictReader`` over the same file, a body built
by hand per row, ``httpx.Client.post`` one after the other on an open connection.

Reported: the median over ``i_repeats`` of each, and qxframe's ÷ the loop's. Before
issue 22 the token bucket had no burst: ten requests at 500 a minute were spaced 0.12 s
apart (about 1.1 s for ten); its burst now sends them at once (docs/architecture.md,
"Delivery").
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

import httpx
import polars as pl

import qxframe as qx
from bench import _raw
from bench._common import Figure, Row, Sizes, contacts, median, spread, timed, warm_up
from bench._remote import RemoteSandbox

TARGET = 5.0  # qxframe's time ÷ the loop's, at most (issue 22 measured 11.3×)
IDLE = 1.5  # seconds between pushes, not timed: longer than the burst takes to refill
COLUMNS = ["ext_ref", "email", "first_name", "last_name"]
BODY_KEYS = {"ext_ref": "extRef", "email": "email", "first_name": "firstName"}
BODY_KEYS |= {"last_name": "lastName"}


def _loop(sb: RemoteSandbox, path: Path, client: httpx.Client) -> float:
    """Seconds the plain loop takes to read ``path`` and post one contact per row."""
    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            body = {BODY_KEYS[k]: v for k, v in row.items() if v}
            client.post(_raw.contacts_url(sb), json=body).raise_for_status()  # type: ignore[arg-type]
    return time.perf_counter() - started


@timed
def run(sizes: Sizes) -> Figure:
    rows = sizes.i_rows
    figure = Figure(
        "i",
        "A small push",
        f"{rows} contacts ({', '.join(COLUMNS)}) from a CSV file, pushed with Qualtrics' "
        "default rate limits (500 contact writes a minute) by a warm client (imports done, "
        "connection open), against a sandbox in its own process answering at once; "
        f"median of {sizes.i_repeats} runs each. Baseline: `csv.DictReader` + a body built "
        "by hand + `httpx.Client.post`, one row after the other.",
    )
    warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ten.csv"
        contacts(rows).select(COLUMNS).write_csv(path)
        pushes: list[float] = []
        loops: list[float] = []
        with RemoteSandbox() as sb, sb.client(rate_limits={}) as client:  # Qualtrics' limits
            headers = {"X-API-TOKEN": sb.api_token}
            with httpx.Client(headers=headers, timeout=_raw.TIMEOUT) as plain:
                plain.get(f"{sb.base_url}/API/v3/whoami")  # open the connection
                client.whoami()
                for _ in range(sizes.i_repeats + 1):  # the first of each is a warm-up
                    sb.reset()
                    time.sleep(IDLE)  # a person runs the cell again: the bucket refilled
                    started = time.perf_counter()
                    res = qx.upsert_contacts(
                        path, client=client, directory_id=sb.directory_id, progress=False
                    )
                    pushes.append(time.perf_counter() - started)
                    assert res.filter(pl.col("status") == "success").height == rows
                    sb.reset()
                    loops.append(_loop(sb, path, plain))
    pushes, loops = pushes[1:], loops[1:]
    ratio = median(pushes) / median(loops)
    figure.rows += [
        Row("qxframe, ms (median, min–max)", spread([p * 1000 for p in pushes], "{:.1f}")),
        Row("csv + httpx loop, ms", spread([s * 1000 for s in loops], "{:.1f}")),
        Row("qxframe ÷ loop", f"{ratio:.1f}×", f"≤ {TARGET:.1f}×", ratio <= TARGET),
    ]
    figure.data = {"push_seconds": pushes, "loop_seconds": loops, "ratio": ratio}
    return figure
