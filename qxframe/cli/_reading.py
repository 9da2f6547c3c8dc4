"""The commands that write nothing to Qualtrics: ``qxframe summary`` (a past results file),
``read contacts`` (a directory's contacts or a list's members to a file) and ``plan
contacts`` (what ``push contacts`` with the same options would do).
"""

from __future__ import annotations

import argparse
from typing import Any

from qxframe._skins import field, options_for
from qxframe.cli import _edge, _inputs
from qxframe.cli._command import ENVIRONMENT, command
from qxframe.cli._edge import at_edge
from qxframe.cli._options import add_push_options, mapping_from
from qxframe.cli._output import LISTED_ROWS, summarize


def add_summary(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "summary",
        help="the per-status summary of a past push's results file",
        description="Print the summary of a results file written by --out (.csv or "
        ".parquet): the rows per status with their reasons, and the rows whose outcome is "
        "unknown. Exit status: 0 every row succeeded (or was skipped or dry-run), 1 some "
        "rows failed, were invalid or were not sent, 2 not a results file.",
        examples=[
            "qxframe summary results.csv",
            "qxframe summary results.parquet",
            "qxframe retry contacts results.csv contacts.csv --directory-id POOL_… "
            "--out all.csv --merge",
        ],
    )
    parser.add_argument("results", metavar="RESULTS", help="the results file (.csv/.parquet)")
    parser.set_defaults(handler=_run_summary)


def _run_summary(args: argparse.Namespace) -> int:
    from qxframe._skins import Status, Tally, read_results

    def work() -> int:
        tally = Tally(keep_rows=LISTED_ROWS)
        tally(read_results(args.results))
        summarize(f"summary {args.results}", tally, kept=False)
        return 0 if tally.ok and not tally.counts[Status.NOT_SENT] else 1

    return at_edge(work)


def add_read(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "read",
        help="read contacts back from Qualtrics into a file",
        description="Read Qualtrics back into a file whose columns are the push's fields.",
        examples=["qxframe read contacts --directory-id POOL_… --out contacts.parquet"],
    )
    what = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    sub = command(
        what,
        "contacts",
        help="a directory's contacts, or a mailing list's members",
        description="Write a directory's contacts, or a mailing list's members, to a .parquet "
        "or .csv file (written part by part) with the columns contact_id, ext_ref, email, "
        "phone, first_name, last_name, language, unsubscribed (the list's flag for a list), "
        "embedded_data (JSON text): a file `push contacts` and `plan contacts` accept as it "
        "is. A list is read 50 members a page; a directory 100 a page, and each contact once "
        "more for its embedded data. " + ENVIRONMENT + "\n\nExit status: 0 read, 1 an "
        "error after the read began, 2 usage, configuration or authentication error.",
        examples=[
            "qxframe read contacts --directory-id POOL_… --mailing-list-id CG_… "
            "--out members.parquet",
            "qxframe read contacts --directory-id POOL_… --out contacts.csv",
            "qxframe plan contacts members.parquet --directory-id POOL_… --mailing-list-id CG_…",
        ],
    )
    helps = {
        "directory_id": "the directory (POOL_…) to read",
        "mailing_list_id": "read this mailing list's members (CG_…) instead of the directory",
    }
    for name, text in helps.items():
        sub.add_argument(
            "--" + name.replace("_", "-"),
            metavar=field("contacts", name).metavar,
            required=name == "directory_id",
            help=text,
        )
    sub.add_argument("--out", metavar="PATH", required=True, help="the .parquet or .csv file")
    sub.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sub.set_defaults(handler=_run_read)


def _run_read(args: argparse.Namespace) -> int:
    def work() -> int:
        import polars as pl

        import qxframe as qx

        with _edge.client(dry_run=False) as client:
            contacts = qx.read_contacts(
                client=client,
                directory_id=args.directory_id,
                mailing_list_id=args.mailing_list_id,
                out=args.out,
                progress=False if args.no_progress else None,
            )
            count = contacts.lazy().select(pl.len()).collect().item()
        where = args.mailing_list_id or args.directory_id
        print(f"qxframe read contacts: {count} contact(s) of {where} written to {args.out}")
        return 0

    return at_edge(work)


def add_plan(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "plan",
        help="what a push would do, read from Qualtrics (nothing is written)",
        description="Plan a push: read what Qualtrics holds and say, per row, what `push` with "
        "the same options would do. Nothing is written to Qualtrics.",
        examples=["qxframe plan contacts segment.csv --directory-id POOL_… --out plan.csv"],
    )
    what = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(
        what,
        "contacts",
        help="plan `push contacts` of FILE",
        description="Per row of FILE: create, update (naming the fields that would change) or "
        "unchanged, or failed ambiguous_identity when several contacts match; invalid rows "
        "as a push would find them. With --mailing-list-id the list is read once; without, "
        "each identity is searched. Options as for `push contacts` (--dry-run is implied). "
        + ENVIRONMENT
        + "\n\nExit status: 0 every row planned, 1 some rows invalid or failed, 2 usage, "
        "configuration or authentication error.",
        examples=[
            "qxframe plan contacts segment.csv --directory-id POOL_… --mailing-list-id CG_… "
            "--out plan.csv",
            "qxframe plan contacts people.parquet --directory-id POOL_… "
            "--map embedded_data=plan,region --out plan.parquet",
        ],
    )
    sub.add_argument("file", metavar="FILE", help="the input rows, as for push")
    add_push_options(sub, "contacts")
    sub.set_defaults(handler=_run_plan)


def _run_plan(args: argparse.Namespace) -> int:
    def work() -> int:
        import polars as pl

        import qxframe as qx
        from qxframe._skins import Status, collect

        options = {o.name: getattr(args, o.name) for o in options_for("contacts")}
        with _edge.client(dry_run=False) as client:
            planned = collect(
                qx.plan_contacts(
                    _inputs.source(args, args.file),
                    client=client,
                    directory_id=args.directory_id,
                    mailing_list_id=args.mailing_list_id,
                    mapping=mapping_from("contacts", args.map),
                    concurrency=args.concurrency,
                    progress=False if args.no_progress else None,
                    journal=args.journal,
                    out=args.out,
                    **options,
                )
            )
        counts = planned.group_by(
            pl.coalesce("operation", "error_code", "status").alias("what")
        ).len()
        detail = ", ".join(f"{w} {n}" for w, n in sorted(counts.iter_rows()))
        print(f"qxframe plan contacts: {planned.height} row(s): {detail}")
        if args.out is not None:
            print(f"Plan: {args.out}")
        bad = planned.filter(pl.col("status").is_in([Status.FAILED, Status.INVALID]))
        return 1 if bad.height else 0

    return at_edge(work)
