"""Conformance: directory contacts and mailing-list members (docs/qualtrics-api.md §5, §7).
Each test's docstring names the section whose fact it checks."""

from __future__ import annotations

import datetime as dt

FULL = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "Ada@Example.com",
    "phone": "0005551234",
    "extRef": "u1",
    "language": "EN",
    "unsubscribed": False,
    "embeddedData": {"tier": "gold", "visits": 3, "vip": True, "score": 1.5},
}
AS_STRINGS = {"tier": "gold", "visits": "3", "vip": "true", "score": "1.5"}
#: FULL as a list element shows it, besides contactId (§5, §7)
LISTED = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "Ada@Example.com",
    "phone": "0005551234",
    "extRef": "u1",
    "language": "EN",
    "unsubscribed": False,
}


def _recent(ms: int) -> bool:
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < 3600


def test_list_contacts_uses_contact_id_phone_and_ext_ref(api, ok):
    """§5: list elements say contactId/phone/extRef (not id/phoneNumber/…)."""
    contact_id = ok(api.post(api.contacts(), json=FULL))["id"]
    page = ok(api.get(api.contacts()))
    assert page["nextPage"] is None
    assert page["elements"] == [{"contactId": contact_id, **LISTED}]


def test_get_contact_shape_epoch_ms_and_strings(api, ok):
    """§5: get answers epoch-ms dates, embedded values as strings, emailDomain."""
    contact_id = ok(api.post(api.contacts(), json=FULL))["id"]
    got = ok(api.get(f"{api.contacts()}/{contact_id}"))
    assert set(got) == {
        "contactId",
        "creationDate",
        "lastModified",
        "firstName",
        "lastName",
        "email",
        "emailDomain",
        "phone",
        "extRef",
        "embeddedData",
        "language",
        "directoryUnsubscribed",
        "directoryUnsubscribeDate",
        "stats",
        "segmentMembership",
        "mailingListMembership",
    }
    assert got["contactId"] == contact_id and got["emailDomain"] == "example.com"
    assert (got["phone"], got["extRef"]) == ("0005551234", "u1")
    assert isinstance(got["creationDate"], int) and _recent(got["creationDate"])
    assert isinstance(got["lastModified"], int) and got["lastModified"] >= got["creationDate"]
    assert got["embeddedData"] == AS_STRINGS
    assert got["directoryUnsubscribed"] is False and got["mailingListMembership"] == {}


def test_every_read_gives_embedded_values_as_strings(api, ok):
    """§5: embedded data "will always be stored in the system as strings"."""
    api.member(FULL)
    contact_id = api.sb.contacts()["contact_id"][0]
    flt = {"filter": {"filterType": "extRef", "comparison": "eq", "value": "u1"}}
    reads = [
        ok(api.post(api.search(), json=flt, params={"includeEmbedded": "true"}))["elements"][0],
        ok(api.get(f"{api.contacts()}/{contact_id}")),
        ok(api.get(api.members()))["elements"][0],
        ok(api.get(f"{api.members()}/{contact_id}")),
    ]
    assert [r["embeddedData"] for r in reads] == [AS_STRINGS] * 4


def test_mailing_list_membership_on_get(api, ok):
    """§5: get carries ``mailingListMembership``: CG_ → {contactLookupId, name, …}."""
    contact_id, lookup_id = api.member({"email": "m@example.com"})
    got = ok(api.get(f"{api.contacts()}/{contact_id}"))
    assert got["mailingListMembership"] == {
        api.sb.mailing_list_id: {
            "contactLookupId": lookup_id,
            "name": "Newsletter",
            "unsubscribed": False,
            "unsubscribeDate": None,
            "ownerId": ok(api.get("/API/v3/whoami"))["userId"],
        }
    }


def test_update_contact_replaces_given_fields_and_merges_embedded(api, ok):
    """§5: PUT takes the create fields and answers ``meta`` only (§12: embedded merges)."""
    contact_id = ok(api.post(api.contacts(), json=FULL))["id"]
    path = f"{api.contacts()}/{contact_id}"
    answer = api.put(path, json={"lastName": "King", "embeddedData": {"tier": "platinum"}})
    assert answer.status_code == 200 and set(answer.json()) == {"meta"}
    got = ok(api.get(path))
    assert got["lastName"] == "King" and got["firstName"] == "Ada"
    assert got["embeddedData"] == {**AS_STRINGS, "tier": "platinum"}


def test_update_contact_refuses_unknown_keys(api, ok, err):
    """§5: an unknown JSON key is a 400 on writes."""
    contact_id = ok(api.post(api.contacts(), json={"email": "k@example.com"}))["id"]
    error = err(api.put(f"{api.contacts()}/{contact_id}", json={"phoneNumber": "1"}), 400)
    assert "Unexpected json key provided: phoneNumber" in error["errorMessage"]


def test_unsubscribe_sets_the_directory_unsubscribe_date(api, ok):
    """§5: ``directoryUnsubscribed`` with its ``directoryUnsubscribeDate`` in epoch ms."""
    contact_id = ok(api.post(api.contacts(), json={"email": "u@example.com"}))["id"]
    api.put(f"{api.contacts()}/{contact_id}", json={"unsubscribed": True})
    got = ok(api.get(f"{api.contacts()}/{contact_id}"))
    assert got["directoryUnsubscribed"] is True and _recent(got["directoryUnsubscribeDate"])


def test_delete_contact(api, ok, err):
    """§5: DELETE answers ``meta`` only; the contact is gone from every read."""
    contact_id = ok(api.post(api.contacts(), json={"email": "d@example.com"}))["id"]
    assert set(api.delete(f"{api.contacts()}/{contact_id}").json()) == {"meta"}
    err(api.get(f"{api.contacts()}/{contact_id}"), 404)
    assert ok(api.get(api.contacts()))["elements"] == [] and api.sb.contacts().is_empty()
    err(api.delete(f"{api.contacts()}/{contact_id}"), 404)


def test_a_contact_of_another_directory_is_404(api, ok, err):
    """§5: a contact id is looked up in the path's directory only."""
    contact_id = ok(api.post(api.contacts(), json={"email": "o@example.com"}))["id"]
    err(api.get(f"{api.contacts(api.sb.plain_directory_id)}/{contact_id}"), 404)


def test_list_members_shape(api, ok):
    """§7: member elements are contactId, the write names, unsubscribed, embeddedData."""
    contact_id, _ = api.member(FULL)
    page = ok(api.get(api.members()))
    assert page["nextPage"] is None
    assert page["elements"] == [{"contactId": contact_id, **LISTED, "embeddedData": AS_STRINGS}]
    assert ok(api.get(api.members(api.sb._store.directories[0].lists[1].mailing_list_id))) == {
        "elements": [],
        "nextPage": None,
    }


def test_get_member_shape(api, ok, err):
    """§7: a member's get adds mailingListUnsubscribed, contactLookupId, privateEmbeddedData."""
    contact_id, lookup_id = api.member(FULL)
    got = ok(api.get(f"{api.members()}/{contact_id}"))
    assert {
        "mailingListUnsubscribed",
        "mailingListUnsubscribeDate",
        "contactLookupId",
        "privateEmbeddedData",
    } <= set(got)
    assert "mailingListMembership" not in got
    assert got["contactLookupId"] == lookup_id and got["mailingListUnsubscribed"] is False
    outsider = ok(api.post(api.contacts(), json={"email": "out@example.com"}))["id"]
    err(api.get(f"{api.members()}/{outsider}"), 404)


def test_update_member_unsubscribes_from_the_list_only(api, ok):
    """§7: PUT on a member; its ``unsubscribed`` is the list's (§12), ``meta`` only."""
    contact_id, _ = api.member({"email": "l@example.com"})
    answer = api.put(f"{api.members()}/{contact_id}", json={"unsubscribed": True, "firstName": "L"})
    assert answer.status_code == 200 and set(answer.json()) == {"meta"}
    member = ok(api.get(f"{api.members()}/{contact_id}"))
    assert member["mailingListUnsubscribed"] is True and member["firstName"] == "L"
    assert member["directoryUnsubscribed"] is False
    membership = ok(api.get(f"{api.contacts()}/{contact_id}"))["mailingListMembership"]
    assert membership[api.sb.mailing_list_id]["unsubscribed"] is True


def test_delete_member_removes_from_the_list_only(api, ok, err):
    """§7: DELETE on a member takes it out of the list; it stays in the directory."""
    contact_id, lookup_id = api.member({"email": "r@example.com"})
    assert set(api.delete(f"{api.members()}/{contact_id}").json()) == {"meta"}
    assert ok(api.get(api.members()))["elements"] == []
    assert ok(api.get(f"{api.contacts()}/{contact_id}"))["mailingListMembership"] == {}
    err(api.get(f"{api.contacts()}/{lookup_id}"), 404)  # the lookup id went with it


def test_a_member_removed_or_never_added_is_404_on_member_paths(api, ok, err):
    """§7: member paths know members only: removing, reading or unsubscribing a contact
    that is not (or no longer) a member answers 404, so a second removal says so."""
    contact_id, _ = api.member({"email": "twice@example.com"})
    assert set(api.delete(f"{api.members()}/{contact_id}").json()) == {"meta"}
    err(api.delete(f"{api.members()}/{contact_id}"), 404)
    err(api.put(f"{api.members()}/{contact_id}", json={"unsubscribed": True}), 404)
    outsider = ok(api.post(api.contacts(), json={"email": "never@example.com"}))["id"]
    err(api.delete(f"{api.members()}/{outsider}"), 404)
    assert ok(api.get(f"{api.contacts()}/{outsider}"))["mailingListMembership"] == {}


def test_memberships_are_kept_in_order_of_joining(api):
    """§7: each membership has its own contactLookupId; rows come in order of joining."""
    second_list = api.sb._store.directories[0].lists[1].mailing_list_id
    first, lookup_a = api.member({"email": "a@example.com"})
    _, lookup_b = api.member({"email": "b@example.com"}, second_list)
    _, lookup_c = api.member({"email": "A@example.com"}, second_list)  # merges into first
    rows = api.sb._store.member_rows()
    assert [(r["mailing_list_id"], r["contact_lookup_id"]) for r in rows] == [
        (api.sb.mailing_list_id, lookup_a),
        (second_list, lookup_b),
        (second_list, lookup_c),
    ]
    assert rows[2]["contact_id"] == first and len({lookup_a, lookup_b, lookup_c}) == 3
