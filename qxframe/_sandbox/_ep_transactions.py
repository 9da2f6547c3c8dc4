"""Endpoints for transactions and transaction batches (docs/qualtrics-api.md §8).

``POST /directories/{d}/transactions`` refuses a whole request with 400 (nothing
stored) when it carries more keys than the ``max_transactions_per_request`` knob, and
with 413 over 5 MB; otherwise each key lands or is listed as unprocessed.
"""

from __future__ import annotations

from typing import Any

from qxframe._sandbox._rules import StoreError
from qxframe._sandbox._txstore import Transactions
from qxframe._sandbox._views import batch_view, transaction_view
from qxframe._sandbox._wire import DIRS, Call, Endpoint, paged

MAX_TRANSACTIONS_BODY = 5 * 1024 * 1024


def create(call: Call) -> tuple[int, Any]:
    if len(call.body) > MAX_TRANSACTIONS_BODY:
        raise StoreError(
            413,
            "REQ_TOO_LARGE",
            "The request body is over 5 MB; send fewer transactions per request.",
        )
    body, limit = call.json(), call.settings.max_transactions_per_request
    if limit is not None and isinstance(body, dict) and len(body) > limit:
        raise StoreError(
            400,
            "QVAL_1",
            f"Too many transactions in one request ({len(body)}; at most {limit}); "
            "nothing was stored. Send fewer per request.",
        )
    created, unprocessed = Transactions(call.store).add(call.param("dir"), body)
    return 200, {"createdTransactions": created, "unprocessedTransactions": unprocessed}


def get(call: Call) -> tuple[int, Any]:
    return 200, transaction_view(Transactions(call.store).get(call.param("dir"), call.param("tx")))


def update(call: Call) -> None:
    Transactions(call.store).update(call.param("dir"), call.param("tx"), call.json())


def delete(call: Call) -> None:
    Transactions(call.store).delete(call.param("dir"), call.param("tx"))


def of_contact(call: Call) -> tuple[int, Any]:
    rows = Transactions(call.store).of_contact(call.param("dir"), call.param("contact"))
    elements = [transaction_view(r) for r in rows]
    return 200, paged(call, elements, maximum=call.settings.page_size)


def create_batch(call: Call) -> tuple[int, Any]:
    return 200, {"id": Transactions(call.store).create_batch(call.param("dir"), call.json())}


def list_batches(call: Call) -> tuple[int, Any]:
    elements = [batch_view(b) for b in Transactions(call.store).batches(call.param("dir"))]
    return 200, paged(call, elements, maximum=call.settings.page_size)


def get_batch(call: Call) -> tuple[int, Any]:
    return 200, batch_view(Transactions(call.store).batch(call.param("dir"), call.param("batch")))


def add_to_batch(call: Call) -> None:
    Transactions(call.store).add_to_batch(call.param("dir"), call.param("batch"), call.json())


def batch_transactions(call: Call) -> tuple[int, Any]:
    rows = Transactions(call.store).batch_transactions(call.param("dir"), call.param("batch"))
    return 200, paged(call, [transaction_view(r) for r in rows], maximum=call.settings.page_size)


TX = DIRS + "/{dir}/transactions"
BATCHES = DIRS + "/{dir}/transactionbatches"
ROUTES = [
    Endpoint("POST", TX, "transactions", create),
    Endpoint("GET", TX + "/{tx}", "reads", get),
    Endpoint("PUT", TX + "/{tx}", "transactions", update),
    Endpoint("DELETE", TX + "/{tx}", "transactions", delete),
    Endpoint("GET", DIRS + "/{dir}/contacts/{contact}/transactions", "reads", of_contact),
    Endpoint("POST", BATCHES, "transactions", create_batch),
    Endpoint("GET", BATCHES, "reads", list_batches),
    Endpoint("GET", BATCHES + "/{batch}", "reads", get_batch),
    Endpoint("POST", BATCHES + "/{batch}/transactions", "transactions", add_to_batch),
    Endpoint("GET", BATCHES + "/{batch}/transactions", "reads", batch_transactions),
]
