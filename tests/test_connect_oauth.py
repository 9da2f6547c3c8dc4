"""The connect panel's choice between an API token and an OAuth client (DESIGN §2, §5):
the OAuth client's secret, like the token, is read once from its field and cleared, never
copied from the environment into a widget, never in a message or a widget's state."""

from __future__ import annotations

import json

import qxframe.widgets as qxw


def states(panel) -> str:
    """Every synced state of the panel's widgets, as text."""
    found, todo = [], [panel]
    while todo:
        node = todo.pop()
        found.append(json.dumps(node.get_state(), default=str))
        todo.extend(getattr(node, "children", ()))
    return "\n".join(found)


def test_an_oauth_client_connects_and_its_secret_is_not_kept(sb):
    p = qxw.connect(env={})
    assert p.auth.value == "token" and p.client_id.layout.display == "none"
    p.auth.value = "oauth"
    assert p.token.layout.display == "none" and p.client_secret.layout.display is None
    p.base_url.value = sb.base_url
    p.client_id.value = sb.oauth_client_id
    p.client_secret.value = "wrong-" + sb.oauth_client_secret
    p.connect_button.click()
    assert p.client is None and "wrong-" not in p.status.value
    assert p.client_secret.value == ""
    p.client_secret.value = sb.oauth_client_secret
    p.connect_button.click()
    assert p.client is not None and p.client.uses_oauth, p.status.value
    assert p.client_secret.value == "" and p.directory_id is not None
    assert sb.oauth_client_secret not in states(p) + repr(p) + p.status.value
    assert sb.requests()["path"].to_list()[0] == "/oauth2/token"
    p.disconnect()


def test_the_oauth_client_is_read_from_the_environment_never_copied(sb):
    env = {
        "QUALTRICS_CLIENT_ID": sb.oauth_client_id,
        "QUALTRICS_CLIENT_SECRET": sb.oauth_client_secret,
        "QUALTRICS_BASE_URL": sb.base_url,
    }
    p = qxw.connect(env=env)
    assert p.auth.value == "oauth"  # no API token in the environment: the client is the way
    assert sb.oauth_client_secret not in states(p)
    p.connect_button.click()
    assert p.client is not None and p.client.uses_oauth, p.status.value
    assert sb.oauth_client_secret not in states(p)
    p.disconnect()


def test_an_oauth_client_needs_both_fields():
    p = qxw.connect(env={})
    p.auth.value = "oauth"
    p.client_id.value = "cid"
    p.connect_button.click()
    assert p.client is None and "ID and secret" in p.status.value
