"""What keeps a long push's memory flat (docs/architecture.md, "Memory"), counted, not timed.

Each test counts something whose number must not grow with the input. Against the sandbox
over loopback.
"""

from __future__ import annotations

import gc

import httpx
import polars as pl

import qxframe as qx
from tests.helpers import bodies


def people(n: int) -> pl.DataFrame:
    return pl.DataFrame({"email": [f"p{i}@example.com" for i in range(n)]}).with_columns(
        first_name=pl.lit("P")
    )


def test_an_answer_is_freed_without_the_cyclic_collector(sb):
    """httpx binds each response's stream to it (a cycle): unbound, an answer and its
    request (the body sent) go as soon as nothing refers to them."""
    gc.collect()
    gc.disable()
    try:
        res = qx.upsert_contacts(
            people(30),
            client=sb.client(),
            directory_id=sb.directory_id,
            mailing_list_id=sb.mailing_list_id,
            method="import",
            progress=False,
        )
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, httpx.Response | httpx.Request)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert res["status"].to_list() == ["success"] * 30 and bodies(sb, "imports") == 1
    assert left == []
