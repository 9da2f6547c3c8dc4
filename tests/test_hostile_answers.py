"""Every answer judged by what it says, not its status line (issue 20, defects 1, 3, 4, 7).

A loopback proxy (:mod:`tests.hostile`) in front of the module's sandbox answers searches,
creates, batches, import statuses and reports with gateway pages, truncated JSON and wrong
types. A lookup that cannot be read is never "no match" (no duplicate contact); a 2xx
without the id its endpoint promises is never ``success``; nothing escapes as a raw
exception: a row's failure is data.
"""

from __future__ import annotations

import polars as pl
import pytest

import qxframe as qx
from tests.hostile import Answer, HostileProxy, envelope, html, json_answer, truncated

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

UNREADABLE = [
    html(),
    Answer(200, b'{"result": {"elements": [{"id": "CID_'),
    envelope(None),
    envelope(["CID_1"]),
    envelope({"elements": "none"}),
    envelope({"elements": [{"id": 7}]}),
    Answer(204),
]


@pytest.fixture
def proxy(sb):
    with HostileProxy(sb.base_url) as running:
        yield running


@pytest.fixture
def client(sb, proxy, fake_time):
    made = qx.Client(
        api_token=sb.api_token,
        base_url=proxy.url,
        rate_limits=sb.client_rate_limits,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )
    with made:
        yield made


def transactions(sb, client, n=1, **kwargs):
    frame = pl.DataFrame({"ext_ref": [f"t{i}" for i in range(n)], "amount": list(range(n))})
    return qx.upsert_transactions(
        frame,
        client=client,
        directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
        mapping={"transaction_data": ["amount"]},
        **kwargs,
    )


def contacts(sb, client, n=1, **kwargs):
    frame = pl.DataFrame(
        {"ext_ref": [f"c{i}" for i in range(n)], "email": [f"c{i}@example.com" for i in range(n)]}
    )
    return qx.upsert_contacts(frame, client=client, directory_id=sb.directory_id, **kwargs)


# -- 1. an unreadable lookup answer is never "no match" --------------------------------


@pytest.mark.parametrize("answer", UNREADABLE)
def test_an_unreadable_search_creates_no_contact(sb, proxy, client, answer):
    proxy.on("POST", "/contacts/search", answer, forward=False)
    res = transactions(sb, client, n=2)
    assert res["status"].to_list() == ["failed", "failed"]
    assert set(res["error_code"]) == {"unreadable_answer"}
    assert all("Looking up" in m for m in res["error_message"])
    assert proxy.count("POST", "/contacts") == proxy.count("POST", "/contacts/search")
    assert sb.contacts().height == 0 and sb.transactions().height == 0


def test_a_lookup_create_answered_without_an_id_is_contact_create_unknown(sb, proxy, client):
    """The contact was created upstream, but its answer has no id: the transaction is not
    sent, and the row says the create's outcome is unknown (sending it again is safe)."""
    proxy.on("POST", "/directories/", truncated)  # creates only: searches match below
    proxy.on("POST", "/contacts/search", lambda seen: seen_through(seen))
    res = transactions(sb, client)
    assert res["status"].to_list() == ["failed"]
    assert res["error_code"].to_list() == ["contact_create_unknown"]
    assert sb.contacts().height == 1 and sb.transactions().height == 0


def seen_through(seen):
    assert seen.upstream is not None
    return seen.upstream


# -- 3. a 2xx without the id the endpoint promises is never success --------------------


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize(
    "answer",
    [html(), Answer(200, b'{"result": {"id": "CID'), envelope({}), Answer(204), json_answer([1])],
)
def test_a_contact_create_without_its_id_is_outcome_unknown(sb, proxy, client, answer, forward):
    proxy.on("POST", "/contacts", answer, forward=forward)
    res = contacts(sb, client, n=2)
    assert res["status"].to_list() == ["failed", "failed"]
    assert res["error_code"].to_list() == ["outcome_unknown"] * 2
    assert res["qualtrics_id"].to_list() == [None, None]
    assert sb.contacts().height == (2 if forward else 0)


def test_a_create_without_its_id_is_not_journaled_as_done(sb, proxy, client, tmp_path):
    journal = tmp_path / "push.sqlite"
    proxy.on("POST", "/contacts", html(), forward=False, times=1)
    first = contacts(sb, client, journal=journal)
    assert first["error_code"].to_list() == ["outcome_unknown"]
    again = contacts(sb, client, journal=journal)
    assert again["status"].to_list() != ["skipped"]


@pytest.mark.parametrize(
    "result",
    [
        None,
        ["r0"],
        {"createdTransactions": ["r0"]},
        {"createdTransactions": {"r0": "TR_1"}},
        {"createdTransactions": {"r0": {"id": 5}}},
        {"unprocessedTransactions": "all"},
    ],
)
def test_a_transaction_batch_answer_that_cannot_be_read_is_outcome_unknown(
    sb, proxy, client, result
):
    proxy.on("POST", "/transactions", envelope(result))
    res = transactions(sb, client, n=3)
    assert res["status"].to_list() == ["failed"] * 3
    assert res["error_code"].to_list() == ["outcome_unknown"] * 3
    assert res["contact_id"].str.starts_with("CID_").all()


def test_a_refused_transaction_with_fields_of_the_wrong_types_is_failed_plainly(sb, proxy, client):
    refused = {"unprocessedTransactions": {"r0": {"error": ["E"], "errorMessage": {"x": 1}}}}
    proxy.on("POST", "/transactions", envelope(refused), forward=False)
    res = transactions(sb, client)
    assert res["status"].to_list() == ["failed"]
    assert res["error_code"].to_list() == ["unprocessed_transaction"]
    assert res["error_message"].to_list() == [
        "Qualtrics did not add this transaction: no reason given"
    ]


# -- 4. import jobs: an unreadable status, a NaN percentComplete, a looping report -----


def imported(sb, client, n=3):
    frame = pl.DataFrame({"email": [f"i{i}@example.com" for i in range(n)]})
    return qx.upsert_contacts(
        frame,
        client=client,
        directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
        method="import",
    )


@pytest.mark.parametrize(
    "status",
    [
        envelope({"percentComplete": "NaN"}),
        envelope({"percentComplete": "x"}),
        html(),
        envelope({"percentComplete": 1e9}),
        envelope([100]),
    ],
)
def test_an_unreadable_import_status_ends_the_job_outcome_unknown(sb, proxy, client, status):
    proxy.on("GET", "/transactioncontacts/", status)
    res = imported(sb, client)
    assert res["status"].to_list() == ["failed"] * 3
    assert res["error_code"].to_list() == ["outcome_unknown"] * 3
    assert res["error_message"].str.contains("percentComplete").all()
    assert proxy.count("GET", "/transactioncontacts/") == 1  # never polled on


def test_an_import_create_without_a_job_id_is_outcome_unknown(sb, proxy, client):
    proxy.on("POST", "/transactioncontacts", envelope({"contacts": {"unprocessed": []}}))
    res = imported(sb, client)
    assert res["error_code"].to_list() == ["outcome_unknown"] * 3
    assert proxy.count("GET", "/transactioncontacts/") == 0


def report_page(token):
    entries = [{"sourceIndexId": "0", "contactId": "CID_loop", "importStatusCode": "added"}]
    return json_answer({"results": {"importReportEntries": entries}, "skipToken": token})


def test_a_report_that_repeats_its_page_token_is_stopped(sb, proxy, client):
    proxy.on("GET", "/report", report_page("again"), forward=False)
    res = imported(sb, client)
    assert res["error_code"].to_list() == ["outcome_unknown"] * 3
    assert res["error_message"].str.contains("repeated a page token").all()
    assert proxy.count("GET", "/report") == 2


def test_a_report_whose_tokens_never_end_is_stopped_past_the_job_rows(sb, proxy, client):
    pages = iter(range(10**6))
    proxy.on("GET", "/report", lambda seen: report_page(f"p{next(pages)}"), forward=False)
    res = imported(sb, client)
    assert res["error_code"].to_list() == ["outcome_unknown"] * 3
    assert res["error_message"].str.contains("ran past the job's 3 rows").all()
    assert proxy.count("GET", "/report") == 4


def test_report_entries_of_the_wrong_types_read_as_missing(sb, proxy, client):
    def odd(seen):
        page = seen.json()
        entries = (page.get("results") or page.get("result"))["importReportEntries"]
        entries[0]["contactId"] = {"id": "CID_x"}
        entries[1]["sourceIndexId"] = [1]
        entries[2]["importStatusCode"] = True
        return json_answer(page)

    proxy.on("GET", "/report", odd)
    res = imported(sb, client)
    assert res["status"].to_list() == ["failed", "failed", "success"]
    assert res["error_code"][1] == "import_report_missing"
    assert res["qualtrics_id"][:2].to_list() == [None, None]


@pytest.mark.parametrize("answer", [html(), envelope(None), envelope({"elements": "x"})])
def test_settling_unknown_rows_never_reads_an_unreadable_search_as_not_landed(
    sb, proxy, client, answer
):
    """A row whose create landed but whose answer was lost: settling it searches; a search
    answer that cannot be read must not say "not landed" (qx.rows_to_retry would send it
    again: a duplicate)."""
    frame = pl.DataFrame({"email": ["landed@example.com"]})
    where = {"directory_id": sb.plain_directory_id}
    proxy.on("POST", "/contacts", html(), times=1)  # forwarded: the create lands
    res = qx.upsert_contacts(frame, client=client, **where)
    assert res["error_code"].to_list() == ["outcome_unknown"]
    proxy.on("POST", "/contacts/search", answer, forward=False)
    settled = qx.settle_unknown(frame, res, client=client, **where)
    assert settled["error_code"].to_list() == ["outcome_unknown"]  # still unknown, honestly
    assert qx.rows_to_retry(frame, settled).is_empty()
    assert sb.contacts().height == 1
