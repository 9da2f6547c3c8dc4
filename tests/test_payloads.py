"""Request bodies, mirroring Segment's tests (docs/qualtrics-api.md) where qxframe agrees with them
and pinning the places where it deliberately does better."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from qxframe._jsontext import compact_json
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

POOL = {"directory_id": "POOL_XXXX"}
TX = {"directory_id": "POOL_XXXX", "mailing_list_id": "CG_XXXX"}
HOOK = "https://testdc.qualtrics.com/workflow-trigger"
NOW = "2030-01-01 00:00:00"


def valid_rows(
    frame: pl.DataFrame, action: str, constants: dict[str, str], **kw: Any
) -> list[dict[str, Any]]:
    prepared = prepare(
        frame, action, mapping=kw.get("mapping"), constants=constants, allowed_origin=None
    )
    assert prepared.invalid.height == 0, prepared.invalid
    return list(prepared.valid.iter_rows(named=True))


# --- contacts (Segment addContactToXmd) -----------------------------------------------------

SEGMENT_TRAITS = pl.DataFrame(
    {
        "user_id": ["user_id_1"],
        "firstName": ["Jane"],
        "lastName": ["Doe"],
        "email": ["jane@example.com"],
        "phone": ["0005551234"],
        "language": ["en"],
        "region": ["region"],
    }
)


def test_default_contact_mapping_without_segments_invented_defaults() -> None:
    (row,) = valid_rows(SEGMENT_TRAITS, "contacts", POOL, mapping={"ext_ref": "user_id"})
    body = contact_body(row)
    segment = {
        "extRef": "user_id_1",
        "firstName": "Jane",
        "lastName": "Doe",
        "email": "jane@example.com",
        "phone": "0005551234",
        "unsubscribed": False,
        "language": "en",
    }
    # The one deliberate difference: Segment sends unsubscribed: false when the event lacks
    # it, which resubscribes people on a deduplicating directory. qxframe leaves it out.
    assert body == {k: v for k, v in segment.items() if k != "unsubscribed"}
    assert list(body) == ["firstName", "lastName", "email", "phone", "extRef", "language"]


def test_no_language_default_either() -> None:
    (row,) = valid_rows(SEGMENT_TRAITS.drop("language"), "contacts", POOL)
    assert "language" not in contact_body(row)


def test_unsubscribed_is_sent_when_the_row_says_so() -> None:
    frame = pl.DataFrame({"email": ["a@b.com", "c@d.org"], "unsubscribed": ["false", "1"]})
    bodies = [contact_body(r) for r in valid_rows(frame, "contacts", POOL)]
    assert [b["unsubscribed"] for b in bodies] == [False, True]


def test_embedded_data_mapping() -> None:
    (row,) = valid_rows(
        SEGMENT_TRAITS,
        "contacts",
        POOL,
        mapping={"ext_ref": "user_id", "embedded_data": ["region"]},
    )
    assert contact_body(row)["embeddedData"] == {"region": "region"}


def test_required_fields_snapshot_is_an_empty_body() -> None:
    # Segment's "required fields" snapshot: only directoryId mapped, body {}.
    assert contact_body({"directory_id": "POOL_XXXX"}) == {}
    assert compact_json(contact_body({})) == "{}"


def test_embedded_values_keep_their_types_and_nested_values_become_json_text() -> None:
    frame = pl.DataFrame(
        {
            "email": ["a@b.com"],
            "s": ["x"],
            "i": [3],
            "f": [1.5],
            "b": [True],
            "nothing": [None],
            "d": [dt.date(2024, 1, 2)],
            "t": [dt.datetime(2024, 1, 2, 3, 4, 5)],
            "tz": [dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("Europe/Paris"))],
            "l": [[1, None, 2]],
            "st": [{"a": 1, "b": None}],
        }
    )
    (row,) = valid_rows(
        frame,
        "contacts",
        POOL,
        mapping={"embedded_data": [c for c in frame.columns if c != "email"]},
    )
    assert contact_body(row)["embeddedData"] == {
        "s": "x",
        "i": 3,
        "f": 1.5,
        "b": True,
        "d": "2024-01-02",
        "t": "2024-01-02T03:04:05",
        "tz": "2024-01-02T03:04:05+01:00",
        "l": "[1,2]",
        "st": '{"a":1}',
    }


# --- search (Segment upsertContactTransaction lookup) ----------------------------------------

FILTER_BODY = {
    "filter": {
        "conjunction": "and",
        "filters": [
            {"filterType": "extRef", "comparison": "eq", "value": "user_id_1"},
            {"filterType": "phone", "comparison": "eq", "value": "0005551234"},
            {"filterType": "email", "comparison": "eq", "value": "jane@example.com"},
        ],
    }
}


def test_filter_body_order_is_ext_ref_phone_email() -> None:
    row = {"email": "Jane@Example.com ", "ext_ref": "user_id_1", "phone": "0005551234"}
    key = lookup_key(row)
    assert key == ("user_id_1", "0005551234", "jane@example.com")
    assert search_body(key) == FILTER_BODY
    assert json.dumps(search_body(key)) == json.dumps(FILTER_BODY)  # key order too


def test_single_filter_search_body() -> None:
    key = lookup_key({"ext_ref": "user_id_1", "email": None, "phone": ""})
    assert search_body(key) == {
        "filter": {"filterType": "extRef", "comparison": "eq", "value": "user_id_1"}
    }


def test_lookup_key_absent_when_nothing_identifies() -> None:
    assert lookup_key({"ext_ref": " ", "email": None}) is None
    with pytest.raises(ValueError):
        search_body((None, None, None))


# --- transactions ----------------------------------------------------------------------------


def test_transaction_entry_with_contact_id() -> None:
    frame = pl.DataFrame(
        {
            "contact_id": ["CID_XXXX"],
            "transaction_date": ["2021-02-01T00:00:00Z"],
            "transaction_data": ['{"Key":"Value"}'],
        }
    )
    (row,) = valid_rows(frame, "transactions", TX)
    entry = transaction_entry(row, contact_id=row["contact_id"], default_date=NOW)
    assert entry == {
        "contactId": "CID_XXXX",
        "mailingListId": "CG_XXXX",
        "transactionDate": "2021-02-01 00:00:00",
        "data": {"Key": "Value"},
    }
    assert list(entry) == ["contactId", "mailingListId", "transactionDate", "data"]


def test_transaction_entry_without_contact_or_data_or_date() -> None:
    frame = pl.DataFrame({"ext_ref": ["user_id_1"]})
    (row,) = valid_rows(frame, "transactions", TX)
    assert transaction_entry(row, contact_id=None, default_date=NOW) == {
        "mailingListId": "CG_XXXX",
        "transactionDate": NOW,
        "data": {},
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01 10:00:00", "2024-01-01 10:00:00"),  # naive string: taken as UTC
        ("2024-01-01T10:00:00", "2024-01-01 10:00:00"),
        ("2024-01-01T12:00:00+02:00", "2024-01-01 10:00:00"),
        ("2024-01-01T05:00:00.250-0500", "2024-01-01 10:00:00"),
        ("2024-01-01T10:00:00Z", "2024-01-01 10:00:00"),
        ("2024-01-01T10:00", "2024-01-01 10:00:00"),
        ("2021-02-01", "2021-02-01 00:00:00"),
        ("1612137600000", "2021-02-01 00:00:00"),  # epoch ms as text (CSV)
        (1612137600000, "2021-02-01 00:00:00"),  # epoch ms
        (1612137600000.9, "2021-02-01 00:00:00"),
        (dt.datetime(2024, 1, 1, 10), "2024-01-01 10:00:00"),  # naive: UTC
        (dt.datetime(2024, 1, 1, 11, tzinfo=ZoneInfo("Europe/Paris")), "2024-01-01 10:00:00"),
        (dt.date(2024, 1, 1), "2024-01-01 00:00:00"),
    ],
)
def test_transaction_date_rendering(value: object, expected: str) -> None:
    frame = pl.DataFrame({"ext_ref": ["u"], "transaction_date": [value]})
    (row,) = valid_rows(frame, "transactions", TX)
    assert transaction_entry(row, contact_id=None, default_date=NOW)["transactionDate"] == expected


@pytest.mark.parametrize("value", ["garbage", "2024-13-01", "01/02/2024", 10**18])
def test_unparseable_date_is_invalid_not_now(value: object) -> None:
    frame = pl.DataFrame({"ext_ref": ["u"], "transaction_date": [value]})
    prepared = prepare(frame, "transactions", mapping=None, constants=TX, allowed_origin=None)
    assert prepared.valid.height == 0
    assert prepared.invalid["error_code"].to_list() == ["transaction_date_unparseable"]


def test_nested_transaction_data_is_stringified_per_key_not_whole() -> None:
    frame = pl.DataFrame(
        {
            "ext_ref": ["u"],
            "sku": ["X1"],
            "price": [9.5],
            "tags": [["a", "b"]],
            "meta": [{"k": "v"}],
        }
    )
    (row,) = valid_rows(
        frame, "transactions", TX, mapping={"transaction_data": ["sku", "price", "tags", "meta"]}
    )
    data = transaction_entry(row, contact_id=None, default_date=NOW)["data"]
    # Segment's bug would put JSON.stringify(the whole object) under "tags" and "meta".
    assert data == {"sku": "X1", "price": 9.5, "tags": '["a","b"]', "meta": '{"k":"v"}'}


# --- workflows -------------------------------------------------------------------------------


def test_workflow_custom_mapping_keeps_nested_structure() -> None:
    frame = pl.DataFrame({"traits": [{"firstName": "Jane", "age": None}], "x": [1]})
    (row,) = valid_rows(
        frame,
        "workflow",
        {"workflow_url": HOOK},
        mapping={"event_payload": pl.struct(pl.col("traits"))},
    )
    assert workflow_body(row) == {"traits": {"firstName": "Jane"}}


def test_workflow_default_payload_is_the_row_without_nulls() -> None:
    frame = pl.DataFrame(
        {
            "event": ["signup"],
            "userId": ["u1"],
            "n": [None],
            "at": [dt.datetime(2024, 1, 2, 3, 4, 5)],
            "props": [[1, 2]],
        }
    )
    (row,) = valid_rows(frame, "workflow", {"workflow_url": HOOK})
    assert workflow_body(row) == {
        "event": "signup",
        "userId": "u1",
        "at": "2024-01-02T03:04:05",
        "props": [1, 2],
    }
    assert workflow_body({"workflow_url": HOOK}) == {}


# --- column builders equal the row builders ------------------------------------------------


def test_column_builders_match_row_builders_byte_for_byte() -> None:
    frame = pl.DataFrame(
        {
            "ext_ref": ["u1", None, 'u"3'],
            "email": ["a@b.com", "c@d.org", None],
            "phone": [None, "0001", "\n5"],
            "first_name": ["Zoë", "李", "🙂\t"],
            "unsubscribed": ["1", None, "false"],
            "score": [1e-05, None, 1e16],
            "contact_id": ["CID_1", None, None],
            "transaction_date": [None, "2024-01-01", None],
        }
    )
    mapping = {"embedded_data": ["score"], "transaction_data": ["score", "first_name"]}
    for action, constants, build in (
        ("contacts", POOL, lambda r: contact_body(r)),
        (
            "transactions",
            TX,
            lambda r: transaction_entry(r, contact_id=r["contact_id"], default_date=NOW),
        ),
    ):
        valid = prepare(
            frame,
            action,
            mapping={"embedded_data": ["score"]} if action == "contacts" else mapping,
            constants=constants,
            allowed_origin=None,
        ).valid
        column = (
            contact_bodies(valid)
            if action == "contacts"
            else transaction_entries(valid, default_date=NOW)
        )
        assert column.to_list() == [compact_json(build(r)) for r in valid.iter_rows(named=True)]


def test_workflow_bodies_match_workflow_body() -> None:
    frame = pl.DataFrame({"event": ["a", None], "v": [1.5, None]})
    valid = prepare(
        frame, "workflow", mapping=None, constants={"workflow_url": HOOK}, allowed_origin=None
    ).valid
    expected = [compact_json(workflow_body(r)) for r in valid.iter_rows(named=True)]
    assert workflow_bodies(valid).to_list() == expected == ['{"event":"a","v":1.5}', "{}"]


def test_compact_json_is_the_exact_bytes_form() -> None:
    assert compact_json({"a": "é", "b": [1, 2.5, None]}) == '{"a":"é","b":[1,2.5,null]}'
    with pytest.raises(ValueError):
        compact_json({"x": float("nan")})


def test_lookup_key_trims_what_normalisation_trims():
    # polars' strip_chars keeps U+001C-U+001F (Python's str.strip does not): a phone that
    # passed validation as present must be present in the lookup key too
    assert lookup_key({"phone": "\x1c"}) == (None, "\x1c", None)
    assert lookup_key({"ext_ref": "\u3000u1\x85", "email": " A@B.org "}) == ("u1", None, "a@b.org")
