"""Issue 20, defect 11: the token is gone from everything an error keeps (the httpx request
chained under a TransportError), a lone surrogate gets a hint that points the right way,
and NFC/NFD spellings of one identity are one contact."""

from __future__ import annotations

import socket
import unicodedata
from typing import Any

import httpx
import pandas as pd
import polars as pl
import pytest

import qxframe as qx
from qxframe.delivery._config import RetryPolicy
from tests.hostile import HostileProxy, envelope, trickle


def reachable(root: object, depth: int = 8) -> list[Any]:
    """Every object reachable from ``root`` through what an error reporter walks:
    attributes, ``__cause__``/``__context__``, containers, httpx requests and headers."""
    seen: set[int] = set()
    found: list[Any] = []
    todo = [(root, 0)]
    while todo:
        item, level = todo.pop()
        if id(item) in seen or level > depth:
            continue
        seen.add(id(item))
        found.append(item)
        children: list[Any] = []
        if isinstance(item, BaseException):
            children += [item.__cause__, item.__context__, *item.args]
        if isinstance(item, httpx.Request):
            children += [item.headers, str(item.url)]
        if isinstance(item, httpx.Headers):
            children += [value for _, value in item.raw]
        if isinstance(item, dict):
            children += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set):
            children += list(item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            children += list(vars(item).values())
        todo += [(child, level + 1) for child in children if child is not None]
    return found


def holds(root: object, secret: str) -> bool:
    return any(
        secret in (x.decode("latin-1") if isinstance(x, bytes) else x)
        for x in reachable(root)
        if isinstance(x, str | bytes)
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_transport_error_keeps_no_token_in_its_chained_request():
    token = "tok" + "x" * 37
    client = qx.Client(
        token, base_url=f"http://127.0.0.1:{closed_port()}", retry=RetryPolicy(max_attempts=1)
    )
    with client, pytest.raises(qx.TransportError) as caught:
        client.whoami()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert not holds(caught.value, token)


def test_an_outcome_unknown_after_a_timeout_keeps_no_token(sb):
    """A write whose answer never came (a trickle past the deadline): the error chained
    under the row's outcome keeps no token either."""
    with HostileProxy(sb.base_url) as proxy:
        proxy.on("POST", "/contacts", trickle(envelope({"id": "CID_x"}), byte_delay=0.05))
        client = qx.Client(sb.api_token, base_url=proxy.url, timeout=httpx.Timeout(0.2))
        with client, pytest.raises(qx.OutcomeUnknownError) as caught:
            client.run(client.acreate_contact(sb.directory_id, {"extRef": "t1"}))
    assert any(isinstance(x, httpx.Request) for x in reachable(caught.value))
    assert not holds(caught.value, sb.api_token)


def test_the_chain_walker_finds_a_token_left_in_a_request():
    """The check above can fail: a request that still carries the token is found."""
    request = httpx.Request("GET", "http://127.0.0.1/", headers={"X-API-TOKEN": "secret-1"})
    error = qx.TransportError("failed")
    error.__cause__ = httpx.ConnectError("refused", request=request)
    assert holds(error, "secret-1")


@pytest.mark.parametrize("column", ["ext_ref", "plan"])
def test_a_lone_surrogate_in_a_pandas_frame_names_the_column_and_the_real_cause(column):
    frame = pd.DataFrame({"ext_ref": pd.Series(["a", "b"], dtype=object)})
    frame["plan"] = pd.Series(["x", "y"], dtype=object)
    frame.loc[1, column] = "b\udc9c"
    with pytest.raises(qx.ConfigError) as caught:
        qx.upsert_contacts(frame, directory_id="POOL_1", dry_run=True)
    message = str(caught.value)
    assert f"column {column!r}, row 1" in message and "lone surrogate" in message
    assert "encoding" in message and "one type" not in message


def test_nfc_and_nfd_spellings_of_one_ext_ref_are_one_contact(sb):
    nfc = "José"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    frame = pl.DataFrame({"ext_ref": [nfc, nfd], "email": ["j@example.com"] * 2})
    res = qx.upsert_transactions(
        frame,
        client=sb.client(),
        directory_id=sb.directory_id,
        mailing_list_id=sb.mailing_list_id,
    )
    assert res["status"].to_list() == ["success", "success"]
    assert sb.contacts().height == 1 and res["contact_id"].n_unique() == 1
    assert sb.contacts()["ext_ref"].to_list() == [nfc]


def test_the_sandbox_compares_spellings_code_point_for_code_point(sb):
    """What docs/architecture.md says of the sandbox: two spellings sent as they are (not
    through qxframe's NFC) are two identities, so the test above shows qxframe's doing."""
    client = sb.client()
    for spelling in ("José", unicodedata.normalize("NFD", "José")):
        client.run(client.acreate_contact(sb.directory_id, {"extRef": spelling}))
    assert sb.contacts().height == 2
