"""What a type checker sees of the public actions: the overloads give ``out=`` a LazyFrame,
the rest a DataFrame, and an unknown keyword is an error (mypy, on a snippet)."""

from __future__ import annotations

import subprocess
import sys

import pytest

GOOD = """
from typing import assert_type
import polars as pl
import qxframe as qx

frame = pl.DataFrame({"email": ["a@b.co"]})
assert_type(qx.upsert_contacts(frame, directory_id="POOL_x", dry_run=True), pl.DataFrame)
assert_type(qx.upsert_contacts(frame, directory_id="POOL_x", out="r.csv"), pl.LazyFrame)
assert_type(qx.upsert_transactions(frame, mailing_list_id="CG_x", batch_size=5), pl.DataFrame)
assert_type(qx.trigger_workflow(frame, workflow_url="https://x.qualtrics.com/y"), pl.DataFrame)

async def twins() -> None:
    assert_type(await qx.aupsert_contacts(frame, out="r.parquet"), pl.LazyFrame)
    assert_type(await qx.atrigger_workflow(frame, concurrency=2), pl.DataFrame)
"""
BAD = 'import qxframe as qx\nqx.upsert_contacts("f.csv", directoryid="POOL_x")\n'


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> subprocess.CompletedProcess[str]:
    """mypy once over both snippets (checking qxframe itself is what takes the time)."""
    where = tmp_path_factory.mktemp("typing")
    (where / "good.py").write_text(GOOD)
    (where / "bad.py").write_text(BAD)
    command = [sys.executable, "-m", "mypy", "--no-incremental", "good.py", "bad.py"]
    return subprocess.run(command, capture_output=True, text=True, cwd=where)


def _errors_in(done: subprocess.CompletedProcess[str], file: str) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith(f"{file}:")]


def test_the_overloads_type_each_call(checked):
    assert _errors_in(checked, "good.py") == [], checked.stdout


def test_an_unknown_keyword_is_a_type_error(checked):
    errors = _errors_in(checked, "bad.py")
    assert checked.returncode == 1, checked.stdout
    assert any('did you mean "directory_id"' in line for line in errors), checked.stdout
