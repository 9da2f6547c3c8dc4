"""Every accepted input becomes polars chunks; files stream; bad files say what to do."""

from __future__ import annotations

import io
import tempfile
import threading
from pathlib import Path

import hypothesis.strategies as st
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from qxframe import _csvblocks, _inputs
from qxframe._inputs import count_rows, iter_chunks
from qxframe.exceptions import ConfigError

FRAME = pl.DataFrame({"ext_ref": ["007", "010", "3"], "n": [1, 2, 3]})


def _heights(chunks: object) -> list[int]:
    return [c.height for c in chunks]  # type: ignore[attr-defined]


def test_polars_frame_is_sliced_in_order() -> None:
    chunks = list(iter_chunks(FRAME, chunk_size=2))
    assert _heights(chunks) == [2, 1]
    assert pl.concat(chunks).equals(FRAME)


def test_lazy_frame_is_collected_in_batches() -> None:
    lazy = pl.LazyFrame({"a": list(range(10))}).with_columns(b=pl.col("a") * 2)
    chunks = list(iter_chunks(lazy, chunk_size=4))
    assert _heights(chunks) == [4, 4, 2]
    assert pl.concat(chunks)["b"].to_list() == [2 * i for i in range(10)]


def test_pandas_frame_is_converted() -> None:
    frame = pd.DataFrame({"email": ["a@b.com", None, "c@d.org"], "n": [1.5, None, 3.0]})
    chunks = list(iter_chunks(frame, chunk_size=2))
    assert _heights(chunks) == [2, 1]
    out = pl.concat(chunks)
    assert out["email"].to_list() == ["a@b.com", None, "c@d.org"]
    assert out["n"].to_list() == [1.5, None, 3.0]


def test_csv_path_keeps_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("ext_ref,phone,unsubscribed\n007,0005551234,true\n010,,0\n", encoding="utf-8")
    (chunk,) = list(iter_chunks(path))
    assert chunk.schema == pl.Schema(
        {"ext_ref": pl.String, "phone": pl.String, "unsubscribed": pl.String}
    )
    assert chunk.rows() == [("007", "0005551234", "true"), ("010", None, "0")]
    assert next(iter(iter_chunks(str(path)))).equals(chunk)


def test_csv_is_streamed_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    pl.DataFrame({"i": list(range(25))}).write_csv(path)
    assert _heights(iter_chunks(path, chunk_size=10)) == [10, 10, 5]


def test_parquet_path(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    FRAME.write_parquet(path)
    chunks = list(iter_chunks(path, chunk_size=2))
    assert _heights(chunks) == [2, 1]
    assert pl.concat(chunks).equals(FRAME)


def test_empty_inputs_yield_one_empty_chunk_with_columns(tmp_path: Path) -> None:
    header_only = tmp_path / "h.csv"
    header_only.write_text("email,ext_ref\n", encoding="utf-8")
    for source in (FRAME.head(0), FRAME.head(0).lazy(), header_only, pd.DataFrame({"a": []})):
        (chunk,) = list(iter_chunks(source))
        assert chunk.height == 0 and chunk.width > 0


def test_non_utf8_csv_is_a_clear_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,city\nJosé,München\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"not UTF-8.*re-save it as UTF-8"):
        list(iter_chunks(path))


def test_non_utf8_byte_past_the_probe_is_still_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    body = "name\n" + "ascii\n" * 200_000 + "Jos\xe9\n"
    path.write_bytes(body.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        list(iter_chunks(path, chunk_size=50_000))


def test_utf8_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffemail\nzoë@example.com\n".encode())
    (chunk,) = list(iter_chunks(path))
    assert chunk.columns == ["email"] and chunk["email"][0] == "zoë@example.com"


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("rows.xlsx", b"x", "unknown extension '.xlsx'.*give a .csv, .tsv"),
        ("missing.csv", None, "does not exist"),
        ("empty.csv", b"", "is empty"),
    ],
)
def test_bad_paths(tmp_path: Path, name: str, content: bytes | None, pattern: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=pattern):
        iter_chunks(path)


def test_unsupported_sources_and_chunk_sizes() -> None:
    with pytest.raises(ConfigError, match="pass a polars DataFrame"):
        iter_chunks({1, 2})  # a list of dicts is rows now (tests/test_workflow_exploring.py)
    with pytest.raises(ConfigError, match="chunk_size"):
        iter_chunks(FRAME, chunk_size=0)


def test_a_broken_lazy_query_is_a_config_error() -> None:
    lazy = pl.LazyFrame({"a": [1]}).select(pl.col("nope"))
    with pytest.raises(ConfigError, match="reading the LazyFrame failed"):
        list(iter_chunks(lazy))


def test_count_rows(tmp_path: Path) -> None:
    csv, parquet = tmp_path / "a.csv", tmp_path / "a.parquet"
    FRAME.write_csv(csv)
    FRAME.write_parquet(parquet)
    assert count_rows(FRAME) == 3
    assert count_rows(FRAME.to_pandas()) == 3
    assert count_rows(csv) == 3
    assert count_rows(parquet) == 3
    assert count_rows(FRAME.lazy()) is None


SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_sample_files_are_what_make_samples_writes(tmp_path: Path) -> None:
    import runpy

    make = runpy.run_path(str(SAMPLES / "make_samples.py"))
    make["main"](tmp_path)
    for name in ("contacts.csv", "transactions.csv", "workflow_events.csv"):
        written = (tmp_path / name).read_bytes()
        assert written == (SAMPLES / name).read_bytes(), f"re-run make_samples.py ({name})"
        assert len(written) < 100_000
        assert count_rows(SAMPLES / name) == 300


# CSV files are read in blocks cut at record boundaries (qxframe._csvblocks); these make
# the blocks tiny so every boundary case happens, and compare with polars' own reading.

CSV_CASES = {
    "quoted newlines": b'id,note\n1,"two\nlines"\n2,"a ""quoted"" word,\nand more"\n3,x\n',
    "crlf": b'id,note\r\n1,"a\r\nb"\r\n2,\r\n3,""\r\n',
    "no trailing newline": b"id,note\n1,a\n2,b",
    "bom": b"\xef\xbb\xbfid,note\n1,a\n2,b\n",
    "unicode": "id,note\n1,zoë\n2,東京\n3,😀,\n4,€\n".encode().replace(b",\n", b"\n"),
    "record longer than a block": b'id,note\n1,"' + b"long\n" * 40 + b'"\n2,short\n',
    "header with a quoted newline": b'"i\nd",note\n1,a\n',
    "blank lines": b"\n\r\nid,note\n1,a\n\n2,b\n\r\n",
    "one column with nulls": b"id\n1\n\n2\n\n",
    "header only": b"id,note\n",
    "header only, no newline": b"id,note",
}


@pytest.mark.parametrize("name", list(CSV_CASES))
@pytest.mark.parametrize("block_bytes", [1, 2, 3, 7, 16, 1 << 20])
@pytest.mark.parametrize("chunk_size", [1, 2, 1000])
def test_csv_blocks_read_exactly_what_polars_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, block_bytes: int, chunk_size: int
) -> None:
    path = tmp_path / "case.csv"
    path.write_bytes(CSV_CASES[name])
    monkeypatch.setattr(_csvblocks, "BLOCK_BYTES", block_bytes)
    _check_against_polars(path, chunk_size)


def _check_against_polars(path: Path, chunk_size: int) -> None:
    expected = pl.read_csv(path, infer_schema=False)
    chunks = list(iter_chunks(path, chunk_size=chunk_size))
    heights = _heights(chunks)
    assert all(h == chunk_size for h in heights[:-1]) and 0 <= heights[-1] <= chunk_size
    assert_frame_equal(pl.concat(chunks), expected)
    assert count_rows(path) == expected.height


CELL = st.text(alphabet='ab ,"\n\r\té€😀', max_size=8) | st.none()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(CELL, CELL, CELL), max_size=12),
    width=st.integers(1, 3),
    crlf=st.booleans(),
    bom=st.booleans(),
    cut_last_newline=st.booleans(),
    block_bytes=st.integers(1, 48),
    chunk_size=st.integers(1, 5),
)
def test_random_csv_files_read_like_polars(
    rows: list[tuple[str | None, ...]],
    width: int,
    crlf: bool,
    bom: bool,
    cut_last_newline: bool,
    block_bytes: int,
    chunk_size: int,
) -> None:
    columns = ["id", "note, with comma", "zoë"][:width]
    frame = pl.DataFrame([r[:width] for r in rows], schema=columns, orient="row")
    buffer = io.BytesIO()
    frame.write_csv(buffer, line_terminator="\r\n" if crlf else "\n", include_bom=bom)
    data = buffer.getvalue()
    if cut_last_newline:
        data = data.removesuffix(b"\n").removesuffix(b"\r")
    with tempfile.TemporaryDirectory() as tmp:  # hypothesis runs the body many times
        path = Path(tmp) / "random.csv"
        path.write_bytes(data)
        original = _csvblocks.BLOCK_BYTES
        _csvblocks.BLOCK_BYTES = block_bytes
        try:
            _check_against_polars(path, chunk_size)
        finally:
            _csvblocks.BLOCK_BYTES = original


def test_a_bad_byte_after_the_first_block_is_reported_before_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "late.csv"
    head = b"name\n" + b"ascii\n" * 100
    path.write_bytes(head + b"Jos\xe9\n" + b"ascii\n" * 100)
    monkeypatch.setattr(_csvblocks, "BLOCK_BYTES", 64)
    monkeypatch.setattr(_inputs, "_UTF8_PROBE_BYTES", 16)  # not caught when the file opens
    seen = 0
    with pytest.raises(
        ConfigError,
        match=rf"not UTF-8 text \(first bad byte on line 102, at offset {len(head) + 3}\)",
    ):
        for chunk in iter_chunks(path, chunk_size=10):
            seen += chunk.height
    assert 0 < seen <= 100  # rows before the bad one were yielded, none after it


def test_blocks_do_not_read_ahead() -> None:
    data = io.BytesIO(b"a,b\n" + b"1,2\n" * 10_000)
    first = next(_csvblocks._runs(data, 64))
    assert first.offset == 0 and first.line == 1
    assert first.data.endswith(b"\n") and len(first.data) <= 64
    assert data.tell() <= 64


def test_count_rows_of_a_csv_with_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    frame = pl.DataFrame({"note": ["one\ntwo", 'say ""hi""\n', None, "x"] * 50})
    frame.write_csv(path)
    assert count_rows(path) == 200


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(CELL, CELL), min_size=1, max_size=12),
    bad=st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80"]),
    where=st.floats(0, 1),
    block_bytes=st.integers(1, 48),
)
def test_any_bad_byte_is_reported_at_its_offset(
    rows: list[tuple[str | None, ...]], bad: bytes, where: float, block_bytes: int
) -> None:
    buffer = io.BytesIO()
    pl.DataFrame(rows, schema=["id", "note"], orient="row").write_csv(buffer)
    data = buffer.getvalue()
    at = int(where * len(data))
    data = data[:at] + bad + data[at:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start  # at or just before `at`, if `bad` split a character
    else:
        raise AssertionError(f"{data!r} should not be UTF-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bad.csv"
        path.write_bytes(data)
        saved = _csvblocks.BLOCK_BYTES, _inputs._UTF8_PROBE_BYTES
        _csvblocks.BLOCK_BYTES, _inputs._UTF8_PROBE_BYTES = block_bytes, 8
        try:
            line = data.count(b"\n", 0, offset) + 1
            with pytest.raises(
                ConfigError, match=rf"bad byte on line {line}, at offset {offset}\)"
            ):
                list(iter_chunks(path, chunk_size=3))
        finally:
            _csvblocks.BLOCK_BYTES, _inputs._UTF8_PROBE_BYTES = saved


def test_stopping_early_closes_the_file_and_the_reader_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "many.csv"
    pl.DataFrame({"i": [str(i) for i in range(5_000)]}).write_csv(path)
    monkeypatch.setattr(_csvblocks, "BLOCK_BYTES", 256)
    chunks = iter_chunks(path, chunk_size=10)
    assert next(chunks)["i"].to_list() == [str(i) for i in range(10)]
    assert any(t.name.startswith("qxframe-csv") for t in threading.enumerate())
    chunks.close()  # type: ignore[attr-defined]
    assert not any(t.name.startswith("qxframe-csv") for t in threading.enumerate())


# -- files as people have them -----------------------------------------------------------------

ROWS = [("1", "a"), ("2", None), ("3", "c d")]
LINE_ENDINGS = {
    "cr only (Excel CSV (Macintosh))": b"id,note\r1,a\r2,\r3,c d\r",
    "crlf": b"id,note\r\n1,a\r\n2,\r\n3,c d\r\n",
    "mixed": b"id,note\r\n1,a\n2,\r3,c d",
    "cr only, a quoted cr kept": b'id,note\r1,a\r2,\r3,"c d"\r',
}


@pytest.mark.parametrize("name", list(LINE_ENDINGS))
@pytest.mark.parametrize("block_bytes", [1, 2, 3, 5, 1 << 20])
def test_any_line_endings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, block_bytes: int
) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(LINE_ENDINGS[name])
    monkeypatch.setattr(_csvblocks, "BLOCK_BYTES", block_bytes)
    (chunk,) = list(iter_chunks(path))
    assert chunk.columns == ["id", "note"] and chunk.rows() == ROWS
    assert count_rows(path) == 3


def test_a_cr_inside_quotes_stays_in_the_field(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(b'id,note\r1,"two\rlines"\r2,x\r')
    (chunk,) = list(iter_chunks(path))
    assert chunk.rows() == [("1", "two\rlines"), ("2", "x")]


@pytest.mark.parametrize(
    ("name", "separator"), [("in.csv.gz", ","), ("in.tsv", "\t"), ("in.TSV.GZ", "\t")]
)
def test_gzip_and_tsv_files(tmp_path: Path, name: str, separator: str) -> None:
    import gzip

    data = f"id{separator}note\n1{separator}a\n2{separator}\n3{separator}c d\n".encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.lower().endswith(".gz") else data)
    (chunk,) = list(iter_chunks(path))
    assert chunk.rows() == ROWS
    assert count_rows(path) == 3


def test_any_delimiter_and_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes(b"id;note\n1;a\n2;\n3;c d\n")
    (chunk,) = list(iter_chunks(_inputs.CsvSource(path, separator=";")))
    assert chunk.rows() == ROWS
    stream = _inputs.CsvSource(stream=io.BytesIO(path.read_bytes()), separator=";", name="stdin")
    assert count_rows(stream) is None
    assert stream.columns() == ["id", "note"]  # reads the header only
    (chunk,) = list(iter_chunks(stream))  # the header read is not lost
    assert chunk.rows() == ROWS


def test_a_stream_is_read_as_it_comes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_csvblocks, "BLOCK_BYTES", 64)
    data = io.BytesIO(b"id\n" + b"".join(b"%d\n" % i for i in range(100_000)))
    chunks = iter_chunks(_inputs.CsvSource(stream=data), chunk_size=10)
    assert next(chunks)["id"].to_list() == [str(i) for i in range(10)]
    assert data.tell() < 1_000  # the rest of the stream is not read ahead
    chunks.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"id,note\n1,a\n2,b,c\n3,d\n", r"line 3: this row has 3 fields but the header has 2"),
        (b'id,note\n1,a\n2,5" screen\n3,d\n', r"line 3: a stray quote inside a field"),
        (b'id,note\n1,a\n2,"x"y\n3,d\n', r"line 3: text after the closing quote"),
        (b'id,note\n1,a\n\n2,"open\nstill\n', r"line 4: a quote opened on this line is never"),
        (b"id,note\r1,a\r2,b,c\r", r"line 3: this row has 3 fields"),
        (b"id,note\n1,Jos\xe9\n", r"not UTF-8 text \(first bad byte on line 2, at offset 13\)"),
        (b"\n\nid,email,name,email\n1,a,b,c\n", r"line 3: columns 2 and 4 .* both named 'email'"),
        (b"id,,\n1,2,3\n", r"line 1: columns 2 and 3 of the header are both named ''"),
    ],
)
def test_bad_text_names_its_line(tmp_path: Path, data: bytes, pattern: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=pattern):
        list(iter_chunks(path))


def test_a_bad_row_after_the_first_block_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "late.csv"
    path.write_bytes(b"id,note\n" + b"1,a\r\n" * 5_000 + b"2,b,c\n" + b"3,d\n" * 10)
    monkeypatch.setattr(_csvblocks, "BLOCK_BYTES", 1024)
    seen = 0
    with pytest.raises(ConfigError, match=r"late.csv, line 5002: this row has 3 fields"):
        for chunk in iter_chunks(path, chunk_size=100):
            seen += chunk.height
    assert 0 < seen <= 5_000


def test_a_quote_never_closed_does_not_read_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "open.csv"
    path.write_bytes(b'id,note\n1,a\n2,"oops\n' + b"3,c\n" * 10_000)
    monkeypatch.setattr(_csvblocks, "BLOCK_BYTES", 64)
    monkeypatch.setattr(_csvblocks, "MAX_RECORD_BYTES", 1024)
    with pytest.raises(ConfigError, match=r"line 3: a record longer than"):
        list(iter_chunks(path))


@pytest.mark.parametrize("name", ["folder.csv", "broken.csv.gz", "dir.parquet"])
def test_an_unreadable_input_is_a_config_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name == "broken.csv.gz":
        path.write_bytes(b"this is not gzip data at all\n")
    else:
        path.mkdir()
    with pytest.raises(ConfigError, match=r"cannot read|is not a file"):
        list(iter_chunks(path))


def test_out_naming_the_input_or_the_journal_is_refused_in_the_library(tmp_path: Path) -> None:
    import qxframe as qx

    path = tmp_path / "in.csv"
    path.write_bytes(b"email\na@example.com\n")
    journal = tmp_path / "journal.csv"  # any name will do for a journal
    for out in (path, tmp_path / "." / "in.csv"):
        with pytest.raises(ConfigError, match="would destroy it"):
            qx.upsert_contacts(path, directory_id="POOL_abc", dry_run=True, out=out)
    with pytest.raises(ConfigError, match="would destroy it"):
        qx.upsert_contacts(path, directory_id="POOL_abc", journal=journal, out=journal)
    assert path.read_bytes() == b"email\na@example.com\n" and not journal.exists()
