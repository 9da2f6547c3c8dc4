"""The ``qxframe`` command: a thin skin over the library.

This module owns argument parsing and what the command prints; the work is done by
library functions. Each subcommand is one ``_add_<name>(subparsers)`` function that
registers its parser and sets ``handler`` to a ``_run_<name>(args) -> int`` function;
:func:`main` dispatches and returns the exit code (0 ok, 1 some rows failed, 2 usage or
configuration errors).

Subcommands: ``sandbox`` (run the embedded Qualtrics-compatible server until Ctrl-C).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any


def _add_sandbox(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="run a local Qualtrics-compatible server to try pushes against",
        description="Run the qxframe sandbox (a Qualtrics-compatible server) on 127.0.0.1 "
        "until Ctrl-C or SIGTERM. It prints a throwaway API token and the ids to use.",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default 0: pick a free one)"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds added to every request (default 0)",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="requests per minute per endpoint family; over it: 429",
    )
    parser.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="share of requests (0..1) answered 500 or 503 (default 0)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for ids and random errors (default 0)"
    )
    parser.set_defaults(handler=_run_sandbox)


def _sandbox_banner(sb: Any) -> str:
    return "\n".join(
        [
            f"qxframe sandbox listening on {sb.base_url}",
            "",
            f"  API token (a throwaway token for this sandbox only): {sb.api_token}",
            f"  directory_id           {sb.directory_id}   (deduplicates on email)",
            f"  mailing_list_id        {sb.mailing_list_id}",
            f"  plain_directory_id     {sb.plain_directory_id}   (no deduplication)",
            f"  plain_mailing_list_id  {sb.plain_mailing_list_id}",
            f"  workflow_url           {sb.workflow_url}",
            "",
            "Use it from another shell:",
            f"  export QUALTRICS_BASE_URL={sb.base_url}",
            f"  export QUALTRICS_API_TOKEN={sb.api_token}",
            "",
            "Press Ctrl-C to stop.",
        ]
    )


def _run_sandbox(args: argparse.Namespace) -> int:
    from qxframe._sandbox import Sandbox

    try:
        sb = Sandbox(
            latency=args.latency,
            rate_limit=args.rate_limit,
            error_rate=args.error_rate,
            seed=args.seed,
        )
        sb.start(port=args.port)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"qxframe sandbox: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print(_sandbox_banner(sb), flush=True)
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sb.stop()
    print("qxframe sandbox stopped.", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qxframe",
        description="Push rows of a dataframe to Qualtrics: XM Directory contacts, "
        "transactions and Xflow workflow events.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_sandbox(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
