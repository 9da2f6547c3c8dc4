"""The mapping rules (README, "Mapping: where each field comes from"): mapping, then
snake_case, then camelCase; constants win."""

from __future__ import annotations

import polars as pl
import pytest

from qxframe._mapping import resolve
from qxframe.exceptions import ConfigError, MappingError

ROWS = pl.DataFrame(
    {
        "extRef": ["u1", "u2"],
        "email": ["a@b.com", "c@d.org"],
        "mail": ["A@B.COM", "C@D.ORG"],
        "firstName": ["Ann", "Bo"],
        "first_name": ["Anne", "Bob"],
        "plan": ["gold", None],
        "region": ["eu", "us"],
    }
)


def test_snake_case_then_camel_case_columns() -> None:
    out = resolve(ROWS, "contacts", None, {"directory_id": "POOL_1"})
    assert out.columns == ["directory_id", "ext_ref", "email", "first_name"]
    assert out["ext_ref"].to_list() == ["u1", "u2"]  # from the camelCase column
    assert out["first_name"].to_list() == ["Anne", "Bob"]  # snake_case wins over camelCase


def test_columns_are_exactly_the_present_fields_in_catalogue_order() -> None:
    frame = pl.DataFrame({"phone": ["1"], "unrelated": [1], "directory_id": ["POOL_1"]})
    assert resolve(frame, "contacts", None, {}).columns == ["directory_id", "phone"]


def test_mapping_by_column_expression_and_list() -> None:
    mapping = {
        "email": "mail",
        "language": pl.lit("EN"),
        "last_name": pl.col("first_name").str.to_uppercase(),
        "embedded_data": ["plan", "region"],
    }
    out = resolve(ROWS, "contacts", mapping, {"directory_id": "POOL_1"})
    assert out["email"].to_list() == ["A@B.COM", "C@D.ORG"]
    assert out["language"].to_list() == ["EN", "EN"]
    assert out["last_name"].to_list() == ["ANNE", "BOB"]
    assert out["embedded_data"].to_list() == [
        {"plan": "gold", "region": "eu"},
        {"plan": None, "region": "us"},
    ]


def test_a_constant_wins_over_a_column_of_the_same_name() -> None:
    frame = ROWS.with_columns(directory_id=pl.lit("POOL_column"), directoryId=pl.lit("POOL_c"))
    out = resolve(frame, "contacts", None, {"directory_id": "POOL_kw", "mailing_list_id": None})
    assert out["directory_id"].to_list() == ["POOL_kw", "POOL_kw"]


def test_a_none_constant_means_not_given() -> None:
    frame = ROWS.with_columns(directory_id=pl.lit("POOL_column"))
    out = resolve(frame, "contacts", None, {"directory_id": None})
    assert out["directory_id"].to_list() == ["POOL_column", "POOL_column"]


def test_a_constant_and_a_mapping_for_the_same_field_conflict() -> None:
    with pytest.raises(ConfigError, match="both as a keyword and in mapping"):
        resolve(ROWS, "contacts", {"directory_id": "plan"}, {"directory_id": "POOL_1"})


def test_constants_only_for_destination_fields_and_as_text() -> None:
    with pytest.raises(ConfigError, match="email cannot be given as a constant"):
        resolve(ROWS, "contacts", None, {"email": "x@y.com"})
    with pytest.raises(ConfigError, match=r"workflow_url.*not a field of contacts"):
        resolve(ROWS, "contacts", None, {"workflow_url": "https://x.qualtrics.com/"})
    with pytest.raises(ConfigError, match="must be text"):
        resolve(ROWS, "contacts", None, {"directory_id": 7})  # type: ignore[dict-item]


def test_a_mapping_naming_a_missing_column_is_a_mapping_error() -> None:
    with pytest.raises(MappingError) as info:
        resolve(ROWS, "contacts", {"email": "e_mail"}, {"directory_id": "POOL_1"})
    text = str(info.value)
    assert "'e_mail'" in text and "'email'" in text and "'mail'" in text  # column, field, columns
    assert text.endswith("fix the name there or rename the column")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    "source",
    [["plan", "tier"], pl.col("tier").str.to_uppercase()],
)
def test_lists_and_expressions_naming_missing_columns(source: object) -> None:
    with pytest.raises(MappingError, match="'tier'"):
        resolve(ROWS, "contacts", {"embedded_data": source}, {"directory_id": "POOL_1"})  # type: ignore[dict-item]


def test_unknown_field_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"'mobile' is not a field of contacts.*ext_ref, email"):
        resolve(ROWS, "contacts", {"mobile": "mail"}, {})
    with pytest.raises(ConfigError, match="did you mean 'ext_ref'"):
        resolve(ROWS, "contacts", {"extRef": "mail"}, {})


def test_bad_sources() -> None:
    with pytest.raises(ConfigError, match="give a column name or a polars expression"):
        resolve(ROWS, "contacts", {"email": ["mail"]}, {})
    with pytest.raises(ConfigError, match="must list column names"):
        resolve(ROWS, "contacts", {"embedded_data": []}, {})
    with pytest.raises(ConfigError, match="mapping must be a dict"):
        resolve(ROWS, "contacts", [("email", "mail")], {})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown action"):
        resolve(ROWS, "segments", None, {})


def test_an_expression_that_does_not_give_one_value_per_row() -> None:
    with pytest.raises(ConfigError, match="expression mapped to 'email' failed"):
        resolve(ROWS, "contacts", {"email": pl.col("mail").head(1).append(pl.col("mail"))}, {})


def test_object_field_from_struct_or_json_text_column() -> None:
    frame = pl.DataFrame({"embeddedData": ['{"a": 1}'], "transaction_data": [{"sku": "X"}]})
    out = resolve(frame, "transactions", None, {})
    assert out["embedded_data"].to_list() == ['{"a": 1}']
    assert out["transaction_data"].to_list() == [{"sku": "X"}]


def test_event_payload_defaults_to_the_row_less_the_url_column() -> None:
    frame = pl.DataFrame({"event": ["signup"], "hook": ["https://x.qualtrics.com/h"], "n": [1]})
    out = resolve(frame, "workflow", {"workflow_url": "hook"}, {})
    assert out.columns == ["workflow_url", "event_payload"]
    assert out["event_payload"].to_list() == [{"event": "signup", "n": 1}]
    by_expr = resolve(frame, "workflow", {"workflow_url": pl.col("hook").str.strip_chars()}, {})
    assert by_expr["event_payload"].to_list() == [{"event": "signup", "n": 1}]
    renamed = frame.rename({"hook": "workflowUrl"})
    assert resolve(renamed, "workflow", None, {})["event_payload"].to_list() == [
        {"event": "signup", "n": 1}
    ]


def test_event_payload_with_a_url_constant_is_the_whole_row() -> None:
    frame = pl.DataFrame({"event": ["signup"], "workflow_url": ["ignored"]})
    out = resolve(frame, "workflow", None, {"workflow_url": "https://x.qualtrics.com/h"})
    assert out["event_payload"].to_list() == [{"event": "signup", "workflow_url": "ignored"}]


def test_event_payload_from_a_list_of_columns() -> None:
    frame = pl.DataFrame({"event": ["signup"], "user_id": ["u1"], "secret": ["x"]})
    out = resolve(frame, "workflow", {"event_payload": ["event", "user_id"]}, {})
    assert out["event_payload"].to_list() == [{"event": "signup", "user_id": "u1"}]


def test_an_empty_result_keeps_the_row_count() -> None:
    out = resolve(pl.DataFrame({"x": [1, 2, 3]}), "contacts", None, {})
    assert out.shape == (3, 0)
