"""The public surface of ``qxframe.sandbox``: names, ids, repr, frames, client()."""

from __future__ import annotations

import polars as pl
import pytest

import qxframe._sandbox
from qxframe._sandbox import Sandbox


def test_exports():
    assert qxframe._sandbox.__all__ == ["Sandbox", "sandbox"]


def test_ids_have_qualtrics_shapes_and_are_stable_under_seed():
    one, two, other = Sandbox(seed=1), Sandbox(seed=1), Sandbox(seed=2)
    assert one.directory_id.startswith("POOL_") and one.plain_directory_id.startswith("POOL_")
    assert one.mailing_list_id.startswith("CG_") and one.plain_mailing_list_id.startswith("CG_")
    assert one.directory_id != one.plain_directory_id
    assert (one.directory_id, one.mailing_list_id, one.workflow_url) == (
        two.directory_id,
        two.mailing_list_id,
        two.workflow_url,
    )
    assert one.directory_id != other.directory_id


def test_token_is_random_and_never_in_repr_or_str():
    sb, again = Sandbox(seed=1), Sandbox(seed=1)
    assert sb.api_token.startswith("sbx_") and sb.api_token != again.api_token
    assert sb.api_token not in repr(sb) and sb.api_token not in str(sb)
    with sb:
        assert sb.api_token not in repr(sb) and sb.base_url in repr(sb)


def test_empty_frames_have_their_schemas():
    sb = Sandbox()
    assert sb.contacts().schema == pl.Schema(
        {
            "contact_id": pl.String,
            "directory_id": pl.String,
            "ext_ref": pl.String,
            "email": pl.String,
            "phone": pl.String,
            "first_name": pl.String,
            "last_name": pl.String,
            "language": pl.String,
            "unsubscribed": pl.Boolean,
            "embedded_data": pl.String,
            "created_at": pl.Datetime("us", "UTC"),
        }
    )
    assert sb.transactions().columns == [
        "transaction_id",
        "directory_id",
        "contact_id",
        "mailing_list_id",
        "transaction_date",
        "data",
        "key",
    ]
    assert sb.workflow_events().columns == ["event_id", "url_token_id", "received_at", "payload"]
    assert sb.requests().height == 0


@pytest.mark.parametrize(
    "knobs", [{"error_rate": 1.5}, {"latency": -1}, {"page_size": 0}, {"rate_limit": 0}]
)
def test_bad_knobs_raise_value_error(knobs):
    with pytest.raises(ValueError):
        Sandbox(**knobs)


def test_client_is_bound_to_the_sandbox():
    from qxframe.delivery import _client

    sb = Sandbox()
    client = sb.client()
    assert isinstance(client, _client.Client)
    assert sb.api_token not in repr(client)
    assert client.whoami()["datacenter"] == "sandbox"  # in-process, through sb.app
    with sb:
        assert sb.client().whoami()["userId"].startswith("UR_")  # over the loopback socket
