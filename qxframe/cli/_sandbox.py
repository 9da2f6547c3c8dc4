"""``qxframe sandbox``: the embedded Qualtrics-compatible server, run until Ctrl-C or SIGTERM,
with a banner naming its token and ids and, with ``--log``, a line per request.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import Any

from qxframe.cli._command import command


def add_sandbox(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "sandbox",
        help="run a local Qualtrics-compatible server to try pushes against",
        description="Run the qxframe sandbox (a Qualtrics-compatible server) on 127.0.0.1 "
        "until Ctrl-C or SIGTERM. It prints a throwaway API token and the ids to use.\n\n"
        "What it received can be read from another shell, with its token: "
        "GET /_sandbox/workflow-events and GET /_sandbox/requests answer JSON rows.",
        examples=[
            "qxframe sandbox --port 8765",
            "qxframe sandbox --port 8765 --log",
            "qxframe sandbox --latency 0.2 --rate-limit 500 --error-rate 0.05",
            'curl -s -H "X-API-TOKEN: $QUALTRICS_API_TOKEN" '
            "http://127.0.0.1:8765/_sandbox/workflow-events",
        ],
    )
    parser.add_argument(
        "--port", type=_port, default=0, help="port on 127.0.0.1 (default 0: pick a free one)"
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
    parser.add_argument(
        "--log",
        action="store_true",
        help="print one line per request: method, path, status, endpoint family",
    )
    parser.set_defaults(handler=_run_sandbox)


def _port(text: str) -> int:
    """``--port``: 0 (any free port) to 65535; argparse turns what this raises into a usage
    error naming the option (exit 2)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"give a port from 0 to 65535, not {text!r}")
    return port


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
            "or, as an OAuth client (no workflow triggers: they take only the token):",
            f"  export QUALTRICS_CLIENT_ID={sb.oauth_client_id}",
            f"  export QUALTRICS_CLIENT_SECRET={sb.oauth_client_secret}",
            "What it received (JSON):",
            f'  curl -s -H "X-API-TOKEN: $QUALTRICS_API_TOKEN" {sb.base_url}/_sandbox/requests',
            f'  curl -s -H "X-API-TOKEN: $QUALTRICS_API_TOKEN" '
            f"{sb.base_url}/_sandbox/workflow-events",
            "",
            "Press Ctrl-C to stop.",
        ]
    )


def _log_line(row: dict[str, Any]) -> None:
    """``--log``: one line per request (never its query string, headers or body)."""
    with contextlib.suppress(OSError):  # whoever read our output may be gone
        print(f"{row['method']} {row['path']} {row['status']} {row['family'] or '-'}", flush=True)


def _run_sandbox(args: argparse.Namespace) -> int:
    from qxframe import Sandbox

    try:
        sb = Sandbox(
            latency=args.latency,
            rate_limit=args.rate_limit,
            error_rate=args.error_rate,
            seed=args.seed,
            on_request=_log_line if args.log else None,
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
    with contextlib.suppress(BrokenPipeError):  # whoever read our output may be gone
        print("qxframe sandbox stopped.", flush=True)
    return 0
