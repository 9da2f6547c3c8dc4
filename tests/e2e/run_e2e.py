"""Real-browser check of the notebook widgets: ``make e2e`` runs this file.

It starts a ``qxframe sandbox`` subprocess (a Qualtrics-compatible server the panel
reaches the way it reaches a real account: token and base URL typed in) and JupyterLab
(127.0.0.1, a free port, a random token) over a temporary copy of ``notebooks/`` and
``data/samples/``, then drives headless Chromium as a person would and checks what is
VISIBLE on the page (playwright's visibility: laid out, not hidden), not only present:

1. a fresh ``qxw.connect()`` shows the token (password), datacenter and base URL fields,
   the Connect button and the sandbox switch, and no pickers yet;
2. a wrong token with the sandbox's base URL: the refusal sentence;
3. the right token: connected, pickers shown, the mailing list at "none";
4. another directory: the mailing lists change, and the no-deduplication warning shows;
4b. a contacts preview's Push with no list picked adds no one to any mailing list (the
   sandbox's list counts, read from this process, stay 0); then the list used below is
   picked;
5. the preview: mapping ``transaction_date`` from ``amount`` changes the body, and the
   early-epoch warning shows; mapping it back restores the body;
6. Push with a refused token: one sentence, no traceback, the bar ends "failed";
7. Push, then Push again: the second sends nothing already sent (no ``success``, rows
   ``skipped``) and offers to send them again; the preview's cell run again (a new
   preview, the same connect panel) says the frame was pushed there and its Push sends
   nothing either; then, in another preview, Push, Cancel
   while it runs (the bar ends "stopped", the results show ``not_sent`` rows), and Push
   again: the rest is sent, what was sent is ``skipped``;
7c. a workflow preview's Push: the per-event view shows the body sent beside the
   response (202), and "Send this one again" sends row 1 once more and says so;
8. a results view of 300 problems: the status bar, the "Show" dropdown reading "all
   problems" before it is used, paging (Next/Previous), both CSV downloads (every row,
   and the problem rows only; saved and read back); the bar's rate and elapsed time, and
   while a push runs, the time left;
8b. at 1366 px wide, no part of the connect panel, the preview or the results view
   reaches past its output area (screenshots of both);
9. notebooks 01 (with its Push button), 02 and 03 run in the browser without an error,
   a widget failing to render, or a traceback; 02 shows its progress bar;

and that no sandbox token (``sbx_…``) is on the page. Screenshots go to
``e2e-screenshots/`` (ignored by git). Exit status 0 when every check passes. Not
collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Locator, Page, expect, sync_playwright

import qxframe as qx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lab
from lab import SHOTS, SandboxProcess, field, run, shoot, wait_idle

SCRATCH = "e2e_panel.ipynb"
WAIT = 60_000  # ms: generous, for a shared machine


def scratch_cells(sb: SandboxProcess) -> list[str]:
    """The scratch notebook: no token in it (the steps type it into the panel)."""
    return [
        "import polars as pl\nimport qxframe as qx\nimport qxframe.widgets as qxw\n"
        'FAST = {"contacts": 6000, "search": 6000, "transactions": 6000}\n'
        'MAPPING = {"transaction_data": ["amount", "currency", "product"]}\n'
        'tx = pl.read_csv("../data/samples/transactions.csv", infer_schema=False)\n'
        'contacts = pl.read_csv("../data/samples/contacts.csv", infer_schema=False)',
        'panel = qxw.connect(client_options={"rate_limits": FAST})\npanel',
        'pv = qxw.preview(tx, action="transactions", client=panel, mapping=MAPPING, rows=3)\n'
        'pv.add_class("e2e-main")\npv',
        f'refused = qx.Client(api_token="not-the-token-0000", base_url="{sb.base_url}")\n'
        'bad = qxw.preview(tx.head(20), action="transactions", client=refused, '
        f'directory_id="{sb.directory_id}", mailing_list_id="{sb.mailing_list_id}")\n'
        'bad.add_class("e2e-refused")\nbad',
        'broken = contacts.with_columns(email=pl.lit("not-an-address"))\n'
        'checked = qx.upsert_contacts(broken, directory_id="POOL_x", dry_run=True)\n'
        'view = qxw.results(checked, frame=broken)\nview.add_class("e2e-view")\nview',
        'slow = qxw.preview(tx, action="transactions", client=panel, mapping=MAPPING, rows=2,\n'
        '                   push_options={"batch_size": 1, "concurrency": 1})\n'
        'slow.add_class("e2e-cancel")\nslow',
        'people = qxw.preview(contacts.head(40), action="contacts", client=panel, rows=2)\n'
        'people.add_class("e2e-people")\npeople',
        'events = pl.read_csv("../data/samples/workflow_events.csv", infer_schema=False).head(3)\n'
        'flow = qxw.preview(events, action="workflow", client=panel, rows=2,\n'
        f'                   workflow_url="{sb.workflow_url}")\n'
        'flow.add_class("e2e-flow")\nflow',
    ]


class Checks:
    """Steps and their checks; a failed step is reported, photographed, and the next
    step runs."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.failures: list[str] = []

    def check(self, condition: bool, message: str) -> None:
        print(("ok    " if condition else "FAIL  ") + message, flush=True)
        if not condition:
            self.failures.append(message)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"-- {name}", flush=True)
        try:
            yield
        except Exception as exc:  # an expect() that timed out, a missing element
            first = (str(exc).strip().splitlines() or [""])[0]
            self.check(False, f"{name}: {type(exc).__name__}: {first}")
            slug = "".join(c if c.isalnum() else "_" for c in name)[:40]
            self.page.screenshot(path=SHOTS / f"99_failed_{slug}.png")

    def visible(self, locator: Locator, message: str) -> None:
        expect(locator).to_be_visible(timeout=WAIT)
        self.check(True, message)


def button(root: Locator, name: str) -> Locator:
    """The button labelled ``name`` (an icon before the label is allowed)."""
    return root.get_by_role("button", name=re.compile(rf"^\W*{re.escape(name)}\s*$"))


def drive_panel(c: Checks, sb: SandboxProcess) -> None:
    page = c.page
    connect = page.locator(".qx-connect")
    token = token_field(connect)
    message = connect.locator(".qx-message").first
    with c.step("1 fresh qxw.connect() shows the real-account fields"):
        run(page, 0)
        run(page, 1)
        c.visible(token, "the token (password) field is visible")
        c.visible(field(connect, "text", "Datacenter"), "the datacenter field is visible")
        c.visible(field(connect, "text", "Base URL"), "the base URL field is visible")
        c.visible(button(connect, "Connect"), "the Connect button is visible")
        switch = connect.locator(".widget-checkbox").filter(has_text="try it in the sandbox")
        c.visible(switch.locator("input[type=checkbox]"), "the sandbox switch is visible")
        expect(field(connect, "dropdown", "Directory")).to_be_hidden()
        c.check(True, "no directory picker before connecting")
        shoot(connect, "01_fresh_connect_panel.png")
    with c.step("2 a wrong token is refused in a sentence"):
        token.fill("not-the-token-0000")
        field(connect, "text", "Base URL").fill(sb.base_url)
        button(connect, "Connect").click()
        wait_idle(page)
        expect(message).to_contain_text("refused the token (401)", timeout=WAIT)
        c.visible(message, f"the refusal sentence shows: {message.inner_text()!r}")
        expect(token).to_have_value("")
        c.check("Traceback" not in connect.inner_text(), "no traceback in the panel")
        shoot(connect, "02_wrong_token.png")
    with c.step("3 the right token connects"):
        token.fill(sb.api_token)
        button(connect, "Connect").click()
        wait_idle(page)
        expect(message).to_contain_text(f"Connected to {sb.base_url}", timeout=WAIT)
        c.visible(field(connect, "dropdown", "Directory"), "connected: the pickers show")
        expect(token).to_have_value("")
        picked = selected_label(field(connect, "dropdown", "Mailing list"))
        c.check(picked.startswith("— none"), f"the mailing list starts at none: {picked!r}")
        shoot(connect, "03_connected.png")
    with c.step("4 another directory changes the mailing lists and warns"):
        directory, lists = (
            field(connect, "dropdown", "Directory"),
            field(connect, "dropdown", "Mailing list"),
        )
        expect(lists).to_contain_text(sb.mailing_list_id, timeout=WAIT)
        choose(directory, sb.plain_directory_id)
        wait_idle(page)
        expect(lists).to_contain_text(sb.plain_mailing_list_id, timeout=WAIT)
        expect(lists).not_to_contain_text(sb.mailing_list_id)
        c.check(True, "the mailing lists changed with the directory")
        warning = connect.locator(".qx-warning")
        expect(warning).to_contain_text("does not deduplicate", timeout=WAIT)
        c.visible(warning, "the no-deduplication warning shows")
        shoot(connect, "04_other_directory.png")
        choose(directory, sb.directory_id)
        wait_idle(page)
        expect(warning).to_have_count(0, timeout=WAIT)
        expect(lists).to_contain_text(sb.mailing_list_id, timeout=WAIT)


def drive_no_list(c: Checks, sb: SandboxProcess) -> None:
    page = c.page
    connect = page.locator(".qx-connect")
    people = page.locator(".qx-preview.e2e-people")
    with c.step("4b a preview Push with no list picked adds no one to a list"):
        run(page, 6)
        c.visible(people.locator(".qx-json").first, "the contacts preview shows")
        button(people, "Push").click()
        status = people.locator(".qx-push-status .qx-message")
        expect(status).to_contain_text("Pushed. 40 rows: success", timeout=WAIT * 3)
        c.visible(status, f"pushed: {status.inner_text()[:70]!r}")
        members = list_members(sb)
        c.check(not any(members.values()), f"no mailing list gained a member: {members}")
        shoot(people, "04b_pushed_no_list.png")
        choose(field(connect, "dropdown", "Mailing list"), sb.mailing_list_id)
        wait_idle(page)
        picked = selected_label(field(connect, "dropdown", "Mailing list"))
        c.check(sb.mailing_list_id in picked, f"a list picked for the pushes below: {picked!r}")


def list_members(sb: SandboxProcess) -> dict[str, int]:
    """Each mailing list's member count, read from the sandbox by this process."""
    client = qx.Client(api_token=sb.api_token, base_url=sb.base_url)
    try:
        counts: dict[str, int] = {}
        for directory_id in client.directories()["directory_id"]:
            lists = client.mailing_lists(directory_id)
            counts.update(zip(lists["mailing_list_id"], lists["contact_count"], strict=True))
        return counts
    finally:
        client.close()


def selected_label(select: Locator) -> str:
    """The label a ``<select>`` shows (what a person reads, not the model's value)."""
    shown = select.evaluate("s => s.selectedIndex < 0 ? '' : s.options[s.selectedIndex].text")
    return spaced(str(shown))


def token_field(root: Locator) -> Locator:
    """The API token's password field (the panel also has an OAuth client secret's)."""
    label = root.page.locator('label.widget-label:text-is("API token")')
    return root.locator(".widget-inline-hbox").filter(has=label).locator("input[type=password]")


def choose(select: Locator, text: str) -> None:
    """Pick the option of a ``<select>`` whose label contains ``text``."""
    labels = select.locator("option").all_inner_texts()
    select.select_option(label=next(label for label in labels if text in spaced(label)))


def spaced(label: str) -> str:
    """A label as typed: ipywidgets shows a dropdown's spaces as no-break spaces."""
    return label.replace("\xa0", " ")


def drive_preview(c: Checks) -> None:
    page = c.page
    main = page.locator(".qx-preview.e2e-main")
    with c.step("5 changing a mapping in the preview changes the body"):
        run(page, 2)
        body = main.locator(".qx-json").first
        c.visible(body, "the preview shows a JSON body")
        before = body.inner_text()
        picker = field(main, "dropdown", "transaction_date")
        picker.select_option(label="amount")
        wait_idle(page)
        expect(body).not_to_have_text(before, timeout=WAIT)
        expect(body).to_contain_text("1970-01-01", timeout=WAIT)
        c.check(True, f"the body changed with the mapping: {body.inner_text()[:70]!r}…")
        warning = main.locator(".qx-preview-table .qx-warning").first
        expect(warning).to_contain_text("epoch milliseconds", timeout=WAIT)
        c.visible(warning, "the early-epoch warning shows")
        shoot(main, "05_preview_mapping_changed.png")
        picker.select_option(label="transaction_date")
        wait_idle(page)
        expect(body).to_have_text(before, timeout=WAIT)
        c.check(True, "mapping it back restores the body")


def drive_pushes(c: Checks) -> None:
    page = c.page
    with c.step("6 Push with a refused token: a sentence, no traceback"):
        run(page, 3)
        bad = page.locator(".qx-preview.e2e-refused")
        button(bad, "Push").click()
        wait_idle(page)
        error = bad.locator(".qx-message.qx-error")
        expect(error).to_contain_text("refused the token (401)", timeout=WAIT)
        c.visible(error, f"the push failure is a sentence: {error.inner_text()[:90]!r}…")
        expect(bad.locator(".qx-progress")).to_contain_text("— failed", timeout=WAIT)
        c.check(True, "the progress bar ended 'failed'")
        c.check("Traceback" not in bad.inner_text(), "no traceback in the preview")
        c.check(not lab.cell_failures(page, 4), "no cell output holds an error")
        shoot(bad, "06_push_refused_token.png")
    main = page.locator(".qx-preview.e2e-main")
    status = main.locator(".qx-push-status .qx-message")  # the push's line
    with c.step("7 Push twice: the second sends nothing already sent"):
        button(main, "Push").click()
        wait_idle(page)
        expect(status).to_contain_text("Pushed. 300 rows: success", timeout=WAIT * 3)
        c.visible(status, f"pushed: {status.inner_text()[:80]!r}")
        expect(main.locator(".qx-progress")).to_contain_text("— done")
        timing = re.compile(r"rows/s · \d+:\d\d elapsed")
        expect(main.locator(".qx-progress")).to_contain_text(timing)
        c.check(True, f"the bar: {main.locator('.qx-progress').inner_text()!r}")
        c.visible(main.locator(".qx-results-view .qx-bar"), "the results view shows")
        shoot(main, "07_pushed_once.png")
        button(main, "Push").click()
        wait_idle(page)
        expect(status).to_contain_text("were not sent again", timeout=WAIT * 3)
        text = status.inner_text()
        c.check("success" not in text and "skipped" in text, f"second push: {text[:90]!r}")
        c.visible(button(main, "Send the already-sent rows again"), "the confirm button shows")
        shoot(main, "08_pushed_twice.png")
    with c.step("7a re-run the preview's cell: its Push sends nothing already sent"):
        run(page, 2)  # a new preview of the same frame, through the same connect panel
        note = main.locator(".qx-push-status .qx-message")
        expect(note).to_contain_text("already pushed to this destination", timeout=WAIT)
        c.visible(note, f"the new preview says so: {note.inner_text()[:70]!r}…")
        c.visible(button(main, "Send the already-sent rows again"), "sending again: one click")
        button(main, "Push").click()
        wait_idle(page)
        expect(status).to_contain_text("were not sent again", timeout=WAIT * 3)
        text = status.inner_text()
        c.check("success" not in text and "skipped 290" in text, f"re-run push: {text[:90]!r}")
        shoot(main, "08a_rerun_cell_pushed.png")


def drive_cancel(c: Checks) -> None:
    page = c.page
    slow = page.locator(".qx-preview.e2e-cancel")
    status = slow.locator(".qx-push-status .qx-message")
    bar = slow.locator(".qx-progress")
    with c.step("7b Push, Cancel, Push again"):
        # a directory no earlier step pushed to (the panel's choice is the preview's)
        connect = page.locator(".qx-connect")
        choose(field(connect, "dropdown", "Directory"), "Partners")
        wait_idle(page)
        choose(field(connect, "dropdown", "Mailing list"), "Partner updates")
        wait_idle(page)
        run(page, 5)
        expect(slow.locator(".qx-json").first).to_contain_text("mailingListId", timeout=WAIT)
        button(slow, "Push").click()
        cancel = button(slow, "Cancel")
        c.visible(cancel, "Cancel shows while the push runs")
        settled = re.compile(r"Pushing: ([2-9][0-9]|[0-9]{3}) of 300")  # some rows were sent
        expect(bar).to_contain_text(settled, timeout=WAIT)
        expect(bar).to_contain_text(re.compile(r"rows/s · .* elapsed · about \d+:\d\d left"))
        c.check(True, f"while it runs, the bar: {bar.inner_text()!r}")
        cancel.click()
        expect(status).to_contain_text("it was cancelled", timeout=WAIT)
        c.visible(status, f"cancelled: {status.inner_text()[:90]!r}")
        expect(bar).to_contain_text("— stopped", timeout=WAIT)
        expect(bar).not_to_contain_text("300 of 300")  # it counts the rows read, not all
        expect(cancel).to_be_hidden(timeout=WAIT)
        c.check(True, "the bar ended 'stopped' and Cancel went away")
        stopped = slow.locator(".qx-results-view .qx-bar-legend")
        expect(stopped).to_contain_text("not_sent", timeout=WAIT)
        c.check(True, "the results of the cancelled push show its not_sent rows")
        shoot(slow, "08b_cancelled.png")
        button(slow, "Push").click()
        expect(status).to_contain_text("Pushed. 300 rows", timeout=WAIT * 5)
        text = status.inner_text()
        c.check("skipped" in text and "not_sent" not in text, f"push again: {text[:90]!r}")
        expect(bar).to_contain_text("— done", timeout=WAIT)
        shoot(slow, "08c_pushed_again.png")


def drive_events(c: Checks) -> None:
    page = c.page
    flow = page.locator(".qx-preview.e2e-flow")
    with c.step("7c a workflow push: each event's body beside its response, one sent again"):
        run(page, 7)
        button(flow, "Push").click()
        status = flow.locator(".qx-push-status .qx-message")
        expect(status).to_contain_text("Pushed. 3 rows: success 3", timeout=WAIT * 2)
        events = flow.locator(".qx-events")
        c.visible(events.locator(".qx-json").first, "the body sent shows")
        response = events.locator(".qx-response")
        expect(response).to_contain_text("202", timeout=WAIT)
        c.visible(response, f"beside the response: {response.inner_text()[:60]!r}…")
        choose(field(events, "dropdown", "Event"), "row 1")
        wait_idle(page)
        button(events, "Send this one again").click()
        wait_idle(page)
        note = events.locator(".qx-message")
        expect(note).to_contain_text("Row 1 sent again: row 1 · success 202", timeout=WAIT)
        c.visible(note, f"sent again: {note.inner_text()!r}")
        expect(response).to_contain_text("sent again", timeout=WAIT)
        shoot(events, "08d_workflow_events.png")


def drive_results(c: Checks, tmp: Path) -> None:
    page = c.page
    view = page.locator(".qx-results-view.e2e-view")
    label = view.locator(".qx-page-label")
    with c.step("8 results view: bar, paging, download"):
        run(page, 4)
        c.visible(view.locator(".qx-bar"), "the status bar shows")
        shown = selected_label(field(view, "dropdown", "Show"))
        c.check(shown.startswith("all problems (300)"), f"'Show' reads before use: {shown!r}")
        c.visible(view.locator(".qx-groups"), "the problems per error code show")
        expect(label).to_contain_text("rows 1–20 of 300", timeout=WAIT)
        button(view, "Next ▶").click()
        expect(label).to_contain_text("rows 21–40 of 300", timeout=WAIT)
        first = view.locator(".qx-problems tbody tr").first.locator("td").first
        expect(first).to_have_text("20")
        c.visible(view.locator(".qx-problems"), "page 2 shows rows 21–40")
        header = view.locator(".qx-problems th").all_inner_texts()
        c.check(header[:3] == ["row", "extRef", "email"], f"identifying columns: {header}")
        shoot(view, "09_results_page_2.png")
        button(view, "◀ Previous").click()
        expect(label).to_contain_text("rows 1–20 of 300", timeout=WAIT)
        for name, rows in (("qxframe-results.csv", 300), ("qxframe-problems.csv", 300)):
            with page.expect_download(timeout=WAIT) as info:
                view.locator("a.qx-download").filter(has_text=name).click()
            saved = tmp / name
            info.value.save_as(saved)
            lines = saved.read_text(encoding="utf-8").splitlines()
            c.check(
                lines[0].startswith("row,status,") and len(lines) == rows + 1,
                f"{name} is the results as CSV ({len(lines) - 1} rows)",
            )


def drive_narrow(c: Checks) -> None:
    """At 1366 px wide (a common laptop), no widget reaches past its output area."""
    page = c.page
    with c.step("8b at 1366 px wide, nothing is cut off"):
        page.set_viewport_size({"width": 1366, "height": 2400})
        page.wait_for_timeout(1000)
        for css in (".qx-connect", ".qx-preview.e2e-main", ".qx-results-view.e2e-view"):
            widget = page.locator(css).first
            widget.scroll_into_view_if_needed()
            cut = widget.evaluate(JS_CUT_OFF)
            c.check(not cut, f"{css}: nothing past the right edge {cut}")
        shoot(page.locator(".qx-preview.e2e-main"), "09b_preview_1366.png")
        shoot(page.locator(".qx-results-view.e2e-view"), "09c_results_1366.png")
        page.set_viewport_size({"width": 1400, "height": 2400})


# the elements of a widget that reach past the right edge of its cell's output area
JS_CUT_OFF = """(root) => {
  const area = (root.closest('.jp-OutputArea-output') || root).getBoundingClientRect();
  const cut = [];
  for (const el of root.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > area.right + 1) {
      const past = Math.round(box.right - area.right);
      cut.push(`${el.tagName.toLowerCase()}.${el.className} +${past}px`);
    }
  }
  return cut.slice(0, 5);
}"""


def drive_notebook(c: Checks, base: str, token: str, name: str, extra: Callable[[], None]):
    page = c.page
    with c.step(f"9 {name} runs in the browser"):
        lab.open_notebook(page, base, token, name)
        run(page, 0, "notebook:run-all-cells")
        problems = lab.cell_failures(page)
        for problem in problems:
            c.check(False, f"{name}: {problem}")
        c.check(not problems, f"{name}: every cell ran without an error")
        text = page.locator(lab.CURRENT).inner_text()
        c.check("Error displaying widget" not in text, f"{name}: every widget rendered")
        extra()
        lab.shoot(page, f"10_{name.removesuffix('.ipynb')}.png")
        check_secrets(c)


def notebook_01(c: Checks) -> Callable[[], None]:
    """01 is run up to its clean-up cell, its Push pressed, then the clean-up run."""

    def extra() -> None:
        shown = c.page.locator(lab.CURRENT)
        c.visible(token_field(shown.locator(".qx-connect")), "01: the token field")
        c.visible(shown.locator(".qx-results-view .qx-bar").first, "01: a results view")

    return extra


def notebook_02(c: Checks) -> Callable[[], None]:
    def extra() -> None:
        shown = c.page.locator(lab.CURRENT)
        cell = shown.locator(".jp-CodeCell").filter(
            has_text='sb.fail_next("transactions", status=400)'
        )
        # JupyterLab renders only the cells in view (content-visibility): look, as a person does
        cell.scroll_into_view_if_needed(timeout=WAIT)
        c.visible(cell.locator(".widget-hprogress"), "02: the streamed push shows its progress bar")
        expect(cell.locator(".jp-OutputArea")).to_contain_text("300/300", timeout=WAIT)
        c.check(True, "02: the bar counted the 300 rows")
        view = shown.locator(".qx-results-view .qx-bar").first
        view.scroll_into_view_if_needed(timeout=WAIT)
        c.visible(view, "02: the results view")

    return extra


def notebook_03(c: Checks) -> Callable[[], None]:
    def extra() -> None:
        shown = c.page.locator(lab.CURRENT)
        c.visible(shown.locator(".qx-preview .qx-json").first, "03: the workflow bodies")

    return extra


def check_secrets(c: Checks) -> None:
    c.check(not lab.SANDBOX_TOKEN.search(c.page.content()), "no sandbox token on the page")


def main() -> int:
    if not Path(lab.CHROMIUM).exists():
        print(f"{lab.CHROMIUM} is missing: run `make e2e-setup` (apt-get install chromium)")
        return 2
    SHOTS.mkdir(exist_ok=True)
    for old in SHOTS.glob("*.png"):  # no picture from an earlier run passes for this one
        old.unlink()
    tmp = Path(tempfile.mkdtemp(prefix="qxframe-e2e-"))
    failures: list[str] = []
    try:
        failures = run_all(tmp)
    except Exception as exc:
        failures = [f"{type(exc).__name__}: {exc}"]
        print(f"FAIL  {failures[0]}")
    finally:
        if failures and (tmp / "jupyterlab.log").exists():
            print("--- end of the JupyterLab log:")
            print((tmp / "jupyterlab.log").read_text()[-3000:])
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{'FAILED' if failures else 'passed'}: screenshots in {SHOTS.relative_to(lab.ROOT)}/")
    for failure in failures:
        print(f"  - {failure}")
    return 1 if failures else 0


def run_all(tmp: Path) -> list[str]:
    root_dir = lab.workspace(tmp)
    with (
        lab.sandbox_process("--latency", "0.01") as sb,  # slow enough to press Cancel
        lab.jupyterlab(tmp, root_dir) as (base, token),
        sync_playwright() as pw,
    ):
        lab.write_notebook(root_dir / SCRATCH, scratch_cells(sb))
        browser = pw.chromium.launch(
            executable_path=lab.CHROMIUM, args=lab.CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1400, "height": 2400}, accept_downloads=True)
        c = Checks(page)
        try:
            lab.open_notebook(page, base, token, SCRATCH)
            drive_panel(c, sb)
            drive_no_list(c, sb)
            drive_preview(c)
            drive_pushes(c)
            drive_results(c, tmp)
            drive_narrow(c)
            drive_cancel(c)
            drive_events(c)
            check_secrets(c)
            lab.shoot(page, "00_scratch_notebook.png")
            drive_notebook(c, base, token, "01_quickstart.ipynb", notebook_01(c))
            drive_notebook(c, base, token, "02_transactions_bulk.ipynb", notebook_02(c))
            drive_notebook(c, base, token, "03_workflow_exploration.ipynb", notebook_03(c))
        finally:
            browser.close()
        return c.failures


if __name__ == "__main__":
    raise SystemExit(main())
