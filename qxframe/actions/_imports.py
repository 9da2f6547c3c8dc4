"""Import jobs: many contacts a request through Qualtrics' transaction-contacts import.

This module owns the import path of a push (docs/architecture.md, "Mailing lists and
import jobs"; docs/qualtrics-api.md §9): whether a push takes it (``method=``), which rows
may (a mailing list, no ``phone``), cutting them into jobs (at most 10,000 contacts and
5,000,000 bytes of compact JSON each; :func:`plan_waves` with ``last_own``: rows of later
chunks only filling the jobs a chunk makes, for transactions' lookups) and sending the
jobs, at most ``import_jobs`` unfinished at once. One job's life — create, follow,
report, outcomes — is :mod:`qxframe.actions._import_job`. Bodies are built and results
mapped column-wise in polars: no Python loop runs per row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from qxframe import _results
from qxframe._fields import METHODS
from qxframe._payloads import contact_bodies
from qxframe.actions._action import Context, all_of
from qxframe.actions._dedup import Directories, dedup_fields
from qxframe.actions._import_job import IMPORT_TIMEOUT, ImportJob, run
from qxframe.delivery._config import positive
from qxframe.exceptions import ConfigError

MAX_CONTACTS = 10_000
MAX_BYTES = 5_000_000
#: Import bodies built and being sent at once, at most (a body is up to ``MAX_BYTES``);
#: the jobs created are followed side by side all the same, ``import_jobs`` at most.
BODIES = 2
AUTO_MIN_ROWS = 1_000  # "auto" imports a push of at least this many rows
_WRAP = len('{"contacts":[]}')


@dataclass
class Imports:
    """A push's import settings (``method``, ``import_jobs``, ``import_timeout``) and what
    it learns once:
    each directory's deduplication fields, the slots of unfinished jobs."""

    method: str = "auto"  # api | import | auto
    import_jobs: int = 25  # import jobs created and unfinished at once, at most
    import_timeout: float = IMPORT_TIMEOUT  # seconds a job may go without progress
    directories: Directories = field(default_factory=Directories)
    _slots: asyncio.Semaphore | None = None
    _bodies: asyncio.Semaphore | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Imports:
        method = options["method"]
        if method not in METHODS:
            *some, last = (f'"{m}"' for m in METHODS)
            raise ConfigError(f"method must be {', '.join(some)} or {last}, not {method!r}.")
        jobs = positive("import_jobs", options["import_jobs"])
        return cls(method, jobs, positive("import_timeout", options["import_timeout"]))

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:  # made on the push's loop
            self._slots = asyncio.Semaphore(self.import_jobs)
        return self._slots

    @property
    def bodies(self) -> asyncio.Semaphore:
        """Import bodies built and being sent at once (:data:`BODIES`), whatever the jobs."""
        if self._bodies is None:  # made on the push's loop
            self._bodies = asyncio.Semaphore(BODIES)
        return self._bodies


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


def use_import(ctx: Context, imports: Imports, valid: pl.DataFrame) -> bool:
    """Whether this push sends importable rows in import jobs (``method=``)."""
    if imports.method == "api" or "mailing_list_id" not in valid.columns:
        return False
    rows = ctx.input_rows if ctx.input_rows is not None else valid.height
    return imports.method == "import" or rows >= AUTO_MIN_ROWS


def with_bodies(valid: pl.DataFrame) -> pl.DataFrame:
    """``valid`` with ``_contact`` (the row's import contact object) and ``_bytes``.

    Built :data:`MAX_CONTACTS` rows at a time: building JSON text takes several times its
    size in intermediate columns, which a whole 50,000-row chunk at once would hold
    together (docs/architecture.md, "Memory")."""
    parts = [contact_bodies(part) for part in valid.iter_slices(MAX_CONTACTS)]
    bodies = pl.concat(parts, rechunk=False) if parts else contact_bodies(valid)
    return valid.with_columns(bodies.alias("_contact")).with_columns(
        pl.col("_contact").str.len_bytes().cast(pl.Int64).alias("_bytes")
    )


def plan_jobs(frame: pl.DataFrame) -> list[ImportJob]:
    """Jobs per (directory, list) in input order, each within the count and byte limits.

    ``frame`` comes from :func:`with_bodies` and has ``_merges``. Cut points come from a
    cumulative sum of sizes (``search_sorted``): a loop per job, not per row.
    """
    jobs: list[ImportJob] = []
    for part in _parts(frame, "directory_id", "mailing_list_id"):
        ends = (part["_bytes"] + 1).cum_sum()  # +1: the comma or bracket after it
        start, n = 0, part.height
        while start < n:
            base = ends[start - 1] if start else 0
            stop = int(ends.search_sorted(base + MAX_BYTES - _WRAP, side="right"))
            stop = max(start + 1, min(stop, start + MAX_CONTACTS))
            piece = part.slice(start, stop - start)
            where = (part["directory_id"][0], part["mailing_list_id"][0])
            merges = bool(piece["_merges"].all())
            jobs.append(ImportJob(*where, piece["row"], piece["_contact"], merges))
            start = stop
    return jobs


def oversized(frame: pl.DataFrame) -> pl.Expr:
    """Rows whose contact alone is too large for a job (they go through the per-row API)."""
    return pl.col("_bytes") > MAX_BYTES - _WRAP - 1


def waves(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """Rows split so that rows of one identity land in successive waves, in input order."""
    keys = identity(frame)
    if not keys:
        return [frame]
    nth = pl.int_range(pl.len()).over(pl.struct(keys)).alias("_wave")
    marked = frame.with_columns(nth)
    if not marked["_wave"].max():  # no identity twice (the usual case): no copy made
        return [frame]
    return [w.drop("_wave") for w in marked.partition_by("_wave", maintain_order=True)]


def identity(frame: pl.DataFrame) -> list[pl.Expr]:
    """Who a row is to the import: its ``ext_ref`` and ``email`` (trimmed, the e-mail
    lower-cased), those of the two ``frame`` has; rows equal in both are one person."""
    keys = [
        pl.col(c).cast(pl.String).str.strip_chars()
        for c in ("ext_ref", "email")
        if c in frame.columns
    ]
    if "email" in frame.columns:
        keys[-1] = keys[-1].str.to_lowercase()
    return keys


def _parts(frame: pl.DataFrame, *by: str) -> list[pl.DataFrame]:
    """``frame.partition_by(*by)`` in order, but ``[frame]`` itself (no copy of its bodies)
    when every row has the first row's values, as in a push to one list."""
    if frame.height == 0:
        return []
    first = frame.select(by).row(0, named=True)
    same = (pl.col(c).eq_missing(pl.lit(first[c], frame.schema[c])) for c in by)
    if frame.select(pl.all_horizontal(same).all()).item():
        return [frame]
    return frame.partition_by(*by, maintain_order=True)


async def send_imports(
    ctx: Context, imports: Imports, frame: pl.DataFrame, *, report: bool = True
) -> pl.DataFrame:
    """Send ``frame`` (importable rows with bodies) in import jobs; its results frame.

    ``report``: report each job's rows as it ends (a transaction push's lookups report
    nothing: their transactions do).
    """
    planned = plan_waves(await with_merges(ctx, imports.directories, frame))
    del frame  # its bodies live on in the jobs' slices, freed as the jobs are created
    return await run_waves(ctx, imports, planned, report=report)


def plan_waves(frame: pl.DataFrame, *, last_own: int | None = None) -> list[list[ImportJob]]:
    """The jobs of ``frame`` (from :func:`with_bodies`, with ``_merges``), wave by wave.

    ``last_own``: rows after it (rows of later chunks, after this chunk's in ``frame``)
    only fill the jobs this chunk's rows make: a job holding none of this chunk's rows is
    left out, so its rows are not sent now.
    """
    planned = [plan_jobs(wave) for wave in waves(frame)]
    if last_own is None:
        return planned
    return [[job for job in jobs if job.rows[0] <= last_own] for jobs in planned]


async def run_waves(
    ctx: Context, imports: Imports, planned: list[list[ImportJob]], *, report: bool
) -> pl.DataFrame:
    """Run the jobs of :func:`plan_waves`, a wave after the other; their results frame."""
    parts: list[pl.DataFrame] = []
    for jobs in planned:
        runs = [
            run(
                ctx,
                job,
                imports.slots,
                report=report,
                timeout=imports.import_timeout,
                bodies=imports.bodies,
            )
            for job in jobs
        ]
        parts.extend(await all_of(*runs))
    return pl.concat(parts) if parts else _results.empty()


async def with_merges(ctx: Context, known: Directories, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``_merges``: the directory deduplicates on fields the row carries
    (never on ``phone``, which an import cannot carry), so a second copy would merge."""
    merges = pl.lit(False)
    for directory in frame["directory_id"].unique(maintain_order=True).to_list():
        fields = await dedup_fields(ctx, known, directory)
        if bool(fields) and "phone" not in fields and set(fields) <= set(frame.columns):
            carried = pl.all_horizontal(pl.col(f).is_not_null() for f in fields)
            merges = pl.when(pl.col("directory_id") == directory).then(carried).otherwise(merges)
    return frame.with_columns(merges.alias("_merges"))  # one column added: nothing copied
