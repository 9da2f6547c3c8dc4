"""What the ``qxframe`` command prints: its progress bar, summaries, tables and errors.

This module owns the command's output, not its parsing (:mod:`qxframe.cli`):

- :class:`Bar`: a push's progress bar on stderr, drawn only when stderr is a terminal and
  only once the push has lasted :data:`DELAY` seconds — whatever its size — and a first
  row has settled (so an input error, found before any row settles, never follows a
  bar). It is then redrawn every :data:`TICK` seconds even when no row settles (elapsed
  time moves while requests wait on a rate limit);
- :func:`summarize`: the per-status summary of a push, of a stopped push, or of a past
  results file (every status, ``not_sent`` included, with the reasons);
- :func:`table`: a frame of ids as aligned text (``qxframe directories``, ``lists``);
- :func:`in_cli_words`: a library error message in the command's words (``--directory-id``,
  not ``directory_id=``; ``QUALTRICS_API_TOKEN``, not ``api_token=``).
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from qxframe._skins import action_names, destinations, options_for

DELAY = 1.0  # seconds a push runs before its bar is drawn
TICK = 0.5  # seconds between redraws while no row settles
LISTED_ROWS = 50  # outcome-unknown rows listed by number in the summary


class Bar:
    """A push's progress bar (tqdm on stderr), for ``progress=`` of a push.

    ``show``: draw it at all (``--no-progress`` and a stderr that is not a terminal say
    no). The push enters it, calls :meth:`update` as rows settle, and leaves it.
    """

    def __init__(self, total: int | None, label: str, *, show: bool) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            desc=label,
            unit="row",
            file=sys.stderr,
            delay=DELAY,
            disable=not show,
            leave=True,
            dynamic_ncols=True,
        )
        self._done = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="qxframe-bar", daemon=True)
        if show:
            self._ticker.start()

    def _tick(self) -> None:
        while not self._done.wait(TICK):
            if self._bar.n:  # a row has settled: the input was read and checked
                self._bar.update(0)  # draws once DELAY has passed; tqdm's lock serialises it

    def update(self, rows: int) -> None:
        self._bar.update(rows)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self._bar.set_postfix_str(text, refresh=refresh)

    def close(self) -> None:
        self._done.set()
        if self._ticker.is_alive():
            self._ticker.join()
        self._bar.close()

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- the summary --------------------------------------------------------------------------


def summarize(what: str, tally: Any, out: str | None = None, *, kept: bool = True) -> None:
    """Print ``tally``'s counts per status (with reasons) and the outcome-unknown rows.

    ``out``: the results file written; ``kept``: say nothing of ``--out`` (a past results
    file is being read).
    """
    from qxframe._skins import OPERATIONS, STATUSES

    print(f"qxframe {what}: {sum(tally.counts.values())} row(s)")
    for status in STATUSES:
        reasons = sorted(
            ((n, code) for (s, code), n in tally.reasons.items() if s == status),
            key=lambda item: (-item[0], item[1]),
        )
        detail = ", ".join(f"{code} {n}" for n, code in reasons)
        print(f"  {status:<8} {tally.counts[status]:>9}" + (f"   ({detail})" if detail else ""))
    done = [f"{op} {tally.operations[op]}" for op in OPERATIONS if tally.operations[op]]
    if done:  # what the push did to people and events
        print("  operations: " + ", ".join(done))
    if tally.unknown:
        rows = listed(tally.unknown_rows, tally.unknown)
        print(
            "Outcome unknown: these rows may or may not have landed and were not sent again; "
            f"check them in Qualtrics first: {rows}"
        )
    if not kept:
        return
    if out is not None:
        print(f"Results: {out}")
    elif not tally.ok:
        print("Per-row results were not kept: add --out results.csv to keep them.")


def listed(rows: list[int], total: int) -> str:
    """``rows 3, 7 … and 12 more (see the results)``."""
    more = f" … and {total - len(rows)} more (see the results)" if total > len(rows) else ""
    return "rows " + ", ".join(str(r) for r in rows) + more


def table(frame: Any, columns: dict[str, Callable[[Any], str]]) -> str:
    """``frame``'s rows as aligned text: one column per ``columns`` entry (heading →
    how a row's value of it is shown)."""
    rows = [[show(row) for show in columns.values()] for row in frame.iter_rows(named=True)]
    head = list(columns)
    widths = [max(len(cell) for cell in column) for column in zip(head, *rows, strict=False)]
    lines = [head, *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


# -- errors in the command's words ---------------------------------------------------------

#: Library phrases and what the command says instead, tried in order before the names.
PHRASES: list[tuple[str, str]] = [
    (r", or pass api_token= to qxframe\.Client", ""),
    (r"\bapi_token\b", "QUALTRICS_API_TOKEN"),
    (r"Invalid datacenter ID", "Invalid QUALTRICS_DATACENTER"),
    (r"pass base_url= instead", "set QUALTRICS_BASE_URL instead"),
    (r"Invalid base_url\b", "Invalid QUALTRICS_BASE_URL"),
    (r"\bclient\.directories\(\)", "qxframe directories"),
    (r"\bclient\.mailing_lists\(directory_id\)", "qxframe lists --directory-id POOL_…"),
    (r"\bmapping=\{'(\w+)': '(\w+)'\}", r"--map \1=\2"),
    (r"\(journal=, --journal\)", "(--journal)"),
    (r"\bthis (?:error|exception)'s \.results", "the results file (--out)"),
    (r"\bwith journal=", "with --journal"),
    (
        r"give the frame an? '(\w+)' column \(or map one\)",
        r"give FILE a \1 column (or --map \1=COLUMN)",
    ),
]


#: A keyword name as the subject of a sentence (``directory_id 'x' is not …``,
#: ``contacts need directory_id``): the option takes its place.
_SUBJECT = (
    r"(?<![\w.'\"-]){name}(?=(?: \"[^\"]*\"| '[^']*')? (?:must|is|needs|cannot|has)\b)"
    r"|(?<=need ){name}\b"
)


def _names() -> Iterable[str]:
    """The keyword arguments a push takes that the command has as options."""
    for action in action_names():
        yield from (d.name for d in destinations(action))
        yield from (o.name for o in options_for(action))
    yield from ("journal", "concurrency")


def in_cli_words(message: str) -> str:
    """``message`` with the library's keyword names as the command's options.

    >>> in_cli_words("directory_id must look like 'POOL_…'; copy it from client.directories()")
    "--directory-id must look like 'POOL_…'; copy it from qxframe directories"
    >>> in_cli_words('method="import" needs a list: pass mailing_list_id="CG_…"')
    '--method import needs a list: pass --mailing-list-id CG_…'
    """
    for pattern, replacement in PHRASES:
        message = re.sub(pattern, replacement, message)
    for name in sorted(set(_names()), key=len, reverse=True):
        option = "--" + name.replace("_", "-")
        message = re.sub(rf"(?<![\w-]){name}=\"([^\"]*)\"", rf"{option} \1", message)
        message = re.sub(rf"(?<![\w-]){name}=(?:\.\.\.|…)", option + " …", message)
        message = re.sub(rf"(?<![\w-]){name}=(?=[\s,;)]|$)", option, message)
        message = re.sub(_SUBJECT.format(name=re.escape(name)), option, message)
    return message
