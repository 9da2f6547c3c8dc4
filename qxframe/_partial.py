"""What a push that stops early leaves: result rows for what it had not settled, and the
exception it raises, carrying every row it had read.

Nothing that was sent is ever lost from view (docs/architecture.md, "Interrupts and
partial failures"): when a push stops — told to (:class:`~qxframe.PushInterrupted`), or
by an error after it had started sending — the rows it had read but not settled get a
result row here (:func:`unsettled`): ``outcome_unknown`` for a write that was on the wire
and went unanswered, ``not_sent`` for the rest. :func:`interrupted` and :func:`attach`
then give the exception those results, the number of rows sent, and a message that says
how to go on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import polars as pl

from qxframe import _results
from qxframe._results import OUTCOME_UNKNOWN, Status
from qxframe.exceptions import PushCancelled, QxError

UNANSWERED = (
    "The push was stopped while this row's request was in flight, and no answer came in the "
    "grace period; it may have landed, so it was not sent again. Check in Qualtrics first."
)
NOT_SENT = "Not sent: the push stopped before this row was sent. Push it again to send it."


def unsettled(
    valid: pl.DataFrame, settled: Collection[int], unanswered: Collection[int]
) -> pl.DataFrame:
    """Result rows for ``valid``'s rows not in ``settled``: unknown if unanswered, else not sent."""
    rows = valid["row"].filter(~valid["row"].is_in(list(settled)))
    unknown = rows.is_in(list(unanswered))
    frame = pl.DataFrame({"row": rows}).with_columns(
        status=pl.when(unknown).then(pl.lit(Status.FAILED)).otherwise(pl.lit(Status.NOT_SENT)),
        error_code=pl.when(unknown).then(pl.lit(OUTCOME_UNKNOWN)),
        error_message=pl.when(unknown).then(pl.lit(UNANSWERED)).otherwise(pl.lit(NOT_SENT)),
        attempts=pl.when(unknown).then(1).otherwise(0).cast(pl.Int64),
    )
    return _results.conform(frame)


def not_sent(first: int, count: int) -> pl.DataFrame:
    """``not_sent`` result rows for input positions ``first`` … ``first + count - 1``."""
    rows = pl.int_range(first, first + count, dtype=pl.Int64, eager=True).alias("row")
    frame = pl.DataFrame({"row": rows}).with_columns(
        status=pl.lit(Status.NOT_SENT), error_message=pl.lit(NOT_SENT), attempts=pl.lit(0, pl.Int64)
    )
    return _results.conform(frame)


def how_to_go_on(journal: str | Path | None) -> str:
    if journal is not None:
        return (
            f"Run the same push again with the same journal ({journal}) to resume it: rows "
            "already done are skipped and rows whose outcome is unknown are not sent again."
        )
    return (
        "This push had no journal, so running it again would send those rows again: push "
        "only the rows the results show not_sent, and give a push a journal (journal=, "
        "--journal) to make it resumable: running it again with the same journal resumes it."
    )


def interrupted(results: Any, sent: int, read: int, journal: str | Path | None) -> PushCancelled:
    """The exception a push raises when it was told to stop."""
    message = (
        f"The push was interrupted and sent nothing more: {sent} row(s) had been sent, and "
        f"the {read} row(s) read so far are in this exception's .results (not_sent for the "
        f"rows not sent). {how_to_go_on(journal)}"
    )
    return PushCancelled(message, results=results, sent=sent)


def attach(error: BaseException, results: Any, sent: int, journal: str | Path | None) -> None:
    """Give ``error`` the push's ``results`` and ``sent``; when rows were sent, say so."""
    try:
        error.results = results  # type: ignore[attr-defined]
        error.sent = sent  # type: ignore[attr-defined]
    except AttributeError:  # an exception type that takes no attributes: nothing to carry
        return
    if not sent:
        return
    note = (
        f"{sent} row(s) had been sent before this error; the outcomes known are in this "
        f"error's .results (not_sent for the rows not sent). {how_to_go_on(journal)}"
    )
    if isinstance(error, QxError):
        error.message = f"{error.message.rstrip()} — {note}"
        error.args = (error.message,)
    else:
        error.add_note(note)


def also(error: BaseException, step: Callable[..., object], *args: Any) -> None:
    """Run ``step`` while ``error`` is on its way out: an exception ``step`` raises too is
    noted on ``error`` instead of replacing it (a full disk failing the journal first and
    the results file next reports the journal)."""
    try:
        step(*args)
    except Exception as then:
        error.add_note(f"Then, also: {then}")
