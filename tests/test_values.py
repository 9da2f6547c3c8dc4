"""Values keep their meaning: decimals go as their exact text, types with no faithful JSON
form are refused naming the field and dtype, and errors inside mapping expressions are
wrapped naming the field — never a raw polars or Python exception."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qxframe as qx
from qxframe import cli
from qxframe._payloads import contact_body, workflow_body
from qxframe._prepare import prepare

BIG = Decimal("12345678901234567.89")
DECIMALS = pl.Decimal(38, 2)


def prepared(frame: pl.DataFrame, action: str, mapping=None):
    constants = {
        "contacts": {"directory_id": "POOL_1"},
        "transactions": {"directory_id": "POOL_1", "mailing_list_id": "CG_1"},
        "workflow": {"workflow_url": "https://x.qualtrics.com/h"},
    }[action]
    return prepare(frame, action, mapping=mapping, constants=constants, allowed_origin=None)


def test_a_big_decimal_is_sent_as_its_exact_text_in_every_object_field(sb):
    frame = pl.DataFrame(
        {"email": ["d@example.com"], "amount": [BIG]},
        schema={"email": pl.String, "amount": DECIMALS},
    )
    client = sb.client()
    res = qx.upsert_contacts(
        frame, client=client, directory_id=sb.directory_id, mapping={"embedded_data": ["amount"]}
    )
    assert res["status"].to_list() == ["success"]
    assert json.loads(sb.contacts()["embedded_data"][0]) == {"amount": "12345678901234567.89"}
    tx = qx.upsert_transactions(
        frame,
        client=client,
        directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
        mapping={"transaction_data": ["amount"]},
    )
    assert tx["status"].to_list() == ["success"]
    assert json.loads(sb.transactions()["data"][0]) == {"amount": "12345678901234567.89"}
    wf = qx.trigger_workflow(frame, client=client, workflow_url=sb.workflow_url)
    assert wf["status"].to_list() == ["success"]
    sent = json.loads(sb.workflow_events()["payload"][0])
    assert sent == {"email": "d@example.com", "amount": "12345678901234567.89"}


def test_decimals_inside_lists_and_as_identifiers_keep_their_text():
    frame = pl.DataFrame(
        {"ext_ref": [BIG], "nums": [[Decimal("0.10"), None, BIG]]},
        schema={"ext_ref": DECIMALS, "nums": pl.List(DECIMALS)},
    )
    row = next(prepared(frame, "workflow").valid.iter_rows(named=True))
    assert workflow_body(row) == {
        "ext_ref": "12345678901234567.89",
        "nums": ["0.10", "12345678901234567.89"],
    }
    contact = prepared(frame, "contacts", {"embedded_data": ["nums"]}).valid
    body = contact_body(next(contact.iter_rows(named=True)))
    assert body == {
        "extRef": "12345678901234567.89",
        "embeddedData": {"nums": '["0.10","12345678901234567.89"]'},
    }


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 18).flatmap(
        lambda scale: st.tuples(
            st.just(scale),
            st.decimals(
                min_value=-(10**19),
                max_value=10**19,
                places=scale,
                allow_nan=False,
                allow_infinity=False,
            ),
        )
    )
)
def test_any_decimal_round_trips_exactly_through_the_body(case):
    scale, value = case
    dtype = pl.Decimal(38, scale)
    frame = pl.DataFrame(
        {"email": ["a@b.com"], "v": [value]}, schema={"email": pl.String, "v": dtype}
    )
    row = next(prepared(frame, "contacts", {"embedded_data": ["v"]}).valid.iter_rows(named=True))
    sent = contact_body(row)["embeddedData"]["v"]
    assert isinstance(sent, str) and Decimal(sent) == value
    assert sent == f"{value:.{scale}f}"  # the column's own text: its scale, no exponent
    nested = next(
        prepared(frame.select(v=pl.concat_list("v")), "workflow").valid.iter_rows(named=True)
    )
    assert [Decimal(x) for x in workflow_body(nested)["v"]] == [value]


@settings(max_examples=100, deadline=None)
@given(st.times())
def test_times_are_iso_text_with_their_microseconds(value):
    frame = pl.DataFrame({"email": ["a@b.com"], "t": [value], "ts": [[value]]})
    row = next(prepared(frame, "contacts", {"embedded_data": ["t"]}).valid.iter_rows(named=True))
    assert contact_body(row)["embeddedData"] == {"t": value.isoformat()}
    nested = next(prepared(frame.drop("email"), "workflow").valid.iter_rows(named=True))
    assert workflow_body(nested) == {"t": value.isoformat(), "ts": [value.isoformat()]}


UNFAITHFUL = [
    ("duration", pl.Series("odd", [dt.timedelta(seconds=3)]), "Duration"),
    ("binary", pl.Series("odd", [b"\x00\xff"]), "Binary"),
    ("object", pl.Series("odd", [object()], dtype=pl.Object), "Object"),
    ("nested duration", pl.Series("odd", [[dt.timedelta(1)]]), "Duration"),
    ("struct of binary", pl.Series("odd", [{"b": b"x"}]), "Binary"),
]


@pytest.mark.parametrize(("label", "column", "dtype"), UNFAITHFUL, ids=[u[0] for u in UNFAITHFUL])
@pytest.mark.parametrize(
    ("action", "mapping", "field"),
    [
        ("contacts", {"embedded_data": ["odd"]}, "embedded_data"),
        ("transactions", {"transaction_data": ["odd"]}, "transaction_data"),
        ("workflow", None, "event_payload"),  # the default payload: the whole row
        ("contacts", {"ext_ref": "odd"}, "ext_ref"),
    ],
)
def test_types_without_a_faithful_json_form_are_refused_naming_field_and_type(
    label, column, dtype, action, mapping, field
):
    frame = pl.DataFrame({"email": ["a@b.com"]}).with_columns(column)
    with pytest.raises(qx.ConfigError) as info:
        prepared(frame, action, mapping)
    text = str(info.value)
    assert f"field {field!r}" in text and dtype in text and "no faithful JSON form" in text
    assert not isinstance(info.value.__cause__, pl.exceptions.PolarsError)


def test_nothing_is_sent_when_a_column_has_no_json_form(sb):
    frame = pl.DataFrame({"email": ["a@b.com"], "wait": [dt.timedelta(minutes=2)]})
    with pytest.raises(qx.ConfigError, match=r"'embedded_data' \(its column 'wait'\).*Duration"):
        qx.upsert_contacts(
            frame,
            client=sb.client(),
            directory_id=sb.directory_id,
            mapping={"embedded_data": ["wait"]},
        )
    assert sb.requests().height == 0


@pytest.mark.parametrize(
    ("expression", "kind"),
    [
        (
            pl.col("n").map_elements(lambda v: str(1 / v), return_dtype=pl.String),
            "ZeroDivisionError",
        ),
        (pl.col("s").cast(pl.Int64), "InvalidOperationError"),
        (pl.col("n").map_elements(lambda v: {"a": "b"}["k"], return_dtype=pl.String), "KeyError"),
    ],
)
def test_an_error_inside_a_mapping_expression_is_a_config_error_naming_the_field(expression, kind):
    frame = pl.DataFrame({"email": ["a@b.com"], "n": [0], "s": ["x"]})
    with pytest.raises(qx.ConfigError) as info:
        prepared(frame, "contacts", {"first_name": expression})
    assert "'first_name'" in str(info.value) and kind in str(info.value)
    assert "fix the expression" in str(info.value)
    assert type(info.value) is qx.ConfigError


def test_the_cli_reports_a_duration_column_in_one_line_and_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QUALTRICS_API_TOKEN", "t" * 40)
    monkeypatch.setenv("QUALTRICS_BASE_URL", "http://127.0.0.1:9")
    source = tmp_path / "in.parquet"
    pl.DataFrame({"email": ["a@b.com"], "wait": [dt.timedelta(seconds=5)]}).write_parquet(source)
    status = cli.main(
        ["push", "contacts", str(source), "--directory-id", "POOL_1", "--map", "embedded_data=wait"]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err and "Duration" in err and "'embedded_data'" in err
