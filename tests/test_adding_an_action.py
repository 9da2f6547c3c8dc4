"""Adding an action is its catalogue entries, one action module and one registry line
(docs/architecture.md, "Where each change goes").

A toy action, ``echo`` (post each row's ``message`` to a trigger URL), is added here in
exactly those places — entries in ``_fields`` and one line in ``_registry.ACTIONS``, the
module being the functions below, written against the contract alone
(``qxframe.actions._action``) — and then pushed, dry-run, previewed, resumed from a
journal and offered by the CLI, and its rows validated by rules it never wrote, with no
other file touched.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest

import qxframe as qx
from qxframe import _fields, _results
from qxframe._fields import Field
from qxframe.actions import _registry
from qxframe.actions._action import Action, Context, LostRows, outcome_of, rows_of, run_groups


# -- the action module ---------------------------------------------------------------------
def _body(row: dict[str, Any]) -> dict[str, Any]:
    return {"message": row.get("message")}


async def _send(valid: pl.DataFrame, ctx: Context) -> None:
    async def post(row: dict[str, Any]) -> None:
        answer = await ctx.call(
            lambda: ctx.api.atrigger_workflow(row["echo_url"], _body(row)),
            risky_rows=[row["row"]],
        )
        ctx.report([outcome_of(row["row"], answer)])

    await run_groups(list(rows_of(valid)), post, ctx.concurrency)


def _dry_run(valid: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    bodies = [json.dumps(_body(row), separators=(",", ":")) for row in rows_of(valid)]
    return _results.from_dry_run(valid["row"], pl.Series(bodies, dtype=pl.String))


ECHO = Action(name="echo", send=_send, dry_run=_dry_run)


@pytest.fixture
def echo(monkeypatch):
    # the catalogue's entries
    fields = (
        Field("echo_url", "echoUrl", "url", None, destination=True, help="where to echo"),
        Field("message", "message", "string", None),
    )
    monkeypatch.setitem(_fields._CATALOGUE, "echo", fields)
    monkeypatch.setitem(_fields._OPTIONS, "echo", ())
    monkeypatch.setitem(_fields._IDENTITY, "echo", ())
    monkeypatch.setattr(_fields, "ACTIONS", (*_fields.ACTIONS, "echo"))
    # the registry line
    monkeypatch.setitem(_registry.ACTIONS, "echo", ECHO)
    return ECHO


FRAME = pl.DataFrame({"message": ["hello", "bye"]})


def test_the_registry_holds_every_action_of_the_catalogue():
    assert tuple(_registry.ACTIONS) == _fields.ACTIONS


def test_a_new_action_pushes_with_the_shared_pipeline(echo):
    from qxframe.actions._handle import start_push

    with qx.sandbox() as sb:
        url = sb.workflow_url
        frame = FRAME.with_columns(echo_url=pl.Series([url, "http://elsewhere.example/x"]))
        results = start_push("echo", frame, client=sb.client()).result()
        events = sb.workflow_events()
    assert results["status"].to_list() == ["success", "invalid"]
    # a rule the action never wrote: a url field's allowed origins (the token's safety)
    assert results["error_code"].to_list() == [None, "echo_url_not_allowed"]
    assert events.height == 1 and "hello" in str(events.row(0))


def test_a_new_action_resumes_from_a_journal(echo, tmp_path):
    from qxframe.actions._handle import start_push

    journal = tmp_path / "echo.sqlite"
    with qx.sandbox() as sb:
        client, url = sb.client(), sb.workflow_url
        first = start_push("echo", FRAME, client=client, echo_url=url, journal=journal).result()
        again = start_push("echo", FRAME, client=client, echo_url=url, journal=journal).result()
        events = sb.workflow_events()
    assert first["status"].to_list() == ["success", "success"]
    assert again["status"].to_list() == ["skipped", "skipped"]
    assert events.height == 2  # each row sent once


def test_an_action_that_loses_a_row_is_an_error_not_a_silent_outcome(echo, monkeypatch):
    from qxframe.actions._handle import start_push

    async def forgetful(valid: pl.DataFrame, ctx: Context) -> None:
        rows = list(rows_of(valid))
        answer = await ctx.call(lambda: ctx.api.atrigger_workflow(rows[0]["echo_url"], {}))
        ctx.report([outcome_of(rows[0]["row"], answer)])  # the second row is never reported

    monkeypatch.setitem(_registry.ACTIONS, "echo", Action("echo", forgetful, _dry_run))
    with qx.sandbox() as sb:
        handle = start_push("echo", FRAME, client=sb.client(), echo_url=sb.workflow_url)
        with pytest.raises(LostRows, match=r"not reported \[1\]") as lost:
            handle.result()
    # the rows are still accounted for in the error's results, the lost one not as sent
    assert lost.value.results["status"].to_list() == ["success", "not_sent"]


def test_a_new_action_dry_runs_and_takes_its_destination_as_a_keyword(echo):
    from qxframe.actions._handle import start_push
    from qxframe.actions._registry import keywords

    assert "echo_url" in keywords("echo")
    url = "https://x.qualtrics.com/API/v3/triggers/1"
    results = start_push("echo", FRAME, client=None, echo_url=url, dry_run=True).result()
    assert results["payload"].to_list() == ['{"message":"hello"}', '{"message":"bye"}']
    with pytest.raises(TypeError, match="did you mean 'echo_url'"):
        start_push("echo", FRAME, client=None, echourl=url, dry_run=True)


def test_a_new_action_is_previewed_as_its_dry_run(echo):
    from qxframe.widgets._table import preview_table

    url = "https://x.qualtrics.com/API/v3/triggers/1"
    table = preview_table(FRAME, "echo", constants={"echo_url": url})
    assert table["status"].to_list() == ["valid", "valid"]
    assert table["payload"].to_list() == ['{"message":"hello"}', '{"message":"bye"}']


def test_a_new_action_is_a_cli_subcommand_with_its_destination_flag(echo, capsys):
    from qxframe.cli import main

    with pytest.raises(SystemExit) as done:
        main(["push", "echo", "--help"])
    shown = capsys.readouterr().out
    assert done.value.code == 0
    assert "--echo-url URL" in shown and "where to echo" in shown
