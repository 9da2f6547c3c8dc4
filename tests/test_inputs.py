"""Every accepted input becomes polars chunks; files stream; bad files say what to do."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

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
        ("rows.xlsx", b"x", "unknown extension '.xlsx'.*give a .csv or .parquet"),
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
        iter_chunks([{"a": 1}])
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
