"""A plan of a contacts push against what Qualtrics holds; settling unknown outcomes
(docs/architecture.md, "Reading back and planning"; DESIGN §8).

:func:`plan_contacts` takes the keywords of ``upsert_contacts`` and never writes: the
frame is mapped and validated by the push's own dry run (so a plan's bodies are the
bodies the push would send, byte for byte), then each valid row's identity
(:mod:`qxframe._held`) is matched against what Qualtrics holds:

- with a ``mailing_list_id`` constant, the list is read once (paged, :mod:`qxframe._read`)
  and matched in memory: a row whose person is not a member plans ``create`` (the push
  creates it in the list);
- without one, each distinct identity is searched once (``includeEmbedded=true``),
  concurrently: the transport holds the searches to the search family's rate limit.

Each valid row comes back ``dry_run`` with ``operation`` ``create`` (no contact matches),
``update`` (one does and the body would change it: ``changes`` names the fields) or
``unchanged`` (``qualtrics_id`` and ``contact_id`` the match's id); a row several
contacts match ``failed`` with ``ambiguous_identity`` naming their ids; a row whose read
failed ``failed`` with that read's error. Invalid rows are as the dry run says.

:func:`settle_unknown` plans a push's ``outcome_unknown`` rows: a row whose body
Qualtrics holds landed (``success``, the contact's id); one whose body it does not hold
did not (``failed``/``not_landed``), so ``rows_to_retry`` sends it again.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe import _held, _results
from qxframe._jsontext import compact_json
from qxframe._read import aread_contacts, contact_row
from qxframe._results import OUTCOME_UNKNOWN, Operation, Status
from qxframe._sinks import ResultsWriter, scan_results
from qxframe.actions._public import aupsert_contacts, upsert_contacts
from qxframe.delivery._envelope import unreadable
from qxframe.exceptions import ConfigError, QxError

if TYPE_CHECKING:
    from qxframe.delivery._client import Client

#: ``error_code`` of a row several contacts match.
AMBIGUOUS = "ambiguous_identity"
#: ``error_code`` of an ``outcome_unknown`` row that a plan shows did not land.
NOT_LANDED = "not_landed"
#: Searches a plan keeps going at once when no ``concurrency`` is given (the transport
#: still holds them to the search family's rate limit and in-flight estimate).
SEARCH_WORKERS = 64


@dataclass
class _Held:
    """What Qualtrics holds for each identity key: the contacts it matches (push names),
    or the error that stopped the read; and the calls spent."""

    matches: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[tuple[tuple[str, str], ...], QxError] = field(default_factory=dict)
    attempts: dict[tuple[tuple[str, str], ...], int] = field(default_factory=dict)


def plan_contacts(frame: Any, *, out: str | Path | None = None, **options: Any) -> Any:
    """What ``upsert_contacts`` with the same arguments would do, read from Qualtrics and
    never written: per row ``operation`` ``create`` / ``update`` (``changes`` names the
    fields) / ``unchanged``, or ``failed`` ``ambiguous_identity`` naming the matching
    contacts. With ``mailing_list_id`` the list is read once; without, each identity is
    searched. ``out``: a ``.csv``/``.parquet`` file the plan is written to (a LazyFrame over
    it is returned). ``dry_run``, ``method`` and ``import_jobs`` are accepted and change
    nothing: a plan never writes.
    """
    options = _checked(options)
    dry = upsert_contacts(frame, **options)
    planned = _client(options).run(_amatch(dry, options))
    return _written(planned, out)


async def aplan_contacts(frame: Any, *, out: str | Path | None = None, **options: Any) -> Any:
    """Async twin of :func:`plan_contacts`."""
    options = _checked(options)
    dry = await aupsert_contacts(frame, **options)
    return _written(await _amatch(dry, options), out)


def _checked(options: dict[str, Any]) -> dict[str, Any]:
    if options.get("client") is None:
        raise ConfigError("a plan reads Qualtrics: pass client=qx.Client(...) (or sb.client())")
    return dict(options, dry_run=True)


def _client(options: dict[str, Any]) -> Client:
    client: Client = options["client"]
    return client


def _written(planned: pl.DataFrame, out: str | Path | None) -> Any:
    if out is None:
        return planned
    with ResultsWriter(out) as writer:
        writer(planned)
    return scan_results(out)


async def _amatch(dry: pl.DataFrame, options: dict[str, Any]) -> pl.DataFrame:
    """The dry run's valid rows matched against Qualtrics; other rows as they are."""
    client, directory_id = _client(options), options.get("directory_id")
    rows = dry.filter(pl.col("status") == Status.DRY_RUN)
    if not rows.height:
        return dry
    if not isinstance(directory_id, str):
        raise ConfigError("a plan needs directory_id as a constant (directory_id='POOL_…')")
    bodies = [json.loads(text) for text in rows["payload"]]
    dedup = await _dedup_fields(client, directory_id)
    who = [_held.identity(body, dedup) for body in bodies]
    mailing_list_id = options.get("mailing_list_id")
    if isinstance(mailing_list_id, str):
        held = await _read_list(client, directory_id, mailing_list_id, who)
    else:
        held = await _search(client, directory_id, who, options.get("concurrency"))
    planned = [
        _outcome(row, body, person, held)
        for row, body, person in zip(rows["row"], bodies, who, strict=True)
    ]
    settled = _results.from_outcomes(planned)
    # Hook (DESIGN §7, with on_leave and a journal): rows the dry run appends after the
    # input's (``row`` null: members who would leave) pass through as the dry run made them.
    others = dry.filter(pl.col("status") != Status.DRY_RUN)
    return pl.concat(
        [
            _results.assemble([others.filter(pl.col("row").is_not_null()), settled]),
            others.filter(pl.col("row").is_null()),
        ],
        how="vertical",
    )


async def _dedup_fields(client: Client, directory_id: str) -> tuple[str, ...]:
    """The directory's deduplication fields, as wire names (empty: it never merges)."""
    directories = await client.adirectories()
    found = directories.filter(pl.col("directory_id") == directory_id)
    if not found.height:
        raise ConfigError(f"directory {directory_id} is not among this token's directories")
    names = found["deduplication_criteria"].to_list()[0] or []
    return tuple(_held.WIRE_NAMES[name] for name in names if name in _held.WIRE_NAMES)


async def _read_list(
    client: Client, directory_id: str, mailing_list_id: str, who: list[_held.Identity | None]
) -> _Held:
    """The list read once; each identity's members found in memory."""
    members = await aread_contacts(
        client=client, directory_id=directory_id, mailing_list_id=mailing_list_id, progress=False
    )
    assert isinstance(members, pl.DataFrame)
    held = _Held()
    for names in {tuple(n for n, _ in person) for person in who if person}:
        index: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
        for contact in members.iter_rows(named=True):
            index.setdefault(_held.key_of(contact, names), []).append(contact)
        for person in who:
            if person and tuple(n for n, _ in person) == names:
                held.matches[_held.key(person)] = index.get(_held.key(person), [])
    return held


async def _search(
    client: Client, directory_id: str, who: list[_held.Identity | None], concurrency: Any
) -> _Held:
    """One search per distinct identity (embedded data included), ``SEARCH_WORKERS`` (or
    ``concurrency``) at a time."""
    distinct = {_held.key(person): person for person in who if person}
    todo = iter(distinct.items())
    held = _Held()

    async def worker() -> None:
        for identity_key, person in todo:
            try:
                reply = await client.asearch_contacts(
                    directory_id, _held.search_body(person), include_embedded=True
                )
            except QxError as exc:
                held.errors[identity_key] = exc
                continue
            result = reply.result
            elements = result.get("elements") if isinstance(result, dict) else None
            if not isinstance(elements, list) or not all(isinstance(e, dict) for e in elements):
                # an answer that cannot be read is never "not held": that would send it again
                held.errors[identity_key] = unreadable(
                    reply, "the search's matches", may_have_landed=False
                )
                continue
            held.matches[identity_key] = [contact_row(e) for e in elements]
            held.attempts[identity_key] = reply.attempts

    workers = min(len(distinct), concurrency or SEARCH_WORKERS) or 1
    await asyncio.gather(*(worker() for _ in range(workers)))
    return held


def _outcome(
    row: int, body: dict[str, Any], person: _held.Identity | None, held: _Held
) -> _results.Outcome:
    payload = compact_json(body)
    identity_key = _held.key(person) if person else None
    if identity_key in held.errors:
        outcome = _results.failed(row, held.errors[identity_key])
        outcome.payload = payload
        return outcome
    found = held.matches.get(identity_key, []) if identity_key else []
    attempts = held.attempts.get(identity_key, 0) if identity_key else 0
    if not found:
        return _planned(row, payload, Operation.CREATE, attempts=attempts)
    if len(found) > 1:
        ids = [c["contact_id"] for c in found]
        return _results.Outcome(
            row,
            Status.FAILED,
            error_code=AMBIGUOUS,
            error_message=(
                f"{len(ids)} contacts match this row's identity ({', '.join(ids)}); a push "
                "cannot tell which one it would update. Merge them in Qualtrics, or give the "
                "row more identity fields."
            ),
            attempts=attempts,
            payload=payload,
        )
    (contact,) = found
    changed = _held.changes(body, contact)
    operation = Operation.UPDATE if changed else Operation.UNCHANGED
    return _planned(
        row, payload, operation, contact["contact_id"], changes=changed, attempts=attempts
    )


def _planned(
    row: int,
    payload: str,
    operation: Operation,
    contact_id: str | None = None,
    *,
    changes: list[str] | None = None,
    attempts: int = 0,
) -> _results.Outcome:
    return _results.Outcome(
        row,
        Status.DRY_RUN,
        qualtrics_id=contact_id,
        contact_id=contact_id,
        attempts=attempts,
        payload=payload,
        operation=operation,
        changes=None if changes is None else compact_json(changes),
    )


def settle_unknown(frame: Any, results: Any, **options: Any) -> pl.DataFrame:
    """``results`` of a contacts push with its ``outcome_unknown`` rows settled by a plan.

    ``frame`` and ``options`` are the push's input and keywords (``client``,
    ``directory_id``, ``mailing_list_id``, ``mapping``, …). The unknown rows are planned
    (reads only): a row Qualtrics holds as sent becomes ``success`` with the contact's
    id (``operation`` ``unchanged``); a row it does not hold stays ``failed`` with
    ``error_code`` ``not_landed`` (``operation`` ``create`` or ``update``, ``changes``),
    which ``qx.rows_to_retry`` picks; a row several contacts match keeps
    ``outcome_unknown``, its message naming them. Other rows are unchanged.
    """
    known = _results.collect(results)
    unknown = known.filter(pl.col("error_code") == OUTCOME_UNKNOWN)["row"].sort()
    if not unknown.len():
        return known
    subset = _results._pick_rows(frame, unknown)
    subset = subset.collect() if isinstance(subset, pl.LazyFrame) else subset
    planned = plan_contacts(subset, **options)
    return _settled(known, planned, unknown)


def _settled(known: pl.DataFrame, planned: pl.DataFrame, unknown: pl.Series) -> pl.DataFrame:
    """``known`` with the planned rows (numbered 0… over ``unknown``) written over its own."""
    plan = planned.filter(pl.col("row").is_not_null()).with_columns(
        pl.col("row").replace_strict(list(range(unknown.len())), unknown.to_list())
    )
    landed = pl.col("operation") == Operation.UNCHANGED
    missing = pl.col("operation").is_in([Operation.CREATE, Operation.UPDATE])
    new = plan.select(
        "row",
        pl.when(landed).then(pl.lit(Status.SUCCESS)).otherwise(pl.lit(Status.FAILED)).alias("s"),
        pl.when(landed)
        .then(None)
        .when(missing)
        .then(pl.lit(NOT_LANDED))
        .otherwise(pl.lit(OUTCOME_UNKNOWN))
        .alias("code"),
        pl.when(landed)
        .then(pl.lit("Settled after the push: Qualtrics holds this row's body."))
        .when(missing)
        .then(
            pl.lit(
                "Settled after the push: Qualtrics does not hold this row's body; "
                "it is safe to send again (qx.rows_to_retry picks it)."
            )
        )
        .otherwise(pl.col("error_message"))
        .alias("message"),
        "operation",
        "changes",
        pl.col("qualtrics_id").alias("qid"),
    )
    merged = known.join(new, on="row", how="left")
    settled = pl.col("s").is_not_null()
    return merged.with_columns(
        status=pl.when(settled).then(pl.col("s")).otherwise(pl.col("status")),
        error_code=pl.when(settled).then(pl.col("code")).otherwise(pl.col("error_code")),
        error_message=pl.when(settled).then(pl.col("message")).otherwise(pl.col("error_message")),
        qualtrics_id=pl.coalesce("qid", "qualtrics_id"),
        operation=pl.coalesce("operation_right", "operation"),
        changes=pl.coalesce("changes_right", "changes"),
    ).select(list(_results.SCHEMA))


def _signature_of(function: Any) -> None:
    """The plan takes the push's keywords: its signature is ``upsert_contacts``'s."""
    function.__signature__ = inspect.signature(upsert_contacts)


for _function in (plan_contacts, aplan_contacts):
    _signature_of(_function)
