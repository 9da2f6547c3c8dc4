"""Exploring a workflow (DESIGN §5): events as dicts and JSON Lines with nested values
kept, CSV columns of JSON text sent as JSON, correlated runs, and the JSONPath list of
the bodies' fields. End to end against the sandbox: what the workflow received."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

import qxframe as qx
from qxframe import cli
from qxframe._inputs import count_rows, iter_chunks, json_columns_of
from qxframe._jsonpaths import field_paths
from qxframe.cli import _edge


def received(sb) -> list[dict]:
    """The events the sandbox's workflow received, by ``event`` (they arrive concurrently)."""
    events = [json.loads(p) for p in sb.workflow_events()["payload"]]
    return sorted(events, key=lambda e: str(e.get("event")))


def paths(sb) -> dict[str, str]:
    """JSONPath → JSON type(s) of the events received."""
    found = field_paths(sb.workflow_events()["payload"])
    return dict(zip(found["path"], found["type"], strict=True))


def push(sb, events, **options):
    options.setdefault("progress", False)
    return qx.trigger_workflow(events, client=sb.client(), workflow_url=sb.workflow_url, **options)


# -- a dict, a list of dicts --------------------------------------------------------------------


def test_a_dict_is_one_event_and_its_nested_values_arrive_as_json(sb):
    event = {"event": "signup", "properties": {"score": 5, "source": "ads", "tags": ["a"]}}
    res = push(sb, event)
    assert res["status"].to_list() == ["success"]
    assert received(sb) == [event]
    assert paths(sb)["$.properties.score"] == "number"  # a workflow condition can compare it


def test_a_list_of_events_keeps_each_value_exactly(sb):
    events = [
        {"event": "a", "score": 5, "big": 2**70, "ok": True},
        {"event": "b", "score": 4.5, "extra": {"deep": [1, {"x": None, "y": "z"}]}},
        {"event": "c", "score": "n/a", "big": None},
    ]
    res = push(sb, events)
    assert res["status"].to_list() == ["success"] * 3
    assert received(sb) == [
        {"event": "a", "score": 5, "big": 2**70, "ok": True},  # 5 stays 5, not "5" or 5.0
        {"event": "b", "score": 4.5, "extra": {"deep": [1, {"y": "z"}]}},  # nulls dropped
        {"event": "c", "score": "n/a"},
    ]


def test_an_empty_list_pushes_nothing_and_a_bad_item_is_refused_before_sending(sb):
    assert push(sb, []).height == 0
    with pytest.raises(qx.ConfigError, match="item 1 is a str, not a dict"):
        push(sb, [{"event": "a"}, "b"])
    assert sb.workflow_events().height == 0


def test_a_dict_serves_the_other_actions_too(sb):
    res = qx.upsert_contacts(
        {"email": "ann@example.com", "first_name": "Ann"},
        client=sb.client(),
        directory_id=sb.directory_id,
        progress=False,
    )
    assert res["status"].to_list() == ["success"]
    assert sb.contacts()["first_name"].to_list() == ["Ann"]


def test_rows_to_retry_of_records_gives_the_records_back():
    events = [{"event": "a"}, {"event": "b", "p": {"s": 1}}, {"event": "c"}]
    results = pl.DataFrame({"row": [0, 1, 2], "status": ["success", "failed", "not_sent"]})
    results = results.with_columns(error_code=pl.lit(None, pl.String))
    assert qx.rows_to_retry(events, results) == events[1:]


# -- JSON Lines ------------------------------------------------------------------------------------


def write_jsonl(path: Path, records: list[dict], gz: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in records)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


EVENTS = [
    {"event": "signup", "user": "u1", "properties": {"score": 5, "plan": "pro"}},
    {"event": "upgrade", "user": "u2", "properties": {"score": 9.5}},
    {"event": "churn", "user": "u3"},
]


@pytest.mark.parametrize("name", ["events.jsonl", "events.ndjson", "events.jsonl.gz"])
def test_json_lines_keep_nested_values(sb, tmp_path, name):
    path = write_jsonl(tmp_path / name, EVENTS, gz=name.endswith(".gz"))
    res = push(sb, str(path))
    assert res["status"].to_list() == ["success"] * 3
    assert received(sb) == [EVENTS[2], EVENTS[0], EVENTS[1]]  # churn, signup, upgrade
    assert paths(sb)["$.properties.score"] == "number"


def test_json_lines_are_read_in_chunks_of_one_schema(tmp_path):
    records = [{"n": i, "p": {"i": i}} if i % 2 else {"n": i, "tag": "x"} for i in range(7)]
    path = write_jsonl(tmp_path / "e.jsonl", records)
    chunks = list(iter_chunks(str(path), chunk_size=3))
    assert [c.height for c in chunks] == [3, 3, 1]
    assert {tuple(c.schema.items()) for c in chunks} == {
        (("n", pl.Int64()), ("tag", pl.String()), ("p", pl.String()))
    }
    assert count_rows(str(path)) == 7 and json_columns_of(str(path)) == {"p"}


def test_a_bad_json_line_is_refused_naming_it_before_anything_is_sent(sb, tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"event": "a"}\n\n{"event": "b",}\n', encoding="utf-8")
    with pytest.raises(qx.ConfigError, match=r"e\.jsonl, line 3: not JSON"):
        push(sb, str(path))
    path.write_text('{"event": "a"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(qx.ConfigError, match=r"line 2 is a list, not a dict"):
        push(sb, str(path))
    assert sb.workflow_events().height == 0


# -- CSV columns of JSON text ------------------------------------------------------------------


CSV = (
    "event,user,properties\n"
    'signup,u1,"{""score"": 5, ""source"": ""ads""}"\n'
    'upgrade,u2,"{""score"": 7"\n'
    "churn,u3,\n"
)


def test_csv_json_columns_are_sent_as_json_and_a_bad_cell_fails_its_row(sb, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV, encoding="utf-8")
    res = push(sb, str(path), json_columns=["properties"])
    assert res["status"].to_list() == ["success", "invalid", "success"]
    assert res["error_code"][1] == "event_payload_not_json"
    assert '"properties"' in res["error_message"][1]  # names the column
    assert received(sb) == [
        {"event": "churn", "user": "u3"},
        {"event": "signup", "user": "u1", "properties": {"score": 5, "source": "ads"}},
    ]
    assert paths(sb)["$.properties.score"] == "number"


def test_without_json_columns_the_text_is_a_string(sb, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV, encoding="utf-8")
    push(sb, str(path))
    assert received(sb)[1]["properties"] == '{"score": 5, "source": "ads"}'


def test_json_columns_naming_a_missing_column_is_a_mapping_error(sb):
    with pytest.raises(qx.MappingError, match="json_columns names column 'props'"):
        push(sb, pl.DataFrame({"event": ["a"]}), json_columns=["props"])
    with pytest.raises(qx.ConfigError, match="list of column names"):
        push(sb, pl.DataFrame({"event": ["a"]}), json_columns="event")


def test_the_cli_takes_json_columns(sb, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(_edge, "client", lambda dry_run: sb.client())
    path = tmp_path / "events.csv"
    path.write_text(CSV, encoding="utf-8")
    argv = ["push", "workflow", str(path), "--workflow-url", sb.workflow_url, "--no-progress"]
    assert cli.main([*argv, "--json-columns", "properties", "--correlate"]) == 1  # one invalid
    got = received(sb)
    assert got[1]["properties"] == {"score": 5, "source": "ads"}  # churn, signup
    assert [e["qx_row"] for e in got] == [2, 0] and len({e["qx_run"] for e in got}) == 1
    assert "event_payload_not_json" in capsys.readouterr().out


# -- correlate ---------------------------------------------------------------------------------


def test_correlate_tags_each_event_with_the_run_and_its_row(sb):
    events = [{"event": "a"}, {"event": "b", "qx_row": "mine"}]
    first = push(sb, events, correlate=True)
    assert first["status"].to_list() == ["success"] * 2
    one = received(sb)
    push(sb, events[:1], correlate=True)
    runs = {e["qx_run"] for e in one}
    assert len(runs) == 1  # one id per push
    assert [e["qx_row"] for e in one] == [0, 1]  # the row, replacing the event's own
    assert {e["qx_run"] for e in received(sb)} - runs  # the next push has its own id
    dry = push(sb, events, correlate=True, dry_run=True)
    bodies = [json.loads(p) for p in dry["payload"]]
    assert [b["qx_row"] for b in bodies] == [0, 1] and bodies[0]["qx_run"] not in runs
    assert "qx_run" not in push(sb, events, dry_run=True)["payload"][0]


# -- the JSONPath list -------------------------------------------------------------------------


def test_field_paths_list_every_path_with_its_types_and_an_example():
    bodies = [
        {"a b": 1, "items": [{"sku": "x1", "qty": 2}, {"sku": "x2"}], "flag": True},
        '{"a b": "one", "items": [], "none": null}',
    ]
    found = {r["path"]: r for r in field_paths(bodies).to_dicts()}
    assert list(found) == ["$['a b']", "$.items", "$.items[*]", "$.items[*].sku",
                           "$.items[*].qty", "$.flag", "$.none"]  # fmt: skip
    assert found["$['a b']"]["type"] == "number|string" and found["$['a b']"]["rows"] == 2
    assert found["$.items[*].sku"]["example"] == '"x1"' and found["$.items"]["rows"] == 2
    assert found["$.none"]["type"] == "null"
    assert field_paths([]).columns == ["path", "type", "example", "rows"]
