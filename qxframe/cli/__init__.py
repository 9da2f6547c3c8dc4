"""The ``qxframe`` command: a thin skin over the library.

This package owns argument parsing; the work is done by library functions. Each
subcommand is one ``add_<name>(subparsers)`` function that registers its parser with
:func:`~qxframe.cli._command.command` (its help ends with examples) and sets ``handler``
to a ``_run_<name>(args) -> int`` function; :func:`main` dispatches and returns the exit
code (0 ok, 1 some rows failed, 2 usage, configuration or authentication errors, 130
interrupted). One module per group of subcommands, and what they share:

- :mod:`~qxframe.cli._push`: ``push`` and ``retry`` (a sub-parser per action, ``--yes``,
  ``retry --merge``), over :mod:`~qxframe.cli._options` (a push's options, which ``plan``
  takes too);
- :mod:`~qxframe.cli._reading`: ``summary``, ``read`` and ``plan``, which write nothing to
  Qualtrics;
- :mod:`~qxframe.cli._finding`: ``whoami``, ``directories`` and ``lists``;
- :mod:`~qxframe.cli._sandbox`: ``sandbox``;
- :mod:`~qxframe.cli._edge`: the client from the environment, and errors converted to
  messages and exit codes, there and nowhere else;
- :mod:`~qxframe.cli._output`: what the command prints (progress bar, summaries, tables,
  errors in its own words); :mod:`~qxframe.cli._inputs`: what FILE means (``-``,
  ``--delimiter``) and what a resumed push prints after its summary.

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
import sys

from qxframe.cli._finding import add_directories, add_lists, add_whoami
from qxframe.cli._push import add_push, add_retry
from qxframe.cli._reading import add_plan, add_read, add_summary
from qxframe.cli._sandbox import add_sandbox


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
        add_push,
        add_retry,
        add_summary,
        add_whoami,
        add_directories,
        add_lists,
        add_read,
        add_plan,
        add_sandbox,
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
