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
from qxframe._sinks import read_results

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


@settings(max_examples=150, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_a_float32_is_sent_with_its_own_shortest_digits(value):
    frame = pl.DataFrame({"email": ["a@b.com"] * 2, "f": pl.Series([value, 0.1], dtype=pl.Float32)})
    valid = prepared(frame, "contacts", {"embedded_data": ["f"]}).valid
    sent = [contact_body(r)["embeddedData"]["f"] for r in valid.iter_rows(named=True)]
    shortest = frame["f"].cast(pl.String).to_list()  # polars' shortest float32 text
    assert sent == [float(x) for x in shortest] and sent[1] == 0.1


@settings(max_examples=100, deadline=None)
@given(st.times())
def test_times_are_iso_text_with_their_microseconds(value):
    frame = pl.DataFrame({"email": ["a@b.com"], "t": [value], "ts": [[value]]})
    row = next(prepared(frame, "contacts", {"embedded_data": ["t"]}).valid.iter_rows(named=True))
    assert contact_body(row)["embeddedData"] == {"t": value.isoformat()}
    nested = next(prepared(frame.drop("email"), "workflow").valid.iter_rows(named=True))
    assert workflow_body(nested) == {"t": value.isoformat(), "ts": [value.isoformat()]}


UNFAITHFUL = [
    ("duration", pl.Series("odd", [dt.timedelta(seconds=3), None]), "Duration"),
    ("binary", pl.Series("odd", [b"\x00\xff", None]), "Binary"),
    ("nested duration", pl.Series("odd", [[dt.timedelta(1)], None]), "Duration"),
    ("struct of binary", pl.Series("odd", [{"b": b"x"}, None]), "Binary"),
]
OBJECT_FIELDS = [
    ("contacts", {"embedded_data": ["odd", "n"]}, "embedded_data"),
    ("transactions", {"transaction_data": ["odd", "n"]}, "transaction_data"),
    ("workflow", None, "event_payload"),  # the default payload: the whole row
]


@pytest.mark.parametrize(("label", "column", "dtype"), UNFAITHFUL, ids=[u[0] for u in UNFAITHFUL])
@pytest.mark.parametrize(("action", "mapping", "field"), OBJECT_FIELDS)
def test_a_value_with_no_faithful_json_form_makes_its_row_invalid_naming_column_and_type(
    label, column, dtype, action, mapping, field
):
    frame = pl.DataFrame({"email": ["a@b.com", "c@d.com"], "n": [1, 2]}).with_columns(column)
    result = prepared(frame, action, mapping)
    invalid = result.invalid.row(0, named=True)
    assert invalid["row"] == 0 and invalid["error_code"] == f"{field}_unsupported_type"
    assert '"odd (' in invalid["error_message"] and dtype in invalid["error_message"]
    assert "no faithful JSON form" in invalid["error_message"]
    # the row without a value under that key is sent, without the key
    assert result.valid["row"].to_list() == [1]
    body = json.loads(result.valid[field][0])
    assert "odd" not in body and body["n"] == 2


@pytest.mark.parametrize(
    ("column", "mapping", "message"),
    [
        (
            pl.Series("odd", [dt.timedelta(3)]),
            {"ext_ref": "odd"},
            r"field 'ext_ref' holds dtype Dur",
        ),
        (pl.Series("odd", [b"x"]), {"first_name": "odd"}, r"field 'first_name' holds dtype Binary"),
        (
            pl.Series("odd", [object()], dtype=pl.Object),
            {"embedded_data": ["odd"]},
            r"field 'embedded_data' \(its column 'odd'\) holds dtype Object",
        ),
    ],
)
def test_a_scalar_field_or_python_objects_of_such_a_type_are_a_config_error(
    column, mapping, message
):
    frame = pl.DataFrame({"email": ["a@b.com"]}).with_columns(column)
    with pytest.raises(qx.ConfigError, match=message) as info:
        prepared(frame, "contacts", mapping)
    assert "no faithful JSON form" in str(info.value)
    assert not isinstance(info.value.__cause__, pl.exceptions.PolarsError)


def test_a_python_object_column_in_the_default_payload_is_a_config_error():
    frame = pl.DataFrame({"n": [1]}).with_columns(pl.Series("o", [object()], dtype=pl.Object))
    with pytest.raises(qx.ConfigError, match=r"'event_payload' \(its column 'o'\).*Object"):
        prepared(frame, "workflow")


def test_rows_with_a_duration_are_invalid_and_not_sent(sb):
    frame = pl.DataFrame({"email": ["a@b.com", "c@d.com"], "wait": [dt.timedelta(minutes=2), None]})
    res = qx.upsert_contacts(
        frame, client=sb.client(), directory_id=sb.directory_id, mapping={"embedded_data": ["wait"]}
    )
    assert res["status"].to_list() == ["invalid", "success"]
    assert res["error_code"][0] == "embedded_data_unsupported_type"
    assert "wait" in res["error_message"][0] and "Duration" in res["error_message"][0]
    assert sb.contacts()["email"].to_list() == ["c@d.com"]


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


def test_the_cli_reports_a_duration_value_as_an_invalid_row_without_a_traceback(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("QUALTRICS_API_TOKEN", "t" * 40)
    monkeypatch.setenv("QUALTRICS_BASE_URL", "http://127.0.0.1:9")
    source, out = tmp_path / "in.parquet", tmp_path / "out.csv"
    pl.DataFrame({"email": ["a@b.com"], "wait": [dt.timedelta(seconds=5)]}).write_parquet(source)
    status = cli.main(
        [
            "push", "contacts", str(source), "--directory-id", "POOL_1",
            "--map", "embedded_data=wait", "--out", str(out), "--no-progress",
        ]
    )  # fmt: skip
    printed = capsys.readouterr()
    assert status == 1 and "Traceback" not in printed.err + printed.out
    row = read_results(out).row(0, named=True)
    assert row["status"] == "invalid" and row["error_code"] == "embedded_data_unsupported_type"
    assert "Duration" in row["error_message"] and "wait" in row["error_message"]
