"""Growing transaction batches (DESIGN §3): how many transactions one request may carry is
undocumented, so a push starts small and doubles while every key is answered, up to
``batch_size``; a request whose outcome is unknown (a 500) halves the size and caps it. Over
a real loopback socket, with a transport noting each request's number of keys."""

from __future__ import annotations

import json

import httpx
import polars as pl

import qxframe as qx
from qxframe.actions._transactions import FIRST_SIZE


class Sizes(httpx.AsyncBaseTransport):
    """The loopback transport, noting how many transactions each request carries."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport(retries=0)
        self.sizes: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/transactions"):
            self.sizes.append(len(json.loads(request.content)))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def contacts(sb, n: int) -> list[str]:
    api = sb.client()
    ids = []
    for i in range(n):
        body = {"email": f"c{i}@example.com"}
        reply = api.run(api.acreate_contact(sb.plain_directory_id, body))
        ids.append(reply.result["id"])
    return ids


def push(sb, sizes: Sizes, frame: pl.DataFrame, **options) -> pl.DataFrame:
    return qx.upsert_transactions(
        frame,
        client=sb.client(transport=sizes),
        directory_id=sb.plain_directory_id,
        mailing_list_id=sb.plain_mailing_list_id,
        concurrency=1,
        **options,
    )


def test_batches_start_small_and_double_up_to_batch_size(sb):
    (contact,) = contacts(sb, 1)
    frame = pl.DataFrame({"contact_id": [contact] * 400, "n": range(400)})
    sizes = Sizes()
    res = push(sb, sizes, frame, mapping={"transaction_data": ["n"]}, batch_size=100)
    assert res["status"].to_list() == ["success"] * 400
    # the first planned batch of 100 goes as 10, 20, 40 and its last 30; then 80 and 100s
    assert sizes.sizes == [10, 20, 40, 30, 80, 20, 100, 100]
    assert sb.transactions()["key"].to_list() == [f"r{i}" for i in range(400)]  # in order


def test_a_500_halves_the_size_and_caps_it(sb):
    (contact,) = contacts(sb, 1)
    frame = pl.DataFrame({"contact_id": [contact] * 150, "n": range(150)})
    sizes = Sizes()
    first = push(sb, sizes, frame.head(30), mapping={"transaction_data": ["n"]})
    assert sizes.sizes == [10, 20]
    sb.fail_next("transactions", status=500, after_commit=True)
    sizes.sizes.clear()
    res = push(sb, sizes, frame.slice(30), mapping={"transaction_data": ["n"]})
    unknown = res.filter(pl.col("error_code") == "outcome_unknown")
    assert first["status"].to_list() == ["success"] * 30
    assert unknown.height == FIRST_SIZE  # a small request's certainty, not a hundred rows'
    assert sizes.sizes[0] == FIRST_SIZE and max(sizes.sizes[1:]) <= FIRST_SIZE // 2
    assert res.filter(pl.col("status") == "success").height == 120 - FIRST_SIZE
