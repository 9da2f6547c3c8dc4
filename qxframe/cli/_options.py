"""A push's options, shared by ``push``, ``retry`` and ``plan``: the flags of an action
(its destinations and its own options, from the catalogue, with ``--map``, ``--delimiter``,
``--dry-run``, ``--concurrency``, ``--out``, ``--journal``…), their values' types, and
``--map`` read back as a mapping (:func:`mapping_from`).
"""

from __future__ import annotations

import argparse
from typing import Any

from qxframe._skins import destinations, options_for, positive
from qxframe.cli._edge import config_error
from qxframe.exceptions import ConfigError


def add_push_options(parser: argparse.ArgumentParser, action: str, journal: bool = True) -> None:
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


def mapping_from(action: str, items: list[str]) -> dict[str, Any] | None:
    """``--map FIELD=COLUMN`` options as a mapping (object fields: a list of columns)."""
    from qxframe._skins import field

    mapping: dict[str, Any] = {}
    for item in items:
        name, sep, column = item.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise config_error(f"--map wants FIELD=COLUMN, not {item!r}")
        if name in mapping:
            raise config_error(f"--map {name}=… is given twice; give each field once")
        if field(action, name).kind == "object":
            mapping[name] = [c.strip() for c in column.split(",") if c.strip()]
        else:
            mapping[name] = column
    return mapping or None
