"""The public actions: ``upsert_contacts``, ``upsert_transactions``, ``trigger_workflow``
and their async twins (docs/architecture.md, "The path of a row").

Each takes a frame (polars, pandas, LazyFrame, or a CSV/Parquet path) and keyword
arguments, and returns the results frame: one row per input row, in input order — or,
given ``out=``, writes it to that file as it goes and returns a LazyFrame scanning it.
The sync functions run the push on the client's own background loop, so they also work
inside a running event loop (a Jupyter cell).

Interrupts (docs/architecture.md, "Interrupts and partial failures"). A sync function
waits for its push through a :class:`~qxframe.actions._handle.PushHandle`, in short slices, so
Ctrl-C or "interrupt kernel" reaches the waiting thread; the push is then stopped (nothing
new sent, a grace for requests in flight) and a plain ``PushInterrupted`` is raised there.

An async twin runs on the caller's loop, where a library cannot count on seeing Ctrl-C as
a ``KeyboardInterrupt``: ``asyncio.run`` turns the first SIGINT into cancelling its main
task, ipykernel turns "interrupt kernel" during an ``await`` cell into cancelling the
cell, and a ``KeyboardInterrupt`` raised *inside* a task is not kept as the task's result
but re-raised out of the event loop (asyncio's ``Task`` does that for KeyboardInterrupt
and SystemExit), stopping the caller's whole loop. So the choice is: the cancellation of
the task running an async push is its stop request. The push stops as above and ends by
raising ``PushCancelled``, a ``PushInterrupted`` (``except qx.PushInterrupted`` catches it,
``.results`` included) that is also an ``asyncio.CancelledError`` — asyncio sees an
ordinary cancellation (``task.cancelled()`` is true, ``asyncio.timeout`` and task groups
work) and the caller's loop goes on. Under a bare ``asyncio.run(push())`` and Ctrl-C,
asyncio then raises its own plain ``KeyboardInterrupt``, whose ``__context__`` is the
``PushCancelled``: catch ``qx.PushInterrupted`` inside the coroutine to keep the results.

Signatures, once. A function's keyword arguments are the shared ones (``SHARED``), its
action's destinations and options, both from the catalogue (``_fields``), and ``out``:
:func:`~qxframe.actions._registry.keywords` lists them. Each function is written
``**options`` and given that signature as ``__signature__`` (what ``help()``, ``inspect``
and IPython's completion show); a call is checked against it, so a misspelled keyword is
a ``TypeError`` as with any function. A type checker reads the ``TypedDict`` of each
action instead, through ``Unpack``; the two overloads per function exist only so that
``out=`` types as a LazyFrame. ``tests/test_public_api.py`` holds each ``TypedDict``
equal to the signature.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    ParamSpec,
    TypeAlias,
    TypedDict,
    TypeVar,
    Unpack,
    cast,
    overload,
)

import polars as pl

from qxframe.actions._action import Action
from qxframe.actions._contacts import CONTACTS
from qxframe.actions._handle import start_push
from qxframe.actions._registry import Results, keywords, push
from qxframe.actions._removals import DELETE, REMOVE, UNSUBSCRIBE
from qxframe.actions._runner import progress_bar
from qxframe.actions._transactions import TRANSACTIONS
from qxframe.actions._workflows import WORKFLOW

if TYPE_CHECKING:
    from qxframe.delivery._client import Client

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")
_DF: TypeAlias = pl.DataFrame
_LF: TypeAlias = pl.LazyFrame
_Path: TypeAlias = str | Path


#: ``_fields.METHODS`` as a type (a test holds the two equal).
Method: TypeAlias = Literal["auto", "api", "import"]


class SharedOpts(TypedDict, total=False):
    """The keyword arguments every action takes, besides ``out``."""

    client: Client | None
    mapping: Mapping[str, Any] | None
    dry_run: bool
    concurrency: int | None
    progress: bool | None
    journal: str | Path | None
    full_resync: bool


class _ListOpts(SharedOpts, total=False):
    directory_id: str | None
    mailing_list_id: str | None
    method: Method
    import_jobs: int
    import_timeout: int


class ContactOpts(_ListOpts, total=False):
    on_leave: Literal["remove", "unsubscribe"] | None
    max_leave: float


class TxOpts(_ListOpts, total=False):
    batch_size: int


class WorkflowOpts(SharedOpts, total=False):
    workflow_url: str | None
    json_columns: Sequence[str] | None
    correlate: bool


class RemoveOpts(SharedOpts, total=False):
    directory_id: str | None
    mailing_list_id: str | None


class UnsubscribeOpts(RemoveOpts, total=False):
    pass


class DeleteOpts(SharedOpts, total=False):
    directory_id: str | None


def _sync_push(
    action: Action, frame: Any, out: _Path | None, options: Mapping[str, Any]
) -> Results:
    """Run a push to its end on the client's loop (a :class:`PushHandle`: Ctrl-C stops it);
    its progress bar made here, in the caller's thread (see ``progress_bar``), and closed
    whatever happens."""
    bar = progress_bar(frame, options.get("progress"), action.name)
    try:
        return start_push(action, frame, out=out, **{**options, "progress": bar}).result()
    finally:
        bar.close()


def _sign(function: Callable[..., Any], action: Action, typed: type) -> None:
    """Give ``function`` the signature of ``action``'s keyword arguments (``typed``: the
    ``TypedDict`` a type checker reads; its annotations are shown)."""
    hints = {k: _shown(getattr(v, "__forward_arg__", v)) for k, v in typed.__annotations__.items()}
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("frame", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [
        inspect.Parameter(name, keyword, default=default, annotation=hints[name])
        for name, default in keywords(action.name).items()
    ]
    params.append(inspect.Parameter("out", keyword, default=None, annotation="str | Path | None"))
    function.__signature__ = inspect.Signature(params, return_annotation="Results")  # type: ignore[attr-defined]
    FUNCTIONS[function.__name__] = action


def _shown(annotation: Any) -> Any:
    """An annotation as ``help()`` should show it: an alias of this module resolved
    (``Method`` reads ``Literal['auto', 'api', 'import']``), anything else as written."""
    value = globals().get(annotation)
    return value if value is not None and not isinstance(value, type) else annotation


#: The action each sync public function pushes, by the function's name (the async twin's
#: name is ``"a"`` + it): read by :func:`_twin` and the widgets' action picker.
FUNCTIONS: dict[str, Action] = {}


def _twin(sync: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """The async twin of the signed public function ``sync``.

    A type checker maps each of ``sync``'s overloads through ``P`` (so the twin's ``out=``
    types as a LazyFrame too); it does so only for a one-argument function like this one.
    """
    action = FUNCTIONS[sync.__name__]

    async def twin(frame: Any, *, out: _Path | None = None, **options: Any) -> Results:
        return await push(action, frame, out=out, **options)

    twin.__name__ = twin.__qualname__ = "a" + sync.__name__
    twin.__doc__ = f"Async twin of :func:`{sync.__name__}`."
    twin.__module__ = sync.__module__
    twin.__signature__ = inspect.signature(sync)  # type: ignore[attr-defined]
    return cast("Callable[P, Coroutine[Any, Any, R]]", twin)


@overload
def upsert_contacts(frame: Any, *, out: None = None, **o: Unpack[ContactOpts]) -> _DF: ...
@overload
def upsert_contacts(frame: Any, *, out: _Path, **o: Unpack[ContactOpts]) -> _LF: ...
def upsert_contacts(frame: Any, *, out: _Path | None = None, **options: Any) -> Results:
    """Create or update one XM Directory contact per row.

    Args:
        frame: a polars/pandas DataFrame, a LazyFrame, or a path to a CSV/Parquet file.
        client: the :class:`Client` (default: ``Client.from_env()``; none needed for a dry run).
        directory_id: the directory (``POOL_…``) for every row; leave it out to read a column.
        mailing_list_id: a mailing list (``CG_…``) of that directory, or a column of them:
            each contact is created in the list (a member of the list and the directory).
        mapping: ``{field: column | polars expression | [columns]}`` (docs/architecture.md,
            "The path of a row").
        dry_run: send nothing; valid rows get ``status="dry_run"`` and their JSON body.
        concurrency: a hard cap on requests in flight (default: per endpoint family, what
            its rate limit needs at the observed latency, up to 64).
        progress: show a progress bar (default: for pushes over a few hundred rows).
        journal: path of a journal file (SQLite) remembering what Qualtrics accepted at
            this destination, person by person: a row whose body Qualtrics already holds is
            not sent again (``skipped``, ``operation`` ``unchanged``), a new person is a
            ``create``, a changed one an ``update`` (``changes`` names the fields); next
            week's export is the same sync. Rows whose outcome is unknown come back
            ``outcome_unknown`` and are not re-sent unless a second copy would merge.
        full_resync: with a journal, send every row anyway.
        out: a ``.csv`` or ``.parquet`` path: results are written there chunk by chunk as
            they come instead of being kept in memory, and a LazyFrame scanning the file is
            returned (for inputs larger than memory).
        method: ``"api"``: one request per contact; ``"import"``: Qualtrics' import jobs,
            up to 10,000 contacts a request (needs a mailing list; rows with ``phone`` still
            go one by one); ``"auto"``: import jobs when a mailing list is given and the
            push holds at least 1,000 rows (an in-memory frame counts whole, a streamed
            input per chunk).
        import_jobs: import jobs created and unfinished at once, at most (Qualtrics runs 25).
        on_leave: ``"remove"`` or ``"unsubscribe"``: members this sync put in the mailing
            list whom no row of this push carries leave the list (or are unsubscribed from
            it) after every row was sent, one result row each with ``row`` null; needs a
            journal and a ``mailing_list_id`` constant.
        max_leave: refuse (``ConfigError``, before any request when the input can be read
            ahead) when more would leave: a share below 1 of the members the journal holds
            (default ``0.2``), or an integer count of people.
        import_timeout: seconds an import job may go without progress (default 1800)
            before it is given up on: its rows end ``outcome_unknown`` naming the job, and
            a resumed push (``journal=``) follows it again.

    Returns:
        The results frame: one row per input row, in input order (a LazyFrame with ``out``).

    A contact is merged into an existing one only when the directory deduplicates on
    fields the row carries (Qualtrics' own rule); otherwise each row creates a contact.
    """
    return _sync_push(CONTACTS, frame, out, options)


@overload
def upsert_transactions(frame: Any, *, out: None = None, **o: Unpack[TxOpts]) -> _DF: ...
@overload
def upsert_transactions(frame: Any, *, out: _Path, **o: Unpack[TxOpts]) -> _LF: ...
def upsert_transactions(frame: Any, *, out: _Path | None = None, **options: Any) -> Results:
    """Add one contact transaction per row, finding or creating each contact first.

    Rows without ``contact_id`` are looked up by ``ext_ref``, ``phone`` and ``email``
    (once per distinct identity); a contact is created when none matches. Transactions go
    ``batch_size`` per request. A contact the lookup creates is created in the row's
    mailing list (the first row's, for an identity). When the directory deduplicates on
    fields an identity carries (and it has no ``phone``), ``method="import"`` — or
    ``"auto"`` with at least 1,000 such identities — resolves identities through import
    jobs instead of one search each; a dry run's ``payload`` names the path
    (``"contactLookup"``). Other arguments as :func:`upsert_contacts`; the results
    carry the transaction id in ``qualtrics_id`` and the contact in ``contact_id``.
    """
    return _sync_push(TRANSACTIONS, frame, out, options)


@overload
def trigger_workflow(frame: Any, *, out: None = None, **o: Unpack[WorkflowOpts]) -> _DF: ...
@overload
def trigger_workflow(frame: Any, *, out: _Path, **o: Unpack[WorkflowOpts]) -> _LF: ...
def trigger_workflow(frame: Any, *, out: _Path | None = None, **options: Any) -> Results:
    """Start a workflow once per row through its JSON-event trigger URL.

    Args:
        frame: as :func:`upsert_contacts`, or JSON records: a dict (one event), a list of
            dicts, or a ``.jsonl``/``.ndjson`` file (nested values are sent as they are).
        workflow_url: the workflow's JSON-event trigger URL; leave it out to read a column.
        json_columns: columns holding JSON text (``'{"score": 5}'`` read from a CSV) to
            send as JSON, not as strings; a cell that is not JSON makes its row
            ``invalid`` (``event_payload_not_json``, naming the column).
        correlate: add ``qx_run`` (one id for this push) and ``qx_row`` (the input row)
            to each event, to find the push in the workflow's run history.

    The event body is ``event_payload`` (default: the whole row, less the column that gave
    ``workflow_url``). The URL must be https on ``*.qualtrics.com`` or the client's own
    ``base_url`` origin: the API token is never sent anywhere else. A trigger is never
    re-sent after an ambiguous failure (``outcome_unknown``). Other arguments as
    :func:`upsert_contacts`.
    """
    return _sync_push(WORKFLOW, frame, out, options)


@overload
def remove_from_list(frame: Any, *, out: None = None, **o: Unpack[RemoveOpts]) -> _DF: ...
@overload
def remove_from_list(frame: Any, *, out: _Path, **o: Unpack[RemoveOpts]) -> _LF: ...
def remove_from_list(frame: Any, *, out: _Path | None = None, **options: Any) -> Results:
    """Take each row's contact out of a mailing list; it stays in the directory.

    A row carries ``contact_id``, or ``ext_ref``/``email``/``phone`` looked up as a
    transaction's are. A contact that is not a member, or not in the directory, comes back
    ``success`` with ``operation`` ``unchanged``: running it twice is safe. Other
    arguments as :func:`upsert_contacts`.
    """
    return _sync_push(REMOVE, frame, out, options)


@overload
def unsubscribe(frame: Any, *, out: None = None, **o: Unpack[UnsubscribeOpts]) -> _DF: ...
@overload
def unsubscribe(frame: Any, *, out: _Path, **o: Unpack[UnsubscribeOpts]) -> _LF: ...
def unsubscribe(frame: Any, *, out: _Path | None = None, **options: Any) -> Results:
    """Unsubscribe each row's contact: from ``mailing_list_id`` when one is given (the
    list's flag), else from the directory.

    Rows as :func:`remove_from_list`; one already unsubscribed comes back ``success`` with
    ``operation`` ``unchanged`` (the member or contact is read first).
    """
    return _sync_push(UNSUBSCRIBE, frame, out, options)


@overload
def delete_contacts(frame: Any, *, out: None = None, **o: Unpack[DeleteOpts]) -> _DF: ...
@overload
def delete_contacts(frame: Any, *, out: _Path, **o: Unpack[DeleteOpts]) -> _LF: ...
def delete_contacts(frame: Any, *, out: _Path | None = None, **options: Any) -> Results:
    """Delete each row's contact from the directory (and so from its lists).

    Rows as :func:`remove_from_list`; a contact already gone comes back ``success`` with
    ``operation`` ``unchanged``. This cannot be undone: try ``dry_run=True`` first.
    """
    return _sync_push(DELETE, frame, out, options)


_sign(upsert_contacts, CONTACTS, ContactOpts)
_sign(upsert_transactions, TRANSACTIONS, TxOpts)
_sign(trigger_workflow, WORKFLOW, WorkflowOpts)
aupsert_contacts = _twin(upsert_contacts)
aupsert_transactions = _twin(upsert_transactions)
atrigger_workflow = _twin(trigger_workflow)
_sign(remove_from_list, REMOVE, RemoveOpts)
_sign(unsubscribe, UNSUBSCRIBE, UnsubscribeOpts)
_sign(delete_contacts, DELETE, DeleteOpts)
aremove_from_list = _twin(remove_from_list)
aunsubscribe = _twin(unsubscribe)
adelete_contacts = _twin(delete_contacts)
