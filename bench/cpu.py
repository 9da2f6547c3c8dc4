"""d. CPU: µs per row of a contacts dry run, against the obvious per-row Python loop.

One million contacts with five embedded-data columns (str, int, float, bool, str with
nulls); one row in a hundred has a malformed e-mail and one in a hundred none. qxframe:
``qx.upsert_contacts(frame, directory_id=…, mapping={"embedded_data": [five]},
dry_run=True, progress=False)`` end to end (mapping, normalisation, validation, bodies,
results frame). The loop applies the same rules the way one would write them first: for
each row as a dict, check the e-mail with the same regex and that some identifier is
there, drop nulls, build the body dict in Qualtrics' key order, ``json.dumps`` it, and
return a results frame. Both produce the same statuses and byte-identical bodies (checked).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import polars as pl

import qxframe as qx
from bench._common import EMBEDDED, POOL, Figure, Sizes, contacts, median, runs, timed, warm_up
from qxframe.schemas import EMAIL_PATTERN

MAPPING = {"embedded_data": EMBEDDED}
#: (column, body key) in the order qxframe writes a contact body.
KEYS = (("first_name", "firstName"), ("last_name", "lastName"), ("email", "email"))
KEYS_AFTER = (("ext_ref", "extRef"),)


@timed
def run(sizes: Sizes) -> Figure:
    n = sizes.d_rows
    figure = Figure(
        "d",
        "CPU of a dry run",
        f"{n:,} contacts in a polars frame, five embedded-data columns mapped with "
        f"`mapping={{'embedded_data': {EMBEDDED}}}`; 1% malformed e-mails, 1% none. Median "
        f"of {sizes.d_repeats} dry run(s), then one run of the per-row loop.",
    )
    cold = warm_up()
    frame = contacts(n, bad_email_every=100)
    seconds = []
    for _ in range(sizes.d_repeats):
        started = time.perf_counter()
        results = qx.upsert_contacts(
            frame, directory_id=POOL, mapping=MAPPING, dry_run=True, progress=False
        )
        seconds.append(time.perf_counter() - started)
    started = time.perf_counter()
    looped = obvious_loop(frame)
    loop_seconds = time.perf_counter() - started

    per_row = median(seconds) / n * 1e6
    loop_per_row = loop_seconds / n * 1e6
    figure.check("qxframe µs per row", per_row, "{:.2f}", 10.0, at_most=True)
    figure.info("per-row Python loop µs per row", f"{loop_per_row:.2f}")
    figure.info("loop ÷ qxframe", f"{loop_per_row / per_row:.1f}× (qxframe is that much faster)")
    figure.info("qxframe runs (s)", runs(seconds, "{:.2f}"))
    figure.info("same statuses and bodies as the loop", _parity(results, looped))
    counts = qx.summary(results)
    figure.info("results", f"dry_run {counts['dry_run']:,}, invalid {counts['invalid']:,}")
    figure.info("first push in a fresh process (imports pandera, builds schemas)", f"{cold:.2f} s")
    figure.data = {
        "rows": n,
        "qxframe_s": seconds,
        "loop_s": loop_seconds,
        "us_per_row": per_row,
        "loop_us_per_row": loop_per_row,
        "cold_start_s": cold,
    }
    return figure


def obvious_loop(frame: pl.DataFrame) -> pl.DataFrame:
    """The straightforward dict-per-row dry run: what qxframe does, written row by row."""
    email_ok = re.compile(EMAIL_PATTERN).search
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    statuses: list[str] = []
    payloads: list[str | None] = []
    for row in frame.iter_rows(named=True):
        email = row["email"]
        if (email is not None and not email_ok(email)) or (
            email is None and row["ext_ref"] is None
        ):
            statuses.append("invalid")
            payloads.append(None)
            continue
        body: dict[str, Any] = {}
        for column, key in KEYS + KEYS_AFTER:
            if row[column] is not None:
                body[key] = row[column]
        embedded = {name: row[name] for name in EMBEDDED if row[name] is not None}
        if embedded:
            body["embeddedData"] = embedded
        statuses.append("dry_run")
        payloads.append(dumps(body))
    return pl.DataFrame(
        {"row": range(len(statuses)), "status": statuses, "payload": payloads},
        schema={"row": pl.Int64, "status": pl.String, "payload": pl.String},
    )


def _parity(results: pl.DataFrame, looped: pl.DataFrame) -> str:
    ours = results.select("row", "status", "payload")
    if ours.equals(looped):
        return f"yes, all {ours.height:,} rows"
    joined = ours.join(looped, on="row", how="full", suffix="_loop", coalesce=True)
    differ = joined.filter(
        (pl.col("status") != pl.col("status_loop"))
        | (pl.col("payload").fill_null("") != pl.col("payload_loop").fill_null(""))
    )
    return f"no: {differ.height:,} of {ours.height:,} rows differ"
