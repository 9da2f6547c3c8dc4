"""``qxframe sandbox``: help, and a real server started in a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from qxframe.cli import main


def test_help_lists_the_sandbox_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "sandbox" in capsys.readouterr().out


def test_sandbox_help(capsys):
    with pytest.raises(SystemExit):
        main(["sandbox", "--help"])
    out = capsys.readouterr().out
    for flag in ("--port", "--latency", "--rate-limit", "--error-rate", "--seed"):
        assert flag in out


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def _read_banner(proc: subprocess.Popen, deadline: float) -> str:
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Ctrl-C" in line:
            return "".join(lines)
    raise AssertionError("no banner from `qxframe sandbox`:\n" + "".join(lines))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_sandbox_command_serves_until_signalled(stop_signal):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qxframe.cli", "sandbox", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        banner = _read_banner(proc, time.monotonic() + 15)
        base_url = re.search(r"export QUALTRICS_BASE_URL=(\S+)", banner).group(1)
        token = re.search(r"export QUALTRICS_API_TOKEN=(\S+)", banner).group(1)
        assert base_url.startswith("http://127.0.0.1:")
        assert "throwaway" in banner and "POOL_" in banner and "CG_" in banner
        assert "urlTokenId=" in banner
        response = httpx.get(base_url + "/API/v3/whoami", headers={"X-API-TOKEN": token}, timeout=5)
        assert response.status_code == 200
        proc.send_signal(stop_signal)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_sandbox_command_reports_a_busy_port(tmp_path):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "qxframe.cli", "sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert done.returncode == 2
    assert "qxframe sandbox:" in done.stderr
