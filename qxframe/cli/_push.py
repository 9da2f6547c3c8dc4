"""``qxframe push`` and ``retry``: a sub-parser per action, ``--yes`` before a ``delete``,
the push itself (progress on stderr, a summary on stdout, results streamed to ``--out``),
and a retry's rows and, with ``--merge``, the whole push's results with the retried rows'
new outcomes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from qxframe._skins import OUTCOME_UNKNOWN, action_names, destinations, options_for
from qxframe.cli import _edge, _inputs, _output
from qxframe.cli._command import ENVIRONMENT, command
from qxframe.cli._edge import at_edge, config_error
from qxframe.cli._options import add_push_options, mapping_from
from qxframe.cli._output import LISTED_ROWS, listed, summarize


def _per_action(
    subparsers: Any, name: str, each: str, help: str, description: str, examples: list[str]
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Register ``name`` with one sub-parser per action (its help: ``each`` with the action
    for ``{}``); yield ``(action, sub-parser)``. ``examples``: the command's; each action's
    help shows those of its own action (the first word after ``name``)."""
    parser = command(subparsers, name, help=help, description=description, examples=examples)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action in action_names():  # the catalogue's, read when the parser is built
        own = [e for e in examples if e.split()[2:3] == [action]] or examples
        sub = command(
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


def add_push(subparsers: Any) -> None:
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
        add_push_options(sub, action)
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


def add_retry(subparsers: Any) -> None:
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
        add_push_options(sub, action, journal=False)
        _add_yes(sub, action)
        sub.set_defaults(handler=_run_retry, journal=None)


def _run_push(args: argparse.Namespace) -> int:
    if _refused_without_yes(args):
        return 2
    return at_edge(lambda: _push(args, _inputs.source(args, args.file)))


def _run_retry(args: argparse.Namespace) -> int:
    if _refused_without_yes(args):
        return 2
    return at_edge(lambda: _retry(args))


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
    client, mapping = _edge.client(args.dry_run), mapping_from(args.action, args.map)
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
        raise config_error("--merge writes the whole push's results to --out; give --out PATH")
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
        raise config_error(
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
