"""The results frame: exactly one row per input row, in input order
(docs/architecture.md, "The results frame").

Rows that were sent are collected as :class:`Outcome` objects; rows that were invalid or
only dry-run are built column-wise (they can be millions). :func:`assemble` puts both
into one frame with the full schema, sorted by input position.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Final, Protocol

import polars as pl

from qxframe.exceptions import ConfigError, OutcomeUnknownError, QxError


class Status(StrEnum):
    """What happened to an input row: the one vocabulary of the ``status`` column."""

    SUCCESS = "success"  # Qualtrics did it
    INVALID = "invalid"  # failed validation, never sent
    FAILED = "failed"  # sent, and refused or not delivered
    DRY_RUN = "dry_run"  # valid, not sent (its body is in ``payload``)
    SKIPPED = "skipped"  # succeeded in an earlier run of a resumed push
    NOT_SENT = "not_sent"  # the push stopped before sending it


class Operation(StrEnum):
    """What a push did or would do to a person or an event: the ``operation`` column."""

    CREATE = "create"  # a new person or event
    UPDATE = "update"  # a person whose body changed since Qualtrics last accepted it
    UPSERT = "upsert"  # sent, and qxframe cannot know whether Qualtrics created or updated
    UNCHANGED = "unchanged"  # not sent: Qualtrics already holds this body
    REMOVE = "remove"  # a member who left the segment, taken out of the list
    UNSUBSCRIBE = "unsubscribe"  # a member who left the segment, unsubscribed
    DELETE = "delete"  # a contact deleted from the directory


#: The operations as plain strings, in the order a summary lists them.
OPERATIONS: Final = tuple(operation.value for operation in Operation)
#: The statuses as plain strings, in the order a summary lists them.
STATUSES: Final = tuple(status.value for status in Status)
#: The ``error_code`` of a row whose own write may have landed and was not sent again.
OUTCOME_UNKNOWN: Final = OutcomeUnknownError.default_code

SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "status": pl.String(),
    "http_status": pl.Int64(),
    "qualtrics_id": pl.String(),
    "contact_id": pl.String(),
    "error_code": pl.String(),
    "error_message": pl.String(),
    "request_id": pl.String(),
    "attempts": pl.Int64(),
    "payload": pl.String(),
    "operation": pl.String(),
    "changes": pl.String(),
}
#: The identity columns a sync's removal rows carry (``row`` null: who left the list),
#: after :data:`SCHEMA` in a results file written for a push with ``on_leave``.
IDENTITY: Final = ("ext_ref", "email", "phone")
WITH_IDENTITY: dict[str, pl.DataType] = SCHEMA | {name: pl.String() for name in IDENTITY}


@dataclass(slots=True)
class Outcome:
    """What happened to one input row that reached the sending stage."""

    row: int
    status: str
    http_status: int | None = None
    qualtrics_id: str | None = None
    contact_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    request_id: str | None = None
    attempts: int = 0
    payload: str | None = None
    operation: str | None = None
    changes: str | None = None  # a JSON array of field paths, when known


_OUTCOME_FIELDS: Final = tuple(f.name for f in fields(Outcome))


class Answer(Protocol):
    """What an outcome reads of a successful answer (``_envelope.Reply``)."""

    @property
    def status(self) -> int: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...


def succeeded(row: int, answer: Answer, *, qualtrics_id: str | None = None) -> Outcome:
    """The outcome of a row whose request Qualtrics accepted with ``answer``."""
    ids = {"qualtrics_id": qualtrics_id, "request_id": answer.request_id}
    return Outcome(row, Status.SUCCESS, answer.status, attempts=answer.attempts, **ids)


def failed(
    row: int, error: QxError, *, contact_id: str | None = None, attempts: int | None = None
) -> Outcome:
    """The outcome of a row whose request ended in ``error``."""
    return Outcome(
        row=row,
        status=Status.FAILED,
        http_status=error.http_status,
        contact_id=contact_id,
        error_code=error.error_code,
        error_message=error.message,
        request_id=error.request_id,
        attempts=error.attempts if attempts is None else attempts,
    )


def empty() -> pl.DataFrame:
    """A results frame with no rows and the full schema."""
    return pl.DataFrame(schema=SCHEMA)


def from_outcomes(outcomes: Iterable[Outcome]) -> pl.DataFrame:
    outcomes = list(outcomes)
    if not outcomes:
        return empty()
    # column by column: dataclasses.asdict deep-copies each row (~17 µs a row)
    columns = {name: [getattr(o, name) for o in outcomes] for name in _OUTCOME_FIELDS}
    return pl.DataFrame(columns, schema=SCHEMA)


def from_invalid(invalid: pl.DataFrame) -> pl.DataFrame:
    """Result rows for rows that failed validation (columns row, error_code, error_message)."""
    return conform(
        invalid.with_columns(status=pl.lit(Status.INVALID), attempts=pl.lit(0, pl.Int64))
    )


def from_dry_run(
    rows: pl.Series, payloads: pl.Series, contact_ids: pl.Series | None = None
) -> pl.DataFrame:
    """Result rows for a dry run: valid rows with the exact JSON body they would send."""
    frame = pl.DataFrame({"row": rows, "payload": payloads})
    if contact_ids is not None:
        frame = frame.with_columns(contact_id=contact_ids)
    return conform(frame.with_columns(status=pl.lit(Status.DRY_RUN), attempts=pl.lit(0, pl.Int64)))


def conform(frame: pl.DataFrame, *, identity: bool = False) -> pl.DataFrame:
    """Add the missing columns as nulls and order/cast them as :data:`SCHEMA` (with
    ``identity``: :data:`WITH_IDENTITY`)."""
    schema = WITH_IDENTITY if identity else SCHEMA
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    )


def assemble(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """One frame from result parts, sorted by input position."""
    frames = [part for part in parts if part.height]
    if not frames:
        return empty()
    # a sync's removal rows (row null) carry identity columns too: they come last
    wide = any(part.width != len(SCHEMA) for part in frames)
    joined = pl.concat(frames, how="diagonal" if wide else "vertical")
    return joined.sort("row", nulls_last=True, maintain_order=True)


def as_polars(results: object) -> pl.DataFrame | pl.LazyFrame:
    """A results frame in any form a push returns it — a polars DataFrame, the LazyFrame
    returned with ``out=``, a pandas DataFrame — as a polars frame (pandas is converted)."""
    if isinstance(results, pl.DataFrame | pl.LazyFrame):
        return results
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(results, pandas.DataFrame):
        return pl.from_pandas(results)
    raise ConfigError(
        f"a results frame is a polars DataFrame or LazyFrame or a pandas DataFrame, not a "
        f"{type(results).__name__}; pass what the push returned (or pl.read_csv(out))"
    )


def collect(results: object) -> pl.DataFrame:
    """:func:`as_polars`, collected: the results as a polars DataFrame."""
    frame = as_polars(results)
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def summary(results: object) -> dict[str, int]:
    """Counts per status, every status present (zero when absent), then per operation
    (``create``, ``update``, ``unchanged``, ``remove``, …: those that occur).

    ``results`` may be a polars DataFrame, the LazyFrame a push returns with ``out=``
    (counted without loading it whole), or a pandas DataFrame.
    """
    frame = as_polars(results).lazy()
    counted = frame.group_by("status").len().collect()
    counts = dict(counted.iter_rows())
    out = {status: int(counts.get(status, 0)) for status in STATUSES}
    if "operation" in frame.collect_schema().names():
        ops = dict(frame.group_by("operation").len().collect().iter_rows())
        out |= {op: int(ops[op]) for op in OPERATIONS if ops.get(op)}
    return out


#: Statuses of rows that may be sent again: refused/undelivered, or never sent at all.
RETRIED_STATUSES = (Status.FAILED, Status.NOT_SENT)


def worth_sending_again(status: str | None, error_code: str | None) -> bool:
    """The retry rule shared by :func:`rows_to_retry`, ``qxframe retry`` and a journal
    resume: a row is sent again when it ``failed`` or was ``not_sent``, unless its outcome is
    unknown (``outcome_unknown``: check in Qualtrics first).

    >>> worth_sending_again("failed", "server_error")
    True
    >>> worth_sending_again("failed", OUTCOME_UNKNOWN), worth_sending_again("not_sent", None)
    (False, True)
    """
    return status in RETRIED_STATUSES and error_code != OUTCOME_UNKNOWN


def rows_to_retry(
    source: object,
    results: object,
    *,
    include_invalid: bool = False,
    include_unknown: bool = False,
) -> Any:
    """The input rows worth sending again, with the input's columns, in input order.

    ``source`` is the input of the push (a frame or a path), ``results`` its results
    frame in any form (polars, the LazyFrame of ``out=``, pandas). Rows are picked by
    :func:`worth_sending_again`: those that ``failed`` or were ``not_sent``, except those
    whose outcome is unknown (they may have landed: check in Qualtrics first) unless
    ``include_unknown``; ``invalid`` rows only with ``include_invalid`` (fix them first,
    or they will be invalid again).

    The rows come back as the same kind of frame as ``source``: a pandas frame gives a
    pandas frame (its index kept), a LazyFrame a LazyFrame, JSON records (a dict, a list
    of dicts) a list of those records, a polars DataFrame or a path a polars DataFrame (a
    JSON Lines file's nested values as JSON text: push it with ``json_columns=``).
    """
    wanted = pl.col("status") == Status.FAILED
    if not include_unknown:
        wanted &= pl.col("error_code").fill_null("") != OUTCOME_UNKNOWN
    # rows never sent too: together, the rule of worth_sending_again (journal, CLI retry)
    wanted |= (pl.col("status") == Status.NOT_SENT) & (
        pl.col("error_code").fill_null("") != OUTCOME_UNKNOWN
    )
    if include_invalid:
        wanted |= pl.col("status") == Status.INVALID
    positions = as_polars(results).lazy().filter(wanted).select("row").collect()["row"]
    return _pick_rows(source, positions)


def _pick_rows(source: object, positions: pl.Series) -> Any:
    """The rows of ``source`` at ``positions`` (0-based), as the same kind of frame."""
    from qxframe._inputs import _is_pandas, iter_chunks

    if _is_pandas(source):
        return source.iloc[sorted(positions.to_list())]  # type: ignore[attr-defined]
    index = "__qxframe_row__"
    keep = pl.col(index).cast(pl.Int64).is_in(positions.implode())
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        return source.with_row_index(index).filter(keep).drop(index)
    if isinstance(source, dict | list | tuple):  # JSON records: the records themselves
        records = [source] if isinstance(source, dict) else source
        return [records[i] for i in sorted(positions.to_list())]
    frame = pl.concat(list(iter_chunks(source)), how="vertical")
    return frame.with_row_index(index).filter(keep).drop(index)
