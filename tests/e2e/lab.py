"""The machinery of the real-browser check (``make e2e``): JupyterLab and a ``qxframe
sandbox`` as subprocesses on 127.0.0.1, a scratch workspace, and page helpers that wait
for the kernel and check what a person can see.

Used by :mod:`run_e2e` (the steps). Chromium is Debian's ``/usr/bin/chromium``, driven by
the ``playwright`` package; never ``playwright install``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "e2e-screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SANDBOX_TOKEN = re.compile(r"sbx_[0-9a-f]{32}")
# Quiet JupyterLab: no news or update checks (offline). Render every cell (no windowing),
# so that widgets out of view are laid out too and can be read and photographed.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

# JS run in the page, against the app JupyterLab exposes (--LabApp.expose_app_in_browser)
JS_NOTEBOOK = "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
JS_KERNEL_IDLE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
    && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
}"""
JS_CELLS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.map((cell) => ({
    type: cell.model.type,
    count: cell.model.type === 'code' ? cell.model.executionCount : null,
    outputs: cell.model.type === 'code' ? cell.model.outputs.toJSON() : [],
  }));
}"""
JS_RUN = """async ([index, command]) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  await window.jupyterapp.commands.execute(command);
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workspace(tmp: Path) -> Path:
    """A copy of notebooks/ and data/samples/ (cwd notebooks/, ``../data/samples``)."""
    shutil.copytree(ROOT / "notebooks", tmp / "notebooks", ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(ROOT / "data" / "samples", tmp / "data" / "samples")
    for name, values in SETTINGS.items():
        path = tmp / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return tmp / "notebooks"


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook of code cells (the scratch notebook the steps drive)."""
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for source in cells
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1))


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment of JupyterLab: no QUALTRICS_* (a fresh panel finds no token)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALTRICS_")}
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
    )
    return env


@contextmanager
def jupyterlab(tmp: Path, root_dir: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab on 127.0.0.1; yields (base URL, token)."""
    port, token = free_port(), secrets.token_hex(24)
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    log = (tmp / "jupyterlab.log").open("w")
    proc = subprocess.Popen(
        command, env=clean_env(tmp), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(base, token, proc)
        yield base, token
    finally:
        stop(proc)
        log.close()


@dataclass
class SandboxProcess:
    """What ``qxframe sandbox`` printed: where it listens, its token and ids."""

    base_url: str
    api_token: str
    directory_id: str
    mailing_list_id: str
    plain_directory_id: str
    plain_mailing_list_id: str
    workflow_url: str


@contextmanager
def sandbox_process(*args: str) -> Iterator[SandboxProcess]:
    """``qxframe sandbox`` in a subprocess of its own (the panel's real-account path)."""
    command = [sys.executable, "-m", "qxframe", "sandbox", "--seed", "5", *args]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, start_new_session=True, cwd=ROOT
    )
    try:
        yield _read_banner(proc)
    finally:
        stop(proc)


def _read_banner(proc: subprocess.Popen[str]) -> SandboxProcess:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"qxframe sandbox exited: {''.join(lines)}")
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    text = "".join(lines)

    def find(pattern: str) -> str:
        match = re.search(pattern, text, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no {pattern!r} in the sandbox banner")
        return match.group(1)

    return SandboxProcess(
        base_url=find(r"listening on (\S+)"),
        api_token=find(r"API token .*: (\S+)"),
        directory_id=find(r"^  directory_id\s+(\S+)"),
        mailing_list_id=find(r"^  mailing_list_id\s+(\S+)"),
        plain_directory_id=find(r"^  plain_directory_id\s+(\S+)"),
        plain_mailing_list_id=find(r"^  plain_mailing_list_id\s+(\S+)"),
        workflow_url=find(r"^  workflow_url\s+(\S+)"),
    )


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a process started above, and its children (its own process group)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for_server(
    base: str, token: str, proc: subprocess.Popen[Any], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("JupyterLab did not answer within a minute")


# -- the page ---------------------------------------------------------------------------


#: the notebook in view (other tabs' notebooks stay in the page, hidden)
CURRENT = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def open_notebook(page: Page, base: str, token: str, name: str) -> int:
    """Open ``name`` alone in JupyterLab (``?reset``: no tabs restored from before), wait
    for its kernel; return its number of cells."""
    page.goto(f"{base}/lab/tree/{name}?reset&token={token}")
    page.wait_for_function(JS_NOTEBOOK, timeout=60_000)
    page.wait_for_selector(f"{CURRENT} .jp-Cell", timeout=60_000)
    wait_idle(page)
    return len(page.evaluate(JS_CELLS))


def wait_idle(page: Page, timeout: float = 180) -> None:
    """Wait until the kernel has been idle for a moment (outputs and widgets settle)."""
    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    while time.monotonic() < deadline:
        if page.evaluate(JS_KERNEL_IDLE):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 1.5:
                return
        else:
            idle_since = None
        page.wait_for_timeout(250)
    raise TimeoutError("the kernel did not become idle")


def run(page: Page, index: int, command: str = "notebook:run-cell") -> None:
    page.evaluate(JS_RUN, [index, command])
    page.wait_for_timeout(500)
    wait_idle(page)


def cell_failures(page: Page, upto: int | None = None) -> list[str]:
    """Code cells (before ``upto``) that did not run, or whose outputs hold an error or a
    traceback on stderr."""
    problems = []
    cells: list[dict[str, Any]] = page.evaluate(JS_CELLS)
    for index, cell in enumerate(cells[:upto]):
        if cell["type"] != "code":
            continue
        if cell["count"] is None:
            problems.append(f"cell {index} did not run")
        for output in cell["outputs"]:
            if output.get("output_type") == "error":
                problems.append(
                    f"cell {index} failed: {output.get('ename')}: {output.get('evalue')}"
                )
            if "Traceback" in "".join(output.get("text", "")):
                problems.append(f"cell {index} printed a traceback")
    return problems


def field(root: Locator, kind: str, label: str) -> Locator:
    """The ``input``/``select`` of the ipywidget whose description is ``label``."""
    box = root.locator(f".widget-{kind}").filter(
        has=root.page.locator(f'label.widget-label:text-is("{label}")')
    )
    return box.locator("select" if kind == "dropdown" else "input").first


def shoot(target: Page | Locator, name: str) -> Path:
    """A screenshot (of the page, or of one element once scrolled into view)."""
    path = SHOTS / name
    if isinstance(target, Locator):
        target.scroll_into_view_if_needed()
        target.page.wait_for_timeout(300)
    target.screenshot(path=path)
    return path
