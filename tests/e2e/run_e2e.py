"""Real-browser check of the notebook widgets: ``make e2e`` runs this file.

It copies ``notebooks/`` and ``data/samples/`` to a temporary folder (JupyterLab may
autosave outputs there, never into the repository), starts JupyterLab on 127.0.0.1 (a
free port, a random token, no browser), opens ``01_quickstart.ipynb`` in headless
Chromium (Debian's ``/usr/bin/chromium``, driven by the ``playwright`` package — never
``playwright install``), and:

1. runs every cell but the last (the clean-up);
2. checks no cell failed, no widget failed to render ("Error displaying widget"), the
   connect panel (with its password field) and the preview table rendered as widgets,
   and no sandbox token (``sbx_…``) is on the page;
3. presses the preview's Push button and waits for the results view;
4. runs the last cell, checks it too;

saving screenshots to ``e2e-screenshots/`` (ignored by git). Exit status 0 when all
checks pass. Not collected by pytest (the file name does not start with ``test_``).
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
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "e2e-screenshots"
NOTEBOOK = "01_quickstart.ipynb"
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


@contextmanager
def jupyterlab(tmp: Path, root_dir: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab on 127.0.0.1; yields (base URL, token)."""
    port, token = free_port(), secrets.token_hex(24)
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
    )
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
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(base, token, proc)
        yield base, token
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop JupyterLab and its kernels (its own process group, started above)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for_server(
    base: str, token: str, proc: subprocess.Popen[bytes], timeout: float = 60
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


def wait_idle(page: Page, timeout: float = 120) -> None:
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


def cell_failures(cells: list[dict[str, Any]], upto: int) -> list[str]:
    """Code cells before ``upto`` that did not run, or whose outputs hold an error."""
    problems = []
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
    return problems


def run(page: Page, index: int, command: str) -> None:
    page.evaluate(JS_RUN, [index, command])
    page.wait_for_timeout(500)
    wait_idle(page)


def check(condition: bool, message: str, failures: list[str]) -> None:
    print(("ok    " if condition else "FAIL  ") + message)
    if not condition:
        failures.append(message)


def drive(page: Page, base: str, token: str, failures: list[str]) -> None:
    page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
    page.wait_for_function(JS_NOTEBOOK, timeout=60_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    wait_idle(page)
    cells = page.evaluate(JS_CELLS)
    last = len(cells) - 1

    run(page, last, "notebook:run-all-above")
    page.wait_for_selector(".qx-preview .qx-preview-table", timeout=60_000)
    page.wait_for_timeout(1000)
    cells = page.evaluate(JS_CELLS)
    for problem in cell_failures(cells, last):
        check(False, problem, failures)
    check(not cell_failures(cells, last), f"cells 0..{last - 1} ran without errors", failures)
    check_widgets(page, failures)
    page.screenshot(path=SHOTS / "01_notebook.png")
    shoot(page, ".qx-connect", "02_connect_panel.png")
    shoot(page, ".qx-preview", "03_preview.png")

    page.locator(".qx-preview button", has_text="Push").click()
    page.wait_for_selector(".qx-preview .qx-results-view", timeout=60_000)
    wait_idle(page)
    status = page.locator(".qx-preview .qx-message").first.inner_text()
    check(
        "Pushed. 300 rows" in status, f"Push button pushed and shows results ({status!r})", failures
    )
    shoot(page, ".qx-preview", "04_preview_after_push.png")
    shoot(page, ".qx-results-view >> nth=0", "05_results_view.png")

    run(page, last, "notebook:run-cell")
    cells = page.evaluate(JS_CELLS)
    check(not cell_failures(cells, last + 1), "the clean-up cell ran without errors", failures)
    check_secrets(page, failures)


def shoot(page: Page, selector: str, name: str) -> None:
    """A screenshot of one element, once scrolling has settled."""
    element = page.locator(selector)
    element.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    element.screenshot(path=SHOTS / name)


def check_widgets(page: Page, failures: list[str]) -> None:
    text = page.locator(".jp-Notebook").inner_text()
    check("Error displaying widget" not in text, "no 'Error displaying widget'", failures)
    check(page.locator(".qx-connect").count() == 1, "connect panel rendered as a widget", failures)
    password = page.locator(".qx-connect input[type=password]")
    check(password.count() == 1, "connect panel has a password field", failures)
    check(password.input_value() == "", "password field is empty", failures)
    connected = page.locator(".qx-connect .qx-message").inner_text()
    check("Connected to" in connected, f"connect panel says {connected!r}", failures)
    rows = page.locator(".qx-preview .qx-preview-table tbody tr").count()
    check(rows == 12, f"preview table rendered with its 12 rows ({rows})", failures)
    invalid = page.locator(".qx-preview .qx-preview-table .qx-status-invalid").count()
    check(invalid == 2, f"preview marks the 2 invalid rows ({invalid})", failures)
    views = page.locator(".qx-results-view").count()
    check(views == 1, "results view rendered as a widget", failures)


def check_secrets(page: Page, failures: list[str]) -> None:
    check(not SANDBOX_TOKEN.search(page.content()), "no sandbox token on the page", failures)


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: run `make e2e-setup` (apt-get install chromium)")
        return 2
    SHOTS.mkdir(exist_ok=True)
    for old in SHOTS.glob("*.png"):  # no picture from an earlier run passes for this one
        old.unlink()
    failures: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="qxframe-e2e-"))
    try:
        root_dir = workspace(tmp)
        with jupyterlab(tmp, root_dir) as (base, token), sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            try:
                drive(page, base, token, failures)
            except Exception as exc:  # a timeout: keep a picture of what the page showed
                page.screenshot(path=SHOTS / "99_failure.png")
                check(False, f"{type(exc).__name__}: {str(exc).splitlines()[0]}", failures)
            finally:
                browser.close()
    except Exception as exc:
        check(False, f"{type(exc).__name__}: {exc}", failures)
    finally:
        if failures and (tmp / "jupyterlab.log").exists():
            print("--- end of the JupyterLab log:")
            print((tmp / "jupyterlab.log").read_text()[-3000:])
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{'FAILED' if failures else 'passed'}: screenshots in {SHOTS.relative_to(ROOT)}/")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
