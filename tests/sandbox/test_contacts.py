"""Contact create: body validation and deduplication per directory (in-process)."""

from __future__ import annotations

import json

import pytest


def _partners(api, ok) -> str:
    elements = ok(api.get("/API/v3/directories"))["elements"]
    return next(d["directoryId"] for d in elements if d["name"] == "Partners")


def test_create_returns_a_contact_id_and_stores_every_field(api, ok):
    body = {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "phone": "0005551234",
        "extRef": "u1",
        "language": "EN",
        "unsubscribed": False,
        "embeddedData": {"tier": "gold", "visits": 3, "vip": True, "score": 1.5},
    }
    contact_id = ok(api.post(api.contacts(), json=body))["id"]
    assert contact_id.startswith("CID_")
    row = api.sb.contacts().row(0, named=True)
    assert row["contact_id"] == contact_id and row["directory_id"] == api.sb.directory_id
    assert (
        row["first_name"],
        row["last_name"],
        row["email"],
        row["phone"],
        row["ext_ref"],
        row["language"],
        row["unsubscribed"],
    ) == ("Ada", "Lovelace", "ada@example.com", "0005551234", "u1", "EN", False)
    assert json.loads(row["embedded_data"]) == body["embeddedData"]
    assert row["created_at"] is not None


def test_absent_fields_stay_absent(api, ok):
    ok(api.post(api.contacts(), json={"extRef": "only"}))
    row = api.sb.contacts().row(0, named=True)
    assert row["email"] is None and row["language"] is None and row["unsubscribed"] is None
    assert row["embedded_data"] == "{}"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"email": "a@example.com", "contactLookupId": "x"},
            "Unexpected json key provided: contactLookupId",
        ),
        ({"email": 5}, "email"),
        ({"email": None}, "email"),
        ({"unsubscribed": "no"}, "unsubscribed"),
        ({"embeddedData": ["a"]}, "embeddedData"),
        ({"embeddedData": {"nested": {"a": 1}}}, "embeddedData"),
        ({"embeddedData": {"gone": None}}, "embeddedData"),
    ],
)
def test_bad_bodies_are_400(api, err, body, fragment):
    assert fragment in err(api.post(api.contacts(), json=body), 400)["errorMessage"]
    assert api.sb.contacts().is_empty()


def test_non_object_and_non_json_bodies_are_400(api, err):
    err(api.post(api.contacts(), json=["a"]), 400)
    err(api.post(api.contacts(), content=b"{not json"), 400)


def test_dedup_merges_on_email_case_insensitively_and_trimmed(api, ok):
    first = ok(
        api.post(
            api.contacts(),
            json={"email": "Ada@Example.com", "firstName": "Ada", "embeddedData": {"a": 1, "b": 2}},
        )
    )
    second = ok(
        api.post(
            api.contacts(),
            json={"email": "  ada@EXAMPLE.com ", "lastName": "L", "embeddedData": {"b": 3, "c": 4}},
        )
    )
    assert first["id"] == second["id"]
    frame = api.sb.contacts()
    assert frame.height == 1
    row = frame.row(0, named=True)
    assert row["first_name"] == "Ada" and row["last_name"] == "L"  # merged, not replaced
    assert json.loads(row["embedded_data"]) == {"a": 1, "b": 3, "c": 4}


def test_dedup_needs_the_criteria_field_in_the_body(api, ok):
    ok(api.post(api.contacts(), json={"email": "ada@example.com", "extRef": "u1"}))
    ok(api.post(api.contacts(), json={"extRef": "u1"}))  # no email: Customers cannot merge
    ok(api.post(api.contacts(), json={"email": "other@example.com"}))
    assert api.sb.contacts().height == 3


def test_the_plain_directory_always_creates(api, ok):
    path = api.contacts(api.sb.plain_directory_id)
    ids = {
        ok(api.post(path, json={"email": "ada@example.com", "extRef": "u1"}))["id"]
        for _ in range(3)
    }
    assert len(ids) == 3
    assert api.sb.contacts()["directory_id"].to_list() == [api.sb.plain_directory_id] * 3


def test_partners_merge_only_when_ext_ref_and_email_both_match(api, ok):
    path = api.contacts(_partners(api, ok))
    base = ok(api.post(path, json={"extRef": "P1", "email": "p@example.com"}))["id"]
    assert ok(api.post(path, json={"extRef": "p1 ", "email": "P@example.com"}))["id"] == base
    assert ok(api.post(path, json={"extRef": "P1", "email": "q@example.com"}))["id"] != base
    assert ok(api.post(path, json={"extRef": "P2", "email": "p@example.com"}))["id"] != base
    assert ok(api.post(path, json={"email": "p@example.com"}))["id"] != base
    assert ok(api.post(path, json={"extRef": "P1"}))["id"] != base


def test_dedup_is_per_directory(api, ok):
    one = ok(api.post(api.contacts(), json={"email": "ada@example.com"}))["id"]
    two = ok(api.post(api.contacts(api.sb.plain_directory_id), json={"email": "ada@example.com"}))[
        "id"
    ]
    three = ok(api.post(api.contacts(), json={"email": "ada@example.com"}))["id"]
    assert one == three != two
