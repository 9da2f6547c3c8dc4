"""The connect panel: token or OAuth client, datacenter, a whoami check, directory and
mailing-list pickers.

The mailing-list picker starts at "none" (:data:`NO_LIST`): a push from a preview adds
people to a list only when the person picked one. The panel keeps the journals of every
preview that pushes through it (:attr:`ConnectPanel.journals`), for the whole session.

This module owns :class:`ConnectPanel` (built by :func:`connect`); what connecting raised
becomes one sentence by :func:`qxframe.widgets._errors.describe_error`, and the pickers'
options and warnings come from :mod:`qxframe.widgets._labels`. Every field has its own
``Layout`` (one shared Layout would hide the credentials with the pickers).

The token. A widget's ``value`` is synced state, so the password field is read once when
Connect is pressed, handed to :class:`qxframe.Client` (which keeps it in a ``Secret``)
and cleared at once, whatever happens next. A token from ``QUALTRICS_API_TOKEN`` is never
copied into a widget: the field only says, as a placeholder, that it will be used.
Messages are built from qxframe's errors (which never carry the token) and are scrubbed
of it anyway. The same holds for an OAuth client's secret: the panel offers a choice
(:attr:`ConnectPanel.auth`) between an API token and an OAuth client (client ID and
secret, or ``QUALTRICS_CLIENT_ID`` / ``QUALTRICS_CLIENT_SECRET``); its secret field is read
once and cleared, and the secret from the environment is never copied into a widget.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import ipywidgets as w
import polars as pl

from qxframe import Client, RetryPolicy, Sandbox
from qxframe._skins import DEFAULT_DATACENTER, check_base_url, check_datacenter, endpoint_base
from qxframe.exceptions import ConfigError
from qxframe.widgets import _html
from qxframe.widgets._errors import describe_error
from qxframe.widgets._journals import PanelJournals
from qxframe.widgets._labels import (
    dedup_warning,
    default_directory,
    directory_options,
    mailing_list_options,
)

#: The panel's own reads (whoami, lists) give up quickly: a wrong datacenter should be
#: reported in a second, not after the full backoff a push deserves.
CHECK_RETRY = RetryPolicy(max_attempts=2, backoff=0.25, max_backoff=1.0)

ENV_PLACEHOLDER = "using QUALTRICS_API_TOKEN from the environment"
#: The mailing-list picker's first choice and its default: no list. A push adds people to
#: a list only when the person picks one (a list is who gets a distribution).
NO_LIST = ""
NO_LIST_LABEL = "— none: add no one to a mailing list —"
EMPTY_PLACEHOLDER = "paste your Qualtrics API token"
SECRET_ENV_PLACEHOLDER = "using QUALTRICS_CLIENT_SECRET from the environment"
TOKEN, OAUTH = "token", "oauth"  # the two ways in (the auth choice's values)


def _wide(width: str = "32em") -> w.Layout:
    """A fresh layout for one field: a Layout shared by two widgets hides or moves both."""
    return w.Layout(width=width)


class ConnectPanel(w.VBox):
    """A panel that connects to Qualtrics (or the sandbox) and picks a directory and list.

    Args:
        sandbox: ``True`` to start the embedded sandbox and connect to it, or a
            :class:`qxframe.Sandbox` to connect to (the panel stops only a sandbox it started).
        env: where ``QUALTRICS_*`` settings are read (default ``os.environ``).
        client_options: keyword arguments for :class:`qxframe.Client` (``rate_limits``, …).
    """

    def __init__(
        self,
        *,
        sandbox: bool | Sandbox = False,
        env: Mapping[str, str] | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._env = os.environ if env is None else env
        self._options = dict(client_options or {})
        self._client: Client | None = None
        self._reader: Client | None = None
        self._sandbox: Sandbox | None = sandbox if isinstance(sandbox, Sandbox) else None
        self._owns_sandbox = False
        self._quiet = False
        #: one journal per destination for the session: a new preview (a re-run cell) of
        #: the same frame does not send again what an earlier one sent (DESIGN §7)
        self.journals = PanelJournals()
        self.whoami: dict[str, Any] = {}
        self.token, self.datacenter, self.base_url = _credentials(self._env)
        self.auth, self.client_id, self.client_secret = _oauth_fields(self._env)
        self.use_sandbox = w.Checkbox(description="try it in the sandbox", indent=False)
        self.connect_button = w.Button(description="Connect", button_style="primary")
        self.status = w.HTML()
        self.directory, self.mailing_list = _picker("Directory"), _picker("Mailing list")
        self.directory_note = w.HTML()
        self._directories = pl.DataFrame()
        self._reset_token_placeholder()
        self.datacenter.observe(self._on_settings, names="value")
        self.base_url.observe(self._on_settings, names="value")
        self.use_sandbox.observe(self._on_sandbox, names="value")
        self.auth.observe(lambda _change: self._show_auth(), names="value")
        self.connect_button.on_click(lambda _button: self.connect())
        self.directory.observe(self._on_directory, names="value")
        super().__init__(
            children=[
                w.HTML("<b>Connect to Qualtrics</b>"),
                self.auth,
                self.token,
                self.client_id,
                self.client_secret,
                self.datacenter,
                self.base_url,
                w.HBox([self.connect_button, self.use_sandbox]),
                self.status,
                self.directory,
                self.directory_note,
                self.mailing_list,
            ]
        )
        self.add_class("qx-connect")
        self._show_auth()
        self._show_lists(False)
        self._say("Paste a token and press Connect, or try it in the sandbox.")
        if _settings_problem(self.datacenter.value, self.base_url.value.strip()):
            self._on_settings(None)
        if sandbox:
            self.use_sandbox.value = True

    # -- what the panel yields -------------------------------------------------------

    @property
    def client(self) -> Client | None:
        """The connected :class:`qxframe.Client`, or ``None`` before a successful Connect."""
        return self._client

    @property
    def directory_id(self) -> str | None:
        """The chosen directory (``POOL_…``)."""
        return self.directory.value

    @property
    def mailing_list_id(self) -> str | None:
        """The chosen mailing list (``CG_…``) of the chosen directory; ``None`` (the
        default, "none") until the person picks one."""
        return self.mailing_list.value or None

    @property
    def sandbox(self) -> Sandbox | None:
        """The sandbox the panel is connected to (when the sandbox switch is on)."""
        return self._sandbox if self.use_sandbox.value else None

    def __repr__(self) -> str:
        where = self._client.base_url if self._client is not None else "not connected"
        return f"<ConnectPanel {where} directory_id={self.directory_id!r}>"

    # -- actions ---------------------------------------------------------------------

    def connect(self) -> bool:
        """Check the settings with whoami and list the directories (what Connect does)."""
        typed, typed_secret = self.token.value, self.client_secret.value
        self.token.value = self.client_secret.value = ""  # never kept in synced widget state
        self._close_clients()
        if self.use_sandbox.value:
            try:
                sb = self._ensure_sandbox()
            except Exception as exc:  # a sentence, never a traceback
                return self._fail(
                    f"The sandbox could not start ({type(exc).__name__}: {exc}); untick the "
                    "switch and try again, or run `qxframe sandbox` in a terminal."
                )
            given: dict[str, str] = {"api_token": sb.api_token}
            datacenter, base_url = DEFAULT_DATACENTER, sb.base_url
            # the sandbox's own limits, as sb.client() is told them: Qualtrics' defaults
            # (500 writes a minute) would make a sandbox push of a few hundred rows crawl
            options = {"rate_limits": sb.client_rate_limits, **self._options}
        else:
            datacenter, base_url = self.datacenter.value, self.base_url.value.strip()
            options = self._options
            found = self._given(typed, typed_secret)
            if isinstance(found, str):
                return self._fail(found)
            given = found
        return self._open(given, datacenter, base_url or None, options)

    def _given(self, typed: str, typed_secret: str) -> dict[str, str] | str:
        """The credentials to connect with (typed, else from the environment), or why not."""
        env = self._env
        if self.auth.value == OAUTH:
            client_id = self.client_id.value.strip() or env.get("QUALTRICS_CLIENT_ID", "").strip()
            secret = typed_secret.strip() or env.get("QUALTRICS_CLIENT_SECRET", "").strip()
            if not client_id or not secret:
                return (
                    "Give the OAuth client's ID and secret (or set QUALTRICS_CLIENT_ID and "
                    "QUALTRICS_CLIENT_SECRET) first."
                )
            return {"client_id": client_id, "client_secret": secret}
        token = typed.strip() or env.get("QUALTRICS_API_TOKEN", "").strip()
        if not token:
            return "Paste your API token (or set QUALTRICS_API_TOKEN) first."
        return {"api_token": token}

    def disconnect(self) -> None:
        """Close the clients, stop a sandbox the panel started, and clear the pickers."""
        self._close_clients()
        if self._owns_sandbox and self._sandbox is not None:
            self._sandbox.stop()
            self._sandbox, self._owns_sandbox = None, False
        self._quiet = True
        try:
            self.use_sandbox.value = False
        finally:
            self._quiet = False
        self._set_fields_disabled(False)
        self._show_lists(False)
        self._say("Disconnected.")

    # -- internals -------------------------------------------------------------------

    def _open(
        self,
        given: Mapping[str, str],
        datacenter: str,
        base_url: str | None,
        options: Mapping[str, Any],
    ) -> bool:
        reader: Client | None = None
        secret = given.get("api_token") or given.get("client_secret")
        try:
            where = endpoint_base(datacenter, base_url)
        except ConfigError as exc:
            return self._fail(exc.message)
        place: dict[str, Any] = {"datacenter": datacenter, "base_url": base_url, **given}
        try:
            reader = Client(**place, **{**options, "retry": CHECK_RETRY})
            self._say(f"Connecting to {reader.base_url}…")
            me = reader.whoami()
            directories = reader.directories()
            client = Client(**place, **options)
        except Exception as exc:  # shown as a sentence, never as a traceback
            if reader is not None:
                reader.close()
            return self._fail(describe_error(exc, where, secret))
        self._reader, self._client, self.whoami = reader, client, me
        preferred = self._sandbox.directory_id if self.use_sandbox.value and self._sandbox else None
        self._directories = directories
        self.directory.options = directory_options(directories)
        self.directory.value = default_directory(directories, preferred)
        self._show_lists(True)
        self._reset_token_placeholder(connected=True)
        self._say(self._connected_text(client, me), "ok")
        return True

    def _connected_text(self, client: Client, me: Mapping[str, Any]) -> str:
        user, brand = me.get("userName", "?"), me.get("brandId", "?")
        if self.use_sandbox.value:
            return (
                f"Connected to the sandbox at {client.base_url} as {user}: a server on this "
                "machine, nothing is sent to Qualtrics."
            )
        return f"Connected to {client.base_url} as {user} (brand {brand})."

    def _fail(self, text: str) -> bool:
        self._show_lists(False)
        self._say(text, "error")
        return False

    def _say(self, text: str, kind: str = "info") -> None:
        self.status.value = _html.message(text, kind)

    def _on_settings(self, _change: Any) -> None:
        problem = _settings_problem(self.datacenter.value, self.base_url.value.strip())
        self.connect_button.disabled = problem is not None
        if problem is not None:
            self._say(problem, "error")
        elif self._client is None:
            self._say("Press Connect to check the token.")

    def _on_sandbox(self, change: Any) -> None:
        if self._quiet:
            return
        self._set_fields_disabled(change["new"])
        if change["new"]:
            self.connect()
        else:
            self.disconnect()

    def _on_directory(self, change: Any) -> None:
        directory_id = change["new"]
        self.mailing_list.options = []
        warning = dedup_warning(self._directories, directory_id) if directory_id else None
        self.directory_note.value = _html.message(warning, "warning") if warning else ""
        if directory_id is None or self._reader is None:
            return
        try:
            options = mailing_list_options(self._reader.mailing_lists(directory_id))
        except Exception as exc:
            self._say(describe_error(exc, self._reader.base_url), "error")
            return
        self.mailing_list.options = [(NO_LIST_LABEL, NO_LIST), *options]
        self.mailing_list.value = NO_LIST  # never a list nobody chose

    def _ensure_sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox, self._owns_sandbox = Sandbox().start(), True
        return self._sandbox

    def _close_clients(self) -> None:
        for client in (self._client, self._reader):
            if client is not None:
                client.close()
        self._client = self._reader = None
        self.whoami = {}
        self._directories = pl.DataFrame()
        self.directory.options = []
        self._reset_token_placeholder()

    def _show_lists(self, shown: bool) -> None:
        display = None if shown else "none"
        for widget in (self.directory, self.directory_note, self.mailing_list):
            widget.layout.display = display

    def _set_fields_disabled(self, disabled: bool) -> None:
        fields = (self.auth, self.token, self.client_id, self.client_secret)
        for widget in (*fields, self.datacenter, self.base_url):
            widget.disabled = disabled

    def _show_auth(self) -> None:
        """The token field, or the OAuth client's two fields, as the auth choice says."""
        oauth = self.auth.value == OAUTH
        self.token.layout.display = "none" if oauth else None
        for widget in (self.client_id, self.client_secret):
            widget.layout.display = None if oauth else "none"

    def _reset_token_placeholder(self, connected: bool = False) -> None:
        if connected:
            self.token.placeholder = "connected; paste another token to reconnect"
        elif self._env.get("QUALTRICS_API_TOKEN"):
            self.token.placeholder = ENV_PLACEHOLDER
        else:
            self.token.placeholder = EMPTY_PLACEHOLDER


def _credentials(env: Mapping[str, str]) -> tuple[w.Password, w.Text, w.Text]:
    """The token, datacenter and base URL fields (the last two from ``QUALTRICS_*``)."""
    fields = (
        w.Password(description="API token", layout=_wide()),
        w.Text(
            description="Datacenter",
            value=env.get("QUALTRICS_DATACENTER") or DEFAULT_DATACENTER,
            layout=_wide(),
        ),
        w.Text(
            description="Base URL",
            value=env.get("QUALTRICS_BASE_URL") or "",
            placeholder="optional: a vanity host or compatible server (overrides the datacenter)",
            layout=_wide(),
        ),
    )
    for widget in fields:
        widget.style.description_width = "7em"
    return fields


def _oauth_fields(env: Mapping[str, str]) -> tuple[w.ToggleButtons, w.Text, w.Password]:
    """The choice between an API token and an OAuth client, and the client's ID and secret
    fields (the ID from ``QUALTRICS_CLIENT_ID``; the secret never copied from the env)."""
    only_oauth = bool(env.get("QUALTRICS_CLIENT_ID")) and not env.get("QUALTRICS_API_TOKEN")
    choice = w.ToggleButtons(
        options=[("API token", TOKEN), ("OAuth client", OAUTH)],
        value=OAUTH if only_oauth else TOKEN,
        description="Sign in with",
        style={"description_width": "7em"},
    )
    client_id = w.Text(
        description="Client ID", value=env.get("QUALTRICS_CLIENT_ID") or "", layout=_wide()
    )
    secret = w.Password(description="Client secret", layout=_wide())
    secret.placeholder = (
        SECRET_ENV_PLACEHOLDER
        if env.get("QUALTRICS_CLIENT_SECRET")
        else "paste the OAuth client's secret"
    )
    for widget in (client_id, secret):
        widget.style.description_width = "7em"
    return choice, client_id, secret


def _picker(description: str) -> w.Dropdown:
    picker = w.Dropdown(description=description, options=[], layout=_wide("46em"))
    picker.style.description_width = "7em"
    return picker


def _settings_problem(datacenter: str, base_url: str) -> str | None:
    """Why the datacenter/base URL fields cannot be used, checked as the client checks them."""
    try:
        if base_url:
            check_base_url(base_url)
        else:
            check_datacenter(datacenter)
    except ConfigError as exc:
        return exc.message
    return None


def connect(
    *,
    sandbox: bool | Sandbox = False,
    env: Mapping[str, str] | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> ConnectPanel:
    """A :class:`ConnectPanel`; with ``sandbox=True`` it starts the sandbox and connects."""
    return ConnectPanel(sandbox=sandbox, env=env, client_options=client_options)
