"""What ``qxframe push`` reads, and what it says of a resumed push.

This module owns turning FILE into an input (``-`` for standard input, ``--delimiter``,
or a file by its extension) and the lines a resumed push prints after its summary: how
many rows the journal says Qualtrics already held (read from the journal before the push,
without locking or writing it).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from qxframe._skins import Status


def source(args: argparse.Namespace, name: str) -> Any:
    """What FILE names: standard input (``-``), delimited text, or a Parquet file."""
    from qxframe._skins import CsvSource, file_source

    if name == "-":
        return CsvSource(stream=sys.stdin.buffer, separator=args.delimiter, name="standard input")
    if args.delimiter is not None and not name.lower().endswith((".parquet", ".pq")):
        return CsvSource(name, separator=args.delimiter)
    return file_source(name, args.delimiter)


def path_of(frame: Any) -> Any:
    """The file an input reads (its path), or the input itself."""
    from qxframe._skins import CsvSource, JsonRows

    return frame.path if isinstance(frame, CsvSource | JsonRows) else frame


def journal_before(journal: str | None, frame: Any) -> Any:
    """The journal as it was before this push (to say what resuming did), or ``None``."""
    from qxframe._skins import peek

    return None if journal is None else peek(journal)


def say_resumed(tally: Any, before: Any, frame: Any) -> None:
    """After a push with a journal that held rows: how many were not sent, and why."""
    if before is None or not before.rows:
        return
    skipped = tally.counts[Status.SKIPPED]
    print(
        f"From the journal: {skipped} row(s) skipped, Qualtrics already holding them (an "
        "earlier push, or last week's sync, sent them); only what changed was sent."
    )
