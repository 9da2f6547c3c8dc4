"""Finding the ids a push needs: ``qxframe whoami`` (whose token it is), ``directories``
(the POOL_… ids) and ``lists --directory-id`` (a directory's CG_… ids).
"""

from __future__ import annotations

import argparse
from typing import Any

from qxframe.cli import _edge
from qxframe.cli._command import ENVIRONMENT, command
from qxframe.cli._edge import at_edge
from qxframe.cli._output import table


def add_whoami(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "whoami",
        help="check the token: the user, brand and datacenter it belongs to",
        description="Check the API token with Qualtrics and print whose it is. " + ENVIRONMENT,
        examples=["qxframe whoami", "QUALTRICS_DATACENTER=fra1 qxframe whoami"],
    )
    parser.set_defaults(handler=_run_whoami)


def _run_whoami(args: argparse.Namespace) -> int:
    def work() -> int:
        with _edge.client(dry_run=False) as client:
            me = client.whoami()
        for key in ("userName", "firstName", "lastName", "email", "brandId", "datacenter"):
            if me.get(key) is not None:
                print(f"{key + ':':<12} {me[key]}")
        print("Next: qxframe directories")
        return 0

    return at_edge(work)


def add_directories(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "directories",
        help="list the XM Directories (POOL_… ids) the token can reach",
        description="List the directories of the brand: the id to give --directory-id, "
        "its name, its contacts, and the fields it deduplicates on (a directory that does "
        "not deduplicate makes a new contact for every push of the same person). " + ENVIRONMENT,
        examples=["qxframe directories", "qxframe lists --directory-id POOL_…"],
    )
    parser.set_defaults(handler=_run_directories)


def _run_directories(args: argparse.Namespace) -> int:
    def work() -> int:
        with _edge.client(dry_run=False) as client:
            found = client.directories()
        dedup = "deduplicates on"
        columns = {
            "directory_id": lambda r: r["directory_id"],
            "name": lambda r: r["name"] or "",
            "contacts": lambda r: "" if r["contact_count"] is None else str(r["contact_count"]),
            dedup: lambda r: ", ".join(r["deduplication_criteria"] or []) or "(nothing)",
        }
        print(table(found, columns))
        print("Next: qxframe lists --directory-id POOL_…   (a directory's mailing lists)")
        return 0

    return at_edge(work)


def add_lists(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "lists",
        help="list the mailing lists (CG_… ids) of a directory",
        description="List the mailing lists of a directory: the id to give "
        "--mailing-list-id, its name and its contacts. " + ENVIRONMENT,
        examples=["qxframe lists --directory-id POOL_…", "qxframe directories"],
    )
    parser.add_argument(
        "--directory-id", required=True, metavar="POOL_ID", help="the directory (POOL_…)"
    )
    parser.set_defaults(handler=_run_lists)


def _run_lists(args: argparse.Namespace) -> int:
    def work() -> int:
        with _edge.client(dry_run=False) as client:
            found = client.mailing_lists(args.directory_id)
        columns = {
            "mailing_list_id": lambda r: r["mailing_list_id"],
            "name": lambda r: r["name"] or "",
            "contacts": lambda r: "" if r["contact_count"] is None else str(r["contact_count"]),
        }
        print(table(found, columns))
        return 0

    return at_edge(work)
