"""Headless tests of ``qxframe.widgets``: build each widget, set values and press buttons in
code, and check what is shown; the pure functions behind the widgets; and the token, which
must never reach a widget's state or an output."""

from __future__ import annotations

import base64
import html
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import ipywidgets as w
import polars as pl
import pytest

import qxframe as qx
import qxframe.widgets as qxw
from qxframe._fields import MAX_WORKFLOW_BYTES, field
from qxframe.exceptions import AuthError, ConfigError, NotFoundError, TransportError
from qxframe.widgets import (
    _connect,
    _errors,
    _events,
    _html,
    _journals,
    _labels,
    _picks,
    _preview,
    _problems,
    _push,
    _results_view,
)

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
TOKEN = "tok_SECRET_do_not_show_1234567890"


# -- helpers -----------------------------------------------------------------------------


def tree(widget: w.Widget) -> Iterator[w.Widget]:
    """``widget`` and every widget it holds (children, layout, style, …), once each."""
    seen: set[int] = set()
    stack = [widget]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for name in current.keys:
            value = getattr(current, name)
            values = value if isinstance(value, list | tuple) else [value]
            stack.extend(v for v in values if isinstance(v, w.Widget))


def shown_text(widget: w.Widget) -> str:
    """Every widget's synced state in the tree, and the widget's own display outputs."""
    states = [json.dumps(node.get_state(), default=str) for node in tree(widget)]
    bundle = json.dumps(widget._repr_mimebundle_() or {}, default=str)
    return "\n".join([*states, bundle, repr(widget)])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sb() -> Iterator[qx.Sandbox]:
    with qx.sandbox(seed=3) as sandbox:
        yield sandbox


@pytest.fixture
def panel(sb: qx.Sandbox) -> Iterator[qxw.ConnectPanel]:
    p = qxw.connect(sandbox=sb)
    yield p
    p.disconnect()


@pytest.fixture
def contacts() -> pl.DataFrame:
    return pl.read_csv(SAMPLES / "contacts.csv", infer_schema=False)


# -- the package -------------------------------------------------------------------------


def test_importing_qxframe_does_not_import_ipywidgets():
    code = "import sys, qxframe; print('ipywidgets' in sys.modules, 'IPython' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_importing_qxframe_widgets_imports_ipywidgets():
    code = "import sys, qxframe.widgets; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_public_surface():
    assert qxw.__all__ == [
        "ConnectPanel",
        "PreviewPanel",
        "ResultsView",
        "connect",
        "preview",
        "results",
    ]


# -- connect: pure helpers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AuthError("no", http_status=401), "refused the token (401)"),
        (AuthError("no", http_status=403), "refused access (403)"),
        (TransportError("down"), "Could not reach https://x.example"),
        (ConfigError("Invalid datacenter ID 'a b'."), "Invalid datacenter ID"),
        (NotFoundError("Qualtrics answered 404."), "answered with an error: Qualtrics"),
        (RuntimeError("boom"), "failed unexpectedly (RuntimeError: boom)"),
    ],
)
def test_describe_error_is_one_sentence(error, expected):
    text = _errors.describe_error(error, "https://x.example")
    assert expected in text and "Traceback" not in text and "\n" not in text


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AuthError("no", http_status=401), "refused the token (401): connect again"),
        (AuthError("no", http_status=403), "refused access (403)"),
        (TransportError("down"), "could not reach https://x.example: check the network"),
        (ConfigError("Invalid datacenter ID 'a b'."), "Invalid datacenter ID"),
        (NotFoundError("Qualtrics answered 404."), "answered with an error: Qualtrics"),
        (RuntimeError("boom"), "the push failed unexpectedly (RuntimeError: boom)"),
        (KeyboardInterrupt(), "it was cancelled. Press Push to send the rest"),
    ],
)
def test_failure_text_says_what_was_sent_then_the_same_cause(error, expected):
    text = _errors.failure_text(error, "https://x.example")
    assert text.startswith("Nothing was pushed: ") and expected in text and "\n" not in text
    assert text.endswith(".") and not text.endswith("..")
    error.results = pl.DataFrame({"status": ["success", "failed", "invalid", "not_sent"]})
    sent = _errors.failure_text(error, "https://x.example")
    assert sent.startswith("The push stopped after sending 2 rows: ") and expected in sent


def test_describe_error_scrubs_the_token():
    text = _errors.describe_error(RuntimeError(f"bad header {TOKEN}"), "here", TOKEN)
    assert TOKEN not in text and "********" in text


def test_directory_and_list_options_and_default():
    dirs = pl.DataFrame(
        {
            "directory_id": ["POOL_a", "POOL_b"],
            "name": ["A", "B"],
            "contact_count": [1200, None],
            "is_default": [False, True],
            "deduplication_criteria": [["email", "ext_ref"], []],
        }
    )
    assert _connect.directory_options(dirs) == [
        ("A · POOL_a · 1,200 contacts · dedup: email, ext_ref", "POOL_a"),
        ("B · POOL_b · ? contacts · dedup: none", "POOL_b"),
    ]
    assert _labels.dedup_warning(dirs, "POOL_a") is None
    warning = _labels.dedup_warning(dirs, "POOL_b")
    assert warning.startswith("Directory B (POOL_b) does not deduplicate")
    assert "pick a directory that deduplicates" in warning
    unknown = dirs.with_columns(deduplication_criteria=pl.lit(None, pl.List(pl.String)))
    assert "did not say whether it deduplicates" in _labels.dedup_warning(unknown, "POOL_a")
    assert _labels.dedup_warning(dirs, "POOL_zz") is None
    assert _connect.default_directory(dirs) == "POOL_b"
    assert _connect.default_directory(dirs, "POOL_a") == "POOL_a"
    lists = pl.DataFrame(
        {
            "mailing_list_id": ["CG_1", "CG_2"],
            "name": ["News", "Buyers"],
            "contact_count": [3, None],
        }
    )
    assert _connect.mailing_list_options(lists) == [
        ("News · CG_1 · 3 contacts", "CG_1"),
        ("Buyers · CG_2 · ? contacts", "CG_2"),
    ]


# -- connect: the panel ------------------------------------------------------------------


def shown(widget: w.Widget) -> bool:
    """Whether a widget's own layout shows it (``display``/``visibility`` not hiding it)."""
    layout = widget.layout
    return layout.display != "none" and layout.visibility != "hidden"


def test_fresh_panel_shows_the_real_account_fields_without_ticking_anything():
    p = qxw.connect(env={})
    assert not p.use_sandbox.value
    for field_widget in (p.token, p.datacenter, p.base_url, p.use_sandbox, p.connect_button):
        assert shown(field_widget) and not field_widget.disabled
        assert field_widget in tree(p)
    assert isinstance(p.token, w.Password)
    assert not shown(p.directory) and not shown(p.mailing_list)  # until connected
    layouts = [node.layout for node in tree(p) if hasattr(node, "layout")]
    assert len({id(layout) for layout in layouts}) == len(layouts), "a Layout is shared"


def test_fields_stay_shown_after_a_failed_connect_and_a_disconnect(sb):
    p = qxw.connect(env={})
    p.base_url.value = sb.base_url
    p.token.value = "wrong"
    p.connect_button.click()
    assert "refused the token" in p.status.value
    assert shown(p.token) and shown(p.datacenter) and shown(p.base_url)
    p.token.value = sb.api_token
    p.connect_button.click()
    assert p.client is not None and shown(p.directory) and shown(p.token)
    p.disconnect()
    assert shown(p.token) and shown(p.base_url) and not shown(p.directory)


def test_sandbox_panel_connects_and_picks_directory_and_list(panel, sb):
    assert isinstance(panel.client, qx.Client)
    assert panel.client.base_url == sb.base_url
    assert panel.whoami["userName"] == "sandbox-user"
    assert "Connected to the sandbox at " + sb.base_url in panel.status.value
    assert "nothing is sent to Qualtrics" in panel.status.value
    assert "iad1" not in panel.status.value and "sandbox-user" in panel.status.value
    assert panel.directory_id == sb.directory_id
    assert panel.mailing_list_id is None  # "none" until the person picks a list
    assert panel.mailing_list.options[0] == (_connect.NO_LIST_LABEL, _connect.NO_LIST)
    assert panel.mailing_list.label == _connect.NO_LIST_LABEL
    panel.mailing_list.value = sb.mailing_list_id
    assert panel.mailing_list_id == sb.mailing_list_id
    labels = [label for label, _ in panel.directory.options]
    assert f"Customers · {sb.directory_id} · 0 contacts · dedup: email" in labels
    assert panel.directory_note.value == "" and shown(panel.directory_note)
    lists = [label for label, _ in panel.mailing_list.options]
    assert any(label.endswith(f" · {sb.mailing_list_id} · 0 contacts") for label in lists)
    panel.directory.value = sb.plain_directory_id
    assert panel.mailing_list_id is None  # another directory: back to "none"
    panel.mailing_list.value = sb.plain_mailing_list_id
    assert panel.mailing_list_id == sb.plain_mailing_list_id
    assert "does not deduplicate" in panel.directory_note.value
    assert "qx-warning" in panel.directory_note.value
    panel.directory.value = sb.directory_id
    assert panel.directory_note.value == ""
    assert panel.sandbox is sb
    assert panel.client.rate_limits == sb.client_rate_limits == sb.client().rate_limits


def test_sandbox_switch_starts_and_stops_its_own_sandbox():
    p = qxw.connect()
    assert p.client is None and p.directory.layout.display == "none"
    p.use_sandbox.value = True
    try:
        sb = p.sandbox
        assert sb is not None and sb.running and p.client is not None
        assert p.token.disabled and p.datacenter.disabled
        assert p.client.whoami()["brandId"] == "sandbox"
    finally:
        p.use_sandbox.value = False
    assert not sb.running and p.client is None and p.sandbox is None
    assert "Disconnected" in p.status.value and not p.token.disabled


def test_a_sandbox_that_cannot_start_is_a_sentence(monkeypatch, ipython):
    def refuses(self: qx.Sandbox, *args: object, **kwargs: object) -> qx.Sandbox:
        raise OSError("Address already in use")

    monkeypatch.setattr(qx.Sandbox, "start", refuses)
    p = qxw.connect()
    run_in(ipython, "p.use_sandbox.value = True", p=p)
    assert "The sandbox could not start (OSError: Address already in use)" in p.status.value
    assert "qx-error" in p.status.value and p.client is None and not shown(p.directory)


def test_disconnect_leaves_a_given_sandbox_running(sb):
    p = qxw.connect(sandbox=sb)
    p.disconnect()
    assert sb.running and p.client is None and p.directory_id is None


def test_wrong_token_is_a_sentence_and_never_shown(sb):
    p = qxw.connect(env={})
    p.base_url.value = sb.base_url
    p.token.value = TOKEN
    p.connect_button.click()
    assert p.client is None
    assert "refused the token (401)" in p.status.value
    assert "Traceback" not in p.status.value
    assert p.token.value == ""
    assert TOKEN not in shown_text(p)


def test_right_token_connects_and_is_cleared_from_the_field(sb):
    p = qxw.connect(env={})
    p.base_url.value = sb.base_url
    p.token.value = sb.api_token
    p.connect_button.click()
    try:
        assert p.client is not None and p.directory_id == sb.directory_id
        assert p.token.value == "" and "paste another token" in p.token.placeholder
        assert sb.api_token not in shown_text(p)
    finally:
        p.disconnect()


def test_env_token_is_used_but_never_put_in_a_widget(sb):
    env = {"QUALTRICS_API_TOKEN": sb.api_token, "QUALTRICS_BASE_URL": sb.base_url}
    p = qxw.connect(env=env)
    assert p.token.value == "" and p.token.placeholder == _connect.ENV_PLACEHOLDER
    assert p.base_url.value == sb.base_url
    assert sb.api_token not in shown_text(p)
    p.connect_button.click()
    try:
        assert p.client is not None
        assert sb.api_token not in shown_text(p)
    finally:
        p.disconnect()


def test_sandbox_token_is_never_shown(panel, sb):
    assert sb.api_token not in shown_text(panel)


def test_missing_token_asks_for_one():
    p = qxw.connect(env={})
    p.connect_button.click()
    assert "Paste your API token" in p.status.value and p.client is None


def test_malformed_datacenter_is_refused_as_the_client_refuses_it():
    p = qxw.connect(env={})
    p.datacenter.value = "iad1.qualtrics.com"
    assert p.connect_button.disabled
    assert "Invalid datacenter ID" in p.status.value
    p.datacenter.value = "fra1"
    assert not p.connect_button.disabled
    p.datacenter.value = "iad1\n"  # re.fullmatch, as the client
    assert p.connect_button.disabled


def test_connect_called_with_a_malformed_datacenter_says_why_and_sends_nothing():
    p = qxw.connect(env={})
    p.datacenter.value = "iad1.qualtrics.com"
    p.token.value = TOKEN
    assert p.connect() is False
    assert "Invalid datacenter ID" in p.status.value and p.client is None


def test_the_panel_tells_its_client_the_sandbox_s_own_limits():
    with qx.sandbox(rate_limit={"contacts": 120}) as limited:
        p = qxw.connect(sandbox=limited)
        try:
            assert p.client is not None and p.client.rate_limits["contacts"] == 120
            assert p.client.rate_limits == limited.client().rate_limits
        finally:
            p.disconnect()


def test_unknown_datacenter_is_a_sentence_after_a_failed_connect():
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Name or service not known", request=request)

    p = qxw.connect(env={}, client_options={"transport": httpx.MockTransport(unreachable)})
    p.datacenter.value = "nope9"
    p.token.value = TOKEN
    p.connect_button.click()
    assert "Could not reach https://nope9.qualtrics.com" in p.status.value
    assert p.client is None and p.directory.layout.display == "none"
    assert TOKEN not in shown_text(p)


def test_network_failure_is_a_sentence_and_leaves_no_client_running():
    loops = lambda: sum(t.name == "qxframe-loop" for t in threading.enumerate())  # noqa: E731
    before = loops()
    p = qxw.connect(env={})
    p.base_url.value = f"http://127.0.0.1:{free_port()}"
    p.token.value = TOKEN
    p.connect_button.click()
    assert "Could not reach http://127.0.0.1:" in p.status.value
    assert TOKEN not in shown_text(p)
    assert loops() == before


# -- preview: pure functions -------------------------------------------------------------


def test_preview_table_matches_a_dry_run(contacts):
    head = contacts.slice(8, 5)  # rows 10..12 have bad e-mails
    mapping = {"embedded_data": ["plan", "city"]}
    table = _preview.preview_table(
        head, "upsert_contacts", mapping=mapping, constants={"directory_id": "POOL_x"}
    )
    dry = qx.upsert_contacts(head, directory_id="POOL_x", mapping=mapping, dry_run=True)
    assert table["row"].to_list() == [0, 1, 2, 3, 4]
    assert table["status"].to_list() == ["valid", "valid", "invalid", "invalid", "invalid"]
    assert table["payload"].to_list() == dry["payload"].to_list()
    assert table["error_message"].to_list() == dry["error_message"].to_list()
    assert json.loads(table["payload"][0])["embeddedData"] == {
        "plan": "enterprise",
        "city": "São Paulo",
    }


def test_preview_table_raises_for_bad_settings(contacts):
    with pytest.raises(ConfigError, match="directory_id"):
        _preview.preview_table(contacts.head(2), "contacts", constants={"directory_id": "oops"})
    with pytest.raises(ConfigError, match="does not have"):
        _preview.preview_table(
            contacts.head(2),
            "contacts",
            mapping={"email": "mail"},
            constants={"directory_id": "POOL_x"},
        )


def test_table_html_escapes_values():
    table = pl.DataFrame(
        {
            "row": [0],
            "status": ["invalid"],
            "error_code": ["email_format"],
            "error_message": ['e-mail "<b>x</b>" is bad'],
            "payload": [None],
        }
    )
    shown = _preview.table_html(table)
    assert "&lt;b&gt;x&lt;/b&gt;" in shown and "<b>x</b>" not in shown
    assert 'class="qx-preview-table"' in shown


def test_json_bodies_wrap_only_at_json_boundaries():
    body = '{"a":"x, y,z","b":[1,2],"c":{"d":"q\\"t,"}}'
    shown = _html.json_breaks(body)
    assert shown.count("<wbr>") == 6  # after { , [ , , {  (never inside a string)
    assert "&quot;x, y,z&quot;" in shown and "q\\&quot;t,&quot;" in shown
    assert html.unescape(shown.replace("<wbr>", "")) == body  # copied text is the body
    cell = _html.code(body)
    assert "break-all" not in cell and "overflow-wrap:break-word" in cell


def test_a_transaction_date_read_as_early_epoch_ms_warns_and_stays_valid(transactions):
    head = transactions.head(3).with_columns(amount=pl.Series(["52.64", "1714571110000", "7"]))
    constants = {"directory_id": "POOL_x", "mailing_list_id": "CG_x"}
    table = _preview.preview_table(
        head, "transactions", mapping={"transaction_date": "amount"}, constants=constants
    )
    assert table["status"].to_list() == ["valid", "valid", "valid"]
    assert table["warning"][1] is None
    assert table["warning"][0].startswith(
        "transaction_date 52.64 was read as epoch milliseconds, 1970-01-01 00:00:00 UTC"
    )
    assert "7 was read" in table["warning"][2]
    shown = _preview.table_html(table)
    assert shown.count("qx-warning") == 2 and "is the right column mapped" in shown
    plain = _preview.preview_table(head, "transactions", constants=constants)
    assert plain["warning"].null_count() == 3


def test_the_preview_says_how_many_rows_warn(transactions):
    pv = qxw.preview(
        transactions,
        action="transactions",
        rows=4,
        directory_id="POOL_x",
        mailing_list_id="CG_x",
    )
    assert "warning" not in pv.status.value
    pv.pickers.choose("transaction_date", "amount")
    assert "4 of 4 previewed rows are valid. 4 of them have a warning" in pv.status.value
    assert pv.table_view.value.count("qx-warning") == 4


def test_the_multi_select_shows_the_chosen_keys(contacts):
    pv = qxw.preview(contacts, directory_id="POOL_x")
    label = pv.pickers.chosen["embedded_data"]
    assert label.layout.display == "none"
    pv.pickers.choose("embedded_data", ["plan", "city"])
    assert label.layout.display is None
    assert "keys (2): <code>plan</code>, <code>city</code>" in label.value
    pv.pickers.several["embedded_data"].value = ()
    assert "no key chosen yet" in label.value


def test_initial_keys_follow_the_mapping_rules():
    cols = ["extRef", "email", "plan"]
    assert _picks.initial_key(field("contacts", "ext_ref"), cols, {}, {}) == _picks.column("extRef")
    assert _picks.initial_key(field("contacts", "phone"), cols, {}, {}) == _picks.NONE
    assert _picks.initial_key(field("contacts", "email"), cols, {"email": "plan"}, {}) == (
        _picks.column("plan")
    )
    assert (
        _picks.initial_key(
            field("contacts", "embedded_data"), cols, {"embedded_data": ["plan"]}, {}
        )
        == _picks.SEVERAL
    )
    assert (
        _picks.initial_key(field("contacts", "directory_id"), cols, {}, {"directory_id": "POOL_x"})
        == _picks.CONSTANT
    )
    assert _picks.initial_key(field("workflow", "event_payload"), cols, {}, {}) == _picks.WHOLE_ROW


def test_mapping_of_leaves_defaults_out_and_nulls_deselected_columns():
    cols = ["extRef", "email", "plan", "city"]
    keys = {
        "ext_ref": _picks.column("extRef"),  # the default: left out
        "email": _picks.NONE,  # default would find "email": null it
        "first_name": _picks.column("plan"),
        "embedded_data": _picks.SEVERAL,
        "directory_id": _picks.CONSTANT,
    }
    mapping = _picks.mapping_of("contacts", cols, keys, {"embedded_data": ["plan", "city"]})
    assert set(mapping) == {"email", "first_name", "embedded_data"}
    assert mapping["first_name"] == "plan" and mapping["embedded_data"] == ["plan", "city"]
    assert isinstance(mapping["email"], pl.Expr)
    assert _picks.mapping_of("contacts", cols, {"embedded_data": _picks.SEVERAL}, {}) == {}


# -- preview: the panel ------------------------------------------------------------------


def test_preview_pickers_start_from_the_default_mapping(contacts, panel, sb):
    pv = qxw.preview(contacts, action="contacts", client=panel, rows=4)
    assert pv.pickers.dropdowns["ext_ref"].value == _picks.column("extRef")
    assert pv.pickers.dropdowns["email"].value == _picks.column("email")
    assert pv.pickers.dropdowns["embedded_data"].value == _picks.NONE
    directory = pv.pickers.dropdowns["directory_id"]
    assert directory.disabled and sb.directory_id in directory.label
    assert pv.mapping == {}
    assert pv.table.height == 4 and "4 of 4 previewed rows are valid" in pv.status.value
    labels = [label for label, _ in pv.pickers.dropdowns["email"].options]
    assert labels[0] == "— not sent —" and set(contacts.columns) <= set(labels)


def test_preview_updates_live_and_mapping_is_reusable(contacts, panel, sb):
    pv = qxw.preview(contacts.slice(9, 4), action="contacts", client=panel)
    assert pv.table["status"].to_list() == ["valid", "invalid", "invalid", "invalid"]
    assert "bob@" in pv.table_view.value
    pv.pickers.choose("email", None)  # drop the e-mail column: the bad addresses go
    assert pv.table["status"].to_list() == ["valid", "valid", "valid", "invalid"]
    pv.pickers.choose("embedded_data", ["plan", "city"])
    assert pv.pickers.several["embedded_data"].layout.display is None
    body = json.loads(pv.table["payload"][0])
    assert "email" not in body and body["embeddedData"] == {"city": "Lisboa"}
    assert "&quot;embeddedData&quot;" in pv.table_view.value
    dry = qx.upsert_contacts(
        contacts.slice(9, 4),
        client=panel.client,
        directory_id=sb.directory_id,
        mapping=pv.mapping,
        dry_run=True,
    )
    assert dry["payload"].to_list() == pv.table["payload"].to_list()


def test_preview_shows_a_mapping_error_as_a_sentence(contacts):
    pv = qxw.preview(contacts, mapping={"email": "mail"}, directory_id="POOL_x")
    assert "names column 'mail'" in html.unescape(pv.status.value)
    assert pv.table_view.value == ""
    pv.pickers.choose("email", "email")
    assert "previewed rows are valid" in pv.status.value


def test_preview_follows_the_panel_directory(contacts, panel, sb):
    tx = pl.read_csv(SAMPLES / "transactions.csv", infer_schema=False)
    pv = qxw.preview(tx, action="transactions", client=panel, rows=2)
    assert pv.constants == {"directory_id": sb.directory_id, "mailing_list_id": None}
    assert "pick a mailing list in the connect panel" in pv.status.value
    panel.mailing_list.value = sb.mailing_list_id
    assert pv.constants == {"directory_id": sb.directory_id, "mailing_list_id": sb.mailing_list_id}
    panel.directory.value = sb.plain_directory_id
    assert pv.constants["mailing_list_id"] is None
    panel.mailing_list.value = sb.plain_mailing_list_id
    assert pv.constants["mailing_list_id"] == sb.plain_mailing_list_id
    assert sb.plain_mailing_list_id in pv.table["payload"][0]
    given = qxw.preview(tx, action="transactions", client=panel, directory_id=sb.directory_id)
    assert given.constants["directory_id"] == sb.directory_id


def test_push_button_pushes_and_shows_results(contacts, panel, sb):
    frame = contacts.head(30)
    pv = qxw.preview(frame, action="contacts", client=panel)
    pv.pickers.choose("embedded_data", "attributes")
    pv.push_button.click()
    pv.wait()
    assert pv.results is not None and pv.results.height == 30
    counts = qx.summary(pv.results)
    assert counts["success"] == 21 and counts["invalid"] == 9
    assert "Pushed. 30 rows: success 21, invalid 9." in pv.push_status.value
    assert pv.progress.state == "done" and pv.progress.bar.bar_style == "success"
    assert "30 of 30 rows — done" in pv.progress.label.value
    (view,) = pv.results_area.children
    assert isinstance(view, qxw.ResultsView) and view.frame is frame
    assert sb.contacts().height == 21
    assert sb.api_token not in shown_text(pv)
    assert not pv.push_button.disabled


def test_the_preview_s_push_adds_no_one_to_a_list_nobody_picked(contacts):
    panel = qxw.connect(sandbox=True)  # the panel starts a sandbox of its own
    try:
        sb = panel.sandbox
        assert sb is not None and panel.mailing_list_id is None
        res = qxw.preview(contacts, action="contacts", client=panel).push()
        created = qx.summary(res)["success"]
        assert created > 0 and sb.contacts().height > 0
        assert sb.mailing_list_members().height == 0  # in the directory only
        panel.mailing_list.value = sb.mailing_list_id  # the person picks a list
        pv = qxw.preview(contacts, action="contacts", client=panel)
        assert pv.constants["mailing_list_id"] == sb.mailing_list_id
        again = pv.push()
        members = sb.mailing_list_members()
        sent = again.filter(pl.col("status") == "success")["qualtrics_id"]
        assert sent.len() > 0 and set(members["contact_id"]) == set(sent)  # people merged
        assert set(members["mailing_list_id"]) == {sb.mailing_list_id}
    finally:
        panel.disconnect()


def test_push_without_a_client_says_so(contacts):
    pv = qxw.preview(contacts, directory_id="POOL_x")
    pv.push_button.click()
    pv.wait()
    assert "Connect first" in pv.push_status.value and pv.results is None


@pytest.fixture
def transactions() -> pl.DataFrame:
    return pl.read_csv(SAMPLES / "transactions.csv", infer_schema=False)


TX_MAPPING = {"transaction_data": ["amount", "currency", "product"]}


def test_push_twice_sends_each_transaction_once_unless_confirmed(transactions, panel, sb):
    panel.mailing_list.value = sb.mailing_list_id
    pv = qxw.preview(transactions, action="transactions", client=panel, mapping=TX_MAPPING)
    first = pv.push()
    landed = sb.transactions().height
    assert landed == qx.summary(first)["success"] > 200
    assert pv.again_button.layout.display == "none"
    pv.push_button.click()
    pv.wait()
    second = pv.results
    assert sb.transactions().height == landed  # one copy of each transaction
    assert qx.summary(second)["skipped"] == landed and qx.summary(second)["success"] == 0
    assert "were not sent again" in pv.push_status.value
    assert pv.again_button.layout.display is None and shown(pv.again_button)
    pv.again_button.click()  # the user confirms: send them again
    pv.wait()
    sent_again = qx.summary(pv.results)["success"]
    assert sent_again > 200 and sb.transactions().height == landed + sent_again
    assert qx.summary(pv.results)["skipped"] == 0


def test_cancel_stops_the_push_like_ctrl_c_and_push_again_sends_the_rest(transactions):
    with qx.sandbox(seed=3, latency=0.02) as slow:
        panel = qxw.connect(sandbox=slow)
        panel.mailing_list.value = slow.mailing_list_id
        options = {"batch_size": 2, "concurrency": 1}
        frame = transactions.head(120)
        pv = qxw.preview(
            frame, action="transactions", client=panel, mapping=TX_MAPPING, push_options=options
        )
        assert pv.cancel() is False and pv.cancel_button.layout.display == "none"
        pv.push_button.click()  # returns at once: the push runs in the background
        assert shown(pv.cancel_button) and not pv.cancel_button.disabled
        assert pv.push_button.disabled
        deadline = time.monotonic() + 60  # a generous bound, not a timing assertion
        while slow.transactions().height == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        pv.cancel_button.click()
        pv.wait(timeout=120)
        first = pv.results
        counts = qx.summary(first)
        assert "it was cancelled. Press Push to send the rest" in pv.push_status.value
        assert pv.progress.state == "stopped" and pv.progress.bar.bar_style == "warning"
        read = frame.height - counts["not_sent"]
        assert f"Pushing: {read} of {frame.height} rows — stopped" in pv.progress.label.value
        assert counts["not_sent"] > 0 and first.height == frame.height
        assert not shown(pv.cancel_button) and not pv.push_button.disabled
        unknown = first.filter(pl.col("error_code") == "outcome_unknown").height
        pv.push_button.click()
        pv.wait(timeout=300)
        second = qx.summary(pv.results)
        assert second["not_sent"] == 0 and second["skipped"] == counts["success"]
        sent = counts["success"] + second["success"]
        assert sent <= slow.transactions().height <= sent + unknown  # never a second copy
        panel.disconnect()


def test_a_new_preview_of_the_same_frame_does_not_send_again(transactions, panel, sb):
    """A re-run cell: the connect panel keeps one journal per destination for the session."""
    panel.mailing_list.value = sb.mailing_list_id
    frame = transactions.head(30)
    first = qxw.preview(frame, action="transactions", client=panel, mapping=TX_MAPPING).push()
    landed = sb.transactions().height
    assert landed == qx.summary(first)["success"] > 0
    rerun = qxw.preview(frame, action="transactions", client=panel, mapping=TX_MAPPING)
    assert "already pushed to this destination" in rerun.push_status.value
    assert shown(rerun.again_button)  # sending again is one click away, before any Push
    second = rerun.push()
    assert sb.transactions().height == landed
    assert qx.summary(second)["skipped"] == landed and qx.summary(second)["success"] == 0
    rerun.again_button.click()  # the one explicit click
    rerun.wait()
    assert sb.transactions().height == 2 * landed
    fresh = qxw.preview(frame, action="transactions", client=panel, mapping=TX_MAPPING)
    panel.directory.value = sb.plain_directory_id  # another destination: nothing sent there
    assert "already pushed" not in fresh.push_status.value and not shown(fresh.again_button)
    second_panel = qxw.connect(sandbox=sb)
    second_panel.mailing_list.value = sb.mailing_list_id
    other = qxw.preview(frame, action="transactions", client=second_panel, mapping=TX_MAPPING)
    assert "already pushed" not in other.push_status.value  # another panel, another session
    second_panel.disconnect()


def test_re_run_workflow_previews_trigger_each_event_once(sb):
    events = pl.read_csv(SAMPLES / "workflow_events.csv", infer_schema=False).head(3)
    panel = qxw.connect(sandbox=sb)
    try:
        for _rerun in range(3):  # the 3 → 6 → 9
            pv = qxw.preview(events, action="workflow", client=panel, workflow_url=sb.workflow_url)
            pv.push()
        assert sb.workflow_events().height == 3
        assert qx.summary(pv.results)["skipped"] == 3
    finally:
        panel.disconnect()


def test_the_journal_key_is_action_server_and_destination(contacts, tmp_path):
    key = _journals.destination_key
    dest = {"directory_id": "POOL_1", "mailing_list_id": None}
    base = key("contacts", dest, "http://a")
    assert base == key("contacts", dict(dest), "http://a")
    assert base == key("contacts", {"directory_id": "POOL_1"}, "http://a")
    assert base != key("transactions", dest, "http://a")
    assert base != key("contacts", dest, "http://b")
    assert base != key("contacts", {"directory_id": "POOL_2"}, "http://a")
    journals = _journals.PanelJournals()
    assert not journals.used(base) and journals.path(base).name.startswith("contacts-")
    journals.path(base).write_text("x")
    assert journals.used(base)
    journals.forget(base)
    assert not journals.used(base)


def test_push_to_another_destination_is_a_new_push(transactions, panel, sb):
    panel.mailing_list.value = sb.mailing_list_id
    pv = qxw.preview(transactions.head(20), action="transactions", client=panel, mapping=TX_MAPPING)
    pv.push()
    before = sb.transactions().height
    panel.directory.value = sb.plain_directory_id
    panel.mailing_list.value = sb.plain_mailing_list_id
    res = pv.push()
    assert qx.summary(res)["skipped"] == 0
    assert sb.transactions().height == before + qx.summary(res)["success"]


def test_validate_all_dry_runs_every_row_and_shows_counts(contacts, panel, sb):
    pv = qxw.preview(contacts, action="contacts", client=panel, rows=3)
    res = pv.validate_all()
    dry = qx.upsert_contacts(contacts, directory_id=sb.directory_id, dry_run=True)
    assert res.height == contacts.height and res.equals(dry)
    counts = qx.summary(dry)
    expected = f"Validated all {contacts.height} rows: {counts['dry_run']} valid, "
    assert expected + f"{counts['invalid']} invalid; nothing was sent." in pv.push_status.value
    assert sb.contacts().height == 0 and pv.progress.state == "done"
    (view,) = pv.results_area.children
    assert "email_format" in view.groups.value


@pytest.fixture
def ipython() -> Iterator[object]:
    """An IPython shell as in a notebook: there an ``Output`` context swallows exceptions."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    yield shell
    InteractiveShell.clear_instance()


def run_in(shell: object, code: str, **names: object) -> None:
    shell.user_ns.update(names)  # type: ignore[attr-defined]
    result = shell.run_cell(code)  # type: ignore[attr-defined]
    assert result.success, result.error_in_exec


def test_push_with_a_refused_token_is_a_sentence_under_ipython(contacts, sb, ipython, capsys):
    client = qx.Client(api_token="sbx_" + "0" * 32, base_url=sb.base_url)
    pv = qxw.preview(contacts, action="contacts", client=client, directory_id=sb.directory_id)
    run_in(ipython, "pv.push_button.click()\npv.wait()", pv=pv)
    status = html.unescape(pv.push_status.value)
    assert "Nothing was pushed: " + sb.base_url + " refused the token (401)" in status
    assert "connect again with a valid token" in status and "qx-error" in status
    assert pv.progress.state == "failed" and pv.progress.bar.bar_style == "danger"
    assert "— failed" in pv.progress.label.value
    assert "Pushing…" not in shown_text(pv) and "Traceback" not in shown_text(pv)
    assert "Traceback" not in capsys.readouterr().out
    assert not pv.push_button.disabled and sb.contacts().height == 0
    client.close()


def test_push_over_a_dead_network_is_a_sentence(contacts):
    dead = f"http://127.0.0.1:{free_port()}"
    client = qx.Client(api_token=TOKEN, base_url=dead, retry=_connect.CHECK_RETRY)
    pv = qxw.preview(contacts.head(3), action="contacts", client=client, directory_id="POOL_x")
    assert qx.summary(pv.push())["failed"] == 3
    assert "3 rows failed (all transport_error): Could not" in pv.push_status.value
    assert "check the network" in pv.push_status.value and "qx-warning" in pv.push_status.value
    assert pv.progress.state == "done" and TOKEN not in shown_text(pv)
    client.close()


def test_a_bad_setting_at_push_time_is_a_sentence(contacts, panel):
    pv = qxw.preview(contacts, action="contacts", client=panel, directory_id="oops")
    assert pv.push() is None
    assert "Nothing was pushed: " in pv.push_status.value and "directory_id" in pv.push_status.value
    assert pv.progress.state == "failed"


def test_an_error_after_sending_shows_its_results(contacts, panel, monkeypatch):
    partial = qx.upsert_contacts(contacts.head(4), directory_id="POOL_x", dry_run=True)
    partial = partial.with_columns(status=pl.Series(["success", "success", "invalid", "success"]))

    def stops(*_args: object, **_options: object) -> pl.DataFrame:
        error = qx.exceptions.ServerError("Qualtrics answered 503 after 5 attempts; try later.")
        error.results = partial  # type: ignore[attr-defined]
        raise error

    monkeypatch.setattr(_preview, "start_push", stops)
    pv = qxw.preview(contacts.head(4), action="contacts", client=panel)
    pv.push_button.click()
    pv.wait()
    assert "The push stopped after sending 3 rows: " in pv.push_status.value
    assert "answered 503" in pv.push_status.value and pv.progress.state == "failed"
    (view,) = pv.results_area.children
    assert view.results.equals(partial)


class EndedHandle:
    """A push that already ended with ``results`` (what start_push's handle says then)."""

    def __init__(self, results: pl.DataFrame) -> None:
        self.results = results

    def done(self) -> bool:
        return True

    def result(self, timeout: float | None = None) -> pl.DataFrame:
        return self.results

    def add_done_callback(self, callback: object) -> None:
        callback(self)  # type: ignore[operator]


def test_the_pushed_sentence_names_the_outcome_unknown_rows(contacts, panel, monkeypatch, mixed):
    monkeypatch.setattr(_preview, "start_push", lambda *_a, **_k: EndedHandle(mixed))
    pv = qxw.preview(contacts.head(5), action="contacts", client=panel)
    pv.push()
    said = html.unescape(pv.push_status.value)
    assert "Pushed. 5 rows: success 2, invalid 1, failed 2 (1 outcome_unknown)." in said
    assert "1 rows ended outcome_unknown: they may have landed; check in Qualtrics" in said


def test_an_unexpected_error_is_a_sentence_and_the_bar_ends(contacts, panel, monkeypatch, ipython):
    def breaks(*_args: object, **options: object) -> pl.DataFrame:
        options["progress"].update(2)  # type: ignore[attr-defined]
        raise RuntimeError("boom")

    monkeypatch.setattr(_preview, "start_push", breaks)
    pv = qxw.preview(contacts.head(4), action="contacts", client=panel)
    run_in(ipython, "pv.push_button.click()\npv.wait()", pv=pv)
    assert "failed unexpectedly (RuntimeError: boom)" in pv.push_status.value
    assert "2 of 4 rows — failed" in pv.progress.label.value


def test_a_workflow_push_shows_each_event_s_body_beside_its_response(sb):
    events = pl.read_csv(SAMPLES / "workflow_events.csv", infer_schema=False).head(4)
    too_big = "x" * (MAX_WORKFLOW_BYTES + 1)  # row 2 cannot be sent
    events = events.with_columns(
        properties=pl.when(pl.int_range(pl.len()) == 2)
        .then(pl.lit(too_big))
        .otherwise("properties")
    )
    panel = qxw.connect(sandbox=sb)
    try:
        pv = qxw.preview(events, action="workflow", client=panel, workflow_url=sb.workflow_url)
        res = pv.push()
        received = sb.workflow_events()["payload"].to_list()
        assert received and len(received) == qx.summary(res)["success"]
        (view,) = [c for c in pv.results_area.children if isinstance(c, _events.EventsView)]
        assert view.pick.options[0][0] == "row 0 · success 202"
        view.pick.value = 1
        shown = json.loads(html.unescape(re.sub(r"<[^>]+>", "", view.body.value)[9:]))
        # what row 1 sent (events arrive in any order: several are in flight at once)
        assert shown["user_id"] == events["user_id"][1]
        assert shown in [json.loads(payload) for payload in received]
        assert "202" in view.response.value and "request_id" in view.response.value
        assert res.filter(pl.col("status") == "invalid")["row"].to_list() == [2]
        view.pick.value = 2
        assert "not sent: the row is invalid" in view.body.value
        assert "payload_too_large" in view.response.value
        view.pick.value = 1
        again = view.send_again()  # one row, on purpose: the journal does not stop it
        assert again is not None and again["row"].to_list() == [1]
        after = sb.workflow_events()["payload"].to_list()
        assert len(after) == len(received) + 1 and json.loads(after[-1]) == shown
        assert "Row 1 sent again: row 1 · success 202." in view.note.value
        assert "sent again" in view.response.value
        assert pv.push()["status"].to_list().count("skipped") == len(received)  # still one click
    finally:
        panel.disconnect()


def test_workflow_preview_shows_the_body(sb):
    events = pl.read_csv(SAMPLES / "workflow_events.csv", infer_schema=False)
    client = sb.client()
    pv = qxw.preview(events, action="trigger_workflow", client=client, workflow_url=sb.workflow_url)
    body = json.loads(pv.table["payload"][0])
    assert body["event"] == "NPS Submitted" and body["user_id"] == "C000207"
    pv.pickers.choose("event_payload", "properties")
    assert json.loads(pv.table["payload"][0]) == {
        "source": "android",
        "score": 5,
        "comment": "Très bien",
    }
    assert pv.mapping == {"event_payload": "properties"}
    client.close()


def test_workflow_preview_lists_the_jsonpath_of_each_field_with_an_example(sb):
    """DESIGN "Exploring a workflow": the preview lists what a workflow's conditions read."""
    events = pl.DataFrame(
        {
            "event": ["signup", "churn"],
            "properties": [{"score": 5.0, "tags": ["a"]}, {"score": 4.5, "tags": None}],
        }
    )
    with sb.client() as client:
        pv = qxw.preview(events, action="workflow", client=client, workflow_url=sb.workflow_url)
        shown = pv.table_view.value
        people = qxw.preview(
            pl.DataFrame({"email": ["a@example.com"]}),
            action="contacts",
            client=client,
            directory_id=sb.directory_id,
        )
        assert "JSONPath" not in people.table_view.value  # a contact's body is not an event
    assert "JSONPath" in shown and "qx-paths-table" in shown
    cells = re.findall(r'<pre class="qx-json"[^>]*>(.*?)</pre>', shown.split("qx-paths-table")[1])
    texts = [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in cells]
    assert texts[:2] == ["$.event", '"signup"']  # the path, then its example
    assert "$.properties.score" in texts and "$.properties.tags[*]" in texts
    assert sb.workflow_events().is_empty()  # a preview sends nothing


def test_a_workflow_preview_of_records_shows_the_body_the_push_sends(sb):
    """A list of dicts keeps its nested values as JSON in the preview, as in the push."""
    events = [{"event": "signup", "properties": {"score": 5, "tags": ["a"]}}]
    with sb.client() as client:
        pv = qxw.preview(events, action="workflow", client=client, workflow_url=sb.workflow_url)
        previewed = json.loads(pv.table["payload"][0])
        qx.trigger_workflow(events, client=client, workflow_url=sb.workflow_url)
    sent = json.loads(sb.workflow_events()["payload"][0])
    assert previewed == sent == {"event": "signup", "properties": {"score": 5, "tags": ["a"]}}


# -- results -----------------------------------------------------------------------------


@pytest.fixture
def mixed() -> pl.DataFrame:
    from qxframe._results import conform

    return conform(
        pl.DataFrame(
            {
                "row": [0, 1, 2, 3, 4],
                "status": ["success", "invalid", "failed", "failed", "success"],
                "error_code": [None, "email_format", "bad_request", "outcome_unknown", None],
                "error_message": [None, 'e-mail "<x>" is bad', "refused", "may have landed", None],
            }
        )
    )


def test_results_pure_functions(mixed):
    assert _results_view.summary_text(mixed) == (
        "5 rows: success 2, invalid 1, failed 2 (1 outcome_unknown)."
    )
    assert _results_view.unknown_text(mixed) == (
        "1 rows ended outcome_unknown: they may have landed; check in Qualtrics before "
        "sending them again."
    )
    known = mixed.filter(pl.col("error_code").ne_missing("outcome_unknown"))
    assert _results_view.summary_text(known) == "4 rows: success 2, invalid 1, failed 1."
    assert _results_view.unknown_text(known) is None
    assert _results_view.retry_counts(mixed) == {"retry": 1, "unknown": 1, "invalid": 1}
    assert _problems.problem_rows(mixed)["row"].to_list() == [1, 2, 3]
    shown = _results_view.summary_html(mixed)
    assert 'class="qx-bar"' in shown and "flex:2 1 0" in shown and "flex:1 1 0" in shown
    assert "success: 2" in shown and "40.0%" in shown
    groups = _results_view.groups_html(mixed)
    assert "&lt;x&gt;" in groups and "bad_request" in groups
    advice = " ".join(_results_view.retry_advice(mixed))
    assert "qx.rows_to_retry(frame, res)" in advice and "include_invalid=True" in advice


@pytest.fixture
def many() -> tuple[pl.DataFrame, pl.DataFrame]:
    """90 QVAL_1 failures, 7 invalid e-mails and 3 successes, with the input frame."""
    from qxframe._results import conform

    status = ["failed"] * 90 + ["invalid"] * 7 + ["success"] * 3
    codes = ["QVAL_1"] * 90 + ["email_format"] * 7 + [None] * 3
    messages = [f"refused row {i}" for i in range(90)] + ["bad e-mail"] * 7 + [None] * 3
    res = conform(
        pl.DataFrame(
            {"row": range(100), "status": status, "error_code": codes, "error_message": messages}
        )
    )
    frame = pl.DataFrame(
        {
            "extRef": [f"X{i:03}" for i in range(100)],
            "email": [f"p{i}@x.org" for i in range(100)],
            "plan": ["a"] * 100,
        }
    )
    return res, frame


def test_problem_groups_count_per_code_with_an_example(many):
    res, _frame = many
    groups = _problems.problem_groups(res)
    assert groups.select("error_code", "status", "rows", "example_row").rows() == [
        ("QVAL_1", "failed", 90, 0),
        ("email_format", "invalid", 7, 90),
    ]
    assert groups["example_message"][0] == "refused row 0"


def test_every_problem_row_is_reachable_by_paging(many):
    res, frame = many
    view = qxw.results(res, frame=frame)
    seen: list[int] = []
    pages = 0
    while True:
        pages += 1
        first_cells = r"<tr><td[^>]*><span[^>]*>(\d+)</span></td>"
        seen += [int(r) for r in re.findall(first_cells, view.page_view.value)]
        if view.next_button.disabled:
            break
        view.next_button.click()
    assert pages == 5 and seen == list(range(97))
    assert "rows 81–97 of 97 (page 5 of 5)" in view.page_label.value
    view.prev_button.click()
    assert "rows 61–80 of 97" in view.page_label.value
    view.code.value = "email_format"
    assert "rows 1–7 of 7 (page 1 of 1)" in view.page_label.value
    assert view.prev_button.disabled and view.next_button.disabled
    view.code.value = _results_view.ALL_PROBLEMS
    assert "rows 1–20 of 97 (page 1 of 5)" in view.page_label.value
    labels = [label for label, _ in view.code.options]
    assert labels == ["all problems (97)", "QVAL_1 · failed (90)", "email_format · invalid (7)"]


def test_problem_rows_show_the_identifying_input_columns(many):
    res, frame = many
    view = qxw.results(res, frame=frame)
    header = re.findall(r"<th[^>]*>([^<]*)</th>", view.page_view.value)
    assert header == ["row", "extRef", "email", "status", "code", "reason"]
    assert "X005" in view.page_view.value and "p5@x.org" in view.page_view.value
    assert "plan" not in header
    for form in (frame.to_pandas(), frame.lazy()):
        other = qxw.results(res, frame=form)
        assert other.page_view.value == view.page_view.value


def test_identifiers_from_a_file_are_read_by_row_position(many, tmp_path):
    _res, frame = many
    path = tmp_path / "in.csv"
    frame.write_csv(path)
    ids = _problems.identifiers(path, pl.Series([3, 95]))
    assert ids.rows() == [(3, "X003", "p3@x.org"), (95, "X095", "p95@x.org")]


def downloads(view: qxw.ResultsView) -> dict[str, bytes]:
    """Each download link's file name and contents."""
    links = re.findall(
        r'download="([^"]+)" href="data:text/csv;base64,([^"]+)"', view.download.value
    )
    return {name: base64.b64decode(encoded) for name, encoded in links}


def test_results_download_is_the_results_as_csv(many):
    res, _frame = many
    view = qxw.results(res)
    files = downloads(view)
    assert list(files) == ["qxframe-results.csv", "qxframe-problems.csv"]
    assert view.download in view.children
    back = pl.read_csv(files["qxframe-results.csv"], schema=res.schema)
    assert back.equals(res)
    problems = pl.read_csv(files["qxframe-problems.csv"], schema=res.schema)
    assert problems.equals(res.filter(pl.col("status").is_in(["failed", "invalid"])))
    assert problems.height == 97
    clean = qxw.results(res.filter(pl.col("status") == "success"))
    assert list(downloads(clean)) == ["qxframe-results.csv"]  # no empty problems file


def test_the_show_dropdown_starts_at_a_value_the_browser_can_show(many):
    res, _frame = many
    view = qxw.results(res)
    # a None value is no selection to the browser: the dropdown rendered blank until used
    assert view.code.value is not None and view.code.index == 0
    assert view.code.label == "all problems (97)"


def test_the_bar_says_rate_elapsed_and_time_left():
    now = [100.0]
    bar = _push.ProgressBar(clock=lambda: now[0])
    bar.start(200, "Pushing")
    assert bar.label.value == "Pushing: 0 of 200 rows · 0:00 elapsed"
    now[0] += 10
    bar.update(50)
    assert bar.label.value == (
        "Pushing: 50 of 200 rows · 5.0 rows/s · 0:10 elapsed · about 0:30 left"
    )
    bar.set_postfix_str("waiting on the contacts rate limit")
    assert "rows — waiting on the contacts rate limit · 5.0 rows/s" in bar.label.value
    now[0] += 3590
    bar.update(150)
    bar.finish("done")
    assert bar.label.value == "Pushing: 200 of 200 rows — done · 0.1 rows/s · 1:00:00 elapsed"
    unknown = _push.ProgressBar(clock=lambda: now[0])
    unknown.start(None, "Pushing")
    now[0] += 2
    unknown.update(50)
    assert unknown.label.value == "Pushing: 50 of ? rows · 25 rows/s · 0:02 elapsed"
    assert _push.clock_text(59.6) == "1:00" and _push.clock_text(6000) == "1:40:00"


def test_results_save_writes_the_csv(many, tmp_path):
    res, _frame = many
    view = qxw.results(res)
    target = view.save_csv(tmp_path / "r.csv")
    assert pl.read_csv(target, schema=res.schema).equals(res)
    assert str(target) in view.download.value


def test_results_view_takes_every_results_form(many, tmp_path):
    res, frame = many
    out = tmp_path / "res.csv"
    res.write_csv(out)
    for form in (pl.scan_csv(out, schema=res.schema), res.to_pandas()):
        view = qxw.results(form, frame=frame)
        assert view.results.equals(res)
        assert repr(view) == "<ResultsView 100 rows: success 3, invalid 7, failed 90.>"


def test_results_view_shows_counts_problems_and_rows_to_retry(mixed):
    frame = pl.DataFrame({"email": ["a@x.org", "<x>", "c@x.org", "d@x.org", "e@x.org"]})
    view = qxw.results(mixed, frame=frame)
    assert "qx-bar-failed" in view.summary.value and "outcome_unknown" in view.groups.value
    assert view.rows_to_retry()["email"].to_list() == ["c@x.org"]
    assert view.rows_to_retry().equals(qx.rows_to_retry(frame, mixed))
    assert view.retry_button.layout.width == "auto"  # the label is never cut off
    assert view.retry_button.description == "Show rows to re-run"
    view.retry_button.click()
    assert "1 rows to re-run" in view.retry_area.value and "c@x.org" in view.retry_area.value
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert view.summary.value in bundle["text/html"] and "&lt;x&gt;" in bundle["text/html"]
    shown = "<ResultsView 5 rows: success 2, invalid 1, failed 2 (1 outcome_unknown).>"
    assert repr(view) == shown


def test_results_view_without_frame(mixed):
    view = qxw.results(mixed)
    assert view.retry_button not in view.children
    with pytest.raises(ValueError, match="frame="):
        view.rows_to_retry()


def test_an_expression_option_is_labelled_with_its_text_cut_to_40_characters():
    options = _picks.options_for(
        field("contacts", "embedded_data"), ["a"], expression=pl.lit("x" * 80)
    )
    label, key = options[-1]
    assert key == _picks.EXPRESSION
    assert len(label) == len("expression: ") + 40 and label.endswith("x…")


def test_failure_text_scrubs_the_token():
    text = _errors.failure_text(RuntimeError(f"bad header {TOKEN}"), "here", TOKEN)
    assert TOKEN not in text and "bad header ********" in text
