"""The demo behind ``make demo``: the three actions on the sample files, against the sandbox.

Starts the embedded sandbox on 127.0.0.1, checks the token with whoami, lists directories
and mailing lists, pushes ``data/samples/{contacts,transactions,workflow_events}.csv``
with the three actions, and prints per action the counts per status, the first rows that
failed or were invalid with their reasons, and what the sandbox now holds.

Run it with ``python -m qxframe.demo [SAMPLES_DIR]``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

import qxframe as qx
from qxframe._results import Status

SAMPLES = Path("data/samples")
SHOWN_FAILURES = 5


def _push(action: Callable[..., pl.DataFrame], source: Path, **options: Any) -> None:
    """Run one action on ``source`` (no progress bar) and print what came of it, timed."""
    started = time.perf_counter()
    results = action(source, progress=False, **options)
    _print_results(action.__name__, results, time.perf_counter() - started)


def _print_results(title: str, results: pl.DataFrame, seconds: float) -> None:
    counts = qx.summary(results)
    shown = ", ".join(f"{status} {n}" for status, n in counts.items() if n)
    print(f"\n== {title}: {results.height} rows in {seconds:.1f}s — {shown}")
    problems = results.filter(pl.col("status").is_in([Status.FAILED, Status.INVALID]))
    if problems.height:
        first = min(SHOWN_FAILURES, problems.height)
        print(f"   first {first} of {problems.height} not sent or refused:")
        for row in problems.head(SHOWN_FAILURES).iter_rows(named=True):
            reason = f"{row['error_code']}: {row['error_message']}"
            print(f"   row {row['row']:>4} {row['status']:<8} {reason}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    samples = Path(args[0]) if args else SAMPLES
    with pl.Config(tbl_rows=6, tbl_cols=8, fmt_str_lengths=40), qx.sandbox(seed=7) as sb:
        client = sb.client()  # told the sandbox's limits: none, so the demo runs in seconds
        me = client.whoami()
        who = f"{me['userName']} (brand {me['brandId']})"
        print(f"Sandbox at {sb.base_url}; token accepted for {who}.")
        print("\nDirectories:")
        print(client.directories().select("directory_id", "name", "deduplication_criteria"))
        print(f"\nMailing lists of {sb.directory_id}:")
        print(client.mailing_lists(sb.directory_id).select("mailing_list_id", "name"))

        _push(
            qx.upsert_contacts,
            samples / "contacts.csv",
            client=client,
            directory_id=sb.directory_id,
            mapping={"embedded_data": ["plan", "city", "signup_date"]},
        )
        _push(
            qx.upsert_transactions,
            samples / "transactions.csv",
            client=client,
            directory_id=sb.directory_id,
            mailing_list_id=sb.mailing_list_id,
            mapping={"transaction_data": ["amount", "currency", "product", "basket"]},
        )
        _push(
            qx.trigger_workflow,
            samples / "workflow_events.csv",
            client=client,
            workflow_url=sb.workflow_url,
        )

        print("\nThe sandbox now holds:")
        print(
            f"   {sb.contacts().height} contacts, {sb.transactions().height} transactions, "
            f"{sb.workflow_events().height} workflow events, after {sb.requests().height} requests."
        )
        print(
            sb.contacts()
            .select("contact_id", "email", "ext_ref", "first_name", "last_name")
            .head(5)
        )
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
