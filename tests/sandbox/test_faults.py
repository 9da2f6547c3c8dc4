"""Fault knobs: rate limits, error_rate under seed, fail_next, latency (in-process)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from qxframe._sandbox import Sandbox
from qxframe._sandbox._faults import TokenBucket


def test_rate_limit_answers_429_with_retry_after_and_processes_nothing(make_api, ok, err):
    api = make_api(rate_limit=60)  # one a second, burst of one
    ok(api.post(api.contacts(), json={"email": "a@example.com"}))
    refused = api.post(api.contacts(), json={"email": "b@example.com"})
    err(refused, 429)
    assert refused.headers["Retry-After"] == "1"
    assert api.sb.contacts()["email"].to_list() == ["a@example.com"]
    ok(api.get("/API/v3/whoami"))  # another family has its own bucket


def test_rate_limit_per_family_mapping(make_api, ok, err):
    api = make_api(rate_limit={"reads": 120})  # two a second, burst of two
    statuses = [api.get("/API/v3/whoami").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    for i in range(5):
        ok(api.post(api.contacts(), json={"email": f"{i}@example.com"}))


def test_rate_limit_rejects_unknown_family():
    with pytest.raises(ValueError, match="family"):
        Sandbox(rate_limit={"writes": 10})


def test_token_bucket_refills_and_says_how_long_to_wait():
    now = [0.0]
    bucket = TokenBucket(30, clock=lambda: now[0])  # 0.5/s, capacity 1
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(2.0)
    now[0] = 1.5
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 2.0
    assert bucket.take() == 0.0
    fast = TokenBucket(600, clock=lambda: now[0])  # 10/s: burst of 10
    assert [fast.take() for _ in range(11)].count(0.0) == 10


def test_error_rate_is_deterministic_under_seed(make_api):
    def run(seed: int) -> tuple[list[int], int]:
        api = make_api(error_rate=0.5, seed=seed)
        statuses = [
            api.post(api.contacts(api.sb.plain_directory_id), json={"extRef": str(i)}).status_code
            for i in range(40)
        ]
        return statuses, api.sb.contacts().height

    first, landed = run(7)
    again, _ = run(7)
    other, _ = run(8)
    assert first == again != other
    assert {200, 500, 503} == set(first)
    assert landed == first.count(200)  # a random error is answered before processing


def test_token_check_comes_before_random_errors(make_api, err):
    api = make_api(token="sbx_wrong", error_rate=1.0)
    err(api.get("/API/v3/whoami"), 401)


def test_fail_next_answers_the_next_requests_of_one_family(api, ok, err):
    api.sb.fail_next("contacts", status=503, times=2, retry_after=2)
    ok(api.get("/API/v3/whoami"))
    first = api.post(api.contacts(), json={"email": "a@example.com"})
    err(first, 503)
    assert first.headers["Retry-After"] == "2"
    err(api.post(api.contacts(), json={"email": "a@example.com"}), 503)
    assert api.sb.contacts().is_empty()
    ok(api.post(api.contacts(), json={"email": "a@example.com"}))


def test_fail_next_429_with_fractional_retry_after(api, err):
    api.sb.fail_next("search", status=429, retry_after=0.5)
    response = api.post(
        api.search(), json={"filter": {"filterType": "email", "comparison": "eq", "value": "a"}}
    )
    err(response, 429)
    assert response.headers["Retry-After"] == "0.5"


def test_fail_next_after_commit_lands_the_write_and_answers_500(api, ok, err):
    contact = ok(api.post(api.contacts(), json={"email": "a@example.com"}))["id"]
    api.sb.fail_next("transactions", after_commit=True)
    body = {
        "k": {
            "contactId": contact,
            "mailingListId": api.sb.mailing_list_id,
            "transactionDate": "2024-01-01 00:00:00",
            "data": {},
        }
    }
    err(api.post(api.transactions(), json=body), 500)
    assert api.sb.transactions()["key"].to_list() == ["k"]
    api.sb.fail_next("workflows", status=504, after_commit=True)
    path = api.sb.workflow_url.removeprefix(api.sb.base_url)
    err(api.post(path, json={"a": 1}), 504)
    assert api.sb.workflow_events().height == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"family": "writes"}, "family"),
        ({"family": "contacts", "status": 200}, "status"),
        ({"family": "contacts", "times": 0}, "times"),
    ],
)
def test_fail_next_validates(api, kwargs, match):
    with pytest.raises(ValueError, match=match):
        api.sb.fail_next(**kwargs)


def test_requests_log_every_answer_without_headers_or_token(make_api):
    api = make_api(rate_limit={"contacts": 60})
    api.sb.fail_next("reads", status=500)
    api.get("/API/v3/whoami")
    api.post(api.contacts(), json={"email": "a@example.com"})
    api.post(api.contacts(), json={"email": "b@example.com"})
    api.get("/API/v3/whoami", headers={"X-API-TOKEN": "sbx_wrong"})
    log = api.sb.requests()
    assert log.columns == [
        "seq",
        "method",
        "path",
        "query",
        "family",
        "status",
        "received_at",
        "body_bytes",
    ]
    assert log["status"].to_list() == [500, 200, 429, 401]
    assert log["seq"].to_list() == [0, 1, 2, 3]
    assert log["family"].to_list() == ["reads", "contacts", "contacts", "reads"]
    assert log["body_bytes"][1] == len(b'{"email":"a@example.com"}')
    assert api.sb.api_token not in str(log.to_dicts())


def test_latency_is_awaited_not_blocking(make_api):
    api = make_api(latency=0.2)
    started = time.perf_counter()
    responses = api.gather([("GET", "/API/v3/whoami", {})] * 5)
    elapsed = time.perf_counter() - started
    assert [r.status_code for r in responses] == [200] * 5
    assert elapsed >= 0.2
    log = api.sb.requests()
    assert log["seq"].to_list() == list(range(5))  # numbered on arrival
    assert log["received_at"].is_sorted()
    # all five arrived before the first could be answered: a blocking sleep would space
    # them 0.2 s apart (read from the server's clock, not a stopwatch a loaded machine skews)
    spread = log["received_at"].max() - log["received_at"].min()
    assert spread < dt.timedelta(seconds=0.2)


def test_reset_keeps_ids_and_token_and_drops_the_rest(api, ok):
    ids = (api.sb.directory_id, api.sb.mailing_list_id, api.sb.api_token, api.sb.workflow_url)
    ok(api.post(api.contacts(), json={"email": "a@example.com"}))
    api.sb.fail_next("reads")
    api.sb.reset()
    assert api.sb.contacts().is_empty() and api.sb.requests().is_empty()
    assert (
        api.sb.directory_id,
        api.sb.mailing_list_id,
        api.sb.api_token,
        api.sb.workflow_url,
    ) == ids
    ok(api.get("/API/v3/whoami"))  # the pending fail_next went too


@pytest.mark.parametrize(
    ("family", "options", "said"),
    [
        ("writes", {"status": 200, "times": 0}, "Unknown endpoint family 'writes'"),
        ("contacts", {"status": 200, "times": 0}, "status must be an HTTP error status"),
        ("contacts", {"times": 0}, "times must be at least 1"),
    ],
)
def test_fail_next_refuses_a_wrong_family_status_or_count_in_that_order(family, options, said):
    with pytest.raises(ValueError, match=said):
        Sandbox().fail_next(family, **options)


def test_fail_next_answers_the_scripted_status_and_retry_after(make_api, ok, err):
    api = make_api()
    api.sb.fail_next("reads", status=503, times=2, retry_after=1.5)
    for _ in range(2):
        refused = api.get("/API/v3/whoami")
        err(refused, 503)
        assert refused.headers["Retry-After"] == "1.5"
    ok(api.get("/API/v3/whoami"))
