"""Small helpers shared by the action tests."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import polars as pl


def rows(results: pl.DataFrame) -> list[dict]:
    """The results as plain dicts, for comparisons."""
    return results.to_dicts()


def bodies(sb, family: str) -> int:
    """How many requests of ``family`` the sandbox received."""
    return sb.requests().filter(pl.col("family") == family).height


def payloads(results: pl.DataFrame) -> list[dict | None]:
    return [None if p is None else json.loads(p) for p in results["payload"].to_list()]


def journal_successes(path: Path) -> int:
    """How many rows the journal at ``path`` records as succeeded (0 before it exists)."""
    return journal_count(path, "SELECT count(*) FROM entries WHERE status = 'success'")


def journal_count(path: Path, query: str) -> int:
    """The count ``query`` reads from the journal at ``path`` (0 before it exists)."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute(query).fetchone()[0])
    except sqlite3.Error:
        return 0


def sigkill_once_recorded(
    process: subprocess.Popen,
    journal: Path,
    successes: int,
    within: float,
    *,
    and_then: str | None = None,
) -> int:
    """SIGKILL ``process`` once its journal records ``successes`` rows — and, with
    ``and_then``, once that query counts at least one row too — failing the test if that
    takes over ``within`` seconds or the process ends first; return the successes then."""

    def ready() -> bool:
        if journal_successes(journal) < successes:
            return False
        return and_then is None or journal_count(journal, and_then) > 0

    deadline = time.monotonic() + within
    while not ready() and process.poll() is None:
        assert time.monotonic() < deadline, "the first push recorded no success in time"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL, "the push ended before it was killed"
    return journal_successes(journal)


IMPORT_PUSH = """
import sys
import polars as pl
import qxframe as qx
from qxframe.actions import _chunks, _imports

base, token, directory_id, mailing_list_id, journal, out, rows, jobs, chunk = sys.argv[1:]
_imports.MAX_CONTACTS, _chunks.FLIGHT_CHUNK_SIZE = 20, int(chunk)
frame = pl.DataFrame({"email": [f"p{i}@example.com" for i in range(int(rows))]})
client = qx.Client(api_token=token, base_url=base, rate_limits={"imports": 6000})
res = qx.upsert_contacts(
    frame, client=client, directory_id=directory_id, mailing_list_id=mailing_list_id,
    method="import", import_jobs=int(jobs), journal=journal, progress=False,
)
res.write_parquet(out)
"""


def import_push(sb, journal: Path, out: Path, *, rows: int, jobs: int, chunk: int) -> list[str]:
    """The command of a process that pushes ``rows`` people by import (jobs of 20, at most
    ``jobs`` at once, contacts' chunks of ``chunk`` rows) with ``journal`` into ``sb``'s
    list of its directory that does not deduplicate (a job made twice would make each of
    its contacts twice), results to ``out``: a push to kill and resume."""
    import sys

    argv = [sys.executable, "-c", IMPORT_PUSH, sb.base_url, sb.api_token]
    argv += [sb.plain_directory_id, sb.plain_mailing_list_id, str(journal), str(out)]
    return [*argv, str(rows), str(jobs), str(chunk)]
