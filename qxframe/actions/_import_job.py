"""One import job, in the order it lives: create → follow → report → outcomes.

This module owns the life of one Qualtrics transaction-contacts import job
(docs/architecture.md, "One import job"; docs/qualtrics-api.md §9), in the manner of
simple-salesforce's ``bulk2``: an :class:`ImportJob` carries its :class:`JobState`, and
:func:`run` takes it through its states in reading order:

1. **create** (``PLANNED`` → ``CREATED`` or ``REFUSED``): the body goes out; while
   Qualtrics' import queue is full, wait and try again. A job whose rows would not merge
   if sent twice marks them ``pending`` first, and the journal records the job's id as
   soon as Qualtrics answers (``ctx.remember``).
2. **follow** (→ ``COMPLETE``, or ``LOST``): poll its status with backoff until
   ``percentComplete`` reaches 100, moving the progress bar with it.
3. **report** (→ ``REPORTED``, or ``LOST``): read the report to its last page.
4. **outcomes**: one result row per job row, mapped by ``sourceIndexId``, column-wise.

A job refused whole with a 400 or a 413 processed nothing, so it is split in halves,
each a job of its own. A resumed push re-enters a job the journal recorded by its id
(:func:`resume`): :meth:`ImportJob.recorded` is that job in state ``CREATED``, and it goes
on from step 2 exactly as a job this push created.

A row's result: a report entry with a ``contactId`` → ``success``; an entry without one →
``import_<importStatusCode>``; an index in ``contacts.unprocessed`` →
``import_unprocessed``; a row the report never mentions → ``import_report_missing``; a
job created but not followed to its report → ``outcome_unknown``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial

import polars as pl

from qxframe import _results
from qxframe._journal import ImportRow
from qxframe._results import OUTCOME_UNKNOWN, Status
from qxframe.actions._action import JOB_COLUMN, Context
from qxframe.exceptions import (
    ApiError,
    BadRequestError,
    PayloadTooLargeError,
    QxError,
    RateLimitedError,
)

QUEUE_WAIT = 5.0  # seconds between tries while Qualtrics' import queue is full
POLL_FIRST, POLL_MAX = 0.25, 5.0  # status polling backoff (seconds), doubling
_UNPROCESSED = (
    "Qualtrics did not process this contact in the import, most often for an invalid "
    "e-mail; fix the row and push it again."
)
_MISSING = (
    "The import's report does not mention this contact, so whether it was imported is "
    "unknown; check the mailing list in Qualtrics before pushing the row again."
)


class JobState(StrEnum):
    """Where an import job is in its life."""

    PLANNED = "planned"  # rows and body ready, not sent
    REFUSED = "refused"  # the create was refused: nothing of it was imported
    CREATED = "created"  # Qualtrics answered with the job's id
    COMPLETE = "complete"  # its percentComplete reached 100
    REPORTED = "reported"  # its report was read to the last page
    LOST = "lost"  # created, but its status or report could not be read


@dataclass(eq=False)  # compared (and hashed) by identity: it is the bar's key too
class ImportJob:
    """One import job: its list, its rows (input positions), and what is known of it."""

    directory_id: str
    mailing_list_id: str
    rows: pl.Series  # Int64 input positions, in the order of ``contacts``
    contacts: pl.Series  # compact JSON text of each contact object (empty once created)
    merges: bool = False  # every row would merge into an existing contact if sent twice
    indexes: pl.Series | None = None  # each row's index in the job (default 0, 1, …)
    state: JobState = JobState.PLANNED
    import_id: str = ""
    http_status: int | None = None  # the create's answer (None: heard by an earlier push)
    request_id: str | None = None
    attempts: int = 0  # every HTTP attempt its rows depended on (splits included)
    unprocessed: list[object] = field(default_factory=list)  # indexes Qualtrics skipped
    entries: list[dict[str, object]] = field(default_factory=list)  # the report
    error: QxError | None = None  # why it was refused, or lost

    @classmethod
    def recorded(cls, rows: pl.DataFrame) -> ImportJob:
        """The job the journal recorded for ``rows`` (one job's rows, with
        ``JOB_COLUMN``), in state ``CREATED``: its create was answered in an earlier run."""
        jobs = rows.select("row", pl.col(JOB_COLUMN).struct.unnest()).sort("source_index")
        first = jobs.row(0, named=True)
        return cls(
            first["directory_id"],
            first["mailing_list_id"],
            jobs["row"],
            pl.Series([], dtype=pl.String),
            indexes=jobs["source_index"],
            state=JobState.CREATED,
            import_id=first["import_id"],
            unprocessed=jobs.filter(pl.col("unprocessed"))["source_index"].to_list(),
        )

    def halves(self) -> list[ImportJob]:
        half = self.rows.len() // 2
        return [
            ImportJob(
                self.directory_id,
                self.mailing_list_id,
                self.rows[part],
                self.contacts[part],
                self.merges,
                attempts=self.attempts,
            )
            for part in (slice(0, half), slice(half, None))
        ]

    def body(self) -> str:
        return '{"contacts":[' + ",".join(self.contacts.to_list()) + "]}"


async def run(
    ctx: Context, job: ImportJob, slots: asyncio.Semaphore, *, report: bool
) -> pl.DataFrame:
    """Take ``job`` through its life; its rows' results (``report``: and report them).

    ``slots`` is held from the create until the report is read: at most that many jobs
    unfinished at once.
    """
    async with slots:
        if job.state is JobState.PLANNED:
            await create(ctx, job)
        if job.state is JobState.CREATED:
            await follow(ctx, job, show=report)
        if job.state is JobState.COMPLETE:
            await read_report(ctx, job)
    if job.state is JobState.REFUSED and _splittable(job):
        halves = [await run(ctx, half, slots, report=report) for half in job.halves()]
        return pl.concat(halves)
    results = outcomes(job)
    if report:
        ctx.report(results, shown=job)
    return results


async def resume(ctx: Context, rows: pl.DataFrame) -> None:
    """Follow the jobs recorded for ``rows`` (``JOB_COLUMN`` set) to their reports, and
    report their rows; nothing is created again."""
    by_id = rows.with_columns(_id=pl.col(JOB_COLUMN).struct.field("import_id"))
    jobs = [j.drop("_id") for j in by_id.partition_by("_id", maintain_order=True)]
    slots = asyncio.Semaphore(len(jobs))  # already created: no new job waits for these
    await asyncio.gather(*(run(ctx, ImportJob.recorded(j), slots, report=True) for j in jobs))


# -- 1. create -------------------------------------------------------------------------


async def create(ctx: Context, job: ImportJob) -> None:
    """Create the job (→ CREATED or REFUSED); while the import queue is full, wait."""
    risky = [] if job.merges else job.rows.to_list()
    send = partial(
        ctx.api.acreate_import,
        job.directory_id,
        job.mailing_list_id,
        job.body(),
        repeatable=job.merges,
    )
    while True:
        answer = await ctx.call(send, risky_rows=risky)
        if not _queue_full(answer):
            break
        ctx.forget(risky)  # refused whole: nothing landed
        await ctx.api.apause(QUEUE_WAIT)
    job.attempts += answer.attempts
    if isinstance(answer, QxError):
        job.state, job.error = JobState.REFUSED, answer
        return
    result = answer.result or {}
    job.state, job.import_id = JobState.CREATED, str(result.get("id") or "")
    job.http_status, job.request_id = answer.status, answer.request_id
    job.unprocessed = unprocessed = (result.get("contacts") or {}).get("unprocessed") or []
    job.contacts = job.contacts.clear()  # sent: not kept while the job runs
    if risky:  # a resumed push follows it instead of sending its rows again
        where = ImportRow(job.import_id, job.directory_id, job.mailing_list_id, 0, False)
        ctx.remember(risky, where, {int(i) for i in unprocessed})


def _queue_full(answer: object) -> bool:
    if isinstance(answer, RateLimitedError):
        return True
    text = (answer.error_message or "").lower() if isinstance(answer, ApiError) else ""
    return "queue" in text and "full" in text


def _splittable(job: ImportJob) -> bool:
    """Refused whole (nothing processed), so halves cannot duplicate."""
    error = isinstance(job.error, BadRequestError | PayloadTooLargeError)
    return error and job.rows.len() > 1


# -- 2. follow -------------------------------------------------------------------------


async def follow(ctx: Context, job: ImportJob, *, show: bool) -> None:
    """Poll the job's status until it is complete (→ COMPLETE, or LOST)."""
    wait = POLL_FIRST
    while True:
        try:
            status = await ctx.api.aimport_status(
                job.directory_id, job.mailing_list_id, job.import_id
            )
        except QxError as error:
            job.state, job.error = JobState.LOST, error
            return
        percent = min(float((status.result or {}).get("percentComplete") or 0), 100.0)
        if show:  # the bar counts the rest when the rows are reported
            ctx.show(job, int(job.rows.len() * percent / 100))
        if percent >= 100:
            job.state = JobState.COMPLETE
            return
        await ctx.api.apause(wait)
        wait = min(POLL_MAX, wait * 2)


# -- 3. report -------------------------------------------------------------------------


async def read_report(ctx: Context, job: ImportJob) -> None:
    """Read the job's report to its last page (→ REPORTED, or LOST)."""
    token: str | None = None
    try:
        while True:
            _, page, token = await ctx.api.aimport_report_page(
                job.directory_id, job.import_id, token
            )
            job.entries.extend(page)
            if token is None:
                break
    except QxError as error:
        job.state, job.error = JobState.LOST, error
        return
    job.state = JobState.REPORTED


# -- 4. outcomes -----------------------------------------------------------------------


def outcomes(job: ImportJob) -> pl.DataFrame:
    """The results of the job's rows, from the state it ended in."""
    if job.state is JobState.REPORTED:
        return map_report(job)
    if job.state is JobState.LOST:
        message = (
            f"Import job {job.import_id} was created, but its status or report could not be "
            f"read ({_message(job)}); check the mailing list in Qualtrics before pushing "
            "these rows again."
        )
        return _all_rows(job, OUTCOME_UNKNOWN, message, job.http_status, job.request_id)
    assert job.state is JobState.REFUSED and job.error is not None, job.state
    error = job.error
    return _all_rows(job, error.error_code, error.message, error.http_status, error.request_id)


def _message(job: ImportJob) -> str:
    return job.error.message if job.error is not None else "no answer"


def _all_rows(
    job: ImportJob, code: str | None, message: str, http: int | None, request_id: str | None
) -> pl.DataFrame:
    return _results.conform(
        pl.DataFrame({"row": job.rows}).with_columns(
            status=pl.lit(Status.FAILED),
            http_status=pl.lit(http, pl.Int64),
            error_code=pl.lit(code, pl.String),
            error_message=pl.lit(message, pl.String),
            request_id=pl.lit(request_id, pl.String),
            attempts=pl.lit(job.attempts, pl.Int64),
        )
    )


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


def map_report(job: ImportJob) -> pl.DataFrame:
    """The results of ``job``'s rows from its report and ``contacts.unprocessed`` (column-wise)."""
    skipped = pl.Series(
        "_index",
        [int(i) for i in job.unprocessed if isinstance(i, int | str) and str(i).isdigit()],
        pl.Int64,
    )
    index = job.indexes if job.indexes is not None else pl.int_range(job.rows.len(), eager=True)
    rows = pl.DataFrame({"_index": index.cast(pl.Int64), "row": job.rows})
    joined = rows.join(_report_frame(job.entries), on="_index", how="left")
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
        pl.lit(job.http_status, pl.Int64).alias("http_status"),
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
        pl.lit(job.request_id, pl.String).alias("request_id"),
        pl.lit(job.attempts, pl.Int64).alias("attempts"),
    )
    return _results.conform(out)
