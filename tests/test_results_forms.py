"""``qx.summary`` and ``qx.rows_to_retry`` take a results frame in every form a push
returns it (a polars DataFrame, the LazyFrame of ``out=``, a pandas frame), and
``rows_to_retry`` gives rows back as the same kind of frame as the push's input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import qxframe as qx
from qxframe._results import conform

STATUSES = ["success", "invalid", "failed", "failed", "success", "failed"]
CODES = [None, "email_format", "bad_request", "outcome_unknown", None, "QVAL_1"]


@pytest.fixture
def results() -> pl.DataFrame:
    return conform(pl.DataFrame({"row": range(6), "status": STATUSES, "error_code": CODES}))


@pytest.fixture
def source() -> pl.DataFrame:
    return pl.DataFrame({"email": [f"p{i}@x.org" for i in range(6)], "n": list(range(6))})


def forms(results: pl.DataFrame, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "res.csv"
    results.write_csv(out)
    return {
        "polars": results,
        "lazy": pl.scan_csv(out, schema=results.schema),
        "pandas": results.to_pandas(),
    }


@pytest.mark.parametrize("form", ["polars", "lazy", "pandas"])
def test_summary_takes_every_form(results, tmp_path, form):
    counts = qx.summary(forms(results, tmp_path)[form])
    assert counts["success"] == 2 and counts["failed"] == 3 and counts["invalid"] == 1
    assert counts["dry_run"] == 0


@pytest.mark.parametrize("form", ["polars", "lazy", "pandas"])
def test_rows_to_retry_takes_every_results_form(results, source, tmp_path, form):
    retry = qx.rows_to_retry(source, forms(results, tmp_path)[form])
    assert isinstance(retry, pl.DataFrame) and retry["n"].to_list() == [2, 5]
    everything = qx.rows_to_retry(
        source, forms(results, tmp_path)[form], include_invalid=True, include_unknown=True
    )
    assert everything["n"].to_list() == [1, 2, 3, 5]


def test_rows_to_retry_gives_back_the_kind_of_frame_it_was_given(results, source, tmp_path):
    pandas_source = source.to_pandas().set_axis([10, 11, 12, 13, 14, 15])
    from_pandas = qx.rows_to_retry(pandas_source, results)
    assert isinstance(from_pandas, pd.DataFrame)
    assert from_pandas.index.to_list() == [12, 15] and from_pandas["n"].to_list() == [2, 5]
    from_lazy = qx.rows_to_retry(source.lazy(), results)
    assert isinstance(from_lazy, pl.LazyFrame)
    assert from_lazy.collect()["n"].to_list() == [2, 5]
    path = tmp_path / "in.csv"
    source.write_csv(path)
    from_path = qx.rows_to_retry(path, results)
    assert isinstance(from_path, pl.DataFrame) and from_path["email"].to_list() == [
        "p2@x.org",
        "p5@x.org",
    ]


def test_the_lazyframe_of_out_works_with_the_helpers(tmp_path):
    frame = pl.DataFrame({"email": ["a@x.org", "not-an-address", "c@x.org"]})
    res = qx.upsert_contacts(
        frame, directory_id="POOL_x", dry_run=True, out=tmp_path / "res.parquet"
    )
    assert isinstance(res, pl.LazyFrame)
    assert qx.summary(res)["dry_run"] == 2 and qx.summary(res)["invalid"] == 1
    fixed = qx.rows_to_retry(frame, res, include_invalid=True)
    assert fixed["email"].to_list() == ["not-an-address"]


def test_something_else_is_refused_with_what_to_pass(source):
    with pytest.raises(qx.ConfigError, match="pass what the push returned"):
        qx.summary([{"status": "success"}])
    with pytest.raises(ValueError, match="not a dict"):
        qx.rows_to_retry(source, {"status": ["success"]})
