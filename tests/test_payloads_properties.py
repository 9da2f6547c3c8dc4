"""Properties over any frame of mixed types and nulls: every row lands in exactly one of
valid/invalid, and every body is JSON with no null anywhere, identical whether built row by
row or column-wise."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qxframe._digests import fields_of_frame, fields_of_many
from qxframe._jsontext import compact_json, value_text
from qxframe._payloads import (
    contact_bodies,
    contact_body,
    lookup_key,
    search_body,
    transaction_entries,
    transaction_entry,
    workflow_bodies,
    workflow_body,
)
from qxframe._prepare import prepare

NOW = "2030-01-01 00:00:00"
PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TEXT = st.text(max_size=12) | st.sampled_from(
    [
        "a@b.com",
        "bob@",
        " ",
        "0",
        "yes",
        "TRUE",
        "2024-01-02T03:04:05+02:00",
        "1706781600000",
        '{"k":[1,null]}',
        "[1]",
    ]
)
KINDS: dict[str, tuple[pl.DataType, st.SearchStrategy[Any]]] = {
    "text": (pl.String(), TEXT),
    "int": (pl.Int64(), st.integers(-(2**63), 2**63 - 1) | st.sampled_from([0, 1])),
    "float": (pl.Float64(), st.floats() | st.sampled_from([1e-05, 1e16, 0.0, -0.0])),
    "bool": (pl.Boolean(), st.booleans()),
    "date": (pl.Date(), st.dates()),
    "datetime": (pl.Datetime("us"), st.datetimes(min_value=dt.datetime(1, 1, 2))),
    "decimal": (
        pl.Decimal(38, 2),
        st.decimals(-(10**30), 10**30, places=2, allow_nan=False, allow_infinity=False),
    ),
    "time": (pl.Time(), st.times()),
    "duration": (
        pl.Duration("us"),
        st.timedeltas(dt.timedelta(days=-(10**5)), dt.timedelta(days=10**5)),
    ),
    "binary": (pl.Binary(), st.binary(max_size=4)),
    "list": (pl.List(pl.Int64), st.lists(st.integers(-9, 9) | st.none(), max_size=3)),
    "decimals": (
        pl.List(pl.Decimal(20, 3)),
        st.lists(st.decimals(-(10**9), 10**9, places=3, allow_nan=False) | st.none(), max_size=3),
    ),
    "struct": (
        pl.Struct({"a": pl.String, "b": pl.Float64}),
        st.fixed_dictionaries({"a": TEXT | st.none(), "b": st.floats() | st.none()}),
    ),
}
SCALAR = ["text", "int", "float", "bool"]
FIELD_KINDS = {
    "ext_ref": [*SCALAR, "decimal"],
    "email": ["text"],
    "phone": SCALAR,
    "first_name": SCALAR,
    "language": ["text"],
    "unsubscribed": ["text", "int", "bool", "float"],
    "contact_id": ["text"],
    "transaction_date": ["text", "int", "float", "date", "datetime"],
}


@st.composite
def frames(draw: st.DrawFn, fields: list[str]) -> pl.DataFrame:
    height = draw(st.integers(0, 6))
    names = draw(st.lists(st.sampled_from(fields), unique=True)) if fields else []
    extras = draw(st.lists(st.sampled_from(list(KINDS)), max_size=4))
    columns = [(name, draw(st.sampled_from(FIELD_KINDS[name]))) for name in names]
    columns += [(f"x{i}_{kind}", kind) for i, kind in enumerate(extras)]
    series = []
    for name, kind in columns:
        dtype, values = KINDS[kind]
        cells = draw(st.lists(values | st.none(), min_size=height, max_size=height))
        series.append(pl.Series(name, cells, dtype=dtype))
    return pl.DataFrame(series, height=height) if series else pl.DataFrame(height=height)


def check_decimals(frame: pl.DataFrame, rows: list[dict], texts: list[str], key: str) -> None:
    """Each Decimal(38, 2) value of an extra column is sent under ``key`` as its exact text."""
    for row, text in zip(rows, texts, strict=True):
        sent = json.loads(text).get(key) or {}
        for column in extras(frame):
            value = frame[column][row["row"]]
            if frame.schema[column] == pl.Decimal(38, 2) and value is not None:
                assert sent[column] == f"{value:.2f}"


def no_nulls(value: Any) -> bool:
    if isinstance(value, dict):
        return all(v is not None and no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(v is not None and no_nulls(v) for v in value)
    return value is not None


def check_partition(frame: pl.DataFrame, prepared: Any) -> None:
    rows = prepared.valid["row"].to_list() + prepared.invalid["row"].to_list()
    assert sorted(rows) == list(range(frame.height))
    unfaithful = [c for c in frame.columns if frame.schema[c] in (pl.Duration("us"), pl.Binary())]
    if unfaithful:  # a row holding such a value is never sent
        holding = frame.with_row_index("i").filter(
            pl.any_horizontal(pl.col(unfaithful).is_not_null())
        )
        assert set(holding["i"].to_list()).isdisjoint(prepared.valid["row"].to_list())
    assert prepared.invalid["error_code"].null_count() == 0
    assert prepared.invalid["error_message"].null_count() == 0


def extras(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("x")]


@PROPS
@given(frames(["ext_ref", "email", "phone", "first_name", "language", "unsubscribed"]))
def test_contacts(frame: pl.DataFrame) -> None:
    mapping = {"embedded_data": extras(frame)} if extras(frame) else None
    prepared = prepare(
        frame,
        "contacts",
        mapping=mapping,
        constants={"directory_id": "POOL_1"},
        allowed_origin=None,
    )
    check_partition(frame, prepared)
    rows = list(prepared.valid.iter_rows(named=True))
    texts = [compact_json(contact_body(r)) for r in rows]
    assert contact_bodies(prepared.valid).to_list() == texts
    # a journal's per-field digests, column-wise, are those of the bodies' texts
    assert fields_of_frame(prepared.valid) == fields_of_many(texts)
    check_decimals(frame, rows, texts, "embeddedData")
    for text in texts:
        assert no_nulls(json.loads(text))
    for row in rows:
        key = lookup_key(row)
        assert key is not None  # valid contacts always identify someone
        assert no_nulls(search_body(key))


@PROPS
@given(frames(["ext_ref", "email", "phone", "contact_id", "transaction_date"]))
def test_transactions(frame: pl.DataFrame) -> None:
    mapping = {"transaction_data": extras(frame)} if extras(frame) else None
    prepared = prepare(
        frame,
        "transactions",
        mapping=mapping,
        constants={"directory_id": "POOL_1", "mailing_list_id": "CG_1"},
        allowed_origin=None,
    )
    check_partition(frame, prepared)
    rows = list(prepared.valid.iter_rows(named=True))
    texts = [
        compact_json(transaction_entry(r, contact_id=r.get("contact_id"), default_date=NOW))
        for r in rows
    ]
    assert transaction_entries(prepared.valid, default_date=NOW).to_list() == texts
    check_decimals(frame, rows, texts, "data")
    for text in texts:
        entry = json.loads(text)
        assert no_nulls(entry) and isinstance(entry["data"], dict)
        assert len(entry["transactionDate"]) == 19


@PROPS
@given(frames([]))
def test_workflow_default_payload(frame: pl.DataFrame) -> None:
    prepared = prepare(
        frame,
        "workflow",
        mapping=None,
        constants={"workflow_url": "https://x.qualtrics.com/h"},
        allowed_origin=None,
    )
    check_partition(frame, prepared)
    texts = [compact_json(workflow_body(r)) for r in prepared.valid.iter_rows(named=True)]
    assert workflow_bodies(prepared.valid).to_list() == texts
    for text in texts:
        assert no_nulls(json.loads(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text() | st.none(), max_size=20))
def test_string_escaping_matches_python_json(values: list[str | None]) -> None:
    series = pl.Series("v", values, dtype=pl.String)
    rendered = series.to_frame().select(value_text(pl.col("v"), pl.String())).to_series()
    expected = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
    assert rendered.to_list() == expected


RESULT_PROPS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@RESULT_PROPS
@given(frames(["ext_ref", "email", "phone", "first_name", "unsubscribed"]))
def test_every_row_is_in_the_results_once_in_order_dry_run_and_sent(frame: pl.DataFrame) -> None:
    import qxframe as qx

    mapping = {"embedded_data": extras(frame)} if extras(frame) else None
    sb = qx.Sandbox(seed=0)
    for dry_run in (True, False):
        res = qx.upsert_contacts(
            frame,
            client=sb.client(),
            directory_id=sb.plain_directory_id,
            mapping=mapping,
            dry_run=dry_run,
            progress=False,
        )
        assert res["row"].to_list() == list(range(frame.height))
        assert res.columns[:3] == ["row", "status", "http_status"]
        expected = {"dry_run", "invalid"} if dry_run else {"success", "invalid"}
        assert set(res["status"]) <= expected
    sent = res.filter(pl.col("status") == "success").height
    assert sb.contacts().height == sent
