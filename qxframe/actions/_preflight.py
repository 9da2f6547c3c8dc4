"""What a push checks before its first write: the credentials, and that the destination exists.

The runner awaits :func:`check` with each chunk's valid rows before handing them to the
action's ``send`` (docs/architecture.md, "Credentials" and "Destination checked"):

- a workflow push needs an API token: JSON-event triggers take nothing else, so a client
  with an OAuth client alone is a ``ConfigError``;
- an OAuth client must hold every scope the push needs (:data:`NEEDS`), else ``AuthError``
  naming the missing ones (:meth:`Client.acheck_scopes`);
- each directory the rows name must exist, and each mailing list must be one of its
  directory's, else ``ConfigError`` naming the id and how to list the right ones — one
  clear error before anything is sent, never the same failure on every row.

The directory list is the one the push reads anyway for the directories' deduplication
settings (:func:`qxframe.actions._dedup.listed`, shared through the action state's
``directories`` when it has one). A list the token may not read (403) leaves the check to
Qualtrics' answers, as before; a refused token (401) raises. Each id is checked once per
push (:class:`Checked`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import polars as pl

from qxframe.actions._action import Context
from qxframe.actions._dedup import Directories, listed
from qxframe.delivery._client import NO_OAUTH_FOR_EVENTS, Client
from qxframe.delivery._oauth import SCOPES
from qxframe.exceptions import AuthError, ConfigError, QxError

#: The scopes a push needs, by action, and more with a mailing list.
NEEDS: dict[str, tuple[str, ...]] = {
    "contacts": (SCOPES["directories"], SCOPES["contacts"]),
    "transactions": (
        SCOPES["directories"],
        SCOPES["search"],
        SCOPES["contacts"],
        SCOPES["transactions"],
    ),
    "workflow": (),
    # removals (actions/_removals): contacts are looked up, then changed or deleted
    "remove": (SCOPES["directories"], SCOPES["search"]),
    "unsubscribe": (SCOPES["directories"], SCOPES["search"], SCOPES["contacts"]),
    "delete": (SCOPES["directories"], SCOPES["search"], SCOPES["contacts"]),
}
WITH_LIST = (SCOPES["mailing_lists"], SCOPES["lists"])


@dataclass
class Checked:
    """What one push has checked already."""

    scopes: bool = False
    directories: Directories = field(default_factory=Directories)  # unless the action's
    lists: dict[str, set[str]] = field(default_factory=dict)  # directory → its lists
    blind: bool = False  # the token may not list them: Qualtrics' answers will say
    #: one check at a time: chunks sent side by side check what the first has not yet
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


async def check(action: str, valid: pl.DataFrame, ctx: Context, checked: Checked) -> None:
    """Raise before anything of ``valid`` is sent if the push cannot succeed as set up."""
    async with checked.lock:
        await _check(action, valid, ctx, checked)


async def _check(action: str, valid: pl.DataFrame, ctx: Context, checked: Checked) -> None:
    client = ctx.api
    if action == "workflow":
        if not client.can_trigger_workflows:
            raise ConfigError(NO_OAUTH_FOR_EVENTS)
        return
    with_list = "mailing_list_id" in valid.columns and valid["mailing_list_id"].is_not_null().any()
    if not checked.scopes:
        needed = NEEDS.get(action, ()) + (WITH_LIST if with_list else ())
        await client.acheck_scopes(needed, f"this {action} push")
        checked.scopes = True
    if "directory_id" not in valid.columns:
        return
    known = getattr(ctx.state, "directories", None)
    known = known if isinstance(known, Directories) else checked.directories
    for directory_id in _distinct(valid, "directory_id"):
        await _directory(ctx, known, checked, directory_id)
    if with_list:
        pairs = (
            valid.select("directory_id", "mailing_list_id").drop_nulls().unique(maintain_order=True)
        )
        for directory_id, mailing_list_id in pairs.iter_rows():
            await _mailing_list(client, checked, directory_id, mailing_list_id)


def _distinct(valid: pl.DataFrame, column: str) -> list[str]:
    return valid[column].drop_nulls().unique(maintain_order=True).to_list()


async def _directory(ctx: Context, known: Directories, checked: Checked, directory_id: str) -> None:
    directories = await listed(ctx, known)
    if directories is None:
        checked.blind = True
        return
    if directory_id not in directories:
        raise ConfigError(
            f"Directory {directory_id} does not exist (or this token cannot see it), so "
            "nothing was sent. List the directories you can use with client.directories() "
            "(or `qxframe directories`) and pass one of their ids as directory_id."
        )


async def _mailing_list(
    client: Client, checked: Checked, directory_id: str, mailing_list_id: str
) -> None:
    if checked.blind:
        return
    lists = checked.lists.get(directory_id)
    if lists is None:
        try:
            frame = await client.amailing_lists(directory_id)
        except QxError as error:
            if isinstance(error, AuthError) and error.http_status == 401:
                raise
            checked.blind = True
            return
        lists = checked.lists[directory_id] = (
            set(frame["mailing_list_id"].to_list()) if frame.height else set()
        )
    if mailing_list_id not in lists:
        raise ConfigError(
            f"Mailing list {mailing_list_id} is not a list of directory {directory_id}, so "
            f"nothing was sent. List that directory's mailing lists with "
            f"client.mailing_lists({directory_id!r}) (or `qxframe lists --directory-id "
            f"{directory_id}`) and pass one of their ids as mailing_list_id."
        )
