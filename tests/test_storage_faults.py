"""The record of what was sent survives a full, read-only or damaged disk (issue 20,
defects 6 and 8): a journal or results file that cannot be written raises
``StorageError`` naming the file and what to do, carrying ``.results`` and ``.sent``; the
results file never ends in half a row; a journal error is never hidden by a later one.

Faults are made in-process (a file object that fills up, SQLite's ``max_page_count`` and
``query_only``), and once for the CLI with ``RLIMIT_FSIZE`` in a subprocess."""

from __future__ import annotations

import errno
import io
import os
import resource
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import qxframe as qx
from qxframe import _journal, _sinks

N = 300


def people(n: int = N) -> pl.DataFrame:
    return pl.DataFrame({"ext_ref": [f"s{i}" for i in range(n)]})


class FullDisk(io.FileIO):
    """A file on a disk with ``room`` bytes left: a write past it writes what fits, then
    fails with ENOSPC (as a real full disk does)."""

    room = 0

    def write(self, data):  # type: ignore[override]
        data = bytes(data)
        fits = max(0, min(len(data), FullDisk.room - self.tell()))
        if fits < len(data):
            if fits:
                super().write(data[:fits])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(path, room)``: opening ``path`` for writing gives a :class:`FullDisk`."""
    real_open = Path.open

    def arm(target: Path, room: int) -> None:
        FullDisk.room = room

        def opening(self, mode="r", buffering=-1, *args, **kwargs):
            if self == target and "w" in mode:
                return FullDisk(str(self), "w")
            return real_open(self, mode, buffering, *args, **kwargs)

        monkeypatch.setattr(Path, "open", opening)

    return arm


def limit_journal(monkeypatch, pragma: str) -> None:
    """Journals opened from now on get ``pragma`` once set up (a full or read-only disk)."""
    setup = _journal.Journal._setup

    def limited(self):
        setup(self)
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        self._db.execute(pragma.format(pages=pages))

    monkeypatch.setattr(_journal.Journal, "_setup", limited)


def test_a_full_disk_under_the_results_file_keeps_every_outcome(sb, tmp_path, full_disk):
    out = tmp_path / "results.csv"
    full_disk(out, room=700)  # the header and a few rows' worth
    with pytest.raises(qx.StorageError) as caught:
        qx.upsert_contacts(people(), client=sb.client(), directory_id=sb.directory_id, out=out)
    error = caught.value
    assert str(out) in str(error) and "No space left on device" in str(error)
    assert f"{N} row(s) had been sent" in str(error) and error.path == out
    assert error.sent == N and sb.contacts().height == N
    results = error.results.collect()
    assert results.height == N and results["status"].to_list() == ["success"] * N
    text = out.read_bytes()
    assert text.endswith(b"\n") and len(text) <= 700  # cut back to its last whole row
    assert pl.read_csv(out).columns == list(_sinks._results.SCHEMA)


def test_a_full_disk_under_a_parquet_results_file_keeps_every_outcome(sb, tmp_path, monkeypatch):
    def no_room(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pl.DataFrame, "write_parquet", no_room)
    out = tmp_path / "results.parquet"
    with pytest.raises(qx.StorageError, match=r"results\.parquet") as caught:
        qx.upsert_contacts(people(), client=sb.client(), directory_id=sb.directory_id, out=out)
    assert caught.value.sent == N and caught.value.results.collect().height == N
    assert not list(tmp_path.glob(".results.parquet.*/part-*"))


def test_a_full_journal_is_a_storage_error_naming_it_with_the_results(sb, tmp_path, monkeypatch):
    journal = tmp_path / "push.journal"
    limit_journal(monkeypatch, "PRAGMA max_page_count = {pages}")
    with pytest.raises(qx.StorageError) as caught:
        qx.upsert_contacts(
            people(), client=sb.client(), directory_id=sb.directory_id, journal=journal
        )
    error = caught.value
    assert error.path == journal and str(journal) in str(error)
    assert "database or disk is full" in str(error) and "run the same push again" in str(error)
    assert error.results.height == N
    assert error.sent == error.results.filter(pl.col("attempts") > 0).height


def test_a_journal_error_is_not_hidden_by_the_results_file_failing_next(
    sb, tmp_path, monkeypatch, full_disk
):
    journal, out = tmp_path / "push.journal", tmp_path / "results.csv"
    limit_journal(monkeypatch, "PRAGMA max_page_count = {pages}")
    full_disk(out, room=10)
    with pytest.raises(qx.StorageError) as caught:
        qx.upsert_contacts(
            people(), client=sb.client(), directory_id=sb.directory_id, journal=journal, out=out
        )
    assert caught.value.path == journal
    assert any("results.csv" in note for note in caught.value.__notes__)


def test_a_read_only_journal_is_a_storage_error_before_anything_is_sent(sb, tmp_path, monkeypatch):
    journal = tmp_path / "push.journal"
    limit_journal(monkeypatch, "PRAGMA query_only = ON")
    with pytest.raises(qx.StorageError, match="readonly database") as caught:
        qx.upsert_contacts(
            people(), client=sb.client(), directory_id=sb.directory_id, journal=journal
        )
    assert caught.value.path == journal and sb.contacts().height == 0


def test_the_cli_names_the_results_file_a_full_disk_stopped(live, tmp_path):
    """A file size limit (EFBIG, as a quota or a full disk) under --out: the CLI prints
    the file's name and what to do, not a bare 'File too large'."""
    live.reset()
    source, n = tmp_path / "people.csv", 20  # the CLI's client keeps Qualtrics' 500/min
    people(n).write_csv(source)
    out = tmp_path / "results.csv"
    env = {**os.environ, "QUALTRICS_BASE_URL": live.base_url, "QUALTRICS_API_TOKEN": live.api_token}
    limit = source.stat().st_size + 300  # the input is read; results stop past 300 bytes

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    argv = ["push", "contacts", str(source), "--directory-id", live.directory_id]
    done = subprocess.run(
        [sys.executable, "-m", "qxframe", *argv, "--out", str(out), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=small_files,
        timeout=120,
    )
    assert done.returncode != 0
    assert f"could not write the results file '{out}'" in done.stderr, done.stderr
    assert "File too large" in done.stderr and f"{n} row(s) had been sent" in done.stderr
    assert out.read_bytes().endswith(b"\n") and live.contacts().height == n
