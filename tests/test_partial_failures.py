"""A push that fails part-way keeps what it sent in view: in-memory frames are prepared
whole before the first request; a streamed input's later chunk that fails stops the push
with an error carrying ``.results`` (and ``.sent``), saying how many rows were sent and
how to resume; with ``out=`` the file holds the rows settled so far."""

from __future__ import annotations

import polars as pl
import pytest

import qxframe as qx
import qxframe.actions._chunks as chunks
from qxframe._sinks import read_results

STRICT_EXT_REF = {"ext_ref": pl.col("n").cast(pl.Int64, strict=True).cast(pl.String)}


def rows(n: int, bad: int | None = None, prefix: str = "p") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "email": [f"{prefix}{i}@example.com" for i in range(n)],
            "n": ["oops" if i == bad else str(i) for i in range(n)],
        }
    )


def text_of(error: BaseException) -> str:
    return " ".join([str(error), *getattr(error, "__notes__", [])])


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK_SIZE", 10)
    monkeypatch.setattr(chunks, "FLIGHT_CHUNK_SIZE", 10)


def test_an_in_memory_frame_failing_at_row_55000_sends_nothing(sb):
    frame = rows(60_000, bad=55_000)
    with pytest.raises(qx.ConfigError) as info:
        qx.upsert_contacts(
            frame, client=sb.client(), directory_id=sb.directory_id, mapping=STRICT_EXT_REF
        )
    assert sb.requests().height == 0
    assert "had been sent" not in text_of(info.value)


def test_an_in_memory_frame_is_validated_whole_even_across_chunks(sb, small_chunks):
    """Row 25 fails in the third chunk; the frame is prepared first, so nothing goes."""
    with pytest.raises(qx.ConfigError):
        qx.upsert_contacts(
            rows(30, bad=25),
            client=sb.client(),
            directory_id=sb.directory_id,
            mapping=STRICT_EXT_REF,
        )
    assert sb.requests().height == 0


def test_a_later_chunk_of_a_file_failing_stops_the_push_with_its_results(
    sb, small_chunks, tmp_path
):
    source = tmp_path / "in.csv"
    rows(30, bad=25).write_csv(source)
    with pytest.raises(qx.ConfigError) as info:
        qx.upsert_contacts(
            source, client=sb.client(), directory_id=sb.directory_id, mapping=STRICT_EXT_REF
        )
    error = info.value
    results = error.results
    assert results["row"].to_list() == list(range(30))
    assert results["status"].to_list() == ["success"] * 20 + ["not_sent"] * 10
    assert error.sent == 20 == sb.contacts().height
    assert "20 row(s) had been sent" in text_of(error)
    assert "no journal" in text_of(error)


def test_with_out_the_file_holds_the_settled_rows_when_the_error_is_raised(
    sb, small_chunks, tmp_path
):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    rows(30, bad=25).write_csv(source)
    with pytest.raises(qx.ConfigError) as info:
        qx.upsert_contacts(
            source,
            client=sb.client(),
            directory_id=sb.directory_id,
            mapping=STRICT_EXT_REF,
            out=out,
        )
    written = read_results(out)
    assert written["row"].to_list() == list(range(30))
    assert written.filter(pl.col("status") == "success").height == 20
    assert isinstance(info.value.results, pl.LazyFrame)
    assert info.value.results.collect().equals(written)


def test_a_lazyframe_failing_on_collect_later_carries_what_was_sent(sb, small_chunks):
    """Whatever was sent before the error is carried by it, and nothing else was sent.

    How much that is belongs to polars: up to 2.1 its streaming engine raised a batch's
    error in order, after the batches before it (rows were sent: ``make test-min``); from
    2.2 it may raise it before the first batch, having computed ahead (nothing sent). A
    file qxframe reads itself fails in order (the CSV tests above)."""
    lazy = rows(60, bad=55).lazy().with_columns(STRICT_EXT_REF["ext_ref"].alias("ext_ref"))
    with pytest.raises(qx.QxError) as info:
        qx.upsert_contacts(lazy, client=sb.client(), directory_id=sb.directory_id)
    error = info.value
    assert error.sent == sb.contacts().height
    assert "oops" in str(error)
    if error.sent:
        sent = error.results.filter(pl.col("status") == "success")
        assert sent.height == error.sent
        assert f"{error.sent} row(s) had been sent" in str(error)
    else:
        assert "had been sent" not in str(error)


def test_the_same_push_with_its_journal_resumes_after_the_fix(sb, small_chunks, tmp_path):
    source, journal = tmp_path / "in.csv", tmp_path / "j.sqlite"
    rows(30, bad=25).write_csv(source)
    options = {"directory_id": sb.plain_directory_id, "journal": journal}
    with pytest.raises(qx.ConfigError) as info:
        qx.upsert_contacts(source, client=sb.client(), mapping=STRICT_EXT_REF, **options)
    assert str(journal) in text_of(info.value)
    rows(30).write_csv(source)  # the bad value fixed
    again = qx.upsert_contacts(source, client=sb.client(), mapping=STRICT_EXT_REF, **options)
    assert again["status"].to_list() == ["skipped"] * 20 + ["success"] * 10
    emails = sb.contacts()["email"]
    assert emails.n_unique() == emails.len() == 30


def test_a_refused_token_after_unknown_outcomes_carries_them(sb):
    """Three creates answered 500 (sent, outcome unknown), then a 401 stops the push."""
    sb.fail_next("contacts", status=500, times=3)
    sb.fail_next("contacts", status=401)
    frame = rows(8)
    with pytest.raises(qx.AuthError) as info:
        qx.upsert_contacts(
            frame, client=sb.client(), directory_id=sb.plain_directory_id, concurrency=1
        )
    results = info.value.results
    assert results["row"].to_list() == list(range(8))
    assert results["error_code"].to_list()[:3] == ["outcome_unknown"] * 3
    assert results["status"].to_list()[3:] == ["not_sent"] * 5
    assert info.value.sent == 3
    assert "3 row(s) had been sent" in str(info.value)


def test_the_cli_exits_1_for_an_error_raised_after_sending():
    """``.sent`` decides: a ConfigError (else exit 2) raised after rows were sent exits 1."""
    from qxframe.cli._edge import at_edge

    def fail(sent: int) -> int:
        error = qx.ConfigError("reading in.csv failed at line 26")
        error.sent = sent
        raise error

    assert at_edge(lambda: fail(20)) == 1
    assert at_edge(lambda: fail(0)) == 2
