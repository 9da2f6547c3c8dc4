"""The ``qxframe`` command: a thin skin over the library.

This module owns argument parsing; the work is done by library functions, and what the
command prints (progress bar, summaries, tables, errors in its own words) is in
:mod:`qxframe.cli._output`. Each subcommand is one ``_add_<name>(subparsers)`` function
that registers its parser with :func:`_command` (its help ends with examples) and sets
``handler`` to a ``_run_<name>(args) -> int`` function; :func:`main` dispatches and returns
the exit code (0 ok, 1 some rows failed, 2 usage, configuration or authentication errors,
130 interrupted). Errors are converted to messages and exit codes here, at the edge, and
nowhere else. What FILE means (``-``, ``--delimiter``) and what a resumed push prints
after its summary are in :mod:`qxframe.cli._inputs`.

Subcommands:

- ``push contacts|transactions|workflow FILE``: push a CSV/Parquet file (progress on
  stderr, a summary on stdout, results to ``--out``, resumable with ``--journal``);
- ``retry contacts|transactions|workflow RESULTS FILE``: push again the rows of FILE that
  failed according to RESULTS (never those whose outcome is unknown); ``--merge`` writes
  the whole push's results with the retried rows' new outcomes;
- ``summary RESULTS``: the summary of a past results file;
- ``whoami``, ``directories``, ``lists --directory-id``: find the ids a push needs;
- ``read contacts --directory-id … [--mailing-list-id …] --out FILE``: a directory's
  contacts or a list's members to a .parquet/.csv file (the push's columns);
- ``plan contacts FILE``: what ``push contacts`` with the same options would do, read
  from Qualtrics and never written, as a results file (``--out``);
- ``sandbox``: run the embedded Qualtrics-compatible server until Ctrl-C (``--log``).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sqlite3
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from qxframe._skins import (
    OUTCOME_UNKNOWN,
    action_names,
    destinations,
    field,
    options_for,
    positive,
)
from qxframe.cli import _inputs, _output
from qxframe.cli._output import LISTED_ROWS, in_cli_words, listed, summarize
from qxframe.exceptions import ConfigError

ENVIRONMENT = (
    "The token and datacenter (or base URL) come from QUALTRICS_API_TOKEN (or an OAuth "
    "client: QUALTRICS_CLIENT_ID and QUALTRICS_CLIENT_SECRET) and QUALTRICS_DATACENTER (or "
    "QUALTRICS_BASE_URL)."
)


def _command(
    subparsers: Any, name: str, *, help: str, description: str, examples: list[str]
) -> argparse.ArgumentParser:
    """A sub-parser whose ``--help`` wraps ``description`` and ends with ``examples``."""
    shown = "\n".join(f"  {line}" for line in examples)
    return subparsers.add_parser(
        name,
        help=help,
        description="\n\n".join(textwrap.fill(part, 88) for part in description.split("\n\n")),
        epilog=f"Examples:\n{shown}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


# -- sandbox -------------------------------------------------------------------------------


def _add_sandbox(subparsers: Any) -> None:
    parser = _command(
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
    parser.add_argument(
        "--log",
        action="store_true",
        help="print one line per request: method, path, status, endpoint family",
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


# -- finding ids ---------------------------------------------------------------------------


def _add_whoami(subparsers: Any) -> None:
    parser = _command(
        subparsers,
        "whoami",
        help="check the token: the user, brand and datacenter it belongs to",
        description="Check the API token with Qualtrics and print whose it is. " + ENVIRONMENT,
        examples=["qxframe whoami", "QUALTRICS_DATACENTER=fra1 qxframe whoami"],
    )
    parser.set_defaults(handler=_run_whoami)


def _run_whoami(args: argparse.Namespace) -> int:
    def work() -> int:
        with _client(dry_run=False) as client:
            me = client.whoami()
        for key in ("userName", "firstName", "lastName", "email", "brandId", "datacenter"):
            if me.get(key) is not None:
                print(f"{key + ':':<12} {me[key]}")
        print("Next: qxframe directories")
        return 0

    return _at_edge(work)


def _add_directories(subparsers: Any) -> None:
    parser = _command(
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
        with _client(dry_run=False) as client:
            found = client.directories()
        dedup = "deduplicates on"
        columns = {
            "directory_id": lambda r: r["directory_id"],
            "name": lambda r: r["name"] or "",
            "contacts": lambda r: "" if r["contact_count"] is None else str(r["contact_count"]),
            dedup: lambda r: ", ".join(r["deduplication_criteria"] or []) or "(nothing)",
        }
        print(_output.table(found, columns))
        print("Next: qxframe lists --directory-id POOL_…   (a directory's mailing lists)")
        return 0

    return _at_edge(work)


def _add_lists(subparsers: Any) -> None:
    parser = _command(
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
        with _client(dry_run=False) as client:
            found = client.mailing_lists(args.directory_id)
        columns = {
            "mailing_list_id": lambda r: r["mailing_list_id"],
            "name": lambda r: r["name"] or "",
            "contacts": lambda r: "" if r["contact_count"] is None else str(r["contact_count"]),
        }
        print(_output.table(found, columns))
        return 0

    return _at_edge(work)


# -- after the run -------------------------------------------------------------------------


def _add_summary(subparsers: Any) -> None:
    parser = _command(
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

    return _at_edge(work)


# -- push and retry ------------------------------------------------------------------------


def _per_action(
    subparsers: Any, name: str, each: str, help: str, description: str, examples: list[str]
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Register ``name`` with one sub-parser per action (its help: ``each`` with the action
    for ``{}``); yield ``(action, sub-parser)``. ``examples``: the command's; each action's
    help shows those of its own action (the first word after ``name``)."""
    parser = _command(subparsers, name, help=help, description=description, examples=examples)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action in action_names():  # the catalogue's, read when the parser is built
        own = [e for e in examples if e.split()[2:3] == [action]] or examples
        sub = _command(
            actions, action, help=each.format(action), description=description, examples=own
        )
        yield action, sub


PUSH_EXAMPLES = [
    "qxframe push contacts contacts.csv --directory-id POOL_… --out results.csv",
    "qxframe push contacts contacts.csv --directory-id POOL_… --mailing-list-id CG_… "
    "--journal contacts.qxj --out results.csv",
    "qxframe push transactions tx.parquet --directory-id POOL_… --mailing-list-id CG_… "
    "--map transaction_data=amount,currency --out tx-results.parquet",
    "qxframe push workflow events.csv --workflow-url 'https://….qualtrics.com/inbound-event/…' "
    "--dry-run --out preview.csv",
    "zcat export.csv.gz | qxframe push contacts - --directory-id POOL_… --out results.csv",
    "qxframe push contacts week2.csv --directory-id POOL_… --mailing-list-id CG_… "
    "--journal segment.qxj --on-leave remove --max-leave 0.2",
    "qxframe push remove leavers.csv --directory-id POOL_… --mailing-list-id CG_…",
    "qxframe push unsubscribe optouts.csv --directory-id POOL_…",
    "qxframe push delete gone.csv --directory-id POOL_… --yes",
]


def _add_push(subparsers: Any) -> None:
    for action, sub in _per_action(
        subparsers,
        "push",
        "push {} from FILE",
        help="push the rows of a CSV, TSV or Parquet file to Qualtrics",
        description="Push the rows of a CSV, TSV or Parquet file: one contact, transaction or "
        f"workflow event per row. {ENVIRONMENT} Ids: qxframe directories, qxframe lists."
        "\n\nExit status: 0 every row succeeded (or was skipped as done before), 1 some rows "
        "failed or were invalid, or the push stopped on an error after sending rows, 2 usage, "
        "configuration or authentication error, 130 interrupted (Ctrl-C): nothing more is "
        "sent, --out keeps every row read (not_sent for the rows not sent), and with "
        "--journal the same command resumes.",
        examples=PUSH_EXAMPLES,
    ):
        sub.add_argument(
            "file",
            metavar="FILE",
            help="the input rows: a .csv, .tsv (either maybe .gz) or .parquet file, or - for "
            "CSV on standard input",
        )
        _add_push_options(sub, action)
        _add_yes(sub, action)
        sub.set_defaults(handler=_run_push)


def _add_yes(sub: argparse.ArgumentParser, action: str) -> None:
    """``delete`` asks for ``--yes``: what it does cannot be undone."""
    if action == "delete":
        sub.add_argument(
            "--yes",
            action="store_true",
            help="really delete the contacts (they cannot be restored); without it, only "
            "--dry-run runs",
        )


def _refused_without_yes(args: argparse.Namespace) -> bool:
    if args.action != "delete" or args.yes or args.dry_run:
        return False
    print(
        f"qxframe {args.command} delete deletes contacts from the directory, which cannot be "
        "undone: add --yes to go ahead (or --dry-run to see what it would do).",
        file=sys.stderr,
    )
    return True


def _add_retry(subparsers: Any) -> None:
    for action, sub in _per_action(
        subparsers,
        "retry",
        "retry failed {}",
        help="push again the rows that failed in an earlier push",
        description="Push again the rows of FILE that failed according to RESULTS (the "
        "--out file of an earlier push of FILE). Rows whose outcome is unknown "
        "(outcome_unknown) are not re-sent: they may have landed, check them in Qualtrics. "
        "Give the same destination options as the push. With --merge, --out gets the whole "
        "push's results: RESULTS with the retried rows' new outcomes. Exit status as for "
        "push.",
        examples=[
            "qxframe retry contacts results.csv contacts.csv --directory-id POOL_… "
            "--out retried.csv",
            "qxframe retry remove results.csv leavers.csv --directory-id POOL_… "
            "--mailing-list-id CG_… --out retried.csv",
            "qxframe retry unsubscribe results.csv optouts.csv --directory-id POOL_… "
            "--out retried.csv",
            "qxframe retry delete results.csv gone.csv --directory-id POOL_… --yes",
            "qxframe retry contacts results.csv contacts.csv --directory-id POOL_… "
            "--out all-results.csv --merge",
            "qxframe retry transactions results.csv tx.csv --directory-id POOL_… "
            "--mailing-list-id CG_… --out tx-all.csv --merge",
            "qxframe retry workflow results.csv events.csv --workflow-url 'https://…' "
            "--include-invalid --out retried.csv",
        ],
    ):
        sub.add_argument("results", metavar="RESULTS", help="the results file (.csv/.parquet)")
        sub.add_argument("file", metavar="FILE", help="the input file of that push")
        sub.add_argument(
            "--include-invalid",
            action="store_true",
            help="also push the rows that were invalid (after fixing them in FILE)",
        )
        sub.add_argument(
            "--merge",
            action="store_true",
            help="write to --out every row of RESULTS, the retried ones with their new outcome",
        )
        _add_push_options(sub, action, journal=False)
        _add_yes(sub, action)
        sub.set_defaults(handler=_run_retry, journal=None)


def _add_push_options(parser: argparse.ArgumentParser, action: str, journal: bool = True) -> None:
    for destination in destinations(action):
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
    for option in options_for(action):  # the action's own, from the catalogue
        kinds: dict[str, dict[str, Any]] = {
            "count": {"type": _count, "metavar": "N"},
            "choice": {"choices": option.choices},
            "flag": {"action": "store_true"},
            "columns": {"type": _columns, "metavar": "COL,COL"},
            "share": {"type": _share, "metavar": "SHARE|N"},
        }
        kind = kinds[option.kind]
        shown = (
            f" (default {option.default})" if option.kind in ("count", "choice", "share") else ""
        )
        parser.add_argument(
            "--" + option.name.replace("_", "-"),
            default=option.default,
            help=option.help + shown,
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


def _columns(text: str) -> list[str]:
    """The value of a COL,COL option: column names, comma-separated (``--json-columns a,b``)."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"give column names separated by commas, not {text!r}")
    return names


def _share(text: str) -> float | int:
    """``--max-leave``: a share below 1 (``0.2``) or a count of people (``500``)."""
    try:
        return int(text) if text.strip().isdigit() else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"give a share below 1 (0.2) or a count of people (500), not {text!r}"
        ) from None


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
    if _refused_without_yes(args):
        return 2
    return _at_edge(lambda: _push(args, _inputs.source(args, args.file)))


def _run_retry(args: argparse.Namespace) -> int:
    if _refused_without_yes(args):
        return 2
    return _at_edge(lambda: _retry(args))


def _at_edge(work: Any) -> int:
    """Run ``work``; turn qxframe's errors into a message on stderr (in the command's
    words, :func:`~qxframe.cli._output.in_cli_words`) and an exit status."""
    from qxframe.exceptions import AuthError, ConfigError, QxError

    try:
        return int(work())
    except (ConfigError, AuthError) as exc:
        _error(str(exc))
        return 1 if getattr(exc, "sent", 0) else 2  # raised after sending: exit 1
    except (QxError, OSError, sqlite3.Error) as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt as exc:
        sent = getattr(exc, "sent", None)
        if sent is None:  # not a push's (PushInterrupted carries what it had sent)
            _error("interrupted.")
            return 130
        _error(
            f"interrupted; nothing more was sent ({sent} row(s) had been sent; the summary "
            "says what was done, and --out, if given, has every row read so far). With "
            "--journal, run the same command again to resume."
        )
        return 130


def _error(message: str) -> None:
    print(f"qxframe: {in_cli_words(message)}", file=sys.stderr)


def _push(args: argparse.Namespace, frame: Any, positions: Any = None, merge: Any = None) -> int:
    """Push ``frame`` as ``args`` say; print the summary; return the exit status.

    Results stream to a tally (and to ``--out``) chunk by chunk, never all in memory.
    ``positions`` (retry): the input position of each row of ``frame``, so that results
    name rows of the original file. ``merge`` (retry ``--merge``): the earlier push's
    results; ``--out`` then gets them with these rows' new outcomes, kept in memory.
    A push stopped by Ctrl-C or by an error after sending still prints its summary.
    """
    from qxframe._skins import ResultsWriter, Tally, count_rows, start_push

    tally = Tally(keep_rows=LISTED_ROWS)
    names = [d.name for d in destinations(args.action)]
    constants: dict[str, Any] = {name: getattr(args, name) for name in names}
    client, mapping = _client(args.dry_run), _mapping(args.action, args.map)
    before = _inputs.journal_before(args.journal, frame)
    keep = (_inputs.path_of(frame), getattr(args, "results", None), args.journal)
    show = not args.no_progress and sys.stderr.isatty()
    retried: list[Any] = []
    try:
        with ExitStack() as stack:
            sinks: list[Any] = [tally]
            if merge is not None:
                sinks.append(retried.append)
            elif args.out is not None:  # nothing is created before the journal's lock is held
                identity = getattr(args, "on_leave", None) is not None  # who left, by name
                writer = ResultsWriter(args.out, keep=keep, identity=identity)
                sinks.append(stack.enter_context(writer))

            def sink(part: Any) -> None:
                if positions is not None:
                    part = part.with_columns(row=positions.gather(part["row"]))
                for each in sinks:
                    each(part)

            bar = _output.Bar(count_rows(frame), f"qxframe {args.action}", show=show)
            start_push(
                args.action,
                frame,
                client=client,
                **constants,
                mapping=mapping,
                dry_run=args.dry_run,
                concurrency=args.concurrency,
                progress=bar,
                **{o.name: getattr(args, o.name) for o in options_for(args.action)},
                journal=args.journal,
                full_resync=getattr(args, "full_resync", False),
                sink=sink,
            ).result()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) or getattr(exc, "sent", None):
            if merge is not None:
                _write_merged(args.out, keep, merge, retried)
            summarize(f"{args.command} {args.action} (stopped)", tally, args.out)
        raise
    if merge is not None:
        _write_merged(args.out, keep, merge, retried)
    summarize(f"{args.command} {args.action}", tally, args.out)
    _inputs.say_resumed(tally, before, frame)
    return 0 if tally.ok else 1


def _write_merged(out: str, keep: Any, earlier: Any, parts: list[Any]) -> None:
    """``retry --merge``: ``earlier`` results with the retried rows' outcomes, to ``out``
    (a retried row the push stopped before sending keeps its earlier outcome)."""
    import polars as pl

    from qxframe._skins import ResultsWriter, Status, assemble, conform

    identity = "ext_ref" in earlier.columns  # a sync's results: its removal rows say who
    new = assemble(parts).filter(pl.col("status") != Status.NOT_SENT) if parts else None
    merged = earlier
    if new is not None and new.height:
        kept = earlier.filter(pl.col("row").is_null() | ~pl.col("row").is_in(new["row"].to_list()))
        merged = pl.concat([kept, conform(new, identity=identity)]).sort(
            "row", nulls_last=True, maintain_order=True
        )
    with ResultsWriter(out, keep=keep, identity=identity) as writer:
        writer(merged)
    print(f"Merged: {out} holds every row of the push, the retried ones with their new outcome.")


def _retry(args: argparse.Namespace) -> int:
    import polars as pl

    from qxframe import rows_to_retry
    from qxframe._skins import ResultsWriter, iter_chunks, json_columns_of, read_results

    if args.merge and args.out is None:
        raise _config_error("--merge writes the whole push's results to --out; give --out PATH")
    if args.out is not None:  # refused before anything is read (it only checks)
        ResultsWriter(args.out, keep=(args.file, args.results)).open()
    results = read_results(args.results)
    index = "__qxframe_source_row__"
    read = _inputs.source(args, args.file)
    if getattr(args, "json_columns", None) is not None or json_columns_of(read):
        args.json_columns = sorted({*(args.json_columns or ()), *json_columns_of(read)})
    source = pl.concat(list(iter_chunks(read)), how="vertical").with_row_index(index)
    pushed = results.filter(pl.col("row").is_not_null())  # a sync's removals have no row
    if source.height != pushed.height:
        raise _config_error(
            f"{args.results} has {pushed.height} rows but {args.file} has {source.height}: "
            "give the results of a push of this very file"
        )
    frame = rows_to_retry(source, pushed, include_invalid=args.include_invalid)
    unknown = results.filter(pl.col("error_code") == OUTCOME_UNKNOWN)["row"].to_list()
    if unknown:
        print(
            f"Not re-sent: {len(unknown)} row(s) ended outcome_unknown; they may have landed, "
            f"check them in Qualtrics ({listed(unknown[:LISTED_ROWS], len(unknown))})."
        )
    print(f"Retrying {frame.height} row(s) of {args.file}.")
    positions = frame[index].cast(pl.Int64)
    return _push(args, frame.drop(index), positions, merge=results if args.merge else None)


def _client(dry_run: bool) -> Any:
    """A client from the QUALTRICS_* variables (an API token and/or an OAuth client); a dry
    run without credentials needs none.

    Their values are stripped: one read from a file often ends with a newline, which no
    token, datacenter or URL has (and which an error message would not show).
    """
    import os

    from qxframe import Client

    env = {k: v.strip() for k, v in os.environ.items() if k.startswith("QUALTRICS_")}
    credentials = ("QUALTRICS_API_TOKEN", "QUALTRICS_CLIENT_ID", "QUALTRICS_CLIENT_SECRET")
    if dry_run and not any(env.get(name) for name in credentials):
        return None
    return Client.from_env(env)


def _mapping(action: str, items: list[str]) -> dict[str, Any] | None:
    """``--map FIELD=COLUMN`` options as a mapping (object fields: a list of columns)."""
    from qxframe._skins import field

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


# -- read and plan (reads only) ------------------------------------------------------------


def _add_read(subparsers: Any) -> None:
    parser = _command(
        subparsers,
        "read",
        help="read contacts back from Qualtrics into a file",
        description="Read Qualtrics back into a file whose columns are the push's fields.",
        examples=["qxframe read contacts --directory-id POOL_… --out contacts.parquet"],
    )
    what = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    sub = _command(
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

        with _client(dry_run=False) as client:
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

    return _at_edge(work)


def _add_plan(subparsers: Any) -> None:
    parser = _command(
        subparsers,
        "plan",
        help="what a push would do, read from Qualtrics (nothing is written)",
        description="Plan a push: read what Qualtrics holds and say, per row, what `push` with "
        "the same options would do. Nothing is written to Qualtrics.",
        examples=["qxframe plan contacts segment.csv --directory-id POOL_… --out plan.csv"],
    )
    what = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = _command(
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
    _add_push_options(sub, "contacts")
    sub.set_defaults(handler=_run_plan)


def _run_plan(args: argparse.Namespace) -> int:
    def work() -> int:
        import polars as pl

        import qxframe as qx
        from qxframe._skins import Status, collect

        options = {o.name: getattr(args, o.name) for o in options_for("contacts")}
        with _client(dry_run=False) as client:
            planned = collect(
                qx.plan_contacts(
                    _inputs.source(args, args.file),
                    client=client,
                    directory_id=args.directory_id,
                    mailing_list_id=args.mailing_list_id,
                    mapping=_mapping("contacts", args.map),
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

    return _at_edge(work)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qxframe")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    examples = [
        "qxframe sandbox --port 8765 --log      # a Qualtrics to try things on",
        "qxframe whoami",
        "qxframe directories",
        "qxframe push contacts contacts.csv --directory-id POOL_… --out results.csv",
        "qxframe summary results.csv",
        "qxframe COMMAND --help                 # each command's options and examples",
    ]
    parser = argparse.ArgumentParser(
        prog="qxframe",
        description="Push rows of a dataframe to Qualtrics: XM Directory contacts, "
        "transactions and Xflow workflow events.",
        epilog="Examples:\n" + "\n".join(f"  {line}" for line in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"qxframe {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (
        _add_push,
        _add_retry,
        _add_summary,
        _add_whoami,
        _add_directories,
        _add_lists,
        _add_read,
        _add_plan,
        _add_sandbox,
    ):
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.handler(args))
