"""Opt-in checks against a real Qualtrics account (never run in CI).

Run with ``QXFRAME_REAL_QUALTRICS=1 QUALTRICS_API_TOKEN=… QUALTRICS_DATACENTER=… pytest
tests/test_real_qualtrics.py``. Only reads and dry runs: nothing is written to the account.
"""

from __future__ import annotations

import os

import polars as pl
import pytest

import qxframe as qx

pytestmark = [
    pytest.mark.real_qualtrics,
    pytest.mark.skipif(
        os.environ.get("QXFRAME_REAL_QUALTRICS") != "1",
        reason="talks to a real Qualtrics account: opt in with QXFRAME_REAL_QUALTRICS=1",
    ),
]


@pytest.fixture(scope="module")
def client():
    with qx.Client.from_env() as client:
        yield client


def test_whoami_and_directories(client):
    me = client.whoami()
    assert me.get("userName")
    directories = client.directories()
    assert {"directory_id", "deduplication_criteria"} <= set(directories.columns)
    if directories.height:
        lists = client.mailing_lists(directories["directory_id"][0])
        assert "mailing_list_id" in lists.columns


def test_dry_run_against_a_real_directory(client):
    directories = client.directories()
    if directories.height == 0:
        pytest.skip("the account has no directory")
    frame = pl.DataFrame({"email": ["someone@example.com"], "first_name": ["Some"]})
    res = qx.upsert_contacts(
        frame, client=client, dry_run=True, directory_id=directories["directory_id"][0]
    )
    assert res["status"].to_list() == ["dry_run"]
