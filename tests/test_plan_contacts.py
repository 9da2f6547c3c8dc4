"""qx.plan_contacts against the sandbox over a real loopback socket (DESIGN §8): reads only,
per row create / update (with changes) / unchanged, or ambiguous_identity."""

from __future__ import annotations

import asyncio
import json

import polars as pl
import pytest

import qxframe as qx
from qxframe import _plan
from qxframe._held import changes, identity
from qxframe._results import conform

SEGMENT = pl.DataFrame(
    {
        "ext_ref": [f"u{n}" for n in range(130)],
        "email": [f"p{n}@example.com" for n in range(130)],
        "first_name": ["Ann"] * 130,
        "region": ["north", "south"] * 65,
        "visits": list(range(130)),
        "vip": [True, False] * 65,
    }
)
EMBEDDED = {"embedded_data": ["region", "visits", "vip"]}


def _writes(sb, since: int) -> pl.DataFrame:
    """Requests after ``since`` that could change something: anything but a GET or a search."""
    log = sb.requests().filter(pl.col("seq") >= since)
    read = (pl.col("method") == "GET") | (
        (pl.col("method") == "POST") & pl.col("path").str.ends_with("/contacts/search")
    )
    return log.filter(~read)


def _ops(plan: pl.DataFrame) -> list[tuple[str, str | None]]:
    return list(zip(plan["status"], plan["operation"], strict=True))


@pytest.mark.parametrize("by_list", [True, False])
def test_the_round_trip_plans_all_unchanged_with_zero_writes(sb, by_list):
    """What is read is what would be pushed: pushing it back changes nothing."""
    with sb.client() as client:
        where = {"directory_id": sb.directory_id, "mailing_list_id": sb.mailing_list_id}
        pushed = qx.upsert_contacts(SEGMENT, client=client, mapping=EMBEDDED, **where)
        assert qx.summary(pushed)["success"] == 130
        members = qx.read_contacts(client=client, **where)
        since = sb.requests().height
        if not by_list:
            where.pop("mailing_list_id")
        plan = qx.plan_contacts(members, client=client, **where)
    assert _ops(plan) == [("dry_run", "unchanged")] * 130
    assert plan["contact_id"].to_list() == members["contact_id"].to_list()
    assert plan["changes"].to_list() == ["[]"] * 130
    assert _writes(sb, since).is_empty()
    log = sb.requests().filter(pl.col("seq") >= since)
    searches = log.filter(pl.col("path").str.ends_with("/search"))
    if by_list:  # the list read once, 50 a page, and the directories for their settings
        assert searches.is_empty() and log.height == 1 + 3
    else:  # one search per identity, embedded data asked for
        assert searches.height == 130
        assert searches["query"].str.contains("includeEmbedded=true").all()


def test_the_round_trip_of_the_push_frame_itself_is_unchanged(sb):
    """The segment as pushed (numbers and booleans in embedded data) plans unchanged too:
    embedded values are compared as the strings Qualtrics stores."""
    with sb.client() as client:
        where = {"directory_id": sb.directory_id, "mailing_list_id": sb.mailing_list_id}
        qx.upsert_contacts(SEGMENT, client=client, mapping=EMBEDDED, **where)
        plan = qx.plan_contacts(SEGMENT, client=client, mapping=EMBEDDED, **where)
    assert _ops(plan) == [("dry_run", "unchanged")] * 130


def _seed_plain(sb) -> dict[str, str]:
    """On the directory that never deduplicates: u1 as the frame says, u2 with x=1,
    u4 twice (two contacts, one identity); u3 absent."""
    store, plain, ml = sb._store, sb.plain_directory_id, sb.plain_mailing_list_id
    ids = {}
    for key, body in [
        ("u1", {"extRef": "u1", "email": "one@example.com", "embeddedData": {"x": "1"}}),
        ("u2", {"extRef": "u2", "email": "two@example.com", "embeddedData": {"x": "1"}}),
        ("u4a", {"extRef": "u4", "email": "four@example.com"}),
        ("u4b", {"extRef": "U4 ", "email": "FOUR@example.com"}),
    ]:
        ids[key] = store.upsert_contact(plain, body, mailing_list_id=ml)
    return ids


MIX = pl.DataFrame(
    {
        "ext_ref": ["u1", "u2", "u3", "u4", "u5"],
        "email": [
            "one@example.com",
            "two@example.com",
            "new@example.com",
            "four@example.com",
            "not-an-email",
        ],
        "x": [1, 2, 3, None, None],
    }
)


@pytest.mark.parametrize("by_list", [True, False])
def test_a_seeded_mix(sb, by_list):
    ids = _seed_plain(sb)
    where = {"directory_id": sb.plain_directory_id}
    if by_list:
        where["mailing_list_id"] = sb.plain_mailing_list_id
    with sb.client() as client:
        since = sb.requests().height
        plan = qx.plan_contacts(MIX, client=client, mapping={"embedded_data": ["x"]}, **where)
    assert _ops(plan) == [
        ("dry_run", "unchanged"),
        ("dry_run", "update"),
        ("dry_run", "create"),
        ("failed", None),
        ("invalid", None),
    ]
    assert plan["changes"].to_list()[:3] == ["[]", '["embeddedData.x"]', None]
    assert plan["contact_id"].to_list()[:3] == [ids["u1"], ids["u2"], None]
    assert plan["error_code"].to_list()[3:] == ["ambiguous_identity", "email_format"]
    message = plan["error_message"][3]
    assert ids["u4a"] in message and ids["u4b"] in message
    assert json.loads(plan["payload"][1]) == {
        "email": "two@example.com",
        "extRef": "u2",
        "embeddedData": {"x": 2},
    }
    assert _writes(sb, since).is_empty()
    assert sb.contacts().height == 4


def test_a_deduplicating_directory_matches_on_its_fields(sb):
    """The directory deduplicates on e-mail: a row carrying it is that contact, whatever
    its other identity fields say (a push would merge into it), so ext_ref is a change."""
    contact_id = sb._store.upsert_contact(
        sb.directory_id, {"email": "ann@example.com", "extRef": "old"}
    )
    frame = pl.DataFrame({"email": ["ANN@example.com "], "ext_ref": ["new"]})
    with sb.client() as client:
        plan = qx.plan_contacts(frame, client=client, directory_id=sb.directory_id)
    assert _ops(plan) == [("dry_run", "update")]
    assert plan["contact_id"][0] == contact_id
    assert json.loads(plan["changes"][0]) == ["email", "extRef"]


def test_a_failed_search_fails_its_rows_only(sb):
    sb.fail_next("search", status=400)
    frame = pl.DataFrame({"email": ["a@example.com", "b@example.com"]})
    with sb.client() as client:
        plan = qx.plan_contacts(frame, client=client, directory_id=sb.plain_directory_id)
    assert sorted(plan["status"].to_list()) == ["dry_run", "failed"]
    assert plan.filter(pl.col("status") == "failed")["http_status"].to_list() == [400]


def test_rows_of_one_identity_are_searched_once(sb):
    frame = pl.DataFrame({"email": ["a@example.com", " A@example.com", "b@example.com"]})
    with sb.client() as client:
        plan = qx.plan_contacts(frame, client=client, directory_id=sb.plain_directory_id)
    assert _ops(plan) == [("dry_run", "create")] * 3
    assert sb.requests().filter(pl.col("path").str.ends_with("/search")).height == 2


def test_searches_run_concurrently_under_the_limit(sb, monkeypatch):
    """Searches overlap (many in flight), and never more than the workers allowed."""
    monkeypatch.setattr(_plan, "SEARCH_WORKERS", 4)
    in_flight = peak = 0
    with sb.client() as client:
        real = client.asearch_contacts

        async def counting(*args, **kwargs):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                await asyncio.sleep(0)
                return await real(*args, **kwargs)
            finally:
                in_flight -= 1

        monkeypatch.setattr(client, "asearch_contacts", counting)
        frame = pl.DataFrame({"email": [f"p{n}@example.com" for n in range(20)]})
        qx.plan_contacts(frame, client=client, directory_id=sb.plain_directory_id)
    assert peak == 4


def test_out_writes_the_plan_as_a_results_file(sb, tmp_path):
    out = tmp_path / "plan.csv"
    with sb.client() as client:
        lazy = qx.plan_contacts(MIX, client=client, directory_id=sb.plain_directory_id, out=out)
    assert lazy.collect()["operation"].to_list() == ["create"] * 4 + [None]


def test_a_plan_needs_a_client():
    with pytest.raises(qx.ConfigError, match="client"):
        qx.plan_contacts(MIX, directory_id="POOL_x")


def test_the_plan_takes_the_push_keywords():
    import inspect

    assert inspect.signature(qx.plan_contacts) == inspect.signature(qx.upsert_contacts)
    assert inspect.signature(qx.aplan_contacts) == inspect.signature(qx.upsert_contacts)


def test_the_async_twin_plans_the_same(sb):
    _seed_plain(sb)

    async def plan() -> pl.DataFrame:
        async with sb.client() as client:
            return await qx.aplan_contacts(
                MIX,
                client=client,
                directory_id=sb.plain_directory_id,
                mapping={"embedded_data": ["x"]},
            )

    assert asyncio.run(plan())["operation"].to_list() == [
        "unchanged",
        "update",
        "create",
        None,
        None,
    ]


def test_identity_and_changes_rules():
    # the dedup fields when the body carries them all, else the lookup key's fields
    assert identity({"email": "a@x", "extRef": "u"}, dedup=("email",)) == (("email", "a@x"),)
    assert identity({"extRef": "u"}, dedup=("email",)) == (("extRef", "u"),)
    assert identity({"firstName": "A"}, dedup=()) is None
    held = {"email": "a@x", "unsubscribed": False, "embedded_data": '{"vip":"true","n":"2"}'}
    assert changes({"email": "a@x", "unsubscribed": False}, held) == []
    assert changes({"unsubscribed": True, "embeddedData": {"vip": True, "n": 3}}, held) == [
        "unsubscribed",
        "embeddedData.n",
    ]
    assert changes({"email": "A@x", "embeddedData": {"new": "v"}}, held) == [
        "email",
        "embeddedData.new",
    ]


def test_settle_unknown_tells_rows_to_retry_which_unknown_rows_to_send_again(sb):
    """A 500 after the write landed, and a 500 before it did: both end outcome_unknown;
    the plan settles them, and only the one that did not land is worth sending again."""
    frame = pl.DataFrame({"email": ["landed@example.com", "lost@example.com", "fine@example.com"]})
    where = {"directory_id": sb.plain_directory_id}  # never merges: no create is re-sent
    sb.fail_next("contacts", status=500, after_commit=True)
    sb.fail_next("contacts", status=500)
    with sb.client() as client:
        res = qx.upsert_contacts(frame, client=client, concurrency=1, **where)
        assert res["error_code"].to_list() == ["outcome_unknown", "outcome_unknown", None]
        assert qx.rows_to_retry(frame, res).is_empty()
        since = sb.requests().height
        settled = qx.settle_unknown(frame, res, client=client, **where)
    assert _writes(sb, since).is_empty()
    assert settled["status"].to_list() == ["success", "failed", "success"]
    assert settled["error_code"].to_list() == [None, "not_landed", None]
    assert settled["operation"].to_list() == ["unchanged", "create", "upsert"]  # the push's
    landed = sb.contacts().filter(pl.col("email") == "landed@example.com")["contact_id"]
    assert settled["qualtrics_id"].to_list()[:2] == [landed[0], None]
    assert settled["row"].to_list() == [0, 1, 2]
    assert settled.schema == res.schema
    assert qx.rows_to_retry(frame, settled)["email"].to_list() == ["lost@example.com"]


def test_settle_unknown_keeps_an_ambiguous_row_unknown(sb):
    store, plain = sb._store, sb.plain_directory_id
    first = store.upsert_contact(plain, {"email": "twin@example.com"})
    second = store.upsert_contact(plain, {"email": "twin@example.com"})
    frame = pl.DataFrame({"email": ["twin@example.com"]})
    res = pl.DataFrame({"row": [0], "status": ["failed"], "error_code": ["outcome_unknown"]}).pipe(
        qx._results.conform
    )
    with sb.client() as client:
        settled = qx.settle_unknown(frame, res, client=client, directory_id=plain)
    assert settled["error_code"].to_list() == ["outcome_unknown"]
    assert first in settled["error_message"][0] and second in settled["error_message"][0]
    assert qx.rows_to_retry(frame, settled).is_empty()


def test_settle_unknown_without_unknown_rows_reads_nothing(sb):
    res = pl.DataFrame({"row": [0], "status": ["success"]}).pipe(conform)
    with sb.client() as client:
        same = qx.settle_unknown(MIX.head(1), res, client=client, directory_id=sb.directory_id)
    assert same.equals(res) and sb.requests().is_empty()


def test_a_push_into_a_list_then_its_plan_is_unchanged_unsubscribed_included(sb):
    """The push's unsubscribed goes to the list (its members' flag, §12), which is what a
    list read gives back: pushing and then planning the same rows changes nothing."""
    frame = pl.DataFrame(
        {"email": ["in@example.com", "out@example.com"], "unsubscribed": [False, True]}
    )
    where = {"directory_id": sb.directory_id, "mailing_list_id": sb.mailing_list_id}
    with sb.client() as client:
        qx.upsert_contacts(frame, client=client, **where)
        members = qx.read_contacts(client=client, **where)
        plan = qx.plan_contacts(frame, client=client, **where)
    assert members["unsubscribed"].to_list() == [False, True]
    assert _ops(plan) == [("dry_run", "unchanged")] * 2
