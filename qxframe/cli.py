"""The ``qxframe`` command: a thin skin over the library.

This module owns argument parsing and what the command prints; the work is done by
library functions. Each subcommand is one ``_add_<name>(subparsers)`` function that
registers its parser and sets ``handler`` to a ``_run_<name>(args) -> int`` function;
:func:`main` dispatches and returns the exit code (0 ok, 1 some rows failed, 2 usage,
configuration or authentication errors). Errors are converted to messages and exit codes
here, at the edge, and nowhere else. What FILE means (``-``, ``--delimiter``) and what a
resumed push prints after its summary are in :mod:`qxframe._cli_inputs`.

Subcommands:

- ``push contacts|transactions|workflow FILE``: push a CSV/Parquet file (progress on
  stderr, a summary on stdout, results to ``--out``, resumable with ``--journal``);
- ``retry contacts|transactions|workflow RESULTS FILE``: push again the rows of FILE that
  failed according to RESULTS (never those whose outcome is unknown);
- ``sandbox``: run the embedded Qualtrics-compatible server until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from qxframe import _cli_inputs, _fields
from qxframe._results import OUTCOME_UNKNOWN
from qxframe.delivery._config import positive
from qxframe.exceptions import ConfigError

LISTED_ROWS = 50  # outcome-unknown rows listed by number in the summary


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
    with contextlib.suppress(BrokenPipeError):  # whoever read our output may be gone
        print("qxframe sandbox stopped.", flush=True)
    return 0


# -- push and retry ----------------------------------------------------------------------


def _per_action(
    subparsers: Any, name: str, each: str, help: str, description: str
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Register ``name`` with one sub-parser per action (its help: ``each`` with the action
    for ``{}``); yield ``(action, sub-parser)``."""
    parser = subparsers.add_parser(name, help=help, description=description)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action in _fields.ACTIONS:  # the catalogue's, read when the parser is built
        sub = actions.add_parser(action, help=each.format(action), description=description)
        yield action, sub


def _add_push(subparsers: Any) -> None:
    for action, sub in _per_action(
        subparsers,
        "push",
        "push {} from FILE",
        help="push the rows of a CSV, TSV or Parquet file to Qualtrics",
        description="Push the rows of a CSV, TSV or Parquet file: one contact, transaction or "
        "workflow event per row. The token and datacenter (or base URL) come from "
        "QUALTRICS_API_TOKEN and QUALTRICS_DATACENTER (or QUALTRICS_BASE_URL). Exit status: "
        "0 every row succeeded (or was skipped as done before), 1 some rows failed or were "
        "invalid, 2 usage, configuration or authentication error.",
    ):
        sub.add_argument(
            "file",
            metavar="FILE",
            help="the input rows: a .csv, .tsv (either maybe .gz) or .parquet file, or - for "
            "CSV on standard input",
        )
        _add_push_options(sub, action)
        sub.set_defaults(handler=_run_push)


def _add_retry(subparsers: Any) -> None:
    for action, sub in _per_action(
        subparsers,
        "retry",
        "retry failed {}",
        help="push again the rows that failed in an earlier push",
        description="Push again the rows of FILE that failed according to RESULTS (the "
        "--out file of an earlier push of FILE). Rows whose outcome is unknown "
        "(outcome_unknown) are not re-sent: they may have landed, check them in Qualtrics. "
        "Give the same destination options as the push. Exit status as for push.",
    ):
        sub.add_argument("results", metavar="RESULTS", help="the results file (.csv/.parquet)")
        sub.add_argument("file", metavar="FILE", help="the input file of that push")
        sub.add_argument(
            "--include-invalid",
            action="store_true",
            help="also push the rows that were invalid (after fixing them in FILE)",
        )
        _add_push_options(sub, action, journal=False)
        sub.set_defaults(handler=_run_retry, journal=None)


def _add_push_options(parser: argparse.ArgumentParser, action: str, journal: bool = True) -> None:
    for destination in _fields.destinations(action):
        parser.add_argument(
            "--" + destination.name.replace("_", "-"),
            metavar=destination.metavar,
            help=destination.help,
        )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="read FIELD from COLUMN (repeatable); object fields take a comma-separated "
        "list of columns: --map embedded_data=plan,region",
    )
    parser.add_argument(
        "--delimiter",
        metavar="CHAR",
        help="the field delimiter of FILE (default: ',' for .csv and -, tab for .tsv; "
        "'\\t' for a tab); any other extension is read as delimited text with it",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="send nothing; --out gets each row's JSON body"
    )
    parser.add_argument(
        "--concurrency",
        type=_count,
        metavar="N",
        help="at most N requests in flight (default: what the rate limit needs, up to 64)",
    )
    for option in _fields.options_for(action):  # the action's own, from the catalogue
        kind: dict[str, Any] = (
            {"choices": option.choices}
            if option.choices
            else {"type": option.parse or _count, "metavar": "N"}
        )
        parser.add_argument(
            "--" + option.name.replace("_", "-"),
            default=option.default,
            help=f"{option.help} (default {option.default})",
            **kind,
        )
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="write one result row per input row to a .csv/.parquet (after each chunk of "
        "50,000 rows)",
    )
    if journal:
        parser.add_argument(
            "--journal",
            metavar="PATH",
            help="remember what Qualtrics accepted here (a SQLite file): run again, next week's "
            "export included, and only what changed is sent",
        )
        parser.add_argument(
            "--full-resync",
            action="store_true",
            help="with --journal: send every row, even those Qualtrics already holds",
        )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _count(text: str) -> int:
    """The value of an N option, checked by ``positive``; argparse turns what this raises
    into a usage error naming the option (exit 2)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"N must be a whole number, not {text!r}") from None
    try:
        return positive("N", number)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _run_push(args: argparse.Namespace) -> int:
    return _at_edge(lambda: _push(args, _cli_inputs.source(args, args.file)))


def _run_retry(args: argparse.Namespace) -> int:
    return _at_edge(lambda: _retry(args))


def _at_edge(work: Any) -> int:
    """Run ``work``; turn qxframe's errors into a message on stderr and an exit status."""
    from qxframe.exceptions import AuthError, ConfigError, QxError

    try:
        return int(work())
    except (ConfigError, AuthError) as exc:
        print(f"qxframe: {exc}", file=sys.stderr)
        return 1 if getattr(exc, "sent", 0) else 2  # raised after sending: exit 1
    except (QxError, OSError, sqlite3.Error) as exc:
        print(f"qxframe: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        sent = getattr(exc, "sent", 0)
        print(
            f"qxframe: interrupted; nothing more was sent ({sent} row(s) had been sent, and "
            "--out has every row read so far). With --journal, run the same command again "
            "to resume.",
            file=sys.stderr,
        )
        return 130


def _push(args: argparse.Namespace, frame: Any, positions: Any = None) -> int:
    """Push ``frame`` as ``args`` say; print the summary; return the exit status.

    Results stream to a tally (and to ``--out``) chunk by chunk, never all in memory.
    ``positions`` (retry): the input position of each row of ``frame``, so that results
    name rows of the original file.
    """
    from qxframe._sinks import ResultsWriter, Tally
    from qxframe.actions._public import run_push

    tally = Tally(keep_rows=LISTED_ROWS)
    names = [d.name for d in _fields.destinations(args.action)]
    constants: dict[str, Any] = {name: getattr(args, name) for name in names}
    client, mapping = _client(args.dry_run), _mapping(args.action, args.map)
    before = _cli_inputs.journal_before(args.journal, frame)
    with ExitStack() as stack:
        sinks: list[Any] = [tally]
        if args.out is not None:  # nothing is created before the journal's lock is held
            keep = (_cli_inputs.path_of(frame), getattr(args, "results", None), args.journal)
            sinks.append(stack.enter_context(ResultsWriter(args.out, keep=keep)))

        def sink(part: Any) -> None:
            if positions is not None:
                part = part.with_columns(row=positions.gather(part["row"]))
            for each in sinks:
                each(part)

        run_push(
            args.action,
            frame,
            client=client,
            constants=constants,
            mapping=mapping,
            dry_run=args.dry_run,
            concurrency=args.concurrency,
            progress=False if args.no_progress else None,
            **{o.name: getattr(args, o.name) for o in _fields.options_for(args.action)},
            journal=args.journal,
            full_resync=getattr(args, "full_resync", False),
            sink=sink,
        )
    _summarize(f"{args.command} {args.action}", tally, args.out)
    _cli_inputs.say_resumed(tally, before, frame)
    return 0 if tally.ok else 1


def _retry(args: argparse.Namespace) -> int:
    import polars as pl

    from qxframe._inputs import iter_chunks
    from qxframe._results import rows_to_retry
    from qxframe._sinks import ResultsWriter, read_results

    if args.out is not None:  # refused before anything is read (it only checks)
        ResultsWriter(args.out, keep=(args.file, args.results)).open()
    results = read_results(args.results)
    index = "__qxframe_source_row__"
    chunks = iter_chunks(_cli_inputs.source(args, args.file))
    source = pl.concat(list(chunks), how="vertical").with_row_index(index)
    if source.height != results.height:
        raise _config_error(
            f"{args.results} has {results.height} rows but {args.file} has {source.height}: "
            "give the results of a push of this very file"
        )
    frame = rows_to_retry(source, results, include_invalid=args.include_invalid)
    unknown = results.filter(pl.col("error_code") == OUTCOME_UNKNOWN)["row"].to_list()
    if unknown:
        print(
            f"Not re-sent: {len(unknown)} row(s) ended outcome_unknown; they may have landed, "
            f"check them in Qualtrics ({_rows(unknown[:LISTED_ROWS], len(unknown))})."
        )
    print(f"Retrying {frame.height} row(s) of {args.file}.")
    positions = frame[index].cast(pl.Int64)
    return _push(args, frame.drop(index), positions)


def _client(dry_run: bool) -> Any:
    """A client from the QUALTRICS_* variables; a dry run without a token needs none.

    Their values are stripped: one read from a file often ends with a newline, which no
    token, datacenter or URL has (and which an error message would not show).
    """
    import os

    from qxframe import Client

    env = {k: v.strip() for k, v in os.environ.items() if k.startswith("QUALTRICS_")}
    if dry_run and not env.get("QUALTRICS_API_TOKEN"):
        return None
    return Client.from_env(env)


def _mapping(action: str, items: list[str]) -> dict[str, Any] | None:
    """``--map FIELD=COLUMN`` options as a mapping (object fields: a list of columns)."""
    from qxframe._fields import field

    mapping: dict[str, Any] = {}
    for item in items:
        name, sep, column = item.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise _config_error(f"--map wants FIELD=COLUMN, not {item!r}")
        if name in mapping:
            raise _config_error(f"--map {name}=… is given twice; give each field once")
        if field(action, name).kind == "object":
            mapping[name] = [c.strip() for c in column.split(",") if c.strip()]
        else:
            mapping[name] = column
    return mapping or None


def _config_error(message: str) -> Exception:
    from qxframe.exceptions import ConfigError

    return ConfigError(message)


# -- the summary ---------------------------------------------------------------------------


def _summarize(what: str, tally: Any, out: str | None) -> None:
    """Print counts per status (with reasons) and the outcome-unknown rows."""
    from qxframe._results import STATUSES

    print(f"qxframe {what}: {sum(tally.counts.values())} row(s)")
    for status in STATUSES:
        reasons = sorted(
            ((n, code) for (s, code), n in tally.reasons.items() if s == status),
            key=lambda item: (-item[0], item[1]),
        )
        detail = ", ".join(f"{code} {n}" for n, code in reasons)
        print(f"  {status:<8} {tally.counts[status]:>9}" + (f"   ({detail})" if detail else ""))
    _print_operations(tally.operations)
    if tally.unknown:
        rows = _rows(tally.unknown_rows, tally.unknown)
        print(
            "Outcome unknown: these rows may or may not have landed and were not sent again; "
            f"check them in Qualtrics first: {rows}"
        )
    if out is not None:
        print(f"Results: {out}")
    elif not tally.ok:
        print("Per-row results were not kept: add --out results.csv to keep them.")


def _print_operations(operations: Any) -> None:
    """What the push did to people and events (create, update, unchanged, remove, …)."""
    from qxframe._results import OPERATIONS

    done = [f"{op} {operations[op]}" for op in OPERATIONS if operations[op]]
    if done:
        print("  operations: " + ", ".join(done))


def _rows(rows: list[int], total: int) -> str:
    more = f" … and {total - len(rows)} more (see the results)" if total > len(rows) else ""
    return "rows " + ", ".join(str(r) for r in rows) + more


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qxframe")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qxframe",
        description="Push rows of a dataframe to Qualtrics: XM Directory contacts, "
        "transactions and Xflow workflow events.",
    )
    parser.add_argument("--version", action="version", version=f"qxframe {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_push(subparsers)
    _add_retry(subparsers)
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
