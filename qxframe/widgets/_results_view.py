"""The results view: counts per status as a bar, problems grouped by error code, every
problem row reachable by paging, a CSV download, and what to re-run.

This module owns :class:`ResultsView` (built by :func:`results`) and the pure functions
it shows: :func:`summary_text` and :func:`summary_html` (from ``qx.summary``),
:func:`groups_html` and :func:`page_html` (over :mod:`qxframe.widgets._problems`),
:func:`retry_counts` and :func:`retry_advice` (which rows :func:`qxframe.rows_to_retry`
would give back, and which it leaves out and why). A results frame is taken in any form a
push returns it (polars, the LazyFrame of ``out=``, pandas). A view given the push's
input (``frame=``) shows the input's identifying columns beside ``row`` and gives the
rows to re-run in one call: ``view.rows_to_retry()``.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as w
import polars as pl

from qxframe import rows_to_retry, summary
from qxframe._skins import OPERATIONS, OUTCOME_UNKNOWN, STATUSES, Status, collect
from qxframe.widgets import _html, _problems
from qxframe.widgets._problems import PAGE_SIZE, problem_rows

#: Up to this many result rows, the CSV download is a link holding the file; above, a
#: button saves it next to the notebook (a link would put the whole file in the page).
INLINE_DOWNLOAD_ROWS = 100_000
#: The "Show" dropdown's value for every problem row (a real ``None`` value renders the
#: dropdown blank in the browser until it is used; ``""`` is the code of rows with none).
ALL_PROBLEMS = "*"


def summary_text(results: Any) -> str:
    """``"300 rows: success 286, invalid 14."`` (statuses with no rows are left out); the
    failed rows whose outcome is unknown are named, as they need a person: ``"failed 4
    (3 outcome_unknown)"`` (:func:`unknown_text` says what to do about them); then what
    was done, when operations are known (``" Operations: create 2, unchanged 284."``)."""
    frame = collect(results)
    everything = summary(frame)
    counts = {s: everything[s] for s in STATUSES}
    total = sum(counts.values())
    shown = [f"{status} {n:,}" for status, n in counts.items() if n]
    unknown = retry_counts(frame)["unknown"] if counts[Status.FAILED] else 0
    if unknown:
        index = [status for status, n in counts.items() if n].index(Status.FAILED)
        shown[index] += f" ({unknown:,} {OUTCOME_UNKNOWN})"
    done = [f"{op} {everything[op]:,}" for op in OPERATIONS if everything.get(op)]
    text = f"{total:,} rows: {', '.join(shown) or 'nothing to report'}."
    return text + (f" Operations: {', '.join(done)}." if done else "")


def unknown_text(results: pl.DataFrame) -> str | None:
    """What to do about the rows that ended ``outcome_unknown`` (``None`` when none did)."""
    unknown = retry_counts(results)["unknown"]
    if not unknown:
        return None
    return (
        f"{unknown:,} rows ended {OUTCOME_UNKNOWN}: they may have landed; check in Qualtrics "
        "before sending them again."
    )


def retry_counts(results: pl.DataFrame) -> dict[str, int]:
    """``retry``: rows ``rows_to_retry`` gives back by default (failed, outcome known);
    ``unknown``: failed with ``outcome_unknown`` (may have landed); ``invalid``: never sent."""
    failed = results.filter(pl.col("status") == Status.FAILED)
    unknown = failed.filter(pl.col("error_code") == OUTCOME_UNKNOWN).height
    invalid = results.filter(pl.col("status") == Status.INVALID).height
    return {"retry": failed.height - unknown, "unknown": unknown, Status.INVALID: invalid}


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
    if counts[Status.INVALID]:
        advice.append(
            f"{counts[Status.INVALID]:,} invalid rows were never sent: fix them, then "
            "qx.rows_to_retry(frame, res, include_invalid=True) gives them back too."
        )
    return advice or ["Nothing to re-run."]


def summary_html(results: pl.DataFrame) -> str:
    """The row count and the counts per status as a bar."""
    head = f"<div><b>Results</b>: {results.height:,} rows</div>"
    counts = summary(results)
    return head + _html.status_bar({s: counts[s] for s in STATUSES})


def groups_html(results: pl.DataFrame) -> str:
    """The problems per error code: how many rows, and one example row and message."""
    groups = _problems.problem_groups(results)
    if groups.height == 0:
        return '<div class="qx-groups">No failed or invalid rows.</div>'
    rows = [
        (
            _html.esc(g["error_code"] or "—"),
            _html.badge(g["status"]),
            _html.esc(f"{g['rows']:,}"),
            _html.NOWRAP.format(_html.esc(g["example_row"])),
            _html.esc(g["example_message"]),
        )
        for g in groups.iter_rows(named=True)
    ]
    header = ("error code", "status", "rows", "e.g. row", "example message")
    return _html.table(header, rows, css_class="qx-groups")


def page_html(page: pl.DataFrame) -> str:
    """One page of problem rows: ``row``, the identifying columns, status, code, reason."""
    idents = [c for c in page.columns if c not in ("row", *_PROBLEM_COLUMNS)]
    rows = [
        (
            _html.NOWRAP.format(_html.esc(r["row"])),
            *(_html.esc(r[c]) for c in idents),
            _html.badge(r["status"]),
            _html.esc(r["error_code"]),
            _html.esc(r["error_message"]),
        )
        for r in page.iter_rows(named=True)
    ]
    header = ("row", *idents, "status", "code", "reason")
    return _html.table(header, rows, css_class="qx-problems")


_PROBLEM_COLUMNS = ("status", "error_code", "error_message")


def download_links(results: pl.DataFrame) -> str:
    """The every-row CSV download and, beside it when some rows failed or were invalid,
    one of those rows only (every column of the results frame)."""
    links = [_html.download_link(csv_bytes(results), "qxframe-results.csv")]
    problems = results.filter(pl.col("status").is_in(_problems.PROBLEM_STATUSES))
    if problems.height:
        links.append(_html.download_link(csv_bytes(problems), "qxframe-problems.csv"))
    return '<div class="qx-downloads">' + " ".join(links) + "</div>"


def csv_bytes(results: pl.DataFrame) -> bytes:
    """The results frame as CSV (UTF-8, a header line)."""
    buffer = io.BytesIO()
    results.write_csv(buffer)
    return buffer.getvalue()


class ResultsView(w.VBox):
    """Counts per status, problems per error code, every problem row (paged), a CSV
    download, and the rows to re-run.

    Args:
        results: a results frame in any form (what ``qx.upsert_contacts`` … return).
        frame: the push's input; with it, the problem rows show the input's identifying
            columns, and :meth:`rows_to_retry` and the "Show rows to re-run" button work.
        page_size: how many problem rows one page lists.
    """

    def __init__(self, results: Any, *, frame: Any = None, page_size: int = PAGE_SIZE) -> None:
        self.results = collect(results)
        self.frame = frame
        self.page_size = page_size
        self.page = 0
        self._ids: pl.DataFrame | None = None
        self.summary = w.HTML(summary_html(self.results))
        self.groups = w.HTML(groups_html(self.results))
        self.code = w.Dropdown(
            description="Show", options=self._code_options(), layout=w.Layout(width="auto")
        )
        self.prev_button = w.Button(description="◀ Previous", layout=w.Layout(width="auto"))
        self.next_button = w.Button(description="Next ▶", layout=w.Layout(width="auto"))
        self.page_label = w.HTML()
        self.page_label.add_class("qx-page-label")
        self.page_view = w.HTML()
        self.download = w.HTML()
        self.save_button = w.Button(description="Save results as CSV", icon="download")
        self.save_button.layout = w.Layout(width="auto")
        self.advice = w.HTML(
            "".join(f"<div>{_html.esc(line)}</div>" for line in retry_advice(self.results))
        )
        self.retry_button = w.Button(
            description="Show rows to re-run", icon="redo", layout=w.Layout(width="auto")
        )
        self.retry_area = w.HTML()
        self._wire()
        super().__init__(children=self._children())
        self.add_class("qx-results-view")
        self.show_page(0)

    def _wire(self) -> None:
        self.code.observe(lambda _change: self.show_page(0), names="value")
        self.prev_button.on_click(lambda _button: self.show_page(self.page - 1))
        self.next_button.on_click(lambda _button: self.show_page(self.page + 1))
        self.retry_button.on_click(lambda _button: self.show_retry())
        self.save_button.on_click(lambda _button: self.save_csv())
        if self.results.height <= INLINE_DOWNLOAD_ROWS:
            self.download.value = download_links(self.results)

    def _children(self) -> list[w.Widget]:
        children: list[w.Widget] = [self.summary, self.groups]
        if problem_rows(self.results).height:
            pager = w.HBox([self.code, self.prev_button, self.next_button, self.page_label])
            children += [pager, self.page_view]
        big = self.results.height > INLINE_DOWNLOAD_ROWS
        children += [self.save_button, self.download] if big else [self.download]
        children.append(self.advice)
        if self.frame is not None and retry_counts(self.results)["retry"]:
            children += [self.retry_button, self.retry_area]
        return children

    def _code_options(self) -> list[tuple[str, str | None]]:
        groups = _problems.problem_groups(self.results)
        total = int(groups["rows"].sum()) if groups.height else 0
        options: list[tuple[str, str | None]] = [(f"all problems ({total:,})", ALL_PROBLEMS)]
        for g in groups.iter_rows(named=True):
            label = f"{g['error_code'] or '—'} · {g['status']} ({g['rows']:,})"
            options.append((label, g["error_code"]))
        return _unique(options)

    # -- what the view does ----------------------------------------------------------

    def show_page(self, page: int) -> None:
        """Show page ``page`` (0-based, clamped) of the problem rows of the chosen code."""
        code = self.code.value
        problems = problem_rows(self.results, None if code == ALL_PROBLEMS else code)
        pages = _problems.page_count(problems.height, self.page_size)
        self.page = min(max(0, page), pages - 1)
        shown = _problems.problem_page(problems, self._identifiers(), self.page, self.page_size)
        first = self.page * self.page_size
        self.page_label.value = (
            f"rows {first + 1:,}–{first + shown.height:,} of {problems.height:,} "
            f"(page {self.page + 1:,} of {pages:,})"
            if problems.height
            else "no rows"
        )
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= pages - 1
        self.page_view.value = page_html(shown)

    def rows_to_retry(self, **options: Any) -> Any:
        """``qx.rows_to_retry(frame, results, **options)``: the input rows to send again."""
        if self.frame is None:
            raise ValueError(
                "this view was built without frame=; call qx.rows_to_retry(frame, res)"
            )
        return rows_to_retry(self.frame, self.results, **options)

    def show_retry(self, rows: int = 10) -> None:
        """Show the first ``rows`` rows to re-run (what the button does)."""
        retry = self.rows_to_retry()
        retry = retry if isinstance(retry, pl.DataFrame | pl.LazyFrame) else pl.from_pandas(retry)
        head = retry.lazy().head(rows).collect()._repr_html_()
        count = retry.lazy().select(pl.len()).collect().item()
        self.retry_area.value = f"<div>{count:,} rows to re-run:</div>{head}"

    def save_csv(self, path: str | Path | None = None) -> Path:
        """Write the results as CSV (by default next to the notebook) and say where."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        target = Path(path or f"qxframe-results-{stamp}.csv").resolve()
        self.results.write_csv(target)
        self.download.value = _html.message(f"Saved the results to {target}.", "ok")
        return target

    def _identifiers(self) -> pl.DataFrame | None:
        if self.frame is None:
            return None
        if self._ids is None:
            positions = problem_rows(self.results)["row"]
            self._ids = _problems.identifiers(self.frame, positions)
        return self._ids

    def __repr__(self) -> str:
        return f"<ResultsView {summary_text(self.results)}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        # readable where widgets do not render
        parts = (self.summary.value, self.groups.value, self.page_view.value, self.advice.value)
        bundle["text/html"] = '<div class="qx-results">' + "".join(parts) + "</div>"
        return bundle


def _unique(options: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """Options with each value once (a code both failed and invalid is one choice)."""
    seen: set[str | None] = set()
    kept = []
    for label, value in options:
        if value not in seen:
            seen.add(value)
            kept.append((label, value))
    return kept


def results(results: Any, *, frame: Any = None, page_size: int = PAGE_SIZE) -> ResultsView:
    """A :class:`ResultsView` of a push's results (pass the push's input as ``frame``)."""
    return ResultsView(results, frame=frame, page_size=page_size)
