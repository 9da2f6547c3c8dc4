"""``qxframe push`` in a terminal (a pty): the bar appears for any push that lasts, never
before an input error, never counts rows not sent; Ctrl-C and an error after sending
print the per-status summary."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
from collections.abc import Callable

import polars as pl
import pytest

import qxframe as qx
from qxframe import _partial, cli
from qxframe._results import Status, conform
from qxframe.exceptions import QxError
from tests import test_cli_push
from tests.test_cli_push import PEOPLE, write_csv

sb, live = test_cli_push.sb, test_cli_push.live  # fixtures

ROWS = 200
BAR = re.compile(r"qxframe workflow: +(?:(\d+)%\|[^|]*\| )?(\d+)/(\d+)")


@pytest.fixture(scope="module")
def slow():
    """A loopback sandbox answering every request after 0.25 s."""
    with qx.sandbox(latency=0.25, seed=3) as sandbox:
        yield sandbox


def in_a_terminal(
    args: list[str], env: dict[str, str], until: Callable[[str], bool] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Run ``qxframe ARGS`` with its stdout and stderr on a pty; read what it writes until
    it exits, or (``until``) until what it wrote so far satisfies ``until``."""
    main, child = os.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # 40x120
    process = subprocess.Popen(
        [sys.executable, "-m", "qxframe", *args],
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
        env=env,
    )
    os.close(child)
    seen = b""
    try:
        while until is None or not until(seen.decode(errors="replace")):
            ready, _, _ = select.select([main], [], [], 60)
            assert ready, f"no output for 60 s; so far: {seen[-500:]!r}"
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            seen += data
    finally:
        if until is None:
            os.close(main)
    process.main = main  # type: ignore[attr-defined]
    return process, seen.decode(errors="replace")


def rest_of(process: subprocess.Popen[bytes]) -> str:
    """What ``process`` writes to its terminal until it exits."""
    main = process.main  # type: ignore[attr-defined]
    seen = b""
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        assert ready, "no output for 60 s"
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        seen += data
    os.close(main)
    process.wait(timeout=30)
    return seen.decode(errors="replace")


def environment(sandbox) -> dict[str, str]:
    return os.environ | {
        "QUALTRICS_BASE_URL": sandbox.base_url,
        "QUALTRICS_API_TOKEN": sandbox.api_token,
    }


def counts(summary: str) -> dict[str, int]:
    return {s: int(n) for s, n in re.findall(r"^  (\w+) +(\d+)", summary, re.M)}


def test_a_push_of_a_few_rows_that_lasts_shows_its_bar(slow, tmp_path):
    """8 rows, one at a time at 0.25 s each: the bar shows though the push is small."""
    slow.reset()
    source = write_csv(tmp_path, pl.DataFrame({"n": [str(i) for i in range(8)]}))
    args = ["push", "workflow", source, "--workflow-url", slow.workflow_url, "--concurrency", "1"]
    process, seen = in_a_terminal(args, environment(slow))
    assert process.wait(timeout=30) == 0, seen
    bars = BAR.findall(seen)
    assert bars and bars[-1] == ("100", "8", "8"), seen
    assert "success          8" in seen
    quiet, said = in_a_terminal([*args, "--no-progress"], environment(slow))
    assert quiet.wait(timeout=30) == 0 and "success          8" in said
    assert not BAR.search(said), said


def test_no_bar_is_drawn_before_an_input_error(slow, tmp_path):
    source = write_csv(tmp_path, PEOPLE)
    args = ["push", "workflow", source, "--workflow-url", slow.workflow_url]
    process, seen = in_a_terminal([*args, "--map", "event_payload=nope"], environment(slow))
    assert process.wait(timeout=30) == 2, seen
    assert "nope" in seen and not BAR.search(seen) and "qxframe workflow:" not in seen


def test_ctrl_c_prints_the_summary_and_the_bar_counts_only_rows_sent(slow, tmp_path):
    slow.reset()
    source = write_csv(
        tmp_path, pl.DataFrame({"email": [f"p{i}@example.com" for i in range(ROWS)]})
    )
    out = tmp_path / "out.csv"
    args = ["push", "workflow", source, "--workflow-url", slow.workflow_url]
    args += ["--concurrency", "2", "--out", str(out)]

    def some_rows_done(seen: str) -> bool:
        return any(int(done) >= 10 for *_, done, _ in BAR.findall(seen))

    process, seen = in_a_terminal(args, environment(slow), until=some_rows_done)
    process.send_signal(signal.SIGINT)
    seen += rest_of(process)
    assert process.returncode == 130, seen
    assert "interrupted; nothing more was sent" in seen and "Traceback" not in seen
    summary = seen[seen.index("qxframe push workflow (stopped):") :]
    told = counts(summary)
    assert sum(told.values()) == ROWS and told["not_sent"] > 0
    sent = told["success"] + told["failed"]  # failed: outcome unknown, on the wire at Ctrl-C
    last = BAR.findall(seen[: seen.index("qxframe push workflow (stopped):")])[-1]
    assert int(last[1]) == sent < ROWS and last[0] != "100", last
    assert slow.workflow_events().height >= told["success"]
    assert qx.summary(pl.read_csv(out))["not_sent"] == told["not_sent"]


def test_a_push_that_raised_after_sending_exits_1_with_its_summary(
    sb, tmp_path, monkeypatch, capsys
):
    """The run stops on an error after two rows were sent: the summary says what was done."""

    def raises_after_sending(action, frame, *, sink, journal, **options):
        part = conform(
            pl.DataFrame(
                {
                    "row": [0, 1, 2],
                    "status": [Status.SUCCESS, Status.SUCCESS, Status.NOT_SENT],
                    "attempts": [1, 1, 0],
                }
            )
        )
        sink(part)
        error = QxError("Qualtrics went away.")
        _partial.attach(error, None, 2, journal)
        raise error

    class Started:  # what start_push hands back: a push that raises when waited for
        def __init__(self, *args, **options):
            self.args, self.options = args, options

        def result(self):
            return raises_after_sending(*self.args, **self.options)

    monkeypatch.setattr("qxframe._skins.start_push", Started)
    out = tmp_path / "r.csv"
    argv = ["push", "contacts", write_csv(tmp_path, PEOPLE), "--directory-id", sb.directory_id]
    assert cli.main([*argv, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    told = counts(captured.out)
    assert told["success"] == 2 and told["not_sent"] == 1
    assert "(stopped)" in captured.out and f"Results: {out}" in captured.out
    assert "Qualtrics went away. — 2 row(s) had been sent" in captured.err
    assert ".results" not in captured.err and "journal=" not in captured.err
