"""The results view: counts per status, the rows that failed or were invalid, what to re-run.

This module owns :class:`ResultsView` (built by :func:`results`) and the pure functions
it shows: :func:`summary_text` and :func:`summary_html` (from ``qx.summary``),
:func:`problem_rows` and :func:`retry_counts` (which rows :func:`qxframe.rows_to_retry`
would give back, and which it leaves out and why). A view given the push's input
(``frame=``) also gets those rows in one call: ``view.rows_to_retry()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import polars as pl

from qxframe._results import rows_to_retry, summary
from qxframe.widgets import _html

PROBLEM_STATUSES = ("failed", "invalid")


def summary_text(results: pl.DataFrame) -> str:
    """``"300 rows: success 286, invalid 14."`` (statuses with no rows are left out)."""
    counts = [f"{status} {n:,}" for status, n in summary(results).items() if n]
    return f"{results.height:,} rows: {', '.join(counts) or 'nothing to report'}."


def problem_rows(results: pl.DataFrame) -> pl.DataFrame:
    """The failed and invalid rows: ``row``, ``status``, ``error_code``, ``error_message``."""
    return results.filter(pl.col("status").is_in(PROBLEM_STATUSES)).select(
        "row", "status", "error_code", "error_message"
    )


def retry_counts(results: pl.DataFrame) -> dict[str, int]:
    """``retry``: rows ``rows_to_retry`` gives back by default (failed, outcome known);
    ``unknown``: failed with ``outcome_unknown`` (may have landed); ``invalid``: never sent."""
    failed = results.filter(pl.col("status") == "failed")
    unknown = failed.filter(pl.col("error_code") == "outcome_unknown").height
    invalid = results.filter(pl.col("status") == "invalid").height
    return {"retry": failed.height - unknown, "unknown": unknown, "invalid": invalid}


def retry_advice(results: pl.DataFrame) -> list[str]:
    """Sentences saying which rows to send again, and how."""
    counts = retry_counts(results)
    advice = []
    if counts["retry"]:
        advice.append(
            f"{counts['retry']:,} failed rows can be sent again as they are: "
            "qx.rows_to_retry(frame, res)."
        )
    if counts["unknown"]:
        advice.append(
            f"{counts['unknown']:,} rows ended outcome_unknown: they may have landed, so they "
            "are left out; check in Qualtrics first (include_unknown=True adds them)."
        )
    if counts["invalid"]:
        advice.append(
            f"{counts['invalid']:,} invalid rows were never sent: fix them, then "
            "qx.rows_to_retry(frame, res, include_invalid=True) gives them back too."
        )
    return advice or ["Nothing to re-run."]


def summary_html(results: pl.DataFrame, *, limit: int = 20) -> str:
    """Counts per status, the first ``limit`` problem rows with reasons, and re-run advice."""
    counts = summary(results)
    shown = [f"{_html.badge(status)} {n:,}" for status, n in counts.items() if n]
    parts = [f"<div><b>Results</b>: {results.height:,} rows &nbsp; {' &nbsp; '.join(shown)}</div>"]
    problems = problem_rows(results)
    if problems.height:
        rows = [
            (
                _html.esc(r["row"]),
                _html.badge(r["status"]),
                _html.esc(r["error_code"]),
                _html.esc(r["error_message"]),
            )
            for r in problems.head(limit).iter_rows(named=True)
        ]
        table = _html.table(("row", "status", "code", "reason"), rows, css_class="qx-problems")
        more = problems.height - min(limit, problems.height)
        parts.append(table + (f"<div>… and {more:,} more.</div>" if more else ""))
    parts.append("".join(f"<div>{_html.esc(line)}</div>" for line in retry_advice(results)))
    return '<div class="qx-results">' + "".join(parts) + "</div>"


class ResultsView(w.VBox):
    """Counts per status, failed and invalid rows with reasons, and the rows to re-run.

    Args:
        results: a results frame (what ``qx.upsert_contacts`` … return).
        frame: the push's input; with it, :meth:`rows_to_retry` and the "Show rows to
            re-run" button work.
        limit: how many problem rows to list.
    """

    def __init__(self, results: pl.DataFrame, *, frame: Any = None, limit: int = 20) -> None:
        self.results = results
        self.frame = frame
        self.summary = w.HTML(summary_html(results, limit=limit))
        self.retry_button = w.Button(description="Show rows to re-run", icon="redo")
        self.retry_area = w.HTML()
        self.retry_button.on_click(lambda _button: self.show_retry())
        children: list[w.Widget] = [self.summary]
        if frame is not None and retry_counts(results)["retry"]:
            children += [self.retry_button, self.retry_area]
        super().__init__(children=children)
        self.add_class("qx-results-view")

    def rows_to_retry(self, **options: Any) -> pl.DataFrame:
        """``qx.rows_to_retry(frame, results, **options)``: the input rows to send again."""
        if self.frame is None:
            raise ValueError(
                "this view was built without frame=; call qx.rows_to_retry(frame, res)"
            )
        return rows_to_retry(self.frame, self.results, **options)

    def show_retry(self, rows: int = 10) -> None:
        """Show the first ``rows`` rows to re-run (what the button does)."""
        retry = self.rows_to_retry()
        head = retry.head(rows)._repr_html_()
        self.retry_area.value = f"<div>{retry.height:,} rows to re-run:</div>{head}"

    def __repr__(self) -> str:
        return f"<ResultsView {summary_text(self.results)}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = self.summary.value  # readable where widgets do not render
        return bundle


def results(results: pl.DataFrame, *, frame: Any = None, limit: int = 20) -> ResultsView:
    """A :class:`ResultsView` of a push's results (pass the push's input as ``frame``)."""
    return ResultsView(results, frame=frame, limit=limit)
