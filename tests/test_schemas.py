"""Validation (docs/architecture.md, "What is sent"): every rule, its stable code, and a
sentence a person can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl
import pytest

from qxframe import schemas
from qxframe._prepare import PROBLEM_SCHEMA, Prepared, check_constants, prepare
from qxframe.exceptions import ConfigError

POOL = {"directory_id": "POOL_abc123"}
TX = {"directory_id": "POOL_abc123", "mailing_list_id": "CG_list1"}
HOOK = "https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=tok"


def run(rows: dict[str, list[Any]] | pl.DataFrame, action: str = "contacts", **kw: Any) -> Prepared:
    frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows, strict=False)
    kw.setdefault(
        "constants", POOL if action == "contacts" else TX if action == "transactions" else {}
    )
    kw.setdefault("mapping", None)
    kw.setdefault("allowed_origin", None)
    return prepare(frame, action, **kw)


def only_failure(prepared: Prepared) -> tuple[str, str]:
    assert prepared.invalid.height == 1, prepared.invalid
    row = prepared.invalid.row(0, named=True)
    return row["error_code"], row["error_message"]


# --- contacts ----------------------------------------------------------------------------


def test_bad_email_is_invalid_with_a_quoted_sentence() -> None:
    prepared = run({"email": ["a@b.com", "bob@"]})
    assert only_failure(prepared) == (
        "email_format",
        'e-mail "bob@" is not a valid address; fix or remove it',
    )
    assert prepared.valid["row"].to_list() == [0]


def test_a_contact_needs_ext_ref_email_or_phone() -> None:
    prepared = run(
        {
            "ext_ref": [None, "u1", None, None],
            "email": [None, None, "a@b.co", None],
            "phone": [None, None, None, " 0005551234 "],
            "first_name": ["A"] * 4,
        }
    )
    code, text = only_failure(prepared)
    assert code == "missing_identity" and "ext_ref, email or phone" in text
    assert prepared.valid["phone"].to_list() == [None, None, "0005551234"]


@pytest.mark.parametrize("value", ["yes", "no", "maybe", "2", 2, 0.5])
def test_unsubscribed_must_be_a_boolean(value: object) -> None:
    code, text = only_failure(run({"email": ["a@b.com"], "unsubscribed": [value]}))
    assert code == "unsubscribed_not_boolean"
    assert f'unsubscribed "{value}" is not a boolean' in text and "true/false" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("TRUE", True),
        (" false ", False),
        ("1", True),
        ("0", False),
        (1, True),
        (0, False),
        (True, True),
        (False, False),
        (1.0, True),
        (None, None),
        ("", None),
    ],
)
def test_unsubscribed_accepted_spellings(value: object, expected: bool | None) -> None:
    prepared = run({"email": ["a@b.com"], "unsubscribed": [value]})
    assert prepared.invalid.height == 0
    assert prepared.valid.schema["unsubscribed"] == pl.Boolean
    assert prepared.valid["unsubscribed"].to_list() == [expected]


def test_directory_id_rules() -> None:
    frame = pl.DataFrame(
        {"directory_id": ["POOL_1", None, "oops", "POOL_x/../y"], "email": ["a@b.com"] * 4}
    )
    prepared = run(frame, constants={})
    assert prepared.invalid["error_code"].to_list() == [
        "directory_id_missing",
        "directory_id_format",
        "directory_id_format",
    ]
    assert (
        'directory_id "oops" is not a directory id (POOL_…)' in prepared.invalid["error_message"][1]
    )


def test_a_missing_destination_is_a_config_error_before_validation() -> None:
    with pytest.raises(ConfigError, match=r"pass directory_id=\.\.\. or give the frame"):
        run({"email": ["a@b.com"]}, constants={})


def test_embedded_data_limits_vectorised_path() -> None:
    long_key = "k" * 201
    frame = pl.DataFrame(
        {
            "email": ["a@b.com"] * 3,
            "note": ["ok", "x" * 1025, "y" * 1024],
            long_key: [None, None, None],
        }
    ).with_columns(pl.Series(long_key, [None, None, 1]))
    prepared = run(frame, mapping={"embedded_data": ["note", long_key]})
    assert prepared.invalid["error_code"].to_list() == [
        "embedded_data_value_too_long",
        "embedded_data_key_too_long",
    ]
    assert prepared.invalid["error_message"][0] == (
        'embedded_data "note" has a value longer than 1024 characters; shorten it or leave it out'
    )
    shown = '"' + "k" * 39 + '…"'  # the key, cut to 40 characters with an ellipsis
    assert prepared.invalid["error_message"][1] == (
        f"embedded_data key {shown} is longer than 200 characters; shorten it"
    )
    assert prepared.valid["embedded_data"].to_list() == ['{"note":"ok"}']


def test_embedded_data_from_json_text() -> None:
    texts = [
        '{"tier":"gold","tags":["a","b"],"gone":null}',
        "[1, 2]",
        "not json",
        '{"v":"' + "z" * 1025 + '"}',
        "{}",
        None,
    ]
    prepared = run(
        {"email": ["a@b.com"] * 6, "attributes": texts}, mapping={"embedded_data": "attributes"}
    )
    assert prepared.invalid["error_code"].to_list() == [
        "embedded_data_not_object",
        "embedded_data_not_object",
        "embedded_data_value_too_long",
    ]
    assert 'embedded_data "[1, 2]" is not a JSON object' in prepared.invalid["error_message"][0]
    long_key = run(
        {"email": ["a@b.com"], "attributes": ['{"' + "k" * 201 + '": 1}']},
        mapping={"embedded_data": "attributes"},
    )
    assert '"' + "k" * 39 + '…" is longer than 200' in long_key.invalid["error_message"][0]
    assert prepared.valid["embedded_data"].to_list() == [
        '{"tier":"gold","tags":"[\\"a\\",\\"b\\"]"}',
        None,
        None,
    ]


def test_a_non_object_column_for_an_object_field_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"embedded_data.*needs an object"):
        run({"email": ["a@b.com"], "embedded_data": [3]})


def test_several_failures_name_the_first_and_list_the_others() -> None:
    code, text = only_failure(run({"email": ["bob@"], "unsubscribed": ["yes"]}))
    assert code == "email_format"
    assert text.endswith("(also failing: unsubscribed_not_boolean)")


# --- transactions --------------------------------------------------------------------------


def test_transaction_rules() -> None:
    prepared = run(
        {
            "contact_id": ["CID_1", "123", None, None, None],
            "email": [None, None, None, "a@b.com", "a@b.com"],
            "transaction_date": ["2024-01-01", None, None, "garbage", "1706781600000"],
            "transaction_data": [None, None, None, None, "[]"],
        },
        action="transactions",
    )
    assert prepared.invalid.select("row", "error_code").rows() == [
        (1, "contact_id_format"),
        (2, "missing_identity"),
        (3, "transaction_date_unparseable"),
        (4, "transaction_data_not_object"),
    ]
    assert "contact_id, ext_ref, email or phone" in prepared.invalid["error_message"][1]
    assert prepared.invalid["error_message"][2] == (
        'transaction_date "garbage" is not a date; use ISO-8601 (2024-05-01T13:45:10Z), '
        "epoch milliseconds, or leave it empty for the push's start"
    )
    assert prepared.valid["transaction_date"].to_list() == ["2024-01-01 00:00:00"]


def test_mailing_list_rules() -> None:
    frame = pl.DataFrame({"mailing_list_id": [None, "list"], "email": ["a@b.com"] * 2})
    prepared = run(frame, action="transactions", constants={"directory_id": "POOL_1"})
    assert prepared.invalid["error_code"].to_list() == [
        "mailing_list_id_missing",
        "mailing_list_id_format",
    ]


# --- workflows ---------------------------------------------------------------------------


def test_workflow_url_rules() -> None:
    urls = [
        HOOK,
        None,
        "https://evil.example/hook?urlTokenId=secret",
        "http://127.0.0.1:8765/inbound-event/x",
    ]
    prepared = run({"workflow_url": urls, "event": ["e"] * 4}, action="workflow")
    assert prepared.invalid["error_code"].to_list() == [
        "workflow_url_missing",
        "workflow_url_not_allowed",
        "workflow_url_not_allowed",
    ]
    message = prepared.invalid["error_message"][1]
    assert "secret" not in message and "urlTokenId=***" in message
    allowed = run(
        {"workflow_url": urls[3:], "event": ["e"]},
        action="workflow",
        allowed_origin="http://127.0.0.1:8765",
    )
    assert allowed.invalid.height == 0


def test_workflow_body_limit_counts_utf8_bytes_of_compact_json() -> None:
    at_limit = "x" * (schemas.MAX_WORKFLOW_BYTES - len('{"k":""}'))
    over = "é" * ((schemas.MAX_WORKFLOW_BYTES - len('{"k":""}')) // 2 + 1)
    prepared = run({"k": [at_limit, over]}, action="workflow", constants={"workflow_url": HOOK})
    code, text = only_failure(prepared)
    assert code == "payload_too_large" and "102,402 bytes" in text
    assert prepared.valid["row"].to_list() == [0]


def test_event_payload_text_must_be_an_object() -> None:
    prepared = run(
        {"event_payload": ['{"a":{"b":[1,null]}}', "[1]"]},
        action="workflow",
        constants={"workflow_url": HOOK},
    )
    assert only_failure(prepared)[0] == "event_payload_not_object"
    assert prepared.valid["event_payload"].to_list() == ['{"a":{"b":[1]}}']


# --- constants ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "constants", "pattern"),
    [
        ("contacts", {"directory_id": "oops"}, 'directory_id "oops" is not a directory id'),
        ("contacts", {"directory_id": " "}, "directory_id is empty"),
        ("transactions", {"mailing_list_id": "POOL_1"}, "not a mailing list id"),
        ("workflow", {"workflow_url": "https://evil.example/x"}, "neither https on a"),
        ("workflow", {"workflow_url": "http://127.0.0.1:9/x"}, "neither https on a"),
        ("contacts", {"email": "a@b.com"}, "cannot be given as a constant"),
    ],
)
def test_check_constants_refuses_bad_settings(
    action: str, constants: dict[str, str], pattern: str
) -> None:
    with pytest.raises(ConfigError, match=pattern):
        check_constants(action, constants, None)


def test_check_constants_accepts_good_settings() -> None:
    check_constants("transactions", {**TX, "workflow_url": None}, None)  # type: ignore[dict-item]
    check_constants("workflow", {"workflow_url": "http://127.0.0.1:9/x"}, "http://127.0.0.1:9")
    check_constants("workflow", {"workflow_url": HOOK}, None)


# --- shape of the result -----------------------------------------------------------------


def test_empty_chunk_gives_two_empty_frames_with_schemas() -> None:
    prepared = run(pl.DataFrame({"email": []}, schema={"email": pl.String}))
    assert prepared.valid.schema == pl.Schema(
        {"row": pl.Int64, "directory_id": pl.String, "email": pl.String}
    )
    assert prepared.invalid.schema == pl.Schema(PROBLEM_SCHEMA)
    assert prepared.valid.height == prepared.invalid.height == 0


def test_rows_are_numbered_from_the_offset_and_partitioned() -> None:
    prepared = run({"email": ["a@b.com", "bad", None, "c@d.org"]}, row_offset=100)
    assert prepared.valid["row"].to_list() == [100, 103]
    assert prepared.invalid["row"].to_list() == [101, 102]
    assert prepared.valid.schema["row"] == pl.Int64


def test_public_schemas_and_rules() -> None:
    assert isinstance(schemas.contacts_schema, pa.DataFrameSchema)
    assert isinstance(schemas.transactions_schema, pa.DataFrameSchema)
    assert isinstance(schemas.workflow_schema, pa.DataFrameSchema)
    assert "_unsubscribed_not_boolean" in schemas.contacts_schema.columns
    good = pl.DataFrame({"directory_id": ["POOL_1"], "email": ["a@b.com"], "unsubscribed": [True]})
    schemas.contacts_schema.validate(good)
    for code in (
        "directory_id_missing",
        "email_format",
        "missing_identity",
        "transaction_data_value_too_long",
        "workflow_url_not_allowed",
        "payload_too_large",
    ):
        assert code in schemas.RULES


def test_validate_reports_every_problem_of_any_input(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("email,unsubscribed\nbob@,yes\nok@example.com,0\n,\n", encoding="utf-8")
    problems = schemas.validate(path, "contacts", constants=POOL)
    assert problems.select("row", "error_code").rows() == [
        (0, "email_format"),
        (0, "unsubscribed_not_boolean"),
        (2, "missing_identity"),
    ]
    assert (
        schemas.validate(pl.DataFrame({"email": ["a@b.com"]}), "contacts", constants=POOL).height
        == 0
    )
    with pytest.raises(ConfigError):
        schemas.validate(path, "contacts", constants={"directory_id": "oops"})


SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_sample_files_are_awkward_in_the_documented_ways() -> None:
    contacts = schemas.validate(
        SAMPLES / "contacts.csv",
        "contacts",
        mapping={"embedded_data": ["plan", "city", "signup_date", "attributes", "notes"]},
        constants=POOL,
    )
    assert set(contacts["error_code"]) == {
        "email_format",
        "missing_identity",
        "unsubscribed_not_boolean",
        "embedded_data_value_too_long",
    }
    transactions = schemas.validate(SAMPLES / "transactions.csv", "transactions", constants=TX)
    assert "transaction_date_unparseable" in set(transactions["error_code"])
    events = schemas.validate(
        SAMPLES / "workflow_events.csv",
        "workflow",
        mapping={"event_payload": "properties"},
        constants={"workflow_url": HOOK},
    )
    assert events["row"].to_list() == [7, 8]
