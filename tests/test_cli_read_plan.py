"""``qxframe read contacts`` and ``qxframe plan contacts`` against the sandbox (loopback)."""

from __future__ import annotations

import polars as pl
import pytest

import qxframe as qx
from qxframe import cli
from qxframe._read import CONTACT_SCHEMA
from qxframe._sinks import read_results
from qxframe.cli import _edge


@pytest.fixture(scope="module")
def live():
    with qx.sandbox(seed=19) as sb:
        yield sb


@pytest.fixture
def sb(live, monkeypatch):
    """The sandbox, with the CLI's client pointing at it (told its rate limits)."""
    live.reset()
    monkeypatch.setattr(_edge, "client", lambda dry_run: live.client())
    return live


def _seed(sb, count: int = 60) -> list[str]:
    return [
        sb._store.upsert_contact(
            sb.directory_id,
            {"email": f"p{n}@example.com", "extRef": f"u{n}", "embeddedData": {"n": n}},
            mailing_list_id=sb.mailing_list_id,
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_read_contacts_writes_the_push_columns(sb, tmp_path, capsys, suffix):
    ids = _seed(sb)
    out = tmp_path / f"members{suffix}"
    code = cli.main(
        [
            "read",
            "contacts",
            "--directory-id",
            sb.directory_id,
            "--mailing-list-id",
            sb.mailing_list_id,
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    assert "60 contact(s)" in capsys.readouterr().out
    read = pl.read_parquet(out) if suffix == ".parquet" else pl.read_csv(out, schema=CONTACT_SCHEMA)
    assert read.columns == list(CONTACT_SCHEMA) and read["contact_id"].to_list() == ids
    assert read["embedded_data"][1] == '{"n":"1"}'


def test_read_needs_a_directory_and_an_out(sb, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["read", "contacts", "--out", "x.parquet"])
    assert stop.value.code == 2 and "--directory-id" in capsys.readouterr().err


def test_read_with_a_bad_list_id_exits_2(sb, tmp_path, capsys):
    args = ["read", "contacts", "--directory-id", sb.directory_id, "--mailing-list-id", "ML_x"]
    assert cli.main([*args, "--out", str(tmp_path / "m.csv")]) == 2
    assert "--mailing-list-id must look like" in capsys.readouterr().err


def test_what_read_writes_plans_unchanged(sb, tmp_path, capsys):
    """The file `read contacts` writes, planned back into the same list: all unchanged,
    and the plan's request log holds reads only."""
    _seed(sb)
    members = tmp_path / "members.csv"
    where = ["--directory-id", sb.directory_id, "--mailing-list-id", sb.mailing_list_id]
    assert cli.main(["read", "contacts", *where, "--out", str(members), "--no-progress"]) == 0
    since = sb.requests().height
    plan = tmp_path / "plan.csv"
    code = cli.main(["plan", "contacts", str(members), *where, "--out", str(plan), "--no-progress"])
    assert code == 0
    assert "60 row(s): unchanged 60" in capsys.readouterr().out
    results = read_results(plan)
    assert results["operation"].to_list() == ["unchanged"] * 60
    assert sb.requests().filter(pl.col("seq") >= since)["method"].unique().to_list() == ["GET"]


def test_plan_contacts_reports_each_operation_and_exits_1_on_a_failed_row(sb, tmp_path, capsys):
    store, plain = sb._store, sb.plain_directory_id
    store.upsert_contact(plain, {"extRef": "u1", "email": "one@example.com"})
    store.upsert_contact(plain, {"extRef": "u2", "email": "two@example.com"})
    store.upsert_contact(plain, {"extRef": "u2", "email": "two@example.com"})
    source = tmp_path / "in.csv"
    pl.DataFrame(
        {
            "ext_ref": ["u1", "u2", "u3"],
            "email": ["one@example.com", "two@example.com", "three@example.com"],
            "first_name": ["One", None, None],
        }
    ).write_csv(source)
    plan = tmp_path / "plan.parquet"
    code = cli.main(["plan", "contacts", str(source), "--directory-id", plain, "--out", str(plan)])
    assert code == 1
    assert "3 row(s): ambiguous_identity 1, create 1, update 1" in capsys.readouterr().out
    results = read_results(plan)
    assert results["operation"].to_list() == ["update", None, "create"]
    assert results["changes"][0] == '["firstName"]'
