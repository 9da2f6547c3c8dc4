"""Import jobs: many contacts a request through Qualtrics' transaction-contacts import.

This module owns the import path of a push (docs/architecture.md, "Mailing lists and
import jobs"; docs/qualtrics-api.md §9): which rows may take it, cutting them into jobs
(at most 10,000 contacts and 5,000,000 bytes of compact JSON each), creating and
following the jobs (at most ``import_jobs`` unfinished at once, a full queue waited
out, status polled with backoff until ``percentComplete`` reaches 100), reading each
job's report to its last page, and mapping the report back to input rows. Bodies are
built and results mapped column-wise in polars: no Python loop runs per row.

A row's result: a report entry with a ``contactId`` → ``success``; an entry without one →
``import_<importStatusCode>``; an index in ``contacts.unprocessed`` →
``import_unprocessed``; a row the report never mentions → ``import_report_missing``. A
job Qualtrics refuses whole with a 400 (or a 413) is split in halves. A job whose create
may have landed is re-sent only when every one of its rows would merge; otherwise its
rows are announced to the journal before the request and end ``outcome_unknown``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import polars as pl

from qxframe import _results
from qxframe._journal import ImportRow
from qxframe._payloads import contact_bodies
from qxframe._results import OUTCOME_UNKNOWN, Status
from qxframe.actions._dedup import dedup_fields
from qxframe.delivery._envelope import Reply
from qxframe.exceptions import (
    ApiError,
    BadRequestError,
    PayloadTooLargeError,
    QxError,
    RateLimitedError,
)

if TYPE_CHECKING:
    from qxframe.actions._pipeline import Push

MAX_CONTACTS = 10_000
MAX_BYTES = 5_000_000
AUTO_MIN_ROWS = 1_000  # "auto" imports a push of at least this many rows
QUEUE_WAIT = 5.0  # seconds between tries while Qualtrics' import queue is full
POLL_FIRST, POLL_MAX = 0.25, 5.0  # status polling backoff (seconds), doubling
_WRAP = len('{"contacts":[]}')
_UNPROCESSED = (
    "Qualtrics did not process this contact in the import, most often for an invalid "
    "e-mail; fix the row and push it again."
)
_MISSING = (
    "The import's report does not mention this contact, so whether it was imported is "
    "unknown; check the mailing list in Qualtrics before pushing the row again."
)


@dataclass
class Job:
    """One import request: its list, its rows (input positions) and their contact objects."""

    directory_id: str
    mailing_list_id: str
    rows: pl.Series  # Int64 input positions, in the order of ``contacts``
    contacts: pl.Series  # compact JSON text of each contact object
    merges: bool  # every row would merge into an existing contact if sent twice
    settle: bool = True  # its rows' outcomes move the progress bar and reach the journal
    shown: int = 0  # rows the progress bar already counts for this job
    indexes: pl.Series | None = None  # each row's index in the request (default 0, 1, …)

    def half(self, part: slice) -> Job:
        rows, contacts = self.rows[part], self.contacts[part]
        return Job(
            self.directory_id, self.mailing_list_id, rows, contacts, self.merges, self.settle
        )

    def body(self) -> str:
        return '{"contacts":[' + ",".join(self.contacts.to_list()) + "]}"


def importable(valid: pl.DataFrame) -> pl.Expr:
    """Rows an import can carry: a mailing list, and no ``phone`` (the import has none)."""
    expr = (
        pl.col("mailing_list_id").is_not_null()
        if "mailing_list_id" in valid.columns
        else pl.lit(False)
    )
    if "phone" in valid.columns:
        expr &= pl.col("phone").is_null()
    return expr


def use_import(push: Push, valid: pl.DataFrame) -> bool:
    """Whether this push sends importable rows in import jobs (``method=``)."""
    if push.method == "api" or "mailing_list_id" not in valid.columns:
        return False
    rows = push.input_rows if push.input_rows is not None else valid.height
    return push.method == "import" or rows >= AUTO_MIN_ROWS


def with_bodies(valid: pl.DataFrame) -> pl.DataFrame:
    """``valid`` with ``_contact`` (the row's import contact object) and ``_bytes``."""
    return valid.with_columns(contact_bodies(valid).alias("_contact")).with_columns(
        pl.col("_contact").str.len_bytes().cast(pl.Int64).alias("_bytes")
    )


def plan_jobs(frame: pl.DataFrame, settle: bool = True) -> list[Job]:
    """Jobs per (directory, list) in input order, each within the count and byte limits.

    ``frame`` comes from :func:`with_bodies` and has ``_merges``. Cut points come from a
    cumulative sum of sizes (``search_sorted``): a loop per job, not per row.
    """
    jobs: list[Job] = []
    for part in frame.partition_by("directory_id", "mailing_list_id", maintain_order=True):
        ends = (part["_bytes"] + 1).cum_sum()  # +1: the comma or bracket after it
        start, n = 0, part.height
        while start < n:
            base = ends[start - 1] if start else 0
            stop = int(ends.search_sorted(base + MAX_BYTES - _WRAP, side="right"))
            stop = max(start + 1, min(stop, start + MAX_CONTACTS))
            piece = part.slice(start, stop - start)
            where = (part["directory_id"][0], part["mailing_list_id"][0])
            merges = bool(piece["_merges"].all())
            jobs.append(Job(*where, piece["row"], piece["_contact"], merges, settle))
            start = stop
    return jobs


def oversized(frame: pl.DataFrame) -> pl.Expr:
    """Rows whose contact alone is too large for a job (they go through the per-row API)."""
    return pl.col("_bytes") > MAX_BYTES - _WRAP - 1


def waves(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """Rows split so that rows of one identity land in successive waves, in input order."""
    keys = [
        pl.col(c).cast(pl.String).str.strip_chars()
        for c in ("ext_ref", "email")
        if c in frame.columns
    ]
    if "email" in frame.columns:
        keys[-1] = keys[-1].str.to_lowercase()
    if not keys:
        return [frame]
    nth = pl.int_range(pl.len()).over(pl.struct(keys)).alias("_wave")
    marked = frame.with_columns(nth)
    return [w.drop("_wave") for w in marked.partition_by("_wave", maintain_order=True)]


async def send_imports(push: Push, frame: pl.DataFrame, *, settle: bool = True) -> pl.DataFrame:
    """Send ``frame`` (importable rows with bodies) in import jobs; its results frame.

    ``settle``: tell the progress bar and the journal of each job's rows as it ends
    (a transaction push's lookups settle nothing: their transactions do).
    """
    if push.caches.import_slots is None:
        push.caches.import_slots = asyncio.Semaphore(push.import_jobs)
    slots = push.caches.import_slots
    parts: list[pl.DataFrame] = []
    for wave in waves(await with_merges(push, frame)):
        jobs = plan_jobs(wave, settle)
        parts.extend(await asyncio.gather(*(_run_job(push, job, slots) for job in jobs)))
    return pl.concat(parts) if parts else _results.empty()


async def with_merges(push: Push, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``_merges``: the directory deduplicates on fields the row carries
    (never on ``phone``, which an import cannot carry), so a second copy would merge."""
    parts = []
    for part in frame.partition_by("directory_id", maintain_order=True):
        fields = await dedup_fields(push, part["directory_id"][0])
        usable = bool(fields) and "phone" not in fields and set(fields) <= set(part.columns)
        merges = (
            pl.all_horizontal(pl.col(f).is_not_null() for f in fields) if usable else pl.lit(False)
        )
        parts.append(part.with_columns(merges.alias("_merges")))
    return pl.concat(parts).sort("row") if parts else frame.with_columns(_merges=pl.lit(False))


async def _run_job(push: Push, job: Job, slots: asyncio.Semaphore, spent: int = 0) -> pl.DataFrame:
    async with slots:  # held until the job is complete: at most import_jobs unfinished
        answer = await _create(push, job)
        split = isinstance(answer, BadRequestError | PayloadTooLargeError) and job.rows.len() > 1
        if isinstance(answer, Reply):
            result = await _follow(push, job, answer, spent)
    if isinstance(answer, QxError):
        if not split:
            result = _failed(job, answer, spent)
        else:  # refused whole: nothing was processed, so halves cannot duplicate
            half, spent = job.rows.len() // 2, spent + answer.attempts
            first = await _run_job(push, job.half(slice(0, half)), slots, spent)
            return pl.concat(
                [first, await _run_job(push, job.half(slice(half, None)), slots, spent)]
            )
    if job.settle:
        _settle(push, result, job.shown)
    return result


async def _create(push: Push, job: Job) -> Reply | QxError:
    """Create the job; while Qualtrics' import queue is full, wait and try again."""
    risky = [] if job.merges else job.rows.to_list()
    body = job.body()
    create = partial(
        push.api.acreate_import, job.directory_id, job.mailing_list_id, body, repeatable=job.merges
    )
    while True:
        answer = await push.call(create, risky_rows=risky)
        if not _queue_full(answer):
            return answer
        if risky and push.watcher is not None:
            push.watcher.refused(risky)  # refused whole: nothing landed
        await push.api.apause(QUEUE_WAIT)


def _queue_full(answer: Reply | QxError) -> bool:
    if isinstance(answer, RateLimitedError):
        return True
    text = (answer.error_message or "").lower() if isinstance(answer, ApiError) else ""
    return "queue" in text and "full" in text


async def _follow(push: Push, job: Job, created: Reply, spent: int) -> pl.DataFrame:
    """Poll the job until it is complete, read its report, and map it to the job's rows."""
    result = created.result or {}
    import_id = str(result.get("id") or "")
    unprocessed = (result.get("contacts") or {}).get("unprocessed") or []
    if not job.merges and push.watcher is not None:  # a resumed push follows it, not resends
        where = ImportRow(import_id, job.directory_id, job.mailing_list_id, 0, False)
        push.watcher.job_created(job.rows.to_list(), where, {int(i) for i in unprocessed})
    try:
        await wait_complete(push, job, import_id)
        entries = await read_report(push, job.directory_id, import_id)
    except QxError as error:
        return lost(job, created, import_id, error, spent)
    return map_report(job, created, entries, unprocessed, spent)


async def wait_complete(push: Push, job: Job, import_id: str) -> None:
    wait = POLL_FIRST
    while True:
        status = await push.api.aimport_status(job.directory_id, job.mailing_list_id, import_id)
        percent = float((status.result or {}).get("percentComplete") or 0)
        _show(push, job, percent)
        if percent >= 100:
            return
        await push.api.apause(wait)
        wait = min(POLL_MAX, wait * 2)


def _show(push: Push, job: Job, percent: float) -> None:
    """Move the progress bar to this job's ``percentComplete`` (settled rows count the rest)."""
    now = int(job.rows.len() * min(percent, 100.0) / 100)
    if job.settle and now > job.shown:
        push.advance(now - job.shown)
        job.shown = now


async def read_report(push: Push, directory_id: str, import_id: str) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    token: str | None = None
    while True:
        _, page, token = await push.api.aimport_report_page(directory_id, import_id, token)
        entries.extend(page)
        if token is None:
            return entries


_REPORT_SCHEMA = {
    "_index": pl.Int64,
    "_contact_id": pl.String,
    "_code": pl.String,
    "_text": pl.String,
}


def _report_frame(entries: list[dict[str, object]]) -> pl.DataFrame:
    """Report entries as a frame; ``sourceIndexId`` read from a string or an integer."""
    if not entries:
        return pl.DataFrame(schema=_REPORT_SCHEMA)
    raw = pl.from_dicts(
        entries,
        schema={
            "sourceIndexId": pl.String,
            "contactId": pl.String,
            "importStatusCode": pl.String,
            "importStatus": pl.String,
        },
        strict=False,
    )
    return raw.select(
        pl.col("sourceIndexId").str.strip_chars().cast(pl.Int64, strict=False).alias("_index"),
        pl.col("contactId").alias("_contact_id"),
        pl.col("importStatusCode").alias("_code"),
        pl.col("importStatus").alias("_text"),
    ).unique("_index", keep="first", maintain_order=True)


def map_report(
    job: Job,
    created: Reply,
    entries: list[dict[str, object]],
    unprocessed: list[object],
    spent: int,
) -> pl.DataFrame:
    """The results of ``job``'s rows from its report and ``contacts.unprocessed`` (column-wise)."""
    skipped = pl.Series(
        "_index",
        [int(i) for i in unprocessed if isinstance(i, int | str) and str(i).isdigit()],
        pl.Int64,
    )
    index = job.indexes if job.indexes is not None else pl.int_range(job.rows.len(), eager=True)
    rows = pl.DataFrame({"_index": index.cast(pl.Int64), "row": job.rows})
    joined = rows.join(_report_frame(entries), on="_index", how="left")
    found = pl.col("_contact_id").is_not_null()
    gone = pl.col("_index").is_in(skipped.implode())
    coded = pl.col("_code").is_not_null()
    code = pl.concat_str(pl.lit("import_"), pl.col("_code").str.to_lowercase())
    text = pl.concat_str(
        pl.lit("Qualtrics did not import this contact: "),
        pl.col("_text").fill_null("no reason given"),
    )
    out = joined.select(
        "row",
        pl.when(found)
        .then(pl.lit(Status.SUCCESS))
        .otherwise(pl.lit(Status.FAILED))
        .alias("status"),
        pl.lit(created.status, pl.Int64).alias("http_status"),
        pl.col("_contact_id").alias("qualtrics_id"),
        pl.when(found)
        .then(None)
        .when(gone)
        .then(pl.lit("import_unprocessed"))
        .when(coded)
        .then(code)
        .otherwise(pl.lit("import_report_missing"))
        .alias("error_code"),
        pl.when(found)
        .then(None)
        .when(gone)
        .then(pl.lit(_UNPROCESSED))
        .when(coded)
        .then(text)
        .otherwise(pl.lit(_MISSING))
        .alias("error_message"),
        pl.lit(created.request_id, pl.String).alias("request_id"),
        pl.lit(created.attempts + spent, pl.Int64).alias("attempts"),
    )
    return _results.conform(out)


def _failed(job: Job, error: QxError, spent: int) -> pl.DataFrame:
    """Every row of a job whose create failed: the create's error."""
    return _results.conform(
        pl.DataFrame({"row": job.rows}).with_columns(
            status=pl.lit(Status.FAILED),
            http_status=pl.lit(error.http_status, pl.Int64),
            error_code=pl.lit(error.error_code, pl.String),
            error_message=pl.lit(error.message, pl.String),
            request_id=pl.lit(error.request_id, pl.String),
            attempts=pl.lit(error.attempts + spent, pl.Int64),
        )
    )


def lost(job: Job, created: Reply, import_id: str, error: QxError, spent: int) -> pl.DataFrame:
    """The job was created but could not be followed: its rows' outcome is unknown."""
    message = (
        f"Import job {import_id} was created, but its status or report could not be read "
        f"({error.message}); check the mailing list in Qualtrics before pushing these rows again."
    )
    return _results.conform(
        pl.DataFrame({"row": job.rows}).with_columns(
            status=pl.lit(Status.FAILED),
            http_status=pl.lit(created.status, pl.Int64),
            error_code=pl.lit(OUTCOME_UNKNOWN),
            error_message=pl.lit(message),
            request_id=pl.lit(created.request_id, pl.String),
            attempts=pl.lit(created.attempts + spent, pl.Int64),
        )
    )


def _settle(push: Push, result: pl.DataFrame, shown: int) -> None:
    """Report the job's outcomes through ``push.settle`` (progress bar, journal, and the
    results of a push that is stopped); the bar already counted ``shown`` of its rows."""
    push.advance(-shown)
    push.settle([_results.Outcome(**r) for r in result.iter_rows(named=True)])
