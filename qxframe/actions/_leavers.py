"""Members who left a synced segment: found, guarded, taken out of the list (DESIGN §7).

``on_leave="remove"`` takes them out of the mailing list (they stay in the directory:
``DELETE …/mailinglists/{ml}/contacts/{id}``), ``"unsubscribe"`` unsubscribes them from
the list (``PUT`` of the list member with ``unsubscribed: true``). A member leaves when the
journal says this sync put them in the list and no row of this push — valid or invalid —
carries their identity and no answer of this push named their contact id
(:meth:`qxframe.actions._resume.Resume.leavers`; members already in the list at the journal's
first write into it are never this sync's).

**The guard**: when more would leave than ``max_leave`` of the members the journal holds
(a float below 1 is a share, an integer a count), or the push has no valid row while the
journal holds members, the push refuses with a ``ConfigError`` naming the number and the
knob — before any request when the input can be read ahead (:func:`read_ahead`), and in
every case before any removal. Removals are made after every row was sent, each recorded
in the journal as it is answered (a resumed push neither loses nor repeats one; a member
already gone answers 404, which is what was wanted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe import _digests, _results
from qxframe._journal import Member
from qxframe._results import Operation, Status
from qxframe.actions._action import all_of
from qxframe.exceptions import ConfigError, QxError

if TYPE_CHECKING:
    from qxframe._prepare import Prepared
    from qxframe.actions._action import Context
    from qxframe.actions._resume import Resume

ON_LEAVE = ("remove", "unsubscribe")
IDENTITY_COLUMNS = _results.IDENTITY


def check(
    action: str, on_leave: str | None, max_leave: float, journal: Any, constants: Mapping[str, Any]
) -> None:
    """``ConfigError`` for an ``on_leave`` the push cannot keep, before anything is sent."""
    if on_leave is None:
        return
    if action != "contacts":
        raise ConfigError("on_leave is for contacts: events do not leave a list.")
    if on_leave not in ON_LEAVE:
        raise ConfigError(f'on_leave must be "remove", "unsubscribe" or None, not {on_leave!r}.')
    if journal is None:
        raise ConfigError(
            "on_leave needs a journal (journal=, --journal): it is what remembers who this "
            "sync put in the list. Give the same journal file every week."
        )
    if constants.get("mailing_list_id") is None:
        raise ConfigError(
            'on_leave needs a mailing list given as a constant: mailing_list_id="CG_…" '
            "(--mailing-list-id): members leave that list."
        )
    limit(max_leave, 0)


def limit(max_leave: float, members: int) -> int:
    """How many members may leave at most: a share (a float below 1) of ``members``, or a
    count (an integer)."""
    if isinstance(max_leave, bool) or not isinstance(max_leave, int | float) or max_leave < 0:
        raise ConfigError(
            f"max_leave must be a share below 1 (0.2: a fifth of the members) or a count of "
            f"people (500), not {max_leave!r}."
        )
    if isinstance(max_leave, float):
        if max_leave >= 1:
            raise ConfigError(
                f"max_leave={max_leave!r}: a float is a share and must be below 1; give a "
                "count of people as an integer (max_leave=500)."
            )
        return int(max_leave * members)
    return max_leave


def guard(resume: Resume, leaving: int, valid_rows: int, max_leave: float) -> None:
    """Refuse (``ConfigError``) a push that would empty the list by mistake."""
    members = resume.journal.members()
    if not members:
        return
    if valid_rows == 0:
        raise ConfigError(
            f"this push has no valid row, so all {members} members this sync put in the list "
            "would leave it; refused before any removal (on_leave). Check the export: an "
            "empty or truncated file must not empty a list."
        )
    most = limit(max_leave, members)
    if leaving > most:
        raise ConfigError(
            f"{leaving} of the {members} members this sync put in the list would leave it, "
            f"more than max_leave={max_leave!r} allows ({most}); refused before any removal. "
            "Check that the export is complete; if so many people really left, run again "
            "with a larger max_leave (--max-leave)."
        )


def readable_ahead(source: Any) -> bool:
    """Whether the input can be read twice (a frame, a file path, a LazyFrame): the guard
    then reads it ahead, before any request."""
    if isinstance(source, pl.DataFrame | pl.LazyFrame | Path):
        return True
    if isinstance(source, str):
        return source != "-"
    if type(source).__module__.startswith("pandas"):
        return True
    return getattr(source, "path", None) is not None


def read_ahead(resume: Resume, chunks: Iterable[Prepared], max_leave: float) -> None:
    """Note every person the input carries, then :func:`guard` before any request."""
    valid_rows = 0
    for prepared in chunks:
        resume.carry_invalid(prepared.invalid)
        if prepared.valid.height:
            valid_rows += prepared.valid.height
            resume.carried.add(resume.key_column(prepared.valid))
    try:
        guard(resume, len(resume.leavers()), valid_rows, max_leave)
    finally:
        resume.forget_carried()


async def leave(
    push: Context,
    resume: Resume,
    on_leave: str,
    constants: Mapping[str, Any],
    valid_rows: int,
    max_leave: float,
    dry_run: bool,
) -> pl.DataFrame:
    """The members who left: guarded, then removed (or, in a dry run, shown): one result
    row each, ``row`` null."""
    leavers = resume.leavers()
    guard(resume, len(leavers), valid_rows, max_leave)
    operation = Operation.REMOVE if on_leave == "remove" else Operation.UNSUBSCRIBE
    if dry_run or not leavers:
        return _frame([(m, _results.Outcome(0, Status.DRY_RUN, operation=operation))
                       for m in leavers])  # fmt: skip
    done: list[tuple[Member, _results.Outcome]] = []
    d, ml = constants["directory_id"], constants["mailing_list_id"]

    async def one(member: Member) -> None:
        if on_leave == "remove":
            answer = await push.call(
                lambda: push.api.aremove_list_contact(d, ml, member.contact_id)
            )
        else:
            body = {"unsubscribed": True}
            answer = await push.call(
                lambda: push.api.aupdate_list_contact(d, ml, member.contact_id, body)
            )
        outcome = _outcome(answer, operation)
        if outcome.status == Status.SUCCESS:
            resume.journal.left([member.key])
        done.append((member, outcome))

    slots = asyncio.Semaphore(push.concurrency)

    async def bounded(member: Member) -> None:
        async with slots:
            await one(member)

    await all_of(*(bounded(m) for m in leavers))
    return _frame(done)


def _outcome(answer: Any, operation: str) -> _results.Outcome:
    if isinstance(answer, QxError):
        if answer.http_status == 404:  # not a member any more: what was wanted
            return _results.Outcome(0, Status.SUCCESS, 404, attempts=answer.attempts,
                                    request_id=answer.request_id, operation=operation)  # fmt: skip
        outcome = _results.failed(0, answer)
    else:
        outcome = _results.succeeded(0, answer)
    outcome.operation = operation
    return outcome


def _frame(done: list[tuple[Member, _results.Outcome]]) -> pl.DataFrame:
    """Removal result rows: ``row`` null, the contact id and identity columns set."""
    for member, outcome in done:
        outcome.contact_id = member.contact_id
    frame = _results.from_outcomes([o for _, o in done]).with_columns(row=pl.lit(None, pl.Int64))
    who = [_digests.who_columns(m.who) for m, _ in done]
    return frame.with_columns(
        pl.Series(name, [w[name] for w in who], dtype=pl.String) for name in IDENTITY_COLUMNS
    )
