"""upsert_contacts end to end against the sandbox."""

from __future__ import annotations

import asyncio
import json

import polars as pl
import pytest

import qxframe as qx
from qxframe._results import SCHEMA
from tests.helpers import bodies, payloads

PEOPLE = pl.DataFrame(
    {
        "email": ["ada@example.com", "bob@", "ADA@example.com", None, "zoe@example.com"],
        "first_name": ["Ada", "Bob", "Ada L.", "Nobody", "Zoë"],
        "ext_ref": ["u1", "u2", None, None, "u5"],
        "plan": ["pro", "free", "pro", None, "team"],
    }
)


def test_results_have_one_row_per_input_row_in_order(sb):
    res = qx.upsert_contacts(
        PEOPLE,
        client=sb.client(),
        directory_id=sb.directory_id,
        mapping={"embedded_data": ["plan"]},
    )
    assert res.schema == pl.Schema(SCHEMA)
    assert res["row"].to_list() == [0, 1, 2, 3, 4]
    assert res["status"].to_list() == ["success", "invalid", "success", "invalid", "success"]
    assert res["error_code"][1] == "email_format" and "bob@" in res["error_message"][1]
    assert res["error_code"][3] == "missing_identity"
    ok = res.filter(status="success")
    assert ok["qualtrics_id"].str.starts_with("CID_").all()
    assert ok["http_status"].to_list() == [200, 200, 200]
    assert ok["attempts"].to_list() == [1, 1, 1] and ok["request_id"].is_not_null().all()
    # invalid rows were never sent
    assert bodies(sb, "contacts") == 3


def test_deduplicating_directory_merges_the_same_email_in_input_order(sb):
    res = qx.upsert_contacts(PEOPLE, client=sb.client(), directory_id=sb.directory_id)
    assert res["qualtrics_id"][0] == res["qualtrics_id"][2]  # same e-mail, any case → one contact
    held = sb.contacts().filter(pl.col("email").str.to_lowercase() == "ada@example.com")
    assert held.height == 1
    assert held["first_name"][0] == "Ada L."  # the later row was applied last


def test_plain_directory_creates_every_time(sb):
    res = qx.upsert_contacts(PEOPLE, client=sb.client(), directory_id=sb.plain_directory_id)
    assert res.filter(status="success").height == 3
    assert sb.contacts().filter(directory_id=sb.plain_directory_id).height == 3


def test_no_invented_defaults_are_sent(sb):
    res = qx.upsert_contacts(
        PEOPLE.head(1), client=sb.client(), directory_id=sb.directory_id, dry_run=True
    )
    body = payloads(res)[0]
    # exactly the row's values: no language, no unsubscribed, and `plan` is not mapped
    assert body == {"email": "ada@example.com", "firstName": "Ada", "extRef": "u1"}


def test_dry_run_sends_nothing_and_shows_exact_bodies(sb):
    res = qx.upsert_contacts(PEOPLE, client=sb.client(), directory_id=sb.directory_id, dry_run=True)
    assert res["status"].to_list() == ["dry_run", "invalid", "dry_run", "invalid", "dry_run"]
    assert sb.requests().height == 0
    first = payloads(res)[0]
    assert first["email"] == "ada@example.com" and first["extRef"] == "u1"
    assert res["attempts"].to_list() == [0, 0, 0, 0, 0]


def test_dry_run_needs_no_client():
    res = qx.upsert_contacts(PEOPLE, directory_id="POOL_abc", dry_run=True)
    assert res.filter(status="dry_run").height == 3


def test_bad_directory_id_raises_before_sending(sb):
    with pytest.raises(qx.ConfigError, match="POOL_"):
        qx.upsert_contacts(PEOPLE, client=sb.client(), directory_id="oops")
    assert sb.requests().height == 0


def test_mapping_to_a_missing_column_raises_naming_it(sb):
    with pytest.raises(qx.MappingError) as info:
        qx.upsert_contacts(
            PEOPLE, client=sb.client(), directory_id=sb.directory_id, mapping={"email": "mail"}
        )
    assert "mail" in str(info.value) and "first_name" in str(info.value)
    assert sb.requests().height == 0


def test_wrong_dtype_is_an_invalid_row_with_a_reason(sb):
    frame = pl.DataFrame(
        {"email": ["a@example.com", "b@example.com"], "unsubscribed": ["yes", "true"]}
    )
    res = qx.upsert_contacts(frame, client=sb.client(), directory_id=sb.directory_id)
    assert res["status"].to_list() == ["invalid", "success"]
    assert res["error_code"][0] == "unsubscribed_not_boolean" and "yes" in res["error_message"][0]
    assert sb.contacts()["unsubscribed"].to_list() == [True]


def test_no_valid_rows_and_empty_frames(sb):
    res = qx.upsert_contacts(
        pl.DataFrame({"email": ["nope"]}), client=sb.client(), directory_id=sb.directory_id
    )
    assert res["status"].to_list() == ["invalid"]
    empty = qx.upsert_contacts(
        pl.DataFrame({"email": []}, schema={"email": pl.String}),
        client=sb.client(),
        directory_id=sb.directory_id,
    )
    assert empty.height == 0 and empty.schema == pl.Schema(SCHEMA)
    assert sb.requests().height == 0


def test_wrong_token_raises_auth_error(sb):
    client = qx.Client(api_token="wrong-token-xyz", base_url=sb.base_url)
    with pytest.raises(qx.AuthError) as info:
        qx.upsert_contacts(PEOPLE, client=client, directory_id=sb.directory_id)
    assert "wrong-token-xyz" not in str(info.value)


def test_429_and_503_are_retried_and_counted(sb, fake_time):
    sb.fail_next("contacts", status=503, times=1)
    sb.fail_next("contacts", status=429, times=1, retry_after=1)
    client = sb.client(sleep=fake_time.sleep)
    res = qx.upsert_contacts(PEOPLE.slice(0, 1), client=client, directory_id=sb.directory_id)
    assert res["status"].to_list() == ["success"] and res["attempts"].to_list() == [3]


def test_500_on_a_create_that_cannot_merge_is_outcome_unknown(sb, fake_time):
    frame = pl.DataFrame({"ext_ref": ["only-ref"]})  # dedup is on e-mail: no merge possible
    sb.fail_next("contacts", status=500, after_commit=True)
    res = qx.upsert_contacts(
        frame, client=sb.client(sleep=fake_time.sleep), directory_id=sb.directory_id
    )
    assert res["status"].to_list() == ["failed"] and res["error_code"].to_list() == [
        "outcome_unknown"
    ]
    assert bodies(sb, "contacts") == 1 and sb.contacts().height == 1


def test_500_on_a_create_that_merges_is_retried(sb, fake_time):
    frame = pl.DataFrame({"email": ["merge@example.com"]})
    sb.fail_next("contacts", status=500, after_commit=True)
    res = qx.upsert_contacts(
        frame, client=sb.client(sleep=fake_time.sleep), directory_id=sb.directory_id
    )
    assert res["status"].to_list() == ["success"] and res["attempts"].to_list() == [2]
    assert sb.contacts().height == 1


def test_inputs_pandas_lazy_csv_and_parquet(sb, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = PEOPLE.select("email", "first_name")
    csv, parquet = tmp_path / "p.csv", tmp_path / "p.parquet"
    frame.write_csv(csv)
    frame.write_parquet(parquet)
    client = sb.client()
    for source in (frame.to_pandas(), frame.lazy(), csv, str(parquet)):
        res = qx.upsert_contacts(source, client=client, directory_id=sb.directory_id)
        assert res["status"].to_list() == ["success", "invalid", "success", "invalid", "success"]
    assert isinstance(frame.to_pandas(), pd.DataFrame)


def test_sync_function_works_inside_a_running_loop(sb):
    async def notebook_cell():
        return qx.upsert_contacts(PEOPLE, client=sb.client(), directory_id=sb.directory_id)

    res = asyncio.run(notebook_cell())
    assert res.filter(status="success").height == 3


def test_async_twin(sb):
    async def go():
        async with sb.client() as client:
            return await qx.aupsert_contacts(PEOPLE, client=client, directory_id=sb.directory_id)

    assert asyncio.run(go()).filter(status="success").height == 3


def test_directory_id_column_and_keyword_precedence(sb):
    frame = PEOPLE.with_columns(directory_id=pl.lit("POOL_notreal"))
    res = qx.upsert_contacts(frame, client=sb.client(), directory_id=sb.directory_id)
    assert res.filter(status="success").height == 3  # the keyword wins over the column
    per_row = PEOPLE.head(1).with_columns(directoryId=pl.lit(sb.plain_directory_id))
    res = qx.upsert_contacts(per_row, client=sb.client())
    assert res["status"].to_list() == ["success"]
    assert sb.contacts().filter(directory_id=sb.plain_directory_id).height == 1


def test_the_token_is_nowhere_in_the_results(sb):
    res = qx.upsert_contacts(PEOPLE, client=sb.client(), directory_id=sb.directory_id)
    assert sb.api_token not in json.dumps(res.to_dicts(), default=str)


def test_rows_to_retry_picks_failed_rows_but_not_unknown_ones(sb, fake_time):
    frame = pl.DataFrame(
        {
            "email": ["a@example.com", "bad", "c@example.com", "d@example.com"],
            "ext_ref": ["a", "b", "c", None],
        }
    )
    sb.fail_next("contacts", status=400)
    client = sb.client(sleep=fake_time.sleep)
    res = qx.upsert_contacts(frame, client=client, directory_id=sb.directory_id, concurrency=1)
    assert res["status"].to_list() == ["failed", "invalid", "success", "success"]
    again = qx.rows_to_retry(frame, res)
    assert again.to_dicts() == [{"email": "a@example.com", "ext_ref": "a"}]
    with_invalid = qx.rows_to_retry(frame, res, include_invalid=True)
    assert with_invalid["email"].to_list() == ["a@example.com", "bad"]
    unknown = res.with_columns(error_code=pl.lit("outcome_unknown"))
    assert qx.rows_to_retry(frame, unknown).height == 0
    assert qx.rows_to_retry(frame, unknown, include_unknown=True).height == 1


def test_progress_bar_is_made_in_the_callers_thread_and_closed(sb, monkeypatch):
    import threading

    import tqdm.auto

    made = []

    class Recorder:
        def __init__(self, *args, **kwargs):
            self.thread, self.total, self.n, self.closed = (
                threading.current_thread(),
                kwargs.get("total"),
                0,
                False,
            )
            made.append(self)

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    qx.upsert_contacts(PEOPLE, client=sb.client(), directory_id=sb.directory_id, progress=True)
    (bar,) = made
    assert bar.thread is threading.current_thread() and bar.closed
    assert bar.total == 5 and bar.n == 5
    with pytest.raises(qx.ConfigError):
        qx.upsert_contacts(PEOPLE, client=sb.client(), directory_id="oops", progress=True)
    assert made[1].closed


def test_directory_settings_are_read_once_per_push_even_concurrently(sb):
    frame = pl.DataFrame({"email": [f"c{i}@example.com" for i in range(40)]})
    res = qx.upsert_contacts(frame, client=sb.client(), directory_id=sb.directory_id, concurrency=8)
    assert res.filter(status="success").height == 40
    assert bodies(sb, "reads") == 1
