"""Mailing-list contact creates and transaction-contacts import jobs (in-process).

Conformance: each test's docstring cites the section of docs/qualtrics-api.md it checks.
"""

from __future__ import annotations

import pytest

from qxframe._sandbox import _ep_imports, _imports


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(api) -> Clock:
    fake = Clock()
    api.sb._imports.clock = fake
    return fake


def lists(api, directory_id=None) -> str:
    return f"/API/v3/directories/{directory_id or api.sb.directory_id}/mailinglists"


def members(api, ml=None) -> str:
    return f"{lists(api)}/{ml or api.sb.mailing_list_id}/contacts"


def jobs(api, directory_id=None, ml=None) -> str:
    d = directory_id or api.sb.directory_id
    return f"{lists(api, d)}/{ml or api.sb.mailing_list_id}/transactioncontacts"


def report(api, import_id: str, skip: str | None = None) -> str:
    path = f"/API/v3/directories/{api.sb.directory_id}/imports/api-import/jobs/{import_id}/report"
    return path if skip is None else f"{path}?skipToken={skip}"


def create(api, ok, contacts, **kw):
    return ok(api.post(jobs(api, **kw), json={"contacts": contacts}), 202)


# -- §7 mailing-list contacts ---------------------------------------------------------------


def test_a_list_contact_is_created_in_the_directory_and_the_list(api, ok):
    """docs/qualtrics-api.md §7: create answers {id, contactLookupId}; the contact is a
    directory contact and a member of the list."""
    result = ok(api.post(members(api), json={"email": "a@example.com", "firstName": "A"}))
    assert set(result) == {"id", "contactLookupId"}
    assert result["id"].startswith("CID_") and result["contactLookupId"]
    held = api.sb.contacts()
    assert held["contact_id"].to_list() == [result["id"]]
    joined = api.sb.mailing_list_members().row(0, named=True)
    assert joined["contact_id"] == result["id"]
    assert joined["mailing_list_id"] == api.sb.mailing_list_id
    assert joined["contact_lookup_id"] == result["contactLookupId"]


def test_list_contacts_deduplicate_as_directory_contacts(api, ok):
    """docs/qualtrics-api.md §7: with deduplication on, the existing contact is modified
    (one contact, one membership); without it, a second contact is created."""
    first = ok(api.post(members(api), json={"email": "a@example.com"}))
    again = ok(api.post(members(api), json={"email": "A@Example.com", "lastName": "B"}))
    assert again == first
    assert api.sb.contacts().height == 1 and api.sb.mailing_list_members().height == 1
    plain = f"{lists(api, api.sb.plain_directory_id)}/{api.sb.plain_mailing_list_id}/contacts"
    one = ok(api.post(plain, json={"email": "a@example.com"}))
    two = ok(api.post(plain, json={"email": "a@example.com"}))
    assert one["id"] != two["id"]
    assert api.sb.mailing_list_members().height == 3


def test_a_list_of_another_directory_is_not_found(api, err):
    """docs/qualtrics-api.md §7: the list must belong to the directory in the path."""
    wrong = f"{lists(api)}/{api.sb.plain_mailing_list_id}/contacts"
    err(api.post(wrong, json={"email": "a@example.com"}), 404)
    assert api.sb.contacts().height == 0


# -- §9 import jobs -------------------------------------------------------------------------


def test_an_import_answers_202_with_its_tracking_url(api, ok, clock):
    """docs/qualtrics-api.md §9: 202 with id, status, contacts.unprocessed and tracking.url
    (the job's status endpoint)."""
    result = create(api, ok, [{"email": "a@example.com"}])
    assert result["contacts"] == {"unprocessed": []}
    url = result["tracking"]["url"]
    assert url.endswith(f"/transactioncontacts/{result['id']}")
    status = ok(api.get(url))
    assert status["percentComplete"] == 100 and status["status"] == "complete"
    assert status["contacts"]["count"] == {"added": 1, "updated": 0, "failed": 0}


def test_a_job_takes_time_at_import_rate(make_api, ok):
    """docs/qualtrics-api.md §9: percentComplete grows while the job runs (import_rate
    contacts a second); contacts land when it completes."""
    api = make_api(import_rate=10)
    fake = Clock()
    api.sb._imports.clock = fake
    result = create(api, ok, [{"extRef": f"u{i}"} for i in range(20)])  # 2 s of work
    status = api.sb.imports().row(0, named=True)
    assert (status["percent_complete"], status["status"]) == (0, "in progress")
    fake.now += 1.0
    assert ok(api.get(result["tracking"]["url"]))["percentComplete"] == 50
    assert api.sb.contacts().height == 0
    fake.now += 1.0
    assert ok(api.get(result["tracking"]["url"]))["percentComplete"] == 100
    assert api.sb.contacts().height == 20 and api.sb.mailing_list_members().height == 20


def test_the_report_maps_each_contact_by_source_index(api, ok, clock):
    """docs/qualtrics-api.md §9: report entries carry sourceIndexId (the index in the
    request), contactId and importStatusCode; invalid e-mails are unprocessed indexes and
    never reach the report; a key the import does not take fails its entry."""
    contacts = [
        {"email": "a@example.com"},
        {"email": "not-an-email"},
        {"extRef": "x", "phone": "1"},
    ]
    result = create(api, ok, contacts)
    assert result["contacts"]["unprocessed"] == [1]
    body = api.get(report(api, result["id"])).json()
    assert set(body) == {"results", "meta"}  # `results`, plural, and no skipToken: last page
    entries = body["results"]["importReportEntries"]
    assert [e["sourceIndexId"] for e in entries] == ["0", "2"]
    added, refused = entries
    assert added["contactId"] == api.sb.contacts()["contact_id"][0]
    assert added["importStatusCode"] == "added" and added["contactListContactId"]
    assert refused["contactId"] is None and refused["importStatusCode"] == "invalid_contact"
    assert "phone" in refused["importStatus"]
    summary = ok(api.get(result["tracking"]["url"] + "/summary"))
    assert summary["invalidEmails"] == ["not-an-email"]


def test_the_report_pages_with_a_skip_token(api, ok, clock, monkeypatch):
    """docs/qualtrics-api.md §9: the report comes a page at a time, with a skipToken while
    more pages remain."""
    monkeypatch.setattr(_ep_imports, "REPORT_PAGE_SIZE", 2)
    result = create(api, ok, [{"extRef": f"u{i}"} for i in range(5)])
    seen, skip = [], None
    while True:
        body = api.get(report(api, result["id"], skip)).json()
        seen += [e["sourceIndexId"] for e in body["results"]["importReportEntries"]]
        skip = body.get("skipToken")
        if skip is None:
            break
    assert seen == ["0", "1", "2", "3", "4"]


def test_a_report_is_read_only_when_the_job_is_complete(make_api, ok, err):
    """docs/qualtrics-api.md §9: the report exists once percentComplete is 100."""
    api = make_api(import_rate=1)
    result = create(api, ok, [{"extRef": "u1"}, {"extRef": "u2"}])
    err(api.get(report(api, result["id"])), 400)


def test_an_import_updates_contacts_its_directory_deduplicates(api, ok, clock):
    """docs/qualtrics-api.md §9: deduplication applies: a matching contact is updated."""
    existing = ok(api.post(api.contacts(), json={"email": "a@example.com"}))["id"]
    result = create(api, ok, [{"email": "A@example.com", "firstName": "Ann"}])
    entry = api.get(report(api, result["id"])).json()["results"]["importReportEntries"][0]
    assert entry["contactId"] == existing and entry["importStatusCode"] == "updated"
    assert api.sb.contacts()["first_name"].to_list() == ["Ann"]


@pytest.mark.parametrize("size", [0, _imports.MAX_IMPORT_CONTACTS + 1])
def test_an_import_takes_1_to_10000_contacts(api, err, size):
    """docs/qualtrics-api.md §9: at most 10,000 contacts per import (and at least one)."""
    err(api.post(jobs(api), json={"contacts": [{"extRef": "u"}] * size}), 400)
    assert api.sb.imports().height == 0


def test_an_import_body_over_5_mb_is_refused(api, err):
    """docs/qualtrics-api.md §9: the JSON body is at most 5 MB."""
    contacts = [{"extRef": "x" * 1000} for _ in range(5_000)]
    err(api.post(jobs(api), json={"contacts": contacts}), 413)


def test_transaction_data_needs_transaction_meta(api, ok, err, clock):
    """docs/qualtrics-api.md §9: transactionMeta is required with transactionData, and a
    contact whose transactionData keys are not all in fields is unprocessed."""
    err(api.post(jobs(api), json={"contacts": [{"extRef": "u", "transactionData": {"a": 1}}]}), 400)
    body = {
        "transactionMeta": {"batchId": "BT_1", "fields": ["a"]},
        "contacts": [
            {"extRef": "u", "transactionData": {"a": 1}},
            {"extRef": "v", "transactionData": {"b": 1}},
        ],
    }
    assert ok(api.post(jobs(api), json=body), 202)["contacts"]["unprocessed"] == [1]


def test_25_jobs_run_and_the_rest_queue_up_to_100(make_api, ok, err):
    """docs/qualtrics-api.md §9: 25 jobs run at once; up to 100 more wait queued; the next
    one is refused (429) until a job finishes."""
    api = make_api(import_rate=1)
    fake = Clock()
    api.sb._imports.clock = fake
    limit = _imports.MAX_RUNNING + _imports.MAX_QUEUED
    for i in range(limit):
        create(api, ok, [{"extRef": f"u{i}"}])
    states = api.sb.imports()["status"].to_list()
    assert states.count("in progress") == 25 and states.count("queued") == 100
    refused = err(api.post(jobs(api), json={"contacts": [{"extRef": "late"}]}), 429)
    assert "queue is full" in refused["errorMessage"]
    fake.now += 1.0  # the 25 running finish; 25 queued start
    states = api.sb.imports()["status"].to_list()
    assert (states.count("complete"), states.count("in progress")) == (25, 25)
    create(api, ok, [{"extRef": "late"}])


def test_an_unknown_import_is_not_found(api, err):
    """docs/qualtrics-api.md §9: status and report of an import that does not exist are 404."""
    err(api.get(jobs(api) + "/PGR_nope"), 404)
    err(api.get(report(api, "PGR_nope")), 404)


def test_import_creates_are_their_own_rate_limit_family(make_api, err):
    """docs/qualtrics-api.md §11: import creates have a limit of their own (100/min in
    Qualtrics); the sandbox applies rate_limit per family."""
    api = make_api(rate_limit={"imports": 1})
    api.post(jobs(api), json={"contacts": [{"extRef": "a"}]})
    err(api.post(jobs(api), json={"contacts": [{"extRef": "b"}]}), 429)


def test_an_import_into_a_list_or_directory_that_does_not_exist_completes_with_zeros(api, ok):
    """docs/qualtrics-api.md §9 (FAQ): "all counts at 0 … usually indicates a directoryId,
    mailingListId or transactionBatchId that does not exist": accepted, nothing done."""
    for where in ({"ml": "CG_doesNotExist"}, {"directory_id": "POOL_doesNotExist"}):
        result = create(api, ok, [{"email": "a@example.com"}, {"extRef": "b"}], **where)
        status = ok(api.get(result["tracking"]["url"]))
        assert status["percentComplete"] == 100
        assert status["contacts"]["count"] == {"added": 0, "updated": 0, "failed": 0}
        directory = where.get("directory_id", api.sb.directory_id)
        path = report(api, result["id"]).replace(api.sb.directory_id, directory)
        assert ok_top(api.get(path))["results"]["importReportEntries"] == []
    assert api.sb.contacts().height == 0


def ok_top(response):
    assert response.status_code == 200, response.text
    return response.json()


def test_null_values_leave_a_contact_unprocessed(api, ok, clock):
    """docs/qualtrics-api.md §9: "Do Not Use Null": a contact with a null is unprocessed."""
    contacts = [
        {"email": "a@example.com", "firstName": None},
        {"email": "b@example.com", "embeddedData": {"k": None}},
        {"email": "c@example.com"},
    ]
    result = create(api, ok, contacts)
    assert result["contacts"]["unprocessed"] == [0, 1]
    assert api.sb.contacts()["email"].to_list() == ["c@example.com"]
    summary = ok(api.get(result["tracking"]["url"] + "/summary"))
    assert summary["invalidEmails"] == []  # well-formed addresses are not listed there


def test_an_import_creates_its_transactions_in_its_batch(api, ok, clock):
    """docs/qualtrics-api.md §9: with transactionMeta.batchId of an existing batch, each
    contact's transactionData becomes a transaction in that batch; an unknown batch creates
    none."""
    batches = f"/API/v3/directories/{api.sb.directory_id}/transactionbatches"
    batch = ok(api.post(batches, json={"transactionIds": []}))["id"]
    body = {
        "transactionMeta": {"batchId": batch, "fields": ["order"]},
        "contacts": [
            {"email": "a@example.com", "transactionData": {"order": "o-1"}},
            {"email": "b@example.com", "transactionData": {"order": "o-2"}},
            {"email": "c@example.com"},
        ],
    }
    result = ok(api.post(jobs(api), json=body), 202)
    status = ok(api.get(result["tracking"]["url"]))
    assert status["transactions"]["count"] == {"created": 2}
    entries = api.get(report(api, result["id"])).json()["results"]["importReportEntries"]
    held = api.sb.transactions()
    assert [e["transactionId"] for e in entries[:2]] == held["transaction_id"].to_list()
    assert entries[2]["transactionId"] is None
    assert held["mailing_list_id"].unique().to_list() == [api.sb.mailing_list_id]
    assert held["data"].to_list() == ['{"order": "o-1"}', '{"order": "o-2"}']
    in_batch = ok(api.get(f"{batches}/{batch}/transactions"))["elements"]
    assert len(in_batch) == 2
    unknown = {**body, "transactionMeta": {"batchId": "BT_doesNotExist", "fields": ["order"]}}
    again = ok(api.post(jobs(api), json=unknown), 202)
    assert ok(api.get(again["tracking"]["url"]))["transactions"]["count"] == {"created": 0}
    assert api.sb.transactions().height == 2


def test_invalid_emails_lists_only_malformed_addresses(api, ok, clock):
    """docs/qualtrics-api.md §9: ``invalidEmails`` names malformed addresses, not contacts
    left unprocessed for another reason."""
    body = {
        "transactionMeta": {"batchId": "BT_1", "fields": ["a"]},
        "contacts": [
            {"email": "good@example.com", "transactionData": {"b": 1}},
            {"email": "bad@@example"},
        ],
    }
    result = ok(api.post(jobs(api), json=body), 202)
    assert result["contacts"]["unprocessed"] == [0, 1]
    summary = ok(api.get(result["tracking"]["url"] + "/summary"))
    assert summary["invalidEmails"] == ["bad@@example"]
