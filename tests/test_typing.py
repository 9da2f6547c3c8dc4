"""What a type checker sees of the public actions: the overloads give ``out=`` a LazyFrame,
the rest a DataFrame, and an unknown keyword is an error (mypy, on a snippet)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def _mypy(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "snippet.py"
    path.write_text(code)
    command = [sys.executable, "-m", "mypy", "--no-incremental", str(path)]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)


def test_the_overloads_type_each_call(tmp_path):
    done = _mypy(GOOD, tmp_path)
    assert done.returncode == 0, done.stdout


def test_an_unknown_keyword_is_a_type_error(tmp_path):
    done = _mypy(BAD, tmp_path)
    assert done.returncode == 1 and 'did you mean "directory_id"' in done.stdout, done.stdout
