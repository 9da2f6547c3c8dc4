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
   ``percentComplete`` reaches 100, moving the progress bar with it. A job whose
   ``percentComplete`` does not move for ``import_timeout`` seconds (the client's clock),
   or that answers a status qxframe does not know as running before it is complete
   (``failed``, or any other word), is not waited for: its rows end ``outcome_unknown``
   naming the job, and stay pending in the journal with it, so a resumed push follows
   the job again.
3. **report** (→ ``REPORTED``, or ``LOST``): read the report to its last page.
4. **outcomes**: one result row per job row, mapped by ``sourceIndexId``, column-wise.

A job refused whole with a 400 or a 413 processed nothing, so it is split in halves,
each a job of its own. A resumed push re-enters a job the journal recorded by its id
(:func:`resume`): :meth:`ImportJob.recorded` is that job in state ``CREATED``, and it goes
on from step 2 exactly as a job this push created.

A row's result: a report entry with a ``contactId`` → ``success``; an entry without one →
``import_<importStatusCode>``; an index in ``contacts.unprocessed`` →
``import_unprocessed``; a row the report never mentions → ``import_report_missing``; a
job created but not followed to its report → ``outcome_unknown``. A job that completes
with nothing added, updated or failed although it had contacts to process — what
Qualtrics documents for a directory, list or batch id that does not exist — fails its rows
with ``import_nothing_done``, one reason naming the ids to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial

import polars as pl

from qxframe import _results
from qxframe._journal import ImportRow
from qxframe._results import OUTCOME_UNKNOWN, Status
from qxframe.actions._action import JOB_COLUMN, Context, all_of, member_id
from qxframe.delivery._envelope import Reply, unreadable
from qxframe.delivery._stop import Stopped
from qxframe.exceptions import (
    ApiError,
    BadRequestError,
    PayloadTooLargeError,
    QxError,
    RateLimitedError,
)

QUEUE_WAIT = 5.0  # seconds between tries while Qualtrics' import queue is full
POLL_FIRST, POLL_MAX = 0.25, 5.0  # status polling backoff (seconds), doubling
NOTHING_DONE = "import_nothing_done"  # completed, every count 0: a wrong directory or list?
IMPORT_TIMEOUT = 1800.0  # seconds without progress before a job is given up on (default)
#: Statuses of a job still running (compared lower-cased, without spaces, "-" or "_").
RUNNING = frozenset({"", "queued", "inprogress", "running", "pending", "processing", "started"})
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
    report: list[pl.DataFrame] = field(default_factory=list)  # its pages, as read (frames)
    reported: int = 0  # entries its report held
    counted: int | None = None  # added + updated + failed, as its last status said
    gave_up: str | None = None  # why it was not followed to the end (a stall, a status)
    error: QxError | None = None  # why it was refused, or lost

    def add_page(self, entries: list[dict[str, object]]) -> None:
        """One page of the report, kept as a frame of the four fields read (a job's report
        is thousands of entries: held as objects, several jobs' reports cost tens of MB)."""
        self.report.append(_report_frame(entries))
        self.reported += len(entries)

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

    def body(self) -> bytes:
        """The create's JSON body, joined in polars: no Python string per contact."""
        joined = pl.concat_str(
            pl.lit('{"contacts":['), pl.lit(self.contacts).str.join(","), pl.lit("]}")
        )
        return pl.select(joined.cast(pl.Binary)).item()


async def run(
    ctx: Context,
    job: ImportJob,
    slots: asyncio.Semaphore,
    *,
    report: bool,
    timeout: float = IMPORT_TIMEOUT,
    bodies: asyncio.Semaphore | None = None,
) -> pl.DataFrame:
    """Take ``job`` through its life; its rows' results (``report``: and report them).

    ``slots`` is held from the create until the report is read: at most that many jobs
    unfinished at once. ``bodies`` only while its body is built and sent (see
    :func:`create`). ``timeout``: seconds without progress before it is given up on.
    """
    async with slots:
        if job.state is JobState.PLANNED:
            await create(ctx, job, bodies)
        try:
            if job.state is JobState.CREATED:
                await follow(ctx, job, show=report, timeout=timeout)
            if job.state is JobState.COMPLETE:
                await read_report(ctx, job)
        except (Stopped, asyncio.CancelledError):  # the job runs on in Qualtrics
            job.state, job.gave_up = JobState.LOST, "the push was stopped while it ran"
            if report:
                ctx.report(outcomes(job), shown=job)
            raise
    if job.state is JobState.REFUSED and _splittable(job):
        halves = [
            await run(ctx, half, slots, report=report, timeout=timeout, bodies=bodies)
            for half in job.halves()
        ]
        return pl.concat(halves)
    results = outcomes(job)
    if report:
        ctx.report(results, shown=job)
    return results


async def resume(ctx: Context, rows: pl.DataFrame, *, timeout: float = IMPORT_TIMEOUT) -> None:
    """Follow the jobs recorded for ``rows`` (``JOB_COLUMN`` set) to their reports, and
    report their rows; nothing is created again."""
    by_id = rows.with_columns(_id=pl.col(JOB_COLUMN).struct.field("import_id"))
    jobs = [j.drop("_id") for j in by_id.partition_by("_id", maintain_order=True)]
    slots = asyncio.Semaphore(len(jobs))  # already created: no new job waits for these
    await all_of(
        *(run(ctx, ImportJob.recorded(j), slots, report=True, timeout=timeout) for j in jobs)
    )


# -- 1. create -------------------------------------------------------------------------


async def create(ctx: Context, job: ImportJob, bodies: asyncio.Semaphore | None = None) -> None:
    """Create the job (→ CREATED or REFUSED); while the import queue is full, wait.

    Its body (up to 5 MB) is built only once one of ``bodies`` is free, and dropped once
    Qualtrics answered: however many jobs a chunk makes, at most that many bodies are
    held at once (docs/architecture.md, "Memory"); the jobs created go on being followed
    side by side.
    """
    risky = [] if job.merges else job.rows.to_list()
    while True:
        async with bodies if bodies is not None else contextlib.nullcontext():
            send = partial(
                ctx.api.acreate_import,
                job.directory_id,
                job.mailing_list_id,
                job.body(),
                repeatable=job.merges,
            )
            answer = await ctx.call(send, risky_rows=risky)
            del send  # the body, before the next job's may be built
        if not _queue_full(answer):
            break
        ctx.forget(risky)  # refused whole: nothing landed
        await ctx.api.apause(QUEUE_WAIT)
    job.attempts += answer.attempts
    if isinstance(answer, QxError):
        job.state, job.error = JobState.REFUSED, answer
        return
    import_id = member_id(answer.result, "id")
    if import_id is None:  # a 2xx without the job's id: the job may exist, unfollowable
        job.state = JobState.REFUSED
        job.error = unreadable(answer, "the import job's id", may_have_landed=True)
        return
    result = answer.result
    job.state, job.import_id = JobState.CREATED, import_id
    job.http_status, job.request_id = answer.status, answer.request_id
    contacts = result.get("contacts")
    unprocessed = contacts.get("unprocessed") if isinstance(contacts, dict) else None
    job.unprocessed = unprocessed = unprocessed if isinstance(unprocessed, list) else []
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


async def follow(
    ctx: Context, job: ImportJob, *, show: bool, timeout: float = IMPORT_TIMEOUT
) -> None:
    """Poll the job's status until it is complete (→ COMPLETE), or until it cannot be
    read, stops moving for ``timeout`` seconds, or answers a status that is not running
    (→ LOST)."""
    wait = POLL_FIRST
    clock = ctx.api.clock
    best, moved = -1.0, clock()  # the highest percentComplete seen, and when it was reached
    while True:
        try:
            status = await ctx.api.aimport_status(
                job.directory_id, job.mailing_list_id, job.import_id
            )
        except QxError as error:
            job.state, job.error = JobState.LOST, error
            return
        result = status.result if isinstance(status.result, dict) else {}
        percent = percent_complete(result)
        if percent is None:  # never polled on: the job's rows end outcome_unknown, named
            job.state = JobState.LOST
            job.error = unreadable(status, "a readable percentComplete", may_have_landed=False)
            return
        if show:  # the bar counts the rest when the rows are reported
            ctx.show(job, int(job.rows.len() * percent / 100))
        if percent >= 100:
            job.state, job.counted = JobState.COMPLETE, _counted(result)
            return
        word = str(result.get("status") or "")
        if _squeezed(word) not in RUNNING:
            job.state, job.gave_up = JobState.LOST, f"it answered the status {word!r}"
            return
        if percent > best:
            best, moved = percent, clock()
        elif clock() - moved >= timeout:
            job.state = JobState.LOST
            job.gave_up = f"it made no progress for {_duration(timeout)} (at {percent:.0f} %)"
            return
        await ctx.api.apause(wait)
        wait = min(POLL_MAX, wait * 2)


def _squeezed(word: str) -> str:
    return "".join(c for c in word.lower() if c not in " -_")


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 120 else f"{seconds:g} seconds"


def _counted(result: dict[str, object]) -> int | None:
    """The sum of a status answer's contact counts (added, updated and the ones that
    could not be imported); None when it gives no counts."""
    contacts = result.get("contacts")
    counts = contacts.get("count") if isinstance(contacts, dict) else None
    if not isinstance(counts, dict):
        return None
    numbers = [v for v in counts.values() if isinstance(v, int | float) and not isinstance(v, bool)]
    return sum(int(v) for v in numbers if math.isfinite(v))  # the 3 counts; NaN is no count


# -- 3. report -------------------------------------------------------------------------


async def read_report(ctx: Context, job: ImportJob) -> None:
    """Read the job's report to its last page (→ REPORTED, or LOST)."""
    token: str | None = None
    seen: set[str] = set()
    try:
        while True:
            reply, page, token = await ctx.api.aimport_report_page(
                job.directory_id, job.import_id, token
            )
            job.add_page(page)
            if token is None:
                break
            if token in seen or job.reported > job.rows.len():
                # a report that repeats a page, or holds more entries than the job has
                # rows, is looping: stop reading it, and say so
                job.state, job.error = JobState.LOST, _looping(reply, job, token in seen)
                return
            seen.add(token)
    except QxError as error:
        job.state, job.error = JobState.LOST, error
        return
    job.state = JobState.REPORTED


def _looping(reply: Reply, job: ImportJob, repeated: bool) -> QxError:
    why = "repeated a page token" if repeated else f"ran past the job's {job.rows.len()} rows"
    return ApiError(
        f"Qualtrics' report {why}, so reading it was stopped",
        http_status=reply.status,
        error_code="import_report_looping",
        request_id=reply.request_id,
        attempts=reply.attempts,
    )


# -- 4. outcomes -----------------------------------------------------------------------


def outcomes(job: ImportJob) -> pl.DataFrame:
    """The results of the job's rows, from the state it ended in."""
    if job.state is JobState.REPORTED and _nothing_done(job):
        return _all_rows(job, NOTHING_DONE, _nothing_message(job), job.http_status, job.request_id)
    if job.state is JobState.REPORTED:
        return map_report(job)
    if job.state is JobState.LOST and job.gave_up is not None:
        message = (
            f"Import job {job.import_id} was not followed to its end: {job.gave_up}. Its "
            "contacts may still be imported: check the mailing list in Qualtrics, or run the "
            "same push again with its journal= to follow the job again."
        )
        return _all_rows(job, OUTCOME_UNKNOWN, message, job.http_status, job.request_id)
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


def percent_complete(result: object) -> float | None:
    """The job status' ``percentComplete`` as a number from 0 to 100 (a numeric string
    too), or None when it cannot be read (missing, ``"NaN"``, out of range, not a number).

    >>> percent_complete({"percentComplete": "37.5"}), percent_complete({"percentComplete": 100})
    (37.5, 100.0)
    >>> percent_complete({"percentComplete": "NaN"}), percent_complete({"status": "done"})
    (None, None)
    """
    value = result.get("percentComplete") if isinstance(result, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        percent = float(value)
    except ValueError:
        return None
    return percent if 0.0 <= percent <= 100.0 else None


def _nothing_done(job: ImportJob) -> bool:
    """Completed with every count 0 and an empty report, although it had contacts to
    process (not all of them unprocessed at once)."""
    return job.counted == 0 and not job.reported and job.rows.len() > len(job.unprocessed)


def _nothing_message(job: ImportJob) -> str:
    return (
        f"Qualtrics completed import job {job.import_id} with nothing added, updated or "
        f"failed, which it documents as the sign of a directory ({job.directory_id}) or "
        f"mailing list ({job.mailing_list_id}) that does not exist; check both with "
        f"client.directories() and client.mailing_lists({job.directory_id!r}) before "
        "pushing these rows again."
    )


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


_ENTRY_FIELDS = ("sourceIndexId", "contactId", "importStatusCode", "importStatus")


def _plain(value: object) -> str | None:
    """A report entry's field as text: a string, or an integer's digits; None for any other
    type (an entry of the wrong shape then reads as missing, never as a raw exception)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _report_frame(entries: list[dict[str, object]]) -> pl.DataFrame:
    """Report entries as a frame; ``sourceIndexId`` read from a string or an integer."""
    if not entries:
        return pl.DataFrame(schema=_REPORT_SCHEMA)
    raw = pl.from_dicts(
        [{name: _plain(entry.get(name)) for name in _ENTRY_FIELDS} for entry in entries],
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
    report = pl.concat(job.report) if job.report else _report_frame([])
    first = report.unique("_index", keep="first", maintain_order=True)  # across pages too
    joined = rows.join(first, on="_index", how="left")
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
